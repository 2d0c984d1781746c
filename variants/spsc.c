/*
 * spsc.c - one single-producer ring ("shard") per thread, merged by timestamp on snapshot.
 *
 * Algorithm: a bounded single-producer ring per thread in the manner of Lamport's SPSC
 * queue and NanoLog's per-thread staging buffers (S. Yang, S. Park, J. Ousterhout,
 * "NanoLog: A Nanosecond Scale Logging System", USENIX ATC 2018): the owning thread is the
 * only writer of its shard's tail and slots, so a push is a few plain stores and two
 * releases, with no read-modify-write on a shared line in the common case.
 *
 * Capacity: every shard holds C records (C = the capacity rounded up to a power of two);
 * there are at most S shards (S = SPSC_DEFAULT_SHARDS = 8, or spsc_create_shards()), and
 * one shared percpu ring (percpu.c: C records per CPU, P possible CPUs). So a thread keeps
 * its C newest records (overwrite) or its first C (drop) whatever the other threads do,
 * and a snapshot returns the newest C records of all shards together, by timestamp: the
 * same events an mpmc ring of capacity C would hold. Memory is bounded by (S + P) C
 * records plus O(S + P) snapshot scratch; the shared ring is made (and pre-faulted) at
 * create, thread shards as threads first push, so a one-thread program uses (1 + P) C. A
 * thread writes to the shared ring when all S shards are owned by live threads, when more
 * than SPSC_MAX_THREADS threads use spsc at once, and for a push from a signal handler
 * that interrupted a push of the same thread (the shard's busy flag is set): the
 * single-producer invariant always holds and nothing is lost but by policy. The shared
 * ring is per CPU, its push a restartable sequence (rseq): a thread preempted, migrated or
 * signalled inside it restarts instead of holding a slot, so the overflow threads never
 * drop because one of them was descheduled (an mpmc ring made them drop: its oldest slot
 * stayed claimed). Without rseq percpu falls back to sched_getcpu() and a CAS, and drops
 * (counted) behind a writer preempted for a whole lap of its CPU's ring, as mpmc does.
 *
 * Shards: created on a thread's first push to a ring (ttlog__ring_alloc: the only push
 * that may allocate or make a system call), owned through a token (thread-table index,
 * generation). A creating thread first claims a shard index (nclaimed), then allocates:
 * however many threads make their first push at once, no more than S shards are ever
 * allocated (a thread that finds every index claimed writes to the shared ring). A
 * thread that dies between the claim and the publication (pthread_exit from a signal
 * handler interrupting that push) costs the ring that index: S - 1 shards from then on.
 * A thread's exit (pthread key destructor) bumps its generation: its shards are retired
 * at once without being touched and keep their records for snapshots. A
 * thread that needs a shard creates one while the ring has fewer than S, else takes
 * over the retired shard whose newest record is the oldest (continuing its positions, so
 * its records replace the old owner's oldest first): threads that come and go reuse the
 * same S shards, and an exited thread's last events are the last to be overwritten.
 *
 * Lookup: a per-thread single-entry cache {ring, ring id, shard} makes the common push one
 * compare; a miss (another ring) scans the ring's shard table for the thread's token.
 *
 * Push (the owner): no read-modify-write, no fence beyond release stores (plain movs on
 * x86-64): the owner owns its positions. t = its tail; slot = t & (C - 1); seq = t marks
 * the slot "being written for t" (relaxed), F1 (release fence) orders the mark before the
 * record's words (relaxed stores), R1 stores seq = t + 1 ("holds t"), R2 stores tail =
 * t + 1. Overwrite evicts implicitly: the slot's seq says which lap it holds, so the push
 * just writes over the record of t - C. It reads head (a plain load, A1) only when its
 * cached head_seen says that record may not have been popped, to report the eviction
 * (push returns 1). Drop reads head the same way and drops, counted by the owner with a
 * load and a store, when the shard is still full. Nothing counts overwritten records:
 * positions below max(head, tail - C) are gone, and those not popped were overwritten.
 *
 * Readers copy a slot the way a seqlock reader does (H.-J. Boehm, "Can Seqlocks Get Along
 * With Programming Language Memory Models?", MSPC 2012): seq (acquire, A3/A8) must say
 * "holds p", then the words (relaxed, and an acquire fence F2; a pop loads them with
 * acquire, A9), seq again (relaxed): a word from a newer lap makes the fence or the word's
 * load synchronise with that lap's F1, so the second load sees its mark and the copy is
 * thrown away; a copy is kept only if both loads say p.
 *   Snapshot: tail (A4) is the shard's cut: stored = tail, every position below it is
 *   complete. It copies positions [max(head, tail - C), tail) newest first, stopping at
 *   the first that fails (the owner laps in order, so all older ones are gone too); kept
 *   = what validated, popped = the consumers' counter, overwritten = stored - kept -
 *   popped: exact by construction, the last being defined as the rest (a record that
 *   a pop takes during the snapshot may be counted kept and popped: the split is then
 *   approximate, never the sum, ttlog__cut_close).
 *   Pop (consumers): h = head; below a tail read with A2 the record of h is complete, so
 *   its slot says h or a later lap. If it validates, CAS head h -> h + 1 (R3): only that
 *   CAS takes h, and it returns the copy and counts it popped (no record popped twice,
 *   none torn). If not, the owner lapped h: CAS head past the records it overwrote, to
 *   tail - C, and a quarter ring further (the oldest records are the next it overwrites:
 *   a pop landing on them would lose the race again), all counted overwritten, not
 *   popped (h + 1 if tail reads too old to tell). The owner never waits for consumers, so a
 *   record can be popped while its slot is being reused (validated before the mark):
 *   the push that reused it may then report an eviction of a record that was popped
 *   (there is no cheaper way for the owner to know: it would need a store-load fence).
 *   A consumer stays on the shard it last popped from while it has records, unless it lost
 *   a race on that shard's head to another consumer: its next pop starts on the next
 *   shard, so that consumers spread over the shards instead of sharing one head line.
 *
 * Ordering, labelled at each site: R1 (seq "holds t") with A3 in run_prev() and A8 in
 * shard_pop(); F1 (after the mark) with the fence F2 (run_prev) and the loads A9
 * (shard_pop); R2 (tail) with A2 (shard_pop) and A4 (run_open); R3 (a pop's head CAS)
 * with A1 (the owner's head load: drop mode reuses a slot only after the pop's copy);
 * R4/R5 (thread exit) with A5/A7; R6 (shard published) with A6; S1/S2 (snapshot scratch,
 * shard.h).
 *
 * Progress: push is wait-free: a bounded sequence of loads and stores, with no loop and no
 * read-modify-write (scripts/locked-insns.sh spsc spsc_push shard_push: none; the first
 * push of a thread to a ring, spsc_lookup, claims a shard with CASes). Pop is lock-free:
 * a CAS fails only because another pop or skip moved head, and a validation fails only
 * because the owner lapped the slot (the skip then moves head). Snapshot is wait-free:
 * one pass over each shard and each CPU ring of the shared ring (read in place through
 * percpu's cursors, percpu_scan_*), newest first, a k-way merge by timestamp (binary heap
 * over the runs' newest unread records) filling the caller's buffer from its end, with
 * scratch reserved at create, then a stable sort of what it kept (a CPU ring is in push
 * order, not quite timestamp order; merge.h: linear when already sorted); a snapshot that
 * finds the scratch in use (another snapshot, or one interrupted by a signal handler on
 * this thread) copies the shards one after another, then percpu_snapshot() of the shared
 * ring, and merges them in place (merge.h) instead: still ordered, but when the buffer
 * cannot hold every shard it keeps each shard's newest records in turn rather than the
 * newest overall, and it reports no shard windows (shard.h: ttlog__inplace_ring).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "ring.h"
#include "shard.h"

#define SPSC_WORDS (sizeof(struct ttlog_record) / 8)
#define SPSC_MAX_THREADS 16384 /* threads using spsc at once; more write to shared rings */
#define SPSC_RETRY 4096        /* pushes a thread without a shard makes before looking again */
/* How many slots ahead of its tail a push prefetches for writing. A shard larger than the
 * cache has its next slots cold (written a lap ago): fetching the line of slot t + D while
 * storing slot t hides the miss if D pushes take longer than a miss; too far ahead and the
 * line may be evicted again before its push (small caches, many shards). */
#ifndef SPSC_PREFETCH /* -DSPSC_PREFETCH=0 turns it off (experiments) */
#define SPSC_PREFETCH 4
#endif

struct spsc_slot {
	/* p + 1: holds the record of position p; p: the record of p is being written.
	 * Written by the owner, read by snapshots. */
	_Atomic uint64_t seq;
	/* the record as words: written relaxed by the owner, read relaxed by consumers (who
	 * keep it only if their head CAS succeeds) and snapshots (who check seq) */
	_Atomic uint64_t w[SPSC_WORDS];
};
_Static_assert(sizeof(struct spsc_slot) == TTLOG_RECORD_SIZE, "slot is one record size");

struct spsc_shard {
	/* read-only after creation, on a line of their own: consumers read them on every pop,
	 * and on the owner's line each such read would take that line from the owner */
	uint64_t mask;
	int drop;       /* the ring's policy is TTLOG_POLICY_DROP */
	uint32_t index;
	size_t bytes;
	/* written by the owning thread only; tail read by consumers and snapshots */
	_Alignas(64) _Atomic uint64_t tail;
	/* pushes the owner dropped (drop policy, full): owner only, load + store. Records
	 * overwritten are not counted: they are derived from the positions (spsc_stats) */
	_Atomic uint64_t dropped;
	/* a push is in progress: read and written by the owning thread and its signal handlers
	 * only (relaxed, with signal fences); reset by the next owner */
	_Atomic uint32_t busy;
	/* owner only (relaxed: any value head ever had will do, a new owner may read an old
	 * one): head only grows, so t - head_seen <= mask means room without reading head,
	 * the consumers' line */
	_Atomic uint64_t head_seen;
	/* CAS by consumers (pop, and skipping what the owner has lapped); read by the owner
	 * (A1: drop mode, and what an overwriting push reports) and by snapshots */
	_Alignas(64) _Atomic uint64_t head;
	/* consumers (RMW), overwrite mode only: in drop mode only pops move head, so popped
	 * is head (shard_popped) and a pop executes one locked instruction, its CAS */
	_Atomic uint64_t popped;
	/* the owner's token: CAS by a thread taking a retired shard over, read on lookup */
	_Alignas(64) _Atomic uint64_t owner;
	_Alignas(64) struct spsc_slot slots[];
};

/* One run of a snapshot's merge, read newest first: a shard's positions [lo, hi), or
 * (sh == NULL) CPU ring `cpu` of the shared percpu ring, read through its cursor.
 * Snapshot-private (scratch). */
struct spsc_run {
	struct spsc_shard *sh;
	uint64_t lo, hi;
	unsigned cpu;
	struct percpu_scan scan;
};

struct ttlog_ring {
	/* read-only after create */
	uint64_t id;       /* unique in the process: a cache hit needs ring and id to match */
	uint64_t capacity; /* C: records per shard, per CPU of the shared ring, per snapshot */
	unsigned nshards;  /* S */
	unsigned ncpu;     /* P: the shared ring's CPU rings */
	int policy;
	struct ttlog_ring *shared; /* a percpu ring (percpu.c), used through percpu_* only */
	/* nshards entries, set once each (R6) by the thread that claimed the index through
	 * nclaimed, read by everyone (A6); NULL until then (also while it is being created) */
	_Atomic(struct spsc_shard *) *shards;
	/* indexes of shards[] claimed so far (CAS k -> k + 1 claims index k; relaxed: it
	 * only arbitrates, the shard is published by R6). A thread claims an index before it
	 * allocates, so at most nshards shards are ever allocated, even while many threads
	 * make their first push at once */
	_Alignas(64) _Atomic uint32_t nclaimed;
	/* snapshot scratch (nshards + ncpu runs, heads, heap entries, windows), owned by
	 * whoever set scratch_busy from 0 to 1 */
	_Alignas(64) _Atomic uint32_t scratch_busy;
	struct spsc_run *runs;
	struct ttlog_record *heads;
	uint32_t *heap;
	/* windows of the last merged snapshot: written under scratch_busy, read by windows() */
	struct ttlog_shard_window *win;
	size_t nwin;
	void *mem; /* the one allocation behind shards and the scratch */
};

/* ---- threads -------------------------------------------------------------------- */

/* A thread using spsc holds one entry: token = (index + 1) << 32 | gen. The entry's gen is
 * bumped when the thread exits, which retires every shard owned under the old token. */
struct spsc_thread {
	_Atomic uint32_t gen;  /* written by the exiting owner (R4), read by claimers (A5) */
	_Atomic uint32_t used; /* CAS 0 -> 1 by a registering thread, released at its exit */
};
static struct spsc_thread spsc_threads[SPSC_MAX_THREADS];
static pthread_key_t spsc_key;
static pthread_once_t spsc_once = PTHREAD_ONCE_INIT;
static int spsc_key_ok;
static _Atomic uint64_t spsc_next_id = 1;
static _Atomic uint32_t spsc_pop_seed;

enum { TL_NEW, TL_READY, TL_BUSY, TL_NONE, TL_EXITED };

/* Per-thread state. Read and written by this thread and its signal handlers only: the
 * cache is updated in an order (ring last) that a handler interrupting the update sees as a
 * miss, with atomic_signal_fence between the steps; state TL_BUSY sends a nested push to
 * the shared ring instead of into the lookup it interrupted. */
struct spsc_tls {
	struct ttlog_ring *ring; /* cache: {ring, ring_id} -> shard (NULL: shared ring) */
	uint64_t ring_id;
	struct spsc_shard *shard;
	uint64_t token; /* 0 until registered */
	uint32_t state;
	uint32_t retry;    /* pushes to the shared ring since the last lookup */
	uint32_t pop_next; /* the shard (or nshards: the shared ring) pop tries first */
	uint32_t pop_seeded;
};
static __thread struct spsc_tls tl __attribute__((tls_model("initial-exec")));

static void spsc_thread_exit(void *arg)
{
	uint32_t i = (uint32_t)(tl.token >> 32) - 1;

	(void)arg;
	tl.state = TL_EXITED; /* later pushes (other keys' destructors) go to shared rings */
	tl.ring = NULL;
	tl.shard = NULL;
	atomic_signal_fence(memory_order_seq_cst);
	if (tl.token == 0)
		return;
	/* R4: release, pairs with A5 in shard_dead(): our pushes to the shards we owned
	 * happen before those of the thread that takes them over */
	atomic_fetch_add_explicit(&spsc_threads[i].gen, 1, memory_order_release);
	/* R5: release, pairs with A7 in register_thread(): the entry's new gen is visible
	 * to the next thread that takes the entry */
	atomic_store_explicit(&spsc_threads[i].used, 0, memory_order_release);
}

static void spsc_key_init(void)
{
	spsc_key_ok = pthread_key_create(&spsc_key, spsc_thread_exit) == 0;
}

/* Take a thread-table entry; TL_READY, or TL_NONE when the table is full. */
static void register_thread(void)
{
	for (uint32_t i = 0; i < SPSC_MAX_THREADS; i++) {
		uint32_t zero = 0;
		/* relaxed: a pre-check to skip taken entries cheaply; the CAS decides */
		if (atomic_load_explicit(&spsc_threads[i].used, memory_order_relaxed) != 0)
			continue;
		/* A7: acquire, pairs with R5 in spsc_thread_exit() */
		if (!atomic_compare_exchange_strong_explicit(&spsc_threads[i].used, &zero, 1,
							     memory_order_acquire,
							     memory_order_relaxed))
			continue;
		/* relaxed: ordered by A7; only the entry's owner writes gen */
		uint32_t gen = atomic_load_explicit(&spsc_threads[i].gen, memory_order_relaxed);
		tl.token = (uint64_t)(i + 1) << 32 | gen;
		/* any non-NULL value: it only makes the destructor run */
		pthread_setspecific(spsc_key, &tl);
		tl.state = TL_READY;
		return;
	}
	tl.state = TL_NONE;
}

/* The owner of token o has exited (or o is no owner at all). */
static int shard_dead(uint64_t o)
{
	uint32_t i = (uint32_t)(o >> 32);

	if (i == 0 || i > SPSC_MAX_THREADS)
		return 1;
	/* A5: acquire, pairs with R4 in spsc_thread_exit() */
	return atomic_load_explicit(&spsc_threads[i - 1].gen, memory_order_acquire) != (uint32_t)o;
}

static struct spsc_shard *shard_new(struct ttlog_ring *r, unsigned index)
{
	size_t bytes = offsetof(struct spsc_shard, slots) + r->capacity * sizeof(struct spsc_slot);
	struct spsc_shard *sh = ttlog__ring_alloc(bytes); /* zeroed: every seq is 0, no record */

	if (sh == NULL)
		return NULL;
	sh->mask = r->capacity - 1;
	sh->drop = r->policy == TTLOG_POLICY_DROP;
	sh->index = index;
	sh->bytes = bytes;
	atomic_init(&sh->owner, tl.token);
	ttlog__box_segment(&(struct ttlog_seg){.kind = TTLOG_SEG_SPSC, .nslots = r->capacity,
					       .slots = sh->slots, .tail = &sh->tail,
					       .head = &sh->head, .popped = &sh->popped,
					       .dropped = &sh->dropped, .busy = &sh->busy});
	return sh;
}

/* ts of the newest record of a shard (0 if none); relaxed: a heuristic for choosing
 * which retired shard to take over, its owner is gone */
static uint64_t shard_newest(struct spsc_shard *sh)
{
	uint64_t t = atomic_load_explicit(&sh->tail, memory_order_relaxed);

	if (t == 0)
		return 0;
	return atomic_load_explicit(&sh->slots[(t - 1) & sh->mask].w[0], memory_order_relaxed);
}

/* The calling thread's shard in r: its own; else a new one while the ring has room for
 * one (memory stays bounded by the capacity); else the retired shard whose newest record
 * is the oldest (so an exited thread's last events are overwritten last); NULL when every
 * shard is owned by a live thread (or still being created by one). */
static struct spsc_shard *shard_find(struct ttlog_ring *r)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		struct spsc_shard *best = NULL;
		uint64_t best_owner = 0, best_ts = UINT64_MAX;

		for (unsigned i = 0; i < r->nshards; i++) {
			/* A6: acquire, pairs with R6 below: the shard's header is initialised */
			struct spsc_shard *sh =
				atomic_load_explicit(&r->shards[i], memory_order_acquire);
			if (sh == NULL)
				continue;
			/* relaxed: compared with our own token, or handed to the CAS below */
			uint64_t o = atomic_load_explicit(&sh->owner, memory_order_relaxed);
			if (o == tl.token)
				return sh;
			if (shard_dead(o)) {
				uint64_t ts = shard_newest(sh);
				if (best == NULL || ts < best_ts) {
					best = sh;
					best_owner = o;
					best_ts = ts;
				}
			}
		}
		/* Claim an index before allocating: a thread that loses the race allocates
		 * nothing. (Allocating first and publishing by a CAS from NULL let every thread
		 * that saw the same empty entry allocate, and pre-fault, a whole shard: with
		 * 1024 threads making their first push at once and shards of 2^20 records,
		 * many GiB that were freed again at once.) relaxed: see nclaimed. */
		uint32_t k = atomic_load_explicit(&r->nclaimed, memory_order_relaxed);
		while (k < r->nshards) {
			if (!atomic_compare_exchange_weak_explicit(&r->nclaimed, &k, k + 1,
								   memory_order_relaxed,
								   memory_order_relaxed))
				continue;
			struct spsc_shard *sh = shard_new(r, k);
			if (sh == NULL) {
				/* give the index back if nobody claimed one after it */
				uint32_t k1 = k + 1;
				atomic_compare_exchange_strong_explicit(&r->nclaimed, &k1, k,
									memory_order_relaxed,
									memory_order_relaxed);
				return NULL;
			}
			/* R6: release, pairs with A6: the header before the pointer */
			atomic_store_explicit(&r->shards[k], sh, memory_order_release);
			return sh;
		}
		if (best == NULL)
			return NULL;
		/* relaxed CAS: the acquire that orders the old owner's pushes before ours is
		 * A5 in shard_dead(), which saw its generation change. A lost race means
		 * another thread took it: look again. */
		if (atomic_compare_exchange_strong_explicit(&best->owner, &best_owner, tl.token,
							    memory_order_relaxed,
							    memory_order_relaxed)) {
			/* the old owner may have died inside a push (pthread_exit from a signal
			 * handler): the shard is ours now */
			atomic_store_explicit(&best->busy, 0, memory_order_relaxed);
			return best;
		}
	}
	return NULL;
}

/* Cache miss: find (or take) this thread's shard in r and cache it. NULL: use r->shared.
 * Not inlined: the steady-state push (spsc_push's cache hit, shard_push) stays small, and
 * scripts/locked-insns.sh can tell its instructions from the first push's. */
static __attribute__((noinline)) struct spsc_shard *spsc_lookup(struct ttlog_ring *r)
{
	struct spsc_shard *sh = NULL;

	if (tl.state == TL_NEW && spsc_key_ok) {
		tl.state = TL_BUSY;
		atomic_signal_fence(memory_order_seq_cst);
		register_thread();
	}
	if (tl.state != TL_READY)
		return NULL; /* nested in a lookup, exited, or no thread entry */
	tl.state = TL_BUSY;
	tl.ring = NULL; /* a handler interrupting from here on misses the cache */
	atomic_signal_fence(memory_order_seq_cst);
	sh = shard_find(r);
	tl.shard = sh;
	tl.ring_id = r->id;
	tl.retry = 0;
	atomic_signal_fence(memory_order_seq_cst);
	tl.ring = r;
	atomic_signal_fence(memory_order_seq_cst);
	tl.state = TL_READY;
	return sh;
}

/* ---- create / destroy ------------------------------------------------------------- */

int spsc_create_shards(struct ttlog_ring **out, const struct ttlog_ring_config *cfg,
		       unsigned shards)
{
	struct ttlog_ring *r;
	size_t cap, n, bytes;
	unsigned char *m;
	int err;

	if ((err = ttlog__ring_config_check(out, cfg, &cap)) < 0)
		return err;
	if (shards == 0)
		shards = SPSC_DEFAULT_SHARDS;
	if (shards > SPSC_MAX_SHARDS)
		return -EINVAL;
	pthread_once(&spsc_once, spsc_key_init);
	if (!spsc_key_ok)
		return -EAGAIN;

	r = aligned_alloc(64, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->capacity = cap;
	r->nshards = shards;
	r->policy = cfg->policy;
	if ((err = percpu_create(&r->shared, cfg)) < 0) {
		free(r);
		return err;
	}
	r->ncpu = percpu_nrings(r->shared);
	/* one block: shard pointers, runs, heads, heap, windows */
	n = shards + r->ncpu; /* runs: every shard and every CPU ring of the shared ring */
	bytes = n * (sizeof(*r->shards) + sizeof(*r->runs) + sizeof(*r->heads) + sizeof(*r->win) +
		     sizeof(*r->heap)) +
		64;
	r->mem = calloc(1, bytes);
	if (r->mem == NULL) {
		percpu_destroy(r->shared);
		free(r);
		return -ENOMEM;
	}
	m = r->mem;
	r->runs = (struct spsc_run *)m;
	m += n * sizeof(*r->runs);
	r->heads = (struct ttlog_record *)m;
	m += n * sizeof(*r->heads);
	r->win = (struct ttlog_shard_window *)m;
	m += n * sizeof(*r->win);
	r->shards = (void *)m;
	m += n * sizeof(*r->shards);
	r->heap = (uint32_t *)m;
	for (size_t i = 0; i < r->nshards; i++)
		atomic_init(&r->shards[i], NULL);
	atomic_init(&r->scratch_busy, 0);
	atomic_init(&r->nclaimed, 0);
	/* relaxed: a unique number, nothing to order */
	r->id = atomic_fetch_add_explicit(&spsc_next_id, 1, memory_order_relaxed);
	*out = r;
	return 0;
}

int spsc_create(struct ttlog_ring **out, const struct ttlog_ring_config *cfg)
{
	return spsc_create_shards(out, cfg, 0);
}

void spsc_destroy(struct ttlog_ring *r)
{
	if (r == NULL)
		return;
	for (unsigned i = 0; i < r->nshards; i++) {
		struct spsc_shard *sh = atomic_load_explicit(&r->shards[i], memory_order_acquire);
		if (sh != NULL)
			ttlog__ring_free(sh, sh->bytes);
	}
	percpu_destroy(r->shared);
	free(r->mem);
	free(r);
}

/* ---- push / pop ----------------------------------------------------------------- */

/* single-writer counter: the owner is the only thread that writes it */
static inline void own_inc(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static int shard_push(struct ttlog_ring *r, struct spsc_shard *sh, const struct ttlog_record *rec)
{
	const uint64_t *w = (const uint64_t *)rec;
	struct spsc_slot *s;
	uint64_t t, h;
	int ret = 0;

	/* relaxed: only this thread and its signal handlers touch busy; the signal fences
	 * keep the compiler from moving the shard's accesses out of the busy section */
	if (__builtin_expect(atomic_load_explicit(&sh->busy, memory_order_relaxed) != 0, 0))
		return percpu_push(r->shared, rec); /* nested in our own push */
	atomic_store_explicit(&sh->busy, 1, memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst);

	/* relaxed: we are the only writer of tail */
	t = atomic_load_explicit(&sh->tail, memory_order_relaxed);
	/* relaxed: the owner's own cache of head (see head_seen) */
	h = atomic_load_explicit(&sh->head_seen, memory_order_relaxed);
	if (t - h > sh->mask) {
		/* The slot of t may still hold the record of t - C (no pop took it as far as
		 * we know): a plain load of head tells. A1: acquire, pairs with R3 in
		 * shard_pop(): in drop mode a consumer's copy of the slot we reuse is done
		 * before we write it. In overwrite mode the value only decides what we report:
		 * the slot is reused whatever head says, and consumers validate what they
		 * copied (F2, A9). */
		h = atomic_load_explicit(&sh->head, memory_order_acquire);
		atomic_store_explicit(&sh->head_seen, h, memory_order_relaxed);
		if (t - h > sh->mask) {
			if (r->policy == TTLOG_POLICY_DROP) {
				own_inc(&sh->dropped);
				atomic_signal_fence(memory_order_seq_cst);
				atomic_store_explicit(&sh->busy, 0, memory_order_relaxed);
				return -ENOBUFS;
			}
			/* the record of t - C, unpopped when we looked, is overwritten: eviction
			 * is implicit, the slot's seq says which lap it holds */
			ret = 1;
		}
	}
	s = &sh->slots[t & sh->mask];
	/* relaxed: marks the slot as being written for t; readers see it through F1 */
	atomic_store_explicit(&s->seq, t, memory_order_relaxed);
	/* F1: release fence, pairs with F2 in run_prev() and A9 in shard_pop(): a reader
	 * that reads any of the words below also sees the mark above, so it never keeps a
	 * record mixed from two laps */
	atomic_thread_fence(memory_order_release);
	TTLOG_UNROLL_WORDS /* the copy into the slot: 7 stores, no loop */
	for (size_t i = 0; i < SPSC_WORDS; i++)
		atomic_store_explicit(&s->w[i], w[i], memory_order_relaxed);
	/* R1: release, pairs with A3 in run_prev() and A8 in shard_pop(): the record of t
	 * is complete */
	atomic_store_explicit(&s->seq, t + 1, memory_order_release);
	/* R2: release, pairs with A2 in shard_pop() and A4 in the snapshots */
	atomic_store_explicit(&sh->tail, t + 1, memory_order_release);
	/* the slots of the next pushes, for writing: in a ring larger than the cache they
	 * were last written a lap ago and are cold (SPSC_PREFETCH) */
	if (SPSC_PREFETCH > 0)
		__builtin_prefetch(&sh->slots[(t + SPSC_PREFETCH) & sh->mask], 1, 3);
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&sh->busy, 0, memory_order_relaxed);
	return ret;
}

int spsc_push(struct ttlog_ring *r, const struct ttlog_record *rec)
{
	struct spsc_shard *sh;

	if (__builtin_expect(tl.ring == r && tl.ring_id == r->id, 1)) {
		sh = tl.shard;
		if (__builtin_expect(sh != NULL, 1))
			return shard_push(r, sh, rec);
		if (++tl.retry >= SPSC_RETRY)
			tl.ring = NULL; /* look for a free shard again on the next push */
		return percpu_push(r->shared, rec);
	}
	sh = spsc_lookup(r);
	if (sh == NULL)
		return percpu_push(r->shared, rec);
	return shard_push(r, sh, rec);
}

/* The consumer's cache of one shard's tail, so that a pop does not read the producer's
 * line while it knows records are there: key = (ring id << 10) | shard index (0: none).
 * Written key last, after a reset, with signal fences: a signal handler's pop that
 * interrupts an update sees a miss; a pop it interrupts re-checks the key. */
_Static_assert(SPSC_MAX_SHARDS <= 1024, "shard index fits the pop cache key");
static __thread struct {
	uint64_t key;
	uint64_t tail;
} tl_pop __attribute__((tls_model("initial-exec")));

static uint64_t pop_tail_cached(uint64_t key)
{
	uint64_t t;

	if (tl_pop.key != key)
		return 0;
	atomic_signal_fence(memory_order_seq_cst);
	t = tl_pop.tail;
	atomic_signal_fence(memory_order_seq_cst);
	return tl_pop.key == key ? t : 0;
}

static void pop_tail_cache(uint64_t key, uint64_t t)
{
	tl_pop.key = 0;
	atomic_signal_fence(memory_order_seq_cst);
	tl_pop.tail = t;
	atomic_signal_fence(memory_order_seq_cst);
	tl_pop.key = key;
}

/* Records popped from a shard whose head read h. */
static uint64_t shard_popped(const struct spsc_shard *sh, uint64_t h)
{
	/* relaxed: a counter */
	return sh->drop ? h
			: atomic_load_explicit(&((struct spsc_shard *)sh)->popped,
					       memory_order_relaxed);
}

static int shard_pop(struct spsc_shard *sh, uint64_t key, struct ttlog_record *out, int *lost)
{
	uint64_t *w = (uint64_t *)out, cap = sh->mask + 1;
	/* relaxed: a guess, the CAS decides */
	uint64_t h = atomic_load_explicit(&sh->head, memory_order_relaxed);
	/* a tail this thread read with A2 below: tail only grows */
	uint64_t t = pop_tail_cached(key);

	for (;;) {
		if (h >= t) {
			/* A2: acquire, pairs with R2 in shard_push(): the records below tail
			 * are complete */
			t = atomic_load_explicit(&sh->tail, memory_order_acquire);
			pop_tail_cache(key, t);
			if (h >= t)
				return -EAGAIN;
		}
		struct spsc_slot *s = &sh->slots[h & sh->mask];
		/* A8: acquire, pairs with R1 in shard_push(): the record of h is complete.
		 * Some tail above h was read with A2, so seq is h + 1 or a later lap's. */
		if (atomic_load_explicit(&s->seq, memory_order_acquire) == h + 1) {
			/* A9: acquire loads, pair with F1 in shard_push(): if a word came from a
			 * newer lap, F1 synchronises with its load, so the load of seq below
			 * sees that lap's mark (run_prev's fence F2 does the same for a whole
			 * copy; here GCC's -fsanitize=thread rejects a fence, and the loads are
			 * plain movs on x86-64 either way) */
			TTLOG_UNROLL_WORDS /* a pop's copy: 7 loads, no loop */
			for (size_t i = 0; i < SPSC_WORDS; i++)
				w[i] = atomic_load_explicit(&s->w[i], memory_order_acquire);
			/* relaxed: ordered by A9 */
			if (atomic_load_explicit(&s->seq, memory_order_relaxed) == h + 1) {
				/* the copy is the record of h. R3: release, pairs with A1 in
				 * shard_push(): in drop mode the copy is done before the owner
				 * reuses the slot. Only the CAS that moves head from h takes h:
				 * no record is popped twice. On failure h is reloaded (relaxed:
				 * re-checked against tail and seq). */
				if (atomic_compare_exchange_strong_explicit(&sh->head, &h, h + 1,
									    memory_order_release,
									    memory_order_relaxed)) {
					if (!sh->drop)
						/* relaxed: a counter */
						atomic_fetch_add_explicit(&sh->popped, 1,
									  memory_order_relaxed);
					return 0;
				}
				*lost = 1; /* another consumer popped h */
				continue;
			}
		}
		/* The owner has lapped h (overwrite mode only: in drop mode it never writes
		 * past head): the record of h is overwritten, and so is every position below
		 * tail - C. Skip them (counted as overwritten: not popped), and a quarter of
		 * the ring more: the oldest record is the one the owner overwrites next, and
		 * a consumer landing there loses the race to it again and again while the
		 * owner runs. A2 again; tail may still read below h + C (the mark we saw is
		 * not ordered with it): then skip h alone. */
		t = atomic_load_explicit(&sh->tail, memory_order_acquire);
		pop_tail_cache(key, t);
		uint64_t nh = t > h + cap ? t - cap + cap / 4 : h + 1;
		/* relaxed: the skipped slots were not read, nothing to order; a failure
		 * reloads h */
		if (atomic_compare_exchange_strong_explicit(&sh->head, &h, nh, memory_order_relaxed,
							    memory_order_relaxed))
			h = nh;
	}
}

int spsc_pop(struct ttlog_ring *r, struct ttlog_record *out)
{
	unsigned n = r->nshards + 1, i = 0;
	int lost = 0;

	if (!tl.pop_seeded) {
		/* relaxed: spreads consumers over the shards, nothing to order */
		tl.pop_next = atomic_fetch_add_explicit(&spsc_pop_seed, 1, memory_order_relaxed);
		tl.pop_seeded = 1;
	}
	unsigned start = tl.pop_next < n ? tl.pop_next : tl.pop_next % n; /* no division per probe */
	for (unsigned k = 0; k < n; k++) {
		i = start + k < n ? start + k : start + k - n;
		lost = 0; /* a race lost on another shard says nothing about this one */
		if (i == r->nshards) {
			if (percpu_pop(r->shared, out) == 0)
				goto got;
			continue;
		}
		struct spsc_shard *sh = atomic_load_explicit(&r->shards[i], memory_order_acquire);
		if (sh != NULL && shard_pop(sh, r->id << 10 | i, out, &lost) == 0)
			goto got;
	}
	return -EAGAIN;
got:
	/* stay on a shard while it has records, unless another consumer is there too (a
	 * race on its head was lost): consumers sharing a shard pass its head's line back
	 * and forth on every pop, so they spread out over the shards instead */
	tl.pop_next = lost ? (i + 1 < n ? i + 1 : 0) : i;
	return 0;
}

/* ---- snapshot ------------------------------------------------------------------- */

/* The newest unread record of a run that is still intact into *dst; 0 when the run is
 * done. */
static int run_prev(const struct ttlog_ring *r, struct spsc_run *run, struct ttlog_record *dst)
{
	struct spsc_shard *sh = run->sh;
	uint64_t *w = (uint64_t *)dst;

	if (sh == NULL) {
		if (!percpu_scan_prev(r->shared, run->cpu, &run->scan))
			return 0;
		*dst = run->scan.cand;
		return 1;
	}
	if (run->hi <= run->lo)
		return 0;
	uint64_t p = --run->hi;
	struct spsc_slot *s = &sh->slots[p & sh->mask];
	/* A3: acquire, pairs with R1 in shard_push(): the record of p is complete */
	if (atomic_load_explicit(&s->seq, memory_order_acquire) == p + 1) {
		for (size_t i = 0; i < SPSC_WORDS; i++)
			w[i] = atomic_load_explicit(&s->w[i], memory_order_relaxed);
		/* F2: acquire fence, pairs with F1 in shard_push(): if a word came from a newer
		 * lap, the load below sees that lap's mark */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->seq, memory_order_relaxed) == p + 1)
			return 1;
	}
	/* the owner has lapped p since the cut, so every older position too (it writes in
	 * order): the run is over */
	run->hi = run->lo;
	return 0;
}

/* Open a shard's run at the cut; adds its counters. */
static void run_open(struct spsc_run *run, struct spsc_shard *sh, struct ttlog_ring_cut *cut)
{
	uint64_t cap = sh->mask + 1, t, h, start;

	/* A4: acquire, pairs with R2 in shard_push(): every record below tail is complete;
	 * tail is the shard's cut */
	t = atomic_load_explicit(&sh->tail, memory_order_acquire);
	/* relaxed: counters and a lower bound; records are checked one by one */
	h = atomic_load_explicit(&sh->head, memory_order_relaxed);
	cut->dropped += atomic_load_explicit(&sh->dropped, memory_order_relaxed);
	cut->popped += shard_popped(sh, h);
	cut->stored += t;
	start = t > cap ? t - cap : 0;
	run->sh = sh;
	run->lo = h > start ? (h < t ? h : t) : start;
	run->hi = t;
}

/* max-heap order on the runs' newest unread records: later ts first; on equal ts the
 * later run first, so that read back oldest first equal records keep run order */
static inline int heap_before(const struct ttlog_ring *r, uint32_t a, uint32_t b)
{
	uint64_t ta = r->heads[a].ts, tb = r->heads[b].ts;

	return ta > tb || (ta == tb && a > b);
}

static void heap_down(struct ttlog_ring *r, size_t n, size_t i)
{
	uint32_t *h = r->heap;

	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && heap_before(r, h[l], h[m]))
			m = l;
		if (l + 1 < n && heap_before(r, h[l + 1], h[m]))
			m = l + 1;
		if (m == i)
			return;
		uint32_t x = h[i];
		h[i] = h[m];
		h[m] = x;
		i = m;
	}
}

/* Scratch in use: each shard's newest records that still fit, one shard after another,
 * merged in place into what is there. */
static size_t snapshot_inplace(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
			       struct ttlog_ring_cut *cut)
{
	struct ttlog_ring_cut sc;
	size_t used = 0, n;

	ttlog__inplace_begin(r);
	for (unsigned i = 0; i < r->nshards; i++) {
		struct spsc_shard *sh = atomic_load_explicit(&r->shards[i], memory_order_acquire);
		struct spsc_run run;
		size_t room = max - used;
		if (sh == NULL)
			continue;
		run_open(&run, sh, cut);
		for (n = 0; n < room && run_prev(r, &run, &out[max - 1 - n]);)
			n++;
		memmove(&out[used], &out[max - n], n * sizeof(*out));
		ttlog__merge_inplace(out, 0, used, used + n);
		used += n;
	}
	n = percpu_snapshot(r->shared, out + used, max - used, &sc); /* sorted by ts */
	ttlog__merge_inplace(out, 0, used, used + n);
	used += n;
	/* a shard is in push order too: a signal handler's record may precede, in its shard,
	 * the record whose push it interrupted after that one's timestamp was taken */
	ttlog__sort_inplace(out, used);
	ttlog__cut_add(cut, &sc);
	ttlog__cut_close(cut, used);
	return used;
}

size_t spsc_snapshot(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
		     struct ttlog_ring_cut *cut)
{
	size_t nruns = 0, nheap = 0, nwin = 0, w = max, kept, i;

	memset(cut, 0, sizeof(*cut));
	if (!ttlog__scratch_take(&r->scratch_busy))
		return snapshot_inplace(r, out, max, cut);

	for (i = 0; i < r->nshards; i++) {
		struct spsc_shard *sh = atomic_load_explicit(&r->shards[i], memory_order_acquire);
		if (sh == NULL)
			continue;
		uint64_t s0 = cut->stored, d0 = cut->dropped;
		run_open(&r->runs[nruns], sh, cut);
		r->win[nruns] = (struct ttlog_shard_window){.node = -1,
							    .shard = (uint32_t)i,
							    .stored = cut->stored - s0,
							    .dropped = cut->dropped - d0};
		nruns++;
	}
	/* the shared ring: a run per CPU ring, read in place at its own cut (its records are
	 * not copied first: it holds up to P C of them, the merge needs the newest max) */
	for (unsigned c = 0; c < r->ncpu; c++) {
		r->runs[nruns].sh = NULL;
		r->runs[nruns].cpu = c;
		uint64_t s0 = cut->stored, d0 = cut->dropped;
		percpu_scan_open(r->shared, c, &r->runs[nruns].scan, cut);
		r->win[nruns] = (struct ttlog_shard_window){.node = -1,
							    .shard = r->nshards + c,
							    .shared = 1,
							    .stored = cut->stored - s0,
							    .dropped = cut->dropped - d0};
		nruns++;
	}

	/* k-way merge, newest first, filling out from its end: the newest max records */
	for (i = 0; i < nruns; i++)
		if (run_prev(r, &r->runs[i], &r->heads[i]))
			r->heap[nheap++] = (uint32_t)i;
	for (i = nheap; i-- > 0;)
		heap_down(r, nheap, i);
	while (nheap > 0 && w > 0) {
		uint32_t k = r->heap[0];
		out[--w] = r->heads[k];
		ttlog__window_take(&r->win[k], &r->heads[k]);
		if (!run_prev(r, &r->runs[k], &r->heads[k]))
			r->heap[0] = r->heap[--nheap];
		heap_down(r, nheap, 0);
	}
	kept = max - w;
	if (w > 0)
		memmove(out, out + w, kept * sizeof(*out));
	/* The runs are in push order, not quite timestamp order: a CPU ring's writers may be
	 * preempted between their timestamp and their push, and a signal handler's record
	 * may precede the one whose push it interrupted. Sort, stably (each thread keeps its
	 * order; linear when nothing is out of place). */
	ttlog__sort_inplace(out, kept);
	/* the CPU rings' cursors are done (their cuts close); windows: every shard's, and
	 * those of the CPU rings this snapshot took records from */
	for (i = 0; i < nruns; i++) {
		if (r->runs[i].sh == NULL) {
			uint64_t s0 = cut->stored;
			percpu_scan_close(r->shared, r->runs[i].cpu, &r->runs[i].scan, cut);
			r->win[i].stored -= s0 - cut->stored; /* its in-flight positions */
			if (r->win[i].kept == 0)
				continue;
		}
		r->win[nwin++] = r->win[i];
	}
	r->nwin = nwin;
	ttlog__cut_close(cut, kept);
	ttlog__scratch_give(&r->scratch_busy);
	return kept;
}

size_t spsc_windows(struct ttlog_ring *r, size_t first, struct ttlog_shard_window *out,
		    size_t max)
{
	return ttlog__windows_copy(r, r->win, r->nwin, first, out, max);
}

/* ---- stats ---------------------------------------------------------------------- */

void spsc_stats(const struct ttlog_ring *r, struct ttlog_ring_stats *st)
{
	struct ttlog_ring *m = (struct ttlog_ring *)r; /* atomics are read, not written */

	percpu_stats(m->shared, st);
	for (unsigned i = 0; i < m->nshards; i++) {
		struct spsc_shard *sh = atomic_load_explicit(&m->shards[i], memory_order_acquire);
		if (sh == NULL)
			continue;
		/* relaxed: counters and positions, each read atomically */
		uint64_t p = shard_popped(sh, 0); /* before head: never more than head says */
		uint64_t h = atomic_load_explicit(&sh->head, memory_order_relaxed);
		uint64_t t = atomic_load_explicit(&sh->tail, memory_order_relaxed);
		/* positions below max(head, tail - C) are gone: popped, or overwritten (lapped
		 * by the owner, whether or not a pop has skipped them since) */
		uint64_t gone = t > h + m->capacity ? t - m->capacity : h;
		st->pushed += t;
		if (sh->drop)
			p = h;
		st->popped += p;
		st->overwritten += gone > p ? gone - p : 0;
		st->dropped += atomic_load_explicit(&sh->dropped, memory_order_relaxed);
	}
	st->capacity = r->capacity;
	/* spsc's own push has one path (spsc_shared_path() names the shared ring's) */
	st->push_path = NULL;
}

const char *spsc_shared_path(const struct ttlog_ring *r)
{
	return percpu_path(r->shared);
}

size_t spsc_capacity(const struct ttlog_ring *r)
{
	return (size_t)r->capacity;
}

TTLOG_DEFINE_RING_OPS(spsc, .windows = spsc_windows);
