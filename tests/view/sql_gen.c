/*
 * sql_gen.c - snapshots for tests/view/test_sql.sh (ttlog-view --sql):
 *
 *   sql_gen DIR
 *
 * DIR/variants/: one snapshot per variant, written by libttlog (the multi-variant
 * library, cfg.variant), each in a child process so that each starts from a fresh
 * ttlog_init(): two threads, every field type, a string cut to fit, builder events, more
 * events than the ring holds (overwritten > 0); the reason is the variant's name.
 * Crafted files (tests/cbor_fixture.h), with what the test checks in them:
 *   DIR/keys.bin      parent_pid, push_path, counters torn and clipped, clipped_before_ns,
 *                     in indefinite-length maps and chunked strings
 *   DIR/nokeys.bin    none of those, nor counters kept, truncated, in_flight
 *   DIR/text.bin      a NUL and bytes that are not UTF-8 in a value, the hostname and a
 *                     target; u64 2^64-1 and i64 -2^63 as field values; NaN
 *   DIR/bigtime.bin   an event at 2^64-1 ns: more than an SQL integer holds
 *   DIR/bigpid.bin    pid 2^63: the same, in the snapshot's own row
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lz4frame.h>

#include <ttlog/ttlog.h>

#include "../cbor_fixture.h"

#define BASE_NS 1714564800000000000ull

static const char *const variants[] = {"mpmc", "spsc", "numa", "percpu"};
#define PER_THREAD 150 /* of a ring of 64: most are overwritten */

static void *workload(void *arg)
{
	unsigned id = (unsigned)(size_t)arg;
	ttlog_builder b;

	for (unsigned i = 0; i < PER_THREAD; i++) {
		switch (i % 5) {
		case 0:
			TTLOG_INFO("http", "GET {} -> {}", TTLOG_STR("path", "/index.html"),
				   TTLOG_U64("status", 200 + i), TTLOG_F64("ms", 1.25 * i));
			break;
		case 1:
			TTLOG_WARN("db", "slow query {}",
				   TTLOG_STR("sql", "SELECT * FROM users WHERE name = 'a very long "
						    "name that does not fit in one slot'"));
			break;
		case 2:
			TTLOG_ERROR("db", "failed: code {} retry {}", TTLOG_I64("code", -(int64_t)i),
				    TTLOG_BOOL("retry", i & 1));
			break;
		case 3:
			TTLOG_DEBUG("cache", "h\xc3\xa9llo {}", TTLOG_STR("key", "\xd0\xba\xd0\xbb"),
				    TTLOG_U64("thread", id));
			break;
		default:
			ttlog_builder_begin(&b, TTLOG_LEVEL_FATAL, "runtime", "built {} {}");
			ttlog_builder_u64(&b, "n", i);
			ttlog_builder_f64(&b, "ratio", -0.5);
			ttlog_builder_str(&b, "who", "builder");
			ttlog_builder_commit(&b);
			break;
		}
	}
	return NULL;
}

static int one_variant(const char *variant, const char *dir)
{
	ttlog_config cfg;
	pthread_t th;
	char path[4096];
	int rc;

	ttlog_config_default(&cfg);
	cfg.variant = variant;
	cfg.capacity = 64;
	cfg.service = "gen";
	cfg.snapshot_dir = dir;
	cfg.quiet = true;
	if ((rc = ttlog_init(&cfg)) < 0) {
		fprintf(stderr, "sql_gen: %s: %s\n", variant, ttlog_errmsg());
		return 1;
	}
	pthread_create(&th, NULL, workload, (void *)(size_t)1);
	workload(NULL);
	pthread_join(th, NULL);
	rc = ttlog_snapshot(variant, path, sizeof path);
	ttlog_shutdown();
	if (rc < 0) {
		fprintf(stderr, "sql_gen: %s: snapshot: %s\n", variant, ttlog_strerror(rc));
		return 1;
	}
	return 0;
}

/* ---- crafted files --------------------------------------------------------------- */

static int write_lz4(const char *dir, const char *name, const struct cbf *cbor)
{
	LZ4F_preferences_t prefs;
	struct cbf frame;
	char path[4096];
	FILE *f;
	int err = 0;

	memset(&prefs, 0, sizeof prefs);
	if (cbf_lz4(cbor->p, cbor->len, &prefs, &frame) < 0)
		return 1;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(frame.p, 1, frame.len, f) != frame.len ||
	    fclose(f) != 0) {
		perror(path);
		err = 1;
	}
	cbf_free(&frame);
	return err;
}

/* The keys every snapshot has; the caller adds extra (counted in nmore) and ends the map
 * (definite). */
static void head_keys(struct cbf *o, const char *host, uint64_t pid, unsigned nmore)
{
	cbf_map(o, 7 + nmore);
	cbf_str(o, "format"); cbf_str(o, "ttlog");
	cbf_str(o, "version"); cbf_u(o, 1);
	cbf_str(o, "service"); cbf_str(o, "crafted");
	cbf_str(o, "hostname"); cbf_str(o, host);
	cbf_str(o, "pid"); cbf_u(o, pid);
	cbf_str(o, "reason"); cbf_str(o, "manual");
	cbf_str(o, "created_ns"); cbf_u(o, BASE_NS + 1000000);
}

/* callsites [{id 1, info, "c", "v {}", fields [v] of type}] and events at BASE_NS + i */
static void one_shape(struct cbf *o, const char *target, const char *type)
{
	cbf_str(o, "callsites"); cbf_arr(o, 1);
	cbf_map(o, 8);
	cbf_str(o, "id"); cbf_u(o, 1);
	cbf_str(o, "level"); cbf_u(o, 2);
	cbf_str(o, "target"); cbf_str(o, target);
	cbf_str(o, "message"); cbf_str(o, "v {}");
	cbf_str(o, "file"); cbf_str(o, "x.c");
	cbf_str(o, "line"); cbf_u(o, 7);
	cbf_str(o, "fields"); cbf_arr(o, 1); cbf_str(o, "v");
	cbf_str(o, "types"); cbf_arr(o, 1); cbf_str(o, type);
}

static void counters(struct cbf *o, uint64_t kept)
{
	cbf_str(o, "counters"); cbf_map(o, 4);
	cbf_str(o, "logged"); cbf_u(o, kept);
	cbf_str(o, "kept"); cbf_u(o, kept);
	cbf_str(o, "overwritten"); cbf_u(o, 0);
	cbf_str(o, "dropped"); cbf_u(o, 0);
}

static int crafted(const char *dir)
{
	struct cbf o = {0};
	int err = 0;

	/* keys.bin: indefinite-length top level and counters, chunked text */
	cbf_indef(&o, CBF_MAP);
	cbf_str(&o, "format"); cbf_str(&o, "ttlog");
	cbf_str(&o, "version"); cbf_u(&o, 1);
	cbf_str(&o, "service"); cbf_str(&o, "keys");
	cbf_str(&o, "hostname"); cbf_str(&o, "hk");
	cbf_str(&o, "pid"); cbf_u(&o, 4242);
	cbf_str(&o, "parent_pid"); cbf_u(&o, 4241);
	cbf_str(&o, "reason"); cbf_str(&o, "recovered");
	cbf_str(&o, "created_ns"); cbf_u(&o, BASE_NS + 2000000);
	cbf_str(&o, "variant"); cbf_str(&o, "percpu");
	cbf_str(&o, "capacity"); cbf_u(&o, 128);
	cbf_indef(&o, CBF_TEXT); /* "push_path" in two chunks, then "rseq" in two */
	cbf_textn(&o, "push_", 5); cbf_textn(&o, "path", 4);
	cbf_break(&o);
	cbf_indef(&o, CBF_TEXT);
	cbf_textn(&o, "rs", 2); cbf_textn(&o, "eq", 2);
	cbf_break(&o);
	cbf_str(&o, "clipped_before_ns"); cbf_u(&o, BASE_NS + 5);
	cbf_str(&o, "counters");
	cbf_indef(&o, CBF_MAP);
	cbf_str(&o, "logged"); cbf_u(&o, 20);
	cbf_str(&o, "kept"); cbf_u(&o, 2);
	cbf_str(&o, "overwritten"); cbf_u(&o, 11);
	cbf_str(&o, "dropped"); cbf_u(&o, 2);
	cbf_str(&o, "clipped"); cbf_u(&o, 1);
	cbf_str(&o, "torn"); cbf_u(&o, 4);
	cbf_str(&o, "truncated"); cbf_u(&o, 0);
	cbf_str(&o, "in_flight"); cbf_u(&o, 0);
	cbf_break(&o);
	one_shape(&o, "k", "u64");
	cbf_str(&o, "events"); cbf_arr(&o, 2);
	cbf_arr(&o, 4); cbf_u(&o, BASE_NS + 10); cbf_u(&o, 1); cbf_u(&o, 9); cbf_u(&o, 1);
	cbf_arr(&o, 4); cbf_u(&o, BASE_NS + 20); cbf_u(&o, 1); cbf_u(&o, 9); cbf_u(&o, 2);
	cbf_break(&o);
	err |= write_lz4(dir, "keys.bin", &o);
	cbf_free(&o);

	/* nokeys.bin: the least a reader accepts, no optional counter */
	head_keys(&o, "hn", 4343, 3);
	cbf_str(&o, "counters"); cbf_map(&o, 3);
	cbf_str(&o, "logged"); cbf_u(&o, 1);
	cbf_str(&o, "overwritten"); cbf_u(&o, 0);
	cbf_str(&o, "dropped"); cbf_u(&o, 0);
	one_shape(&o, "k", "u64");
	cbf_str(&o, "events"); cbf_arr(&o, 1);
	cbf_arr(&o, 4); cbf_u(&o, BASE_NS + 10); cbf_u(&o, 1); cbf_u(&o, 9); cbf_u(&o, 5);
	err |= write_lz4(dir, "nokeys.bin", &o);
	cbf_free(&o);

	/* text.bin: a NUL, bytes that are not UTF-8, extreme numbers, NaN */
	head_keys(&o, "h\xff" "x", 4444, 3);
	counters(&o, 4);
	cbf_str(&o, "callsites"); cbf_arr(&o, 3);
	cbf_map(&o, 8);
	cbf_str(&o, "id"); cbf_u(&o, 1);
	cbf_str(&o, "level"); cbf_u(&o, 2);
	cbf_str(&o, "target"); cbf_str(&o, "t\xc3" "x");
	cbf_str(&o, "message"); cbf_str(&o, "s={}");
	cbf_str(&o, "file"); cbf_str(&o, "x.c");
	cbf_str(&o, "line"); cbf_u(&o, 1);
	cbf_str(&o, "fields"); cbf_arr(&o, 1); cbf_str(&o, "s");
	cbf_str(&o, "types"); cbf_arr(&o, 1); cbf_str(&o, "str");
	cbf_map(&o, 8);
	cbf_str(&o, "id"); cbf_u(&o, 2);
	cbf_str(&o, "level"); cbf_u(&o, 4);
	cbf_str(&o, "target"); cbf_str(&o, "n");
	cbf_str(&o, "message"); cbf_str(&o, "{} {}");
	cbf_str(&o, "file"); cbf_str(&o, "x.c");
	cbf_str(&o, "line"); cbf_u(&o, 2);
	cbf_str(&o, "fields"); cbf_arr(&o, 2); cbf_str(&o, "u"); cbf_str(&o, "i");
	cbf_str(&o, "types"); cbf_arr(&o, 2); cbf_str(&o, "u64"); cbf_str(&o, "i64");
	cbf_map(&o, 8);
	cbf_str(&o, "id"); cbf_u(&o, 3);
	cbf_str(&o, "level"); cbf_u(&o, 1);
	cbf_str(&o, "target"); cbf_str(&o, "f");
	cbf_str(&o, "message"); cbf_str(&o, "{}");
	cbf_str(&o, "file"); cbf_str(&o, "x.c");
	cbf_str(&o, "line"); cbf_u(&o, 3);
	cbf_str(&o, "fields"); cbf_arr(&o, 1); cbf_str(&o, "d");
	cbf_str(&o, "types"); cbf_arr(&o, 1); cbf_str(&o, "f64");
	cbf_str(&o, "events"); cbf_arr(&o, 4);
	cbf_arr(&o, 4); cbf_u(&o, BASE_NS + 1); cbf_u(&o, 1); cbf_u(&o, 1);
	cbf_textn(&o, "a\0b\xfe" "c", 5);
	cbf_arr(&o, 5); cbf_u(&o, BASE_NS + 2); cbf_u(&o, 2); cbf_u(&o, 1);
	cbf_u(&o, UINT64_MAX); cbf_i64(&o, INT64_MIN);
	cbf_arr(&o, 4); cbf_u(&o, BASE_NS + 3); cbf_u(&o, 3); cbf_u(&o, 1); cbf_f64(&o, NAN);
	cbf_arr(&o, 4); cbf_u(&o, BASE_NS + 4); cbf_u(&o, 3); cbf_u(&o, 1); cbf_f64(&o, 0.1);
	err |= write_lz4(dir, "text.bin", &o);
	cbf_free(&o);

	/* bigtime.bin: an event after 2262 */
	head_keys(&o, "hb", 4545, 3);
	counters(&o, 1);
	one_shape(&o, "k", "u64");
	cbf_str(&o, "events"); cbf_arr(&o, 1);
	cbf_arr(&o, 4); cbf_u(&o, UINT64_MAX); cbf_u(&o, 1); cbf_u(&o, 9); cbf_u(&o, 5);
	err |= write_lz4(dir, "bigtime.bin", &o);
	cbf_free(&o);

	/* bigpid.bin: pid 2^63 */
	head_keys(&o, "hb", 1ull << 63, 3);
	counters(&o, 1);
	one_shape(&o, "k", "u64");
	cbf_str(&o, "events"); cbf_arr(&o, 1);
	cbf_arr(&o, 4); cbf_u(&o, BASE_NS); cbf_u(&o, 1); cbf_u(&o, 9); cbf_u(&o, 5);
	err |= write_lz4(dir, "bigpid.bin", &o);
	cbf_free(&o);
	return err;
}

int main(int argc, char **argv)
{
	char vdir[4096];
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: sql_gen DIR\n");
		return 2;
	}
	snprintf(vdir, sizeof vdir, "%s/variants", argv[1]);
	if (mkdir(vdir, 0700) < 0) {
		perror(vdir);
		return 1;
	}
	for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
		int st;
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(one_variant(variants[i], vdir));
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			err = 1;
	}
	return err | crafted(argv[1]);
}
