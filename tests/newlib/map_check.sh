#!/bin/sh
# Checks linker maps of the newlib kernels: kheap's glue must define the
# malloc family, and no allocator object may come from the C library.
# Usage: tests/newlib/map_check.sh [-n CONTROL.MAP] KERNEL.MAP...
#
# GNU ld's map lists every archive member it pulled in ("Archive member
# included to satisfy reference by file (symbol)") and, under each output
# section, the input section of every function (-ffunction-sections puts
# _malloc_r in .text._malloc_r).  A map passes iff
#   - no member of libc.a, libc_nano.a, libg.a or libg_nano.a is one of
#     newlib's allocator objects (mallocr.o and its per-function siblings,
#     nano-mallocr.o and its siblings, the malloc.o/calloc.o/... wrappers,
#     mlock.o), and
#   - .text._malloc_r, .text._free_r, .text._realloc_r, .text._calloc_r and
#     .text.malloc come from newlib_glue.o.
# -n names a control map, linked with newlib's own malloc, that must fail
# the check (so a check that passes everything is caught).
# One "ok"/"not ok" line per map, then "N passed, M failed".
set -u
[ $# -gt 0 ] || { echo "usage: $0 [-n CONTROL.MAP] KERNEL.MAP..." >&2; exit 2; }
control=""
if [ "$1" = -n ]; then
    control=$2
    shift 2
fi
# The control alone would make a passing run that checked no kernel.
[ $# -gt 0 ] || { echo "not ok 1 - no kernel map to check"; echo "0 passed, 1 failed"; exit 1; }

ALLOC_OBJS='(nano-)?(mallocr|freer|reallocr|callocr|malignr|mallinfor|mallstatsr|msizer|mtrim|malloptr|pvallocr|vallocr|malloc|calloc|realloc|malign|msize|mallinfo|mlock)'
passed=0 failed=0

# Sets why to the reasons $1 fails the check, empty when it passes.
check_map() {
    map=$1
    why=""
    if [ ! -f "$map" ]; then
        why="no map (build it first)"
    else
        bad=$(grep -oE "lib(c|g)(_nano)?\.a\(lib_a-$ALLOC_OBJS\.o\)" "$map" | sort -u | tr '\n' ' ')
        [ -z "$bad" ] || why="newlib allocator objects linked: $bad"
        for fn in _malloc_r _free_r _realloc_r _calloc_r malloc; do
            # The input section line, and the file named on it or the next line.
            from=$(grep -A1 -E "^ \.text\.$fn( |\$)" "$map" | grep -oE '[^ /]+\.o\)?$' | head -n 1)
            case "$from" in
                newlib_glue.o) ;;
                *) why="${why:+$why; }$fn from ${from:-nowhere}" ;;
            esac
        done
    fi
}

if [ -n "$control" ]; then
    check_map "$control"
    if [ -n "$why" ] && [ -f "$control" ]; then
        passed=$((passed + 1))
        echo "ok 1 - control $control (newlib's own malloc) fails the check: $why"
    else
        failed=$((failed + 1))
        echo "not ok 1 - control $control (newlib's own malloc) passed the check or is missing"
    fi
fi

for map in "$@"; do
    check_map "$map"
    if [ -z "$why" ]; then
        passed=$((passed + 1))
        echo "ok $((passed + failed)) - $map: malloc family from newlib_glue.o, no libc allocator object"
    else
        failed=$((failed + 1))
        echo "not ok $((passed + failed)) - $map: $why"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
