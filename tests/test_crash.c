/*
 * test_crash.c - a child process crashes on each crash signal and on a stack overflow:
 * the snapshot is there, decodes, holds the last event, and the child dies by the same
 * signal it would have died by without ttlog. A handler installed before ttlog's is
 * called, and the crash path allocates nothing (malloc is interposed in this binary).
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
#include <sys/wait.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

static char dir[4096];

/* ---- malloc interposer: counts allocations while `counting` is set ---- */
#if !SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
static _Atomic int counting;
static _Atomic long allocations;

void *malloc(size_t n)
{
	if (atomic_load(&counting))
		atomic_fetch_add(&allocations, 1);
	return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
	if (atomic_load(&counting))
		atomic_fetch_add(&allocations, 1);
	return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
	if (atomic_load(&counting))
		atomic_fetch_add(&allocations, 1);
	return __libc_realloc(p, n);
}
void *aligned_alloc(size_t al, size_t n)
{
	if (atomic_load(&counting))
		atomic_fetch_add(&allocations, 1);
	return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n)
{
	if (atomic_load(&counting))
		atomic_fetch_add(&allocations, 1);
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

/* Child: log, then die `how`. With loggers, two threads log while it crashes. */
static void child(int how, int loggers, int count_allocs)
{
	struct rlimit no_core = {0, 0};
	pthread_t th[2];

	setrlimit(RLIMIT_CORE, &no_core);
	/* cmocka's own handlers are for the test runner, not for this child */
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && !(count_allocs && sig == SIGSEGV))
			signal(sig, SIG_DFL);
	/* with threads logging: 8 times what they log after the last event */
	tu_start(dir, loggers ? 65536 : 1024, TTLOG_POLICY_OVERWRITE);
	if (ttlog_install_crash_handler() != 0)
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
		child(how, loggers, 0);
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

static int report_fd = -1;

static void previous_handler(int sig, siginfo_t *si, void *uc)
{
	long n = -1;
	(void)si;
	(void)uc;
#if !SANITIZED
	n = atomic_load(&allocations);
#endif
	ssize_t rc = write(report_fd, &n, sizeof n);
	(void)rc;
	_exit(40 + sig % 10);
}

static void test_chains_and_allocates_nothing(void **state)
{
	int fds[2], status;
	long allocs = -2;
	pid_t pid;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = previous_handler;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
		report_fd = fds[1];
		child(SIGSEGV, 0, 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &allocs, sizeof allocs), sizeof allocs);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 40 + SIGSEGV % 10); /* the previous handler ran */
	check_snapshot("SIGSEGV", SIGSEGV);
#if !SANITIZED
	assert_int_equal(allocs, 0);
#else
	print_message("allocation count not checked under a sanitizer\n");
#endif
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
	};
	if (strcmp(tu_san(), "tsan") == 0) {
		/* TSan defers signals and forks poorly; the crash path runs under ASan */
		print_message("test_crash: skipped under TSan\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
