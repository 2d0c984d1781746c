/*
 * stress.h - what the stress programs share: failing loudly, the checked event every
 * stress thread logs (thread, sequence, checksum, tag), verifying a snapshot file of such
 * events with the reader API, snapshot directories, /proc probes and the reliability CSV.
 *
 * Each program is one translation unit that includes this header once; the functions are
 * static. Failure is always loud: a message naming the scenario on stderr and exit 1.
 */
#ifndef TTLOG_STRESS_H
#define TTLOG_STRESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ttlog/reader.h>
#include <ttlog/ttlog.h>

#include "../tests/rmdir.h"

/* ---- failing loudly ---------------------------------------------------------------- */

/* "scenario/variant" of the running check; set by the program before each case. */
static char st_what[160] = "stress";
static int st_err_fd = 2; /* where failures are written (a test may redirect stderr) */

static inline void st_set_what(const char *scenario, const char *variant)
{
	snprintf(st_what, sizeof st_what, "%s/%s", scenario, variant ? variant : "-");
}

__attribute__((format(printf, 1, 2), noreturn)) static inline void st_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* one write, so that lines of several processes do not interleave */
	char line[1300];
	n = snprintf(line, sizeof line, "STRESS FAIL [%s] %s\n", st_what, msg);
	if (n > 0) {
		ssize_t rc = write(st_err_fd, line,
				   (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
		(void)rc;
	}
	_exit(1); /* from any thread or child: no atexit handlers, no buffered output */
}

#define ST_CHECK(cond, ...)                 \
	do {                                \
		if (!(cond))                \
			st_fail(__VA_ARGS__); \
	} while (0)

/* ---- small things ------------------------------------------------------------------ */

#include <pthread.h>

/* A hang is a failure too: after `seconds` the process fails with `what` (no check on
 * speed: the limit is many times what the run needs). */
static unsigned st_watchdog_s;
static void *st_watchdog_main(void *arg)
{
	const char *what = arg;
	struct timespec ts = {(time_t)st_watchdog_s, 0};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	st_fail("hung: %s did not finish within %u s (watchdog)", what, st_watchdog_s);
}

static inline void st_watchdog(unsigned seconds, const char *what)
{
	pthread_t th;
	sigset_t all, old;

	st_watchdog_s = seconds;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* the watchdog takes no signals */
	pthread_create(&th, NULL, st_watchdog_main, (void *)what);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_detach(th);
}

static inline uint32_t st_gettid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

static inline uint64_t st_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t st_t0_ns; /* CLOCK_MONOTONIC at the first note */

/* A line on stderr: "[scenario/variant +seconds] text". */
__attribute__((format(printf, 1, 2))) static inline void st_note(const char *fmt, ...)
{
	char msg[1024];
	uint64_t now = st_now_ns();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (st_t0_ns == 0)
		st_t0_ns = now;
	fprintf(stderr, "[%s +%.1fs] %s\n", st_what, (double)(now - st_t0_ns) / 1e9, msg);
}

static inline void st_sleep_us(uint64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* xorshift64*: per-thread, seeded from the run's seed, so a run can be repeated. */
static inline uint64_t st_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static inline uint64_t st_seed_mix(uint64_t seed, uint64_t i)
{
	uint64_t x = seed ^ (i * 0x9e3779b97f4a7c15ull) ^ 0x5851f42d4c957f2dull;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return x ? x : 1;
}

/* ---- the checked event ------------------------------------------------------------- */

/*
 * Every stress event is (t, seq, check, tag): logical thread t (0 is the signal-handler
 * stream), its sequence number, a checksum of both, and a 12-character tag derived from
 * the checksum, so that a record torn between two events (or a string cut wrongly) shows.
 * Logical thread numbers are never reused, kernel tids are: t is the identity.
 */
static inline uint64_t st_check_of(uint64_t t, uint64_t seq)
{
	uint64_t x = (t << 40) ^ seq ^ 0x9e3779b97f4a7c15ull;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

#define ST_TAG_LEN 12
#define ST_LONG_TAG_LEN 30 /* does not fit a 64-byte record next to three u64: cut */

/* The tag: hex digits of check, len of them (a long tag repeats them). */
static inline void st_tag_of(uint64_t check, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++)
		out[i] = hex[(check >> (4 * (i % 16))) & 15];
	out[len] = '\0';
}

/* The three shapes: a macro call site at INFO, one at DEBUG with a long tag (truncated),
 * and a runtime-built one (ttlog_builder) with the same field names. */
#define ST_LOG_INFO(t, s)                                                                   \
	do {                                                                                \
		uint64_t c_ = st_check_of((t), (s));                                        \
		char tag_[ST_TAG_LEN + 1];                                                  \
		st_tag_of(c_, tag_, ST_TAG_LEN);                                            \
		TTLOG_INFO("stress", "t{} s{} c{} {}", TTLOG_U64("t", (t)), TTLOG_U64("seq", (s)), \
			   TTLOG_U64("check", c_), TTLOG_STR("tag", tag_));                 \
	} while (0)

#define ST_LOG_LONG(t, s)                                                                    \
	do {                                                                                 \
		uint64_t c_ = st_check_of((t), (s));                                         \
		char tag_[ST_LONG_TAG_LEN + 1];                                              \
		st_tag_of(c_, tag_, ST_LONG_TAG_LEN);                                        \
		TTLOG_DEBUG("stress-long", "t{} s{} c{} {}", TTLOG_U64("t", (t)),             \
			    TTLOG_U64("seq", (s)), TTLOG_U64("check", c_), TTLOG_STR("tag", tag_)); \
	} while (0)

/* Returns what ttlog_builder_commit returned (0 logged). */
static inline int st_log_built(uint64_t t, uint64_t s)
{
	uint64_t c = st_check_of(t, s);
	char tag[ST_TAG_LEN + 1];
	ttlog_builder b;

	st_tag_of(c, tag, ST_TAG_LEN);
	ttlog_builder_begin(&b, TTLOG_LEVEL_WARN, "stress-built", "t{} s{} c{} {}");
	ttlog_builder_u64(&b, "t", t);
	ttlog_builder_u64(&b, "seq", s);
	ttlog_builder_u64(&b, "check", c);
	ttlog_builder_str(&b, "tag", tag);
	return ttlog_builder_commit(&b);
}

/* ---- starting ttlog ----------------------------------------------------------------- */

/* The defaults (and the TTLOG_* environment), then what every stress program sets: the
 * variant, the service (NULL: the environment's or the program's), the directory, the
 * capacity, and level trace, so that a TTLOG_LEVEL in the environment cannot filter the
 * checked events. */
static inline void st_config(ttlog_config *cfg, const char *variant, const char *service,
			     const char *dir, size_t capacity)
{
	ttlog_config_default(cfg);
	cfg->variant = variant;
	if (service != NULL)
		cfg->service = service;
	cfg->snapshot_dir = dir;
	cfg->capacity = capacity;
	cfg->level = TTLOG_LEVEL_TRACE;
}

/* ttlog_init(cfg), failing loudly. */
static inline void st_start(const ttlog_config *cfg)
{
	int rc = ttlog_init(cfg);
	ST_CHECK(rc == 0, "ttlog_init(%s, %s): %d %s (%s)", cfg->variant ? cfg->variant : "-",
		 cfg->snapshot_dir, rc, ttlog_strerror(rc), ttlog_errmsg());
}

/* ---- logical threads ---------------------------------------------------------------- */

/*
 * Who logged what. A thread's slot is written by that thread only: tid once before its
 * first event, count after each event returns (release: pairs with the verifier's
 * acquire, so an event the verifier can count is complete in the ring). The verifier and
 * the snapshot threads read them.
 */
struct st_threads {
	size_t max;
	_Atomic uint64_t assigned; /* logical threads handed out, including 0 */
	_Atomic uint32_t *tid;
	_Atomic uint64_t *count;   /* events logged by t (for t = 0: signal events) */
	_Atomic uint64_t *lng;     /* of which long-tag events (truncated) */
};

static inline void st_threads_init(struct st_threads *T, size_t max)
{
	T->max = max;
	atomic_init(&T->assigned, 1); /* 0: the signal stream */
	T->tid = calloc(max, sizeof *T->tid);
	T->count = calloc(max, sizeof *T->count);
	T->lng = calloc(max, sizeof *T->lng);
	ST_CHECK(T->tid && T->count && T->lng, "out of memory for %zu threads", max);
}

/* The same in memory shared with the children forked afterwards (the parent verifies
 * what a child logged). Never freed: the program's life. */
static inline void *st_shared(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ST_CHECK(p != MAP_FAILED, "mmap %zu shared bytes: %s", bytes, strerror(errno));
	return p;
}

static inline void st_threads_init_shared(struct st_threads *T, size_t max)
{
	T->max = max;
	atomic_init(&T->assigned, 1);
	T->tid = st_shared(max * sizeof *T->tid);
	T->count = st_shared(max * sizeof *T->count);
	T->lng = st_shared(max * sizeof *T->lng);
}

/* Forget every thread (shared tables are reused from one child to the next). */
static inline void st_threads_reset(struct st_threads *T)
{
	memset((void *)T->tid, 0, T->max * sizeof *T->tid);
	memset((void *)T->count, 0, T->max * sizeof *T->count);
	memset((void *)T->lng, 0, T->max * sizeof *T->lng);
	atomic_store(&T->assigned, 1);
}

static inline void st_threads_free(struct st_threads *T)
{
	free((void *)T->tid);
	free((void *)T->count);
	free((void *)T->lng);
}

/* A new logical thread number, or 0 when the table is full. */
static inline uint64_t st_thread_new(struct st_threads *T)
{
	uint64_t t = atomic_fetch_add(&T->assigned, 1);
	return t < T->max ? t : 0;
}

/* Sum of every count now (a lower bound of what any later snapshot accounts for). */
static inline uint64_t st_total(struct st_threads *T, uint64_t *lng)
{
	uint64_t n = atomic_load(&T->assigned), sum = 0, l = 0;
	if (n > T->max)
		n = T->max;
	for (uint64_t t = 0; t < n; t++) {
		sum += atomic_load_explicit(&T->count[t], memory_order_acquire);
		l += atomic_load_explicit(&T->lng[t], memory_order_relaxed);
	}
	if (lng)
		*lng = l;
	return sum;
}

/* ---- verifying a snapshot of stress events ---------------------------------------- */

struct st_verifier {
	struct st_threads *T;
	const char *variant; /* expected variant name */
	const char *service;
	uint64_t gen;
	uint64_t *seen_gen;  /* per logical thread: gen of the snapshot that last saw it */
	uint64_t *last_seq;
	uint64_t *last_ts;
	uint64_t *kept_t;    /* per logical thread: events of t in the current file */
	/* totals over every file verified */
	uint64_t files, events;
};

struct st_result {
	ttlog_snapshot_counters c;
	uint64_t created_ns, events, stress_events, long_events, pid;
	char reason[48];
};

static inline void st_verifier_init(struct st_verifier *V, struct st_threads *T, const char *variant,
			     const char *service)
{
	memset(V, 0, sizeof *V);
	V->T = T;
	V->variant = variant;
	V->service = service;
	V->seen_gen = calloc(T->max, sizeof *V->seen_gen);
	V->last_seq = calloc(T->max, sizeof *V->last_seq);
	V->last_ts = calloc(T->max, sizeof *V->last_ts);
	V->kept_t = calloc(T->max, sizeof *V->kept_t);
	ST_CHECK(V->seen_gen && V->last_seq && V->last_ts && V->kept_t, "out of memory");
}

static inline void st_verifier_free(struct st_verifier *V)
{
	free(V->seen_gen);
	free(V->last_seq);
	free(V->last_ts);
	free(V->kept_t);
}

static inline bool st_is_stress_shape(const ttlog_event *ev)
{
	return ev->nfields == 4 && strcmp(ev->fields[0].name, "t") == 0 &&
	       strcmp(ev->fields[1].name, "seq") == 0 && strcmp(ev->fields[2].name, "check") == 0 &&
	       strcmp(ev->fields[3].name, "tag") == 0 && ev->fields[0].type == TTLOG_TYPE_U64 &&
	       ev->fields[1].type == TTLOG_TYPE_U64 && ev->fields[2].type == TTLOG_TYPE_U64 &&
	       ev->fields[3].type == TTLOG_TYPE_STR;
}

/*
 * Check one stress event of file `path`: intact (checksum, tag, thread id), in order after
 * the previous event of its thread in this file, and not newer than what the thread had
 * logged when we look (the file was complete before, so every event in it was logged).
 */
static inline void st_verify_event(struct st_verifier *V, const char *path, size_t idx,
			    const ttlog_event *ev, bool *is_long)
{
	struct st_threads *T = V->T;
	uint64_t t = ev->fields[0].v.u64, seq = ev->fields[1].v.u64, check = ev->fields[2].v.u64;
	char want[ST_LONG_TAG_LEN + 1];
	uint64_t assigned = atomic_load(&T->assigned);

	ST_CHECK(t < assigned && t < T->max,
		 "%s: event %zu: thread %" PRIu64 " was never started (torn record?)", path, idx, t);
	ST_CHECK(check == st_check_of(t, seq),
		 "%s: event %zu: torn record: thread %" PRIu64 " seq %" PRIu64
		 " check %016" PRIx64 " want %016" PRIx64,
		 path, idx, t, seq, check, st_check_of(t, seq));
	*is_long = strcmp(ev->target, "stress-long") == 0;
	st_tag_of(check, want, *is_long ? ST_LONG_TAG_LEN : ST_TAG_LEN);
	if (*is_long) {
		/* cut to what fits, flagged, and a prefix of the real tag */
		size_t n = ev->fields[3].v.str.len;
		ST_CHECK(ev->fields[3].truncated && n < ST_LONG_TAG_LEN && n > 0 &&
				 memcmp(ev->fields[3].v.str.ptr, want, n) == 0,
			 "%s: event %zu: long tag of thread %" PRIu64 " seq %" PRIu64
			 " not cut cleanly (len %zu, flagged %d)",
			 path, idx, t, seq, n, ev->fields[3].truncated);
	} else {
		ST_CHECK(ev->fields[3].v.str.len == ST_TAG_LEN && !ev->fields[3].truncated &&
				 memcmp(ev->fields[3].v.str.ptr, want, ST_TAG_LEN) == 0,
			 "%s: event %zu: torn tag: thread %" PRIu64 " seq %" PRIu64 " tag '%.*s' want '%s'",
			 path, idx, t, seq, (int)ev->fields[3].v.str.len, ev->fields[3].v.str.ptr, want);
	}
	uint64_t logged = atomic_load_explicit(&T->count[t], memory_order_acquire);
	/* the signal stream counts before logging, threads after: both bound seq */
	ST_CHECK(seq < logged + (t == 0 ? 0 : 1),
		 "%s: event %zu: thread %" PRIu64 " seq %" PRIu64 " but only %" PRIu64
		 " events were logged (invented event)",
		 path, idx, t, seq, logged);
	if (t == 0)
		return; /* handlers on several threads: no order, no single tid */
	uint32_t tid = atomic_load(&T->tid[t]);
	ST_CHECK(ev->thread_id == tid,
		 "%s: event %zu: thread %" PRIu64 " seq %" PRIu64 " has tid %u, the thread is %u",
		 path, idx, t, seq, ev->thread_id, tid);
	if (V->seen_gen[t] == V->gen) {
		ST_CHECK(seq > V->last_seq[t],
			 "%s: event %zu: thread %" PRIu64 ": seq %" PRIu64 " after %" PRIu64
			 " (duplicate or reordered)",
			 path, idx, t, seq, V->last_seq[t]);
		ST_CHECK(ev->timestamp_ns >= V->last_ts[t],
			 "%s: event %zu: thread %" PRIu64 " seq %" PRIu64
			 ": timestamp goes back (%" PRIu64 " < %" PRIu64 ")",
			 path, idx, t, seq, ev->timestamp_ns, V->last_ts[t]);
	} else {
		V->seen_gen[t] = V->gen;
		V->kept_t[t] = 0;
	}
	V->last_seq[t] = seq;
	V->last_ts[t] = ev->timestamp_ns;
	V->kept_t[t]++;
}

/*
 * Open `path` with the reader and check every event and the counters. Events of other
 * shapes are allowed only with a target in `other_targets` (NULL-terminated, may be NULL).
 * Fills *r. Any problem is fatal.
 */
static inline void st_verify_file(struct st_verifier *V, const char *path,
			   const char *const *other_targets, struct st_result *r)
{
	ttlog_snapshot_file *s = NULL;
	ttlog_event ev;
	size_t idx = 0;
	int rc = ttlog_snapshot_open(path, &s);

	ST_CHECK(rc == 0, "%s: cannot be read: %d %s", path, rc, ttlog_reader_errmsg());
	memset(r, 0, sizeof *r);
	V->gen++;
	ttlog_snapshot_get_counters(s, &r->c);
	r->created_ns = ttlog_snapshot_created_ns(s);
	r->pid = ttlog_snapshot_pid(s);
	snprintf(r->reason, sizeof r->reason, "%s", ttlog_snapshot_reason(s));
	if (V->variant)
		ST_CHECK(strcmp(ttlog_snapshot_variant(s), V->variant) == 0,
			 "%s: variant '%s', want '%s'", path, ttlog_snapshot_variant(s), V->variant);
	if (V->service)
		ST_CHECK(strcmp(ttlog_snapshot_service(s), V->service) == 0,
			 "%s: service '%s', want '%s'", path, ttlog_snapshot_service(s), V->service);
	while (ttlog_snapshot_next(s, &ev) == 1) {
		bool is_long = false;
		if (st_is_stress_shape(&ev)) {
			st_verify_event(V, path, idx, &ev, &is_long);
			r->stress_events++;
			r->long_events += is_long;
		} else {
			bool ok = false;
			for (size_t k = 0; other_targets && other_targets[k]; k++)
				ok |= strcmp(ev.target, other_targets[k]) == 0;
			ST_CHECK(ok, "%s: event %zu: unexpected event target '%s' message '%s'", path,
				 idx, ev.target, ev.message);
		}
		idx++;
	}
	r->events = idx;
	ST_CHECK(idx == ttlog_snapshot_event_count(s) && idx == r->c.kept,
		 "%s: %zu events iterated, event_count %zu, counters.kept %" PRIu64, path, idx,
		 ttlog_snapshot_event_count(s), r->c.kept);
	ST_CHECK(r->c.logged == r->c.kept + r->c.overwritten + r->c.dropped,
		 "%s: unbalanced: logged %" PRIu64 " != kept %" PRIu64 " + overwritten %" PRIu64
		 " + dropped %" PRIu64,
		 path, r->c.logged, r->c.kept, r->c.overwritten, r->c.dropped);
	V->files++;
	V->events += idx;
	ttlog_snapshot_close(s);
}

/* ---- directories -------------------------------------------------------------------- */

static inline void st_mkdtemp(char *buf, size_t len, const char *what)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, len, "%s/ttlog-stress-%s-XXXXXX", t ? t : "/tmp", what);
	ST_CHECK(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
}

/* Remove the files of dir (one level) and dir. */
static inline void st_rmdir(const char *dir)
{
	ttlog_rm_scratch_dir(dir);
}

static inline bool st_has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

static inline bool st_is_snapshot_name(const char *name)
{
	size_t l = strlen(name);
	return st_has_prefix(name, "ttlog-") && l > 10 && strcmp(name + l - 4, ".bin") == 0;
}

/* Entries of dir whose name starts with prefix (".ttlog-tmp-", "ttlog-", ...); for
 * "ttlog-" only complete snapshot names count. -1 if dir cannot be read. */
static inline int st_count(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (!st_has_prefix(de->d_name, prefix))
			continue;
		if (strcmp(prefix, "ttlog-") == 0 && !st_is_snapshot_name(de->d_name))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

/* The snapshot file names of dir, sorted, NULL-terminated; free with st_free_list. */
static inline int st_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline char **st_list_snapshots(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (!st_is_snapshot_name(de->d_name))
				continue;
			if (n + 2 > cap) {
				cap = cap ? cap * 2 : 64;
				v = realloc(v, cap * sizeof *v);
				ST_CHECK(v != NULL, "out of memory");
			}
			v[n++] = strdup(de->d_name);
		}
		closedir(d);
	}
	if (v == NULL) {
		v = calloc(1, sizeof *v);
		ST_CHECK(v != NULL, "out of memory");
	}
	v[n] = NULL;
	qsort(v, n, sizeof *v, st_cmp_str);
	if (count)
		*count = n;
	return v;
}

static inline void st_free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* ---- /proc probes ------------------------------------------------------------------- */

static inline int st_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* What a process is writing in a snapshot directory: its unpublished temporary files. */
struct st_writing {
	int anon;  /* O_TMPFILE files, not linked yet */
	int named; /* .ttlog-tmp-* files */
};

/* Is descriptor fd of process pid (as "/proc/<pid>") open for writing? */
static inline bool st_fd_writable(const char *proc, const char *fd)
{
	char path[128], line[128];
	unsigned long flags = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof path, "%s/fdinfo/%s", proc, fd);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = sscanf(line, "flags: %lo", &flags) == 1;
	fclose(f);
	return found && (flags & O_ACCMODE) != O_RDONLY;
}

/*
 * The snapshot temporary files process pid (0: this one) has open for writing in dir, seen
 * through /proc/<pid>/fd, whichever way core/snapfile.c made them: an O_TMPFILE file links
 * to "<dir>/#<inode> (deleted)" and counts until it has a name (st_nlink 0: once linked it
 * is complete); a named one links to "<dir>/.ttlog-tmp-*" until it is renamed. Read-only
 * descriptors (a cleaner looking at a named file) do not count. The number of files, or
 * -1 when /proc/<pid>/fd cannot be read (the process is gone).
 */
static inline int st_writing(pid_t pid, const char *dir, struct st_writing *w)
{
	char proc[64], real[4096], link[4200], path[128];
	struct dirent *de;
	struct stat st;
	size_t l;
	DIR *d;

	memset(w, 0, sizeof *w);
	if (realpath(dir, real) == NULL)
		return -1;
	l = strlen(real);
	if (pid > 0)
		snprintf(proc, sizeof proc, "/proc/%d", (int)pid);
	else
		snprintf(proc, sizeof proc, "/proc/self");
	snprintf(path, sizeof path, "%s/fd", proc);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		ssize_t n;
		const char *rest;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/fd/%s", proc, de->d_name);
		if ((n = readlink(path, link, sizeof link - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, real, l) != 0 || link[l] != '/')
			continue;
		rest = link + l + 1;
		if (rest[0] == '#') {
			/* stat follows the /proc link to the file, named or not */
			if (stat(path, &st) == 0 && st.st_nlink == 0 &&
			    st_fd_writable(proc, de->d_name))
				w->anon++;
		} else if (strncmp(rest, ".ttlog-tmp-", 11) == 0 &&
			   strstr(rest, " (deleted)") == NULL && st_fd_writable(proc, de->d_name)) {
			w->named++;
		}
	}
	closedir(d);
	return w->anon + w->named;
}

/* Does dir take O_TMPFILE files (then ttlog writes its snapshots that way)? */
static inline bool st_dir_has_tmpfile(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Tests only (core/snapfile.c): 1 makes ttlog write its snapshots through named
 * temporary files, as on a file system without O_TMPFILE. The stress programs link the
 * static library, so the internal symbol is there. */
extern int ttlog__test_no_tmpfile;

static inline long st_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- the reliability table ---------------------------------------------------------- */

struct st_row {
	const char *scenario, *variant;
	uint64_t runs, faults, survived, logged, kept, overwritten, dropped;
};

/*
 * Append one row to the CSV named by $TTLOG_STRESS_CSV (nothing when unset), with one
 * O_APPEND write so rows of concurrent processes stay whole. unaccounted = logged - kept -
 * overwritten - dropped: the caller has already failed if it is not 0; it is printed so
 * that the table shows it.
 */
static inline void st_row_write(const struct st_row *r)
{
	const char *csv = getenv("TTLOG_STRESS_CSV");
	/* a variant run in another setting (numa under a synthetic topology) is named so */
	const char *label = getenv("TTLOG_STRESS_VARIANT_LABEL");
	const char *variant = label != NULL && label[0] != '\0' ? label : r->variant;
	char line[512];
	int64_t unaccounted = (int64_t)(r->logged - r->kept - r->overwritten - r->dropped);
	int n, fd;

	fprintf(stderr,
		"[%s/%s] runs %" PRIu64 " faults %" PRIu64 " survived %" PRIu64 " logged %" PRIu64
		" kept %" PRIu64 " overwritten %" PRIu64 " dropped %" PRIu64 " unaccounted %" PRId64
		"\n",
		r->scenario, variant, r->runs, r->faults, r->survived, r->logged, r->kept,
		r->overwritten, r->dropped, unaccounted);
	ST_CHECK(unaccounted == 0, "%s/%s: %" PRId64 " events unaccounted", r->scenario, variant,
		 unaccounted);
	if (csv == NULL || csv[0] == '\0')
		return;
	n = snprintf(line, sizeof line,
		     "%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		     ",%" PRIu64 ",%" PRId64 "\n",
		     r->scenario, variant, r->runs, r->faults, r->survived, r->logged, r->kept,
		     r->overwritten, r->dropped, unaccounted);
	fd = open(csv, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	ST_CHECK(fd >= 0, "%s: %s", csv, strerror(errno));
	ST_CHECK(write(fd, line, (size_t)n) == n, "%s: short write", csv);
	close(fd);
}

/* ---- command line ------------------------------------------------------------------- */

/* --name=value or --name value; returns the value or NULL. */
static inline const char *st_arg(int argc, char **argv, const char *name)
{
	size_t l = strlen(name);
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], name, l) != 0)
			continue;
		if (argv[i][l] == '=')
			return argv[i] + l + 1;
		if (argv[i][l] == '\0' && i + 1 < argc)
			return argv[i + 1];
	}
	return NULL;
}

static inline uint64_t st_arg_u64(int argc, char **argv, const char *name, uint64_t def)
{
	const char *v = st_arg(argc, argv, name);
	char *end;
	uint64_t x;

	if (v == NULL)
		return def;
	errno = 0;
	x = strtoull(v, &end, 0);
	ST_CHECK(errno == 0 && *end == '\0' && end != v, "bad value for %s: '%s'", name, v);
	return x;
}

static inline bool st_quick(void)
{
	const char *q = getenv("QUICK");
	return q != NULL && q[0] != '\0' && strcmp(q, "0") != 0;
}

#endif /* TTLOG_STRESS_H */
