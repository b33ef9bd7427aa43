#!/bin/sh
# The region shim's threading contract under ThreadSanitizer: two clients on
# one region from four threads (tests/region_threads.c).  With the region's
# lock hooks every check passes and TSan reports nothing; without them TSan
# must report a race (the check that this stage can fail).
# Usage: tests/region_tsan.sh OUTDIR ITERATIONS
set -eu
out=$1 iterations=$2
mkdir -p "$out"
prog=$out/region-threads-tsan
cc -std=c11 -g -O1 -fsanitize=thread -D_DEFAULT_SOURCE -Wall -Wextra -Werror \
   tests/region_threads.c alloc/region.c -o "$prog" -lpthread
log=$out/region-threads.out
if TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$prog" "$iterations" >"$log" 2>&1; then
    # The program's own summary line becomes a comment: one summary here.
    sed 's/^\([0-9]* passed, [0-9]* failed\)$/# program: \1/' "$log"
    status=0
else
    status=$?
    tail -n 60 "$log" | sed 's/^\([0-9]* passed, [0-9]* failed\)$/# program: \1/'
fi
# The program's own summary: its passes count, a TSan report fails it.
set -- $(sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1) 0 0
passed=$1 failed=$2
if [ "$status" -ne 0 ]; then
    grep -q 'ThreadSanitizer' "$log" && echo "# ThreadSanitizer reported (exit $status)"
    failed=$((failed + 1))
fi
nolog=$out/region-threads-nolock.out
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$prog" --no-lock "$iterations" >"$nolog" 2>&1 && nostatus=0 || nostatus=$?
n=$((passed + failed + 1))
if [ "$nostatus" -eq 66 ] && grep -q 'WARNING: ThreadSanitizer: data race' "$nolog"; then
    echo "ok $n - without the region's lock hooks TSan reports the race: $(grep -m1 -A2 'data race' "$nolog" | tail -n 1 | sed 's/^ *//')"
    passed=$((passed + 1))
else
    tail -n 20 "$nolog"
    echo "not ok $n - without the region's lock hooks TSan reported no race (exit $nostatus)"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
