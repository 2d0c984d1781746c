/*
 * test_rfc5424.c - the RFC 5424 encoder of ttlog-ship (tools/rfc5424.c) on hostile strings:
 * each escape rule, each length limit, invalid UTF-8, control characters, NUL bytes, and
 * whole messages compared byte for byte with the text they must be.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/rfc5424.h"

/* the encoder's output for one piece, compared with want (exact bytes, n of them) */
static void expect_bytes(const struct rbuf *b, const char *want, size_t n, const char *what)
{
	assert_false(b->oom);
	if (b->len != n || memcmp(b->p, want, n) != 0)
		fail_msg("%s:\n  got  [%.*s] (%zu bytes)\n  want [%.*s] (%zu bytes)", what,
			 (int)b->len, b->p ? b->p : "", b->len, (int)n, want, n);
}
#define EXPECT(b, want, what) expect_bytes(b, want, sizeof(want) - 1, what)

static void header_field(const char *in, size_t n, size_t max, const char *want, bool exact)
{
	struct rbuf b = {0};
	bool got = rfc5424_header_field(&b, in, n, max);

	expect_bytes(&b, want, strlen(want), in);
	if (got != exact)
		fail_msg("%s: exact %d, want %d", want, got, exact);
	rbuf_free(&b);
}

static void test_header_fields(void **state)
{
	char longv[300], want[300];

	(void)state;
	header_field("host", 4, 255, "host", true);
	header_field("", 0, 255, "-", false);    /* empty: NILVALUE */
	header_field("-", 1, 255, "%2D", false); /* not NILVALUE */
	header_field("--", 2, 255, "--", true);
	header_field("a b", 3, 255, "a%20b", false);             /* SP */
	header_field("100%", 4, 255, "100%25", false);           /* the escape char itself */
	header_field("x\0y", 3, 255, "x%00y", false);            /* NUL */
	header_field("\x7f\x01\n", 3, 255, "%7F%01%0A", false);  /* DEL, controls */
	header_field("caf\xc3\xa9", 5, 255, "caf%C3%A9", false); /* non-ASCII */
	header_field("a=b]\"c", 6, 255, "a=b]\"c", true);        /* allowed in a header */
	/* MSGID's 32: cut at 32, and never inside an escape */
	header_field("abcdefghijklmnopqrstuvwxyz0123456789", 36, 32,
		     "abcdefghijklmnopqrstuvwxyz012345", false);
	header_field("abcdefghijklmnopqrstuvwxyz01234 x", 33, 32, "abcdefghijklmnopqrstuvwxyz01234",
		     false);
	header_field("abcdefghijklmnopqrstuvwxyz0123 x", 32, 32, "abcdefghijklmnopqrstuvwxyz0123",
		     false);
	/* HOSTNAME's 255 */
	memset(longv, 'h', 299);
	longv[299] = '\0';
	memset(want, 'h', 255);
	want[255] = '\0';
	header_field(longv, 299, 255, want, false);
	header_field(longv, 255, 255, want, true);
}

static void sd_name(const char *in, size_t n, const char *want)
{
	struct rbuf b = {0};

	rfc5424_sd_name(&b, in, n);
	expect_bytes(&b, want, strlen(want), want);
	rbuf_free(&b);
}

static void test_sd_names(void **state)
{
	(void)state;
	sd_name("user_id", 7, "user_id");
	sd_name("", 0, "_");
	sd_name("k=v", 3, "k%3Dv");
	sd_name("a]b", 3, "a%5Db");
	sd_name("a\"b", 3, "a%22b");
	sd_name("a b", 3, "a%20b");
	sd_name("%", 1, "%25");
	sd_name("a.b-c:d@e", 9, "a.b-c:d@e"); /* allowed in an SD-NAME */
	sd_name("a_field_name_longer_than_thirty_two_bytes", 41,
		"a_field_name_longer_than_thirty_");
	sd_name("abcdefghijklmnopqrstuvwxyz01234=", 32, "abcdefghijklmnopqrstuvwxyz01234");
}

static void value(const char *in, size_t n, const char *want, size_t wn, bool param)
{
	struct rbuf b = {0};

	if (param)
		rfc5424_param_value(&b, in, n);
	else
		rfc5424_msg_text(&b, in, n);
	expect_bytes(&b, want, wn, param ? "param value" : "msg");
	rbuf_free(&b);
}
#define PV(in, want) value(in, sizeof(in) - 1, want, sizeof(want) - 1, true)
#define MT(in, want) value(in, sizeof(in) - 1, want, sizeof(want) - 1, false)

static void test_values(void **state)
{
	(void)state;
	/* RFC 5424 6.3.3: '"', '\' and ']' escaped in a PARAM-VALUE */
	PV("plain", "plain");
	PV("a\"b", "a\\\"b");
	PV("a\\b", "a\\\\b");
	PV("a]b", "a\\]b");
	PV("[x=\"y\"]", "[x=\\\"y\\\"\\]");
	PV("\\]", "\\\\\\]");
	/* control characters */
	PV("a\nb\rc\td", "a\\nb\\rc\\td");
	PV("\x01\x1f\x7f", "\\x01\\x1f\\x7f");
	PV("x\0y", "x\\x00y");
	/* UTF-8: valid kept, each invalid byte U+FFFD */
	PV("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	   "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	PV("\xff", "\xef\xbf\xbd");
	PV("a\xc3", "a\xef\xbf\xbd");                               /* cut sequence at the end */
	PV("\xc3(", "\xef\xbf\xbd(");                               /* bad continuation */
	PV("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");                 /* overlong '/' */
	PV("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* a surrogate */
	PV("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* > 10FFFF */
	/* MSG: the same, except '"' '\' ']' stay as they are */
	MT("a\"b\\c]d", "a\"b\\c]d");
	MT("line\n", "line\\n");
	MT("\x1b[0m\xff", "\\x1b[0m\xef\xbf\xbd");
	MT("", "");
}

static void test_timestamp_severity(void **state)
{
	struct rbuf b = {0};

	(void)state;
	rfc5424_timestamp(&b, 0);
	EXPECT(&b, "1970-01-01T00:00:00.000000Z", "epoch");
	b.len = 0;
	/* nanoseconds truncated to microseconds, never rounded up */
	rfc5424_timestamp(&b, 1714564800123456999ull);
	EXPECT(&b, "2024-05-01T12:00:00.123456Z", "truncated");
	b.len = 0;
	rfc5424_timestamp(&b, 951782400000000000ull); /* leap day 2000-02-29 */
	EXPECT(&b, "2000-02-29T00:00:00.000000Z", "leap day");
	b.len = 0;
	rfc5424_timestamp(&b, UINT64_MAX);
	EXPECT(&b, "2554-07-21T23:34:33.709551Z", "largest");
	rbuf_free(&b);

	assert_int_equal(rfc5424_severity(TTLOG_LEVEL_TRACE), 7);
	assert_int_equal(rfc5424_severity(TTLOG_LEVEL_DEBUG), 7);
	assert_int_equal(rfc5424_severity(TTLOG_LEVEL_INFO), 6);
	assert_int_equal(rfc5424_severity(TTLOG_LEVEL_WARN), 4);
	assert_int_equal(rfc5424_severity(TTLOG_LEVEL_ERROR), 3);
	assert_int_equal(rfc5424_severity(TTLOG_LEVEL_FATAL), 2);
	assert_int_equal(rfc5424_severity(6), 5);
	assert_int_equal(rfc5424_severity(255), 5);
	assert_int_equal(rfc5424_severity(-1), 5);
}

static struct rfc5424_snap snap_of(const char *host, const char *svc, int facility)
{
	struct rfc5424_snap s = {0};

	s.facility = facility;
	s.hostname = host;
	s.service = svc;
	s.reason = "crash \"x\"";
	s.variant = "mpmc";
	s.pid = 4242;
	s.created_ns = 1714564800999999999ull;
	return s;
}

static void test_whole_event(void **state)
{
	struct rfc5424_snap s = snap_of("web-1", "checkout", 1);
	struct rbuf b = {0};
	ttlog_event ev;

	(void)state;
	memset(&ev, 0, sizeof ev);
	ev.timestamp_ns = 1714564800123456789ull;
	ev.thread_id = 77;
	ev.level = TTLOG_LEVEL_WARN;
	ev.target = "db.pool";
	ev.message = "user {} did {} ({}, {}, {})";
	ev.nfields = 5;
	ev.fields[0] = (ttlog_field){.name = "user_id", .type = TTLOG_TYPE_U64, .v.u64 = 12345};
	ev.fields[1] = (ttlog_field){.name = "act]ion",
				     .type = TTLOG_TYPE_STR,
				     .v.str = {.ptr = "log\"in\\]\n\0!", .len = 11}};
	ev.fields[2] = (ttlog_field){.name = "ok", .type = TTLOG_TYPE_BOOL, .v.b = true};
	ev.fields[3] = (ttlog_field){.name = "d", .type = TTLOG_TYPE_I64, .v.i64 = -5};
	ev.fields[4] = (ttlog_field){.name = "f", .type = TTLOG_TYPE_F64, .v.f64 = 0.1};
	rfc5424_event(&b, &s, &ev, 3);
	EXPECT(&b,
	       "<12>1 2024-05-01T12:00:00.123456Z web-1 checkout 4242 db.pool "
	       "[ttlog@32473 user_id=\"12345\" act%5Dion=\"log\\\"in\\\\\\]\\n\\x00!\" ok=\"true\" "
	       "d=\"-5\" f=\"0.10000000000000001\"]"
	       "[ttlog.meta@32473 created=\"1714564800999999999\" seq=\"3\" level=\"warn\" "
	       "thread=\"77\"] \xef\xbb\xbfuser 12345 did log\"in\\]\\n\\x00! (true, -5, 0.1)",
	       "event");

	/* hostile header values: the exact ones go to the meta element; facility local7 */
	rfc5424_snap_free(&s);
	s = snap_of("h\xc3\xa9 st", "", 23);
	b.len = 0;
	memset(&ev, 0, sizeof ev);
	ev.timestamp_ns = 5;
	ev.level = 9;
	ev.thread_id = 1;
	ev.target = "a.target.that.is.longer.than.32.bytes";
	ev.message = "no fields\r";
	rfc5424_event(&b, &s, &ev, 1);
	EXPECT(&b,
	       "<189>1 1970-01-01T00:00:00.000000Z h%C3%A9%20st - 4242 "
	       "a.target.that.is.longer.than.32. "
	       "[ttlog.meta@32473 created=\"1714564800999999999\" seq=\"1\" "
	       "host=\"h\xc3\xa9 st\" target=\"a.target.that.is.longer.than.32.bytes\" "
	       "level=\"9\" thread=\"1\"] \xef\xbb\xbfno fields\\r",
	       "hostile header");
	rfc5424_snap_free(&s);
	rbuf_free(&b);
}

static void test_counters(void **state)
{
	struct rfc5424_snap s = snap_of("web-1", "check out", 1);
	ttlog_snapshot_counters c = {.logged = 10, .kept = 7, .overwritten = 2, .dropped = 1};
	struct rbuf b = {0};

	(void)state;
	rfc5424_counters(&b, &s, &c, 0, 7);
	EXPECT(&b,
	       "<12>1 2024-05-01T12:00:00.999999Z web-1 check%20out 4242 ttlog.counters "
	       "[ttlog@32473 logged=\"10\" kept=\"7\" overwritten=\"2\" dropped=\"1\" "
	       "truncated=\"0\" in_flight=\"0\" clipped=\"0\" torn=\"0\"]"
	       "[ttlog.meta@32473 created=\"1714564800999999999\" seq=\"0\" service=\"check out\" "
	       "reason=\"crash \\\"x\\\"\" variant=\"mpmc\" events=\"7\"] "
	       "\xef\xbb\xbfsnapshot crash \"x\": 7 events, 2 overwritten, 1 dropped, 0 truncated",
	       "counters");
	/* no loss: severity info */
	memset(&c, 0, sizeof c);
	b.len = 0;
	rfc5424_counters(&b, &s, &c, 0, 0);
	assert_memory_equal(b.p, "<14>1 ", 6);
	/* a recovered box's torn records are a loss too */
	b.len = 0;
	rfc5424_counters(&b, &s, &c, 1, 0);
	assert_memory_equal(b.p, "<12>1 ", 6);
	rfc5424_snap_free(&s);
	rbuf_free(&b);
}

/* a rendered message far beyond the scratch buffer's first size */
static void test_long_message(void **state)
{
	static char big[100000];
	struct rfc5424_snap s = snap_of("h", "s", 1);
	struct rbuf b = {0};
	ttlog_event ev;
	const char *m;

	(void)state;
	memset(big, 'x', sizeof big - 1);
	memset(&ev, 0, sizeof ev);
	ev.target = "t";
	ev.message = "{}";
	ev.nfields = 1;
	ev.fields[0] = (ttlog_field){.name = "big",
				     .type = TTLOG_TYPE_STR,
				     .v.str = {.ptr = big, .len = sizeof big - 1}};
	rfc5424_event(&b, &s, &ev, 1);
	assert_false(b.oom);
	m = strstr(b.p, "] \xef\xbb\xbf");
	assert_non_null(m);
	assert_int_equal(strlen(m + 5), sizeof big - 1);
	rfc5424_snap_free(&s);
	rbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_fields), cmocka_unit_test(test_sd_names),
		cmocka_unit_test(test_values),        cmocka_unit_test(test_timestamp_severity),
		cmocka_unit_test(test_whole_event),   cmocka_unit_test(test_counters),
		cmocka_unit_test(test_long_message),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
