#!/bin/sh
# The leak judge judged: tests/leaks/check.sh on one board's real serial
# log must pass it, and must fail each of three logs made from it: a wrong
# block count, an extra site (in a balanced function), and a scenario that
# did not finish.  One `ok N`/`not ok N` line each, then "N passed, M failed".
# Usage: tests/leaks/selfcheck.sh LEAKS.CONF   (the board's image is built)
set -u
here=$(cd "$(dirname "$0")" && pwd)
conf=${1:?usage: $0 LEAKS.CONF}
board="" image="" qemu="" timeout=30 addr2line=""
# shellcheck disable=SC1090
. "$conf"
dir=$(mktemp -d "${TMPDIR:-/tmp}/kheap-leaks-self.XXXXXX") || exit 2
trap 'rm -rf "$dir"' EXIT INT TERM
n=0 passed=0 failed=0
# judge NAME WANT(pass|fail) LOG [TEXT]: check.sh on LOG must pass or fail
# (and, failing, print a not ok line containing TEXT).
judge() {
    LEAKS_LOG=$3 sh "$here/check.sh" "$conf" > "$dir/out" 2>&1
    rc=$?
    n=$((n + 1))
    if [ "$2" = pass ] && [ "$rc" = 0 ]; then
        passed=$((passed + 1)); echo "ok $n - $1: passes"
    elif [ "$2" = fail ] && [ "$rc" != 0 ] && grep '^not ok' "$dir/out" | grep -qF "${4:-}"; then
        passed=$((passed + 1)); echo "ok $n - $1: fails ($(grep -m 1 '^not ok' "$dir/out" | cut -c1-100))"
    else
        failed=$((failed + 1)); echo "not ok $n - $1: check.sh exit $rc, expected to $2"
        sed 's/^/# /' "$dir/out" | head -n 12
    fi
}

timeout -k 5 "$timeout" $qemu -kernel "$image" < /dev/null > "$dir/real.log" 2>&1
judge "the real log of $board" pass "$dir/real.log"
sed 's/^\(leak site=0x[0-9a-f]* \)blocks=3 /\1blocks=4 /' "$dir/real.log" > "$dir/count.log"
judge "a log with one block more from parse_config" fail "$dir/count.log" "parse_config leaks 3 blocks"
# A site inside read_sensor, a balanced function: its address + 5 as a
# return address (odd, as on Thumb; addr2line is asked for + 4).
extra=$(printf '0x%x' $(( 0x$(${addr2line%addr2line}nm "$image" | awk '$3 == "read_sensor" { print $1 }') + 5 )))
sed "s/^leaks end/leak site=$extra blocks=1 bytes=24\nleaks end/" "$dir/real.log" > "$dir/extra.log"
judge "a log with a site in a balanced function" fail "$dir/extra.log" "read_sensor"
grep -v '^leaks: exit 0' "$dir/real.log" | tr -d '\r' | grep -v '^leaks: exit' > "$dir/cut.log"
judge "a log whose scenario did not finish" fail "$dir/cut.log" "the scenario failed"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
