#!/bin/sh
# The drop-in under ThreadSanitizer: 8 threads allocating, freeing each
# other's blocks and forking, through kheap compiled with -fsanitize=thread.
# TSan intercepts malloc itself, so the drop-in's exported names (and the
# test's calls) are renamed with objcopy: kheap still serves every block
# the test allocates, and TSan watches kheap's own loads and stores.
# Usage: tests/dropin/tsan.sh OUTDIR ITERATIONS
set -eu
out=$1 iterations=$2
mkdir -p "$out"
syms=$out/tsan-syms.txt
for f in malloc free calloc realloc reallocarray aligned_alloc posix_memalign \
         memalign valloc pvalloc malloc_usable_size; do
    echo "$f kheap_tsan_$f"
done > "$syms"
flags="-std=gnu11 -g -O1 -fsanitize=thread -D_GNU_SOURCE -DDROPIN_STATIC=1 -DITERATIONS=$iterations
       -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc"
objs=""
for src in alloc/core.c alloc/pages.c alloc/diag.c alloc/region.c host/malloc_glue.c host/mmap_provider.c \
           tests/dropin/threads.c; do
    obj=$out/tsan-$(basename "$src" .c).o
    # shellcheck disable=SC2086  # $flags is a list of flags
    cc $flags -c "$src" -o "$obj"
    objcopy --redefine-syms="$syms" "$obj"
    objs="$objs $obj"
done
# shellcheck disable=SC2086
cc -fsanitize=thread $objs -o "$out/dropin-threads-tsan" -lpthread
if line=$(TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/dropin-threads-tsan" 2>&1); then
    echo "ok 1 - 8 threads under ThreadSanitizer, no race reported: $(printf '%s\n' "$line" | tail -n 1)"
    echo "1 passed, 0 failed"
else
    printf '%s\n' "$line" | tail -n 40
    echo "not ok 1 - 8 threads under ThreadSanitizer"
    echo "0 passed, 1 failed"
    exit 1
fi
