#!/bin/sh
# Prints the bench's console table from <out>/results.csv, calls.csv,
# extra.csv and calib.txt (bench/run.sh writes them).
set -eu
out=$1
echo
echo "== kheap bench, $(sed -n 2p "$out/results.csv" | cut -d, -f1): instructions per call (qemu -icount shift=10, CMSDK timer 0)"
sed -n 's/^[a-z]* CALIB,//p' "$out/calib.txt" | head -1 | awk -F, '{
    printf "calibration: straight-line blocks of 37, 1000, 10000 instructions measure %s, %s, %s instructions (%s, %s, %s ticks of 40 ns)\n",
        substr($5, index($5, "=") + 1), substr($6, index($6, "=") + 1), substr($7, index($7, "=") + 1),
        substr($2, index($2, "=") + 1), substr($3, index($3, "=") + 1), substr($4, index($4, "=") + 1) }'
echo
awk -F, 'NR == FNR { if (FNR > 1) frag[$2] = $5; next }
    FNR == 1 { printf "%-10s %-9s %7s %8s %8s %8s %8s %6s %10s %10s\n",
               "trace", "allocator", "calls", "avg", "max", "malloc", "free", "failed", "footprint", "peak_live"; next }
    { if ($3 != last && last != "") print ""; last = $3
      printf "%-10s %-9s %7s %8s %8s %8s %8s %6s %10s %10s%s\n", $3, $2, $4, $5, $6, $7, $8, $9, $10, $11,
             $3 == "frag" ? "  512-byte successes: " frag[$2] : "" }' \
    "$out/extra.csv" "$( { head -1 "$out/results.csv"; tail -n +2 "$out/results.csv" | sort -t, -k3,3 -s; } > "$out/.sorted"; echo "$out/.sorted")"
echo
echo "per call type (max_o1: the largest count of a call that did not reach the provider):"
awk -F, 'FNR == 1 { printf "%-10s %-9s %-8s %7s %8s %8s %8s %9s\n", "trace", "allocator", "call", "count", "avg", "max", "max_o1", "provider"; next }
    { printf "%-10s %-9s %-8s %7s %8s %8s %8s %9s\n", $3, $2, $4, $5, $6, $7, $8, $9 }' \
    "$( { head -1 "$out/calls.csv"; tail -n +2 "$out/calls.csv" | sort -t, -k3,3 -s; } > "$out/.sorted2"; echo "$out/.sorted2")"
rm -f "$out/.sorted" "$out/.sorted2"
