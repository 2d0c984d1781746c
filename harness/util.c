/*
 * util.c - clocks, statistics, threads and pinning, the result table, helper programs.
 * Shared by ttlog-bench and ttlog-bench-lttng.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hwloc.h>

#include "bench.h"

/* ---- clocks ---------------------------------------------------------------------- */

double bench_tsc_calibrate(unsigned ms)
{
	uint64_t n0 = bench_now_ns(), t0 = bench_tsc(), n1, t1;
	struct timespec d = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&d, NULL);
	n1 = bench_now_ns();
	t1 = bench_tsc();
	return (double)(t1 - t0) / (double)(n1 - n0);
}

/* ---- statistics ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

double lat_timer_ticks(size_t n)
{
	uint64_t *s = malloc(n * sizeof *s);
	double med;

	if (s == NULL)
		return 0;
	LAT_SAMPLE(s, n, 0, (void)0);
	qsort(s, n, sizeof *s, cmp_u64);
	med = (double)s[n / 2];
	free(s);
	return med;
}

double lat_plain_timer_ticks(size_t n)
{
	uint64_t *s = malloc(n * sizeof *s);
	double med;

	if (s == NULL)
		return 0;
	LAT_SAMPLE_PLAIN(s, n, 0, (void)0);
	qsort(s, n, sizeof *s, cmp_u64);
	med = (double)s[n / 2];
	free(s);
	return med;
}

double lat_batch_timer_ticks(size_t n, unsigned k, int fence)
{
	uint64_t *s = malloc(n * sizeof *s);
	double med;

	if (s == NULL)
		return 0;
	if (fence)
		LAT_BATCH(s, n, k, 0, 1, (void)0);
	else
		LAT_BATCH(s, n, k, 0, 0, (void)0);
	qsort(s, n, sizeof *s, cmp_u64);
	med = (double)s[n / 2];
	free(s);
	return med;
}

void lat_batch_summarize(uint64_t *s, size_t nb, unsigned k, double timer_ticks, double tpn,
			 double *median, double *p99)
{
	*median = *p99 = 0;
	if (nb == 0 || k == 0)
		return;
	qsort(s, nb, sizeof *s, cmp_u64);
#define PCT(q) \
	(fmax(0.0, (double)s[(size_t)((q) * (double)(nb - 1) + 0.5)] - timer_ticks) / k / tpn)
	*median = PCT(0.50);
	*p99 = PCT(0.99);
#undef PCT
}

void lat_summarize(uint64_t *s, size_t n, double timer_ticks, double tpn,
		   struct lat_summary *out)
{
	memset(out, 0, sizeof *out);
	if (n == 0)
		return;
	qsort(s, n, sizeof *s, cmp_u64);
#define PCT(q) \
	(fmax(0.0, (double)s[(size_t)((q) * (double)(n - 1) + 0.5)] - timer_ticks) / tpn)
	out->p50 = PCT(0.50);
	out->p90 = PCT(0.90);
	out->p99 = PCT(0.99);
	out->p999 = PCT(0.999);
	out->p9999 = PCT(0.9999);
	out->max = PCT(1.0);
#undef PCT
	out->timer_ns = timer_ticks / tpn;
	out->n = n;
}

void stat_summarize(const double *v, int n, struct stat_summary *o)
{
	double tmp[BENCH_MAX_REPS], sum = 0, sq = 0;

	memset(o, 0, sizeof *o);
	if (n <= 0)
		return;
	memcpy(tmp, v, (size_t)n * sizeof *v);
	qsort(tmp, (size_t)n, sizeof *tmp, cmp_dbl);
	o->n = n;
	o->min = tmp[0];
	o->max = tmp[n - 1];
	o->median = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
	for (int i = 0; i < n; i++)
		sum += v[i];
	o->mean = sum / n;
	for (int i = 0; i < n; i++)
		sq += (v[i] - o->mean) * (v[i] - o->mean);
	o->stddev = n > 1 ? sqrt(sq / (n - 1)) : 0;
	o->cv = o->mean != 0 ? o->stddev / fabs(o->mean) : 0;
}

/* ---- threads and pinning --------------------------------------------------------- */

static bool pin_on;
static hwloc_topology_t topo;
static int npus;

void bench_pin_enable(bool on)
{
	pin_on = on;
	if (on && topo == NULL) {
		hwloc_topology_init(&topo);
		hwloc_topology_load(topo);
		npus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
	}
}

int bench_pin_self(int index)
{
	hwloc_obj_t pu;

	if (!pin_on || npus <= 0)
		return 0;
	pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, (unsigned)(index % npus));
	if (pu == NULL || hwloc_set_cpubind(topo, pu->cpuset, HWLOC_CPUBIND_THREAD) < 0)
		return -errno;
	return 0;
}

struct bench_threads {
	int n;
	pthread_t *tid;
	pthread_barrier_t barrier;
};

void bench_thread_enter(struct bench_thread_hdr *h)
{
	bench_pin_self(h->index);
	pthread_barrier_wait(&h->t->barrier);
}

struct bench_threads *bench_threads_start(int n, void *(*fn)(void *), void *args,
					  size_t arg_size, size_t stack_size)
{
	struct bench_threads *t = calloc(1, sizeof *t);
	pthread_attr_t attr;

	if (t == NULL || (t->tid = calloc((size_t)n, sizeof *t->tid)) == NULL) {
		fprintf(stderr, "ttlog-bench: out of memory starting %d threads\n", n);
		exit(1);
	}
	t->n = n;
	/* the threads and the caller meet at the barrier: the caller releases them all */
	pthread_barrier_init(&t->barrier, NULL, (unsigned)n + 1);
	pthread_attr_init(&attr);
	if (stack_size)
		pthread_attr_setstacksize(&attr, stack_size);
	for (int i = 0; i < n; i++) {
		struct bench_thread_hdr *h = (void *)((char *)args + (size_t)i * arg_size);
		h->t = t;
		h->index = i;
	}
	for (int i = 0; i < n; i++) {
		int err = pthread_create(&t->tid[i], &attr, fn, (char *)args + (size_t)i * arg_size);
		if (err != 0) {
			fprintf(stderr, "ttlog-bench: pthread_create %d of %d: %s\n", i, n,
				strerror(err));
			exit(1);
		}
	}
	pthread_attr_destroy(&attr);
	pthread_barrier_wait(&t->barrier);
	return t;
}

void bench_threads_join(struct bench_threads *t)
{
	for (int i = 0; i < t->n; i++)
		pthread_join(t->tid[i], NULL);
	pthread_barrier_destroy(&t->barrier);
	free(t->tid);
	free(t);
}

/* ---- memory ---------------------------------------------------------------------- */

uint64_t bench_rss_bytes(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t bench_hwm_bytes(void)
{
	char line[128];
	unsigned long kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* ---- results --------------------------------------------------------------------- */

struct figure *bench_figures;
int bench_nfigures;
static int cap_figures;
char bench_run_notes[32][240];
int bench_nrun_notes;

static struct figure *fig_get(const char *experiment, const char *impl, const char *kind,
			      const char *config, double x, const char *metric,
			      const char *unit, bool hb)
{
	struct figure *f;

	for (int i = 0; i < bench_nfigures; i++) {
		f = &bench_figures[i];
		if (strcmp(f->experiment, experiment) == 0 && strcmp(f->impl, impl) == 0 &&
		    strcmp(f->config, config) == 0 && strcmp(f->metric, metric) == 0)
			return f;
	}
	if (bench_nfigures == cap_figures) {
		cap_figures = cap_figures ? 2 * cap_figures : 256;
		bench_figures = realloc(bench_figures, (size_t)cap_figures * sizeof *f);
		if (bench_figures == NULL) {
			fprintf(stderr, "ttlog-bench: out of memory (results)\n");
			exit(1);
		}
	}
	f = &bench_figures[bench_nfigures++];
	memset(f, 0, sizeof *f);
	snprintf(f->experiment, sizeof f->experiment, "%s", experiment);
	snprintf(f->impl, sizeof f->impl, "%s", impl);
	snprintf(f->kind, sizeof f->kind, "%s", kind);
	snprintf(f->config, sizeof f->config, "%s", config);
	snprintf(f->metric, sizeof f->metric, "%s", metric);
	snprintf(f->unit, sizeof f->unit, "%s", unit);
	f->x = x;
	f->higher_better = hb;
	return f;
}

void res_add(const char *experiment, const char *impl, const char *kind, const char *config,
	     double x, const char *metric, const char *unit, bool hb, double value)
{
	struct figure *f = fig_get(experiment, impl, kind, config, x, metric, unit, hb);

	if (f->n < BENCH_MAX_REPS)
		f->values[f->n++] = value;
}

void res_note(const char *experiment, const char *impl, const char *fmt, ...)
{
	char buf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (int i = 0; i < bench_nfigures; i++)
		if (strcmp(bench_figures[i].experiment, experiment) == 0 &&
		    strcmp(bench_figures[i].impl, impl) == 0)
			snprintf(bench_figures[i].note, sizeof bench_figures[i].note, "%s", buf);
}

void run_note(const char *fmt, ...)
{
	va_list ap;

	if (bench_nrun_notes >= 32)
		return;
	va_start(ap, fmt);
	vsnprintf(bench_run_notes[bench_nrun_notes], sizeof bench_run_notes[0], fmt, ap);
	va_end(ap);
	for (int i = 0; i < bench_nrun_notes; i++)
		if (strcmp(bench_run_notes[i], bench_run_notes[bench_nrun_notes]) == 0)
			return; /* said already */
	fprintf(stderr, "ttlog-bench: note: %s\n", bench_run_notes[bench_nrun_notes]);
	bench_nrun_notes++;
}

/* ---- helper programs ------------------------------------------------------------- */

int bench_run_helper(const char *cmd, const char *const *keys, double *values, int nkeys,
		     char *err, size_t errlen)
{
	char line[1024], last[1024] = "";
	int found = 0, status;
	FILE *p = popen(cmd, "r");

	if (p == NULL) {
		snprintf(err, errlen, "popen: %s", strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, p) != NULL)
		if (strchr(line, '=') != NULL)
			memcpy(last, line, sizeof last);
	status = pclose(p);
	if (status != 0) {
		snprintf(err, errlen, "'%.120s' exited with status %d", cmd, status);
		return -1;
	}
	for (int i = 0; i < nkeys; i++) {
		char pat[64];
		const char *at;
		snprintf(pat, sizeof pat, "%s=", keys[i]);
		at = strstr(last, pat);
		/* a key must start the line or follow a space */
		while (at != NULL && at != last && at[-1] != ' ')
			at = strstr(at + 1, pat);
		if (at != NULL) {
			values[i] = strtod(at + strlen(pat), NULL);
			found++;
		}
	}
	if (found < nkeys)
		snprintf(err, errlen, "'%.120s' printed '%.200s'", cmd, last);
	return found;
}
