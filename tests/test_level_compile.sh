#!/bin/sh
# test_level_compile.sh - an event's level is checked at compile time: TTLOG_LOG with a
# level outside TRACE..FATAL (OFF = 6, 7, -1) must not compile, in C and in C++, with the
# level's message; the levels around them, and a level that is a constant expression
# but not a literal (an enum of the program, TTLOG_LEVEL_INFO + 1, a C++ constexpr),
# must. Run by `make test` (the root test-one loop, mpmc pass) from the repository root.
# Each case prints "ok" or "FAIL" with the compiler's words; exit 1 if any failed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CC=${TTLOG_TEST_CC:-cc}
CXX=${TTLOG_TEST_CXX:-c++}
T=$(mktemp -d "${TMPDIR:-/tmp}/ttlog-level-compile.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
passed=0
failed=0

# compile LANG EXPECT LEVEL-EXPR [PRELUDE]: LANG c|c++, EXPECT ok|refused
compile() {
	lang=$1 expect=$2 level=$3 prelude=${4:-}
	if [ "$lang" = c ]; then
		src=$T/t.c; cmd="$CC -std=c11 -Wall -Wextra -Werror"
	else
		src=$T/t.cc; cmd="$CXX -std=c++11 -Wall -Wextra -Werror"
	fi
	printf '#include <ttlog/ttlog.h>\n%s\nvoid f(void);\nvoid f(void)\n{\n\tTTLOG_LOG(%s, "t", "m {}", TTLOG_U64("n", 1));\n}\n' \
		"$prelude" "$level" >"$src"
	$cmd -I"$ROOT/include" -fsyntax-only "$src" >"$T/err" 2>&1
	rc=$?
	what="$lang TTLOG_LOG($level) $expect"
	if [ "$expect" = ok ]; then
		if [ $rc -eq 0 ]; then
			passed=$((passed + 1)); echo "ok   $what"
		else
			failed=$((failed + 1)); echo "FAIL $what: the compiler said"; cat "$T/err"
		fi
	elif [ $rc -eq 0 ]; then
		failed=$((failed + 1)); echo "FAIL $what: it compiled"
	elif grep -q "TTLOG_LEVEL_TRACE..FATAL" "$T/err"; then
		passed=$((passed + 1)); echo "ok   $what"
	else
		failed=$((failed + 1)); echo "FAIL $what: refused, but not for its level:"
		cat "$T/err"
	fi
}

for lang in c c++; do
	compile $lang refused 6
	compile $lang refused TTLOG_LEVEL_OFF
	compile $lang refused 7
	compile $lang refused -1
	compile $lang refused "TTLOG_LEVEL_FATAL + 1"
	compile $lang ok 0
	compile $lang ok TTLOG_LEVEL_FATAL
	compile $lang ok "TTLOG_LEVEL_INFO + 1"
	compile $lang ok MY_LEVEL "enum { MY_LEVEL = TTLOG_LEVEL_WARN };"
done
compile c++ ok kLevel "constexpr int kLevel = TTLOG_LEVEL_ERROR;"
compile c++ refused kLevel "constexpr int kLevel = TTLOG_LEVEL_OFF;"

echo "test_level_compile: $passed passed, $failed failed"
[ $failed -eq 0 ]
