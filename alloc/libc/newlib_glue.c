/*
 * newlib's malloc family on one kheap instance (see kheap_newlib.h).
 *
 * newlib's library code allocates through the reentrant entry points
 * (_malloc_r, _free_r, _calloc_r, _realloc_r, _memalign_r), and its public
 * malloc() and friends are thin wrappers over them (libc.a: malloc.o,
 * calloc.o, ...).  Defining both layers here means no reference is left for
 * libc.a to satisfy, so none of its allocator objects is linked.  The _r
 * functions report failure through the reent they get (r->_errno), the
 * plain ones through errno (the current reent's).
 *
 * Failure values follow C and POSIX: NULL with ENOMEM for a request that
 * cannot be met (calloc's n * size overflow included); realloc(p, 0) frees
 * p and returns NULL without touching errno (what newlib's own realloc
 * does); aligned_alloc and memalign fail with EINVAL for an alignment they
 * cannot honour; posix_memalign returns EINVAL or ENOMEM and leaves errno
 * alone.
 */
#include "kheap_newlib.h"

#include <errno.h>
#include <malloc.h>
#include <reent.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* newlib declares these only for some configurations. */
void *_sbrk(ptrdiff_t incr);
int posix_memalign(void **out, size_t align, size_t size);
void *aligned_alloc(size_t align, size_t size);
void __malloc_unlock(struct _reent *r);
struct mallinfo mallinfo(void);

static struct {
    kheap *heap;
    kheap_region *region;
    size_t page_size;
    uintptr_t (*lock)(void *ctx);
    void (*unlock)(void *ctx, uintptr_t saved);
    void *lock_ctx;
    kheap_panic_fn panic;
    void *panic_ctx;
    /* __malloc_lock's saved states: written only with the lock held. */
    unsigned depth;
    uintptr_t saved[KHEAP_NEWLIB_LOCK_DEPTH];
    kheap_newlib_calls calls;
} glue;

kheap *kheap_newlib_init(kheap_region *region, const kheap_config *hooks)
{
    if (glue.heap != NULL || region == NULL)
        return NULL;
    kheap_config config = { 0 };
    if (hooks != NULL)
        config = *hooks;
    config.provider = kheap_region_provider(region);
    kheap *heap = kheap_create(&config);
    if (heap == NULL) {
        kheap_region_provider_release(&config.provider);
        return NULL;
    }
    /* The region's contract (region.h): its page map and break are shared
     * by the instance's map/unmap/grow and by _sbrk, which newlib may call
     * outside __malloc_lock, so the region takes the instance's hooks as its
     * own (they nest: kheap calls the provider with its lock held). */
    if (config.lock != NULL)
        kheap_region_set_lock(region, config.lock, config.unlock, config.lock_ctx);
    glue.page_size = config.provider.page_size;
    glue.lock = config.lock;
    glue.unlock = config.unlock;
    glue.lock_ctx = config.lock_ctx;
    glue.panic = config.panic;
    glue.panic_ctx = config.panic_ctx;
    glue.region = region;
    glue.heap = heap;
    return heap;
}

kheap *kheap_newlib_heap(void)
{
    return glue.heap;
}

kheap_region *kheap_newlib_region(void)
{
    return glue.region;
}

void kheap_newlib_calls_get(kheap_newlib_calls *calls)
{
    *calls = glue.calls;
}

/* ---------------------------------------------------------------- _r family */

/* With KHEAP_TRACE=1 a block records who asked newlib for it: the return
 * address of the _r call (newlib's own callers such as printf, or through
 * the plain names below, which tail-call or inline it, the program's
 * call).  Untraced, the _at calls are the plain ones and it is dropped. */
#define CALLER __builtin_return_address(0)

void *_malloc_r(struct _reent *r, size_t size)
{
    glue.calls.malloc++;
    void *p = glue.heap != NULL ? kheap_alloc_at(glue.heap, size, CALLER) : NULL;
    if (p == NULL)
        r->_errno = ENOMEM;
    return p;
}

void _free_r(struct _reent *r, void *ptr)
{
    (void)r;
    glue.calls.free++;
    if (ptr != NULL && glue.heap != NULL)
        kheap_free(glue.heap, ptr);
}

void *_calloc_r(struct _reent *r, size_t n, size_t size)
{
    glue.calls.calloc++;
    void *p = glue.heap != NULL ? kheap_calloc_at(glue.heap, n, size, CALLER) : NULL;
    if (p == NULL)
        r->_errno = ENOMEM;
    return p;
}

void *_realloc_r(struct _reent *r, void *ptr, size_t size)
{
    glue.calls.realloc++;
    if (glue.heap == NULL) {
        r->_errno = ENOMEM;
        return NULL;
    }
    void *p = kheap_realloc_at(glue.heap, ptr, size, CALLER);
    if (p == NULL && (size != 0 || ptr == NULL))
        r->_errno = ENOMEM;
    return p;
}

/* Smallest power of two >= v, 0 when there is none. */
static size_t pow2_ceil(size_t v)
{
    size_t p = 1;
    while (p < v && p != 0)
        p <<= 1;
    return p;
}

/* newlib's memalign rounds a non-power-of-two alignment up; so does this. */
void *_memalign_r(struct _reent *r, size_t align, size_t size)
{
    glue.calls.memalign++;
    size_t a = pow2_ceil(align);
    if (a == 0) {
        r->_errno = EINVAL;
        return NULL;
    }
    void *p = glue.heap != NULL ? kheap_aligned_alloc_at(glue.heap, a, size, CALLER) : NULL;
    if (p == NULL)
        r->_errno = ENOMEM;
    return p;
}

size_t _malloc_usable_size_r(struct _reent *r, void *ptr)
{
    (void)r;
    return glue.heap != NULL ? kheap_usable_size(glue.heap, ptr) : 0;
}

/* mallinfo in kheap's terms: arena is the pages held, hblks the heaps. */
struct mallinfo _mallinfo_r(struct _reent *r)
{
    (void)r;
    struct mallinfo mi = { 0 };
    if (glue.heap != NULL) {
        kheap_stats st;
        kheap_stats_get(glue.heap, &st);
        mi.arena = st.pages * glue.page_size;
        mi.ordblks = st.free_blocks;
        mi.hblks = st.heaps;
        mi.uordblks = st.in_use_bytes;
        mi.fordblks = st.free_bytes;
        mi.usmblks = st.peak_in_use_bytes;
    }
    return mi;
}

/* ---------------------------------------------------------------- plain names */

void *malloc(size_t size)
{
    return _malloc_r(_REENT, size);
}

void free(void *ptr)
{
    _free_r(_REENT, ptr);
}

void *calloc(size_t n, size_t size)
{
    return _calloc_r(_REENT, n, size);
}

void *realloc(void *ptr, size_t size)
{
    return _realloc_r(_REENT, ptr, size);
}

void *memalign(size_t align, size_t size)
{
    return _memalign_r(_REENT, align, size);
}

/* C11: the alignment must be one the implementation supports (any power of
 * two here); anything else is EINVAL rather than a rounded-up guess. */
void *aligned_alloc(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0) {
        errno = EINVAL;
        return NULL;
    }
    return _memalign_r(_REENT, align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1)) != 0 || align % sizeof(void *) != 0)
        return EINVAL;
    glue.calls.memalign++;
    void *p = glue.heap != NULL ? kheap_aligned_alloc_at(glue.heap, align, size, CALLER) : NULL;
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

size_t malloc_usable_size(void *ptr)
{
    return _malloc_usable_size_r(_REENT, ptr);
}

struct mallinfo mallinfo(void)
{
    return _mallinfo_r(_REENT);
}

/* ---------------------------------------------------------------- lock, sbrk */

/* newlib's malloc lock is recursive.  Each level takes the instance's lock
 * hook (they nest by contract) and keeps the state it returned; the stack
 * of states is touched only with the lock held. */
void __malloc_lock(struct _reent *r)
{
    (void)r;
    if (glue.lock == NULL)
        return;
    uintptr_t s = glue.lock(glue.lock_ctx);
    if (glue.depth >= KHEAP_NEWLIB_LOCK_DEPTH) {
        glue.unlock(glue.lock_ctx, s);
        if (glue.panic != NULL)
            glue.panic(glue.panic_ctx, KHEAP_MISUSE_LOCK_TOO_DEEP, &glue.depth);
        return;
    }
    glue.saved[glue.depth++] = s;
}

void __malloc_unlock(struct _reent *r)
{
    (void)r;
    if (glue.lock == NULL)
        return;
    if (glue.depth == 0) {
        if (glue.panic != NULL)
            glue.panic(glue.panic_ctx, KHEAP_MISUSE_UNLOCK_UNPAIRED, &glue.depth);
        return;
    }
    uintptr_t s = glue.saved[--glue.depth];
    glue.unlock(glue.lock_ctx, s);
}

/* sbrk over the same region the instance maps from: the break grows up
 * from the bottom, the instance's heaps come from the top. */
void *_sbrk(ptrdiff_t incr)
{
    if (glue.region == NULL) {
        errno = ENOMEM;
        return (void *)-1;
    }
    /* The region locks its bookkeeping itself, with the hooks
     * kheap_newlib_init gave it. */
    void *old = kheap_region_sbrk(glue.region, incr);
    if (old == (void *)-1)
        errno = ENOMEM;
    return old;
}
