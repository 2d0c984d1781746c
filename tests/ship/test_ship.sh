#!/bin/sh
# test_ship.sh - ttlog-ship against a real rsyslogd (Debian's rsyslog), run as this user on
# a loopback port it picks, with its config, pid file, work directory and output in a
# temporary directory, stopped at the end. Snapshots come from tests/ship/gen (libttlog in
# a child process); tests/ship/check.py compares what rsyslog wrote (the raw message and
# its RFC 5424 parse, one JSON object per message) with the snapshots, message by message.
#   - usage errors, a destination that is down under --once, hostile directory entries
#   - every RFC 5424 field and escape rule, exactly once
#   - a second run and a restart send nothing again
#   - a receiver that dies right after reading: its clean close is not taken for an ack
#   - rsyslogd stopped (SIGTERM) in the middle of a run and started again: everything
#     arrives; a message arrives twice only if its snapshot's connection was torn, and
#     then only the snapshot the agent names in its "down" line
#   - rsyslogd killed (SIGKILL) in the middle of a run: the same, except that the last
#     messages of the snapshot acknowledged just before may be lost (rsyslogd had read
#     them, not written them: docs/ship.md); such a loss is printed
#   - the agent killed (SIGKILL) in the middle of a delivery and started again: the same
#   - syslog+tls:// with a throwaway CA (rsyslog's gtls driver)
# Run by `make test` in the mpmc passes with TTLOG_BIN=build/<variant>[-san]. Each case
# prints "ok" or "FAIL"; exit 1 if any failed.
set -u
if [ "${TTLOG_TEST_SAN:-}" = tsan ]; then
	# ttlog-ship runs one thread: TSan has nothing to check there, and under it this test
	# took 11 minutes of CI; the plain and ASan passes run it
	echo "skip test_ship under TSan: ttlog-ship is single-threaded"
	exit 0
fi
BIN=${TTLOG_BIN:-build/mpmc}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
SHIP=$BIN/ttlog-ship
VIEW=$BIN/ttlog-view
GEN=$BIN/tests/ship/gen
RSYSLOGD=${RSYSLOGD:-/usr/sbin/rsyslogd}
for p in "$SHIP" "$VIEW" "$GEN" "$RSYSLOGD"; do
	[ -x "$p" ] || { echo "test_ship: $p is missing (make tests; scripts/deps.sh core)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-ship-test.XXXXXX") || exit 1
RS_PID=
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID" 2>/dev/null
	[ -n "$RS_PID" ] && kill "$RS_PID" 2>/dev/null && wait "$RS_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
export LC_ALL=C.UTF-8
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
		if [ -n "$AGENT_PID" ] && ! kill -0 "$AGENT_PID" 2>/dev/null; then
			echo "FAIL the agent died waiting for $what"
			sed 's/^/       agent.log: /' "$T/agent.log"
			exit 1
		fi
		i=$((i + 1))
		if [ $i -ge 6000 ]; then
			echo "FAIL hung: $what not seen in 300 s"
			for f in "$T/rs/log" "$T/agent.log"; do
				[ -f "$f" ] && sed "s|^|       $(basename "$f"): |" "$f"
			done
			exit 1
		fi
		sleep 0.05
	done
}

# ---- rsyslogd --------------------------------------------------------------------------
# One JSON object per message: the raw message and rsyslog's parse of its fields. A Direct
# queue for the input's ruleset narrows the time between reading a message and writing it
# (docs/ship.md, "Read is not stored").
write_conf() { # PORT [tls]
	mkdir -p "$T/rs"
	{
		echo 'global(workDirectory="'"$T/rs"'" maxMessageSize="64k"'
		echo '       parser.escapeControlCharactersOnReceive="off"'
		if [ "${2:-}" = tls ]; then
			echo '       defaultNetstreamDriver="gtls"'
			echo '       defaultNetstreamDriverCAFile="'"$T/tls/ca.pem"'"'
			echo '       defaultNetstreamDriverCertFile="'"$T/tls/server.pem"'"'
			echo '       defaultNetstreamDriverKeyFile="'"$T/tls/server.key"'")'
			echo 'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1"'
			echo '       streamDriver.authMode="anon")'
		else
			echo ')'
			echo 'module(load="imtcp")'
		fi
		printf '%s' 'template(name="j" type="string" string="{\"raw\":\"%rawmsg:::json%\",'
		printf '%s' '\"pri\":\"%pri%\",\"ver\":\"%protocol-version%\",'
		printf '%s' '\"ts\":\"%timereported:::date-rfc3339%\",\"host\":\"%hostname:::json%\",'
		printf '%s' '\"app\":\"%app-name:::json%\",\"procid\":\"%procid:::json%\",'
		printf '%s' '\"msgid\":\"%msgid:::json%\",\"sd\":\"%structured-data:::json%\",'
		printf '%s\n' '\"msg\":\"%msg:::json%\"}\n")'
		echo 'ruleset(name="ship" queue.type="Direct") {'
		echo '  action(type="omfile" file="'"$T/out.jsonl"'" template="j") }'
		echo 'input(type="imtcp" address="127.0.0.1" port="'"$1"'" ruleset="ship")'
	} >"$T/rs/rsyslog.conf"
}

. "$HERE/net.sh" # pick_port, listens

rs_alive() { kill -0 "$RS_PID" 2>/dev/null; }
rs_up() { ! rs_alive || listens "$PORT" "$RS_PID"; }

start_rsyslog() { # PORT [tls]  (0: pick a free one, then $PORT is it)
	tries=0
	while :; do
		if [ "$1" = 0 ]; then PORT=$(pick_port); else PORT=$1; fi
		write_conf "$PORT" "${2:-}"
		"$RSYSLOGD" -n -f "$T/rs/rsyslog.conf" -i "$T/rs/rsyslogd.pid" >>"$T/rs/log" 2>&1 &
		RS_PID=$!
		wait_for "rsyslogd listening on $PORT" rs_up
		rs_alive && return
		wait "$RS_PID" 2>/dev/null # it could not listen: the port was taken
		RS_PID=
		tries=$((tries + 1))
		if [ "$1" != 0 ] || [ $tries -ge 20 ]; then
			echo "FAIL rsyslogd could not listen on $PORT"
			sed 's/^/       rs.log: /' "$T/rs/log"
			exit 1
		fi
	done
}

stop_rsyslog() { # [SIGNAL]
	kill -"${1:-TERM}" "$RS_PID"
	wait "$RS_PID" 2>/dev/null
	RS_PID=
}

lines() { if [ -f "$T/out.jsonl" ]; then wc -l <"$T/out.jsonl" | tr -d ' '; else echo 0; fi; }

# state entries of the destination ($URL)
recorded() { grep -c "^$URL " "$1" 2>/dev/null || echo 0; }
nsnaps() { ls "$1"/ttlog-*.bin 2>/dev/null | wc -l | tr -d ' '; }
all_recorded() { [ "$(recorded "$1")" -eq "$(nsnaps "$2")" ]; }

check() { # NAME FACILITY [--dup-ok FILE]... SNAPSHOT...
	name=$1
	shift
	if python3 "$HERE/check.py" "$VIEW" "$T/out.jsonl" "$@" >"$T/check" 2>&1; then
		ok "$name: $(tail -1 "$T/check")"
		grep '^residual loss' "$T/check" | sed 's/^/       /'
	else
		bad "$name"
		sed 's/^/       /' "$T/check"
	fi
}

# ---- usage ---------------------------------------------------------------------------
mkdir -p "$T/d1" "$T/d2" "$T/d3"
usage() { # NAME STATUS ARGS...
	name=$1
	want=$2
	shift 2
	"$SHIP" "$@" >"$T/uout" 2>"$T/uerr"
	rc=$?
	if [ $rc = "$want" ]; then ok "$name (exit $rc)"; else
		bad "$name: exit $rc, want $want"
		sed 's/^/       /' "$T/uerr"
	fi
}
usage "--help" 0 --help
grep -q -- '--to URL' "$T/uout" || bad "--help text lacks --to"
usage "no destination" 2 "$T/d1"
usage "no directory" 2 --to syslog://127.0.0.1:1
usage "unknown scheme" 2 --to http://x "$T/d1"
usage "bad port" 2 --to syslog://127.0.0.1:99999 "$T/d1"
usage "URL with a path" 2 --to syslog://127.0.0.1:5/x "$T/d1"
usage "missing directory" 2 --to syslog://127.0.0.1:1 "$T/nothere"
usage "bad facility" 2 --facility local9 --to syslog://127.0.0.1:1 "$T/d1"
usage "bad option" 2 --bogus --to syslog://127.0.0.1:1 "$T/d1"
usage "same destination twice" 2 --to syslog://h:1 --to syslog://h:1 "$T/d1"
usage "TLS CA file missing" 1 --ca-file "$T/none.pem" --to syslog+tls://h:1 "$T/d1"

# ---- snapshots ----------------------------------------------------------------------
"$GEN" "$T/d1" checkout 9 2 || bad "gen d1"
"$GEN" "$T/d2" 'svc "q"]=% x' 9 1 || bad "gen d2"
d2snap=$(ls "$T"/d2/ttlog-*.bin)
# a hostname with every character a header escapes, set in a UTS namespace of its own
nsnap=3
if unshare -u true 2>/dev/null; then
	unshare -u python3 -c 'import os, socket, sys
socket.sethostname(sys.argv[1]); os.execv(sys.argv[2], sys.argv[2:])' \
		'hé st%"]=x' "$GEN" "$T/d2" hostile 9 1 || bad "gen, hostile hostname"
	nsnap=4
else
	echo "skip a hostile hostname: no UTS namespace (unshare -u) for this user"
fi
snaps1=$(ls "$T"/d1/ttlog-*.bin "$T"/d2/ttlog-*.bin)
[ "$(echo "$snaps1" | wc -l)" = $nsnap ] || bad "gen: want $nsnap snapshots, got: $snaps1"

# a destination that is down: --once fails, records nothing
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' \
	>"$T/freeport"
usage "--once, destination down" 1 --once --state "$T/state0" \
	--to "syslog://127.0.0.1:$(cat "$T/freeport")" "$T/d1"
grep -q 'down: connect' "$T/uerr" || bad "down: no 'down: connect' line in: $(cat "$T/uerr")"
[ ! -e "$T/state0" ] || [ "$(wc -l <"$T/state0")" = 1 ] ||
	bad "down: the state records something: $(cat "$T/state0")"

start_rsyslog 0
URL="syslog://127.0.0.1:$PORT"

# hostile entries: a file that is not a snapshot, a FIFO and a symlink named like one, a
# temporary file (a FIFO would block a reader that opened it)
printf 'not a snapshot' >"$T/d1/ttlog-garbage.bin"
mkfifo "$T/d1/ttlog-fifo.bin"
ln -s "$d2snap" "$T/d1/ttlog-link.bin"
cp "$d2snap" "$T/d1/.ttlog-tmp-1-0123456789abcdef"

# ---- every field, exactly once ----------------------------------------------------------
"$SHIP" --once --state "$T/state" --to "$URL" "$T/d1" "$T/d2" >"$T/o1" 2>"$T/e1"
rc=$?
[ $rc = 1 ] && [ "$(grep -c 'ttlog-garbage.bin: not shipped' "$T/e1")" = 1 ] &&
	! grep -q 'ttlog-fifo\|ttlog-link\|ttlog-tmp' "$T/e1" &&
	ok "--once with a bad file: exit 1, one line" ||
	{ bad "--once with a bad file: exit $rc"; sed 's/^/       /' "$T/e1"; }
check "every field and escape" 1 $snaps1
mode=$(stat -c %a "$T/state")
[ "$mode" = 600 ] && ok "state file mode 600" || bad "state file mode $mode"
[ "$(recorded "$T/state")" = $nsnap ] && ok "state: $nsnap snapshots recorded" ||
	bad "state: $(recorded "$T/state") entries, want $nsnap"

rm "$T/d1/ttlog-garbage.bin"
n=$(lines)
"$SHIP" --once -v --state "$T/state" --to "$URL" "$T/d1" "$T/d2" 2>"$T/e2"
rc=$?
[ $rc = 0 ] && [ "$(lines)" = "$n" ] && grep -q '0 snapshots .* shipped, 0 waiting' "$T/e2" &&
	ok "second --once: exit 0, nothing sent again" ||
	{ bad "second --once: exit $rc, $(lines) lines, want $n"; sed 's/^/       /' "$T/e2"; }

# a copy of a shipped snapshot (same identity) under another name is not shipped again
cp "$d2snap" "$T/d1/ttlog-copy.bin"
"$SHIP" --once --state "$T/state" --to "$URL" "$T/d1" "$T/d2" 2>"$T/e3"
rc=$?
[ $rc = 0 ] && [ "$(lines)" = "$n" ] && ok "a copy of a shipped snapshot: not sent again" ||
	bad "a copy: exit $rc, $(lines) lines, want $n"
rm -f "$T/d1/ttlog-copy.bin" "$T/d1/ttlog-fifo.bin" "$T/d1/ttlog-link.bin" "$T"/d1/.ttlog-tmp-*

# a state file that does not parse stops the agent: starting over would ship it all again
printf '# ttlog-ship state 1\nsyslog://x y\n' >"$T/badstate"
usage "a malformed state file" 1 --once --state "$T/badstate" --to "$URL" "$T/d1"
grep -q 'badstate:2: malformed line' "$T/uerr" || bad "malformed state: $(cat "$T/uerr")"
[ "$(lines)" = "$n" ] || bad "malformed state: something was sent"

# a receiver that reads everything, then dies before handling it: its connection closes
# as cleanly as a receiver's own close would (the kernel closes it), so the agent probes
# with a new connection, which a dead receiver refuses: not acknowledged, not recorded
python3 -c 'import os, socket, sys
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
open(sys.argv[1], "w").write(str(ls.getsockname()[1])); c, _ = ls.accept()
while c.recv(65536): pass
ls.close(); os._exit(0)' "$T/deadport" &
dead_pid=$!
has_deadport() { [ -s "$T/deadport" ]; }
wait_for "the dying receiver" has_deadport
usage "a receiver that dies after reading" 1 --once --state "$T/state5" \
	--to "syslog://127.0.0.1:$(cat "$T/deadport")" "$T/d1"
wait "$dead_pid"
grep -q 'refused a new connection' "$T/uerr" || bad "dying receiver: $(cat "$T/uerr")"
[ ! -e "$T/state5" ] || [ "$(wc -l <"$T/state5")" = 1 ] ||
	bad "dying receiver: recorded: $(cat "$T/state5")"

# ---- facility --------------------------------------------------------------------------
stop_rsyslog
mv "$T/out.jsonl" "$T/out-1.jsonl"
start_rsyslog "$PORT"
"$GEN" "$T/d3" fac 9 1 || bad "gen d3"
"$SHIP" --once --facility local3 --state "$T/state3" --to "$URL" "$T/d3" 2>"$T/e4" ||
	bad "--facility local3: exit $?"
check "--facility local3" 19 "$T"/d3/ttlog-*.bin

grown() { [ "$(lines)" -gt 2000 ]; }
is_down() { grep -q ': down: ' "$T/agent.log"; }

# ---- watching, rsyslogd stopped (SIGTERM) and started again -----------------------------
stop_rsyslog
mv "$T/out.jsonl" "$T/out-2.jsonl"
start_rsyslog "$PORT"
V=$T/v
mkdir -p "$V"
"$SHIP" --state "$T/vstate" --backoff-max 0.2 --to "$URL" "$V" 2>"$T/agent.log" &
AGENT_PID=$!
"$GEN" "$V" term 3000 3 || bad "gen term"
wait_for "rsyslog receiving" grown
stop_rsyslog TERM
"$GEN" "$V" whiledown 500 1 || bad "gen while down"
wait_for "the agent's down line" is_down
start_rsyslog "$PORT"
wait_for "every snapshot recorded" all_recorded "$T/vstate" "$V"
torn=$(sed -n 's/.*: down: .*(shipping \([^;]*\);.*/\1/p' "$T/agent.log")
dupok=
for f in $torn; do dupok="$dupok --dup-ok $f"; done
echo "       rsyslogd stopped; torn: ${torn:-none}"
# shellcheck disable=SC2086
check "rsyslogd stopped (SIGTERM) mid-run: nothing lost" 1 $dupok "$V"/ttlog-*.bin
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
AGENT_PID=

# ---- watching, rsyslogd killed (SIGKILL) and started again -----------------------------
stop_rsyslog
mv "$T/out.jsonl" "$T/out-3.jsonl"
start_rsyslog "$PORT"
W=$T/w
mkdir -p "$W"
"$SHIP" -v --state "$T/wstate" --backoff-max 0.2 --to "$URL" "$W" 2>"$T/agent.log" &
AGENT_PID=$!
# big snapshots, so that the kill lands in the middle of the run
"$GEN" "$W" big 3000 3 || bad "gen big"
wait_for "rsyslog receiving" grown
stop_rsyslog KILL
before_restart=$(lines)
"$GEN" "$W" whiledown 500 2 || bad "gen while down"
wait_for "the agent's down line" is_down
start_rsyslog "$PORT"
wait_for "every snapshot recorded" all_recorded "$T/wstate" "$W"
ndown=$(grep -c ': down: ' "$T/agent.log")
nup=$(grep -c ': up again after ' "$T/agent.log")
[ "$ndown" = 1 ] && [ "$nup" = 1 ] && ok "one down line, one up line" ||
	{ bad "down $ndown, up $nup lines, want 1 and 1"; sed 's/^/       /' "$T/agent.log"; }
torn=$(sed -n 's/.*: down: .*(shipping \([^;]*\);.*/\1/p' "$T/agent.log")
dupok=
for f in $torn; do dupok="$dupok --dup-ok $f"; done
# the snapshot acknowledged last before the kill: rsyslogd may have closed its connection
# before writing its last messages (docs/ship.md); check.py prints such a loss
acked=$(sed -n '/: down: /q; s/^ttlog-ship: \(.*\) -> syslog:.*/\1/p' "$T/agent.log" | tail -1)
[ -n "$acked" ] && dupok="$dupok --tail-ok $acked"
echo "       rsyslogd killed after $before_restart messages; torn: ${torn:-none};" \
	"acknowledged last before: ${acked:-none}"
# shellcheck disable=SC2086
check "rsyslogd killed (SIGKILL) mid-run" 1 $dupok "$W"/ttlog-*.bin

# a snapshot copied in (cp writes it under its final name: empty first, then whole)
cp "$(ls "$T"/d3/ttlog-*.bin)" "$W/ttlog-copied.bin"
wait_for "the copied snapshot recorded" all_recorded "$T/wstate" "$W"
[ "$(grep -c ' /.*/w/ttlog-copied.bin$' "$T/wstate")" = 1 ] && ok "a snapshot copied in: shipped" ||
	bad "a snapshot copied in: $(cat "$T/wstate")"
# one agent per state file
usage "a second agent on the same state file" 1 --once --state "$T/wstate" --to "$URL" "$W"
grep -q 'another ttlog-ship uses this state file' "$T/uerr" || bad "lock: $(cat "$T/uerr")"

# ---- the agent killed in the middle of a delivery, started again ------------------------
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
"$SHIP" --state "$T/wstate" --backoff-max 0.2 --to "$URL" "$W" 2>>"$T/agent.log" &
AGENT_PID=$!
base=$(lines)
"$GEN" "$W" big2 20000 1 || bad "gen big2"
grown2() { [ "$(lines)" -gt $((base + 100)) ]; }
wait_for "the agent delivering" grown2
kill -KILL "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null
at_kill=$(($(lines) - base))
# what the state did not record when the agent died may have been in flight
inflight=
for f in "$W"/ttlog-*.bin; do
	grep -q " $f\$" "$T/wstate" || inflight="$inflight $f"
done
"$SHIP" --state "$T/wstate" --backoff-max 0.2 --to "$URL" "$W" 2>>"$T/agent.log" &
AGENT_PID=$!
wait_for "every snapshot recorded after the restart" all_recorded "$T/wstate" "$W"
for f in $inflight; do dupok="$dupok --dup-ok $f"; done
echo "       agent killed after $at_kill messages of the new snapshot;" \
	"not recorded then: ${inflight:-none}"
# shellcheck disable=SC2086
check "agent killed mid-delivery" 1 $dupok "$W"/ttlog-*.bin

# a clean stop and a restart send nothing again
kill -TERM "$AGENT_PID"
wait "$AGENT_PID"
rc=$?
AGENT_PID=
n=$(lines)
"$SHIP" --once --state "$T/wstate" --to "$URL" "$W" 2>"$T/e5"
rc2=$?
[ $rc = 0 ] && [ $rc2 = 0 ] && [ "$(lines)" = "$n" ] &&
	ok "SIGTERM exit 0; restart sends nothing again" ||
	bad "SIGTERM exit $rc, restart exit $rc2, $(lines) lines, want $n"
stop_rsyslog

# ---- TLS ----------------------------------------------------------------------------
if command -v certtool >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] ||
	ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1; then
	mkdir -p "$T/tls"
	(
		cd "$T/tls" || exit 1
		printf 'cn = ttlog test CA\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl
		printf 'cn = localhost\ndns_name = localhost\ntls_www_server\n' >server.tmpl
		printf 'encryption_key\nsigning_key\nexpiration_days = 2\n' >>server.tmpl
		printf 'cn = other CA\nca\ncert_signing_key\nexpiration_days = 2\n' >other.tmpl
		certtool -p --outfile ca.key &&
			certtool -s --load-privkey ca.key --template ca.tmpl --outfile ca.pem &&
			certtool -p --outfile server.key &&
			certtool -c --load-privkey server.key --load-ca-certificate ca.pem \
				--load-ca-privkey ca.key --template server.tmpl --outfile server.pem &&
			certtool -p --outfile other.key &&
			certtool -s --load-privkey other.key --template other.tmpl --outfile other.pem
	) >"$T/tls/log" 2>&1 || { bad "certtool"; sed 's/^/       /' "$T/tls/log"; }
	mv "$T/out.jsonl" "$T/out-3.jsonl"
	start_rsyslog 0 tls
	mkdir -p "$T/d4"
	"$GEN" "$T/d4" tls 9 1 || bad "gen d4"
	usage "TLS, a CA that did not sign the server" 1 --once --state "$T/state4" \
		--ca-file "$T/tls/other.pem" --to "syslog+tls://localhost:$PORT" "$T/d4"
	grep -q 'TLS handshake' "$T/uerr" || bad "TLS with the wrong CA: $(cat "$T/uerr")"
	usage "TLS, a name the certificate lacks" 1 --once --state "$T/state4" \
		--ca-file "$T/tls/ca.pem" --to "syslog+tls://127.0.0.1:$PORT" "$T/d4"
	grep -q 'TLS handshake: .*name in the certificate does not match' "$T/uerr" ||
		bad "TLS with another name: $(cat "$T/uerr")"
	usage "TLS" 0 --once --state "$T/state4" --ca-file "$T/tls/ca.pem" \
		--to "syslog+tls://localhost:$PORT" "$T/d4"
	check "syslog+tls://" 1 "$T"/d4/ttlog-*.bin
	stop_rsyslog
else
	bad "TLS: certtool (gnutls-bin) or rsyslog-gnutls missing (scripts/deps.sh core)"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
