/* The page-provider interface over real mmap/munmap: see host_provider.h.
 * Host only; libc is fine here. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host_provider.h"

/* Without MAP_FIXED_NOREPLACE (Linux < 4.17 headers) the address is only a
 * hint; grow() checks where the mapping landed either way. */
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0
#endif

/* The provider's ctx is the caller's state, so tests can read the counts
 * through it; host_provider_state has no room for the page size, so sizes
 * other than the OS page are remembered here, keyed by state. */
#define PAGE_SIZE_SLOTS 32

static struct {
    const host_provider_state *state;
    size_t page_size;
} page_sizes[PAGE_SIZE_SLOTS];

static size_t os_page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

static size_t *page_size_slot(const host_provider_state *state, bool add)
{
    for (size_t i = 0; i < PAGE_SIZE_SLOTS; i++)
        if (page_sizes[i].state == state)
            return &page_sizes[i].page_size;
    if (!add)
        return NULL;
    for (size_t i = 0; i < PAGE_SIZE_SLOTS; i++) {
        if (page_sizes[i].state == NULL) {
            page_sizes[i].state = state;
            return &page_sizes[i].page_size;
        }
    }
    fputs("host_provider: too many states with a non-default page size\n", stderr);
    abort();
}

static size_t state_page_size(const host_provider_state *state)
{
    const size_t *slot = page_size_slot(state, false);
    return slot != NULL ? *slot : os_page_size();
}

/* Counts the call and says whether fail_at picks it to fail. */
static bool injected_failure(host_provider_state *s)
{
    s->calls++;
    return s->fail_at != 0 && s->calls == s->fail_at;
}

static void *os_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* mmap only promises OS-page alignment: map one page_size more than asked
 * (less one OS page, which the slack always has) and cut the ends off. */
static void *os_map_aligned(size_t bytes, size_t page_size)
{
    size_t os = os_page_size();
    if (page_size <= os)
        return os_map(bytes);
    size_t slack = page_size - os;
    if (bytes > SIZE_MAX - slack)
        return NULL;
    char *raw = os_map(bytes + slack);
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

static void *host_map(void *ctx, size_t pages)
{
    host_provider_state *s = ctx;
    size_t ps = state_page_size(s);
    if (injected_failure(s) || pages == 0 || pages > SIZE_MAX / ps)
        return NULL;
    void *p = os_map_aligned(pages * ps, ps);
    if (p == NULL)
        return NULL;
    s->pages_mapped += pages;
    s->maps++;
    return p;
}

static void host_unmap(void *ctx, void *addr, size_t pages)
{
    host_provider_state *s = ctx;
    size_t ps = state_page_size(s);
    if (addr == NULL || pages == 0 || pages > SIZE_MAX / ps || pages > s->pages_mapped)
        return;
    if (munmap(addr, pages * ps) != 0)
        return;
    s->pages_mapped -= pages;
    s->unmaps++;
}

/* Counts toward pages_mapped but not maps: maps is the number of runs map()
 * started. */
static bool host_grow(void *ctx, void *end, size_t pages)
{
    host_provider_state *s = ctx;
    size_t ps = state_page_size(s);
    if (injected_failure(s) || end == NULL || pages == 0 || pages > SIZE_MAX / ps ||
        (uintptr_t)end % ps != 0)
        return false;
    size_t bytes = pages * ps;
    void *p = mmap(end, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return false;
    if (p != end) {
        munmap(p, bytes);
        return false;
    }
    s->pages_mapped += pages;
    return true;
}

/* A page size that is not a power-of-two multiple of the OS page is raised
 * to the next one that is, so every run stays OS-page aligned. */
static size_t usable_page_size(size_t wanted)
{
    size_t ps = os_page_size();
    while (ps < wanted && ps <= SIZE_MAX / 2)
        ps *= 2;
    return ps;
}

kheap_provider host_provider(host_provider_state *state, size_t page_size)
{
    size_t ps = usable_page_size(page_size);
    if (ps != os_page_size())
        *page_size_slot(state, true) = ps;
    else if (page_size_slot(state, false) != NULL)
        *page_size_slot(state, false) = ps;
    kheap_provider p = {
        .ctx = state,
        .page_size = ps,
        .map = host_map,
        .unmap = host_unmap,
        .grow = host_grow,
    };
    return p;
}
