/*
 * exp_latency.c - the latency of one log call, per call.
 *
 * Each sample is a fenced rdtsc pair around one call of the standard event (message +
 * u64 + short string + bool); the timer's own cost (the median of the same rdtsc pair
 * around nothing, measured in the same run just before) is subtracted from every sample.
 * unloaded: one thread, ~250 ns of spinning between calls (the calls do not queue behind
 * each other). saturated: no gap, and every other core runs a thread logging back to back
 * into the same logger. Warm-up: 10% of the samples (at least 10,000) are taken and
 * thrown away first. Percentiles p50 p90 p99 p99.9 p99.99 and max, in ns.
 *
 * The TSC advances in coarse steps on some VMs, which quantises those percentiles. In
 * the same run, same logger, same background threads, right after the per-call samples:
 * samples / LAT_BATCH_K batches, each one rdtsc pair around LAT_BATCH_K (64) calls of the
 * same standard event, the ~250 ns gap between batches when unloaded (never between the
 * calls of a batch), the cost of an empty batch subtracted once per batch, divided by K:
 * a mean per call with a resolution of step / 64. batch_mean / batch_p99: the calls back
 * to back (the CPU may overlap a call with the next: the cost per call of a burst, not the
 * latency of an isolated call); fenced_mean / fenced_p99: an lfence after each call (a
 * call starts once the previous one has executed, as in the per-call samples; the empty
 * batch then holds the 64 lfences). Median and p99 over batches of those means; a mean
 * includes whatever slow call fell in its batch, so it is not the per-call p50.
 *
 * plain_p50 / plain_p99 / plain_p99.9: NanoLog's own method, in the same run: a plain rdtsc
 * pair (no fence) around each call, the median of the same pair around nothing subtracted
 * (LAT_SAMPLE_PLAIN): the figures the rings issue gives for NanoLog were taken this way.
 *
 * Where a call's nanoseconds go (variants, unloaded, right after the fenced batches, same
 * method): cost_clock = the logger's clock read alone (rdtsc, or clock_gettime where the
 * TSC is not invariant); cost_push = the ring's push alone of a prepared record (claim,
 * copy, publish; plus evicting the oldest: the ring is full) into a second ring of the
 * same variant and capacity; cost_rest = fenced_mean - cost_clock - cost_push: the level
 * checks, filling the record (message, fields), the callsite id, the thread id, the calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/internal.h"
#include "bench.h"

#define LAT_CAPACITY (1u << 20)

/* trigger-armed: unloaded, with TTLOG_TRIGGER_LEVEL=fatal (the standard event is INFO, so
 * nothing fires): the price of the trigger check on every log call, against unloaded */
static const char *const lat_modes[] = {"unloaded", "saturated", "trigger-armed"};

struct bg_arg {
	struct bench_thread_hdr hdr;
	_Atomic bool *stop;
	enum impl_id id;
};

static void *bg_thread(void *p)
{
	struct bg_arg *a = p;
	uint64_t n = 0;

	bench_thread_enter(&a->hdr);
	while (!atomic_load_explicit(a->stop, memory_order_relaxed))
		for (int k = 0; k < 64; k++, n++) {
			if (a->id == IMPL_SPDLOG)
				spd_log(n, "login", true);
			else
				BENCH_LOG_STANDARD(n);
		}
	return NULL;
}

static void plan(struct bench_ctx *c, int rep)
{
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < c->nimpls; i++) {
			struct impl *im = &c->impls[i];
			if (im->ring != NULL || ((im->id == IMPL_SPDLOG || im->id == IMPL_LTTNG) && k < 2))
				task_add(c, &exp_latency, im, k, rep,
					 (double)c->lat_samples *
							 (1.1 * (k != 1 ? c->lat_gap_ns + 200.0 : 300.0) +
							  2 * 100.0) /
							 1e9 + 0.3);
		}
}

static void add(const struct impl *im, const char *cfg, int mode, const struct lat_summary *s)
{
	res_add("latency", im->name, im->kind, cfg, mode, "p50", "ns", false, s->p50);
	res_add("latency", im->name, im->kind, cfg, mode, "p90", "ns", false, s->p90);
	res_add("latency", im->name, im->kind, cfg, mode, "p99", "ns", false, s->p99);
	res_add("latency", im->name, im->kind, cfg, mode, "p99.9", "ns", false, s->p999);
	res_add("latency", im->name, im->kind, cfg, mode, "p99.99", "ns", false, s->p9999);
	res_add("latency", im->name, im->kind, cfg, mode, "max", "ns", false, s->max);
	res_add("latency", im->name, im->kind, cfg, mode, "timer", "ns", false, s->timer_ns);
	res_add("latency", im->name, im->kind, cfg, mode, "batch_mean", "ns", false, s->batch_mean);
	res_add("latency", im->name, im->kind, cfg, mode, "batch_p99", "ns", false, s->batch_p99);
	res_add("latency", im->name, im->kind, cfg, mode, "fenced_mean", "ns", false, s->fenced_mean);
	res_add("latency", im->name, im->kind, cfg, mode, "fenced_p99", "ns", false, s->fenced_p99);
}

/* cost_clock and cost_push (see the top of the file); false if the second ring cannot be
 * made. Call with the logger initialised (its clock choice is read). */
static bool lat_breakdown(const struct impl *im, size_t nb, uint64_t gap, double tpn,
			  double *clock_ns, double *push_ns)
{
	struct ttlog_ring_config rc = {.capacity = LAT_CAPACITY, .policy = TTLOG_POLICY_OVERWRITE};
	uint64_t *b = malloc(nb * sizeof *b);
	double ftimer = lat_batch_timer_ticks(20000, LAT_BATCH_K, 1), p99;
	bool tsc = ttlog__g.clock.tsc;
	struct ttlog_ring *r = NULL;
	struct ttlog_record rec;

	if (b == NULL || im->ring->create(&r, &rc) < 0) {
		free(b);
		return false;
	}
	memset(b, 0, nb * sizeof *b);
	memset(&rec, 0, sizeof rec);
	rec.callsite = 1;
	for (uint64_t i = 0; i < LAT_CAPACITY; i++) /* steady state: the ring is full */
		im->ring->push(r, &rec);
	/* the clock read is kept (an asm sink), not optimised away */
	LAT_BATCH(b, nb, LAT_BATCH_K, gap, 1, {
		uint64_t t_ = tsc ? ttlog__rdtsc() : ttlog__realtime_ns();
		__asm__ __volatile__("" ::"r"(t_));
	});
	lat_batch_summarize(b, nb, LAT_BATCH_K, ftimer, tpn, clock_ns, &p99);
	LAT_BATCH(b, nb, LAT_BATCH_K, gap, 1, {
		rec.ts = lat_i_;
		im->ring->push(r, &rec);
	});
	lat_batch_summarize(b, nb, LAT_BATCH_K, ftimer, tpn, push_ns, &p99);
	im->ring->destroy(r);
	free(b);
	return true;
}

static void run(struct bench_ctx *c, const struct task *t)
{
	struct impl *im = t->impl;
	int mode = t->cfg;
	size_t n = c->lat_samples, nwarm = n / 10 > 10000 ? n / 10 : 10000;
	uint64_t gap = mode != 1 ? (uint64_t)(c->lat_gap_ns * c->ticks_per_ns) : 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nbg = mode != 1 ? 0 : (ncpu > 1 ? (int)ncpu - 1 : 1);
	struct lat_summary s;
	char cfg[160];

	snprintf(cfg, sizeof cfg, "%s;gap_ns=%u;background_threads=%d;samples=%zu;event=msg+u64+str+bool",
		 lat_modes[mode], mode != 1 ? c->lat_gap_ns : 0, nbg, n);
	if (im->id == IMPL_LTTNG) {
		static const char *const keys[] = {"p50",        "p90",       "p99",
						   "p999",       "p9999",     "max",
						   "timer",      "batch_mean", "batch_p99",
						   "fenced_mean", "fenced_p99"};
		double v[11];
		char cmd[512], err[300];
		snprintf(cmd, sizeof cmd, "%s latency %s %zu %u %d", c->lttng_bin, lat_modes[mode], n,
			 c->lat_gap_ns, nbg);
		if (bench_run_helper(cmd, keys, v, 11, err, sizeof err) < 11) {
			run_note("lttng latency: %s", err);
			return;
		}
		s = (struct lat_summary){.p50 = v[0], .p90 = v[1], .p99 = v[2], .p999 = v[3],
					 .p9999 = v[4], .max = v[5], .timer_ns = v[6], .n = n,
					 .batch_mean = v[7], .batch_p99 = v[8],
					 .fenced_mean = v[9], .fenced_p99 = v[10]};
		add(im, cfg, mode, &s);
		return;
	}

	uint64_t *samples = malloc(n * sizeof *samples), *psamples = malloc(n * sizeof *psamples);
	size_t nb = n / LAT_BATCH_K > 0 ? n / LAT_BATCH_K : 1;
	uint64_t *bsamples = malloc(nb * sizeof *bsamples), *fsamples = malloc(nb * sizeof *fsamples);
	double btimer, ftimer;
	struct bg_arg *args = calloc((size_t)(nbg ? nbg : 1), sizeof *args);
	struct bench_threads *th = NULL;
	_Atomic bool stop = false;
	double timer, ptimer, tpn, cost_clock = 0, cost_push = 0;
	struct lat_summary ps;
	bool have_cost = false;
	uint64_t c0, n0;

	memset(samples, 0, n * sizeof *samples); /* pre-fault */
	memset(psamples, 0, n * sizeof *psamples);
	memset(bsamples, 0, nb * sizeof *bsamples);
	memset(fsamples, 0, nb * sizeof *fsamples);
	if (im->id == IMPL_SPDLOG) {
		if (spd_init(65536) < 0) {
			run_note("spdlog: cannot create the async logger");
			goto out;
		}
	} else if (c->trigger_level = mode == 2 ? "fatal" : NULL,
		   bench_ttlog_init(c, im->name, LAT_CAPACITY, TTLOG_POLICY_OVERWRITE) < 0) {
		c->trigger_level = NULL;
		goto out;
	} else {
		c->trigger_level = NULL;
		for (uint64_t i = 0; i < LAT_CAPACITY; i++) /* steady state: the ring is full */
			BENCH_LOG_STANDARD(i);
	}
	for (int i = 0; i < nbg; i++) {
		args[i].stop = &stop;
		args[i].id = im->id;
	}
	if (nbg > 0)
		th = bench_threads_start(nbg, bg_thread, args, sizeof *args, 0);
	bench_pin_self(nbg); /* the measuring thread gets the PU after the background ones */
	timer = lat_timer_ticks(100000);
	ptimer = lat_plain_timer_ticks(100000);
	btimer = lat_batch_timer_ticks(20000, LAT_BATCH_K, 0);
	ftimer = lat_batch_timer_ticks(20000, LAT_BATCH_K, 1);
	c0 = bench_tsc();
	n0 = bench_now_ns();
	if (im->id == IMPL_SPDLOG) {
		LAT_SAMPLE(samples, nwarm < n ? nwarm : n, gap, spd_log(lat_i_, "login", true));
		LAT_SAMPLE(samples, n, gap, spd_log(lat_i_, "login", true));
		LAT_BATCH(bsamples, nb, LAT_BATCH_K, gap, 0, spd_log(lat_i_, "login", true));
		LAT_BATCH(fsamples, nb, LAT_BATCH_K, gap, 1, spd_log(lat_i_, "login", true));
		LAT_SAMPLE_PLAIN(psamples, n, gap, spd_log(lat_i_, "login", true));
	} else {
		LAT_SAMPLE(samples, nwarm < n ? nwarm : n, gap, BENCH_LOG_STANDARD(lat_i_));
		LAT_SAMPLE(samples, n, gap, BENCH_LOG_STANDARD(lat_i_));
		LAT_BATCH(bsamples, nb, LAT_BATCH_K, gap, 0, BENCH_LOG_STANDARD(lat_i_));
		LAT_BATCH(fsamples, nb, LAT_BATCH_K, gap, 1, BENCH_LOG_STANDARD(lat_i_));
		LAT_SAMPLE_PLAIN(psamples, n, gap, BENCH_LOG_STANDARD(lat_i_));
	}
	/* ticks per ns over this very run: the TSC against CLOCK_MONOTONIC */
	tpn = (double)(bench_tsc() - c0) / (double)(bench_now_ns() - n0);
	if (tpn <= 0)
		tpn = c->ticks_per_ns;
	if (mode == 0 && im->ring != NULL)
		have_cost = lat_breakdown(im, nb, gap, tpn, &cost_clock, &cost_push);
	atomic_store_explicit(&stop, true, memory_order_relaxed);
	if (th != NULL)
		bench_threads_join(th);
	if (im->id == IMPL_SPDLOG)
		spd_shutdown();
	else
		ttlog_shutdown();
	lat_summarize(samples, n, timer, tpn, &s);
	lat_batch_summarize(bsamples, nb, LAT_BATCH_K, btimer, tpn, &s.batch_mean, &s.batch_p99);
	lat_batch_summarize(fsamples, nb, LAT_BATCH_K, ftimer, tpn, &s.fenced_mean, &s.fenced_p99);
	add(im, cfg, mode, &s);
	lat_summarize(psamples, n, ptimer, tpn, &ps);
	res_add("latency", im->name, im->kind, cfg, mode, "plain_p50", "ns", false, ps.p50);
	res_add("latency", im->name, im->kind, cfg, mode, "plain_p99", "ns", false, ps.p99);
	res_add("latency", im->name, im->kind, cfg, mode, "plain_p99.9", "ns", false, ps.p999);
	if (have_cost) {
		res_add("latency", im->name, im->kind, cfg, mode, "cost_clock", "ns", false, cost_clock);
		res_add("latency", im->name, im->kind, cfg, mode, "cost_push", "ns", false, cost_push);
		res_add("latency", im->name, im->kind, cfg, mode, "cost_rest", "ns", false,
			s.fenced_mean - cost_clock - cost_push);
	}
out:
	free(samples);
	free(psamples);
	free(bsamples);
	free(fsamples);
	free(args);
}

const struct experiment exp_latency = {
	"latency", "per-call log latency percentiles (rdtsc, timer cost subtracted)", plan, run};
