/* See host_provider.h.  Host only. */
#include "host_provider.h"

#include <sys/mman.h>
#include <unistd.h>

/* Counts the call and says whether fail_at picks it to fail. */
static bool injected_failure(host_provider_state *s)
{
    s->calls++;
    return s->fail_at != 0 && s->calls == s->fail_at;
}

static void *host_map(void *ctx, size_t pages)
{
    host_provider_state *s = ctx;
    return injected_failure(s) ? NULL : s->inner.map(s->inner.ctx, pages);
}

static void host_unmap(void *ctx, void *addr, size_t pages)
{
    host_provider_state *s = ctx;
    s->inner.unmap(s->inner.ctx, addr, pages);
}

static bool host_grow(void *ctx, void *end, size_t pages)
{
    host_provider_state *s = ctx;
    return !injected_failure(s) && s->inner.grow(s->inner.ctx, end, pages);
}

static bool host_owns(void *ctx, const void *addr)
{
    host_provider_state *s = ctx;
    return s->inner.owns(s->inner.ctx, addr);
}

kheap_provider host_provider(host_provider_state *state, size_t page_size)
{
    state->inner = mmap_provider(&state->os, page_size);
    kheap_provider p = state->inner;
    p.ctx = state;
    p.map = host_map;
    p.unmap = host_unmap;
    p.grow = host_grow;
    p.owns = host_owns;
    return p;
}

/* ---------------------------------------------------------------- guard */

static bool guard_protect(void *addr, size_t bytes, int prot)
{
    return mprotect(addr, bytes, prot) == 0;
}

static void *guard_map(void *ctx, size_t pages)
{
    guard_provider_state *s = ctx;
    char *run = s->inner.map(s->inner.ctx, pages);
    if (run != NULL && !guard_protect(run, pages * s->inner.page_size, PROT_READ | PROT_WRITE)) {
        s->inner.unmap(s->inner.ctx, run, pages);
        return NULL;
    }
    return run;
}

/* The region's unmap is all or nothing: the first page changes hands iff
 * the call was taken. */
static void guard_unmap(void *ctx, void *addr, size_t pages)
{
    guard_provider_state *s = ctx;
    bool held = s->inner.owns(s->inner.ctx, addr);
    s->inner.unmap(s->inner.ctx, addr, pages);
    if (!held || s->inner.owns(s->inner.ctx, addr))
        return;
    size_t bytes = pages * s->inner.page_size;
    madvise(addr, bytes, MADV_DONTNEED);
    if (guard_protect(addr, bytes, PROT_NONE))
        s->protected_pages += pages;
}

static bool guard_grow(void *ctx, void *end, size_t pages)
{
    guard_provider_state *s = ctx;
    if (!s->inner.grow(s->inner.ctx, end, pages))
        return false;
    if (guard_protect(end, pages * s->inner.page_size, PROT_READ | PROT_WRITE))
        return true;
    s->inner.unmap(s->inner.ctx, end, pages);
    return false;
}

static bool guard_owns(void *ctx, const void *addr)
{
    guard_provider_state *s = ctx;
    return s->inner.owns(s->inner.ctx, addr);
}

kheap_provider guard_provider(guard_provider_state *s, size_t bytes)
{
    kheap_provider none = { 0 };
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    bytes = (bytes + ps - 1) & ~(ps - 1);
    void *base = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return none;
    /* The region's meta pages: 64 header bytes, then 36 per 32 pages. */
    size_t pages = bytes / ps;
    size_t meta = (64 + 36 * ((pages + 31) / 32) + ps - 1) & ~(ps - 1);
    kheap_region *r = NULL;
    if (guard_protect(base, meta, PROT_READ | PROT_WRITE))
        r = kheap_region_init(base, (char *)base + bytes, ps);
    kheap_provider inner = kheap_region_provider(r);
    if (inner.page_size == 0) {
        munmap(base, bytes);
        return none;
    }
    *s = (guard_provider_state){ .base = base, .bytes = bytes, .region = r, .inner = inner };
    kheap_provider p = inner;
    p.ctx = s;
    p.map = guard_map;
    p.unmap = guard_unmap;
    p.grow = guard_grow;
    p.owns = guard_owns;
    return p;
}

void guard_provider_close(guard_provider_state *s)
{
    if (s->base != NULL)
        munmap(s->base, s->bytes);
    s->base = NULL;
    s->region = NULL;
}

bool host_read_faults(const void *addr)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    char byte;
    /* The only way a one-byte write to a fresh pipe fails is EFAULT
     * (errno.h is not usable in every -m32 set-up, so it is not asked). */
    bool faults = write(fds[1], addr, 1) < 0;
    if (!faults)
        (void)!read(fds[0], &byte, 1);
    close(fds[0]);
    close(fds[1]);
    return faults;
}
