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

# The bars, from the same files: per trace and kheap profile, the
# average against newlib's (issue 13: lean <= newlib's, default <= 1.2x),
# the worst malloc, memalign or free (provider calls included; realloc,
# which copies, aside), the worst of those that did not reach the
# provider, and the peak footprint against newlib's (issue 12: <= 200,
# <= 100 and <= newlib's in every profile but full).  Traces named *.4m or
# mixed-4m ran over the whole region (4 MiB on mps2-an385), the others over
# 256 KiB or less.
echo
echo "against the bars (worst excludes realloc; ratio = avg / newlib's avg):"
awk -F, 'FNR == 1 { next }
    NR == FNR { if ($2 ~ /^kheap/ && $4 != "realloc") {
                    k = $2 "," $3
                    if ($7 > worst[k]) worst[k] = $7
                    if ($8 > o1[k]) o1[k] = $8 }
                next }
    { foot[$2 "," $3] = $10; avg[$2 "," $3] = $5; seen[$3] = 1; if ($2 ~ /^kheap/) prof[$2] = 1 }
    END {
        printf "%-11s %-10s %7s %7s %6s %5s %6s %5s %7s %5s %10s %10s %5s\n", "trace", "profile", "avg", "newlib",
               "ratio", "", "worst", "", "no-prov", "", "footprint", "newlib", ""
        n = 0; for (t in seen) names[++n] = t
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (names[j] < names[i]) { x = names[i]; names[i] = names[j]; names[j] = x }
        np = split("kheap-lean kheap kheap-full", order, " ")
        for (i = 1; i <= n; i++) for (q = 1; q <= np; q++) {
            p = order[q]; t = names[i]; k = p "," t
            if (!(p in prof)) continue
            r = avg[k] / avg["newlib," t]; limit = p == "kheap-lean" ? 1.0 : 1.2
            va = p == "kheap-full" ? "" : r <= limit ? "ok" : "MISS"
            vw = p == "kheap-full" ? "" : worst[k] <= 200 ? "ok" : "MISS"
            vo = p == "kheap-full" ? "" : o1[k] <= 100 ? "ok" : "MISS"
            vf = p == "kheap-full" ? "" : foot[k] + 0 <= foot["newlib," t] + 0 ? "ok" : "MISS"
            miss[p] += (va == "MISS") + (vw == "MISS") + (vo == "MISS") + (vf == "MISS")
            printf "%-11s %-10s %7.1f %7.1f %6.2f %5s %6d %5s %7d %5s %10s %10s %5s\n", t, p, avg[k], avg["newlib," t],
                   r, va, worst[k], vw, o1[k], vo, foot[k], foot["newlib," t], vf
        }
        for (q = 1; q <= np - 1; q++) if (order[q] in prof)
            printf "%s: %d of %d verdicts missed\n", order[q], miss[order[q]], 4 * n
    }' "$out/calls.csv" "$out/results.csv"
