/*
 * test_trigger.c - incident triggers: the trigger level, ttlog_trigger() (also from a
 * signal handler), the rate limit and its suppressed count, the loss trigger at its
 * threshold and not below, and bad configuration. No test depends on how fast anything
 * runs: the rate limit interval is longer than any test, and "not fired" is checked after
 * the writer has provably run its checks (two snapshot requests served after the events).
 */
#include <signal.h>

#include "testutil.h"

static unsigned cfg_pre, cfg_post_ms = 20; /* start()'s window, for one test */

static void start(const char *level, unsigned min_interval_s, unsigned loss, size_t capacity)
{
	ttlog_config cfg;

	tu_config(&cfg, tu_dir, capacity, TTLOG_POLICY_OVERWRITE);
	cfg.trigger_pre = cfg_pre;
	cfg.service = "trig";
	cfg.quiet = true;
	cfg.trigger_level = level;
	cfg.trigger_post_ms = cfg_post_ms;
	cfg.trigger_min_interval_s = min_interval_s;
	cfg.trigger_loss_events = loss;
	cfg.trigger_loss_ms = 3600000; /* every loss of a test is within the window */
	tu_init(&cfg);
}

static ttlog_stats stats(void)
{
	ttlog_stats st;
	ttlog_get_stats(&st);
	return st;
}

static int has_snapshot(const char *part)
{
	char p[8400];

	tu_find(tu_dir, part, p, sizeof p);
	return p[0] != '\0';
}

/* Two requests served one after the other: the writer has run a whole loop (its trigger
 * checks included) after everything this thread did before the call. */
static void writer_caught_up(const char *tag)
{
	char a[64], b[64];

	snprintf(a, sizeof a, "probe-%s-a", tag);
	snprintf(b, sizeof b, "probe-%s-b", tag);
	assert_int_equal(ttlog_request_snapshot(a), 0);
	tu_wait_for(has_snapshot(a), "the first probe snapshot");
	assert_int_equal(ttlog_request_snapshot(b), 0);
	tu_wait_for(has_snapshot(b), "the second probe snapshot");
}

static int trigger_files(const char *reason)
{
	char suffix[64];
	snprintf(suffix, sizeof suffix, "-%s.bin", reason);
	return tu_count(tu_dir, "ttlog-", suffix);
}

/* An error fires; the trigger's snapshot holds the error and what followed in the
 * window; info events never fire. */
static void test_level_fires(void **state)
{
	char path[8400];
	ttlog_snapshot_file *s;

	(void)state;
	start("error", 3600, 0, 1024);
	for (uint64_t i = 0; i < 10; i++)
		TTLOG_INFO("trig", "before {}", TTLOG_U64("i", i));
	writer_caught_up("info");
	assert_int_equal(stats().triggers_fired, 0);
	assert_int_equal(trigger_files("trigger-error"), 0);
	TTLOG_ERROR("trig", "the error {}", TTLOG_U64("code", 42));
	assert_int_equal(stats().triggers_fired, 1);
	TTLOG_INFO("trig", "after the error");
	tu_wait_for(trigger_files("trigger-error") == 1, "the trigger-error snapshot");
	tu_find(tu_dir, "trigger-error", path, sizeof path);
	assert_int_equal(ttlog_snapshot_open(path, &s), 0);
	assert_string_equal(ttlog_snapshot_reason(s), "trigger-error");
	/* the error and at least the 10 events before it */
	assert_true(ttlog_snapshot_event_count(s) >= 11);
	tu_assert_balanced(s);
	ttlog_snapshot_close(s);
}

/* 1,000 errors within the interval: one snapshot, 999 suppressed, whatever the speed. */
static void test_rate_limit(void **state)
{
	(void)state;
	start("warn", 3600, 0, 1024);
	for (uint64_t i = 0; i < 1000; i++)
		TTLOG_ERROR("trig", "error {}", TTLOG_U64("i", i));
	ttlog_stats st = stats();
	assert_int_equal(st.triggers_fired, 1);
	assert_int_equal(st.triggers_suppressed, 999);
	tu_wait_for(trigger_files("trigger-error") == 1, "the one trigger-error snapshot");
	assert_int_equal(ttlog_trigger("later"), -EBUSY); /* still within the interval */
	assert_int_equal(stats().triggers_suppressed, 1000);
	writer_caught_up("rate");
	assert_int_equal(trigger_files("trigger-error"), 1);
	assert_int_equal(trigger_files("trigger-later"), 0);
}

static void on_usr1(int sig)
{
	(void)sig;
	ttlog_trigger("from signal");
}

/* ttlog_trigger from code and from a signal handler; the reason is sanitised. */
static void test_manual_and_signal(void **state)
{
	struct sigaction sa = {.sa_handler = on_usr1}, old;

	(void)state;
	assert_int_equal(ttlog_trigger("x"), -ESRCH);
	start(NULL, 1, 0, 1024);
	assert_int_equal(ttlog_trigger("db/timeout"), 0);
	tu_wait_for(trigger_files("trigger-db_timeout") == 1, "the trigger-db_timeout snapshot");
	/* the interval (1 s) is over when a trigger is accepted again: wait for that, then
	 * fire from a signal handler */
	sigaction(SIGUSR1, &sa, &old);
	uint64_t before = stats().triggers_fired;
	while (stats().triggers_fired == before) {
		raise(SIGUSR1);
		usleep(10000);
	}
	sigaction(SIGUSR1, &old, NULL);
	tu_wait_for(trigger_files("trigger-from_signal") == 1, "the trigger-from_signal snapshot");
}

/* The loss trigger fires when more than N events are lost, not at N. */
static void test_loss_threshold(void **state)
{
	(void)state;
	start(NULL, 3600, 100, 16);
	/* log until exactly 100 events are lost: every variant loses at most one per event
	 * in a ring of 16 (mpmc's eviction batch is min(8, C / 64), at least 1) */
	uint64_t i = 0;
	while (stats().overwritten + stats().dropped < 100)
		TTLOG_INFO("trig", "lose {}", TTLOG_U64("i", i++));
	ttlog_stats st = stats();
	assert_int_equal(st.overwritten + st.dropped, 100);
	writer_caught_up("at");
	assert_int_equal(stats().triggers_fired, 0);
	assert_int_equal(trigger_files("trigger-loss"), 0);
	/* (percpu: an event may land in the ring of another CPU that is not full yet) */
	while (stats().overwritten + stats().dropped < 101)
		TTLOG_INFO("trig", "one more {}", TTLOG_U64("i", i++));
	/* the writer checks every trigger_loss_ms / 4 (15 min here) and at each wake-up: a
	 * request wakes it */
	writer_caught_up("over");
	assert_int_equal(stats().triggers_fired, 1);
	tu_wait_for(trigger_files("trigger-loss") == 1, "the trigger-loss snapshot");
}

/* An error followed by a storm that overwrites the ring (64 events) 150 times over in
 * the post-trigger window: the trigger's snapshot holds the 16 events before the error,
 * the error, the first 16 of the window and the ring's newest 64, and the counters
 * account for every other event as overwritten. The window ends with ttlog_shutdown
 * (the writer writes a pending trigger's snapshot when it stops), so the storm is surely
 * inside it whatever the machine's speed. */
static void test_pinned_window_survives_storm(void **state)
{
	char path[8400];
	ttlog_snapshot_file *s;
	ttlog_snapshot_counters c;
	ttlog_event ev;
	int pre = 0, err = 0, post = 0, newest = 0, other = 0;

	(void)state;
	cfg_pre = 16;
	cfg_post_ms = 3600000;
	start("error", 3600, 0, 64);
	cfg_pre = 0;
	cfg_post_ms = 20;
	for (uint64_t i = 0; i < 100; i++)
		TTLOG_INFO("trig", "before {}", TTLOG_U64("i", i));
	TTLOG_ERROR("trig", "the error {}", TTLOG_U64("code", 4242));
	for (uint64_t j = 0; j < 10000; j++)
		TTLOG_INFO("trig", "storm {}", TTLOG_U64("j", j));
	assert_int_equal(trigger_files("trigger-error"), 0); /* the window is still open */
	ttlog_shutdown();
	assert_int_equal(trigger_files("trigger-error"), 1);
	tu_find(tu_dir, "trigger-error", path, sizeof path);
	assert_int_equal(ttlog_snapshot_open(path, &s), 0);
	while (ttlog_snapshot_next(s, &ev) == 1) {
		const char *name = ev.nfields == 1 ? ev.fields[0].name : "";
		uint64_t v = ev.nfields == 1 ? ev.fields[0].v.u64 : 0;
		if (strcmp(name, "i") == 0 && v >= 84 && v < 100)
			pre++;
		else if (strcmp(name, "code") == 0 && v == 4242)
			err++;
		else if (strcmp(name, "j") == 0 && v < 16)
			post++;
		else if (strcmp(name, "j") == 0 && v >= 10000 - 64)
			newest++;
		else
			other++;
	}
	if (pre != 16 || err != 1 || post != 16 || newest != 64 || other != 0)
		fail_msg("pre %d/16, error %d/1, post %d/16, newest %d/64, other %d/0", pre, err,
			 post, newest, other);
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.logged, 10101);
	assert_int_equal(c.kept, 97);
	assert_int_equal(c.kept, ttlog_snapshot_event_count(s));
	assert_int_equal(c.overwritten + c.dropped, 10101 - 97);
	tu_assert_balanced(s);
	uint64_t v = 0;
	assert_int_equal(ttlog_snapshot_meta_u64(s, "trigger.pre_events", &v), 1);
	assert_int_equal(v, 17);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "trigger.post_events", &v), 1);
	assert_int_equal(v, 16);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "trigger.post_not_pinned", &v), 1);
	assert_int_equal(v, 10000 - 16);
	/* the error is identified: its index in events */
	assert_int_equal(ttlog_snapshot_meta_u64(s, "trigger.event_index", &v), 1);
	ttlog_snapshot_rewind(s);
	for (uint64_t k = 0; k <= v; k++)
		assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	assert_string_equal(ev.fields[0].name, "code");
	assert_int_equal(ev.fields[0].v.u64, 4242);
	ttlog_snapshot_close(s);
}

static void test_bad_configuration(void **state)
{
	ttlog_config cfg;

	(void)state;
	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = tu_dir;
	cfg.quiet = true;
	cfg.trigger_level = "loud";
	assert_int_equal(ttlog_init(&cfg), -EINVAL);
	assert_non_null(strstr(ttlog_errmsg(), "trigger_level"));
	cfg.trigger_level = "off";
	cfg.trigger_post_ms = 3600001;
	assert_int_equal(ttlog_init(&cfg), -EINVAL);
	cfg.trigger_post_ms = 0;
	cfg.trigger_min_interval_s = 86401;
	assert_int_equal(ttlog_init(&cfg), -EINVAL);
	cfg.trigger_min_interval_s = 0;
	assert_int_equal(ttlog_init(&cfg), 0);
	ttlog_shutdown();

	const struct {
		const char *var, *val;
	} bad[] = {
		{"TTLOG_TRIGGER_LEVEL", "loud"},     {"TTLOG_TRIGGER_POST_MS", "0"},
		{"TTLOG_TRIGGER_POST_MS", "x"},      {"TTLOG_TRIGGER_MIN_INTERVAL_S", "0"},
		{"TTLOG_TRIGGER_LOSS", "-1"},        {"TTLOG_TRIGGER_LOSS_MS", "3600001"},
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		setenv(bad[k].var, bad[k].val, 1);
		assert_int_equal(ttlog_config_default(&cfg), -EINVAL);
		if (strstr(cfg.env_errmsg, bad[k].var) == NULL)
			fail_msg("%s=%s: message '%s'", bad[k].var, bad[k].val, cfg.env_errmsg);
		unsetenv(bad[k].var);
	}
	setenv("TTLOG_TRIGGER_LEVEL", "ERROR", 1);
	setenv("TTLOG_TRIGGER_LOSS", "500", 1);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	assert_string_equal(cfg.trigger_level, "ERROR");
	assert_int_equal(cfg.trigger_loss_events, 500);
	unsetenv("TTLOG_TRIGGER_LEVEL");
	unsetenv("TTLOG_TRIGGER_LOSS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_level_fires, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_manual_and_signal, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_loss_threshold, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_pinned_window_survives_storm, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(test_bad_configuration, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
