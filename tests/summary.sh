#!/bin/sh
# The judge of `make test`: sums the "N passed, M failed" line each stage
# left in its log under RESULTS-DIR into the run's closing line, and holds
# each stage to the number of cases COUNTS states for it.  Without the
# counts a stage that quietly ran less (a make fragment not included, a
# board that printed no case, a program that was not installed) would pass.
#
# Usage: tests/summary.sh [-c COUNTS] RESULTS-DIR      check (make test)
#        tests/summary.sh -w [-c COUNTS] RESULTS-DIR   rewrite COUNTS
#
# COUNTS (default: expected-counts beside this script) has one line per
# stage, "STAGE CASES", where STAGE is the log's name without .log and CASES
# (at least 1) is passed + failed of its last summary line; '#' starts a
# comment line.
#
# Check: one line per stage, then exactly "N passed, M failed", the sums.
# Exit 1, with a "summary: FAIL" line naming the stage, what was expected
# and what it got, when a stage failed a case, left no summary line, ran no
# case or not the stated number of cases, when a stated stage left no log
# (it did not run), or when a log's stage is not stated.  Each of these
# stage faults adds one failure to M.
#
# -w: for a commit that adds or drops cases on purpose (`make test-counts`).
# Writes each stage's count from the logs of a run in which every stage
# passed, keeping COUNTS's comments and order and appending new stages.  It
# refuses when a stage failed or ran nothing, or when a stated stage left
# no log: a stage that is gone on purpose is deleted from COUNTS by hand.
set -u
here=$(dirname "$0")
counts=$here/expected-counts
write=0
while [ $# -gt 0 ]; do
    case $1 in
        -w) write=1; shift ;;
        -c) counts=${2:?usage: summary.sh [-w] [-c COUNTS] RESULTS-DIR}; shift 2 ;;
        -*) echo "usage: summary.sh [-w] [-c COUNTS] RESULTS-DIR" >&2; exit 2 ;;
        *) break ;;
    esac
done
[ $# = 1 ] || { echo "usage: summary.sh [-w] [-c COUNTS] RESULTS-DIR" >&2; exit 2; }
dir=$1
if [ ! -f "$counts" ]; then
    # Without the file no stage can be held to anything: that is a failure,
    # not a pass (and -w needs its header).
    echo "summary: FAIL: no counts file $counts"
    echo "0 passed, 1 failed"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kheap-summary.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM

# The stated counts as "STAGE CASES" lines; a malformed line goes to
# $tmp/bad as a message.
awk -v file="$counts" -v bad="$tmp/bad" '
    /^[ \t]*(#|$)/ { next }
    NF != 2 || $2 !~ /^[0-9]+$/ || $2 + 0 < 1 {
        print "summary: FAIL: " file ":" FNR ": \"" $0 "\" is not \"STAGE CASES\" with CASES >= 1" > bad
        next
    }
    seen[$1]++ { print "summary: FAIL: " file ":" FNR ": stage " $1 " stated twice" > bad; next }
    { print $1, $2 }' "$counts" > "$tmp/stated"
: >> "$tmp/bad"

expected_of() { # STAGE: its stated count, or nothing
    awk -v s="$1" '$1 == s { print $2 }' "$tmp/stated"
}

passed=0 failed=0 faults=0 stages=0
fault() {
    echo "summary: FAIL $*"
    faults=$((faults + 1))
}
: > "$tmp/ran"
# -w shows the check's lines only when it refuses.
if [ "$write" = 1 ]; then
    exec 3>&1 > "$tmp/check"
fi
for log in "$dir"/*.log; do
    [ -e "$log" ] || continue
    stage=$(basename "$log" .log)
    want=$(expected_of "$stage")
    stated="expected $want cases"
    [ -n "$want" ] || stated="not stated in $counts"
    line=$(tr -d '\r' < "$log" |
        sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' | tail -n 1)
    if [ -z "$line" ]; then
        fault "$stage: $stated, got no 'N passed, M failed' line in $log"
        continue
    fi
    set -- $line
    ran=$(($1 + $2))
    passed=$((passed + $1)) failed=$((failed + $2)) stages=$((stages + 1))
    echo "$stage $ran $2" >> "$tmp/ran"
    printf 'summary: %-20s %6s passed, %s failed\n' "$stage" "$1" "$2"
    if [ "$ran" = 0 ]; then
        fault "$stage: $stated, got 0 cases: the stage ran nothing"
    elif [ -z "$want" ]; then
        fault "$stage: not stated in $counts, got $ran cases (state it: make test-counts)"
    elif [ "$ran" != "$want" ]; then
        fault "$stage: expected $want cases, got $ran ($1 passed, $2 failed)"
    fi
done
while read -r stage want; do
    [ -e "$dir/$stage.log" ] ||
        fault "$stage: expected $want cases, got no log $dir/$stage.log (the stage did not run)"
done < "$tmp/stated"
while read -r msg; do
    echo "$msg"
    faults=$((faults + 1))
done < "$tmp/bad"
if [ "$stages" = 0 ] && [ "$faults" = 0 ]; then
    fault "no stage left a log in $dir"
fi

if [ "$write" = 0 ]; then
    echo "$passed passed, $((failed + faults)) failed"
    [ "$failed" = 0 ] && [ "$faults" = 0 ]
    exit
fi

# -w: only a run in which every stage passed, from its own counts.
exec >&3 3>&-
refuse=$(awk '$3 != 0 || $2 == 0 { printf " %s", $1 }' "$tmp/ran")
if [ -n "$refuse" ] || [ -s "$tmp/bad" ] ||
        [ "$(wc -l < "$tmp/ran")" -lt "$(ls "$dir"/*.log 2>/dev/null | wc -l)" ]; then
    cat "$tmp/check"
    echo "test-counts: not rewriting $counts: a stage failed, ran nothing or left no summary${refuse:+ (}${refuse# }${refuse:+)}"
    exit 1
fi
missing=$(while read -r stage want; do
    [ -e "$dir/$stage.log" ] || printf ' %s' "$stage"
done < "$tmp/stated")
if [ -n "$missing" ]; then
    echo "test-counts: not rewriting $counts: no log for$missing (run make test; delete the line of a stage that is gone on purpose)"
    exit 1
fi
awk -v stated="$tmp/stated" '
    NR == FNR { ran[$1] = $2; order[++n] = $1; next }
    /^[ \t]*(#|$)/ { print; next }
    {
        if ($2 != ran[$1]) printf "test-counts: %s %s -> %s\n", $1, $2, ran[$1] > "/dev/stderr"
        print $1, ran[$1]; done[$1] = 1
    }
    END {
        for (i = 1; i <= n; i++) if (!done[order[i]]) {
            printf "test-counts: %s %s (new stage)\n", order[i], ran[order[i]] > "/dev/stderr"
            print order[i], ran[order[i]]
        }
    }' "$tmp/ran" "$counts" > "$tmp/new" 2> "$tmp/changes"
if [ -s "$tmp/changes" ]; then
    cat "$tmp/changes"
    cat "$tmp/new" > "$counts"
    echo "test-counts: rewrote $counts from $dir ($stages stages, $passed cases)"
else
    echo "test-counts: $counts already matches $dir ($stages stages, $passed cases)"
fi
