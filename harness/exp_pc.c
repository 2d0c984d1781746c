/*
 * exp_pc.c - raw ring operations: buffer-ops (one thread, push then pop) and the
 * producer/consumer matrix (1P/1C 2P/2C 4P/4C 8P/8C 8P/4C 4P/8C), at capacity 1,000,000.
 *
 * ops = successful pushes + successful pops in the measured window (after a warm-up).
 * Rings use the drop policy here: a push into a full ring fails and is not counted, the
 * same contract as the bounded baselines (ck_ring, wfcqueue bounded by a count,
 * crossbeam ArrayQueue), so the comparison is queue against queue. Variants round the
 * capacity up to 2^20, ck_ring to 2^20 (holding 2^20 - 1); wfcqueue and crossbeam take
 * 1,000,000 as is. Every C queue is called through one function pointer (the variants
 * through their ops table, the baselines through struct qops); crossbeam runs in its own
 * process (harness/crossbeam) with the calls inlined by rustc; ck_ring in a forked child
 * (see measure()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../variants/ring.h"
#include "bench.h"

#define PC_CAPACITY 1000000u

static const int pc_cfgs[][2] = {{1, 1}, {2, 2}, {4, 4}, {8, 8}, {8, 4}, {4, 8}};
#define PC_NCFG ((int)(sizeof pc_cfgs / sizeof pc_cfgs[0]))

enum role { ROLE_PRODUCER, ROLE_CONSUMER, ROLE_PAIR };

struct pc_arg {
	struct bench_thread_hdr hdr;
	struct bench_counter *ctr;
	_Atomic bool *stop;
	_Atomic int *ready; /* threads past their first push */
	enum role role;
	const struct ttlog_ring_ops *ring_ops;
	struct ttlog_ring *ring;
	const struct qops *q;
	void *qs;
};

/* the loop, expanded once per kind of queue so that each makes exactly one indirect call
 * per operation */
#define PC_LOOP(PUSH, POP)                                                              \
	do {                                                                            \
		while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {          \
			for (int k = 0; k < 64; k++) {                                  \
				if (a->role != ROLE_CONSUMER) {                         \
					rec.ts++;                                       \
					if (PUSH >= 0)                                  \
						n++;                                    \
				}                                                       \
				if (a->role != ROLE_PRODUCER && POP == 0)               \
					n++;                                            \
			}                                                               \
			atomic_store_explicit(&a->ctr->n, n, memory_order_relaxed);     \
		}                                                                       \
	} while (0)

static void *pc_thread(void *p)
{
	struct pc_arg *a = p;
	struct ttlog_record rec, out;
	uint64_t n = 0;

	memset(&rec, 0, sizeof rec);
	rec.callsite = 1;
	rec.tid = (uint32_t)a->hdr.index;
	bench_thread_enter(&a->hdr);
	if (a->ring_ops != NULL) {
		int (*push)(struct ttlog_ring *, const struct ttlog_record *) = a->ring_ops->push;
		int (*pop)(struct ttlog_ring *, struct ttlog_record *) = a->ring_ops->pop;
		/* a producer's first push may allocate (spsc maps and pre-faults its thread's
		 * shard): done before the warm-up starts, so that the window measures steady
		 * state (the allocation is the rings-100k experiment's first_touch) */
		if (a->role != ROLE_CONSUMER)
			(void)push(a->ring, &rec);
		atomic_fetch_add_explicit(a->ready, 1, memory_order_release);
		PC_LOOP(push(a->ring, &rec), pop(a->ring, &out));
	} else {
		int (*push)(void *, const struct ttlog_record *) = a->q->push;
		int (*pop)(void *, struct ttlog_record *) = a->q->pop;
		PC_LOOP(push(a->qs, &rec), pop(a->qs, &out));
	}
	__asm__ __volatile__("" ::"r"(&out) : "memory");
	return NULL;
}

static bool pc_usable(const struct impl *im)
{
	return im->ring != NULL || im->q != NULL || im->id == IMPL_CROSSBEAM;
}

static void plan_matrix(struct bench_ctx *c, int rep)
{
	for (int k = 0; k < PC_NCFG; k++)
		for (int i = 0; i < c->nimpls; i++)
			if (pc_usable(&c->impls[i]))
				task_add(c, &exp_pc_matrix, &c->impls[i], k, rep,
					 (c->warmup_ms + c->duration_ms) / 1e3 + 0.15);
}

static void plan_buffer(struct bench_ctx *c, int rep)
{
	for (int i = 0; i < c->nimpls; i++)
		if (pc_usable(&c->impls[i]))
			task_add(c, &exp_buffer_ops, &c->impls[i], -1, rep,
				 (c->warmup_ms + c->duration_ms) / 1e3 + 0.15);
}

static int measure_here(struct bench_ctx *c, struct impl *im, int np, int nc, double *ops,
			double *pushes, double *pops, double *secs, bool no_join);

/* One measurement: np producers and nc consumers, or one pair thread when np == 0.
 * ck_ring runs in a child process that exits at the end of the window instead of joining
 * its threads: with more threads than cores its producers wait for preempted ones and a
 * join can take minutes (that collapse is what it measures, not the join). */
static int measure(struct bench_ctx *c, struct impl *im, int np, int nc, double *ops,
		   double *pushes, double *pops, double *secs)
{
	double v[4];
	int fds[2], status;
	pid_t pid;

	if (im->id != IMPL_CK)
		return measure_here(c, im, np, nc, ops, pushes, pops, secs, false);
	if (pipe(fds) < 0 || (pid = fork()) < 0) {
		run_note("ck_ring: cannot fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		if (measure_here(c, im, np, nc, &v[0], &v[1], &v[2], &v[3], true) < 0)
			_exit(1);
		if (write(fds[1], v, sizeof v) != (ssize_t)sizeof v)
			_exit(1);
		_exit(0); /* ends the threads still waiting inside ck_ring */
	}
	close(fds[1]);
	ssize_t got = read(fds[0], v, sizeof v);
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (got != (ssize_t)sizeof v)
		return -1;
	*ops = v[0];
	*pushes = v[1];
	*pops = v[2];
	*secs = v[3];
	return 0;
}

static int measure_here(struct bench_ctx *c, struct impl *im, int np, int nc, double *ops,
			double *pushes, double *pops, double *secs, bool no_join)
{
	int nth = np == 0 ? 1 : np + nc;
	struct ttlog_ring *ring = NULL;
	void *qs = NULL;
	int err;

	if (im->id == IMPL_CROSSBEAM) {
		static const char *const keys[] = {"ops", "pushes", "pops", "elapsed_ns"};
		double v[4];
		char cmd[512], msg[300];
		if (np == 0)
			snprintf(cmd, sizeof cmd, "%s pair %u %u %u", c->crossbeam_bin, PC_CAPACITY,
				 c->warmup_ms, c->duration_ms);
		else
			snprintf(cmd, sizeof cmd, "%s pc %d %d %u %u %u", c->crossbeam_bin, np, nc,
				 PC_CAPACITY, c->warmup_ms, c->duration_ms);
		if (bench_run_helper(cmd, keys, v, 4, msg, sizeof msg) < 4) {
			run_note("crossbeam: %s", msg);
			return -1;
		}
		*ops = v[0];
		*pushes = v[1];
		*pops = v[2];
		*secs = v[3] / 1e9;
		return 0;
	}
	if (im->ring != NULL) {
		struct ttlog_ring_config rc = {.capacity = PC_CAPACITY, .policy = TTLOG_POLICY_DROP};
		err = im->ring->create(&ring, &rc);
	} else {
		err = im->q->create(&qs, PC_CAPACITY);
	}
	if (err < 0) {
		run_note("%s: cannot create a queue of %u: %s", im->name, PC_CAPACITY,
			 ttlog_strerror(err));
		return -1;
	}

	struct bench_counter *ctr = aligned_alloc(64, (size_t)nth * sizeof *ctr);
	struct pc_arg *args = calloc((size_t)nth, sizeof *args);
	_Atomic bool stop = false;
	_Atomic int ready = 0;
	uint64_t p0 = 0, p1 = 0, q0 = 0, q1 = 0, t0, t1;

	memset(ctr, 0, (size_t)nth * sizeof *ctr);
	for (int i = 0; i < nth; i++) {
		args[i].ctr = &ctr[i];
		args[i].stop = &stop;
		args[i].ready = &ready;
		args[i].role = np == 0 ? ROLE_PAIR : i < np ? ROLE_PRODUCER : ROLE_CONSUMER;
		args[i].ring_ops = im->ring;
		args[i].ring = ring;
		args[i].q = im->q;
		args[i].qs = qs;
	}
	struct bench_threads *th = bench_threads_start(nth, pc_thread, args, sizeof *args, 0);
	/* the variants' threads report past their first push (queues: at once) */
	while (im->ring != NULL && atomic_load_explicit(&ready, memory_order_acquire) < nth)
		usleep(1000);
	usleep(c->warmup_ms * 1000u);
	for (int i = 0; i < nth; i++)
		*(args[i].role == ROLE_CONSUMER ? &q0 : &p0) +=
			atomic_load_explicit(&ctr[i].n, memory_order_relaxed);
	t0 = bench_now_ns();
	usleep(c->duration_ms * 1000u);
	t1 = bench_now_ns();
	for (int i = 0; i < nth; i++)
		*(args[i].role == ROLE_CONSUMER ? &q1 : &p1) +=
			atomic_load_explicit(&ctr[i].n, memory_order_relaxed);
	atomic_store_explicit(&stop, true, memory_order_relaxed);
	*secs = (double)(t1 - t0) / 1e9;
	*ops = (double)(p1 - p0) + (double)(q1 - q0);
	*pushes = np == 0 ? *ops / 2 : (double)(p1 - p0);
	*pops = np == 0 ? *ops / 2 : (double)(q1 - q0);
	if (no_join)
		return 0; /* the caller's process exits */
	bench_threads_join(th);
	if (ring != NULL)
		im->ring->destroy(ring);
	else
		im->q->destroy(qs);
	free(ctr);
	free(args);
	return 0;
}

static void run_matrix(struct bench_ctx *c, const struct task *t)
{
	int np = pc_cfgs[t->cfg][0], nc = pc_cfgs[t->cfg][1];
	double ops, pushes, pops, secs;
	char cfg[160];

	if (measure(c, t->impl, np, nc, &ops, &pushes, &pops, &secs) < 0)
		return;
	snprintf(cfg, sizeof cfg, "%dP/%dC;capacity=%u;policy=drop", np, nc, PC_CAPACITY);
	res_add("pc-matrix", t->impl->name, t->impl->kind, cfg, t->cfg, "ops_per_s", "ops/s",
		true, ops / secs);
	res_add("pc-matrix", t->impl->name, t->impl->kind, cfg, t->cfg, "push_per_s", "ops/s",
		true, pushes / secs);
	res_add("pc-matrix", t->impl->name, t->impl->kind, cfg, t->cfg, "pop_per_s", "ops/s",
		true, pops / secs);
}

static void run_buffer(struct bench_ctx *c, const struct task *t)
{
	double ops, pushes, pops, secs;
	char cfg[160];

	if (measure(c, t->impl, 0, 0, &ops, &pushes, &pops, &secs) < 0)
		return;
	snprintf(cfg, sizeof cfg, "1 thread push+pop;capacity=%u;policy=drop", PC_CAPACITY);
	res_add("buffer-ops", t->impl->name, t->impl->kind, cfg, 1, "ops_per_s", "ops/s", true,
		ops / secs);
}

const struct experiment exp_pc_matrix = {
	"pc-matrix", "raw ring push/pop ops/s, P producers x C consumers", plan_matrix,
	run_matrix};
const struct experiment exp_buffer_ops = {
	"buffer-ops", "raw ring ops/s, one thread alternating push and pop", plan_buffer,
	run_buffer};
