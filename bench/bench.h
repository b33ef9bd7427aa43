/*
 * kheap on-target benchmark: what the bench main (bench/bench_main.c) needs
 * from an allocator adapter (bench/adapt_kheap.c, bench/adapt_libc.c).
 *
 * Every image links one adapter.  The adapter sets up its allocator over
 * the arena [start, end) that the bench main chooses per trace, counts the
 * calls that reach its page provider (kheap: map/grow/unmap; libc: _sbrk),
 * and reports the peak bytes it took from that provider.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_allocator {
    const char *name;
    /* Sets the allocator up over [start, end) (page aligned); 0 on success. */
    int (*init)(char *start, char *end, size_t page_size);
    void *(*malloc)(size_t n);
    void (*free)(void *p);
    void *(*realloc)(void *p, size_t n);
    void *(*memalign)(size_t align, size_t n);
    /* The same call shapes reaching an empty function: what one measured
     * call costs besides the allocator's own work. */
    void *(*empty_malloc)(size_t n);
    void (*empty_free)(void *p);
    void *(*empty_realloc)(void *p, size_t n);
    void *(*empty_memalign)(size_t align, size_t n);
    /* Peak bytes taken from the provider (pages or sbrk) so far. */
    size_t (*peak_footprint)(void);
} bench_allocator;

extern const bench_allocator bench_adapter;

/* Incremented by the adapter on every provider call (map, grow, unmap,
 * sbrk): a measured call that changed it touched the provider. */
extern volatile uint32_t bench_provider_calls;

/* Empty targets, in their own file so nothing is inlined. */
void *bench_nothing1(size_t n);
void bench_nothing_free(void *p);
void *bench_nothing2(void *a, size_t n);
void *bench_nothing_al(size_t a, size_t n);
void *bench_nothing_h1(void *h, size_t n);
void bench_nothing_hfree(void *h, void *p);
void *bench_nothing_h2(void *h, void *a, size_t n);
void *bench_nothing_hal(void *h, size_t a, size_t n);

#endif
