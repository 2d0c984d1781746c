/*
 * gb.h - Google Benchmark for C: the C side registers benchmark functions and runs them
 * through a small C++ shim (shim.cpp). A benchmark function loops
 *
 *     while (gb_keep_running_batch(st, 64))
 *             for (int i = 0; i < 64; i++) ...one operation...
 *
 * so that the shim's per-iteration check costs one call per 64 operations.
 */
#ifndef TTLOG_HARNESS_GB_H
#define TTLOG_HARNESS_GB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gb_state gb_state;
typedef void (*gb_fn)(gb_state *st, void *arg);

/* Register fn(st, arg) as `name`, run with each thread count in threads[0..nthreads).
 * setup/teardown (may be NULL) run once around each run, outside the timing, with arg. */
int gb_register(const char *name, gb_fn fn, void *arg, const int *threads, int nthreads,
		void (*setup)(void *), void (*teardown)(void *));
/* True while the benchmark wants n more iterations (Google Benchmark's KeepRunningBatch). */
int gb_keep_running_batch(gb_state *st, size_t n);
int gb_thread_index(gb_state *st);
int gb_threads(gb_state *st);
/* items per iteration, for the items_per_second column */
void gb_set_items_processed(gb_state *st, int64_t items);
void gb_set_label(gb_state *st, const char *label);
void gb_skip_with_error(gb_state *st, const char *msg);
/* Parse the --benchmark_* options, run what was registered; returns the exit status. */
int gb_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif /* TTLOG_HARNESS_GB_H */
