/*
 * Bench adapter: the C library's malloc (newlib, newlib-nano or picolibc,
 * whichever libc the image links) over an _sbrk that serves the same
 * region shim kheap gets, through kheap_region_sbrk: same arena, same
 * limits.  The footprint is the peak of (break - first break).
 *
 * The measured calls go straight to malloc/free/realloc/memalign through
 * the adapter's function pointers: no wrapper.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include "bench.h"

#include "../alloc/region.h"

#ifndef BENCH_LIBC_NAME
#define BENCH_LIBC_NAME "libc"
#endif

static kheap_region *R;
static char *brk_base, *brk_peak;
volatile uint32_t bench_provider_calls;

void *_sbrk(ptrdiff_t incr);
void *sbrk(ptrdiff_t incr);

void *_sbrk(ptrdiff_t incr)
{
    bench_provider_calls++;
    if (R == NULL) {
        errno = ENOMEM;
        return (void *)-1;
    }
    char *old = kheap_region_sbrk(R, incr);
    if (old == (char *)-1) {
        errno = ENOMEM;
        return old;
    }
    if (brk_base == NULL)
        brk_base = old;
    if (old + incr > brk_peak)
        brk_peak = old + incr;
    return old;
}

/* picolibc's malloc calls sbrk, newlib's _sbrk_r calls _sbrk. */
void *sbrk(ptrdiff_t incr) { return _sbrk(incr); }

static int l_init(char *start, char *end, size_t page_size)
{
    R = kheap_region_init(start, end, page_size);
    if (R == NULL)
        return -1;
    brk_base = kheap_region_sbrk(R, 0);
    brk_peak = brk_base;
    return 0;
}

static size_t l_peak(void) { return (size_t)(brk_peak - brk_base); }



const bench_allocator bench_adapter = {
    .name = BENCH_LIBC_NAME,
    .init = l_init,
    .malloc = malloc,
    .free = free,
    .realloc = realloc,
    .memalign = memalign,
    .empty_malloc = bench_nothing1,
    .empty_free = bench_nothing_free,
    .empty_realloc = bench_nothing2,
    .empty_memalign = bench_nothing_al,
    .peak_footprint = l_peak,
};
