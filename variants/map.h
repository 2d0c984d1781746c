/*
 * map.h - bind the generic ring calls of the core to one variant (the liburcu "map"
 * pattern). Built with -DTTLOG_VARIANT=mpmc, ring_push() is mpmc_push(): a direct call.
 * Built with -DTTLOG_VARIANT_DYNAMIC (the multi-variant library the harness and the
 * conformance tests use), the calls go through the ops table chosen at ttlog_init().
 */
#ifndef TTLOG_VARIANTS_MAP_H
#define TTLOG_VARIANTS_MAP_H

#include "ring.h"

#if defined(TTLOG_VARIANT_DYNAMIC)
extern const struct ttlog_ring_ops *ttlog__ops; /* set by ttlog_init, read-only after */
#define ring_create(o, c) ttlog__ops->create(o, c)
#define ring_destroy(r) ttlog__ops->destroy(r)
#define ring_push(r, rec) ttlog__ops->push(r, rec)
#define ring_snapshot(r, o, m, c) ttlog__ops->snapshot(r, o, m, c)
#define ring_stats(r, s) ttlog__ops->stats(r, s)
#define ring_capacity(r) ttlog__ops->capacity(r)
#define ring_name() (ttlog__ops->name)
#define ring_windows(r, f, o, m) (ttlog__ops->windows ? ttlog__ops->windows(r, f, o, m) : 0)
#else
#ifndef TTLOG_VARIANT
#error "build with -DTTLOG_VARIANT=<name> or -DTTLOG_VARIANT_DYNAMIC"
#endif
#define TTLOG__MAP_CAT_(a, b) a##_##b
#define TTLOG__MAP_CAT(a, b) TTLOG__MAP_CAT_(a, b)
#define TTLOG__MAP_STR_(a) #a
#define TTLOG__MAP_STR(a) TTLOG__MAP_STR_(a)
#define ring_create TTLOG__MAP_CAT(TTLOG_VARIANT, create)
#define ring_destroy TTLOG__MAP_CAT(TTLOG_VARIANT, destroy)
#define ring_push TTLOG__MAP_CAT(TTLOG_VARIANT, push)
#define ring_snapshot TTLOG__MAP_CAT(TTLOG_VARIANT, snapshot)
#define ring_stats TTLOG__MAP_CAT(TTLOG_VARIANT, stats)
#define ring_capacity TTLOG__MAP_CAT(TTLOG_VARIANT, capacity)
#define ring_name() TTLOG__MAP_STR(TTLOG_VARIANT)
/* optional op (NULL for rings without shards): through the table, off the log path */
#define ring_windows(r, f, o, m)                                                       \
	(TTLOG__MAP_CAT(TTLOG_VARIANT, ops).windows                                     \
		 ? TTLOG__MAP_CAT(TTLOG_VARIANT, ops).windows(r, f, o, m)               \
		 : 0)
#endif

#endif /* TTLOG_VARIANTS_MAP_H */
