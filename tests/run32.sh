#!/bin/sh
# Runs a 32-bit x86 host program (the -m32 suites): natively where the
# kernel can, else under qemu-i386 (mk/deps.sh installs qemu-user where
# the kernel has no 32-bit support, as some VMs do).
# Usage: tests/run32.sh PROGRAM [ARG...]
prog=${1:?usage: run32.sh PROGRAM [ARG...]}
shift
err=$(mktemp "${TMPDIR:-/tmp}/run32.XXXXXX") || exit 2
trap 'rm -f "$err"' EXIT
"$prog" "$@" 2>"$err"
status=$?
# 126: the kernel could not execute it at all, so nothing ran.
if [ "$status" -ne 126 ]; then
    cat "$err" >&2
    exit "$status"
fi
command -v qemu-i386 >/dev/null 2>&1 || {
    echo "run32: $prog cannot run natively and qemu-i386 is missing (sh mk/deps.sh host)" >&2
    exit 2
}
# Emulated, a run is several times slower: the stress cases do a fifth of
# their operations (every case still runs; tests/host_main.c).
KTEST_STRESS_OPS=${KTEST_STRESS_OPS:-200000} qemu-i386 "$prog" "$@"
