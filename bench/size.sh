#!/bin/sh
# make size: .text+.rodata bytes of each allocator's malloc family, per CPU,
# read from the link map of a small program that calls the whole family
# (bench/size_kheap.c, bench/size_libc.c) after --gc-sections.  kheap is
# compiled here with -Os; the libc members are the prebuilt ones Debian
# ships (newlib's libc.a and libc_nano.a, picolibc's libc.a).  memcpy,
# memset, memmove (kheap asks the host for them) and the programs' own
# code are not counted.
#
# usage: size.sh OUTDIR [picolibc.specs]
set -eu
out=$1 pico=${2:-}
mkdir -p "$out/size"
cc=arm-none-eabi-gcc
common="-std=gnu11 -Os -mthumb -ffunction-sections -fdata-sections -Wall -Wextra"
ld="-nostartfiles -e main -Wl,--gc-sections"

# Sums .text* and .rodata* input sections per input file in a map (a long
# section name puts address, size and file on the next line).
sum_map() {
    awk -v pat="$2" '
        function hex(s,   i, v, c) { v = 0; s = tolower(substr(s, 3)); for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c } return v }
        function add(sz, file) { if (file ~ pat && file !~ /lib_a-mem(cpy|set|move)|libc_a-mem|memcpy|memset|memmove/) { n = file; sub(/.*\//, "", n); tot[n] += hex(sz) } }
        /^Linker script and memory map/ { on = 1; next }
        !on { next }
        /^ \.(text|rodata)[^ ]*$/ { pend = 1; next }
        pend && /^ +0x[0-9a-f]+ +0x[0-9a-f]+ / { add($2, $3); pend = 0; next }
        { pend = 0 }
        /^ \.(text|rodata)[^ ]* +0x[0-9a-f]+ +0x[0-9a-f]+ / { add($3, $4) }
        END { s = 0; for (f in tot) { s += tot[f]; d = d sprintf(" %s=%d", f, tot[f]) } printf "%d%s\n", s, d }
    ' "$1"
}

for cpu in cortex-m3 cortex-m0; do
    o=$out/size/$cpu
    mkdir -p "$o"
    for f in alloc/heap.c alloc/region.c alloc/diag.c kernel/string.c; do
        $cc $common -mcpu=$cpu -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns \
            -c $f -o $o/$(basename $f .c).o
    done
    mkdir -p $o/full
    $cc $common -mcpu=$cpu -DKHEAP_HARDEN=1 -ffreestanding -c alloc/heap.c -o $o/full/heap.o
    $cc $common -mcpu=$cpu -Ialloc -c bench/size_kheap.c -o $o/size_kheap.o
    $cc $common -mcpu=$cpu -Ialloc -DSIZE_DIAG -c bench/size_kheap.c -o $o/size_diag.o
    $cc $common -mcpu=$cpu $o/size_kheap.o $o/heap.o $o/region.o $o/string.o $ld -nostdlib \
        -Wl,-Map=$o/kheap.map -o $o/kheap.elf -lgcc
    $cc $common -mcpu=$cpu -Ialloc -DKHEAP_HARDEN=1 -c bench/size_kheap.c -o $o/full/size_kheap.o
    $cc $common -mcpu=$cpu $o/full/size_kheap.o $o/full/heap.o $o/region.o $o/string.o $ld -nostdlib \
        -Wl,-Map=$o/kheap-full.map -o $o/kheap-full.elf -lgcc
    $cc $common -mcpu=$cpu $o/size_diag.o $o/heap.o $o/region.o $o/diag.o $o/string.o $ld -nostdlib \
        -Wl,-Map=$o/diag.map -o $o/diag.elf -lgcc
    $cc $common -mcpu=$cpu bench/size_libc.c $ld -Wl,-Map=$o/newlib.map -o $o/newlib.elf \
        -Wl,--start-group -lc -lgcc -Wl,--end-group 2>$o/newlib.err || { cat $o/newlib.err; exit 1; }
    $cc $common -mcpu=$cpu --specs=nano.specs bench/size_libc.c $ld -Wl,-Map=$o/nano.map -o $o/nano.elf \
        -Wl,--start-group -lc -lgcc -Wl,--end-group 2>$o/nano.err || { cat $o/nano.err; exit 1; }
    if [ -n "$pico" ]; then
        $cc $common -mcpu=$cpu --specs=$pico bench/size_libc.c $ld -Wl,-Map=$o/picolibc.map \
            -o $o/picolibc.elf 2>$o/picolibc.err || { cat $o/picolibc.err; exit 1; }
    fi
done

{
    echo "# .text+.rodata bytes after --gc-sections (bench/size.sh; memcpy/memset/memmove not counted)"
    echo "# kheap: alloc/*.c compiled -Os here; newlib, newlib-nano, picolibc: Debian's prebuilt libraries"
    echo "# cpu allocator part bytes [per input file]"
    for cpu in cortex-m3 cortex-m0; do
        o=$out/size/$cpu
        k=$(sum_map $o/kheap.map '/(heap|region)\\.o$')
        echo "$cpu kheap malloc-family $k"
        echo "$cpu kheap-full malloc-family (KHEAP_HARDEN=1) $(sum_map $o/kheap-full.map '/(heap|region)\\.o$')"
        echo "$cpu kheap diag(stats,check,walk,dump) $(sum_map $o/diag.map '/diag\\.o$')"
        echo "$cpu newlib malloc-family $(sum_map $o/newlib.map 'libc\.a')"
        echo "$cpu nano malloc-family $(sum_map $o/nano.map 'libc_nano\.a')"
        [ -n "$pico" ] && echo "$cpu picolibc malloc-family $(sum_map $o/picolibc.map 'libc\.a')"
    done
} > "$out/size.txt"
cat "$out/size.txt"
