#!/bin/sh
# measure.sh - ttlog-ship's throughput and CPU (not part of `make test`): SNAPS snapshots
# of EVENTS events (tests/ship/gen), shipped with --once, three times, to
#   syslog       a real rsyslogd on loopback (imtcp, Direct queue, omfile with the RFC
#                5424 format)
#   postgresql   a throwaway PostgreSQL on loopback (initdb in a temporary directory; each
#                run into a fresh database, so that every snapshot is loaded, none skipped
#                as already there)
# prints events/s (wall clock of the agent) and the agent's CPU (user + sys) per million
# events.
# usage: tests/ship/measure.sh [BIN] [SNAPS] [EVENTS] [syslog|postgresql]
#        (defaults build/percpu 5 60000 syslog)
set -eu
BIN=${1:-build/percpu}
SNAPS=${2:-5}
EVENTS=${3:-60000}
DEST=${4:-syslog}
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-ship-measure.XXXXXX")
chmod 755 "$T"
RS=
PG=
as=
[ "$(id -u)" = 0 ] && as="runuser -u postgres --"
cleanup() {
	[ -n "$RS" ] && kill "$RS"
	[ -n "$PG" ] && $as pg_ctl -D "$T/pg/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
mkdir "$T/d"
# a ring that holds a whole snapshot's events
cap=65536
while [ "$cap" -lt "$EVENTS" ]; do cap=$((cap * 2)); done
for i in $(seq "$SNAPS"); do
	TTLOG_CAPACITY=$cap "$BIN/tests/ship/gen" "$T/d" bench "$EVENTS" 1
done
case $DEST in
syslog)
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
	url() { echo "syslog://127.0.0.1:$(cat "$T/port")"; }
	;;
postgresql)
	mkdir "$T/pg"
	[ -z "$as" ] || chown postgres "$T/pg"
	$as initdb -D "$T/pg/data" -A trust -U ttlog -E UTF8 --locale=C >"$T/pg/initdb.log"
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
	# the server as a fleet's would run it: fsync on (a COMMIT is durable)
	$as pg_ctl -D "$T/pg/data" -l "$T/pg/log" -w \
		-o "-p $port -k $T/pg -c listen_addresses=127.0.0.1" start >/dev/null
	PG=1
	url() { echo "postgresql://ttlog@127.0.0.1:$port/run$run"; }
	;;
*) echo "measure.sh: destination syslog or postgresql, not $DEST" >&2; exit 2 ;;
esac
total=$((SNAPS * EVENTS))
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $SNAPS snapshots x $EVENTS events to $DEST"
for run in 1 2 3; do
	rm -f "$T/state"
	[ "$DEST" = postgresql ] && psql -h 127.0.0.1 -p "$port" -U ttlog -d postgres -qc \
		"CREATE DATABASE run$run"
	/usr/bin/time -f '%e %U %S' -o "$T/time" "$BIN/ttlog-ship" --once --state "$T/state" \
		--to "$(url)" "$T/d"
	read -r wall user sys <"$T/time"
	awk -v w="$wall" -v u="$user" -v s="$sys" -v n="$total" -v r="$run" 'BEGIN {
		printf "run %d: %d events in %.2f s: %.0f events/s; agent CPU %.2f s per million events\n",
		       r, n, w, n / w, (u + s) / (n / 1e6) }'
	[ "$DEST" = postgresql ] && psql -h 127.0.0.1 -p "$port" -U ttlog -d "run$run" -Atc \
		"SELECT 'rows: ' || (SELECT count(*) FROM ttlog.snapshots) || ' snapshots, ' ||
		 (SELECT count(*) FROM ttlog.events) || ' events, ' ||
		 pg_size_pretty(pg_database_size(current_database()))"
done
