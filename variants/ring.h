/*
 * ring.h - the contract every ring variant implements.
 *
 * A variant is one file (variants/<name>.c) exporting its own symbols (<name>_create,
 * <name>_push, ...) and one `const struct ttlog_ring_ops <name>_ops` (TTLOG_DEFINE_RING_OPS
 * below), and one line in the list of variants (variants/variants.h). libttlog built with
 * VARIANT=x calls x's functions directly (variants/map.h); the harness and the
 * conformance tests take any variant through its ops table.
 *
 * Records are struct ttlog_record (include/ttlog/record.h), copied in and out by value.
 * Every push either stores the record or counts it (overwritten evicts an older record,
 * dropped loses the new one), so at any quiescent moment:
 *     pushed + dropped = kept + popped + overwritten + dropped   (pushed counts stores)
 *
 * Capacity: a snapshot returns at most capacity() records (a buffer of capacity() records
 * always suffices) and ring memory is bounded by a small multiple of it:
 *   mpmc  one ring of C = capacity rounded up to a power of two (at least 16); overwrite
 *         evicts up to mpmc_evict_batch(C) = min(8, C / 64) (at least 1) oldest records
 *         at a time, so a full ring holds at least C - batch + 1 of the newest.
 *   spsc  per-thread shards of C records each, at most S of them (8 by default), and a
 *         shared percpu ring (C per CPU) for the rest (spsc_create_shards): a thread keeps
 *         up to C of its own records and a snapshot returns the newest C of all shards, as
 *         mpmc would; memory is bounded by (S + P) C records (P: possible CPUs), shards
 *         allocated on first push.
 *   numa  one ring of C per NUMA node (N of them); a producer writes to its node's ring;
 *         a snapshot returns the newest C of all nodes. Memory: N C records.
 *   percpu  one ring of C per possible CPU (P of them, percpu_rings()); a producer writes
 *         to the ring of the CPU it runs on and evicts one record at a time; a snapshot
 *         returns the newest C of all rings. Memory: P C records (plus O(P) scratch).
 */
#ifndef TTLOG_VARIANTS_RING_H
#define TTLOG_VARIANTS_RING_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <ttlog/ttlog.h>

struct ttlog_ring; /* opaque, one per variant */

struct ttlog_ring_config {
	size_t capacity; /* records; variants round it up to a power of two */
	int policy;      /* TTLOG_POLICY_OVERWRITE or TTLOG_POLICY_DROP */
};

struct ttlog_ring_stats {
	uint64_t pushed;      /* records stored by push */
	uint64_t popped;      /* records removed by pop */
	uint64_t overwritten; /* records evicted by a push (overwrite policy) */
	uint64_t dropped;     /* pushes that stored nothing */
	uint64_t capacity;
	/* which push path the ring runs when it has more than one (percpu: "rseq" or
	 * "sched_getcpu"); NULL otherwise. Variants with one path leave it alone: zero the
	 * struct before the call. */
	const char *push_path;
};

/*
 * What a snapshot saw, as one cut in time: every record stored before the cut is either
 * in the copy (kept), was popped, or was evicted (overwritten), so
 *     stored = kept + popped + overwritten  and  logged = stored + dropped
 * hold exactly. Records whose push had claimed a slot but not yet published it at the
 * cut are not "stored" yet (in_flight); the next snapshot counts them.
 */
struct ttlog_ring_cut {
	uint64_t stored;
	uint64_t kept;
	uint64_t popped;
	uint64_t overwritten;
	uint64_t dropped;
	uint64_t in_flight;
};

/*
 * What a snapshot kept of one shard of a sharded ring (spsc: a thread's ring or a CPU ring
 * of the shared one; numa: a node's ring; percpu: a CPU's ring). Overwrite mode evicts per
 * shard, so a busy shard's history starts later than a quiet one's: a reader compares
 * first_ts across shards to know from when on the merged events are complete (the common
 * window is [max first_ts, ...]).
 */
struct ttlog_shard_window {
	uint64_t first_ts; /* ts of the oldest record kept from this shard (record units) */
	uint64_t last_ts;  /* ts of the newest record kept; both 0 when kept == 0 */
	uint64_t kept;     /* records of this shard in the snapshot */
	uint32_t tid;      /* tid of the newest record kept (0 if none) */
	int32_t node;      /* numa: the node's OS index; -1 otherwise */
	uint32_t shard;    /* the shard's index in its ring */
	uint32_t shared;   /* 1: several threads write this shard (spsc's shared CPU rings,
			    * numa, percpu) */
	/* this shard's share of the cut: records it stored and pushes it dropped; stored -
	 * kept were lost before its oldest kept record (overwritten, popped, or older than the
	 * newest max of all shards), the dropped ones after its newest (drop policy, no pop):
	 * the snapshot's gap records */
	uint64_t stored, dropped;
};

struct ttlog_ring_ops {
	const char *name;
	/* Allocate (through ttlog__ring_alloc) and pre-fault a ring. 0, -EINVAL, -ENOMEM. */
	int (*create)(struct ttlog_ring **out, const struct ttlog_ring_config *cfg);
	void (*destroy)(struct ttlog_ring *r);
	/* Store a copy of *rec; never blocks. n >= 0 stored after evicting the n oldest
	 * records (0 when there was room; mpmc evicts in batches, so n may exceed 1 and the
	 * pushes after it find room), -ENOBUFS dropped (counted). Thread-safe,
	 * async-signal-safe. percpu: a pop racing the push that overwrites the record it
	 * pops may count that record too (no locked instruction orders them), so with
	 * consumers n is an upper bound; stats and cuts stay exact. */
	int (*push)(struct ttlog_ring *r, const struct ttlog_record *rec);
	/* Remove the oldest record into *out. 0, or -EAGAIN when empty. Thread-safe. */
	int (*pop)(struct ttlog_ring *r, struct ttlog_record *out);
	/* Copy the current contents, oldest first, into out[0..max) without blocking
	 * producers and without a torn record; fill *cut. Returns the number copied; with
	 * more records than max, the newest max (the others count as overwritten).
	 * Thread-safe with push and pop; async-signal-safe; allocates nothing. */
	size_t (*snapshot)(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
			   struct ttlog_ring_cut *cut);
	/* Counters as they are now (each read atomically, not all at one instant). */
	void (*stats)(const struct ttlog_ring *r, struct ttlog_ring_stats *st);
	/* Records the ring can hold (after rounding), all shards together. */
	size_t (*capacity)(const struct ttlog_ring *r);
	/* Optional (NULL for a ring without shards). The shards the last snapshot saw, one
	 * window each: copies windows [first, first + max) of them into out and returns how
	 * many the last snapshot recorded in all (0 before any snapshot, and after one taken
	 * in place: shard.h). Not thread-safe with snapshot (call it from the thread that
	 * took the snapshot, before the next). */
	size_t (*windows)(struct ttlog_ring *r, size_t first, struct ttlog_shard_window *out,
			  size_t max);
};

/* Ring memory comes from here (and goes back through ttlog__ring_free): page-aligned,
 * zeroed, pre-faulted so that no page fault lands on a log call. NULL on failure. While
 * ttlog runs with a black box, it is carved from the box until the box's ring region is
 * full (anonymous memory after that): a ring made then must be destroyed before
 * ttlog_shutdown(), which unmaps the box. */
void *ttlog__ring_alloc(size_t bytes);
void ttlog__ring_free(void *p, size_t bytes);
/* How many mappings ttlog__ring_alloc(_bound) has made in this process, ever (tests:
 * memory bounded as the contract says, no allocation beyond it, even transiently). */
uint64_t ttlog__ring_maps(void);

/*
 * The black box (core/box.c): a ring segment whose slots and counters came from
 * ttlog__ring_alloc is described to it once they are initialised, so that a recoverer can
 * read them from the box file after the process is gone. A no-op when the memory is not in
 * a box. Slots are TTLOG_RECORD_SIZE bytes: the 64-bit seq word, then the record. kind:
 * TTLOG_SEG_* (how seq says what a slot holds: docs/blackbox-format.md). Lock-free,
 * async-signal-safe (spsc describes a shard on a thread's first push).
 */
enum { TTLOG_SEG_MPMC = 1, TTLOG_SEG_SPSC = 2, TTLOG_SEG_PERCPU = 3 };
#define TTLOG_SEG_RSEQ 1u /* percpu: the ring's pushes are rseq sequences */
struct ttlog_seg {
	uint32_t kind, flags;
	uint64_t nslots; /* a power of two */
	uint64_t pos0;   /* the first position (percpu: nslots) */
	const void *slots;
	const void *tail, *head, *popped, *dropped; /* 64-bit counters */
	const void *busy;                           /* spsc's 32-bit busy flag, or NULL */
};
void ttlog__box_segment(const struct ttlog_seg *s);

/* Like ttlog__ring_alloc, but bind(p, bytes, arg) is called on the fresh mapping before
 * it is pre-faulted, so every page is first touched under the memory policy it sets (numa
 * binds a ring to its node). A failing bind is not an error: the memory is then wherever
 * the kernel puts it; *bound (may be NULL) tells which. Free with ttlog__ring_free. */
void *ttlog__ring_alloc_bound(size_t bytes, int (*bind)(void *p, size_t bytes, void *arg),
			      void *arg, int *bound);

/* Before a loop over a record's words: unrolled (GCC and clang), so that a push copies a
 * record with straight-line stores instead of a loop of them. */
#define TTLOG_UNROLL_WORDS _Pragma("GCC unroll 8")

/* The create-time checks every variant makes: out and cfg non-NULL, a capacity in
 * [1, 2^32], a known policy. 0 and *cap = the capacity rounded up to a power of two (at
 * least 16), or -EINVAL. */
static inline int ttlog__ring_config_check(struct ttlog_ring **out,
					   const struct ttlog_ring_config *cfg, size_t *cap)
{
	size_t c = 16;

	if (out == NULL || cfg == NULL || cfg->capacity == 0 || cfg->capacity > (1ull << 32))
		return -EINVAL;
	if (cfg->policy != TTLOG_POLICY_OVERWRITE && cfg->policy != TTLOG_POLICY_DROP)
		return -EINVAL;
	while (c < cfg->capacity)
		c <<= 1;
	*cap = c;
	return 0;
}

/* Each variant's own symbols: TTLOG_RING_DECLARE(mpmc) declares mpmc_create, ... The
 * optional ops (windows) are declared by the variants that have them, below. */
#define TTLOG_RING_DECLARE(v)                                                                      \
	int v##_create(struct ttlog_ring **out, const struct ttlog_ring_config *cfg);              \
	void v##_destroy(struct ttlog_ring *r);                                                    \
	int v##_push(struct ttlog_ring *r, const struct ttlog_record *rec);                        \
	int v##_pop(struct ttlog_ring *r, struct ttlog_record *out);                               \
	size_t v##_snapshot(struct ttlog_ring *r, struct ttlog_record *out, size_t max,            \
			    struct ttlog_ring_cut *cut);                                           \
	void v##_stats(const struct ttlog_ring *r, struct ttlog_ring_stats *st);                   \
	size_t v##_capacity(const struct ttlog_ring *r);                                           \
	extern const struct ttlog_ring_ops v##_ops;

/* every variant of the list (variants/variants.h) */
#define TTLOG_VARIANT_X(v) TTLOG_RING_DECLARE(v)
#include "variants.h"
#undef TTLOG_VARIANT_X

/*
 * A variant's ops table, defined in its file after its functions, as liburcu's
 * DEFINE_RCU_FLAVOR does: TTLOG_DEFINE_RING_OPS(mpmc, .windows = NULL) defines
 * `const struct ttlog_ring_ops mpmc_ops` with .name = "mpmc", .create = mpmc_create, ...
 * The optional ops come last, as designated initializers, stated by every variant (NULL
 * when it has none) so that a missing one is a choice, not an oversight.
 */
#define TTLOG_DEFINE_RING_OPS(v, ...)                                                              \
	const struct ttlog_ring_ops v##_ops = {.name = #v,                                         \
					       .create = v##_create,                               \
					       .destroy = v##_destroy,                             \
					       .push = v##_push,                                   \
					       .pop = v##_pop,                                     \
					       .snapshot = v##_snapshot,                           \
					       .stats = v##_stats,                                 \
					       .capacity = v##_capacity,                           \
					       __VA_ARGS__}

size_t spsc_windows(struct ttlog_ring *r, size_t first, struct ttlog_shard_window *out,
		    size_t max);
size_t numa_windows(struct ttlog_ring *r, size_t first, struct ttlog_shard_window *out,
		    size_t max);
size_t percpu_windows(struct ttlog_ring *r, size_t first, struct ttlog_shard_window *out,
		      size_t max);

/*
 * spsc with at most `shards` per-thread shards (0: SPSC_DEFAULT_SHARDS; at most
 * SPSC_MAX_SHARDS, else -EINVAL). Each shard holds C records (the capacity rounded up to a
 * power of two); a shared percpu ring (C records per CPU) takes the threads that find no
 * free shard and pushes from a signal handler that interrupted a push of its own thread.
 * spsc_create(out, cfg) is spsc_create_shards(out, cfg, 0). spsc_shared_path(): the push
 * path of that shared ring (percpu_path()). Internal (tests, harness).
 */
int spsc_create_shards(struct ttlog_ring **out, const struct ttlog_ring_config *cfg,
		       unsigned shards);
const char *spsc_shared_path(const struct ttlog_ring *r);
#define SPSC_DEFAULT_SHARDS 8
#define SPSC_MAX_SHARDS 1024

/* The number of NUMA nodes (so of rings per numa ring) this process sees: hwloc's topology,
 * HWLOC_SYNTHETIC / HWLOC_XMLFILE honoured, loaded once. Internal (tests, harness). */
unsigned numa_nodes(void);
/* Forget the calling thread's cached node: call after changing the thread's CPU affinity
 * so that its next push looks its node up again (it would within 256 pushes anyway).
 * Async-signal-safe. */
void numa_thread_moved(void);

/* percpu: the rings one percpu ring has (the possible CPUs); the push path a ring runs
 * ("rseq" or "sched_getcpu", decided at create); the rseq pushes of the calling thread that
 * were aborted and restarted (preempted, migrated or signalled inside the sequence).
 * Internal (tests, harness). */
unsigned percpu_rings(void);
const char *percpu_path(const struct ttlog_ring *r);
uint64_t percpu_thread_restarts(void);

/*
 * percpu's CPU rings read by another variant's snapshot (spsc merges its shared percpu
 * ring's CPU rings with its own shards, one run each): percpu_nrings(r) rings, each read
 * through one cursor, snapshot-private state of the caller. percpu_scan_open() takes the
 * ring's cut (adds its stored and dropped to *cut); percpu_scan_prev() moves to the next
 * older intact record, in push order (not quite timestamp order), into c->cand: 1, or 0
 * when the ring is done; percpu_scan_close() adds what is left (popped, in_flight, and
 * takes the in-flight positions out of stored), after which *cut sums as ring.h says.
 * Wait-free, async-signal-safe, no allocation; any number of cursors at once. Internal.
 */
struct percpu_scan {
	uint64_t next;  /* the next position to read is next - 1, down to start */
	uint64_t start; /* oldest position still in the ring at the cut */
	uint64_t in_flight;
	int has; /* cand holds this ring's newest record not merged yet */
	struct ttlog_record cand;
};
unsigned percpu_nrings(const struct ttlog_ring *r);
void percpu_scan_open(struct ttlog_ring *r, unsigned ring, struct percpu_scan *c,
		      struct ttlog_ring_cut *cut);
int percpu_scan_prev(struct ttlog_ring *r, unsigned ring, struct percpu_scan *c);
void percpu_scan_close(struct ttlog_ring *r, unsigned ring, struct percpu_scan *c,
		       struct ttlog_ring_cut *cut);

/* mpmc rings whose slots come from elsewhere (numa binds each to a node): mem->alloc and
 * mem->free replace ttlog__ring_alloc / ttlog__ring_free for the slots; mem->arg is
 * passed to both. mem NULL is mpmc_create. Internal. */
struct ttlog_ring_mem {
	void *(*alloc)(size_t bytes, void *arg);
	void (*free)(void *p, size_t bytes, void *arg);
	void *arg;
};
/* How many records one overwrite eviction removes at most, for an mpmc ring of C slots. */
static inline uint64_t mpmc_evict_batch(uint64_t c)
{
	return c / 64 >= 8 ? 8 : c / 64 ? c / 64 : 1;
}
int mpmc__create_mem(struct ttlog_ring **out, const struct ttlog_ring_config *cfg,
		     const struct ttlog_ring_mem *mem);

/* Look a variant up by name among those linked in; NULL if unknown. */
const struct ttlog_ring_ops *ttlog__ring_find(const char *name);

#endif /* TTLOG_VARIANTS_RING_H */
