/*
 * merge.h - merging runs of records by timestamp, for the sharded variants (spsc, numa).
 * Internal; static inline so each variant gets its own copy.
 *
 * ttlog__merge_inplace() merges two adjacent runs of one array in place, stably (on equal
 * timestamps the left run's record comes first, so each run keeps its own order): the
 * SymMerge algorithm of P.-S. Kim and A. Kutzner, "Stable Minimum Storage Merging by
 * Symmetric Comparisons" (ESA 2004), as in Go's sort.Stable. O(n log n) moves, no memory
 * beyond O(log n) stack, so a snapshot can always merge, even when its reserved scratch is
 * in use by another snapshot (one interrupted by a signal handler on the same thread).
 */
#ifndef TTLOG_VARIANTS_MERGE_H
#define TTLOG_VARIANTS_MERGE_H

#include <stddef.h>

#include "ring.h"

static inline void ttlog__rec_swap_range(struct ttlog_record *r, size_t a, size_t b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ttlog_record t = r[a + i];
		r[a + i] = r[b + i];
		r[b + i] = t;
	}
}

/* [a, m) [m, b) -> [m, b) [a, m), by block swaps */
static inline void ttlog__rec_rotate(struct ttlog_record *r, size_t a, size_t m, size_t b)
{
	size_t i = m - a, j = b - m;

	while (i != j) {
		if (i > j) {
			ttlog__rec_swap_range(r, m - i, m, j);
			i -= j;
		} else {
			ttlog__rec_swap_range(r, m - i, m + j - i, i);
			j -= i;
		}
	}
	ttlog__rec_swap_range(r, m - i, m, i);
}

/* Merge the sorted runs r[a, m) and r[m, b) into one sorted run r[a, b), stably. */
static inline void ttlog__merge_inplace(struct ttlog_record *r, size_t a, size_t m, size_t b)
{
	size_t mid, n, start, end, lim, p;

	if (a >= m || m >= b || r[m - 1].ts <= r[m].ts)
		return; /* an empty run, or already in order */
	if (m - a == 1) {
		/* insert r[a] after every record of the right run that is not later */
		size_t i = m, j = b;
		while (i < j) {
			size_t h = i + (j - i) / 2;
			if (r[h].ts < r[a].ts)
				i = h + 1;
			else
				j = h;
		}
		for (size_t k = a; k + 1 < i; k++)
			ttlog__rec_swap_range(r, k, k + 1, 1);
		return;
	}
	if (b - m == 1) {
		size_t i = a, j = m;
		while (i < j) {
			size_t h = i + (j - i) / 2;
			if (!(r[m].ts < r[h].ts))
				i = h + 1;
			else
				j = h;
		}
		for (size_t k = m; k > i; k--)
			ttlog__rec_swap_range(r, k, k - 1, 1);
		return;
	}
	mid = a + (b - a) / 2;
	n = mid + m;
	if (m > mid) {
		start = n - b;
		lim = mid;
	} else {
		start = a;
		lim = m;
	}
	p = n - 1;
	while (start < lim) {
		size_t c = start + (lim - start) / 2;
		if (!(r[p - c].ts < r[c].ts))
			start = c + 1;
		else
			lim = c;
	}
	end = n - start;
	if (start < m && m < end)
		ttlog__rec_rotate(r, start, m, end);
	if (a < start && start < mid)
		ttlog__merge_inplace(r, a, start, mid);
	if (mid < end && end < b)
		ttlog__merge_inplace(r, mid, end, b);
}

/* The end of the ascending run of r[] that starts at a (r[a, end) sorted by ts). */
static inline size_t ttlog__run_end(const struct ttlog_record *r, size_t a, size_t n)
{
	size_t i = a + 1;

	while (i < n && r[i - 1].ts <= r[i].ts)
		i++;
	return i < n ? i : n;
}

/* Sort r[0, n) by timestamp, stably, in place: a natural bottom-up merge sort over the
 * ascending runs already there. A shared (mpmc) ring's contents are in push order, which
 * is timestamp order except where a producer was preempted between taking its timestamp
 * and claiming its slot: few, short descents, so few runs and few passes. Stable, so each
 * thread's records (increasing timestamps, or equal ones in push order) keep their order.
 * No memory beyond merge_inplace's O(log n) stack. */
static inline void ttlog__sort_inplace(struct ttlog_record *r, size_t n)
{
	for (;;) {
		size_t a = 0, merges = 0;
		while (a < n) {
			size_t m = ttlog__run_end(r, a, n), b;
			if (m == n)
				break;
			b = ttlog__run_end(r, m, n);
			ttlog__merge_inplace(r, a, m, b);
			merges++;
			a = b;
		}
		if (merges == 0)
			return;
	}
}

#endif /* TTLOG_VARIANTS_MERGE_H */
