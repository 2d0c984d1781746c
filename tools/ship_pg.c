/*
 * ship_pg.c - the PostgreSQL destination of ttlog-ship: postgresql://... and postgres://...
 * (a libpq connection URI, given to libpq as it is). Each snapshot goes into the tables of
 * docs/sql.md (schema ttlog; rows from tools/sql_schema.c) in one transaction:
 *
 *   BEGIN
 *   INSERT INTO ttlog.snapshots ... ON CONFLICT (hostname, pid, created_ns) DO NOTHING
 *     RETURNING id          no row: the database has this snapshot, COMMIT and done
 *   COPY ttlog.callsites FROM STDIN, COPY ttlog.events FROM STDIN
 *   COMMIT                  its success is the acknowledgement
 *
 * A delivery torn anywhere (the server or the agent killed, a timeout) leaves nothing: the
 * transaction is not committed. A COMMIT whose answer is lost may have happened: the
 * snapshot is sent again, and the identity makes that a no-op. So the rows of every
 * snapshot are in the database exactly once, whatever fails when.
 *
 * One connection, kept between deliveries and dropped on any failure (which rolls the
 * transaction back on the server); the tables are created once per connection when they
 * are missing. Every wait is bounded by --timeout (libpq in non-blocking mode, poll()):
 * a server that stops answering is a failure, never a hang. Server-side, statement_timeout,
 * lock_timeout and idle_in_transaction_session_timeout are set to the same (the statement
 * timeout of a delivery grows with its snapshot's events: its COPY is one statement).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "ship.h"
#include "sql_schema.h"

/* COPY data gathered before it is handed to libpq */
#define COPY_BYTES (64 * 1024)

/* pg_advisory_xact_lock key that serialises the DDL of agents starting together
 * (concurrent CREATE ... IF NOT EXISTS can fail on the catalog's unique indexes) */
#define DDL_LOCK_KEY 0x74746c6f67 /* "ttlog" */

struct pg_dest {
	char *url;
	char timeout_text[16]; /* --timeout in seconds, for connect_timeout */
	int timeout_ms;
	PGconn *conn; /* NULL: not connected */
	struct tsql_walker walker;
	struct tsql_buf copy; /* COPY rows not yet handed to libpq */
	char *insert_sql, *copy_sql[TSQL_NTABLES];
	/* one delivery */
	enum tsql_table copying; /* the table of the COPY in progress; TSQL_NTABLES: none */
	struct ship_sent *sent;
	char *err;
	size_t errlen;
	bool reject; /* the failure is this snapshot's data (SQLSTATE class 22) */
};

/* ---- errors ---------------------------------------------------------------------- */

/* s on one line: runs of white space (libpq's messages end in a newline and may hold
 * several lines, the next one indented) become one space, none at the end. */
static void one_line(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		bool space = *p == ' ' || *p == '\n' || *p == '\t' || *p == '\r';
		if (space && (w == s || w[-1] == ' '))
			continue;
		*w++ = space ? ' ' : *p;
	}
	while (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
}

/* what: msg, on one line. */
static void set_err(struct pg_dest *d, const char *what, const char *msg)
{
	snprintf(d->err, d->errlen, "%s%s%s", what, what[0] ? ": " : "", msg ? msg : "");
	one_line(d->err);
}

static void conn_err(struct pg_dest *d, const char *what)
{
	set_err(d, what, PQerrorMessage(d->conn));
}

/* The server's error in res: its primary message and SQLSTATE; class 22 (data exception:
 * a value this snapshot holds) makes the failure the snapshot's. */
static void result_err(struct pg_dest *d, const char *what, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char buf[512];

	if (msg == NULL) {
		set_err(d, what,
			PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
						     : PQresStatus(PQresultStatus(res)));
		return;
	}
	snprintf(buf, sizeof buf, "%s (SQLSTATE %s)", msg, state ? state : "?");
	set_err(d, what, buf);
	if (state != NULL && strncmp(state, "22", 2) == 0)
		d->reject = true;
}

static void quiet(void *arg, const char *msg)
{
	(void)arg, (void)msg; /* NOTICEs of CREATE ... IF NOT EXISTS: nothing to say */
}

/* ---- waiting: every wait bounded by the timeout ---------------------------------- */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Wait until the connection's socket is ready for events: 1, 0 on timeout, -1 error. */
static int wait_sock(struct pg_dest *d, short events)
{
	int64_t end = now_ms() + d->timeout_ms, left;
	struct pollfd p = {.fd = PQsocket(d->conn), .events = events};
	int rc;

	if (p.fd < 0) {
		set_err(d, "connection", "no socket");
		return -1;
	}
	for (;;) {
		left = end - now_ms();
		rc = poll(&p, 1, left < 0 ? 0 : (int)left);
		if (rc > 0)
			return 1;
		if (rc == 0) {
			set_err(d, "server", "no answer: timed out");
			return 0;
		}
		if (errno != EINTR) { /* a signal: the agent stops after this delivery */
			set_err(d, "poll", strerror(errno));
			return -1;
		}
	}
}

/* Everything libpq holds for the server sent (reading what comes meanwhile, so that a
 * server blocked on its own output cannot deadlock us). 0 or -1. */
static int flush_all(struct pg_dest *d)
{
	int rc;

	while ((rc = PQflush(d->conn)) == 1) {
		if (wait_sock(d, POLLIN | POLLOUT) <= 0)
			return -1;
		if (!PQconsumeInput(d->conn)) {
			conn_err(d, "receive");
			return -1;
		}
	}
	if (rc < 0) {
		conn_err(d, "send");
		return -1;
	}
	return 0;
}

/* The next result of the command sent (NULL: no more, or a failure with d->err set, told
 * apart by *failed). */
static PGresult *next_result(struct pg_dest *d, bool *failed)
{
	*failed = false;
	if (flush_all(d) < 0)
		goto fail;
	while (PQisBusy(d->conn)) {
		if (wait_sock(d, POLLIN) <= 0)
			goto fail;
		if (!PQconsumeInput(d->conn)) {
			conn_err(d, "receive");
			goto fail;
		}
	}
	return PQgetResult(d->conn);
fail:
	*failed = true;
	return NULL;
}

/* Read the results of a command to their end: 0 when each had status want (the last is
 * kept in *last when last is not NULL), else -1 with d->err set. A statement that returns
 * rows passes for a command (the SELECT of a script). */
static int finish(struct pg_dest *d, const char *what, ExecStatusType want, PGresult **last)
{
	PGresult *res;
	bool failed, bad = false;

	if (last != NULL)
		*last = NULL;
	while ((res = next_result(d, &failed)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (!bad && st != want && !(want == PGRES_COMMAND_OK && st == PGRES_TUPLES_OK)) {
			result_err(d, what, res);
			bad = true;
		}
		if (last != NULL && !bad) {
			PQclear(*last);
			*last = res;
		} else {
			PQclear(res);
		}
	}
	if (failed || bad) {
		if (last != NULL) {
			PQclear(*last);
			*last = NULL;
		}
		return -1;
	}
	return 0;
}

/* Run sql (what: its name in an error message). */
static int exec(struct pg_dest *d, const char *what, const char *sql, ExecStatusType want,
		PGresult **last)
{
	if (!PQsendQuery(d->conn, sql)) {
		conn_err(d, what);
		return -1;
	}
	return finish(d, what, want, last);
}

/* ---- the connection -------------------------------------------------------------- */

static void disconnect(struct pg_dest *d)
{
	PQfinish(d->conn); /* an open transaction is rolled back by the server */
	d->conn = NULL;
}

/* Connect (the whole handshake within the timeout), set the session's timeouts, create
 * the tables when they are missing. */
static int connect_db(struct pg_dest *d)
{
	/* our connect_timeout and name first: the URL's own override them; client_encoding
	 * after: the rows are UTF-8 */
	const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname",
				    "client_encoding", NULL};
	const char *const vals[] = {d->timeout_text, PROG, d->url, "UTF8", NULL};
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGresult *res = NULL;
	char sql[256];
	int rc;

	d->conn = PQconnectStartParams(keys, vals, 1);
	if (d->conn == NULL) {
		set_err(d, "connect", "out of memory");
		return -1;
	}
	if (PQstatus(d->conn) == CONNECTION_BAD) {
		conn_err(d, "connect");
		goto fail;
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			conn_err(d, "connect");
			goto fail;
		}
		rc = wait_sock(d, st == PGRES_POLLING_READING ? POLLIN : POLLOUT);
		if (rc <= 0) {
			if (rc == 0)
				set_err(d, "connect", "timed out");
			goto fail;
		}
		st = PQconnectPoll(d->conn);
	}
	PQsetNoticeProcessor(d->conn, quiet, NULL);
	if (PQsetnonblocking(d->conn, 1) != 0) {
		conn_err(d, "connect");
		goto fail;
	}
	snprintf(sql, sizeof sql,
		 "SET statement_timeout = %d; SET lock_timeout = %d; "
		 "SET idle_in_transaction_session_timeout = %d",
		 d->timeout_ms, d->timeout_ms, d->timeout_ms);
	if (exec(d, "SET", sql, PGRES_COMMAND_OK, NULL) < 0)
		goto fail;
	/* the DDL only when a table is missing: CREATE SCHEMA needs a privilege an agent's
	 * role may lack, and CREATE INDEX IF NOT EXISTS locks out the other agents' loads */
	if (exec(d, "looking for the tables",
		 "SELECT to_regclass('ttlog.snapshots') IS NULL OR "
		 "to_regclass('ttlog.callsites') IS NULL OR to_regclass('ttlog.events') IS NULL",
		 PGRES_TUPLES_OK, &res) < 0)
		goto fail;
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		char *ddl = malloc(strlen(tsql_ddl(TSQL_POSTGRES)) + 128);
		if (ddl == NULL) {
			set_err(d, "DDL", "out of memory");
			goto fail;
		}
		/* one simple query: one transaction, the lock held to its end */
		sprintf(ddl, "SELECT pg_advisory_xact_lock(%lld);\n%s", (long long)DDL_LOCK_KEY,
			tsql_ddl(TSQL_POSTGRES));
		rc = exec(d, "creating the tables", ddl, PGRES_COMMAND_OK, NULL);
		free(ddl);
		if (rc < 0)
			goto fail;
	}
	PQclear(res);
	return 0;
fail:
	PQclear(res);
	disconnect(d);
	return -1;
}

/* ---- open and close -------------------------------------------------------------- */

/* INSERT INTO ttlog.snapshots (cols) VALUES ($1, ...) ON CONFLICT ... RETURNING id, and
 * COPY t (cols) FROM STDIN for the other tables. */
static char *make_sql(enum tsql_table t)
{
	const struct tsql_column *col;
	size_t n, len = 128;
	char *s, *p;

	col = tsql_columns(t, &n);
	for (size_t i = 0; i < n; i++)
		len += strlen(col[i].name) + 12;
	if ((s = malloc(len)) == NULL)
		return NULL;
	p = s + sprintf(s, "%s %s (", t == TSQL_SNAPSHOTS ? "INSERT INTO" : "COPY",
			tsql_table_name(TSQL_POSTGRES, t));
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? ", " : "", col[i].name);
	if (t != TSQL_SNAPSHOTS) {
		strcpy(p, ") FROM STDIN");
		return s;
	}
	p += sprintf(p, ") VALUES (");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s$%zu", i ? ", " : "", i + 1);
	strcpy(p, ") ON CONFLICT (hostname, pid, created_ns) DO NOTHING RETURNING id");
	return s;
}

static void close_dest(void *ctx)
{
	struct pg_dest *d = ctx;

	if (d == NULL)
		return;
	if (d->conn != NULL)
		disconnect(d);
	tsql_walker_free(&d->walker);
	free(d->copy.p);
	free(d->insert_sql);
	for (int t = 0; t < TSQL_NTABLES; t++)
		free(d->copy_sql[t]);
	free(d->url);
	free(d);
}

static int open_dest(const char *url, const struct ship_opts *o, void **ctx, char *err,
		     size_t errlen)
{
	struct pg_dest *d;
	PQconninfoOption *opts;
	char *msg = NULL;

	/* the URL's syntax now (a usage error); the server only at the first delivery */
	if ((opts = PQconninfoParse(url, &msg)) == NULL) {
		snprintf(err, errlen, "%s: not a PostgreSQL connection URI: %s", url,
			 msg ? msg : "out of memory");
		one_line(err);
		PQfreemem(msg);
		return msg ? -EINVAL : -ENOMEM;
	}
	PQconninfoFree(opts);
	if ((d = calloc(1, sizeof *d)) == NULL)
		return -ENOMEM;
	d->url = strdup(url);
	d->timeout_ms = o->timeout_s * 1000;
	snprintf(d->timeout_text, sizeof d->timeout_text, "%d", o->timeout_s);
	d->insert_sql = make_sql(TSQL_SNAPSHOTS);
	d->copy_sql[TSQL_CALLSITES] = make_sql(TSQL_CALLSITES);
	d->copy_sql[TSQL_EVENTS] = make_sql(TSQL_EVENTS);
	if (d->url == NULL || d->insert_sql == NULL || d->copy_sql[TSQL_CALLSITES] == NULL ||
	    d->copy_sql[TSQL_EVENTS] == NULL) {
		close_dest(d);
		return -ENOMEM;
	}
	*ctx = d;
	return 0;
}

/* ---- delivery -------------------------------------------------------------------- */

/* Hand the gathered COPY rows to libpq and the server. */
static int copy_put(struct pg_dest *d)
{
	int rc;

	if (d->copy.len == 0)
		return 0;
	while ((rc = PQputCopyData(d->conn, d->copy.p, (int)d->copy.len)) == 0)
		if (flush_all(d) < 0 || wait_sock(d, POLLOUT) <= 0)
			return -1;
	if (rc < 0) {
		conn_err(d, "COPY");
		return -1;
	}
	d->sent->bytes += d->copy.len;
	d->copy.len = 0;
	return flush_all(d);
}

static int copy_end(struct pg_dest *d)
{
	int rc;

	if (d->copying == TSQL_NTABLES)
		return 0;
	if (copy_put(d) < 0)
		return -1;
	while ((rc = PQputCopyEnd(d->conn, NULL)) == 0)
		if (flush_all(d) < 0 || wait_sock(d, POLLOUT) <= 0)
			return -1;
	if (rc < 0) {
		conn_err(d, "COPY");
		return -1;
	}
	d->copying = TSQL_NTABLES;
	return finish(d, "COPY", PGRES_COMMAND_OK, NULL);
}

static int copy_begin(struct pg_dest *d, enum tsql_table t)
{
	PGresult *res;
	bool failed;
	int rc = 0;

	if (!PQsendQuery(d->conn, d->copy_sql[t])) {
		conn_err(d, "COPY");
		return -1;
	}
	if ((res = next_result(d, &failed)) == NULL) {
		if (!failed)
			set_err(d, "COPY", "no answer");
		return -1;
	}
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		result_err(d, "COPY", res);
		rc = -1;
	}
	PQclear(res);
	if (rc == 0)
		d->copying = t;
	return rc;
}

/* tsql_sink.snapshot: the snapshot's row; 1 with its id, 0 when the database has it. */
static int sink_snapshot(void *ctx, const struct tsql_value *row, int64_t *id)
{
	struct pg_dest *d = ctx;
	const char *vals[TSQL_MAX_COLUMNS];
	char nums[TSQL_MAX_COLUMNS][24];
	PGresult *res;
	size_t n;
	int rc = 1;

	tsql_columns(TSQL_SNAPSHOTS, &n);
	for (size_t i = 0; i < n; i++) {
		if (row[i].kind == TSQL_NULL) {
			vals[i] = NULL;
		} else if (row[i].kind == TSQL_INT) {
			snprintf(nums[i], sizeof nums[i], "%" PRId64, row[i].i);
			vals[i] = nums[i];
		} else {
			vals[i] = row[i].s; /* NUL-terminated, holds no NUL */
		}
	}
	if (!PQsendQueryParams(d->conn, d->insert_sql, (int)n, NULL, vals, NULL, NULL, 0)) {
		conn_err(d, "INSERT");
		return -EIO;
	}
	if (finish(d, "INSERT INTO ttlog.snapshots", PGRES_TUPLES_OK, &res) < 0)
		return -EIO;
	if (PQntuples(res) == 0) {
		rc = 0; /* there already: nothing more to load */
	} else {
		char *end;
		errno = 0;
		*id = strtoll(PQgetvalue(res, 0, 0), &end, 10);
		if (errno != 0 || *end != '\0') {
			set_err(d, "INSERT", "the id returned is not a number");
			rc = -EIO;
		}
	}
	PQclear(res);
	return rc;
}

/* tsql_sink.row: a callsite or an event, into the COPY of its table. */
static int sink_row(void *ctx, enum tsql_table t, const struct tsql_value *row)
{
	struct pg_dest *d = ctx;
	size_t n;

	if (t != d->copying && (copy_end(d) < 0 || copy_begin(d, t) < 0))
		return -EIO;
	tsql_columns(t, &n);
	if (tsql_copy_row(row, n, &d->copy) < 0) {
		set_err(d, "COPY", "out of memory");
		return -ENOMEM;
	}
	if (t == TSQL_EVENTS)
		d->sent->messages++;
	if (d->copy.len >= COPY_BYTES && copy_put(d) < 0)
		return -EIO;
	return 0;
}

static enum ship_result deliver(void *ctx, const struct ship_snap *s, struct ship_sent *sent,
				char *err, size_t errlen)
{
	struct pg_dest *d = ctx;
	const struct tsql_sink sink = {.ctx = d, .snapshot = sink_snapshot, .row = sink_row};
	char begin[96];
	int rc;

	sent->messages = sent->bytes = 0;
	d->sent = sent;
	d->err = err;
	d->errlen = errlen;
	d->reject = false;
	d->copying = TSQL_NTABLES;
	d->copy.len = 0;
	/* the statements' limit grows with the snapshot: the COPY of its events is one
	 * statement, as long as the events take to stream (a floor of 10,000 a second) */
	snprintf(begin, sizeof begin, "BEGIN; SET LOCAL statement_timeout = %" PRIu64,
		 (uint64_t)d->timeout_ms + ttlog_snapshot_event_count(s->snap) / 10);
	if (d->conn != NULL && exec(d, "BEGIN", begin, PGRES_COMMAND_OK, NULL) < 0) {
		/* a kept connection the server closed meanwhile (a restart, an idle timeout):
		 * nothing was sent on it for this snapshot, a new one is tried at once */
		disconnect(d);
	} else if (d->conn != NULL) {
		goto walk;
	}
	if (connect_db(d) < 0)
		return SHIP_RETRY;
	if (exec(d, "BEGIN", begin, PGRES_COMMAND_OK, NULL) < 0)
		goto fail;
walk:
	rc = tsql_walk(&d->walker, s->snap, s->path, &sink);
	if (rc == -ERANGE) { /* a number no bigint holds: this snapshot, never */
		set_err(d, "", d->walker.err);
		d->reject = true;
		goto fail;
	}
	if (rc < 0) {
		if (rc == -ENOMEM)
			set_err(d, "", "out of memory");
		goto fail;
	}
	if (copy_end(d) < 0 || exec(d, "COMMIT", "COMMIT", PGRES_COMMAND_OK, NULL) < 0)
		goto fail;
	return SHIP_OK;
fail:
	/* whatever state the session is in (a COPY half sent, an aborted transaction):
	 * closing it rolls back on the server, and the next delivery starts afresh */
	disconnect(d);
	return d->reject ? SHIP_REJECT : SHIP_RETRY;
}

const struct ship_dest_ops ship_pg_ops = {
	.scheme = "postgresql",
	.open = open_dest,
	.deliver = deliver,
	.close = close_dest,
};

const struct ship_dest_ops ship_postgres_ops = {
	.scheme = "postgres",
	.open = open_dest,
	.deliver = deliver,
	.close = close_dest,
};
