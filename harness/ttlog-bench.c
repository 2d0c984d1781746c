/*
 * ttlog-bench.c - the experiment runner: every ttlog variant linked in (libttlog-all.a,
 * through the ops tables) and the baselines, measured in one process, interleaved.
 *
 *   ttlog-bench [--variant=all|V,...] [--baselines=all|none|ck,wfcq,crossbeam,
 *               spdlog,lttng] [--experiments=all|throughput,...] [--threads=1,2,4,8,16]
 *               [--duration-ms=N] [--warmup-ms=N] [--reps=N] [--lat-samples=N]
 *               [--lat-gap-ns=N] [--quick] [--pin] [--out=DIR] [--crossbeam=BIN]
 *               [--lttng=BIN] [--list]
 *
 * V: a variant of the list (variants/variants.h; --help names them).
 *
 * Writes DIR/results.csv (one row per figure: median, min, max, CV, unstable flag),
 * DIR/results_raw.csv (one row per repetition) and DIR/results.json (the same plus the
 * machine and the run), and prints one table per experiment on stdout. A progress line
 * (task i of n, elapsed, ETA) goes to stderr.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../variants/ring.h"
#include "bench.h"

#ifndef TTLOG_BENCH_CFLAGS
#define TTLOG_BENCH_CFLAGS "unknown"
#endif

static const struct experiment *const all_experiments[] = {
	&exp_throughput, &exp_buffer_ops, &exp_pc_matrix,    &exp_latency,  &exp_threads_1024,
	&exp_rings_100k, &exp_memory,     &exp_memory_matrix, &exp_snapshot, &exp_indirect,
	&exp_locked,     &exp_blackbox,     &exp_fork,
};
#define NEXP ((int)(sizeof all_experiments / sizeof all_experiments[0]))

/* every variant of the list (variants/variants.h), in its order */
static const char *const variant_names[] = {
#define TTLOG_VARIANT_X(v) #v,
#include "../variants/variants.h"
#undef TTLOG_VARIANT_X
};

/* ---- small helpers ---------------------------------------------------------------- */

static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	if (strcmp(list, "all") == 0)
		return true;
	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return true;
		p += n;
	}
	return false;
}

static void popen_read(const char *cmd, char *buf, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (p == NULL)
		return;
	n = fread(buf, 1, len - 1, p);
	buf[n] = '\0';
	pclose(p);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
	fputc('"', f);
}

/* ---- the machine ------------------------------------------------------------------ */

static struct {
	char cpu[160], kernel[256], compiler[128], topology[8192], hostname[128];
	char git[64], date[32], load_start[64], load_end[64], short_id[320];
	long cores_online;
	double tsc_ghz, tsc_resolution_ns;
} mach;

static void machine_describe(struct bench_ctx *c)
{
	char line[512];
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");
	time_t now = time(NULL);

	snprintf(mach.cpu, sizeof mach.cpu, "unknown");
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "model name", 10) == 0) {
			char *v = strchr(line, ':');
			if (v != NULL) {
				v += 2;
				v[strcspn(v, "\n")] = '\0';
				snprintf(mach.cpu, sizeof mach.cpu, "%s", v);
			}
			break;
		}
	if (f != NULL)
		fclose(f);
	uname(&u);
	snprintf(mach.kernel, sizeof mach.kernel, "%s %s %s", u.sysname, u.release, u.machine);
	snprintf(mach.hostname, sizeof mach.hostname, "%s", u.nodename);
	snprintf(mach.compiler, sizeof mach.compiler, "gcc %s", __VERSION__);
	mach.cores_online = sysconf(_SC_NPROCESSORS_ONLN);
	popen_read("lstopo-no-graphics --of console 2>/dev/null", mach.topology,
		   sizeof mach.topology);
	if (mach.topology[0] == '\0')
		snprintf(mach.topology, sizeof mach.topology, "(lstopo-no-graphics not available)");
	popen_read("git rev-parse --short HEAD 2>/dev/null", mach.git, sizeof mach.git);
	if (mach.git[0] == '\0') {
		snprintf(mach.git, sizeof mach.git, "unknown");
	} else {
		char dirty[64];
		popen_read("git status --porcelain --untracked-files=no 2>/dev/null | head -1", dirty,
			   sizeof dirty);
		if (dirty[0] != '\0')
			strncat(mach.git, "-dirty", sizeof mach.git - strlen(mach.git) - 1);
	}
	strftime(mach.date, sizeof mach.date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	popen_read("cat /proc/loadavg", mach.load_start, sizeof mach.load_start);
	mach.tsc_ghz = c->ticks_per_ns;
	{
		/* the smallest step the TSC is seen to take (VMs may advance it coarsely) */
		uint64_t prev = bench_tsc(), step = UINT64_MAX;
		for (int i = 0; i < 100000; i++) {
			uint64_t t = bench_tsc();
			if (t != prev && t - prev < step)
				step = t - prev;
			prev = t;
		}
		mach.tsc_resolution_ns = (double)step / c->ticks_per_ns;
	}
	snprintf(mach.short_id, sizeof mach.short_id, "%s | %ld cores | %s | %s", mach.cpu,
		 mach.cores_online, u.release, mach.compiler);
}

/* ---- implementations ---------------------------------------------------------------- */

static struct impl *impl_add(struct bench_ctx *c, const char *name, const char *kind,
			     enum impl_id id)
{
	struct impl *im = &c->impls[c->nimpls++];

	memset(im, 0, sizeof *im);
	im->name = name;
	im->kind = kind;
	im->id = id;
	im->available = true;
	return im;
}

bool impl_is_variant(const struct impl *im)
{
	return im->ring != NULL;
}

static int sh(const char *cmd)
{
	int st = system(cmd);
	return st == 0 ? 0 : -1;
}

static bool lttng_started_daemon;

/* Start (if needed) the session daemon and a snapshot-mode session for the helper. */
static bool lttng_up(struct bench_ctx *c, char *why, size_t len)
{
	char cmd[1024];

	if (sh("command -v lttng >/dev/null 2>&1 && command -v lttng-sessiond >/dev/null 2>&1") <
	    0) {
		snprintf(why, len, "lttng-tools is not installed");
		return false;
	}
	if (sh("lttng list >/dev/null 2>&1") < 0) {
		if (sh("lttng-sessiond --no-kernel --daemonize >/dev/null 2>&1") < 0) {
			snprintf(why, len,
				 "the LTTng session daemon cannot start in this environment "
				 "(lttng-sessiond --no-kernel --daemonize failed)");
			return false;
		}
		lttng_started_daemon = true;
	}
	sh("lttng destroy ttlog-bench >/dev/null 2>&1");
	snprintf(cmd, sizeof cmd,
		 "lttng create ttlog-bench --snapshot --output=%s/lttng >/dev/null 2>&1 && "
		 "lttng enable-event -u -s ttlog-bench 'ttlog_bench:*' >/dev/null 2>&1 && "
		 "lttng start ttlog-bench >/dev/null 2>&1",
		 c->snap_dir);
	if (sh(cmd) < 0) {
		snprintf(why, len, "cannot create an LTTng snapshot session (lttng create --snapshot)");
		return false;
	}
	return true;
}

static void lttng_down(void)
{
	int ok = sh("lttng snapshot record -s ttlog-bench >/dev/null 2>&1");

	run_note("LTTng-UST: snapshot session 'ttlog-bench' (per-uid buffers, overwrite mode); "
		 "final `lttng snapshot record` %s",
		 ok == 0 ? "succeeded" : "failed");
	sh("lttng stop ttlog-bench >/dev/null 2>&1; lttng destroy ttlog-bench >/dev/null 2>&1");
	if (lttng_started_daemon) {
		/* the daemon we started, by the pid it recorded, and nothing else */
		FILE *f = fopen("/var/run/lttng/lttng-sessiond.pid", "r");
		long pid = 0;
		if (f != NULL) {
			if (fscanf(f, "%ld", &pid) == 1 && pid > 1)
				kill((pid_t)pid, SIGTERM);
			fclose(f);
		}
	}
}

static void setup_impls(struct bench_ctx *c, const char *variants, const char *baselines)
{
	struct impl *im;

	for (size_t i = 0; i < sizeof variant_names / sizeof variant_names[0]; i++) {
		const struct ttlog_ring_ops *ops;
		if (!in_list(variants, variant_names[i]))
			continue;
		ops = ttlog__ring_find(variant_names[i]);
		if (ops == NULL) {
			run_note("variant %s is not linked into this build of libttlog-all.a: skipped",
				 variant_names[i]);
			continue;
		}
		im = impl_add(c, variant_names[i], "variant", IMPL_VARIANT);
		im->ring = ops;
	}
	if (in_list(baselines, "ck")) {
		im = impl_add(c, "ck_ring", "baseline", IMPL_CK);
		im->q = &bench_ck_qops;
	}
	if (in_list(baselines, "wfcq")) {
		im = impl_add(c, "wfcqueue", "baseline", IMPL_WFCQ);
		im->q = &bench_wfcq_qops;
	}
	if (in_list(baselines, "crossbeam")) {
		if (c->crossbeam_bin != NULL && access(c->crossbeam_bin, X_OK) == 0)
			impl_add(c, "crossbeam", "baseline", IMPL_CROSSBEAM);
		else
			run_note("crossbeam ArrayQueue: skipped, helper not built (%s)",
				 c->crossbeam_bin ? c->crossbeam_bin : "no --crossbeam given");
	}
	if (in_list(baselines, "spdlog"))
		impl_add(c, "spdlog", "baseline", IMPL_SPDLOG);
	if (in_list(baselines, "lttng")) {
		char why[200];
		if (c->quick && strcmp(baselines, "all") == 0)
			run_note("LTTng-UST: only in the full run (QUICK run: skipped)");
		else if (c->lttng_bin == NULL || access(c->lttng_bin, X_OK) != 0)
			run_note("LTTng-UST: skipped, helper not built (liblttng-ust-dev missing?)");
		else if (!lttng_up(c, why, sizeof why))
			run_note("LTTng-UST: skipped: %s", why);
		else {
			impl_add(c, "lttng-ust", "baseline", IMPL_LTTNG);
			c->lttng_up = true;
		}
	}
}

int bench_blackbox;

int bench_ttlog_init(const struct bench_ctx *c, const char *variant, size_t capacity, int policy)
{
	ttlog_config cfg;
	int err;

	ttlog_config_default(&cfg);
	cfg.env_error = 0; /* the harness sets every field itself */
	cfg.capacity = capacity;
	cfg.policy = policy;
	cfg.variant = variant;
	cfg.snapshot_dir = c->snap_dir;
	cfg.service = "ttlog-bench";
	cfg.level = TTLOG_LEVEL_TRACE;
	cfg.quiet = true;
	cfg.snapshot_interval_s = 0;
	cfg.snapshot_keep = 0;
	cfg.snapshot_signal = 0;
	cfg.final_snapshot = false;
	cfg.blackbox = bench_blackbox;
	cfg.trigger_level = c->trigger_level;
	err = ttlog_init(&cfg);
	if (err < 0)
		run_note("%s: ttlog_init(capacity=%zu): %s (%s)", variant, capacity,
			 ttlog_strerror(err), ttlog_errmsg());
	return err;
}

/* ---- the plan ----------------------------------------------------------------------- */

void task_add(struct bench_ctx *c, const struct experiment *e, struct impl *im, int cfg,
	      int rep, double est_s)
{
	if (c->ntasks == c->cap_tasks) {
		c->cap_tasks = c->cap_tasks ? 2 * c->cap_tasks : 256;
		c->tasks = realloc(c->tasks, (size_t)c->cap_tasks * sizeof *c->tasks);
		if (c->tasks == NULL) {
			fprintf(stderr, "ttlog-bench: out of memory (plan)\n");
			exit(1);
		}
	}
	c->tasks[c->ntasks++] = (struct task){e, im, cfg, rep, est_s};
}

/* ---- isolated tasks ------------------------------------------------------------------ */

#define ISOLATE_MEM (6ull << 30) /* address space of an isolated task */

struct iso_msg {
	char type; /* 'F' figure values, 'N' run note */
	int from;  /* F: first new value */
	struct figure fig;
	char note[240];
};

static void run_isolated(struct bench_ctx *c, struct task *t, double deadline_s)
{
	int nf0 = bench_nfigures, nn0 = bench_nrun_notes, fds[2], status = 0;
	int *n0 = calloc((size_t)(nf0 ? nf0 : 1), sizeof *n0);
	struct iso_msg *m = malloc(sizeof *m);
	pid_t pid;

	for (int i = 0; i < nf0; i++)
		n0[i] = bench_figures[i].n;
	fflush(NULL);
	if (n0 == NULL || m == NULL || pipe(fds) < 0 || (pid = fork()) < 0) {
		run_note("%s %s: cannot fork an isolated task; run in process", t->exp->name,
			 t->impl->name);
		t->exp->run(c, t);
		free(n0);
		free(m);
		return;
	}
	if (pid == 0) {
		struct rlimit rl = {ISOLATE_MEM, ISOLATE_MEM};
		close(fds[0]);
		setrlimit(RLIMIT_AS, &rl);
		t->exp->run(c, t);
		for (int i = 0; i < bench_nfigures; i++) {
			int from = i < nf0 ? n0[i] : 0;
			if (bench_figures[i].n <= from)
				continue;
			memset(m, 0, sizeof *m);
			m->type = 'F';
			m->from = from;
			m->fig = bench_figures[i];
			if (write(fds[1], m, sizeof *m) != (ssize_t)sizeof *m)
				_exit(3);
		}
		for (int i = nn0; i < bench_nrun_notes; i++) {
			memset(m, 0, sizeof *m);
			m->type = 'N';
			memcpy(m->note, bench_run_notes[i], sizeof m->note);
			if (write(fds[1], m, sizeof *m) != (ssize_t)sizeof *m)
				_exit(3);
		}
		_exit(0); /* no atexit work: the parent owns the outputs */
	}
	close(fds[1]);
	uint64_t end = bench_now_ns() + (uint64_t)(deadline_s * 1e9);
	size_t have = 0;
	bool killed = false;
	for (;;) {
		uint64_t now = bench_now_ns();
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		if (now >= end) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		if (poll(&pfd, 1, (int)((end - now) / 1000000 + 1)) <= 0)
			continue;
		ssize_t r = read(fds[0], (char *)m + have, sizeof *m - have);
		if (r <= 0)
			break;
		have += (size_t)r;
		if (have < sizeof *m)
			continue;
		have = 0;
		if (m->type == 'F') {
			struct figure *g = &m->fig;
			for (int k = m->from; k < g->n; k++)
				res_add(g->experiment, g->impl, g->kind, g->config, g->x, g->metric,
					g->unit, g->higher_better, g->values[k]);
			if (g->note[0] != '\0')
				res_note(g->experiment, g->impl, "%s", g->note);
		} else if (m->type == 'N') {
			m->note[sizeof m->note - 1] = '\0';
			run_note("%s", m->note);
		}
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (killed)
		run_note("%s %s: did not finish within %.0f s: killed, no figure for that "
			 "repetition (the task runs in a child process limited to %llu GiB)",
			 t->exp->name, t->impl->name, deadline_s, ISOLATE_MEM >> 30);
	else if (WIFSIGNALED(status))
		run_note("%s %s: the task died with signal %d (out of its %llu GiB?)", t->exp->name,
			 t->impl->name, WTERMSIG(status), ISOLATE_MEM >> 30);
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		run_note("%s %s: the task exited with status %d", t->exp->name, t->impl->name,
			 WEXITSTATUS(status));
	free(n0);
	free(m);
}

/* ---- output ------------------------------------------------------------------------- */

static void write_results(struct bench_ctx *c, const char *argv_line, double total_s)
{
	char path[4096];
	FILE *f;

	popen_read("cat /proc/loadavg", mach.load_end, sizeof mach.load_end);
	snprintf(path, sizeof path, "%s/results.csv", c->out_dir);
	f = fopen(path, "w");
	if (f == NULL) {
		fprintf(stderr, "ttlog-bench: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	fprintf(f, "experiment,impl,kind,config,x,metric,unit,higher_better,reps,median,min,max,"
		   "mean,stddev,cv,unstable,note,date,git_rev,machine\n");
	for (int i = 0; i < bench_nfigures; i++) {
		struct figure *g = &bench_figures[i];
		struct stat_summary s;
		stat_summarize(g->values, g->n, &s);
		fprintf(f, "%s,%s,%s,", g->experiment, g->impl, g->kind);
		csv_str(f, g->config);
		fprintf(f, ",%g,%s,%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.4f,%d,", g->x, g->metric,
			g->unit, g->higher_better, s.n, s.median, s.min, s.max, s.mean, s.stddev,
			s.cv, s.n > 1 && s.cv > BENCH_UNSTABLE_CV);
		csv_str(f, g->note);
		fprintf(f, ",%s,%s,", mach.date, mach.git);
		csv_str(f, mach.short_id);
		fputc('\n', f);
	}
	fclose(f);

	snprintf(path, sizeof path, "%s/results_raw.csv", c->out_dir);
	f = fopen(path, "w");
	if (f == NULL)
		exit(1);
	fprintf(f, "experiment,impl,kind,config,x,metric,unit,rep,value,date,git_rev\n");
	for (int i = 0; i < bench_nfigures; i++) {
		struct figure *g = &bench_figures[i];
		for (int r = 0; r < g->n; r++) {
			fprintf(f, "%s,%s,%s,", g->experiment, g->impl, g->kind);
			csv_str(f, g->config);
			fprintf(f, ",%g,%s,%s,%d,%.9g,%s,%s\n", g->x, g->metric, g->unit, r,
				g->values[r], mach.date, mach.git);
		}
	}
	fclose(f);

	snprintf(path, sizeof path, "%s/results.json", c->out_dir);
	f = fopen(path, "w");
	if (f == NULL)
		exit(1);
	fprintf(f, "{\n\"machine\": {\"cpu\": ");
	json_str(f, mach.cpu);
	fprintf(f, ", \"cores_online\": %ld, \"kernel\": ", mach.cores_online);
	json_str(f, mach.kernel);
	fprintf(f, ", \"hostname\": ");
	json_str(f, mach.hostname);
	fprintf(f, ", \"compiler\": ");
	json_str(f, mach.compiler);
	fprintf(f, ", \"cflags\": ");
	json_str(f, TTLOG_BENCH_CFLAGS);
	fprintf(f, ", \"tsc_ticks_per_ns\": %.6f, \"tsc_resolution_ns\": %.2f, "
		   "\"record_size\": %d, \"topology\": ",
		c->ticks_per_ns, mach.tsc_resolution_ns, TTLOG_RECORD_SIZE);
	json_str(f, mach.topology);
	fprintf(f, ", \"loadavg_start\": ");
	json_str(f, mach.load_start);
	fprintf(f, ", \"loadavg_end\": ");
	json_str(f, mach.load_end);
	fprintf(f, ", \"summary\": ");
	json_str(f, mach.short_id);
	fprintf(f, "},\n\"run\": {\"date\": ");
	json_str(f, mach.date);
	fprintf(f, ", \"git_rev\": ");
	json_str(f, mach.git);
	fprintf(f, ", \"command\": ");
	json_str(f, argv_line);
	fprintf(f, ", \"quick\": %s, \"reps\": %d, \"warmup_ms\": %u, \"duration_ms\": %u, "
		   "\"lat_samples\": %zu, \"lat_gap_ns\": %u, \"elapsed_s\": %.1f, "
		   "\"unstable_cv\": %.2f, \"impls\": [",
		c->quick ? "true" : "false", c->reps, c->warmup_ms, c->duration_ms, c->lat_samples,
		c->lat_gap_ns, total_s, BENCH_UNSTABLE_CV);
	for (int i = 0; i < c->nimpls; i++) {
		fprintf(f, "%s{\"name\": ", i ? ", " : "");
		json_str(f, c->impls[i].name);
		fprintf(f, ", \"kind\": ");
		json_str(f, c->impls[i].kind);
		fputc('}', f);
	}
	fprintf(f, "]},\n\"notes\": [");
	for (int i = 0; i < bench_nrun_notes; i++) {
		fprintf(f, "%s\n  ", i ? "," : "");
		json_str(f, bench_run_notes[i]);
	}
	fprintf(f, "],\n\"figures\": [");
	for (int i = 0; i < bench_nfigures; i++) {
		struct figure *g = &bench_figures[i];
		struct stat_summary s;
		stat_summarize(g->values, g->n, &s);
		fprintf(f, "%s\n {\"experiment\": ", i ? "," : "");
		json_str(f, g->experiment);
		fprintf(f, ", \"impl\": ");
		json_str(f, g->impl);
		fprintf(f, ", \"kind\": ");
		json_str(f, g->kind);
		fprintf(f, ", \"config\": ");
		json_str(f, g->config);
		fprintf(f, ", \"x\": %g, \"metric\": ", g->x);
		json_str(f, g->metric);
		fprintf(f, ", \"unit\": ");
		json_str(f, g->unit);
		fprintf(f, ", \"higher_better\": %s, \"median\": %.6g, \"min\": %.6g, \"max\": %.6g, "
			   "\"mean\": %.6g, \"stddev\": %.6g, \"cv\": %.4f, \"unstable\": %s, "
			   "\"note\": ",
			g->higher_better ? "true" : "false", s.median, s.min, s.max, s.mean,
			s.stddev, s.cv, s.n > 1 && s.cv > BENCH_UNSTABLE_CV ? "true" : "false");
		json_str(f, g->note);
		fprintf(f, ", \"values\": [");
		for (int r = 0; r < g->n; r++)
			fprintf(f, "%s%.9g", r ? ", " : "", g->values[r]);
		fprintf(f, "]}");
	}
	fprintf(f, "\n]\n}\n");
	fclose(f);
}

static void fmt_val(char *buf, size_t len, double v)
{
	double a = v < 0 ? -v : v;
	if (a >= 1e9)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (a >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, len, "%.1fK", v / 1e3);
	else if (a >= 100)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.3g", v);
}

/* One table per experiment: rows (config, metric), columns impls; median, CV, '!' when
 * the CV is above 10%. */
static void print_tables(struct bench_ctx *c)
{
	for (int e = 0; e < NEXP; e++) {
		const char *en = all_experiments[e]->name;
		bool any = false;
		for (int i = 0; i < bench_nfigures; i++)
			any |= strcmp(bench_figures[i].experiment, en) == 0;
		if (!any)
			continue;
		bool col[16] = {false};
		for (int k = 0; k < c->nimpls; k++)
			for (int i = 0; i < bench_nfigures; i++)
				col[k] |= strcmp(bench_figures[i].experiment, en) == 0 &&
					  strcmp(bench_figures[i].impl, c->impls[k].name) == 0;
		printf("\n=== %s: %s ===\n", en, all_experiments[e]->summary);
		printf("%-44s %-12s", "config", "metric");
		for (int k = 0; k < c->nimpls; k++)
			if (col[k])
				printf(" %16s", c->impls[k].name);
		printf("\n");
		for (int i = 0; i < bench_nfigures; i++) {
			struct figure *g = &bench_figures[i];
			bool first = true;
			if (strcmp(g->experiment, en) != 0)
				continue;
			for (int j = 0; j < i; j++) /* a (config, metric) row is printed once */
				if (strcmp(bench_figures[j].experiment, en) == 0 &&
				    strcmp(bench_figures[j].config, g->config) == 0 &&
				    strcmp(bench_figures[j].metric, g->metric) == 0)
					first = false;
			if (!first)
				continue;
			char cfg[45];
			snprintf(cfg, sizeof cfg, "%s", g->config);
			printf("%-44s %-12s", cfg, g->metric);
			for (int k = 0; k < c->nimpls; k++) {
				char cell[40] = "-";
				if (!col[k])
					continue;
				for (int j = 0; j < bench_nfigures; j++) {
					struct figure *h = &bench_figures[j];
					struct stat_summary s;
					char v[24];
					if (strcmp(h->experiment, en) || strcmp(h->config, g->config) ||
					    strcmp(h->metric, g->metric) ||
					    strcmp(h->impl, c->impls[k].name))
						continue;
					stat_summarize(h->values, h->n, &s);
					fmt_val(v, sizeof v, s.median);
					snprintf(cell, sizeof cell, "%s %s(%.0f%%)",
						 s.n > 1 && s.cv > BENCH_UNSTABLE_CV ? "!" : "", v,
						 s.cv * 100);
				}
				printf(" %16s", cell);
			}
			printf("  %s\n", g->unit);
		}
	}
	printf("\n(median over repetitions, CV in parentheses; '!' = CV > %.0f%%: unstable)\n",
	       BENCH_UNSTABLE_CV * 100);
	printf("machine: %s\ngit %s, %s\n", mach.short_id, mach.git, mach.date);
	for (int i = 0; i < bench_nrun_notes; i++)
		printf("note: %s\n", bench_run_notes[i]);
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	char vs[256] = "";

	for (size_t i = 0; i < sizeof variant_names / sizeof variant_names[0]; i++)
		snprintf(vs + strlen(vs), sizeof vs - strlen(vs), "%s%s", i ? "," : "",
			 variant_names[i]);
	fprintf(f,
		"usage: ttlog-bench [options]\n"
		"  --variant=all|%-19s variants (those linked in; default all)\n"
		"  --baselines=all|none|ck,wfcq,crossbeam,spdlog,lttng   (default all)\n"
		"  --experiments=all|NAME,...        (--list shows them)\n"
		"  --threads=1,2,4,8,16              throughput thread counts\n"
		"  --duration-ms=N --warmup-ms=N     measured window and warm-up per point\n"
		"  --reps=N                          repetitions (default 5; 3 with --quick)\n"
		"  --lat-samples=N --lat-gap-ns=N    latency samples per run, unloaded gap\n"
		"  --quick                           short run (CI): 100 ms points, 3 reps, fewer samples\n"
		"  --pin                             bind threads to PUs (hwloc)\n"
		"  --out=DIR                         results directory (default benchmark_reports)\n"
		"  --crossbeam=BIN --lttng=BIN       baseline helper programs\n",
		vs);
}

static const char *opt(const char *arg, const char *name)
{
	size_t n = strlen(name);
	return strncmp(arg, name, n) == 0 && arg[n] == '=' ? arg + n + 1 : NULL;
}

int main(int argc, char **argv)
{
	static struct bench_ctx ctx;
	struct bench_ctx *c = &ctx;
	const char *variants = "all", *baselines = "all", *exps = "all", *v;
	char argv_line[2048] = "", snapdir[] = "/tmp/ttlog-bench-XXXXXX";
	int reps = -1, dur = -1, warm = -1;
	long lat_n = -1;
	bool list = false, pin = false;

	/* the locked experiment runs this binary again, traced, in its child mode */
	if (argc == 2 && strncmp(argv[1], "--locked-child=", 15) == 0)
		return exp_locked_child(argv[1] + 15);
	c->lat_gap_ns = 250;
	c->out_dir = "benchmark_reports";
	for (int i = 0; i < argc; i++) {
		strncat(argv_line, argv[i], sizeof argv_line - strlen(argv_line) - 2);
		strcat(argv_line, " ");
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if ((v = opt(a, "--variant")) || (v = opt(a, "--variants")))
			variants = v;
		else if ((v = opt(a, "--baselines")))
			baselines = v;
		else if ((v = opt(a, "--experiments")) || (v = opt(a, "--experiment")))
			exps = v;
		else if ((v = opt(a, "--threads"))) {
			char *end;
			c->nthreads = 0;
			for (const char *p = v; *p && c->nthreads < 16; p = *end ? end + 1 : end) {
				c->threads[c->nthreads++] = (int)strtol(p, &end, 10);
				if (end == p)
					break;
			}
		} else if ((v = opt(a, "--duration-ms")))
			dur = atoi(v);
		else if ((v = opt(a, "--warmup-ms")))
			warm = atoi(v);
		else if ((v = opt(a, "--reps")))
			reps = atoi(v);
		else if ((v = opt(a, "--lat-samples")))
			lat_n = atol(v);
		else if ((v = opt(a, "--lat-gap-ns")))
			c->lat_gap_ns = (unsigned)atoi(v);
		else if ((v = opt(a, "--out")))
			c->out_dir = v;
		else if ((v = opt(a, "--crossbeam")))
			c->crossbeam_bin = v;
		else if ((v = opt(a, "--lttng")))
			c->lttng_bin = v;
		else if (strcmp(a, "--quick") == 0)
			c->quick = true;
		else if (strcmp(a, "--pin") == 0)
			pin = true;
		else if (strcmp(a, "--list") == 0)
			list = true;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "ttlog-bench: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (list) {
		for (int e = 0; e < NEXP; e++)
			printf("%-14s %s\n", all_experiments[e]->name, all_experiments[e]->summary);
		return 0;
	}
	/* full run: 5 s per point, 5 repetitions; quick: 100 ms points, 3 repetitions */
	c->reps = reps > 0 ? reps : c->quick ? 3 : 5;
	if (c->reps > BENCH_MAX_REPS)
		c->reps = BENCH_MAX_REPS;
	c->duration_ms = dur > 0 ? (unsigned)dur : c->quick ? 100 : 5000;
	c->warmup_ms = warm >= 0 ? (unsigned)warm : c->quick ? 30 : 500;
	c->lat_samples = lat_n > 0 ? (size_t)lat_n : c->quick ? 100000 : 1000000;
	if (c->nthreads == 0) {
		static const int def[] = {1, 2, 4, 8, 16};
		memcpy(c->threads, def, sizeof def);
		c->nthreads = 5;
	}
	{
		char cmd[4200];
		snprintf(cmd, sizeof cmd, "mkdir -p '%s'", c->out_dir);
		if (strchr(c->out_dir, '\'') != NULL || sh(cmd) < 0) {
			fprintf(stderr, "ttlog-bench: cannot create %s\n", c->out_dir);
			return 1;
		}
	}
	if (mkdtemp(snapdir) == NULL) {
		fprintf(stderr, "ttlog-bench: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	c->snap_dir = snapdir;
	bench_pin_enable(pin);
	c->ticks_per_ns = bench_tsc_calibrate(c->quick ? 50 : 200);
	machine_describe(c);
	setup_impls(c, variants, baselines);
	if (pin)
		run_note("threads pinned to PUs (hwloc), thread i on PU i mod %ld", mach.cores_online);

	for (int r = 0; r < c->reps; r++)
		for (int e = 0; e < NEXP; e++)
			if (in_list(exps, all_experiments[e]->name))
				all_experiments[e]->plan(c, r);
	if (c->ntasks == 0) {
		fprintf(stderr, "ttlog-bench: nothing to run (experiments '%s')\n", exps);
		return 2;
	}

	double est_total = 0, est_done = 0;
	uint64_t t_start = bench_now_ns();
	bool tty = isatty(2);
	for (int i = 0; i < c->ntasks; i++)
		est_total += c->tasks[i].est_s;
	fprintf(stderr, "ttlog-bench: %d tasks, %d repetitions, %u ms per point, estimated %.0f s\n",
		c->ntasks, c->reps, c->duration_ms, est_total);
	for (int i = 0; i < c->ntasks; i++) {
		struct task *t = &c->tasks[i];
		double el = (double)(bench_now_ns() - t_start) / 1e9;
		double eta = est_done > 0 ? el / est_done * (est_total - est_done)
					  : est_total - est_done;
		fprintf(stderr,
			"%s[%d/%d] %-12s %-10s cfg %d rep %d | elapsed %.0fs | ETA %.0fs | rss %.0f MB%s",
			tty ? "\r" : "", i + 1, c->ntasks, t->exp->name, t->impl->name, t->cfg,
			t->rep + 1, el, eta, (double)bench_rss_bytes() / 1048576.0,
			tty ? "   " : "\n");
		if (t->exp->isolate)
			run_isolated(c, t, 30 + 20 * t->est_s);
		else
			t->exp->run(c, t);
		est_done += t->est_s;
	}
	double total = (double)(bench_now_ns() - t_start) / 1e9;
	fprintf(stderr, "%sttlog-bench: done in %.1f s\n", tty ? "\n" : "", total);
	if (c->lttng_up)
		lttng_down();
	write_results(c, argv_line, total);
	print_tables(c);
	{
		char cmd[200];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", snapdir);
		sh(cmd);
	}
	return 0;
}
