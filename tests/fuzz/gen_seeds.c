/*
 * gen_seeds.c - the fuzzer's seed corpus: real snapshots written by libttlog, so that the
 * fuzzer starts from files the library really produces (every variant, every field type,
 * truncated strings, builder events, overwritten and dropped events, an empty ring), plus
 * the decompressed CBOR of each (fuzz_reader.c wraps an input that is not an LZ4 frame
 * into one, so mutations reach the CBOR parser instead of breaking a checksum).
 *
 *   gen_seeds DIR        writes DIR/seed-*.bin and DIR/seed-*.cbor
 *
 * Links the multi-variant library; each snapshot is taken in a child process so that
 * every case starts from a fresh ttlog_init(). Kept small (capacity 16..256) so that the
 * seeds stay under the fuzzer's -max_len.
 *
 * Then crafted seeds (crafted()) in encodings the library does not write but a generic
 * CBOR writer may, which the reader accepts and the fuzzer would hardly find alone:
 * indefinite-length maps, arrays and chunked strings, the self-describe tag, half and
 * single floats, negative and extreme integers, a string of 20 KB (the reader's big
 * arena allocations) and more than 1024 callsites (its growing arrays).
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lz4frame.h>

#include <ttlog/ttlog.h>

#include "../cbor_fixture.h"

struct seed_case {
	const char *name;
	const char *variant;
	size_t capacity;
	int policy;
	unsigned events; /* log calls of the mixed workload */
	unsigned threads;
};

static const struct seed_case cases[] = {
	{"mpmc-small", "mpmc", 16, TTLOG_POLICY_OVERWRITE, 12, 1},
	{"mpmc-wrap", "mpmc", 32, TTLOG_POLICY_OVERWRITE, 200, 2},
	{"mpmc-drop", "mpmc", 16, TTLOG_POLICY_DROP, 60, 1},
	{"mpmc-empty", "mpmc", 16, TTLOG_POLICY_OVERWRITE, 0, 1},
	{"spsc-threads", "spsc", 32, TTLOG_POLICY_OVERWRITE, 40, 3},
	{"numa-one", "numa", 64, TTLOG_POLICY_OVERWRITE, 30, 2},
	{"mpmc-big", "mpmc", 256, TTLOG_POLICY_OVERWRITE, 240, 1},
};

static unsigned per_thread;

static void *workload(void *arg)
{
	unsigned id = (unsigned)(size_t)arg;
	ttlog_builder b;

	for (unsigned i = 0; i < per_thread; i++) {
		switch (i % 6) {
		case 0:
			TTLOG_INFO("http", "GET {} -> {}", TTLOG_STR("path", "/index.html"),
				   TTLOG_U64("status", 200), TTLOG_F64("ms", 1.25 * i));
			break;
		case 1:
			TTLOG_WARN("db", "slow query {}",
				   TTLOG_STR("sql", "SELECT * FROM users WHERE name = 'a very long name'"));
			break;
		case 2:
			TTLOG_ERROR("db", "failed: code {} retry {}", TTLOG_I64("code", -(int64_t)i),
				    TTLOG_BOOL("retry", i & 1));
			break;
		case 3:
			TTLOG_DEBUG("cache", "héllo wörld {}", TTLOG_STR("key", "ключ"),
				    TTLOG_U64("thread", id));
			break;
		case 4:
			TTLOG_TRACE("tick", "no fields here {} {}");
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

static int run_case(const struct seed_case *c, const char *dir)
{
	ttlog_config cfg;
	pthread_t th[8];
	char path[4096];
	int rc;

	ttlog_config_default(&cfg);
	cfg.variant = c->variant;
	cfg.capacity = c->capacity;
	cfg.policy = c->policy;
	cfg.service = c->name;
	cfg.snapshot_dir = dir;
	cfg.quiet = true;
	if ((rc = ttlog_init(&cfg)) < 0) {
		fprintf(stderr, "gen_seeds: %s: %s\n", c->name, ttlog_errmsg());
		return 1;
	}
	per_thread = c->events / c->threads;
	for (unsigned t = 1; t < c->threads; t++)
		pthread_create(&th[t], NULL, workload, (void *)(size_t)t);
	workload(NULL);
	for (unsigned t = 1; t < c->threads; t++)
		pthread_join(th[t], NULL);
	rc = ttlog_snapshot(c->name, path, sizeof path);
	ttlog_shutdown();
	if (rc < 0) {
		fprintf(stderr, "gen_seeds: %s: snapshot: %s\n", c->name, ttlog_strerror(rc));
		return 1;
	}
	return 0;
}

/* ---- crafted seeds: tests/cbor_fixture.h, definite or indefinite ---- */

struct cb {
	struct cbf o;
	bool indef; /* containers with a break, text in two chunks */
};

static void cb_text(struct cb *c, const char *s, size_t n)
{
	if (!c->indef) {
		cbf_textn(&c->o, s, n);
		return;
	}
	cbf_indef(&c->o, CBF_TEXT); /* two chunks, then the break */
	cbf_textn(&c->o, s, n / 2);
	cbf_textn(&c->o, s + n / 2, n - n / 2);
	cbf_break(&c->o);
}

static void cb_str(struct cb *c, const char *s) { cb_text(c, s, strlen(s)); }
static void cb_arr(struct cb *c, uint64_t n)
{
	if (c->indef)
		cbf_indef(&c->o, CBF_ARRAY);
	else
		cbf_arr(&c->o, n);
}
static void cb_map(struct cb *c, uint64_t n)
{
	if (c->indef)
		cbf_indef(&c->o, CBF_MAP);
	else
		cbf_map(&c->o, n);
}
static void cb_end(struct cb *c)
{
	if (c->indef)
		cbf_break(&c->o);
}

/* A snapshot with every field type in every float width, many callsites, a long
 * string; indef: the same in indefinite-length encoding. */
static void crafted_snapshot(struct cb *c, bool indef, unsigned ncallsites)
{
	static char longmsg[20000];
	static const unsigned char half_1_5[] = {0xf9, 0x3e, 0x00};        /* 1.5 */
	static const unsigned char single_q[] = {0xfa, 0x3e, 0x80, 0x00, 0x00}; /* 0.25 */
	static const unsigned char double_pi[] = {0xfb, 0x40, 0x09, 0x21, 0xfb,
						  0x54, 0x44, 0x2d, 0x18};
	unsigned i;

	memset(longmsg, 'm', sizeof longmsg - 1);
	memcpy(longmsg, "long {} ", 8);
	c->indef = indef;
	if (indef)
		cbf_tag(&c->o, 55799); /* self-describe */
	cb_map(c, 11);
	cb_str(c, "format"); cb_str(c, "ttlog");
	cb_str(c, "version"); cbf_u(&c->o, 1);
	cb_str(c, "service"); cb_str(c, "crafted");
	cb_str(c, "hostname"); cb_str(c, "h\xc3\xa9");
	cb_str(c, "pid"); cbf_u(&c->o, 4294967296ull);
	cb_str(c, "unknown_key"); cb_arr(c, 2); cbf_u(&c->o, 1);
	cb_map(c, 1); cb_str(c, "x"); cbf_u(&c->o, 2);
	cb_end(c); cb_end(c);
	cb_str(c, "counters"); cb_map(c, 4);
	cb_str(c, "logged"); cbf_u(&c->o, 3);
	cb_str(c, "overwritten"); cbf_u(&c->o, 0);
	cb_str(c, "dropped"); cbf_u(&c->o, 0);
	cb_str(c, "truncated"); cbf_u(&c->o, 1);
	cb_end(c);
	cb_str(c, "clock"); cb_map(c, 2);
	cb_str(c, "source"); cb_str(c, "tsc");
	cb_str(c, "ticks_per_sec"); cbf_put(&c->o, single_q, sizeof single_q);
	cb_end(c);
	cb_str(c, "callsites"); cb_arr(c, ncallsites);
	for (i = 0; i < ncallsites; i++) {
		static const char *const types[] = {"u64", "i64", "f64", "f64", "f64", "bool", "str"};
		static const char *const names[] = {"u", "i", "h", "s", "d", "b", "t"};
		cb_map(c, 7);
		cb_str(c, "id"); cbf_u(&c->o, i + 1);
		cb_str(c, "level"); cbf_u(&c->o, i % 6);
		cb_str(c, "target"); cb_str(c, i == 0 ? "craft" : "t");
		cb_str(c, "message");
		if (i == 1)
			cb_text(c, longmsg, sizeof longmsg - 1);
		else
			cb_str(c, i == 0 ? "{} {} {} {} {} {} {}" : "m");
		cb_str(c, "line"); cbf_u(&c->o, i);
		cb_str(c, "fields"); cb_arr(c, i < 2 ? 7 : 0);
		for (int k = 0; k < 7 && i < 2; k++)
			cb_str(c, names[k]);
		cb_end(c);
		cb_str(c, "types"); cb_arr(c, i < 2 ? 7 : 0);
		for (int k = 0; k < 7 && i < 2; k++)
			cb_str(c, types[k]);
		cb_end(c);
		cb_end(c);
	}
	cb_end(c);
	cb_str(c, "events"); cb_arr(c, 3);
	for (i = 0; i < 3; i++) {
		cb_arr(c, i < 2 ? 10 : 3);
		cbf_u(&c->o, 1714564800000000000ull + i);
		cbf_u(&c->o, i < 2 ? i + 1 : 3);
		cbf_u(&c->o, 77);
		if (i < 2) {
			cbf_u(&c->o, i == 0 ? UINT64_MAX : 7);
			if (i == 0)
				cbf_neg(&c->o, (uint64_t)INT64_MAX); /* INT64_MIN */
			else
				cbf_u(&c->o, 5);
			cbf_put(&c->o, half_1_5, sizeof half_1_5);
			cbf_put(&c->o, single_q, sizeof single_q);
			cbf_put(&c->o, double_pi, sizeof double_pi);
			cbf_put(&c->o, i == 0 ? "\xf5" : "\xf4", 1);
			cb_str(c, i == 0 ? "chunked string value" : "");
		}
		cb_end(c);
	}
	cb_end(c);
	cb_str(c, "truncated"); cb_arr(c, 1);
	cb_arr(c, 2); cbf_u(&c->o, 0); cbf_u(&c->o, 6); cb_end(c);
	cb_end(c);
	cb_end(c);
}

static int write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int err = f == NULL || fwrite(p, 1, n, f) != n;
	if (f != NULL)
		err |= fclose(f) != 0;
	if (err)
		perror(path);
	return err;
}

static int crafted(const char *dir)
{
	static const struct {
		const char *name;
		bool indef;
		unsigned ncallsites;
	} v[] = {{"crafted-definite", false, 3}, {"crafted-indef", true, 3},
		 {"crafted-many-callsites", true, 1100}};
	int err = 0;

	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct cb c = {0};
		struct cbf frame;
		LZ4F_preferences_t prefs;
		char path[4096];

		crafted_snapshot(&c, v[i].indef, v[i].ncallsites);
		snprintf(path, sizeof path, "%s/seed-%s.cbor", dir, v[i].name);
		if (c.o.len <= 60000) /* the fuzzer's -max_len is 64 KiB; the .bin stays smaller */
			err |= write_bytes(path, c.o.p, c.o.len);
		memset(&prefs, 0, sizeof prefs);
		prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
		snprintf(path, sizeof path, "%s/seed-%s.bin", dir, v[i].name);
		if (cbf_lz4(c.o.p, c.o.len, &prefs, &frame) < 0) {
			err = 1;
		} else {
			err |= write_bytes(path, frame.p, frame.len);
			cbf_free(&frame);
		}
		cbf_free(&c.o);
	}
	return err;
}

/* Write the decompressed CBOR of file src to dst. */
static int decompress_to(const char *src, const char *dst)
{
	FILE *in = fopen(src, "rb"), *out = NULL;
	LZ4F_dctx *d = NULL;
	static unsigned char ib[1 << 20], ob[1 << 22];
	size_t n, sn, dn, pos = 0, ret;
	int err = 1;

	if (in == NULL)
		return 1;
	n = fread(ib, 1, sizeof ib, in);
	fclose(in);
	if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
		return 1;
	sn = n;
	dn = sizeof ob;
	ret = LZ4F_decompress(d, ob, &dn, ib + pos, &sn, NULL);
	if (!LZ4F_isError(ret) && ret == 0 && (out = fopen(dst, "wb")) != NULL) {
		err = fwrite(ob, 1, dn, out) != dn;
		err |= fclose(out) != 0;
	}
	LZ4F_freeDecompressionContext(d);
	return err;
}

int main(int argc, char **argv)
{
	struct dirent *de;
	DIR *dp;
	int failed = 0, st;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(run_case(&cases[i], argv[1]));
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed = 1;
	}
	/* rename ttlog-*.bin to seed-NAME.bin and add the .cbor twin */
	if ((dp = opendir(argv[1])) == NULL) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(dp)) != NULL) {
		char from[4096], to[4096], cb[4096];
		size_t len = strlen(de->d_name);
		if (strncmp(de->d_name, "ttlog-", 6) != 0 || len < 5 ||
		    strcmp(de->d_name + len - 4, ".bin") != 0)
			continue;
		snprintf(from, sizeof from, "%s/%s", argv[1], de->d_name);
		snprintf(to, sizeof to, "%s/seed-%.*s.bin", argv[1], (int)(len - 4 - 6), de->d_name + 6);
		snprintf(cb, sizeof cb, "%s/seed-%.*s.cbor", argv[1], (int)(len - 4 - 6), de->d_name + 6);
		if (rename(from, to) < 0 || decompress_to(to, cb) != 0) {
			fprintf(stderr, "gen_seeds: %s: cannot rename or decompress\n", from);
			failed = 1;
		}
	}
	closedir(dp);
	failed |= crafted(argv[1]);
	return failed;
}
