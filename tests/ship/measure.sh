#!/bin/sh
# measure.sh - ttlog-ship's throughput and CPU to a real rsyslogd on loopback (not part of
# `make test`): SNAPS snapshots of EVENTS events (tests/ship/gen), shipped with --once to
# rsyslogd (imtcp, Direct queue, omfile with the RFC 5424 format), three times; prints
# events/s (wall clock of the agent) and the agent's CPU (user + sys) per million events.
# usage: tests/ship/measure.sh [BIN] [SNAPS] [EVENTS]   (defaults build/percpu 5 60000)
set -eu
BIN=${1:-build/percpu}
SNAPS=${2:-5}
EVENTS=${3:-60000}
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-ship-measure.XXXXXX")
RS=
trap '[ -n "$RS" ] && kill $RS; rm -rf "$T"' EXIT
mkdir "$T/d"
for i in $(seq "$SNAPS"); do "$BIN/tests/ship/gen" "$T/d" bench "$EVENTS" 1; done
cat >"$T/rs.conf" <<CONF
global(workDirectory="$T" maxMessageSize="64k")
module(load="imtcp")
ruleset(name="r" queue.type="Direct") {
  action(type="omfile" file="$T/out.log" template="RSYSLOG_SyslogProtocol23Format") }
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="$T/port" ruleset="r")
CONF
/usr/sbin/rsyslogd -n -f "$T/rs.conf" -i "$T/pid" &
RS=$!
while [ ! -s "$T/port" ]; do sleep 0.05; done
total=$((SNAPS * EVENTS))
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $SNAPS snapshots x $EVENTS events"
for run in 1 2 3; do
	rm -f "$T/state"
	/usr/bin/time -f '%e %U %S' -o "$T/time" "$BIN/ttlog-ship" --once --state "$T/state" \
		--to "syslog://127.0.0.1:$(cat "$T/port")" "$T/d"
	read -r wall user sys <"$T/time"
	awk -v w="$wall" -v u="$user" -v s="$sys" -v n="$total" -v r="$run" 'BEGIN {
		printf "run %d: %d events in %.2f s: %.0f events/s; agent CPU %.2f s per million events\n",
		       r, n, w, n / w, (u + s) / (n / 1e6) }'
done
