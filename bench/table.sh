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

# Issue 12's bar, from the same files: per trace, kheap's worst malloc,
# memalign or free (provider calls included; realloc, which copies, aside),
# the worst of those that did not reach the provider, and the peak
# footprint against newlib's.  Traces named *.4m or mixed-4m ran over the
# whole region (4 MiB on mps2-an385), the others over 256 KiB or less.
echo
echo "against the bar (kheap; worst excludes realloc): worst <= 200, worst without the provider <= 100, footprint <= newlib's"
awk -F, 'FNR == 1 { next }
    NR == FNR { if ($2 == "kheap" && $4 != "realloc") {
                    if ($7 > worst[$3]) worst[$3] = $7
                    if ($8 > o1[$3]) o1[$3] = $8 }
                next }
    { foot[$2 "," $3] = $10; seen[$3] = 1 }
    END {
        printf "%-11s %7s %5s %7s %5s %10s %10s %5s\n", "trace", "worst", "", "no-prov", "", "footprint", "newlib", ""
        n = 0; bad_w = bad_o = bad_f = 0
        for (t in seen) names[++n] = t
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (names[j] < names[i]) { x = names[i]; names[i] = names[j]; names[j] = x }
        for (i = 1; i <= n; i++) {
            t = names[i]; f = foot["kheap," t]; nl = foot["newlib," t]
            vw = worst[t] <= 200 ? "ok" : "MISS"; vo = o1[t] <= 100 ? "ok" : "MISS"; vf = f + 0 <= nl + 0 ? "ok" : "MISS"
            bad_w += vw == "MISS"; bad_o += vo == "MISS"; bad_f += vf == "MISS"
            printf "%-11s %7d %5s %7d %5s %10s %10s %5s\n", t, worst[t], vw, o1[t], vo, f, nl, vf
        }
        printf "missed on %d, %d and %d of %d traces\n", bad_w, bad_o, bad_f, n
    }' "$out/calls.csv" "$out/results.csv"
