#!/bin/sh
# The host drop-in test: unmodified programs under LD_PRELOAD=libkheap.so
# must print byte for byte what they print without it, and KHEAP_STATS=1's
# exit line must show that kheap served them; then the thread and fork
# stress, the errno contracts, misuse detection and KHEAP_LEAKS=1's report.
#
# Usage: tests/dropin/run.sh BUILD_DIR   (BUILD_DIR holds libkheap.so and the
# dropin-* programs; `make test-dropin` passes build/host)
#
# One line per check as it finishes (`ok N - name` or `not ok N - name: why`),
# then `N passed, M failed`; exits non-zero on any failure.
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
bin=$(cd "$1" && pwd)
lib=$bin/libkheap.so
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kheap-dropin.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
ulimit -c 0 2>/dev/null  # the misuse checks abort on purpose

n=0
passed=0
failed=0
t0=$(date +%s)

ok() {
    n=$((n + 1)); passed=$((passed + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1)); failed=$((failed + 1))
    echo "not ok $n - $1: $2"
}
# A program the checks need and cannot find is a failure, never a skip
# counted as a pass: mk/deps.sh dropin installs them (make test-dropin
# runs it).
missing() { # NAME PROGRAM
    not_ok "$1" "$2 not installed (sh mk/deps.sh dropin)"
}

if [ ! -f "$lib" ]; then
    not_ok "libkheap.so" "$lib not built (make host)"
    echo "$passed passed, $failed failed"
    exit 1
fi

# The allocs count from the KHEAP_STATS lines in file $1 (the largest, when
# the program started children that report too); empty when there is none.
allocs_of() {
    sed -n 's/^kheap: allocs=\([0-9]*\) .*/\1/p' "$1" | sort -n | tail -n 1
}
stats_line_of() {
    grep '^kheap: allocs=' "$1" | sort -t= -k2,2n | tail -n 1
}

# preload_check NAME MIN_ALLOCS INPUT CMD [ARGS...]
# Runs CMD without the preload and then with it (stdin from INPUT, or
# /dev/null for -), and checks: the same exit status, byte-identical stdout,
# the same stderr once the kheap line is taken out, and a KHEAP_STATS line
# with at least MIN_ALLOCS allocations.
preload_check() {
    name=$1 min=$2 input=$3
    shift 3
    [ "$input" = - ] && input=/dev/null
    ref=$work/ref.out reff=$work/ref.err out=$work/pre.out err=$work/pre.err
    "$@" <"$input" >"$ref" 2>"$reff"
    rc_ref=$?
    KHEAP_STATS=1 LD_PRELOAD=$lib "$@" <"$input" >"$out" 2>"$err"
    rc=$?
    allocs=$(allocs_of "$err")
    grep -v '^kheap: ' "$err" >"$work/pre.err.rest"
    if [ "$rc" != "$rc_ref" ]; then
        not_ok "$name" "exit status $rc under the preload, $rc_ref without"
        sed 's/^/    /' "$err" | head -n 5
    elif ! cmp -s "$ref" "$out"; then
        not_ok "$name" "output differs under the preload ($(wc -c <"$out") bytes vs $(wc -c <"$ref"))"
        cmp "$ref" "$out" | sed 's/^/    /'
    elif ! cmp -s "$reff" "$work/pre.err.rest"; then
        not_ok "$name" "stderr differs under the preload"
        diff "$reff" "$work/pre.err.rest" | head -n 5 | sed 's/^/    /'
    elif [ -z "$allocs" ]; then
        not_ok "$name" "no KHEAP_STATS line: kheap did not serve it"
    elif [ "$allocs" -lt "$min" ]; then
        not_ok "$name" "kheap served only $allocs allocations, expected at least $min"
    else
        ok "$name: $(wc -c <"$out" | tr -d ' ') bytes identical; $(stats_line_of "$err")"
    fi
}

# ---------------------------------------------------------------- python3
# pyenv's python3 is a bash shim: preload into the interpreter itself.
py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -z "$py" ]; then
    missing "python3 churn" python3
elif [ "$(head -c 4 "$py" | od -An -c | tr -d ' ')" != '177ELF' ]; then
    not_ok "python3 churn" "sys.executable $py is not an ELF binary"
else
    # Every object through malloc (PYTHONMALLOC=malloc), then the default
    # pymalloc, which still takes its arenas' neighbours and big objects
    # from malloc.
    preload_check "python3 churn, PYTHONMALLOC=malloc ($py)" 1000000 - \
        env PYTHONHASHSEED=0 PYTHONMALLOC=malloc "$py" "$here/churn.py" 30
    preload_check "python3 churn, pymalloc ($py)" 1000 - \
        env PYTHONHASHSEED=0 "$py" "$here/churn.py" 15
fi

# ---------------------------------------------------------------- sort
# 200,000 lines (about 6.5 MB) from a fixed LCG: the same on every machine.
awk 'BEGIN { x = 12345
    for (i = 0; i < 200000; i++) {
        x = (x * 1103515245 + 12345) % 2147483648; y = (x * 69069 + 1) % 2147483648
        printf "%08x %d line-%d %s\n", x, y % 1000, i, substr("abcdefghijklmnopqrstuvwxyz", x % 26 + 1, y % 20)
    } }' >"$work/sort.in"
if ! command -v sort >/dev/null 2>&1; then
    missing "sort" sort
else
    # The default: a few big buffers (one large heap each).  With -S 1M sort
    # spills to temporary files and merges them on two threads.
    preload_check "sort ($(wc -c <"$work/sort.in" | tr -d ' ') bytes)" 5 "$work/sort.in" \
        env LC_ALL=C sort
    preload_check "sort -S 1M --parallel=2 -k2,2n -k3 (spills and merges)" 100 "$work/sort.in" \
        env LC_ALL=C TMPDIR="$work" sort -S 1M --parallel=2 -k2,2n -k3
fi

# ---------------------------------------------------------------- awk
if command -v awk >/dev/null 2>&1; then
    preload_check "awk associative arrays ($(readlink -f "$(command -v awk)"))" 10000 "$work/sort.in" \
        awk '{ c[$3]++; w[$2] = w[$2] " " $1 } END { n = 0; for (k in w) n += length(w[k]); print length(c), n }'
else
    missing "awk" awk
fi

# ---------------------------------------------------------------- sqlite3
if command -v sqlite3 >/dev/null 2>&1; then
    preload_check "sqlite3 :memory: create/insert/index/join/update/delete" 100000 \
        "$here/workload.sql" sqlite3 :memory:
else
    missing "sqlite3" sqlite3
fi

# ---------------------------------------------------------------- threads, fork
# threads_check NAME MIN_ALLOCS PROGRAM [LD_PRELOAD value]
threads_check() {
    name=$1 min=$2 prog=$3 pre=${4:-}
    if [ ! -x "$prog" ]; then
        not_ok "$name" "$prog not built"
        return
    fi
    KHEAP_STATS=1 LD_PRELOAD=$pre "$prog" >"$work/thr.out" 2>"$work/thr.err"
    rc=$?
    allocs=$(allocs_of "$work/thr.err")
    if [ "$rc" != 0 ] || ! grep -q '^threads: ok' "$work/thr.out"; then
        not_ok "$name" "exit status $rc"
        head -n 20 "$work/thr.out" "$work/thr.err" | sed 's/^/    /'
    elif [ -z "$allocs" ] || [ "$allocs" -lt "$min" ]; then
        not_ok "$name" "kheap served ${allocs:-no} allocations, expected at least $min"
    else
        ok "$name: $(stats_line_of "$work/thr.err")"
    fi
}
threads_check "8 threads, cross-thread frees, 2 forks mid-run, kheap_check (libkheap.a)" \
    240000 "$bin/dropin-threads"
threads_check "8 threads, cross-thread frees, 2 forks mid-run (LD_PRELOAD)" \
    240000 "$bin/dropin-threads-preload" "$lib"

# ---------------------------------------------------------------- contracts
if [ ! -x "$bin/dropin-api" ]; then
    not_ok "api contracts" "$bin/dropin-api not built"
else
    "$bin/dropin-api" >"$work/api.out" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then
        ok "errno, alignment and glibc realloc contracts: $(tail -n 1 "$work/api.out" | sed 's/^api: //')"
    else
        not_ok "api contracts" "exit status $rc"
        sed 's/^/    /' "$work/api.out"
    fi
fi

# ---------------------------------------------------------------- misuse
# misuse_check NAME MODE TEXT: the program prints the address, misuses it
# and must die of SIGABRT with one kheap line naming TEXT and the address.
misuse_check() {
    name=$1 mode=$2 text=$3
    # In a subshell whose stderr is /dev/null: the shell that waits for the
    # program prints its own "Aborted" notice there.
    (
        LD_PRELOAD=$lib "$bin/dropin-misuse" "$mode" >"$work/mis.out" 2>"$work/mis.err"
        rc=$?
        exit $rc
    ) 2>/dev/null
    rc=$?
    addr=$(head -n 1 "$work/mis.out")
    lines=$(grep -c '^kheap: ' "$work/mis.err")
    line=$(grep '^kheap: ' "$work/mis.err" | head -n 1)
    if [ "$rc" != 134 ]; then
        not_ok "$name" "exit status $rc, expected 134 (SIGABRT)"
        sed 's/^/    /' "$work/mis.err" | head -n 5
    elif [ "$lines" != 1 ]; then
        not_ok "$name" "$lines kheap lines on stderr, expected 1"
    elif [ -z "$addr" ] || ! printf '%s\n' "$line" | grep -q "$text.* at $addr\$"; then
        not_ok "$name" "stderr line '$line' does not name '$text' at $addr"
    else
        ok "$name: SIGABRT, stderr: $line"
    fi
}
if [ ! -x "$bin/dropin-misuse" ]; then
    not_ok "misuse" "$bin/dropin-misuse not built"
else
    misuse_check "double free under the preload" double-free "double free"
    misuse_check "free of a foreign pointer under the preload" foreign "outside every heap"
fi

# ---------------------------------------------------------------- leaks
# KHEAP_LEAKS=1 under the traced library: the report names each leaking
# function of tests/dropin/leaks.c with its exact blocks and bytes, and
# none of its balanced ones; the untraced library says it cannot.
leak_line_check() { # NAME FUNCTION BLOCKS BYTES
    got=$(sed -n "s/^kheap: leak $2+0x[0-9a-f]* (.*dropin-leaks) \(blocks=[0-9]* bytes=[0-9]*\) site=0x[0-9a-f]*\$/\1/p" \
        "$work/leaks.err")
    if [ "$got" = "blocks=$3 bytes=$4" ]; then
        ok "$1: $2 blocks=$3 bytes=$4"
    else
        not_ok "$1" "$2: expected one line 'blocks=$3 bytes=$4', got '$(echo $got)'"
        sed 's/^/    /' "$work/leaks.err" | head -n 10
    fi
}
tlib=$bin/libkheap-trace.so
if [ ! -x "$bin/dropin-leaks" ] || [ ! -f "$tlib" ]; then
    not_ok "KHEAP_LEAKS=1 report" "$bin/dropin-leaks or $tlib not built"
else
    KHEAP_LEAKS=1 LD_PRELOAD=$tlib "$bin/dropin-leaks" >"$work/leaks.out" 2>"$work/leaks.err"
    rc=$?
    leak_line_check "KHEAP_LEAKS=1 (libkheap-trace.so) names a leaking function" leak_names 3 72
    leak_line_check "KHEAP_LEAKS=1 names a leaking calloc's caller" leak_table 2 80
    leak_line_check "KHEAP_LEAKS=1 names a leaking realloc's caller" leak_grow 1 104
    balanced=$(grep -c '^kheap: leak balanced_' "$work/leaks.err")
    if [ "$rc" = 0 ] && [ "$balanced" = 0 ] && grep -q '^kheap: leaks sites=' "$work/leaks.err"; then
        ok "KHEAP_LEAKS=1: no balanced function reported; $(grep '^kheap: leaks sites=' "$work/leaks.err")"
    else
        not_ok "KHEAP_LEAKS=1 report" "exit status $rc, $balanced balanced functions reported"
        sed 's/^/    /' "$work/leaks.err" | head -n 10
    fi
    KHEAP_LEAKS=1 LD_PRELOAD=$lib "$bin/dropin-leaks" >"$work/leaks.out" 2>"$work/leaks.err"
    if grep -qx 'kheap: KHEAP_LEAKS=1 needs the traced library, libkheap-trace.so' "$work/leaks.err"; then
        ok "KHEAP_LEAKS=1 under the untraced libkheap.so says it needs libkheap-trace.so"
    else
        not_ok "KHEAP_LEAKS=1 under libkheap.so" "no line saying it needs libkheap-trace.so"
    fi
fi

echo "drop-in checks took $(($(date +%s) - t0))s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
