#!/bin/sh
# test_sql.sh - ttlog-view --sql: the tables of docs/sql.md in an in-memory SQLite
# database, on the crafted files of tests/view/fixtures.c, a snapshot of every variant and
# crafted files of tests/view/sql_gen.c: the schema against docs/sql.md, rows equal to what
# --json and --header --json show, joins, directories, a file given twice, hostile files,
# the statement's errors, and the three output formats (CSV escaping, JSON validity).
# Run by `make test` with TTLOG_BIN=build/<variant>[-san] (the mpmc passes: plain, ASan,
# TSan). Each case prints "ok" or "FAIL" with what was expected and what came; exit 1 if
# any failed.
set -u
BIN=${TTLOG_BIN:-build/mpmc}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
SRC=$(cd "$(dirname "$0")/../.." && pwd)
VIEW=$BIN/ttlog-view
FIX=$BIN/view/fixtures
GEN=$BIN/view/sql_gen
DUMP=$BIN/view/sql_dump
for p in "$VIEW" "$FIX" "$GEN" "$DUMP"; do
	[ -x "$p" ] || { echo "test_sql: $p is missing (make tests)"; exit 1; }
done
command -v jq >/dev/null || { echo "test_sql: jq is missing (scripts/deps.sh)"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-sql-test.XXXXXX") || exit 1
PG_STOP=""
trap 'eval "$PG_STOP"; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
export LC_ALL=C TZ=UTC
unset NO_COLOR LANG
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }

# run CMD...: stdout in $T/out, stderr in $T/err, status in $rc
run() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# check NAME STATUS: the last run exited with STATUS and its stdout is $T/exp
check() {
	if [ "$rc" != "$2" ]; then
		bad "$1: exit status $rc, want $2"
		sed 's/^/       stderr: /' "$T/err"
	elif ! diff -u "$T/exp" "$T/out" >"$T/diff"; then
		bad "$1: output differs (- want, + got)"
		sed 's/^/       /' "$T/diff"
	else
		ok "$1"
	fi
}

# same NAME FILE1 FILE2: the files are equal
same() {
	if diff -u "$2" "$3" >"$T/diff"; then
		ok "$1"
	else
		bad "$1: differ (- $2, + $3)"
		head -40 "$T/diff" | sed 's/^/       /'
	fi
}

# sql NAME WANT QUERY FILE...: one value (--csv, no header) is WANT, exit status 0
sql() {
	name=$1 want=$2 q=$3
	shift 3
	run "$VIEW" --csv --sql "$q" "$@"
	got=$(sed 1d "$T/out")
	if [ "$rc" = 0 ] && [ "$got" = "$want" ] && [ ! -s "$T/err" ]; then
		ok "$name"
	else
		bad "$name: exit $rc, got '$got', want '$want'"
		sed 's/^/       stderr: /' "$T/err"
	fi
}

# refused NAME STATUS MESSAGE ARGS...: exit STATUS, no stdout, one stderr line with MESSAGE
refused() {
	name=$1 want=$2 msg=$3
	shift 3
	run "$VIEW" "$@"
	if [ "$rc" = "$want" ] && [ ! -s "$T/out" ] && [ "$(wc -l <"$T/err")" -ge 1 ] &&
	   grep -q "^ttlog-view: .*$msg" "$T/err"; then
		ok "$name"
	else
		bad "$name: exit $rc (want $want), stdout $(wc -c <"$T/out") bytes, stderr:"
		sed 's/^/       /' "$T/err"
	fi
}

# jsonl NAME: every line of $T/out is one JSON object (jq), and there are N of them
jsonl() {
	lines=$(wc -l <"$T/out" | tr -d ' ')
	objs=$(jq -c 'if type == "object" then 1 else error("not an object") end' "$T/out" \
		2>"$T/jqerr" | wc -l | tr -d ' ')
	if [ "$lines" = "$2" ] && [ "$objs" = "$lines" ] && [ ! -s "$T/jqerr" ]; then
		ok "$1"
	else
		bad "$1: $lines lines, $objs JSON objects, want $2"
		sed 's/^/       /' "$T/jqerr" "$T/out" | head -20
	fi
}

"$FIX" "$T" || { echo "FAIL fixtures: cannot write the snapshot files"; exit 1; }
mkdir "$T/gen" && "$GEN" "$T/gen" || { echo "FAIL sql_gen: cannot write the snapshots"; exit 1; }
cd "$T" || exit 1
VARIANT_FILES=$(ls gen/variants/ttlog-*.bin)

# ---- help, usage and statement errors -------------------------------------------------
run "$VIEW" --help
if [ "$rc" = 0 ] && grep -q -- "--sql QUERY" out && grep -q "in-memory SQLite" out &&
   grep -q "read-only" out; then
	ok "--help: --sql, in memory, read-only"
else
	bad "--help does not describe --sql"
fi
refused "--sql with --header" 2 "--sql takes no" --sql "SELECT 1" --header a.bin
refused "--sql with a filter" 2 "--sql takes no" --sql "SELECT 1" --level warn a.bin
refused "--sql with --last" 2 "--sql takes no" --sql "SELECT 1" --last 3 a.bin
refused "--sql without its query" 2 "needs an argument" a.bin --sql
refused "syntax error: sqlite's text" 2 "--sql: near \"SELEC\": syntax error" --sql "SELEC 1" a.bin
refused "unknown column" 2 "--sql: no such column: nosuch" --sql "SELECT nosuch FROM events" a.bin
refused "two statements" 2 "--sql: one statement only" --sql "SELECT 1; SELECT 2" a.bin
refused "a statement after a comment" 2 "--sql: one statement only" \
	--sql "SELECT 1; /* c */ DELETE FROM events" a.bin
refused "no statement" 2 "--sql: no SQL statement" --sql " -- nothing" a.bin
refused "DELETE: read-only only" 2 "--sql: only a read-only statement" \
	--sql "DELETE FROM events" a.bin
refused "CREATE: read-only only" 2 "--sql: only a read-only statement" \
	--sql "CREATE TABLE x (a)" a.bin
refused "VACUUM INTO: read-only only" 2 "--sql: only a read-only statement" \
	--sql "VACUUM INTO '$T/vac.db'" a.bin
refused "ATTACH: refused" 2 "--sql: ATTACH and DETACH are not allowed" \
	--sql "ATTACH '$T/att.db' AS x" a.bin
if [ -e "$T/vac.db" ] || [ -e "$T/att.db" ]; then bad "a refused statement wrote a file"
else ok "refused statements wrote no file"; fi
refused "an error while running: exit 1" 1 "--sql: malformed JSON" \
	--sql "SELECT json_extract('{bad', '\$.a')" a.bin
refused "the statement is checked before any file is read" 2 "syntax error" \
	--sql "SELEC 1" no-such-file.bin
sql "a trailing ';' and comment are one statement" 1 "SELECT 1; -- done" a.bin

# ---- the schema: what docs/sql.md shows is what the code creates ----------------------
for d in sqlite postgresql; do
	"$DUMP" ddl $d >"ddl-$d.sql"
	awk -v want="$d" '/^```sql/ { dialect = $2; if (dialect == want) on = 1; next }
		/^```/ { on = 0; next } on' "$SRC/docs/sql.md" >"doc-$d.sql"
	same "docs/sql.md shows the $d DDL of tools/sql_schema.c" "doc-$d.sql" "ddl-$d.sql"
done
"$DUMP" columns | awk '{ print $1, $2 }' >cols.want
for t in snapshots callsites events; do
	"$VIEW" --csv --sql "SELECT '$t', name FROM pragma_table_info('$t') WHERE name != 'id'" \
		a.bin | sed 1d | tr ',' ' '
done >cols.got
same "the tables' columns are the rows' columns, in order" cols.want cols.got
grep -o '^[a-z_]* [a-z_]*' cols.want | while read -r t c; do
	grep -q "^| \`$c\` " "$SRC/docs/sql.md" || echo "$t.$c"
done >undocumented
if [ -s undocumented ]; then bad "columns missing from docs/sql.md: $(cat undocumented)"
else ok "docs/sql.md documents every column"; fi

# ---- rows equal what --json and --header --json show, for every variant --------------
sql "a snapshot of every variant" "mpmc numa percpu spsc" \
	"SELECT group_concat(variant, ' ') FROM (SELECT variant FROM snapshots ORDER BY 1)" gen/variants
for f in $VARIANT_FILES; do
	v=$(basename "$f" .bin | sed 's/.*-//')
	# jq reads numbers as doubles: the ns, as text, keep every digit; --json's gap
	# records are lines of their own, not events
	"$VIEW" --json "$f" | grep -v '^{"gap":' | sed 's/^{"ts_ns":\([0-9]*\)/{"ts_ns":"\1"/' |
		jq -c '{ts_ns, level, thread, target, message, fields,
		truncated: (.truncated // null)}' >"json-$v"
	"$VIEW" --json --sql "SELECT CAST(time_ns AS TEXT) AS ts_ns, level, thread, target,
		message, fields, truncated FROM events ORDER BY seq" "$f" |
		jq -c '{ts_ns, level, thread, target, message, fields: (.fields | fromjson),
		truncated: (if .truncated then .truncated | fromjson else null end)}' >"sql-$v"
	n=$(wc -l <"json-$v" | tr -d ' ')
	if [ "$n" -gt 0 ] && grep -q '"truncated":\["sql"\]' "json-$v" &&
	   grep -q '"level":"FATAL"' "json-$v"; then
		same "$v: events equal --json's ($n events, cut strings, builder events)" \
			"json-$v" "sql-$v"
	else
		bad "$v: the snapshot lacks what the test needs ($n events)"
	fi
	"$VIEW" --header --json "$f" | sed 's/"created_ns":\([0-9]*\)/"created_ns":"\1"/' |
		jq -c '{hostname, service, pid, reason, created_ns,
		variant, capacity, logged: .counters.logged, kept: .counters.kept,
		overwritten: .counters.overwritten, dropped: .counters.dropped,
		truncated: .counters.truncated, clipped: .counters.clipped,
		in_flight: .counters.in_flight, events}' >"hjson-$v"
	"$VIEW" --json --sql "SELECT hostname, service, pid, reason,
		CAST(created_ns AS TEXT) AS created_ns, variant,
		capacity, logged, kept, overwritten, dropped, truncated, clipped, in_flight,
		(SELECT count(*) FROM events) AS events FROM snapshots" "$f" >"hsql-$v"
	same "$v: the snapshot's row equals --header --json" "hjson-$v" "hsql-$v"
	if jq -e '.overwritten > 0 and .kept == .events and .logged == .kept + .overwritten +
		.dropped + .clipped' "hsql-$v" >/dev/null; then
		ok "$v: counters kept = events, logged = kept + overwritten + dropped + clipped"
	else
		bad "$v: counters: $(cat "hsql-$v")"
	fi
	sql "$v: callsites: every shape, file and line of each event's" "0" \
		"SELECT count(*) FROM events e LEFT JOIN callsites c USING (snapshot_id,
		 callsite_id) WHERE c.file IS NULL OR c.level_num != e.level_num" "$f"
done
# (rseq, or sched_getcpu where rseq is not there: TSan builds)
sql "percpu's push_path, NULL for the others" "mpmc:- numa:- percpu:1 spsc:-" \
	"SELECT group_concat(variant || ':' || coalesce(push_path IN ('rseq', 'sched_getcpu'),
	 '-'), ' ') FROM (SELECT * FROM snapshots ORDER BY variant)" gen/variants

# ---- a directory of several snapshots; the same snapshot twice -------------------------
total=0
for f in $VARIANT_FILES; do
	total=$((total + $("$VIEW" --json "$f" | grep -vc '^{"gap":')))
done
sql "a directory: every snapshot's events" "4,$total" \
	"SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM events)" gen/variants
sql "a directory and its files again: loaded once" "4,$total" \
	"SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM events)" \
	gen/variants $VARIANT_FILES
cp a.bin copy-of-a.bin
sql "the same file twice, and a copy: one snapshot (hostname, pid, created_ns)" "1,4" \
	"SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM events)" \
	a.bin a.bin copy-of-a.bin
sql "a later snapshot of the same process is another snapshot" "2,7" \
	"SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM events)" a.bin a2.bin

# ---- joins ---------------------------------------------------------------------------
cat >exp <<'EOF'
service  host  events  errors  first_file
-------  ----  ------  ------  ----------
alpha    h1         4       1  app.c:10
beta     h1         2       1  app.c:50
gamma    h2         1       0  app.c:70
EOF
run "$VIEW" --sql "SELECT s.service, s.hostname AS host, count(*) AS events,
	sum(e.level_num >= 4) AS errors,
	min(c.file || ':' || c.line) AS first_file
	FROM events e JOIN snapshots s ON s.id = e.snapshot_id
	JOIN callsites c ON c.snapshot_id = e.snapshot_id AND c.callsite_id = e.callsite_id
	GROUP BY s.id ORDER BY s.service" a.bin b.bin c.bin
check "a join of the three tables, as a table (numbers right-aligned)" 0
sql "callsites: the whole dictionary, also shapes no event uses" "8,4" \
	"SELECT (SELECT count(*) FROM callsites), (SELECT count(DISTINCT callsite_id) FROM events)" \
	a.bin
cat >exp <<'EOF'
{"target":"http","fields":"[\"path\",\"status\",\"ms\"]","types":"[\"str\",\"u64\",\"f64\"]","n":1}
{"target":"db","fields":"[\"sql\"]","types":"[\"str\"]","n":1}
EOF
run "$VIEW" --json --sql "SELECT c.target, c.fields, c.types, count(e.seq) AS n
	FROM callsites c LEFT JOIN events e USING (snapshot_id, callsite_id)
	WHERE c.callsite_id IN (1, 3) GROUP BY c.callsite_id ORDER BY c.callsite_id" a.bin
check "callsites' field names and types, joined to their events" 0
sql "json_extract over fields: the story of request 7 across services" "beta alpha" \
	"SELECT group_concat(service, ' ') FROM (SELECT s.service FROM events e JOIN snapshots s
	 ON s.id = e.snapshot_id WHERE json_extract(e.fields, '\$.request_id') = 7
	 ORDER BY e.time_ns)" a.bin b.bin

# ---- optional keys, text, levels -------------------------------------------------------
cat >exp <<'EOF'
{"reason":"recovered","pid":4242,"parent_pid":4241,"push_path":"rseq","variant":"percpu","kept":2,"torn":4,"clipped":1,"clipped_before_ns":1714564800000000005,"logged":20}
{"reason":"manual","pid":4343,"parent_pid":null,"push_path":null,"variant":"","kept":null,"torn":null,"clipped":null,"clipped_before_ns":null,"logged":1}
EOF
run "$VIEW" --json --sql "SELECT reason, pid, parent_pid, push_path, variant, kept, torn,
	clipped, clipped_before_ns, logged FROM snapshots ORDER BY pid" \
	gen/keys.bin gen/nokeys.bin
check "parent_pid, push_path, torn, clipped where the file has them (chunked), NULL elsewhere" 0
R=$(printf '\357\277\275') # U+FFFD
cat >exp <<EOF
{"hostname":"h${R}x","target":"t${R}x","message":"s=a${R}b${R}c","fields":"{\\"s\\":\\"a\\\\ufffdb\\\\ufffdc\\"}"}
{"hostname":"h${R}x","target":"n","message":"18446744073709551615 -9223372036854775808","fields":"{\\"u\\":18446744073709551615,\\"i\\":-9223372036854775808}"}
{"hostname":"h${R}x","target":"f","message":"nan","fields":"{\\"d\\":null}"}
{"hostname":"h${R}x","target":"f","message":"0.1","fields":"{\\"d\\":0.1}"}
EOF
run "$VIEW" --json --sql "SELECT s.hostname, e.target, e.message, e.fields FROM events e
	JOIN snapshots s ON s.id = e.snapshot_id ORDER BY seq" gen/text.bin
check "text: a NUL and bytes that are not UTF-8 become U+FFFD; u64 max, i64 min, NaN" 0
sql "fields are JSON SQLite reads: json_extract of a u64, an f64" "0.1,1" \
	"SELECT (SELECT json_extract(fields, '\$.d') FROM events WHERE seq = 3),
	 (SELECT json_valid(fields) FROM events WHERE seq = 1)" gen/text.bin
sql "levels beyond FATAL: L6, L200, as ttlog-view shows them" "L6:6 L200:200 INFO:2" \
	"SELECT group_concat(level || ':' || level_num, ' ') FROM events" levels.bin
sql "time is UTC with every ns digit; SQLite's date functions read it" \
	"2024-05-01T12:00:00.000100000Z,1714564800,1714564800000100000" \
	"SELECT time, unixepoch(time), time_ns FROM events WHERE seq = 0" a.bin

# ---- hostile files: one line each, the good ones loaded --------------------------------
for f in $VARIANT_FILES; do
	v=$(basename "$f" .bin | sed 's/.*-//')
	size=$(wc -c <"$f")
	head -c $((size / 2)) "$f" >"bad-half-$v.bin"
	# a byte in the middle changed: the frame's checksum (or the CBOR) says so
	{ head -c $((size / 2)) "$f"; printf 'X'; tail -c +$((size / 2 + 2)) "$f"; } \
		>"bad-flip-$v.bin"
done
nbad=$(ls bad-*.bin | wc -l | tr -d ' ')
run "$VIEW" --csv --sql "SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM events)" \
	a.bin bad-*.bin b.bin gen/bigtime.bin gen/bigpid.bin
lines=$(wc -l <err | tr -d ' ')
if [ "$rc" = 1 ] && [ "$(sed 1d out)" = "2,6" ] && [ "$lines" = $((nbad + 2)) ] &&
   [ "$(grep -c '^ttlog-view: [^ ]*bad-[a-z0-9-]*\.bin: ' err)" = "$nbad" ] &&
   grep -q '^ttlog-view: gen/bigtime.bin: SQL: .*18446744073709551615 is above 2^63-1' err &&
   grep -q '^ttlog-view: gen/bigpid.bin: SQL: pid 9223372036854775808 is above' err; then
	ok "$nbad hostile files and 2 beyond SQL's integers: one line each, exit 1, the rest loaded"
else
	bad "hostile files: exit $rc, result '$(sed 1d out)' (want 2,6), $lines stderr lines" \
		"(want $((nbad + 2))):"
	sed 's/^/       /' err
fi
run "$VIEW" --csv \
	--sql "SELECT (SELECT count(*) FROM snapshots), (SELECT count(*) FROM callsites)" \
	gen/bigtime.bin
if [ "$rc" = 1 ] && [ "$(sed 1d out)" = "0,0" ] && [ "$(wc -l <err)" = 1 ]; then
	ok "a file refused half-way (at its event) leaves no row: its savepoint rolled back"
else
	bad "bigtime.bin alone: exit $rc, $(cat out)"
fi

# ---- output formats --------------------------------------------------------------------
cat >exp <<'EOF'
text,n,f,empty,comma,formula,number
"q""uote",-3,0.1,,"a,b","'=1+2",-2.5
"'+1+1",7,1e+300,,"'@x","'-2+3",-3
EOF
run "$VIEW" --csv --sql "SELECT 'q\"uote' AS text, -3 AS n, 0.1 AS f, NULL AS empty,
	'a,b' AS comma, '=1+2' AS formula, '-2.5' AS number
	UNION ALL SELECT '+1+1', 7, 1e300, NULL, '@x', '-2+3', '-3'" a.bin
check "CSV: quotes doubled, commas quoted, formulas neutralised, numbers as they are" 0
run "$VIEW" --csv --sql "SELECT message, fields FROM events" esc.bin
if [ "$rc" = 0 ] && grep -q '^"'"'"'=HYPERLINK(""http://evil/"",""x"")",' out &&
   grep -q '^-3,' out && ! LC_ALL=C grep -q "$(printf '\033')" out; then
	ok "CSV of hostile text: formulas neutralised, no raw ESC"
else
	bad "CSV of esc.bin:"; sed 's/^/       /' out
fi
run "$VIEW" --sql "SELECT s.service, e.target, e.message, e.fields FROM events e
	JOIN snapshots s ON s.id = e.snapshot_id" esc.bin
if [ "$rc" = 0 ] && [ "$(wc -l <out)" = 11 ] && ! LC_ALL=C grep -q "$(printf '\033')" out &&
   ! LC_ALL=C grep -q "$(printf '\302\233')" out && grep -q 'esc\\x1b\[31m\\u009b' out; then
	ok "table of hostile text: controls escaped as in ttlog-view's table"
else
	bad "table of esc.bin:"; sed 's/^/       /' out
fi
run "$VIEW" --json --sql "SELECT s.*, e.* FROM events e JOIN snapshots s
	ON s.id = e.snapshot_id" esc.bin odd.bin gen/text.bin $VARIANT_FILES
jsonl "--json: one JSON object per row, hostile text included" $((10 + 4 + total))
run "$VIEW" --json --sql "SELECT 1 AS i, 1.5 AS f, 'x' AS t, NULL AS n, x'00ff' AS b,
	9e999 AS inf" a.bin
printf '%s\n' '{"i":1,"f":1.5,"t":"x","n":null,"b":"x'"'"'00ff'"'"'","inf":null}' >exp
check "--json: integer, float, text, NULL, blob, infinity" 0
run "$VIEW" --sql "SELECT target FROM events WHERE 0" a.bin
printf 'target\n------\n' >exp
check "an empty result: the header only" 0
run "$VIEW" --json --sql "SELECT target FROM events WHERE 0" a.bin
: >exp
check "an empty result in JSON: nothing" 0
if [ -w /dev/full ]; then
	"$VIEW" --sql "SELECT * FROM events" a.bin >/dev/full 2>err
	rc=$?
	if [ "$rc" = 1 ] && grep -q "write error" err; then ok "a failed write: exit 1"
	else bad "--sql to /dev/full: exit $rc"; cat err; fi
fi
before=$(ls -A)
"$VIEW" --sql "SELECT count(*) FROM events" a.bin >/dev/null 2>&1
if [ "$(ls -A)" = "$before" ]; then ok "the database is in memory: no file written"
else bad "a file appeared: $(ls -A)"; fi

# ---- the PostgreSQL dialect, where a server can be started here (plain pass only) ----
# The DDL of docs/sql.md in a real PostgreSQL, the rows of tools/sql_schema.c loaded with
# COPY (tsql_copy_row()), and the same rows back as SQLite has them.
pg_files="a.bin b.bin c.bin esc.bin odd.bin levels.bin gen/text.bin gen/keys.bin gen/nokeys.bin
	$VARIANT_FILES"
as=""
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && command -v runuser >/dev/null; then
	as="runuser -u postgres --"
fi
if [ -n "${TTLOG_TEST_SAN:-}" ] || ! command -v initdb >/dev/null ||
   ! command -v pg_ctl >/dev/null || ! command -v psql >/dev/null ||
   { [ "$(id -u)" = 0 ] && [ -z "$as" ]; }; then
	if [ -n "${TTLOG_TEST_SAN:-}" ]; then echo "skip PostgreSQL: a sanitizer pass"
	else echo "skip PostgreSQL: no initdb, pg_ctl and psql (or root without a postgres user)"; fi
else
	PGD=$T/pg
	mkdir "$PGD" && chmod 755 "$T" && { [ -z "$as" ] || chown postgres "$PGD"; }
	port=$((20000 + $$ % 20000))
	if $as initdb -D "$PGD/data" -A trust -U ttlog -E UTF8 --locale=C \
		>"$PGD/initdb.log" 2>&1 &&
	   $as pg_ctl -D "$PGD/data" -o "-k $PGD -p $port -c listen_addresses=''" \
		-l "$PGD/log" -w -t 120 start >/dev/null 2>&1; then
		PG_STOP="$as pg_ctl -D '$PGD/data' -m immediate stop >/dev/null 2>&1"
		export PGCLIENTENCODING=UTF8 # the rows are UTF-8, whatever LC_ALL says
		pg() { psql -h "$PGD" -p "$port" -U ttlog -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
		if pg -f ddl-postgresql.sql 2>pgerr && pg -f ddl-postgresql.sql 2>>pgerr; then
			ok "PostgreSQL takes the DDL, twice (IF NOT EXISTS)"
		else
			bad "PostgreSQL refused the DDL:"; sed 's/^/       /' pgerr
		fi
		# shellcheck disable=SC2086
		"$DUMP" copy $pg_files >load.sql 2>pgerr && pg -f load.sql 2>>pgerr
		rc=$?
		if [ "$rc" = 0 ]; then ok "PostgreSQL takes every row by COPY (jsonb, timestamptz)"
		else bad "COPY into PostgreSQL: exit $rc:"; sed 's/^/       /' pgerr | head; fi
		pg -c "SELECT json_build_object('s', snapshot_id, 'seq', seq, 'ns', time_ns::text,
			'level', level, 'n', level_num, 'target', target, 'message', message,
			'thread', thread, 'cs', callsite_id, 'fields', fields, 'truncated', truncated)
			FROM ttlog.events ORDER BY snapshot_id, seq" | jq -S -c . >pg.events
		# shellcheck disable=SC2086
		"$VIEW" --json --sql "SELECT snapshot_id AS s, seq, CAST(time_ns AS TEXT) AS ns,
			level, level_num AS n, target, message, thread, callsite_id AS cs, fields,
			truncated FROM events ORDER BY snapshot_id, seq" $pg_files |
			jq -S -c '.fields |= fromjson | .truncated |= (if . then fromjson else . end)' \
			>lite.events
		n=$(wc -l <pg.events | tr -d ' ')
		if [ "$n" -gt $((total + 10)) ]; then
			same "PostgreSQL's events equal SQLite's ($n events)" lite.events pg.events
		else
			bad "PostgreSQL holds $n events"
		fi
		pg -c "SELECT json_build_object('s', id, 'host', hostname, 'service', service,
			'pid', pid, 'ppid', parent_pid, 'ns', created_ns::text, 'push', push_path,
			'logged', logged, 'kept', kept, 'torn', torn, 'clipped', clipped,
			'cs', (SELECT count(*) FROM ttlog.callsites c WHERE c.snapshot_id = s.id),
			'types', (SELECT json_agg(types ORDER BY callsite_id) FROM ttlog.callsites c
				  WHERE c.snapshot_id = s.id))
			FROM ttlog.snapshots s ORDER BY id" | jq -S -c . >pg.snaps
		# shellcheck disable=SC2086
		"$VIEW" --json --sql "SELECT id AS s, hostname AS host, service, pid,
			parent_pid AS ppid, CAST(created_ns AS TEXT) AS ns, push_path AS push, logged,
			kept, torn, clipped,
			(SELECT count(*) FROM callsites c WHERE c.snapshot_id = s.id) AS cs,
			(SELECT json_group_array(json(types)) FROM (SELECT types FROM callsites c
			 WHERE c.snapshot_id = s.id ORDER BY callsite_id)) AS types
			FROM snapshots s ORDER BY id" $pg_files |
			jq -S -c '.types |= fromjson' >lite.snaps
		same "PostgreSQL's snapshots and callsites equal SQLite's" lite.snaps pg.snaps
		# a second load of the same snapshot: the unique key turns it away
		pg -c "INSERT INTO ttlog.snapshots (hostname, service, pid, reason, created_ns,
			created, variant, capacity, logged, overwritten, dropped)
			SELECT hostname, service, pid, reason, created_ns, created, variant,
			capacity, logged, overwritten, dropped FROM ttlog.snapshots WHERE id = 1
			ON CONFLICT DO NOTHING RETURNING id" >again 2>pgerr
		if [ "$?" = 0 ] && [ ! -s again ]; then
			ok "PostgreSQL: the same (hostname, pid, created_ns) again is no new row"
		else
			bad "PostgreSQL took a snapshot twice: $(cat again pgerr)"
		fi
		eval "$PG_STOP"
		PG_STOP=""
	else
		bad "PostgreSQL did not start:"; tail -5 "$PGD/initdb.log" "$PGD/log" 2>/dev/null
	fi
fi

echo "test_sql: $passed passed, $failed failed"
[ "$failed" = 0 ]
