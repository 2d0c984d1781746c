/*
 * test_crash.c - a child process crashes on each crash signal and on a stack overflow:
 * the snapshot is there, decodes, holds the last event, and the child dies by the same
 * signal it would have died by without ttlog. A handler installed before ttlog's is
 * called first: a crash reporter that re-raises gets a snapshot, a guard page handler that
 * resolves its fault gets none and ttlog's handler stays; the crash path allocates nothing
 * (malloc is interposed in this binary). Faults in the writer thread and in a thread that
 * logged before the install are recorded too.
 */
#include "testutil.h"
#include "die.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static char dir[4096];

/* ---- malloc interposer: reports allocations while `counting` is set ---- */
#if !SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
static _Atomic int counting;
static int report_fd = -1;

/* one 'A' on report_fd per allocation while counting: the parent reads them after the
 * child died, so allocations after the previous handler ran are seen too */
static void counted(void)
{
	if (atomic_load(&counting)) {
		ssize_t rc = write(report_fd, "A", 1);
		(void)rc;
	}
}

void *malloc(size_t n)
{
	counted();
	return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
	counted();
	return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
	counted();
	return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n)
{
	counted();
	return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n)
{
	counted();
	*out = __libc_memalign(al, n);
	return *out ? 0 : ENOMEM;
}
void free(void *p)
{
	__libc_free(p);
}
#endif

/* ---- ways to die ---- */


/* Set once the crashing thread has logged its last event. From then on each logger logs
 * at most LOGGER_AFTER more events, so that they cannot push that event out of the ring
 * however long the crashing thread waits to be scheduled before it faults. */
static _Atomic int last_logged;
static _Atomic int loggers_started;
#define LOGGER_AFTER 4096

static void *logger(void *arg)
{
	uint64_t after = 0;

	(void)arg;
	for (uint64_t i = 0; after < LOGGER_AFTER; i++) {
		TTLOG_DEBUG("bg", "background {}", TTLOG_U64("i", i));
		if (i == 0)
			atomic_fetch_add(&loggers_started, 1);
		/* busy, but not flat out: still logging when the crash comes */
		if (i % 100 == 99)
			usleep(50);
		after += atomic_load(&last_logged);
	}
	for (;;)
		pause(); /* alive, not logging, until the process dies */
	return NULL;
}

/* Child: reset the test runner's handlers, install prev_segv for SIGSEGV (NULL: none),
 * start ttlog with loggers threads logging, and install the crash handler unless
 * install is 0. */
static void child_start(int loggers, const struct sigaction *prev_segv, int install)
{
	struct rlimit no_core = {0, 0};
	static pthread_t th[2];

	setrlimit(RLIMIT_CORE, &no_core);
	/* cmocka's own handlers are for the test runner, not for this child */
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	if (prev_segv != NULL)
		sigaction(SIGSEGV, prev_segv, NULL);
	/* with threads logging: 8 times what they log after the last event */
	tu_start(dir, loggers ? 65536 : 1024, TTLOG_POLICY_OVERWRITE);
	if (install && ttlog_install_crash_handler() != 0)
		_exit(98);
	for (int i = 0; i < loggers; i++)
		pthread_create(&th[i], NULL, logger, NULL);
	/* the loggers are logging before the crashing thread's events */
	uint64_t t0 = tu_now_ms();
	while (atomic_load(&loggers_started) < loggers) {
		if (tu_now_ms() - t0 > TU_HANG_S * 1000u)
			_exit(97); /* hung: the parent reports the exit status */
		usleep(1000);
	}
	for (uint64_t i = 0; i < 100; i++)
		TTLOG_INFO("crash", "step {}", TTLOG_U64("i", i));
}

/* Child: log, then die `how`. With loggers, two threads log while it crashes. */
static void child(int how, int loggers, const struct sigaction *prev_segv, int count_allocs)
{
	child_start(loggers, prev_segv, 1);
	TTLOG_ERROR("crash", "last event before {}", TTLOG_I64("how", how));
	atomic_store(&last_logged, 1);
#if !SANITIZED
	if (count_allocs)
		atomic_store(&counting, 1);
#else
	(void)count_allocs;
#endif
	ttlog_die(how, dir); /* tests/die.h: 0 is a stack overflow */
}

/* A child that should have died by now (a crash in another thread): bounded wait. */
__attribute__((noreturn)) static void wait_to_die(void)
{
	for (int i = 0; i < 6000; i++)
		usleep(10000);
	fprintf(stderr, "child: still alive after 60 s\n");
	_exit(97);
}

static void check_snapshot(const char *reason, int how)
{
	char path[4200];
	ttlog_snapshot_file *s = NULL;
	ttlog_event ev, last;
	int found_last = 0;

	tu_find(dir, reason, path, sizeof path);
	if (path[0] == '\0')
		fail_msg("no snapshot with reason %s in %s", reason, dir);
	if (ttlog_snapshot_open(path, &s) != 0)
		fail_msg("%s: %s", path, ttlog_reader_errmsg());
	assert_string_equal(ttlog_snapshot_reason(s), reason);
	tu_assert_balanced(s);
	while (ttlog_snapshot_next(s, &ev) == 1) {
		if (strcmp(ev.target, "crash") == 0) {
			last = ev;
			found_last = strcmp(ev.message, "last event before {}") == 0;
		}
	}
	if (!found_last)
		fail_msg("%s: the last event of the crashing thread is missing", path);
	assert_int_equal(last.fields[0].v.i64, how);
	assert_int_equal(tu_count(dir, ".ttlog-tmp", ""), 0);
	ttlog_snapshot_close(s);
}

static void crash_case(int how, int sig, const char *reason, int loggers)
{
	int status;
	pid_t pid;

	tu_mkdir(dir, sizeof dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(how, loggers, NULL, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != sig)
		fail_msg("%s: child status %#x, want death by signal %d", reason, status, sig);
	check_snapshot(reason, how);
	tu_rmdir(dir);
}

static void test_sigsegv(void **s) { (void)s; crash_case(SIGSEGV, SIGSEGV, "SIGSEGV", 0); }
static void test_sigbus(void **s) { (void)s; crash_case(SIGBUS, SIGBUS, "SIGBUS", 0); }
static void test_sigill(void **s) { (void)s; crash_case(SIGILL, SIGILL, "SIGILL", 0); }
static void test_sigfpe(void **s) { (void)s; crash_case(SIGFPE, SIGFPE, "SIGFPE", 0); }
static void test_sigabrt(void **s) { (void)s; crash_case(SIGABRT, SIGABRT, "SIGABRT", 0); }
static void test_stack_overflow(void **s) { (void)s; crash_case(0, SIGSEGV, "SIGSEGV", 0); }
static void test_sigsegv_while_threads_log(void **s)
{
	(void)s;
	crash_case(SIGSEGV, SIGSEGV, "SIGSEGV", 2);
}

/* ---- a handler installed before ttlog's is called; no allocation on the way ---- */

#if SANITIZED
static int report_fd = -1;
#endif

/* a chaining crash reporter: report, then the default action, re-raised on return */
static void reporter(int sig, siginfo_t *si, void *uc)
{
	ssize_t rc = write(report_fd, "H", 1);
	(void)rc;
	(void)si;
	(void)uc;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void test_chains_and_allocates_nothing(void **state)
{
	int fds[2], status;
	char got[64];
	ssize_t n, len = 0;
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = reporter;
		sa.sa_flags = SA_SIGINFO;
		close(fds[0]);
		report_fd = fds[1];
		child(SIGSEGV, 0, &sa, 1);
	}
	close(fds[1]);
	while (len < (ssize_t)sizeof got - 1 &&
	       (n = read(fds[0], got + len, sizeof got - 1 - (size_t)len)) > 0)
		len += n;
	got[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		fail_msg("child status %#x, want death by SIGSEGV", status);
	check_snapshot("SIGSEGV", SIGSEGV);
	/* "H": the previous handler ran once; an "A" per allocation on the crash path */
	if (strcmp(got, "H") != 0)
		fail_msg("the child reported '%s', want 'H' (ran, allocated nothing)", got);
#if SANITIZED
	print_message("allocation count not checked under a sanitizer\n");
#endif
	tu_rmdir(dir);
}

/* ---- SIGABRT with a previous handler that returns: abort() kills anyway ---- */

static void abort_watcher(int sig)
{
	(void)sig;
}

static void test_abort_with_returning_handler(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_start(0, NULL, 0);
		signal(SIGABRT, abort_watcher);
		if (ttlog_install_crash_handler() != 0)
			_exit(98);
		TTLOG_ERROR("crash", "last event before {}", TTLOG_I64("how", SIGABRT));
		abort();
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
		fail_msg("child status %#x, want death by SIGABRT", status);
	check_snapshot("SIGABRT", SIGABRT);
	tu_rmdir(dir);
}

/* ---- a guard page resolved by a previous handler is no crash ---- */

static char *guard;
static _Atomic int guard_hits;

/* a runtime's guard page handler: its own page is made accessible and the access
 * retried; any other fault is handed to the default action, as such handlers do */
static void guard_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if ((char *)si->si_addr >= guard && (char *)si->si_addr < guard + 4096) {
		mprotect(guard, 4096, PROT_READ | PROT_WRITE);
		atomic_fetch_add(&guard_hits, 1);
		return;
	}
	signal(sig, SIG_DFL);
}

static void guard_child(void)
{
	struct sigaction sa, cur;
	ttlog_stats st;
	int n;

	guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = guard_handler;
	sa.sa_flags = SA_SIGINFO;
	child_start(0, &sa, 1);
	((volatile char *)guard)[100] = 1; /* resolved by the guard handler */
	if (atomic_load(&guard_hits) != 1) {
		fprintf(stderr, "child: guard handler ran %d times, want 1\n",
			atomic_load(&guard_hits));
		_exit(80);
	}
	if ((n = tu_count(dir, "ttlog-", ".bin")) != 0) {
		fprintf(stderr, "child: %d snapshots after a resolved fault, want 0\n", n);
		_exit(81);
	}
	sigaction(SIGSEGV, NULL, &cur);
	if (cur.sa_sigaction == guard_handler || cur.sa_handler == SIG_DFL) {
		fprintf(stderr, "child: SIGSEGV handler after a resolved fault is %s, "
			"want ttlog's\n",
			cur.sa_handler == SIG_DFL ? "SIG_DFL" : "the guard handler");
		_exit(82);
	}
	ttlog_get_stats(&st);
	if (st.crashes_chained != 1) {
		fprintf(stderr, "child: crashes_chained %llu, want 1\n",
			(unsigned long long)st.crashes_chained);
		_exit(83);
	}
	TTLOG_ERROR("crash", "last event before {}", TTLOG_I64("how", SIGSEGV));
	ttlog_die(SIGSEGV, dir); /* not the guard page: a real crash */
}

static void test_guard_page_then_real_fault(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		guard_child();
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		fail_msg("child status %#x, want death by SIGSEGV", status);
	check_snapshot("SIGSEGV", SIGSEGV);
	assert_int_equal(tu_count(dir, "ttlog-", ".bin"), 1);
	tu_rmdir(dir);
}

/* ---- a fault in the writer thread ---- */

static _Atomic int fault_in_fsync;

/* fsync is interposed in this binary: armed, its first call faults. A snapshot calls it
 * on its temporary file, with the snapshot buffers claimed. */
int fsync(int fd)
{
	if (atomic_exchange(&fault_in_fsync, 0))
		ttlog_die(SIGSEGV, dir);
	return (int)syscall(SYS_fsync, fd);
}

static void test_fault_in_writer_thread(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		child_start(0, NULL, 1);
		TTLOG_ERROR("crash", "last event before {}", TTLOG_I64("how", SIGSEGV));
		atomic_store(&fault_in_fsync, 1); /* the writer faults inside its snapshot */
		if (ttlog_request_snapshot("boom") != 0)
			_exit(96);
		wait_to_die();
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		fail_msg("child status %#x, want death by SIGSEGV", status);
	check_snapshot("SIGSEGV", SIGSEGV);
	tu_rmdir(dir);
}

/* ---- a thread that logged before the install overflows its stack ---- */

static int go_pipe[2], ready_pipe[2];

static void *late_thread(void *arg)
{
	char c;

	(void)arg;
	TTLOG_INFO("crash", "before the install");
	if (write(ready_pipe[1], "r", 1) != 1 || read(go_pipe[0], &c, 1) != 1)
		_exit(95);
	TTLOG_ERROR("crash", "last event before {}", TTLOG_I64("how", 0));
	ttlog_die(0, dir);
}

static void test_overflow_in_thread_that_logged_before_install(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	assert_int_equal(pipe(go_pipe), 0);
	assert_int_equal(pipe(ready_pipe), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t th;
		char c;
		child_start(0, NULL, 0);
		pthread_create(&th, NULL, late_thread, NULL);
		if (read(ready_pipe[0], &c, 1) != 1)
			_exit(94);
		if (ttlog_install_crash_handler() != 0)
			_exit(98);
		if (write(go_pipe[1], "g", 1) != 1)
			_exit(94);
		wait_to_die();
	}
	close(go_pipe[0]);
	close(go_pipe[1]);
	close(ready_pipe[0]);
	close(ready_pipe[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		fail_msg("child status %#x, want death by SIGSEGV", status);
	check_snapshot("SIGSEGV", 0);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigsegv),
		cmocka_unit_test(test_sigbus),
		cmocka_unit_test(test_sigill),
		cmocka_unit_test(test_sigfpe),
		cmocka_unit_test(test_sigabrt),
		cmocka_unit_test(test_stack_overflow),
		cmocka_unit_test(test_sigsegv_while_threads_log),
		cmocka_unit_test(test_chains_and_allocates_nothing),
		cmocka_unit_test(test_abort_with_returning_handler),
		cmocka_unit_test(test_guard_page_then_real_fault),
		cmocka_unit_test(test_fault_in_writer_thread),
		cmocka_unit_test(test_overflow_in_thread_that_logged_before_install),
	};
	if (strcmp(tu_san(), "tsan") == 0) {
		/* TSan defers signals and forks poorly; the crash path runs under ASan */
		print_message("test_crash: skipped under TSan\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
