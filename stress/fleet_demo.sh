#!/bin/sh
# fleet_demo.sh - the fleet, for real, on one machine (issue 15): a real rsyslogd and a real
# PostgreSQL on loopback (unprivileged ports, data in a temporary directory, stopped at the
# end), the distributed simulator's nodes (stress/distributed_simulator.c, each with its own
# snapshot directory) and one ttlog-ship per node watching that directory (inotify) and
# shipping to both. Mid-run both destinations are killed (rsyslogd SIGKILL, PostgreSQL
# `pg_ctl stop -m immediate`) for a few seconds and started again. When every agent's state
# file lists every snapshot of its node for both destinations, the agents are stopped
# (SIGTERM) and stress/fleet_check.py checks that every event of every snapshot (ttlog-view
# --json of the files is the truth) is in both engines exactly once. Then the agents' rate
# and CPU are measured into each engine afresh (a new rsyslog file, a new database): one
# `ttlog-ship --once` alone on the biggest node directory, then one per node directory, all
# at once.
#
# Run by `make fleet-demo` and, QUICK=1, by `make stress` (scenario "fleet").
# Environment: FLEET_BIN (the build directory with ttlog-ship and ttlog-view, default
# build/percpu), FLEET_SIM (the simulator, default $FLEET_BIN/stress/distributed_simulator),
# VARIANT (the ring the nodes use, default percpu), QUICK, FLEET_NODES, FLEET_SECONDS,
# STRESS_SEED, RSYSLOGD, FLEET_KEEP (keep the temporary directory). The PostgreSQL half is
# skipped, with a message, when ttlog-ship says it does not know postgresql://. Exit status
# 0 when every check passed, 1 otherwise.
#
# What "exactly once" means per engine (docs/ship.md): PostgreSQL has one transaction per
# snapshot, keyed by its identity: every event once, nothing else, strictly. TCP syslog has
# no acknowledgement: a connection torn by the kill makes the first part of that one
# snapshot arrive twice (byte for byte; the agent names it in its "down" line), and
# rsyslogd killed right after acknowledging a snapshot may not have written its last
# messages ("Read is not stored"). The check allows these two cases only for the snapshots
# they can hit (the agents' "down" lines; the last one each had acknowledged at the kill),
# a second copy only byte for byte the same, and prints what it allowed.
set -u
BIN=${FLEET_BIN:-build/percpu}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
SIM=${FLEET_SIM:-$BIN/stress/distributed_simulator}
case $SIM in /*) ;; *) SIM=$(pwd)/$SIM ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
VARIANT=${VARIANT:-percpu}
SHIP=$BIN/ttlog-ship
VIEW=$BIN/ttlog-view
RSYSLOGD=${RSYSLOGD:-/usr/sbin/rsyslogd}
SEED=${STRESS_SEED:-$(date +%s)}
QUICK=${QUICK:-}
[ "$QUICK" = 0 ] && QUICK=

# sizes: the nodes log ~10,000 events/s each into small rings; every snapshot holds a ring
if [ -n "$QUICK" ]; then
	NODES=${FLEET_NODES:-6} RUN_S=${FLEET_SECONDS:-10} CAP=2048 TICK_MS=1000 DOWN_S=3
else
	NODES=${FLEET_NODES:-8} RUN_S=${FLEET_SECONDS:-20} CAP=4096 TICK_MS=1000 DOWN_S=5
fi
# a hang guard many times what a run needs, not a performance threshold
DRAIN_LIMIT_S=900

for p in "$SHIP" "$VIEW" "$SIM" "$RSYSLOGD" /usr/bin/time; do
	[ -x "$p" ] || { echo "FLEET FAIL: $p is missing (make; scripts/deps.sh core)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "FLEET FAIL: python3 is missing" >&2; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-fleet.XXXXXX") || exit 1
chmod 755 "$T" # the postgres user reaches its data directory through it
RS_PID=
SIM_PID=
AGENTS=
PG_UP=
AS=
PGD=$T/pg
export LC_ALL=C.UTF-8 TZ=UTC PGCLIENTENCODING=UTF8
# the nodes' black boxes (the simulator kills some) go with the run, not to /dev/shm
if [ -z "${TTLOG_BLACKBOX_DIR:-}" ]; then
	mkdir -m 700 "$T/boxes" && export TTLOG_BLACKBOX_DIR="$T/boxes"
fi

pg_ctl_() { $AS pg_ctl -D "$PGD/data" "$@"; }

cleanup() {
	for a in $AGENTS; do kill -KILL "$a" 2>/dev/null; done
	for a in $AGENTS; do wait "$a" 2>/dev/null; done
	# the simulator runs in a session of its own: its nodes go with it
	[ -n "$SIM_PID" ] && kill -KILL "-$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
	[ -n "$RS_PID" ] && kill -KILL "$RS_PID" 2>/dev/null && wait "$RS_PID" 2>/dev/null
	# PG_UP is set before pg_ctl start returns: a start interrupted here has its server
	# stopped too, through its pid file (when it is that server's) if pg_ctl fails
	if [ -n "$PG_UP" ] && ! pg_ctl_ -m immediate stop >/dev/null 2>&1; then
		pm=$(head -1 "$PGD/data/postmaster.pid" 2>/dev/null)
		[ -n "$pm" ] && grep -qa "$PGD/data" "/proc/$pm/cmdline" 2>/dev/null &&
			kill -QUIT "$pm"
	fi
	if [ -n "${FLEET_KEEP:-}" ]; then echo "fleet: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

say() { echo "fleet: $*"; }
fail() {
	echo "FLEET FAIL: $*" >&2
	for f in "$T"/agent-*.log; do
		[ -s "$f" ] && tail -5 "$f" | sed "s|^|  $(basename "$f"): |" >&2
	done
	[ -s "$T/sim.log" ] && tail -5 "$T/sim.log" | sed 's/^/  sim.log: /' >&2
	exit 1
}

# alive PID: the process runs (a child that exited and is not waited for yet is a zombie,
# which kill -0 still finds)
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null; }

# wait_for WHAT CMD...: run CMD every 100 ms until it succeeds; fail after DRAIN_LIMIT_S
wait_for() {
	what=$1
	shift
	tries=0
	until "$@"; do
		for a in $AGENTS; do
			alive "$a" || fail "an agent (pid $a) died waiting for $what"
		done
		tries=$((tries + 1))
		[ $tries -ge $((DRAIN_LIMIT_S * 10)) ] &&
			fail "hung: $what not seen in $DRAIN_LIMIT_S s"
		sleep 0.1
	done
}

. "$HERE/../tests/ship/net.sh" # pick_port, listens

# ---- rsyslogd: one JSON object per message with its raw text ----------------------------
write_rs_conf() { # PORT OUT
	mkdir -p "$T/rs"
	cat >"$T/rs/rsyslog.conf" <<EOF
global(workDirectory="$T/rs" maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off")
module(load="imtcp")
template(name="raw" type="string" string="{\\"raw\\":\\"%rawmsg:::json%\\"}\\n")
ruleset(name="ship" queue.type="Direct") { action(type="omfile" file="$2" template="raw") }
input(type="imtcp" address="127.0.0.1" port="$1" ruleset="ship")
EOF
}

# the listening socket on $RS_PORT belongs to rsyslogd $RS_PID
rs_listens() {
	alive "$RS_PID" || return 0 # it died: start_rsyslog says so
	listens "$RS_PORT" "$RS_PID"
}

start_rsyslog() { # OUT
	write_rs_conf "$RS_PORT" "$1"
	"$RSYSLOGD" -n -f "$T/rs/rsyslog.conf" -i "$T/rs/rsyslogd.pid" >>"$T/rs/log" 2>&1 &
	RS_PID=$!
	wait_for "rsyslogd listening on $RS_PORT" rs_listens
	alive "$RS_PID" || { sed 's/^/  rs.log: /' "$T/rs/log" >&2
		fail "rsyslogd could not listen on $RS_PORT"; }
}

stop_rsyslog() { # SIGNAL
	kill -"$1" "$RS_PID"
	wait "$RS_PID" 2>/dev/null
	RS_PID=
}

rs_lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# ---- PostgreSQL --------------------------------------------------------------------------
USE_PG=1
mkdir "$T/empty"
"$SHIP" --once --state "$T/probe.state" --to "postgresql://ttlog@127.0.0.1:1/postgres" \
	"$T/empty" >/dev/null 2>"$T/probe.err"
if grep -q 'not a destination URL' "$T/probe.err"; then
	USE_PG=
	say "SKIP the PostgreSQL half: this ttlog-ship has no postgresql:// destination" \
		"($(head -1 "$T/probe.err"))"
fi
if [ -n "$USE_PG" ]; then
	for p in initdb pg_ctl psql; do
		command -v $p >/dev/null || fail "$p is missing (scripts/deps.sh core: postgresql)"
	done
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 && command -v runuser >/dev/null ||
			fail "running as root needs a postgres user and runuser (PostgreSQL refuses root)"
		AS="runuser -u postgres --"
	fi
	mkdir "$PGD" && { [ -z "$AS" ] || chown postgres "$PGD"; }
	$AS initdb -D "$PGD/data" -A trust -U ttlog -E UTF8 --locale=C >"$PGD/initdb.log" 2>&1 ||
		{ tail -5 "$PGD/initdb.log" >&2; fail "initdb"; }
	PG_PORT=$(pick_port)
fi

pg_start() {
	PG_UP=1
	pg_ctl_ -o "-k $PGD -p $PG_PORT -c listen_addresses=127.0.0.1 -c fsync=on" \
		-l "$PGD/log" -w -t 300 start >/dev/null 2>&1 ||
		{ tail -5 "$PGD/log" >&2; fail "PostgreSQL did not start on $PG_PORT"; }
}
pg() { # DB ARGS...: psql over the socket directory
	db=$1
	shift
	psql -h "$PGD" -p "$PG_PORT" -U ttlog -d "$db" -v ON_ERROR_STOP=1 -qAt "$@"
}
pg_has_rows() { [ "$(pg postgres -c 'SELECT count(*) FROM ttlog.snapshots' 2>/dev/null)" -gt 0 ] \
	2>/dev/null; }

# ---- the destinations, the agents, the nodes ----------------------------------------------
RS_PORT=$(pick_port)
start_rsyslog "$T/out.jsonl"
URL_RS="syslog://127.0.0.1:$RS_PORT"
TO="--to $URL_RS"
if [ -n "$USE_PG" ]; then
	pg_start
	URL_PG="postgresql://ttlog@127.0.0.1:$PG_PORT/postgres"
	TO="$TO --to $URL_PG"
fi
say "$NODES nodes ($VARIANT, rings of $CAP events, a snapshot every $TICK_MS ms and every" \
	"second), $RUN_S s, seed $SEED; rsyslogd on 127.0.0.1:$RS_PORT" \
	"${USE_PG:+, PostgreSQL on 127.0.0.1:$PG_PORT}"

mkdir "$T/nodes" "$T/state"
i=0
while [ $i -lt "$NODES" ]; do
	mkdir "$T/nodes/node-$i"
	# shellcheck disable=SC2086
	"$SHIP" -v --state "$T/state/node-$i.state" --backoff-max 0.5 $TO "$T/nodes/node-$i" \
		2>"$T/agent-$i.log" &
	AGENTS="$AGENTS $!"
	i=$((i + 1))
done

# the nodes' own checks (exit status, every file decodes and balances, crash snapshots,
# causal order) run as in the distributed scenario; TTLOG_STRESS_CSV gets its row "fleet"
setsid "$SIM" --variant="$VARIANT" --nodes="$NODES" --seconds="$RUN_S" --seed="$SEED" \
	--dir="$T/nodes" --capacity=$CAP --burst=20 --tick-ms=$TICK_MS --label=fleet \
	--extra-faults=$((1 + ${USE_PG:-0})) \
	>"$T/sim.log" 2>&1 &
SIM_PID=$!
t0=$(date +%s)

# ---- the outage: both destinations killed once they hold something, a third into the run
rs_has_lines() { [ "$(rs_lines "$T/out.jsonl")" -gt 0 ]; }
wait_for "rsyslog storing messages" rs_has_lines
[ -n "$USE_PG" ] && wait_for "PostgreSQL storing snapshots" pg_has_rows
while [ $(($(date +%s) - t0)) -lt $((RUN_S / 3)) ]; do sleep 0.2; done
alive "$SIM_PID" || fail "the nodes were done before the outage (see sim.log)"
# aim at a delivery in flight (its connection torn): the output growing between two looks
out_size() { stat -c %s "$T/out.jsonl" 2>/dev/null || echo 0; }
k=0
prev=$(out_size)
while [ $k -lt 200 ]; do
	sleep 0.02
	cur=$(out_size)
	[ "$cur" != "$prev" ] && break
	prev=$cur
	k=$((k + 1))
done
stop_rsyslog KILL
rs_at_kill=$(rs_lines "$T/out.jsonl")
# killed inside a write(), rsyslogd leaves its last line cut short: end it, so that the
# next rsyslogd's first message is a line of its own, and tell the checker which line
rs_torn=
if [ -n "$(tail -c 1 "$T/out.jsonl" 2>/dev/null)" ]; then
	echo >>"$T/out.jsonl"
	rs_torn="--rsyslog-torn $((rs_at_kill + 1))"
fi
[ -n "$USE_PG" ] && { pg_ctl_ -m immediate stop >/dev/null 2>&1 || fail "pg_ctl stop"; PG_UP=; }
say "+$(($(date +%s) - t0)) s: rsyslogd killed (SIGKILL) after $rs_at_kill messages" \
	"${USE_PG:+and PostgreSQL stopped (-m immediate) }for $DOWN_S s"
sleep "$DOWN_S"
# what each agent had recorded for syslog when the receiver died: no acknowledgement can
# come while it is down, so the last of these is the last one before the kill
i=0
while [ $i -lt "$NODES" ]; do
	grep "^$URL_RS " "$T/state/node-$i.state" 2>/dev/null | tail -1 | awk '{ print $NF }' \
		>"$T/acked-before-kill-$i"
	i=$((i + 1))
done
start_rsyslog "$T/out.jsonl"
[ -n "$USE_PG" ] && pg_start
say "+$(($(date +%s) - t0)) s: both up again"

wait "$SIM_PID"
rc=$?
SIM_PID=
sed 's/^/  sim: /' "$T/sim.log"
[ $rc = 0 ] || fail "the distributed simulator failed (exit $rc)"

# ---- drained: every snapshot of every node recorded for every destination --------------
recorded() { grep -c "^$1 " "$2" 2>/dev/null || true; }
nsnaps() { ls "$1"/ttlog-*.bin 2>/dev/null | wc -l | tr -d ' '; }
all_recorded() {
	j=0
	while [ $j -lt "$NODES" ]; do
		n=$(nsnaps "$T/nodes/node-$j")
		[ "$(recorded "$URL_RS" "$T/state/node-$j.state")" = "$n" ] || return 1
		[ -z "$USE_PG" ] || [ "$(recorded "$URL_PG" "$T/state/node-$j.state")" = "$n" ] ||
			return 1
		j=$((j + 1))
	done
}
wait_for "every snapshot recorded in every agent's state" all_recorded
say "+$(($(date +%s) - t0)) s: every snapshot delivered"
# the agents' own account of the outage: each destination down once, up again once
for u in $URL_RS ${USE_PG:+$URL_PG}; do
	grep -h "^ttlog-ship: $u: \\(down\\|up again\\)" "$T"/agent-*.log | sed 's/^/  /'
	n=$(cat "$T"/agent-*.log | grep -c "^ttlog-ship: $u: down: ")
	[ "$n" -gt 0 ] || fail "no agent found $u down: the outage missed every delivery"
	[ "$(cat "$T"/agent-*.log | grep -c "^ttlog-ship: $u: up again ")" = "$n" ] ||
		fail "$u: $n agents found it down, not as many found it up again"
done

# the agents' CPU (user + sys) over the whole run, then a clean stop
TCK=$(getconf CLK_TCK)
: >"$T/live-cpu"
i=0
for a in $AGENTS; do
	awk -v t="$TCK" -v n="node-$i" '{ printf "%s %.3f\n", n, ($14 + $15) / t }' "/proc/$a/stat" \
		>>"$T/live-cpu"
	i=$((i + 1))
done
for a in $AGENTS; do kill -TERM "$a"; done
i=0
for a in $AGENTS; do
	wait "$a" || fail "agent of node-$i: exit status $? after SIGTERM"
	i=$((i + 1))
done
AGENTS=
stop_rsyslog TERM # it writes what it has read before it exits

# ---- exactly once ------------------------------------------------------------------------
dupok=
i=0
while [ $i -lt "$NODES" ]; do
	# the snapshot a "down" line names was in flight: its first part may be there twice
	for f in $(sed -n "s|^ttlog-ship: $URL_RS: down: .*(shipping \\([^;]*\\);.*|\\1|p" \
		"$T/agent-$i.log"); do
		dupok="$dupok --dup-ok $f"
	done
	a=$(cat "$T/acked-before-kill-$i")
	[ -n "$a" ] && dupok="$dupok --tail-ok $a"
	i=$((i + 1))
done
pgargs=
if [ -n "$USE_PG" ]; then
	pg postgres -c "\\copy (SELECT s.hostname, s.pid, s.created_ns, s.service, s.reason,
		s.kept, (SELECT count(*) FROM ttlog.events e WHERE e.snapshot_id = s.id)
		FROM ttlog.snapshots s) TO '$T/pg-snapshots.csv' CSV" &&
	pg postgres -c "\\copy (SELECT s.hostname, s.pid, s.created_ns, e.seq, e.time_ns,
		e.level, e.target, e.message, e.thread, e.fields FROM ttlog.events e
		JOIN ttlog.snapshots s ON s.id = e.snapshot_id) TO '$T/pg-events.csv' CSV" ||
		fail "psql: reading the tables back"
	pgargs="--pg $T/pg-snapshots.csv $T/pg-events.csv"
fi
# shellcheck disable=SC2086
python3 "$HERE/fleet_check.py" --view "$VIEW" --rsyslog "$T/out.jsonl" $rs_torn $pgargs \
	--counts "$T/counts" $dupok "$T"/nodes/node-* >"$T/check" 2>&1
rc=$?
sed 's/^/  /' "$T/check"
[ $rc = 0 ] || fail "not exactly once (above)"

# ---- measured: one --once agent per node directory, all at once, into each engine afresh
measure() { # NAME URL [NODE]: per agent "node-i wall user sys" in $T/m-NAME; all nodes or one
	: >"$T/m-$1"
	pids=
	if [ $# -ge 3 ]; then first=$3 end=$(($3 + 1)); else first=0 end=$NODES; fi
	j=$first
	while [ $j -lt $end ]; do
		/usr/bin/time -f '%e %U %S' -o "$T/time-$1-$j" "$SHIP" --once \
			--state "$T/m-$1-$j.state" --to "$2" "$T/nodes/node-$j" 2>"$T/m-$1-$j.log" &
		pids="$pids $!"
		j=$((j + 1))
	done
	j=$first
	for p in $pids; do
		wait "$p" || { cat "$T/m-$1-$j.log" >&2; fail "measuring $1: agent $j: exit $?"; }
		echo "node-$j $(tail -1 "$T/time-$1-$j")" >>"$T/m-$1"
		j=$((j + 1))
	done
}
big=$(sort -k3 -n "$T/counts" | tail -1 | sed 's/^node-\([0-9]*\) .*/\1/')
RS_PORT=$(pick_port)
start_rsyslog "$T/bench-1.jsonl"
measure syslog-alone "syslog://127.0.0.1:$RS_PORT" "$big"
stop_rsyslog TERM
start_rsyslog "$T/bench-n.jsonl"
measure syslog "syslog://127.0.0.1:$RS_PORT"
stop_rsyslog TERM
engines=syslog
if [ -n "$USE_PG" ]; then
	pg postgres -c "CREATE DATABASE bench1" -c "CREATE DATABASE bench" ||
		fail "CREATE DATABASE"
	measure postgresql-alone "postgresql://ttlog@127.0.0.1:$PG_PORT/bench1" "$big"
	measure postgresql "postgresql://ttlog@127.0.0.1:$PG_PORT/bench"
	engines="$engines postgresql"
	pg_ctl_ -m fast stop >/dev/null 2>&1 || fail "pg_ctl stop"
	PG_UP=
fi

# ---- summary ------------------------------------------------------------------------------
echo "fleet summary ($(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //');" \
	"load $(cut -d' ' -f1-3 /proc/loadavg); variant $VARIANT, seed $SEED)"
# counts: "node-i snapshots events"; m-ENGINE: "node-i wall user sys"; live-cpu: "node-i cpu"
python3 - "$T" $engines <<'EOF'
import statistics, sys
t = sys.argv[1]
ev = {l.split()[0]: int(l.split()[2]) for l in open(t + "/counts")}
total = sum(ev.values())
for e in sys.argv[2:]:
    (n, w, u, s), = [l.split() for l in open(t + "/m-" + e + "-alone")]
    print("  %s, one agent alone: %d events in %.2f s: %.0f events/s; agent CPU %.2f s per "
          "million events" % (e, ev[n], float(w), ev[n] / max(float(w), 0.01),
                              (float(u) + float(s)) / (ev[n] / 1e6)))
    m = [l.split() for l in open(t + "/m-" + e)]
    rates = [ev[n] / max(float(w), 0.01) for n, w, u, s in m]
    cpu = sum(float(u) + float(s) for n, w, u, s in m)
    wall = max(float(w) for n, w, u, s in m)
    print("  %s, %d agents at once, each its node's %d..%d events: %.0f events/s per agent "
          "(median; %.0f..%.0f), %.0f events/s together; agent CPU %.2f s per million events"
          % (e, len(m), min(ev.values()), max(ev.values()), statistics.median(rates),
             min(rates), max(rates), total / max(wall, 0.01), cpu / (total / 1e6)))
cpu = sum(float(l.split()[1]) for l in open(t + "/live-cpu"))
print("  during the run (both destinations, the outage, inotify): agent CPU %.2f s per "
      "million events shipped to each engine" % (cpu / (total / 1e6)))
EOF
say "ok ($(($(date +%s) - t0)) s)"
