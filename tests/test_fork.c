/*
 * test_fork.c - fork() while ttlog runs: a child forked while another thread is inside a
 * snapshot can take snapshots (it does not inherit that thread's claim on the snapshot
 * buffers), has a writer of its own for ttlog_request_snapshot(), and logs with its own
 * thread id; the parent's snapshot in progress and its writer go on undisturbed.
 *
 * The other thread is held inside its snapshot deterministically: fsync() is interposed
 * in this binary and blocks the first call on a pipe until the test lets it go.
 */
#include "testutil.h"

#include <execinfo.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char dir[4096];
static int entered[2], release_[2];
static _Atomic int hold_next;

/* The first fsync after hold_next is set (the snapshot's temporary file: the snapshot
 * buffers are claimed) tells the test and waits for it. */
int fsync(int fd)
{
	if (atomic_exchange(&hold_next, 0)) {
		char c = 'e';
		if (write(entered[1], &c, 1) != 1 || read(release_[0], &c, 1) != 1)
			abort();
	}
	return (int)syscall(SYS_fsync, fd);
}

static int held_rc = 1;
static char held_path[4200];

static void *held_snapshot(void *arg)
{
	(void)arg;
	held_rc = ttlog_snapshot("held", held_path, sizeof held_path);
	return NULL;
}

/* Wait up to 60 s for a ttlog-{pid}-*-{reason}.bin in dir. 1 when it is there. */
static int wait_for_file(pid_t pid, const char *reason)
{
	char prefix[64], suffix[64];

	snprintf(prefix, sizeof prefix, "ttlog-%ld-", (long)pid);
	snprintf(suffix, sizeof suffix, "-%s.bin", reason);
	for (int i = 0; i < 6000; i++) {
		if (tu_count(dir, prefix, suffix) > 0)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* What the child is doing, and where it was, when its alarm goes off: a hang says so */
static const char *volatile child_stage = "starting";

static void say(const char *m)
{
	ssize_t rc = write(2, m, strlen(m));
	(void)rc;
}

static void child_alarm(int sig)
{
	void *pcs[64];
	int n = backtrace(pcs, 64);

	(void)sig;
	say("child: 120 s alarm while ");
	say(child_stage);
	say("; its stack:\n");
	backtrace_symbols_fd(pcs, n, 2);
	signal(SIGALRM, SIG_DFL);
	raise(SIGALRM);
}

/* The forked child: exits 0, or prints what failed and exits non-zero. A hang in
 * ttlog_snapshot() (the inherited claim) ends by SIGALRM, its stage and stack printed. */
static void child(void)
{
	uint32_t me = (uint32_t)syscall(SYS_gettid);
	ttlog_snapshot_file *s = NULL;
	char path[4200];
	ttlog_event ev;
	int rc, found = 0;
	void *pc;

	backtrace(&pc, 1); /* loads libgcc now: the alarm's handler must not */
	signal(SIGALRM, child_alarm);
	alarm(120); /* beyond the 60 s wait for the request below */
	child_stage = "logging";
	TTLOG_INFO("fork", "in the child {}", TTLOG_U64("tid", me));
	child_stage = "in ttlog_snapshot";
	rc = ttlog_snapshot("child", path, sizeof path);
	if (rc != 0) {
		fprintf(stderr, "child: ttlog_snapshot: %d %s\n", rc, ttlog_strerror(rc));
		_exit(10);
	}
	child_stage = "reading its snapshot";
	if ((rc = ttlog_snapshot_open(path, &s)) != 0) {
		fprintf(stderr, "child: %s: %s\n", path, ttlog_reader_errmsg());
		_exit(11);
	}
	while (ttlog_snapshot_next(s, &ev) == 1) {
		if (strcmp(ev.message, "in the child {}") != 0)
			continue;
		found = 1;
		if (ev.thread_id != me) {
			fprintf(stderr, "child: its event carries tid %llu, want the child's %u\n",
				(unsigned long long)ev.thread_id, me);
			_exit(12);
		}
	}
	ttlog_snapshot_close(s);
	if (!found) {
		fprintf(stderr, "child: its event is not in its snapshot\n");
		_exit(13);
	}
	child_stage = "requesting a snapshot";
	if ((rc = ttlog_request_snapshot("childreq")) != 0) {
		fprintf(stderr, "child: ttlog_request_snapshot: %d %s\n", rc, ttlog_strerror(rc));
		_exit(14);
	}
	child_stage = "waiting for the requested snapshot";
	if (!wait_for_file(getpid(), "childreq")) {
		fprintf(stderr, "child: no snapshot 60 s after ttlog_request_snapshot()\n");
		_exit(15);
	}
	alarm(0);
	ttlog_shutdown();
	_exit(0);
}

static void test_fork_during_snapshot(void **state)
{
	struct pollfd pfd;
	pthread_t th;
	int status;
	char c = 0;
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	assert_int_equal(pipe(entered), 0);
	assert_int_equal(pipe(release_), 0);
	tu_start(dir, 1024, TTLOG_POLICY_OVERWRITE);
	TTLOG_INFO("fork", "in the parent"); /* this thread's tid is cached before the fork */
	atomic_store(&hold_next, 1);
	assert_int_equal(pthread_create(&th, NULL, held_snapshot, NULL), 0);
	pfd.fd = entered[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 60000) != 1 || read(entered[0], &c, 1) != 1)
		fail_msg("the snapshot thread did not reach fsync in 60 s");

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child();
	assert_int_equal(waitpid(pid, &status, 0), pid);

	/* the parent's snapshot in progress finishes */
	assert_int_equal(write(release_[1], "r", 1), 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child status %#x, want exit 0 (see its message above; signal 14: it "
			 "hung, its stage and stack are above)",
			 status);
	assert_int_equal(held_rc, 0);
	assert_int_equal(tu_count(dir, "ttlog-", "-held.bin"), 1);
	/* the parent's writer still serves the parent */
	assert_int_equal(ttlog_request_snapshot("parentreq"), 0);
	if (!wait_for_file(getpid(), "parentreq"))
		fail_msg("parent: no snapshot 60 s after ttlog_request_snapshot()");
	ttlog_shutdown();
	assert_int_equal(tu_count(dir, ".ttlog-tmp", ""), 0);
	/* child files carry the child's pid, and nothing else of the child's is there */
	{
		char prefix[64];
		snprintf(prefix, sizeof prefix, "ttlog-%ld-", (long)pid);
		assert_int_equal(tu_count(dir, prefix, ".bin"), 2);
	}
	close(entered[0]);
	close(entered[1]);
	close(release_[0]);
	close(release_[1]);
	tu_rmdir(dir);
}

/* Lineage (incidents issue): fork while 4 threads log; the child logs and crashes. Its
 * crash snapshot names its own pid and the parent's (parent_pid) and holds its event; the
 * parent goes on logging and snapshots as itself, with no parent_pid. */
static _Atomic int loggers_stop;

static void *logger(void *arg)
{
	uint64_t i = 0;

	(void)arg;
	while (!atomic_load(&loggers_stop))
		TTLOG_INFO("fork", "parent thread {}", TTLOG_U64("i", i++));
	return NULL;
}

static void test_fork_lineage_child_crash(void **state)
{
	pthread_t th[4];
	char prefix[64], path[4400];
	ttlog_snapshot_file *s;
	ttlog_event ev;
	uint64_t v = 0;
	int status, found = 0;
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	tu_start(dir, 4096, TTLOG_POLICY_OVERWRITE);
	/* ttlog's handler chains to the previous one: the default action, not cmocka's
	 * (which would longjmp the child back into the test runner) */
	signal(SIGSEGV, SIG_DFL);
	assert_int_equal(ttlog_install_crash_handler(), 0);
	atomic_store(&loggers_stop, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, logger, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		TTLOG_ERROR("fork", "the child's last words {}", TTLOG_U64("code", 7));
		raise(SIGSEGV);
		_exit(3); /* not reached: the crash handler re-raises */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		fail_msg("child status %#x, want killed by SIGSEGV", status);
	snprintf(prefix, sizeof prefix, "ttlog-%ld-", (long)pid);
	assert_int_equal(tu_count(dir, prefix, "-SIGSEGV.bin"), 1);
	tu_find(dir, prefix, path, sizeof path);
	assert_int_equal(ttlog_snapshot_open(path, &s), 0);
	assert_int_equal(ttlog_snapshot_pid(s), (uint64_t)pid);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "parent_pid", &v), 1);
	assert_int_equal(v, (uint64_t)getpid());
	while (ttlog_snapshot_next(s, &ev) == 1)
		found += ev.nfields == 1 && strcmp(ev.fields[0].name, "code") == 0 &&
			 ev.fields[0].v.u64 == 7;
	/* every variant: a slot a parent thread had claimed but not published at the fork
	 * (mpmc) is cut out of the child's ring, not left to block its pushes */
	assert_int_equal(found, 1);
	tu_assert_balanced(s);
	ttlog_snapshot_close(s);
	/* the parent: still logging, its snapshots its own */
	ttlog_stats before, after;
	ttlog_get_stats(&before);
	tu_wait_for((ttlog_get_stats(&after), after.logged > before.logged),
		    "the parent's threads logging after the fork");
	s = tu_snapshot("parent");
	assert_int_equal(ttlog_snapshot_pid(s), (uint64_t)getpid());
	assert_int_equal(ttlog_snapshot_meta_u64(s, "parent_pid", &v), 0);
	tu_assert_balanced(s);
	ttlog_snapshot_close(s);
	atomic_store(&loggers_stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ttlog_shutdown();
	tu_rmdir(dir);
}

/* Without a black box fork() copies the rings as they are while 4 threads log: a slot a
 * parent thread had claimed but not published is cut out of the child's rings when the
 * child first logs (mpmc would otherwise drop every push that reaches it). The child,
 * first logging after the parent overwrote its ring several times, has all of its events,
 * none the parent logged after the fork (the rings are the child's private copy), and
 * balanced counters. */
static _Atomic int post_fork;

static void *flag_logger(void *arg)
{
	uint64_t i = 0;

	(void)arg;
	while (!atomic_load(&loggers_stop))
		TTLOG_INFO("fork", "parent thread {} post {}", TTLOG_U64("i", i++),
			   TTLOG_U64("post", (uint64_t)atomic_load(&post_fork)));
	return NULL;
}

static int __attribute__((noreturn)) no_box_child(int go)
{
	ttlog_snapshot_file *s;
	ttlog_snapshot_counters k;
	ttlog_event ev;
	char path[4200], c;
	int mine = 0;

	if (read(go, &c, 1) != 1)
		_exit(9);
	for (int i = 0; i < 100; i++)
		TTLOG_INFO("child", "child {}", TTLOG_I64("i", i));
	if (ttlog_snapshot("child", path, sizeof path) != 0 || ttlog_snapshot_open(path, &s) != 0)
		_exit(10);
	while (ttlog_snapshot_next(s, &ev) == 1) {
		if (strcmp(ev.target, "child") == 0)
			mine++;
		else if (ev.nfields == 2 && ev.fields[1].v.u64 != 0)
			_exit(11); /* the parent's, logged after the fork */
	}
	ttlog_snapshot_get_counters(s, &k);
	if (mine != 100)
		_exit(12);
	if (k.logged != k.kept + k.overwritten + k.dropped)
		_exit(13);
	ttlog_snapshot_close(s);
	_exit(0);
}

static void test_fork_no_box_while_logging(void **state)
{
	const size_t cap = 1024;
	ttlog_stats st0, st;
	pthread_t th[4];
	int status, go[2];
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	setenv("TTLOG_BLACKBOX", "0", 1);
	tu_start(dir, cap, TTLOG_POLICY_OVERWRITE);
	unsetenv("TTLOG_BLACKBOX");
	atomic_store(&loggers_stop, 0);
	atomic_store(&post_fork, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, flag_logger, NULL), 0);
	tu_wait_for((ttlog_get_stats(&st), st.logged > 4 * cap), "the threads logging");
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		no_box_child(go[0]);
	}
	atomic_store(&post_fork, 1);
	close(go[0]);
	ttlog_get_stats(&st0);
	tu_wait_for((ttlog_get_stats(&st), st.logged > st0.logged + 4 * cap),
		    "the parent overwriting its ring after the fork");
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child status %#x (exit 11: a parent event logged after the fork; 12: "
			 "not all of its 100 events; 13: counters do not balance)",
			 status);
	atomic_store(&loggers_stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	close(go[1]);
	ttlog_shutdown();
	tu_rmdir(dir);
}

/* fork() while another thread holds the interner's lock (it commits a new event shape
 * through the builder, again and again: once the interner is full every commit searches
 * the table under the lock). The child commits a shape of its own: it must not wait for a
 * lock whose owner does not exist in the child. */
static _Atomic int interning_stop;
static _Atomic uint64_t interned;

static void *interning(void *arg)
{
	char msg[64];

	(void)arg;
	for (uint64_t i = 0; !atomic_load(&interning_stop); i++) {
		ttlog_builder b;
		snprintf(msg, sizeof msg, "shape %llu", (unsigned long long)i);
		ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "fork", msg);
		ttlog_builder_u64(&b, "i", i);
		(void)ttlog_builder_commit(&b);
		atomic_fetch_add(&interned, 1);
	}
	return NULL;
}

static void test_fork_while_interning(void **state)
{
	pthread_t th;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	tu_start(dir, 1024, TTLOG_POLICY_OVERWRITE);
	atomic_store(&interning_stop, 0);
	assert_int_equal(pthread_create(&th, NULL, interning, NULL), 0);
	for (int k = 0; k < 20; k++) {
		uint64_t seen = atomic_load(&interned);
		int status, rc;
		pid_t pid;
		tu_wait_for(atomic_load(&interned) > seen + 100, "the thread committing shapes");
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			ttlog_builder b;
			signal(SIGALRM, SIG_DFL);
			alarm(60);
			ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "fork", "the child's own shape");
			rc = ttlog_builder_commit(&b);
			_exit(rc == 0 || rc == -ENOSPC ? 0 : 20);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("fork %d: child status %#x (signal 14: it waited for the "
				 "interner's lock; exit 20: the commit failed)",
				 k, status);
	}
	atomic_store(&interning_stop, 1);
	pthread_join(th, NULL);
	ttlog_shutdown();
	tu_rmdir(dir);
}

/* a test that failed left ttlog running: the next one starts from nothing */
static int stop_ttlog(void **state)
{
	(void)state;
	ttlog_shutdown();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fork_during_snapshot, stop_ttlog),
		cmocka_unit_test_teardown(test_fork_lineage_child_crash, stop_ttlog),
		cmocka_unit_test_teardown(test_fork_no_box_while_logging, stop_ttlog),
		cmocka_unit_test_teardown(test_fork_while_interning, stop_ttlog),
	};
	if (strcmp(tu_san(), "tsan") == 0) {
		/* the child's writer is a thread created after a multi-threaded fork: TSan
		 * cannot (die_after_fork; without it "dup thread with used id"). ASan runs it. */
		print_message("test_fork: skipped under TSan\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
