/*
 * writer.c - the writer thread: snapshots on request, on an interval and on the
 * operator's signal, so that no log call or request ever waits for the disk. Requests
 * are 16 fixed slots claimed by CAS and an eventfd wake-up: both async-signal-safe.
 * A forked child gets its own writer (ttlog__writer_after_fork()).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct pending {
	/* 0 free, 1 being filled by a requester, 2 ready for the writer */
	_Atomic int state;
	char reason[TTLOG_REASON_MAX + 1];
};

static struct {
	pthread_t thread;
	int efd;            /* wake-ups: requests, signal, stop */
	_Atomic int stop;   /* written by writer_stop, read by the writer */
	_Atomic int signal; /* written by the snapshot signal handler, read by the writer */
	struct pending pending[TTLOG_PENDING_MAX];
	struct sigaction old_sig;
	bool running;
	bool recover; /* ttlog_init's writer: recover the boxes of dead predecessors first */
} w = {.efd = -1};

/* The longest single poll: an interval of up to a year (2^35 ms) does not fit poll's int
 * milliseconds, so the writer waits in chunks and checks the clock after each. */
#define POLL_CHUNK_MS (3600 * 1000)

void ttlog__writer_wake(void)
{
	uint64_t one = 1;
	ssize_t rc = write(w.efd, &one, sizeof one); /* EAGAIN: a wake-up is pending anyway */
	(void)rc;
}

TTLOG_API int ttlog_request_snapshot(const char *reason)
{
	/* acquire: pairs with the release in ttlog_init(); the ring is complete */
	if (!w.running || atomic_load_explicit(&ttlog__g.ring, memory_order_acquire) == NULL)
		return -ESRCH;
	for (int i = 0; i < TTLOG_PENDING_MAX; i++) {
		int free_ = 0;
		/* A2: acquire, pairs with R2 in writer_main(): the writer is done reading the
		 * slot's previous reason before we overwrite it */
		if (!atomic_compare_exchange_strong_explicit(&w.pending[i].state, &free_, 1,
							     memory_order_acquire,
							     memory_order_relaxed))
			continue;
		ttlog__sanitize_reason(reason, w.pending[i].reason, sizeof w.pending[i].reason);
		/* R1: release, pairs with A1 in writer_main(): the reason is written */
		atomic_store_explicit(&w.pending[i].state, 2, memory_order_release);
		ttlog__writer_wake();
		return 0;
	}
	/* relaxed: a counter */
	atomic_fetch_add_explicit(&ttlog__g.snapshots_coalesced, 1, memory_order_relaxed);
	ttlog__writer_wake();
	return -EBUSY;
}

void ttlog__writer_signal_snapshot(void)
{
	int saved = errno;
	/* relaxed: a flag; the writer reads nothing else the handler wrote */
	atomic_store_explicit(&w.signal, 1, memory_order_relaxed);
	ttlog__writer_wake();
	errno = saved;
}

static void on_snapshot_signal(int sig)
{
	(void)sig;
	ttlog__writer_signal_snapshot();
}

static uint64_t mono_ms(void)
{
	return ttlog__mono_ns() / 1000000u;
}

int ttlog__writer_poll_timeout(uint64_t now, uint64_t next)
{
	if (next == 0)
		return -1;
	if (now >= next)
		return 0;
	return next - now > POLL_CHUNK_MS ? POLL_CHUNK_MS : (int)(next - now);
}

/* The earlier of two deadlines, 0 meaning none. */
static uint64_t earliest(uint64_t a, uint64_t b)
{
	return a == 0 || (b != 0 && b < a) ? b : a;
}

static void *writer_main(void *arg)
{
	uint64_t next = ttlog__g.interval_s ? mono_ms() + ttlog__g.interval_s * 1000ull : 0;
	uint64_t mnext = ttlog__g.metrics_file[0] != '\0'
				 ? mono_ms() + ttlog__g.metrics_interval_s * 1000ull
				 : 0;
	int mfailed = 0;
	uint64_t anext = ttlog__g.clock.tsc ? mono_ms() + TTLOG_ANCHOR_S * 1000ull : 0;
	struct pollfd pfd = {.fd = w.efd, .events = POLLIN};
	sigset_t mask;
	uint32_t gen = 0;

	(void)arg;
	/* Signals belong to the application's threads, except the crash signals: the kernel
	 * kills the process outright for a fault it cannot deliver (blocked), so a fault in
	 * this thread would leave no snapshot and a temporary file. */
	sigfillset(&mask);
	ttlog__crash_signals_del(&mask);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (w.recover)
		ttlog__recover_peers();
	for (;;) {
		/* A3: acquire, pairs with R3 in ttlog__writer_stop(): a request made before the
		 * stop is in its slot by the scan below (loaded first, so none is missed) */
		int stopping = atomic_load_explicit(&w.stop, memory_order_acquire);
		uint64_t wake_at = earliest(earliest(earliest(next, mnext), anext),
					    ttlog__trigger_next_ms(mono_ms()));
		if (!stopping &&
		    poll(&pfd, 1, ttlog__writer_poll_timeout(mono_ms(), wake_at)) > 0) {
			uint64_t v;
			ssize_t rc = read(w.efd, &v, sizeof v);
			(void)rc;
		}
		/* relaxed: see the log call's check in ttlog.c; the setup reads it again */
		if (atomic_load_explicit(&ttlog__crash_gen, memory_order_relaxed) != gen)
			gen = ttlog__crash_thread_setup(); /* an alternate stack for the handler */
		for (int i = 0; i < TTLOG_PENDING_MAX; i++) {
			char reason[TTLOG_REASON_MAX + 1];
			/* A1: acquire, pairs with R1 in ttlog_request_snapshot() */
			if (atomic_load_explicit(&w.pending[i].state, memory_order_acquire) != 2)
				continue;
			memcpy(reason, w.pending[i].reason, sizeof reason);
			/* R2: release, pairs with A2 in ttlog_request_snapshot() */
			atomic_store_explicit(&w.pending[i].state, 0, memory_order_release);
			ttlog__snapshot(reason, NULL, 0, false);
		}
		/* relaxed: a flag (see ttlog__writer_signal_snapshot()) */
		if (atomic_exchange_explicit(&w.signal, 0, memory_order_relaxed))
			ttlog__snapshot("signal", NULL, 0, false);
		if (next != 0 && mono_ms() >= next) {
			ttlog__snapshot("interval", NULL, 0, false);
			next = mono_ms() + ttlog__g.interval_s * 1000ull;
		}
		ttlog__trigger_run(mono_ms(), stopping);
		if (anext != 0 && mono_ms() >= anext) {
			ttlog__clock_anchor(&ttlog__g.clock);
			anext = mono_ms() + TTLOG_ANCHOR_S * 1000ull;
		}
		if (mnext != 0 && mono_ms() >= mnext) {
			int err = ttlog__metrics_write_file(ttlog__g.metrics_file);
			/* one line per change of state, not one per interval */
			if ((err < 0) != mfailed)
				ttlog__report(err < 0 ? "metrics file: cannot write: "
						      : "metrics file: written again",
					      err < 0 ? ttlog_strerror(err) : "");
			mfailed = err < 0;
			mnext = mono_ms() + ttlog__g.metrics_interval_s * 1000ull;
		}
		if (stopping)
			break;
	}
	return NULL;
}

/* A fresh eventfd and writer thread with no request pending. */
static int start_thread(void)
{
	int err;

	memset(&w.pending, 0, sizeof w.pending);
	/* relaxed: pthread_create() below orders them before the writer's first read */
	atomic_store_explicit(&w.stop, 0, memory_order_relaxed);
	atomic_store_explicit(&w.signal, 0, memory_order_relaxed);
	w.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w.efd < 0)
		return -errno;
	if ((err = pthread_create(&w.thread, NULL, writer_main, NULL)) != 0) {
		close(w.efd);
		w.efd = -1;
		return -err;
	}
	w.running = true;
	return 0;
}

void ttlog__writer_after_fork(void)
{
	/* The parent's eventfd is shared with the parent (a wake-up here would be the
	 * parent's writer's, and its reads would steal ours), and its thread is not in this
	 * process. The snapshot signal handler stays: it wakes whatever w.efd is. */
	if (!w.running)
		return;
	w.running = false;
	w.recover = false; /* the parent's writer does it */
	close(w.efd);
	w.efd = -1;
	if (start_thread() < 0)
		ttlog__report("writer thread: cannot start in the forked child; "
			      "ttlog_request_snapshot() returns -ESRCH", "");
}

int ttlog__writer_start(void)
{
	struct sigaction sa;
	int err;

	w.recover = ttlog__g.box_dir[0] != '\0';
	if ((err = start_thread()) < 0)
		return err;
	if (ttlog__g.snapshot_signal != 0) {
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_snapshot_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(ttlog__g.snapshot_signal, &sa, &w.old_sig);
	}
	return 0;
}

void ttlog__writer_stop(void)
{
	struct sigaction cur;

	if (!w.running)
		return;
	/* Put the old handler back only where ours is still there: a handler the
	 * application installed after ttlog's stays. */
	if (ttlog__g.snapshot_signal != 0 &&
	    sigaction(ttlog__g.snapshot_signal, NULL, &cur) == 0 &&
	    !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == on_snapshot_signal)
		sigaction(ttlog__g.snapshot_signal, &w.old_sig, NULL);
	/* R3: release, pairs with A3 in writer_main(): the requests made before it */
	atomic_store_explicit(&w.stop, 1, memory_order_release);
	ttlog__writer_wake();
	pthread_join(w.thread, NULL);
	w.running = false;
	close(w.efd);
	w.efd = -1;
}
