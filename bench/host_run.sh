#!/bin/sh
# make bench-host: every trace, kheap and glibc, under callgrind; the
# inclusive instruction count of each h_* entry point (bench/host_bench.c)
# divided by its calls.  Writes <out>/host.csv and prints a table.
#
# usage: host_run.sh BINARY OUTDIR "TRACES" [LEAN_BINARY]
# (LEAN_BINARY: the same bench built with the lean profile, row kheap-lean)
set -eu
bin=$1 out=$2 traces=$3 lean=${4:-}
mkdir -p "$out/callgrind"
echo "allocator,trace,calls,avg_insn,malloc_avg,free_avg,realloc_avg,memalign_avg,failed" > "$out/host.csv"
for t in $traces; do
    for a in ${lean:+kheap-lean} kheap glibc; do
        cg=$out/callgrind/$a-$t.out
        run=$bin arg=$a
        if [ "$a" = kheap-lean ]; then run=$lean arg=kheap; fi
        line=$(valgrind --tool=callgrind --callgrind-out-file="$cg" --collect-atstart=no \
            --toggle-collect='h_malloc' --toggle-collect='h_free' --toggle-collect='h_realloc' \
            --toggle-collect='h_memalign' "$run" "$arg" "$t" 2>/dev/null | grep '^HOST,' | sed "s/^HOST,$arg,/HOST,$a,/")
        callgrind_annotate --inclusive=yes "$cg" 2>/dev/null > "$cg.txt"
        echo "$line" | awk -F, -v cgt="$cg.txt" '{
            for (i = 4; i <= NF; i++) { split($i, kv, "="); n[kv[1]] = kv[2] }
            while ((getline l < cgt) > 0) {
                if (l !~ /h_(malloc|free|realloc|memalign)/) continue
                split(l, f, " "); ir = f[1]; gsub(",", "", ir)
                match(l, /h_(malloc|free|realloc|memalign)/); k = substr(l, RSTART + 2, RLENGTH - 2)
                if (!(k in cost)) cost[k] = ir
            }
            calls = n["malloc"] + n["free"] + n["realloc"] + n["memalign"]; tot = 0
            for (k in cost) tot += cost[k]
            printf "%s,%s,%d,%.1f", $2, $3, calls, calls ? tot / calls : 0
            split("malloc free realloc memalign", ks, " ")
            for (j = 1; j <= 4; j++) { k = ks[j]; printf ",%s", n[k] ? sprintf("%.1f", cost[k] / n[k]) : "-" }
            printf ",%s\n", n["failed"]
        }' >> "$out/host.csv"
    done
done
echo
echo "== host bench (x86-64, valgrind --tool=callgrind): instructions per call, entry wrapper included"
awk -F, '{ printf "%-10s %-9s %7s %8s %8s %8s %8s %9s %6s\n", $2, $1, $3, $4, $5, $6, $7, $8, $9 }' "$out/host.csv"
