/*
 * ring.h - the contract every ring variant implements.
 *
 * A variant is one file (variants/<name>.c) exporting its own symbols (<name>_create,
 * <name>_push, ...) and one `const struct ttlog_ring_ops <name>_ops`. libttlog built with
 * VARIANT=x calls x's functions directly (variants/map.h); the harness and the
 * conformance tests take any variant through its ops table.
 *
 * Records are struct ttlog_record (include/ttlog/record.h), copied in and out by value.
 * Every push either stores the record or counts it (overwritten evicts an older record,
 * dropped loses the new one), so at any quiescent moment:
 *     pushed + dropped = kept + popped + overwritten + dropped   (pushed counts stores)
 */
#ifndef TTLOG_VARIANTS_RING_H
#define TTLOG_VARIANTS_RING_H

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

struct ttlog_ring_ops {
	const char *name;
	/* Allocate (through ttlog__ring_alloc) and pre-fault a ring. 0, -EINVAL, -ENOMEM. */
	int (*create)(struct ttlog_ring **out, const struct ttlog_ring_config *cfg);
	void (*destroy)(struct ttlog_ring *r);
	/* Store a copy of *rec; never blocks. 0 stored, 1 stored after evicting the
	 * oldest record, -ENOBUFS dropped (counted). Thread-safe, async-signal-safe. */
	int (*push)(struct ttlog_ring *r, const struct ttlog_record *rec);
	/* Remove the oldest record into *out. 0, or -EAGAIN when empty. Thread-safe. */
	int (*pop)(struct ttlog_ring *r, struct ttlog_record *out);
	/* Copy the current contents, oldest first, into out[0..max) without blocking
	 * producers and without a torn record; fill *cut. Returns the number copied.
	 * Thread-safe with push and pop; async-signal-safe; allocates nothing. */
	size_t (*snapshot)(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
			   struct ttlog_ring_cut *cut);
	/* Counters as they are now (each read atomically, not all at one instant). */
	void (*stats)(const struct ttlog_ring *r, struct ttlog_ring_stats *st);
	/* Records the ring can hold (after rounding). */
	size_t (*capacity)(const struct ttlog_ring *r);
};

/* Ring memory comes from here (and goes back through ttlog__ring_free): page-aligned,
 * zeroed, pre-faulted so that no page fault lands on a log call. NULL on failure. */
void *ttlog__ring_alloc(size_t bytes);
void ttlog__ring_free(void *p, size_t bytes);

/* Each variant's own symbols: TTLOG_RING_DECLARE(mpmc) declares mpmc_create, ... */
#define TTLOG_RING_DECLARE(v) \
	int v##_create(struct ttlog_ring **out, const struct ttlog_ring_config *cfg); \
	void v##_destroy(struct ttlog_ring *r); \
	int v##_push(struct ttlog_ring *r, const struct ttlog_record *rec); \
	int v##_pop(struct ttlog_ring *r, struct ttlog_record *out); \
	size_t v##_snapshot(struct ttlog_ring *r, struct ttlog_record *out, size_t max, \
			    struct ttlog_ring_cut *cut); \
	void v##_stats(const struct ttlog_ring *r, struct ttlog_ring_stats *st); \
	size_t v##_capacity(const struct ttlog_ring *r); \
	extern const struct ttlog_ring_ops v##_ops;

TTLOG_RING_DECLARE(mpmc)

/* Look a variant up by name among those linked in; NULL if unknown. */
const struct ttlog_ring_ops *ttlog__ring_find(const char *name);

#endif /* TTLOG_VARIANTS_RING_H */
