/* See host_provider.h.  Host only. */
#include "host_provider.h"

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

kheap_provider host_provider(host_provider_state *state, size_t page_size)
{
    state->inner = mmap_provider(&state->os, page_size);
    kheap_provider p = state->inner;
    p.ctx = state;
    p.map = host_map;
    p.unmap = host_unmap;
    p.grow = host_grow;
    return p;
}
