/* The page-provider interface over real mmap/munmap: see mmap_provider.h.
 * Runs inside malloc, so nothing here may allocate: no stdio, no malloc. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mmap_provider.h"

/* Without MAP_FIXED_NOREPLACE (headers older than Linux 4.17) the address
 * is only a hint, and an old kernel ignores the flag; grow() checks where
 * the mapping landed either way. */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0
#endif

static size_t os_page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

static void *os_map(void *hint, size_t bytes, int extra_flags)
{
    void *p = mmap(hint, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* mmap promises only OS-page alignment: for larger pages map one page more
 * than asked (less one OS page, which the slack always has) and cut the ends
 * off. */
static void *map_aligned(size_t bytes, size_t page_size)
{
    size_t os = os_page_size();
    if (page_size <= os)
        return os_map(NULL, bytes, 0);
    size_t slack = page_size - os;
    if (bytes > SIZE_MAX - slack)
        return NULL;
    char *raw = os_map(NULL, bytes + slack, 0);
    if (raw == NULL)
        return NULL;
    uintptr_t a = ((uintptr_t)raw + page_size - 1) & ~(uintptr_t)(page_size - 1);
    char *p = (char *)a;
    size_t head = (size_t)(p - raw), tail = slack - head;
    if (head != 0)
        munmap(raw, head);
    if (tail != 0)
        munmap(p + bytes, tail);
    return p;
}

static void *provider_map(void *ctx, size_t pages)
{
    mmap_provider_state *s = ctx;
    if (pages == 0 || pages > SIZE_MAX / s->page_size)
        return NULL;
    void *p = map_aligned(pages * s->page_size, s->page_size);
    if (p == NULL)
        return NULL;
    s->pages_mapped += pages;
    s->maps++;
    return p;
}

static void provider_unmap(void *ctx, void *addr, size_t pages)
{
    mmap_provider_state *s = ctx;
    if (addr == NULL || pages == 0 || pages > s->pages_mapped)
        return;
    if (munmap(addr, pages * s->page_size) != 0)
        return;
    s->pages_mapped -= pages;
    s->unmaps++;
}

/* What sbrk does for the top of a heap: map the pages right after `end`,
 * but only if nothing is there already (MAP_FIXED_NOREPLACE; a plain
 * MAP_FIXED would silently replace someone else's mapping). */
static bool provider_grow(void *ctx, void *end, size_t pages)
{
    mmap_provider_state *s = ctx;
    if (end == NULL || pages == 0 || pages > SIZE_MAX / s->page_size ||
        (uintptr_t)end % s->page_size != 0)
        return false;
    size_t bytes = pages * s->page_size;
    void *p = os_map(end, bytes, MAP_FIXED_NOREPLACE);
    if (p == NULL)
        return false;
    if (p != end) {
        munmap(p, bytes);
        return false;
    }
    s->pages_mapped += pages;
    s->grows++;
    return true;
}

kheap_provider mmap_provider(mmap_provider_state *state, size_t page_size)
{
    size_t ps = os_page_size();
    while (ps < page_size && ps <= SIZE_MAX / 2)
        ps *= 2;
    state->page_size = ps;
    kheap_provider p = {
        .ctx = state,
        .page_size = ps,
        .map = provider_map,
        .unmap = provider_unmap,
        .grow = provider_grow,
        .unmap_spans_runs = true,  /* munmap takes any range of mappings */
    };
    return p;
}
