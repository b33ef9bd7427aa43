/*
 * kheap page provider: the stand-in for mmap/munmap (and, through grow, for
 * what sbrk does at the top of a heap).
 *
 * The allocator core knows memory only through this interface.  A provider
 * hands out runs of whole pages; page_size is a power of two and every run it
 * returns is aligned to it.
 */
#ifndef KHEAP_PAGE_H
#define KHEAP_PAGE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct kheap_provider {
    /* Passed back to every call; the provider's own state, standing for one
     * client (one instance) of whatever the provider serves. */
    void *ctx;
    /* Bytes per page: a power of two, at least 64. */
    size_t page_size;
    /* Returns a page-aligned run of `pages` pages (pages > 0), or NULL when
     * no such run is free.  The contents of a new run are unspecified. */
    void *(*map)(void *ctx, size_t pages);
    /* Gives back `pages` pages starting at `addr`: any run or sub-run of
     * runs that map() or grow() handed out.  Never fails. */
    void (*unmap)(void *ctx, void *addr, size_t pages);
    /* Optional (may be NULL).  Extends the run that ends at `end` by `pages`
     * pages in place; returns true iff [end, end + pages * page_size) now
     * belongs to the caller, false with nothing changed otherwise. */
    bool (*grow)(void *ctx, void *end, size_t pages);
    /* Optional (false when left zero): unmap also takes back, as one range,
     * runs from separate map() calls that lie side by side.  kheap then
     * lets a heap take in a run mapped right below it, which a provider
     * that maps top down (the region shim, Linux's mmap) makes the common
     * case; without it such runs stay heaps of their own. */
    bool unmap_spans_runs;
    /* Optional (NULL: the provider cannot tell).  Returns true iff the page
     * holding `addr` is held now by the client `ctx` stands for: handed out
     * through this provider by map() or grow() and not given back.  Any
     * address may be asked, inside a run or not, mapped or not; nothing is
     * read at `addr`.  Constant time and cheap, with no lock and no system
     * call: kheap asks it on every free before it reads a block's header, so
     * a pointer into pages that went back (or went to another client of the
     * same memory) is reported instead of followed.  The answer is exact for
     * as long as the client's own map/unmap/grow calls do not run beside it
     * (kheap makes them all under its instance lock); calls by other clients
     * may run concurrently and never change it. */
    bool (*owns)(void *ctx, const void *addr);
} kheap_provider;

#endif
