#!/bin/sh
# make size: .text+.rodata bytes of each allocator's malloc family, per CPU
# (Cortex-M3 and M0), read from link maps after --gc-sections, written to
# OUTDIR/size.txt.  kheap is compiled here with -Os; the libc members are
# the prebuilt ones Debian ships (newlib's libc.a and libc_nano.a,
# picolibc's libc.a).  memcpy, memset, memmove (kheap asks the host for
# them; kernel/string.c answers here) and the programs' own code are not
# counted.
#
# kheap's parts, each a set of input sections of core.o, pages.o and
# region.o (and diag.o), so a part is exactly what its roots keep and nothing is counted
# twice:
#   everything  a program that calls create, alloc, calloc, realloc,
#               aligned_alloc, usable_size, free, destroy and the region's
#               init and provider (bench/size_kheap.c)
#   family      no program: the linker's roots are only kheap_alloc,
#               kheap_free, kheap_realloc, kheap_calloc, kheap_aligned_alloc,
#               kheap_region_provider (the region's map/unmap/grow are
#               static and reachable only through the provider it returns)
#               and kh_pages_layer (likewise the page layer's refill, free
#               at a span's end, grow and resize: the core reaches them only
#               through the table kheap_create puts in the instance)
#   set-up      the sections of everything that are not in family: create,
#               destroy, usable_size, region_init and what only they need
#   diag        the sections that a program calling stats/check/walk/dump
#               as well keeps beyond everything's
#   core alone  the family's roots but kheap_region_provider, linked with
#               core.o only (no pages.o, no region.o): what a program that
#               uses kheap_create_in over a buffer pays for the family
# Only the public kheap_* names above are used, so core.c's and pages.c's internal
# functions may be renamed freely.  Per-function sizes of the family go to
# OUTDIR/size/<cpu>/family-functions.txt (and family-full-functions.txt).
#
# usage: size.sh OUTDIR [picolibc.specs]
set -eu
out=$1 pico=${2:-}
mkdir -p "$out/size"
cc=arm-none-eabi-gcc
common="-std=gnu11 -Os -mthumb -ffunction-sections -fdata-sections -Wall -Wextra -Werror"
ld="-nostartfiles -e main -Wl,--gc-sections"
family_roots="kheap_alloc kheap_free kheap_realloc kheap_calloc kheap_aligned_alloc kheap_region_provider kh_pages_layer"
family_ld="-nostartfiles -nostdlib -Wl,--gc-sections -Wl,-e,kheap_alloc"
for f in $family_roots; do family_ld="$family_ld -Wl,-u,$f"; done
core_roots="kheap_alloc kheap_free kheap_realloc kheap_calloc kheap_aligned_alloc"
core_ld="-nostartfiles -nostdlib -Wl,--gc-sections -Wl,-e,kheap_alloc"
for f in $core_roots; do core_ld="$core_ld -Wl,-u,$f"; done

# Lists the .text* and .rodata* input sections a map keeps from files
# matching PATTERN, one "file section bytes" line each (a long section name
# puts address, size and file on the next line).
sections() { # sections MAP PATTERN
    awk -v pat="$2" '
        function hex(s,   i, v, c) { v = 0; s = tolower(substr(s, 3)); for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c } return v }
        function add(sz, file) { if (file ~ pat && file !~ /lib_a-mem(cpy|set|move)|libc_a-mem|memcpy|memset|memmove/ && hex(sz) > 0) { n = file; sub(/.*\//, "", n); print n, sec, hex(sz) } }
        /^Linker script and memory map/ { on = 1; next }
        !on { next }
        /^ \.(text|rodata)[^ ]*$/ { sec = $1; pend = 1; next }
        pend && /^ +0x[0-9a-f]+ +0x[0-9a-f]+ / { add($2, $3); pend = 0; next }
        { pend = 0 }
        /^ \.(text|rodata)[^ ]* +0x[0-9a-f]+ +0x[0-9a-f]+ / { sec = $1; add($3, $4) }
    ' "$1"
}

# "total file=bytes ..." (files sorted) from "file section bytes" lines.
total() {
    sort | awk '{ if (!($1 in t)) f[++k] = $1; t[$1] += $3; s += $3 }
        END { printf "%d", s; for (i = 1; i <= k; i++) printf " %s=%d", f[i], t[f[i]]; printf "\n" }'
}

# The lines of file A that are not in file B.
minus() { sort "$1" > "$1.s"; sort "$2" > "$2.s"; comm -23 "$1.s" "$2.s"; rm -f "$1.s" "$2.s"; }

# The family's functions and read-only objects by size, largest first, in
# decimal: nm -S of the family image less what string.o defines (not
# counted), then the sections no symbol names (string literals).
functions() { # functions ELF FAMILY-SECTIONS STRING.O
    skip=" $(arm-none-eabi-nm --defined-only "$3" | awk '{ printf "%s ", $3 }')"
    echo "# bytes type symbol: the malloc family's image ($1), nm -S --size-sort"
    arm-none-eabi-nm -S --size-sort -r "$1" | while read -r addr size type name; do
        case "$type" in [TtRr]) ;; *) continue ;; esac
        case "$skip" in *" $name "*) continue ;; esac
        printf '%6d %s %s\n' "0x$size" "$type" "$name"
    done
    echo "# sections without a symbol (string literals), counted in the family figure:"
    awk '$2 ~ /\.str/ { printf "%6d %s %s\n", $3, $1, $2 }' "$2"
    echo "# family total: $(total < "$2")"
}

for cpu in cortex-m3 cortex-m0; do
    o=$out/size/$cpu
    mkdir -p "$o"
    for f in alloc/core.c alloc/pages.c alloc/region.c alloc/diag.c kernel/string.c; do
        $cc $common -mcpu=$cpu -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns \
            -c $f -o $o/$(basename $f .c).o
    done
    # The other builds: full (KHEAP_HARDEN=1), lean and traced (KHEAP_TRACE=1),
    # each in its own folder.
    for v in full lean trace; do
        case $v in
        full) vflag=-DKHEAP_HARDEN=1 ;;
        lean) vflag=-DKHEAP_PROFILE=KHEAP_PROFILE_LEAN ;;
        trace) vflag=-DKHEAP_TRACE=1 ;;
        esac
        mkdir -p $o/$v
        for f in core pages; do
            $cc $common -mcpu=$cpu $vflag -ffreestanding -c alloc/$f.c -o $o/$v/$f.o
        done
        $cc $common -mcpu=$cpu -Ialloc $vflag -c bench/size_kheap.c -o $o/$v/size_kheap.o
    done
    $cc $common -mcpu=$cpu -Ialloc -c bench/size_kheap.c -o $o/size_kheap.o
    $cc $common -mcpu=$cpu -Ialloc -DSIZE_DIAG -c bench/size_kheap.c -o $o/size_diag.o
    $cc $common -mcpu=$cpu $o/size_diag.o $o/core.o $o/pages.o $o/region.o $o/diag.o $o/string.o $ld -nostdlib \
        -Wl,-Map=$o/diag.map -o $o/diag.elf -lgcc
    $cc $common -mcpu=$cpu bench/size_libc.c $ld -Wl,-Map=$o/newlib.map -o $o/newlib.elf \
        -Wl,--start-group -lc -lgcc -Wl,--end-group 2>$o/newlib.err || { cat $o/newlib.err; exit 1; }
    $cc $common -mcpu=$cpu --specs=nano.specs bench/size_libc.c $ld -Wl,-Map=$o/nano.map -o $o/nano.elf \
        -Wl,--start-group -lc -lgcc -Wl,--end-group 2>$o/nano.err || { cat $o/nano.err; exit 1; }
    if [ -n "$pico" ]; then
        $cc $common -mcpu=$cpu --specs=$pico bench/size_libc.c $ld -Wl,-Map=$o/picolibc.map \
            -o $o/picolibc.elf 2>$o/picolibc.err || { cat $o/picolibc.err; exit 1; }
    fi

    # Per build (default, full, lean, traced): everything and the family, and their sections.
    kp='/(core|pages|region)\.o$'
    for v in "" -full -lean -trace; do
        d=$o${v:+/${v#-}}
        $cc $common -mcpu=$cpu $d/size_kheap.o $d/core.o $d/pages.o $o/region.o $o/string.o $ld -nostdlib \
            -Wl,-Map=$o/kheap$v.map -o $o/kheap$v.elf -lgcc
        $cc $common -mcpu=$cpu $d/core.o $d/pages.o $o/region.o $o/string.o $family_ld \
            -Wl,-Map=$o/family$v.map -o $o/family$v.elf -lgcc
        sections $o/kheap$v.map "$kp" > $o/everything$v.sec
        sections $o/family$v.map "$kp" > $o/family$v.sec
        # set-up is everything less family: family must lie inside it.
        minus $o/family$v.sec $o/everything$v.sec > $o/family-only$v.sec
        if [ -s $o/family-only$v.sec ]; then
            echo "size.sh: the family keeps sections bench/size_kheap.c does not (it must call the whole family):" >&2
            cat $o/family-only$v.sec >&2
            exit 1
        fi
        minus $o/everything$v.sec $o/family$v.sec > $o/setup$v.sec
        functions $o/family$v.elf $o/family$v.sec $o/string.o > $o/family$v-functions.txt
        $cc $common -mcpu=$cpu $d/core.o $o/string.o $core_ld \
            -Wl,-Map=$o/core$v.map -o $o/core$v.elf -lgcc
        sections $o/core$v.map '/core\.o$' > $o/core$v.sec
    done
    sections $o/diag.map '/(core|pages|region|diag)\.o$' > $o/diag-all.sec
    minus $o/diag-all.sec $o/everything.sec > $o/diag.sec
done

{
    echo "# .text+.rodata bytes after --gc-sections (bench/size.sh), whole input sections as the linker keeps them;"
    echo "# memcpy/memset/memmove not counted.  kheap: alloc/*.c compiled -Os here (kheap-full: KHEAP_HARDEN=1,"
    echo "#   kheap-lean: KHEAP_PROFILE_LEAN, kheap-trace: KHEAP_TRACE=1);"
    echo "# newlib, newlib-nano, picolibc: Debian's prebuilt libraries, a program calling malloc/calloc/realloc/memalign/free."
    echo "# kheap parts (core.o + pages.o + region.o; the first three per tier):"
    echo "#   everything-incl-set-up: a program calling create, alloc, calloc, realloc, aligned_alloc, usable_size,"
    echo "#     free, destroy, kheap_region_init and kheap_region_provider"
    echo "#   malloc-family: linked with only $family_roots as roots"
    echo "#     (kheap_region_provider keeps the region's map/unmap/grow, kh_pages_layer the page layer's functions"
    echo "#     that alloc and free reach through the instance; their own bytes are in family-functions.txt)"
    echo "#   set-up: everything-incl-set-up's sections not in malloc-family, i.e. create, destroy, usable_size,"
    echo "#     region_init and what only they need; malloc-family + set-up = everything-incl-set-up"
    echo "#   diag: what a program that also calls stats, check, walk and dump keeps beyond everything-incl-set-up"
    echo "#   core-alone: linked with only $core_roots as roots and core.o alone (no pages.o, region.o):"
    echo "#     the family over kheap_create_in's fixed buffer"
    echo "# per-function sizes of malloc-family: $out/size/<cpu>/family-functions.txt (full tier: family-full-functions.txt)"
    echo "# cpu allocator part bytes [per input file]"
    for cpu in cortex-m3 cortex-m0; do
        o=$out/size/$cpu
        for v in "" -full -lean -trace; do
            echo "$cpu kheap$v everything-incl-set-up $(total < $o/everything$v.sec)"
            echo "$cpu kheap$v malloc-family $(total < $o/family$v.sec)"
            echo "$cpu kheap$v set-up(create,destroy,usable_size,region_init) $(total < $o/setup$v.sec)"
            echo "$cpu kheap$v core-alone $(total < $o/core$v.sec)"
        done
        echo "$cpu kheap diag(stats,check,walk,dump) $(total < $o/diag.sec)"
        echo "$cpu newlib malloc-family $(sections $o/newlib.map 'libc\.a' | total)"
        echo "$cpu nano malloc-family $(sections $o/nano.map 'libc_nano\.a' | total)"
        if [ -n "$pico" ]; then echo "$cpu picolibc malloc-family $(sections $o/picolibc.map 'libc\.a' | total)"; fi
    done
} > "$out/size.txt"
cat "$out/size.txt"
