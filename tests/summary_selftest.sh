#!/bin/sh
# Tests the judge: tests/summary.sh, fed fabricated result directories and
# counts files, must give each verdict it exists to give (a good run
# passes; a failed case, a stage with no case, a stage that did not run, a
# count that dropped or grew, a stage nobody stated, a log without its
# summary line and a malformed counts file each fail, naming the stage),
# and -w must rewrite the counts only from a good run.  A judge that passes
# everything would otherwise go unnoticed: the suite would stay green.
# Usage: tests/summary_selftest.sh
# One `ok N - name` / `not ok N - name: why` line per case, then
# `N passed, M failed`; summary.sh's own output is shown indented, so that
# nothing of it reads as this script's summary line.
set -u
here=$(cd "$(dirname "$0")" && pwd)
judge=$here/summary.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kheap-judge.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0 passed=0 failed=0
report() { # ok|fail NAME [WHY]
    n=$((n + 1))
    if [ "$1" = ok ]; then
        passed=$((passed + 1)); echo "ok $n - $2"
    else
        failed=$((failed + 1)); echo "not ok $n - $2: $3"
    fi
}

# A fresh case directory: $case/results (the logs) and $case/counts.
fresh() { # NAME
    case=$tmp/$1
    mkdir -p "$case/results"
    printf '# fabricated counts\nalpha 3\n\n# a comment between stages\nbeta 2\n' > "$case/counts"
}
# log STAGE PASSED FAILED: a stage log as the runners write it.
log() {
    {
        i=0
        while [ $i -lt $(($2 + $3)) ]; do
            i=$((i + 1))
            if [ $i -le "$2" ]; then echo "ok $i - case $i"; else echo "not ok $i - case $i: t.c:1: expected 1, got 0"; fi
        done
        echo "$2 passed, $3 failed"
    } > "$case/results/$1.log"
}

# judge NAME STATUS LAST PATTERN [ARGS...]: summary.sh [ARGS] on the case
# must exit with STATUS (0, or 1 for "fails"), end with the line LAST and
# print a line matching the extended regex PATTERN (empty: no check).
judge() {
    name=$1 want_status=$2 want_last=$3 pattern=$4
    shift 4
    sh "$judge" "$@" -c "$case/counts" "$case/results" > "$case/out" 2>&1
    status=$?
    sed 's/^/    /' "$case/out"
    last=$(tail -n 1 "$case/out")
    if [ "$status" != "$want_status" ]; then
        report fail "$name" "exit status $status, expected $want_status"
    elif [ -n "$want_last" ] && [ "$last" != "$want_last" ]; then
        report fail "$name" "last line '$last', expected '$want_last'"
    elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$case/out"; then
        report fail "$name" "no line matching '$pattern'"
    else
        report ok "$name"
    fi
}

unchanged() { # NAME: $case/counts is still $case/before
    if cmp -s "$case/before" "$case/counts"; then report ok "$1"; else report fail "$1" "they changed"; fi
}

fresh good; log alpha 3 0; log beta 2 0
judge "a good run passes and sums the stages" 0 "5 passed, 0 failed" '^summary: alpha +3 passed, 0 failed$'

fresh failure; log alpha 2 1; log beta 2 0
judge "a failed case fails the run" 1 "4 passed, 1 failed" '^summary: beta +2 passed, 0 failed$'

fresh zero; log alpha 3 0; log beta 0 0
judge "a stage that ran 0 cases fails" 1 "3 passed, 1 failed" '^summary: FAIL beta: expected 2 cases, got 0'

fresh missing; log alpha 3 0
judge "a stated stage that left no log fails" 1 "3 passed, 1 failed" '^summary: FAIL beta: expected 2 cases, got no log'

fresh drop; log alpha 2 0; log beta 2 0
judge "a count that dropped fails" 1 "4 passed, 1 failed" '^summary: FAIL alpha: expected 3 cases, got 2 '

fresh grow; log alpha 4 0; log beta 2 0
judge "a count that grew fails until it is stated" 1 "6 passed, 1 failed" '^summary: FAIL alpha: expected 3 cases, got 4 '

fresh unlisted; log alpha 3 0; log beta 2 0; log gamma 1 0
judge "a stage that is not stated fails" 1 "6 passed, 1 failed" '^summary: FAIL gamma: not stated in .*, got 1 cases'

fresh nosummary; log alpha 3 0; log beta 2 0
printf 'ok 1 - a\nok 2 - b\n    2 passed, 0 failed\n' > "$case/results/beta.log"
judge "ok lines without a summary line (or an indented one) are not passes" 1 \
    "3 passed, 1 failed" "^summary: FAIL beta: expected 2 cases, got no 'N passed, M failed' line"

fresh lastline; log alpha 3 0; log beta 2 0
printf '9 passed, 0 failed\nok 1 - a\nok 2 - b\r\n2 passed, 0 failed\r\n' > "$case/results/beta.log"
judge "the last summary line of a log counts (CRLF too)" 0 "5 passed, 0 failed" ''

fresh skipped; log alpha 3 0
printf 'ok 1 - a\nok 2 - b # SKIP no b\n1 passed, 0 failed, 1 skipped\n' > "$case/results/beta.log"
judge "a closing line with skips is not a summary line" 1 "3 passed, 1 failed" '^summary: FAIL beta'

fresh empty; : > "$case/counts"
judge "no log and nothing stated fails" 1 "0 passed, 1 failed" '^summary: FAIL no stage left a log'

fresh malformed; log alpha 3 0; log beta 2 0
printf 'alpha 3\nbeta two\nbeta 0\n' > "$case/counts"
judge "a malformed counts file fails" 1 "" '^summary: FAIL: .*counts:2: "beta two" is not'

fresh nocounts; log alpha 3 0; log beta 2 0; rm "$case/counts"
judge "a missing counts file fails" 1 "0 passed, 1 failed" '^summary: FAIL: no counts file'

fresh rewrite; log alpha 4 0; log beta 2 0; log gamma 1 0
judge "-w rewrites the counts from a good run" 0 "" '^test-counts: alpha 3 -> 4$' -w
printf '# fabricated counts\nalpha 4\n\n# a comment between stages\nbeta 2\ngamma 1\n' > "$case/want"
if cmp -s "$case/want" "$case/counts"; then
    report ok "-w keeps the comments and order and appends the new stage"
else
    report fail "-w keeps the comments and order and appends the new stage" "got: $(tr '\n' '|' < "$case/counts")"
fi
judge "the rewritten counts pass the same run" 0 "7 passed, 0 failed" ''

fresh refusefail; log alpha 3 1; log beta 2 0
cp "$case/counts" "$case/before"
judge "-w refuses a run with a failed case" 1 "" '^test-counts: not rewriting .*\(alpha\)' -w
unchanged "-w left the counts alone"

fresh refusemissing; log alpha 3 0
cp "$case/counts" "$case/before"
judge "-w refuses when a stated stage did not run" 1 "" '^test-counts: not rewriting .*no log for beta' -w
unchanged "-w left the counts alone"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
