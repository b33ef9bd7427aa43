/* The host provider for tests: host/mmap_provider.c (the drop-in's
 * provider over real mmap/munmap) with failures injected on demand, so a
 * test can make the fail_at-th map or grow call fail. */
#ifndef KHEAP_HOST_PROVIDER_H
#define KHEAP_HOST_PROVIDER_H

#include <stddef.h>

#include "../alloc/page.h"
#include "../host/mmap_provider.h"

typedef struct host_provider_state {
    mmap_provider_state os;  /* the real provider's counts */
    size_t fail_at;          /* if non-zero, the fail_at-th map/grow call fails */
    size_t calls;            /* map/grow calls so far, failed ones included */
    kheap_provider inner;
} host_provider_state;

/* A provider over mmap with the given page size (a power-of-two multiple of
 * the OS page, or the OS page size when 0). */
kheap_provider host_provider(host_provider_state *state, size_t page_size);

#endif
