#!/bin/sh
# Boots the leak scenario (tools/scenario/leaks_main.c, KHEAP_TRACE=1) of
# each board and checks its report against tests/leaks/expected: every call
# site is resolved with the board's addr2line (at the return address less
# one, inside the call instruction) to function (file:line), the function
# being the one the code was compiled into when the call was inlined.
#
# Usage: tests/leaks/check.sh LEAKS.CONF...    five cases a board, then
#                                              "N passed, M failed"
#        tests/leaks/check.sh -r LEAKS.CONF    the resolved report only
#        LEAKS_LOG=FILE tests/leaks/check.sh LEAKS.CONF
#                                              judge FILE as the board's serial
#                                              output, QEMU's status 0 (for
#                                              tests/leaks/selfcheck.sh)
#
# A LEAKS.CONF (mk/leaks.mk) sets board, image, qemu, timeout, addr2line.
# Cases per board: the scenario ran and exited 0 with a complete report;
# one per expected function: exactly one site resolves to it, in
# leaks_main.c on a line that calls kheap, with the expected blocks and
# bytes (the column for the word size the report states); and no site
# resolves to any other function.
set -u
here=$(cd "$(dirname "$0")" && pwd)
expected=$here/expected
report_only=false
if [ "${1:-}" = -r ]; then report_only=true; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [-r] LEAKS.CONF..." >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/kheap-leaks.XXXXXX") || exit 2
trap 'rm -rf "$dir"' EXIT INT TERM

n=0 passed=0 failed=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

# Boots $image into $dir/log; writes $dir/report: "function file line
# blocks bytes" per site (other: "(other) - 0 blocks bytes"), and sets
# status and word.
boot_and_resolve() {
    status=0
    if [ -n "${LEAKS_LOG:-}" ]; then
        cp "$LEAKS_LOG" "$dir/log"
    else
        timeout -k 5 "$timeout" $qemu -kernel "$image" < /dev/null > "$dir/log" 2>&1 || status=$?
    fi
    tr -d '\r' < "$dir/log" > "$dir/clean"
    word=$(sed -n 's/^leaks begin word=\([0-9]*\) .*/\1/p' "$dir/clean" | tail -n 1)
    : > "$dir/report"
    sed -n '/^leaks begin /,/^leaks end$/p' "$dir/clean" | grep '^leak ' | while read -r _ a b c; do
        case $a in
        site=*)
            site=${a#site=}
            pc=$(printf '0x%x' $((site - 1)))
            # -i: a call inlined into its caller resolves to its chain of
            # frames, innermost first; the function is the last frame's.
            "$addr2line" -f -i -e "$image" "$pc" > "$dir/frames"
            fn=$(tail -n 2 "$dir/frames" | head -n 1)
            loc=$(tail -n 1 "$dir/frames")
            loc=${loc%% (*}
            echo "$fn ${loc%:*} ${loc##*:} ${b#blocks=} ${c#bytes=}" ;;
        *)  echo "(other) - 0 ${b#blocks=} ${c#bytes=}" ;;
        esac
    done > "$dir/report"
}

for conf in "$@"; do
    board="" image="" qemu="" timeout=30 addr2line=""
    # shellcheck disable=SC1090
    . "$conf"
    boot_and_resolve
    if $report_only; then
        sed -n '/^leaks begin /,/^leaks end$/p' "$dir/clean" | head -n 1
        while read -r fn file line blocks bytes; do
            echo "leak $fn ($file:$line) blocks=$blocks bytes=$bytes"
        done < "$dir/report"
        grep -E '^leaks: ' "$dir/clean"
        [ "$status" = 0 ] || { echo "leaks: QEMU exit $status"; cat "$dir/clean"; exit 1; }
        exit 0
    fi
    if [ "$status" = 0 ] && grep -qx 'leaks: exit 0' "$dir/clean" && grep -qx 'leaks end' "$dir/clean" &&
        [ -n "$word" ]; then
        ok "$board: the scenario ran, its report is complete and kheap_check held"
    else
        not_ok "$board: the scenario failed (QEMU exit $status)"
        sed 's/^/| /' "$dir/clean"
    fi
    col=4; [ "${word:-4}" = 8 ] && col=5
    grep -v '^#' "$expected" | while read -r fn want_blocks b32 b64; do
        want_bytes=$b32; [ "$col" = 5 ] && want_bytes=$b64
        echo "$fn $want_blocks $want_bytes"
    done > "$dir/want"
    while read -r fn want_blocks want_bytes; do
        got=$(awk -v f="$fn" '$1 == f' "$dir/report")
        count=$(printf '%s' "$got" | grep -c .)
        what="$board: $fn leaks $want_blocks blocks, $want_bytes bytes"
        if [ "$count" != 1 ]; then
            not_ok "$what: $count sites resolve to it"
            continue
        fi
        set -- $got
        file=$2 line=$3
        src=$(sed -n "${line}p" "$file" 2>/dev/null)
        if [ "$4 $5" != "$want_blocks $want_bytes" ]; then
            not_ok "$what: got $4 blocks, $5 bytes"
        elif [ "${file##*/}" != leaks_main.c ] || ! printf '%s' "$src" | grep -q 'kheap_'; then
            not_ok "$what: site resolves to $file:$line, not a kheap call of leaks_main.c"
        else
            ok "$what ($fn at ${file##*/}:$line)"
        fi
    done < "$dir/want"
    others=$(awk 'NR == FNR { want[$1] = 1; next } !($1 in want) { print $1 }' "$dir/want" "$dir/report")
    if [ -s "$dir/report" ] && [ -z "$others" ]; then
        ok "$board: no site outside the seeded leaks"
    else
        not_ok "$board: sites outside the seeded leaks: $(echo ${others:-none reported})"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
