/*
 * exp_fork.c - what ttlog costs a program that forks: fork + exec of /bin/true + waitpid,
 * timed in the parent, with ttlog not running, running with its rings in anonymous memory
 * (TTLOG_BLACKBOX=0), and running with the black box (the default); and fork + one log
 * call in the child + _exit + waitpid with each, where the child settles its rings (cuts
 * them back to the fork; with the box, copies the parent's box into its own first). The
 * ring is full (default capacity) before the first fork. Median and p90 over the forks of
 * a repetition, in microseconds.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/internal.h"
#include "bench.h"

enum { FK_NONE, FK_ANON, FK_BOX, FK_ANON_LOG, FK_BOX_LOG, FK_MODES };
static const char *const fk_modes[] = {"exec;no ttlog", "exec;anonymous", "exec;box",
				       "child logs;anonymous", "child logs;box"};

static unsigned forks(const struct bench_ctx *c)
{
	return c->quick ? 40 : 200;
}

static void plan(struct bench_ctx *c, int rep)
{
	for (int i = 0; i < c->nimpls; i++) {
		struct impl *im = &c->impls[i];
		if (im->ring == NULL)
			continue;
		for (int m = 0; m < FK_MODES; m++)
			task_add(c, &exp_fork, im, (m + rep) % FK_MODES, rep,
				 forks(c) * 0.004 + 0.5);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Remove the box a child left (it died without ttlog_shutdown). */
static void remove_child_box(pid_t pid)
{
	char prefix[32], path[TTLOG_PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (ttlog__g.box_dir[0] == '\0' || (d = opendir(ttlog__g.box_dir)) == NULL)
		return;
	snprintf(prefix, sizeof prefix, "ttlog-%d-", (int)pid);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
		    (size_t)snprintf(path, sizeof path, "%s/%s", ttlog__g.box_dir, de->d_name) <
			    sizeof path)
			unlink(path);
	closedir(d);
}

static void run(struct bench_ctx *c, const struct task *t)
{
	struct impl *im = t->impl;
	int mode = t->cfg, status;
	unsigned n = forks(c), done = 0;
	double *us = malloc(n * sizeof *us);
	char cfg[160];

	if (us == NULL)
		return;
	snprintf(cfg, sizeof cfg, "%s;forks=%u;capacity=%u", fk_modes[mode], n,
		 TTLOG_DEFAULT_CAPACITY);
	if (mode != FK_NONE) {
		bench_blackbox = mode == FK_BOX || mode == FK_BOX_LOG ? 1 : -1;
		int err = bench_ttlog_init(c, im->name, TTLOG_DEFAULT_CAPACITY,
					   TTLOG_POLICY_OVERWRITE);
		bench_blackbox = 0;
		if (err < 0)
			goto out;
		for (uint64_t i = 0; i < TTLOG_DEFAULT_CAPACITY; i++) /* the ring full */
			BENCH_LOG_STANDARD(i);
	}
	for (unsigned k = 0; k < n; k++) {
		uint64_t t0 = bench_now_ns();
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0) {
			if (mode == FK_ANON_LOG || mode == FK_BOX_LOG) {
				BENCH_LOG_STANDARD(k);
				_exit(0);
			}
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			break;
		us[done++] = (double)(bench_now_ns() - t0) / 1e3;
		if (mode == FK_BOX_LOG)
			remove_child_box(pid);
	}
	if (mode != FK_NONE)
		ttlog_shutdown();
	if (done < n) {
		res_note("fork", im->name, "a fork, exec or child failed after %u of %u", done, n);
		goto out;
	}
	qsort(us, n, sizeof *us, cmp_double);
	res_add("fork", im->name, im->kind, cfg, mode, "p50", "us", false, us[n / 2]);
	res_add("fork", im->name, im->kind, cfg, mode, "p90", "us", false, us[n * 9 / 10]);
out:
	free(us);
}

const struct experiment exp_fork = {
	"fork", "fork + exec and fork + a log call in the child, with and without ttlog", plan,
	run};
