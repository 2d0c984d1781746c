/*
 * view_pg.c - ttlog-view --from postgresql://...: the snapshots that ttlog-ship loaded into
 * PostgreSQL (the tables of docs/sql.md, schema ttlog) as sources of the viewer, so that
 * the merged timeline, the filters, every output format, --header, --stats and the TUI
 * work on them as on files, through the same code.
 *
 * Each snapshot of the database becomes a snapshot file in memory again: its row, its
 * callsites and the events that pass the filters pushed into SQL are encoded as the CBOR
 * of docs/snapshot-format.md, in an LZ4 frame, and opened with ttlog_snapshot_open_mem(),
 * which validates it as it validates any file. The filters pushed into SQL (--service on
 * the snapshots; --since, --until, --level and the keys of --field on the events) only
 * narrow what is read: the viewer applies every filter again, so the events shown are
 * the ones a file would show.
 *
 * What the database does not hold cannot come back: gap records and trigger windows
 * (the viewer shows none), field values that were changed to fit SQL (a byte that is not
 * UTF-8 and a NUL in a string are U+FFFD; NaN and infinities are JSON null and come back
 * as NaN); and events.fields is one JSON object, so of two fields of one event with the
 * same name only the last value is there.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <lz4frame.h>

#include "../core/utf8.h" /* ttlog__utf8_seq */
#include "view.h"

/* ---- CBOR (the subset a snapshot uses), into a vbuf ------------------------------ */

enum { CB_UINT = 0, CB_NEG = 1, CB_TEXT = 3, CB_ARRAY = 4, CB_MAP = 5 };

static void cb_head(struct vbuf *b, int major, uint64_t v)
{
	unsigned char h[9];
	int n = v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;

	h[0] = (unsigned char)(major << 5 | (n == 0   ? (int)v
					     : n == 1 ? 24
					     : n == 2 ? 25
					     : n == 4 ? 26
						      : 27));
	for (int i = 0; i < n; i++)
		h[1 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	vbuf_put(b, (const char *)h, (size_t)n + 1);
}

static void cb_text(struct vbuf *b, const char *s, size_t n)
{
	cb_head(b, CB_TEXT, n);
	vbuf_put(b, s, n);
}

static void cb_str(struct vbuf *b, const char *s)
{
	cb_text(b, s, strlen(s));
}

static void cb_i64(struct vbuf *b, int64_t v)
{
	if (v >= 0)
		cb_head(b, CB_UINT, (uint64_t)v);
	else
		cb_head(b, CB_NEG, (uint64_t)(-(v + 1)));
}

static void cb_f64(struct vbuf *b, double d)
{
	unsigned char h[9] = {0xfb};
	uint64_t u;

	memcpy(&u, &d, sizeof u);
	for (int i = 0; i < 8; i++)
		h[1 + i] = (unsigned char)(u >> (56 - 8 * i));
	vbuf_put(b, (const char *)h, sizeof h);
}

static void cb_bool(struct vbuf *b, bool v)
{
	vbuf_putc(b, (char)(v ? 0xf5 : 0xf4));
}

/* ---- JSON, as PostgreSQL prints jsonb ----------------------------------------------
 * Only what the loader writes is needed (an object of scalars, arrays of strings), but
 * anything may be in the database: what is not that is an error, never a crash. */

struct jval {
	enum { J_STR, J_NUM, J_TRUE, J_FALSE, J_NULL } kind;
	size_t key, klen; /* the key (objects), in the parse's text buffer */
	size_t at, len;   /* a string's text (in that buffer) or a number's token (input) */
	const char *num;
};

struct jparse {
	const char *p;
	struct vbuf text; /* decoded keys and strings, NUL after each */
	struct jval *v;
	size_t n, cap;
};

static void jws(struct jparse *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void put_cp(struct vbuf *b, uint32_t cp)
{
	char u[4];

	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	if (cp < 0x80) {
		vbuf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f));
		vbuf_put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		vbuf_put(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f));
		vbuf_put(b, u, 4);
	}
}

/* A JSON string at j->p into j->text (NUL-terminated there): its offset and length. */
static int jstring(struct jparse *j, size_t *at, size_t *len)
{
	const char *p = j->p;
	uint32_t cp, lo;

	if (*p++ != '"')
		return -1;
	*at = j->text.len;
	for (;;) {
		size_t run = strcspn(p, "\"\\");
		vbuf_put(&j->text, p, run);
		p += run;
		if (*p == '"')
			break;
		if (*p != '\\')
			return -1; /* the end of the text */
		switch (p[1]) {
		case '"': vbuf_putc(&j->text, '"'); break;
		case '\\': vbuf_putc(&j->text, '\\'); break;
		case '/': vbuf_putc(&j->text, '/'); break;
		case 'b': vbuf_putc(&j->text, '\b'); break;
		case 'f': vbuf_putc(&j->text, '\f'); break;
		case 'n': vbuf_putc(&j->text, '\n'); break;
		case 'r': vbuf_putc(&j->text, '\r'); break;
		case 't': vbuf_putc(&j->text, '\t'); break;
		case 'u':
			if (hex4(p + 2, &cp) < 0)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdbff && p[6] == '\\' && p[7] == 'u' &&
			    hex4(p + 8, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			put_cp(&j->text, cp);
			p += 4;
			break;
		default: return -1;
		}
		p += 2;
	}
	*len = j->text.len - *at;
	vbuf_putc(&j->text, '\0');
	j->p = p + 1;
	return 0;
}

/* A scalar at j->p into *v. */
static int jscalar(struct jparse *j, struct jval *v)
{
	size_t n;

	jws(j);
	if (*j->p == '"') {
		v->kind = J_STR;
		return jstring(j, &v->at, &v->len);
	}
	if (strncmp(j->p, "true", 4) == 0) {
		v->kind = J_TRUE, j->p += 4;
		return 0;
	}
	if (strncmp(j->p, "false", 5) == 0) {
		v->kind = J_FALSE, j->p += 5;
		return 0;
	}
	if (strncmp(j->p, "null", 4) == 0) {
		v->kind = J_NULL, j->p += 4;
		return 0;
	}
	n = strspn(j->p, "-+0123456789.eE");
	if (n == 0)
		return -1; /* an object or an array: not a field value */
	v->kind = J_NUM;
	v->num = j->p;
	v->len = n;
	j->p += n;
	return 0;
}

static struct jval *jnew(struct jparse *j)
{
	if (j->n == j->cap) {
		j->cap = j->cap ? 2 * j->cap : 16;
		j->v = vxrealloc(j->v, j->cap * sizeof *j->v);
	}
	return memset(&j->v[j->n++], 0, sizeof *j->v);
}

/* An object of scalars ("key": value, ...) or, array, an array of scalars: into j->v. */
static int jparse(struct jparse *j, const char *s, bool array)
{
	j->p = s;
	j->n = 0;
	j->text.len = 0;
	vbuf_put(&j->text, "", 0);
	jws(j);
	if (*j->p++ != (array ? '[' : '{'))
		return -1;
	jws(j);
	if (*j->p == (array ? ']' : '}')) {
		j->p++;
		goto end;
	}
	for (;;) {
		struct jval *v = jnew(j);
		jws(j);
		if (!array) {
			if (jstring(j, &v->key, &v->klen) < 0)
				return -1;
			jws(j);
			if (*j->p++ != ':')
				return -1;
		}
		if (jscalar(j, v) < 0)
			return -1;
		jws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != (array ? ']' : '}'))
			return -1;
		break;
	}
end:
	jws(j);
	return *j->p == '\0' ? 0 : -1;
}

static const char *jtext(const struct jparse *j, size_t at)
{
	return j->text.p + at;
}

/* ---- the database's snapshots ----------------------------------------------------- */

/* The columns of the snapshots query, in its order. */
static const char snap_cols[] =
	"id, hostname, service, pid, parent_pid, reason, created_ns, variant, push_path, "
	"capacity, logged, kept, overwritten, dropped, truncated, clipped, in_flight, torn, "
	"clipped_before_ns, file";
enum {
	S_ID,
	S_HOST,
	S_SERVICE,
	S_PID,
	S_PPID,
	S_REASON,
	S_CREATED,
	S_VARIANT,
	S_PUSH,
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
	S_NCOLS
};

struct pgcs {
	uint32_t id;
	size_t nfields;
	int types[TTLOG_MAX_FIELDS];
	char *names[TTLOG_MAX_FIELDS];
};

struct pgsnap {
	int64_t id;
	int row;   /* in the snapshots result */
	bool want; /* passes the snapshot filters (and has events that may pass) */
	char *why; /* why it cannot be shown (NULL: it can) */
	struct pgcs *cs;
	size_t ncs;
	struct vbuf cbor_cs, cbor_ev, cbor_tr; /* callsites, events, truncated: their items */
	size_t nev, ntr;
};

struct pgview {
	const struct vopts *o;
	PGconn *conn;
	PGresult *snaps;
	struct pgsnap *s;
	size_t n;
	struct jparse j;
	bool ok;
};

static void pg_error(const char *what, const char *msg)
{
	struct vbuf b = {0};
	size_t n;

	vbuf_printf(&b, "%s%s%s", what, what[0] ? ": " : "", msg);
	for (n = 0; n < b.len; n++)
		if (b.p[n] == '\n' || b.p[n] == '\t')
			b.p[n] = ' ';
	while (b.len > 0 && b.p[b.len - 1] == ' ')
		b.p[--b.len] = '\0';
	verr_line("--from", b.p);
	vbuf_free(&b);
}

static void res_error(const char *what, const PGresult *res)
{
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	pg_error(what, msg ? msg : PQresultErrorMessage(res));
}

/* A snapshot that cannot be shown: one line, the others go on. */
static void snap_bad(struct pgview *v, struct pgsnap *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void snap_bad(struct pgview *v, struct pgsnap *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (s->why != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	s->why = vxstrdup(msg);
	v->ok = false;
}

static struct pgsnap *snap_by_id(struct pgview *v, int64_t id)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) { /* v->s is by id */
		size_t mid = lo + (hi - lo) / 2;
		if (v->s[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->n && v->s[lo].id == id ? &v->s[lo] : NULL;
}

/* An integer column of res in lo..hi: 0, or -1 (NULL, not a number, out of range). */
static int col_int(const PGresult *res, int row, int col, int64_t lo, int64_t hi, int64_t *out)
{
	const char *s;
	char *end;
	long long v;

	if (PQgetisnull(res, row, col))
		return -1;
	s = PQgetvalue(res, row, col);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* "{1,2,3}": the ids of the snapshots wanted, as a bigint[] parameter. */
static char *id_array(const struct pgview *v)
{
	struct vbuf b = {0};
	bool first = true;

	vbuf_putc(&b, '{');
	for (size_t i = 0; i < v->n; i++)
		if (v->s[i].want) {
			vbuf_printf(&b, "%s%" PRId64, first ? "" : ",", v->s[i].id);
			first = false;
		}
	vbuf_putc(&b, '}');
	return b.p;
}

/* The event filters that SQL can apply as the viewer does: "AND ..." with parameters
 * from $2 on (vals[1..]); the count of parameters. */
struct econd {
	struct vbuf sql;
	const char *vals[5];
	char num[3][24];
	struct vbuf keys;
	int n;
};

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k;

	for (size_t i = 0; i < n; i += k)
		if ((k = ttlog__utf8_seq(p + i, n - i)) == 0)
			return false;
	return true;
}

static void event_conditions(const struct vopts *o, struct econd *c)
{
	size_t nkeys = 0;

	c->n = 1;
	vbuf_put(&c->sql, "", 0);
	if (o->has_since) {
		if (o->since_ns > INT64_MAX) {
			vbuf_printf(&c->sql, " AND false");
		} else {
			snprintf(c->num[0], sizeof c->num[0], "%" PRIu64, o->since_ns);
			c->vals[c->n++] = c->num[0];
			vbuf_printf(&c->sql, " AND time_ns >= $%d", c->n);
		}
	}
	if (o->has_until && o->until_ns <= INT64_MAX) {
		snprintf(c->num[1], sizeof c->num[1], "%" PRIu64, o->until_ns);
		c->vals[c->n++] = c->num[1];
		vbuf_printf(&c->sql, " AND time_ns <= $%d", c->n);
	}
	if (o->min_level > 0) {
		snprintf(c->num[2], sizeof c->num[2], "%d", o->min_level);
		c->vals[c->n++] = c->num[2];
		vbuf_printf(&c->sql, " AND level_num >= $%d", c->n);
	}
	/* the keys of --field, as a text[] literal: present in events.fields (the value is
	 * the viewer's to compare, by the field's type) */
	vbuf_putc(&c->keys, '{');
	for (size_t i = 0; i < o->nfields; i++) {
		const char *k = o->fields[i].key;
		if (!valid_utf8(k)) /* no such key in the database: the viewer says none */
			continue;
		if (nkeys++ > 0)
			vbuf_putc(&c->keys, ',');
		vbuf_putc(&c->keys, '"');
		for (; *k; k++) {
			if (*k == '"' || *k == '\\')
				vbuf_putc(&c->keys, '\\');
			vbuf_putc(&c->keys, *k);
		}
		vbuf_putc(&c->keys, '"');
	}
	vbuf_putc(&c->keys, '}');
	if (nkeys > 0) {
		c->vals[c->n++] = c->keys.p;
		vbuf_printf(&c->sql, " AND fields ?& $%d::text[]", c->n);
	}
}

static bool any_event_filter(const struct econd *c)
{
	return c->sql.len > 0;
}

/* Keep only the wanted snapshots that have an event passing the conditions. */
static bool narrow(struct pgview *v, struct econd *c, const char *ids)
{
	struct vbuf q = {0};
	PGresult *res;
	int64_t id;

	vbuf_printf(&q,
		    "SELECT DISTINCT snapshot_id FROM ttlog.events "
		    "WHERE snapshot_id = ANY($1::bigint[])%s",
		    c->sql.p);
	c->vals[0] = ids;
	res = PQexecParams(v->conn, q.p, c->n, NULL, c->vals, NULL, NULL, 0);
	vbuf_free(&q);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		res_error("ttlog.events", res);
		PQclear(res);
		return false;
	}
	for (size_t i = 0; i < v->n; i++)
		v->s[i].want = false;
	for (int r = 0; r < PQntuples(res); r++) {
		struct pgsnap *s;
		if (col_int(res, r, 0, INT64_MIN, INT64_MAX, &id) == 0 &&
		    (s = snap_by_id(v, id)) != NULL)
			s->want = true;
	}
	PQclear(res);
	return true;
}

static int type_of(const char *name)
{
	static const char *const names[] = {"u64", "i64", "f64", "bool", "str"};
	static const int types[] = {TTLOG_TYPE_U64, TTLOG_TYPE_I64, TTLOG_TYPE_F64, TTLOG_TYPE_BOOL,
				    TTLOG_TYPE_STR};

	for (size_t i = 0; i < 5; i++)
		if (strcmp(name, names[i]) == 0)
			return types[i];
	return -1;
}

/* One callsite row: into the snapshot's callsites (CBOR) and its shapes for the events. */
static void add_callsite(struct pgview *v, struct pgsnap *s, const PGresult *res, int r)
{
	struct jparse *j = &v->j;
	struct pgcs *cs;
	int64_t id, level, line;
	size_t nf;

	if (col_int(res, r, 1, 0, UINT32_MAX, &id) < 0 || col_int(res, r, 2, 0, 255, &level) < 0 ||
	    col_int(res, r, 6, 0, UINT32_MAX, &line) < 0) {
		snap_bad(v, s, "a callsite's id, level or line is out of range");
		return;
	}
	s->cs = vxrealloc(s->cs, (s->ncs + 1) * sizeof *s->cs);
	cs = &s->cs[s->ncs++];
	memset(cs, 0, sizeof *cs);
	cs->id = (uint32_t)id;
	if (jparse(j, PQgetvalue(res, r, 7), true) < 0 || j->n > TTLOG_MAX_FIELDS) {
		snap_bad(v, s, "callsite %" PRId64 ": fields is not an array of names", id);
		return;
	}
	nf = j->n;
	for (size_t i = 0; i < nf; i++) {
		if (j->v[i].kind != J_STR) {
			snap_bad(v, s, "callsite %" PRId64 ": a field name is not a string", id);
			return;
		}
		cs->names[i] = vxstrdup(jtext(j, j->v[i].at));
		cs->nfields = i + 1;
	}
	if (jparse(j, PQgetvalue(res, r, 8), true) < 0 || j->n != nf) {
		snap_bad(v, s, "callsite %" PRId64 ": types does not match its fields", id);
		return;
	}
	for (size_t i = 0; i < nf; i++) {
		if (j->v[i].kind != J_STR || (cs->types[i] = type_of(jtext(j, j->v[i].at))) < 0) {
			snap_bad(v, s, "callsite %" PRId64 ": an unknown field type", id);
			return;
		}
	}
	struct vbuf *b = &s->cbor_cs;
	cb_head(b, CB_MAP, 8);
	cb_str(b, "id");
	cb_head(b, CB_UINT, (uint64_t)id);
	cb_str(b, "level");
	cb_head(b, CB_UINT, (uint64_t)level);
	cb_str(b, "target");
	cb_str(b, PQgetvalue(res, r, 3));
	cb_str(b, "message");
	cb_str(b, PQgetvalue(res, r, 4));
	cb_str(b, "file");
	cb_str(b, PQgetvalue(res, r, 5));
	cb_str(b, "line");
	cb_head(b, CB_UINT, (uint64_t)line);
	cb_str(b, "fields");
	cb_head(b, CB_ARRAY, nf);
	for (size_t i = 0; i < nf; i++)
		cb_str(b, cs->names[i]);
	cb_str(b, "types");
	cb_head(b, CB_ARRAY, nf);
	for (size_t i = 0; i < nf; i++)
		cb_str(b, ttlog_type_name(cs->types[i]));
}

static const struct pgcs *cs_find(const struct pgsnap *s, uint32_t id)
{
	size_t lo = 0, hi = s->ncs;

	while (lo < hi) { /* by id: the query's order */
		size_t mid = lo + (hi - lo) / 2;
		if (s->cs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->ncs && s->cs[lo].id == id ? &s->cs[lo] : NULL;
}

/* The value of field name in the parsed object (the last of that name), or NULL. */
static const struct jval *jfield(const struct jparse *j, const char *name)
{
	for (size_t i = j->n; i-- > 0;)
		if (strcmp(jtext(j, j->v[i].key), name) == 0)
			return &j->v[i];
	return NULL;
}

/* A number token as the field's type into b: 0, or -1 when it is not one. */
static int put_number(struct vbuf *b, int type, const struct jval *jv)
{
	char tok[400], *end;

	if (jv->len >= sizeof tok)
		return -1;
	memcpy(tok, jv->num, jv->len);
	tok[jv->len] = '\0';
	errno = 0;
	if (type == TTLOG_TYPE_U64) {
		if (tok[0] == '-')
			return -1;
		unsigned long long u = strtoull(tok, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
		cb_head(b, CB_UINT, u);
	} else if (type == TTLOG_TYPE_I64) {
		long long i = strtoll(tok, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
		cb_i64(b, i);
	} else {
		double d = strtod(tok, &end);
		if (*end != '\0' || end == tok)
			return -1;
		cb_f64(b, d);
	}
	return 0;
}

/* One event row (time_ns, thread, callsite_id, fields, truncated) into its snapshot. */
static void add_event(struct pgview *v, struct pgsnap *s, const PGresult *res, int r)
{
	struct jparse *j = &v->j;
	const struct pgcs *cs;
	int64_t ts, tid, csid;
	struct vbuf *b = &s->cbor_ev;
	size_t at = b->len;

	if (col_int(res, r, 1, 0, INT64_MAX, &ts) < 0 ||
	    col_int(res, r, 2, 0, UINT32_MAX, &tid) < 0 ||
	    col_int(res, r, 3, 0, UINT32_MAX, &csid) < 0) {
		snap_bad(v, s, "an event's time_ns, thread or callsite_id is out of range");
		return;
	}
	if ((cs = cs_find(s, (uint32_t)csid)) == NULL) {
		snap_bad(v, s, "an event of callsite %" PRId64 ", which it does not have", csid);
		return;
	}
	if (jparse(j, PQgetvalue(res, r, 4), false) < 0) {
		snap_bad(v, s, "an event's fields is not an object of values");
		return;
	}
	cb_head(b, CB_ARRAY, 3 + cs->nfields);
	cb_head(b, CB_UINT, (uint64_t)ts);
	cb_head(b, CB_UINT, (uint64_t)csid);
	cb_head(b, CB_UINT, (uint64_t)tid);
	for (size_t i = 0; i < cs->nfields; i++) {
		const struct jval *jv = jfield(j, cs->names[i]);
		int t = cs->types[i];
		bool ok = jv != NULL;
		if (!ok) {
		} else if (t == TTLOG_TYPE_STR) {
			ok = jv->kind == J_STR;
			if (ok)
				cb_text(b, jtext(j, jv->at), jv->len);
		} else if (t == TTLOG_TYPE_BOOL) {
			ok = jv->kind == J_TRUE || jv->kind == J_FALSE;
			if (ok)
				cb_bool(b, jv->kind == J_TRUE);
		} else if (t == TTLOG_TYPE_F64 && jv->kind == J_NULL) {
			cb_f64(b, NAN); /* NaN or an infinity: JSON has neither */
		} else {
			ok = jv->kind == J_NUM && put_number(b, t, jv) == 0;
		}
		if (!ok) {
			b->len = at;
			snap_bad(v, s, "event at %" PRId64 " ns: field '%.40s' is not its %s", ts,
				 cs->names[i], ttlog_type_name(t));
			return;
		}
	}
	/* truncated: the names of the strings cut */
	if (!PQgetisnull(res, r, 5)) {
		if (jparse(j, PQgetvalue(res, r, 5), true) < 0) {
			b->len = at;
			snap_bad(v, s, "an event's truncated is not an array of names");
			return;
		}
		for (size_t k = 0; k < j->n; k++) {
			if (j->v[k].kind != J_STR)
				continue;
			for (size_t i = 0; i < cs->nfields; i++) {
				if (cs->types[i] != TTLOG_TYPE_STR ||
				    strcmp(cs->names[i], jtext(j, j->v[k].at)) != 0)
					continue;
				cb_head(&s->cbor_tr, CB_ARRAY, 2);
				cb_head(&s->cbor_tr, CB_UINT, s->nev);
				cb_head(&s->cbor_tr, CB_UINT, i);
				s->ntr++;
				break;
			}
		}
	}
	s->nev++;
}

/* The snapshot's row as the top-level map of a snapshot file, then opened. */
static ttlog_snapshot_file *build(struct pgview *v, struct pgsnap *s)
{
	const PGresult *res = v->snaps;
	int r = s->row;
	struct vbuf b = {0};
	int64_t x[S_NCOLS];
	static const int ints[] = {S_PID,    S_CREATED,     S_CAPACITY,
				   S_LOGGED, S_OVERWRITTEN, S_DROPPED};
	static const int opt_counters[] = {S_KEPT, S_TRUNCATED, S_CLIPPED, S_IN_FLIGHT, S_TORN};
	static const char *const opt_names[] = {"kept", "truncated", "clipped", "in_flight",
						"torn"};
	size_t nkeys = 13, ncounters = 3, bound, n;
	ttlog_snapshot_file *snap = NULL;
	char *lz;
	int err;

	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		if (col_int(res, r, ints[i], 0, INT64_MAX, &x[ints[i]]) < 0) {
			snap_bad(v, s, "%s is not a count", PQfname(res, ints[i]));
			return NULL;
		}
	for (int c = S_PPID; c < S_NCOLS; c++) { /* the optional numbers: NULL or a count */
		if (c == S_REASON || c == S_VARIANT || c == S_PUSH || c == S_FILE ||
		    PQgetisnull(res, r, c))
			continue;
		if (col_int(res, r, c, 0, INT64_MAX, &x[c]) < 0) {
			snap_bad(v, s, "%s is not a count", PQfname(res, c));
			return NULL;
		}
	}
	nkeys += !PQgetisnull(res, r, S_PPID) + !PQgetisnull(res, r, S_PUSH) +
		 !PQgetisnull(res, r, S_CLIPPED_BEFORE);
	for (size_t i = 0; i < 5; i++)
		ncounters += !PQgetisnull(res, r, opt_counters[i]);

	cb_head(&b, CB_MAP, nkeys);
	cb_str(&b, "format"), cb_str(&b, "ttlog");
	cb_str(&b, "version"), cb_head(&b, CB_UINT, 1);
	cb_str(&b, "service"), cb_str(&b, PQgetvalue(res, r, S_SERVICE));
	cb_str(&b, "hostname"), cb_str(&b, PQgetvalue(res, r, S_HOST));
	cb_str(&b, "pid"), cb_head(&b, CB_UINT, (uint64_t)x[S_PID]);
	if (!PQgetisnull(res, r, S_PPID))
		cb_str(&b, "parent_pid"), cb_head(&b, CB_UINT, (uint64_t)x[S_PPID]);
	cb_str(&b, "reason"), cb_str(&b, PQgetvalue(res, r, S_REASON));
	cb_str(&b, "created_ns"), cb_head(&b, CB_UINT, (uint64_t)x[S_CREATED]);
	cb_str(&b, "variant"), cb_str(&b, PQgetvalue(res, r, S_VARIANT));
	cb_str(&b, "capacity"), cb_head(&b, CB_UINT, (uint64_t)x[S_CAPACITY]);
	if (!PQgetisnull(res, r, S_PUSH))
		cb_str(&b, "push_path"), cb_str(&b, PQgetvalue(res, r, S_PUSH));
	cb_str(&b, "counters");
	cb_head(&b, CB_MAP, ncounters);
	cb_str(&b, "logged"), cb_head(&b, CB_UINT, (uint64_t)x[S_LOGGED]);
	cb_str(&b, "overwritten"), cb_head(&b, CB_UINT, (uint64_t)x[S_OVERWRITTEN]);
	cb_str(&b, "dropped"), cb_head(&b, CB_UINT, (uint64_t)x[S_DROPPED]);
	for (size_t i = 0; i < 5; i++)
		if (!PQgetisnull(res, r, opt_counters[i]))
			cb_str(&b, opt_names[i]),
				cb_head(&b, CB_UINT, (uint64_t)x[opt_counters[i]]);
	if (!PQgetisnull(res, r, S_CLIPPED_BEFORE))
		cb_str(&b, "clipped_before_ns"),
			cb_head(&b, CB_UINT, (uint64_t)x[S_CLIPPED_BEFORE]);
	cb_str(&b, "callsites"), cb_head(&b, CB_ARRAY, s->ncs);
	vbuf_put(&b, s->cbor_cs.p ? s->cbor_cs.p : "", s->cbor_cs.len);
	cb_str(&b, "events"), cb_head(&b, CB_ARRAY, s->nev);
	vbuf_put(&b, s->cbor_ev.p ? s->cbor_ev.p : "", s->cbor_ev.len);
	cb_str(&b, "truncated"), cb_head(&b, CB_ARRAY, s->ntr);
	vbuf_put(&b, s->cbor_tr.p ? s->cbor_tr.p : "", s->cbor_tr.len);
	vbuf_free(&s->cbor_cs);
	vbuf_free(&s->cbor_ev);
	vbuf_free(&s->cbor_tr);

	/* the reader takes an LZ4 frame, as a file holds */
	bound = LZ4F_compressFrameBound(b.len, NULL);
	lz = vxmalloc(bound);
	n = LZ4F_compressFrame(lz, bound, b.p, b.len, NULL);
	vbuf_free(&b);
	if (LZ4F_isError(n)) {
		snap_bad(v, s, "LZ4: %s", LZ4F_getErrorName(n));
		free(lz);
		return NULL;
	}
	err = ttlog_snapshot_open_mem(lz, n, &snap);
	free(lz);
	if (err < 0) {
		snap_bad(v, s, "%s", ttlog_reader_errmsg());
		return NULL;
	}
	return snap;
}

/* ---- the queries ---------------------------------------------------------------- */

static bool load_snapshots(struct pgview *v)
{
	const struct vopts *o = v->o;
	struct vbuf q = {0};
	size_t n = 0;

	vbuf_printf(&q, "SELECT %s FROM ttlog.snapshots ORDER BY id", snap_cols);
	v->snaps = PQexec(v->conn, q.p);
	vbuf_free(&q);
	if (PQresultStatus(v->snaps) != PGRES_TUPLES_OK) {
		res_error("ttlog.snapshots", v->snaps);
		return false;
	}
	v->s = vxmalloc((size_t)PQntuples(v->snaps) * sizeof *v->s);
	for (int r = 0; r < PQntuples(v->snaps); r++) {
		struct pgsnap *s = &v->s[n];
		const char *svc = PQgetvalue(v->snaps, r, S_SERVICE);
		bool ok = o->nservices == 0;
		for (size_t i = 0; i < o->nservices && !ok; i++)
			ok = fnmatch(o->services[i], svc, 0) == 0;
		if (!ok)
			continue;
		memset(s, 0, sizeof *s);
		if (col_int(v->snaps, r, S_ID, INT64_MIN, INT64_MAX, &s->id) < 0)
			continue;
		s->row = r;
		s->want = true;
		n++;
	}
	v->n = n;
	return true;
}

static bool load_callsites(struct pgview *v, const char *ids)
{
	const char *vals[1] = {ids};
	PGresult *res;
	int64_t id;

	res = PQexecParams(
		v->conn,
		"SELECT snapshot_id, callsite_id, level_num, target, message, file, "
		"line, fields, types FROM ttlog.callsites "
		"WHERE snapshot_id = ANY($1::bigint[]) ORDER BY snapshot_id, callsite_id",
		1, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		res_error("ttlog.callsites", res);
		PQclear(res);
		return false;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		struct pgsnap *s;
		if (col_int(res, r, 0, INT64_MIN, INT64_MAX, &id) == 0 &&
		    (s = snap_by_id(v, id)) != NULL && s->want && s->why == NULL)
			add_callsite(v, s, res, r);
	}
	PQclear(res);
	return true;
}

/* The events, streamed a row at a time (a result of millions of rows is never whole in
 * memory), in each snapshot's order. */
static bool load_events(struct pgview *v, struct econd *c, const char *ids)
{
	struct vbuf q = {0};
	PGresult *res;
	struct pgsnap *s = NULL;
	int64_t id;
	bool ok = true;

	vbuf_printf(&q,
		    "SELECT snapshot_id, time_ns, thread, callsite_id, fields, truncated "
		    "FROM ttlog.events WHERE snapshot_id = ANY($1::bigint[])%s "
		    "ORDER BY snapshot_id, seq",
		    c->sql.p);
	c->vals[0] = ids;
	if (!PQsendQueryParams(v->conn, q.p, c->n, NULL, c->vals, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(v->conn)) {
		vbuf_free(&q);
		pg_error("ttlog.events", PQerrorMessage(v->conn));
		return false;
	}
	vbuf_free(&q);
	while ((res = PQgetResult(v->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE && ok) {
			if (col_int(res, 0, 0, INT64_MIN, INT64_MAX, &id) == 0 &&
			    (s == NULL || s->id != id))
				s = snap_by_id(v, id);
			if (s != NULL && s->want && s->why == NULL)
				add_event(v, s, res, 0);
		} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && ok) {
			res_error("ttlog.events", res);
			ok = false;
		}
		PQclear(res);
	}
	return ok;
}

bool vpg_add(const char *url, const struct vopts *o, struct vsource **src, size_t *nsrc,
	     size_t *cap)
{
	/* the URL's own settings win over our defaults (they come before it), but the text
	 * comes as UTF-8 (after it) */
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname",
				    "client_encoding", NULL};
	const char *const vals[] = {"10", PROG, url, "UTF8", NULL};
	struct pgview v = {.o = o, .ok = true};
	struct econd c = {0};
	char *ids = NULL;
	PGresult *res;

	v.conn = PQconnectdbParams(keys, vals, 1);
	if (v.conn == NULL || PQstatus(v.conn) != CONNECTION_OK) {
		pg_error("", v.conn ? PQerrorMessage(v.conn) : "out of memory");
		PQfinish(v.conn);
		return false;
	}
	/* one consistent view of the tables while ttlog-ship keeps loading */
	res = PQexec(v.conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		res_error("BEGIN", res);
		v.ok = false;
	}
	PQclear(res);
	event_conditions(o, &c);
	if (!v.ok || !load_snapshots(&v))
		goto fail;
	ids = id_array(&v);
	if (any_event_filter(&c)) {
		if (!narrow(&v, &c, ids))
			goto fail;
		free(ids);
		ids = id_array(&v);
	}
	if (!load_callsites(&v, ids) || !load_events(&v, &c, ids))
		goto fail;

	for (size_t i = 0; i < v.n; i++) {
		struct pgsnap *s = &v.s[i];
		ttlog_snapshot_file *snap = NULL;
		const PGresult *r = v.snaps;
		struct vbuf path = {0};

		if (!s->want)
			continue;
		if (PQgetisnull(r, s->row, S_FILE))
			vbuf_printf(&path, "ttlog.snapshots id %" PRId64, s->id);
		else
			vbuf_printf(&path, "%s", PQgetvalue(r, s->row, S_FILE));
		if (s->why == NULL)
			snap = build(&v, s);
		if (snap == NULL) {
			struct vbuf why = {0};
			if (PQgetisnull(r, s->row, S_FILE))
				vbuf_printf(&why, "%s", s->why);
			else
				vbuf_printf(&why, "ttlog.snapshots id %" PRId64 ": %s", s->id,
					    s->why);
			verr_line(path.p, why.p);
			vbuf_free(&why);
			vbuf_free(&path);
			continue;
		}
		if (*nsrc == *cap)
			*src = vxrealloc(*src, (*cap = *cap * 2 + 8) * sizeof **src);
		(*src)[(*nsrc)++] =
			(struct vsource){.path = path.p, .owned_path = path.p, .snap = snap};
	}
	goto out;
fail:
	v.ok = false;
out:
	for (size_t i = 0; i < v.n; i++) {
		struct pgsnap *s = &v.s[i];
		for (size_t k = 0; k < s->ncs; k++)
			for (size_t f = 0; f < s->cs[k].nfields; f++)
				free(s->cs[k].names[f]);
		free(s->cs);
		free(s->why);
		vbuf_free(&s->cbor_cs);
		vbuf_free(&s->cbor_ev);
		vbuf_free(&s->cbor_tr);
	}
	free(v.s);
	free(ids);
	free(v.j.v);
	vbuf_free(&v.j.text);
	vbuf_free(&c.sql);
	vbuf_free(&c.keys);
	PQclear(v.snaps);
	PQfinish(v.conn);
	return v.ok;
}
