/*
 * mpmc.c - Dmitry Vyukov's bounded MPMC queue with an overwrite-oldest mode.
 *
 * Algorithm: D. Vyukov, "Bounded MPMC queue",
 * https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue
 * Each slot carries a sequence number: seq == pos means "free for the producer of pos",
 * seq == pos + 1 means "holds the record of pos, ready for the consumer of pos". Producers
 * claim a position with a CAS on tail, consumers with a CAS on head.
 *
 * Overwrite mode: a producer that finds its slot still full evicts the oldest records (the
 * consumer step, without the copy) and retries. It evicts a batch of up to
 * min(8, C / 64) records with one head CAS, so a full ring holds between C - batch + 1
 * and C records: the price of taking the contended head line off most pushes. The batch
 * trades throughput under contention for tail latency: the evicting call reads the batch's
 * slot lines (cold in a large ring) at once, so a larger batch speeds up the pushes that
 * share the head line and slows the one that evicts. 8 keeps most of the first and little
 * of the second (README, Results: "mpmc evicts in batches", for the figures). An eviction
 * never waits: if the oldest slot is claimed but not yet published (its producer was
 * preempted, or interrupted by the signal handler now logging), the new record is dropped
 * and counted instead.
 *
 * Contention: a thread that loses a CAS on head or tail backs off (pause 1, 2, 4, ... times,
 * up to 64 for a consumer, 4 for a producer) before it tries again, as crossbeam's
 * ArrayQueue does; a pop copies the record before its claiming CAS (mpmc_take); drop mode
 * never reads head on a full ring.
 *
 * Progress: push and pop are lock-free with respect to each other except for Vyukov's
 * known window (a producer stalled between its CAS and its publish delays the consumers
 * of that slot); push never waits for it (it drops), pop reports empty. Snapshot is
 * wait-free: one pass over the slots, a seqlock-style check per slot.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "ring.h"

/* Pauses of the longest back-off after a lost race: a consumer's, as crossbeam's; a
 * producer's is short, since a producer that keeps losing tail waits out every pause inside
 * a log call (the saturated tail: README, Results) */
#define MPMC_POP_MAX_SPINS 64
#define MPMC_PUSH_MAX_SPINS 4

/* After a lost race on head or tail: pause 1, 2, 4, ... up to max times before
 * trying again, as crossbeam's Backoff::spin does, so that threads contending for one line
 * let the winner get on instead of taking the line from it again at once. */
static inline void backoff(unsigned *spins, unsigned max)
{
	for (unsigned k = 0; k < *spins; k++) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#else
		atomic_signal_fence(memory_order_seq_cst);
#endif
	}
	if (*spins < max)
		*spins <<= 1;
}

#define MPMC_WORDS (sizeof(struct ttlog_record) / 8)
#define MPMC_WAITS 64 /* full-ring retries without progress before a push drops */

struct mpmc_slot {
	_Atomic uint64_t seq;
	/* the record as words: written relaxed by its producer, read relaxed by the
	 * consumer and by snapshots, ordered by seq */
	_Atomic uint64_t w[MPMC_WORDS];
};
_Static_assert(sizeof(struct mpmc_slot) == TTLOG_RECORD_SIZE, "slot is one record size");

struct ttlog_ring {
	/* written by producers (CAS), read by everyone */
	_Alignas(128) _Atomic uint64_t tail;
	/* written by consumers and evicting producers (CAS), read by everyone */
	_Alignas(128) _Atomic uint64_t head;
	/* written by consumers only, in overwrite mode: records removed by pop (head - popped =
	 * evicted). In drop mode only pops move head, so popped is head (mpmc_popped) and a
	 * pop executes one locked instruction, its CAS, as in Vyukov's queue. */
	_Alignas(128) _Atomic uint64_t popped;
	/* written by producers that drop, rarely */
	_Alignas(128) _Atomic uint64_t dropped;
	/* read-only after create */
	_Alignas(128) uint64_t mask;
	int policy;
	uint64_t batch; /* most records one eviction removes (mpmc_evict) */
	size_t bytes;
	struct mpmc_slot *slots;
	struct ttlog_ring_mem mem; /* where the slots came from (mpmc__create_mem) */
};

static void *mem_alloc(size_t bytes, void *arg)
{
	(void)arg;
	return ttlog__ring_alloc(bytes);
}

static void mem_free(void *p, size_t bytes, void *arg)
{
	(void)arg;
	ttlog__ring_free(p, bytes);
}

int mpmc_create(struct ttlog_ring **out, const struct ttlog_ring_config *cfg)
{
	return mpmc__create_mem(out, cfg, NULL);
}

int mpmc__create_mem(struct ttlog_ring **out, const struct ttlog_ring_config *cfg,
		     const struct ttlog_ring_mem *mem)
{
	static const struct ttlog_ring_mem plain = {mem_alloc, mem_free, NULL};
	struct ttlog_ring *r;
	size_t cap, i;
	int err;

	if ((err = ttlog__ring_config_check(out, cfg, &cap)) < 0)
		return err;
	/* ring memory too: positions and counters go to the black box with the slots */
	r = ttlog__ring_alloc(sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->mem = mem != NULL ? *mem : plain;
	r->bytes = cap * sizeof(struct mpmc_slot);
	r->slots = r->mem.alloc(r->bytes, r->mem.arg);
	if (r->slots == NULL) {
		ttlog__ring_free(r, sizeof(*r));
		return -ENOMEM;
	}
	r->mask = cap - 1;
	r->policy = cfg->policy;
	r->batch = mpmc_evict_batch(cap);
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	atomic_init(&r->popped, 0);
	atomic_init(&r->dropped, 0);
	for (i = 0; i < cap; i++)
		atomic_init(&r->slots[i].seq, i);
	ttlog__box_segment(&(struct ttlog_seg){.kind = TTLOG_SEG_MPMC, .nslots = cap,
					       .slots = r->slots, .tail = &r->tail,
					       .head = &r->head, .popped = &r->popped,
					       .dropped = &r->dropped});
	*out = r;
	return 0;
}

void mpmc_destroy(struct ttlog_ring *r)
{
	if (r == NULL)
		return;
	r->mem.free(r->slots, r->bytes, r->mem.arg);
	ttlog__ring_free(r, sizeof(*r));
}

/* Remove the record at head == expect, copying it to out when out != NULL.
 * 0 removed; -EAGAIN when head is not expect (someone else moved it) or its record is
 * not published yet. Internal.
 *
 * The copy is made before the CAS that claims the position, not after: the slot holds the
 * record of expect until whoever claims expect frees it (R2), so if our CAS is the one that
 * claims it, nothing wrote the slot since A2 and the copy is that record; if the CAS fails
 * the copy is thrown away. That leaves only the CAS and R2 between a consumer's claim and
 * the slot's release: a consumer preempted in between makes every producer that laps the
 * ring to this slot drop until it runs again (the slot is not free), which with more
 * threads than CPUs happens often enough to cost a queue most of its throughput. */
static int mpmc_take(struct ttlog_ring *r, uint64_t expect, struct ttlog_record *out)
{
	struct mpmc_slot *s = &r->slots[expect & r->mask];
	uint64_t seq, pos = expect;
	size_t i;

	/* A2: acquire, pairs with R1 in mpmc_push(): the record of pos is complete. */
	seq = atomic_load_explicit(&s->seq, memory_order_acquire);
	if (seq != pos + 1)
		return -EAGAIN;
	if (out != NULL) {
		uint64_t *w = (uint64_t *)out;
		TTLOG_UNROLL_WORDS /* a pop's copy: 7 loads, no loop */
		for (i = 0; i < MPMC_WORDS; i++)
			w[i] = atomic_load_explicit(&s->w[i], memory_order_relaxed);
	}
	/* relaxed: the CAS only claims the position; the copy is ordered by A2 before it and
	 * by R2 (a release, so after our loads) before the next lap's producer writes */
	if (!atomic_compare_exchange_strong_explicit(&r->head, &pos, pos + 1,
						     memory_order_relaxed, memory_order_relaxed))
		return -EAGAIN;
	/* R2: release, pairs with A1 in mpmc_push(): the slot is free for the next lap,
	 * and our reads of it are done. */
	atomic_store_explicit(&s->seq, expect + r->mask + 1, memory_order_release);
	return 0;
}

/* Overwrite mode: evict the oldest records from head == expect on, up to the first one not
 * published yet and at most r->batch of them, with one head CAS. Batching takes the head
 * line off the path of most pushes: with every push evicting one record, two producers
 * move two contended lines (tail and head) per event. Returns how many were evicted, or
 * -EAGAIN (head is not expect, or its record is not published yet). */
static int mpmc_evict(struct ttlog_ring *r, uint64_t expect)
{
	uint64_t n, pos = expect;

	for (n = 0; n < r->batch; n++) {
		/* A2: acquire, pairs with R1 in mpmc_push(): the record of pos is complete,
		 * and nobody can take it before head passes it */
		struct mpmc_slot *s = &r->slots[(expect + n) & r->mask];
		if (atomic_load_explicit(&s->seq, memory_order_acquire) != expect + n + 1)
			break;
	}
	if (n == 0)
		return -EAGAIN;
	/* relaxed: the CAS only claims the positions; their records are ordered by A2 */
	if (!atomic_compare_exchange_strong_explicit(&r->head, &pos, expect + n,
						     memory_order_relaxed, memory_order_relaxed))
		return -EAGAIN;
	/* R2: release, pairs with A1 in mpmc_push(): each slot is free for the next lap */
	for (pos = expect; pos < expect + n; pos++)
		atomic_store_explicit(&r->slots[pos & r->mask].seq, pos + r->mask + 1,
				      memory_order_release);
	return (int)n;
}

int mpmc_push(struct ttlog_ring *r, const struct ttlog_record *rec)
{
	const uint64_t *w = (const uint64_t *)rec;
	struct mpmc_slot *s;
	uint64_t pos, seq;
	int evicted = 0, n;
	unsigned waits = 0, spins = 1;
	size_t i;

	/* relaxed: only a guess at the position; the CAS below decides */
	pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
	for (;;) {
		s = &r->slots[pos & r->mask];
		/* A1: acquire, pairs with R2 in mpmc_take(): the previous record of this slot
		 * has been read or evicted. */
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		int64_t dif = (int64_t)(seq - pos);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
			backoff(&spins, MPMC_PUSH_MAX_SPINS);
		} else if (dif < 0) {
			/* full: the slot still holds the record of pos - capacity */
			if (r->policy == TTLOG_POLICY_DROP ||
			    (n = mpmc_evict(r, pos - r->mask - 1)) < 0) {
				/* ... or head moved but nobody made progress since: the
				 * evictor (or consumer) between its head CAS and R2 may be the
				 * push this signal handler interrupted; do not wait forever.
				 * Drop mode does not read head: the consumers CAS it on every
				 * pop, and a full ring's producers reading it on every push
				 * would take its line from them */
				if (r->policy == TTLOG_POLICY_DROP || waits > MPMC_WAITS ||
				    atomic_load_explicit(&r->head, memory_order_relaxed) ==
					    pos - r->mask - 1) {
					/* relaxed: a counter, read for statistics only */
					atomic_fetch_add_explicit(&r->dropped, 1,
								  memory_order_relaxed);
					return -ENOBUFS;
				}
				/* head moved: space was freed by someone else, retry */
			} else {
				evicted += n;
			}
			uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
			waits = t == pos ? waits + 1 : 0; /* a lost race is progress */
			pos = t;
		} else {
			/* another producer took pos: tail has moved past it. A slot ahead of a
			 * tail that stays put is a ring whose memory is not one consistent
			 * state (a black box copied while the parent's threads wrote into it,
			 * in a forked child): drop, counted, rather than spin for ever */
			uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
			if (t == pos && ++waits > MPMC_WAITS) {
				/* relaxed: a counter, read for statistics only */
				atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
				return -ENOBUFS;
			}
			pos = t;
		}
	}
	/* F1: release fence, pairs with F2 in mpmc_snapshot(): a snapshot that reads any of
	 * these words also sees the seq change that made this slot ours, so it never keeps a
	 * record mixed from two laps. */
	atomic_thread_fence(memory_order_release);
	TTLOG_UNROLL_WORDS /* the copy into the slot: 7 stores, no loop */
	for (i = 0; i < MPMC_WORDS; i++)
		atomic_store_explicit(&s->w[i], w[i], memory_order_relaxed);
	/* R1: release, pairs with A2 in mpmc_take() and A3 in mpmc_snapshot(). */
	atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
	return evicted;
}

/* Records removed by pop; head is passed in as the caller read it. */
static uint64_t mpmc_popped(const struct ttlog_ring *r, uint64_t head)
{
	if (r->policy == TTLOG_POLICY_DROP)
		return head;
	/* relaxed: a counter for statistics and snapshot attribution */
	return atomic_load_explicit(&((struct ttlog_ring *)r)->popped, memory_order_relaxed);
}

int mpmc_pop(struct ttlog_ring *r, struct ttlog_record *out)
{
	unsigned spins = 1;

	for (;;) {
		/* relaxed: a guess; mpmc_take's CAS decides */
		uint64_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		if (mpmc_take(r, pos, out) == 0) {
			if (r->policy != TTLOG_POLICY_DROP)
				/* relaxed: a counter for statistics and snapshot attribution */
				atomic_fetch_add_explicit(&r->popped, 1, memory_order_relaxed);
			return 0;
		}
		struct mpmc_slot *s = &r->slots[pos & r->mask];
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		if ((int64_t)(seq - (pos + 1)) < 0 &&
		    atomic_load_explicit(&r->head, memory_order_relaxed) == pos)
			return -EAGAIN; /* empty, or the oldest record is still being written */
		backoff(&spins, MPMC_POP_MAX_SPINS); /* another consumer took pos */
	}
}

size_t mpmc_snapshot(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
		     struct ttlog_ring_cut *cut)
{
	uint64_t cap = r->mask + 1, tail, head, start, pos, seq, seq2, newest;
	uint64_t kept = 0, in_flight = 0, popped;
	size_t i;

	/* A4: acquire, pairs with the tail CAS only through the slots' seq (A3); the cut
	 * is "every position below tail". */
	tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	cut->dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed);
	head = atomic_load_explicit(&r->head, memory_order_acquire);
	start = tail > cap ? tail - cap : 0;
	if (head > start)
		start = head < tail ? head : tail;
	/* a buffer smaller than the ring takes the newest records (positions from newest on);
	 * the scan still covers every position, to count those in flight */
	newest = tail > max ? tail - max : 0;
	for (pos = start; pos < tail; pos++) {
		struct mpmc_slot *s = &r->slots[pos & r->mask];
		/* A3: acquire, pairs with R1 in mpmc_push(): the record of pos is complete */
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (seq == pos) {
			in_flight++; /* claimed before the cut, not published yet */
			continue;
		}
		if (seq != pos + 1 || pos < newest)
			continue; /* already popped or evicted, or older than max allows */
		uint64_t *w = (uint64_t *)&out[kept];
		for (i = 0; i < MPMC_WORDS; i++)
			w[i] = atomic_load_explicit(&s->w[i], memory_order_relaxed);
		/* F2: acquire fence, pairs with F1 in mpmc_push(): if a copied word came from
		 * a newer lap, seq2 below shows that lap. */
		atomic_thread_fence(memory_order_acquire);
		seq2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
		if (seq2 == pos + 1)
			kept++;
	}
	/* relaxed: read after the scan, so pops during it count as popped */
	popped = mpmc_popped(r, atomic_load_explicit(&r->head, memory_order_relaxed));
	cut->stored = tail - in_flight;
	cut->kept = kept;
	/* with pops racing the snapshot the split popped/overwritten is approximate; the
	 * sum is exact because every stored record not kept was removed by one of them */
	cut->popped = popped < cut->stored - kept ? popped : cut->stored - kept;
	cut->overwritten = cut->stored - kept - cut->popped;
	cut->in_flight = in_flight;
	return kept;
}

void mpmc_stats(const struct ttlog_ring *r, struct ttlog_ring_stats *st)
{
	struct ttlog_ring *m = (struct ttlog_ring *)r;
	uint64_t head = atomic_load_explicit(&m->head, memory_order_relaxed);

	st->popped = mpmc_popped(m, head);
	st->pushed = atomic_load_explicit(&m->tail, memory_order_relaxed);
	st->overwritten = head >= st->popped ? head - st->popped : 0;
	st->dropped = atomic_load_explicit(&m->dropped, memory_order_relaxed);
	st->capacity = r->mask + 1;
}

size_t mpmc_capacity(const struct ttlog_ring *r)
{
	return (size_t)(r->mask + 1);
}

TTLOG_DEFINE_RING_OPS(mpmc, .windows = NULL);
