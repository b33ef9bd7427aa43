#!/bin/sh
# Where a bench image's instructions go: runs one trace with QEMU logging
# every executed instruction (-singlestep -d exec) and counts instructions
# per function symbol, divided by CALLS when given.  Not part of make bench
# (slow, ~500 MB of log per trace); for the analysis in the README.
#
# usage: profile.sh IMAGE.elf TRACE [CALLS] [BOARD_QEMU]
set -eu
elf=$1 trace=$2 calls=${3:-1} machine=${4:--M mps2-an385}
log=$(mktemp)
qemu-system-arm $machine -nographic -icount shift=10 -singlestep -d exec,nochain -D "$log" \
    -semihosting-config enable=on,target=native,arg=bench,arg=$trace -kernel "$elf" >/dev/null
awk -v c="$calls" '{ n[$NF]++ } END { for (f in n) printf "%10d %8.1f %s\n", n[f], n[f] / c, f }' "$log" |
    sort -rn | head -40
rm -f "$log"
