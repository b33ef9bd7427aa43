#!/bin/sh
# The tools' tests: tools/heapmap.py on a committed fixture, then the gdb
# kheap command against the scenario under QEMU.  One `ok N`/`not ok N`
# line per test, numbered across both, then `N passed, M failed`.
# Usage: tests/tools/run.sh HEAPMAP.ELF "QEMU -M BOARD ..." TIMEOUT
set -u
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kheap-tools.XXXXXX") || exit 2
trap 'rm -rf "$dir"' EXIT INT TERM

passed=0
failed=0
n=0
# part NAME COMMAND...: runs one part and adds its cases.  They count only
# through the part's own summary line, which must name at least one case,
# match its ok/not ok lines and agree with its exit status; otherwise the
# part counts its not ok lines and one failure more, and none of its ok
# lines (a part that died half way did not pass what it printed).
part() {
    name=$1; shift
    TEST_FIRST=$((n + 1)) "$@" > "$dir/$name.out" 2>&1
    status=$?
    grep -v ' passed, .* failed$' "$dir/$name.out"
    p=$(grep -c '^ok [0-9]' "$dir/$name.out")
    f=$(grep -c '^not ok [0-9]' "$dir/$name.out")
    n=$((n + p + f))
    summary=$(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$dir/$name.out" | tail -n 1)
    why=""
    if [ -z "$summary" ]; then
        why="ended without its summary line (exit $status)"
    elif [ "$summary" != "$p $f" ]; then
        why="its summary line says '$summary' (passed failed), its output has $p ok and $f not ok lines"
    elif [ $((p + f)) = 0 ]; then
        why="ran no case"
    elif [ "$status" != 0 ] && [ "$f" = 0 ]; then
        why="exit status $status with no failed case"
    fi
    if [ -n "$why" ]; then
        n=$((n + 1))
        echo "not ok $n - $name: $why"
        p=0 f=$((f + 1))
    fi
    passed=$((passed + p)); failed=$((failed + f))
}

part heapmap "$python" "$here/test_heapmap.py"
part gdb sh "$here/test_gdb.sh" "$@"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
