#!/bin/sh
# test_view.sh - ttlog-view on the snapshots of tests/view/fixtures.c (crafted files with
# known times, a real snapshot from libttlog, and hostile files): every output format
# against the exact text expected, every filter, the merged and de-duplicated timeline,
# the exit statuses and the one-line errors. Run by `make test` (the root test-one loop)
# with TTLOG_BIN=build/<variant>[-san], in every pass: under ASan and TSan too, so the
# viewer's own memory handling is checked on hostile input.
# Each case prints "ok" or "FAIL" with what was expected and what came; exit 1 if any
# failed.
set -u
BIN=${TTLOG_BIN:-build/mpmc}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
VIEW=$BIN/ttlog-view
FIX=$BIN/view/fixtures
for p in "$VIEW" "$FIX"; do
	[ -x "$p" ] || { echo "test_view: $p is missing (make tests)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-view-test.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
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

# count NAME STATUS N: the last run exited with STATUS and printed N lines
count() {
	n=$(wc -l <"$T/out" | tr -d ' ')
	if [ "$rc" != "$2" ] || [ "$n" != "$3" ]; then
		bad "$1: exit status $rc and $n lines, want $2 and $3"
		sed 's/^/       stdout: /' "$T/out"
		sed 's/^/       stderr: /' "$T/err"
	else
		ok "$1"
	fi
}

# has NAME FILE STRING...: every STRING is in FILE (fixed strings)
has() {
	name=$1 file=$2
	shift 2
	for s in "$@"; do
		if ! grep -qF -- "$s" "$file"; then
			bad "$name: '$s' not in:"
			sed 's/^/       /' "$file"
			return
		fi
	done
	ok "$name"
}

# usage NAME ARGS...: exit status 2, one error line and the hint on stderr, no stdout
usage() {
	name=$1
	shift
	run "$VIEW" "$@"
	if [ "$rc" != 2 ] || [ -s "$T/out" ] || ! grep -q "^ttlog-view: " "$T/err" ||
	   ! grep -q -- "--help" "$T/err"; then
		bad "usage error $name: exit $rc, want 2 and a message"
		sed 's/^/       stderr: /' "$T/err"
	else
		ok "usage error $name"
	fi
}

"$FIX" "$T" || { echo "FAIL fixtures: cannot write the snapshot files"; exit 1; }
cd "$T" || exit 1

# ---- help and usage errors -------------------------------------------------------
run "$VIEW" --help
if [ "$rc" = 0 ] && grep -q "^usage: ttlog-view" out && grep -q -- "--interactive" out; then
	ok "--help exits 0 with the usage"
else
	bad "--help: exit $rc"
fi
usage "no file"
usage "unknown option" --bogus a.bin
usage "bad level" --level loud a.bin
usage "bad regex" --grep '(' a.bin
usage "bad time" --since yesterday a.bin
usage "bad relative time" --since -5parsecs a.bin
usage "json and csv" --json --csv a.bin
usage "bad --last" --last many a.bin
usage "bad thread" --thread abc a.bin
usage "missing argument" a.bin --level
usage "interactive and json" -i --json a.bin
usage "interactive without a terminal" -i a.bin

# ---- the table -------------------------------------------------------------------
cat >exp <<'EOF'
2024-05-01T12:00:00.000100Z INFO  101 http GET /index.html -> 200 ms=1.5
2024-05-01T12:00:00.000300Z DEBUG 102 auth user ann logged in request_id=7
2024-05-01T12:00:00.000500Z WARN  101 db   slow query SELECT * FROM t WHERE x = 'lo...
2024-05-01T12:00:00.000700Z ERROR 102 db   failed code=-3 retry=true
EOF
run "$VIEW" a.bin
check "table of one file, cut string marked" 0

cat >exp <<'EOF'
2024-05-01T12:00:00.000100Z INFO  alpha 101 http GET /index.html -> 200 ms=1.5
2024-05-01T12:00:00.000200Z INFO  beta  201 api  request 7 from 10.0.0.1:5000
2024-05-01T12:00:00.000300Z DEBUG alpha 102 auth user ann logged in request_id=7
2024-05-01T12:00:00.000500Z WARN  alpha 101 db   slow query SELECT * FROM t WHERE x = 'lo...
2024-05-01T12:00:00.000600Z FATAL beta  201 api  crash in handler value=2.5 flag=false
2024-05-01T12:00:00.000700Z ERROR alpha 102 db   failed code=-3 retry=true
EOF
run "$VIEW" a.bin b.bin
check "two files merge into one timeline, service shown" 0
run "$VIEW" b.bin a.bin
check "the merge does not depend on the argument order" 0

cat >exp <<'EOF'
2024-05-01T12:00:00.000100Z INFO  101 http GET /index.html -> 200 ms=1.5
2024-05-01T12:00:00.000300Z DEBUG 102 auth user ann logged in request_id=7
2024-05-01T12:00:00.000502Z WARN  101 db   slow query SELECT * FROM t WHERE x = 'lo...
2024-05-01T12:00:00.000702Z ERROR 102 db   failed code=-3 retry=true
2024-05-01T12:00:00.000902Z INFO  101 http GET /a b -> 404 ms=0.25
EOF
run "$VIEW" a.bin a2.bin
check "overlapping snapshots of one process (clock re-anchored): each event once, newest copy" 0
run "$VIEW" a2.bin a.bin
check "overlap found whatever the argument order" 0

cat >exp <<'EOF'
2024-05-01T12:00:00.000100Z INFO  alpha@h1 101 http GET /index.html -> 200 ms=1.5
2024-05-01T12:00:00.000400Z INFO  gamma@h2 100 tick tick 1 of {} {}
EOF
run "$VIEW" --level info --until 2024-05-01T12:00:00.0004Z a.bin c.bin
check "several hosts: service@host; same pid on another host is another process" 0

cat >exp <<'EOF'
2024-05-01T12:00:00.000050Z TRACE 1 odd odd a\nb\tc\x01 t="q\"uote = \xff"
EOF
run "$VIEW" odd.bin
check "control characters and bad UTF-8 escaped, values quoted" 0

cat >exp <<'EOF'
2024-05-01T14:00:00.000100+02:00 INFO  101 http GET /index.html -> 200 ms=1.5
EOF
TZ=UTC-2 run "$VIEW" --local --level info --last 1 --until 2024-05-01T14:00:00.0002 a.bin
check "--local: local time with its offset, --until read as local time" 0

run "$VIEW" a.bin
if grep -q "$(printf '\033')" out; then bad "no colours when piped"; else ok "no colours when piped"; fi
run "$VIEW" --color=always a.bin
if grep -q "$(printf '\033')\[31mERROR" out; then ok "--color=always: levels coloured"
else bad "--color=always: no red ERROR in:"; cat -v out; fi

if locale -a 2>/dev/null | grep -qix 'c.utf-\{0,1\}8'; then
	LC_ALL=C.UTF-8 run "$VIEW" --grep slow a.bin
	has "UTF-8 locale: the cut marker is an ellipsis" out "x = 'lo$(printf '\342\200\246')"
else
	echo "skip UTF-8 marker: no C.UTF-8 locale"
fi

# ---- JSON Lines and CSV ------------------------------------------------------------
cat >exp <<'EOF'
{"ts_ns":1714564800000100000,"time":"2024-05-01T12:00:00.000100Z","level":"INFO","service":"alpha","host":"h1","pid":100,"thread":101,"target":"http","message":"GET /index.html -> 200","fields":{"path":"/index.html","status":200,"ms":1.5},"location":"app.c:10"}
{"ts_ns":1714564800000300000,"time":"2024-05-01T12:00:00.000300Z","level":"DEBUG","service":"alpha","host":"h1","pid":100,"thread":102,"target":"auth","message":"user ann logged in","fields":{"user":"ann","request_id":7},"location":"app.c:20"}
{"ts_ns":1714564800000500000,"time":"2024-05-01T12:00:00.000500Z","level":"WARN","service":"alpha","host":"h1","pid":100,"thread":101,"target":"db","message":"slow query SELECT * FROM t WHERE x = 'lo","fields":{"sql":"SELECT * FROM t WHERE x = 'lo"},"location":"app.c:30","truncated":["sql"]}
{"ts_ns":1714564800000700000,"time":"2024-05-01T12:00:00.000700Z","level":"ERROR","service":"alpha","host":"h1","pid":100,"thread":102,"target":"db","message":"failed","fields":{"code":-3,"retry":true},"location":"app.c:40"}
EOF
run "$VIEW" --json a.bin
check "--json: typed fields, truncated only where a string was cut" 0

cat >exp <<'EOF'
{"ts_ns":1714564800000050000,"time":"2024-05-01T12:00:00.000050Z","level":"TRACE","service":"odd","host":"h1","pid":300,"thread":1,"target":"odd","message":"odd a\nb\tc\u0001","fields":{"s":"a\nb\tc\u0001","t":"q\"uote = \ufffd"},"location":"app.c:80"}
EOF
run "$VIEW" -j odd.bin
check "--json: escapes, bad UTF-8 as U+FFFD" 0

cat >exp <<'EOF'
time,ts_ns,level,service,host,pid,thread,target,message,fields,truncated
2024-05-01T12:00:00.000100Z,1714564800000100000,INFO,alpha,h1,100,101,http,GET /index.html -> 200,path=/index.html status=200 ms=1.5,
2024-05-01T12:00:00.000200Z,1714564800000200000,INFO,beta,h1,200,201,api,request 7 from 10.0.0.1:5000,request_id=7 peer=10.0.0.1:5000,
2024-05-01T12:00:00.000300Z,1714564800000300000,DEBUG,alpha,h1,100,102,auth,user ann logged in,user=ann request_id=7,
2024-05-01T12:00:00.000500Z,1714564800000500000,WARN,alpha,h1,100,101,db,slow query SELECT * FROM t WHERE x = 'lo,"sql=""SELECT * FROM t WHERE x = 'lo""",sql
2024-05-01T12:00:00.000600Z,1714564800000600000,FATAL,beta,h1,200,201,api,crash in handler,where=handler value=2.5 flag=false,
2024-05-01T12:00:00.000700Z,1714564800000700000,ERROR,alpha,h1,100,102,db,failed,code=-3 retry=true,
EOF
run "$VIEW" --csv a.bin b.bin
check "--csv: header row, quoting, truncated column" 0

# ---- directories and standard input --------------------------------------------------
mkdir d empty
cp a.bin d/ttlog-100-20240501120000-interval.bin
cp b.bin d/ttlog-200-20240501120000-SIGSEGV.bin
echo junk >d/.ttlog-tmp-100-1
echo notes >d/notes.txt
run "$VIEW" a.bin b.bin
cp out exp
run "$VIEW" d
check "a directory: its ttlog-*.bin files, merged; other files ignored" 0
run "$VIEW" empty a.bin
if [ "$rc" = 1 ] && grep -q "^ttlog-view: empty: no ttlog-\*.bin" err && [ "$(wc -l <out)" = 4 ]; then
	ok "a directory without snapshots: exit 1, one line, the others shown"
else
	bad "empty directory: exit $rc"; cat err
fi
"$VIEW" a.bin >exp 2>/dev/null
run "$VIEW" - <a.bin
check "'-' reads standard input" 0

# ---- filters -----------------------------------------------------------------------
run "$VIEW" --level warn a.bin b.bin
count "--level warn" 0 3
run "$VIEW" -l 4 a.bin b.bin
count "--level 4 (error and above)" 0 2
run "$VIEW" --target 'd*' a.bin b.bin
count "--target glob" 0 2
run "$VIEW" --target api --target auth a.bin b.bin
count "--target repeated: any" 0 3
run "$VIEW" --service beta a.bin b.bin
count "--service" 0 2
run "$VIEW" --thread 101 a.bin b.bin
count "--thread" 0 2
run "$VIEW" -T 101,201 a.bin b.bin
count "--thread list" 0 4
run "$VIEW" --grep 'logged in$' a.bin b.bin
count "--grep anchored regex on the rendered message" 0 1
run "$VIEW" -g '^(GET|request) ' a.bin b.bin
count "--grep alternation" 0 2
run "$VIEW" --grep 'request_id' a.bin b.bin
count "--grep does not look at field names" 0 0
run "$VIEW" --field request_id=7 a.bin b.bin
count "--field u64 value across files" 0 2
run "$VIEW" --field request_id a.bin b.bin
count "--field KEY: present" 0 2
run "$VIEW" --field request_id=7 --field user=ann a.bin b.bin
count "--field repeated: all" 0 1
run "$VIEW" -f retry=true a.bin
count "--field bool" 0 1
run "$VIEW" -f retry=false a.bin
count "--field bool, no match" 0 0
run "$VIEW" -f ms=1.50 a.bin
count "--field f64 compares as a number" 0 1
run "$VIEW" -f code=-3 a.bin
count "--field i64" 0 1
run "$VIEW" -f 'path=/index.html' a.bin
count "--field str" 0 1
run "$VIEW" --since 2024-05-01T12:00:00.0004Z a.bin b.bin
count "--since absolute UTC" 0 3
run "$VIEW" --since '2024-05-01 14:00:00.0004+02:00' a.bin b.bin
count "--since with an offset" 0 3
run "$VIEW" --since @1714564800000500000 a.bin b.bin
count "--since @ns, inclusive" 0 3
run "$VIEW" --until 2024-05-01T12:00:00.000300Z a.bin b.bin
count "--until inclusive" 0 3
TZ=UTC-2 run "$VIEW" --local --since 2024-05-01T14:00:00.0004 a.bin b.bin
count "--since in local time with --local" 0 3
run "$VIEW" --since -1h a.bin b.bin
count "--since -1h: the 2024 events are older" 0 0
run "$VIEW" --until -30s a.bin b.bin
count "--until -30s" 0 6
run "$VIEW" --since -100000d --until now a.bin b.bin
count "--since -100000d --until now" 0 6
run "$VIEW" --since 2024-05-01 --until 2024-05-02 a.bin
count "--since/--until dates" 0 4
cat >exp <<'EOF'
2024-05-01T12:00:00.000600Z FATAL beta  201 api  crash in handler value=2.5 flag=false
2024-05-01T12:00:00.000700Z ERROR alpha 102 db   failed code=-3 retry=true
EOF
run "$VIEW" --last 2 a.bin b.bin
check "--last 2 (columns as wide as every matching event's)" 0
run "$VIEW" --last 0 a.bin
count "--last 0" 0 0
run "$VIEW" --json --last 1 --level warn a.bin b.bin
has "--last with --json and --level" out '"level":"ERROR"'

# the story of one request across processes, for jq
run "$VIEW" --json --field request_id=7 a.bin b.bin
if [ "$(grep -c '"request_id":7' out)" = 2 ] && head -1 out | grep -q '"service":"beta"' &&
   tail -1 out | grep -q '"service":"alpha"'; then
	ok "--json --field request_id=7: both services, in time order"
else
	bad "--json --field request_id=7:"; cat out
fi

# ---- header and stats --------------------------------------------------------------
run "$VIEW" --header a.bin
has "--header" out "service      alpha" "hostname     h1" "pid          100" \
	"reason       interval" "variant      mpmc" "capacity     1024" "events       4" \
	"counters     logged=4 kept=4 overwritten=0 dropped=0 clipped=0 truncated=1 in_flight=0" \
	"created      2024-05-01T12:00:00.001000Z"
run "$VIEW" -H --json b.bin
has "--header --json" out '"service":"beta"' '"reason":"SIGSEGV"' '"events":2' \
	'"counters":{"logged":6,"kept":2,"overwritten":3,"dropped":1,"clipped":0,"truncated":0,"in_flight":0},"clipped_before_ns":0}'
run "$VIEW" -H --csv a.bin b.bin
count "--header --csv: a header row and a row per file" 0 3

cat >exp <<'EOF'
kind,key,value
events,shown,6
events,read,6
events,duplicates,0
events,files,2
span,first_ns,1714564800000100000
span,last_ns,1714564800000700000
level,TRACE,0
level,DEBUG,1
level,INFO,2
level,WARN,1
level,ERROR,1
level,FATAL,1
target,api,2
target,db,2
target,auth,1
target,http,1
thread,alpha 101,2
thread,alpha 102,2
thread,beta 201,2
loss,overwritten,3
loss,dropped,1
loss,clipped,0
loss,truncated,1
loss,in_flight,0
EOF
run "$VIEW" --stats --csv a.bin b.bin
check "--stats --csv: counts per level, target, thread; loss" 0
run "$VIEW" --stats a.bin a2.bin b.bin
has "--stats: one process's files count once, duplicates said" out \
	"events       7 shown of 9 read from 3 files (2 duplicates of overlapping snapshots skipped)" \
	"span         2024-05-01T12:00:00.000100Z .. 2024-05-01T12:00:00.000902Z (0.000802 s)" \
	"loss         overwritten=8 dropped=1 clipped=0 truncated=1 in_flight=0  (events are missing)"
run "$VIEW" --stats --json --level error a.bin b.bin
has "--stats --json after filters" out '"events":2' \
	'"levels":{"TRACE":0,"DEBUG":0,"INFO":0,"WARN":0,"ERROR":1,"FATAL":1}' \
	'"loss":{"overwritten":3,"dropped":1,"clipped":0,"truncated":1,"in_flight":0}'

# ---- bad inputs --------------------------------------------------------------------
run "$VIEW" bad-*.bin a.bin missing.bin
nbad=$(ls bad-*.bin | wc -l)
nerr=$(wc -l <err)
if [ "$rc" != 1 ] || [ "$(wc -l <out)" != 4 ] || [ "$nerr" != $((nbad + 1)) ]; then
	bad "bad files: exit $rc, $(wc -l <out) events, $nerr error lines; want 1, 4, $((nbad + 1))"
	sed 's/^/       stderr: /' err
else
	missing=""
	for f in bad-*.bin missing.bin; do
		grep -q "^ttlog-view: $f: ." err || missing="$missing $f"
	done
	if [ -z "$missing" ]; then ok "each bad file: one line naming it; the good one shown; exit 1"
	else bad "bad files without their error line:$missing"; cat err; fi
fi
has "errors say what is wrong" err "bad-empty.bin: empty file" "bad-notlz4.bin: not an LZ4 frame" \
	"bad-deep.bin: CBOR nested deeper than" "bad-unknowncs.bin: event 0: unknown callsite id 99" \
	"bad-wrongtype.bin: service is an unsigned integer, not a text string" \
	"bad-trunc.bin: truncated LZ4 frame"
run "$VIEW" --json bad-hugelen.bin bad-garbage.bin
count "only bad files: exit 1, nothing on stdout" 1 0
run "$VIEW" --stats bad-deep.bin
if [ "$rc" = 1 ] && grep -q "events       0 shown of 0 read from 0 files" out; then
	ok "--stats of a bad file: exit 1, zero counts"
else
	bad "--stats of a bad file: exit $rc"; cat out err
fi
if [ -w /dev/full ]; then
	run "$VIEW" a.bin
	"$VIEW" a.bin >/dev/full 2>"$T/err"
	rc=$?
	if [ "$rc" = 1 ] && grep -q "write error" err; then ok "a failed write: exit 1 and a message"
	else bad "write to /dev/full: exit $rc"; cat err; fi
fi

# ---- a real snapshot written by libttlog -------------------------------------------
run "$VIEW" real.bin
has "real snapshot: events read, cut string marked" out \
	" INFO " "GET /index.html -> 200 ms=1.5" "slow query SELECT * FROM users WHERE name = 'a ver..." \
	"failed code=-3 retry=true" "runtime built 42"
run "$VIEW" --json --grep slow real.bin
has "real snapshot: --json marks the cut field" out '"truncated":["sql"]' '"service":"real"'
run "$VIEW" --header real.bin
has "real snapshot: header" out "reason       fixture" "counters     logged=4 kept=4 overwritten=0"

# ---- text from a file never reaches the output raw ----------------------------------
# esc.bin holds ESC sequences (an OSC window title, a screen clear), C1 controls encoded
# in UTF-8 (U+009B CSI, U+009D OSC, U+009C ST) and bytes that are not UTF-8, in its
# service, a target and values; bad-escname.bin makes an error message quote them.
# clean NAME FILE: FILE has no control character but \n, no C1 control and only UTF-8
clean() {
	why=""
	if LC_ALL=C tr -d '\n' <"$2" | LC_ALL=C grep -q "$(printf '[\001-\037\177]')"; then
		why="a raw control character"
	elif LC_ALL=C grep -q "$(printf '\302[\200-\237]')" "$2"; then
		why="a raw C1 control (U+0080..U+009F)"
	elif command -v iconv >/dev/null 2>&1 && ! iconv -f UTF-8 -t UTF-8 "$2" >/dev/null 2>&1
	then
		why="invalid UTF-8"
	fi
	if [ -n "$why" ]; then
		bad "$1: $why in:"
		cat -v "$2" | sed 's/^/       /'
	else
		ok "$1"
	fi
}
for args in "esc.bin" "--csv esc.bin" "--json esc.bin" "--header esc.bin" \
	    "--header --csv esc.bin" "--stats esc.bin" "--stats --csv esc.bin" \
	    "--stats --json esc.bin" "esc.bin odd.bin" "--csv odd.bin"; do
	# shellcheck disable=SC2086 # the words of args are the arguments
	run "$VIEW" $args
	if [ "$rc" != 0 ]; then
		bad "ttlog-view $args: exit status $rc"
		cat err
	else
		clean "ttlog-view $args: output escaped" out
	fi
done
run "$VIEW" bad-escname.bin
if [ "$rc" = 1 ] && [ "$(wc -l <err)" = 1 ]; then
	clean "an error message quoting file content: escaped" err
else
	bad "bad-escname.bin: exit $rc, want 1 and one line:"
	cat err
fi
cat >exp <<'EOF'
2024-05-01T12:00:00.000010Z INFO  1 t\x1b[2J\u009b \x1b]0;owned\x07\x1b[2J \u009b31m \u009d0;x\u009c \xff \xe2\x82
EOF
run "$VIEW" --grep owned esc.bin
check "table: ESC, C1 (as \\u0080..\\u009f) and bad UTF-8 (as \\xNN) escaped" 0
cat >exp <<'EOF'
time,ts_ns,level,service,host,pid,thread,target,message,fields,truncated
2024-05-01T12:00:00.000010Z,1714564800000010000,INFO,esc\x1b[31m\u009b,h1,400,1,t\x1b[2J\u009b,\x1b]0;owned\x07\x1b[2J \u009b31m \u009d0;x\u009c \xff \xe2\x82,"s=\x1b]0;owned\x07\x1b[2J t=""\u009b31m \u009d0;x\u009c \xff \xe2\x82""",
EOF
run "$VIEW" --csv --grep owned esc.bin
check "--csv: escaped like the table, never a raw control or line break" 0

# CSV formula injection (OWASP): a cell starting with = + - @ tab CR gets a ' and quotes;
# a plain number (-3, -2.5) is data and stays as it is
cat >exp <<'EOF'
time,ts_ns,level,service,host,pid,thread,target,message,fields,truncated
2024-05-01T12:00:00.000020Z,1714564800000020000,INFO,esc\x1b[31m\u009b,h1,400,1,sheet,"'=HYPERLINK(""http://evil/"",""x"")","v=""=HYPERLINK(\""http://evil/\"",\""x\"")""",
2024-05-01T12:00:00.000021Z,1714564800000021000,INFO,esc\x1b[31m\u009b,h1,400,1,sheet,"'+1+1",v=+1+1,
2024-05-01T12:00:00.000022Z,1714564800000022000,INFO,esc\x1b[31m\u009b,h1,400,1,sheet,"'-2+3",v=-2+3,
2024-05-01T12:00:00.000023Z,1714564800000023000,INFO,esc\x1b[31m\u009b,h1,400,1,sheet,"'@SUM(A1)",v=@SUM(A1),
2024-05-01T12:00:00.000024Z,1714564800000024000,INFO,esc\x1b[31m\u009b,h1,400,1,sheet,"'\tx",v=\tx,
2024-05-01T12:00:00.000025Z,1714564800000025000,INFO,esc\x1b[31m\u009b,h1,400,1,sheet,"'\rx",v=\rx,
2024-05-01T12:00:00.000026Z,1714564800000026000,INFO,esc\x1b[31m\u009b,h1,400,1,sheet,-3,v=-3,
2024-05-01T12:00:00.000027Z,1714564800000027000,INFO,esc\x1b[31m\u009b,h1,400,1,sheet,-2.5,v=-2.5,
EOF
run "$VIEW" --csv --target sheet esc.bin
check "--csv: formula cells neutralised, numbers left as numbers" 0

# ---- levels beyond fatal (6 = OFF, 200) in old files ---------------------------------
cat >exp <<'EOF'
2024-05-01T12:00:00.000100Z L6    1 lvl  off level 1
2024-05-01T12:00:00.000200Z L200  1 lvl  level two hundred
2024-05-01T12:00:00.000300Z INFO  1 tick tick 1 of {} {}
EOF
run "$VIEW" levels.bin
check "levels 6 and 200: read, shown as L6 and L200" 0
run "$VIEW" --json levels.bin
has "--json: unknown levels by number" out '"level":"L6"' '"level":"L200"'
run "$VIEW" --csv levels.bin
has "--csv: unknown levels by number" out ',L6,lv,' ',L200,lv,'
run "$VIEW" --level fatal levels.bin
count "--level fatal: levels beyond fatal count as above it" 0 2
run "$VIEW" --level 200 levels.bin
count "--level 200: a number up to 255" 0 1
usage "level over 255" --level 256 levels.bin
run "$VIEW" --stats --csv levels.bin
has "--stats --csv: unknown levels counted" out "level,INFO,1" "level,L6,1" "level,L200,1"
run "$VIEW" --stats --json levels.bin
has "--stats --json: unknown levels counted" out \
	'"levels":{"TRACE":0,"DEBUG":0,"INFO":1,"WARN":0,"ERROR":0,"FATAL":0,"L6":1,"L200":1}'
run "$VIEW" --stats levels.bin
has "--stats: unknown levels counted" out "  L6    1" "  L200  1"

# ---- what is not a regular file: skipped or refused, never waited on ----------------
# (timeout: the old viewer opened a FIFO and waited for a writer forever)
mkdir fifo
cp a.bin fifo/ttlog-100-20240501120000-interval.bin
mkfifo fifo/ttlog-x.bin
mkdir fifo/ttlog-dir.bin
run timeout 60 "$VIEW" fifo
if [ "$rc" = 1 ] && [ "$(wc -l <out)" = 4 ] && [ "$(wc -l <err)" = 2 ] &&
   grep -q "^ttlog-view: fifo/ttlog-x.bin: not a regular file (a FIFO), skipped$" err &&
   grep -q "^ttlog-view: fifo/ttlog-dir.bin: not a regular file (a directory), skipped$" err
then
	ok "a directory with a FIFO and a directory named ttlog-*.bin: skipped, said, exit 1"
else
	bad "FIFO in a directory: exit $rc (124: timed out), $(wc -l <out) events, want 1, 4:"
	sed 's/^/       stderr: /' err
fi
run timeout 60 "$VIEW" fifo/ttlog-x.bin a.bin
if [ "$rc" = 1 ] && [ "$(wc -l <out)" = 4 ] && [ "$(wc -l <err)" = 1 ] &&
   grep -q "^ttlog-view: fifo/ttlog-x.bin: not a regular file (a FIFO)$" err; then
	ok "a FIFO on the command line: refused at once, exit 1, the others shown"
else
	bad "FIFO on the command line: exit $rc (124: timed out), want 1:"
	sed 's/^/       stderr: /' err
fi
if [ -c /dev/zero ]; then
	run timeout 60 "$VIEW" /dev/zero
	if [ "$rc" = 1 ] &&
	   grep -q "^ttlog-view: /dev/zero: not a regular file (a character device)$" err; then
		ok "a device: refused before reading"
	else
		bad "/dev/zero: exit $rc (124: timed out), want 1:"
		sed 's/^/       stderr: /' err
	fi
fi
"$VIEW" a.bin >exp 2>/dev/null
cat a.bin | timeout 60 "$VIEW" - >"$T/out" 2>"$T/err"
rc=$?
check "'-' reads a pipe on standard input" 0

echo "test_view: $passed passed, $failed failed"
[ "$failed" = 0 ]
