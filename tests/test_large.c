/*
 * Large blocks own their heap: a realloc that shrinks one, or the gap an
 * aligned allocation leaves, never puts the rest of that heap where other
 * blocks can land and keep it mapped; small aligned requests come from the
 * normal heaps.
 *
 * Freestanding like every test body: no libc.
 */
#include "../alloc/heap_internal.h"
#include "../alloc/kheap.h"
#include "ktest.h"
#include "test_support.h"

/* The payload offset of a heap's first block: what pages.c lays out. */
static size_t first_payload(void)
{
    return (sizeof(heap) + KH_HDR + KH_ALIGN - 1) & ~(KH_ALIGN - 1);
}

/* The header of the large heap whose one block's payload is p: the page
 * that holds the header right below the payload. */
static const void *large_heap_at(const void *p, size_t ps)
{
    return (const void *)(((uintptr_t)p - first_payload()) & ~(uintptr_t)(ps - 1));
}

static size_t pages_of(size_t bytes, size_t ps)
{
    return (bytes + ps - 1) / ps;
}

/* Blocks the walk finds in the heap that starts at `hp`. */
typedef struct heap_count {
    const void *hp;
    size_t blocks;
} heap_count;

static bool count_in_heap(void *ctx, const kheap_block_info *info)
{
    heap_count *c = ctx;
    c->blocks += info->heap == c->hp;
    return true;
}

static size_t blocks_in_heap(kheap *h, const void *hp)
{
    heap_count c = {hp, 0};
    kheap_walk(h, count_in_heap, &c);
    return c.blocks;
}

/* Sizes go by pages, so the cases fit the smallest board (micro:bit's
 * 256-byte pages, with newlib's pages taken): a home heap of 1.5 KiB (its
 * instance takes a third of it there), a large threshold of two pages, and
 * room for a large block of about ten. */
#define ROOM_PAGES 24u

static bool open_large(kt_heap *t, const ktest_env *env)
{
    size_t ps = env->region_provider->page_size;
    kt_opts o = {.bytes = ROOM_PAGES * ps, .heap_pages = (1536 + ps - 1) / ps, .large_threshold = 2 * ps};
    if (!kt_open(t, env, &o))
        return false;
    if (t->room < (ROOM_PAGES - 4) * ps) {
        ktest_fail_u(__FILE__, __LINE__, "sub-region room", (ROOM_PAGES - 4) * ps, t->room);
        kt_close(t, env);
        return false;
    }
    return true;
}

/* Eight pages shrunk to three: the heap keeps just the pages the block
 * needs, a small allocation after it goes elsewhere, and freeing the block
 * gives every page of its heap back. */
static void t_realloc_shrink_trims_large_heap(const ktest_env *env)
{
    kt_heap t;
    if (!open_large(&t, env))
        return;
    size_t ps = t.page_size, big = 8 * ps, small_size = 3 * ps;
    kheap_stats s0 = kt_stats(t.h);
    size_t mapped0 = kt_mapped(&t);
    char *p = kheap_alloc(t.h, big);
    void *small = NULL;
    if (p == NULL) {
        KT_NONNULL(p);
        goto out;
    }
    ktest_fill(p, small_size, 7);
    const void *hp = large_heap_at(p, ps);
    KT_EQ(s0.heaps + 1, kt_stats(t.h).heaps);
    KT_EQ(s0.pages + pages_of(first_payload() + kt_block_for(big), ps), kt_stats(t.h).pages);
    KT_PTR_EQ(p, kheap_realloc(t.h, p, small_size));
    KT_TRUE(ktest_verify(p, small_size, 7));
    size_t kept = pages_of(first_payload() + kt_block_for(small_size), ps);
    KT_EQ(s0.pages + kept, kt_stats(t.h).pages);
    KT_EQ(mapped0 + kept, kt_mapped(&t));
    /* The block runs to the new sentinel: its usable size says so. */
    KT_EQ(KHEAP_HARDEN ? small_size : kept * ps - first_payload() - KH_HDR,
          kheap_usable_size(t.h, p));
    small = kheap_alloc(t.h, 16);
    KT_NONNULL(small);
    KT_EQ(1, blocks_in_heap(t.h, hp));
    KT_CHECK(t.h);
    kheap_free(t.h, p);
    KT_EQ(s0.heaps, kt_stats(t.h).heaps);
    KT_EQ(s0.pages, kt_stats(t.h).pages);  /* the small block fit the home heap */
    KT_EQ(mapped0, kt_mapped(&t));
    kheap_free(t.h, small);
    KT_CHECK(t.h);
out:
    kt_close(&t, env);
}

/* A large block grown by realloc grows its heap in place when the provider
 * can, and the heap still holds it alone. */
static void t_realloc_grow_large_in_place(const ktest_env *env)
{
    kt_heap t;
    if (!open_large(&t, env))
        return;
    size_t ps = t.page_size;
    char *p = kheap_alloc(t.h, 6 * ps);
    if (p != NULL) {
        ktest_fill(p, 6 * ps, 3);
        /* Shrink first, so the pages past the heap are free for it to grow. */
        KT_PTR_EQ(p, kheap_realloc(t.h, p, 3 * ps));
        KT_PTR_EQ(p, kheap_realloc(t.h, p, 6 * ps));
        KT_TRUE(ktest_verify(p, 3 * ps, 3));
        const void *hp = large_heap_at(p, ps);
        KT_EQ(1, blocks_in_heap(t.h, hp));
        KT_CHECK(t.h);
        kheap_free(t.h, p);
    }
    KT_NONNULL(p);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* The heap a walk reports for the block at p. */
typedef struct heap_of_ptr {
    const void *p;
    const void *hp;
} heap_of_ptr;

static bool find_heap(void *ctx, const kheap_block_info *info)
{
    heap_of_ptr *f = ctx;
    if (info->ptr == f->p)
        f->hp = info->heap;
    return f->hp == NULL;
}

/* aligned_alloc(page, 16) is no large request: it comes from a normal heap
 * (before, a heap of its own of two pages), and the sliding room it leaves
 * serves the small requests after it without another page. */
static void t_small_page_aligned_from_normal_heap(const ktest_env *env)
{
    kt_heap t;
    if (!open_large(&t, env))
        return;
    void *p = kheap_aligned_alloc(t.h, t.page_size, 16);
    KT_NONNULL(p);
    KT_ALIGNED(p, t.page_size);
    heap_of_ptr f = {p, NULL};
    kheap_walk(t.h, find_heap, &f);
    KT_NONNULL(f.hp);
    KT_EQ(0, f.hp != NULL ? ((const heap *)f.hp)->flags & KH_HEAP_LARGE : 0);
    size_t pages = kt_stats(t.h).pages;
    void *small[8];
    for (int i = 0; i < 8; i++)
        small[i] = kheap_alloc(t.h, t.page_size / 32);
    KT_EQ(pages, kt_stats(t.h).pages);
    for (int i = 0; i < 8; i++)
        kheap_free(t.h, small[i]);
    kheap_free(t.h, p);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* A large request aligned beyond a page: its heap starts at the page that
 * takes the header right below the aligned payload and ends at the page
 * that ends the block; the sliding room around it goes straight back. */
static void t_large_aligned_heap_is_exact(const ktest_env *env)
{
    kt_heap t;
    if (!open_large(&t, env))
        return;
    size_t ps = t.page_size, align = 4 * ps, n = 5 * ps;
    kheap_stats s0 = kt_stats(t.h);
    size_t mapped0 = kt_mapped(&t);
    char *p = kheap_aligned_alloc(t.h, align, n);
    if (p == NULL) {
        KT_NONNULL(p);
        kt_close(&t, env);
        return;
    }
    KT_ALIGNED(p, align);
    uintptr_t hp = (uintptr_t)large_heap_at(p, ps);
    size_t pages = pages_of((uintptr_t)p - hp + kt_block_for(n), ps);
    KT_EQ(s0.heaps + 1, kt_stats(t.h).heaps);
    KT_EQ(s0.pages + pages, kt_stats(t.h).pages);
    KT_EQ(mapped0 + pages, kt_mapped(&t));
    KT_EQ(1, blocks_in_heap(t.h, (const void *)hp));
    ktest_fill(p, n, 9);
    KT_TRUE(ktest_verify(p, n, 9));
    KT_CHECK(t.h);
    kheap_free(t.h, p);
    KT_EQ(mapped0, kt_mapped(&t));
    KT_EQ(s0.heaps, kt_stats(t.h).heaps);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

static const ktest_case cases[] = {
    {"large: realloc shrink trims the block's heap and nothing else lands there",
     t_realloc_shrink_trims_large_heap},
    {"large: realloc grows a large block's heap in place",
     t_realloc_grow_large_in_place},
    {"large: aligned_alloc(page, 16) comes from a normal heap",
     t_small_page_aligned_from_normal_heap},
    {"large: a large aligned block's heap is exactly its pages",
     t_large_aligned_heap_is_exact},
};

const ktest_group tests_large = {cases, sizeof cases / sizeof cases[0]};
