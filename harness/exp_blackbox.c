/*
 * exp_blackbox.c - what the black box (docs/blackbox-format.md) costs a log call: the
 * per-call latency of the standard event with the rings in the box file (MAP_SHARED on
 * tmpfs, the default) and in anonymous memory (TTLOG_BLACKBOX=0), same variant, same run,
 * the two interleaved per repetition. Method as exp_latency's unloaded mode: a fenced rdtsc
 * pair around each call, ~250 ns of spinning between calls, the timer's cost subtracted,
 * 10% warm-up thrown away, the ring full (steady state: every push evicts). Also the box's
 * page cost: the bytes the box file has allocated on tmpfs once the ring is full
 * (box_file_bytes; the ring's slots are ring_bytes of it).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/internal.h"
#include "bench.h"

#define BB_CAPACITY (1u << 20)

static const char *const bb_modes[] = {"anonymous", "box"};

static void plan(struct bench_ctx *c, int rep)
{
	for (int i = 0; i < c->nimpls; i++) {
		struct impl *im = &c->impls[i];
		if (im->ring == NULL)
			continue;
		/* alternate which goes first, so that neither always runs on a warmer machine */
		for (int k = 0; k < 2; k++)
			task_add(c, &exp_blackbox, im, (k + rep) % 2, rep,
				 (double)c->lat_samples * 1.1 * (c->lat_gap_ns + 300.0) / 1e9 +
					 0.5);
	}
}

/* Bytes allocated to this process's box file (0 if none). */
static double box_file_bytes(void)
{
	char prefix[32], path[TTLOG_PATH_MAX];
	struct dirent *de;
	struct stat st;
	double bytes = 0;
	DIR *d;

	if (ttlog__g.box_dir[0] == '\0' || (d = opendir(ttlog__g.box_dir)) == NULL)
		return 0;
	snprintf(prefix, sizeof prefix, "ttlog-%d-", (int)getpid());
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    (size_t)snprintf(path, sizeof path, "%s/%s", ttlog__g.box_dir, de->d_name) <
			    sizeof path &&
		    stat(path, &st) == 0)
			bytes = (double)st.st_blocks * 512.0;
	closedir(d);
	return bytes;
}

static void run(struct bench_ctx *c, const struct task *t)
{
	struct impl *im = t->impl;
	int box = t->cfg;
	size_t n = c->lat_samples, nwarm = n / 10 > 10000 ? n / 10 : 10000;
	uint64_t gap = (uint64_t)(c->lat_gap_ns * c->ticks_per_ns);
	uint64_t *samples = malloc(n * sizeof *samples);
	struct lat_summary s;
	double timer, file_bytes;
	char cfg[160];
	int err;

	if (samples == NULL)
		return;
	memset(samples, 0, n * sizeof *samples); /* pre-fault */
	snprintf(cfg, sizeof cfg, "%s;gap_ns=%u;samples=%zu;capacity=%u;event=msg+u64+str+bool",
		 bb_modes[box], c->lat_gap_ns, n, BB_CAPACITY);
	bench_blackbox = box ? 1 : -1;
	err = bench_ttlog_init(c, im->name, BB_CAPACITY, TTLOG_POLICY_OVERWRITE);
	bench_blackbox = 0;
	if (err < 0)
		goto out;
	for (uint64_t i = 0; i < BB_CAPACITY; i++) /* steady state: the ring is full */
		BENCH_LOG_STANDARD(i);
	file_bytes = box_file_bytes();
	bench_pin_self(0);
	timer = lat_timer_ticks(100000);
	LAT_SAMPLE(samples, nwarm < n ? nwarm : n, gap, BENCH_LOG_STANDARD(lat_i_));
	LAT_SAMPLE(samples, n, gap, BENCH_LOG_STANDARD(lat_i_));
	ttlog_shutdown();
	lat_summarize(samples, n, timer, c->ticks_per_ns, &s);
	res_add("blackbox", im->name, im->kind, cfg, box, "p50", "ns", false, s.p50);
	res_add("blackbox", im->name, im->kind, cfg, box, "p99", "ns", false, s.p99);
	res_add("blackbox", im->name, im->kind, cfg, box, "p99.9", "ns", false, s.p999);
	res_add("blackbox", im->name, im->kind, cfg, box, "max", "ns", false, s.max);
	if (box) {
		res_add("blackbox", im->name, im->kind, cfg, box, "box_file_bytes", "bytes", false,
			file_bytes);
		res_add("blackbox", im->name, im->kind, cfg, box, "ring_bytes", "bytes", false,
			(double)ttlog__g.capacity * TTLOG_RECORD_SIZE);
	}
out:
	free(samples);
}

const struct experiment exp_blackbox = {
	"blackbox", "log call latency with the black box against anonymous memory; box pages", plan,
	run};
