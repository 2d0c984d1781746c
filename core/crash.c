/*
 * crash.c - the crash handler. On SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT it writes a
 * snapshot named after the signal, using the buffers reserved at init and
 * async-signal-safe calls only, on an alternate signal stack (a stack overflow is a
 * SIGSEGV with no stack left). Then it hands the signal on: to the handler installed
 * before ours, or to the default action, so the exit status and core dump are the ones
 * the program would have had without ttlog.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define NCRASH (sizeof crash_signals / sizeof crash_signals[0])

static struct sigaction previous[NCRASH];
static _Atomic int installed;
/* tid of the thread writing the crash snapshot, 0 before; -1 when it is done */
static _Atomic int32_t crashing;
static pthread_key_t stack_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

#define ALT_STACK_SIZE (64 * 1024)

static void free_stack(void *p)
{
	stack_t ss = {.ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	munmap(p, ALT_STACK_SIZE);
}

static void make_key(void)
{
	pthread_key_create(&stack_key, free_stack);
}

void ttlog__crash_thread_setup(void)
{
	stack_t old, ss;
	void *p;

	if (!atomic_load_explicit(&installed, memory_order_relaxed))
		return;
	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
		return; /* the thread has one (the application's, or ours) */
	p = mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return;
	ss.ss_sp = p;
	ss.ss_size = ALT_STACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0) {
		munmap(p, ALT_STACK_SIZE);
		return;
	}
	pthread_once(&key_once, make_key);
	pthread_setspecific(stack_key, p);
}

static int slot_of(int sig)
{
	for (size_t i = 0; i < NCRASH; i++)
		if (crash_signals[i] == sig)
			return (int)i;
	return -1;
}

static void crash_handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno, i = slot_of(sig);
	int32_t me = (int32_t)syscall(SYS_gettid), expect = 0;
	struct timespec nap = {0, 1000 * 1000};
	const struct sigaction *prev;

	/* The first crashing thread writes the snapshot; a second one waits for it (up to
	 * ~5 s) so that the process does not die under it; a fault inside our own handler
	 * goes straight on. */
	if (atomic_compare_exchange_strong(&crashing, &expect, me)) {
		/* Freeze: other threads keep running while we write, and their new events
		 * would push the crashing thread's last ones out of the ring. The level comes
		 * back in case a previous handler lets the program go on. */
		int level = __atomic_exchange_n(&ttlog__runtime_level, TTLOG_LEVEL_OFF,
						__ATOMIC_RELAXED);
		ttlog__snapshot(ttlog__signal_name(sig), NULL, 0, true);
		__atomic_store_n(&ttlog__runtime_level, level, __ATOMIC_RELAXED);
		atomic_store(&crashing, -1);
	} else if (expect != me) {
		for (int n = 0; n < 5000 && atomic_load(&crashing) != -1; n++)
			nanosleep(&nap, NULL);
	}
	if (i < 0)
		return;
	prev = &previous[i];
	/* Hand on: reinstall what was there before us, then either call it or re-raise. */
	sigaction(sig, prev, NULL);
	errno = saved;
	if (prev->sa_flags & SA_SIGINFO) {
		if (prev->sa_sigaction != NULL)
			prev->sa_sigaction(sig, si, uc);
		return;
	}
	if (prev->sa_handler == SIG_IGN)
		return;
	if (prev->sa_handler != SIG_DFL) {
		prev->sa_handler(sig);
		return;
	}
	/* default action: a fault re-executes and dies by it when we return; a signal that
	 * was sent (kill, raise, abort) must be sent again, and arrives once we return */
	if (si == NULL || si->si_code <= 0 || sig == SIGABRT)
		raise(sig);
}

TTLOG_API int ttlog_install_crash_handler(void)
{
	struct sigaction sa;

	if (atomic_load_explicit(&ttlog__g.ring, memory_order_acquire) == NULL)
		return -ESRCH;
	if (atomic_exchange(&installed, 1))
		return 0;
	atomic_store(&crashing, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NCRASH; i++)
		sigaction(crash_signals[i], &sa, &previous[i]);
	ttlog__crash_thread_setup();
	return 0;
}

void ttlog__crash_uninstall(void)
{
	if (!atomic_exchange(&installed, 0))
		return;
	for (size_t i = 0; i < NCRASH; i++)
		sigaction(crash_signals[i], &previous[i], NULL);
}
