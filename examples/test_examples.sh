#!/bin/sh
# test_examples.sh - run every example and check what it says and what its snapshots
# hold (read back with ttlog-view and the filereader example):
#   simple      events logged, snapshot taken, read back
#   filereader  the same snapshot through the reader API; a bad file refused
#   server      driven by its client over loopback TCP; a snapshot on SIGUSR2 holds every
#               request with its fields; SIGTERM stops it with a final snapshot, and the
#               two overlapping snapshots read as one timeline without repeats
#   complex     four node processes, billing crashes on request 1007: the merged view of
#               the directory tells that request's story across the nodes, in order
# Run by `make test` in the plain pass of each variant (TTLOG_BIN=build/<variant>).
set -u
BIN=${TTLOG_BIN:-build/mpmc}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
EX=$BIN/examples
VIEW=$BIN/ttlog-view
for p in "$VIEW" "$EX/simple" "$EX/filereader" "$EX/server" "$EX/complex"; do
	[ -x "$p" ] || { echo "test_examples: $p is missing (make examples)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-examples.XXXXXX") || exit 1
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export LC_ALL=C
unset NO_COLOR TTLOG_SNAPSHOT_DIR TTLOG_SERVICE_NAME TTLOG_SNAPSHOT_SIGNAL TTLOG_LEVEL
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() {
	failed=$((failed + 1))
	echo "FAIL $1"
	shift
	for f in "$@"; do [ -f "$f" ] && sed "s|^|       $(basename "$f"): |" "$f"; done
}
# lines FILE: the number of lines
lines() { wc -l <"$1" | tr -d ' '; }
# want NAME GOT EXPECTED [FILES to show on failure]
want() {
	name=$1 got=$2 exp=$3
	shift 3
	if [ "$got" = "$exp" ]; then ok "$name"; else bad "$name: got '$got', want '$exp'" "$@"; fi
}
# wait_for CMD...: poll until CMD succeeds. Only a hang reaches the limit (300 s): on a
# loaded machine the server may wait seconds to be scheduled.
wait_for() {
	i=0
	while ! "$@" 2>/dev/null; do
		i=$((i + 1))
		if [ "$i" -gt 3000 ]; then
			echo "       hung: '$*' still failing after 300 s"
			return 1
		fi
		sleep 0.1
	done
}

# ---- simple and filereader ---------------------------------------------------------
mkdir "$T/simple"
"$EX/simple" "$T/simple" >"$T/simple.out" 2>"$T/simple.err"
want "simple exits 0" "$?" 0 "$T/simple.err"
snap=$(sed -n 's/^snapshot: //p' "$T/simple.out")
case $snap in
"$T"/simple/ttlog-*-requested.bin) [ -f "$snap" ] && ok "simple: snapshot written and named" ||
	bad "simple: $snap missing" ;;
*) bad "simple: no snapshot path in its output" "$T/simple.out"; snap=/nonexistent ;;
esac
if grep -q "^6 events from simple" "$T/simple.out" &&
   grep -q "WARN  worker   job 4 failed: disk full" "$T/simple.out" &&
   grep -q "ERROR database Connection failed" "$T/simple.out"; then
	ok "simple: the events read back"
else
	bad "simple: read back" "$T/simple.out"
fi
"$VIEW" --json "$snap" >"$T/v.out" 2>&1
if [ "$(lines "$T/v.out")" = 6 ] && grep -q '"retry_in_s":-1' "$T/v.out" &&
   grep -q '"ms":2.5,"cached":true' "$T/v.out" && grep -q '"connection_id":12345' "$T/v.out"; then
	ok "simple: ttlog-view --json shows the typed fields"
else
	bad "simple: ttlog-view --json" "$T/v.out"
fi

"$EX/filereader" "$snap" >"$T/fr.out" 2>&1
want "filereader exits 0" "$?" 0 "$T/fr.out"
if head -1 "$T/fr.out" | grep -q "^service simple, host .*, reason requested: 6 events, 0 overwritten, 0 dropped$" &&
   grep -q "^    connection_id (u64) = 12345$" "$T/fr.out" &&
   grep -q '^    error (str) = "disk full"$' "$T/fr.out" &&
   grep -q "^    cached (bool) = true$" "$T/fr.out"; then
	ok "filereader: metadata and typed fields"
else
	bad "filereader: output" "$T/fr.out"
fi
printf 'not a snapshot' >"$T/bad.bin"
"$EX/filereader" "$T/bad.bin" >"$T/fr.out" 2>&1
rc=$?
if [ "$rc" = 1 ] && grep -q "bad.bin: not an LZ4 frame" "$T/fr.out"; then ok "filereader: a bad file is an error"
else bad "filereader on a bad file: exit $rc" "$T/fr.out"; fi

# ---- server ------------------------------------------------------------------------
mkdir "$T/srv"
TTLOG_SNAPSHOT_DIR=$T/srv "$EX/server" >"$T/srv.out" 2>"$T/srv.err" &
server_pid=$!
if wait_for grep -q "^listening on 127.0.0.1:" "$T/srv.out"; then
	port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$T/srv.out")
	"$EX/server" --client "$port" 20 >"$T/client.out" 2>&1
	want "server: the client's 20 requests answered" "$(cat "$T/client.out")" \
		"sent 20 requests: 5 x 200, 5 x 201, 5 x 404, 5 x 400"
	kill -USR2 "$server_pid"
	signal_snapshot() { ls "$T"/srv/ttlog-*-signal.bin >/dev/null 2>&1; } # glob at each try
	if wait_for signal_snapshot; then
		sig=$(ls "$T"/srv/ttlog-*-signal.bin)
		"$VIEW" --grep ' -> ' "$sig" >"$T/v.out" 2>&1
		want "server: SIGUSR2 snapshot holds the 15 well-formed requests" "$(lines "$T/v.out")" 15 "$T/v.out"
		"$VIEW" --json --field method=PUT --field status=201 "$sig" >"$T/v.out" 2>&1
		want "server: --field method=PUT --field status=201" "$(grep -c '"latency_us":' "$T/v.out")" 5 "$T/v.out"
		"$VIEW" --level warn "$sig" >"$T/v.out" 2>&1
		want "server: the bad requests as warnings" "$(grep -c 'bad request on connection 1: HELLO' "$T/v.out")" 5 "$T/v.out"
		"$VIEW" --header "$sig" >"$T/v.out" 2>&1
		if grep -q "^reason       signal$" "$T/v.out" && grep -q "^service      server$" "$T/v.out"; then
			ok "server: snapshot header says why"
		else
			bad "server: header" "$T/v.out"
		fi
	else
		bad "server: no snapshot after SIGUSR2" "$T/srv.err"
	fi
	kill -TERM "$server_pid"
	wait "$server_pid"
	want "server: SIGTERM stops it with status 0" "$?" 0 "$T/srv.err"
	server_pid=
	shut=$(ls "$T"/srv/ttlog-*-shutdown.bin 2>/dev/null)
	if [ -n "$shut" ]; then
		"$VIEW" "$shut" >"$T/one.out" 2>&1
		"$VIEW" "$T/srv" >"$T/all.out" 2>&1
		if cmp -s "$T/one.out" "$T/all.out" && [ "$(lines "$T/all.out")" -ge 24 ]; then
			ok "server: its two snapshots merge without repeated events"
		else
			bad "server: directory view differs from the last snapshot" "$T/one.out" "$T/all.out"
		fi
	else
		bad "server: no shutdown snapshot" "$T/srv.err"
	fi
else
	bad "server did not start" "$T/srv.out" "$T/srv.err"
fi

# ---- complex -----------------------------------------------------------------------
"$EX/complex" "$T/nodes" >"$T/cx.out" 2>&1
want "complex: billing crashed as planned, the others ended" "$?" 0 "$T/cx.out"
want "complex: four snapshots" "$(ls "$T"/nodes/ttlog-*.bin 2>/dev/null | wc -l | tr -d ' ')" 4
"$VIEW" --header --json "$T/nodes" >"$T/v.out" 2>&1
if grep '"service":"billing"' "$T/v.out" | grep -q '"reason":"SIGSEGV"' &&
   [ "$(grep -c '"reason":"shutdown"' "$T/v.out")" = 3 ]; then
	ok "complex: billing's snapshot is its crash's, the others' their shutdown's"
else
	bad "complex: snapshot reasons" "$T/v.out"
fi
"$VIEW" --json --field request_id=1007 "$T/nodes" >"$T/story.json" 2>"$T/v.err"
rc=$?
# the services, in timeline order
sed -n 's/.*"service":"\([a-z]*\)".*/\1/p' "$T/story.json" >"$T/story.svc"
for s in gateway auth orders billing; do
	grep -qx "$s" "$T/story.svc" || bad "complex: no $s event for request 1007" "$T/story.json"
done
if [ "$rc" = 0 ] && [ "$(lines "$T/story.json")" = 8 ] &&
   [ "$(grep -c '"request_id":1007' "$T/story.json")" = 8 ] &&
   head -1 "$T/story.json" | grep -q '"service":"gateway".*"message":"request 1007 received: lamp x3"' &&
   tail -1 "$T/story.json" | grep -q '"service":"gateway".*"message":"request 1007 failed with status 502"'; then
	ok "complex: request 1007 from the gateway and back, 8 events"
else
	bad "complex: the story of request 1007 (exit $rc)" "$T/story.json" "$T/v.err"
fi
# causality: billing's last words come before orders notices the lost connection
b=$(grep -n 'no ledger for user' "$T/story.json" | cut -d: -f1)
o=$(grep -n 'billing connection lost' "$T/story.json" | cut -d: -f1)
if [ -n "$b" ] && [ -n "$o" ] && [ "$b" -lt "$o" ] &&
   grep -q '"service":"billing".*"level":"WARN"\|"level":"WARN".*"service":"billing"' "$T/story.json"; then
	ok "complex: the crash precedes the failure it caused, across processes"
else
	bad "complex: order of the crash and its consequence" "$T/story.json"
fi
"$VIEW" --field request_id=1007 --level error "$T/nodes" >"$T/v.out" 2>&1
want "complex: --level error shows the two failures" "$(lines "$T/v.out")" 2 "$T/v.out"
"$VIEW" --stats --csv "$T/nodes" >"$T/v.out" 2>&1
if grep -q "^events,files,4$" "$T/v.out" && grep -q "^level,ERROR," "$T/v.out"; then
	ok "complex: --stats over the directory"
else
	bad "complex: --stats" "$T/v.out"
fi

echo "test_examples: $passed passed, $failed failed"
[ "$failed" = 0 ]
