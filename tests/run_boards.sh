#!/bin/sh
# Boots test kernels under QEMU and reads their serial output.
# Usage: tests/run_boards.sh RUN.CONF...
#
# Each RUN.CONF (written by mk/target.mk beside the image) sets board,
# image, qemu and timeout, or board and skip: a board without what the
# stage needs (no timer for the interrupt test, no C library for it) says
# why, and the runner prints "# skip <board>: <why>" and counts nothing for
# it, neither a pass nor a failure.  A board passes iff QEMU exits 0 (the kernel's
# semihosting status) before the timeout and its output ends with the
# suite's "N passed, 0 failed".  One line per board as it finishes; a
# failing board's serial output follows its line.  The last line sums the
# cases of every board as "N passed, M failed"; a board that failed without
# a failing case of its own (timeout, fault, leak, no summary) counts one.
# A board's cases count only through its own summary line, which must name
# at least one case and agree with its "ok N"/"not ok N" lines: a kernel
# that stopped early passes none of the cases it printed "ok" for, and one
# whose summary line does not match what it ran fails.
# Exit status 0 iff every board passed.
# RUN_BOARDS_TIMEOUT overrides every board's timeout (seconds).
set -u

[ $# -gt 0 ] || { echo "usage: $0 RUN.CONF..." >&2; exit 2; }
# Without a timeout a hanging kernel would hang the run instead of failing.
command -v timeout >/dev/null 2>&1 || { echo "run_boards: timeout (coreutils) not found" >&2; exit 2; }

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/kheap-boards.XXXXXX") || exit 2
trap 'rm -rf "$log_dir"' EXIT INT TERM

total_passed=0
total_failed=0
boards_failed=0
boards_skipped=0

now() { date +%s.%N 2>/dev/null || date +%s; }

# Prints "passed failed" from the last summary line of $1, or nothing.
summary_of() {
    tr -d '\r' < "$1" | sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' | tail -n 1
}

# Why a run failed, from QEMU's status and the output; empty when it passed.
verdict() { # status log summary-failed
    if [ "$1" = 124 ] || [ "$1" = 137 ]; then echo "timeout after ${timeout}s (hang?)"
    elif grep -q '\*\*\* FAULT' "$2"; then echo "fault (exit $1)"
    elif grep -q '\*\*\* KHEAP PANIC' "$2"; then echo "kheap panic (exit $1)"
    elif [ -z "$3" ]; then echo "no summary line (exit $1)"
    elif [ "$3" != 0 ]; then echo "$3 case(s) failed (exit $1)"
    elif [ "$1" != 0 ]; then echo "kernel check failed (exit $1)"
    fi
}

run_one() { # run.conf
    board=""; image=""; qemu=""; timeout=30; skip=""
    # shellcheck disable=SC1090
    . "$1"
    if [ -n "$skip" ]; then
        echo "# skip $board: $skip"
        boards_skipped=$((boards_skipped + 1))
        return
    fi
    timeout=${RUN_BOARDS_TIMEOUT:-$timeout}
    start=0; end=0
    log="$log_dir/$(echo "$board" | tr -c 'A-Za-z0-9._\n-' '_').log"
    qemu_bin=${qemu%% *}
    if ! command -v "$qemu_bin" >/dev/null 2>&1; then
        echo "$qemu_bin not found (make deps-target)" > "$log"
        status=127
    elif [ ! -f "$image" ]; then
        echo "no image $image (build it first)" > "$log"
        status=127
    else
        start=$(now)
        # shellcheck disable=SC2086  # $qemu is a command line: split it
        timeout -k 5 "$timeout" $qemu -kernel "$image" < /dev/null > "$log" 2>&1
        status=$?
        end=$(now)
    fi
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

    # shellcheck disable=SC2046  # "passed failed": split into $1 $2
    set -- $(summary_of "$log")
    passed=${1:-}
    failed=${2:-}
    why=$(verdict "$status" "$log" "$failed")
    oks=$(tr -d '\r' < "$log" | grep -c '^ok [0-9]')
    not_oks=$(tr -d '\r' < "$log" | grep -c '^not ok [0-9]')
    if [ -z "$passed" ]; then
        why="$why; its $oks ok lines do not count"
        passed=0
        failed=$not_oks
    elif [ -z "$why" ] && [ $((passed + failed)) = 0 ]; then
        why="no case ran (exit $status)"
    elif [ -z "$why" ] && { [ "$oks" != "$passed" ] || [ "$not_oks" != "$failed" ]; }; then
        why="summary says $passed passed, $failed failed; output has $oks ok, $not_oks not ok lines"
    fi
    if [ -n "$why" ] && [ "$failed" = 0 ]; then
        failed=1
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))

    if [ -z "$why" ]; then
        printf '%-28s passed %4s  failed %3s  %6ss  ok\n' "$board" "$passed" "$failed" "$seconds"
    else
        boards_failed=$((boards_failed + 1))
        printf '%-28s passed %4s  failed %3s  %6ss  FAIL: %s\n' "$board" "$passed" "$failed" "$seconds" "$why"
        echo "---- serial output of $board ($qemu -kernel $image)"
        tr -d '\r' < "$log" | sed 's/^/| /'
        echo "---- end of $board"
    fi
}

for conf in "$@"; do
    if [ ! -f "$conf" ]; then
        echo "run_boards: no $conf" >&2
        total_failed=$((total_failed + 1))
        boards_failed=$((boards_failed + 1))
        continue
    fi
    run_one "$conf"
done

echo "$total_passed passed, $total_failed failed"
[ "$boards_failed" = 0 ] && [ "$total_failed" = 0 ]
