/*
 * test_callsites.c - the callsite table: a plugin that logged and was dlclose'd leaves
 * its callsite readable (snapshots and the crash handler use ttlog's copy, not the
 * plugin's unmapped memory); a full callsite arena drops and counts; the table lives on
 * across ttlog_shutdown/ttlog_init; a callsite or builder with a level outside
 * TRACE..FATAL is neither recorded nor counted.
 *
 * The parts that would fault on a defect run in a forked child, so that a fault is
 * reported as a failure with its signal instead of killing the test program.
 */
#include "testutil.h"
#include "die.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

/* ---- children: a failure is a line on stderr and exit status 1 ---- */

__attribute__((noreturn, format(printf, 1, 2))) static void child_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "child: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	_exit(1);
}

/* Run fn in a child; it must exit 0 (or die by `sig` when sig != 0). */
static void run_child(const char *what, void (*fn)(void), int sig)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka catches these signals to report a test; the child must die by them */
		static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			signal(sigs[i], SIG_DFL);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status) && WTERMSIG(status) != sig)
		fail_msg("%s: the child was killed by signal %d (%s), expected %s", what,
			 WTERMSIG(status), strsignal(WTERMSIG(status)),
			 sig ? strsignal(sig) : "a normal exit");
	if (WIFEXITED(status) && (sig != 0 || WEXITSTATUS(status) != 0))
		fail_msg("%s: the child exited with status %d (message above), expected %s", what,
			 WEXITSTATUS(status), sig ? strsignal(sig) : "0");
}

static void child_start(size_t capacity)
{
	ttlog_config cfg;
	int rc;

	ttlog_config_default(&cfg);
	cfg.snapshot_dir = tu_dir;
	cfg.capacity = capacity;
	cfg.service = "test";
	cfg.level = TTLOG_LEVEL_TRACE;
	if ((rc = ttlog_init(&cfg)) != 0)
		child_fail("ttlog_init: %d %s (%s)", rc, ttlog_strerror(rc), ttlog_errmsg());
}

static ttlog_snapshot_file *child_open(const char *path)
{
	ttlog_snapshot_file *s = NULL;
	int rc = ttlog_snapshot_open(path, &s);

	if (rc != 0)
		child_fail("ttlog_snapshot_open(%s): %d %s", path, rc, ttlog_reader_errmsg());
	return s;
}

static ttlog_snapshot_file *child_snapshot(const char *reason)
{
	char path[4096];
	int rc = ttlog_snapshot(reason, path, sizeof path);

	if (rc != 0)
		child_fail("ttlog_snapshot: %d %s", rc, ttlog_strerror(rc));
	return child_open(path);
}

/* ---- the plugin ---- */

static void *plugin_open(void (**log)(uint64_t), const char **rodata)
{
	const char *bin = getenv("TTLOG_BIN");
	char so[4096];
	void *h;

	snprintf(so, sizeof so, "%s/tests/plugin_callsites.so", bin ? bin : "build/mpmc");
	if ((h = dlopen(so, RTLD_NOW | RTLD_LOCAL)) == NULL)
		child_fail("dlopen %s: %s", so, dlerror());
	*(void **)log = dlsym(h, "plugin_log");
	*rodata = dlsym(h, "plugin_rodata");
	if (*log == NULL || *rodata == NULL)
		child_fail("dlsym: %s", dlerror());
	return h;
}

/* The page of p is mapped (mincore fails with ENOMEM on an unmapped one). */
static bool mapped(const void *p)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char v;
	void *a = (void *)((uintptr_t)p & ~((uintptr_t)page - 1));

	return mincore(a, (size_t)page, &v) == 0 || errno != ENOMEM;
}

/* Load the plugin, log twice from it, unload it and check it is gone. */
static void plugin_log_and_unload(void)
{
	void (*plog)(uint64_t);
	const char *ro;
	void *h = plugin_open(&plog, &ro);

	if (!mapped(ro))
		child_fail("the plugin's data is not mapped while it is loaded");
	plog(7);
	plog(8);
	if (dlclose(h) != 0)
		child_fail("dlclose: %s", dlerror());
	/* without this the test could not see the defect: the strings would still be there */
	if (mapped(ro))
		child_fail("the plugin is still mapped after dlclose");
}

/* The snapshot holds the plugin's two events with its callsite intact: returns them. */
static int check_plugin_events(ttlog_snapshot_file *s)
{
	ttlog_event ev;
	int n = 0;

	while (ttlog_snapshot_next(s, &ev) == 1) {
		if (strcmp(ev.target, "plugin.target") != 0)
			continue;
		if (ev.level != TTLOG_LEVEL_WARN)
			child_fail("plugin event level %d, expected %d", ev.level,
				   TTLOG_LEVEL_WARN);
		if (strcmp(ev.message, "plugin says {} and {}") != 0)
			child_fail("plugin event message '%s'", ev.message);
		if (strstr(ev.file, "plugin_callsites.c") == NULL)
			child_fail("plugin event file '%s'", ev.file);
		if (ev.nfields != 2)
			child_fail("plugin event has %zu fields, expected 2", ev.nfields);
		if (strcmp(ev.fields[0].name, "plugin_u64") != 0 ||
		    strcmp(ev.fields[1].name, "plugin_str") != 0)
			child_fail("plugin field names '%s' '%s', expected plugin_u64 plugin_str",
				   ev.fields[0].name, ev.fields[1].name);
		if (ev.fields[0].v.u64 != (uint64_t)(7 + n))
			child_fail("plugin event %d: value %llu, expected %d", n,
				   (unsigned long long)ev.fields[0].v.u64, 7 + n);
		if (ev.fields[1].v.str.len != 15 ||
		    memcmp(ev.fields[1].v.str.ptr, "from the plugin", 15) != 0)
			child_fail("plugin event string '%.*s'", (int)ev.fields[1].v.str.len,
				   ev.fields[1].v.str.ptr);
		n++;
	}
	return n;
}

static void main_event(uint64_t n)
{
	TTLOG_INFO("main.target", "main event {}", TTLOG_U64("n", n));
}

static void plugin_snapshot_child(void)
{
	ttlog_snapshot_file *s;
	ttlog_event ev;
	int n;

	child_start(1024);
	plugin_log_and_unload();
	main_event(1);
	s = child_snapshot("plugin");
	if ((n = check_plugin_events(s)) != 2)
		child_fail("%d plugin events in the snapshot, expected 2", n);
	ttlog_snapshot_close(s);

	/* the table (and the copies) outlive a restart: a call site registered before it
	 * logs with its id, the plugin's entry is still described */
	ttlog_shutdown();
	child_start(1024);
	main_event(2);
	s = child_snapshot("restarted");
	if (ttlog_snapshot_event_count(s) != 1)
		child_fail("%zu events after the restart, expected 1",
			   ttlog_snapshot_event_count(s));
	if (ttlog_snapshot_next(s, &ev) != 1 || strcmp(ev.target, "main.target") != 0 ||
	    strcmp(ev.message, "main event {}") != 0 || ev.nfields != 1 ||
	    strcmp(ev.fields[0].name, "n") != 0 || ev.fields[0].v.u64 != 2)
		child_fail("the event after the restart is not main.target n=2");
	ttlog_snapshot_close(s);
	ttlog_shutdown();
}

static void test_plugin_unloaded_then_snapshot(void **state)
{
	(void)state;
	run_child("snapshot after the plugin's dlclose", plugin_snapshot_child, 0);
}

static void plugin_crash_child(void)
{
	int rc;

	child_start(1024);
	if ((rc = ttlog_install_crash_handler()) != 0)
		child_fail("ttlog_install_crash_handler: %d", rc);
	plugin_log_and_unload();
	ttlog_die(SIGABRT, tu_dir);
}

static void test_plugin_unloaded_then_crash(void **state)
{
	char path[4096 + 512];
	ttlog_snapshot_file *s = NULL;
	ttlog_event ev;
	int n = 0, rc;

	(void)state;
	/* the crash handler writes its snapshot, then the child dies by its own SIGABRT */
	run_child("crash after the plugin's dlclose", plugin_crash_child, SIGABRT);
	tu_find(tu_dir, "SIGABRT", path, sizeof path);
	if (path[0] == '\0')
		fail_msg("no SIGABRT snapshot in %s: the crash handler did not write it", tu_dir);
	rc = ttlog_snapshot_open(path, &s);
	if (rc != 0)
		fail_msg("ttlog_snapshot_open(%s): %d %s", path, rc, ttlog_reader_errmsg());
	while (ttlog_snapshot_next(s, &ev) == 1) {
		if (strcmp(ev.target, "plugin.target") != 0)
			continue;
		assert_string_equal(ev.message, "plugin says {} and {}");
		assert_int_equal(ev.nfields, 2);
		assert_string_equal(ev.fields[0].name, "plugin_u64");
		assert_string_equal(ev.fields[1].name, "plugin_str");
		assert_int_equal(ev.fields[0].v.u64, 7 + n);
		n++;
	}
	assert_int_equal(n, 2);
	ttlog_snapshot_close(s);
}

/* ---- a full arena ---- */

/* The arena is 8 MiB (TTLOG_CALLSITE_ARENA_BYTES, core/internal.h): this many callsites
 * with a 16 KiB target each cannot all fit. */
#define BIG 16384
#define NBIG 1024

static void arena_full_child(void)
{
	static struct ttlog_callsite cs[NBIG];
	static char big[BIG + 1];
	struct ttlog_record r;
	ttlog_snapshot_file *s;
	ttlog_stats st;
	ttlog_event ev;
	int first_drop = -1, i, kept_big = 0;

	child_start(1u << 12);
	memset(big, 'x', BIG);
	for (i = 0; i < NBIG && first_drop < 0; i++) {
		cs[i] = (struct ttlog_callsite){0, TTLOG_LEVEL_INFO, 0, {0}, big, "filler",
						 __FILE__, (uint32_t)i, NULL};
		memset(&r, 0, sizeof r);
		TTLOG__COMMIT(&cs[i], &r);
		ttlog_get_stats(&st);
		if (st.dropped > 0)
			first_drop = i;
	}
	if (first_drop < 0)
		child_fail("%d callsites of %d bytes each registered, none dropped: the callsite "
			   "memory is not bounded", NBIG, BIG);
	if (st.dropped != 1 || st.logged != (uint64_t)first_drop + 1)
		child_fail("after the first drop: dropped %llu (expected 1), logged %llu "
			   "(expected %d)", (unsigned long long)st.dropped,
			   (unsigned long long)st.logged, first_drop + 1);
	if (cs[first_drop].id != 0)
		child_fail("the dropped callsite got id %u", cs[first_drop].id);
	/* again: dropped again, counted again */
	memset(&r, 0, sizeof r);
	TTLOG__COMMIT(&cs[first_drop], &r);
	ttlog_get_stats(&st);
	if (st.dropped != 2 || st.logged != (uint64_t)first_drop + 2)
		child_fail("after the second drop: dropped %llu (expected 2), logged %llu",
			   (unsigned long long)st.dropped, (unsigned long long)st.logged);
	/* a small call site may still fit the rest of the arena; either way it is counted */
	main_event(3);
	s = child_snapshot("arena");
	{
		ttlog_snapshot_counters c;
		ttlog_snapshot_get_counters(s, &c);
		if (c.logged != c.kept + c.overwritten + c.dropped)
			child_fail("unbalanced: logged %llu kept %llu overwritten %llu "
				   "dropped %llu", (unsigned long long)c.logged,
				   (unsigned long long)c.kept, (unsigned long long)c.overwritten,
				   (unsigned long long)c.dropped);
	}
	while (ttlog_snapshot_next(s, &ev) == 1) {
		if (strcmp(ev.message, "filler") != 0)
			continue;
		if (strlen(ev.target) != BIG || ev.line >= (uint32_t)first_drop)
			child_fail("a filler event of line %u with a %zu-byte target", ev.line,
				   strlen(ev.target));
		kept_big++;
	}
	if (kept_big != first_drop)
		child_fail("%d filler events in the snapshot, expected the %d registered",
			   kept_big, first_drop);
	ttlog_snapshot_close(s);
	ttlog_shutdown();
}

static void test_arena_full_is_counted(void **state)
{
	(void)state;
	run_child("a full callsite arena", arena_full_child, 0);
}

/* ---- threads racing on a call site's first event ---- */

/* core/callsite.c: bytes of the callsite arena taken so far (internal, linked statically) */
size_t ttlog__callsite_arena_used(void);

#define RACERS 4
static pthread_barrier_t race_barrier;

static void *racer(void *arg)
{
	pthread_barrier_wait(&race_barrier);
	TTLOG_ERROR("race.target", "raced {}", TTLOG_U64("racer", (uint64_t)(uintptr_t)arg));
	return NULL;
}

static void test_racing_first_events(void **state)
{
	pthread_t th[RACERS];
	ttlog_snapshot_file *s;
	ttlog_event ev;
	size_t before, after;
	uint32_t id = 0;
	unsigned seen = 0;

	(void)state;
	tu_start(tu_dir, 1024, TTLOG_POLICY_OVERWRITE);
	pthread_barrier_init(&race_barrier, NULL, RACERS);
	before = ttlog__callsite_arena_used();
	for (uintptr_t i = 0; i < RACERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer, (void *)i), 0);
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&race_barrier);
	after = ttlog__callsite_arena_used();
	/* one copy, plus one per thread that lost the race at most; each copy is the struct,
	 * one name pointer and the strings: well under 1 KiB here */
	if (after - before == 0 || after - before > RACERS * 1024)
		fail_msg("the racing registrations took %zu bytes of arena (1..%d expected)",
			 after - before, RACERS * 1024);
	s = tu_snapshot("race");
	tu_assert_balanced(s);
	assert_int_equal(ttlog_snapshot_event_count(s), RACERS);
	while (ttlog_snapshot_next(s, &ev) == 1) {
		assert_string_equal(ev.target, "race.target");
		assert_string_equal(ev.message, "raced {}");
		assert_int_equal(ev.nfields, 1);
		assert_string_equal(ev.fields[0].name, "racer");
		assert_true(ev.fields[0].v.u64 < RACERS);
		seen |= 1u << ev.fields[0].v.u64;
		/* every thread logs with the one id that won */
		if (id == 0)
			id = ev.callsite_id;
		assert_int_equal(ev.callsite_id, id);
	}
	assert_int_equal(seen, (1u << RACERS) - 1);
	ttlog_snapshot_close(s);
}

/* ---- levels outside TRACE..FATAL ---- */

static void test_bad_levels_not_recorded(void **state)
{
	struct ttlog_callsite off = {0, TTLOG_LEVEL_OFF, 0, {0}, "bad.level", "level off",
				     __FILE__, __LINE__, NULL};
	struct ttlog_callsite big = {0, 200, 0, {0}, "bad.level", "level 200", __FILE__,
				     __LINE__, NULL};
	enum { MY_LEVEL = TTLOG_LEVEL_WARN };
	struct ttlog_record r;
	ttlog_snapshot_file *s;
	ttlog_builder b;
	ttlog_stats st;
	ttlog_event ev;

	(void)state;
	tu_start(tu_dir, 1024, TTLOG_POLICY_OVERWRITE);
	ttlog_set_level(TTLOG_LEVEL_TRACE);
	memset(&r, 0, sizeof r);
	TTLOG__COMMIT(&off, &r);
	memset(&r, 0, sizeof r);
	TTLOG__COMMIT(&big, &r);
	assert_int_equal(off.id, 0);
	assert_int_equal(big.id, 0);

	ttlog_builder_begin(&b, TTLOG_LEVEL_OFF, "bad.builder", "begin off");
	assert_int_equal(ttlog_builder_commit(&b), -EINVAL);
	/* the builder is a public struct: a level set after begin() is checked again */
	ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "bad.builder", "set off");
	b.level = TTLOG_LEVEL_OFF;
	assert_int_equal(ttlog_builder_commit(&b), -EINVAL);
	ttlog_builder_begin(&b, TTLOG_LEVEL_INFO, "bad.builder", "set negative");
	b.level = -1;
	assert_int_equal(ttlog_builder_commit(&b), -EINVAL);

	ttlog_get_stats(&st);
	if (st.logged != 0 || st.dropped != 0)
		fail_msg("bad levels counted: logged %llu dropped %llu, expected 0 and 0",
			 (unsigned long long)st.logged, (unsigned long long)st.dropped);

	/* good ones around them, one with a level that is a constant but not a literal */
	TTLOG_LOG(MY_LEVEL, "good.level", "enum level");
	TTLOG_LOG(TTLOG_LEVEL_FATAL, "good.level", "fatal");
	ttlog_builder_begin(&b, TTLOG_LEVEL_FATAL, "good.builder", "fatal");
	assert_int_equal(ttlog_builder_commit(&b), 0);

	s = tu_snapshot("levels");
	tu_assert_balanced(s);
	assert_int_equal(ttlog_snapshot_event_count(s), 3);
	assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	assert_string_equal(ev.message, "enum level");
	assert_int_equal(ev.level, TTLOG_LEVEL_WARN);
	assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	assert_int_equal(ev.level, TTLOG_LEVEL_FATAL);
	assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	assert_string_equal(ev.target, "good.builder");
	assert_int_equal(ev.level, TTLOG_LEVEL_FATAL);
	ttlog_snapshot_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plugin_unloaded_then_snapshot, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(test_plugin_unloaded_then_crash, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_arena_full_is_counted, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_racing_first_events, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_bad_levels_not_recorded, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
