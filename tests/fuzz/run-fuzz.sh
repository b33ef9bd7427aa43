#!/bin/sh
# Runs the libFuzzer binary and prints two summary lines from its log:
#   fuzz: N runs in S s (R exec/s), cov C, ft F
#   fuzz misuse: N calls (...), R reports checked, ...
# On a crash it shows the end of the log and the saved input, and fails.
# Usage: tests/fuzz/run-fuzz.sh BINARY CORPUS_DIR LOG [libFuzzer flags...]
set -u
bin=$1 corpus=$2 log=$3
shift 3
"$bin" "$@" "$corpus" >"$log" 2>&1
rc=$?
summary=$(awk '
    /^#[0-9]+\t/ && / cov: / {
        runs = substr($1, 2)
        for (i = 2; i < NF; i++) {
            if ($i == "cov:") cov = $(i + 1)
            if ($i == "ft:") ft = $(i + 1)
            if ($i == "exec/s:") eps = $(i + 1)
        }
    }
    /^stat::number_of_executed_units:/ { runs = $2 }
    /^stat::average_exec_per_sec:/ { eps = $2 }
    /^Done [0-9]+ runs in [0-9]+ second/ { runs = $2; secs = $5 }
    END {
        if (runs == "") exit 1
        if (secs == "") secs = "?"
        printf "fuzz: %s runs in %s s (%s exec/s), cov %s, ft %s\n", runs, secs, eps, cov, ft
    }' "$log")
if [ $rc -ne 0 ]; then
    echo "fuzz: FAILED (exit $rc); end of $log:" >&2
    grep -E 'kheap fuzz:|ERROR|SUMMARY|Test unit written|Base64' "$log" >&2
    tail -25 "$log" >&2
    [ -n "$summary" ] && echo "$summary"
    echo "fuzz: reproduce with: $bin INPUT, or without clang: make fuzz-replay FUZZ_INPUTS=INPUT (FUZZ_TRACE=1 prints each operation)" >&2
    exit $rc
fi
if [ -z "$summary" ]; then
    echo "fuzz: no libFuzzer statistics in $log" >&2
    exit 1
fi
echo "$summary"
# The harness's own last line (at exit): the misuse calls it made and the
# reports it checked.  A run that made none fails.
misuse=$(grep '^fuzz misuse: ' "$log" | tail -1)
case $misuse in
"fuzz misuse: 0 calls"* | "")
    echo "fuzz: FAILED: no misuse call made (${misuse:-no 'fuzz misuse:' line in $log})" >&2
    exit 1 ;;
esac
echo "$misuse"
