/*
 * bench.h - the shared pieces of ttlog-bench (the experiment runner) and of its helper
 * programs (ttlog-bench-lttng): clocks, statistics, threads, the result table, the
 * machine description, and the implementations under test.
 *
 * An implementation ("impl") is either a ttlog variant (taken through its ops table, the
 * liburcu flavor pattern) or a baseline (ck_ring, wfcqueue, crossbeam ArrayQueue, spdlog
 * async, LTTng-UST). An experiment plans tasks (impl x config x repetition); the runner
 * executes them repetition-major so that the variants and the baselines are interleaved
 * in time and share the same machine noise. Each task adds values to the result table;
 * one figure = (experiment, impl, config, metric) with one value per repetition.
 */
#ifndef TTLOG_HARNESS_BENCH_H
#define TTLOG_HARNESS_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ttlog/ttlog.h>

struct ttlog_ring_ops;

/* ---- clocks ---------------------------------------------------------------------- */

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* rdtsc fenced so that the timed call cannot move above it (start) or below it (end). */
static inline uint64_t bench_tsc_start(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t bench_tsc_end(void)
{
	uint32_t lo, hi, aux;
	__asm__ __volatile__("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
	(void)aux;
	return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t bench_tsc(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* TSC ticks per ns, measured against CLOCK_MONOTONIC over about ms milliseconds. */
double bench_tsc_calibrate(unsigned ms);

/* Busy-wait ticks TSC ticks (the ~250 ns gap between unloaded latency samples). */
static inline void bench_spin_ticks(uint64_t ticks)
{
	uint64_t t0 = bench_tsc();
	while (bench_tsc() - t0 < ticks)
		__asm__ __volatile__("pause");
}

/* ---- latency sampling ------------------------------------------------------------ */

/*
 * LAT_SAMPLE(samples, n, gap_ticks, CALL): n samples of CALL, each timed by a fenced
 * rdtsc pair, gap_ticks of spinning between samples (0: back to back). CALL is expanded
 * inline, so the timed code is the call itself and nothing else (no indirect call added
 * by the harness). The same macro with an empty CALL measures the timer's own cost.
 */
#define LAT_SAMPLE(samples, n, gap_ticks, CALL)                          \
	do {                                                             \
		for (size_t lat_i_ = 0; lat_i_ < (n); lat_i_++) {        \
			uint64_t lat_t0_ = bench_tsc_start();            \
			CALL;                                            \
			uint64_t lat_t1_ = bench_tsc_end();              \
			(samples)[lat_i_] = lat_t1_ - lat_t0_;           \
			if ((gap_ticks) != 0)                            \
				bench_spin_ticks(gap_ticks);             \
		}                                                        \
	} while (0)

/*
 * LAT_SAMPLE_PLAIN: as LAT_SAMPLE, but a plain rdtsc pair with no fence around each call:
 * NanoLog's own latency method (its Cycles::rdtsc()), which the rings issue's NanoLog
 * figures come from. The CPU may overlap the call with the timer reads, so it reads lower
 * than the fenced samples: compare it only with figures taken the same way.
 */
static inline uint64_t bench_tsc_plain(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}
#define LAT_SAMPLE_PLAIN(samples, n, gap_ticks, CALL)                    \
	do {                                                             \
		for (size_t lat_i_ = 0; lat_i_ < (n); lat_i_++) {        \
			uint64_t lat_t0_ = bench_tsc_plain();            \
			CALL;                                            \
			uint64_t lat_t1_ = bench_tsc_plain();            \
			(samples)[lat_i_] = lat_t1_ - lat_t0_;           \
			if ((gap_ticks) != 0)                            \
				bench_spin_ticks(gap_ticks);             \
		}                                                        \
	} while (0)

/*
 * LAT_BATCH(samples, nb, k, gap_ticks, FENCE, CALL): nb samples, each one fenced rdtsc pair
 * around k expansions of CALL (lat_i_: the call's index, counting on over the batches),
 * gap_ticks of spinning between batches (never between the calls of a batch). FENCE 0:
 * the calls run back to back (the CPU may overlap one call with the next); FENCE 1: an
 * lfence after each call, so that a call starts only once the previous one has executed,
 * as in LAT_SAMPLE. The TSC's step is divided by k: a batch's mean per call has a
 * resolution of step / k. The same macro with an empty CALL measures the timer's cost
 * (FENCE 1: with the k lfences).
 */
#define LAT_BATCH_K 64
static inline void bench_lfence(void)
{
	__asm__ __volatile__("lfence" ::: "memory");
}
#define LAT_BATCH(samples, nb, k, gap_ticks, FENCE, CALL)                                   \
	do {                                                                                \
		for (size_t lat_b_ = 0; lat_b_ < (nb); lat_b_++) {                          \
			uint64_t lat_t0_ = bench_tsc_start();                               \
			for (size_t lat_i_ = lat_b_ * (k); lat_i_ < (lat_b_ + 1) * (k); lat_i_++) { \
				CALL;                                                       \
				if (FENCE)                                                  \
					bench_lfence();                                     \
			}                                                                   \
			uint64_t lat_t1_ = bench_tsc_end();                                 \
			(samples)[lat_b_] = lat_t1_ - lat_t0_;                              \
			if ((gap_ticks) != 0)                                               \
				bench_spin_ticks(gap_ticks);                                \
		}                                                                           \
	} while (0)

/* Percentiles of a latency run, in ns, after the timer cost was subtracted. */
struct lat_summary {
	double p50, p90, p99, p999, p9999, max, timer_ns;
	size_t n;
	/* LAT_BATCH: mean ns per call of a batch, median and p99 over batches; back to back
	 * and fenced (0 when not measured) */
	double batch_mean, batch_p99, fenced_mean, fenced_p99;
};
/* Sort samples (ticks), subtract timer_ticks (clamped at 0), convert with ticks_per_ns. */
void lat_summarize(uint64_t *samples, size_t n, double timer_ticks, double ticks_per_ns,
		   struct lat_summary *out);
/* Median cost of an empty LAT_SAMPLE in ticks, over n samples. */
double lat_timer_ticks(size_t n);
/* The same for LAT_SAMPLE_PLAIN. */
double lat_plain_timer_ticks(size_t n);
/* Median cost of an empty LAT_BATCH of k (with its k lfences when fence), over n samples. */
double lat_batch_timer_ticks(size_t n, unsigned k, int fence);
/* Batch samples (ticks for k calls): the median and p99 over batches of the mean per call,
 * (ticks - timer_ticks) / k, clamped at 0, in ns. Sorts samples. */
void lat_batch_summarize(uint64_t *samples, size_t nb, unsigned k, double timer_ticks,
			 double ticks_per_ns, double *median, double *p99);

/* ---- statistics ------------------------------------------------------------------ */

struct stat_summary {
	double median, min, max, mean, stddev, cv; /* cv = stddev / mean */
	int n;
};
void stat_summarize(const double *v, int n, struct stat_summary *out);
#define BENCH_UNSTABLE_CV 0.10

/* ---- threads --------------------------------------------------------------------- */

/* Start n threads running fn(&args[i]), all released together by a barrier when
 * bench_threads_start returns; thread i is bound to PU i % npus (hwloc) when pinning is
 * on. Each argument starts with a struct bench_thread_hdr, filled here.
 * bench_threads_join waits for them. */
struct bench_threads;
struct bench_thread_hdr {
	struct bench_threads *t;
	int index;
};
struct bench_threads *bench_threads_start(int n, void *(*fn)(void *), void *args,
					  size_t arg_size, size_t stack_size);
void bench_threads_join(struct bench_threads *t);
/* Called by each thread first: pins it (when asked) and waits for the others. */
void bench_thread_enter(struct bench_thread_hdr *h);
void bench_pin_enable(bool on);
int bench_pin_self(int index); /* 0, or -errno; no-op when pinning is off */

/* A per-thread counter on its own cache line: written by its thread only (relaxed store:
 * a single writer, and the reader only needs some recent value), read by the main thread. */
struct bench_counter {
	_Alignas(64) _Atomic uint64_t n;
	char pad[56];
};

/* ---- memory ---------------------------------------------------------------------- */

uint64_t bench_rss_bytes(void);                 /* resident set, from /proc/self/statm */
/* the resident set's high-water mark (VmHWM in /proc/self/status): in an isolated task
 * (a forked child) the peak of that task, counted from the parent's RSS at the fork */
uint64_t bench_hwm_bytes(void);
/* jemalloc counters (mallctl, after an epoch refresh): bytes allocated now, and
 * allocations made so far (small + large.nrequests over every arena). -1 if unavailable. */
int64_t bench_je_allocated(void);
int64_t bench_je_nmalloc(void);

/* ---- results --------------------------------------------------------------------- */

#define BENCH_MAX_REPS 64

struct figure {
	char experiment[24];
	char impl[24];
	char kind[12];     /* "variant" or "baseline" */
	char config[160];  /* key=value;... */
	double x;          /* the x axis of its chart (threads, events, ...) */
	char metric[32];
	char unit[16];
	bool higher_better;
	double values[BENCH_MAX_REPS];
	int n;
	char note[160];
};

/* Add one repetition's value to the figure (experiment, impl, config, metric),
 * creating it on first use. */
void res_add(const char *experiment, const char *impl, const char *kind, const char *config,
	     double x, const char *metric, const char *unit, bool higher_better, double value);
/* Attach a note to every figure of (experiment, impl) (e.g. "skipped: ..."). */
void res_note(const char *experiment, const char *impl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A run-wide note (skipped baselines, caveats); goes into the JSON and the report. */
void run_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern struct figure *bench_figures;
extern int bench_nfigures;
extern char bench_run_notes[32][240];
extern int bench_nrun_notes;

/* ---- implementations ------------------------------------------------------------- */

/* A raw bounded queue for buffer-ops and pc-matrix. push: 0 stored, <0 full (dropped).
 * pop: 0 got one, <0 empty. Thread-safe for any number of producers and consumers
 * (wfcqueue serialises its consumers with its own lock: that is its design). */
struct qops {
	int (*create)(void **q, size_t capacity);
	void (*destroy)(void *q);
	int (*push)(void *q, const struct ttlog_record *rec);
	int (*pop)(void *q, struct ttlog_record *out);
};

enum impl_id {
	IMPL_VARIANT = 0,
	IMPL_CK,
	IMPL_WFCQ,
	IMPL_CROSSBEAM,
	IMPL_SPDLOG,
	IMPL_LTTNG,
};

struct impl {
	const char *name;
	const char *kind;                  /* "variant" or "baseline" */
	enum impl_id id;
	const struct ttlog_ring_ops *ring; /* variants */
	const struct qops *q;              /* C queues (variants get an adapter) */
	bool available;                    /* false: skipped, reason in why */
	char why[200];
};

extern const struct qops bench_ck_qops, bench_wfcq_qops;

/* spdlog async logger (bl_spdlog.cpp): overrun_oldest, null sink, one worker thread. */
int spd_init(size_t queue_size);
void spd_log(uint64_t user_id, const char *action, bool success);
uint64_t spd_overrun(void);
void spd_shutdown(void);

/* ---- the run --------------------------------------------------------------------- */

struct task;
struct bench_ctx;

struct experiment {
	const char *name;
	const char *summary;
	/* add this experiment's tasks for one repetition (called once per repetition, so
	 * that tasks are repetition-major) */
	void (*plan)(struct bench_ctx *c, int rep);
	void (*run)(struct bench_ctx *c, const struct task *t);
	/* run each task in a forked child with a deadline and a memory limit: the
	 * experiment can make a variant run away (1024 threads, 100,000 rings), and one
	 * runaway must cost its figure, not the run */
	bool isolate;
};

struct task {
	const struct experiment *exp;
	struct impl *impl;
	int cfg;
	int rep;
	double est_s; /* estimated seconds, for the ETA */
};

struct bench_ctx {
	/* options */
	bool quick;
	int reps;
	unsigned warmup_ms, duration_ms;
	int threads[16], nthreads;
	size_t lat_samples;
	unsigned lat_gap_ns;
	const char *out_dir;
	const char *crossbeam_bin; /* NULL: not built */
	const char *lttng_bin;     /* NULL: not built */
	const char *trigger_level; /* bench_ttlog_init's trigger_level (NULL: none) */
	const char *snap_dir;      /* scratch directory for snapshots */
	double ticks_per_ns;
	/* implementations */
	struct impl impls[16];
	int nimpls;
	/* plan */
	struct task *tasks;
	int ntasks, cap_tasks;
	/* the lttng session is up (started by us or found running) */
	bool lttng_up;
};

void task_add(struct bench_ctx *c, const struct experiment *e, struct impl *im, int cfg,
	      int rep, double est_s);
/* Iterate the variants / every impl usable in an experiment. */
bool impl_is_variant(const struct impl *im);

/* Run a helper program and parse "key=value ..." from its last output line.
 * Returns the number of keys found (keys[i] get values[i]), -1 on failure. */
int bench_run_helper(const char *cmd, const char *const *keys, double *values, int nkeys,
		     char *err, size_t errlen);

/* The black box setting bench_ttlog_init() applies (ttlog_config.blackbox: 0 default
 * (on), 1 on, -1 off); exp_blackbox sets it around its init. */
extern int bench_blackbox;
/* Initialise ttlog for a variant with the harness's defaults (snapshot dir, quiet). */
int bench_ttlog_init(const struct bench_ctx *c, const char *variant, size_t capacity,
		     int policy);

/* The experiments (one per file: exp_*.c). */
extern const struct experiment exp_throughput, exp_buffer_ops, exp_pc_matrix, exp_latency,
	exp_threads_1024, exp_rings_100k, exp_memory, exp_memory_matrix, exp_snapshot,
	exp_indirect, exp_locked, exp_blackbox, exp_fork;
/* ttlog-bench --locked-child=...: the traced child of the locked experiment (exp_locked.c) */
int exp_locked_child(const char *arg);

/* The standard event of the throughput and latency experiments: message + u64 + short
 * string + bool, through the real log call. */
#define BENCH_LOG_STANDARD(i)                                                        \
	TTLOG_INFO("bench", "User {} did {} ok={}", TTLOG_U64("user_id", (i)),        \
		   TTLOG_STR("action", "login"), TTLOG_BOOL("success", true))

#endif /* TTLOG_HARNESS_BENCH_H */
