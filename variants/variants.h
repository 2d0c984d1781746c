/*
 * variants.h - the list of ring variants, the one place it is written. Each line names a
 * variant whose file variants/<name>.c defines <name>_create, <name>_push, ... and its ops
 * table with TTLOG_DEFINE_RING_OPS(<name>, ...) (ring.h).
 *
 * Read by ring.h (the declarations), registry.c (the lookup table), the Makefile (VARIANTS,
 * taken from these lines with sed: keep one TTLOG_VARIANT_X(name) a line, at the start of
 * the line), the conformance suite and the harness. Adding a variant: its file, and one
 * line here.
 *
 * An X-macro list: define TTLOG_VARIANT_X(name) to what each variant should expand to,
 * include this file, then #undef TTLOG_VARIANT_X. No include guard, on purpose.
 */
#ifndef TTLOG_VARIANT_X
#error "define TTLOG_VARIANT_X(name) before including variants.h"
#endif

TTLOG_VARIANT_X(mpmc)
TTLOG_VARIANT_X(spsc)
TTLOG_VARIANT_X(numa)
TTLOG_VARIANT_X(percpu)
