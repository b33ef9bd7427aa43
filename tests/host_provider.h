/* The page-provider interface over real mmap/munmap, for host tests and the
 * host drop-in.  Counts what it hands out so tests can see every page back. */
#ifndef KHEAP_HOST_PROVIDER_H
#define KHEAP_HOST_PROVIDER_H

#include <stddef.h>

#include "../alloc/page.h"

typedef struct host_provider_state {
    size_t pages_mapped;  /* currently held by callers */
    size_t maps, unmaps;  /* calls that succeeded */
    size_t fail_at;       /* if non-zero, the fail_at-th map/grow call fails */
    size_t calls;         /* map/grow calls so far */
} host_provider_state;

/* A provider over mmap with the given page size (a power-of-two multiple of
 * the OS page, or the OS page size when 0). */
kheap_provider host_provider(host_provider_state *state, size_t page_size);

#endif
