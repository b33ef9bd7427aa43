/* The page-provider interface over real mmap/munmap, for the host drop-in
 * malloc (host/malloc_glue.c).  Self-contained: it depends only on alloc/ and
 * libc calls that never allocate (mmap, munmap, sysconf). */
#ifndef KHEAP_MMAP_PROVIDER_H
#define KHEAP_MMAP_PROVIDER_H

#include <stddef.h>

#include "../alloc/page.h"

/* Counts kept by the provider.  Every call into it comes from kheap with the
 * instance's lock held (or from kheap_create, which the glue serialises), so
 * plain counters suffice. */
typedef struct mmap_provider_state {
    size_t page_size;     /* bytes per page: a power-of-two multiple of the OS page */
    size_t pages_mapped;  /* pages currently held by kheap */
    size_t maps, grows, unmaps;
} mmap_provider_state;

/* A provider over mmap whose pages are `page_size` bytes, raised to the OS
 * page size (or the next power-of-two multiple of it) when smaller or not a
 * multiple; 0 picks the OS page.  `state` must outlive the provider. */
kheap_provider mmap_provider(mmap_provider_state *state, size_t page_size);

#endif
