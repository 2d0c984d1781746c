/*
 * gaps.c - a snapshot's gap records: where the events its counters count as lost were.
 *
 * A ring loses events at known places: overwrite evicts a shard's oldest records, so what
 * a shard lost (the records it stored that the snapshot does not hold: overwritten, popped,
 * or older than the newest capacity of all shards) lies before its oldest kept event; drop
 * refuses pushes into a full shard, after its newest kept event (a flight recorder has no
 * consumer, so a full shard stays full). Each shard the ring reports (its windows) gives
 * one gap of each kind at those places. What no shard accounts for is one gap per kind:
 * overwritten at the start, dropped at the end (mpmc and recovered snapshots have no
 * windows; events dropped outside the rings, by a full interner or callsite table; a
 * snapshot taken in place; shards beyond the ones that fit). Clipped events are one gap at
 * the start. So the counts always sum to overwritten + dropped + clipped. Allocates
 * nothing (the crash path encodes gaps too).
 */
#include "internal.h"

/* The index of the first event in recs[first, n) with timestamp ts (n if none). */
static size_t find_first(const struct ttlog_record *recs, size_t first, size_t n, uint64_t ts)
{
	for (size_t i = first; i < n; i++)
		if (recs[i].ts == ts)
			return i;
	return n;
}

/* The index just after the last event in recs[first, n) with timestamp ts (n if none). */
static size_t find_after_last(const struct ttlog_record *recs, size_t first, size_t n,
			      uint64_t ts)
{
	for (size_t i = n; i > first; i--)
		if (recs[i - 1].ts == ts)
			return i;
	return n;
}

static void add(struct ttlog__gap *out, size_t max, size_t *k, struct ttlog__gap g)
{
	if (g.count > 0 && *k < max)
		out[(*k)++] = g;
}

size_t ttlog__windows_open(struct ttlog__windows *c, struct ttlog_ring *ring)
{
	c->ring = ring;
	c->i = 0;
	c->n = ring != NULL ? ring_windows(ring, 0, c->w, 16) : 0;
	return c->n;
}

const struct ttlog_shard_window *ttlog__windows_next(struct ttlog__windows *c)
{
	if (c->i >= c->n)
		return NULL;
	if (c->i > 0 && c->i % 16 == 0)
		ring_windows(c->ring, c->i, c->w, 16);
	return &c->w[c->i++ % 16];
}

size_t ttlog__gaps(struct ttlog_ring *ring, const struct ttlog__snapinfo *info,
		   const struct ttlog_record *recs, struct ttlog__gap *out, size_t max)
{
	const struct ttlog_ring_cut *c = &info->cut;
	uint64_t overwritten = c->overwritten + c->popped, dropped = c->dropped;
	uint64_t ow_shards = 0, dr_shards = 0;
	struct ttlog__windows ws;
	const struct ttlog_shard_window *x;
	size_t k = 0, first = info->first, n = info->n;

	/* the shards' own gaps, as long as they fit out (2 slots are kept for the rest) */
	ttlog__windows_open(&ws, ring);
	while (max >= 3 && k + 2 <= max - 3 && (x = ttlog__windows_next(&ws)) != NULL) {
		uint64_t ow = x->stored > x->kept ? x->stored - x->kept : 0;
		if (ow_shards + ow > overwritten || dr_shards + x->dropped > dropped)
			break; /* counters read at another instant: the rest is unattributed */
		ow_shards += ow;
		dr_shards += x->dropped;
		size_t before = x->kept ? find_first(recs, first, n, x->first_ts) : n;
		size_t after = x->kept ? find_after_last(recs, first, n, x->last_ts) : n;
		add(out, max, &k,
		    (struct ttlog__gap){.kind = "overwritten", .count = ow,
					.index = (before > first ? before : first) - first,
					.shard = (int64_t)x->shard, .tid = x->shared ? 0 : x->tid,
					.before_ts = x->kept ? x->first_ts : 0});
		add(out, max, &k,
		    (struct ttlog__gap){.kind = "dropped", .count = x->dropped,
					.index = after - first, .shard = (int64_t)x->shard,
					.tid = x->shared ? 0 : x->tid,
					.after_ts = x->kept ? x->last_ts : 0});
	}
	add(out, max, &k,
	    (struct ttlog__gap){.kind = "clipped", .count = first, .index = 0, .shard = -1,
				.before_ts = first < n ? recs[first].ts : 0});
	add(out, max, &k,
	    (struct ttlog__gap){.kind = "overwritten", .count = overwritten - ow_shards,
				.index = 0, .shard = -1});
	add(out, max, &k,
	    (struct ttlog__gap){.kind = "dropped", .count = dropped - dr_shards,
				.index = n - first, .shard = -1});
	/* in event order (insertion sort: a few dozen at most) */
	for (size_t i = 1; i < k; i++)
		for (size_t j = i; j > 0 && out[j - 1].index > out[j].index; j--) {
			struct ttlog__gap t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return k;
}
