/*
 * registry.c - find a variant by name among those linked into this program. Each ops
 * table is a weak reference: a libttlog built for one variant links only that one, the
 * multi-variant library links all of them.
 */
#include <string.h>

#include "ring.h"

extern const struct ttlog_ring_ops mpmc_ops __attribute__((weak));
extern const struct ttlog_ring_ops spsc_ops __attribute__((weak));
extern const struct ttlog_ring_ops numa_ops __attribute__((weak));
extern const struct ttlog_ring_ops percpu_ops __attribute__((weak));

const struct ttlog_ring_ops *ttlog__ring_find(const char *name)
{
	const struct ttlog_ring_ops *all[] = {&mpmc_ops, &spsc_ops, &numa_ops, &percpu_ops};

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i] != NULL && name != NULL && strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}
