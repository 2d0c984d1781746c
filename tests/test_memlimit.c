/*
 * test_memlimit.c - ttlog_init() checks the memory cgroup before it touches a page: the
 * parser on fixture trees (cgroup v1 and v2, nested limits, "max", missing files), the
 * size of what ttlog_init reserves, and, when /sys/fs/cgroup/memory (v1) is writable, a
 * child in a real 256 MiB cgroup asking for 2^24 events: -ENOMEM with a message, not the
 * OOM killer.
 */
#include "testutil.h"

#include "../core/memlimit.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

static char dir[4096];

static int setup(void **state)
{
	(void)state;
	tu_mkdir(dir, sizeof dir);
	return 0;
}

/* remove the fixture tree (small, made by this test) */
static int teardown(void **state)
{
	char cmd[4200];

	(void)state;
	ttlog_shutdown();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Write text to <dir>/<rel>, making the directories on the way. */
static void put(const char *rel, const char *text)
{
	char path[8192], *p;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, rel);
	for (p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	if ((f = fopen(path, "w")) == NULL)
		fail_msg("fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static struct ttlog__memcg read_fixture(void)
{
	char proc[4200], sys[4200];
	struct ttlog__memcg m;

	snprintf(proc, sizeof proc, "%s/proc", dir);
	snprintf(sys, sizeof sys, "%s/sys", dir);
	assert_int_equal(ttlog__memcg_read(proc, sys, &m), 0);
	return m;
}

#define V1 "sys/fs/cgroup/memory"
#define V2 "sys/fs/cgroup"
#define NOLIMIT_V1 "9223372036854771712\n"

static void expect(const struct ttlog__memcg *m, uint64_t avail, uint64_t limit,
		   uint64_t usage, int version, const char *path)
{
	if (m->avail != avail || m->limit != limit || m->usage != usage ||
	    m->version != version || strcmp(m->path, path) != 0)
		fail_msg("got avail %llu limit %llu usage %llu v%d '%s'; expected avail %llu "
			 "limit %llu usage %llu v%d '%s'",
			 (unsigned long long)m->avail, (unsigned long long)m->limit,
			 (unsigned long long)m->usage, m->version, m->path,
			 (unsigned long long)avail, (unsigned long long)limit,
			 (unsigned long long)usage, version, path);
}

static void test_v1_nested_parent_tighter(void **state)
{
	struct ttlog__memcg m;

	(void)state;
	put("proc/self/cgroup", "9:name=systemd:/\n5:cpu,cpuacct:/a/b\n4:memory:/a/b\n0::/\n");
	put(V1 "/memory.limit_in_bytes", NOLIMIT_V1);
	put(V1 "/memory.usage_in_bytes", "5000000000\n");
	put(V1 "/a/memory.limit_in_bytes", "268435456\n");
	put(V1 "/a/memory.usage_in_bytes", "1048576\n");
	put(V1 "/a/b/memory.limit_in_bytes", NOLIMIT_V1);
	put(V1 "/a/b/memory.usage_in_bytes", "4096\n");
	m = read_fixture();
	expect(&m, 268435456 - 1048576, 268435456, 1048576, 1, "/a");
}

static void test_v1_child_tighter_and_combined_controllers(void **state)
{
	struct ttlog__memcg m;

	(void)state;
	put("proc/self/cgroup", "3:cpuset:/\n4:hugetlb,memory:/a/b/\n");
	put(V1 "/a/memory.limit_in_bytes", "268435456\n");
	put(V1 "/a/memory.usage_in_bytes", "0\n");
	put(V1 "/a/b/memory.limit_in_bytes", "1000000\n");
	put(V1 "/a/b/memory.usage_in_bytes", "400000\n");
	m = read_fixture();
	expect(&m, 600000, 1000000, 400000, 1, "/a/b");
}

static void test_v2_nested_max_and_usage_over_limit(void **state)
{
	struct ttlog__memcg m;

	(void)state;
	put("proc/self/cgroup", "0::/x/y\n");
	put(V2 "/x/y/memory.max", "max\n");
	put(V2 "/x/y/memory.current", "12345\n");
	put(V2 "/x/memory.max", "268435456\n");
	put(V2 "/x/memory.current", "2097152\n");
	m = read_fixture();
	expect(&m, 268435456 - 2097152, 268435456, 2097152, 2, "/x");

	/* usage over the limit (it happens: the limit was lowered) allows nothing */
	put(V2 "/x/y/memory.max", "1000\n");
	put(V2 "/x/y/memory.current", "5000\n");
	m = read_fixture();
	expect(&m, 0, 1000, 5000, 2, "/x/y");
}

static void test_no_limit_cases(void **state)
{
	struct ttlog__memcg m;

	(void)state;
	/* no /proc/self/cgroup at all */
	m = read_fixture();
	expect(&m, UINT64_MAX, 0, 0, 0, "");
	/* v2, "max" everywhere, and the root has no memory.max */
	put("proc/self/cgroup", "0::/x/y\n");
	put(V2 "/x/y/memory.max", "max\n");
	put(V2 "/x/memory.max", "max\n");
	m = read_fixture();
	expect(&m, UINT64_MAX, 0, 0, 0, "");
	/* v1 with the cgroup's directory missing, v2 line pointing nowhere */
	put("proc/self/cgroup", "4:memory:/gone\n0::/gone-too\n");
	m = read_fixture();
	expect(&m, UINT64_MAX, 0, 0, 0, "");
	/* a limit without a usage file: nothing in use */
	put("proc/self/cgroup", "4:memory:/l\n");
	put(V1 "/l/memory.limit_in_bytes", "8192\n");
	m = read_fixture();
	expect(&m, 8192, 8192, 0, 1, "/l");
	/* garbage is no limit, not a zero one */
	put(V1 "/l/memory.limit_in_bytes", "lots\n");
	m = read_fixture();
	expect(&m, UINT64_MAX, 0, 0, 0, "");
}

static void test_hybrid_takes_the_tighter(void **state)
{
	struct ttlog__memcg m;

	(void)state;
	put("proc/self/cgroup", "4:memory:/v1\n0::/v2\n");
	put(V1 "/v1/memory.limit_in_bytes", "300000\n");
	put(V1 "/v1/memory.usage_in_bytes", "100000\n");
	put(V2 "/v2/memory.max", "150000\n");
	put(V2 "/v2/memory.current", "0\n");
	m = read_fixture();
	expect(&m, 150000, 150000, 0, 2, "/v2");
}

static void test_init_bytes(void **state)
{
	uint64_t mpmc = ttlog__init_bytes("mpmc", 1u << 24, 1u << 20, 1);
	uint64_t spsc = ttlog__init_bytes("spsc", 1u << 24, 1u << 20, 1);
	uint64_t numa2 = ttlog__init_bytes("numa", 1u << 24, 1u << 20, 2);
	uint64_t ring = (uint64_t)TTLOG_RECORD_SIZE << 24;

	(void)state;
	/* the ring alone is 1 GiB; the snapshot buffers hold another record per event */
	if (mpmc < ring + ((uint64_t)sizeof(struct ttlog_record) << 24) + (1u << 20))
		fail_msg("mpmc 2^24: %llu bytes, less than ring + snapshot + interner",
			 (unsigned long long)mpmc);
	/* spsc's worst case is 8 shards and the shared ring: 8 rings more than mpmc */
	if (spsc < mpmc + 8 * ring)
		fail_msg("spsc 2^24: %llu bytes, mpmc %llu", (unsigned long long)spsc,
			 (unsigned long long)mpmc);
	if (numa2 < mpmc + ring)
		fail_msg("numa (2 nodes) 2^24: %llu bytes, mpmc %llu", (unsigned long long)numa2,
			 (unsigned long long)mpmc);
	/* capacities are rounded up to a power of two, as the rings do */
	assert_true(ttlog__init_bytes("mpmc", 1000, 0, 1) == ttlog__init_bytes("mpmc", 1024, 0, 1));
	assert_true(ttlog__init_bytes("mpmc", 1025, 0, 1) > ttlog__init_bytes("mpmc", 1024, 0, 1));
}

/* ---- a real cgroup (v1) ---- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -errno;
	close(fd);
	return ok;
}

/* The process's own v1 memory cgroup path ("/..."), or "" */
static void own_memcg(char *out, size_t len)
{
	char line[1024];
	FILE *f = fopen("/proc/self/cgroup", "re");

	out[0] = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL)
			continue;
		*c2 = '\0';
		if (strcmp(c1 + 1, "memory") == 0) {
			c2[1 + strcspn(c2 + 1, "\n")] = '\0';
			snprintf(out, len, "%s", strcmp(c2 + 1, "/") == 0 ? "" : c2 + 1);
			break;
		}
	}
	fclose(f);
}

static void cgroup_child(const char *cg)
{
	char procs[1400], pid[32];
	ttlog_config cfg;
	int rc;

	/* cmocka catches these signals to report a test; the child must die by them */
	signal(SIGSEGV, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	snprintf(procs, sizeof procs, "%s/cgroup.procs", cg);
	snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if ((rc = write_file(procs, pid)) != 0) {
		fprintf(stderr, "child: moving into %s: %s\n", cg, strerror(-rc));
		_exit(3);
	}
	ttlog_config_default(&cfg);
	cfg.snapshot_dir = dir;
	cfg.service = "test";
	cfg.quiet = true;
	cfg.capacity = 1u << 24;
	rc = ttlog_init(&cfg);
	if (rc != -ENOMEM) {
		fprintf(stderr, "child: ttlog_init(2^24) in a 256 MiB cgroup: %d (%s), expected "
			"-ENOMEM\n", rc, ttlog_strerror(rc));
		_exit(1);
	}
	if (strstr(ttlog_errmsg(), "needs") == NULL || strstr(ttlog_errmsg(), "cgroup") == NULL ||
	    strstr(ttlog_errmsg(), "allows") == NULL) {
		fprintf(stderr, "child: the message does not say what is needed and allowed: "
			"'%s'\n", ttlog_errmsg());
		_exit(2);
	}
	fprintf(stderr, "child: ttlog_init(2^24): %s\n", ttlog_errmsg());
	/* what fits still starts */
	cfg.capacity = 1u << 16;
	if ((rc = ttlog_init(&cfg)) != 0) {
		fprintf(stderr, "child: ttlog_init(2^16) in a 256 MiB cgroup: %d (%s) %s\n", rc,
			ttlog_strerror(rc), ttlog_errmsg());
		_exit(4);
	}
	TTLOG_INFO("cg", "in the cgroup");
	ttlog_shutdown();
	_exit(0);
}

static void test_real_cgroup_256m(void **state)
{
	char own[512], cg[1200], limit[1400];
	int status, rc;
	pid_t pid;

	(void)state;
	own_memcg(own, sizeof own);
	snprintf(cg, sizeof cg, "/sys/fs/cgroup/memory%s/ttlog-test-%d", own, (int)getpid());
	if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) != 0 ||
	    mkdir(cg, 0755) != 0) {
		print_message("no writable cgroup v1 memory hierarchy (%s: %s): skipped\n", cg,
			      strerror(errno));
		skip();
	}
	snprintf(limit, sizeof limit, "%s/memory.limit_in_bytes", cg);
	rc = write_file(limit, "268435456\n");
	if (rc != 0) {
		rmdir(cg);
		fail_msg("setting %s/memory.limit_in_bytes: %s", cg, strerror(-rc));
	}
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		cgroup_child(cg);
	rc = waitpid(pid, &status, 0);
	if (rmdir(cg) != 0)
		print_message("rmdir %s: %s\n", cg, strerror(errno));
	assert_int_equal(rc, pid);
	if (WIFSIGNALED(status))
		fail_msg("the child in the 256 MiB cgroup was killed by signal %d (%s)%s",
			 WTERMSIG(status), strsignal(WTERMSIG(status)),
			 WTERMSIG(status) == SIGKILL ? ": the OOM killer, ttlog_init touched more "
						       "than the cgroup allows" : "");
	if (WEXITSTATUS(status) != 0)
		fail_msg("the child in the 256 MiB cgroup exited with %d (message above)",
			 WEXITSTATUS(status));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v1_nested_parent_tighter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v1_child_tighter_and_combined_controllers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_v2_nested_max_and_usage_over_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_limit_cases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hybrid_takes_the_tighter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_cgroup_256m, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
