/*
 * The kernel's C library and the heap region.  The freestanding kernel has
 * no C library: kernel/main.c's weak defaults do nothing.  The newlib
 * kernels (LIBC=newlib or nano, mk/newlib.mk) put kheap behind newlib's
 * malloc over the same region the suite uses (kernel/syscalls.c).
 */
#ifndef KERNEL_LIBC_H
#define KERNEL_LIBC_H

#include <stdbool.h>
#include <stddef.h>

#include "../alloc/region.h"

/* Called once the region exists, before anything allocates; false stops
 * the run (EXIT_SETUP_FAILED). */
bool libc_init(kheap_region *region);

/* Pages the C library holds from the region at the end of the run (its
 * kheap instance's: stdio buffers and dtoa's cache stay allocated); the
 * end-of-run check counts them as held, not leaked.  Says what it holds. */
size_t libc_pages_held(void);

#endif
