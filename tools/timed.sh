#!/bin/sh
# Runs a build step and prints one line when it ends: its label, its time
# and ok or FAILED.  Usage: tools/timed.sh LABEL COMMAND [ARG...]
# The exit status is the command's.
label=$1; shift
now() { date +%s.%N 2>/dev/null || date +%s; }
start=$(now)
"$@"
status=$?
end=$(now)
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
if [ "$status" = 0 ]; then verdict=ok; else verdict="FAILED (exit $status)"; fi
printf '%-60s %6ss  %s\n' "$label" "$seconds" "$verdict"
exit "$status"
