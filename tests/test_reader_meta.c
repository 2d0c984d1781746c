/*
 * test_reader_meta.c - the reader's callsite dictionary (ttlog_snapshot_callsite()) and
 * its access to keys it has no accessor for (ttlog_snapshot_meta_u64/_text()), which
 * ttlog-view --sql and ttlog-ship read parent_pid, push_path and counters.torn with:
 * values, absence, wrong types, a buffer too small, NUL bytes, chunked strings and
 * indefinite-length maps, and the thread's error message left alone; and the gap records
 * (ttlog_snapshot_gap_count/_gap) found after the events, under a chunked key, the first
 * of two "gaps" keys.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <lz4frame.h>

#include <ttlog/reader.h>

#include "cbor_fixture.h"

#define BASE_NS 1714564800000000000ull

static void callsite(struct cbf *o, unsigned id, unsigned level, const char *target,
		     unsigned nf, const char *const *names, const char *const *types)
{
	cbf_map(o, 8);
	cbf_str(o, "id"); cbf_u(o, id);
	cbf_str(o, "level"); cbf_u(o, level);
	cbf_str(o, "target"); cbf_str(o, target);
	cbf_str(o, "message"); cbf_str(o, "m {}");
	cbf_str(o, "file"); cbf_str(o, "f.c");
	cbf_str(o, "line"); cbf_u(o, 10 * id);
	cbf_str(o, "fields"); cbf_arr(o, nf);
	for (unsigned i = 0; i < nf; i++)
		cbf_str(o, names[i]);
	cbf_str(o, "types"); cbf_arr(o, nf);
	for (unsigned i = 0; i < nf; i++)
		cbf_str(o, types[i]);
}

/* A snapshot whose top level and counters are indefinite-length maps, with the keys under
 * test: parent_pid (uint), push_path (text in two chunks, its key too), odd (text where a
 * number could be), nul (text with a NUL), counters.torn; callsites 5 and 2, in that order. */
static ttlog_snapshot_file *open_test_file(void)
{
	static const char *const n2[] = {"a", "b"}, *const t2[] = {"u64", "str"};
	struct cbf o = {0}, frame;
	ttlog_snapshot_file *s = NULL;

	cbf_indef(&o, CBF_MAP);
	cbf_str(&o, "format"); cbf_str(&o, "ttlog");
	cbf_str(&o, "version"); cbf_u(&o, 1);
	cbf_str(&o, "pid"); cbf_u(&o, 77);
	cbf_str(&o, "parent_pid"); cbf_u(&o, 76);
	cbf_indef(&o, CBF_TEXT);
	cbf_textn(&o, "push", 4); cbf_textn(&o, "_path", 5);
	cbf_break(&o);
	cbf_indef(&o, CBF_TEXT);
	cbf_textn(&o, "sched_", 6); cbf_textn(&o, "getcpu", 6);
	cbf_break(&o);
	cbf_str(&o, "odd"); cbf_str(&o, "12");
	cbf_str(&o, "nul"); cbf_textn(&o, "a\0b", 3);
	cbf_str(&o, "counters");
	cbf_indef(&o, CBF_MAP);
	cbf_str(&o, "logged"); cbf_u(&o, 9);
	cbf_str(&o, "overwritten"); cbf_u(&o, 4);
	cbf_str(&o, "dropped"); cbf_u(&o, 0);
	cbf_str(&o, "torn"); cbf_u(&o, 3);
	cbf_break(&o);
	cbf_str(&o, "callsites"); cbf_arr(&o, 2);
	callsite(&o, 5, 4, "five", 2, n2, t2);
	callsite(&o, 2, 200, "two", 0, NULL, NULL);
	cbf_str(&o, "events"); cbf_arr(&o, 1);
	cbf_arr(&o, 3); cbf_u(&o, BASE_NS); cbf_u(&o, 2); cbf_u(&o, 1);
	cbf_break(&o);
	assert_int_equal(cbf_lz4(o.p, o.len, NULL, &frame), 0);
	assert_int_equal(ttlog_snapshot_open_mem(frame.p, frame.len, &s), 0);
	cbf_free(&o);
	cbf_free(&frame);
	return s;
}

static void test_callsites(void **state)
{
	ttlog_snapshot_file *s = open_test_file();
	ttlog_callsite_info cs;

	(void)state;
	assert_int_equal(ttlog_snapshot_callsite_count(s), 2);
	assert_int_equal(ttlog_snapshot_callsite(s, 0, &cs), 0); /* by ascending id */
	assert_int_equal(cs.id, 2);
	assert_int_equal(cs.level, 200);
	assert_string_equal(cs.target, "two");
	assert_int_equal(cs.nfields, 0);
	assert_int_equal(ttlog_snapshot_callsite(s, 1, &cs), 0);
	assert_int_equal(cs.id, 5);
	assert_int_equal(cs.level, 4);
	assert_string_equal(cs.target, "five");
	assert_string_equal(cs.message, "m {}");
	assert_string_equal(cs.file, "f.c");
	assert_int_equal(cs.line, 50);
	assert_int_equal(cs.nfields, 2);
	assert_string_equal(cs.names[0], "a");
	assert_string_equal(cs.names[1], "b");
	assert_int_equal(cs.types[0], TTLOG_TYPE_U64);
	assert_int_equal(cs.types[1], TTLOG_TYPE_STR);
	assert_int_equal(ttlog_snapshot_callsite(s, 2, &cs), -EINVAL);
	assert_int_equal(ttlog_snapshot_callsite(NULL, 0, &cs), -EINVAL);
	assert_int_equal(ttlog_snapshot_callsite(s, 0, NULL), -EINVAL);
	assert_int_equal(ttlog_snapshot_callsite_count(NULL), 0);
	ttlog_snapshot_close(s);
}

static void test_meta_u64(void **state)
{
	ttlog_snapshot_file *s = open_test_file();
	uint64_t v = 0;

	(void)state;
	assert_int_equal(ttlog_snapshot_meta_u64(s, "parent_pid", &v), 1);
	assert_int_equal(v, 76);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "pid", &v), 1);
	assert_int_equal(v, 77);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "counters.torn", &v), 1);
	assert_int_equal(v, 3);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "counters.overwritten", &v), 1);
	assert_int_equal(v, 4);
	v = 99;
	assert_int_equal(ttlog_snapshot_meta_u64(s, "counters.clipped", &v), 0);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "absent", &v), 0);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "clock.source", &v), 0); /* only counters. */
	assert_int_equal(ttlog_snapshot_meta_u64(s, "counter.torn", &v), 0);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "push_pat", &v), 0);   /* whole keys only */
	assert_int_equal(v, 99);
	assert_int_equal(ttlog_snapshot_meta_u64(s, "odd", &v), -EINVAL); /* text */
	assert_int_equal(ttlog_snapshot_meta_u64(s, "counters", &v), -EINVAL); /* a map */
	assert_int_equal(ttlog_snapshot_meta_u64(s, "push_path", &v), -EINVAL);
	assert_int_equal(v, 99);
	assert_int_equal(ttlog_snapshot_meta_u64(NULL, "pid", &v), -EINVAL);
	ttlog_snapshot_close(s);
}

static void test_meta_text(void **state)
{
	ttlog_snapshot_file *s = open_test_file();
	char buf[32], small[12];

	(void)state;
	assert_int_equal(ttlog_snapshot_meta_text(s, "push_path", buf, sizeof buf), 1);
	assert_string_equal(buf, "sched_getcpu"); /* key and value in chunks */
	assert_int_equal(ttlog_snapshot_meta_text(s, "push_path", small, sizeof small), -ERANGE);
	assert_int_equal(ttlog_snapshot_meta_text(s, "push_path", buf, 13), 1);
	assert_int_equal(ttlog_snapshot_meta_text(s, "odd", buf, sizeof buf), 1);
	assert_string_equal(buf, "12");
	assert_int_equal(ttlog_snapshot_meta_text(s, "nul", buf, sizeof buf), -EINVAL);
	assert_int_equal(ttlog_snapshot_meta_text(s, "parent_pid", buf, sizeof buf), -EINVAL);
	assert_int_equal(ttlog_snapshot_meta_text(s, "absent", buf, sizeof buf), 0);
	assert_int_equal(ttlog_snapshot_meta_text(s, "push_path", buf, 0), -EINVAL);
	ttlog_snapshot_close(s);
}

/* The lookups are quiet: the message of the thread's last failed open stays. */
static void test_errmsg_kept(void **state)
{
	ttlog_snapshot_file *s = open_test_file(), *bad = NULL;
	char msg[256], buf[8];
	uint64_t v;

	(void)state;
	assert_true(ttlog_snapshot_open_mem("nope", 4, &bad) < 0);
	snprintf(msg, sizeof msg, "%s", ttlog_reader_errmsg());
	assert_true(msg[0] != '\0');
	assert_int_equal(ttlog_snapshot_meta_u64(s, "odd", &v), -EINVAL);
	assert_int_equal(ttlog_snapshot_meta_text(s, "push_path", buf, sizeof buf), -ERANGE);
	assert_string_equal(ttlog_reader_errmsg(), msg);
	ttlog_snapshot_close(s);
}

/* The "gaps" array after the events (where the writer puts it), its key in two chunks, a
 * second "gaps" key after it that the reader ignores: what a lookup by key always found. */
static void test_gaps_after_events(void **state)
{
	struct cbf o = {0}, frame;
	ttlog_snapshot_file *s = NULL;
	ttlog_gap g;

	(void)state;
	cbf_indef(&o, CBF_MAP);
	cbf_str(&o, "format"); cbf_str(&o, "ttlog");
	cbf_str(&o, "version"); cbf_u(&o, 1);
	cbf_str(&o, "counters"); cbf_map(&o, 3);
	cbf_str(&o, "logged"); cbf_u(&o, 9);
	cbf_str(&o, "overwritten"); cbf_u(&o, 5);
	cbf_str(&o, "dropped"); cbf_u(&o, 2);
	cbf_str(&o, "callsites"); cbf_arr(&o, 1);
	callsite(&o, 1, 2, "t", 0, NULL, NULL);
	cbf_str(&o, "events"); cbf_arr(&o, 2);
	cbf_arr(&o, 3); cbf_u(&o, BASE_NS); cbf_u(&o, 1); cbf_u(&o, 1);
	cbf_arr(&o, 3); cbf_u(&o, BASE_NS + 1); cbf_u(&o, 1); cbf_u(&o, 1);
	cbf_indef(&o, CBF_TEXT);
	cbf_textn(&o, "ga", 2); cbf_textn(&o, "ps", 2);
	cbf_break(&o);
	cbf_arr(&o, 2);
	cbf_map(&o, 3);
	cbf_str(&o, "kind"); cbf_str(&o, "overwritten");
	cbf_str(&o, "count"); cbf_u(&o, 5);
	cbf_str(&o, "index"); cbf_u(&o, 0);
	cbf_map(&o, 4);
	cbf_str(&o, "kind"); cbf_str(&o, "dropped");
	cbf_str(&o, "count"); cbf_u(&o, 2);
	cbf_str(&o, "index"); cbf_u(&o, 1);
	cbf_str(&o, "tid"); cbf_u(&o, 42);
	cbf_str(&o, "gaps"); cbf_arr(&o, 0);
	cbf_break(&o);
	assert_int_equal(cbf_lz4(o.p, o.len, NULL, &frame), 0);
	assert_int_equal(ttlog_snapshot_open_mem(frame.p, frame.len, &s), 0);
	assert_int_equal(ttlog_snapshot_gap_count(s), 2);
	assert_int_equal(ttlog_snapshot_gap(s, 1, &g), 0);
	assert_string_equal(g.kind, "dropped");
	assert_int_equal(g.count, 2);
	assert_int_equal(g.index, 1);
	assert_int_equal(g.tid, 42);
	assert_int_equal(ttlog_snapshot_gap(s, 0, &g), 0);
	assert_string_equal(g.kind, "overwritten");
	assert_int_equal(g.count, 5);
	assert_int_equal(ttlog_snapshot_gap(s, 2, &g), -ERANGE);
	ttlog_snapshot_close(s);
	cbf_free(&o);
	cbf_free(&frame);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callsites),
		cmocka_unit_test(test_meta_u64),
		cmocka_unit_test(test_meta_text),
		cmocka_unit_test(test_errmsg_kept),
		cmocka_unit_test(test_gaps_after_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
