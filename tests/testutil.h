/*
 * testutil.h - helpers shared by the library tests: a fresh snapshot directory per test,
 * starting ttlog in it, finding and reading back snapshots.
 */
#ifndef TTLOG_TESTUTIL_H
#define TTLOG_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rmdir.h"

#include <ttlog/reader.h>
#include <ttlog/ttlog.h>

#ifndef TTLOG_TEST_VARIANT
#define TTLOG_TEST_VARIANT "mpmc"
#endif

static inline int tu_quick(void)
{
	const char *q = getenv("TTLOG_TEST_QUICK");
	return q != NULL && q[0] == '1';
}

/* the sanitizer this binary runs under ("asan", "tsan" or "") */
static inline const char *tu_san(void)
{
	const char *s = getenv("TTLOG_TEST_SAN");
	return s != NULL ? s : "";
}

/*
 * Waiting for another thread or process: poll a condition, never sleep a fixed time. The
 * deadline only catches a hang: on a loaded machine a thread may wait seconds to be
 * scheduled, so TU_HANG_S is far beyond any real wait, and the failure names what never
 * happened.
 */
#define TU_HANG_S 300

static inline uint64_t tu_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* Poll cond (an expression) every millisecond until it holds; fail with "what" after
 * TU_HANG_S seconds. */
#define tu_wait_for(cond, what)                                                            \
	do {                                                                               \
		const uint64_t tu_deadline_ = tu_now_ms() + TU_HANG_S * 1000u;             \
		while (!(cond)) {                                                          \
			if (tu_now_ms() > tu_deadline_)                                    \
				fail_msg("hung: %s not seen in %d s", what, TU_HANG_S);    \
			usleep(1000);                                                      \
		}                                                                          \
	} while (0)

/* A new empty directory under $TMPDIR; the path lives in buf. */
static inline void tu_mkdir(char *buf, size_t len)
{
	const char *t = getenv("TMPDIR");
	snprintf(buf, len, "%s/ttlog-test-XXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(buf));
}

/* The scratch directory of a test run with tu_setup / tu_teardown as its cmocka fixtures:
 * new and empty for each test, removed after it with ttlog stopped. */
static char tu_dir[4096] __attribute__((unused));

static inline int tu_setup(void **state)
{
	(void)state;
	tu_mkdir(tu_dir, sizeof tu_dir);
	return 0;
}

static inline void tu_rmdir(const char *dir);
static inline int tu_teardown(void **state)
{
	(void)state;
	ttlog_shutdown();
	tu_rmdir(tu_dir);
	return 0;
}

/* Remove every file in dir and dir itself. */
static inline void tu_rmdir(const char *dir)
{
	ttlog_rm_scratch_dir(dir);
}

/* Count the entries of dir whose name starts with prefix and ends with suffix. */
static inline int tu_count(const char *dir, const char *prefix, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1; /* a removed directory holds nothing */
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && l >= sl &&
		    strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The path of the only/any snapshot whose name contains `part`, or "" */
static inline void tu_find(const char *dir, const char *part, char *out, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	out[0] = '\0';
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (strncmp(de->d_name, "ttlog-", 6) == 0 && l > 4 &&
		    strcmp(de->d_name + l - 4, ".bin") == 0 && strstr(de->d_name, part) != NULL)
			snprintf(out, len, "%s/%s", dir, de->d_name);
	}
	closedir(d);
}

/* The tests' configuration: the defaults (environment included), snapshots in dir,
 * capacity, policy, service "test". */
static inline void tu_config(ttlog_config *cfg, const char *dir, size_t capacity, int policy)
{
	assert_int_equal(ttlog_config_default(cfg), 0);
	cfg->snapshot_dir = dir;
	cfg->capacity = capacity;
	cfg->policy = policy;
	cfg->service = "test";
}

/* ttlog_init(cfg), asserting success. */
static inline void tu_init(const ttlog_config *cfg)
{
	int rc = ttlog_init(cfg);

	if (rc != 0)
		fail_msg("ttlog_init: %d %s (%s)", rc, ttlog_strerror(rc), ttlog_errmsg());
}

/* Start ttlog on dir with capacity and policy, asserting success. */
static inline void tu_start(const char *dir, size_t capacity, int policy)
{
	ttlog_config cfg;

	tu_config(&cfg, dir, capacity, policy);
	tu_init(&cfg);
}

/* Take a synchronous snapshot and open it. */
static inline ttlog_snapshot_file *tu_snapshot(const char *reason)
{
	char path[4096];
	ttlog_snapshot_file *s = NULL;
	int rc = ttlog_snapshot(reason, path, sizeof path);

	if (rc != 0)
		fail_msg("ttlog_snapshot: %d %s", rc, ttlog_strerror(rc));
	rc = ttlog_snapshot_open(path, &s);
	if (rc != 0)
		fail_msg("ttlog_snapshot_open(%s): %d %s", path, rc, ttlog_reader_errmsg());
	return s;
}

/* logged = kept + overwritten + dropped, printed both sides when it fails */
static inline void tu_assert_balanced(const ttlog_snapshot_file *s)
{
	ttlog_snapshot_counters c;
	ttlog_snapshot_get_counters(s, &c);
	if (c.logged != c.kept + c.overwritten + c.dropped)
		fail_msg("unbalanced: logged %llu != kept %llu + overwritten %llu + dropped %llu",
			 (unsigned long long)c.logged, (unsigned long long)c.kept,
			 (unsigned long long)c.overwritten, (unsigned long long)c.dropped);
	assert_int_equal(c.kept, ttlog_snapshot_event_count(s));
}

#endif /* TTLOG_TESTUTIL_H */
