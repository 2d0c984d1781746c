/*
 * test_config.c - ttlog_config's forward compatibility: a fixed size, the fields of this
 * version at fixed offsets, zero meaning default, reserved bytes that must be zero.
 */
#include "testutil.h"

#define OFFSET_IS(field, want)                                                              \
	do {                                                                                \
		if (offsetof(ttlog_config, field) != (want))                                \
			fail_msg("offsetof(ttlog_config, %s) = %zu, the ABI says %zu", #field, \
				 offsetof(ttlog_config, field), (size_t)(want));            \
	} while (0)

/* Programs built against an earlier ttlog.h of this SONAME read and write these offsets:
 * a field inserted before them, or a size change, breaks every one of those programs. */
static void test_layout_is_pinned(void **state)
{
	(void)state;
	assert_int_equal(sizeof(ttlog_config), TTLOG_CONFIG_SIZE);
	assert_int_equal(sizeof(ttlog_stats), TTLOG_STATS_SIZE);
	assert_int_equal(offsetof(ttlog_stats, crashes_chained), 64);
	assert_int_equal(offsetof(ttlog_stats, triggers_fired), 80);
	assert_int_equal(offsetof(ttlog_stats, triggers_suppressed), 88);
#if defined(__x86_64__) || defined(__aarch64__)
	OFFSET_IS(capacity, 0);
	OFFSET_IS(service, 8);
	OFFSET_IS(snapshot_dir, 16);
	OFFSET_IS(level, 24);
	OFFSET_IS(policy, 28);
	OFFSET_IS(snapshot_interval_s, 32);
	OFFSET_IS(snapshot_keep, 36);
	OFFSET_IS(snapshot_signal, 40);
	OFFSET_IS(final_snapshot, 44);
	OFFSET_IS(quiet, 45);
	OFFSET_IS(variant, 48);
	OFFSET_IS(interner_bytes, 56);
	OFFSET_IS(snapshot_clip, 64);
	OFFSET_IS(env_error, 68);
	OFFSET_IS(env_errmsg, 72);
	OFFSET_IS(snapshot_mode, 232);
	OFFSET_IS(blackbox, 236);
	OFFSET_IS(blackbox_dir, 240);
	OFFSET_IS(metrics_file, 248);
	OFFSET_IS(metrics_interval_s, 256);
	OFFSET_IS(trigger_level, 264);
	OFFSET_IS(trigger_post_ms, 272);
	OFFSET_IS(trigger_min_interval_s, 276);
	OFFSET_IS(trigger_loss_events, 280);
	OFFSET_IS(trigger_loss_ms, 284);
	OFFSET_IS(trigger_pre, 288);
#endif
}

/* A zeroed struct (a program that does not call ttlog_config_default, or an older
 * program's reserved bytes) means the defaults. */
static void test_zero_means_default(void **state)
{
	ttlog_config cfg;
	ttlog_snapshot_file *s;

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	cfg.snapshot_dir = tu_dir;
	cfg.quiet = true;
	assert_int_equal(ttlog_init(&cfg), 0);
	TTLOG_INFO("config", "zeroed config");
	s = tu_snapshot("zero");
	assert_int_equal(ttlog_snapshot_capacity(s), 65536);
	assert_int_equal(ttlog_snapshot_event_count(s), 1);
	ttlog_snapshot_close(s);
}

/* A byte past this version's last field is a field of a newer version: refused, with a
 * message, wherever it is in the reserved tail; the same struct cleared works. */
static void test_reserved_must_be_zero(void **state)
{
	ttlog_config cfg;
	/* the last field of this version: a field added after it moves this */
	size_t used = offsetof(ttlog_config, trigger_pre) + sizeof cfg.trigger_pre;
	size_t probes[] = {used, used + 1, (used + TTLOG_CONFIG_SIZE) / 2, TTLOG_CONFIG_SIZE - 1};

	(void)state;
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		assert_int_equal(ttlog_config_default(&cfg), 0);
		cfg.snapshot_dir = tu_dir;
		cfg.quiet = true;
		cfg.ttlog__reserved[probes[i]] = 1;
		int rc = ttlog_init(&cfg);
		if (rc != -EINVAL)
			fail_msg("reserved byte %zu set: ttlog_init = %d, want -EINVAL", probes[i],
				 rc);
		assert_non_null(strstr(ttlog_errmsg(), "does not know"));
		cfg.ttlog__reserved[probes[i]] = 0;
		assert_int_equal(ttlog_init(&cfg), 0);
		ttlog_shutdown();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_is_pinned),
		cmocka_unit_test_setup_teardown(test_zero_means_default, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_reserved_must_be_zero, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
