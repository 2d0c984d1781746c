/*
 * ttlog-bench-lttng.c - the LTTng-UST baseline, in its own process: ttlog-bench starts
 * the session daemon and a snapshot-mode session with ttlog_bench:* enabled, then runs
 * this helper for each point. Same methods as ttlog-bench's experiments (bench.h).
 *
 *   ttlog-bench-lttng throughput THREADS WARMUP_MS DURATION_MS
 *       -> calls=N elapsed_ns=N
 *   ttlog-bench-lttng latency unloaded|saturated SAMPLES GAP_NS BACKGROUND_THREADS
 *       -> p50=.. p90=.. p99=.. p999=.. p9999=.. max=.. timer=.. batch_mean=.. batch_p99=..
 *          fenced_mean=.. fenced_p99=..   (ns)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "tp.h"

#define LOG_STANDARD(i) lttng_ust_tracepoint(ttlog_bench, standard, (i), "login", 1)

struct arg {
	struct bench_thread_hdr hdr;
	struct bench_counter *ctr;
	_Atomic bool *stop;
};

static void *logger(void *p)
{
	struct arg *a = p;
	uint64_t n = 0;

	bench_thread_enter(&a->hdr);
	while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
		for (int k = 0; k < 64; k++, n++)
			LOG_STANDARD(n);
		if (a->ctr != NULL)
			atomic_store_explicit(&a->ctr->n, n, memory_order_relaxed);
	}
	return NULL;
}

static uint64_t sum(struct bench_counter *c, int n)
{
	uint64_t s = 0;
	for (int i = 0; i < n; i++)
		s += atomic_load_explicit(&c[i].n, memory_order_relaxed);
	return s;
}

static int throughput(int nth, unsigned warm, unsigned dur)
{
	struct bench_counter *ctr = aligned_alloc(64, (size_t)nth * sizeof *ctr);
	struct arg *args = calloc((size_t)nth, sizeof *args);
	_Atomic bool stop = false;
	uint64_t c0, c1, t0, t1;

	memset(ctr, 0, (size_t)nth * sizeof *ctr);
	for (int i = 0; i < nth; i++) {
		args[i].ctr = &ctr[i];
		args[i].stop = &stop;
	}
	struct bench_threads *th = bench_threads_start(nth, logger, args, sizeof *args, 0);
	usleep(warm * 1000u);
	c0 = sum(ctr, nth);
	t0 = bench_now_ns();
	usleep(dur * 1000u);
	t1 = bench_now_ns();
	c1 = sum(ctr, nth);
	atomic_store_explicit(&stop, true, memory_order_relaxed);
	bench_threads_join(th);
	printf("calls=%llu elapsed_ns=%llu\n", (unsigned long long)(c1 - c0),
	       (unsigned long long)(t1 - t0));
	return 0;
}

static int latency(bool saturated, size_t n, unsigned gap_ns, int nbg)
{
	double tpn = bench_tsc_calibrate(50), timer;
	uint64_t gap = saturated ? 0 : (uint64_t)(gap_ns * tpn), c0, n0;
	uint64_t *s = malloc(n * sizeof *s);
	size_t nb = n / LAT_BATCH_K > 0 ? n / LAT_BATCH_K : 1;
	uint64_t *bs = calloc(nb, sizeof *bs), *fs = calloc(nb, sizeof *fs);
	double btimer, ftimer;
	size_t nwarm = n / 10 > 10000 ? n / 10 : 10000;
	struct arg *args = calloc((size_t)(nbg ? nbg : 1), sizeof *args);
	_Atomic bool stop = false;
	struct bench_threads *th = NULL;
	struct lat_summary r;

	memset(s, 0, n * sizeof *s);
	if (!saturated)
		nbg = 0;
	for (int i = 0; i < nbg; i++)
		args[i].stop = &stop;
	if (nbg > 0)
		th = bench_threads_start(nbg, logger, args, sizeof *args, 0);
	timer = lat_timer_ticks(100000);
	btimer = lat_batch_timer_ticks(20000, LAT_BATCH_K, 0);
	ftimer = lat_batch_timer_ticks(20000, LAT_BATCH_K, 1);
	c0 = bench_tsc();
	n0 = bench_now_ns();
	LAT_SAMPLE(s, nwarm < n ? nwarm : n, gap, LOG_STANDARD(lat_i_));
	LAT_SAMPLE(s, n, gap, LOG_STANDARD(lat_i_));
	/* as exp_latency.c: batches of LAT_BATCH_K calls, back to back, then fenced */
	LAT_BATCH(bs, nb, LAT_BATCH_K, gap, 0, LOG_STANDARD(lat_i_));
	LAT_BATCH(fs, nb, LAT_BATCH_K, gap, 1, LOG_STANDARD(lat_i_));
	tpn = (double)(bench_tsc() - c0) / (double)(bench_now_ns() - n0);
	atomic_store_explicit(&stop, true, memory_order_relaxed);
	if (th != NULL)
		bench_threads_join(th);
	lat_summarize(s, n, timer, tpn, &r);
	lat_batch_summarize(bs, nb, LAT_BATCH_K, btimer, tpn, &r.batch_mean, &r.batch_p99);
	lat_batch_summarize(fs, nb, LAT_BATCH_K, ftimer, tpn, &r.fenced_mean, &r.fenced_p99);
	printf("p50=%.1f p90=%.1f p99=%.1f p999=%.1f p9999=%.1f max=%.1f timer=%.1f "
	       "batch_mean=%.3f batch_p99=%.3f fenced_mean=%.3f fenced_p99=%.3f\n",
	       r.p50, r.p90, r.p99, r.p999, r.p9999, r.max, r.timer_ns, r.batch_mean, r.batch_p99,
	       r.fenced_mean, r.fenced_p99);
	free(bs);
	free(fs);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "throughput") == 0)
		return throughput(atoi(argv[2]), (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]));
	if (argc == 6 && strcmp(argv[1], "latency") == 0)
		return latency(strcmp(argv[2], "saturated") == 0, (size_t)atol(argv[3]),
			       (unsigned)atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr, "usage: ttlog-bench-lttng throughput THREADS WARMUP_MS DURATION_MS\n"
			"       ttlog-bench-lttng latency unloaded|saturated SAMPLES GAP_NS NBG\n");
	return 2;
}
