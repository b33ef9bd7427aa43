#!/bin/sh
# make test-core-alone: a Cortex-M3 program that calls only kheap_create_in,
# alloc, calloc, aligned_alloc, realloc, free and destroy is linked with
# -ffunction-sections and --gc-sections against every alloc/ object (core,
# pages, region, diag, as objects, not an archive: the linker sees them all),
# and must keep no symbol pages.o or region.o defines (their static
# functions included): the page layer and the provider machinery are not
# linked when only the core is used.
#
# usage: check.sh OUTDIR
set -eu
o=$1/core-alone
mkdir -p "$o"
cc=arm-none-eabi-gcc
flags="-std=gnu11 -Os -mcpu=cortex-m3 -mthumb -ffunction-sections -fdata-sections -Wall -Wextra -Werror -ffreestanding"
for f in alloc/core.c alloc/pages.c alloc/region.c alloc/diag.c tests/core_alone/main.c; do
    $cc $flags -c "$f" -o "$o/$(basename "$f" .c).o"
done
$cc $flags -fno-builtin -fno-tree-loop-distribute-patterns -c kernel/string.c -o "$o/string.o"
n=0 bad=0
result() { # result OK TEXT
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else bad=$((bad + 1)); echo "not ok $n - $2"; fi
}
if $cc $flags -nostartfiles -nostdlib -e main -Wl,--gc-sections -Wl,-Map="$o/core-alone.map" \
        "$o/main.o" "$o/core.o" "$o/pages.o" "$o/region.o" "$o/diag.o" "$o/string.o" \
        -o "$o/core-alone.elf" -lgcc 2>"$o/link.err"; then
    result 0 "links with every alloc/ object and --gc-sections"
else
    cat "$o/link.err"
    result 1 "links with every alloc/ object and --gc-sections"
    echo "$((n - bad)) passed, $bad failed"
    exit 1
fi
kept=$(arm-none-eabi-nm --defined-only "$o/core-alone.elf" | awk '{ print $3 }' | sort -u)
want="kheap_create_in kheap_alloc kheap_free kheap_realloc kheap_aligned_alloc"
missing=""
for s in $want; do printf '%s\n' "$kept" | grep -qx "$s" || missing="$missing $s"; done
result "$([ -z "$missing" ] && echo 0 || echo 1)" "the image defines $want${missing:+ (missing:$missing)}"
for obj in pages region; do
    # Every function and object the file defines, local ones included.
    syms=$(arm-none-eabi-nm --defined-only "$o/$obj.o" | awk '$2 ~ /^[TtDdBbRr]$/ { print $3 }' | sort -u)
    both=$(printf '%s\n' "$kept" | grep -Fx "$syms" || true)
    result "$([ -z "$both" ] && echo 0 || echo 1)" \
        "no symbol of $obj.o is kept ($(echo "$syms" | wc -l) defined there)${both:+: kept $(echo $both)}"
done
bytes=$(arm-none-eabi-size -A "$o/core-alone.elf" | awk '$1 ~ /^\.text|^\.rodata/ { s += $2 } END { print s }')
echo "# core-alone image: $bytes bytes of .text+.rodata (program and memcpy/memset included)"
echo "$((n - bad)) passed, $bad failed"
[ "$bad" = 0 ]
