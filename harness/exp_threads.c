/*
 * exp_threads.c - scale in numbers: threads-1024 (1024 threads logging at once through
 * the real log call) and rings-100k (100,000 live rings).
 *
 * threads-1024: 1024 threads (64 KiB stacks) are created, meet at a barrier and each log
 * K standard events, then exit. Time from the barrier to the last join; events/s; the
 * accounting is checked exactly once every thread is gone: logged must equal the events
 * issued (1024 x K) and logged = kept + overwritten + dropped.
 * rings-100k: 100,000 rings of 16 records created through the variant's ops table (the
 * creation cost per ring, the RSS per ring), then one push and one pop on every ring, round
 * robin, for the ops/s of a program touching many cold rings, then destroyed. The first
 * round is also reported on its own (first_touch_ns_per_ring, touched_rss_bytes_per_ring):
 * a variant may allocate on a thread's first push to a ring (spsc creates the thread's
 * shard there), a cost the later rounds (steady_ops_per_s) do not pay.
 * Both report the task's RSS high-water mark (peak_rss_bytes, VmHWM).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../variants/ring.h"
#include "bench.h"

#define T1024_THREADS 1024
#define T1024_CAPACITY (1u << 20)
#define RINGS_N 100000
#define RINGS_CAP 16

struct t_arg {
	struct bench_thread_hdr hdr;
	unsigned events;
};

static void *t_thread(void *p)
{
	struct t_arg *a = p;

	bench_thread_enter(&a->hdr);
	for (unsigned i = 0; i < a->events; i++)
		BENCH_LOG_STANDARD(i);
	return NULL;
}

static void plan_1024(struct bench_ctx *c, int rep)
{
	if (c->quick && rep > 1) /* seconds per variant under load: twice in a QUICK run */
		return;
	for (int i = 0; i < c->nimpls; i++)
		if (impl_is_variant(&c->impls[i]))
			task_add(c, &exp_threads_1024, &c->impls[i], 0, rep, c->quick ? 0.3 : 1.0);
}

static void run_1024(struct bench_ctx *c, const struct task *t)
{
	unsigned k = c->quick ? 500 : 2000;
	struct t_arg *args = calloc(T1024_THREADS, sizeof *args);
	uint64_t t0, t1, t2, hwm, issued = (uint64_t)T1024_THREADS * k;
	ttlog_stats st;
	char cfg[160];
	bool ok;

	if (bench_ttlog_init(c, t->impl->name, T1024_CAPACITY, TTLOG_POLICY_OVERWRITE) < 0) {
		free(args);
		return;
	}
	for (int i = 0; i < T1024_THREADS; i++)
		args[i].events = k;
	t0 = bench_now_ns();
	struct bench_threads *th =
		bench_threads_start(T1024_THREADS, t_thread, args, sizeof *args, 64 * 1024);
	t1 = bench_now_ns();
	bench_threads_join(th);
	t2 = bench_now_ns();
	ttlog_get_stats(&st);
	hwm = bench_hwm_bytes();
	ok = st.logged == issued && st.logged == st.kept + st.overwritten + st.dropped;
	if (!ok)
		run_note("threads-1024 %s: accounting mismatch: issued %llu, logged %llu, kept %llu + "
			 "overwritten %llu + dropped %llu",
			 t->impl->name, (unsigned long long)issued, (unsigned long long)st.logged,
			 (unsigned long long)st.kept, (unsigned long long)st.overwritten,
			 (unsigned long long)st.dropped);
	ttlog_shutdown();
	free(args);
	snprintf(cfg, sizeof cfg, "threads=%d;events_per_thread=%u;capacity=%u;policy=overwrite",
		 T1024_THREADS, k, T1024_CAPACITY);
#define ADD(m, u, hb, v) \
	res_add("threads-1024", t->impl->name, t->impl->kind, cfg, T1024_THREADS, m, u, hb, v)
	ADD("events_per_s", "events/s", true, (double)(st.logged - st.dropped) / ((double)(t2 - t1) / 1e9));
	ADD("elapsed_ms", "ms", false, (double)(t2 - t1) / 1e6);
	ADD("create_ms", "ms", false, (double)(t1 - t0) / 1e6);
	ADD("accounting_ok", "bool", true, ok);
	ADD("overwritten", "events", false, (double)st.overwritten);
	ADD("dropped", "events", false, (double)st.dropped);
	ADD("peak_rss_bytes", "bytes", false, (double)hwm);
#undef ADD
}

static void plan_rings(struct bench_ctx *c, int rep)
{
	if (c->quick && rep > 0) /* ~7 s per variant: once in a QUICK run */
		return;
	if (c->quick)
		run_note("rings-100k: QUICK run: one repetition");
	for (int i = 0; i < c->nimpls; i++)
		if (impl_is_variant(&c->impls[i]))
			task_add(c, &exp_rings_100k, &c->impls[i], 0, rep, 1.5);
}

static void run_rings(struct bench_ctx *c, const struct task *t)
{
	const struct ttlog_ring_ops *ops = t->impl->ring;
	struct ttlog_ring **rings = calloc(RINGS_N, sizeof *rings);
	struct ttlog_ring_config rc = {.capacity = RINGS_CAP, .policy = TTLOG_POLICY_OVERWRITE};
	struct ttlog_record rec, out;
	uint64_t rss0, rss1, rss2 = 0, t0, t1, tf = 0, t2, t3, ops_done = 0, ops_first = 0;
	uint64_t hwm;
	int64_t je0, je1;
	int n = 0, err = 0, rounds = c->quick ? 3 : 10;
	char cfg[160];

	(void)c;
	memset(&rec, 0, sizeof rec);
	rec.callsite = 1;
	rss0 = bench_rss_bytes();
	je0 = bench_je_allocated();
	t0 = bench_now_ns();
	for (n = 0; n < RINGS_N; n++)
		if ((err = ops->create(&rings[n], &rc)) < 0)
			break;
	t1 = bench_now_ns();
	rss1 = bench_rss_bytes();
	je1 = bench_je_allocated();
	if (n < RINGS_N)
		run_note("rings-100k %s: ring %d of %d could not be created: %s", t->impl->name, n,
			 RINGS_N, ttlog_strerror(err));
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < n; i++) {
			rec.ts = (uint64_t)i;
			ops_done += ops->push(rings[i], &rec) >= 0;
			ops_done += ops->pop(rings[i], &out) == 0;
		}
		if (r == 0) { /* the first touch of every ring (spsc: its shard is created) */
			tf = bench_now_ns();
			ops_first = ops_done;
			rss2 = bench_rss_bytes();
		}
	}
	t2 = bench_now_ns();
	hwm = bench_hwm_bytes();
	for (int i = 0; i < n; i++)
		ops->destroy(rings[i]);
	t3 = bench_now_ns();
	free(rings);
	snprintf(cfg, sizeof cfg, "rings=%d;capacity=%d", RINGS_N, RINGS_CAP);
#define ADD(m, u, hb, v) \
	res_add("rings-100k", t->impl->name, t->impl->kind, cfg, RINGS_N, m, u, hb, v)
	ADD("rings_created", "rings", true, n);
	if (n > 0) {
		ADD("create_ns_per_ring", "ns", false, (double)(t1 - t0) / n);
		ADD("rss_bytes_per_ring", "bytes", false, (double)(rss1 - rss0) / n);
		ADD("heap_bytes_per_ring", "bytes", false, (double)(je1 - je0) / n);
		ADD("ops_per_s", "ops/s", true, (double)ops_done / ((double)(t2 - t1) / 1e9));
		ADD("first_touch_ns_per_ring", "ns", false, (double)(tf - t1) / n);
		if (rounds > 1 && t2 > tf)
			ADD("steady_ops_per_s", "ops/s", true,
			    (double)(ops_done - ops_first) / ((double)(t2 - tf) / 1e9));
		ADD("touched_rss_bytes_per_ring", "bytes", false, ((double)rss2 - (double)rss0) / n);
		ADD("destroy_ns_per_ring", "ns", false, (double)(t3 - t2) / n);
		ADD("peak_rss_bytes", "bytes", false, (double)hwm);
	}
#undef ADD
}

const struct experiment exp_threads_1024 = {
	"threads-1024", "1024 threads logging at once: time, events/s, exact accounting",
	plan_1024, run_1024, true};
const struct experiment exp_rings_100k = {
	"rings-100k", "100,000 live rings: creation cost, memory, push+pop ops", plan_rings,
	run_rings, true};
