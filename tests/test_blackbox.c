/*
 * test_blackbox.c - the black box (docs/blackbox-format.md): a process killed with
 * SIGKILL at a random moment while 4 threads log numbered events leaves a box from which
 * ttlog_recover() (and ttlog-recover) makes a snapshot holding, per thread, every event up
 * to its last one before the kill, in order, but at most the one in flight (counted torn),
 * with balanced counters. Also: a live process's box is left alone; a reused pid (same
 * pid, another start time) is recovered; a restarted process recovers its predecessor
 * through ttlog_init(); hostile boxes are errors, never crashes; the box directory is
 * checked; a forked child gets a box of its own when it first logs (cut at the fork; none
 * when it only execs); the reader and ttlog-view read the
 * recovered snapshot. Runs with libttlog of each variant (make test).
 */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "../core/box.h"
#include "numbered.h"

#define NT NUMBERED_NT

static struct numbered *prog; /* shared with the logging child */
static char boxdir[4096], snapdir[4096];
static uint64_t per_thread;
/* CLOCK_REALTIME before the last child was forked and after it was reaped: its events'
 * timestamps, converted with the box's calibration, fall between them */
static uint64_t forked_ns, reaped_ns;
/* the next child takes a snapshot before it logs (its box's second calibration in use) */
static bool child_snapshot;

static uint64_t realtime_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int setup(void **state)
{
	(void)state;
	snprintf(boxdir, sizeof boxdir, "/dev/shm/ttlog-bbtest-XXXXXX");
	assert_non_null(mkdtemp(boxdir));
	tu_mkdir(snapdir, sizeof snapdir);
	prog = mmap(NULL, sizeof *prog, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(prog != MAP_FAILED);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ttlog_shutdown();
	tu_rmdir(snapdir);
	tu_rmdir(boxdir);
	munmap(prog, sizeof *prog);
	return 0;
}

static void config(ttlog_config *cfg, const char *service, size_t capacity)
{
	assert_int_equal(ttlog_config_default(cfg), 0);
	cfg->snapshot_dir = snapdir;
	cfg->blackbox_dir = boxdir;
	cfg->service = service;
	cfg->capacity = capacity;
}

/* The child: ttlog with a box, NT threads logging per_thread events each, then it waits to
 * be killed. Exit 3: ttlog_init failed. */
static void __attribute__((noreturn)) child(const char *service, size_t capacity)
{
	ttlog_config cfg;

	config(&cfg, service, capacity);
	if (ttlog_init(&cfg) != 0)
		_exit(3);
	if (child_snapshot && ttlog_snapshot("first", NULL, 0) != 0)
		_exit(5);
	numbered_run(prog);
	for (;;)
		pause();
}

/* Fork a logging child and SIGKILL it once `target` events are done (or all of them).
 * Returns its pid (reaped). */
static pid_t run_and_kill(const char *service, size_t capacity, uint64_t target)
{
	int status;
	pid_t pid;

	memset(prog, 0, sizeof *prog);
	prog->per_thread = per_thread;
	forked_ns = realtime_ns();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(service, capacity);
	tu_wait_for(numbered_done(prog) >= target || atomic_load(&prog->finished) ||
			    waitpid(pid, &status, WNOHANG) == pid,
		    "the child's events");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	reaped_ns = realtime_ns();
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("child %d did not die by SIGKILL (status %#x: ttlog_init failed?)",
			 (int)pid, status);
	return pid;
}

/* The path of pid's box in boxdir into out; the number of such boxes. */
static int find_box(pid_t pid, char *out, size_t len)
{
	char prefix[64];
	DIR *d = opendir(boxdir);
	struct dirent *de;
	int n = 0;

	snprintf(prefix, sizeof prefix, "ttlog-%d-", (int)pid);
	out[0] = '\0';
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && l > 4 &&
		    strcmp(de->d_name + l - 4, ".box") == 0) {
			snprintf(out, len, "%s/%s", boxdir, de->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* The recovered snapshot of pid (numbered.h's check, the events' times within the child's
 * life give or take a second of calibration slack), of service; with complete, every
 * event of every thread. The capacity holds every event: nothing overwritten or dropped. */
static void check_recovered(const char *path, pid_t pid, const char *service, bool complete)
{
	ttlog_snapshot_file *s = NULL;
	struct numbered_seen seen;
	char why[512];
	int rc = ttlog_snapshot_open(path, &s);

	if (rc != 0)
		fail_msg("open %s: %s", path, ttlog_reader_errmsg());
	assert_string_equal(ttlog_snapshot_service(s), service);
	if (numbered_check(s, pid, prog, forked_ns - 1000000000u, reaped_ns + 1000000000u, &seen,
			   why, sizeof why) < 0)
		fail_msg("%s: %s", path, why);
	assert_int_equal(seen.c.kept, seen.events);
	assert_int_equal(seen.c.overwritten, 0);
	assert_int_equal(seen.c.dropped, 0);
	if (complete)
		assert_int_equal(seen.c.kept, (uint64_t)NT * per_thread);
	ttlog_snapshot_close(s);
}

static void recover_ok(const char *box, char *snap, size_t len)
{
	char msg[512];
	int rc = ttlog_recover(box, snapdir, snap, len, msg, sizeof msg);

	if (rc != 0)
		fail_msg("ttlog_recover(%s): %d %s", box, rc, msg);
	if (access(box, F_OK) == 0)
		fail_msg("%s still there after its recovery", box);
}

/* SIGKILL at a random moment, for the variant this binary is built with. */
static void test_kill9_random(void **state)
{
	unsigned kills = tu_quick() ? 3 : 8, seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	char box[4200], snap[4200];

	(void)state;
	per_thread = tu_quick() ? 4000 : 20000;
	srand(seed);
	print_message("seed %u\n", seed);
	for (unsigned n = 0; n < kills; n++) {
		uint64_t target = 1 + (uint64_t)rand() % (NT * per_thread);
		pid_t pid = run_and_kill("bbkill", 1u << 17, target);
		assert_int_equal(find_box(pid, box, sizeof box), 1);
		recover_ok(box, snap, sizeof snap);
		check_recovered(snap, pid, "bbkill", false);
		assert_int_equal(unlink(snap), 0);
	}
}

/* A child that logged everything, then was killed: every event is there. */
static void test_kill9_complete(void **state)
{
	char box[4200], snap[4200];
	pid_t pid;

	(void)state;
	per_thread = 1000;
	child_snapshot = true;
	pid = run_and_kill("bbdone", 1u << 14, UINT64_MAX);
	child_snapshot = false;
	assert_int_equal(find_box(pid, box, sizeof box), 1);
	{
		/* the snapshot moved the box to its second calibration; the events' times
		 * (checked below) come from it */
		struct ttlog__box_hdr h;
		int fd = open(box, O_RDONLY);
		assert_int_equal(pread(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
		close(fd);
		assert_int_equal(atomic_load(&h.anchor_cur), 1);
	}
	recover_ok(box, snap, sizeof snap);
	check_recovered(snap, pid, "bbdone", true);
}

/* A live process's box is left alone; ttlog_shutdown() removes it. */
static void test_live_box_untouched(void **state)
{
	ttlog_config cfg;
	char box[4200], snap[4200], msg[512];
	struct stat before, after;

	(void)state;
	config(&cfg, "bblive", 1024);
	assert_int_equal(ttlog_init(&cfg), 0);
	TTLOG_INFO("bb", "alive");
	assert_int_equal(find_box(getpid(), box, sizeof box), 1);
	assert_int_equal(stat(box, &before), 0);
	assert_int_equal(before.st_mode & 0777, 0600);
	assert_int_equal(ttlog_recover(box, snapdir, snap, sizeof snap, msg, sizeof msg), 1);
	assert_non_null(strstr(msg, "alive"));
	assert_int_equal(stat(box, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(tu_count(snapdir, "ttlog-", "-recovered.bin"), 0);
	ttlog_shutdown();
	assert_int_equal(find_box(getpid(), box, sizeof box), 0);
}

static void patch(const char *path, size_t off, const void *v, size_t n)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, v, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static uint64_t my_start_time(void)
{
	char buf[1024], *p;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	for (int field = 2; field < 22; field++)
		p = strchr(p + 1, ' ');
	return strtoull(p + 1, NULL, 10);
}

/* A box naming a live pid: left alone with that pid's start time; recovered with another
 * (the pid was reused by a new process). */
static void test_pid_reuse(void **state)
{
	char box[4200], snap[4200], msg[512];
	int32_t me = (int32_t)getpid();
	uint64_t start = my_start_time(), other = start + 12345;
	ttlog_snapshot_file *s;
	pid_t pid;

	(void)state;
	per_thread = 100;
	pid = run_and_kill("bbreuse", 1024, UINT64_MAX);
	assert_int_equal(find_box(pid, box, sizeof box), 1);
	patch(box, offsetof(struct ttlog__box_hdr, pid), &me, sizeof me);
	patch(box, offsetof(struct ttlog__box_hdr, start_time), &start, sizeof start);
	assert_int_equal(ttlog_recover(box, snapdir, snap, sizeof snap, msg, sizeof msg), 1);
	assert_int_equal(access(box, F_OK), 0);
	patch(box, offsetof(struct ttlog__box_hdr, start_time), &other, sizeof other);
	recover_ok(box, snap, sizeof snap);
	assert_int_equal(ttlog_snapshot_open(snap, &s), 0);
	assert_int_equal(ttlog_snapshot_pid(s), (uint64_t)me);
	assert_int_equal(ttlog_snapshot_event_count(s), NT * 100);
	ttlog_snapshot_close(s);
}

/* A restarted service finds its predecessor's events as a snapshot: ttlog_init()'s writer
 * recovers the boxes of dead processes of its service and snapshot directory, and leaves
 * another service's box alone. */
static void test_restart_recovers(void **state)
{
	char box[4200], other_box[4200], prefix[64], snap[4200];
	ttlog_config cfg;
	pid_t pid, other;

	(void)state;
	per_thread = 500;
	other = run_and_kill("bbother", 1024, 10);
	/* last: prog holds its progress */
	pid = run_and_kill("bbrestart", 1u << 12, 1 + (uint64_t)rand() % (NT * per_thread));
	assert_int_equal(find_box(pid, box, sizeof box), 1);
	assert_int_equal(find_box(other, other_box, sizeof other_box), 1);
	config(&cfg, "bbrestart", 1024);
	assert_int_equal(ttlog_init(&cfg), 0);
	snprintf(prefix, sizeof prefix, "ttlog-%d-", (int)pid);
	tu_wait_for(tu_count(snapdir, prefix, "-recovered.bin") == 1 && access(box, F_OK) != 0,
		    "the predecessor's recovered snapshot");
	tu_find(snapdir, prefix, snap, sizeof snap);
	check_recovered(snap, pid, "bbrestart", false);
	ttlog_shutdown();
	/* the other service's box is still there, and recoverable */
	assert_int_equal(access(other_box, F_OK), 0);
	recover_ok(other_box, snap, sizeof snap);
}

/* ---- hostile boxes ---- */

struct range {
	off_t off;
	size_t len;
	unsigned char *data;
};
static struct range ranges[64];
static size_t nranges;
static off_t box_size;

/* Remember the data ranges of a real box (it is sparse). */
static void load_ranges(const char *path)
{
	int fd = open(path, O_RDONLY);
	off_t off = 0;
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	box_size = st.st_size;
	nranges = 0;
	while (off < st.st_size && nranges < 64) {
		off_t data = lseek(fd, off, SEEK_DATA), hole;
		if (data < 0)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		ranges[nranges].off = data;
		ranges[nranges].len = (size_t)(hole - data);
		ranges[nranges].data = malloc(ranges[nranges].len);
		assert_non_null(ranges[nranges].data);
		assert_int_equal(pread(fd, ranges[nranges].data, ranges[nranges].len, data),
				 (ssize_t)ranges[nranges].len);
		nranges++;
		off = hole;
	}
	close(fd);
	assert_true(nranges > 0);
}

static void write_copy(const char *path, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	for (size_t i = 0; i < nranges; i++) {
		if (ranges[i].off >= size)
			continue;
		size_t n = ranges[i].off + (off_t)ranges[i].len > size
				   ? (size_t)(size - ranges[i].off)
				   : ranges[i].len;
		assert_int_equal(pwrite(fd, ranges[i].data, n, ranges[i].off), (ssize_t)n);
	}
	close(fd);
}

/* A refused box is kept and the message is not empty. */
static void expect_refused(const char *path, const char *what, const char *words)
{
	char snap[4200], msg[512];
	int rc = ttlog_recover(path, snapdir, snap, sizeof snap, msg, sizeof msg);

	if (rc >= 0)
		fail_msg("%s: recovered (rc %d), want an error", what, rc);
	if (msg[0] == '\0' || (words != NULL && strstr(msg, words) == NULL))
		fail_msg("%s: message '%s' (want '%s')", what, msg, words ? words : "any");
	if (access(path, F_OK) != 0 && errno == ENOENT)
		fail_msg("%s: the box was removed", what);
}

static void test_hostile_boxes(void **state)
{
	char box[4200], hostile[4200], snap[4200], msg[512];
	unsigned flips = tu_quick() ? 150 : 600, seed = (unsigned)time(NULL) ^ 0x5eed;
	uint64_t huge = 1ull << 40;
	uint32_t v32;
	pid_t pid;

	(void)state;
	per_thread = 200;
	pid = run_and_kill("bbhostile", 1024, 300);
	assert_int_equal(find_box(pid, box, sizeof box), 1);
	load_ranges(box);
	snprintf(hostile, sizeof hostile, "%s/ttlog-%d-1.box", boxdir, (int)pid);

	write_copy(hostile, box_size / 2);
	expect_refused(hostile, "truncated", "truncated");
	write_copy(hostile, 100);
	expect_refused(hostile, "truncated to 100 bytes", "truncated");
	{
		int fd = open(hostile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_int_equal(ftruncate(fd, box_size), 0);
		close(fd);
	}
	expect_refused(hostile, "zeroed", "magic");
	write_copy(hostile, box_size);
	v32 = 99;
	patch(hostile, offsetof(struct ttlog__box_hdr, version), &v32, 4);
	expect_refused(hostile, "wrong version", "version");

	static const struct {
		const char *what;
		size_t off;
	} sizes[] = {
		{"capacity 2^40", offsetof(struct ttlog__box_hdr, capacity)},
		{"callsite region 2^40", offsetof(struct ttlog__box_hdr, cs_size)},
		{"callsite offset 2^40", offsetof(struct ttlog__box_hdr, cs_off)},
		{"segment table offset 2^40", offsetof(struct ttlog__box_hdr, seg_off)},
		{"file size 2^40", offsetof(struct ttlog__box_hdr, file_size)},
	};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		write_copy(hostile, box_size);
		patch(hostile, sizes[i].off, &huge, 8);
		expect_refused(hostile, sizes[i].what, NULL);
	}
	/* a segment with 2^40 slots, and one whose tail is far away */
	{
		struct ttlog__box_hdr h;
		int fd = open(box, O_RDONLY);
		assert_int_equal(pread(fd, &h, sizeof h, 0), (ssize_t)sizeof h);
		close(fd);
		write_copy(hostile, box_size);
		patch(hostile, h.seg_off + offsetof(struct ttlog__box_seg, nslots), &huge, 8);
		expect_refused(hostile, "a segment of 2^40 slots", NULL);
		write_copy(hostile, box_size);
		patch(hostile, h.seg_off + offsetof(struct ttlog__box_seg, slots), &huge, 8);
		expect_refused(hostile, "slots at 2^40", "outside");
	}
	/* a symlink named like a box: refused, its target untouched */
	unlink(hostile);
	assert_int_equal(symlink(box, hostile), 0);
	expect_refused(hostile, "symlink", "symlink");
	assert_int_equal(access(box, F_OK), 0);
	unlink(hostile);

	/* random bit flips in the data: an error or a readable snapshot, never a crash */
	srand(seed);
	print_message("flip seed %u\n", seed);
	for (unsigned n = 0; n < flips; n++) {
		size_t r = (size_t)rand() % nranges, at = (size_t)rand() % ranges[r].len;
		unsigned char bit = (unsigned char)(1u << (rand() % 8));
		ranges[r].data[at] ^= bit;
		write_copy(hostile, box_size);
		ranges[r].data[at] ^= bit;
		int rc = ttlog_recover(hostile, snapdir, snap, sizeof snap, msg, sizeof msg);
		if (rc == 0) {
			ttlog_snapshot_file *s = NULL;
			if (ttlog_snapshot_open(snap, &s) != 0)
				fail_msg("flip %zu:%zu^%u: unreadable snapshot: %s", r, at, bit,
					 ttlog_reader_errmsg());
			ttlog_snapshot_close(s);
			unlink(snap);
		} else {
			unlink(hostile);
		}
	}
	for (size_t i = 0; i < nranges; i++)
		free(ranges[i].data);
	/* and the real one still recovers */
	recover_ok(box, snap, sizeof snap);
}

/* The box directory: refused unless ours and not writable by others; off with -1. */
static void test_box_dir_checks(void **state)
{
	ttlog_config cfg;
	char link[4200], box[4200];

	(void)state;
	config(&cfg, "bbdir", 1024);
	cfg.quiet = true;
	assert_int_equal(chmod(boxdir, 0770), 0);
	assert_int_equal(ttlog_init(&cfg), -EPERM);
	assert_non_null(strstr(ttlog_errmsg(), "refused"));
	assert_int_equal(chmod(boxdir, 0700), 0);
	snprintf(link, sizeof link, "%s-link", boxdir);
	assert_int_equal(symlink(boxdir, link), 0);
	cfg.blackbox_dir = link;
	assert_true(ttlog_init(&cfg) < 0);
	unlink(link);
	/* a missing directory is created, 0700 */
	snprintf(link, sizeof link, "%s/sub", boxdir);
	cfg.blackbox_dir = link;
	assert_int_equal(ttlog_init(&cfg), 0);
	{
		struct stat st;
		assert_int_equal(stat(link, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	ttlog_shutdown();
	rmdir(link);
	/* off: no box */
	cfg.blackbox_dir = boxdir;
	cfg.blackbox = -1;
	assert_int_equal(ttlog_init(&cfg), 0);
	TTLOG_INFO("bb", "no box");
	assert_int_equal(find_box(getpid(), box, sizeof box), 0);
	ttlog_shutdown();
	/* the environment (make test sets TTLOG_BLACKBOX_DIR: put it back after) */
	const char *saved = getenv("TTLOG_BLACKBOX_DIR");
	char keep[4096] = "";
	if (saved != NULL)
		snprintf(keep, sizeof keep, "%s", saved);
	setenv("TTLOG_BLACKBOX", "0", 1);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	assert_int_equal(cfg.blackbox, -1);
	setenv("TTLOG_BLACKBOX", "yes", 1);
	assert_int_equal(ttlog_config_default(&cfg), -EINVAL);
	unsetenv("TTLOG_BLACKBOX");
	setenv("TTLOG_BLACKBOX_DIR", "/x/y", 1);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	assert_string_equal(cfg.blackbox_dir, "/x/y");
	if (saved != NULL)
		setenv("TTLOG_BLACKBOX_DIR", keep, 1);
	else
		unsetenv("TTLOG_BLACKBOX_DIR");
}

/* Skip a fork test under TSan: the child's writer is a thread created after a
 * multi-threaded fork, which TSan cannot run (die_after_fork). ASan runs it. */
#define SKIP_FORK_UNDER_TSAN()                                                                     \
	do {                                                                                       \
		if (strcmp(tu_san(), "tsan") == 0) {                                               \
			print_message("skipped under TSan\n");                                     \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Count the events of s by target and message. */
static unsigned count_events(ttlog_snapshot_file *s, const char *target, const char *message)
{
	ttlog_event ev;
	unsigned n = 0;

	ttlog_snapshot_rewind(s);
	while (ttlog_snapshot_next(s, &ev) > 0)
		n += strcmp(ev.target, target) == 0 &&
		     (message == NULL || strcmp(ev.message, message) == 0);
	return n;
}

/* A forked child held at a gate: it starts when the parent opens it (so that the parent
 * can log first), says when it is ready, then waits to be killed. */
struct gate {
	int ready[2], go[2];
};

/* fork(): 0 in the child once the gate is open, the child's pid in the parent. */
static pid_t fork_gated(struct gate *g)
{
	char c;
	pid_t pid;

	assert_int_equal(pipe(g->ready), 0);
	assert_int_equal(pipe(g->go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
		close(g->go[1]);
		if (read(g->go[0], &c, 1) != 1)
			_exit(9);
		return 0;
	}
	close(g->ready[1]); /* a child that dies early: end of file, not a hang */
	close(g->go[0]);
	return pid;
}

static void gate_open(struct gate *g)
{
	assert_int_equal(write(g->go[1], "g", 1), 1);
}

static void __attribute__((noreturn)) child_ready(struct gate *g)
{
	if (write(g->ready[1], "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* Wait for the child to be ready; fail with its status if it died instead. */
static void wait_ready(struct gate *g, pid_t pid)
{
	int status;
	char c;

	if (read(g->ready[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		fail_msg("the child failed (status %#x)", status);
	}
}

static void gate_close(struct gate *g)
{
	close(g->ready[0]);
	close(g->go[1]);
}

/* fork: the child gets a box of its own when it first logs, not before: a copy of what it
 * inherited, cut at the fork (the parent's later events never in it), then its own events,
 * parent_pid set; the parent's box and ring never see the child's events. */
static void test_fork_own_box(void **state)
{
	ttlog_config cfg;
	char box[4200], snap[4200];
	ttlog_snapshot_file *s;
	struct gate g;
	int status;
	pid_t pid;

	(void)state;
	SKIP_FORK_UNDER_TSAN();
	config(&cfg, "bbfork", 1024);
	assert_int_equal(ttlog_init(&cfg), 0);
	for (int i = 0; i < 10; i++)
		TTLOG_INFO("parent", "before fork {}", TTLOG_I64("i", i));
	if ((pid = fork_gated(&g)) == 0) {
		if (find_box(getpid(), box, sizeof box) != 0)
			_exit(10); /* a box before the child used ttlog */
		for (int i = 0; i < 20; i++)
			TTLOG_INFO("child", "in the child {}", TTLOG_I64("i", i));
		if (find_box(getpid(), box, sizeof box) != 1)
			_exit(11);
		child_ready(&g);
	}
	/* the parent logs on after the fork, before the child makes its box */
	for (int i = 0; i < 10; i++)
		TTLOG_INFO("parent", "after fork {}", TTLOG_I64("i", i));
	gate_open(&g);
	wait_ready(&g, pid);
	assert_int_equal(find_box(pid, box, sizeof box), 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	recover_ok(box, snap, sizeof snap);
	assert_int_equal(ttlog_snapshot_open(snap, &s), 0);
	assert_int_equal(ttlog_snapshot_pid(s), (uint64_t)pid);
	assert_int_equal(ttlog_snapshot_parent_pid(s), (uint64_t)getpid());
	assert_int_equal(count_events(s, "parent", "before fork {}"), 10); /* inherited */
	assert_int_equal(count_events(s, "parent", "after fork {}"), 0);
	assert_int_equal(count_events(s, "child", NULL), 20);
	tu_assert_balanced(s);
	ttlog_snapshot_close(s);
	/* the parent's own box is still its own, and so is its ring */
	assert_int_equal(find_box(getpid(), box, sizeof box), 1);
	s = tu_snapshot("after");
	assert_int_equal(count_events(s, "parent", NULL), 20);
	assert_int_equal(count_events(s, "child", NULL), 0);
	ttlog_snapshot_close(s);
	gate_close(&g);
	ttlog_shutdown();
}

/* fork + exec: the child makes no box (it never used ttlog) and leaves none behind. */
static void test_fork_exec_makes_no_box(void **state)
{
	ttlog_config cfg;
	char box[4200];
	int status;
	pid_t pid;

	(void)state;
	SKIP_FORK_UNDER_TSAN();
	config(&cfg, "bbexec", 1024);
	assert_int_equal(ttlog_init(&cfg), 0);
	TTLOG_INFO("parent", "before fork");
	for (int k = 0; k < 3; k++) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		assert_int_equal(find_box(pid, box, sizeof box), 0);
	}
	assert_int_equal(find_box(getpid(), box, sizeof box), 1);
	ttlog_shutdown();
}

/* fork while NT threads log flat out: the child, which first logs after the parent has
 * overwritten its ring several times since the fork, has none of the parent's later events
 * (post = 1), all of its own, and balanced counters, in its live snapshot and in its
 * recovered box; every variant (mpmc's slots claimed at the fork do not stop its pushes). */
static _Atomic int fork_post, fork_stop;

static void *fork_logger(void *arg)
{
	uint64_t i = 0;

	(void)arg;
	while (!atomic_load(&fork_stop))
		TTLOG_INFO("parent", "thread {} post {}", TTLOG_U64("i", i++),
			   TTLOG_U64("post", (uint64_t)atomic_load(&fork_post)));
	return NULL;
}

static void check_fork_child(ttlog_snapshot_file *s, pid_t pid, const char *what)
{
	ttlog_event ev;
	unsigned mine = 0;

	assert_int_equal(ttlog_snapshot_pid(s), (uint64_t)pid);
	assert_int_equal(ttlog_snapshot_parent_pid(s), (uint64_t)getpid());
	while (ttlog_snapshot_next(s, &ev) > 0) {
		if (strcmp(ev.target, "child") == 0)
			mine++;
		else if (ev.nfields == 2 && ev.fields[1].v.u64 != 0)
			fail_msg("the parent's event %llu (thread %llu), logged after the fork, in "
				 "the child's %s",
				 (unsigned long long)ev.fields[0].v.u64,
				 (unsigned long long)ev.thread_id, what);
	}
	assert_int_equal(mine, 100);
	tu_assert_balanced(s);
}

static void test_fork_while_logging(void **state)
{
	const size_t cap = 1024;
	ttlog_config cfg;
	ttlog_stats st0, st;
	pthread_t th[NT];
	char box[4200], snap[4200], prefix[64];
	ttlog_snapshot_file *s;
	struct gate g;
	int status;
	pid_t pid;

	(void)state;
	SKIP_FORK_UNDER_TSAN();
	config(&cfg, "bbforklog", cap);
	assert_int_equal(ttlog_init(&cfg), 0);
	atomic_store(&fork_post, 0);
	atomic_store(&fork_stop, 0);
	for (unsigned k = 0; k < NT; k++)
		assert_int_equal(pthread_create(&th[k], NULL, fork_logger, NULL), 0);
	tu_wait_for((ttlog_get_stats(&st), st.logged > 4 * cap), "the threads logging");
	if ((pid = fork_gated(&g)) == 0) {
		for (int i = 0; i < 100; i++)
			TTLOG_INFO("child", "child {}", TTLOG_I64("i", i));
		if (ttlog_snapshot("child", NULL, 0) != 0)
			_exit(12);
		child_ready(&g);
	}
	atomic_store(&fork_post, 1);
	ttlog_get_stats(&st0);
	tu_wait_for((ttlog_get_stats(&st), st.logged > st0.logged + 4 * cap),
		    "the parent overwriting its ring after the fork");
	gate_open(&g);
	wait_ready(&g, pid);
	snprintf(prefix, sizeof prefix, "ttlog-%d-", (int)pid);
	tu_find(snapdir, prefix, snap, sizeof snap);
	assert_int_equal(ttlog_snapshot_open(snap, &s), 0);
	check_fork_child(s, pid, "snapshot");
	ttlog_snapshot_close(s);
	assert_int_equal(unlink(snap), 0);
	assert_int_equal(find_box(pid, box, sizeof box), 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	recover_ok(box, snap, sizeof snap);
	assert_int_equal(ttlog_snapshot_open(snap, &s), 0);
	check_fork_child(s, pid, "recovered box");
	ttlog_snapshot_close(s);
	atomic_store(&fork_stop, 1);
	for (unsigned k = 0; k < NT; k++)
		pthread_join(th[k], NULL);
	s = tu_snapshot("parent");
	assert_int_equal(count_events(s, "child", NULL), 0);
	tu_assert_balanced(s);
	ttlog_snapshot_close(s);
	gate_close(&g);
	ttlog_shutdown();
}

/* ttlog-recover: usage, exit 1 with a bad box (kept), 0 with a good one; ttlog-view shows
 * reason recovered. */
static void test_tool(void **state)
{
	const char *bin = getenv("TTLOG_BIN");
	char cmd[9000], box[4200], bad[4200], line[512];
	FILE *p;
	pid_t pid;
	int found = 0;

	(void)state;
	if (bin == NULL) {
		print_message("TTLOG_BIN not set: the tools are not tested here\n");
		skip();
	}
	snprintf(cmd, sizeof cmd, "%s/ttlog-recover --help >/dev/null", bin);
	assert_int_equal(WEXITSTATUS(system(cmd)), 0);
	snprintf(cmd, sizeof cmd, "%s/ttlog-recover --bogus 2>/dev/null", bin);
	assert_int_equal(WEXITSTATUS(system(cmd)), 2);
	per_thread = 50;
	pid = run_and_kill("bbtool", 1024, UINT64_MAX);
	assert_int_equal(find_box(pid, box, sizeof box), 1);
	snprintf(bad, sizeof bad, "%s/ttlog-1-1.box", boxdir);
	{
		int fd = open(bad, O_WRONLY | O_CREAT, 0600);
		assert_int_equal(write(fd, "garbage", 7), 7);
		close(fd);
	}
	snprintf(cmd, sizeof cmd, "%s/ttlog-recover --out %s %s 2>/dev/null >/dev/null", bin,
		 snapdir, boxdir);
	assert_int_equal(WEXITSTATUS(system(cmd)), 1);
	assert_int_equal(access(bad, F_OK), 0);
	assert_int_equal(access(box, F_OK), -1); /* the good one was recovered */
	unlink(bad);
	snprintf(cmd, sizeof cmd, "%s/ttlog-view -H %s", bin, snapdir);
	assert_non_null(p = popen(cmd, "r"));
	while (fgets(line, sizeof line, p) != NULL)
		found += strncmp(line, "reason       recovered", 22) == 0;
	assert_int_equal(pclose(p), 0);
	assert_int_equal(found, 1);
	snprintf(cmd, sizeof cmd, "%s/ttlog-recover --out %s %s", bin, snapdir, boxdir);
	assert_int_equal(WEXITSTATUS(system(cmd)), 0); /* nothing left: fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill9_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_box_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_boxes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_box_dir_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_own_box, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_exec_makes_no_box, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_while_logging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tool, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
