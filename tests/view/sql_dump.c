/*
 * sql_dump.c - tools/sql_schema.c seen from outside ttlog-view, for tests/view/test_sql.sh:
 *
 *   sql_dump ddl sqlite|postgresql   the DDL of a dialect
 *   sql_dump columns                 "table column kind nullable" a line, every table
 *   sql_dump copy FILE...            a psql script that loads the files into an empty
 *                                    PostgreSQL database with the DDL applied: one COPY
 *                                    per table and file, in tsql_copy_row()'s format
 *                                    (snapshot ids 1, 2, ... in the order of the files,
 *                                    as a fresh identity column gives them)
 *
 * Exit status 0, 1 when a file could not be read or walked (a line on stderr; the rows
 * of a file that failed half-way are in the script: give it good files only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ttlog/reader.h>

#include "../../tools/sql_schema.h"

struct dump {
	int64_t next_id;
	enum tsql_table current; /* the COPY that is open, TSQL_NTABLES: none */
	struct tsql_buf line;
};

static void copy_to(struct dump *d, enum tsql_table t)
{
	const struct tsql_column *col;
	size_t n;

	if (d->current == t)
		return;
	if (d->current != TSQL_NTABLES)
		fputs("\\.\n", stdout);
	col = tsql_columns(t, &n);
	printf("COPY %s (", tsql_table_name(TSQL_POSTGRES, t));
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", col[i].name);
	printf(") FROM STDIN;\n");
	d->current = t;
}

static int put_row(struct dump *d, enum tsql_table t, const struct tsql_value *row)
{
	size_t n;
	int err;

	tsql_columns(t, &n);
	copy_to(d, t);
	d->line.len = 0;
	if ((err = tsql_copy_row(row, n, &d->line)) < 0)
		return err;
	fwrite(d->line.p, 1, d->line.len, stdout);
	return 0;
}

static int on_snapshot(void *ctx, const struct tsql_value *row, int64_t *id)
{
	struct dump *d = ctx;
	int err;

	if ((err = put_row(d, TSQL_SNAPSHOTS, row)) < 0)
		return err;
	*id = d->next_id++;
	return 1;
}

static int on_row(void *ctx, enum tsql_table t, const struct tsql_value *row)
{
	return put_row(ctx, t, row);
}

int main(int argc, char **argv)
{
	struct dump d = {.next_id = 1, .current = TSQL_NTABLES};
	const struct tsql_sink sink = {.ctx = &d, .snapshot = on_snapshot, .row = on_row};
	struct tsql_walker w = {0};
	int status = 0;

	if (argc == 3 && strcmp(argv[1], "ddl") == 0) {
		fputs(tsql_ddl(strcmp(argv[2], "postgresql") == 0 ? TSQL_POSTGRES : TSQL_SQLITE),
		      stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "columns") == 0) {
		static const char *const kinds[] = {"null", "int", "text", "json"};
		for (int t = 0; t < TSQL_NTABLES; t++) {
			size_t n;
			const struct tsql_column *col = tsql_columns(t, &n);
			for (size_t i = 0; i < n; i++)
				printf("%s %s %s %s\n", tsql_table_name(TSQL_SQLITE, t), col[i].name,
				       kinds[col[i].kind], col[i].nullable ? "null" : "not-null");
		}
		return 0;
	}
	if (argc < 3 || strcmp(argv[1], "copy") != 0) {
		fprintf(stderr, "usage: sql_dump ddl sqlite|postgresql | columns | copy FILE...\n");
		return 2;
	}
	for (int a = 2; a < argc; a++) {
		ttlog_snapshot_file *snap;
		int err = ttlog_snapshot_open(argv[a], &snap);
		if (err < 0) {
			fprintf(stderr, "sql_dump: %s: %s\n", argv[a], ttlog_reader_errmsg());
			status = 1;
			continue;
		}
		if ((err = tsql_walk(&w, snap, argv[a], &sink)) < 0) {
			fprintf(stderr, "sql_dump: %s: %s\n", argv[a], w.err);
			status = 1;
		}
		ttlog_snapshot_close(snap);
	}
	if (d.current != TSQL_NTABLES)
		fputs("\\.\n", stdout);
	tsql_walker_free(&w);
	free(d.line.p);
	return status;
}
