#!/bin/sh
# Install the Debian 12 packages ttlog builds, tests and benchmarks with, when missing.
# Usage: scripts/deps.sh [core|all]   (core: build + tests; all: + harness baselines, reports)
# Runs apt-get update first (a fresh machine has empty lists); needs root or sudo.
set -eu

core="build-essential pkg-config libcbor-dev liblz4-dev lz4 libhwloc-dev hwloc libjemalloc-dev
libcmocka-dev clang libclang-rt-14-dev libncurses-dev tmux python3-prometheus-client
libgnutls28-dev rsyslog rsyslog-gnutls gnutls-bin python3"
extra="libbenchmark-dev gnuplot-nox libck-dev liburcu-dev libspdlog-dev jq
librust-crossbeam-queue-dev liblttng-ust-dev lttng-tools"

# ttlog-view --sql links libsqlite3; its test (tests/view/test_sql.sh) reads JSON with jq
# and loads the same tables into a throwaway PostgreSQL server
core="$core libsqlite3-dev jq postgresql libpq-dev"
# the fleet scenario of make stress (stress/fleet_demo.sh) times its agents with /usr/bin/time
core="$core time"

case "${1:-core}" in
core) want=$core ;;
all) want="$core $extra" ;;
*) echo "usage: $0 [core|all]" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "ttlog: installing missing Debian packages:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
