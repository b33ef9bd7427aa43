/*
 * Tests for the region shim (alloc/region.c): init, map/unmap/grow, sbrk and
 * the usage accounting, with exact addresses and counts.
 *
 * Every case works in a 4 KiB sub-region of env->region (16 pages of 256,
 * 32 of 128 or 64 of 64 bytes), so it fits the smallest board.  Page indices
 * below count from the sub-region's start, where its header sits.  Meta
 * pages are ceil((64 + 36 * ceil(pages / 32)) / page_size) on every target
 * (a 64-byte header, then an owner byte and a bit per page): 3 for
 * 64 x 64 B, 1 for 32 x 128 B and 16 x 256 B.
 *
 * A region tells its clients apart (each kheap_region_provider() call is
 * one), so the map/unmap/grow helpers go through one client per region
 * layout, made by sub_open (or use_region after a test lays a region out
 * again); the client cases make others of their own.
 *
 * Freestanding like every test body: no libc.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../alloc/kheap.h"
#include "../alloc/region.h"
#include "host_provider.h"
#include "ktest.h"

#define SUB_BYTES 4096u
#define SBRK_FAIL ((void *)-1)

/* ---------------------------------------------------------------- helpers */

static void eq_at(const char *file, int line, const char *what, size_t expected, size_t got)
{
    if (expected != got)
        ktest_fail_u(file, line, what, expected, got);
}

/* Checks every usage field; pages_free follows from the others. */
static void expect_usage_at(const kheap_region *r, size_t mapped, size_t brk, size_t largest,
                            const char *file, int line)
{
    kheap_region_usage u;
    kheap_region_usage_get(r, &u);
    eq_at(file, line, "pages_mapped", mapped, u.pages_mapped);
    eq_at(file, line, "pages_brk", brk, u.pages_brk);
    eq_at(file, line, "pages_free", u.pages_total - u.pages_meta - mapped - brk, u.pages_free);
    eq_at(file, line, "largest_free_run", largest, u.largest_free_run);
}
#define KT_USAGE(r, mapped, brk, largest) \
    expect_usage_at((r), (mapped), (brk), (largest), __FILE__, __LINE__)

static void expect_same_usage_at(const kheap_region_usage *a, const kheap_region *r,
                                 const char *file, int line)
{
    kheap_region_usage b;
    kheap_region_usage_get(r, &b);
    eq_at(file, line, "page_size", a->page_size, b.page_size);
    eq_at(file, line, "pages_total", a->pages_total, b.pages_total);
    eq_at(file, line, "pages_meta", a->pages_meta, b.pages_meta);
    eq_at(file, line, "pages_mapped", a->pages_mapped, b.pages_mapped);
    eq_at(file, line, "pages_brk", a->pages_brk, b.pages_brk);
    eq_at(file, line, "pages_free", a->pages_free, b.pages_free);
    eq_at(file, line, "largest_free_run", a->largest_free_run, b.largest_free_run);
}
#define KT_SAME_USAGE(before, r) expect_same_usage_at(&(before), (r), __FILE__, __LINE__)

static kheap_region_usage usage_of(const kheap_region *r)
{
    kheap_region_usage u;
    kheap_region_usage_get(r, &u);
    return u;
}

/* The helpers' client and the region it is a client of. */
static kheap_provider helper_client;

/* Makes the helpers' client for a region just laid out. */
static void use_region(kheap_region *r)
{
    helper_client = kheap_region_provider(r);
}

/* A fresh SUB_BYTES sub-region with the given page size, or NULL (failure
 * recorded, nothing held) when env->region cannot give one of exactly that
 * size, aligned for page_size. */
static kheap_region *sub_open(const ktest_env *env, size_t page_size)
{
    kheap_region *r = ktest_subregion(env, SUB_BYTES, page_size);
    if (r != NULL)
        use_region(r);
    if (r == NULL) {
        ktest_fail_msg(__FILE__, __LINE__, "ktest_subregion", "a 4 KiB sub-region", "NULL");
        return NULL;
    }
    if (usage_of(r).pages_total != SUB_BYTES / page_size) {
        ktest_fail_u(__FILE__, __LINE__, "sub-region pages", SUB_BYTES / page_size,
                     usage_of(r).pages_total);
        ktest_subregion_release(env, r, SUB_BYTES);
        return NULL;
    }
    return r;
}

/* Expects the sub-region to be wholly free again, then gives it back. */
static void sub_close_at(const ktest_env *env, kheap_region *r, const char *file, int line)
{
    kheap_region_usage u = usage_of(r);
    eq_at(file, line, "pages_mapped at close", 0, u.pages_mapped);
    eq_at(file, line, "pages_brk at close", 0, u.pages_brk);
    eq_at(file, line, "largest_free_run at close", u.pages_total - u.pages_meta,
          u.largest_free_run);
    ktest_subregion_release(env, r, SUB_BYTES);
}
#define SUB_CLOSE(env, r) sub_close_at((env), (r), __FILE__, __LINE__)

/* Page i of a region whose header is at r. */
static char *page(const kheap_region *r, size_t page_size, size_t i)
{
    return (char *)(uintptr_t)r + i * page_size;
}

/* Through the helpers' client, which must be r's. */
static void *map(kheap_region *r, size_t pages)
{
    (void)r;
    return helper_client.map(helper_client.ctx, pages);
}

static void unmap(kheap_region *r, void *addr, size_t pages)
{
    (void)r;
    helper_client.unmap(helper_client.ctx, addr, pages);
}

static bool grow(kheap_region *r, void *end, size_t pages)
{
    (void)r;
    return helper_client.grow(helper_client.ctx, end, pages);
}

static bool owns(const kheap_provider *p, const void *addr)
{
    return p->owns(p->ctx, addr);
}

/* ---------------------------------------------------------------- init */

static void region_init_rejects(const ktest_env *env)
{
    kheap_region *sub = sub_open(env, 64);
    KT_REQUIRE(sub != NULL);
    char *m = (char *)sub;
    ktest_fill(m, SUB_BYTES, 11);

    /* Page sizes: not a power of two, or below 64. */
    static const size_t bad_sizes[] = { 0, 1, 32, 63, 65, 96, 100, 4095, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++)
        KT_NULL(kheap_region_init(m, m + SUB_BYTES, bad_sizes[i]));
    /* A power of two so large that rounding inwards leaves nothing. */
    KT_NULL(kheap_region_init(m, m + SUB_BYTES, SIZE_MAX / 2 + 1));

    /* Empty, inverted, and too small for meta pages plus one. */
    KT_NULL(kheap_region_init(m, m, 64));
    KT_NULL(kheap_region_init(m + 128, m, 64));
    KT_NULL(kheap_region_init(m, m + 128, 64));        /* 2 pages, 2 meta */
    KT_NULL(kheap_region_init(m, m + 191, 64));        /* rounds to 2 pages */
    KT_NULL(kheap_region_init(m + 1, m + 255, 64));    /* rounds to [64, 192) */
    KT_NULL(kheap_region_init(m, m + 128, 128));       /* 1 page, 1 meta */
    KT_NULL(kheap_region_init(m + 1, m + 63, 64));     /* rounds to nothing */

    /* At the ends of the address space: rounding must not wrap. */
    KT_NULL(kheap_region_init((void *)(UINTPTR_MAX - 10), (void *)UINTPTR_MAX, 64));
    KT_NULL(kheap_region_init((void *)(UINTPTR_MAX - 200), (void *)UINTPTR_MAX, 64));
    KT_NULL(kheap_region_init((void *)0, (void *)64, 64));

    /* None of that wrote a byte. */
    KT_TRUE(ktest_verify(m, SUB_BYTES, 11));

    /* The smallest region that works: 2 meta pages and 1 to hand out. */
    ktest_fill(m + 192, SUB_BYTES - 192, 13);
    kheap_region *r = kheap_region_init(m, m + 192, 64);
    KT_PTR_EQ(m, r);
    use_region(r);
    kheap_region_usage u = usage_of(r);
    KT_EQ(64, u.page_size);
    KT_EQ(3, u.pages_total);
    KT_EQ(2, u.pages_meta);
    KT_EQ(1, u.pages_free);
    KT_EQ(1, u.largest_free_run);
    KT_TRUE(ktest_verify(m + 192, SUB_BYTES - 192, 13));
    void *p = map(r, 1);
    KT_PTR_EQ(m + 128, p);
    KT_NULL(map(r, 1));
    unmap(r, p, 1);
    KT_USAGE(r, 0, 0, 1);

    /* Give the run back as the sub-region it was laid out as. */
    sub = kheap_region_init(m, m + SUB_BYTES, 64);
    KT_REQUIRE(sub != NULL);
    use_region(sub);
    SUB_CLOSE(env, sub);
}

static void region_init_rounds_inward(const ktest_env *env)
{
    kheap_region *sub = sub_open(env, 64);
    KT_REQUIRE(sub != NULL);
    char *m = (char *)sub;
    ktest_fill(m, 64, 12);
    ktest_fill(m + SUB_BYTES - 64, 64, 13);

    kheap_region *r = kheap_region_init(m + 1, m + SUB_BYTES - 1, 64);
    KT_PTR_EQ(m + 64, r);
    use_region(r);
    kheap_region_usage u = usage_of(r);
    KT_EQ(64, u.page_size);
    KT_EQ(62, u.pages_total);   /* [m + 64, m + 4032) */
    KT_EQ(3, u.pages_meta);     /* 64 + 2 * 36 bytes */
    KT_EQ(0, u.pages_mapped);
    KT_EQ(0, u.pages_brk);
    KT_EQ(59, u.pages_free);
    KT_EQ(59, u.largest_free_run);
    KT_EQ(1, u.clients);
    KT_PTR_EQ(m + 64 + 3 * 64, kheap_region_sbrk(r, 0));
    /* The top run ends at the rounded end, not the given one. */
    void *top = map(r, 1);
    KT_PTR_EQ(m + SUB_BYTES - 128, top);
    /* Nothing outside the rounded region was written. */
    KT_TRUE(ktest_verify(m, 64, 12));
    KT_TRUE(ktest_verify(m + SUB_BYTES - 64, 64, 13));
    unmap(r, top, 1);
    KT_USAGE(r, 0, 0, 59);

    sub = kheap_region_init(m, m + SUB_BYTES, 64);
    KT_REQUIRE(sub != NULL);
    use_region(sub);
    SUB_CLOSE(env, sub);
}

static void region_meta_pages(const ktest_env *env)
{
    static const struct { size_t page_size, pages, meta; } cases[] = {
        { 64, 64, 3 },    /* 64 header + 2 * (32 owner + 4 bitmap) bytes > 128 */
        { 128, 32, 1 },
        { 256, 16, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kheap_region *r = sub_open(env, cases[i].page_size);
        KT_REQUIRE(r != NULL);
        kheap_region_usage u = usage_of(r);
        KT_EQ(cases[i].page_size, u.page_size);
        KT_EQ(cases[i].pages, u.pages_total);
        KT_EQ(cases[i].meta, u.pages_meta);
        KT_EQ(cases[i].pages - cases[i].meta, u.pages_free);
        KT_EQ(cases[i].pages - cases[i].meta, u.largest_free_run);
        KT_PTR_EQ(page(r, cases[i].page_size, cases[i].meta), kheap_region_sbrk(r, 0));
        kheap_provider p = kheap_region_provider(r);
        KT_TRUE(p.ctx != NULL && p.ctx != helper_client.ctx);
        KT_EQ(cases[i].page_size, p.page_size);
        KT_TRUE(p.map != NULL && p.unmap != NULL && p.grow != NULL && p.owns != NULL);
        KT_TRUE(p.unmap_spans_runs);
        KT_EQ(2, usage_of(r).clients);
        SUB_CLOSE(env, r);
    }

    /* The owner bytes' and the bitmap's share: 576 pages of 64 need 18
     * groups, 64 + 18 * 36 = 712 bytes, 12 pages.  36 KiB is more than the
     * smallest boards have, so only where env->region has room. */
    kheap_region_usage env_u = usage_of(env->region);
    size_t big = 576 * 64;
    if (env_u.largest_free_run * env_u.page_size < big)
        return;
    kheap_region *r = ktest_subregion(env, big, 64);
    KT_REQUIRE(r != NULL);
    use_region(r);
    kheap_region_usage u = usage_of(r);
    KT_EQ(576, u.pages_total);
    KT_EQ(12, u.pages_meta);
    KT_PTR_EQ(page(r, 64, 12), kheap_region_sbrk(r, 0));
    KT_EQ(564, u.largest_free_run);
    void *top = map(r, 1);
    KT_PTR_EQ(page(r, 64, 575), top);
    unmap(r, top, 1);
    ktest_subregion_release(env, r, big);
}

/* ---------------------------------------------------------------- map/unmap */

static void region_map_top_down(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);

    char *a = map(r, 1);
    KT_PTR_EQ(page(r, ps, 31), a);
    KT_USAGE(r, 1, 0, 30);
    char *b = map(r, 2);
    KT_PTR_EQ(page(r, ps, 29), b);
    KT_USAGE(r, 3, 0, 28);
    char *c = map(r, 3);
    KT_PTR_EQ(page(r, ps, 26), c);
    KT_USAGE(r, 6, 0, 25);
    KT_ALIGNED(a, ps);
    KT_ALIGNED(b, ps);
    KT_ALIGNED(c, ps);
    KT_REQUIRE(a != NULL && b != NULL && c != NULL);

    /* The pages are the caller's: writing them disturbs nothing. */
    ktest_fill(a, 1 * ps, 1);
    ktest_fill(b, 2 * ps, 2);
    ktest_fill(c, 3 * ps, 3);
    KT_USAGE(r, 6, 0, 25);
    KT_TRUE(ktest_verify(a, 1 * ps, 1));
    KT_TRUE(ktest_verify(b, 2 * ps, 2));
    KT_TRUE(ktest_verify(c, 3 * ps, 3));

    unmap(r, c, 3);
    KT_USAGE(r, 3, 0, 28);
    unmap(r, b, 2);
    KT_USAGE(r, 1, 0, 30);
    unmap(r, a, 1);
    KT_USAGE(r, 0, 0, 31);
    KT_PTR_EQ(page(r, ps, 1), kheap_region_sbrk(r, 0));
    SUB_CLOSE(env, r);
}

static void region_map_too_big(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);

    kheap_region_usage before = usage_of(r);
    KT_NULL(map(r, 32));
    KT_NULL(map(r, 0));
    KT_NULL(map(r, SIZE_MAX));
    KT_NULL(map(r, SIZE_MAX / 2 + 1));
    KT_SAME_USAGE(before, r);

    /* All of it, exactly, is the lowest usable page up. */
    void *all = map(r, 31);
    KT_PTR_EQ(page(r, ps, 1), all);
    KT_USAGE(r, 31, 0, 0);
    before = usage_of(r);
    KT_NULL(map(r, 1));
    KT_SAME_USAGE(before, r);
    unmap(r, all, 31);
    KT_USAGE(r, 0, 0, 31);

    /* A hole too small for the request is passed over. */
    void *top = map(r, 30);
    KT_PTR_EQ(page(r, ps, 2), top);
    KT_NULL(map(r, 2));
    KT_USAGE(r, 30, 0, 1);
    unmap(r, top, 30);
    SUB_CLOSE(env, r);
}

/* The bitmap is kept in 32-page words and map() steps over whole words:
 * runs that start, end or cross exactly at a word's edge (pages 0..31 and
 * 32..63 with 64-byte pages). */
static void region_map_word_edges(const ktest_env *env)
{
    const size_t ps = 64;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    KT_EQ(3, usage_of(r).pages_meta);

    void *a = map(r, 32);                       /* exactly the top word */
    KT_PTR_EQ(page(r, ps, 32), a);
    void *b = map(r, 29);                       /* the rest of word 0 */
    KT_PTR_EQ(page(r, ps, 3), b);
    KT_USAGE(r, 61, 0, 0);
    unmap(r, a, 32);
    unmap(r, b, 29);

    a = map(r, 33);                             /* one page over the edge */
    KT_PTR_EQ(page(r, ps, 31), a);
    b = map(r, 28);
    KT_PTR_EQ(page(r, ps, 3), b);
    KT_USAGE(r, 61, 0, 0);

    /* Holes in partly used words. */
    unmap(r, page(r, ps, 40), 1);
    unmap(r, page(r, ps, 20), 12);              /* pages 20..31 */
    KT_USAGE(r, 48, 0, 12);
    KT_NULL(map(r, 13));
    KT_PTR_EQ(page(r, ps, 40), map(r, 1));
    KT_PTR_EQ(page(r, ps, 24), map(r, 8));
    KT_PTR_EQ(page(r, ps, 20), map(r, 4));
    KT_USAGE(r, 61, 0, 0);

    unmap(r, page(r, ps, 3), 61);
    SUB_CLOSE(env, r);
}

static void region_unmap_reuse(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);

    void *a = map(r, 1);
    void *b = map(r, 1);
    void *c = map(r, 1);
    KT_PTR_EQ(page(r, ps, 31), a);
    KT_PTR_EQ(page(r, ps, 30), b);
    KT_PTR_EQ(page(r, ps, 29), c);

    unmap(r, b, 1);
    KT_USAGE(r, 2, 0, 28);
    /* The hole is the highest free page, so it is used first. */
    KT_PTR_EQ(b, map(r, 1));
    KT_USAGE(r, 3, 0, 28);

    unmap(r, b, 1);
    /* Two pages do not fit the one-page hole: the next run below c. */
    void *d = map(r, 2);
    KT_PTR_EQ(page(r, ps, 27), d);
    KT_USAGE(r, 4, 0, 26);
    KT_PTR_EQ(b, map(r, 1));
    KT_USAGE(r, 5, 0, 26);

    /* Adjacent runs from separate maps go back in one call. */
    unmap(r, d, 5);
    KT_USAGE(r, 0, 0, 31);
    SUB_CLOSE(env, r);
}

static void region_unmap_subrun(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);

    char *run = map(r, 5);
    KT_PTR_EQ(page(r, ps, 27), run);
    KT_REQUIRE(run != NULL);

    /* The middle three pages back: both ends stay held. */
    unmap(r, run + ps, 3);
    KT_USAGE(r, 2, 0, 26);
    KT_PTR_EQ(run + ps, map(r, 3));
    KT_USAGE(r, 5, 0, 26);

    unmap(r, run + ps, 3);
    /* A smaller request takes the top of the hole. */
    KT_PTR_EQ(run + 2 * ps, map(r, 2));
    KT_USAGE(r, 4, 0, 26);
    KT_PTR_EQ(run + ps, map(r, 1));
    KT_USAGE(r, 5, 0, 26);

    /* First and last pages alone. */
    unmap(r, run, 1);
    KT_USAGE(r, 4, 0, 27);
    unmap(r, run + 4 * ps, 1);
    KT_USAGE(r, 3, 0, 27);
    KT_PTR_EQ(run + 4 * ps, map(r, 1));
    KT_PTR_EQ(run, map(r, 1));
    KT_USAGE(r, 5, 0, 26);

    unmap(r, run, 5);
    SUB_CLOSE(env, r);
}

static void region_unmap_invalid_ignored(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);

    char *a = map(r, 2);
    char *b = map(r, 1);
    KT_PTR_EQ(page(r, ps, 30), a);
    KT_PTR_EQ(page(r, ps, 29), b);
    KT_REQUIRE(a != NULL && b != NULL);
    kheap_region_usage before = usage_of(r);

    unmap(r, b - ps, 2);                 /* partly free: all or nothing */
    KT_SAME_USAGE(before, r);
    unmap(r, b - ps, 1);                 /* free */
    KT_SAME_USAGE(before, r);
    unmap(r, a + 1, 1);                  /* misaligned */
    unmap(r, a + ps / 2, 1);
    KT_SAME_USAGE(before, r);
    unmap(r, page(r, ps, 0), 1);         /* the meta page */
    unmap(r, page(r, ps, 32), 1);        /* the region's end */
    unmap(r, (char *)r - ps, 1);         /* below the region */
    unmap(r, NULL, 1);
    KT_SAME_USAGE(before, r);
    unmap(r, a, 3);                      /* runs past the end */
    unmap(r, a, SIZE_MAX);
    unmap(r, a, SIZE_MAX / 2 + 1);
    unmap(r, a, 0);
    KT_SAME_USAGE(before, r);

    /* A second unmap of the same page is ignored. */
    unmap(r, b, 1);
    KT_USAGE(r, 2, 0, 29);
    unmap(r, b, 1);
    KT_USAGE(r, 2, 0, 29);

    /* Not a region: the calls fail or do nothing. */
    kheap_provider p = kheap_region_provider(r);
    KT_NULL(p.map(NULL, 1));
    KT_FALSE(p.grow(NULL, a, 1));
    p.unmap(NULL, a, 2);
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(NULL, 0));
    KT_EQ(0, kheap_region_provider(NULL).page_size);
    kheap_region_usage none;
    kheap_region_usage_get(NULL, &none);
    KT_EQ(0, none.pages_total);
    KT_USAGE(r, 2, 0, 29);

    unmap(r, a, 2);
    SUB_CLOSE(env, r);
}

/* ---------------------------------------------------------------- grow */

static void region_grow(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);

    char *a = map(r, 1);     /* page 31 */
    char *b = map(r, 1);     /* page 30 */
    char *c = map(r, 1);     /* page 29 */
    KT_PTR_EQ(page(r, ps, 29), c);
    KT_REQUIRE(a != NULL && b != NULL && c != NULL);
    unmap(r, b, 1);
    kheap_region_usage before = usage_of(r);

    KT_FALSE(grow(r, c + ps, 2));               /* page 31 is a's */
    KT_FALSE(grow(r, a + ps, 1));               /* past the region's end */
    KT_FALSE(grow(r, c + ps + 1, 1));           /* misaligned */
    KT_FALSE(grow(r, c, 1));                    /* page 28, before it, is free */
    KT_FALSE(grow(r, page(r, ps, 1), 1));       /* after the meta page */
    KT_FALSE(grow(r, c + ps, 0));
    KT_FALSE(grow(r, c + ps, SIZE_MAX));
    KT_FALSE(grow(r, (char *)r + SUB_BYTES + ps, 1));
    KT_SAME_USAGE(before, r);

    /* In place into the free page after c. */
    KT_TRUE(grow(r, c + ps, 1));
    KT_USAGE(r, 3, 0, 28);
    ktest_fill(c, 2 * ps, 21);
    /* Now c ends where a starts. */
    KT_FALSE(grow(r, c + 2 * ps, 1));
    KT_USAGE(r, 3, 0, 28);

    unmap(r, a, 1);
    KT_TRUE(grow(r, c + 2 * ps, 1));
    KT_USAGE(r, 3, 0, 28);
    KT_TRUE(ktest_verify(c, 2 * ps, 21));

    /* Several pages at once, from a run in the middle of free space. */
    unmap(r, c, 3);
    char *d = map(r, 1);
    KT_PTR_EQ(page(r, ps, 31), d);
    unmap(r, d, 1);
    d = page(r, ps, 10);
    KT_FALSE(grow(r, d, 4));                    /* page 9 is free */
    void *e = map(r, 31);
    KT_PTR_EQ(page(r, ps, 1), e);
    unmap(r, page(r, ps, 10), 22);              /* keep pages 1..9 */
    KT_USAGE(r, 9, 0, 22);
    KT_TRUE(grow(r, d, 4));
    KT_USAGE(r, 13, 0, 18);
    KT_TRUE(grow(r, d + 4 * ps, 18));
    KT_USAGE(r, 31, 0, 0);
    unmap(r, e, 31);
    SUB_CLOSE(env, r);
}

/* ---------------------------------------------------------------- sbrk */

static void region_sbrk_basic(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    char *base = page(r, ps, 1);

    KT_PTR_EQ(base, kheap_region_sbrk(r, 0));
    KT_USAGE(r, 0, 0, 31);
    KT_PTR_EQ(base, kheap_region_sbrk(r, 10));
    KT_PTR_EQ(base + 10, kheap_region_sbrk(r, 0));
    KT_USAGE(r, 0, 1, 30);
    /* Contiguous: each call returns the previous end. */
    KT_PTR_EQ(base + 10, kheap_region_sbrk(r, 100));
    KT_PTR_EQ(base + 110, kheap_region_sbrk(r, 18));
    KT_PTR_EQ(base + 128, kheap_region_sbrk(r, 0));
    KT_USAGE(r, 0, 1, 30);                      /* exactly one page */
    KT_PTR_EQ(base + 128, kheap_region_sbrk(r, 1));
    KT_USAGE(r, 0, 2, 29);
    ktest_fill(base, 129, 31);
    KT_TRUE(ktest_verify(base, 129, 31));

    /* Back down, by a negative increment. */
    KT_PTR_EQ(base + 129, kheap_region_sbrk(r, -29));
    KT_USAGE(r, 0, 1, 30);
    KT_PTR_EQ(base + 100, kheap_region_sbrk(r, -100));
    KT_PTR_EQ(base, kheap_region_sbrk(r, 0));
    KT_USAGE(r, 0, 0, 31);

    /* Not below the start; nothing changes on failure. */
    kheap_region_usage before = usage_of(r);
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, -1));
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, INTPTR_MIN));
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, INTPTR_MAX));
    KT_PTR_EQ(base, kheap_region_sbrk(r, 0));
    KT_SAME_USAGE(before, r);
    KT_PTR_EQ(base, kheap_region_sbrk(r, 50));
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, -51));
    KT_PTR_EQ(base + 50, kheap_region_sbrk(r, 0));
    KT_USAGE(r, 0, 1, 30);
    KT_PTR_EQ(base + 50, kheap_region_sbrk(r, -50));
    KT_PTR_EQ(base, kheap_region_sbrk(r, 0));
    SUB_CLOSE(env, r);
}

static void region_sbrk_meets_mapped(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    char *base = page(r, ps, 1);
    char *end = page(r, ps, 32);

    void *a = map(r, 1);
    char *b = map(r, 2);
    KT_PTR_EQ(page(r, ps, 31), a);
    KT_PTR_EQ(page(r, ps, 29), b);
    KT_REQUIRE(b != NULL);
    unmap(r, b + ps, 1);                        /* page 30 free again */
    KT_USAGE(r, 2, 0, 28);

    /* Up to the lowest mapped page exactly, and not a byte further. */
    KT_PTR_EQ(base, kheap_region_sbrk(r, 28 * 128));
    KT_PTR_EQ(b, kheap_region_sbrk(r, 0));
    KT_USAGE(r, 2, 28, 1);
    kheap_region_usage before = usage_of(r);
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, 1));
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, 3 * 128));
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, INTPTR_MAX));
    KT_PTR_EQ(b, kheap_region_sbrk(r, 0));
    KT_SAME_USAGE(before, r);

    /* The page above the break is still map()'s; then nothing is left. */
    KT_PTR_EQ(b + ps, map(r, 1));
    KT_USAGE(r, 3, 28, 0);
    before = usage_of(r);
    KT_NULL(map(r, 1));
    KT_SAME_USAGE(before, r);

    /* With the runs back, the break reaches the region's end and stops. */
    unmap(r, b, 3);                             /* pages 29..31: b and a */
    KT_USAGE(r, 0, 28, 3);
    KT_PTR_EQ(b, kheap_region_sbrk(r, 3 * 128));
    KT_PTR_EQ(end, kheap_region_sbrk(r, 0));
    KT_USAGE(r, 0, 31, 0);
    before = usage_of(r);
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, 1));
    KT_NULL(map(r, 1));
    KT_PTR_EQ(end, kheap_region_sbrk(r, 0));
    KT_SAME_USAGE(before, r);

    KT_PTR_EQ(end, kheap_region_sbrk(r, -(intptr_t)(31 * 128)));
    KT_PTR_EQ(base, kheap_region_sbrk(r, 0));
    SUB_CLOSE(env, r);
}

static void region_map_above_break(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    char *base = page(r, ps, 1);

    /* One byte into page 11: pages 1..11 are the break's. */
    KT_PTR_EQ(base, kheap_region_sbrk(r, 10 * 128 + 1));
    KT_USAGE(r, 0, 11, 20);
    kheap_region_usage before = usage_of(r);
    KT_NULL(map(r, 21));
    KT_SAME_USAGE(before, r);
    void *x = map(r, 20);
    KT_PTR_EQ(page(r, ps, 12), x);
    KT_USAGE(r, 20, 11, 0);
    KT_NULL(map(r, 1));
    unmap(r, x, 20);
    KT_USAGE(r, 0, 11, 20);

    /* Shrinking the break hands its pages back to map(). */
    KT_PTR_EQ(base + 10 * 128 + 1, kheap_region_sbrk(r, -(5 * 128)));
    KT_USAGE(r, 0, 6, 25);
    x = map(r, 25);
    KT_PTR_EQ(page(r, ps, 7), x);
    KT_USAGE(r, 25, 6, 0);
    unmap(r, x, 25);

    KT_PTR_EQ(base + 5 * 128 + 1, kheap_region_sbrk(r, -(5 * 128 + 1)));
    KT_USAGE(r, 0, 0, 31);
    SUB_CLOSE(env, r);
}

/* ---------------------------------------------------------------- model */

/* A straightforward model of the contract, driven through random calls:
 * every address and every usage field must match it. */
#define MODEL_PS 64u
#define MODEL_PAGES 64u
#define MODEL_META 3u

typedef struct model {
    bool mapped[MODEL_PAGES];
    uintptr_t brk;           /* bytes above the break's start */
} model;

static size_t model_floor(const model *md)
{
    return MODEL_META + (size_t)((md->brk + MODEL_PS - 1) / MODEL_PS);
}

static bool model_all(const model *md, size_t first, size_t n, bool mapped)
{
    for (size_t i = first; i < first + n; i++)
        if (md->mapped[i] != mapped)
            return false;
    return true;
}

static void model_set(model *md, size_t first, size_t n, bool mapped)
{
    for (size_t i = first; i < first + n; i++)
        md->mapped[i] = mapped;
}

static size_t model_map(const model *md, size_t n)
{
    size_t floor = model_floor(md);
    for (size_t first = MODEL_PAGES - n + 1; first-- > floor;)
        if (model_all(md, first, n, false))
            return first;
    return 0;
}

static void model_expect(const kheap_region *r, const model *md, const char *file, int line)
{
    size_t mapped = 0, largest = 0, run = 0;
    for (size_t i = model_floor(md); i < MODEL_PAGES; i++) {
        mapped += md->mapped[i];
        run = md->mapped[i] ? 0 : run + 1;
        largest = run > largest ? run : largest;
    }
    expect_usage_at(r, mapped, model_floor(md) - MODEL_META, largest, file, line);
}

static void model_step(kheap_region *r, model *md, uint32_t *rng)
{
    uint32_t x = ktest_rand(rng);
    size_t n = 1 + (x >> 8) % 6;
    size_t at = MODEL_META + (x >> 16) % (MODEL_PAGES - MODEL_META);
    switch (x % 4) {
    case 0: {
        size_t first = model_map(md, n);
        void *got = map(r, n);
        KT_PTR_EQ(first != 0 ? page(r, MODEL_PS, first) : NULL, got);
        if (first != 0)
            model_set(md, first, n, true);
        break;
    }
    case 1: {
        bool ok = at + n <= MODEL_PAGES && model_all(md, at, n, true);
        unmap(r, page(r, MODEL_PS, at), n);
        if (ok)
            model_set(md, at, n, false);
        break;
    }
    case 2: {
        bool ok = md->mapped[at] && at + 1 + n <= MODEL_PAGES &&
                  model_all(md, at + 1, n, false);
        KT_EQ(ok, grow(r, page(r, MODEL_PS, at + 1), n));
        if (ok)
            model_set(md, at + 1, n, true);
        break;
    }
    default: {
        intptr_t incr = (intptr_t)((x >> 8) % 601) - 300;
        char *old = page(r, MODEL_PS, MODEL_META) + md->brk;
        model next = *md;
        bool ok;
        if (incr < 0) {
            ok = (uintptr_t)-incr <= md->brk;
        } else {
            next.brk += (uintptr_t)incr;
            ok = next.brk <= (MODEL_PAGES - MODEL_META) * MODEL_PS &&
                 model_all(md, model_floor(md), model_floor(&next) - model_floor(md), false);
        }
        KT_PTR_EQ(ok ? old : SBRK_FAIL, kheap_region_sbrk(r, incr));
        if (ok)
            md->brk += (uintptr_t)incr;
        KT_PTR_EQ(page(r, MODEL_PS, MODEL_META) + md->brk, kheap_region_sbrk(r, 0));
        break;
    }
    }
    model_expect(r, md, __FILE__, __LINE__);
}

static void region_model_random(const ktest_env *env)
{
    kheap_region *r = sub_open(env, MODEL_PS);
    KT_REQUIRE(r != NULL);
    KT_EQ(MODEL_META, usage_of(r).pages_meta);
    model md = { { false }, 0 };
    uint32_t rng = 0x5eed1234u;
    for (unsigned step = 0; step < 4000 && !ktest_case_failed(); step++)
        model_step(r, &md, &rng);

    for (size_t i = 0; i < MODEL_PAGES; i++)
        if (md.mapped[i])
            unmap(r, page(r, MODEL_PS, i), 1);
    kheap_region_sbrk(r, -(intptr_t)md.brk);
    SUB_CLOSE(env, r);
}

/* ---------------------------------------------------------------- host */

/* The mmap provider, where there is one (its ctx is a host_provider_state):
 * alignment, counts, grow in place and an injected failure. */
#ifdef KTEST_HOST
static void region_os_provider(const ktest_env *env)
{
    KT_REQUIRE(env->os_provider != NULL);
    kheap_provider p = *env->os_provider;
    host_provider_state *st = p.ctx;
    host_provider_state before = *st;
    size_t ps = p.page_size;
    KT_TRUE(ps >= 64 && (ps & (ps - 1)) == 0);

    char *x = p.map(p.ctx, 3);
    KT_REQUIRE(x != NULL);
    KT_ALIGNED(x, ps);
    KT_TRUE(p.owns != NULL);
    KT_TRUE(owns(&p, x) && owns(&p, x + 2 * ps + ps - 1));
    KT_FALSE(owns(&p, x + 3 * ps));
    KT_FALSE(owns(&p, x - 1));
    KT_FALSE(owns(&p, &before));
    KT_FALSE(owns(&p, NULL));
    KT_EQ(before.os.maps + 1, st->os.maps);
    KT_EQ(before.os.pages_mapped + 3, st->os.pages_mapped);
    ktest_fill(x, 3 * ps, 41);

    p.unmap(p.ctx, x + 2 * ps, 1);
    KT_EQ(before.os.unmaps + 1, st->os.unmaps);
    KT_EQ(before.os.pages_mapped + 2, st->os.pages_mapped);
    KT_FALSE(owns(&p, x + 2 * ps));
    KT_TRUE(owns(&p, x + 2 * ps - 1));
    /* Not all held: refused whole, the held page stays mapped. */
    p.unmap(p.ctx, x + ps, 2);
    KT_EQ(before.os.refused + 1, st->os.refused);
    KT_EQ(before.os.unmaps + 1, st->os.unmaps);
    KT_TRUE(owns(&p, x + ps));
    KT_TRUE(p.grow(p.ctx, x + 2 * ps, 1));
    KT_EQ(before.os.pages_mapped + 3, st->os.pages_mapped);
    KT_TRUE(owns(&p, x + 2 * ps));
    KT_TRUE(ktest_verify(x, 2 * ps, 41));
    KT_TRUE(ktest_all_bytes(x + 2 * ps, ps, 0));

    size_t saved_fail_at = st->fail_at;
    st->fail_at = st->calls + 1;
    KT_NULL(p.map(p.ctx, 1));
    st->fail_at = st->calls + 1;
    KT_FALSE(p.grow(p.ctx, x + 3 * ps, 1));
    st->fail_at = saved_fail_at;
    KT_EQ(before.calls + 4, st->calls);
    KT_EQ(before.os.maps + 1, st->os.maps);

    p.unmap(p.ctx, x, 3);
    KT_EQ(before.os.unmaps + 2, st->os.unmaps);
    KT_EQ(before.os.pages_mapped, st->os.pages_mapped);
    KT_FALSE(owns(&p, x) || owns(&p, x + ps) || owns(&p, x + 2 * ps));
    /* A second unmap of the same pages is refused, not passed to munmap. */
    p.unmap(p.ctx, x, 3);
    KT_EQ(before.os.refused + 2, st->os.refused);
    KT_EQ(before.os.unmaps + 2, st->os.unmaps);
}
#endif

/* ---------------------------------------------------------------- page kinds */

static void region_page_kinds(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    size_t pages = usage_of(r).pages_total;
    KT_EQ('R', kheap_region_page_kind(r, 0));
    KT_EQ('F', kheap_region_page_kind(r, 1));
    KT_EQ('?', kheap_region_page_kind(r, pages));
    KT_EQ('?', kheap_region_page_kind(NULL, 0));
    void *top = map(r, 2);
    KT_PTR_EQ(page(r, ps, pages - 2), top);
    KT_PTR_EQ(page(r, ps, 1), kheap_region_sbrk(r, (intptr_t)ps + 1));
    /* The break touches pages 1 and 2; the run holds the last two. */
    KT_EQ('B', kheap_region_page_kind(r, 1));
    KT_EQ('B', kheap_region_page_kind(r, 2));
    KT_EQ('F', kheap_region_page_kind(r, 3));
    KT_EQ('F', kheap_region_page_kind(r, pages - 3));
    KT_EQ('M', kheap_region_page_kind(r, pages - 2));
    KT_EQ('M', kheap_region_page_kind(r, pages - 1));
    unmap(r, top, 2);
    KT_PTR_EQ(page(r, ps, 2) + 1, kheap_region_sbrk(r, -(intptr_t)ps - 1));
    KT_EQ('F', kheap_region_page_kind(r, pages - 1));
    KT_EQ('F', kheap_region_page_kind(r, 1));
    SUB_CLOSE(env, r);
}


/* ---------------------------------------------------------------- clients */

/* Two clients of one region: each owns its own pages only, and neither can
 * give back or grow into the other's. */
static void region_clients_own(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    kheap_provider x = kheap_region_provider(r), y = kheap_region_provider(r);
    KT_REQUIRE(x.owns != NULL && y.owns != NULL);
    KT_TRUE(x.ctx != y.ctx && x.ctx != helper_client.ctx);
    KT_EQ(3, usage_of(r).clients);

    char *a = x.map(x.ctx, 2);                  /* pages 30, 31 */
    char *b = y.map(y.ctx, 1);                  /* page 29 */
    KT_PTR_EQ(page(r, ps, 30), a);
    KT_PTR_EQ(page(r, ps, 29), b);
    KT_REQUIRE(a != NULL && b != NULL);
    KT_TRUE(owns(&x, a) && owns(&x, a + ps) && owns(&x, a + 2 * ps - 1));
    KT_FALSE(owns(&y, a) || owns(&y, a + ps));
    KT_TRUE(owns(&y, b) && owns(&y, b + ps - 1));
    KT_FALSE(owns(&x, b));
    KT_FALSE(owns(&helper_client, a) || owns(&helper_client, b));
    /* Not held by anyone: meta, free, break, outside the region. */
    KT_PTR_EQ(page(r, ps, 1), kheap_region_sbrk(r, 10));
    for (size_t i = 0; i < 29; i++)
        KT_FALSE(owns(&x, page(r, ps, i)) || owns(&y, page(r, ps, i)));
    KT_FALSE(owns(&x, (char *)r - 1) || owns(&x, page(r, ps, 32)) || owns(&x, NULL));
    KT_EQ('M', kheap_region_page_kind(r, 29));
    KT_EQ('M', kheap_region_page_kind(r, 30));

    /* y cannot give back x's pages, wholly or in part; nothing changes. */
    kheap_region_usage before = usage_of(r);
    y.unmap(y.ctx, a, 2);
    y.unmap(y.ctx, a + ps, 1);
    y.unmap(y.ctx, b, 2);                       /* its own page and one of x's */
    x.unmap(x.ctx, b, 1);
    KT_SAME_USAGE(before, r);
    KT_TRUE(owns(&x, a) && owns(&x, a + ps) && owns(&y, b));

    /* grow needs the page before the new ones held by the same client. */
    y.unmap(y.ctx, b, 1);                       /* page 29 free again */
    char *c = y.map(y.ctx, 1);                  /* page 29 again */
    KT_PTR_EQ(b, c);
    y.unmap(y.ctx, c, 1);
    c = y.map(y.ctx, 2);                        /* pages 28, 29 */
    KT_PTR_EQ(page(r, ps, 28), c);
    y.unmap(y.ctx, c + ps, 1);                  /* page 29 free */
    before = usage_of(r);
    KT_FALSE(x.grow(x.ctx, c + ps, 1));         /* after y's page 28 */
    KT_SAME_USAGE(before, r);
    KT_FALSE(owns(&x, c + ps) || owns(&y, c + ps));
    KT_TRUE(y.grow(y.ctx, c + ps, 1));
    KT_TRUE(owns(&y, c + ps));
    KT_FALSE(owns(&x, c + ps));
    before = usage_of(r);
    KT_FALSE(y.grow(y.ctx, c + 2 * ps, 1));     /* page 30 is x's */
    KT_SAME_USAGE(before, r);
    KT_TRUE(owns(&x, c + 2 * ps));

    /* The break is everyone's limit: it stops at the lowest held page,
     * whoever holds it. */
    KT_PTR_EQ(SBRK_FAIL, kheap_region_sbrk(r, (intptr_t)(27 * ps)));
    KT_PTR_EQ(page(r, ps, 1) + 10, kheap_region_sbrk(r, (intptr_t)(27 * ps - 10)));
    KT_PTR_EQ(c, kheap_region_sbrk(r, 0));
    KT_FALSE(owns(&y, c - 1));

    y.unmap(y.ctx, c, 2);
    x.unmap(x.ctx, a, 2);
    KT_FALSE(owns(&x, a) || owns(&y, c));
    KT_PTR_EQ(c, kheap_region_sbrk(r, -(intptr_t)(27 * ps)));
    KT_TRUE(kheap_region_provider_release(&x));
    KT_TRUE(kheap_region_provider_release(&y));
    SUB_CLOSE(env, r);
}

/* The double free on two instances, at the provider: client x's
 * pages go back and client y maps them; x's view of them is "not mine",
 * and x's second unmap is refused, leaving y's run alone. */
static void region_clients_reuse(const ktest_env *env)
{
    const size_t ps = 256;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    kheap_provider x = kheap_region_provider(r), y = kheap_region_provider(r);
    char *a = x.map(x.ctx, 3);
    KT_REQUIRE(a != NULL);
    x.unmap(x.ctx, a, 3);
    KT_FALSE(owns(&x, a));
    char *b = y.map(y.ctx, 3);
    KT_PTR_EQ(a, b);
    KT_FALSE(owns(&x, a) || owns(&x, a + ps) || owns(&x, a + 2 * ps));
    KT_TRUE(owns(&y, a) && owns(&y, a + 2 * ps));
    x.unmap(x.ctx, a, 3);
    x.unmap(x.ctx, a + ps, 1);
    KT_USAGE(r, 3, 0, 12);
    KT_TRUE(owns(&y, a) && owns(&y, a + ps) && owns(&y, a + 2 * ps));
    /* Freed, the pages are nobody's until mapped again. */
    y.unmap(y.ctx, b, 3);
    KT_FALSE(owns(&x, a) || owns(&y, a));
    KT_TRUE(kheap_region_provider_release(&x));
    KT_TRUE(kheap_region_provider_release(&y));
    SUB_CLOSE(env, r);
}

static kheap_provider client_at(void *ctx)
{
    kheap_provider p = helper_client;
    p.ctx = ctx;
    return p;
}

/* KHEAP_REGION_CLIENTS live at once; one more is refused with a provider
 * kheap cannot use, and releasing makes room again. */
static void region_clients_limit(const ktest_env *env)
{
    const size_t ps = 256;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    /* Every client of a region has the same functions: keep the ctx
     * alone (a small board has no room for 63 whole providers). */
    static void *ctx[KHEAP_REGION_CLIENTS];
    ctx[0] = helper_client.ctx;
    for (size_t i = 1; i < KHEAP_REGION_CLIENTS; i++) {
        kheap_provider q = kheap_region_provider(r);
        KT_EQ(ps, q.page_size);
        KT_TRUE(q.map == helper_client.map && q.owns == helper_client.owns);
        ctx[i] = q.ctx;
        for (size_t j = 0; j < i; j++)
            if (ctx[j] == ctx[i])
                ktest_fail_u(__FILE__, __LINE__, "ctx shared with client", j, i);
    }
#define CLIENT(i) client_at(ctx[(i)])
    KT_EQ(KHEAP_REGION_CLIENTS, usage_of(r).clients);
    kheap_provider none = kheap_region_provider(r);
    KT_EQ(0, none.page_size);
    KT_TRUE(none.ctx == NULL && none.map == NULL && none.unmap == NULL && none.grow == NULL &&
            none.owns == NULL);
    KT_FALSE(kheap_region_provider_release(&none));
    kheap_config c = { .provider = none };
    KT_NULL(kheap_create(&c));
    KT_EQ(KHEAP_REGION_CLIENTS, usage_of(r).clients);

    /* The last client maps and owns like the first. */
    kheap_provider last_p = CLIENT(KHEAP_REGION_CLIENTS - 1), one = CLIENT(1);
    kheap_provider *last = &last_p;
    char *a = last->map(last->ctx, 1);
    KT_PTR_EQ(page(r, ps, 15), a);
    KT_TRUE(owns(last, a));
    for (size_t i = 0; i + 1 < KHEAP_REGION_CLIENTS; i++) {
        kheap_provider q = CLIENT(i);
        KT_FALSE(owns(&q, a));
    }
    /* Not while it holds a page; then yes, once. */
    KT_FALSE(kheap_region_provider_release(last));
    last->unmap(last->ctx, a, 1);
    KT_TRUE(kheap_region_provider_release(last));
    KT_FALSE(kheap_region_provider_release(last));
    KT_EQ(KHEAP_REGION_CLIENTS - 1, usage_of(r).clients);
    /* A released client's calls are refused. */
    KT_NULL(last->map(last->ctx, 1));
    KT_FALSE(owns(last, a));
    kheap_region_usage before = usage_of(r);
    a = one.map(one.ctx, 1);
    KT_FALSE(last->grow(last->ctx, a, 1));
    last->unmap(last->ctx, a, 1);
    KT_TRUE(owns(&one, a));
    one.unmap(one.ctx, a, 1);
    KT_SAME_USAGE(before, r);
    /* Its id serves the next client. */
    kheap_provider again = kheap_region_provider(r);
    KT_PTR_EQ(last->ctx, again.ctx);
    for (size_t i = 1; i + 1 < KHEAP_REGION_CLIENTS; i++) {
        kheap_provider q = CLIENT(i);
        KT_TRUE(kheap_region_provider_release(&q));
    }
#undef CLIENT
    KT_TRUE(kheap_region_provider_release(&again));
    KT_EQ(1, usage_of(r).clients);
    SUB_CLOSE(env, r);
}

/* ---------------------------------------------------------------- lock */

typedef struct region_lock_log {
    size_t locks, unlocks, depth, bad;
} region_lock_log;

static uintptr_t log_lock(void *ctx)
{
    region_lock_log *l = ctx;
    l->locks++;
    return l->depth++;
}

static void log_unlock(void *ctx, uintptr_t saved)
{
    region_lock_log *l = ctx;
    l->unlocks++;
    if (l->depth == 0 || saved != l->depth - 1)
        l->bad++;
    if (l->depth > 0)
        l->depth--;
}

/* Every call on the page map and break takes the region's hooks once
 * (failed ones too, when they get as far as the region); owns() never. */
static void region_lock_hooks(const ktest_env *env)
{
    const size_t ps = 128;
    kheap_region *r = sub_open(env, ps);
    KT_REQUIRE(r != NULL);
    region_lock_log l = { 0 };
    KT_FALSE(kheap_region_set_lock(r, log_lock, NULL, &l));
    KT_FALSE(kheap_region_set_lock(r, NULL, log_unlock, &l));
    KT_FALSE(kheap_region_set_lock(NULL, log_lock, log_unlock, &l));
    KT_TRUE(kheap_region_set_lock(r, log_lock, log_unlock, &l));
    KT_EQ(0, l.locks);

    kheap_provider p = kheap_region_provider(r);
    KT_EQ(1, l.locks);
    char *a = p.map(p.ctx, 2);
    KT_EQ(2, l.locks);
    KT_NULL(p.map(p.ctx, 100));
    KT_EQ(3, l.locks);
    KT_TRUE(p.grow(p.ctx, a - ps, 0) == false);  /* refused before the lock */
    KT_EQ(3, l.locks);
    p.unmap(p.ctx, a, 1);
    KT_EQ(4, l.locks);
    KT_TRUE(p.grow(p.ctx, a + ps, 0) == false);
    KT_TRUE(owns(&p, a + ps) && !owns(&p, a));
    KT_EQ(4, l.locks);
    KT_PTR_EQ(page(r, ps, 1), kheap_region_sbrk(r, 1));
    KT_EQ(5, l.locks);
    KT_EQ(1, usage_of(r).pages_brk);
    KT_EQ(6, l.locks);
    KT_EQ('B', kheap_region_page_kind(r, 1));
    KT_EQ(7, l.locks);
    p.unmap(p.ctx, a + ps, 1);
    KT_TRUE(kheap_region_provider_release(&p));
    KT_EQ(9, l.locks);
    KT_PTR_EQ(page(r, ps, 1) + 1, kheap_region_sbrk(r, -1));
    KT_EQ(l.locks, l.unlocks);
    KT_EQ(0, l.depth);
    KT_EQ(0, l.bad);

    /* Taken inside a caller's own hold of the same hooks: they nest. */
    uintptr_t outer = log_lock(&l);
    a = map(r, 1);
    KT_EQ(1, l.depth);
    unmap(r, a, 1);
    log_unlock(&l, outer);
    KT_EQ(0, l.bad);
    KT_EQ(0, l.depth);

    KT_TRUE(kheap_region_set_lock(r, NULL, NULL, NULL));
    size_t locks = l.locks;
    usage_of(r);
    KT_EQ(locks, l.locks);
    SUB_CLOSE(env, r);
}

/* ---------------------------------------------------------------- guard */

/* The host's guard provider: pages given back fault on access, map and
 * grow make them usable again, and a kheap over it releases a large
 * block's heap so that the dangling pointer faults. */
#ifdef KTEST_HOST
static void region_guard_provider(const ktest_env *env)
{
    KT_REQUIRE(env->guard_provider != NULL && env->read_faults != NULL);
    kheap_provider p = *env->guard_provider;
    guard_provider_state *st = p.ctx;
    size_t ps = p.page_size, protected_before = st->protected_pages;
    KT_TRUE(p.owns != NULL && p.grow != NULL);

    char *x = p.map(p.ctx, 3);
    KT_REQUIRE(x != NULL);
    KT_ALIGNED(x, ps);
    ktest_fill(x, 3 * ps, 51);
    KT_FALSE(env->read_faults(x) || env->read_faults(x + 3 * ps - 1));
    KT_TRUE(owns(&p, x + 2 * ps));
    p.unmap(p.ctx, x + 2 * ps, 1);
    KT_EQ(protected_before + 1, st->protected_pages);
    KT_TRUE(env->read_faults(x + 2 * ps));
    KT_FALSE(owns(&p, x + 2 * ps));
    KT_FALSE(env->read_faults(x + 2 * ps - 1));
    /* A refused unmap protects nothing. */
    p.unmap(p.ctx, x + ps, 2);
    KT_EQ(protected_before + 1, st->protected_pages);
    KT_FALSE(env->read_faults(x + ps));
    KT_TRUE(p.grow(p.ctx, x + 2 * ps, 1));
    KT_FALSE(env->read_faults(x + 2 * ps));
    ktest_fill(x + 2 * ps, ps, 52);
    KT_TRUE(ktest_verify(x, 2 * ps, 51));
    KT_TRUE(ktest_verify(x + 2 * ps, ps, 52));
    p.unmap(p.ctx, x, 3);
    KT_TRUE(env->read_faults(x) && env->read_faults(x + ps) && env->read_faults(x + 2 * ps));
    KT_EQ(protected_before + 4, st->protected_pages);

    /* kheap over it: a large block's heap goes back on free. */
    kheap_config c = { .provider = p, .large_threshold = 4 * ps };
    kheap *h = kheap_create(&c);
    KT_REQUIRE(h != NULL);
    char *big = kheap_alloc(h, 8 * ps);
    KT_REQUIRE(big != NULL);
    ktest_fill(big, 8 * ps, 53);
    KT_TRUE(owns(&p, big) && owns(&p, big + 8 * ps - 1));
    kheap_free(h, big);
    KT_FALSE(owns(&p, big));
    KT_TRUE(env->read_faults(big));
    /* A mixed load: anything kheap touches after giving it back faults
     * and kills the suite. */
    void *slot[64] = { 0 };
    uint32_t rng = 0x6a11d;
    for (unsigned i = 0; i < 20000; i++) {
        uint32_t v = ktest_rand(&rng);
        void **s = &slot[v % 64];
        if (*s != NULL) {
            kheap_free(h, *s);
            *s = NULL;
        } else {
            size_t n = (v >> 8) % 8 == 0 ? (v >> 12) % (16 * ps) : (v >> 12) % 300;
            *s = kheap_alloc(h, n);
            KT_TRUE(*s != NULL);
            if (*s != NULL)
                ktest_fill(*s, n, v);
        }
    }
    const char *why = NULL;
    KT_TRUE(kheap_check(h, &why));
    for (unsigned i = 0; i < 64; i++)
        kheap_free(h, slot[i]);
    kheap_destroy(h);
    KT_TRUE(st->protected_pages > protected_before + 4 + 8);
}
#endif

static const ktest_case cases[] = {
    { "region_init_rejects", region_init_rejects },
    { "region_init_rounds_inward", region_init_rounds_inward },
    { "region_meta_pages", region_meta_pages },
    { "region_map_top_down", region_map_top_down },
    { "region_map_too_big", region_map_too_big },
    { "region_map_word_edges", region_map_word_edges },
    { "region_unmap_reuse", region_unmap_reuse },
    { "region_unmap_subrun", region_unmap_subrun },
    { "region_unmap_invalid_ignored", region_unmap_invalid_ignored },
    { "region_grow", region_grow },
    { "region_sbrk_basic", region_sbrk_basic },
    { "region_sbrk_meets_mapped", region_sbrk_meets_mapped },
    { "region_map_above_break", region_map_above_break },
    { "region_model_random", region_model_random },
#ifdef KTEST_HOST  /* no mmap on target: these cases are not registered there */
    { "region_os_provider", region_os_provider },
#endif
    { "region_page_kinds", region_page_kinds },
    { "region_clients_own", region_clients_own },
    { "region_clients_reuse", region_clients_reuse },
    { "region_clients_limit", region_clients_limit },
    { "region_lock_hooks", region_lock_hooks },
#ifdef KTEST_HOST
    { "region_guard_provider", region_guard_provider },
#endif
};

const ktest_group tests_region = { cases, sizeof cases / sizeof cases[0] };
