/* Host providers for tests.
 *
 * host_provider: host/mmap_provider.c (the drop-in's provider over real
 * mmap/munmap) with failures injected on demand, so a test can make the
 * fail_at-th map or grow call fail.
 *
 * guard_provider: pages that fault once given back.  The region shim over
 * one range reserved PROT_NONE for the test's life: map() and grow() make
 * their pages readable and writable, unmap() makes them PROT_NONE again (and
 * drops their contents) without returning the addresses to the OS, so any
 * use of a page after it went back -- by kheap or by a test -- faults.  Runs
 * are reused as the region shim reuses them (the highest free first). */
#ifndef KHEAP_HOST_PROVIDER_H
#define KHEAP_HOST_PROVIDER_H

#include <stddef.h>

#include "../alloc/page.h"
#include "../alloc/region.h"
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

typedef struct guard_provider_state {
    void *base;              /* the reserved range */
    size_t bytes;
    kheap_region *region;    /* laid over it, meta pages readable */
    kheap_provider inner;    /* the region's one client */
    size_t protected_pages;  /* pages made PROT_NONE by unmap so far */
} guard_provider_state;

/* A guard provider over `bytes` of reserved address space with OS-sized
 * pages.  Returns a provider with page_size 0 (and nothing reserved) when
 * the range cannot be reserved. */
kheap_provider guard_provider(guard_provider_state *state, size_t bytes);
/* Gives the whole range back to the OS. */
void guard_provider_close(guard_provider_state *state);

/* True iff reading the byte at addr would fault: the kernel copies it into
 * a pipe and says EFAULT, so the caller survives either way. */
bool host_read_faults(const void *addr);

#endif
