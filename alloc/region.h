/*
 * kheap region shim: a page provider over one fixed region of RAM, such as
 * the [__heap_start, __heap_end) that a linker script defines.
 *
 * Layout, like a Linux process: the region's own bookkeeping (a header and a
 * one-bit-per-page map) sits in the first pages; the sbrk break grows up from
 * just above it; map() takes runs from the top down.  The two fail cleanly
 * where they would meet.  Returned pages, any sub-run, are reused.
 */
#ifndef KHEAP_REGION_H
#define KHEAP_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "page.h"

typedef struct kheap_region kheap_region;

typedef struct kheap_region_usage {
    size_t page_size;
    size_t pages_total;   /* pages in [start, end) */
    size_t pages_meta;    /* pages holding the region's bookkeeping */
    size_t pages_mapped;  /* pages handed out by map()/grow() and not yet returned */
    size_t pages_brk;     /* pages touched by the sbrk break (rounded up) */
    size_t pages_free;    /* pages_total - meta - mapped - brk */
    size_t largest_free_run; /* longest run map() could hand out now */
} kheap_region_usage;

/* Sets up a region over [start, end) with the given page size (a power of
 * two, at least 64).  start and end are rounded inwards to page boundaries.
 * Returns the region (which lives inside [start, end)), or NULL iff the
 * arguments are invalid or the region cannot hold its bookkeeping plus one
 * page.  O(pages). */
kheap_region *kheap_region_init(void *start, void *end, size_t page_size);

/* The page-provider interface over `region` (grow included). */
kheap_provider kheap_region_provider(kheap_region *region);

/* sbrk's contract: moves the break by `incr` bytes and returns the old
 * break; returns (void *)-1 with nothing changed when the break would cross
 * the lowest mapped page or leave the region.  A negative incr gives memory
 * back (not below the break's start).  O(pages crossed). */
void *kheap_region_sbrk(kheap_region *region, intptr_t incr);

/* Fills *usage with the current page accounting.  O(pages). */
void kheap_region_usage_get(const kheap_region *region, kheap_region_usage *usage);

/* What page `index` (0 = the region's first page) is used for: 'R' the
 * region's own bookkeeping, 'B' under the sbrk break, 'M' handed out by
 * map()/grow(), 'F' free; '?' for an index past the end.  O(1): the page
 * map a heap picture draws. */
char kheap_region_page_kind(const kheap_region *region, size_t index);

#endif
