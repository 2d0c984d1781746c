/*
 * fixtures.c - the snapshot files tests/view/test_view.sh runs ttlog-view on.
 *
 *   fixtures DIR
 *
 * Crafted files, written here with tests/cbor_fixture.h and LZ4F_compressFrame(), so
 * that timestamps, services, hosts, pids and truncation flags are known to the test:
 *   a.bin   alpha@h1 pid 100, 4 events (threads 101, 102; a truncated string)
 *   b.bin   beta@h1 pid 200, 2 events between a's
 *   a2.bin  a later snapshot of alpha pid 100: a's last 2 events again, and one more;
 *           its timestamps 2.5 us later than a's, as a snapshot re-anchors the clock
 *   c.bin   gamma@h2 pid 100: another host, the same pid (not alpha's process)
 *   odd.bin control characters, bad UTF-8 and quotes in strings, {} left over
 *   esc.bin terminal controls (ESC, OSC, CSI as C1, other C1) and bad UTF-8 in the
 *           service, a target and values; values a spreadsheet would take for formulas
 *   levels.bin events at level 6 (OFF) and 200, which no library writes any more
 * Hostile files, each must be refused with a one-line error:
 *   bad-empty.bin bad-notlz4.bin bad-trunc.bin bad-garbage.bin bad-hugelen.bin
 *   bad-deep.bin bad-wrongtype.bin bad-unknowncs.bin bad-nofields.bin
 *   bad-escname.bin (its error quotes a field name made of terminal controls)
 * And a real snapshot written by libttlog: real.bin (service "real", a cut string, a
 * builder event, every field type).
 * Events start at 2024-05-01T12:00:00Z (1714564800 s) plus the microseconds in the
 * tables below.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

#include <ttlog/ttlog.h>

#include "../cbor_fixture.h"

#define BASE_NS 1714564800000000000ull

/* ---- snapshots ------------------------------------------------------------------- */

struct cs {
	unsigned id, level;
	const char *target, *message;
	int nf;
	const char *names[4], *types[4];
};

/* The shapes every crafted file shares (ids as a real process would have them). */
static const struct cs shapes[] = {
	{1, 2, "http", "GET {} -> {}", 3, {"path", "status", "ms"}, {"str", "u64", "f64"}},
	{2, 1, "auth", "user {} logged in", 2, {"user", "request_id"}, {"str", "u64"}},
	{3, 3, "db", "slow query {}", 1, {"sql"}, {"str"}},
	{4, 4, "db", "failed", 2, {"code", "retry"}, {"i64", "bool"}},
	{5, 2, "api", "request {} from {}", 2, {"request_id", "peer"}, {"u64", "str"}},
	{6, 5, "api", "crash in {}", 3, {"where", "value", "flag"}, {"str", "f64", "bool"}},
	{7, 2, "tick", "tick {} of {} {}", 1, {"n"}, {"u64"}},
	{8, 0, "odd", "odd {}", 2, {"s", "t"}, {"str", "str"}},
	/* only in the files that set ncs: */
	{9, 2, "t\x1b[2J\xc2\x9b", "{} {}", 2, {"s", "t"}, {"str", "str"}},
	{10, 2, "sheet", "{}", 1, {"v"}, {"str"}},
	{11, 2, "bad", "x {}", 1, {"n\x1b]0;t\x07\xc2\x9d"}, {"str"}},
	{12, 6, "lvl", "off level {}", 1, {"n"}, {"u64"}},
	{13, 200, "lvl", "level two hundred", 0, {0}, {0}},
};
#define N_PLAIN 8 /* the shapes a file has unless it sets ncs */

/* An event: microseconds after BASE_NS, thread, shape, values as printf-like args. */
struct ev {
	unsigned us, tid, cs;
	int truncated_field; /* -1: none */
	void (*values)(struct cbf *o);
};

static void v_get_index(struct cbf *o)
{
	cbf_str(o, "/index.html");
	cbf_u(o, 200);
	cbf_f64(o, 1.5);
}
static void v_get_404(struct cbf *o) { cbf_str(o, "/a b"); cbf_u(o, 404); cbf_f64(o, 0.25); }
static void v_login(struct cbf *o) { cbf_str(o, "ann"); cbf_u(o, 7); }
static void v_slow(struct cbf *o) { cbf_str(o, "SELECT * FROM t WHERE x = 'lo"); }
static void v_failed(struct cbf *o) { cbf_i64(o, -3); cbf_bool(o, 1); }
static void v_request(struct cbf *o) { cbf_u(o, 7); cbf_str(o, "10.0.0.1:5000"); }
static void v_crash(struct cbf *o) { cbf_str(o, "handler"); cbf_f64(o, 2.5); cbf_bool(o, 0); }
static void v_tick(struct cbf *o) { cbf_u(o, 1); }
static void v_odd(struct cbf *o)
{
	cbf_textn(o, "a\nb\tc\x01", 6);
	cbf_textn(o, "q\"uote = \xff", 10);
}

static void v_esc(struct cbf *o)
{
	cbf_str(o, "\x1b]0;owned\x07\x1b[2J");                       /* OSC title, clear */
	cbf_str(o, "\xc2\x9b" "31m \xc2\x9d" "0;x\xc2\x9c \xff \xe2\x82"); /* C1, bad UTF-8 */
}
/* cells a spreadsheet would run, and two numbers it would not */
static const char *const formulas[] = {
	"=HYPERLINK(\"http://evil/\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx",
	"-3", "-2.5",
};
#define V_FORMULA(i) static void v_formula##i(struct cbf *o) { cbf_str(o, formulas[i]); }
V_FORMULA(0) V_FORMULA(1) V_FORMULA(2) V_FORMULA(3) V_FORMULA(4) V_FORMULA(5)
V_FORMULA(6) V_FORMULA(7)
static void v_none(struct cbf *o) { (void)o; }

static const struct ev esc_events[] = {
	{10, 1, 9, -1, v_esc},
	{20, 1, 10, -1, v_formula0}, {21, 1, 10, -1, v_formula1}, {22, 1, 10, -1, v_formula2},
	{23, 1, 10, -1, v_formula3}, {24, 1, 10, -1, v_formula4}, {25, 1, 10, -1, v_formula5},
	{26, 1, 10, -1, v_formula6}, {27, 1, 10, -1, v_formula7},
};
static const struct ev escname_events[] = {
	{10, 1, 11, -1, v_tick}, /* a u64 where the callsite says str */
};
static const struct ev level_events[] = {
	{100, 1, 12, -1, v_tick},
	{200, 1, 13, -1, v_none},
	{300, 1, 7, -1, v_tick},
};

static const struct ev a_events[] = {
	{100, 101, 1, -1, v_get_index},
	{300, 102, 2, -1, v_login},
	{500, 101, 3, 0, v_slow},
	{700, 102, 4, -1, v_failed},
};
static const struct ev b_events[] = {
	{200, 201, 5, -1, v_request},
	{600, 201, 6, -1, v_crash},
};
static const struct ev a2_events[] = {
	{500, 101, 3, 0, v_slow},
	{700, 102, 4, -1, v_failed},
	{900, 101, 1, -1, v_get_404},
};
static const struct ev c_events[] = {
	{400, 100, 7, -1, v_tick},
};
static const struct ev odd_events[] = {
	{50, 1, 8, -1, v_odd},
};

struct snap {
	const char *service, *host, *reason;
	uint64_t pid, overwritten, dropped, truncated;
	uint64_t shift_ns; /* added to every timestamp */
	const struct ev *ev;
	size_t nev;
	size_t ncs; /* callsites written: the first ncs shapes (0: N_PLAIN) */
};

static void encode(struct cbf *o, const struct snap *s)
{
	size_t i, ntrunc = 0;
	int k;

	for (i = 0; i < s->nev; i++)
		ntrunc += s->ev[i].truncated_field >= 0;
	cbf_map(o, 13);
	cbf_str(o, "format"); cbf_str(o, "ttlog");
	cbf_str(o, "version"); cbf_u(o, 1);
	cbf_str(o, "service"); cbf_str(o, s->service);
	cbf_str(o, "hostname"); cbf_str(o, s->host);
	cbf_str(o, "pid"); cbf_u(o, s->pid);
	cbf_str(o, "reason"); cbf_str(o, s->reason);
	cbf_str(o, "created_ns"); cbf_u(o, BASE_NS + 1000000 + s->shift_ns);
	cbf_str(o, "variant"); cbf_str(o, "mpmc");
	cbf_str(o, "capacity"); cbf_u(o, 1024);
	cbf_str(o, "counters");
	cbf_map(o, 6);
	cbf_str(o, "logged"); cbf_u(o, s->nev + s->overwritten + s->dropped);
	cbf_str(o, "kept"); cbf_u(o, s->nev);
	cbf_str(o, "overwritten"); cbf_u(o, s->overwritten);
	cbf_str(o, "dropped"); cbf_u(o, s->dropped);
	cbf_str(o, "truncated"); cbf_u(o, s->truncated);
	cbf_str(o, "in_flight"); cbf_u(o, 0);
	cbf_str(o, "callsites");
	cbf_arr(o, s->ncs ? s->ncs : N_PLAIN);
	for (i = 0; i < (s->ncs ? s->ncs : N_PLAIN); i++) {
		const struct cs *c = &shapes[i];
		cbf_map(o, 8);
		cbf_str(o, "id"); cbf_u(o, c->id);
		cbf_str(o, "level"); cbf_u(o, c->level);
		cbf_str(o, "target"); cbf_str(o, c->target);
		cbf_str(o, "message"); cbf_str(o, c->message);
		cbf_str(o, "file"); cbf_str(o, "app.c");
		cbf_str(o, "line"); cbf_u(o, 10 * c->id);
		cbf_str(o, "fields");
		cbf_arr(o, (uint64_t)c->nf);
		for (k = 0; k < c->nf; k++)
			cbf_str(o, c->names[k]);
		cbf_str(o, "types");
		cbf_arr(o, (uint64_t)c->nf);
		for (k = 0; k < c->nf; k++)
			cbf_str(o, c->types[k]);
	}
	cbf_str(o, "events");
	cbf_arr(o, s->nev);
	for (i = 0; i < s->nev; i++) {
		const struct ev *e = &s->ev[i];
		cbf_arr(o, 3 + (uint64_t)shapes[e->cs - 1].nf);
		cbf_u(o, BASE_NS + e->us * 1000ull + s->shift_ns);
		cbf_u(o, e->cs);
		cbf_u(o, e->tid);
		e->values(o);
	}
	cbf_str(o, "truncated");
	cbf_arr(o, ntrunc);
	for (i = 0; i < s->nev; i++)
		if (s->ev[i].truncated_field >= 0) {
			cbf_arr(o, 2);
			cbf_u(o, i);
			cbf_u(o, (uint64_t)s->ev[i].truncated_field);
		}
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || (n > 0 && fwrite(p, 1, n, f) != n) ||
	    fclose(f) != 0) {
		perror(path);
		return 1;
	}
	return 0;
}

/* The CBOR in an LZ4 frame, as the library writes it (content checksum on). */
static int write_lz4(const char *dir, const char *name, const struct cbf *cbor)
{
	LZ4F_preferences_t prefs;
	struct cbf frame;
	int err;

	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	if (cbf_lz4(cbor->p, cbor->len, &prefs, &frame) < 0)
		return 1;
	err = write_file(dir, name, frame.p, frame.len);
	cbf_free(&frame);
	return err;
}

static int write_snap(const char *dir, const char *name, const struct snap *s)
{
	struct cbf o = {0};
	int err;

	encode(&o, s);
	err = write_lz4(dir, name, &o);
	cbf_free(&o);
	return err;
}

/* ---- hostile files --------------------------------------------------------------- */

static int hostile(const char *dir, const struct snap *good)
{
	struct cbf o = {0}, frame = {0};
	int err = 0;
	size_t i;

	err |= write_file(dir, "bad-empty.bin", "", 0);
	err |= write_file(dir, "bad-notlz4.bin", "hello, this is not a snapshot\n", 30);

	/* the first half of a good file */
	encode(&o, good);
	{
		LZ4F_preferences_t prefs;
		size_t n;

		memset(&prefs, 0, sizeof prefs);
		if (cbf_lz4(o.p, o.len, &prefs, &frame) < 0)
			return 1;
		n = frame.len;
		err |= write_file(dir, "bad-trunc.bin", frame.p, n / 2);
		/* the LZ4 magic, then noise */
		for (i = 4; i < n; i++)
			frame.p[i] = (unsigned char)(i * 131 + 17);
		err |= write_file(dir, "bad-garbage.bin", frame.p, n);
		cbf_free(&frame);
	}
	cbf_free(&o);

	/* a text string that says it is 2^62 bytes long */
	cbf_map(&o, 2);
	cbf_str(&o, "format"); cbf_str(&o, "ttlog");
	cbf_str(&o, "service"); cbf_head(&o, CBF_TEXT, 1ull << 62);
	cbf_put(&o, "abc", 3);
	err |= write_lz4(dir, "bad-hugelen.bin", &o);
	cbf_free(&o);

	/* 100000 nested arrays under an unknown key */
	cbf_map(&o, 1);
	cbf_str(&o, "deep");
	for (i = 0; i < 100000; i++)
		cbf_arr(&o, 1);
	cbf_u(&o, 0);
	err |= write_lz4(dir, "bad-deep.bin", &o);
	cbf_free(&o);

	/* the service is a number */
	cbf_map(&o, 6);
	cbf_str(&o, "format"); cbf_str(&o, "ttlog");
	cbf_str(&o, "version"); cbf_u(&o, 1);
	cbf_str(&o, "service"); cbf_u(&o, 42);
	cbf_str(&o, "counters"); cbf_map(&o, 3);
	cbf_str(&o, "logged"); cbf_u(&o, 0);
	cbf_str(&o, "overwritten"); cbf_u(&o, 0);
	cbf_str(&o, "dropped"); cbf_u(&o, 0);
	cbf_str(&o, "callsites"); cbf_arr(&o, 0);
	cbf_str(&o, "events"); cbf_arr(&o, 0);
	err |= write_lz4(dir, "bad-wrongtype.bin", &o);
	cbf_free(&o);

	/* an event of callsite 99, which does not exist */
	cbf_map(&o, 5);
	cbf_str(&o, "format"); cbf_str(&o, "ttlog");
	cbf_str(&o, "version"); cbf_u(&o, 1);
	cbf_str(&o, "counters"); cbf_map(&o, 3);
	cbf_str(&o, "logged"); cbf_u(&o, 1);
	cbf_str(&o, "overwritten"); cbf_u(&o, 0);
	cbf_str(&o, "dropped"); cbf_u(&o, 0);
	cbf_str(&o, "callsites"); cbf_arr(&o, 0);
	cbf_str(&o, "events"); cbf_arr(&o, 1);
	cbf_arr(&o, 3); cbf_u(&o, BASE_NS); cbf_u(&o, 99); cbf_u(&o, 1);
	err |= write_lz4(dir, "bad-unknowncs.bin", &o);
	cbf_free(&o);

	/* no events key at all */
	cbf_map(&o, 2);
	cbf_str(&o, "format"); cbf_str(&o, "ttlog");
	cbf_str(&o, "version"); cbf_u(&o, 1);
	err |= write_lz4(dir, "bad-nofields.bin", &o);
	cbf_free(&o);
	return err;
}

/* ---- a real snapshot ------------------------------------------------------------- */

static int real(const char *dir)
{
	ttlog_config cfg;
	ttlog_builder b;
	char path[4096], to[4096];
	int rc;

	ttlog_config_default(&cfg);
	cfg.service = "real";
	cfg.snapshot_dir = dir;
	cfg.capacity = 64;
	if ((rc = ttlog_init(&cfg)) < 0) {
		fprintf(stderr, "fixtures: ttlog_init: %s\n", ttlog_errmsg());
		return 1;
	}
	TTLOG_INFO("http", "GET {} -> {}", TTLOG_STR("path", "/index.html"),
		   TTLOG_U64("status", 200), TTLOG_F64("ms", 1.5));
	TTLOG_WARN("db", "slow query {}",
		   TTLOG_STR("sql", "SELECT * FROM users WHERE name = 'a very long name'"));
	TTLOG_ERROR("db", "failed", TTLOG_I64("code", -3), TTLOG_BOOL("retry", true));
	ttlog_builder_begin(&b, TTLOG_LEVEL_DEBUG, "runtime", "built {}");
	ttlog_builder_u64(&b, "n", 42);
	ttlog_builder_commit(&b);
	rc = ttlog_snapshot("fixture", path, sizeof path);
	ttlog_shutdown();
	if (rc < 0) {
		fprintf(stderr, "fixtures: ttlog_snapshot: %s\n", ttlog_strerror(rc));
		return 1;
	}
	snprintf(to, sizeof to, "%s/real.bin", dir);
	if (rename(path, to) < 0) {
		perror(to);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct snap a = {"alpha", "h1", "interval", 100, 0, 0, 1, 0, a_events, 4};
	const struct snap b = {"beta", "h1", "SIGSEGV", 200, 3, 1, 0, 0, b_events, 2};
	const struct snap a2 = {"alpha", "h1", "shutdown", 100, 5, 0, 1, 2500, a2_events, 3};
	const struct snap c = {"gamma", "h2", "manual", 100, 0, 0, 0, 0, c_events, 1};
	const struct snap odd = {"odd", "h1", "manual", 300, 0, 0, 0, 0, odd_events, 1};
	const struct snap esc = {"esc\x1b[31m\xc2\x9b", "h1", "manual", 400, 0, 0, 0, 0,
				 esc_events, 9, 10};
	const struct snap escname = {"bad", "h1", "manual", 500, 0, 0, 0, 0, escname_events, 1,
				     11};
	const struct snap levels = {"lv", "h1", "manual", 600, 0, 0, 0, 0, level_events, 3, 13};
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: fixtures DIR\n");
		return 2;
	}
	err |= write_snap(argv[1], "a.bin", &a);
	err |= write_snap(argv[1], "b.bin", &b);
	err |= write_snap(argv[1], "a2.bin", &a2);
	err |= write_snap(argv[1], "c.bin", &c);
	err |= write_snap(argv[1], "odd.bin", &odd);
	err |= write_snap(argv[1], "esc.bin", &esc);
	err |= write_snap(argv[1], "bad-escname.bin", &escname);
	err |= write_snap(argv[1], "levels.bin", &levels);
	err |= hostile(argv[1], &a);
	err |= real(argv[1]);
	return err;
}
