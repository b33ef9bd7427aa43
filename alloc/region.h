/*
 * kheap region shim: a page provider over one fixed region of RAM, such as
 * the [__heap_start, __heap_end) that a linker script defines.
 *
 * Layout, like a Linux process: the region's own bookkeeping (a header, one
 * owner byte and one bit per page) sits in the first pages; the sbrk break
 * grows up from just above it; map() takes runs from the top down.  The two
 * fail cleanly where they would meet.  Returned pages, any sub-run, are
 * reused.
 *
 * Clients.  Several instances may share one region, each through its own
 * provider: every kheap_region_provider() call makes a new client, and the
 * region records which client holds each page.  A provider's owns() is true
 * only for its own client's pages, and its unmap() and grow() refuse (change
 * nothing) when any page they name is not that client's to give back or to
 * extend.  So keep one provider per instance: map through one and unmap
 * through another and the unmap is refused.  At most KHEAP_REGION_CLIENTS
 * clients are live at a time; past that kheap_region_provider() returns a
 * provider that kheap_create refuses (page_size 0, no functions), and
 * kheap_region_provider_release() makes room again.
 *
 * Threads and interrupts.  Every client and sbrk share the region's page map
 * and break.  Each call below that reads or changes them -- map(), unmap()
 * and grow() through any of its providers, kheap_region_sbrk,
 * kheap_region_usage_get, kheap_region_page_kind, kheap_region_provider and
 * kheap_region_provider_release -- runs between the region's lock hooks
 * when kheap_region_set_lock has set them, and the region takes them itself:
 * callers never need to.  Without hooks the caller must keep those calls
 * from running beside one another (one thread, or one instance whose own
 * lock hooks serialise all use of the region).  The hooks must nest: kheap
 * calls map/unmap/grow with its instance lock held, so the region's lock is
 * taken inside an instance's, and may be the very same hooks (on Cortex-M:
 * save PRIMASK, cpsid i; restore).  A region hook must never take an
 * instance's lock.  owns() takes no lock and may run at any time beside any
 * call: it reads one owner byte, written atomically by the calls above. */
#ifndef KHEAP_REGION_H
#define KHEAP_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "page.h"

/* Clients a region can tell apart at once (ids 1..63, carried in the low
 * bits of a provider's ctx: every region is aligned to at least 64). */
#define KHEAP_REGION_CLIENTS 63u

typedef struct kheap_region kheap_region;

typedef struct kheap_region_usage {
    size_t page_size;
    size_t pages_total;   /* pages in [start, end) */
    size_t pages_meta;    /* pages holding the region's bookkeeping */
    size_t pages_mapped;  /* pages handed out by map()/grow() and not yet returned */
    size_t pages_brk;     /* pages touched by the sbrk break (rounded up) */
    size_t pages_free;    /* pages_total - meta - mapped - brk */
    size_t largest_free_run; /* longest run map() could hand out now */
    size_t clients;       /* live clients: providers made and not released */
} kheap_region_usage;

/* Sets up a region over [start, end) with the given page size (a power of
 * two, at least 64).  start and end are rounded inwards to page boundaries.
 * Returns the region (which lives inside [start, end)), or NULL iff the
 * arguments are invalid or the region cannot hold its bookkeeping plus one
 * page.  No clients, no lock hooks.  Not locked.  O(pages). */
kheap_region *kheap_region_init(void *start, void *end, size_t page_size);

/* Sets the region's lock hooks, both or neither (NULL, NULL: none); see
 * "Threads and interrupts" above.  lock returns state that unlock gets back.
 * Not locked itself: call it before the region is shared.  Returns false
 * with nothing changed iff region is not one or only one hook is given. */
bool kheap_region_set_lock(kheap_region *region, uintptr_t (*lock)(void *ctx),
                           void (*unlock)(void *ctx, uintptr_t saved), void *ctx);

/* A new client of `region`: the page-provider interface over it (grow and
 * owns included) whose ctx stands for that client alone.  Returns a
 * provider with page_size 0 and every function NULL (kheap_create refuses
 * it) iff region is not one or KHEAP_REGION_CLIENTS clients are live.
 * O(1). */
kheap_provider kheap_region_provider(kheap_region *region);

/* Ends the client `provider` stands for, so that its id can serve a new
 * one.  Returns true iff it was a live client that holds no page now; false
 * with nothing changed otherwise (a client still holding pages stays live).
 * A released provider's calls are refused: map NULL, unmap ignored, grow
 * and owns false (until a later kheap_region_provider() reuses its id).
 * O(pages). */
bool kheap_region_provider_release(const kheap_provider *provider);

/* sbrk's contract: moves the break by `incr` bytes and returns the old
 * break; returns (void *)-1 with nothing changed when the break would cross
 * the lowest mapped page or leave the region.  A negative incr gives memory
 * back (not below the break's start).  O(pages crossed). */
void *kheap_region_sbrk(kheap_region *region, intptr_t incr);

/* Fills *usage with the current page accounting.  O(pages). */
void kheap_region_usage_get(const kheap_region *region, kheap_region_usage *usage);

/* What page `index` (0 = the region's first page) is used for: 'R' the
 * region's own bookkeeping, 'B' under the sbrk break, 'M' handed out by
 * map()/grow() (to any client), 'F' free; '?' for an index past the end.
 * O(1): the page map a heap picture draws. */
char kheap_region_page_kind(const kheap_region *region, size_t index);

#endif
