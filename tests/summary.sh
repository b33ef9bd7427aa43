#!/bin/sh
# The closing line of `make test`: the sum of the "N passed, M failed" line
# each stage left in its log under $1.  Exit 1 if any stage failed a case
# or left no summary.
dir=${1:?usage: summary.sh RESULTS-DIR}
passed=0 failed=0 stages=0
for log in "$dir"/*.log; do
    [ -e "$log" ] || continue
    line=$(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
    stage=$(basename "$log" .log)
    if [ -z "$line" ]; then
        echo "summary: $stage left no 'N passed, M failed' line"
        failed=$((failed + 1))
        continue
    fi
    set -- $line
    printf 'summary: %-12s %6s passed, %s failed\n' "$stage" "$1" "$2"
    passed=$((passed + $1)) failed=$((failed + $2)) stages=$((stages + 1))
done
echo "$passed passed, $failed failed"
[ "$stages" -gt 0 ] && [ "$failed" -eq 0 ]
