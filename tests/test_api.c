/*
 * test_api.c - the public API as a program uses it: round trips through a snapshot file
 * and the reader, levels, truncation, accounting, builder events, configuration errors,
 * file names, the clip to the window common to all shards.
 */
#include "testutil.h"

#include <cbor.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

/* Find the next event of the given target, failing if there is none. */
static void next_event(ttlog_snapshot_file *s, ttlog_event *ev)
{
	if (ttlog_snapshot_next(s, ev) != 1)
		fail_msg("expected another event");
}

static void test_round_trip_types_and_levels(void **state)
{
	ttlog_snapshot_file *s;
	ttlog_event ev;
	char text[256];

	(void)state;
	tu_start(tu_dir, 1024, TTLOG_POLICY_OVERWRITE);
	TTLOG_TRACE("t.trace", "trace {}", TTLOG_U64("u", UINT64_MAX));
	TTLOG_DEBUG("t.debug", "debug {}", TTLOG_I64("i", INT64_MIN));
	TTLOG_INFO("t.info", "info {} {}", TTLOG_I64("pos", 42), TTLOG_F64("f", -1.5e-300));
	TTLOG_WARN("t.warn", "warn {}", TTLOG_BOOL("b", true), TTLOG_BOOL("c", false));
	TTLOG_ERROR("t.error", "error {}", TTLOG_STR("s", "h\xc3\xa9llo"));
	TTLOG_FATAL("t.fatal", "no fields");
	TTLOG_INFO("my_service", "User {} did {}", TTLOG_U64("user_id", 12345),
		   TTLOG_STR("action", "login"), TTLOG_BOOL("success", true));

	s = tu_snapshot("roundtrip");
	assert_string_equal(ttlog_snapshot_service(s), "test");
	assert_string_equal(ttlog_snapshot_reason(s), "roundtrip");
	assert_string_equal(ttlog_snapshot_variant(s), TTLOG_TEST_VARIANT);
	assert_int_equal(ttlog_snapshot_pid(s), getpid());
	assert_int_equal(ttlog_snapshot_event_count(s), 7);
	tu_assert_balanced(s);

	next_event(s, &ev);
	assert_int_equal(ev.level, TTLOG_LEVEL_TRACE);
	assert_string_equal(ev.target, "t.trace");
	assert_int_equal(ev.nfields, 1);
	assert_string_equal(ev.fields[0].name, "u");
	assert_int_equal(ev.fields[0].type, TTLOG_TYPE_U64);
	assert_true(ev.fields[0].v.u64 == UINT64_MAX);
	assert_int_equal(ev.thread_id, (uint32_t)gettid());
	uint64_t first_ts = ev.timestamp_ns;
	uint64_t now = (uint64_t)time(NULL) * 1000000000ull;
	if (first_ts + 60000000000ull < now || first_ts > now + 60000000000ull)
		fail_msg("timestamp %llu is not within a minute of now %llu",
			 (unsigned long long)first_ts, (unsigned long long)now);

	next_event(s, &ev);
	assert_int_equal(ev.level, TTLOG_LEVEL_DEBUG);
	assert_int_equal(ev.fields[0].type, TTLOG_TYPE_I64);
	assert_true(ev.fields[0].v.i64 == INT64_MIN);

	next_event(s, &ev);
	assert_int_equal(ev.level, TTLOG_LEVEL_INFO);
	assert_true(ev.fields[0].v.i64 == 42);
	assert_int_equal(ev.fields[1].type, TTLOG_TYPE_F64);
	assert_true(ev.fields[1].v.f64 == -1.5e-300);
	assert_true(ev.timestamp_ns >= first_ts);

	next_event(s, &ev);
	assert_int_equal(ev.level, TTLOG_LEVEL_WARN);
	assert_int_equal(ev.nfields, 2);
	assert_true(ev.fields[0].v.b);
	assert_false(ev.fields[1].v.b);
	ttlog_event_render(&ev, text, sizeof text);
	assert_string_equal(text, "warn true");

	next_event(s, &ev);
	assert_int_equal(ev.level, TTLOG_LEVEL_ERROR);
	assert_int_equal(ev.fields[0].type, TTLOG_TYPE_STR);
	assert_int_equal(ev.fields[0].v.str.len, 6);
	assert_memory_equal(ev.fields[0].v.str.ptr, "h\xc3\xa9llo", 6);
	assert_false(ev.fields[0].truncated);

	next_event(s, &ev);
	assert_int_equal(ev.level, TTLOG_LEVEL_FATAL);
	assert_int_equal(ev.nfields, 0);
	assert_string_equal(ev.message, "no fields");

	next_event(s, &ev);
	ttlog_event_render(&ev, text, sizeof text);
	assert_string_equal(text, "User 12345 did login");
	assert_string_equal(ev.message, "User {} did {}");
	assert_int_equal(ev.nfields, 3);
	assert_string_equal(ev.fields[2].name, "success");
	assert_int_equal(ttlog_snapshot_next(s, &ev), 0);
	ttlog_snapshot_close(s);
}

static void test_levels_filter(void **state)
{
	ttlog_snapshot_file *s;
	ttlog_event ev;

	(void)state;
	tu_start(tu_dir, 64, TTLOG_POLICY_OVERWRITE);
	ttlog_set_level(TTLOG_LEVEL_WARN);
	assert_int_equal(ttlog_get_level(), TTLOG_LEVEL_WARN);
	TTLOG_INFO("lvl", "filtered");
	TTLOG_DEBUG("lvl", "filtered");
	TTLOG_WARN("lvl", "kept warn");
	TTLOG_ERROR("lvl", "kept error");
	s = tu_snapshot("levels");
	assert_int_equal(ttlog_snapshot_event_count(s), 2);
	next_event(s, &ev);
	assert_string_equal(ev.message, "kept warn");
	ttlog_snapshot_counters c;
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.logged, 2); /* filtered events are not "logged" */
	ttlog_snapshot_close(s);
}

static void test_truncation_flagged(void **state)
{
	ttlog_snapshot_file *s;
	ttlog_event ev;
	ttlog_stats st;
	char longs[200];

	(void)state;
	memset(longs, 'x', sizeof longs - 1);
	longs[sizeof longs - 1] = '\0';
	tu_start(tu_dir, 64, TTLOG_POLICY_OVERWRITE);
	TTLOG_INFO("trunc", "{} {}", TTLOG_U64("n", 7), TTLOG_STR("long", longs));
	TTLOG_INFO("trunc", "{}", TTLOG_STR("short", "fits"));
	/* a multi-byte character straddling the cut is not split */
	TTLOG_INFO("trunc", "{}", TTLOG_STR("utf8", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xe2\x82\xac"));
	ttlog_get_stats(&st);
	assert_int_equal(st.truncated, 2);
	s = tu_snapshot("trunc");
	next_event(s, &ev);
	assert_true(ev.fields[1].truncated);
	/* 40-byte payload: 8 for the u64, 1 length byte: 31 bytes of the string */
	assert_int_equal(ev.fields[1].v.str.len, TTLOG_PAYLOAD_SIZE - 9);
	assert_memory_equal(ev.fields[1].v.str.ptr, longs, ev.fields[1].v.str.len);
	next_event(s, &ev);
	assert_false(ev.fields[0].truncated);
	assert_int_equal(ev.fields[0].v.str.len, 4);
	next_event(s, &ev);
	assert_true(ev.fields[0].truncated);
	assert_int_equal(ev.fields[0].v.str.len, 38); /* the 3-byte euro sign is dropped */
	ttlog_snapshot_counters c;
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.truncated, 2);
	ttlog_snapshot_close(s);
}

static void test_overwrite_accounting_exact(void **state)
{
	ttlog_snapshot_file *s;
	ttlog_snapshot_counters c;
	ttlog_event ev;
	ttlog_stats st;

	(void)state;
	tu_start(tu_dir, 16, TTLOG_POLICY_OVERWRITE);
	for (uint64_t i = 0; i < 1000; i++)
		TTLOG_INFO("acct", "event {}", TTLOG_U64("i", i));
	ttlog_get_stats(&st);
	assert_int_equal(st.logged, 1000);
	assert_int_equal(st.overwritten, 1000 - 16);
	assert_int_equal(st.kept, 16);
	assert_int_equal(st.dropped, 0);
	s = tu_snapshot("acct");
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.logged, 1000);
	assert_int_equal(c.kept, 16);
	assert_int_equal(c.overwritten, 984);
	assert_int_equal(c.dropped, 0);
	tu_assert_balanced(s);
	/* the newest 16, oldest first */
	for (uint64_t i = 984; i < 1000; i++) {
		next_event(s, &ev);
		assert_int_equal(ev.fields[0].v.u64, i);
	}
	ttlog_snapshot_close(s);
}

static void test_drop_policy_accounting(void **state)
{
	ttlog_snapshot_file *s;
	ttlog_snapshot_counters c;
	ttlog_event ev;

	(void)state;
	tu_start(tu_dir, 16, TTLOG_POLICY_DROP);
	for (uint64_t i = 0; i < 100; i++)
		TTLOG_INFO("acct", "event {}", TTLOG_U64("i", i));
	s = tu_snapshot("drop");
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.logged, 100);
	assert_int_equal(c.kept, 16);
	assert_int_equal(c.dropped, 84);
	assert_int_equal(c.overwritten, 0);
	tu_assert_balanced(s);
	next_event(s, &ev);
	assert_int_equal(ev.fields[0].v.u64, 0); /* the oldest are kept */
	ttlog_snapshot_close(s);
}

static void test_builder_round_trip(void **state)
{
	ttlog_snapshot_file *s;
	ttlog_builder b;
	ttlog_event ev;
	char target[32], text[128];

	(void)state;
	tu_start(tu_dir, 64, TTLOG_POLICY_OVERWRITE);
	for (int i = 0; i < 3; i++) {
		snprintf(target, sizeof target, "database");
		ttlog_builder_begin(&b, TTLOG_LEVEL_ERROR, target, "Connection {} failed");
		ttlog_builder_u64(&b, "connection_id", 12345 + (uint64_t)i);
		ttlog_builder_i64(&b, "error_code", -1001);
		ttlog_builder_f64(&b, "timeout", 0.25);
		ttlog_builder_bool(&b, "retry", i == 1);
		ttlog_builder_str(&b, "host", "db-1");
		assert_int_equal(ttlog_builder_commit(&b), 0);
		memset(target, 0, sizeof target); /* the interner kept its own copy */
	}
	/* same names, another type: a different shape, not a collision */
	ttlog_builder_begin(&b, TTLOG_LEVEL_ERROR, "database", "Connection {} failed");
	ttlog_builder_str(&b, "connection_id", "abc");
	assert_int_equal(ttlog_builder_commit(&b), 0);
	/* too many fields, NULL name */
	ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "x", "y");
	for (int i = 0; i < TTLOG_MAX_FIELDS + 1; i++)
		ttlog_builder_bool(&b, "f", true);
	assert_int_equal(ttlog_builder_commit(&b), -E2BIG);
	ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "x", "y");
	ttlog_builder_u64(&b, NULL, 1);
	assert_int_equal(ttlog_builder_commit(&b), -EINVAL);
	/* filtered by level */
	ttlog_set_level(TTLOG_LEVEL_FATAL);
	ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "x", "y");
	assert_int_equal(ttlog_builder_commit(&b), 1);
	ttlog_set_level(TTLOG_LEVEL_TRACE);

	s = tu_snapshot("builder");
	assert_int_equal(ttlog_snapshot_event_count(s), 4);
	uint32_t cs = 0;
	for (int i = 0; i < 3; i++) {
		next_event(s, &ev);
		assert_int_equal(ev.level, TTLOG_LEVEL_ERROR);
		assert_string_equal(ev.target, "database");
		if (i == 0)
			cs = ev.callsite_id;
		assert_int_equal(ev.callsite_id, cs); /* interned once */
		assert_int_equal(ev.nfields, 5);
		assert_int_equal(ev.fields[0].v.u64, 12345 + (uint64_t)i);
		assert_true(ev.fields[1].v.i64 == -1001);
		assert_true(ev.fields[2].v.f64 == 0.25);
		assert_true(ev.fields[3].v.b == (i == 1));
		assert_memory_equal(ev.fields[4].v.str.ptr, "db-1", 4);
	}
	ttlog_event_render(&ev, text, sizeof text);
	assert_string_equal(text, "Connection 12347 failed");
	next_event(s, &ev);
	assert_int_not_equal(ev.callsite_id, cs);
	assert_int_equal(ev.fields[0].type, TTLOG_TYPE_STR);
	ttlog_snapshot_close(s);
}

static void test_interner_full_counted(void **state)
{
	ttlog_config cfg;
	ttlog_builder b;
	ttlog_stats st;
	char msg[64];
	int rc = 0, i;

	(void)state;
	/* the interner lives for the process: fill what is left of it with new shapes */
	ttlog_config_default(&cfg);
	cfg.snapshot_dir = tu_dir;
	assert_int_equal(ttlog_init(&cfg), 0);
	for (i = 0; i < 200000 && rc == 0; i++) {
		snprintf(msg, sizeof msg, "shape %d with a long enough message", i);
		ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "fill", msg);
		rc = ttlog_builder_commit(&b);
	}
	assert_int_equal(rc, -ENOSPC);
	ttlog_get_stats(&st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.logged, (uint64_t)i);
	/* a known shape still works */
	ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "fill", "shape 0 with a long enough message");
	assert_int_equal(ttlog_builder_commit(&b), 0);
}

static void test_env_errors(void **state)
{
	static const struct {
		const char *var, *val;
	} bad[] = {
		{"TTLOG_CAPACITY", "abc"},        {"TTLOG_CAPACITY", "-5"},
		{"TTLOG_CAPACITY", "8"},          {"TTLOG_CAPACITY", "99999999999999999999"},
		{"TTLOG_CAPACITY", "12k"},        {"TTLOG_LEVEL", "loud"},
		{"TTLOG_LEVEL", "7"},             {"TTLOG_SNAPSHOT_INTERVAL", "-1"},
		{"TTLOG_SNAPSHOT_INTERVAL", "1.5"}, {"TTLOG_SNAPSHOT_KEEP", "x"},
		{"TTLOG_SNAPSHOT_SIGNAL", "SEGV"}, {"TTLOG_SNAPSHOT_SIGNAL", "KILL"},
		{"TTLOG_SNAPSHOT_DIR", ""},       {"TTLOG_SERVICE_NAME", ""},
		{"TTLOG_POLICY", "sometimes"},    {"TTLOG_SNAPSHOT_CLIP", "yes"},
		{"TTLOG_SNAPSHOT_CLIP", ""},      {"TTLOG_SNAPSHOT_CLIP", "2"},
	};
	ttlog_config cfg;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv(bad[i].var, bad[i].val, 1);
		assert_int_equal(ttlog_config_default(&cfg), -EINVAL);
		cfg.quiet = true;
		int rc = ttlog_init(&cfg);
		if (rc != -EINVAL)
			fail_msg("%s=%s: ttlog_init returned %d, want -EINVAL", bad[i].var,
				 bad[i].val, rc);
		if (strstr(ttlog_errmsg(), bad[i].var) == NULL)
			fail_msg("%s=%s: message '%s' does not name the variable", bad[i].var,
				 bad[i].val, ttlog_errmsg());
		assert_int_equal(ttlog_init(NULL), -EINVAL); /* NULL config reads env too */
		unsetenv(bad[i].var);
	}
	/* good values are taken */
	assert_int_equal(ttlog_config_default(&cfg), 0);
	assert_false(cfg.snapshot_clip); /* off by default */
	setenv("TTLOG_SNAPSHOT_CLIP", "1", 1);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	assert_true(cfg.snapshot_clip);
	setenv("TTLOG_SNAPSHOT_CLIP", "0", 1);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	assert_false(cfg.snapshot_clip);
	unsetenv("TTLOG_SNAPSHOT_CLIP");
	setenv("TTLOG_CAPACITY", "100", 1);
	setenv("TTLOG_LEVEL", "warn", 1);
	setenv("TTLOG_SNAPSHOT_SIGNAL", "USR1", 1);
	setenv("TTLOG_SNAPSHOT_DIR", tu_dir, 1);
	setenv("TTLOG_SERVICE_NAME", "envsvc", 1);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	assert_int_equal(cfg.capacity, 100);
	assert_int_equal(cfg.level, TTLOG_LEVEL_WARN);
	assert_int_equal(cfg.snapshot_signal, SIGUSR1);
	assert_string_equal(cfg.service, "envsvc");
	assert_int_equal(ttlog_init(&cfg), 0);
	assert_int_equal(ttlog_init(&cfg), -EALREADY);
	ttlog_shutdown();
	unsetenv("TTLOG_CAPACITY");
	unsetenv("TTLOG_LEVEL");
	unsetenv("TTLOG_SNAPSHOT_SIGNAL");
	unsetenv("TTLOG_SNAPSHOT_DIR");
	unsetenv("TTLOG_SERVICE_NAME");
}

static void test_bad_config_and_dir(void **state)
{
	ttlog_config cfg;
	char missing[4200];

	(void)state;
	ttlog_config_default(&cfg);
	cfg.quiet = true;
	cfg.snapshot_dir = tu_dir;
	cfg.capacity = 3;
	assert_int_equal(ttlog_init(&cfg), -EINVAL);
	cfg.capacity = 64;
	cfg.policy = 7;
	assert_int_equal(ttlog_init(&cfg), -EINVAL);
	cfg.policy = TTLOG_POLICY_OVERWRITE;
	cfg.snapshot_signal = SIGSEGV;
	assert_int_equal(ttlog_init(&cfg), -EINVAL);
	cfg.snapshot_signal = 0;
	cfg.variant = "no-such-ring";
	assert_int_equal(ttlog_init(&cfg), -EINVAL);
	cfg.variant = NULL;
	snprintf(missing, sizeof missing, "%s/does-not-exist", tu_dir);
	cfg.snapshot_dir = missing;
	assert_int_equal(ttlog_init(&cfg), -ENOENT);
	assert_non_null(strstr(ttlog_errmsg(), "does-not-exist"));
	/* nothing runs after a failed init */
	assert_int_equal(ttlog_request_snapshot("x"), -ESRCH);
	assert_int_equal(ttlog_snapshot("x", NULL, 0), -ESRCH);
	assert_string_equal(ttlog_variant(), "");
}

static void test_names_never_overwrite(void **state)
{
	char p1[4096], p2[4096], p3[4096];

	(void)state;
	tu_start(tu_dir, 64, TTLOG_POLICY_OVERWRITE);
	TTLOG_INFO("names", "one");
	assert_int_equal(ttlog_snapshot("same/name?", p1, sizeof p1), 0);
	assert_int_equal(ttlog_snapshot("same/name?", p2, sizeof p2), 0);
	assert_int_equal(ttlog_snapshot("same/name?", p3, sizeof p3), 0);
	assert_string_not_equal(p1, p2);
	assert_string_not_equal(p2, p3);
	assert_non_null(strstr(p1, "-same_name_.bin"));
	assert_int_equal(tu_count(tu_dir, "ttlog-", ".bin"), 3);
	assert_int_equal(tu_count(tu_dir, ".ttlog-tmp", ""), 0);
	/* ttlog-{pid}-{YYYYmmddHHMMSS}-{reason}.bin */
	char want[64];
	snprintf(want, sizeof want, "/ttlog-%d-", (int)getpid());
	assert_non_null(strstr(p1, want));
	const char *stamp = strstr(p1, want) + strlen(want);
	for (int i = 0; i < 14; i++)
		assert_true(stamp[i] >= '0' && stamp[i] <= '9');
	assert_int_equal(stamp[14], '-');
	/* a too-small path buffer: the file is still written */
	char small[8];
	assert_int_equal(ttlog_snapshot("small", small, sizeof small), -ENAMETOOLONG);
	assert_int_equal(tu_count(tu_dir, "ttlog-", ".bin"), 4);
}

static uint64_t snapshots_written(void)
{
	ttlog_stats st;
	ttlog_get_stats(&st);
	return st.snapshots_written;
}

static void test_request_snapshot_async(void **state)
{
	(void)state;
	tu_start(tu_dir, 64, TTLOG_POLICY_OVERWRITE);
	TTLOG_INFO("async", "before request");
	assert_int_equal(ttlog_request_snapshot("checkpoint"), 0);
	/* the counter moves once the file is durable, just after it becomes visible */
	tu_wait_for(snapshots_written() > 0, "the requested snapshot written");
	assert_int_equal(snapshots_written(), 1);
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-checkpoint.bin"), 1);
	/* shutdown serves requests made before it */
	assert_int_equal(ttlog_request_snapshot("late"), 0);
	ttlog_shutdown();
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-late.bin"), 1);
}

/* Start ttlog on tu_dir with a final snapshot and these snapshot settings; log one event. */
static void start_final(unsigned interval_s, int sig, unsigned keep)
{
	ttlog_config cfg;

	ttlog_config_default(&cfg);
	cfg.snapshot_dir = tu_dir;
	cfg.snapshot_interval_s = interval_s;
	cfg.snapshot_signal = sig;
	cfg.final_snapshot = true;
	cfg.snapshot_keep = keep;
	assert_int_equal(ttlog_init(&cfg), 0);
	TTLOG_INFO("periodic", "tick");
}

/* Snapshots on a signal, on an interval and at shutdown. Every file is kept: with
 * retention, interval snapshots written while this thread waits to be scheduled could
 * remove the signal's before it is seen. */
static void test_interval_signal_final(void **state)
{
	(void)state;
	start_final(1, SIGUSR2, 0);
	kill(getpid(), SIGUSR2);
	tu_wait_for(tu_count(tu_dir, "ttlog-", "-signal.bin") > 0, "a snapshot on SIGUSR2");
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-signal.bin"), 1);
	tu_wait_for(tu_count(tu_dir, "ttlog-", "-interval.bin") > 0, "an interval snapshot");
	ttlog_shutdown();
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-shutdown.bin"), 1);
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-signal.bin"), 1);
}

/* Retention: after each snapshot only the newest snapshot_keep files remain, the final
 * one included. Files written in one clock tick have the same mtime; the later name is
 * the newer then, so the reasons sort in the order they are taken. */
static void test_keep_newest(void **state)
{
	static const char *const reasons[] = {"keep-a", "keep-b", "keep-c", "keep-d"};
	char path[4200];

	(void)state;
	start_final(0, 0, 2);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ttlog_snapshot(reasons[i], path, sizeof path), 0);
		assert_int_equal(tu_count(tu_dir, "ttlog-", ".bin"), i < 2 ? i + 1 : 2);
		assert_int_equal(access(path, F_OK), 0); /* the newest is never the one removed */
	}
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-keep-c.bin"), 1);
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-keep-d.bin"), 1);
	ttlog_shutdown();
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-shutdown.bin"), 1);
	assert_int_equal(tu_count(tu_dir, "ttlog-", "-keep-d.bin"), 1);
	assert_int_equal(tu_count(tu_dir, "ttlog-", ".bin"), 2);
}

static void test_stale_temp_cleaned(void **state)
{
	char p[4200];
	pid_t dead;
	int fd;

	(void)state;
	/* a temp file left by a dead process (unlocked and an hour old: removed), and a
	 * fresh one (kept: its writer may not have locked it yet); tests/test_files.c has
	 * the lock cases */
	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	snprintf(p, sizeof p, "%s/.ttlog-tmp-%d-0", tu_dir, (int)dead);
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	{
		time_t t = time(NULL) - 3600;
		struct timespec old[2] = {{.tv_sec = t}, {.tv_sec = t}};
		assert_int_equal(futimens(fd, old), 0);
	}
	close(fd);
	snprintf(p, sizeof p, "%s/.ttlog-tmp-%d-0", tu_dir, (int)getppid());
	fd = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	tu_start(tu_dir, 64, TTLOG_POLICY_OVERWRITE);
	snprintf(p, sizeof p, "%s/.ttlog-tmp-%d-0", tu_dir, (int)dead);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof p, "%s/.ttlog-tmp-%d-0", tu_dir, (int)getppid());
	assert_int_equal(access(p, F_OK), 0);
}

/* ---- snapshot_clip ---------------------------------------------------------------- */

/* What the file says of its shards, read with a generic CBOR decoder (the reader does not
 * parse "shards"): how many kept events, their kept sum, the largest first_ns of those. */
struct shard_info {
	size_t n, nkept;
	uint64_t kept_sum, max_first_ns;
};

static const cbor_item_t *map_get(const cbor_item_t *m, const char *key)
{
	struct cbor_pair *p = cbor_map_handle(m);

	for (size_t i = 0; i < cbor_map_size(m); i++)
		if (cbor_isa_string(p[i].key) && cbor_string_length(p[i].key) == strlen(key) &&
		    memcmp(cbor_string_handle(p[i].key), key, strlen(key)) == 0)
			return p[i].value;
	fail_msg("no key '%s' in the map", key);
	return NULL;
}

static void read_shards(const char *path, struct shard_info *si)
{
	static unsigned char in[1 << 20], out[8 << 20];
	LZ4F_dctx *dctx;
	struct cbor_load_result res;
	size_t nin, pos = 0, olen = 0;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	nin = (size_t)read(fd, in, sizeof in);
	close(fd);
	assert_true(nin > 0 && nin < sizeof in);
	assert_false(LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)));
	while (pos < nin) {
		size_t src = nin - pos, dst = sizeof out - olen;
		size_t r = LZ4F_decompress(dctx, out + olen, &dst, in + pos, &src, NULL);
		assert_false(LZ4F_isError(r));
		pos += src;
		olen += dst;
		if (r == 0)
			break;
		assert_true(olen < sizeof out);
	}
	LZ4F_freeDecompressionContext(dctx);
	cbor_item_t *top = cbor_load(out, olen, &res);
	assert_non_null(top);
	const cbor_item_t *shards = map_get(top, "shards");
	memset(si, 0, sizeof *si);
	si->n = cbor_array_size(shards);
	for (size_t i = 0; i < si->n; i++) {
		const cbor_item_t *w = cbor_array_handle(shards)[i];
		uint64_t kept = cbor_get_int(map_get(w, "kept"));
		uint64_t first = cbor_get_int(map_get(w, "first_ns"));
		si->kept_sum += kept;
		if (kept == 0)
			continue;
		if (si->nkept++ == 0 || first > si->max_first_ns)
			si->max_first_ns = first;
	}
	cbor_decref(&top);
}

static void *log_quiet(void *arg)
{
	(void)arg;
	for (uint64_t j = 0; j < 4; j++)
		TTLOG_INFO("clip.quiet", "quiet {}", TTLOG_U64("j", j));
	return NULL;
}

/* Capacity 16, overwrite: this thread logs 1000 events (its shard overwrites), another
 * thread logs 4 and exits (its spsc shard keeps them), this thread logs 4 more. Checks
 * what holds for every variant and returns the snapshot, open, for the variant's own
 * checks. In spsc the snapshot holds the newest 16: busy 992..999, quiet 0..3, busy
 * 1000..1003; the busy shard's window starts at busy 992, the quiet one's at quiet 0. */
static ttlog_snapshot_file *clip_run(bool clip, struct shard_info *si)
{
	ttlog_snapshot_file *s;
	ttlog_snapshot_counters c;
	ttlog_config cfg;
	ttlog_event ev;
	pthread_t t;
	char path[4096];
	int rc;

	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = tu_dir;
	cfg.capacity = 16;
	cfg.policy = TTLOG_POLICY_OVERWRITE;
	cfg.service = "test";
	cfg.snapshot_clip = clip;
	assert_int_equal(ttlog_init(&cfg), 0);
	for (uint64_t i = 0; i < 1000; i++)
		TTLOG_INFO("clip.busy", "busy {}", TTLOG_U64("i", i));
	assert_int_equal(pthread_create(&t, NULL, log_quiet, NULL), 0);
	pthread_join(t, NULL);
	for (uint64_t i = 1000; i < 1004; i++)
		TTLOG_INFO("clip.busy", "busy {}", TTLOG_U64("i", i));
	assert_int_equal(ttlog_snapshot(clip ? "clip-on" : "clip-off", path, sizeof path), 0);
	rc = ttlog_snapshot_open(path, &s);
	if (rc != 0)
		fail_msg("ttlog_snapshot_open(%s): %d %s", path, rc, ttlog_reader_errmsg());
	assert_string_equal(ttlog_snapshot_variant(s), TTLOG_TEST_VARIANT);
	read_shards(path, si);

	/* logged = kept + clipped + overwritten + dropped; in_flight is not in logged */
	ttlog_snapshot_get_counters(s, &c);
	if (c.logged != c.kept + c.clipped + c.overwritten + c.dropped)
		fail_msg("unbalanced: logged %llu != kept %llu + clipped %llu + overwritten %llu "
			 "+ dropped %llu", (unsigned long long)c.logged,
			 (unsigned long long)c.kept, (unsigned long long)c.clipped,
			 (unsigned long long)c.overwritten, (unsigned long long)c.dropped);
	assert_int_equal(c.logged, 1008);
	assert_int_equal(c.in_flight, 0);
	assert_int_equal(c.kept, ttlog_snapshot_event_count(s));
	/* the shards' kept describe the ring before the clip */
	if (si->n > 0)
		assert_int_equal(si->kept_sum, c.kept + c.clipped);
	if (clip && si->nkept >= 2) {
		assert_int_equal(ttlog_snapshot_clipped_before_ns(s), si->max_first_ns);
		while (ttlog_snapshot_next(s, &ev) == 1)
			if (ev.timestamp_ns < si->max_first_ns)
				fail_msg("event at %llu ns is before the common window start %llu",
					 (unsigned long long)ev.timestamp_ns,
					 (unsigned long long)si->max_first_ns);
		ttlog_snapshot_rewind(s);
	} else {
		assert_int_equal(c.clipped, 0);
		assert_int_equal(ttlog_snapshot_clipped_before_ns(s), 0);
	}
	return s;
}

static void test_snapshot_clip(void **state)
{
	bool spsc = strcmp(TTLOG_TEST_VARIANT, "spsc") == 0;
	bool mpmc = strcmp(TTLOG_TEST_VARIANT, "mpmc") == 0;
	struct shard_info si;
	ttlog_snapshot_counters c;
	ttlog_snapshot_file *s;
	ttlog_event ev;

	(void)state;
	/* off: nothing left out, the busy events older than the quiet ones are there */
	s = clip_run(false, &si);
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.clipped, 0);
	assert_int_equal(c.kept, 16);
	if (spsc) {
		assert_int_equal(si.nkept, 2);
		next_event(s, &ev);
		assert_string_equal(ev.target, "clip.busy");
		assert_int_equal(ev.fields[0].v.u64, 992);
		for (int i = 0; i < 7; i++)
			next_event(s, &ev);
		assert_int_equal(ev.fields[0].v.u64, 999);
		next_event(s, &ev);
		assert_string_equal(ev.target, "clip.quiet");
		assert_int_equal(ev.timestamp_ns, si.max_first_ns);
	}
	ttlog_snapshot_close(s);
	ttlog_shutdown();

	/* on */
	s = clip_run(true, &si);
	ttlog_snapshot_get_counters(s, &c);
	if (mpmc) {
		/* no shards: nothing changes */
		assert_int_equal(si.n, 0);
		assert_int_equal(c.clipped, 0);
		assert_int_equal(c.kept, 16);
		assert_int_equal(c.overwritten, 992);
		assert_int_equal(ttlog_snapshot_clipped_before_ns(s), 0);
	} else if (spsc) {
		/* busy 992..999 are older than the quiet shard's first event: left out */
		assert_int_equal(si.nkept, 2);
		assert_int_equal(c.clipped, 8);
		assert_int_equal(c.kept, 8);
		assert_int_equal(c.overwritten, 992);
		for (uint64_t j = 0; j < 4; j++) {
			next_event(s, &ev);
			assert_string_equal(ev.target, "clip.quiet");
			assert_int_equal(ev.fields[0].v.u64, j);
			if (j == 0) /* the quiet shard's first event starts the common window */
				assert_int_equal(ev.timestamp_ns,
						 ttlog_snapshot_clipped_before_ns(s));
		}
		for (uint64_t i = 1000; i < 1004; i++) {
			next_event(s, &ev);
			assert_string_equal(ev.target, "clip.busy");
			assert_int_equal(ev.fields[0].v.u64, i);
		}
		assert_int_equal(ttlog_snapshot_next(s, &ev), 0);
	}
	/* numa: one shard per node the threads ran on; clip_run checked the invariants */
	ttlog_snapshot_close(s);
}

/* A string cut to fit, behind the clip: its truncated entry indexes the events written. */
static void test_snapshot_clip_truncated_index(void **state)
{
	ttlog_snapshot_file *s;
	ttlog_snapshot_counters c;
	ttlog_config cfg;
	ttlog_event ev;
	pthread_t t;
	char longs[100];

	(void)state;
	if (strcmp(TTLOG_TEST_VARIANT, "spsc") != 0)
		skip();
	memset(longs, 'y', sizeof longs - 1);
	longs[sizeof longs - 1] = '\0';
	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = tu_dir;
	cfg.capacity = 64;
	cfg.service = "test";
	cfg.snapshot_clip = true;
	assert_int_equal(ttlog_init(&cfg), 0);
	/* the quiet thread first: its 4 events are older than the busy shard's window */
	assert_int_equal(pthread_create(&t, NULL, log_quiet, NULL), 0);
	pthread_join(t, NULL);
	TTLOG_INFO("clip.busy", "busy {}", TTLOG_U64("i", 0));
	TTLOG_INFO("clip.busy", "long {}", TTLOG_STR("s", longs));
	s = tu_snapshot("clip-trunc");
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.clipped, 4);
	assert_int_equal(c.kept, 2);
	assert_int_equal(c.logged, 6);
	next_event(s, &ev);
	assert_false(ev.fields[0].truncated);
	next_event(s, &ev);
	assert_string_equal(ev.message, "long {}");
	assert_true(ev.fields[0].truncated);
	ttlog_snapshot_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip_types_and_levels, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_levels_filter, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_truncation_flagged, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_overwrite_accounting_exact, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_drop_policy_accounting, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_builder_round_trip, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_env_errors, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_and_dir, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_names_never_overwrite, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_request_snapshot_async, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_interval_signal_final, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_keep_newest, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_stale_temp_cleaned, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_clip, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_clip_truncated_index, tu_setup,
						tu_teardown),
		/* last: it fills the process-wide interner */
		cmocka_unit_test_setup_teardown(test_interner_full_counted, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
