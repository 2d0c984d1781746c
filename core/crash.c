/*
 * crash.c - the crash handler. On SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT it writes a
 * snapshot named after the signal, using the buffers reserved at init and
 * async-signal-safe calls only, on an alternate signal stack (a stack overflow is a
 * SIGSEGV with no stack left). It hands the signal on without uninstalling itself:
 *  - nothing before ours (SIG_DFL, or SIG_IGN for a fault): snapshot, then the default
 *    action, so the exit status and core dump are the ones the program would have had;
 *  - a handler before ours: it is called first. If it returns with ours still in place,
 *    it resolved the fault (a guard page of a runtime or garbage collector; or the fault
 *    comes back to us): no snapshot, counted in crashes_chained. If it changed the
 *    disposition (a chaining crash reporter that resets to SIG_DFL and re-raises or
 *    returns to re-fault), the process is about to die: snapshot before returning.
 *    abort() is fatal whatever the handler does, so SIGABRT is snapshotted first.
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

/* written by install before its sigaction() calls, read by the handler */
static struct sigaction previous[NCRASH];
/* 1 between install and uninstall. relaxed everywhere: the handler is published by
 * sigaction() (the kernel orders the table update before any delivery), and a thread's
 * alternate stack setup that reads it is ordered by ttlog__crash_gen (A4/R4). */
static _Atomic int installed;
/* tid of the thread writing the crash snapshot, 0 before; -1 when it is done */
static _Atomic int32_t crashing;
/* the runtime level before the crash freeze, for a child forked during the freeze */
static int level_before_crash;
/* bumped by every install: a thread set up for an older generation looks again */
_Atomic uint32_t ttlog__crash_gen = 1;
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

void ttlog__crash_signals_del(sigset_t *set)
{
	for (size_t i = 0; i < NCRASH; i++)
		sigdelset(set, crash_signals[i]);
}

uint32_t ttlog__crash_thread_setup(void)
{
	/* A4: acquire, pairs with R4 in ttlog_install_crash_handler(): a thread that sees
	 * the new generation sees installed set */
	uint32_t gen = atomic_load_explicit(&ttlog__crash_gen, memory_order_acquire);
	stack_t old, ss;
	void *p;

	if (!atomic_load_explicit(&installed, memory_order_relaxed))
		return gen;
	if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
		return gen; /* the thread has one (the application's, or ours) */
	p = mmap(NULL, ALT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return gen;
	ss.ss_sp = p;
	ss.ss_size = ALT_STACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0) {
		munmap(p, ALT_STACK_SIZE);
		return gen;
	}
	pthread_once(&key_once, make_key);
	pthread_setspecific(stack_key, p);
	return gen;
}

static int slot_of(int sig)
{
	for (size_t i = 0; i < NCRASH; i++)
		if (crash_signals[i] == sig)
			return (int)i;
	return -1;
}

static void crash_handler(int sig, siginfo_t *si, void *uc);

static int is_ours(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == crash_handler;
}

/* The first crashing thread writes the snapshot; a second one waits for it (up to ~5 s)
 * so that the process does not die under it; a fault inside our own handler goes
 * straight on. Nothing after ttlog_shutdown() (a handler installed after ours may still
 * call ours). */
static void crash_snapshot(int sig)
{
	int32_t me = (int32_t)syscall(SYS_gettid), expect = 0;
	struct timespec nap = {0, 1000 * 1000};

	if (!atomic_load_explicit(&installed, memory_order_relaxed))
		return;
	/* relaxed: an election; the winner's snapshot is published by the file system, and
	 * a waiter reads nothing it wrote */
	if (atomic_compare_exchange_strong_explicit(&crashing, &expect, me, memory_order_relaxed,
						    memory_order_relaxed)) {
		/* Freeze: other threads keep running while we write, and their new events
		 * would push the crashing thread's last ones out of the ring. The level comes
		 * back in case a previous handler lets the program go on. relaxed: the level
		 * is a filter (macros.h); a log call that misses the freeze is one more
		 * event, still consistent. */
		int level = __atomic_exchange_n(&ttlog__runtime_level, TTLOG_LEVEL_OFF,
						__ATOMIC_RELAXED);
		level_before_crash = level;
		if (ttlog__snapshot(ttlog__signal_name(sig), NULL, 0, true) == 0)
			ttlog__box_crash_written(); /* the snapshot has the events */
		__atomic_store_n(&ttlog__runtime_level, level, __ATOMIC_RELAXED);
		/* relaxed: see the election above */
		atomic_store_explicit(&crashing, -1, memory_order_relaxed);
	} else if (expect != me) {
		/* relaxed: see the election above */
		for (int n = 0; n < 5000; n++) {
			if (atomic_load_explicit(&crashing, memory_order_relaxed) == -1)
				break;
			nanosleep(&nap, NULL);
		}
	}
}

/* Call the handler installed before ours as the kernel would have: its mask blocked. */
static void call_previous(const struct sigaction *prev, int sig, siginfo_t *si, void *uc)
{
	sigset_t old;

	pthread_sigmask(SIG_BLOCK, &prev->sa_mask, &old);
	if (prev->sa_flags & SA_SIGINFO)
		prev->sa_sigaction(sig, si, uc);
	else
		prev->sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void crash_handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno, i = slot_of(sig), snapped = 0;
	/* kill, raise, abort, sigqueue: not a fault that returning would repeat */
	int sent = si == NULL || si->si_code <= 0;
	const struct sigaction *prev;
	struct sigaction cur;

	if (i < 0)
		return;
	prev = &previous[i];
	/* sa_handler and sa_sigaction share their storage: SIG_DFL and SIG_IGN either way */
	if (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN) {
		if (prev->sa_handler == SIG_IGN && sent && sig != SIGABRT)
			return; /* the program ignores it: it was never going to die of it */
		crash_snapshot(sig);
		/* the default action (or the ignored fault, which the kernel then forces): a
		 * fault re-executes and dies by it when we return; a signal that was sent
		 * must be sent again, and arrives once we return */
		sigaction(sig, prev, NULL);
		if (prev->sa_handler == SIG_DFL && (sent || sig == SIGABRT))
			raise(sig);
		errno = saved;
		return;
	}
	if (sig == SIGABRT) {
		/* abort() kills the process when the handler returns */
		crash_snapshot(sig);
		snapped = 1;
	}
	errno = saved;
	call_previous(prev, sig, si, uc);
	if (sigaction(sig, NULL, &cur) == 0 && is_ours(&cur)) {
		/* resolved, or it faults again and comes back here */
		if (!snapped)
			/* relaxed: a counter */
			atomic_fetch_add_explicit(&ttlog__g.crashes_chained, 1,
						  memory_order_relaxed);
	} else if (!snapped) {
		crash_snapshot(sig); /* it set up its way to die: default action, re-raise */
	}
	errno = saved;
}

TTLOG_API int ttlog_install_crash_handler(void)
{
	struct sigaction sa;

	/* acquire: pairs with the release in ttlog_init(); the snapshot buffers are ready */
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_acquire) == NULL)
		return -ESRCH;
	/* relaxed: one caller wins the exchange; see `installed` */
	if (atomic_exchange_explicit(&installed, 1, memory_order_relaxed))
		return 0;
	/* relaxed: the handler that reads it is published by sigaction() below */
	atomic_store_explicit(&crashing, 0, memory_order_relaxed);
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NCRASH; i++)
		sigaction(crash_signals[i], &sa, &previous[i]);
	/* R4: release, pairs with A4 in ttlog__crash_thread_setup(): threads set up before
	 * the install look again on their next event, and see installed */
	atomic_fetch_add_explicit(&ttlog__crash_gen, 1, memory_order_release);
	ttlog__crash_thread_setup();
	return 0;
}

void ttlog__crash_uninstall(void)
{
	struct sigaction cur;

	/* relaxed: see `installed` */
	if (!atomic_exchange_explicit(&installed, 0, memory_order_relaxed))
		return;
	/* Put the old handler back only where ours is still there: a handler the
	 * application installed after ours stays (it may still call ours: see
	 * crash_snapshot()). */
	for (size_t i = 0; i < NCRASH; i++)
		if (sigaction(crash_signals[i], NULL, &cur) == 0 && is_ours(&cur))
			sigaction(crash_signals[i], &previous[i], NULL);
}

void ttlog__crash_after_fork(void)
{
	/* relaxed: the child has one thread */
	int32_t c = atomic_load_explicit(&crashing, memory_order_relaxed);

	if (c > 0) /* forked while another thread wrote the crash snapshot: unfreeze */
		__atomic_store_n(&ttlog__runtime_level, level_before_crash, __ATOMIC_RELAXED);
	atomic_store_explicit(&crashing, 0, memory_order_relaxed);
}
