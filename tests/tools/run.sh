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
part() { # name command...: runs one part, adds its ok/not ok lines
    name=$1; shift
    TEST_FIRST=$((passed + failed + 1)) "$@" > "$dir/$name.out" 2>&1
    grep -v ' passed, .* failed$' "$dir/$name.out"
    p=$(grep -c '^ok [0-9]' "$dir/$name.out")
    f=$(grep -c '^not ok [0-9]' "$dir/$name.out")
    # A part that died before its summary line counts one failure more.
    if ! grep -q '^[0-9][0-9]* passed, [0-9][0-9]* failed$' "$dir/$name.out"; then
        echo "not ok $((passed + failed + p + f + 1)) - $name: ended without its summary line"
        f=$((f + 1))
    fi
    passed=$((passed + p)); failed=$((failed + f))
}

part heapmap "$python" "$here/test_heapmap.py"
part gdb sh "$here/test_gdb.sh" "$@"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
