#!/bin/sh
# Drives tools/gdb/kheap.py in gdb's batch mode against the heap-picture
# scenario under QEMU, and checks what `kheap` and `kheap check` print
# against the dump the scenario printed over serial for the same point.
# Usage: tests/tools/test_gdb.sh HEAPMAP.ELF "QEMU -M BOARD ..." TIMEOUT
# Prints `ok N - name` / `not ok N - name: why` (TEST_FIRST numbers the
# first), then `N passed, M failed`.  QEMU is killed at the end, and both
# QEMU and gdb run under a timeout.
set -u
elf=${1:?usage: $0 HEAPMAP.ELF QEMU-COMMAND TIMEOUT}
qemu=${2:?usage: $0 HEAPMAP.ELF QEMU-COMMAND TIMEOUT}
limit=${3:-30}
gdb=${GDB:-gdb-multiarch}
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

number=$(( ${TEST_FIRST:-1} - 1 ))
passed=0
failed=0
report() { # ok|fail name [why]
    number=$((number + 1))
    if [ "$1" = ok ]; then
        passed=$((passed + 1)); echo "ok $number - gdb: $2"
    else
        failed=$((failed + 1)); echo "not ok $number - gdb: $2${3:+: $3}"
    fi
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kheap-gdb.XXXXXX") || exit 2
qemu_pid=""
cleanup() {
    [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# A free TCP port for QEMU's gdb stub.
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# shellcheck disable=SC2086  # $qemu is a command line: split it
timeout -k 5 "$((limit * 2))" $qemu -display none -monitor none -serial "file:$tmp/serial.log" \
    -semihosting-config enable=on,target=native -gdb "tcp:127.0.0.1:$port" -S \
    -kernel "$elf" < /dev/null > "$tmp/qemu.out" 2>&1 &
qemu_pid=$!

# gdb retries the connection while QEMU starts (tcp auto-retry).  At the
# breakpoint: the map, the check, the check of a corrupted footer (restored
# after), the map of a NULL instance; then the scenario runs to its end.
footer='python i = Instance("kheap_debug_instance"); b = [x for x in i.blocks(i.heaps()[-1]) if x[1] & 1][0]; gdb.set_convenience_variable("footer", b[0] + (b[1] & ~7))'
# Five bytes into the payload of the middle block in use.
inner='python u = list(Instance("kheap_debug_instance").used_blocks()); gdb.set_convenience_variable("inner", u[len(u) // 2][1] + 5)'
timeout -k 5 "$limit" "$gdb" -batch -nx -x "$root/tools/gdb/kheap.py" \
    -ex 'set pagination off' -ex 'set confirm off' -ex 'set tcp connect-timeout 15' \
    -ex "target remote 127.0.0.1:$port" \
    -ex 'break heapmap_breakpoint' -ex 'continue' \
    -ex 'echo ==== kheap\n' -ex 'kheap' \
    -ex 'echo ==== check\n' -ex 'kheap check' \
    -ex "$footer" \
    -ex 'set var $saved = *(size_t *)$footer' \
    -ex 'set var *(size_t *)$footer = $saved + 8' \
    -ex 'echo ==== corrupt\n' -ex 'kheap check' \
    -ex 'set var *(size_t *)$footer = $saved' \
    -ex 'echo ==== restored\n' -ex 'kheap check' \
    -ex 'echo ==== null\n' -ex 'kheap (struct kheap *)0' \
    -ex 'echo ==== leaks\n' -ex 'kheap leaks' \
    -ex "$inner" -ex 'echo ==== owner\n' -ex 'kheap owner $inner' \
    -ex 'echo ==== run\n' -ex 'delete' -ex 'continue' \
    "$elf" > "$tmp/gdb.out" 2>&1
gdb_status=$?

# QEMU ends when the scenario exits; give it a moment, then stop it.
i=0
while kill -0 "$qemu_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null
    qemu_status=timeout
else
    wait "$qemu_pid"; qemu_status=$?
fi
qemu_pid=""

section() { # the gdb output between "==== $1" and the next "===="
    awk -v want="==== $1" '$0 == want { on = 1; next } /^==== / { on = 0 } on' "$tmp/gdb.out"
}
tr -d '\r' < "$tmp/serial.log" > "$tmp/serial.txt" 2>/dev/null || : > "$tmp/serial.txt"
# The scenario's dump at the breakpoint (point 2), without its region lines,
# which gdb does not print.
awk '/kheap-dump begin/ { n++ } n == 2' "$tmp/serial.txt" | sed '/^kheap-dump end/q' |
    grep -E '^(kheap-dump|heap|block|stats) ' > "$tmp/dump.txt"
section kheap | grep -E '^(kheap-dump|heap|block|stats) ' > "$tmp/kheap.txt"

if grep -q '^Breakpoint 1, heapmap_breakpoint' "$tmp/gdb.out"; then
    report ok "stops at heapmap_breakpoint"
else
    report fail "stops at heapmap_breakpoint" "gdb exit $gdb_status"
fi

blocks() { # "N blocks, U used, F free" of a map
    printf '%s blocks, %s used, %s free' "$(grep -c '^block ' "$1")" \
        "$(grep -c '^block .*state=used' "$1")" "$(grep -c '^block .*state=free' "$1")"
}
want=$(blocks "$tmp/dump.txt")
got=$(blocks "$tmp/kheap.txt")
if [ -s "$tmp/dump.txt" ] && [ "$want" = "$got" ] && [ "$(grep -c '^block ' "$tmp/dump.txt")" -gt 10 ]; then
    report ok "kheap: block count and states match the dump ($got)"
else
    report fail "kheap: block count and states match the dump" "expected $want, got $got"
fi

if [ -s "$tmp/dump.txt" ] && cmp -s "$tmp/dump.txt" "$tmp/kheap.txt"; then
    report ok "kheap: every line equals the dump ($(wc -l < "$tmp/dump.txt") lines)"
else
    report fail "kheap: every line equals the dump" "diff follows"
    diff "$tmp/dump.txt" "$tmp/kheap.txt" | head -20 | sed 's/^/# /'
fi

check=$(section check)
case $check in
    "kheap check: ok: "*) report ok "kheap check: ok on the scenario's heap" ;;
    *) report fail "kheap check: ok on the scenario's heap" "got: $check" ;;
esac

corrupt=$(section corrupt)
case $corrupt in
    *"kheap check: FAIL: block 0x"*": footer "*) report ok "kheap check: finds a corrupted footer" ;;
    *) report fail "kheap check: finds a corrupted footer" "got: $corrupt" ;;
esac
case $(section restored) in
    "kheap check: ok: "*) report ok "kheap check: ok again once restored" ;;
    *) report fail "kheap check: ok again once restored" "got: $(section restored)" ;;
esac

case $(section null) in
    *"is NULL"*) report ok "kheap: a NULL instance is an error, not a crash" ;;
    *) report fail "kheap: a NULL instance is an error, not a crash" "got: $(section null)" ;;
esac

# The image is traced (mk/heapmap.mk): `kheap leaks` with no mark is every
# block in use grouped by site, in walk order, which the serial dump gives
# too; and the sites are the scenario's three object makers.
awk '/^block .*state=used site=/ {
        site = $0; sub(/.* site=/, "", site); size = $3; sub(/size=/, "", size)
        if (!(site in n)) order[++k] = site
        n[site]++; b[site] += size }
     END { for (i = 1; i <= k; i++) printf "leak site=%s blocks=%d bytes=%d\n", order[i], n[order[i]], b[order[i]] }' \
    "$tmp/dump.txt" > "$tmp/leaks.want"
section leaks | grep '^leak site=' > "$tmp/leaks.full"
sed 's/ bytes=\([0-9]*\) .*/ bytes=\1/' "$tmp/leaks.full" > "$tmp/leaks.got"
if [ -s "$tmp/leaks.want" ] && cmp -s "$tmp/leaks.want" "$tmp/leaks.got"; then
    report ok "kheap leaks: sites, blocks and bytes equal the dump's blocks in use grouped by site ($(wc -l < "$tmp/leaks.got") sites)"
else
    report fail "kheap leaks: sites, blocks and bytes equal the dump's" "diff follows"
    diff "$tmp/leaks.want" "$tmp/leaks.got" | head -10 | sed 's/^/# /'
fi
names=$(sed 's/.* bytes=[0-9]* \([A-Za-z_0-9]*\) (heapmap_main\.c:[0-9]*)$/\1/' "$tmp/leaks.full" | sort | tr '\n' ' ')
if [ "$names" = "new_buffer new_record new_token " ]; then
    report ok "kheap leaks: names the sites new_buffer, new_record, new_token (heapmap_main.c:LINE)"
else
    report fail "kheap leaks: names the three object makers" "got '$names'"
fi

# `kheap owner` five bytes into a block: that block's payload, size and
# site as the serial dump has them.
owner=$(section owner)
dumped=$(awk '/^heap addr=/ { split($2, a, "="); base = a[2] }
    /^block .*state=used/ { split($2, o, "="); split($3, z, "=")
        print base, o[2], z[2], substr($0, index($0, "site=") + 5) }' "$tmp/dump.txt" |
    while read -r base off size site; do
        printf 'block 0x%x size=%s site=%s\n' $((base + off)) "$size" "$site"; done)
got=$(printf '%s\n' "$owner" | sed -n 's/^owner of 0x[0-9a-f]*: \(block 0x[0-9a-f]* size=[0-9]*\) offset=5 \(site=0x[0-9a-f]*\) seq=[0-9]* .*/\1 \2/p')
if [ -n "$got" ] && printf '%s\n' "$dumped" | grep -qxF "$got"; then
    report ok "kheap owner: finds the block 5 bytes in, with the dump's size and site ($got)"
else
    report fail "kheap owner: finds the block and its site" "got: $owner"
fi

if [ "$qemu_status" = 0 ] && grep -qx 'heapmap: exit 0' "$tmp/serial.txt"; then
    report ok "scenario runs to its end after the debugger (4 dumps, exit 0)"
else
    report fail "scenario runs to its end after the debugger" "QEMU $qemu_status"
fi

if [ "$failed" != 0 ]; then
    echo "# gdb output:"; sed 's/^/#   /' "$tmp/gdb.out" | head -80
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
