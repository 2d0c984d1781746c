/*
 * sql_schema.c - the SQL tables of ttlog snapshots (sql_schema.h, docs/sql.md): the DDL
 * of SQLite and PostgreSQL, the columns, and the walk of a snapshot into rows.
 *
 * The DDL below and the column lists must say the same thing: docs/sql.md shows both
 * DDLs, tests/view/test_sql.sh creates the SQLite one and loads rows into it by these
 * column names, so a column missing on either side fails there.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/utf8.h" /* ttlog__utf8_seq */
#include "sql_schema.h"

/* ---- the schema ------------------------------------------------------------------ */

/* SQLite's events go without the key (snapshot_id, seq) that PostgreSQL's have: the rows
 * come in that order (rowid order), unique by construction, and its index would cost a
 * quarter of the load of an in-memory database made for one query. */
static const char ddl_sqlite[] =
	"CREATE TABLE IF NOT EXISTS snapshots (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  hostname TEXT NOT NULL,\n"
	"  service TEXT NOT NULL,\n"
	"  pid INTEGER NOT NULL,\n"
	"  parent_pid INTEGER,\n"
	"  reason TEXT NOT NULL,\n"
	"  created_ns INTEGER NOT NULL,\n"
	"  created TEXT NOT NULL,\n"
	"  variant TEXT NOT NULL,\n"
	"  push_path TEXT,\n"
	"  capacity INTEGER NOT NULL,\n"
	"  logged INTEGER NOT NULL,\n"
	"  kept INTEGER,\n"
	"  overwritten INTEGER NOT NULL,\n"
	"  dropped INTEGER NOT NULL,\n"
	"  truncated INTEGER,\n"
	"  clipped INTEGER,\n"
	"  in_flight INTEGER,\n"
	"  torn INTEGER,\n"
	"  clipped_before_ns INTEGER,\n"
	"  file TEXT,\n"
	"  UNIQUE (hostname, pid, created_ns)\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS callsites (\n"
	"  snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,\n"
	"  callsite_id INTEGER NOT NULL,\n"
	"  level TEXT NOT NULL,\n"
	"  level_num INTEGER NOT NULL,\n"
	"  target TEXT NOT NULL,\n"
	"  message TEXT NOT NULL,\n"
	"  file TEXT NOT NULL,\n"
	"  line INTEGER NOT NULL,\n"
	"  fields TEXT NOT NULL,\n"
	"  types TEXT NOT NULL,\n"
	"  PRIMARY KEY (snapshot_id, callsite_id)\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS events (\n"
	"  snapshot_id INTEGER NOT NULL REFERENCES snapshots (id) ON DELETE CASCADE,\n"
	"  seq INTEGER NOT NULL,\n"
	"  time_ns INTEGER NOT NULL,\n"
	"  time TEXT NOT NULL,\n"
	"  level TEXT NOT NULL,\n"
	"  level_num INTEGER NOT NULL,\n"
	"  target TEXT NOT NULL,\n"
	"  message TEXT NOT NULL,\n"
	"  thread INTEGER NOT NULL,\n"
	"  callsite_id INTEGER NOT NULL,\n"
	"  fields TEXT NOT NULL,\n"
	"  truncated TEXT\n"
	");\n";

static const char ddl_postgres[] =
	"CREATE SCHEMA IF NOT EXISTS ttlog;\n"
	"CREATE TABLE IF NOT EXISTS ttlog.snapshots (\n"
	"  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"  hostname text NOT NULL,\n"
	"  service text NOT NULL,\n"
	"  pid bigint NOT NULL,\n"
	"  parent_pid bigint,\n"
	"  reason text NOT NULL,\n"
	"  created_ns bigint NOT NULL,\n"
	"  created timestamptz NOT NULL,\n"
	"  variant text NOT NULL,\n"
	"  push_path text,\n"
	"  capacity bigint NOT NULL,\n"
	"  logged bigint NOT NULL,\n"
	"  kept bigint,\n"
	"  overwritten bigint NOT NULL,\n"
	"  dropped bigint NOT NULL,\n"
	"  truncated bigint,\n"
	"  clipped bigint,\n"
	"  in_flight bigint,\n"
	"  torn bigint,\n"
	"  clipped_before_ns bigint,\n"
	"  file text,\n"
	"  UNIQUE (hostname, pid, created_ns)\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS ttlog.callsites (\n"
	"  snapshot_id bigint NOT NULL REFERENCES ttlog.snapshots (id) ON DELETE CASCADE,\n"
	"  callsite_id bigint NOT NULL,\n"
	"  level text NOT NULL,\n"
	"  level_num integer NOT NULL,\n"
	"  target text NOT NULL,\n"
	"  message text NOT NULL,\n"
	"  file text NOT NULL,\n"
	"  line bigint NOT NULL,\n"
	"  fields jsonb NOT NULL,\n"
	"  types jsonb NOT NULL,\n"
	"  PRIMARY KEY (snapshot_id, callsite_id)\n"
	");\n"
	"CREATE TABLE IF NOT EXISTS ttlog.events (\n"
	"  snapshot_id bigint NOT NULL REFERENCES ttlog.snapshots (id) ON DELETE CASCADE,\n"
	"  seq bigint NOT NULL,\n"
	"  time_ns bigint NOT NULL,\n"
	"  time timestamptz NOT NULL,\n"
	"  level text NOT NULL,\n"
	"  level_num integer NOT NULL,\n"
	"  target text NOT NULL,\n"
	"  message text NOT NULL,\n"
	"  thread bigint NOT NULL,\n"
	"  callsite_id bigint NOT NULL,\n"
	"  fields jsonb NOT NULL,\n"
	"  truncated jsonb,\n"
	"  PRIMARY KEY (snapshot_id, seq)\n"
	");\n"
	"CREATE INDEX IF NOT EXISTS events_time_ns ON ttlog.events (time_ns);\n";

const char *tsql_ddl(enum tsql_dialect d)
{
	return d == TSQL_POSTGRES ? ddl_postgres : ddl_sqlite;
}

const char *tsql_table_name(enum tsql_dialect d, enum tsql_table t)
{
	static const char *const plain[] = {"snapshots", "callsites", "events"};
	static const char *const pg[] = {"ttlog.snapshots", "ttlog.callsites", "ttlog.events"};

	if ((unsigned)t >= TSQL_NTABLES)
		return NULL;
	return d == TSQL_POSTGRES ? pg[t] : plain[t];
}

enum {
	S_HOSTNAME,
	S_SERVICE,
	S_PID,
	S_PARENT_PID,
	S_REASON,
	S_CREATED_NS,
	S_CREATED,
	S_VARIANT,
	S_PUSH_PATH,
	S_CAPACITY,
	S_LOGGED,
	S_KEPT,
	S_OVERWRITTEN,
	S_DROPPED,
	S_TRUNCATED,
	S_CLIPPED,
	S_IN_FLIGHT,
	S_TORN,
	S_CLIPPED_BEFORE,
	S_FILE,
	S_N
};
static const struct tsql_column snapshot_cols[S_N] = {
	{"hostname", TSQL_TEXT, false},
	{"service", TSQL_TEXT, false},
	{"pid", TSQL_INT, false},
	{"parent_pid", TSQL_INT, true},
	{"reason", TSQL_TEXT, false},
	{"created_ns", TSQL_INT, false},
	{"created", TSQL_TEXT, false},
	{"variant", TSQL_TEXT, false},
	{"push_path", TSQL_TEXT, true},
	{"capacity", TSQL_INT, false},
	{"logged", TSQL_INT, false},
	{"kept", TSQL_INT, true},
	{"overwritten", TSQL_INT, false},
	{"dropped", TSQL_INT, false},
	{"truncated", TSQL_INT, true},
	{"clipped", TSQL_INT, true},
	{"in_flight", TSQL_INT, true},
	{"torn", TSQL_INT, true},
	{"clipped_before_ns", TSQL_INT, true},
	{"file", TSQL_TEXT, true},
};

enum {
	C_SNAPSHOT,
	C_ID,
	C_LEVEL,
	C_LEVEL_NUM,
	C_TARGET,
	C_MESSAGE,
	C_FILE,
	C_LINE,
	C_FIELDS,
	C_TYPES,
	C_N
};
static const struct tsql_column callsite_cols[C_N] = {
	{"snapshot_id", TSQL_INT, false}, {"callsite_id", TSQL_INT, false},
	{"level", TSQL_TEXT, false},      {"level_num", TSQL_INT, false},
	{"target", TSQL_TEXT, false},     {"message", TSQL_TEXT, false},
	{"file", TSQL_TEXT, false},       {"line", TSQL_INT, false},
	{"fields", TSQL_JSON, false},     {"types", TSQL_JSON, false},
};

enum {
	E_SNAPSHOT,
	E_SEQ,
	E_TIME_NS,
	E_TIME,
	E_LEVEL,
	E_LEVEL_NUM,
	E_TARGET,
	E_MESSAGE,
	E_THREAD,
	E_CALLSITE,
	E_FIELDS,
	E_TRUNCATED,
	E_N
};
static const struct tsql_column event_cols[E_N] = {
	{"snapshot_id", TSQL_INT, false}, {"seq", TSQL_INT, false},
	{"time_ns", TSQL_INT, false},     {"time", TSQL_TEXT, false},
	{"level", TSQL_TEXT, false},      {"level_num", TSQL_INT, false},
	{"target", TSQL_TEXT, false},     {"message", TSQL_TEXT, false},
	{"thread", TSQL_INT, false},      {"callsite_id", TSQL_INT, false},
	{"fields", TSQL_JSON, false},     {"truncated", TSQL_JSON, true},
};

_Static_assert(S_N <= TSQL_MAX_COLUMNS && C_N <= TSQL_MAX_COLUMNS && E_N <= TSQL_MAX_COLUMNS,
	       "TSQL_MAX_COLUMNS holds every table's row");

const struct tsql_column *tsql_columns(enum tsql_table t, size_t *n)
{
	switch (t) {
	case TSQL_SNAPSHOTS: *n = S_N; return snapshot_cols;
	case TSQL_CALLSITES: *n = C_N; return callsite_cols;
	case TSQL_EVENTS: *n = E_N; return event_cols;
	default: *n = 0; return NULL;
	}
}

/* ---- buffers and text ------------------------------------------------------------ */

static int buf_put(struct tsql_buf *b, const void *s, size_t n)
{
	if (b->cap - b->len <= n) { /* room for n and a NUL */
		size_t cap = b->cap ? b->cap : 256;
		char *p;
		while (cap - b->len <= n)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_str(struct tsql_buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

void tsql_walker_free(struct tsql_walker *w)
{
	for (size_t i = 0; i < TSQL_MAX_COLUMNS; i++)
		free(w->col[i].p);
	free(w->scratch.p);
	memset(w, 0, sizeof *w);
}

/* The length of the valid UTF-8 character at p other than NUL, or 0. */
static size_t good_char(const unsigned char *p, size_t n)
{
	return p[0] == 0 ? 0 : ttlog__utf8_seq(p, n);
}

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* s[0..n) as a text value: as it is when it is valid UTF-8 without NUL (and s[n] is a
 * NUL, as a C string's), else a copy in b with U+FFFD for each bad byte. */
static int text_value(const char *s, size_t n, bool terminated, struct tsql_buf *b,
		      struct tsql_value *v)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	int err;

	while (i < n && (k = good_char(p + i, n - i)) != 0)
		i += k;
	v->kind = TSQL_TEXT;
	v->len = n;
	if (i == n && terminated) {
		v->s = s;
		return 0;
	}
	b->len = 0;
	if ((err = buf_put(b, s, i)) < 0)
		return err;
	while (i < n) {
		if ((k = good_char(p + i, n - i)) != 0)
			err = buf_put(b, p + i, k);
		else
			err = buf_put(b, replacement, 3), k = 1;
		if (err < 0)
			return err;
		i += k;
	}
	v->s = b->p;
	v->len = b->len;
	return 0;
}

static int cstr_value(const char *s, struct tsql_buf *b, struct tsql_value *v)
{
	return text_value(s, strlen(s), true, b, v);
}

/* A JSON string of s[0..n): the escapes of ttlog-view --json (view.c, vescape()), but a NUL
 * and a byte that is not UTF-8 both become U+FFFD. */
static int json_str(struct tsql_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, run;
	char esc[8];
	int err = buf_put(b, "\"", 1);

	while (err == 0 && i < n) {
		/* the plain run: printable ASCII but " and \, and UTF-8 beyond the C1 controls */
		for (run = i; run < n; run += k) {
			unsigned char c = p[run];
			if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
				k = 1;
				continue;
			}
			if (c < 0x80 || (k = ttlog__utf8_seq(p + run, n - run)) == 0 ||
			    (c == 0xc2 && p[run + 1] <= 0x9f))
				break;
		}
		if (run > i && (err = buf_put(b, p + i, run - i)) < 0)
			return err;
		if ((i = run) >= n)
			break;
		unsigned char c = p[i];
		k = c < 0x80 ? 1 : ttlog__utf8_seq(p + i, n - i);
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			err = buf_put(b, esc, 2);
		} else if (k == 2) { /* a C1 control */
			snprintf(esc, sizeof esc, "\\u%04x", p[i + 1]);
			err = buf_put(b, esc, 6);
		} else if (c == '\n') {
			err = buf_put(b, "\\n", 2);
		} else if (c == '\t') {
			err = buf_put(b, "\\t", 2);
		} else if (c == '\r') {
			err = buf_put(b, "\\r", 2);
		} else if (c == 0 || c >= 0x80) {
			err = buf_put(b, "\\ufffd", 6), k = 1;
		} else {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			err = buf_put(b, esc, 6);
		}
		i += k ? k : 1;
	}
	return err < 0 ? err : buf_put(b, "\"", 1);
}

static int json_cstr(struct tsql_buf *b, const char *s)
{
	return json_str(b, s, strlen(s));
}

/* The shortest %g form that reads back as the same double; null for NaN and infinities
 * (as ttlog-view --json). */
static int json_f64(struct tsql_buf *b, double d)
{
	char num[40];

	if (!isfinite(d))
		return buf_str(b, "null");
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(num, sizeof num, "%.*g", prec, d);
		if (strtod(num, NULL) == d)
			break;
	}
	return buf_str(b, num);
}

int tsql_fields_json(const ttlog_event *ev, struct tsql_buf *b)
{
	char num[32];
	int err = buf_put(b, "{", 1);

	for (size_t i = 0; i < ev->nfields && err == 0; i++) {
		const ttlog_field *f = &ev->fields[i];
		if (i > 0 && (err = buf_put(b, ",", 1)) < 0)
			break;
		if ((err = json_cstr(b, f->name)) < 0 || (err = buf_put(b, ":", 1)) < 0)
			break;
		switch (f->type) {
		case TTLOG_TYPE_U64:
			snprintf(num, sizeof num, "%" PRIu64, f->v.u64);
			err = buf_str(b, num);
			break;
		case TTLOG_TYPE_I64:
			snprintf(num, sizeof num, "%" PRId64, f->v.i64);
			err = buf_str(b, num);
			break;
		case TTLOG_TYPE_F64: err = json_f64(b, f->v.f64); break;
		case TTLOG_TYPE_BOOL: err = buf_str(b, f->v.b ? "true" : "false"); break;
		case TTLOG_TYPE_STR: err = json_str(b, f->v.str.ptr, f->v.str.len); break;
		default: err = buf_str(b, "null"); break;
		}
	}
	return err < 0 ? err : buf_put(b, "}", 1);
}

const char *tsql_level_name(int level, char *buf)
{
	if (level > TTLOG_LEVEL_FATAL && level <= 255) {
		snprintf(buf, 8, "L%d", level);
		return buf;
	}
	return ttlog_level_name(level);
}

/* YYYY-mm-ddTHH:MM:SS.nnnnnnnnnZ: UTC, every digit of the ns (SQLite's date functions
 * read it; PostgreSQL's timestamptz keeps the microseconds). */
static void iso_time(struct tsql_walker *w, uint64_t ns, char buf[48])
{
	time_t sec = (time_t)(ns / 1000000000u);
	unsigned frac = (unsigned)(ns % 1000000000u);
	struct tm tm;
	size_t n;

	/* events come many to a second: the second's text is made once */
	if (!w->has_sec || (int64_t)sec != w->sec) {
		if (gmtime_r(&sec, &tm) == NULL ||
		    strftime(w->sec_text, sizeof w->sec_text, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			strcpy(w->sec_text, "1970-01-01T00:00:00"); /* not reached: ns < 2^63 */
		w->sec = (int64_t)sec;
		w->has_sec = true;
	}
	n = strlen(w->sec_text); /* at most 31: buf holds it and the 11 bytes after */
	memcpy(buf, w->sec_text, n);
	buf[n++] = '.';
	for (int i = 8; i >= 0; i--, frac /= 10)
		buf[n + (size_t)i] = (char)('0' + frac % 10);
	memcpy(buf + n + 9, "Z", 2);
}

/* v in decimal at the end of num[24]: its first digit (snprintf is most of a COPY row's
 * cost otherwise). */
static char *i64_text(int64_t v, char num[24])
{
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	char *p = num + 23;

	*p = '\0';
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	return p;
}

int tsql_copy_row(const struct tsql_value *row, size_t n, struct tsql_buf *b)
{
	char num[24];
	int err = 0;

	for (size_t i = 0; i < n && err == 0; i++) {
		const struct tsql_value *v = &row[i];
		if (i > 0 && (err = buf_put(b, "\t", 1)) < 0)
			break;
		if (v->kind == TSQL_NULL) {
			err = buf_put(b, "\\N", 2);
		} else if (v->kind == TSQL_INT) {
			const char *t = i64_text(v->i, num);
			err = buf_put(b, t, (size_t)(num + 23 - t));
		} else {
			size_t at = 0;
			for (size_t k = 0; k < v->len && err == 0; k++) {
				char c = v->s[k], e;
				e = c == '\\'   ? '\\'
				    : c == '\n' ? 'n'
				    : c == '\r' ? 'r'
				    : c == '\t' ? 't'
						: 0;
				if (e == 0)
					continue;
				char pair[2] = {'\\', e};
				if ((err = buf_put(b, v->s + at, k - at)) == 0)
					err = buf_put(b, pair, 2);
				at = k + 1;
			}
			if (err == 0)
				err = buf_put(b, v->s + at, v->len - at);
		}
	}
	return err < 0 ? err : buf_put(b, "\n", 1);
}

/* ---- the walk -------------------------------------------------------------------- */

static void set_int(struct tsql_value *v, int64_t i)
{
	*v = (struct tsql_value){.kind = TSQL_INT, .i = i};
}

/* A number for a column: -ERANGE, said in w->err, above what a signed 64-bit column holds. */
static int uint_value(struct tsql_walker *w, const char *what, uint64_t u, struct tsql_value *v)
{
	if (u > INT64_MAX) {
		snprintf(w->err, sizeof w->err,
			 "%s %" PRIu64 " is above 2^63-1, the largest SQL integer", what, u);
		return -ERANGE;
	}
	set_int(v, (int64_t)u);
	return 0;
}

/* An optional key: its value, or NULL when absent or of another type. */
static int meta_value(struct tsql_walker *w, const ttlog_snapshot_file *snap, const char *key,
		      struct tsql_value *v)
{
	uint64_t u;

	if (ttlog_snapshot_meta_u64(snap, key, &u) != 1) {
		v->kind = TSQL_NULL;
		return 0;
	}
	return uint_value(w, key, u, v);
}

static int snapshot_row(struct tsql_walker *w, ttlog_snapshot_file *snap, const char *file,
			struct tsql_value *row)
{
	ttlog_snapshot_counters k;
	char when[48], push[256];
	int err = 0;

	ttlog_snapshot_get_counters(snap, &k);
	iso_time(w, ttlog_snapshot_created_ns(snap) > INT64_MAX ? 0 : ttlog_snapshot_created_ns(snap),
		 when);
	if ((err = cstr_value(ttlog_snapshot_hostname(snap), &w->col[S_HOSTNAME],
			      &row[S_HOSTNAME])) < 0 ||
	    (err = cstr_value(ttlog_snapshot_service(snap), &w->col[S_SERVICE], &row[S_SERVICE])) <
		    0 ||
	    (err = uint_value(w, "pid", ttlog_snapshot_pid(snap), &row[S_PID])) < 0 ||
	    (err = meta_value(w, snap, "parent_pid", &row[S_PARENT_PID])) < 0 ||
	    (err = cstr_value(ttlog_snapshot_reason(snap), &w->col[S_REASON], &row[S_REASON])) <
		    0 ||
	    (err = uint_value(w, "created_ns", ttlog_snapshot_created_ns(snap),
			      &row[S_CREATED_NS])) < 0 ||
	    (err = cstr_value(ttlog_snapshot_variant(snap), &w->col[S_VARIANT], &row[S_VARIANT])) <
		    0 ||
	    (err = uint_value(w, "capacity", ttlog_snapshot_capacity(snap), &row[S_CAPACITY])) <
		    0 ||
	    (err = uint_value(w, "counters.logged", k.logged, &row[S_LOGGED])) < 0 ||
	    (err = meta_value(w, snap, "counters.kept", &row[S_KEPT])) < 0 ||
	    (err = uint_value(w, "counters.overwritten", k.overwritten, &row[S_OVERWRITTEN])) < 0 ||
	    (err = uint_value(w, "counters.dropped", k.dropped, &row[S_DROPPED])) < 0 ||
	    (err = meta_value(w, snap, "counters.truncated", &row[S_TRUNCATED])) < 0 ||
	    (err = meta_value(w, snap, "counters.clipped", &row[S_CLIPPED])) < 0 ||
	    (err = meta_value(w, snap, "counters.in_flight", &row[S_IN_FLIGHT])) < 0 ||
	    (err = meta_value(w, snap, "counters.torn", &row[S_TORN])) < 0 ||
	    (err = meta_value(w, snap, "clipped_before_ns", &row[S_CLIPPED_BEFORE])) < 0)
		return err;
	if ((err = text_value(when, strlen(when), false, &w->col[S_CREATED], &row[S_CREATED])) < 0)
		return err;
	row[S_PUSH_PATH].kind = TSQL_NULL;
	if (ttlog_snapshot_meta_text(snap, "push_path", push, sizeof push) == 1 &&
	    (err = text_value(push, strlen(push), false, &w->col[S_PUSH_PATH], &row[S_PUSH_PATH])) <
		    0)
		return err;
	row[S_FILE].kind = TSQL_NULL;
	if (file != NULL && (err = cstr_value(file, &w->col[S_FILE], &row[S_FILE])) < 0)
		return err;
	return 0;
}

/* The level's name, copied: "L6" is made in a buffer of this frame. */
static int level_value(int level, struct tsql_buf *b, struct tsql_value *v)
{
	char lv[8];
	const char *name = tsql_level_name(level, lv);

	return text_value(name, strlen(name), false, b, v);
}

static int callsite_row(struct tsql_walker *w, const ttlog_callsite_info *cs, int64_t id,
			struct tsql_value *row)
{
	int err;

	set_int(&row[C_SNAPSHOT], id);
	set_int(&row[C_ID], cs->id);
	set_int(&row[C_LEVEL_NUM], cs->level);
	set_int(&row[C_LINE], cs->line);
	if ((err = level_value(cs->level, &w->col[C_LEVEL], &row[C_LEVEL])) < 0 ||
	    (err = cstr_value(cs->target, &w->col[C_TARGET], &row[C_TARGET])) < 0 ||
	    (err = cstr_value(cs->message, &w->col[C_MESSAGE], &row[C_MESSAGE])) < 0 ||
	    (err = cstr_value(cs->file, &w->col[C_FILE], &row[C_FILE])) < 0)
		return err;
	struct tsql_buf *names = &w->col[C_FIELDS], *types = &w->col[C_TYPES];
	names->len = types->len = 0;
	err = buf_put(names, "[", 1);
	if (err == 0)
		err = buf_put(types, "[", 1);
	for (size_t i = 0; i < cs->nfields && err == 0; i++) {
		if (i > 0 &&
		    ((err = buf_put(names, ",", 1)) < 0 || (err = buf_put(types, ",", 1)) < 0))
			break;
		if ((err = json_cstr(names, cs->names[i])) == 0)
			err = json_cstr(types, ttlog_type_name(cs->types[i]));
	}
	if (err == 0 && (err = buf_put(names, "]", 1)) == 0)
		err = buf_put(types, "]", 1);
	if (err < 0)
		return err;
	row[C_FIELDS] = (struct tsql_value){.kind = TSQL_JSON, .s = names->p, .len = names->len};
	row[C_TYPES] = (struct tsql_value){.kind = TSQL_JSON, .s = types->p, .len = types->len};
	return 0;
}

static int event_row(struct tsql_walker *w, const ttlog_event *ev, int64_t id, size_t seq,
		     struct tsql_value *row)
{
	struct tsql_buf *msg = &w->col[E_MESSAGE], *fields = &w->col[E_FIELDS];
	struct tsql_buf *trunc = &w->col[E_TRUNCATED];
	char when[48];
	size_t n, ntrunc = 0;
	int err;

	set_int(&row[E_SNAPSHOT], id);
	set_int(&row[E_SEQ], (int64_t)seq);
	if ((err = uint_value(w, "an event's timestamp_ns", ev->timestamp_ns, &row[E_TIME_NS])) < 0)
		return err;
	iso_time(w, ev->timestamp_ns, when);
	set_int(&row[E_LEVEL_NUM], ev->level);
	set_int(&row[E_THREAD], ev->thread_id);
	set_int(&row[E_CALLSITE], ev->callsite_id);
	if ((err = text_value(when, strlen(when), false, &w->col[E_TIME], &row[E_TIME])) < 0 ||
	    (err = level_value(ev->level, &w->col[E_LEVEL], &row[E_LEVEL])) < 0 ||
	    (err = cstr_value(ev->target, &w->col[E_TARGET], &row[E_TARGET])) < 0)
		return err;

	/* the message with {} filled, by the reader (as ttlog-view --json has it) */
	n = ttlog_event_render(ev, w->scratch.p, w->scratch.cap);
	if (n >= w->scratch.cap) {
		char *p = realloc(w->scratch.p, n + 1);
		if (p == NULL)
			return -ENOMEM;
		w->scratch.p = p;
		w->scratch.cap = n + 1;
		ttlog_event_render(ev, w->scratch.p, w->scratch.cap);
	}
	if ((err = text_value(w->scratch.p, n, false, msg, &row[E_MESSAGE])) < 0)
		return err;

	fields->len = 0;
	if ((err = tsql_fields_json(ev, fields)) < 0)
		return err;
	row[E_FIELDS] = (struct tsql_value){.kind = TSQL_JSON, .s = fields->p, .len = fields->len};
	row[E_TRUNCATED].kind = TSQL_NULL;
	trunc->len = 0;
	for (size_t i = 0; i < ev->nfields; i++) {
		if (!ev->fields[i].truncated)
			continue;
		if ((err = buf_put(trunc, ntrunc++ ? "," : "[", 1)) < 0 ||
		    (err = json_cstr(trunc, ev->fields[i].name)) < 0)
			return err;
	}
	if (ntrunc > 0) {
		if ((err = buf_put(trunc, "]", 1)) < 0)
			return err;
		row[E_TRUNCATED] =
			(struct tsql_value){.kind = TSQL_JSON, .s = trunc->p, .len = trunc->len};
	}
	return 0;
}

int tsql_walk(struct tsql_walker *w, ttlog_snapshot_file *snap, const char *file,
	      const struct tsql_sink *sink)
{
	struct tsql_value row[TSQL_MAX_COLUMNS];
	ttlog_callsite_info cs;
	ttlog_event ev;
	int64_t id = 0;
	size_t i, seq = 0;
	int err;

	w->err[0] = '\0';
	if ((err = snapshot_row(w, snap, file, row)) < 0)
		goto out;
	if ((err = sink->snapshot(sink->ctx, row, &id)) <= 0)
		goto out;
	for (i = 0; i < ttlog_snapshot_callsite_count(snap); i++) {
		if ((err = ttlog_snapshot_callsite(snap, i, &cs)) < 0 ||
		    (err = callsite_row(w, &cs, id, row)) < 0 ||
		    (err = sink->row(sink->ctx, TSQL_CALLSITES, row)) < 0)
			goto out;
	}
	ttlog_snapshot_rewind(snap);
	while (ttlog_snapshot_next(snap, &ev) == 1) {
		if ((err = event_row(w, &ev, id, seq++, row)) < 0 ||
		    (err = sink->row(sink->ctx, TSQL_EVENTS, row)) < 0)
			goto out;
	}
	err = 0;
out:
	if (err == -ENOMEM && w->err[0] == '\0')
		snprintf(w->err, sizeof w->err, "out of memory");
	return err < 0 ? err : 0;
}
