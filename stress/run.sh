#!/bin/sh
# stress/run.sh - run the stress and reliability suite and write the reliability table.
# Called by `make stress` (QUICK=1: the short CI version) and `make bench-stress` (FULL=1).
#
# Environment: VARIANTS (e.g. "mpmc spsc numa"), BIN (plain programs), ASAN_BIN and
# TSAN_BIN (sanitized heavy_stress_test), FLEET_BIN (ttlog-ship and ttlog-view for the
# fleet scenario), STRESS_OUT (default benchmark_reports), QUICK, FULL, STRESS_ONLY (a
# space-separated subset of: heavy sanitizers distributed crash faults blackbox fleet),
# STRESS_SEED (repeat a run).
#
# Every scenario runs even when one fails; each failure is named on stderr and in the
# table, and the exit status is 1. A scenario that hangs is killed by `timeout` (a hang
# guard many times what it needs, not a performance threshold).
set -u

: "${VARIANTS:?VARIANTS is not set}" "${BIN:?BIN is not set}"
ASAN_BIN=${ASAN_BIN:-}
TSAN_BIN=${TSAN_BIN:-}
OUT=${STRESS_OUT:-benchmark_reports}
QUICK=${QUICK:-}
FULL=${FULL:-}
ONLY=${STRESS_ONLY:-heavy sanitizers distributed crash faults blackbox fleet}
SEED=${STRESS_SEED:-$(date +%s)}
export QUICK

mkdir -p "$OUT" || exit 1
CSV=$OUT/reliability.csv
TXT=$OUT/reliability.txt
ROWS=$OUT/.reliability-rows.$$
FAILS=$OUT/.reliability-fails.$$
: >"$ROWS"
: >"$FAILS"
# the black boxes of the processes the scenarios kill go to a directory of this run, not
# to the default one, and go with it
BOXES=$(mktemp -d /dev/shm/ttlog-stress-boxes-XXXXXX) || exit 1
trap 'rm -f "$ROWS" "$FAILS"; rm -rf "$BOXES"' EXIT
export TTLOG_STRESS_CSV="$ROWS" TTLOG_BLACKBOX_DIR="$BOXES"

if [ -n "$QUICK" ]; then mode=quick; elif [ -n "$FULL" ]; then mode=full; else mode=default; fi
start_all=$(date +%s)

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

# run SCENARIO VARIANT LIMIT_S CMD...: run one program, name it if it fails.
run() {
	scenario=$1 variant=$2 limit=$3
	shift 3
	echo "== $scenario/$variant: $*"
	t0=$(date +%s)
	timeout --kill-after=30 "$limit" "$@"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "-- $scenario/$variant: ok ($(($(date +%s) - t0)) s)"
		return 0
	fi
	[ "$rc" -eq 124 ] && why="hung, killed after $limit s" || why="exit status $rc"
	echo "STRESS FAIL: $scenario/$variant ($why): $*" >&2
	echo "$scenario/$variant: $why: $*" >>"$FAILS"
	echo "$scenario,$variant,1,0,0,0,0,0,0,NA,FAIL" >>"$ROWS"
	return 1
}

# durations and sizes per mode
if [ "$mode" = quick ]; then
	HEAVY_S=8 CHURN_S=5 SAN_S=2 T1024_PER=200 DIST_S=6 DIST_ROUNDS=1 CRASH_ROUNDS=1
	CRASH_CAP=262144 FULLDISK_S=10 KILL_ROUNDS=3 BOX_KILLS=20
elif [ "$mode" = full ]; then
	HEAVY_S=120 CHURN_S=60 SAN_S=20 T1024_PER=2000 DIST_S=60 DIST_ROUNDS=3 CRASH_ROUNDS=3
	CRASH_CAP=1048576 FULLDISK_S=60 KILL_ROUNDS=20 BOX_KILLS=300
else
	HEAVY_S=30 CHURN_S=15 SAN_S=8 T1024_PER=1000 DIST_S=20 DIST_ROUNDS=1 CRASH_ROUNDS=1
	CRASH_CAP=1048576 FULLDISK_S=60 KILL_ROUNDS=5 BOX_KILLS=100
fi

# the sanitizers: ttlog's crash handler owns the crash signals; leaks are failures
export ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigill=0:handle_sigfpe=0:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

echo "ttlog stress suite: mode $mode, variants: $VARIANTS, seed $SEED"

# numa also runs as two nodes under a synthetic hwloc topology (one PU per node, as many
# as this machine's 2 CPUs): producers split over two rings, snapshots merge them.
NUMA2="numa:2 core:1 pu:1"
has_numa() {
	case " $VARIANTS " in *" numa "*) return 0 ;; esac
	return 1
}
# numa2 CMD...: run CMD as the numa-2node variant
numa2() { HWLOC_SYNTHETIC="$NUMA2" TTLOG_STRESS_VARIANT_LABEL=numa-2node "$@"; }

if want heavy; then
	if has_numa; then
		numa2 run heavy numa-2node $((HEAVY_S * 10 + 300)) "$BIN/heavy_stress_test" \
			--variant=numa --scenario=heavy --seconds="$HEAVY_S" --seed="$SEED"
		numa2 run threads-1024 numa-2node 900 "$BIN/heavy_stress_test" --variant=numa \
			--scenario=threads-1024 --per-thread="$T1024_PER" --seed="$SEED"
	fi
	for v in $VARIANTS; do
		run heavy "$v" $((HEAVY_S * 10 + 300)) "$BIN/heavy_stress_test" --variant="$v" \
			--scenario=heavy --seconds="$HEAVY_S" --seed="$SEED"
		run churn "$v" $((CHURN_S * 10 + 300)) "$BIN/heavy_stress_test" --variant="$v" \
			--scenario=churn --seconds="$CHURN_S" --seed="$SEED"
		run threads-1024 "$v" 900 "$BIN/heavy_stress_test" --variant="$v" \
			--scenario=threads-1024 --per-thread="$T1024_PER" --seed="$SEED"
	done
fi

if want sanitizers; then
	for san in asan tsan; do
		[ "$san" = asan ] && sbin=$ASAN_BIN || sbin=$TSAN_BIN
		if [ -z "$sbin" ] || [ ! -x "$sbin/heavy_stress_test" ]; then
			echo "STRESS FAIL: no $san build of heavy_stress_test" >&2
			echo "$san: no build" >>"$FAILS"
			continue
		fi
		for v in $VARIANTS; do
			# small rings: verifying snapshots is slow under a sanitizer
			run "threads-1024-$san" "$v" 1200 "$sbin/heavy_stress_test" --variant="$v" \
				--scenario=threads-1024 --per-thread=$((T1024_PER / 10)) \
				--capacity=4096 --label="threads-1024-$san" --seed="$SEED"
			run "churn-$san" "$v" $((SAN_S * 20 + 300)) "$sbin/heavy_stress_test" \
				--variant="$v" --scenario=churn --seconds="$SAN_S" --capacity=4096 \
				--label="churn-$san" --seed="$SEED"
		done
	done
fi

vlist=$(echo $VARIANTS | tr ' ' ',')

if want crash; then
	run crash "$vlist" 3600 "$BIN/crash_matrix" --variants="$vlist" \
		--rounds="$CRASH_ROUNDS" --capacity="$CRASH_CAP"
	has_numa && numa2 run crash numa-2node 3600 "$BIN/crash_matrix" --variants=numa \
		--rounds="$CRASH_ROUNDS" --capacity="$CRASH_CAP"
fi

if want faults; then
	run faults "$vlist" 3600 "$BIN/fault_matrix" --variants="$vlist" \
		--full-disk-seconds="$FULLDISK_S" --kill-rounds="$KILL_ROUNDS"
fi

if want blackbox; then
	# SIGKILL at random moments (per variant), and the OOM killer where cgroup v2 allows
	run blackbox "$vlist" 3600 "$BIN/blackbox_kill" --variants="$vlist" \
		--kills="$BOX_KILLS" --oom=1 --seed="$SEED"
fi

if want distributed; then
	has_numa && numa2 run distributed numa-2node $((DIST_S * DIST_ROUNDS * 10 + 300)) \
		"$BIN/distributed_simulator" --variant=numa --nodes=8 --seconds="$DIST_S" \
		--rounds="$DIST_ROUNDS" --seed="$SEED"
	for v in $VARIANTS; do
		run distributed "$v" $((DIST_S * DIST_ROUNDS * 10 + 300)) \
			"$BIN/distributed_simulator" --variant="$v" --nodes=8 --seconds="$DIST_S" \
			--rounds="$DIST_ROUNDS" --seed="$SEED"
	done
fi

if want fleet; then
	# the fleet on one machine (stress/fleet_demo.sh): the simulator's nodes on one variant
	# (percpu, the default one, when it is in the list), one ttlog-ship each, a real
	# rsyslogd and PostgreSQL killed mid-run, every event exactly once in both
	fv=$(echo $VARIANTS | tr ' ' '\n' | grep -x percpu || echo "${VARIANTS%% *}")
	run fleet "$fv" 1800 env FLEET_BIN="${FLEET_BIN:-$(dirname "$BIN")}" \
		FLEET_SIM="$BIN/distributed_simulator" VARIANT="$fv" STRESS_SEED="$SEED" \
		stress/fleet_demo.sh
fi

# ---- the table -------------------------------------------------------------------------
elapsed=$(($(date +%s) - start_all))
{
	echo "scenario,variant,runs,faults_injected,survived,events_logged,kept,overwritten,dropped,unaccounted,status"
	sed 's/$/,ok/; s/,FAIL,ok$/,FAIL/' "$ROWS"
} >"$CSV"

{
	echo "ttlog reliability table ($mode run, $(date -u +%Y-%m-%dT%H:%M:%SZ), $elapsed s)"
	echo "machine: $(uname -srm), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "compiler: $(${CC:-cc} --version 2>/dev/null | head -1)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
	echo "variants: $VARIANTS; seed $SEED (STRESS_SEED=$SEED repeats the random choices)"
	echo
	awk -F, '
	{ for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; nf = NF }
	END {
		for (r = 1; r <= n; r++) {
			line = ""
			for (i = 1; i <= nf; i++) {
				fmt = (i <= 2 || i == nf) ? "%-" w[i] "s" : "%" w[i] "s"
				line = line (i > 1 ? "  " : "") sprintf(fmt, cell[r, i])
			}
			print line
		}
	}' "$CSV"
	echo
	cat <<'EOF'
runs: cases run (a process, a crash, an injected fault, a simulated cluster).
faults_injected: crashes, kills and I/O faults injected. survived: cases in which every
check passed (snapshot present, decodable, complete; last events there; exit status kept;
recovery). events_logged: what the programs logged, counted by themselves where the count
is exact (quiescent runs), otherwise the snapshot's counters.logged. kept, overwritten,
dropped: the counters of the final snapshot of each case, summed. unaccounted = logged -
kept - overwritten - dropped; any value but 0 fails the run.
EOF
	if [ -s "$FAILS" ]; then
		echo
		echo "FAILED:"
		sed 's/^/  /' "$FAILS"
	fi
} >"$TXT"

cat "$TXT"
if [ -s "$FAILS" ]; then
	echo "STRESS FAIL: $(wc -l <"$FAILS") scenario(s) failed, see above and $TXT" >&2
	exit 1
fi
echo "stress: all scenarios passed ($elapsed s); $CSV, $TXT"
