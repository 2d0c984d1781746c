#!/bin/sh
# test_tui.sh - ttlog-view on a real terminal, driven in tmux: colours by level in the
# table (and none with NO_COLOR), and the --interactive UI: scrolling, search, event
# details, level and target filters, help, quit. Keys are sent with tmux send-keys and the
# screen is read back with capture-pane. Skipped, with a message, when tmux is missing
# (scripts/deps.sh core installs it). Run by `make test` in the plain passes.
set -u
BIN=${TTLOG_BIN:-build/mpmc}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
VIEW=$BIN/ttlog-view
FIX=$BIN/view/fixtures
if ! command -v tmux >/dev/null 2>&1; then
	echo "skip test_tui: tmux is not installed (scripts/deps.sh core installs it)"
	exit 0
fi
for p in "$VIEW" "$FIX"; do
	[ -x "$p" ] || { echo "test_tui: $p is missing (make tests)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-tui.XXXXXX") || exit 1
SOCK=ttlog-tui-$$
tm() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() {
	tm kill-server 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
"$FIX" "$T" >/dev/null || { echo "FAIL fixtures"; exit 1; }
loc=C
if locale -a 2>/dev/null | grep -qix 'c.utf-\{0,1\}8'; then loc=C.UTF-8; fi
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() {
	failed=$((failed + 1))
	echo "FAIL $1"
	tm capture-pane -p -t "$session" 2>/dev/null | sed 's/^/       | /'
}

# start NAME CMD: a session 140x30 running CMD in $T; the pane stays after CMD ends
start() {
	session=$1
	tm new-session -d -s "$1" -x 140 -y 30 -c "$T" \
		"env LC_ALL=$loc TERM=screen $2; echo EXIT=\$?; sleep 3600"
}
# expect NAME PATTERN: the screen shows PATTERN (grep -E). Only a hang reaches the limit
# (300 s: on a loaded machine the viewer may wait seconds to be scheduled); after one
# has, the UI is stuck and the later checks look once instead of waiting again.
limit=3000
expect() {
	i=0
	while ! tm capture-pane -p -t "$session" 2>/dev/null | grep -qE -- "$2"; do
		i=$((i + 1))
		if [ "$i" -gt "$limit" ]; then
			bad "$1: /$2/ not on the screen after $((limit / 10)) s"
			limit=0
			return 1
		fi
		sleep 0.1
	done
	ok "$1"
}
keys() { tm send-keys -t "$session" "$@"; }

# ---- colours in the table ------------------------------------------------------------
start plain "$VIEW a.bin b.bin"
expect "table on a terminal" "EXIT=0"
esc=$(printf '\033')
if tm capture-pane -e -p -t plain | grep -q "${esc}\[[0-9;]*31m.*ERROR"; then
	ok "levels coloured on a terminal (ERROR red)"
else
	bad "no colour on a terminal"
fi
start nocolor "env NO_COLOR=1 $VIEW a.bin b.bin"
expect "table with NO_COLOR" "EXIT=0"
if tm capture-pane -e -p -t nocolor | grep -q "${esc}\[[0-9;]*3[0-7]m"; then
	bad "colours despite NO_COLOR"
else
	ok "no colour with NO_COLOR"
fi

# ---- the interactive UI --------------------------------------------------------------
start ui "$VIEW --interactive a.bin b.bin"
expect "UI starts with every event" "ttlog-view +6/6 events"
expect "UI: events from both files, sources shown" "beta +201 api +request 7 from 10.0.0.1:5000"
expect "UI: status line" "^1/6 "
keys G
expect "UI: End key goes to the last event" "^6/6 "
keys g
expect "UI: Home goes back" "^1/6 "
keys Down Down
expect "UI: Down moves" "^3/6 "
keys / crash Enter
expect "UI: search finds the FATAL event" "^5/6 .*|search=/crash/"
expect "UI: search shown in the title" "search=/crash/"
keys Enter
expect "UI: details open" "event 5 of 6"
expect "UI details: level" "^level +FATAL"
expect "UI details: source" "^service +beta +host h1 +pid 200"
expect "UI details: typed fields" "where \(str\) = handler"
expect "UI details: f64 field" "value \(f64\) = 2.5"
expect "UI details: location" "^location +app.c:60"
keys Down
expect "UI details: Down shows the next event" "event 6 of 6"
keys Up Up
expect "UI details: Up, back to the WARN event" "event 4 of 6"
expect "UI details: a cut string is flagged" "sql \(str\) = SELECT.*\[truncated\]"
keys Escape
expect "UI: Esc back to the list" "^4/6 "
keys 4
expect "UI: 4 = level error and above" "2/6 events .*level>=ERROR"
keys c
expect "UI: c clears the filters" "6/6 events +from 2024-05-01 +level>=TRACE *$"
keys G T
expect "UI: T keeps the selected event's target" "2/6 events .*target=db"
keys T t 'a*' Enter
expect "UI: t filters by a target pattern" "3/6 events .*target=a\*"
keys c l l
expect "UI: l raises the minimum level" "5/6 events .*level>=INFO"
keys L
expect "UI: L lowers it" "6/6 events .*level>=DEBUG"
keys ?
expect "UI: ? shows the keys" "search \(POSIX extended regex"
keys x
expect "UI: any key leaves the help" "6/6 events"
keys / nomatch Enter
expect "UI: a search without match says so" "not found: /nomatch/"
keys q
expect "UI: q quits with status 0" "EXIT=0"

# ---- hostile text and levels beyond fatal ----------------------------------------------
# esc.bin's values hold an OSC sequence that retitles the terminal to "owned": the pane's
# title says whether a raw one got through
start csv "$VIEW --csv esc.bin"
expect "CSV on a terminal" "EXIT=0"
title=$(tm display-message -p -t csv '#{pane_title}')
if [ "$title" = owned ]; then bad "--csv let an OSC sequence retitle the terminal"
else ok "--csv: no control sequence reaches the terminal (title '$title')"; fi
start ui2 "$VIEW --interactive levels.bin esc.bin"
expect "UI: levels beyond fatal shown by number" "L200 +lv +1 +lvl +level two hundred"
expect "UI: controls and C1 drawn as ?" "esc\?\[31m\? +1 +t\?\[2J\? +\?\]0;owned\?\?\[2J \?31m"
keys 5
expect "UI: 5 = fatal and above: L6 and L200" "2/12 events .*level>=FATAL"
title=$(tm display-message -p -t ui2 '#{pane_title}')
if [ "$title" = owned ]; then bad "the UI let an OSC sequence retitle the terminal"
else ok "UI: no control sequence reaches the terminal"; fi
keys q
expect "UI on hostile text: q quits with status 0" "EXIT=0"

echo "test_tui: $passed passed, $failed failed"
[ "$failed" = 0 ]
