/*
 * blackbox_kill.c - the black box (docs/blackbox-format.md) under deaths without a signal.
 *
 *   blackbox_kill [--variants=mpmc,spsc] [--kills=N] [--per-thread=N] [--seed=S] [--oom=1]
 *
 * kill: for each variant, N times: a child with 4 threads logging numbered events is
 * SIGKILLed at a random moment; its box is recovered (ttlog_recover) and the snapshot must
 * hold, per thread, every event up to its last one before the kill, in order, but at most
 * the one in flight (counted torn), with logged = kept + overwritten + dropped + torn.
 * oom: a child in a memory cgroup with a small limit (v2's memory.max, or v1's
 * memory.limit_in_bytes) logs, then allocates until the OOM killer kills it; its box is
 * recovered and checked the same way. Skipped, with a message, where neither hierarchy
 * lets us make a group.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "stress.h"

#include "../tests/numbered.h"

#define NT NUMBERED_NT

static struct numbered *prog; /* shared with the logging child */
static uint64_t per_thread;
static char boxdir[512], snapdir[512], cgroup[512];

/* The child: ttlog with a box, NT threads; then it waits to be killed or (oom) allocates
 * until it is. */
static void __attribute__((noreturn)) child(const char *variant, bool oom)
{
	ttlog_config cfg;

	if (oom) {
		char path[600], pid[32];
		int fd;
		snprintf(path, sizeof path, "%s/cgroup.procs", cgroup);
		snprintf(pid, sizeof pid, "%d\n", (int)getpid());
		fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, pid, strlen(pid)) < 0)
			_exit(4);
		close(fd);
	}
	st_config(&cfg, variant, "bbstress", snapdir, 1u << 17);
	cfg.blackbox_dir = boxdir;
	if (ttlog_init(&cfg) != 0)
		_exit(3);
	numbered_run(prog);
	if (oom) {
		/* touched, so that it counts: until the OOM killer ends it */
		for (;;) {
			char *p = malloc(1 << 20);
			if (p != NULL)
				memset(p, 1, 1 << 20);
		}
	}
	for (;;)
		pause();
}

/* Recover pid's box and check it; adds to the row. */
static void recover_check(pid_t pid, struct st_row *row, uint64_t *torn_total)
{
	char prefix[64], box[1200] = "", snap[1200], msg[512];
	ttlog_snapshot_file *s = NULL;
	struct numbered_seen seen;
	const ttlog_snapshot_counters *c = &seen.c;
	struct dirent *de;
	DIR *d = opendir(boxdir);
	int rc;

	ST_CHECK(d != NULL, "opendir %s", boxdir);
	snprintf(prefix, sizeof prefix, "ttlog-%d-", (int)pid);
	while ((de = readdir(d)) != NULL)
		if (st_has_prefix(de->d_name, prefix))
			snprintf(box, sizeof box, "%s/%s", boxdir, de->d_name);
	closedir(d);
	ST_CHECK(box[0] != '\0', "no box of pid %d in %s", (int)pid, boxdir);
	rc = ttlog_recover(box, snapdir, snap, sizeof snap, msg, sizeof msg);
	ST_CHECK(rc == 0, "ttlog_recover(%s): %d %s", box, rc, msg);
	ST_CHECK(access(box, F_OK) != 0, "%s left after its recovery", box);
	rc = ttlog_snapshot_open(snap, &s);
	ST_CHECK(rc == 0, "open %s: %s", snap, ttlog_reader_errmsg());
	rc = numbered_check(s, pid, prog, 0, 0, &seen, msg, sizeof msg);
	ST_CHECK(rc == 0, "%s: %s", snap, msg);
	ttlog_snapshot_close(s);
	unlink(snap);
	row->runs++;
	row->faults++;
	row->survived++;
	row->logged += c->logged - seen.torn; /* the table's identity has no torn column */
	row->kept += c->kept;
	row->overwritten += c->overwritten;
	row->dropped += c->dropped;
	*torn_total += seen.torn;
}

static pid_t spawn(const char *variant, bool oom)
{
	pid_t pid;

	memset(prog, 0, sizeof *prog);
	prog->per_thread = per_thread;
	pid = fork();
	ST_CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		child(variant, oom);
	return pid;
}

static void kills(const char *variant, uint64_t n, uint64_t *seed)
{
	struct st_row row = {"blackbox-kill", variant, 0, 0, 0, 0, 0, 0, 0};
	uint64_t torn = 0;

	st_set_what("blackbox-kill", variant);
	for (uint64_t r = 0; r < n; r++) {
		uint64_t target = 1 + st_rand(seed) % (NT * per_thread);
		int status;
		pid_t pid = spawn(variant, false);
		while (numbered_done(prog) < target && !atomic_load(&prog->finished) &&
		       waitpid(pid, &status, WNOHANG) == 0)
			st_sleep_us(200);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			 "child status %#x (ttlog_init failed?)", status);
		recover_check(pid, &row, &torn);
	}
	st_note("%s: %" PRIu64 " kills, %" PRIu64 " records torn by them", variant, n, torn);
	st_row_write(&row);
}

/* Write text to dir/file: true when it was taken. */
static bool put(const char *dir, const char *file, const char *text)
{
	char path[700];
	int fd;
	bool ok;

	snprintf(path, sizeof path, "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY)) < 0)
		return false;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

/* A memory cgroup of ours with room for the ring (percpu: C slots per CPU), the box pages
 * and the snapshot buffers, not for the allocation loop, and no swap: cgroup v2 with the
 * memory controller at /sys/fs/cgroup, else v1's memory hierarchy at /sys/fs/cgroup/memory
 * (cgroup names the group; its cgroup.procs takes the child). */
static bool cgroup_setup(char *why, size_t len)
{
	static const char *const v1 = "/sys/fs/cgroup/memory";
	char buf[256] = "";
	int fd = open("/sys/fs/cgroup/cgroup.controllers", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	bool v2 = n > 0 && strstr(buf, "memory") != NULL;
	struct stat st;

	if (fd >= 0)
		close(fd);
	if (!v2 && (stat(v1, &st) != 0 || !S_ISDIR(st.st_mode))) {
		snprintf(why, len, "no memory cgroup (v2 at /sys/fs/cgroup, v1 at %s)", v1);
		return false;
	}
	snprintf(cgroup, sizeof cgroup, "%s/ttlog-oom-%d", v2 ? "/sys/fs/cgroup" : v1,
		 (int)getpid());
	if (mkdir(cgroup, 0755) < 0) {
		snprintf(why, len, "cannot create %s: %s", cgroup, strerror(errno));
		return false;
	}
	if (!put(cgroup, v2 ? "memory.max" : "memory.limit_in_bytes", "268435456\n")) {
		snprintf(why, len, "cannot set the limit of %s", cgroup);
		rmdir(cgroup);
		return false;
	}
	/* no swap (absent where there is none) */
	if (v2)
		put(cgroup, "memory.swap.max", "0\n");
	else
		put(cgroup, "memory.swappiness", "0\n");
	return true;
}

static void oom(const char *variant)
{
	struct st_row row = {"blackbox-oom", variant, 0, 0, 0, 0, 0, 0, 0};
	char why[300];
	uint64_t torn = 0;
	int status;
	pid_t pid;

	st_set_what("blackbox-oom", variant);
	if (!cgroup_setup(why, sizeof why)) {
		st_note("OOM-killer scenario skipped: %s", why);
		return;
	}
	pid = spawn(variant, true);
	waitpid(pid, &status, 0);
	rmdir(cgroup);
	ST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		 "child status %#x, want death by the OOM killer (SIGKILL)", status);
	ST_CHECK(atomic_load(&prog->finished), "the child was killed before it had logged");
	recover_check(pid, &row, &torn);
	st_row_write(&row);
}

int main(int argc, char **argv)
{
	const char *variants = st_arg(argc, argv, "--variants");
	uint64_t n = st_arg_u64(argc, argv, "--kills", 20);
	uint64_t seed = st_arg_u64(argc, argv, "--seed", (uint64_t)time(NULL));
	bool do_oom = st_arg_u64(argc, argv, "--oom", 0) != 0;
	char list[256], *save = NULL;

	per_thread = st_arg_u64(argc, argv, "--per-thread", 20000);
	snprintf(list, sizeof list, "%s", variants ? variants : "mpmc");
	prog = st_shared(sizeof *prog);
	snprintf(boxdir, sizeof boxdir, "/dev/shm/ttlog-stress-box-XXXXXX");
	ST_CHECK(mkdtemp(boxdir) != NULL, "mkdtemp %s: %s", boxdir, strerror(errno));
	st_mkdtemp(snapdir, sizeof snapdir, "blackbox");
	st_watchdog(3600, "blackbox kills");
	for (char *v = strtok_r(list, ", ", &save); v; v = strtok_r(NULL, ", ", &save)) {
		kills(v, n, &seed);
		if (do_oom)
			oom(v);
	}
	st_rmdir(snapdir);
	st_rmdir(boxdir);
	return 0;
}
