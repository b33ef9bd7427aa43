#!/bin/sh
# Proves tests/run_boards.sh catches what it exists to catch: a kernel that
# faults, a kernel that hangs and a kernel whose kheap detects a double free
# must all come out as failures, the fault and the panic with their reports
# shown.  One `ok N - ...`/`not ok N - ...` line per kernel, then
# `N passed, M failed`; exit status 0 iff all pass.
# Usage: tests/run_boards_selfcheck.sh FAULT-RUN.CONF HANG-RUN.CONF MISUSE-RUN.CONF
set -u
[ $# = 3 ] || { echo "usage: $0 FAULT-RUN.CONF HANG-RUN.CONF MISUSE-RUN.CONF" >&2; exit 2; }
here=$(dirname "$0")
n=0 passed=0 failed=0
report() { # ok|fail TEXT
    n=$((n + 1))
    if [ "$1" = ok ]; then
        passed=$((passed + 1)); echo "ok $n - $2"
    else
        failed=$((failed + 1)); echo "not ok $n - $2"
    fi
}

# expect NAME RUN.CONF TIMEOUT PATTERN...: the runner must fail and print
# every pattern.  Its output is indented so nothing here looks like a
# summary line.  An empty TIMEOUT keeps the board's own.
expect() {
    name=$1; conf=$2; limit=$3; shift 3
    out=$(RUN_BOARDS_TIMEOUT=$limit sh "$here/run_boards.sh" "$conf" 2>&1)
    status=$?
    printf '%s\n' "$out" | sed 's/^/    /'
    if [ "$status" = 0 ]; then
        report fail "runner passed the $name kernel"
        return
    fi
    for pattern in "$@"; do
        if ! printf '%s\n' "$out" | grep -q -- "$pattern"; then
            report fail "runner output for the $name kernel lacks \"$pattern\""
            return
        fi
    done
    report ok "runner reports the $name kernel as a failure"
}

# The faulting kernel keeps the board's timeout: a slow machine must not
# turn the fault into a timeout.  The hanging one only has to outlast its
# banner.
expect faulting "$1" "" "FAIL: fault" "\*\*\* FAULT" "pc   0x" "CFSR" "kheap test kernel"
expect hanging "$2" "${SELFCHECK_HANG_TIMEOUT:-3}" "FAIL: timeout" "hanging on purpose"
expect misusing "$3" "" "FAIL: kheap panic" "KHEAP PANIC: double free" "freeing 0x"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
