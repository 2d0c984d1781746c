/*
 * exp_indirect.c - the price of the indirect call (issue 3), measured once, the way
 * liburcu's benchmarks price a flavor: the same push loop on the same ring, once through
 * the direct call mpmc_push() (what libttlog built with VARIANT=mpmc does) and once
 * through the ops table found at run time (what libttlog-all does). A and B alternate
 * 16 times within each repetition (jemalloc's microbench style) and each side keeps its
 * fastest round, the one least disturbed by other work on this shared machine (the price
 * is a few ns, below the noise of a mean); one thread, a ring of 2^16 records in
 * overwrite mode (the steady state of a flight recorder).
 */
#include <stdio.h>
#include <string.h>

#include "../variants/ring.h"
#include "bench.h"

#define IND_CAP (1u << 16)
#define IND_ROUNDS 16

static void plan(struct bench_ctx *c, int rep)
{
	for (int i = 0; i < c->nimpls; i++)
		if (impl_is_variant(&c->impls[i]) && strcmp(c->impls[i].name, "mpmc") == 0)
			task_add(c, &exp_indirect, &c->impls[i], 0, rep, c->quick ? 0.3 : 1.5);
}

static void run(struct bench_ctx *c, const struct task *t)
{
	/* looked up by name at run time: the compiler cannot turn it into a direct call */
	const struct ttlog_ring_ops *volatile opsv = ttlog__ring_find("mpmc");
	const struct ttlog_ring_ops *ops = opsv;
	struct ttlog_ring_config rc = {.capacity = IND_CAP, .policy = TTLOG_POLICY_OVERWRITE};
	struct ttlog_ring *r;
	struct ttlog_record rec;
	uint64_t n = c->quick ? 1000000 : 5000000, direct = 0, viaops = 0;
	char cfg[160];

	if (ops == NULL || ops->create(&r, &rc) < 0)
		return;
	memset(&rec, 0, sizeof rec);
	rec.callsite = 1;
	for (uint64_t i = 0; i < 2 * IND_CAP; i++) /* warm: fill, start overwriting */
		mpmc_push(r, &rec);
	for (int k = 0; k < IND_ROUNDS; k++) {
		uint64_t t0 = bench_now_ns();
		for (uint64_t i = 0; i < n / IND_ROUNDS; i++) {
			rec.ts = i;
			mpmc_push(r, &rec);
		}
		uint64_t t1 = bench_now_ns();
		for (uint64_t i = 0; i < n / IND_ROUNDS; i++) {
			rec.ts = i;
			ops->push(r, &rec);
		}
		uint64_t t2 = bench_now_ns();
		/* the fastest round of each: the one least disturbed by other work */
		if (direct == 0 || t1 - t0 < direct)
			direct = t1 - t0;
		if (viaops == 0 || t2 - t1 < viaops)
			viaops = t2 - t1;
	}
	ops->destroy(r);
	snprintf(cfg, sizeof cfg, "mpmc_push direct vs mpmc_ops.push;capacity=%u;policy=overwrite",
		 IND_CAP);
	double per = (double)(n / IND_ROUNDS);
#define ADD(m, u, v) res_add("indirect", t->impl->name, t->impl->kind, cfg, 0, m, u, false, v)
	ADD("direct_ns_per_push", "ns", (double)direct / per);
	ADD("ops_ns_per_push", "ns", (double)viaops / per);
	ADD("price_ns", "ns", ((double)viaops - (double)direct) / per);
	ADD("ratio_ops_over_direct", "x", (double)viaops / (double)direct);
#undef ADD
}

const struct experiment exp_indirect = {
	"indirect", "the indirect-call price: mpmc_push direct vs through the ops table", plan,
	run};
