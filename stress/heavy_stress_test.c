/*
 * heavy_stress_test.c - sustained load, bursts, thread churn and snapshot storms against
 * one variant; every snapshot written during the run is verified with the reader API.
 *
 *   heavy_stress_test --variant=v --scenario=heavy|churn|threads-1024 [--seconds=S]
 *                     [--threads=N] [--per-thread=K] [--capacity=C] [--seed=X]
 *
 * heavy        steady bursty workers + thread churn + snapshot storms for S seconds
 * churn        thread churn only (threads created and ended continuously) + storms
 * threads-1024 N (default 1024) threads start together, each logs K events, + storms
 *
 * Storms: several threads call ttlog_request_snapshot(), one calls ttlog_snapshot(),
 * interval snapshots every second, SIGUSR2 (cfg.snapshot_signal) sent to the process, and
 * SIGUSR1 sent to logging threads, whose handler logs an event itself (a nested log call).
 *
 * Every event is (thread, seq, check, tag) (stress.h). A verifier thread reads each new
 * snapshot file, checks every event (intact, per-thread order, thread id, not invented),
 * that the counters balance (logged = kept + overwritten + dropped) and that a
 * synchronous snapshot accounts for at least what had been logged before it was asked
 * for; it deletes the file once checked. At the end, with every thread joined, a final
 * snapshot must account for exactly the events the program logged, the truncation count
 * must be exact, and the number of files verified must equal snapshots_written.
 * Any failure: a message naming the scenario and exit status 1.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include "stress.h"

enum { MAX_WORKERS = 64, MAX_CHURN = 16, REQUESTERS = 3, BACKLOG_MAX = 16 };

static struct {
	const char *scenario, *variant;
	uint64_t seconds, seed, capacity, nthreads, per_thread, churn_width, nested;
	char dir[4096];
	struct st_threads T;
	struct st_verifier V;
	_Atomic int stop;        /* workers and the churn spawner stop */
	_Atomic int stop_storm;  /* requesters, sync snapshots, signals stop */
	_Atomic int stop_verify; /* the verifier drains and stops */
	_Atomic int backlog;     /* snapshot files waiting for the verifier */
	pthread_barrier_t start;
	/* sync snapshots: name -> what had been logged before the call */
	pthread_mutex_t sync_lock;
	struct sync_rec {
		char name[160];
		uint64_t before;
	} *syncs;
	size_t nsync, capsync;
	/* what the verifier saw, in the order it saw them */
	struct seen {
		uint64_t created_ns, logged, dropped, truncated;
	} *seen;
	size_t nseen, capseen;
	/* storm statistics */
	_Atomic uint64_t requests, busy, sigusr2, sigusr1, threads_started;
} R;

/* ---- logging threads ---- */

struct worker {
	pthread_t th;
	uint64_t t;        /* logical thread */
	uint64_t n;        /* events to log, 0: until stop */
	uint64_t maxburst; /* events per burst before a possible pause */
	uint64_t rng;
	bool live;
};

/* One event of logical thread t, sequence s, in one of the three shapes. */
static void log_one(uint64_t t, uint64_t s, uint64_t *rng)
{
	uint64_t r = st_rand(rng) % 1024;
	if (r == 0) {
		atomic_fetch_add_explicit(&R.T.lng[t], 1, memory_order_relaxed);
		ST_LOG_LONG(t, s);
	} else if (r < 16) {
		int rc = st_log_built(t, s);
		ST_CHECK(rc == 0, "ttlog_builder_commit: %d %s", rc, ttlog_strerror(rc));
	} else {
		ST_LOG_INFO(t, s);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t t = w->t, s = 0;

	atomic_store(&R.T.tid[t], st_gettid());
	atomic_fetch_add(&R.threads_started, 1);
	if (strcmp(R.scenario, "threads-1024") == 0)
		pthread_barrier_wait(&R.start);
	while (w->n == 0 ? !atomic_load_explicit(&R.stop, memory_order_relaxed) : s < w->n) {
		uint64_t burst = 1 + st_rand(&w->rng) % w->maxburst;
		for (uint64_t i = 0; i < burst && (w->n == 0 || s < w->n); i++) {
			log_one(t, s, &w->rng);
			s++;
			/* release: pairs with the verifier's acquire (stress.h) */
			atomic_store_explicit(&R.T.count[t], s, memory_order_release);
		}
		if (st_rand(&w->rng) % 4 == 0)
			st_sleep_us(st_rand(&w->rng) % 300);
		else if (w->n != 0)
			sched_yield(); /* many threads on few cores: let the others start */
	}
	return NULL;
}

static int start_worker(struct worker *w, uint64_t n, uint64_t maxburst, size_t stack)
{
	pthread_attr_t a;
	int rc;

	w->t = st_thread_new(&R.T);
	if (w->t == 0)
		return -1; /* the table of logical threads is full */
	w->n = n;
	w->maxburst = maxburst;
	w->rng = st_seed_mix(R.seed, w->t);
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, stack);
	rc = pthread_create(&w->th, &a, worker_main, w);
	pthread_attr_destroy(&a);
	ST_CHECK(rc == 0, "pthread_create (thread %" PRIu64 "): %s", w->t, strerror(rc));
	w->live = true;
	return 0;
}

/* Thread churn: keep churn_width short-lived threads, each logs 1..5000 events and ends;
 * the oldest is joined and replaced, continuously. */
static void *churn_main(void *arg)
{
	struct worker w[MAX_CHURN];
	uint64_t rng = st_seed_mix(R.seed, 777), k = 0;
	bool full = false;

	(void)arg;
	memset(w, 0, sizeof w);
	while (!atomic_load(&R.stop) && !full) {
		struct worker *x = &w[k++ % R.churn_width];
		if (x->live) {
			pthread_join(x->th, NULL);
			x->live = false;
		}
		if (start_worker(x, 1 + st_rand(&rng) % 5000, 64, 64 * 1024) < 0)
			full = true;
	}
	if (full)
		st_note("logical thread table full after %" PRIu64 " threads: churn stops early",
			(uint64_t)R.T.max);
	for (size_t i = 0; i < MAX_CHURN; i++)
		if (w[i].live)
			pthread_join(w[i].th, NULL);
	return NULL;
}

/* ---- the storm ---- */

/* Nested log call: the handler interrupts a thread (perhaps inside its own log call). */
static void on_sigusr1(int sig)
{
	int saved = errno;
	(void)sig;
	uint64_t s = atomic_fetch_add(&R.T.count[0], 1);
	ST_LOG_INFO(0, s);
	errno = saved;
}

static void *requester_main(void *arg)
{
	uint64_t rng = st_seed_mix(R.seed, 1000 + (uintptr_t)arg);
	while (!atomic_load(&R.stop_storm)) {
		if (atomic_load(&R.backlog) >= BACKLOG_MAX) {
			st_sleep_us(2000); /* let the verifier catch up: disk space */
			continue;
		}
		int rc = ttlog_request_snapshot("storm");
		ST_CHECK(rc == 0 || rc == -EBUSY, "ttlog_request_snapshot: %d %s", rc,
			 ttlog_strerror(rc));
		atomic_fetch_add(rc == 0 ? &R.requests : &R.busy, 1);
		st_sleep_us(st_rand(&rng) % 20000);
	}
	return NULL;
}

static uint64_t total_threads_only(void)
{
	/* every thread's count, without the signal stream (counted before it logs) */
	return st_total(&R.T, NULL) - atomic_load(&R.T.count[0]);
}

static void *sync_main(void *arg)
{
	uint64_t rng = st_seed_mix(R.seed, 2000);
	char path[4096];

	(void)arg;
	while (!atomic_load(&R.stop_storm)) {
		uint64_t before = total_threads_only();
		int rc = ttlog_snapshot("sync", path, sizeof path);
		ST_CHECK(rc == 0, "ttlog_snapshot: %d %s", rc, ttlog_strerror(rc));
		const char *name = strrchr(path, '/');
		pthread_mutex_lock(&R.sync_lock);
		if (R.nsync == R.capsync) {
			R.capsync = R.capsync ? R.capsync * 2 : 64;
			R.syncs = realloc(R.syncs, R.capsync * sizeof *R.syncs);
			ST_CHECK(R.syncs != NULL, "out of memory");
		}
		snprintf(R.syncs[R.nsync].name, sizeof R.syncs[R.nsync].name, "%s",
			 name ? name + 1 : path);
		R.syncs[R.nsync++].before = before;
		pthread_mutex_unlock(&R.sync_lock);
		st_sleep_us(50000 + st_rand(&rng) % 250000);
	}
	return NULL;
}

static void *signaler_main(void *arg)
{
	uint64_t rng = st_seed_mix(R.seed, 3000);
	pid_t pid = getpid();

	(void)arg;
	while (!atomic_load(&R.stop_storm)) {
		if (st_rand(&rng) % 3 == 0 && atomic_load(&R.backlog) < BACKLOG_MAX) {
			ST_CHECK(kill(pid, SIGUSR2) == 0, "kill SIGUSR2: %s", strerror(errno));
			atomic_fetch_add(&R.sigusr2, 1);
		}
		/* SIGUSR1 to one of the newest threads that has logged (a dead tid: ESRCH) */
		uint64_t n = atomic_load(&R.T.assigned);
		if (n > R.T.max)
			n = R.T.max;
		if (n > 1) {
			uint64_t span = n - 1 < 64 ? n - 1 : 64;
			uint64_t t = n - 1 - st_rand(&rng) % span;
			uint32_t tid = atomic_load(&R.T.tid[t]);
			if (R.nested && tid != 0 && atomic_load(&R.T.count[t]) > 0 &&
			    syscall(SYS_tgkill, pid, tid, SIGUSR1) == 0)
				atomic_fetch_add(&R.sigusr1, 1);
		}
		st_sleep_us(1000 + st_rand(&rng) % 10000);
	}
	return NULL;
}

/* ---- the verifier ---- */

static const char *const other_targets[] = {NULL};

static bool sync_before(const char *name, uint64_t *before)
{
	bool found = false;
	pthread_mutex_lock(&R.sync_lock);
	for (size_t i = R.nsync; i-- > 0;)
		if (strcmp(R.syncs[i].name, name) == 0) {
			*before = R.syncs[i].before;
			found = true;
			break;
		}
	pthread_mutex_unlock(&R.sync_lock);
	return found;
}

/* Verify one file and delete it. false: a sync snapshot whose call has not returned yet. */
static bool verify_one(const char *name, bool final_pass)
{
	char path[4096 + 256];
	struct st_result r;
	uint64_t before = 0;
	bool is_sync = strstr(name, "-sync") != NULL;

	if (is_sync && !sync_before(name, &before)) {
		ST_CHECK(!final_pass, "%s: a sync snapshot nobody asked for", name);
		return false;
	}
	snprintf(path, sizeof path, "%s/%s", R.dir, name);
	st_verify_file(&R.V, path, other_targets, &r);
	ST_CHECK(r.pid == (uint64_t)getpid(), "%s: pid %" PRIu64, path, r.pid);
	ST_CHECK(strcmp(r.reason, "storm") == 0 || strcmp(r.reason, "sync") == 0 ||
			 strcmp(r.reason, "interval") == 0 || strcmp(r.reason, "signal") == 0 ||
			 strcmp(r.reason, "final") == 0 || strcmp(r.reason, "shutdown") == 0,
		 "%s: unexpected reason '%s'", path, r.reason);
	if (is_sync)
		ST_CHECK(r.c.logged >= before,
			 "%s: synchronous snapshot accounts for %" PRIu64
			 " events, but %" PRIu64 " had been logged before it was asked for",
			 path, r.c.logged, before);
	/* never more than the program has logged (a lower bound of it, read now) */
	uint64_t now = st_total(&R.T, NULL);
	ST_CHECK(r.c.logged <= now, "%s: counters.logged %" PRIu64 " > %" PRIu64 " ever logged",
		 path, r.c.logged, now);
	if (R.nseen == R.capseen) {
		R.capseen = R.capseen ? R.capseen * 2 : 256;
		R.seen = realloc(R.seen, R.capseen * sizeof *R.seen);
		ST_CHECK(R.seen != NULL, "out of memory");
	}
	R.seen[R.nseen++] = (struct seen){r.created_ns, r.c.logged, r.c.dropped, r.c.truncated};
	ST_CHECK(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
	return true;
}

static void verify_pass(bool final_pass)
{
	size_t n;
	char **names = st_list_snapshots(R.dir, &n);
	int left = 0;

	atomic_store(&R.backlog, (int)n);
	for (size_t i = 0; i < n; i++) {
		if (!verify_one(names[i], final_pass))
			left++;
		atomic_store(&R.backlog, (int)(n - i - 1) + left);
	}
	st_free_list(names);
}

static void *verifier_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&R.stop_verify)) {
		verify_pass(false);
		st_sleep_us(20000);
	}
	verify_pass(true);
	return NULL;
}

static int by_created(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	return x->created_ns < y->created_ns ? -1 : x->created_ns > y->created_ns;
}

/* Counters only grow from one snapshot to the next (snapshots are serialised). */
static void check_monotonic(void)
{
	qsort(R.seen, R.nseen, sizeof *R.seen, by_created);
	for (size_t i = 1; i < R.nseen; i++) {
		const struct seen *p = &R.seen[i - 1], *q = &R.seen[i];
		ST_CHECK(q->logged >= p->logged && q->dropped >= p->dropped &&
				 q->truncated >= p->truncated,
			 "counters went back between snapshots created at %" PRIu64 " and %" PRIu64
			 ": logged %" PRIu64 " -> %" PRIu64 ", dropped %" PRIu64 " -> %" PRIu64
			 ", truncated %" PRIu64 " -> %" PRIu64,
			 p->created_ns, q->created_ns, p->logged, q->logged, p->dropped, q->dropped,
			 p->truncated, q->truncated);
	}
}

/* The quiescent snapshot: everything the program logged is accounted for, exactly. */
static void check_exact(const char *path, const char *what, uint64_t total, uint64_t lng,
			struct st_result *r)
{
	st_verify_file(&R.V, path, other_targets, r);
	ST_CHECK(r->c.logged == total,
		 "%s snapshot %s: counters.logged %" PRIu64 " but the program logged %" PRIu64
		 " (unaccounted %" PRId64 ")",
		 what, path, r->c.logged, total, (int64_t)(total - r->c.logged));
	ST_CHECK(r->c.in_flight == 0, "%s snapshot %s: %" PRIu64 " in flight with every thread joined",
		 what, path, r->c.in_flight);
	ST_CHECK(r->c.truncated == lng, "%s snapshot %s: truncated %" PRIu64 ", the program logged %" PRIu64
		 " events with a long string", what, path, r->c.truncated, lng);
}

int main(int argc, char **argv)
{
	bool quick = st_quick();
	pthread_t verifier, churn, sync_th, signaler, req[REQUESTERS];
	struct worker *workers;
	size_t nworkers = 0;
	ttlog_config cfg;
	int rc;

	R.scenario = st_arg(argc, argv, "--scenario");
	R.variant = st_arg(argc, argv, "--variant");
	if (R.scenario == NULL)
		R.scenario = "heavy";
	if (R.variant == NULL)
		R.variant = "mpmc";
	st_set_what(R.scenario, R.variant);
	const char *label = st_arg(argc, argv, "--label"); /* scenario name in the table */
	bool t1024 = strcmp(R.scenario, "threads-1024") == 0;
	bool heavy = strcmp(R.scenario, "heavy") == 0;
	ST_CHECK(t1024 || heavy || strcmp(R.scenario, "churn") == 0,
		 "unknown scenario '%s' (heavy, churn, threads-1024)", R.scenario);
	R.seconds = st_arg_u64(argc, argv, "--seconds", quick ? 8 : 60);
	R.seed = st_arg_u64(argc, argv, "--seed", (uint64_t)time(NULL));
	R.capacity = st_arg_u64(argc, argv, "--capacity", quick ? 1 << 14 : 1 << 16);
	R.nthreads = st_arg_u64(argc, argv, "--threads", t1024 ? 1024 : 4);
	R.per_thread = st_arg_u64(argc, argv, "--per-thread", quick ? 200 : 2000);
	R.churn_width = st_arg_u64(argc, argv, "--churn-width", heavy ? 4 : 8);
	R.nested = st_arg_u64(argc, argv, "--nested", 1); /* SIGUSR1 handlers that log */
	ST_CHECK(R.nthreads >= 1 && R.nthreads <= (t1024 ? 100000 : MAX_WORKERS) &&
			 R.churn_width >= 1 && R.churn_width <= MAX_CHURN,
		 "bad --threads / --churn-width");
	st_note("seed %" PRIu64 " seconds %" PRIu64 " capacity %" PRIu64 " threads %" PRIu64
		" (repeat: --seed=%" PRIu64 ")",
		R.seed, t1024 ? 0 : R.seconds, R.capacity, R.nthreads, R.seed);

	st_watchdog((unsigned)(t1024 ? 600 : R.seconds * 5 + 300), R.scenario);
	st_mkdtemp(R.dir, sizeof R.dir, R.scenario);
	st_threads_init(&R.T, t1024 ? R.nthreads + 1 : st_arg_u64(argc, argv, "--max-threads", 1 << 20));
	st_verifier_init(&R.V, &R.T, R.variant, "stress");
	pthread_mutex_init(&R.sync_lock, NULL);

	st_config(&cfg, R.variant, "stress", R.dir, R.capacity);
	cfg.policy = TTLOG_POLICY_OVERWRITE;
	cfg.snapshot_interval_s = 1;
	cfg.snapshot_keep = 0;
	cfg.snapshot_signal = SIGUSR2;
	cfg.final_snapshot = true;
	st_start(&cfg);
	ST_CHECK(strcmp(ttlog_variant(), R.variant) == 0, "running variant '%s'", ttlog_variant());
	ST_CHECK(ttlog_install_crash_handler() == 0, "ttlog_install_crash_handler");
	{
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_sigusr1;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGUSR1, &sa, NULL);
	}

	pthread_create(&verifier, NULL, verifier_main, NULL);
	workers = calloc(R.nthreads, sizeof *workers);
	ST_CHECK(workers != NULL, "out of memory");
	if (t1024) {
		pthread_barrier_init(&R.start, NULL, (unsigned)R.nthreads + 1);
		for (; nworkers < R.nthreads; nworkers++)
			ST_CHECK(start_worker(&workers[nworkers], R.per_thread, 64, 128 * 1024) == 0,
				 "thread table full");
	} else if (heavy) {
		for (; nworkers < R.nthreads; nworkers++)
			ST_CHECK(start_worker(&workers[nworkers], 0, 20000, 256 * 1024) == 0,
				 "thread table full");
	}
	if (!t1024)
		pthread_create(&churn, NULL, churn_main, NULL);
	for (uintptr_t i = 0; i < REQUESTERS; i++)
		pthread_create(&req[i], NULL, requester_main, (void *)i);
	pthread_create(&sync_th, NULL, sync_main, NULL);
	pthread_create(&signaler, NULL, signaler_main, NULL);

	if (t1024) {
		st_note("%zu threads started", nworkers);
		pthread_barrier_wait(&R.start); /* every thread is up: go */
		for (size_t i = 0; i < nworkers; i++)
			pthread_join(workers[i].th, NULL);
	} else {
		st_sleep_us(R.seconds * 1000000);
		atomic_store(&R.stop, 1);
		for (size_t i = 0; i < nworkers; i++)
			pthread_join(workers[i].th, NULL);
	}
	atomic_store(&R.stop, 1);
	st_note("workers joined");
	if (!t1024)
		pthread_join(churn, NULL);
	st_note("churn joined");
	atomic_store(&R.stop_storm, 1);
	for (int i = 0; i < REQUESTERS; i++)
		pthread_join(req[i], NULL);
	pthread_join(sync_th, NULL);
	pthread_join(signaler, NULL);
	/* every log call has returned, every signal handler has run */
	st_note("storm joined");
	atomic_store(&R.stop_verify, 1);
	pthread_join(verifier, NULL);
	st_note("verifier drained");

	uint64_t lng, total = st_total(&R.T, &lng);
	char path[4096];
	struct st_result fin, last, shut = {0};
	ttlog_stats st;

	rc = ttlog_snapshot("final", path, sizeof path);
	ST_CHECK(rc == 0, "final ttlog_snapshot: %d %s", rc, ttlog_strerror(rc));
	check_exact(path, "final", total, lng, &fin);
	ST_CHECK(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
	ttlog_get_stats(&st);
	ST_CHECK(st.logged == total && st.kept + st.overwritten + st.dropped == total,
		 "ttlog_get_stats: logged %" PRIu64 " kept %" PRIu64 " overwritten %" PRIu64
		 " dropped %" PRIu64 ", the program logged %" PRIu64,
		 st.logged, st.kept, st.overwritten, st.dropped, total);
	ttlog_shutdown();
	/* Left now: the shutdown snapshot, and whatever the writer wrote (interval, late
	 * requests) after the verifier's last pass. All were cut after every thread had
	 * joined, so each must account for every event exactly. */
	{
		size_t n;
		char **names = st_list_snapshots(R.dir, &n);
		bool shutdown_seen = false;
		for (size_t i = 0; i < n; i++) {
			snprintf(path, sizeof path, "%s/%s", R.dir, names[i]);
			check_exact(path, names[i], total, lng, &last);
			if (strcmp(last.reason, "shutdown") == 0) {
				shutdown_seen = true;
				shut = last;
			}
			ST_CHECK(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
		}
		st_free_list(names);
		ST_CHECK(shutdown_seen, "no shutdown snapshot (cfg.final_snapshot is set)");
	}
	/* the counters of snapshots outlive the ring: every file ttlog wrote was verified */
	ttlog_get_stats(&st);
	ST_CHECK(st.snapshot_failures == 0, "%" PRIu64 " snapshots failed", st.snapshot_failures);
	ST_CHECK(st.snapshots_written == R.V.files,
		 "ttlog wrote %" PRIu64 " snapshots, %" PRIu64 " files were verified",
		 st.snapshots_written, R.V.files);
	ST_CHECK(st_count(R.dir, ".ttlog-tmp-") == 0, "temporary files left in %s", R.dir);
	check_monotonic();

	st_note("%" PRIu64 " threads, %" PRIu64 " events, %" PRIu64 " files verified (%" PRIu64
		" events in them); %" PRIu64 " requests (+%" PRIu64 " busy), %" PRIu64 " SIGUSR2, %" PRIu64
		" SIGUSR1 (%" PRIu64 " events from handlers), %" PRIu64 " coalesced",
		atomic_load(&R.threads_started), total, R.V.files, R.V.events, atomic_load(&R.requests),
		atomic_load(&R.busy), atomic_load(&R.sigusr2), atomic_load(&R.sigusr1),
		atomic_load(&R.T.count[0]), st.snapshots_coalesced);
	struct st_row row = {label ? label : R.scenario, R.variant, 1, 0, 1, total, shut.c.kept,
			     shut.c.overwritten, shut.c.dropped};
	st_row_write(&row);
	st_rmdir(R.dir);
	st_verifier_free(&R.V);
	st_threads_free(&R.T);
	free(workers);
	free(R.syncs);
	free(R.seen);
	return 0;
}
