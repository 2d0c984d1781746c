/*
 * view_sql.c - ttlog-view --sql QUERY: the snapshots in an in-memory SQLite database with
 * the tables of docs/sql.md (tools/sql_schema.c builds the rows), one read-only statement
 * over them, its result as a table, JSON Lines or CSV.
 *
 * The statement is prepared against the empty tables before any file is read, so that a
 * mistake in it costs nothing; each file is then loaded in its own savepoint as soon as it
 * is opened (and closed right after), so a file that cannot be loaded leaves no row and
 * memory holds one snapshot at a time besides the database.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sql_schema.h"
#include "view.h"

struct vsql {
	sqlite3 *db;
	sqlite3_stmt *query;
	sqlite3_stmt *insert[TSQL_NTABLES];
	sqlite3_stmt *savepoint, *release, *rollback;
	struct tsql_walker walker;
	const struct vopts *o;
	bool user;   /* the authorizer judges the user's statement (else our own) */
	bool denied; /* and refused it */
};

static void sql_error(const char *what, const char *msg)
{
	struct vbuf b = {0};

	vbuf_printf(&b, "%s%s%s", what, what[0] ? ": " : "", msg);
	verr_line("--sql", b.p);
	vbuf_free(&b);
}

/* The user's statement reads: no ATTACH (it would create files), no DETACH. Writes are
 * refused by sqlite3_stmt_readonly() below. */
static int authorize(void *arg, int action, const char *a, const char *b, const char *c,
		     const char *d)
{
	struct vsql *q = arg;

	(void)a, (void)b, (void)c, (void)d;
	if (q->user && (action == SQLITE_ATTACH || action == SQLITE_DETACH)) {
		q->denied = true;
		return SQLITE_DENY;
	}
	return SQLITE_OK;
}

static sqlite3_stmt *prepare(struct vsql *q, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
		sql_error("internal statement", sqlite3_errmsg(q->db));
		return NULL;
	}
	return st;
}

/* INSERT INTO t (columns) VALUES (?, ...); snapshots: ON CONFLICT DO NOTHING RETURNING id
 * (no row back: the database has that snapshot already). */
static sqlite3_stmt *prepare_insert(struct vsql *q, enum tsql_table t)
{
	const struct tsql_column *col;
	struct vbuf b = {0};
	sqlite3_stmt *st;
	size_t n, i;

	col = tsql_columns(t, &n);
	vbuf_printf(&b, "INSERT INTO %s (", tsql_table_name(TSQL_SQLITE, t));
	for (i = 0; i < n; i++)
		vbuf_printf(&b, "%s%s", i ? ", " : "", col[i].name);
	vbuf_printf(&b, ") VALUES (");
	for (i = 0; i < n; i++)
		vbuf_printf(&b, "%s?", i ? ", " : "");
	vbuf_printf(&b, ")%s", t == TSQL_SNAPSHOTS ? " ON CONFLICT DO NOTHING RETURNING id" : "");
	st = prepare(q, b.p);
	vbuf_free(&b);
	return st;
}

static bool only_blank(const char *s)
{
	/* what sqlite3_prepare_v2() leaves after the statement: blanks, comments, a ';' */
	return s == NULL || s[strspn(s, " \t\r\n\f\v;")] == '\0';
}

void vsql_free(struct vsql *q)
{
	if (q == NULL)
		return;
	sqlite3_finalize(q->query);
	for (int t = 0; t < TSQL_NTABLES; t++)
		sqlite3_finalize(q->insert[t]);
	sqlite3_finalize(q->savepoint);
	sqlite3_finalize(q->release);
	sqlite3_finalize(q->rollback);
	sqlite3_close(q->db);
	tsql_walker_free(&q->walker);
	free(q);
}

struct vsql *vsql_prepare(const char *query, const struct vopts *o)
{
	struct vsql *q = vxmalloc(sizeof *q);
	const char *tail = NULL;
	char *errmsg = NULL;
	int rc;

	memset(q, 0, sizeof *q);
	q->o = o;
	/* one thread: no mutex around every call */
	if (sqlite3_open_v2(":memory:", &q->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		sql_error("cannot open an in-memory SQLite database",
			  q->db ? sqlite3_errmsg(q->db) : "out of memory");
		goto fail;
	}
	sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_set_authorizer(q->db, authorize, q);
	if (sqlite3_exec(q->db, tsql_ddl(TSQL_SQLITE), NULL, NULL, &errmsg) != SQLITE_OK) {
		sql_error("the tables", errmsg ? errmsg : sqlite3_errmsg(q->db));
		sqlite3_free(errmsg);
		goto fail;
	}
	for (int t = 0; t < TSQL_NTABLES; t++)
		if ((q->insert[t] = prepare_insert(q, t)) == NULL)
			goto fail;
	if ((q->savepoint = prepare(q, "SAVEPOINT file")) == NULL ||
	    (q->release = prepare(q, "RELEASE file")) == NULL ||
	    (q->rollback = prepare(q, "ROLLBACK TO file")) == NULL)
		goto fail;

	q->user = true;
	rc = sqlite3_prepare_v2(q->db, query, -1, &q->query, &tail);
	q->user = false;
	if (rc != SQLITE_OK) {
		const char *m = sqlite3_errmsg(q->db);
		if (q->denied)
			m = "ATTACH and DETACH are not allowed: the database is in memory and "
			    "holds the snapshots given, for read-only queries";
		sql_error("", m);
		goto fail;
	}
	if (q->query == NULL) {
		sql_error("", "no SQL statement in the query");
		goto fail;
	}
	if (!only_blank(tail)) {
		sqlite3_stmt *next = NULL;
		q->user = true;
		rc = sqlite3_prepare_v2(q->db, tail, -1, &next, NULL);
		q->user = false;
		sqlite3_finalize(next);
		if (rc != SQLITE_OK || next != NULL) {
			sql_error("", "one statement only: the query goes on after its ';'");
			goto fail;
		}
	}
	if (!sqlite3_stmt_readonly(q->query)) {
		sql_error("", "only a read-only statement (SELECT, WITH ... SELECT, EXPLAIN, a "
			      "PRAGMA that reads): the database is in memory, made for this query");
		goto fail;
	}
	if (sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		sql_error("BEGIN", sqlite3_errmsg(q->db));
		goto fail;
	}
	return q;
fail:
	vsql_free(q);
	return NULL;
}

/* ---- loading --------------------------------------------------------------------- */

static int bind_row(sqlite3_stmt *st, enum tsql_table t, const struct tsql_value *row)
{
	size_t n, i;
	int rc = SQLITE_OK;

	tsql_columns(t, &n);
	sqlite3_reset(st);
	for (i = 0; i < n && rc == SQLITE_OK; i++) {
		const struct tsql_value *v = &row[i];
		int at = (int)i + 1;
		if (v->kind == TSQL_NULL)
			rc = sqlite3_bind_null(st, at);
		else if (v->kind == TSQL_INT)
			rc = sqlite3_bind_int64(st, at, v->i);
		else if (v->len > INT32_MAX)
			rc = SQLITE_TOOBIG;
		else /* the text lives until the step below */
			rc = sqlite3_bind_text(st, at, v->s, (int)v->len, SQLITE_STATIC);
	}
	return rc;
}

struct load {
	struct vsql *q;
	char err[512];
};

static int load_fail(struct load *l, const char *what)
{
	snprintf(l->err, sizeof l->err, "SQL: %s: %s", what, sqlite3_errmsg(l->q->db));
	return -EIO;
}

static int load_snapshot(void *ctx, const struct tsql_value *row, int64_t *id)
{
	struct load *l = ctx;
	sqlite3_stmt *st = l->q->insert[TSQL_SNAPSHOTS];
	int rc;

	if (bind_row(st, TSQL_SNAPSHOTS, row) != SQLITE_OK)
		return load_fail(l, "snapshots");
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0; /* loaded already: same hostname, pid and created_ns */
	if (rc != SQLITE_ROW)
		return load_fail(l, "snapshots");
	*id = sqlite3_column_int64(st, 0);
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		return load_fail(l, "snapshots");
	return 1;
}

static int load_row(void *ctx, enum tsql_table t, const struct tsql_value *row)
{
	struct load *l = ctx;
	sqlite3_stmt *st = l->q->insert[t];

	if (bind_row(st, t, row) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
		return load_fail(l, tsql_table_name(TSQL_SQLITE, t));
	return 0;
}

static bool run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE;
}

bool vsql_load(struct vsql *q, struct vsource *src)
{
	struct load l = {.q = q};
	const struct tsql_sink sink = {.ctx = &l, .snapshot = load_snapshot, .row = load_row};
	int err;

	if (!run(q->savepoint)) {
		verr_line(src->path, sqlite3_errmsg(q->db));
		return false;
	}
	err = tsql_walk(&q->walker, src->snap, src->path, &sink);
	for (int t = 0; t < TSQL_NTABLES; t++)
		sqlite3_reset(q->insert[t]);
	if (err < 0) {
		run(q->rollback);
		run(q->release);
		if (l.err[0] == '\0')
			snprintf(l.err, sizeof l.err, "SQL: %s",
				 q->walker.err[0] ? q->walker.err : strerror(-err));
		verr_line(src->path, l.err);
		return false;
	}
	if (!run(q->release)) {
		verr_line(src->path, sqlite3_errmsg(q->db));
		return false;
	}
	return true;
}

/* ---- the result ------------------------------------------------------------------ */

/* The shortest %g form that reads back as the same double. */
static void f64_text(double d, char *buf, size_t len)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return;
	}
}

static void hex_blob(FILE *f, const unsigned char *p, int n)
{
	fputs("x'", f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	putc('\'', f);
}

/* Columns of a value per format: text escaped as the rest of ttlog-view's output. */
static void cell_text(FILE *f, sqlite3_stmt *st, int i, enum vformat fmt)
{
	char num[40];

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER: fprintf(f, "%lld", (long long)sqlite3_column_int64(st, i)); break;
	case SQLITE_FLOAT: {
		double d = sqlite3_column_double(st, i);
		if (fmt == FMT_JSON && !isfinite(d)) {
			fputs("null", f);
			break;
		}
		f64_text(d, num, sizeof num);
		fputs(num, f);
		break;
	}
	case SQLITE_NULL:
		if (fmt == FMT_JSON)
			fputs("null", f);
		break;
	case SQLITE_BLOB: {
		const unsigned char *p = sqlite3_column_blob(st, i);
		int n = sqlite3_column_bytes(st, i);
		if (fmt == FMT_JSON)
			putc('"', f);
		hex_blob(f, p, n);
		if (fmt == FMT_JSON)
			putc('"', f);
		break;
	}
	default: { /* TEXT */
		const char *s = (const char *)sqlite3_column_text(st, i);
		size_t n = (size_t)sqlite3_column_bytes(st, i);
		if (s == NULL)
			s = "", n = 0;
		if (fmt == FMT_JSON)
			vjson_str(f, s, n);
		else if (fmt == FMT_CSV)
			vcsv_str(f, s, n);
		else
			vtext_str(f, s, n, false);
		break;
	}
	}
}

static int text_width(const char *s, size_t n)
{
	int w = 0;

	for (size_t i = 0; i < n; i++)
		w += ((unsigned char)s[i] & 0xc0) != 0x80; /* UTF-8 lead bytes: a column each */
	return w;
}

struct cell {
	size_t off, len;
};

/* The table: every row first (the widths), then the aligned text; numbers right-aligned
 * in a column that holds only numbers. */
static int print_table(struct vsql *q, FILE *out)
{
	sqlite3_stmt *st = q->query;
	int ncol = sqlite3_column_count(st), rc, c;
	struct cell *cells = NULL;
	size_t nrows = 0, cap = 0, r, len = 0;
	int *width = vxmalloc((size_t)ncol * sizeof *width);
	bool *numeric = vxmalloc((size_t)ncol * sizeof *numeric);
	bool *any_value = vxmalloc((size_t)ncol * sizeof *any_value);
	char *text = NULL;
	FILE *ms = open_memstream(&text, &len);

	if (ms == NULL) {
		perror(PROG ": open_memstream");
		exit(1);
	}
	cap = (size_t)ncol * 64;
	cells = vxmalloc(cap * sizeof *cells);
	for (c = 0; c < ncol; c++) { /* the header is row 0 */
		const char *name = sqlite3_column_name(st, c);
		cells[c].off = (size_t)ftell(ms);
		vtext_str(ms, name, strlen(name), false);
		cells[c].len = (size_t)ftell(ms) - cells[c].off;
		numeric[c] = true; /* until a value says otherwise */
		any_value[c] = false;
	}
	nrows = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((nrows + 1) * (size_t)ncol > cap) {
			cap *= 2;
			cells = vxrealloc(cells, cap * sizeof *cells);
		}
		for (c = 0; c < ncol; c++) {
			struct cell *cl = &cells[nrows * (size_t)ncol + (size_t)c];
			int type = sqlite3_column_type(st, c);
			if (type != SQLITE_NULL) {
				any_value[c] = true;
				numeric[c] &= type == SQLITE_INTEGER || type == SQLITE_FLOAT;
			}
			cl->off = (size_t)ftell(ms);
			cell_text(ms, st, c, FMT_TABLE);
			cl->len = (size_t)ftell(ms) - cl->off;
		}
		nrows++;
	}
	if (fclose(ms) != 0) {
		perror(PROG ": open_memstream");
		exit(1);
	}
	for (c = 0; c < ncol; c++) {
		numeric[c] = numeric[c] && any_value[c];
		width[c] = 0;
		for (r = 0; r < nrows; r++) {
			const struct cell *cl = &cells[r * (size_t)ncol + (size_t)c];
			int w = text_width(text + cl->off, cl->len);
			if (w > width[c])
				width[c] = w;
		}
	}
	if (rc != SQLITE_DONE || ncol == 0) /* an error, said by the caller; or no column */
		nrows = 0;
	for (r = 0; r < nrows; r++) {
		int blank = 0; /* spaces owed: written before the next text, none at the end */
		for (c = 0; c < ncol; c++) {
			const struct cell *cl = &cells[r * (size_t)ncol + (size_t)c];
			int pad = width[c] - text_width(text + cl->off, cl->len);
			blank += c > 0 ? 2 : 0;
			if (numeric[c])
				blank += pad;
			if (cl->len > 0) {
				fprintf(out, "%*s", blank, "");
				fwrite(text + cl->off, 1, cl->len, out);
				blank = 0;
			}
			if (!numeric[c])
				blank += pad;
		}
		putc('\n', out);
		if (r == 0) { /* under the header */
			for (c = 0; c < ncol; c++) {
				if (c > 0)
					fputs("  ", out);
				for (int k = 0; k < width[c]; k++)
					putc('-', out);
			}
			putc('\n', out);
		}
	}
	free(text);
	free(cells);
	free(width);
	free(numeric);
	free(any_value);
	return rc;
}

static int print_rows(struct vsql *q, FILE *out)
{
	sqlite3_stmt *st = q->query;
	enum vformat fmt = q->o->format;
	int ncol = sqlite3_column_count(st), rc, c;

	if (fmt == FMT_CSV && ncol > 0) {
		for (c = 0; c < ncol; c++) {
			const char *name = sqlite3_column_name(st, c);
			if (c > 0)
				putc(',', out);
			vcsv_str(out, name, strlen(name));
		}
		putc('\n', out);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (fmt == FMT_JSON)
			putc('{', out);
		for (c = 0; c < ncol; c++) {
			if (c > 0)
				putc(',', out);
			if (fmt == FMT_JSON) {
				vjson_cstr(out, sqlite3_column_name(st, c));
				putc(':', out);
			}
			cell_text(out, st, c, fmt);
		}
		if (fmt == FMT_JSON)
			putc('}', out);
		putc('\n', out);
		if (ferror(out))
			return SQLITE_DONE; /* main() reports the write error */
	}
	return rc;
}

int vsql_finish(struct vsql *q)
{
	int rc;

	if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sql_error("COMMIT", sqlite3_errmsg(q->db));
		return 1;
	}
	if (q->o->format == FMT_TABLE)
		rc = print_table(q, stdout);
	else
		rc = print_rows(q, stdout);
	if (rc != SQLITE_DONE) {
		sql_error("", sqlite3_errmsg(q->db));
		return 1;
	}
	return 0;
}
