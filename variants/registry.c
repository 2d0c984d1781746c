/*
 * registry.c - find a variant by name among those linked into this program. Each ops
 * table is a weak reference: a libttlog built for one variant links only that one (and
 * mpmc, which numa is built on; and percpu, which spsc is), the multi-variant library links
 * all of them.
 * The variants are those of the list, variants/variants.h.
 */
#include <string.h>

#include "ring.h"

#define TTLOG_VARIANT_X(v) extern const struct ttlog_ring_ops v##_ops __attribute__((weak));
#include "variants.h"
#undef TTLOG_VARIANT_X

const struct ttlog_ring_ops *ttlog__ring_find(const char *name)
{
	const struct ttlog_ring_ops *all[] = {
#define TTLOG_VARIANT_X(v) &v##_ops,
#include "variants.h"
#undef TTLOG_VARIANT_X
	};

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (all[i] != NULL && name != NULL && strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}
