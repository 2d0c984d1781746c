/*
 * shard.h - the bookkeeping of the sharded variants (spsc: a ring per thread and a shared
 * one; numa: a ring per node), one copy for both: a snapshot's cut summed over the shards
 * and closed, each shard's window, the scratch a merging snapshot reserves, and what
 * windows() reports. Internal; static inline so each variant gets its own copy.
 *
 * The snapshot protocol they share: take the scratch (ttlog__scratch_take); if another
 * snapshot holds it, snapshot in place instead, after ttlog__inplace_begin, and report no
 * windows; else merge through the scratch, filling one window per shard
 * (ttlog__window_take or ttlog__window_fill), and give the scratch back
 * (ttlog__scratch_give).
 */
#ifndef TTLOG_VARIANTS_SHARD_H
#define TTLOG_VARIANTS_SHARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h"

/* Add one shard's cut (or its shared ring's) to the snapshot's. */
static inline void ttlog__cut_add(struct ttlog_ring_cut *cut, const struct ttlog_ring_cut *c)
{
	cut->stored += c->stored;
	cut->popped += c->popped;
	cut->dropped += c->dropped;
	cut->in_flight += c->in_flight;
}

/* Close the snapshot's cut once `kept` records were copied. With pops racing the snapshot
 * the split popped/overwritten is approximate; the sum is exact: every stored record not
 * kept was popped or evicted, or is older than the newest `max` of all shards. */
static inline void ttlog__cut_close(struct ttlog_ring_cut *cut, size_t kept)
{
	cut->kept = kept;
	if (cut->popped > cut->stored - kept)
		cut->popped = cut->stored - kept;
	cut->overwritten = cut->stored - kept - cut->popped;
}

/* Count rec, the next record a merge took from w's shard, newest first, into w's window:
 * the first one taken is the shard's newest (its tid is the window's). */
static inline void ttlog__window_take(struct ttlog_shard_window *w, const struct ttlog_record *rec)
{
	if (w->kept++ == 0) {
		w->first_ts = w->last_ts = rec->ts;
		w->tid = rec->tid;
	}
	if (rec->ts < w->first_ts)
		w->first_ts = rec->ts;
	if (rec->ts > w->last_ts)
		w->last_ts = rec->ts;
}

/* Fill w's time window from a run of n records in shard order (the oldest and newest
 * timestamps: a shared ring's run is in push order, not quite in timestamp order). */
static inline void ttlog__window_fill(struct ttlog_shard_window *w, const struct ttlog_record *run,
				      size_t n)
{
	w->kept = n;
	w->first_ts = n ? run[0].ts : 0;
	w->last_ts = n ? run[0].ts : 0;
	w->tid = n ? run[n - 1].tid : 0;
	for (size_t i = 1; i < n; i++) {
		if (run[i].ts < w->first_ts)
			w->first_ts = run[i].ts;
		if (run[i].ts > w->last_ts)
			w->last_ts = run[i].ts;
	}
}

/* The ring this thread last snapshotted in place, if it did: the scratch that holds the
 * shard windows was busy, because the snapshot interrupted another one (a crash handler on
 * the thread that was taking it) or raced one on another thread. Its windows are unknown,
 * and windows() reports none rather than the other snapshot's half-written ones. Set by
 * ttlog__inplace_begin, cleared by ttlog__scratch_give when a snapshot through the
 * scratch completes on this thread. One per variant's translation unit. */
static __thread const struct ttlog_ring *ttlog__inplace_ring
	__attribute__((tls_model("initial-exec"), unused));

/* Reserve the ring's snapshot scratch (busy: the ring's flag, 0 when free): 1 taken, 0
 * held by another snapshot (snapshot in place then). */
static inline int ttlog__scratch_take(_Atomic uint32_t *busy)
{
	uint32_t zero = 0;

	/* S1: acquire, pairs with S2 in ttlog__scratch_give() at the end of the previous
	 * snapshot: its use of the scratch and the windows is over */
	return atomic_compare_exchange_strong_explicit(busy, &zero, 1, memory_order_acquire,
						       memory_order_relaxed);
}

/* The scratch taken by ttlog__scratch_take is free again, and this thread's last snapshot
 * went through it: windows() reports what it recorded. */
static inline void ttlog__scratch_give(_Atomic uint32_t *busy)
{
	/* S2: release, pairs with S1 in the next snapshot's ttlog__scratch_take() */
	atomic_store_explicit(busy, 0, memory_order_release);
	ttlog__inplace_ring = NULL;
}

/* A snapshot of r in place (its scratch is held): r's windows are unknown from now on. */
static inline void ttlog__inplace_begin(const struct ttlog_ring *r)
{
	ttlog__inplace_ring = r;
}

/* windows(): copy win[first, first + max) of the nwin the last snapshot recorded into out;
 * returns nwin, or 0 when this thread's last snapshot of r was taken in place. */
static inline size_t ttlog__windows_copy(const struct ttlog_ring *r,
					 const struct ttlog_shard_window *win, size_t nwin,
					 size_t first, struct ttlog_shard_window *out, size_t max)
{
	if (ttlog__inplace_ring == r)
		return 0;
	for (size_t i = 0; first + i < nwin && i < max; i++)
		out[i] = win[first + i];
	return nwin;
}

#endif /* TTLOG_VARIANTS_SHARD_H */
