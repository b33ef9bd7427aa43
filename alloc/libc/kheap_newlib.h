/*
 * kheap behind newlib: newlib's whole malloc family on one kheap instance.
 *
 * alloc/libc/newlib_glue.c defines malloc, free, calloc, realloc, memalign,
 * aligned_alloc, posix_memalign, malloc_usable_size, mallinfo, the
 * reentrant _malloc_r, _free_r, _calloc_r, _realloc_r, _memalign_r,
 * _malloc_usable_size_r, _mallinfo_r, plus __malloc_lock/__malloc_unlock and
 * _sbrk.  Linked before libc.a, these definitions satisfy every reference
 * newlib's own code makes (stdio buffers, strdup, asprintf, dtoa), so the
 * linker never pulls newlib's allocator (mallocr.o, nano-mallocr.o and
 * friends) out of libc.a: check the map, see alloc/libc/README-section.md.
 *
 * The instance takes its pages from a kheap region (alloc/region.h); _sbrk
 * moves the same region's break, so the two share one [start, end) and fail
 * cleanly where they meet.
 *
 * Not part of the allocator core: it needs newlib's headers (struct _reent,
 * errno) and nothing in the allocator (core.c, pages.c, diag.c, region.c) depends on it.
 */
#ifndef KHEAP_NEWLIB_H
#define KHEAP_NEWLIB_H

#include <stddef.h>

#include "../kheap.h"
#include "../region.h"

/* How deep __malloc_lock may nest (newlib's lock is recursive); a deeper
 * call goes to the panic hook and is not locked. */
#ifndef KHEAP_NEWLIB_LOCK_DEPTH
#define KHEAP_NEWLIB_LOCK_DEPTH 8
#endif

/* Creates the instance behind malloc over kheap_region_provider(region).
 * From `hooks` it takes lock, unlock, lock_ctx, panic, panic_ctx,
 * heap_pages and large_threshold (hooks may be NULL: no lock, no panic,
 * defaults); its provider is ignored.  The lock hooks must nest (on
 * Cortex-M: save PRIMASK, cpsid i; restore) and serve __malloc_lock too,
 * and the region's lock as well: when given, they become the region's
 * (kheap_region_set_lock), so _sbrk, this instance and any other client of
 * the region serialise on them.  A kernel that wants other region hooks
 * sets them after this call.
 * Call it once, before anything allocates (before C++ constructors or
 * __libc_init_array).  Returns the instance, or NULL iff it is already set
 * up, region is NULL, or kheap_create refuses.  Until it succeeds every
 * allocating call fails with ENOMEM and _sbrk with ENOMEM. */
kheap *kheap_newlib_init(kheap_region *region, const kheap_config *hooks);

/* The instance behind malloc, NULL before kheap_newlib_init: for
 * kheap_stats_get, kheap_check, kheap_dump, kheap_usable_size. */
kheap *kheap_newlib_heap(void);

/* The region kheap_newlib_init was given (where _sbrk moves the break). */
kheap_region *kheap_newlib_region(void);

/* Calls into the glue per entry point, plain and _r names together (realloc
 * counts realloc(NULL, n) and realloc(p, 0) too): which paths newlib's own
 * code takes, beside kheap_stats' block counts.  Plain counters, not
 * locked: exact when one context allocates at a time. */
typedef struct kheap_newlib_calls {
    size_t malloc, calloc, realloc, memalign, free;
} kheap_newlib_calls;
void kheap_newlib_calls_get(kheap_newlib_calls *calls);

#endif
