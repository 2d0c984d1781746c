/*
 * exp_throughput.c - events per second through the real log call, by producer threads.
 *
 * Each thread logs the standard event (message + u64 + short string + bool) back to back
 * into a ring of 2^20 events with the overwrite policy (the flight-recorder default).
 * Each thread's first event comes before the warm-up (a variant may set a thread up on
 * it). After the warm-up the library's counters are read at the start and the end of the
 * measured window: recorded = logged - dropped (an overwritten event was recorded and
 * later evicted, a dropped one never was). Overwritten and dropped rates are reported
 * beside it; dropped events never count as throughput. The process's page faults in the
 * window are reported too (a ring not pre-faulted would pay them on its first lap).
 * Baselines: spdlog async (overrun_oldest, null sink): recorded = calls (that policy
 * never drops), overwritten = its overrun counter; LTTng-UST (helper process, snapshot
 * session): recorded = tracepoint calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

#define TP_CAPACITY (1u << 20)

struct tp_arg {
	struct bench_thread_hdr hdr;
	struct bench_counter *ctr;
	_Atomic bool *stop;
	enum impl_id id;
};

static void *tp_thread(void *p)
{
	struct tp_arg *a = p;
	uint64_t n = 0;

	bench_thread_enter(&a->hdr);
	/* the thread's first event on its own, before the window: a variant may set a
	 * thread up on it (spsc creates the thread's shard, pre-faulted: tens of ms) */
	if (a->id == IMPL_SPDLOG)
		spd_log(n, "login", true);
	else
		BENCH_LOG_STANDARD(n);
	atomic_store_explicit(&a->ctr->n, ++n, memory_order_relaxed);
	/* relaxed: a stop flag; the join orders everything after it */
	while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
		if (a->id == IMPL_SPDLOG) {
			for (int k = 0; k < 64; k++, n++)
				spd_log(n, "login", true);
		} else {
			for (int k = 0; k < 64; k++, n++)
				BENCH_LOG_STANDARD(n);
		}
		atomic_store_explicit(&a->ctr->n, n, memory_order_relaxed);
	}
	return NULL;
}

static uint64_t sum_ctr(struct bench_counter *c, int n)
{
	uint64_t s = 0;
	for (int i = 0; i < n; i++)
		s += atomic_load_explicit(&c[i].n, memory_order_relaxed);
	return s;
}

static void sleep_ms(unsigned ms)
{
	usleep(ms * 1000u);
}

static void plan(struct bench_ctx *c, int rep)
{
	for (int k = 0; k < c->nthreads; k++)
		for (int i = 0; i < c->nimpls; i++) {
			struct impl *im = &c->impls[i];
			if (im->ring != NULL || im->id == IMPL_SPDLOG || im->id == IMPL_LTTNG)
				task_add(c, &exp_throughput, im, k, rep,
					 (c->warmup_ms + c->duration_ms) / 1e3 + 0.15);
		}
}

static void run(struct bench_ctx *c, const struct task *t)
{
	int nth = c->threads[t->cfg];
	struct impl *im = t->impl;
	char cfg[160];
	double recorded = 0, overwritten = 0, dropped = 0, secs, faults = -1;

	snprintf(cfg, sizeof cfg, "threads=%d;capacity=%u;policy=overwrite;event=msg+u64+str+bool",
		 nth, TP_CAPACITY);
	if (im->id == IMPL_LTTNG) {
		static const char *const keys[] = {"calls", "elapsed_ns"};
		double v[2];
		char cmd[512], err[300];
		snprintf(cmd, sizeof cmd, "%s throughput %d %u %u", c->lttng_bin, nth, c->warmup_ms,
			 c->duration_ms);
		if (bench_run_helper(cmd, keys, v, 2, err, sizeof err) < 2) {
			run_note("lttng throughput: %s", err);
			return;
		}
		secs = v[1] / 1e9;
		recorded = v[0];
		goto out;
	}

	struct bench_counter *ctr = aligned_alloc(64, (size_t)nth * sizeof *ctr);
	struct tp_arg *args = calloc((size_t)nth, sizeof *args);
	_Atomic bool stop = false;
	ttlog_stats s0, s1;
	struct rusage ru0, ru1;
	uint64_t c0, c1, ov0 = 0, ov1 = 0, t0, t1;

	memset(ctr, 0, (size_t)nth * sizeof *ctr);
	if (im->id == IMPL_SPDLOG) {
		if (spd_init(65536) < 0) {
			run_note("spdlog: cannot create the async logger");
			return;
		}
	} else if (bench_ttlog_init(c, im->name, TP_CAPACITY, TTLOG_POLICY_OVERWRITE) < 0) {
		return;
	} else {
		/* fill the ring first: the window measures the steady state of a flight
		 * recorder (every new event evicts the oldest), not the first lap */
		for (uint64_t i = 0; i < TP_CAPACITY; i++)
			BENCH_LOG_STANDARD(i);
	}
	for (int i = 0; i < nth; i++) {
		args[i].ctr = &ctr[i];
		args[i].stop = &stop;
		args[i].id = im->id;
	}
	struct bench_threads *th = bench_threads_start(nth, tp_thread, args, sizeof *args, 0);
	for (int i = 0; i < nth; i++) /* every thread past its first event */
		while (atomic_load_explicit(&ctr[i].n, memory_order_relaxed) == 0)
			usleep(100);
	sleep_ms(c->warmup_ms);
	getrusage(RUSAGE_SELF, &ru0);
	ttlog_get_stats(&s0);
	c0 = sum_ctr(ctr, nth);
	if (im->id == IMPL_SPDLOG)
		ov0 = spd_overrun();
	t0 = bench_now_ns();
	sleep_ms(c->duration_ms);
	t1 = bench_now_ns();
	ttlog_get_stats(&s1);
	c1 = sum_ctr(ctr, nth);
	getrusage(RUSAGE_SELF, &ru1);
	faults = (double)(ru1.ru_minflt - ru0.ru_minflt) + (double)(ru1.ru_majflt - ru0.ru_majflt);
	if (im->id == IMPL_SPDLOG)
		ov1 = spd_overrun();
	atomic_store_explicit(&stop, true, memory_order_relaxed);
	bench_threads_join(th);
	secs = (double)(t1 - t0) / 1e9;
	if (im->id == IMPL_SPDLOG) {
		spd_shutdown();
		recorded = (double)(c1 - c0);
		overwritten = (double)(ov1 - ov0);
	} else {
		ttlog_shutdown();
		recorded = (double)(s1.logged - s0.logged) - (double)(s1.dropped - s0.dropped);
		overwritten = (double)(s1.overwritten - s0.overwritten);
		dropped = (double)(s1.dropped - s0.dropped);
	}
	free(ctr);
	free(args);
out:
	res_add("throughput", im->name, im->kind, cfg, nth, "recorded_eps", "events/s", true,
		recorded / secs);
	res_add("throughput", im->name, im->kind, cfg, nth, "overwritten_eps", "events/s", false,
		overwritten / secs);
	res_add("throughput", im->name, im->kind, cfg, nth, "dropped_eps", "events/s", false,
		dropped / secs);
	/* page faults of the whole process in the window: a ring whose memory is not
	 * touched before its first lap pays them on log calls */
	if (faults >= 0)
		res_add("throughput", im->name, im->kind, cfg, nth, "page_faults", "faults", false,
			faults);
}

const struct experiment exp_throughput = {
	"throughput", "events/s through the real log call by producer threads", plan, run};
