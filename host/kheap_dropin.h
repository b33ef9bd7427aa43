/* The host drop-in malloc (host/malloc_glue.c): malloc, free, calloc,
 * realloc, reallocarray, aligned_alloc, posix_memalign, memalign, valloc,
 * pvalloc and malloc_usable_size on one global kheap over mmap.
 *
 * The shared library exports only the malloc family.  A program linked
 * against build/host/libkheap.a can also reach the instance itself, for
 * kheap_check or kheap_stats_get (the tests do). */
#ifndef KHEAP_DROPIN_H
#define KHEAP_DROPIN_H

#include "../alloc/kheap.h"

/* Page size and heap geometry of the global instance. */
#define KHEAP_DROPIN_PAGE_SIZE 4096u
#define KHEAP_DROPIN_HEAP_BYTES (256u * 1024u)       /* a new heap gets at least this */
#define KHEAP_DROPIN_LARGE_THRESHOLD (128u * 1024u)  /* requests this big get their own heap */

/* The global instance, created on first use; NULL only when even that
 * failed (no memory). */
kheap *kheap_dropin_instance(void);

#endif
