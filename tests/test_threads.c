/*
 * test_threads.c - many threads logging through the real log call: nothing lost without
 * overwrite, nothing duplicated, per-thread order kept, no torn record; snapshots taken
 * while threads log are consistent and balanced.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define MAXT 8

static char dir[4096];
static _Atomic int stop;

static uint64_t check_of(uint64_t t, uint64_t seq)
{
	uint64_t x = (t << 40) ^ seq ^ 0x9e3779b97f4a7c15ull;
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

struct worker {
	pthread_t th;
	uint64_t idx, n;
	_Atomic uint64_t done; /* events logged; 0 until the first log call returns */
};

static void *log_n(void *arg)
{
	struct worker *w = arg;
	for (uint64_t s = 0; s < w->n || (w->n == 0 && !atomic_load(&stop)); s++) {
		TTLOG_INFO("thr", "t{} s{} c{} {}", TTLOG_U64("t", w->idx), TTLOG_U64("seq", s),
			   TTLOG_U64("check", check_of(w->idx, s)), TTLOG_STR("pad", "abc"));
		/* W1: release, pairs with W2 in logged_by(): event s is logged before done
		 * counts it */
		atomic_store_explicit(&w->done, s + 1, memory_order_release);
	}
	return NULL;
}

/* Events the n workers have logged so far (W2: acquire, pairs with W1 in log_n()). */
static uint64_t logged_by(struct worker *w, int n)
{
	uint64_t sum = 0;
	for (int i = 0; i < n; i++)
		sum += atomic_load_explicit(&w[i].done, memory_order_acquire);
	return sum;
}

/* Wait until w has logged more than seen events. */
static void wait_new_event(struct worker *w, uint64_t seen)
{
	/* relaxed: progress only; logged_by() reads the counts the checks use */
	tu_wait_for(atomic_load_explicit(&w->done, memory_order_relaxed) > seen,
		    "a new event from each logging thread");
}

/* Every event intact, per-thread seq strictly increasing; returns events per thread. */
static void verify(ttlog_snapshot_file *s, uint64_t count[MAXT], uint64_t last[MAXT])
{
	ttlog_event ev;
	uint64_t seen[MAXT];

	memset(seen, 0, sizeof seen);
	memset(count, 0, sizeof(uint64_t) * MAXT);
	memset(last, 0, sizeof(uint64_t) * MAXT);
	ttlog_snapshot_rewind(s);
	while (ttlog_snapshot_next(s, &ev) == 1) {
		assert_string_equal(ev.target, "thr");
		assert_int_equal(ev.nfields, 4);
		uint64_t t = ev.fields[0].v.u64, seq = ev.fields[1].v.u64;
		assert_true(t < MAXT);
		if (ev.fields[2].v.u64 != check_of(t, seq))
			fail_msg("torn record: thread %llu seq %llu check %llx",
				 (unsigned long long)t, (unsigned long long)seq,
				 (unsigned long long)ev.fields[2].v.u64);
		assert_int_equal(ev.fields[3].v.str.len, 3);
		if (seen[t] && seq <= last[t])
			fail_msg("thread %llu: seq %llu after %llu (duplicate or reordered)",
				 (unsigned long long)t, (unsigned long long)seq,
				 (unsigned long long)last[t]);
		seen[t] = 1;
		last[t] = seq;
		count[t]++;
	}
}

static void test_eight_threads_no_loss(void **state)
{
	const uint64_t per = tu_quick() ? 2000 : 20000;
	struct worker w[MAXT];
	uint64_t count[MAXT], last[MAXT];
	ttlog_snapshot_file *s;
	ttlog_snapshot_counters c;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	tu_start(dir, MAXT * per, TTLOG_POLICY_OVERWRITE);
	for (int i = 0; i < MAXT; i++) {
		w[i].idx = (uint64_t)i;
		w[i].n = per;
		atomic_init(&w[i].done, 0);
		assert_int_equal(pthread_create(&w[i].th, NULL, log_n, &w[i]), 0);
	}
	for (int i = 0; i < MAXT; i++)
		pthread_join(w[i].th, NULL);
	s = tu_snapshot("eight");
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.logged, MAXT * per);
	assert_int_equal(c.overwritten, 0);
	assert_int_equal(c.dropped, 0);
	tu_assert_balanced(s);
	verify(s, count, last);
	for (int i = 0; i < MAXT; i++) {
		assert_int_equal(count[i], per); /* all there: no loss, no duplicate */
		assert_int_equal(last[i], per - 1);
	}
	ttlog_snapshot_close(s);
	ttlog_shutdown();
	tu_rmdir(dir);
}

static void test_snapshots_while_logging(void **state)
{
	const int rounds = tu_quick() ? 5 : 30;
	struct worker w[2];
	uint64_t count[MAXT], last[MAXT];
	ttlog_snapshot_counters c, prev = {0};

	(void)state;
	tu_mkdir(dir, sizeof dir);
	tu_start(dir, 4096, TTLOG_POLICY_OVERWRITE);
	atomic_store(&stop, 0);
	for (int i = 0; i < 2; i++) {
		w[i].idx = (uint64_t)i;
		w[i].n = 0; /* until stop */
		atomic_init(&w[i].done, 0);
		assert_int_equal(pthread_create(&w[i].th, NULL, log_n, &w[i]), 0);
	}
	/* Each snapshot is taken while both threads log: before each one, both have logged
	 * since the last (on a tmpfs the snapshots cost no wait, and the scheduler may run
	 * all rounds before a new thread's first event). */
	uint64_t seen[2] = {0, 0};
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < 2; i++)
			wait_new_event(&w[i], seen[i]);
		uint64_t before = logged_by(w, 2);
		ttlog_snapshot_file *s = tu_snapshot("live");
		for (int i = 0; i < 2; i++)
			seen[i] = atomic_load_explicit(&w[i].done, memory_order_relaxed);
		ttlog_snapshot_get_counters(s, &c);
		tu_assert_balanced(s);
		/* every log call that returned before the snapshot is in its count */
		if (c.logged < before)
			fail_msg("round %d: snapshot counts %llu logged, but %llu calls had "
				 "returned before it", r, (unsigned long long)c.logged,
				 (unsigned long long)before);
		if (c.logged < prev.logged || c.overwritten < prev.overwritten)
			fail_msg("round %d: counters went back: logged %llu after %llu, "
				 "overwritten %llu after %llu", r, (unsigned long long)c.logged,
				 (unsigned long long)prev.logged,
				 (unsigned long long)c.overwritten,
				 (unsigned long long)prev.overwritten);
		verify(s, count, last);
		prev = c;
		ttlog_snapshot_close(s);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i].th, NULL);
	uint64_t done[2] = {atomic_load(&w[0].done), atomic_load(&w[1].done)};
	/* quiescent: the last snapshot accounts for every event the threads logged */
	ttlog_snapshot_file *s = tu_snapshot("after");
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.logged, done[0] + done[1]);
	assert_int_equal(c.in_flight, 0);
	tu_assert_balanced(s);
	verify(s, count, last);
	/* What is kept is the newest part of the log: for each thread, either nothing (the
	 * other thread's later events pushed all of it out) or its newest events. Unless
	 * events were dropped: mpmc drops (and counts) new events while the oldest slot is
	 * held by a preempted producer, so a later event may be missing. */
	assert_true(count[0] + count[1] > 0);
	assert_int_equal(count[0] + count[1], c.kept);
	if (c.dropped > 0)
		print_message("%llu events dropped under preemption (counted)\n",
			      (unsigned long long)c.dropped);
	for (int i = 0; i < 2 && c.dropped == 0; i++)
		if (count[i] > 0 && last[i] != done[i] - 1)
			fail_msg("thread %d: newest kept seq %llu, but it logged up to %llu", i,
				 (unsigned long long)last[i], (unsigned long long)(done[i] - 1));
	ttlog_snapshot_close(s);
	ttlog_shutdown();
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eight_threads_no_loss),
		cmocka_unit_test(test_snapshots_while_logging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
