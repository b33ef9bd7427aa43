/* The page-provider interface over real mmap/munmap, for the host drop-in
 * malloc (host/malloc_glue.c).  Self-contained: it depends only on alloc/ and
 * libc calls that never allocate (mmap, munmap, sysconf). */
#ifndef KHEAP_MMAP_PROVIDER_H
#define KHEAP_MMAP_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "../alloc/page.h"

/* Counts kept by the provider, and the pages it holds.  Every call into it
 * but owns() comes from kheap with the instance's lock held (or from
 * kheap_create, which the glue serialises), so plain counters suffice.
 *
 * Which pages the provider holds is a two-level bitmap over the address
 * space: `held` points to one slot per GiB of addresses (2^18 slots for the
 * 48-bit user space of a 64-bit host, 4 on a 32-bit one), each NULL or a
 * bitmap with one bit per page of that GiB.  Both levels are mmap'd when
 * first needed and kept (64 bytes of bitmap per 2 MiB of addresses used);
 * owns() is two loads and a bit test with no system call. */
typedef struct mmap_provider_state {
    size_t page_size;     /* bytes per page: a power-of-two multiple of the OS page */
    size_t pages_mapped;  /* pages currently held by kheap */
    size_t maps, grows, unmaps;
    size_t refused;       /* unmaps refused: some page was not held */
    unsigned shift;       /* log2(page_size) */
    uint64_t **held;      /* see above; NULL until the first map */
} mmap_provider_state;

/* A provider over mmap whose pages are `page_size` bytes, raised to the OS
 * page size (or the next power-of-two multiple of it) when smaller or not a
 * multiple; 0 picks the OS page.  `state` must start zeroed and outlive the
 * provider.  unmap() gives back only pages this state holds: a range with
 * any other page is refused whole (counted in `refused`).  owns() answers
 * from the bitmap above. */
kheap_provider mmap_provider(mmap_provider_state *state, size_t page_size);

#endif
