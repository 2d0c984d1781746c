/*
 * test_writer.c - the writer thread's poll timeout: any accepted snapshot interval (up to
 * a year) gives a wait that poll() takes, chunked at an hour, never a negative one (which
 * would wait forever and the interval would never fire).
 */
#include "testutil.h"

#include <limits.h>
#include <stdint.h>

/* core/writer.c: ms to wait for an interval snapshot due at next (0: none) */
int ttlog__writer_poll_timeout(uint64_t now, uint64_t next);

#define HOUR_MS (3600 * 1000)

static void expect_timeout(uint64_t now, uint64_t next, int want)
{
	int got = ttlog__writer_poll_timeout(now, next);
	if (got != want)
		fail_msg("timeout(now %llu, next %llu) = %d, want %d", (unsigned long long)now,
			 (unsigned long long)next, got, want);
}

static void test_timeouts(void **state)
{
	uint64_t now = 123456789;

	(void)state;
	expect_timeout(now, 0, -1);           /* no interval: wait for a wake-up */
	expect_timeout(now, now, 0);          /* due */
	expect_timeout(now, now - 5, 0);      /* overdue */
	expect_timeout(now, now + 1500, 1500);
	expect_timeout(now, now + HOUR_MS, HOUR_MS);
	/* 2^31 ms and more: the old (int) cast made these negative or wrapped */
	expect_timeout(now, now + (1ull << 31), HOUR_MS);
	expect_timeout(now, now + (1ull << 32) + 500, HOUR_MS);
	/* the longest interval TTLOG_SNAPSHOT_INTERVAL accepts */
	expect_timeout(now, now + 31536000ull * 1000, HOUR_MS);
	/* the last chunk is the rest */
	expect_timeout(now, now + HOUR_MS - 1, HOUR_MS - 1);
}

/* A year's interval starts and serves requests (the writer is not stuck in poll). */
static void test_long_interval_runs(void **state)
{
	char dir[4096];
	ttlog_config cfg;
	int rc;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = dir;
	cfg.capacity = 1024;
	cfg.service = "test";
	cfg.snapshot_interval_s = 31536000;
	rc = ttlog_init(&cfg);
	if (rc != 0)
		fail_msg("ttlog_init: %d %s (%s)", rc, ttlog_strerror(rc), ttlog_errmsg());
	TTLOG_INFO("w", "one");
	assert_int_equal(ttlog_request_snapshot("req"), 0);
	for (int i = 0; i < 6000 && tu_count(dir, "ttlog-", "-req.bin") == 0; i++)
		usleep(10000);
	assert_int_equal(tu_count(dir, "ttlog-", "-req.bin"), 1);
	ttlog_shutdown();
	assert_int_equal(tu_count(dir, "ttlog-", "-interval.bin"), 0);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_long_interval_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
