/*
 * Bench adapter: kheap over the region shim.  The provider is the region's
 * own, wrapped only to count calls (the wrappers cost a few instructions on
 * calls that reach the provider, never on the O(1) path).  The image takes
 * memcpy, memset and memmove from newlib's libc.a and nothing else from it
 * (mk/bench.mk), so kheap's realloc copies as fast as newlib's does.
 */
#include "bench.h"

#ifndef BENCH_TRIM_BY_CALL
#define BENCH_TRIM_BY_CALL 0 /* kheap-bycall: no free gives pages back */
#endif
#include "../alloc/kheap.h"
#include "../alloc/region.h"

static kheap *H;
static kheap_provider inner;
volatile uint32_t bench_provider_calls;

static void *count_map(void *ctx, size_t pages)
{
    bench_provider_calls++;
    return inner.map(ctx, pages);
}

static void count_unmap(void *ctx, void *addr, size_t pages)
{
    bench_provider_calls++;
    inner.unmap(ctx, addr, pages);
}

static bool count_grow(void *ctx, void *end, size_t pages)
{
    bench_provider_calls++;
    return inner.grow(ctx, end, pages);
}

static int k_init(char *start, char *end, size_t page_size)
{
    kheap_region *r = kheap_region_init(start, end, page_size);
    if (r == NULL)
        return -1;
    inner = kheap_region_provider(r);
    kheap_config cfg = { .provider = inner };
    cfg.provider.map = count_map;
    cfg.provider.unmap = count_unmap;
    cfg.provider.grow = inner.grow != NULL ? count_grow : NULL;
    cfg.trim_by_call = BENCH_TRIM_BY_CALL;
    H = kheap_create(&cfg);
    return H == NULL ? -1 : 0;
}

static void *k_malloc(size_t n) { return kheap_alloc(H, n); }
static void k_free(void *p) { kheap_free(H, p); }
static void *k_realloc(void *p, size_t n) { return kheap_realloc(H, p, n); }
static void *k_memalign(size_t a, size_t n) { return kheap_aligned_alloc(H, a, n); }
static void *e_malloc(size_t n) { return bench_nothing_h1(H, n); }
static void e_free(void *p) { bench_nothing_hfree(H, p); }
static void *e_realloc(void *p, size_t n) { return bench_nothing_h2(H, p, n); }
static void *e_memalign(size_t a, size_t n) { return bench_nothing_hal(H, a, n); }

static size_t k_peak(void)
{
    kheap_stats s;
    kheap_stats_get(H, &s);
    return s.peak_pages * inner.page_size;
}

const bench_allocator bench_adapter = {
    .name = BENCH_TRIM_BY_CALL ? "kheap-bycall" : KHEAP_TRACE ? "kheap-trace"
            : KHEAP_HARDEN ? "kheap-full" : KHEAP_PROFILE == KHEAP_PROFILE_LEAN ? "kheap-lean" : "kheap",
    .init = k_init,
    .malloc = k_malloc,
    .free = k_free,
    .realloc = k_realloc,
    .memalign = k_memalign,
    .empty_malloc = e_malloc,
    .empty_free = e_free,
    .empty_realloc = e_realloc,
    .empty_memalign = e_memalign,
    .peak_footprint = k_peak,
};
