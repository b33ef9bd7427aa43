#!/bin/sh
# Runs every bench image on every trace under QEMU with -icount shift=10
# and gathers what they print (bench/bench_main.c) into:
#   <out>/results.csv   board,allocator,trace,calls,avg_insn,max_insn,malloc_max,
#                        free_max,failed,peak_footprint,peak_live
#   <out>/calls.csv     per call type: average, max, max of the calls that did
#                        not reach the provider (the O(1) path), provider calls
#   <out>/extra.csv     arena bytes and the fragmenting trace's 512-byte successes
#   <out>/calib.txt     the counter's calibration and the empty-call costs
# and prints the table.
#
# usage: run.sh BOARD "QEMU COMMAND" OUTDIR "TRACES" alloc=image.elf...
set -eu
board=$1 qemu=$2 out=$3 traces=$4
shift 4
mkdir -p "$out/logs"
jobs=$(nproc 2>/dev/null || echo 2)

# One QEMU per (allocator, trace), run in parallel; each log is kept.
for spec in "$@"; do
    alloc=${spec%%=*} elf=${spec#*=}
    for t in $traces; do
        echo "$alloc $elf $t"
    done
done | xargs -P "$jobs" -L 1 sh -c '
    log="'"$out"'/logs/$0-$2.log"
    start=$(date +%s.%N)
    timeout 900 '"$qemu"' -semihosting-config enable=on,target=native,arg=bench,arg=$2 \
        -kernel "$1" > "$log" 2>&1 || { echo "bench: $0 $2 failed (exit $?), see $log" >&2; exit 255; }
    awk -v a="$start" -v b="$(date +%s.%N)" -v n="$0 $2" \
        "BEGIN { printf \"bench: %-20s done in %5.1fs\\n\", n, b - a }"
'

{
    echo "board,allocator,trace,calls,avg_insn,max_insn,malloc_max,free_max,failed,peak_footprint,peak_live"
    for spec in "$@"; do
        for t in $traces; do
            tr -d '\r' < "$out/logs/${spec%%=*}-$t.log" | grep '^RESULT,' | cut -d, -f2-
        done
    done
} > "$out/results.csv"
{
    echo "board,allocator,trace,call,count,avg_insn,max_insn,max_insn_no_provider,calls_reaching_provider"
    for spec in "$@"; do
        for t in $traces; do
            tr -d '\r' < "$out/logs/${spec%%=*}-$t.log" | grep '^KIND,' | cut -d, -f2- | awk -F, '$5 != 0'
        done
    done
} > "$out/calls.csv"
{
    echo "board,allocator,trace,arena_bytes,frag512_successes"
    for spec in "$@"; do
        for t in $traces; do
            tr -d '\r' < "$out/logs/${spec%%=*}-$t.log" | grep '^EXTRA,' | cut -d, -f2- |
                sed 's/arena=//; s/frag512=//'
        done
    done
} > "$out/extra.csv"
{
    for spec in "$@"; do
        tr -d '\r' < "$out/logs/${spec%%=*}-mixed.log" | grep -E '^(CALIB|EMPTY),' | sed "s/^/${spec%%=*} /"
    done
} > "$out/calib.txt"

sh "$(dirname "$0")/table.sh" "$out"
