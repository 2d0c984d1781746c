/*
 * crash_matrix.c - every crash signal, in every condition, on every variant.
 *
 *   crash_matrix [--variants=mpmc,spsc,numa] [--capacity=C] [--rounds=R]
 *
 * Ways to die: SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and a stack overflow (SIGSEGV
 * with no stack left). Conditions:
 *   threads   two other threads log flat out while a third thread crashes
 *   inflight  the same, and the writer thread is in the middle of writing a big snapshot
 *             (it has its temporary file open: an O_TMPFILE one where the directory takes
 *             them) when the crash hits
 *   inflight-named  the same on the named temporary file path (.ttlog-tmp-*, taken where
 *             O_TMPFILE is missing; forced here with ttlog__test_no_tmpfile)
 *   chain     the same as threads, in a process that installed its own handler for the
 *             signal before ttlog: that handler must be called (once, with the signal)
 * For each case a child process is forked and crashes; the parent checks that the child
 * died by the signal it would have died by without ttlog (the exit status is preserved),
 * that exactly one snapshot named after the signal exists and decodes, that every event
 * in it is intact (stress.h) and the counters balance, that the crashing thread's last
 * event and the 100 events before it are there, that no temporary file is left, and (in
 * flight) that the interrupted snapshot was completed too. Any failure: a message naming
 * the case and exit status 1. The crash tests of tests/test_crash.c cover the single
 * cases and the no-allocation property; this is the matrix.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "stress.h"
#include "../tests/die.h"

enum how { DIE_SEGV, DIE_BUS, DIE_ILL, DIE_FPE, DIE_ABRT, DIE_STACK, NHOW };
static const char *const how_name[NHOW] = {"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT",
					   "stack-overflow"};
static const int how_sig[NHOW] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSEGV};

enum cond { C_THREADS, C_INFLIGHT, C_INFLIGHT_NAMED, C_CHAIN, NCOND };
static const char *const cond_name[NCOND] = {"threads", "inflight", "inflight-named", "chain"};

static bool inflight(enum cond c)
{
	return c == C_INFLIGHT || c == C_INFLIGHT_NAMED;
}

enum { LOGGERS = 2, CRASHER = 1, BEFORE_LAST = 1000 };

/* What the child tells the parent, in shared memory. */
struct report {
	_Atomic uint32_t crasher_tid;
	_Atomic uint64_t nonce;     /* of the last event, 0 until logged */
	_Atomic int inflight_seen;  /* the writer had its temporary file open before the crash */
	_Atomic int inflight_anon;  /* ... an O_TMPFILE one */
	_Atomic int inflight_named; /* ... a named one */
	_Atomic int inflight_done;  /* in-flight snapshots finished before the crash (missed) */
	_Atomic int chain_calls;    /* times the application's own handler ran */
	_Atomic int chain_sig;      /* the signal it got */
	_Atomic int phase;          /* 1: loggers pause; 2: they resume (see logger_main) */
	_Atomic int paused;         /* loggers that paused */
	_Atomic int budget_out;     /* a logger used up its budget before the crash came */
	/* diagnostics: ttlog_get_stats() around the crasher's last events */
	_Atomic uint64_t dropped_before, dropped_after, logged_before, logged_after;
	_Atomic uint64_t loggers_before, loggers_after;
};

static struct st_threads *T; /* shared with the children */
static struct report *rep;
static char dir[4096];
static uint64_t capacity;
static _Atomic int stop_loggers;

/* ---- the child ---- */

/* The application's own handler, installed before ttlog's: it reports and then lets the
 * signal take its default course (the fault repeats, or abort() raises again). */
static void app_handler(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;
	(void)si;
	(void)uc;
	atomic_fetch_add(&rep->chain_calls, 1);
	atomic_store(&rep->chain_sig, sig);
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
}

/*
 * A logger logs flat out, except while the crasher logs its last events: then it pauses
 * between two pushes (phase 1), and resumes (phase 2) right before the crasher faults, so
 * that the crash hits while it logs. Two things must not depend on the scheduler:
 * - a logger descheduled inside a push (between claiming a slot, or evicting the oldest
 *   record, and publishing) makes mpmc and numa drop every other thread's new events once
 *   the ring comes round to that slot (by design: an eviction never waits), and that
 *   would drop the crasher's last events; paused loggers hold no slot;
 * - once resumed, a logger logs at most capacity/8 events: should the crasher be
 *   descheduled before its fault, the loggers stop short of wrapping the ring.
 */
static void *logger_main(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg, s = 0, after = 0;
	bool acked = false;

	atomic_store(&T->tid[t], st_gettid());
	while (!atomic_load_explicit(&stop_loggers, memory_order_relaxed)) {
		int phase = atomic_load(&rep->phase);
		if (phase == 1) {
			if (!acked)
				atomic_fetch_add(&rep->paused, 1);
			acked = true;
			sched_yield();
			continue;
		}
		if (phase == 2 && after++ >= capacity / 8) {
			if (ttlog_get_level() != TTLOG_LEVEL_OFF) /* OFF: the crash handler runs */
				atomic_store(&rep->budget_out, 1);
			st_sleep_us(1000);
			continue;
		}
		ST_LOG_INFO(t, s);
		s++;
		/* release: pairs with the verifier's acquire */
		atomic_store_explicit(&T->count[t], s, memory_order_release);
	}
	return NULL;
}

struct crasher_arg {
	enum how how;
	enum cond cond;
};

static void request_inflight(void)
{
	int rc = ttlog_request_snapshot("inflight");
	ST_CHECK(rc == 0, "ttlog_request_snapshot: %d %s", rc, ttlog_strerror(rc));
}

/* Return once the writer is writing: it has its temporary file open (it creates it after
 * cutting the ring, before encoding), seen in /proc/self/fd whichever path it took (an
 * O_TMPFILE file has no name to look for). Should a snapshot be over before we look, ask
 * for another one. */
static void wait_for_tmp(void)
{
	for (int i = 0; i < 200000; i++) {
		struct st_writing w;
		if (st_writing(0, dir, &w) > 0) {
			atomic_store(&rep->inflight_anon, w.anon);
			atomic_store(&rep->inflight_named, w.named);
			atomic_store(&rep->inflight_seen, 1);
			return;
		}
		if (st_count(dir, "ttlog-") > atomic_load(&rep->inflight_done)) {
			atomic_fetch_add(&rep->inflight_done, 1);
			request_inflight();
		}
		st_sleep_us(100);
	}
	st_fail("the requested snapshot never started writing (no temporary file of %s open)",
		dir);
}

static void *crasher_main(void *arg)
{
	struct crasher_arg *a = arg;
	uint64_t t = CRASHER;

	atomic_store(&T->tid[t], st_gettid());
	atomic_store(&rep->crasher_tid, st_gettid());
	if (inflight(a->cond)) {
		/* a full ring makes a long snapshot: wait until the loggers have filled it */
		while (atomic_load(&T->count[2]) + atomic_load(&T->count[3]) < capacity)
			st_sleep_us(1000);
		request_inflight();
		wait_for_tmp(); /* before our events: the loggers go on while we wait */
	}
	atomic_store(&rep->phase, 1);
	while (atomic_load(&rep->paused) < LOGGERS)
		sched_yield();
	ttlog_stats st;
	ttlog_get_stats(&st);
	rep->dropped_before = st.dropped;
	rep->logged_before = st.logged;
	rep->loggers_before = atomic_load(&T->count[2]) + atomic_load(&T->count[3]);
	for (uint64_t s = 0; s < BEFORE_LAST; s++) {
		ST_LOG_INFO(t, s);
		atomic_store_explicit(&T->count[t], s + 1, memory_order_release);
	}
	uint64_t nonce = st_seed_mix((uint64_t)getpid(), a->how) | 1;
	TTLOG_ERROR("crash", "last event before {} nonce {}", TTLOG_I64("how", a->how),
		    TTLOG_U64("nonce", nonce));
	atomic_store(&rep->nonce, nonce);
	ttlog_get_stats(&st);
	rep->dropped_after = st.dropped;
	rep->logged_after = st.logged;
	rep->loggers_after = atomic_load(&T->count[2]) + atomic_load(&T->count[3]);
	/* resume the loggers, and crash once each has logged again: they are logging */
	uint64_t c2 = atomic_load(&T->count[2]), c3 = atomic_load(&T->count[3]);
	atomic_store(&rep->phase, 2);
	while (atomic_load(&T->count[2]) == c2 || atomic_load(&T->count[3]) == c3)
		sched_yield();
	ttlog_die(a->how == DIE_STACK ? 0 : how_sig[a->how], dir); /* tests/die.h */
	return NULL;
}

static void child(const char *variant, enum how how, enum cond cond)
{
	struct rlimit no_core = {0, 0};
	struct crasher_arg a = {how, cond};
	pthread_t lt[LOGGERS], ct;
	ttlog_config cfg;

	setrlimit(RLIMIT_CORE, &no_core);
	if (cond == C_CHAIN) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = app_handler;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		sigaction(how_sig[how], &sa, NULL);
	}
	st_config(&cfg, variant, "crash", dir, capacity);
	ttlog__test_no_tmpfile = cond == C_INFLIGHT_NAMED;
	st_start(&cfg);
	ST_CHECK(ttlog_install_crash_handler() == 0, "ttlog_install_crash_handler");
	ST_CHECK(st_thread_new(T) == CRASHER, "logical threads out of step");
	for (int i = 0; i < LOGGERS; i++) {
		uint64_t t = st_thread_new(T); /* 2, 3 */
		pthread_create(&lt[i], NULL, logger_main, (void *)(uintptr_t)t);
	}
	/* A small stack, so that the overflow comes soon after the last event: recursing
	 * through 8 MiB takes tens of ms, in which the loggers may wrap even a big ring
	 * (the main thread's 8 MiB overflow is in tests/test_crash.c, without loggers). */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_create(&ct, &attr, crasher_main, &a);
	pthread_join(ct, NULL);
	_exit(98); /* the crasher returned: it did not die */
}

/* ---- the parent ---- */

struct totals {
	uint64_t runs, faults, survived, logged, kept, overwritten, dropped, late;
};

static void check_case(const char *variant, enum how how, enum cond cond, pid_t pid, int status,
		       struct totals *tot)
{
	const char *reason = how == DIE_STACK ? "SIGSEGV" : how_name[how];
	char path[4096 + 300], inflight_path[4096 + 300];
	struct st_verifier V;
	struct st_result r;
	ttlog_snapshot_file *s;
	ttlog_event ev;
	size_t nsig = 0, ninflight = 0, n;
	char **names;

	if (status == (98 << 8) || status == (99 << 8))
		st_fail("the child did not die (status %#x)", status);
	ST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == how_sig[how],
		 "exit status %#x: want death by signal %d (%s)%s", status, how_sig[how],
		 strsignal(how_sig[how]),
		 WIFEXITED(status) ? " (it exited: see its message above)" : "");
	if (cond == C_CHAIN)
		ST_CHECK(atomic_load(&rep->chain_calls) == 1 &&
				 atomic_load(&rep->chain_sig) == how_sig[how],
			 "the application's own handler ran %d times (signal %d), want once with %d",
			 atomic_load(&rep->chain_calls), atomic_load(&rep->chain_sig), how_sig[how]);
	ST_CHECK(atomic_load(&rep->nonce) != 0, "the crasher never logged its last event");
	if (inflight(cond)) {
		/* the path the scenario is about: O_TMPFILE where the directory takes it */
		bool want_anon = cond == C_INFLIGHT && st_dir_has_tmpfile(dir);
		int anon = atomic_load(&rep->inflight_anon);
		int named = atomic_load(&rep->inflight_named);
		ST_CHECK(atomic_load(&rep->inflight_seen), "the crash was not during a snapshot");
		ST_CHECK(want_anon ? anon == 1 && named == 0 : anon == 0 && named == 1,
			 "the in-flight snapshot was written through %d O_TMPFILE and %d named "
			 "temporary files, want %d and %d",
			 anon, named, want_anon, !want_anon);
	}

	names = st_list_snapshots(dir, &n);
	for (size_t i = 0; i < n; i++) {
		char want[64];
		snprintf(want, sizeof want, "ttlog-%d-", (int)pid);
		ST_CHECK(st_has_prefix(names[i], want), "%s: not from the child %d", names[i], (int)pid);
		if (strstr(names[i], reason) != NULL) {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			nsig++;
		} else if (strstr(names[i], "-inflight") != NULL) {
			snprintf(inflight_path, sizeof inflight_path, "%s/%s", dir, names[i]);
			ninflight++;
		} else {
			st_fail("unexpected snapshot %s", names[i]);
		}
	}
	st_free_list(names);
	ST_CHECK(nsig == 1, "%zu snapshots with reason %s in %s, want 1", nsig, reason, dir);
	ST_CHECK(inflight(cond) ? ninflight == (size_t)atomic_load(&rep->inflight_done) + 1
				: ninflight == 0,
		 "%zu in-flight snapshots, want %d", ninflight,
		 inflight(cond) ? atomic_load(&rep->inflight_done) + 1 : 0);
	ST_CHECK(st_count(dir, ".ttlog-tmp-") == 0, "a temporary file is left in %s", dir);

	st_verifier_init(&V, T, variant, "crash");
	static const char *const crash_targets[] = {"crash", NULL};
	if (inflight(cond)) {
		st_verify_file(&V, inflight_path, crash_targets, &r);
		ST_CHECK(strcmp(r.reason, "inflight") == 0, "%s: reason %s", inflight_path, r.reason);
	}
	st_verify_file(&V, path, crash_targets, &r);
	ST_CHECK(strcmp(r.reason, reason) == 0, "%s: reason '%s', want '%s'", path, r.reason,
		 reason);
	/* the crasher's last event, and the BEFORE_LAST events it logged before, all there
	 * and in order, and nothing of the crasher after it */
	ST_CHECK(ttlog_snapshot_open(path, &s) == 0, "%s: %s", path, ttlog_reader_errmsg());
	uint64_t next = 0, tail = 0;
	bool last = false;
	while (ttlog_snapshot_next(s, &ev) == 1) {
		if (ev.thread_id != atomic_load(&rep->crasher_tid))
			continue;
		ST_CHECK(!last, "%s: an event of the crashing thread after its last one", path);
		if (strcmp(ev.target, "crash") == 0) {
			ST_CHECK(ev.nfields == 2 && ev.fields[0].v.i64 == how &&
					 ev.fields[1].v.u64 == atomic_load(&rep->nonce),
				 "%s: the last event is not the crasher's (how %" PRId64 " nonce %" PRIx64
				 ")", path, ev.fields[0].v.i64, ev.fields[1].v.u64);
			last = true;
			continue;
		}
		uint64_t seq = ev.fields[1].v.u64;
		if (seq != next)
			tail = 0; /* a gap (overwritten): count the run that reaches the end */
		tail++;
		next = seq + 1;
	}
	ttlog_snapshot_close(s);
	if (!last)
		st_note("while the crasher logged its last events: dropped %" PRIu64 " -> %" PRIu64
			", logged %" PRIu64 " -> %" PRIu64 ", the loggers' events %" PRIu64 " -> %" PRIu64,
			rep->dropped_before, rep->dropped_after, rep->logged_before, rep->logged_after,
			rep->loggers_before, rep->loggers_after);
	ST_CHECK(last, "%s: the last event of the crashing thread (tid %u) is missing "
		 "(counters: kept %" PRIu64 " overwritten %" PRIu64 " dropped %" PRIu64 ")",
		 path, atomic_load(&rep->crasher_tid), r.c.kept, r.c.overwritten, r.c.dropped);
	ST_CHECK(next == BEFORE_LAST && tail >= 100,
		 "%s: the crasher's events before its last one end at seq %" PRIu64
		 " with %" PRIu64 " in a row, want up to %d with at least 100",
		 path, next, tail, BEFORE_LAST - 1);
	st_verifier_free(&V);

	tot->late += atomic_load(&rep->budget_out) != 0;
	tot->runs++;
	tot->faults++;
	tot->survived++;
	tot->logged += r.c.logged;
	tot->kept += r.c.kept;
	tot->overwritten += r.c.overwritten;
	tot->dropped += r.c.dropped;
}

static void run_case(const char *variant, enum how how, enum cond cond, struct totals *tot)
{
	char what[128];
	int status;
	pid_t pid;

	snprintf(what, sizeof what, "crash-%s-%s", how_name[how], cond_name[cond]);
	st_set_what(what, variant);
	st_mkdtemp(dir, sizeof dir, "crash");
	st_threads_reset(T);
	memset(rep, 0, sizeof *rep);
	fflush(NULL);
	pid = fork();
	ST_CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		child(variant, how, cond);
	/* a hang is a failure: give the child 5 minutes, many times what it needs */
	for (int i = 0;; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		ST_CHECK(w == 0, "waitpid: %s", strerror(errno));
		if (i == 30000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			st_fail("the child hung (killed after 300 s); snapshot dir %s", dir);
		}
		st_sleep_us(10000);
	}
	check_case(variant, how, cond, pid, status, tot);
	st_rmdir(dir);
}

int main(int argc, char **argv)
{
	const char *variants = st_arg(argc, argv, "--variants");
	uint64_t rounds = st_arg_u64(argc, argv, "--rounds", 1);
	const char *only_how = st_arg(argc, argv, "--how"), *only_cond = st_arg(argc, argv, "--cond");
	char list[256], *save = NULL;

	capacity = st_arg_u64(argc, argv, "--capacity", 1 << 20);
	snprintf(list, sizeof list, "%s", variants ? variants : "mpmc");
	T = st_shared(sizeof *T);
	st_threads_init_shared(T, 8);
	rep = st_shared(sizeof *rep);
	st_watchdog(3600, "crash matrix");
	for (char *v = strtok_r(list, ", ", &save); v; v = strtok_r(NULL, ", ", &save)) {
		for (int c = 0; c < NCOND; c++) {
			struct totals tot = {0};
			if (only_cond && strcmp(only_cond, cond_name[c]) != 0)
				continue;
			for (uint64_t round = 0; round < rounds; round++)
				for (int h = 0; h < NHOW; h++)
					if (!only_how || strcmp(only_how, how_name[h]) == 0)
						run_case(v, (enum how)h, (enum cond)c, &tot);
			char scenario[64];
			snprintf(scenario, sizeof scenario, "crash-%s", cond_name[c]);
			st_set_what(scenario, v);
			if (tot.late)
				st_note("%" PRIu64 " of %" PRIu64 " crashers were descheduled long "
					"enough for the loggers to use up their budget",
					tot.late, tot.runs);
			struct st_row row = {scenario, v, tot.runs, tot.faults, tot.survived,
					     tot.logged, tot.kept, tot.overwritten, tot.dropped};
			st_row_write(&row);
		}
	}
	return 0;
}
