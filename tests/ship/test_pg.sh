#!/bin/sh
# test_pg.sh - ttlog-ship --to postgresql:// and ttlog-view --from postgresql:// against a
# real PostgreSQL: a throwaway server (initdb in a temporary directory, loopback port,
# stopped at the end; run as the postgres user when the test runs as root). Snapshots come
# from tests/ship/gen (libttlog in a child process: every level and field type, hostile
# text, a string cut to fit, NaN and an infinity; a hostile hostname) and
# tests/view/sql_gen (a snapshot of every variant; crafted files with a NUL and bytes that
# are not UTF-8, 2^64-1 and -2^63, optional keys, a number no SQL integer holds).
#   - usage errors of both programs
#   - two agents at once on an empty database: the tables made once, every snapshot once
#   - what the database holds equals what the reader API sees: per snapshot, its identity,
#     its events and callsites (counted in PostgreSQL, and by ttlog-view --sql over the
#     files); every event, field and value: ttlog-view --json --from equal to ttlog-view
#     --json of the files (also --header, --stats, and the filters pushed into SQL)
#   - a snapshot that cannot be loaded (a number above 2^63-1): refused, nothing of it left
#   - shipping again with a fresh state file adds no row; the password is not in the state
#   - the server stopped (immediate shutdown: a crash) while the agent watches, and again
#     in the middle of a large delivery: the backlog arrives after the restart, once
#   - a server that stops answering (SIGSTOP), at the connection and in the middle of a
#     transaction: the agent gives up after --timeout
#   - the agent killed (SIGKILL) at random points of deliveries, started again: once
# Run by `make test` in the mpmc passes with TTLOG_BIN=build/<variant>[-san] (skipped under
# sanitizers, as test_sql.sh's PostgreSQL part, and where initdb, pg_ctl or psql is
# missing). Each case prints "ok" or "FAIL"; exit 1 if any failed.
set -u
if [ -n "${TTLOG_TEST_SAN:-}" ]; then
	echo "skip test_pg: a sanitizer pass (the PostgreSQL tests run in the plain passes)"
	exit 0
fi
for p in initdb pg_ctl psql python3; do
	command -v $p >/dev/null || { echo "skip test_pg: no $p (scripts/deps.sh core)"; exit 0; }
done
as=""
if [ "$(id -u)" = 0 ]; then
	if id postgres >/dev/null 2>&1 && command -v runuser >/dev/null; then
		as="runuser -u postgres --"
	else
		echo "skip test_pg: root without a postgres user to run the server as"
		exit 0
	fi
fi
BIN=${TTLOG_BIN:-build/mpmc}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
SHIP=$BIN/ttlog-ship
VIEW=$BIN/ttlog-view
GEN=$BIN/tests/ship/gen
SQLGEN=$BIN/view/sql_gen
for p in "$SHIP" "$VIEW" "$GEN" "$SQLGEN"; do
	[ -x "$p" ] || { echo "test_pg: $p is missing (make tests)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-pg-test.XXXXXX") || exit 1
chmod 755 "$T"
PGD=$T/pg
AGENT_PID=
PG_UP=
cleanup() {
	[ -n "$AGENT_PID" ] && kill -KILL "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	[ -n "$PG_UP" ] && $as pg_ctl -D "$PGD/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export LC_ALL=C.UTF-8 TZ=UTC PGCLIENTENCODING=UTF8
unset NO_COLOR PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGSERVICE PGOPTIONS
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }

# wait_for WHAT CMD...: run CMD every 50 ms until it succeeds; a hang (300 s) fails
wait_for() {
	what=$1
	shift
	i=0
	until "$@"; do
		i=$((i + 1))
		if [ $i -ge 6000 ]; then
			echo "FAIL hung: $what not seen in 300 s"
			[ -f "$T/agent.log" ] && sed 's/^/       agent.log: /' "$T/agent.log"
			exit 1
		fi
		sleep 0.05
	done
}

# ---- the server ----------------------------------------------------------------------
mkdir "$PGD" && { [ -z "$as" ] || chown postgres "$PGD"; }
if ! $as initdb -D "$PGD/data" -A trust -U ttlog -E UTF8 --locale=C >"$PGD/initdb.log" 2>&1
then
	echo "FAIL initdb:"
	tail -5 "$PGD/initdb.log"
	exit 1
fi
. "$(cd "$(dirname "$0")" && pwd)/net.sh" # pick_port
pg_start() {
	$as pg_ctl -D "$PGD/data" -l "$PGD/log" -w -t 120 \
		-o "-p $PORT -k $PGD -c listen_addresses=127.0.0.1 -c fsync=off" \
		start >/dev/null 2>&1 && PG_UP=1
}
pg_stop() { # MODE
	$as pg_ctl -D "$PGD/data" -m "$1" -w stop >/dev/null 2>&1
	PG_UP=
}
tries=0
PORT=$(pick_port)
until pg_start; do # the port may have been taken meanwhile
	tries=$((tries + 1))
	if [ $tries -ge 5 ]; then
		echo "FAIL PostgreSQL did not start:"
		tail -5 "$PGD/log"
		exit 1
	fi
	PORT=$(pick_port)
done
# a password in the URL (trust ignores it): it must stay out of the state and the lines
URL="postgresql://ttlog:s3cret@127.0.0.1:$PORT/postgres?password=s3cret&application_name=t"
KEY="postgresql://ttlog@127.0.0.1:$PORT/postgres?application_name=t"
VURL="postgresql://ttlog@127.0.0.1:$PORT/postgres"
pg() { psql -h 127.0.0.1 -p "$PORT" -U ttlog -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

# norm [nul]: JSON Lines in, each object with sorted keys, lines sorted (exact integers:
# jq 1.6 would round them); gap lines left out (the database has no gap records); nul:
# a NUL in a string becomes U+FFFD, as the database stores it (docs/sql.md)
norm() {
	python3 -c 'import json, sys
nul = len(sys.argv) > 1
def fix(v):
    if isinstance(v, str): return v.replace("\0", "\ufffd") if nul else v
    if isinstance(v, list): return [fix(x) for x in v]
    if isinstance(v, dict): return {k: fix(x) for k, x in v.items()}
    return v
out = []
for line in sys.stdin:
    o = json.loads(line)
    if "gap" in o: continue
    o.pop("gaps", None) # --stats
    out.append(json.dumps(fix(o), sort_keys=True))
print("\n".join(sorted(out)))' "$@"
}

# same NAME FILE1 FILE2
same() {
	if [ -s "$2" ] && cmp -s "$2" "$3"; then
		ok "$1 ($(wc -l <"$2" | tr -d ' ') lines)"
	else
		bad "$1: differ (- $2, + $3)"
		diff -u "$2" "$3" | head -30 | sed 's/^/       /'
	fi
}

# once NAME FILE...: the database holds every snapshot of the files exactly once: its
# identity with as many events and callsites as the reader sees (ttlog-view --sql loads
# a snapshot once however many files hold it), and nothing else
once() {
	name=$1
	shift
	"$VIEW" --json --sql "SELECT hostname AS h, pid AS p, CAST(created_ns AS TEXT) AS ns,
		(SELECT count(*) FROM events e WHERE e.snapshot_id = s.id) AS ev,
		(SELECT count(*) FROM callsites c WHERE c.snapshot_id = s.id) AS cs
		FROM snapshots s" "$@" 2>"$T/once.err" | norm >"$T/once.want"
	pg -c "SELECT json_build_object('h', hostname, 'p', pid, 'ns', created_ns::text,
		'ev', (SELECT count(*) FROM ttlog.events e WHERE e.snapshot_id = s.id),
		'cs', (SELECT count(*) FROM ttlog.callsites c WHERE c.snapshot_id = s.id))
		FROM ttlog.snapshots s" | norm >"$T/once.got"
	same "$name: every snapshot once, all its events and callsites" "$T/once.want" \
		"$T/once.got"
}

# rnd_sleep MS: sleep a random time below MS (< 1000) milliseconds
rnd_sleep() {
	r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
	sleep "$(printf '0.%03d' $((r % $1)))"
}

# ---- usage ---------------------------------------------------------------------------
usage() { # NAME STATUS PROGRAM ARGS...
	name=$1 want=$2
	shift 2
	"$@" >"$T/uout" 2>"$T/uerr"
	rc=$?
	if [ $rc = "$want" ]; then ok "$name (exit $rc)"; else
		bad "$name: exit $rc, want $want"
		sed 's/^/       /' "$T/uerr"
	fi
}
mkdir "$T/d"
usage "ship: a URI libpq refuses" 2 "$SHIP" --to "postgresql://h/db?nosuch=1" "$T/d"
grep -q 'not a PostgreSQL connection URI' "$T/uerr" || bad "bad URI: $(cat "$T/uerr")"
usage "view: --from another scheme" 2 "$VIEW" --from "mysql://h/db"
usage "view: --from with --sql" 2 "$VIEW" --from "$VURL" --sql "SELECT 1"
"$SHIP" --help | grep -q 'postgresql://' && ok "ship --help names postgresql://" ||
	bad "ship --help lacks postgresql://"
"$VIEW" --help | grep -q -- '--from URL' && ok "view --help names --from" ||
	bad "view --help lacks --from"
usage "view: no table yet" 1 "$VIEW" --from "$VURL"
grep -q 'ttlog.snapshots' "$T/uerr" || bad "no table: $(cat "$T/uerr")"
usage "view: a server not there" 1 "$VIEW" --from "postgresql://ttlog@127.0.0.1:1/x"

# ---- the snapshots -------------------------------------------------------------------
"$GEN" "$T/d" checkout 27 2 extra || bad "gen d"
"$GEN" "$T/d" 'svc "q"]=% x' 18 1 extra || bad "gen d, hostile service"
if unshare -u true 2>/dev/null; then
	unshare -u python3 -c 'import os, socket, sys
socket.sethostname(sys.argv[1]); os.execv(sys.argv[2], sys.argv[2:])' \
		'hé st%"]=x' "$GEN" "$T/d" hostile 18 1 extra || bad "gen, hostile hostname"
else
	echo "skip a hostile hostname: no UTS namespace (unshare -u) for this user"
fi
mkdir "$T/x" && "$GEN" "$T/x" exact 18 1 && cp "$T"/x/ttlog-*.bin "$T/d/ttlog-exact.bin" ||
	bad "gen d, exact values"
mkdir "$T/sg" && "$SQLGEN" "$T/sg" >/dev/null || bad "sql_gen"
for f in "$T"/sg/variants/*.bin "$T/sg/keys.bin" "$T/sg/nokeys.bin" "$T/sg/text.bin"; do
	cp "$f" "$T/d/ttlog-sg-$(basename "$f")"
done
FILES=$(ls "$T"/d/ttlog-*.bin)
nfiles=$(echo "$FILES" | wc -l)

# ---- two agents at once on an empty database ------------------------------------------
"$SHIP" --once --state "$T/s1" --to "$URL" "$T/d" 2>"$T/e1" &
a1=$!
"$SHIP" --once --state "$T/s2" --to "$URL" "$T/d" 2>"$T/e2" &
a2=$!
wait $a1
r1=$?
wait $a2
r2=$?
if [ $r1 = 0 ] && [ $r2 = 0 ]; then ok "two agents at once on an empty database: exit 0, 0"
else
	bad "two agents: exit $r1 and $r2"
	sed 's/^/       /' "$T/e1" "$T/e2"
fi
# shellcheck disable=SC2086
once "two agents at once" $FILES
mode=$(stat -c %a "$T/s1")
[ "$mode" = 600 ] && ok "state file mode 600" || bad "state file mode $mode"
if grep -q s3cret "$T/s1" "$T/e1" "$T/e2"; then bad "the password is in the state or a line"
elif [ "$(grep -c "^$KEY " "$T/s1")" = "$nfiles" ]; then
	ok "state: $nfiles files recorded, under the URL without its password"
else
	bad "state: want $nfiles lines of $KEY"
	sed 's/^/       /' "$T/s1"
fi

# ---- what the database holds is what the reader sees ------------------------------------
cmpview() { # NAME [nul] -- ARGS...: --json of the files and --from, normalised, equal
	name=$1
	shift
	n=
	[ "$1" = nul ] && n=nul && shift
	shift
	# shellcheck disable=SC2086
	"$VIEW" --json "$@" $FILES 2>"$T/vf.err" | norm $n >"$T/vf"
	"$VIEW" --json "$@" --from "$VURL" 2>"$T/vp.err" | norm >"$T/vp"
	if [ -s "$T/vp.err" ]; then
		bad "$name: --from said:"
		sed 's/^/       /' "$T/vp.err"
	else
		same "$name" "$T/vf" "$T/vp"
	fi
}
cmpview "every event, field and value (--json)" nul --
cmpview "--header --json" -- --header
cmpview "--stats --json" nul -- --stats
cmpview "--level warn (in SQL)" nul -- --level warn
cmpview "--service (in SQL)" -- --service 'svc*'
cmpview "--field KEY=VALUE (key in SQL)" -- --field q='a"b\c]d'
cmpview "--field and --level" -- --field pi --level error
cmpview "--target, --grep, --last (the viewer's)" -- --target db --grep 'slow' --last 5
t1=$("$VIEW" --json "$T/d/ttlog-sg-text.bin" | sed -n 1p |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["ts_ns"])')
t2=$("$VIEW" --json $FILES | python3 -c 'import json,sys
ts = sorted(json.loads(l)["ts_ns"] for l in sys.stdin if "ts_ns" in l); print(ts[len(ts)//2])')
cmpview "--since, --until (in SQL)" nul -- --since "@$t1" --until "@$t2"
"$VIEW" --json --from "$VURL" --service nothing-like-it >"$T/none" 2>&1
[ ! -s "$T/none" ] && ok "--service matching nothing: no event" ||
	bad "--service nothing: $(head -3 "$T/none")"
"$VIEW" --json --field s --from "$VURL" | grep -c '"truncated": *\["s"\]' >"$T/nt"
[ "$(cat "$T/nt")" -gt 0 ] && ok "a string cut to fit: marked truncated ($(cat "$T/nt"))" ||
	bad "no truncated string came back"
# the table (a filter: the files' gap records are not shown, the database has none)
"$VIEW" --since @0 --from "$VURL" --color=never | grep -c '' >"$T/nl"
# shellcheck disable=SC2086
"$VIEW" --since @0 $FILES --color=never | grep -c '' >"$T/fl"
[ "$(cat "$T/nl")" = "$(cat "$T/fl")" ] && ok "the table: as many lines as the files'" ||
	bad "table: $(cat "$T/nl") lines from the database, $(cat "$T/fl") from the files"
# (of a snapshot whose values the database holds as they are: a NaN or a U+FFFD would
# make its events differ from the file's, and both would be shown)
mkdir "$T/copy" && cp "$T/d/ttlog-exact.bin" "$T/copy/ttlog-copy.bin"
"$VIEW" --json --from "$VURL" "$T/copy/ttlog-copy.bin" | norm >"$T/mixed"
"$VIEW" --json --from "$VURL" | norm >"$T/dbonly"
same "--from and a file of the same snapshot: each event once" "$T/dbonly" "$T/mixed"

# ---- a snapshot the database cannot take --------------------------------------------
mkdir "$T/r"
cp "$T/sg/bigtime.bin" "$T/r/ttlog-bigtime.bin"
"$GEN" "$T/r" fine 9 1 || bad "gen r"
usage "a number above 2^63-1: refused, exit 1" 1 "$SHIP" --once --state "$T/sr" \
	--to "$URL" "$T/r"
grep -q 'ttlog-bigtime.bin: .* refused it: .*2^63-1' "$T/uerr" ||
	bad "refused: no line: $(cat "$T/uerr")"
nb=$("$VIEW" --header --json "$T/r/ttlog-bigtime.bin" |
	python3 -c 'import json,sys; h=json.load(sys.stdin); print(h["hostname"], h["pid"])')
n=$(pg -c "SELECT count(*) FROM ttlog.snapshots WHERE hostname || ' ' || pid = '$nb'")
RFINE=$(ls "$T"/r/ttlog-*-gen.bin)
[ "$n" = 0 ] && ok "the refused snapshot left no row" || bad "refused snapshot: $n rows"
# shellcheck disable=SC2086
once "beside the refused one" $FILES $RFINE

# ---- idempotence -----------------------------------------------------------------------
rows() { pg -c "SELECT (SELECT count(*) FROM ttlog.snapshots) || ' ' ||
	(SELECT count(*) FROM ttlog.callsites) || ' ' || (SELECT count(*) FROM ttlog.events)"; }
before=$(rows)
usage "again with a fresh state file" 0 "$SHIP" --once -v --state "$T/s3" --to "$URL" "$T/d"
after=$(rows)
[ "$before" = "$after" ] && ok "again: no new row ($after)" ||
	bad "again: rows $before -> $after"

# ---- a server that stops answering -------------------------------------------------------
pm=$(head -1 "$PGD/data/postmaster.pid")
mkdir "$T/h" && "$GEN" "$T/h" hang 9 1
kill -STOP "$pm"
timeout 120 "$SHIP" --once --timeout 1 --state "$T/sh" --to "$URL" "$T/h" 2>"$T/eh"
rc=$?
kill -CONT "$pm"
[ $rc = 1 ] && grep -q 'down: connect: timed out' "$T/eh" &&
	ok "a server that does not answer: down after --timeout, exit 1" ||
	{ bad "SIGSTOPped server: exit $rc"; sed 's/^/       /' "$T/eh"; }

# ---- a server process that stops answering in the middle of a transaction ----------------
# The agent's COPY waits for a lock another session holds; its server process is then
# stopped (SIGSTOP), so that nothing on the server can end the wait: only the agent's own
# timeout. (Should the server's lock_timeout, also --timeout, fire before the stop lands,
# the delivery fails that way: bounded as well.)
mkdir "$T/l" && "$GEN" "$T/l" locked 9 1 extra || bad "gen l"
PGAPPNAME=locker psql -h 127.0.0.1 -p "$PORT" -U ttlog -d postgres -qAt -c \
	"BEGIN; LOCK TABLE ttlog.events IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)" \
	>/dev/null 2>&1 &
locker=$!
lock_held() {
	[ "$(pg -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		WHERE a.application_name = 'locker' AND l.granted AND l.mode = 'AccessExclusiveLock'
		AND l.relation = 'ttlog.events'::regclass")" = 1 ]
}
wait_for "the lock taken" lock_held
"$SHIP" --once --timeout 6 --state "$T/sl" --to "$URL" "$T/l" 2>"$T/el" &
AGENT_PID=$!
waiter() {
	w=$(pg -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'ttlog-ship'
		AND wait_event_type = 'Lock'")
	[ -n "$w" ] || ! kill -0 "$AGENT_PID" 2>/dev/null
}
wait_for "the agent's COPY waiting for the lock" waiter
[ -n "$w" ] && kill -STOP "$w"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
[ -n "$w" ] && kill -CONT "$w"
pg -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
	WHERE application_name = 'locker'" >/dev/null
wait "$locker" 2>/dev/null
if [ $rc = 1 ] && grep -q ': down: .*timed out' "$T/el"; then
	ok "a server process stopped mid-transaction: down after --timeout, exit 1"
elif [ $rc = 1 ] && grep -q ': down: .*lock timeout' "$T/el"; then
	ok "a server process stopped mid-transaction: the server's lock_timeout came first"
else
	bad "stopped mid-transaction: exit $rc"
	sed 's/^/       /' "$T/el"
fi
usage "then delivered" 0 "$SHIP" --once --state "$T/sl" --to "$URL" "$T/l"

# ---- the server stopped while the agent watches --------------------------------------------
V=$T/v
mkdir "$V"
"$SHIP" -v --state "$T/vstate" --backoff-max 0.2 --timeout 10 --to "$URL" "$V" \
	2>"$T/agent.log" &
AGENT_PID=$!
nsnaps() { ls "$1"/ttlog-*.bin 2>/dev/null | wc -l | tr -d ' '; }
recorded() { grep -c "^$KEY " "$1" 2>/dev/null || echo 0; }
all_recorded() { [ "$(recorded "$1")" -eq "$(nsnaps "$2")" ]; }
is_down() { grep -q ': down: ' "$T/agent.log"; }
"$GEN" "$V" before 3000 3 extra || bad "gen before"
wait_for "the first snapshots recorded" all_recorded "$T/vstate" "$V"
pg_stop immediate
"$GEN" "$V" whiledown 500 2 extra || bad "gen while down"
wait_for "the agent's down line" is_down
pg_start || bad "PostgreSQL did not start again"
wait_for "the backlog recorded" all_recorded "$T/vstate" "$V"
grep -q ': up again after ' "$T/agent.log" && ok "down, then up again: one line each" ||
	bad "no 'up again' line"
# a crash in the middle of a large delivery
"$GEN" "$V" big 40000 1 || bad "gen big"
rnd_sleep 200
pg_stop immediate
sleep 0.3
pg_start || bad "PostgreSQL did not start again (2)"
wait_for "the large snapshot recorded" all_recorded "$T/vstate" "$V"
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
[ $rc = 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM: exit $rc"
echo "       $(grep -c ': down: ' "$T/agent.log") down lines:" \
	"$(grep ': down: ' "$T/agent.log" | sed 's/.*: down: //' | cut -c1-60 | tr '\n' '|')"
# shellcheck disable=SC2086
once "the server crashed twice while the agent watched" $FILES $RFINE "$T"/l/*.bin "$V"/*.bin

# ---- the agent killed at random points of its deliveries ------------------------------------
K=$T/k
mkdir "$K"
mid=0
for i in 1 2 3 4 5 6; do
	"$GEN" "$K" "k$i" 20000 1 || bad "gen k$i"
	"$SHIP" --state "$T/kstate" --backoff-max 0.2 --to "$URL" "$K" 2>>"$T/agent.log" &
	AGENT_PID=$!
	rnd_sleep 600
	kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=
	[ "$(recorded "$T/kstate")" -lt "$(nsnaps "$K")" ] && mid=$((mid + 1))
done
echo "       killed 6 times; $mid kills left a snapshot unrecorded"
usage "the agent started again after the kills" 0 "$SHIP" --once --state "$T/kstate" \
	--to "$URL" "$K"
# shellcheck disable=SC2086
once "the agent killed 6 times" $FILES $RFINE "$T"/l/*.bin "$V"/*.bin "$K"/*.bin
# and what a transaction rolled back left: nothing (no event without its snapshot's
# others): every snapshot's seq runs 0..n-1
gaps=$(pg -c "SELECT count(*) FROM (SELECT snapshot_id FROM ttlog.events GROUP BY 1
	HAVING max(seq) + 1 <> count(*) OR min(seq) <> 0) x")
[ "$gaps" = 0 ] && ok "every snapshot's events are whole (seq 0..n-1)" ||
	bad "$gaps snapshots with missing events"

# ---- rows written by something else: hostile, and refused one snapshot at a time ---------
good=$("$VIEW" --json --from "$VURL" | wc -l)
hostile() { # N HOW-THE-ROWS-ARE-BAD, then SQL on stdin with :id for the snapshot's id
	id=$(pg -c "INSERT INTO ttlog.snapshots (hostname, service, pid, reason, created_ns,
		created, variant, capacity, logged, overwritten, dropped)
		VALUES ('evil', 'evil', $1, 'x', $1, now(), 'x', 1, 1, 0, 0) RETURNING id")
	sed "s/:id/$id/g" | pg >/dev/null || bad "hostile rows $1: psql"
}
hostile 1 <<'SQL'
INSERT INTO ttlog.callsites VALUES (:id, 7, 'INFO', 2, 't', 'm {}', 'f', 1, '["a"]', '["u64"]');
INSERT INTO ttlog.events VALUES (:id, 0, 5, now(), 'INFO', 2, 't', 'm', 1, 7, '{"a": "text"}');
SQL
hostile 2 <<'SQL'
INSERT INTO ttlog.callsites VALUES (:id, 7, 'INFO', 2, 't', 'm', 'f', 1, '["a"]', '["u64"]');
INSERT INTO ttlog.events VALUES (:id, 0, 5, now(), 'INFO', 2, 't', 'm', 1, 8, '{"a": 1}');
SQL
hostile 3 <<'SQL'
INSERT INTO ttlog.callsites VALUES (:id, 7, 'INFO', 2, 't', 'm', 'f', 1, '{"a": 1}', '[]');
SQL
hostile 4 <<'SQL'
INSERT INTO ttlog.callsites VALUES (:id, 7, 'INFO', 2, 't', 'm', 'f', 1, '["a"]', '["str"]');
INSERT INTO ttlog.events VALUES (:id, 0, 5, now(), 'INFO', 2, 't', 'm', 1, 7, '{"a": {"b": 1}}');
SQL
hostile 5 <<'SQL'
INSERT INTO ttlog.callsites VALUES (:id, 7, 'INFO', 300, 't', 'm', 'f', 1, '[]', '[]');
SQL
hostile 6 <<'SQL'
INSERT INTO ttlog.callsites VALUES (:id, 7, 'INFO', 2, 't', 'm', 'f', 1, '["a","b"]',
	'["u64","date"]');
SQL
hostile 7 <<'SQL'
UPDATE ttlog.snapshots SET pid = -7 WHERE id = :id;
SQL
# and one that is odd but fine: escapes, a surrogate pair, a control character
hostile 8 <<'SQL'
INSERT INTO ttlog.callsites VALUES (:id, 7, 'INFO', 2, 't', 'm {}', 'f', 1, '["a"]', '["str"]');
INSERT INTO ttlog.events VALUES (:id, 0, 5, now(), 'INFO', 2, 't', 'm', 1, 7,
	'{"a": "q\"\\\u0001\ud83d\ude00\u00e9"}');
SQL
"$VIEW" --json --from "$VURL" >"$T/hout" 2>"$T/herr"
rc=$?
nerr=$(grep -c '^ttlog-view: ttlog.snapshots id [0-9]*: ' "$T/herr")
want=$((good + 1))
odd=$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["service"] == "evil":
        print(o["fields"]["a"] == "q\"\\\x01\U0001F600\u00e9")' "$T/hout")
if [ $rc = 1 ] && [ "$nerr" = 7 ] && [ "$(wc -l <"$T/herr")" = 7 ] &&
   [ "$(wc -l <"$T/hout")" = $want ] && [ "$odd" = True ]; then
	ok "hostile rows: one line per bad snapshot, exit 1, the others shown"
else
	bad "hostile rows: exit $rc, $nerr error lines (want 7), $(wc -l <"$T/hout") events" \
		"(want $want)"
	sed 's/^/       /' "$T/herr"
	grep evil "$T/hout" | sed 's/^/       /'
fi

pg_stop fast
echo "test_pg: $passed passed, $failed failed"
[ "$failed" = 0 ]
