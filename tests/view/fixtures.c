/*
 * fixtures.c - the snapshot files tests/view/test_view.sh runs ttlog-view on.
 *
 *   fixtures DIR
 *
 * Crafted files, written here with a small CBOR encoder and LZ4F_compressFrame(), so
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

#define BASE_NS 1714564800000000000ull

/* ---- a minimal CBOR writer ------------------------------------------------------- */

struct out {
	unsigned char *p;
	size_t len, cap;
};

static void put(struct out *o, const void *d, size_t n)
{
	if (o->cap - o->len < n) {
		while (o->cap - o->len < n)
			o->cap = o->cap ? o->cap * 2 : 1024;
		if ((o->p = realloc(o->p, o->cap)) == NULL)
			exit(1);
	}
	memcpy(o->p + o->len, d, n);
	o->len += n;
}

static void head(struct out *o, int major, uint64_t v)
{
	unsigned char b[9];
	size_t n;

	if (v < 24) {
		b[0] = (unsigned char)(major << 5 | (int)v);
		n = 1;
	} else if (v <= 0xff) {
		b[0] = (unsigned char)(major << 5 | 24);
		b[1] = (unsigned char)v;
		n = 2;
	} else if (v <= 0xffff) {
		b[0] = (unsigned char)(major << 5 | 25);
		b[1] = (unsigned char)(v >> 8);
		b[2] = (unsigned char)v;
		n = 3;
	} else if (v <= 0xffffffffu) {
		b[0] = (unsigned char)(major << 5 | 26);
		for (int i = 0; i < 4; i++)
			b[1 + i] = (unsigned char)(v >> (24 - 8 * i));
		n = 5;
	} else {
		b[0] = (unsigned char)(major << 5 | 27);
		for (int i = 0; i < 8; i++)
			b[1 + i] = (unsigned char)(v >> (56 - 8 * i));
		n = 9;
	}
	put(o, b, n);
}

static void u(struct out *o, uint64_t v) { head(o, 0, v); }
static void i64(struct out *o, int64_t v)
{
	if (v >= 0)
		head(o, 0, (uint64_t)v);
	else
		head(o, 1, (uint64_t)(-(v + 1)));
}
static void strn(struct out *o, const char *s, size_t n)
{
	head(o, 3, n);
	put(o, s, n);
}
static void str(struct out *o, const char *s) { strn(o, s, strlen(s)); }
static void arr(struct out *o, uint64_t n) { head(o, 4, n); }
static void map(struct out *o, uint64_t n) { head(o, 5, n); }
static void boolean(struct out *o, int v)
{
	unsigned char b = v ? 0xf5 : 0xf4;
	put(o, &b, 1);
}
static void f64(struct out *o, double d)
{
	unsigned char b[9] = {0xfb};
	uint64_t bits;
	memcpy(&bits, &d, 8);
	for (int i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
	put(o, b, 9);
}

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
	void (*values)(struct out *o);
};

static void v_get_index(struct out *o) { str(o, "/index.html"); u(o, 200); f64(o, 1.5); }
static void v_get_404(struct out *o) { str(o, "/a b"); u(o, 404); f64(o, 0.25); }
static void v_login(struct out *o) { str(o, "ann"); u(o, 7); }
static void v_slow(struct out *o) { str(o, "SELECT * FROM t WHERE x = 'lo"); }
static void v_failed(struct out *o) { i64(o, -3); boolean(o, 1); }
static void v_request(struct out *o) { u(o, 7); str(o, "10.0.0.1:5000"); }
static void v_crash(struct out *o) { str(o, "handler"); f64(o, 2.5); boolean(o, 0); }
static void v_tick(struct out *o) { u(o, 1); }
static void v_odd(struct out *o)
{
	strn(o, "a\nb\tc\x01", 6);
	strn(o, "q\"uote = \xff", 10);
}

static void v_esc(struct out *o)
{
	str(o, "\x1b]0;owned\x07\x1b[2J");                       /* OSC title, clear */
	str(o, "\xc2\x9b" "31m \xc2\x9d" "0;x\xc2\x9c \xff \xe2\x82"); /* C1, bad UTF-8 */
}
/* cells a spreadsheet would run, and two numbers it would not */
static const char *const formulas[] = {
	"=HYPERLINK(\"http://evil/\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx",
	"-3", "-2.5",
};
#define V_FORMULA(i) static void v_formula##i(struct out *o) { str(o, formulas[i]); }
V_FORMULA(0) V_FORMULA(1) V_FORMULA(2) V_FORMULA(3) V_FORMULA(4) V_FORMULA(5)
V_FORMULA(6) V_FORMULA(7)
static void v_none(struct out *o) { (void)o; }

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

static void encode(struct out *o, const struct snap *s)
{
	size_t i, ntrunc = 0;
	int k;

	for (i = 0; i < s->nev; i++)
		ntrunc += s->ev[i].truncated_field >= 0;
	map(o, 13);
	str(o, "format"); str(o, "ttlog");
	str(o, "version"); u(o, 1);
	str(o, "service"); str(o, s->service);
	str(o, "hostname"); str(o, s->host);
	str(o, "pid"); u(o, s->pid);
	str(o, "reason"); str(o, s->reason);
	str(o, "created_ns"); u(o, BASE_NS + 1000000 + s->shift_ns);
	str(o, "variant"); str(o, "mpmc");
	str(o, "capacity"); u(o, 1024);
	str(o, "counters");
	map(o, 6);
	str(o, "logged"); u(o, s->nev + s->overwritten + s->dropped);
	str(o, "kept"); u(o, s->nev);
	str(o, "overwritten"); u(o, s->overwritten);
	str(o, "dropped"); u(o, s->dropped);
	str(o, "truncated"); u(o, s->truncated);
	str(o, "in_flight"); u(o, 0);
	str(o, "callsites");
	arr(o, s->ncs ? s->ncs : N_PLAIN);
	for (i = 0; i < (s->ncs ? s->ncs : N_PLAIN); i++) {
		const struct cs *c = &shapes[i];
		map(o, 8);
		str(o, "id"); u(o, c->id);
		str(o, "level"); u(o, c->level);
		str(o, "target"); str(o, c->target);
		str(o, "message"); str(o, c->message);
		str(o, "file"); str(o, "app.c");
		str(o, "line"); u(o, 10 * c->id);
		str(o, "fields");
		arr(o, (uint64_t)c->nf);
		for (k = 0; k < c->nf; k++)
			str(o, c->names[k]);
		str(o, "types");
		arr(o, (uint64_t)c->nf);
		for (k = 0; k < c->nf; k++)
			str(o, c->types[k]);
	}
	str(o, "events");
	arr(o, s->nev);
	for (i = 0; i < s->nev; i++) {
		const struct ev *e = &s->ev[i];
		arr(o, 3 + (uint64_t)shapes[e->cs - 1].nf);
		u(o, BASE_NS + e->us * 1000ull + s->shift_ns);
		u(o, e->cs);
		u(o, e->tid);
		e->values(o);
	}
	str(o, "truncated");
	arr(o, ntrunc);
	for (i = 0; i < s->nev; i++)
		if (s->ev[i].truncated_field >= 0) {
			arr(o, 2);
			u(o, i);
			u(o, (uint64_t)s->ev[i].truncated_field);
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
static int write_lz4(const char *dir, const char *name, const struct out *cbor)
{
	LZ4F_preferences_t prefs;
	size_t cap, n;
	void *frame;
	int err;

	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	cap = LZ4F_compressFrameBound(cbor->len, &prefs);
	if ((frame = malloc(cap)) == NULL)
		return 1;
	n = LZ4F_compressFrame(frame, cap, cbor->p, cbor->len, &prefs);
	err = LZ4F_isError(n) ? 1 : write_file(dir, name, frame, n);
	free(frame);
	return err;
}

static int write_snap(const char *dir, const char *name, const struct snap *s)
{
	struct out o = {0};
	int err;

	encode(&o, s);
	err = write_lz4(dir, name, &o);
	free(o.p);
	return err;
}

/* ---- hostile files --------------------------------------------------------------- */

static int hostile(const char *dir, const struct snap *good)
{
	struct out o = {0}, frame = {0};
	int err = 0;
	size_t i;

	err |= write_file(dir, "bad-empty.bin", "", 0);
	err |= write_file(dir, "bad-notlz4.bin", "hello, this is not a snapshot\n", 30);

	/* the first half of a good file */
	encode(&o, good);
	{
		LZ4F_preferences_t prefs;
		memset(&prefs, 0, sizeof prefs);
		size_t cap = LZ4F_compressFrameBound(o.len, &prefs), n;
		frame.p = malloc(cap);
		n = LZ4F_compressFrame(frame.p, cap, o.p, o.len, &prefs);
		if (frame.p == NULL || LZ4F_isError(n))
			return 1;
		err |= write_file(dir, "bad-trunc.bin", frame.p, n / 2);
		/* the LZ4 magic, then noise */
		for (i = 4; i < n; i++)
			frame.p[i] = (unsigned char)(i * 131 + 17);
		err |= write_file(dir, "bad-garbage.bin", frame.p, n);
		free(frame.p);
	}
	free(o.p);

	/* a text string that says it is 2^62 bytes long */
	o = (struct out){0};
	map(&o, 2);
	str(&o, "format"); str(&o, "ttlog");
	str(&o, "service"); head(&o, 3, 1ull << 62);
	put(&o, "abc", 3);
	err |= write_lz4(dir, "bad-hugelen.bin", &o);
	free(o.p);

	/* 100000 nested arrays under an unknown key */
	o = (struct out){0};
	map(&o, 1);
	str(&o, "deep");
	for (i = 0; i < 100000; i++)
		arr(&o, 1);
	u(&o, 0);
	err |= write_lz4(dir, "bad-deep.bin", &o);
	free(o.p);

	/* the service is a number */
	o = (struct out){0};
	map(&o, 6);
	str(&o, "format"); str(&o, "ttlog");
	str(&o, "version"); u(&o, 1);
	str(&o, "service"); u(&o, 42);
	str(&o, "counters"); map(&o, 3);
	str(&o, "logged"); u(&o, 0);
	str(&o, "overwritten"); u(&o, 0);
	str(&o, "dropped"); u(&o, 0);
	str(&o, "callsites"); arr(&o, 0);
	str(&o, "events"); arr(&o, 0);
	err |= write_lz4(dir, "bad-wrongtype.bin", &o);
	free(o.p);

	/* an event of callsite 99, which does not exist */
	o = (struct out){0};
	map(&o, 5);
	str(&o, "format"); str(&o, "ttlog");
	str(&o, "version"); u(&o, 1);
	str(&o, "counters"); map(&o, 3);
	str(&o, "logged"); u(&o, 1);
	str(&o, "overwritten"); u(&o, 0);
	str(&o, "dropped"); u(&o, 0);
	str(&o, "callsites"); arr(&o, 0);
	str(&o, "events"); arr(&o, 1);
	arr(&o, 3); u(&o, BASE_NS); u(&o, 99); u(&o, 1);
	err |= write_lz4(dir, "bad-unknowncs.bin", &o);
	free(o.p);

	/* no events key at all */
	o = (struct out){0};
	map(&o, 2);
	str(&o, "format"); str(&o, "ttlog");
	str(&o, "version"); u(&o, 1);
	err |= write_lz4(dir, "bad-nofields.bin", &o);
	free(o.p);
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
