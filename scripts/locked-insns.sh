#!/bin/sh
# locked-insns.sh VARIANT FUNCTION... - count the locked instructions (lock-prefixed
# read-modify-writes and xchg, which is locked implicitly) in the named functions of
# build/VARIANT/obj/variants/VARIANT.o, as compiled (what they inline is counted with them;
# what they call is not: name it too, or it is excluded). Lists each function's locked
# instructions and the functions it calls or jumps to, so that the excluded paths are
# visible. Builds the object first if it is missing. Prints one line per function,
#     FUNCTION: N locked
# and a total; exits 0 (a count is a figure, not a failure), 2 on bad use.
# Example: scripts/locked-insns.sh spsc spsc_push shard_push
set -eu
if [ $# -lt 2 ]; then
	echo "usage: $0 VARIANT FUNCTION..." >&2
	exit 2
fi
v=$1
shift
obj=build/$v/obj/variants/$v.o
cd "$(dirname "$0")/.."
[ -f "$obj" ] || make -s VARIANT="$v" "$obj" >&2
total=0
for f in "$@"; do
	body=$(objdump -dr --no-show-raw-insn "$obj" |
		awk -v f="$f" '$0 ~ "^[0-9a-f]+ <" f ">:$" { on = 1; next } on && /^$/ { exit }
			       on { print }')
	if [ -z "$body" ]; then
		echo "$f: not found in $obj (inlined everywhere, or misspelt)" >&2
		exit 2
	fi
	# xchg %ax,%ax is a two-byte nop (padding), not an exchange
	locked=$(printf '%s\n' "$body" | grep -E '[[:space:]](lock[[:space:]]|xchg)' |
		grep -v 'xchg[[:space:]]*%ax,%ax' || true)
	n=$(printf '%s' "$locked" | grep -c . || true)
	echo "$f: $n locked"
	[ -n "$locked" ] && printf '%s\n' "$locked" | sed 's/^/    /'
	# call/jmp targets: by the relocation that follows when there is one (an unlinked
	# object shows an external target as a nearby local address), else by name
	calls=$(printf '%s\n' "$body" | awk '
		/R_X86_64_(PLT32|PC32)/ { if (pend != "") print $NF; pend = ""; next }
		{ if (pend != "" && pend !~ /\+/) print pend; pend = "" }
		/(call|jmp)[ \t]+[0-9a-f]+ <[^>]+>/ {
			pend = $0; sub(/.*</, "", pend); sub(/>.*/, "", pend) }
		END { if (pend != "" && pend !~ /\+/) print pend }' | sed 's/[-+].*//' | grep -vx "$f" |
		sort -u | tr '\n' ' ')
	[ -n "$calls" ] && echo "    calls (not counted unless named): $calls"
	total=$((total + n))
done
echo "total: $total"
