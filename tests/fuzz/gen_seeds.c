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
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lz4frame.h>

#include <ttlog/ttlog.h>

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
	return failed;
}
