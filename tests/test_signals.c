/*
 * test_signals.c - ttlog_shutdown() puts back the handlers it replaced (crash signals,
 * the snapshot signal) only where ttlog's is still installed: handlers the application
 * installed after ttlog's survive it.
 */
#include "testutil.h"

#include <signal.h>

static char dir[4096];

static void app_handler(int sig)
{
	(void)sig;
}

static void app_action(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
}

static void start(int snapshot_signal)
{
	ttlog_config cfg;
	int rc;

	tu_mkdir(dir, sizeof dir);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = dir;
	cfg.capacity = 1024;
	cfg.service = "test";
	cfg.snapshot_signal = snapshot_signal;
	rc = ttlog_init(&cfg);
	if (rc != 0)
		fail_msg("ttlog_init: %d %s (%s)", rc, ttlog_strerror(rc), ttlog_errmsg());
	assert_int_equal(ttlog_install_crash_handler(), 0);
}

/* the handler of sig: a function pointer whichever of the two fields holds it */
static void *handler_of(int sig)
{
	struct sigaction sa;

	assert_int_equal(sigaction(sig, NULL, &sa), 0);
	return (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
}

static void expect_handler(int sig, void *want, const char *want_name)
{
	void *got = handler_of(sig);
	if (got != want)
		fail_msg("signal %d after ttlog_shutdown: handler %p, want %p (%s)", sig, got, want,
			 want_name);
}

static void test_later_handlers_survive_shutdown(void **state)
{
	struct sigaction segv0, bus0, usr20, sa;
	void *bus_before;

	(void)state;
	sigaction(SIGSEGV, NULL, &segv0);
	sigaction(SIGBUS, NULL, &bus0);
	sigaction(SIGUSR2, NULL, &usr20);
	bus_before = handler_of(SIGBUS);
	start(SIGUSR2);
	/* the application's own handlers, installed after ttlog's */
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = app_action;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	signal(SIGUSR2, app_handler);
	ttlog_shutdown();
	expect_handler(SIGSEGV, (void *)app_action, "the application's SIGSEGV handler");
	expect_handler(SIGUSR2, (void *)app_handler, "the application's SIGUSR2 handler");
	/* ttlog's was still SIGBUS's: the one before it is back */
	expect_handler(SIGBUS, bus_before, "SIGBUS's handler before ttlog_init");
	sigaction(SIGSEGV, &segv0, NULL);
	sigaction(SIGBUS, &bus0, NULL);
	sigaction(SIGUSR2, &usr20, NULL);
	tu_rmdir(dir);
}

static void test_shutdown_restores_its_own(void **state)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGUSR1};
	void *before[6];

	(void)state;
	for (int i = 0; i < 6; i++)
		before[i] = handler_of(sigs[i]);
	start(SIGUSR1);
	for (int i = 0; i < 6; i++)
		if (handler_of(sigs[i]) == before[i])
			fail_msg("signal %d: ttlog's handler is not installed", sigs[i]);
	ttlog_shutdown();
	for (int i = 0; i < 6; i++)
		expect_handler(sigs[i], before[i], "the handler before ttlog_init");
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_later_handlers_survive_shutdown),
		cmocka_unit_test(test_shutdown_restores_its_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
