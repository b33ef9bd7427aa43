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
qemu-i386 "$prog" "$@"
