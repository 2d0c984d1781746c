/*
 * micro.c - ttlog's Google Benchmark micro-benchmarks, written in C (gb.h): per variant
 * linked into libttlog-all.a, with 1 and 2 threads where it makes sense:
 *   push/<v>            ops->push into a ring of 2^16 records, overwrite policy (full)
 *   pushpop/<v>         push then pop, drop policy (the raw queue round trip)
 *   log/<v>             the real log call, standard event (message + u64 + str + bool)
 *   snapshot_encode/<v> CBOR + LZ4 encoding of 65,536 events to /dev/null (items = events)
 *   indirect/direct_mpmc_push, indirect/ops_mpmc_push: the indirect-call price (issue 3)
 *
 *   ttlog-gbench [--benchmark_filter=...] [--benchmark_out=FILE --benchmark_out_format=json]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../core/internal.h"
#include "gb.h"

#define GB_CAP (1u << 16)

/* every variant of the list (variants/variants.h) */
static const char *const names[] = {
#define TTLOG_VARIANT_X(v) #v,
#include "../../variants/variants.h"
#undef TTLOG_VARIANT_X
};
#define NVARIANTS (sizeof names / sizeof names[0])

struct var {
	const char *name;
	const struct ttlog_ring_ops *ops;
	struct ttlog_ring *ring_ow;   /* overwrite: push */
	struct ttlog_ring *ring_drop; /* drop: pushpop */
	char snapdir[64];
};

static struct var vars[NVARIANTS];
static int nvars;

static void bm_push(gb_state *st, void *arg)
{
	struct var *v = arg;
	struct ttlog_record rec;

	memset(&rec, 0, sizeof rec);
	rec.callsite = 1;
	rec.tid = (uint32_t)gb_thread_index(st);
	while (gb_keep_running_batch(st, 64))
		for (int i = 0; i < 64; i++) {
			rec.ts++;
			v->ops->push(v->ring_ow, &rec);
		}
}

static void bm_pushpop(gb_state *st, void *arg)
{
	struct var *v = arg;
	struct ttlog_record rec, out;

	memset(&rec, 0, sizeof rec);
	rec.callsite = 1;
	while (gb_keep_running_batch(st, 64))
		for (int i = 0; i < 64; i++) {
			rec.ts++;
			v->ops->push(v->ring_drop, &rec);
			v->ops->pop(v->ring_drop, &out);
		}
}

static void log_setup(void *arg)
{
	struct var *v = arg;
	ttlog_config cfg;

	ttlog_config_default(&cfg);
	cfg.env_error = 0;
	cfg.capacity = GB_CAP;
	cfg.variant = v->name;
	cfg.snapshot_dir = v->snapdir;
	cfg.quiet = true;
	cfg.level = TTLOG_LEVEL_TRACE;
	cfg.snapshot_interval_s = 0;
	cfg.final_snapshot = false;
	if (ttlog_init(&cfg) < 0)
		fprintf(stderr, "ttlog-gbench: ttlog_init(%s): %s\n", v->name, ttlog_errmsg());
	for (uint64_t i = 0; i < GB_CAP; i++) /* full ring: the steady state */
		TTLOG_INFO("bench", "User {} did {} ok={}", TTLOG_U64("user_id", i),
			   TTLOG_STR("action", "login"), TTLOG_BOOL("success", true));
}

static void log_teardown(void *arg)
{
	(void)arg;
	ttlog_shutdown();
}

static void bm_log(gb_state *st, void *arg)
{
	uint64_t n = 0;

	(void)arg;
	while (gb_keep_running_batch(st, 64))
		for (int i = 0; i < 64; i++, n++)
			TTLOG_INFO("bench", "User {} did {} ok={}", TTLOG_U64("user_id", n),
				   TTLOG_STR("action", "login"), TTLOG_BOOL("success", true));
}

static void bm_encode(gb_state *st, void *arg)
{
	struct ttlog__snapres res;
	struct ttlog__snapinfo info;
	struct ttlog_ring *ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct var *v = arg;
	int64_t items = 0;

	if (ring == NULL || fd < 0 || ttlog__snapres_init(&res, ttlog__g.capacity) < 0) {
		gb_skip_with_error(st, "ttlog not running");
		if (fd >= 0)
			close(fd);
		return;
	}
	info.reason = "bench";
	info.created_ns = ttlog__realtime_ns();
	info.n = v->ops->snapshot(ring, res.records, res.records_cap, &info.cut);
	while (gb_keep_running_batch(st, 1)) {
		ttlog__encode(&res, &info, fd);
		items += (int64_t)info.n;
	}
	gb_set_items_processed(st, items);
	ttlog__snapres_fini(&res);
	close(fd);
}

static void bm_direct(gb_state *st, void *arg)
{
	struct var *v = arg;
	struct ttlog_record rec;

	memset(&rec, 0, sizeof rec);
	rec.callsite = 1;
	while (gb_keep_running_batch(st, 64))
		for (int i = 0; i < 64; i++) {
			rec.ts++;
			mpmc_push(v->ring_ow, &rec);
		}
}

int main(int argc, char **argv)
{
	static const int t12[] = {1, 2}, t1[] = {1};
	char name[128];

	for (size_t i = 0; i < NVARIANTS; i++) {
		const struct ttlog_ring_ops *ops = ttlog__ring_find(names[i]);
		struct ttlog_ring_config ow = {.capacity = GB_CAP, .policy = TTLOG_POLICY_OVERWRITE};
		struct ttlog_ring_config dr = {.capacity = GB_CAP, .policy = TTLOG_POLICY_DROP};
		struct var *v = &vars[nvars];
		if (ops == NULL)
			continue;
		v->name = names[i];
		v->ops = ops;
		snprintf(v->snapdir, sizeof v->snapdir, "/tmp");
		if (ops->create(&v->ring_ow, &ow) < 0 || ops->create(&v->ring_drop, &dr) < 0) {
			fprintf(stderr, "ttlog-gbench: %s: cannot create rings\n", names[i]);
			continue;
		}
		nvars++;
	}
	for (int i = 0; i < nvars; i++) {
		struct var *v = &vars[i];
		snprintf(name, sizeof name, "push/%s", v->name);
		gb_register(name, bm_push, v, t12, 2, NULL, NULL);
		snprintf(name, sizeof name, "pushpop/%s", v->name);
		gb_register(name, bm_pushpop, v, t12, 2, NULL, NULL);
		snprintf(name, sizeof name, "log/%s", v->name);
		gb_register(name, bm_log, v, t12, 2, log_setup, log_teardown);
		snprintf(name, sizeof name, "snapshot_encode/%s", v->name);
		gb_register(name, bm_encode, v, t1, 1, log_setup, log_teardown);
	}
	for (int i = 0; i < nvars; i++)
		if (strcmp(vars[i].name, "mpmc") == 0) {
			gb_register("indirect/direct_mpmc_push", bm_direct, &vars[i], t1, 1, NULL, NULL);
			gb_register("indirect/ops_mpmc_push", bm_push, &vars[i], t1, 1, NULL, NULL);
		}
	return gb_main(argc, argv);
}
