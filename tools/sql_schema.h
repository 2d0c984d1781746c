/*
 * sql_schema.h - ttlog snapshots as SQL rows (docs/sql.md): one schema, tables snapshots,
 * callsites and events, for two engines: SQLite (ttlog-view --sql) and PostgreSQL
 * (ttlog-ship, schema "ttlog"). The DDL of each dialect, the columns of each table, and
 * the walk that turns one open snapshot into rows live here, once; a loader only binds
 * the values its engine's way.
 *
 * Values are engine-neutral: integers fit a signed 64-bit column (a file with a number
 * above 2^63-1 where a column needs it is refused, -ERANGE), and text is valid UTF-8
 * without NUL (what PostgreSQL's text and jsonb accept): a byte of a file's string that
 * is not UTF-8, and a NUL, become U+FFFD. Nothing else is changed: control characters are
 * stored as they are and escaped by whoever prints them.
 *
 * Not thread-safe across calls that share a struct tsql_walker; no global state.
 */
#ifndef TTLOG_TOOLS_SQL_SCHEMA_H
#define TTLOG_TOOLS_SQL_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ttlog/reader.h>

enum tsql_dialect { TSQL_SQLITE, TSQL_POSTGRES };
enum tsql_table { TSQL_SNAPSHOTS, TSQL_CALLSITES, TSQL_EVENTS, TSQL_NTABLES };

/* TSQL_JSON is text holding one JSON value (jsonb in PostgreSQL, TEXT in SQLite). */
enum tsql_kind { TSQL_NULL, TSQL_INT, TSQL_TEXT, TSQL_JSON };

struct tsql_column {
	const char *name;
	enum tsql_kind kind; /* of its values when not NULL */
	bool nullable;
};

struct tsql_value {
	enum tsql_kind kind; /* TSQL_NULL: SQL NULL */
	int64_t i;
	const char *s; /* TEXT and JSON: s[len] is a NUL, s[0..len) holds none */
	size_t len;
};

/* The most columns a table has. */
#define TSQL_MAX_COLUMNS 24

/*
 * The DDL of a dialect: CREATE ... IF NOT EXISTS of the tables (and, for PostgreSQL, the
 * schema and an index), statements ended by ";", to run as one script (sqlite3_exec(),
 * PQexec()). Running it on a database that has the tables changes nothing.
 */
const char *tsql_ddl(enum tsql_dialect d);

/* A table's name ("snapshots"; PostgreSQL qualifies it: "ttlog.snapshots"). */
const char *tsql_table_name(enum tsql_dialect d, enum tsql_table t);

/*
 * The columns of the rows tsql_walk() gives for table t, in their order (*n of them).
 * The rows of snapshots leave out id: the database assigns it (INTEGER PRIMARY KEY,
 * an identity column) and the loader hands it back (struct tsql_sink). The rows of
 * callsites and events start with that snapshot_id.
 */
const struct tsql_column *tsql_columns(enum tsql_table t, size_t *n);

/*
 * Where the rows go. snapshot() gets the snapshot's row first and returns 1 with *id set
 * to the id the database gave it (the other rows then follow, with that snapshot_id), 0
 * when the database has the snapshot already (same hostname, pid and created_ns: nothing
 * more is loaded), or a negative errno to stop. row() gets each callsite row, then each
 * event row in file order (oldest first); 0 or a negative errno to stop. The values live
 * until the callback returns.
 */
struct tsql_sink {
	void *ctx;
	int (*snapshot)(void *ctx, const struct tsql_value *row, int64_t *id);
	int (*row)(void *ctx, enum tsql_table t, const struct tsql_value *row);
};

/* The buffers a walk reuses from row to row: {0} to start, tsql_walker_free() at the
 * end. One walker per thread. */
struct tsql_buf {
	char *p;
	size_t len, cap;
};
struct tsql_walker {
	struct tsql_buf col[TSQL_MAX_COLUMNS]; /* a column's text when it had to be made */
	struct tsql_buf scratch;
	char sec_text[32]; /* YYYY-mm-ddTHH:MM:SS of sec, the last second written */
	int64_t sec;
	bool has_sec;
	char err[256]; /* why the last walk failed */
};
void tsql_walker_free(struct tsql_walker *w);

/*
 * Turn an open snapshot into rows (rewinds it first; the iteration is left at its end).
 * file: stored in snapshots.file (NULL: SQL NULL). Returns 0; a negative value a
 * callback returned; -ERANGE when a number does not fit its column (w->err says which);
 * -ENOMEM. A failure after snapshot() returned 1 leaves some of the snapshot's rows
 * loaded: run each walk in a transaction (or a savepoint) and roll it back on failure.
 */
int tsql_walk(struct tsql_walker *w, ttlog_snapshot_file *snap, const char *file,
	      const struct tsql_sink *sink);

/*
 * The one JSON encoder of events.fields (a loader or a test may call it alone): the
 * fields as an object, name: typed value (u64 and i64 as integers, f64 as the shortest
 * decimal that reads back the same, null for NaN and infinities, bool, str as a string),
 * appended to b. ttlog-view --json writes the same object, except that a NUL in a string
 * is \u0000 there and U+FFFD here (PostgreSQL's jsonb refuses \u0000). -ENOMEM or 0.
 */
int tsql_fields_json(const ttlog_event *ev, struct tsql_buf *b);

/*
 * One row in PostgreSQL's COPY text format (tab between values, \N for NULL, backslash,
 * newline, carriage return and tab escaped, a newline at the end), appended to b: for a
 * loader that streams rows with COPY ... FROM STDIN. -ENOMEM or 0.
 */
int tsql_copy_row(const struct tsql_value *row, size_t n, struct tsql_buf *b);

/* The name ttlog-view shows for a level: "TRACE".."FATAL", "L6".."L255" beyond. buf holds
 * at least 8 bytes. */
const char *tsql_level_name(int level, char *buf);

#endif /* TTLOG_TOOLS_SQL_SCHEMA_H */
