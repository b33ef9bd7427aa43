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

/* The held-page bitmap: one leaf per GiB of addresses.  A 64-bit Linux
 * hands out user addresses below 2^47 (2^48 on arm64) unless asked for
 * more; a run that lands higher is given back and the map fails. */
#define LEAF_SHIFT 30u
#if UINTPTR_MAX > 0xffffffffu
#define ADDR_BITS 48u
#else
#define ADDR_BITS 32u
#endif
#define LEAVES ((size_t)1 << (ADDR_BITS - LEAF_SHIFT))
#define LEAF_MASK (((uintptr_t)1 << LEAF_SHIFT) - 1)

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

/* ---------------------------------------------------------------- held pages */

/* True iff [a, a + bytes) lies below 2^ADDR_BITS (and does not wrap). */
static bool trackable(uintptr_t a, size_t bytes)
{
    uintptr_t end = a + bytes;
    if (end < a)
        return false;
#if ADDR_BITS < 64 && UINTPTR_MAX > 0xffffffffu
    return end <= (uintptr_t)1 << ADDR_BITS;
#else
    return true;
#endif
}

/* The leaf for the GiB holding `a`, mmap'd (with the directory) when
 * `create` asks; NULL when there is none.  owns() reads both levels without
 * the lock, so they are published with release stores. */
static uint64_t *leaf_of(mmap_provider_state *s, uintptr_t a, bool create)
{
    uint64_t **dir = __atomic_load_n(&s->held, __ATOMIC_ACQUIRE);
    if (dir == NULL) {
        if (!create || (dir = os_map(NULL, LEAVES * sizeof *dir, MAP_NORESERVE)) == NULL)
            return NULL;
        __atomic_store_n(&s->held, dir, __ATOMIC_RELEASE);
    }
    uint64_t **slot = &dir[a >> LEAF_SHIFT];
    uint64_t *leaf = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (leaf == NULL && create) {
        size_t bytes = (((size_t)1 << (LEAF_SHIFT - s->shift)) + 7) / 8;
        if ((leaf = os_map(NULL, bytes, MAP_NORESERVE)) == NULL)
            return NULL;
        __atomic_store_n(slot, leaf, __ATOMIC_RELEASE);
    }
    return leaf;
}

enum held_op { HELD_TEST, HELD_SET, HELD_CLEAR };

/* Applies `op` to the bits of the pages [a, a + pages * page_size), a word
 * of 64 pages at a time.  HELD_TEST returns true iff every page is held;
 * HELD_SET returns false iff a leaf could not be mapped (the pages before
 * it are set: track() clears them again); HELD_CLEAR returns true. */
static bool held_apply(mmap_provider_state *s, uintptr_t a, size_t pages, enum held_op op)
{
    while (pages != 0) {
        uint64_t *leaf = leaf_of(s, a, op == HELD_SET);
        size_t bit = (size_t)((a & LEAF_MASK) >> s->shift);
        size_t in_leaf = ((size_t)1 << (LEAF_SHIFT - s->shift)) - bit;
        size_t n = pages < in_leaf ? pages : in_leaf;
        if (leaf == NULL && op != HELD_CLEAR)
            return false;
        for (size_t i = bit, left = leaf != NULL ? n : 0; left != 0;) {
            unsigned b = (unsigned)(i & 63u);
            size_t k = 64u - b < left ? 64u - b : left;
            uint64_t mask = (UINT64_MAX >> (64u - k)) << b;
            uint64_t *w = &leaf[i >> 6];
            if (op == HELD_TEST) {
                if ((__atomic_load_n(w, __ATOMIC_RELAXED) & mask) != mask)
                    return false;
            } else if (op == HELD_SET) {
                __atomic_fetch_or(w, mask, __ATOMIC_RELAXED);
            } else {
                __atomic_fetch_and(w, ~mask, __ATOMIC_RELAXED);
            }
            i += k;
            left -= k;
        }
        pages -= n;
        a += (uintptr_t)n << s->shift;
    }
    return true;
}

/* Marks a run just mapped as held; false (nothing marked) when a bitmap
 * page cannot be had: the caller gives the run back. */
static bool track(mmap_provider_state *s, void *p, size_t pages)
{
    if (!trackable((uintptr_t)p, pages << s->shift))
        return false;
    if (held_apply(s, (uintptr_t)p, pages, HELD_SET))
        return true;
    held_apply(s, (uintptr_t)p, pages, HELD_CLEAR);
    return false;
}

/* ---------------------------------------------------------------- provider */

static void *provider_map(void *ctx, size_t pages)
{
    mmap_provider_state *s = ctx;
    if (pages == 0 || pages > SIZE_MAX / s->page_size)
        return NULL;
    void *p = map_aligned(pages * s->page_size, s->page_size);
    if (p == NULL)
        return NULL;
    if (!track(s, p, pages)) {
        munmap(p, pages * s->page_size);
        return NULL;
    }
    s->pages_mapped += pages;
    s->maps++;
    return p;
}

static void provider_unmap(void *ctx, void *addr, size_t pages)
{
    mmap_provider_state *s = ctx;
    uintptr_t a = (uintptr_t)addr;
    if (pages == 0 || pages > s->pages_mapped || (a & (s->page_size - 1)) != 0 ||
        !trackable(a, pages << s->shift) || !held_apply(s, a, pages, HELD_TEST)) {
        s->refused++;
        return;
    }
    if (munmap(addr, pages * s->page_size) != 0)
        return;
    held_apply(s, a, pages, HELD_CLEAR);
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
    if (p != end || !track(s, p, pages)) {
        munmap(p, bytes);
        return false;
    }
    s->pages_mapped += pages;
    s->grows++;
    return true;
}

/* No lock and no system call: the directory slot, the leaf word, the bit. */
static bool provider_owns(void *ctx, const void *addr)
{
    const mmap_provider_state *s = ctx;
    uintptr_t a = (uintptr_t)addr;
#if ADDR_BITS < 64 && UINTPTR_MAX > 0xffffffffu
    if ((a >> ADDR_BITS) != 0)
        return false;
#endif
    uint64_t **dir = __atomic_load_n(&s->held, __ATOMIC_ACQUIRE);
    if (dir == NULL)
        return false;
    const uint64_t *leaf = __atomic_load_n(&dir[a >> LEAF_SHIFT], __ATOMIC_ACQUIRE);
    if (leaf == NULL)
        return false;
    size_t bit = (size_t)((a & LEAF_MASK) >> s->shift);
    return (__atomic_load_n(&leaf[bit >> 6], __ATOMIC_RELAXED) >> (bit & 63u)) & 1u;
}

kheap_provider mmap_provider(mmap_provider_state *state, size_t page_size)
{
    size_t ps = os_page_size();
    while (ps < page_size && ps < ((size_t)1 << LEAF_SHIFT))
        ps *= 2;
    unsigned shift = 0;
    while (((size_t)1 << shift) != ps)
        shift++;
    /* The bitmap is per page: a state keeps the page size it began with. */
    if (state->held != NULL && state->shift != shift)
        return (kheap_provider){ 0 };
    state->page_size = ps;
    state->shift = shift;
    kheap_provider p = {
        .ctx = state,
        .page_size = ps,
        .map = provider_map,
        .unmap = provider_unmap,
        .grow = provider_grow,
        .unmap_spans_runs = true,  /* munmap takes any range of mappings */
        .owns = provider_owns,
    };
    return p;
}
