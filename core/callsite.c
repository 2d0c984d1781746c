/*
 * callsite.c - the process-wide table of callsites. An id is the table index + 1.
 * Registration is lock-free (so that a signal handler's first event cannot deadlock):
 * claim an index, publish the pointer, then try to make it the callsite's id. Two
 * threads racing on the same callsite each publish an entry; one id wins and the other
 * entry is an unused duplicate, harmless in the snapshot dictionary.
 */
#include <stdatomic.h>

#include "internal.h"

static _Atomic(const struct ttlog_callsite *) table[TTLOG_MAX_CALLSITES];
/* written by registering threads (fetch_add), read by snapshots */
static _Atomic uint32_t used;

uint32_t ttlog__register(struct ttlog_callsite *cs)
{
	_Atomic uint32_t *idp = (_Atomic uint32_t *)&cs->id;
	uint32_t id, expect = 0, idx;

	/* A1: acquire, pairs with R2: another thread registered it */
	id = atomic_load_explicit(idp, memory_order_acquire);
	if (id != 0)
		return id;
	/* relaxed: the index is ours alone; publication is ordered by R1 */
	idx = atomic_fetch_add_explicit(&used, 1, memory_order_relaxed);
	if (idx >= TTLOG_MAX_CALLSITES) {
		atomic_fetch_sub_explicit(&used, 1, memory_order_relaxed);
		return 0;
	}
	/* R1: release, pairs with A2 in ttlog__callsite(): the callsite's fields are set */
	atomic_store_explicit(&table[idx], cs, memory_order_release);
	/* R2: release (acq_rel on failure read), pairs with A1 */
	if (atomic_compare_exchange_strong_explicit(idp, &expect, idx + 1, memory_order_acq_rel,
						    memory_order_acquire))
		return idx + 1;
	return expect;
}

const struct ttlog_callsite *ttlog__callsite(uint32_t id)
{
	if (id == 0 || id > TTLOG_MAX_CALLSITES)
		return NULL;
	/* A2: acquire, pairs with R1 */
	return atomic_load_explicit(&table[id - 1], memory_order_acquire);
}

uint32_t ttlog__callsite_count(void)
{
	/* relaxed: entries are read with acquire one by one */
	uint32_t n = atomic_load_explicit(&used, memory_order_relaxed);
	return n > TTLOG_MAX_CALLSITES ? TTLOG_MAX_CALLSITES : n;
}
