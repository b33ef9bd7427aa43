/*
 * The public API against the contracts in alloc/kheap.h.  Each case takes a
 * sub-region of env->region of its own, so a case that breaks its heap
 * leaves the others a clean slate, and every page goes back at the end.
 *
 * Sizes scale with the room a board has: the host runs them as written,
 * a 16 KiB board runs the largest version that fits.
 */
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../alloc/kheap.h"
#include "../alloc/region.h"
#include "ktest.h"
#include "test_support.h"

#define KIB ((size_t)1024)
#define MAXP 32

/* The panic hook's messages, spelled out here so a changed one shows. */
#define M_DOUBLE_FREE "double free"
#define M_GIVEN_BACK "double free: its heap was given back"
#define M_GONE "not in a page the instance holds: a double free after its heap went back?"
#define M_HEADER_CHECK "header check failed: double free, or a write over the header"
#define M_NOT_A_BLOCK "not a block (interior pointer or bad header)"
#define M_MISALIGNED "misaligned pointer"
#define M_FOREIGN "foreign pointer: outside every heap"
/* Where the basic tier reads a header, the full tier's check word on it
 * speaks first. */
#define M_CHECKED(basic) (KHEAP_HARDEN ? M_HEADER_CHECK : (basic))

static const kt_opts STD = { .bytes = 512 * KIB };
static const kt_opts WRAPPED = { .bytes = 512 * KIB, .wrap = true };
static const kt_opts LOCKED = { .bytes = 512 * KIB, .locks = true };

/* want, or the share of the room a case may use for one block if less. */
static size_t fit(const kt_heap *t, size_t want, size_t share)
{
    size_t cap = t->room / share;
    if (cap < 1)
        cap = 1;
    return want < cap ? want : cap;
}


/* A call that had to be refused: it answered NULL, only stats.failed moved
 * (by one), and the instance is consistent; reported at the caller's line. */
static void refused_at(kheap *h, const kheap_stats *before, const void *got,
                       const char *file, int line)
{
    if (got != NULL)
        ktest_fail_x(file, line, "result of a call that must be refused", 0, (uintptr_t)got);
    kheap_stats after = kt_stats(h);
    kt_expect_same_stats_at(before, &after, 1, file, line);
    kt_check_at(h, file, line);
}
#define KT_REFUSED(h, before, got) refused_at((h), (before), (got), __FILE__, __LINE__)

/* What a walk saw of the blocks a case holds. */
typedef struct walk_log {
    void *const *ptrs;
    const size_t *usable;
    size_t n;
    unsigned seen[MAXP];
    size_t in_use, free_blocks, visits;
    size_t stray;        /* in-use blocks the case does not hold */
    size_t wrong_size;   /* held blocks reported with a size != usable size */
    size_t not_in_use;   /* held blocks reported as free */
    size_t bad_heap;     /* blocks whose heap start is NULL or above the payload */
    size_t stop_after;   /* 0: never stop */
    const kt_lock_log *lock;
    size_t unlocked_visits;
} walk_log;

static bool walk_record(void *ctx, const kheap_block_info *b)
{
    walk_log *w = ctx;
    w->visits++;
    if (w->lock != NULL && w->lock->depth == 0)
        w->unlocked_visits++;
    if (b->heap == NULL || (const char *)b->heap >= (const char *)b->ptr)
        w->bad_heap++;
    if (b->in_use)
        w->in_use++;
    else
        w->free_blocks++;
    bool held = false;
    for (size_t i = 0; i < w->n; i++) {
        if (w->ptrs[i] != b->ptr)
            continue;
        held = true;
        w->seen[i]++;
        if (!b->in_use)
            w->not_in_use++;
        if (b->size != w->usable[i])
            w->wrong_size++;
    }
    if (b->in_use && !held)
        w->stray++;
    return w->stop_after == 0 || w->visits < w->stop_after;
}

static void walk_init(walk_log *w, void *const *ptrs, const size_t *usable, size_t n)
{
    *w = (walk_log){0};
    w->ptrs = ptrs;
    w->usable = usable;
    w->n = n;
}

static void expect_rejected(kt_heap *t, const kheap_config *c)
{
    kheap *h = kheap_create(c);
    KT_NULL(h);
    if (h != NULL)
        kheap_destroy(h);
    KT_EQ(0, kt_mapped(t));
}

/* ---------------------------------------------------------------- create */

static void t_create_null_config(const ktest_env *env)
{
    (void)env;
    KT_NULL(kheap_create(NULL));
}

static void t_create_no_map_unmap(const ktest_env *env)
{
    kt_heap t;
    if (!kt_prepare(&t, env, &STD))
        return;
    kheap_config c = t.config;
    c.provider.map = NULL;
    expect_rejected(&t, &c);
    c = t.config;
    c.provider.unmap = NULL;
    expect_rejected(&t, &c);
    c.provider.map = NULL;
    expect_rejected(&t, &c);
    kt_close(&t, env);
}

static void t_create_one_lock_hook(const ktest_env *env)
{
    kt_heap t;
    if (!kt_prepare(&t, env, &STD))
        return;
    kheap_config c = t.config;
    c.lock = kt_lock_count;
    c.lock_ctx = &t.lock;
    expect_rejected(&t, &c);
    c = t.config;
    c.unlock = kt_unlock_count;
    c.lock_ctx = &t.lock;
    expect_rejected(&t, &c);
    kt_close(&t, env);
}

/* Both hooks: an instance where the profile calls them, refused (NULL,
 * nothing mapped) where it has no lock hooks (lean), for kheap_create and
 * kheap_create_in alike: an instance that silently ran unlocked would
 * break the caller's threads. */
static void t_create_lock_hooks_per_profile(const ktest_env *env)
{
    /* The buffer first: kt_prepare takes most of a small board's region. */
    size_t bytes = 4 * env->region_provider->page_size;
    void *buffer = kt_scratch_get(env, bytes);
    KT_REQUIRE(buffer != NULL);
    kt_heap t;
    if (!kt_prepare(&t, env, &STD)) {
        kt_scratch_put(env, buffer, bytes);
        return;
    }
    kheap_config c = t.config;
    c.lock = kt_lock_count;
    c.unlock = kt_unlock_count;
    c.lock_ctx = &t.lock;
    kheap *h = kheap_create(&c);
    KT_EQ(KHEAP_LOCKS, h != NULL);
    kheap_destroy(h);
    KT_EQ(0, kt_mapped(&t));
    kheap_config fixed = {0};
    fixed.lock = c.lock;
    fixed.unlock = c.unlock;
    fixed.lock_ctx = c.lock_ctx;
    KT_EQ(KHEAP_LOCKS, kheap_create_in(buffer, bytes, &fixed) != NULL);
    kt_close(&t, env);
    kt_scratch_put(env, buffer, bytes);
}

static void t_create_bad_page_size(const ktest_env *env)
{
    kt_heap t;
    if (!kt_prepare(&t, env, &STD))
        return;
    const size_t bad[] = { 0, 1, 2, 32, 48, 63, 96, 100, 192, 3 * t.page_size,
                           t.page_size + 1, t.page_size - 1, SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kheap_config c = t.config;
        c.provider.page_size = bad[i];
        expect_rejected(&t, &c);
    }
    kt_close(&t, env);
}

static void t_create_no_pages(const ktest_env *env)
{
    kt_heap t;
    if (!kt_prepare(&t, env, &WRAPPED))
        return;
    t.fail.fail_all = true;
    expect_rejected(&t, &t.config);
    KT_EQ(0, t.fail.pages_out);

    /* The same with a real region that has nothing left to map. */
    kheap_region_usage u;
    kheap_region_usage_get(t.sub, &u);
    void *all = t.region_provider.map(t.region_provider.ctx, u.largest_free_run);
    KT_NONNULL(all);
    kheap_region_usage_get(t.sub, &u);
    KT_EQ(0, u.largest_free_run);
    kheap_config c = t.config;
    c.provider = t.region_provider;
    kheap *h = kheap_create(&c);
    KT_NULL(h);
    if (h != NULL)
        kheap_destroy(h);
    if (all != NULL)
        t.region_provider.unmap(t.region_provider.ctx, all, u.pages_mapped);
    kt_close(&t, env);
}

static void t_destroy_null(const ktest_env *env)
{
    /* Ignored means untouched: a live instance beside it keeps its pages,
     * its block and its figures, nobody is told of misuse, no lock is
     * taken, and neither region moves a page. */
    kt_heap t;
    if (!kt_open(&t, env, &LOCKED))
        return;
    unsigned char *p = kheap_alloc(t.h, 100);
    KT_REQUIRE_CLOSE(p != NULL);
    ktest_fill(p, 100, 17);
    kheap_stats before = kt_stats(t.h);
    size_t mapped = kt_mapped(&t), locks = t.lock.locks;
    kheap_region_usage env_before, env_after;
    kheap_region_usage_get(env->region, &env_before);
    kheap_destroy(NULL);
    kheap_region_usage_get(env->region, &env_after);
    KT_EQ(env_before.pages_mapped, env_after.pages_mapped);
    KT_EQ(env_before.largest_free_run, env_after.largest_free_run);
    KT_EQ(mapped, kt_mapped(&t));
    KT_EQ(locks, t.lock.locks);
    KT_EQ(0, t.panic.count);
    kheap_stats after = kt_stats(t.h);
    KT_SAME_STATS(&before, &after, 0);
    KT_TRUE(ktest_verify(p, 100, 17));
    KT_CHECK(t.h);
    kheap_free(t.h, p);
    kt_close(&t, env);
}

static void t_create_destroy_pages(const ktest_env *env)
{
    kt_heap t;
    if (!kt_prepare(&t, env, &STD))
        return;
    /* Three rounds: pages that came back must be usable again. */
    for (int round = 0; round < 3; round++) {
        KT_EQ(0, kt_mapped(&t));
        kheap *h = kheap_create(&t.config);
        KT_NONNULL(h);
        if (h == NULL)
            break;
        kheap_stats s = kt_stats(h);
        KT_TRUE(s.pages > 0);
        KT_EQ(kt_mapped(&t), s.pages);
        KT_EQ(1, s.heaps);        /* the home heap, all free: one block */
        KT_EQ(1, s.free_blocks);
        KT_EQ(0, s.allocs);
        KT_EQ(0, s.frees);
        KT_EQ(0, s.in_use_bytes);
        KT_EQ(0, s.blocks_in_use);
        KT_CHECK(h);
        kheap_destroy(h);
        KT_EQ(0, kt_mapped(&t));
    }
    kt_close(&t, env);
}

static void t_create_defaults_on_host(const ktest_env *env)
{
    /* heap_pages and large_threshold 0 pick the defaults; a small board
     * cannot hold a default heap, so it runs this with scaled values. */
    kt_heap t;
    if (!kt_prepare(&t, env, &STD))
        return;
    t.h = kheap_create(&t.config);
    KT_NONNULL(t.h);
    if (t.h != NULL) {
        void *p = kheap_alloc(t.h, 100);
        KT_NONNULL(p);
        KT_CHECK(t.h);
        kheap_free(t.h, p);
        KT_CHECK(t.h);
    }
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- alloc */

static void t_alloc_zero_unique(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *p[8];
    kheap_stats before = kt_stats(h);
    for (size_t i = 0; i < 8; i++) {
        p[i] = kheap_alloc(h, 0);
        KT_NONNULL(p[i]);
        KT_ALIGNED(p[i], KHEAP_ALIGN);
        for (size_t j = 0; j < i; j++)
            KT_TRUE(p[i] != p[j]);
    }
    kheap_stats mid = kt_stats(h);
    KT_EQ(before.allocs + KT_COUNTED(8), mid.allocs);
    KT_EQ(before.blocks_in_use + 8, mid.blocks_in_use);
    KT_EQ(before.failed, mid.failed);
    KT_CHECK(h);
    for (size_t i = 0; i < 8; i++)
        kheap_free(h, p[i]);
    KT_EQ(0, t.panic.count);
    KT_EQ(before.in_use_bytes, kt_stats(h).in_use_bytes);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_alloc_huge_fails(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    /* A live block makes "unchanged" mean something. */
    size_t keep_n = fit(&t, 200, 8);
    void *keep = kheap_alloc(h, keep_n);
    KT_REQUIRE_CLOSE(keep != NULL);
    ktest_fill(keep, keep_n, 7);
    const size_t sizes[] = {
        SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 7, SIZE_MAX - KHEAP_ALIGN,
        SIZE_MAX - 2 * KHEAP_ALIGN, SIZE_MAX - t.page_size, SIZE_MAX - 4 * t.page_size,
        SIZE_MAX / 2 + 1, SIZE_MAX / 2, SIZE_MAX / 2 - 1, SIZE_MAX / 4,
        t.room + 1, 2 * t.room,
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        kheap_stats before = kt_stats(h);
        KT_REFUSED(h, &before, kheap_alloc(h, sizes[i]));
        KT_EQ(kt_stats(h).pages, kt_mapped(&t));
    }
    KT_TRUE(ktest_verify(keep, keep_n, 7));
    KT_EQ(0, t.panic.count);
    kheap_free(h, keep);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_aligned_huge_fails(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    const size_t top_align = SIZE_MAX / 2 + 1;  /* the largest power of two */
    const struct { size_t align, size; } req[] = {
        { 64, SIZE_MAX }, { 64, SIZE_MAX - 64 }, { 64, SIZE_MAX - 1 },
        { 4096, SIZE_MAX / 2 }, { 4096, SIZE_MAX - 4096 },
        { top_align, 16 }, { top_align, 0 }, { top_align / 2, 1 },
        { KHEAP_ALIGN, SIZE_MAX - KHEAP_ALIGN }, { 1, SIZE_MAX },
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        kheap_stats before = kt_stats(h);
        KT_REFUSED(h, &before, kheap_aligned_alloc(h, req[i].align, req[i].size));
    }
    KT_EQ(0, t.panic.count);
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- calloc */

static void t_calloc_overflow(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    const size_t half = SIZE_MAX / 2 + 1;
    const struct { size_t n, size; } req[] = {
        { half, 2 }, { 2, half }, { SIZE_MAX, SIZE_MAX }, { SIZE_MAX, 2 },
        { SIZE_MAX / 3 + 1, 3 }, { 3, SIZE_MAX / 3 + 1 },
        { (size_t)1 << (4 * sizeof(size_t)), (size_t)1 << (4 * sizeof(size_t)) },
        { 1, SIZE_MAX }, { SIZE_MAX, 1 }, { SIZE_MAX / 16, 16 },
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        kheap_stats before = kt_stats(h);
        KT_REFUSED(h, &before, kheap_calloc(h, req[i].n, req[i].size));
    }
    kt_close(&t, env);
}

static void t_calloc_zero_count(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *a = kheap_calloc(h, 0, 16);
    void *b = kheap_calloc(h, 16, 0);
    void *c = kheap_calloc(h, 0, 0);
    KT_NONNULL(a);
    KT_NONNULL(b);
    KT_NONNULL(c);
    KT_TRUE(a != b && b != c && a != c);
    KT_ALIGNED(a, KHEAP_ALIGN);
    KT_ALIGNED(b, KHEAP_ALIGN);
    KT_ALIGNED(c, KHEAP_ALIGN);
    KT_CHECK(h);
    kheap_free(h, a);
    kheap_free(h, b);
    kheap_free(h, c);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_calloc_zeroes_reused(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    const size_t want[] = { 1, 7, 24, 100, 256, 1000, 3000, 12000, 40000 };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t n = fit(&t, want[i], 4);
        void *p = kheap_alloc(h, n);
        KT_NONNULL(p);
        if (p == NULL)
            continue;
        ktest_fill(p, kheap_usable_size(h, p), (uint32_t)i + 1);
        kheap_free(h, p);
        /* Both argument orders, so neither factor is special. */
        void *q = (i & 1) ? kheap_calloc(h, n, 1) : kheap_calloc(h, 1, n);
        KT_NONNULL(q);
        if (q == NULL)
            continue;
        KT_TRUE(ktest_all_bytes(q, n, 0));
        KT_CHECK(h);
        kheap_free(h, q);
    }
    /* A calloc of many elements sized like a struct. */
    size_t count = fit(&t, 300, 64);
    void *p = kheap_alloc(h, count * 12);
    if (p != NULL) {
        ktest_fill(p, count * 12, 99);
        kheap_free(h, p);
    }
    void *q = kheap_calloc(h, count, 12);
    KT_NONNULL(q);
    if (q != NULL) {
        KT_TRUE(ktest_all_bytes(q, count * 12, 0));
        kheap_free(h, q);
    }
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_calloc_zeroes_fresh_pages(const ktest_env *env)
{
    /* Pages from a provider hold whatever was there before: dirty every page
     * the sub-region can hand out, give them back, then calloc from them. */
    kt_heap t;
    if (!kt_prepare(&t, env, &STD))
        return;
    kheap_region_usage u;
    kheap_region_usage_get(t.sub, &u);
    size_t pages = u.largest_free_run;
    void *all = t.region_provider.map(t.region_provider.ctx, pages);
    KT_NONNULL(all);
    if (all != NULL) {
        ktest_fill(all, pages * t.page_size, 0xdead);
        t.region_provider.unmap(t.region_provider.ctx, all, pages);
    }
    t.h = kheap_create(&t.config);
    KT_NONNULL(t.h);
    if (t.h != NULL) {
        const size_t want[] = { 8, 64, 500, 2000, 6000, 20000, 70000 };
        void *held[sizeof want / sizeof want[0]];
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            size_t n = fit(&t, want[i], 8);
            held[i] = kheap_calloc(t.h, n, 1);
            KT_NONNULL(held[i]);
            if (held[i] != NULL)
                KT_TRUE(ktest_all_bytes(held[i], n, 0));
        }
        KT_CHECK(t.h);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
            kheap_free(t.h, held[i]);
        KT_CHECK(t.h);
    }
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- realloc */

static void t_realloc_null_is_alloc(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    kheap_stats before = kt_stats(h);
    size_t n = fit(&t, 300, 8);
    void *p = kheap_realloc(h, NULL, n);
    KT_NONNULL(p);
    KT_ALIGNED(p, KHEAP_ALIGN);
    KT_TRUE(kheap_usable_size(h, p) >= n);
    kheap_stats after = kt_stats(h);
    KT_EQ(before.allocs + KT_COUNTED(1), after.allocs);
    KT_EQ(before.blocks_in_use + 1, after.blocks_in_use);
    KT_EQ(before.frees, after.frees);
    KT_TRUE(after.in_use_bytes > before.in_use_bytes);
    void *z = kheap_realloc(h, NULL, 0);
    KT_NONNULL(z);
    KT_TRUE(z != p);
    KT_CHECK(h);
    kheap_free(h, p);
    kheap_free(h, z);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_realloc_zero_frees(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    kheap_stats before = kt_stats(h);
    void *p = kheap_alloc(h, fit(&t, 100, 8));
    KT_REQUIRE_CLOSE(p != NULL);
    void *r = kheap_realloc(h, p, 0);
    KT_NULL(r);
    kheap_stats after = kt_stats(h);
    KT_EQ(before.frees + KT_COUNTED(1), after.frees);
    KT_EQ(before.blocks_in_use, after.blocks_in_use);
    KT_EQ(before.in_use_bytes, after.in_use_bytes);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    /* It really is free: freeing it again is a double free. */
    if (KHEAP_CHECKS) {
        kheap_free(h, p);
        KT_EQ(1, t.panic.count);
        KT_CHECK(h);
    }
    kt_close(&t, env);
}

static void t_realloc_shrink_same(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    size_t n = fit(&t, 2000, 8);
    void *p = kheap_alloc(h, n);
    void *fence = kheap_alloc(h, 16);
    KT_REQUIRE_CLOSE(p != NULL);
    ktest_fill(p, n, 11);
    const size_t to[] = { n - 1, n / 2 + 1, n / 4 + 1, 100, 33, 17, 1 };
    size_t keep = n;
    for (size_t i = 0; i < sizeof to / sizeof to[0]; i++) {
        if (to[i] > keep || to[i] == 0)
            continue;
        void *r = kheap_realloc(h, p, to[i]);
        KT_PTR_EQ(p, r);
        if (r == NULL)
            break;
        KT_TRUE(kheap_usable_size(h, p) >= to[i]);
        KT_TRUE(ktest_verify(p, to[i], 11));
        keep = to[i];
        KT_CHECK(h);
    }
    kheap_free(h, p);
    kheap_free(h, fence);
    KT_CHECK(h);
    kt_close(&t, env);
}

/* The block that follows `p` in its heap, as the walk sees it. */
typedef struct next_finder {
    const void *p;
    bool found_p;
    const void *next;
    bool done;
} next_finder;

static bool find_next(void *ctx, const kheap_block_info *b)
{
    next_finder *f = ctx;
    if (f->found_p) {
        f->next = b->ptr;
        f->done = true;
        return false;
    }
    if (b->ptr == f->p)
        f->found_p = true;
    return true;
}

static void t_realloc_grow_in_place(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    size_t an = fit(&t, 64, 16), bn = fit(&t, 256, 16);
    void *a = kheap_alloc(h, an);
    void *b = kheap_alloc(h, bn);
    void *fence = kheap_alloc(h, 64);
    KT_REQUIRE_CLOSE(a != NULL && b != NULL && fence != NULL);
    /* Whichever came first in memory grows into the other. */
    void *lo = (uintptr_t)a < (uintptr_t)b ? a : b;
    void *hi = lo == a ? b : a;
    next_finder f = { .p = lo };
    kheap_walk(h, find_next, &f);
    KT_PTR_EQ(hi, f.next);
    size_t lo_usable = kheap_usable_size(h, lo);
    size_t hi_usable = kheap_usable_size(h, hi);
    ktest_fill(lo, lo_usable, 21);
    kheap_free(h, hi);
    KT_CHECK(h);
    kheap_stats before = kt_stats(h);
    /* More than lo has, less than lo and hi together. */
    size_t want = lo_usable + hi_usable / 2;
    void *r = kheap_realloc(h, lo, want);
    KT_PTR_EQ(lo, r);
    if (r != NULL) {
        KT_TRUE(kheap_usable_size(h, r) >= want);
        KT_TRUE(ktest_verify(r, lo_usable, 21));
        kheap_stats after = kt_stats(h);
        KT_EQ(before.frees, after.frees);
        KT_EQ(before.blocks_in_use, after.blocks_in_use);
        ktest_fill(r, want, 22);
        KT_CHECK(h);
        kheap_free(h, r);
    }
    kheap_free(h, fence);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_realloc_move_keeps_bytes(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    /* Small to small, small to large (a heap of its own), large to larger,
     * and large back down to small. */
    const size_t steps[] = { 40, 400, 4000, 20000, 60000, 90000, 300, 24 };
    size_t cur = fit(&t, 16, 16);
    void *p = kheap_alloc(h, cur);
    KT_REQUIRE_CLOSE(p != NULL);
    uint32_t seed = 31;
    ktest_fill(p, kheap_usable_size(h, p), seed);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t n = fit(&t, steps[i], 4);
        /* An in-use neighbour so that growing has to move or use a free
         * tail; either way the bytes must stay. */
        void *fence = kheap_alloc(h, 16);
        size_t old_usable = kheap_usable_size(h, p);
        kheap_stats before = kt_stats(h);
        void *r = kheap_realloc(h, p, n);
        KT_NONNULL(r);
        if (r == NULL) {
            kheap_free(h, fence);
            break;
        }
        KT_ALIGNED(r, KHEAP_ALIGN);
        KT_TRUE(kheap_usable_size(h, r) >= n);
        size_t kept = old_usable < n ? old_usable : n;
        KT_TRUE(ktest_verify(r, kept, seed));
        kheap_stats after = kt_stats(h);
        KT_EQ(before.frees + KT_COUNTED(r != p ? 1 : 0), after.frees);
        KT_EQ(before.blocks_in_use, after.blocks_in_use);
        KT_EQ(before.failed, after.failed);
        KT_CHECK(h);
        p = r;
        seed++;
        ktest_fill(p, kheap_usable_size(h, p), seed);
        kheap_free(h, fence);
    }
    kheap_free(h, p);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_realloc_huge_keeps_block(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    size_t n = fit(&t, 500, 8);
    void *p = kheap_alloc(h, n);
    KT_REQUIRE_CLOSE(p != NULL);
    size_t usable = kheap_usable_size(h, p);
    ktest_fill(p, usable, 41);
    const size_t sizes[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 8, SIZE_MAX - t.page_size,
                             SIZE_MAX / 2, SIZE_MAX / 2 + 1, 2 * t.room };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        kheap_stats before = kt_stats(h);
        KT_REFUSED(h, &before, kheap_realloc(h, p, sizes[i]));
        KT_EQ(usable, kheap_usable_size(h, p));
        KT_TRUE(ktest_verify(p, usable, 41));
    }
    KT_EQ(0, t.panic.count);
    kheap_free(h, p);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_realloc_provider_dry_keeps_block(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &WRAPPED))
        return;
    kheap *h = t.h;
    size_t n = fit(&t, 300, 8);
    void *p = kheap_alloc(h, n);
    size_t big_n = fit(&t, 40000, 8);
    void *big = kheap_alloc(h, big_n);  /* likely a heap of its own */
    KT_REQUIRE_CLOSE(p != NULL && big != NULL);
    size_t pu = kheap_usable_size(h, p), bu = kheap_usable_size(h, big);
    ktest_fill(p, pu, 51);
    ktest_fill(big, bu, 52);
    t.fail.fail_all = true;
    kheap_stats s = kt_stats(h);
    /* More than every free byte the instance holds: needs the provider. */
    size_t beyond = s.free_bytes + s.in_use_bytes + t.page_size;
    void *const ptrs[2] = { p, big };
    for (size_t i = 0; i < 2; i++) {
        kheap_stats before = kt_stats(h);
        KT_REFUSED(h, &before, kheap_realloc(h, ptrs[i], beyond));
    }
    KT_TRUE(t.fail.failures > 0);
    KT_EQ(pu, kheap_usable_size(h, p));
    KT_EQ(bu, kheap_usable_size(h, big));
    KT_TRUE(ktest_verify(p, pu, 51));
    KT_TRUE(ktest_verify(big, bu, 52));
    t.fail.fail_all = false;
    kheap_free(h, p);
    kheap_free(h, big);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    KT_EQ(kt_stats(h).pages, t.fail.pages_out);
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- aligned */

static void t_aligned_bad_align(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    const size_t aligns[] = { 3, 5, 6, 7, 12, 24, 48, 96, 100, 3 * KHEAP_ALIGN,
                              KHEAP_ALIGN + 1, 4095, SIZE_MAX, SIZE_MAX / 2,
                              (SIZE_MAX / 2 + 1) | 1 };
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        kheap_stats before = kt_stats(h);
        KT_REFUSED(h, &before, kheap_aligned_alloc(h, aligns[i], 64));
    }
    /* A bad argument is a failed request, not misuse of a block. */
    KT_EQ(0, t.panic.count);
    kt_close(&t, env);
}

static void t_aligned_zero_align(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    kheap_stats before = kt_stats(h);
    KT_NULL(kheap_aligned_alloc(h, 0, 64));
    KT_NULL(kheap_aligned_alloc(h, 0, 0));
    kheap_stats after = kt_stats(h);
    KT_SAME_STATS(&before, &after, 2);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_aligned_small_align(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    const size_t sizes[] = { 0, 1, 13, 100 };
    for (size_t a = 1; a <= KHEAP_ALIGN; a <<= 1) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = kheap_aligned_alloc(h, a, sizes[i]);
            KT_NONNULL(p);
            if (p == NULL)
                continue;
            KT_ALIGNED(p, KHEAP_ALIGN);
            KT_TRUE(kheap_usable_size(h, p) >= sizes[i]);
            ktest_fill(p, sizes[i], 3);
            kheap_free(h, p);
        }
    }
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_every_size_aligned(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    size_t max = fit(&t, 4096, 4);
    /* A live neighbour keeps each block from always being the heap's only one. */
    void *anchor = kheap_alloc(h, 24);
    for (size_t n = 0; n <= max && !ktest_case_failed(); n++) {
        void *p = kheap_alloc(h, n);
        KT_NONNULL(p);
        if (p == NULL)
            break;
        KT_ALIGNED(p, KHEAP_ALIGN);
        size_t u = kheap_usable_size(h, p);
        KT_TRUE(u >= n);
        ktest_fill(p, u, (uint32_t)n);
        KT_TRUE(ktest_verify(p, u, (uint32_t)n));
        if ((n & 63) == 0)
            KT_CHECK(h);
        kheap_free(h, p);
    }
    kheap_free(h, anchor);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_aligned_powers(const ktest_env *env)
{
    kt_opts o = STD;
    o.bytes = 2048 * KIB;
    kt_heap t;
    if (!kt_open(&t, env, &o))
        return;
    kheap *h = t.h;
    void *prev = NULL;
    size_t tested_top = 0;
    for (size_t a = 8; a <= 65536 && !ktest_case_failed(); a <<= 1) {
        /* The largest align that still fits this board's room, not none. */
        if (5 * a > t.room / 2 && a > 8)
            break;
        const size_t sizes[] = { 1, 24, a / 2 + 1, a, a + 8, 3 * a / 2 };
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *p = kheap_aligned_alloc(h, a, sizes[i]);
            KT_NONNULL(p);
            if (p == NULL)
                continue;
            KT_ALIGNED(p, a);
            KT_ALIGNED(p, KHEAP_ALIGN);
            KT_TRUE(kheap_usable_size(h, p) >= sizes[i]);
            ktest_fill(p, sizes[i], (uint32_t)(a + i));
            KT_CHECK(h);
            /* Keep one block alive across requests: alignment has to work
             * in a heap that is not empty too. */
            if (prev != NULL)
                kheap_free(h, prev);
            prev = p;
            KT_TRUE(ktest_verify(p, sizes[i], (uint32_t)(a + i)));
        }
        tested_top = a;
    }
    kheap_free(h, prev);
    KT_TRUE(tested_top >= 8 * KHEAP_ALIGN);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_aligned_realloc_keeps(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    size_t a = fit(&t, 256, 16);
    size_t align = 1;
    while (align * 2 <= a)
        align *= 2;
    void *p = kheap_aligned_alloc(h, align, 100);
    KT_REQUIRE_CLOSE(p != NULL);
    KT_ALIGNED(p, align);
    ktest_fill(p, 100, 61);
    void *r = kheap_realloc(h, p, fit(&t, 1000, 8));
    KT_NONNULL(r);
    if (r != NULL) {
        KT_TRUE(ktest_verify(r, 100, 61));
        kheap_free(h, r);
    }
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- free, misuse */

static void t_free_null(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    kheap_stats before = kt_stats(h);
    kheap_free(h, NULL);
    kheap_stats after = kt_stats(h);
    KT_SAME_STATS(&before, &after, 0);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void KT_PROFILED t_double_free(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    /* In-use neighbours on both sides keep the freed block from merging,
     * so its header still says what happened to it. */
    void *a = kheap_alloc(h, 48);
    void *p = kheap_alloc(h, 48);
    void *b = kheap_alloc(h, 48);
    KT_REQUIRE_CLOSE(a != NULL && p != NULL && b != NULL);
    ktest_fill(a, 48, 1);
    ktest_fill(b, 48, 2);
    kheap_free(h, p);
    KT_CHECK(h);
    kheap_stats before = kt_stats(h);
    kheap_free(h, p);
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(p, t.panic.addr);
    KT_STR_EQ(M_DOUBLE_FREE, t.panic.what);
    kheap_stats after = kt_stats(h);
    KT_SAME_STATS(&before, &after, 0);
    KT_CHECK(h);
    KT_TRUE(ktest_verify(a, 48, 1));
    KT_TRUE(ktest_verify(b, 48, 2));
    kheap_free(h, a);
    kheap_free(h, b);
    KT_EQ(1, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void KT_PROFILED t_double_free_large(const ktest_env *env)
{
    /* A large block's heap goes back on free; a second free must be caught
     * without touching anything else. The pages stay readable here because
     * the sub-region only keeps bookkeeping outside them. */
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *keep = kheap_alloc(h, 32);
    /* Larger than any free block, so large on every board (a small
     * board's share of the room would fit its home heap). */
    size_t n = fit(&t, 64 * KIB, 4);
    if (n <= kt_stats(h).largest_free)
        n = kt_stats(h).largest_free + 1;
    void *p = kheap_alloc(h, n);
    KT_REQUIRE_CLOSE(p != NULL && keep != NULL);
    size_t heaps = kt_stats(h).heaps;
    kheap_free(h, p);
    kheap_stats before = kt_stats(h);
    KT_EQ(heaps - 1, before.heaps);   /* its heap went back */
    kheap_free(h, p);
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(p, t.panic.addr);
    KT_STR_EQ(KHEAP_HARDEN ? M_GIVEN_BACK : M_GONE, t.panic.what);
    kheap_stats after = kt_stats(h);
    KT_SAME_STATS(&before, &after, 0);
    KT_CHECK(h);
    kheap_free(h, keep);
    kt_close(&t, env);
}

static void KT_PROFILED t_double_free_merged(const ktest_env *env)
{
    /* The freed block has merged into its left neighbour, so its old header
     * is stale payload of a bigger free block: still a double free. */
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *a = kheap_alloc(h, 64);
    void *p = kheap_alloc(h, 64);
    void *b = kheap_alloc(h, 64);
    KT_REQUIRE_CLOSE(a != NULL && p != NULL && b != NULL);
    kheap_free(h, p);
    kheap_free(h, a);
    KT_CHECK(h);
    kheap_stats before = kt_stats(h);
    kheap_free(h, p);
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(p, t.panic.addr);
    KT_STR_EQ(M_CHECKED(M_DOUBLE_FREE), t.panic.what);
    kheap_stats after = kt_stats(h);
    KT_SAME_STATS(&before, &after, 0);
    KT_CHECK(h);
    kheap_free(h, b);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void KT_PROFILED t_free_other_instance(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kt_panic_log panic2 = {0};
    kheap_config c2 = t.config;
    c2.panic_ctx = &panic2;
    kheap *h2 = kheap_create(&c2);
    KT_NONNULL(h2);
    if (h2 != NULL) {
        void *x = kheap_alloc(h2, 100);
        void *y = kheap_alloc(h2, 100);
        KT_NONNULL(x);
        ktest_fill(x, 100, 91);
        kheap_stats a1 = kt_stats(t.h), a2 = kt_stats(h2);
        kheap_free(t.h, x);
        KT_EQ(1, t.panic.count);
        KT_PTR_EQ(x, t.panic.addr);
        KT_STR_EQ(M_FOREIGN, t.panic.what);
        KT_EQ(0, panic2.count);
        kheap_stats b1 = kt_stats(t.h), b2 = kt_stats(h2);
        KT_SAME_STATS(&a1, &b1, 0);
        KT_SAME_STATS(&a2, &b2, 0);
        KT_CHECK(t.h);
        KT_CHECK(h2);
        KT_TRUE(ktest_verify(x, 100, 91));
        kheap_free(h2, x);
        kheap_free(h2, y);
        KT_EQ(0, panic2.count);
        KT_CHECK(h2);
        kheap_destroy(h2);
    }
    kt_close(&t, env);
}

static void KT_PROFILED t_free_interior(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    size_t n = fit(&t, 512, 8);
    if (n < 4 * KHEAP_ALIGN)
        n = 4 * KHEAP_ALIGN;
    unsigned char *p = kheap_calloc(h, 1, n);
    KT_REQUIRE_CLOSE(p != NULL);
    const size_t offs[] = { KHEAP_ALIGN, 2 * KHEAP_ALIGN, (n / 2) & ~(KHEAP_ALIGN - 1) };
    unsigned expected = 0;
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        if (offs[i] == 0)
            continue;
        kheap_stats before = kt_stats(h);
        kheap_free(h, p + offs[i]);
        expected++;
        KT_EQ(expected, t.panic.count);
        KT_PTR_EQ(p + offs[i], t.panic.addr);
        KT_STR_EQ(M_CHECKED(M_NOT_A_BLOCK), t.panic.what);
        kheap_stats after = kt_stats(h);
        KT_SAME_STATS(&before, &after, 0);
        KT_CHECK(h);
    }
    KT_TRUE(ktest_all_bytes(p, n, 0));
    kheap_free(h, p);
    KT_EQ(expected, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void KT_PROFILED t_free_misaligned(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    unsigned char *p = kheap_alloc(h, 128);
    KT_REQUIRE_CLOSE(p != NULL);
    ktest_fill(p, 128, 71);
    const size_t offs[] = { 1, 2, 3, 4, KHEAP_ALIGN / 2, KHEAP_ALIGN - 1, KHEAP_ALIGN + 1 };
    unsigned expected = 0;
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        kheap_stats before = kt_stats(h);
        kheap_free(h, p + offs[i]);
        expected++;
        KT_EQ(expected, t.panic.count);
        KT_PTR_EQ(p + offs[i], t.panic.addr);
        KT_STR_EQ(M_MISALIGNED, t.panic.what);
        kheap_stats after = kt_stats(h);
        KT_SAME_STATS(&before, &after, 0);
    }
    /* One below the payload lands in the block's own header word. */
    kheap_free(h, p - 1);
    expected++;
    KT_EQ(expected, t.panic.count);
    KT_PTR_EQ(p - 1, t.panic.addr);
    KT_STR_EQ(M_MISALIGNED, t.panic.what);
    KT_CHECK(h);
    KT_TRUE(ktest_verify(p, 128, 71));
    kheap_free(h, p);
    KT_EQ(expected, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void KT_PROFILED t_free_foreign(const ktest_env *env)
{
    /* A pointer no heap ever handed out, in memory that reads as zero. */
    static alignas(64) unsigned char foreign[128];
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    for (size_t i = 0; i < sizeof foreign; i++)
        foreign[i] = 0;
    kheap_stats before = kt_stats(h);
    kheap_free(h, foreign + 64);
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(foreign + 64, t.panic.addr);
    KT_STR_EQ(M_FOREIGN, t.panic.what);
    kheap_stats after = kt_stats(h);
    KT_SAME_STATS(&before, &after, 0);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void KT_PROFILED t_realloc_misuse(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *a = kheap_alloc(h, 64);
    unsigned char *p = kheap_calloc(h, 1, 256);
    void *b = kheap_alloc(h, 64);
    KT_REQUIRE_CLOSE(a != NULL && p != NULL && b != NULL);

    kheap_stats before = kt_stats(h);
    KT_NULL(kheap_realloc(h, p + 2 * KHEAP_ALIGN, 32));
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(p + 2 * KHEAP_ALIGN, t.panic.addr);
    KT_STR_EQ(M_CHECKED(M_NOT_A_BLOCK), t.panic.what);
    KT_NULL(kheap_realloc(h, p + 1, 32));
    KT_EQ(2, t.panic.count);
    KT_PTR_EQ(p + 1, t.panic.addr);
    KT_STR_EQ(M_MISALIGNED, t.panic.what);
    kheap_stats after = kt_stats(h);
    KT_SAME_STATS(&before, &after, KT_ANY_FAILED);
    KT_CHECK(h);

    kheap_free(h, p);
    before = kt_stats(h);
    KT_NULL(kheap_realloc(h, p, 32));
    KT_EQ(3, t.panic.count);
    KT_PTR_EQ(p, t.panic.addr);
    KT_STR_EQ(M_DOUBLE_FREE, t.panic.what);
    after = kt_stats(h);
    KT_SAME_STATS(&before, &after, KT_ANY_FAILED);
    KT_CHECK(h);
    kheap_free(h, a);
    kheap_free(h, b);
    KT_EQ(3, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void KT_PROFILED t_misuse_without_panic_hook(const ktest_env *env)
{
    /* Without a hook misuse is ignored after detection: same outcome. */
    kt_heap t;
    if (!kt_prepare(&t, env, &STD))
        return;
    t.config.panic = NULL;
    t.config.panic_ctx = NULL;
    t.h = kheap_create(&t.config);
    KT_NONNULL(t.h);
    if (t.h != NULL) {
        kheap *h = t.h;
        void *a = kheap_alloc(h, 40);
        unsigned char *p = kheap_alloc(h, 40);
        void *b = kheap_alloc(h, 40);
        KT_REQUIRE_CLOSE(a != NULL && p != NULL && b != NULL);
        kheap_free(h, p);
        kheap_stats before = kt_stats(h);
        kheap_free(h, p);
        kheap_free(h, p + 1);
        kheap_stats after = kt_stats(h);
        KT_SAME_STATS(&before, &after, 0);
        KT_CHECK(h);
        kheap_free(h, a);
        kheap_free(h, b);
        KT_CHECK(h);
    }
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- usable size */

static void t_usable_null(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    KT_EQ(0, kheap_usable_size(t.h, NULL));
    kt_close(&t, env);
}

static void t_usable_whole(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *p[MAXP];
    size_t u[MAXP];
    size_t n = fit(&t, MAXP, 1);
    size_t max = fit(&t, 3000, 4 * MAXP);
    uint32_t rng = 0x1234567;
    /* Every block written to its last usable byte: neighbours must not
     * notice. */
    for (size_t i = 0; i < n; i++) {
        size_t want = kt_log_size(&rng, max);
        p[i] = kheap_alloc(h, want);
        KT_NONNULL(p[i]);
        u[i] = p[i] != NULL ? kheap_usable_size(h, p[i]) : 0;
        KT_TRUE(u[i] >= want);
        if (p[i] != NULL)
            ktest_fill(p[i], u[i], (uint32_t)i + 100);
    }
    KT_CHECK(h);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == NULL)
            continue;
        KT_TRUE(ktest_verify(p[i], u[i], (uint32_t)i + 100));
        KT_EQ(u[i], kheap_usable_size(h, p[i]));
        kheap_free(h, p[i]);
    }
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- stats */

static void t_stats_counts_exact(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    kheap_stats s0 = kt_stats(h);
    void *a = kheap_alloc(h, 10);
    void *b = kheap_alloc(h, 200);
    void *c = kheap_alloc(h, 0);
    void *d = kheap_calloc(h, 4, 8);
    void *e = kheap_aligned_alloc(h, 64, 40);
    void *f = kheap_realloc(h, NULL, 30);
    KT_TRUE(a && b && c && d && e && f);
    KT_NULL(kheap_alloc(h, SIZE_MAX));
    KT_NULL(kheap_calloc(h, SIZE_MAX, 2));
    KT_NULL(kheap_aligned_alloc(h, 3, 8));
    kheap_stats s1 = kt_stats(h);
    KT_EQ(s0.allocs + KT_COUNTED(6), s1.allocs);
    KT_EQ(s0.frees, s1.frees);
    KT_EQ(s0.failed + 3, s1.failed);
    KT_EQ(s0.blocks_in_use + 6, s1.blocks_in_use);
    /* A shrink in place is neither an allocation nor a free. */
    void *b2 = kheap_realloc(h, b, 100);
    KT_PTR_EQ(b, b2);
    kheap_stats s2 = kt_stats(h);
    KT_EQ(s1.allocs, s2.allocs);
    KT_EQ(s1.frees, s2.frees);
    kheap_free(h, a);
    kheap_free(h, b);
    kheap_free(h, c);
    kheap_free(h, d);
    kheap_free(h, e);
    KT_NULL(kheap_realloc(h, f, 0));
    kheap_free(h, NULL);
    kheap_stats s3 = kt_stats(h);
    KT_EQ(s0.allocs + KT_COUNTED(6), s3.allocs);
    KT_EQ(s0.frees + KT_COUNTED(6), s3.frees);
    KT_EQ(s0.blocks_in_use, s3.blocks_in_use);
    KT_EQ(s0.in_use_bytes, s3.in_use_bytes);
    KT_EQ(0, t.panic.count);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_stats_in_use(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    kheap_stats s0 = kt_stats(h);
    size_t n = fit(&t, 1000, 8);
    void *p = kheap_alloc(h, n);
    KT_REQUIRE_CLOSE(p != NULL);
    kheap_stats s1 = kt_stats(h);
    /* Headers are included, so the growth is at least the payload. */
    KT_TRUE(s1.in_use_bytes >= s0.in_use_bytes + kheap_usable_size(h, p));
    KT_EQ(s0.blocks_in_use + 1, s1.blocks_in_use);
    KT_PEAK_AT_LEAST(s1.peak_in_use_bytes, s1.in_use_bytes);
    KT_TRUE(s1.largest_free <= s1.free_bytes);
    kheap_free(h, p);
    kheap_stats s2 = kt_stats(h);
    KT_EQ(s0.in_use_bytes, s2.in_use_bytes);
    KT_EQ(s0.blocks_in_use, s2.blocks_in_use);
    KT_PEAK_AT_LEAST(s2.peak_in_use_bytes, s1.in_use_bytes);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_stats_peak(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *p[8];
    size_t high = 0;
    for (size_t i = 0; i < 8; i++) {
        p[i] = kheap_alloc(h, fit(&t, 700, 32));
        KT_NONNULL(p[i]);
        kheap_stats s = kt_stats(h);
        KT_PEAK_AT_LEAST(s.peak_in_use_bytes, s.in_use_bytes);
        high = s.in_use_bytes;
    }
    kheap_stats pk = kt_stats(h);
    for (size_t i = 0; i < 8; i++)
        kheap_free(h, p[i]);
    kheap_stats s = kt_stats(h);
    KT_EQ(pk.peak_in_use_bytes, s.peak_in_use_bytes);
    KT_PEAK_AT_LEAST(s.peak_in_use_bytes, high);
    KT_TRUE(s.peak_pages >= pk.pages);
    KT_TRUE(s.peak_pages >= s.pages);
    /* A smaller block later leaves the high-water mark alone. */
    void *q = kheap_alloc(h, 8);
    KT_EQ(pk.peak_in_use_bytes, kt_stats(h).peak_in_use_bytes);
    kheap_free(h, q);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void expect_pages_match(kt_heap *t, const char *when)
{
    kheap_stats s = kt_stats(t->h);
    size_t mapped = kt_mapped(t);
    if (s.pages != mapped)
        ktest_fail_u(__FILE__, __LINE__, when, mapped, s.pages);
    KT_TRUE(s.heaps >= 1);
    KT_TRUE(s.peak_pages >= s.pages);
}

static void t_stats_pages_match_region(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    expect_pages_match(&t, "pages after create");
    void *p[MAXP] = {0};
    size_t count = fit(&t, MAXP, 1);
    size_t each = fit(&t, 3000, 4 * MAXP);
    for (size_t i = 0; i < count; i++)
        p[i] = kheap_alloc(h, each);
    expect_pages_match(&t, "pages after many allocs");
    void *big = kheap_alloc(h, fit(&t, 100 * KIB, 8));
    KT_NONNULL(big);
    expect_pages_match(&t, "pages with a large block");
    kheap_free(h, big);
    expect_pages_match(&t, "pages after freeing the large block");
    for (size_t i = 0; i < count; i += 2)
        kheap_free(h, p[i]);
    expect_pages_match(&t, "pages after freeing half");
    for (size_t i = 1; i < count; i += 2)
        kheap_free(h, p[i]);
    expect_pages_match(&t, "pages after freeing all");
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_stats_largest_free(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &WRAPPED))
        return;
    kheap *h = t.h;
    void *p[12];
    for (size_t i = 0; i < 12; i++)
        p[i] = kheap_alloc(h, fit(&t, 64 + 100 * i, 32));
    for (size_t i = 0; i < 12; i += 3) {
        kheap_free(h, p[i]);
        p[i] = NULL;
    }
    kheap_stats s = kt_stats(h);
    KT_TRUE(s.largest_free <= s.free_bytes);
    KT_TRUE(s.largest_free > 0);
    /* "The largest request that succeeds without the provider". */
    t.fail.fail_all = true;
    size_t calls = t.fail.calls;
    void *q = kheap_alloc(h, s.largest_free);
    KT_NONNULL(q);
    KT_EQ(calls, t.fail.calls);
    kheap_free(h, q);
    KT_NULL(kheap_alloc(h, s.largest_free + 1));
    t.fail.fail_all = false;
    for (size_t i = 0; i < 12; i++)
        kheap_free(h, p[i]);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_large_own_heap(const ktest_env *env)
{
    kt_opts o = STD;
    kt_heap t;
    if (!kt_prepare(&t, env, &o))
        return;
    size_t thr = 4 * t.page_size;
    if (thr > t.room / 4)
        thr = t.room / 4;
    t.config.large_threshold = thr;
    t.h = kheap_create(&t.config);
    KT_NONNULL(t.h);
    if (t.h != NULL) {
        kheap *h = t.h;
        void *small = kheap_alloc(h, 32);
        kheap_stats s0 = kt_stats(h);
        /* More than the free space holds, so no reading of the threshold
         * can serve it from a heap already there. */
        size_t n = s0.largest_free + 1 > thr ? s0.largest_free + 1 : thr;
        void *p = kheap_alloc(h, n);
        KT_NONNULL(p);
        kheap_stats s1 = kt_stats(h);
        KT_EQ(s0.heaps + 1, s1.heaps);
        KT_TRUE(s1.pages > s0.pages);
        KT_EQ(s1.pages, kt_mapped(&t));
        if (p != NULL)
            ktest_fill(p, n, 81);
        KT_CHECK(h);
        kheap_free(h, p);
        kheap_stats s2 = kt_stats(h);
        KT_EQ(s0.heaps, s2.heaps);
        KT_EQ(s0.pages, s2.pages);
        KT_EQ(s2.pages, kt_mapped(&t));
        kheap_free(h, small);
        KT_CHECK(h);
    }
    kt_close(&t, env);
}

static void t_spare_heap_only(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    kheap_stats s0 = kt_stats(h);
    size_t heap_pages = t.config.heap_pages != 0 ? t.config.heap_pages
                                                  : (16 * KIB + t.page_size - 1) / t.page_size;
    /* Below the large threshold, so they fill normal heaps: several of them. */
    size_t each = heap_pages * t.page_size / 5;
    size_t count = fit(&t, MAXP, 1);
    if (count * each > t.room / 2)
        count = t.room / 2 / each;
    void *p[MAXP];
    for (size_t i = 0; i < count; i++) {
        p[i] = kheap_alloc(h, each);
        KT_NONNULL(p[i]);
    }
    kheap_stats full = kt_stats(h);
    KT_TRUE(full.pages > s0.pages);
    for (size_t i = 0; i < count; i++)
        kheap_free(h, p[i]);
    kheap_stats s = kt_stats(h);
    /* All free: the home heap plus at most one spare stay. */
    KT_TRUE(s.heaps <= 2);
    KT_TRUE(s.pages <= s0.pages + heap_pages);
    KT_EQ(s.pages, kt_mapped(&t));
    KT_CHECK(h);
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- walk, dump, check */

static void t_walk_every_block_once(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *p[16];
    size_t u[16];
    uint32_t rng = 77;
    for (size_t i = 0; i < 16; i++) {
        size_t n = i == 5 ? fit(&t, 50 * KIB, 8) : kt_log_size(&rng, fit(&t, 1500, 64));
        p[i] = i == 9 ? kheap_aligned_alloc(h, 128, n) : kheap_alloc(h, n);
        KT_REQUIRE_CLOSE(p[i] != NULL);
        u[i] = kheap_usable_size(h, p[i]);
    }
    /* Holes, so free blocks sit between live ones. */
    kheap_free(h, p[3]);
    kheap_free(h, p[11]);
    p[3] = p[14];
    u[3] = u[14];
    p[11] = p[15];
    u[11] = u[15];
    size_t n = 14;
    walk_log w;
    walk_init(&w, p, u, n);
    kheap_walk(h, walk_record, &w);
    for (size_t i = 0; i < n; i++)
        KT_EQ(1, w.seen[i]);
    KT_EQ(0, w.stray);
    KT_EQ(0, w.wrong_size);
    KT_EQ(0, w.not_in_use);
    KT_EQ(0, w.bad_heap);
    kheap_stats s = kt_stats(h);
    KT_EQ(s.blocks_in_use, w.in_use);
    KT_EQ(n, w.in_use);
    KT_EQ(s.free_blocks, w.free_blocks);
    for (size_t i = 0; i < n; i++)
        kheap_free(h, p[i]);
    walk_init(&w, p, u, 0);
    kheap_walk(h, walk_record, &w);
    KT_EQ(0, w.in_use);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_walk_stops(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *p[8];
    for (size_t i = 0; i < 8; i++)
        p[i] = kheap_alloc(h, 40);
    walk_log w;
    walk_init(&w, p, NULL, 0);
    w.stop_after = 1;
    kheap_walk(h, walk_record, &w);
    KT_EQ(1, w.visits);
    walk_init(&w, p, NULL, 0);
    w.stop_after = 3;
    kheap_walk(h, walk_record, &w);
    KT_EQ(3, w.visits);
    /* A stopped walk leaves the instance usable (and unlocked). */
    void *q = kheap_alloc(h, 40);
    KT_NONNULL(q);
    kheap_free(h, q);
    for (size_t i = 0; i < 8; i++)
        kheap_free(h, p[i]);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void KT_PROFILED t_walk_locked(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &LOCKED))
        return;
    kheap *h = t.h;
    void *p = kheap_alloc(h, 100);
    walk_log w;
    walk_init(&w, &p, NULL, 0);
    w.lock = &t.lock;
    kheap_walk(h, walk_record, &w);
    KT_EQ(2, w.visits);       /* p and the free rest of the home heap */
    KT_EQ(1, w.in_use);
    KT_EQ(0, w.unlocked_visits);
    KT_EQ(t.lock.locks, t.lock.unlocks);
    kheap_free(h, p);
    kt_close(&t, env);
}

typedef struct dump_log {
    size_t len, pieces;
    unsigned matched;   /* chars of "heap" matched so far, across pieces */
    size_t hits;
    size_t empty_pieces;
} dump_log;

static void dump_record(void *ctx, const char *text, size_t len)
{
    static const char word[] = "heap";
    dump_log *d = ctx;
    d->pieces++;
    d->len += len;
    if (len == 0)
        d->empty_pieces++;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == word[d->matched]) {
            if (++d->matched == 4) {
                d->hits++;
                d->matched = 0;
            }
        } else {
            d->matched = c == 'h' ? 1 : 0;
        }
    }
}

static void t_dump_text(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &LOCKED))
        return;
    kheap *h = t.h;
    void *a = kheap_alloc(h, 100);
    void *big = kheap_alloc(h, fit(&t, 64 * KIB, 4));
    dump_log d = {0};
    kheap_dump(h, dump_record, &d);
    KT_TRUE(d.len > 0);
    /* "kheap-dump begin", a line per heap, "heaps=" and "kheap-dump end"
     * (tests/test_core.c checks the text itself). */
    KT_EQ(3 + kt_stats(h).heaps, d.hits);
    KT_EQ(t.lock.locks, t.lock.unlocks);
    KT_EQ(0, t.lock.bad_restores);
    kheap_free(h, a);
    kheap_free(h, big);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_check_null_why(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    KT_TRUE(kheap_check(h, NULL));
    void *p = kheap_alloc(h, 50);
    KT_TRUE(kheap_check(h, NULL));
    kheap_free(h, p);
    KT_TRUE(kheap_check(h, NULL));
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- locks */

/* After each call: as many unlocks as locks, every unlock restoring what its
 * lock returned, and (for the calls that must lock) at least one lock. */
static void expect_balanced(const kt_heap *t, size_t locks_before, bool must_lock, int line)
{
    if (t->lock.locks != t->lock.unlocks)
        ktest_fail_u(__FILE__, line, "unlocks == locks", t->lock.locks, t->lock.unlocks);
    if (t->lock.depth != 0)
        ktest_fail_u(__FILE__, line, "lock depth after the call", 0, t->lock.depth);
    if (t->lock.bad_restores != 0)
        ktest_fail_u(__FILE__, line, "unlocks restoring the wrong state", 0, t->lock.bad_restores);
    if (must_lock && t->lock.locks <= locks_before)
        ktest_fail_u(__FILE__, line, "locks taken by the call", locks_before + 1, t->lock.locks);
}

#define BALANCED(must) do { expect_balanced(&t, before, (must), __LINE__); before = t.lock.locks; } while (0)

static bool walk_nothing(void *ctx, const kheap_block_info *b)
{
    (void)ctx;
    (void)b;
    return true;
}

static void dump_nothing(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    (void)text;
    (void)len;
}

static void KT_PROFILED t_locks_balanced(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &LOCKED))
        return;
    kheap *h = t.h;
    size_t before = t.lock.locks;
    BALANCED(false);
    void *a = kheap_alloc(h, 100);
    BALANCED(true);
    void *b = kheap_calloc(h, 10, 10);
    BALANCED(true);
    void *c = kheap_aligned_alloc(h, 256, 100);
    BALANCED(true);
    void *big = kheap_alloc(h, fit(&t, 64 * KIB, 4));
    BALANCED(true);
    a = kheap_realloc(h, a, 300);
    BALANCED(true);
    b = kheap_realloc(h, b, 10);
    BALANCED(true);
    (void)kheap_usable_size(h, a);
    BALANCED(false);
    kheap_stats s;
    kheap_stats_get(h, &s);
    BALANCED(true);
    KT_TRUE(kheap_check(h, NULL));
    BALANCED(true);
    kheap_walk(h, walk_nothing, NULL);
    BALANCED(true);
    kheap_dump(h, dump_nothing, NULL);
    BALANCED(true);
    KT_NULL(kheap_alloc(h, SIZE_MAX));
    BALANCED(false);
    KT_NULL(kheap_aligned_alloc(h, 3, 8));
    BALANCED(false);
    kheap_free(h, a);
    BALANCED(true);
    kheap_free(h, b);
    BALANCED(true);
    kheap_free(h, c);
    BALANCED(true);
    kheap_free(h, big);
    BALANCED(true);
    kheap_free(h, NULL);
    BALANCED(false);
    KT_TRUE(t.lock.locks > 0);
    kheap_destroy(h);
    t.h = NULL;
    BALANCED(false);
    kt_close(&t, env);
}

static void KT_PROFILED t_locks_released_on_misuse(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &LOCKED))
        return;
    kheap *h = t.h;
    void *a = kheap_alloc(h, 40);
    unsigned char *p = kheap_alloc(h, 40);
    void *b = kheap_alloc(h, 40);
    KT_REQUIRE_CLOSE(a != NULL && p != NULL && b != NULL);
    size_t before = t.lock.locks;
    kheap_free(h, p);
    BALANCED(true);
    kheap_free(h, p);
    BALANCED(false);
    kheap_free(h, p + 1);
    BALANCED(false);
    KT_NULL(kheap_realloc(h, p, 80));
    BALANCED(false);
    KT_EQ(3, t.panic.count);
    /* Still usable: a hook that returned must not leave the lock held. */
    void *q = kheap_alloc(h, 40);
    BALANCED(true);
    KT_NONNULL(q);
    kheap_free(h, q);
    kheap_free(h, a);
    kheap_free(h, b);
    BALANCED(true);
    KT_CHECK(h);
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- two instances */

#define MAXH 16

/* Each heap's extent as far as its blocks show: [start, end of last block). */
typedef struct extents {
    const void *start[MAXH];
    uintptr_t end[MAXH];
    size_t n;
    size_t overflow;
    const void *last_heap;
} extents;

static bool extents_record(void *ctx, const kheap_block_info *b)
{
    extents *e = ctx;
    size_t i = 0;
    while (i < e->n && e->start[i] != b->heap)
        i++;
    if (i == e->n) {
        if (e->n == MAXH) {
            e->overflow++;
            return true;
        }
        e->start[e->n] = b->heap;
        e->end[e->n] = 0;
        e->n++;
    }
    uintptr_t end = (uintptr_t)b->ptr + b->size;
    if (end > e->end[i])
        e->end[i] = end;
    return true;
}

typedef struct overlap_check {
    const extents *other;
    size_t inside;
} overlap_check;

static bool overlap_record(void *ctx, const kheap_block_info *b)
{
    overlap_check *o = ctx;
    uintptr_t lo = (uintptr_t)b->ptr, hi = lo + b->size;
    for (size_t i = 0; i < o->other->n; i++) {
        uintptr_t s = (uintptr_t)o->other->start[i], e = o->other->end[i];
        if (lo < e && hi > s)
            o->inside++;
    }
    return true;
}

static void t_two_instances_apart(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kt_panic_log panic2 = {0};
    kheap_config c2 = t.config;
    c2.panic_ctx = &panic2;
    kheap *h1 = t.h;
    kheap *h2 = kheap_create(&c2);
    KT_NONNULL(h2);
    if (h2 != NULL) {
        void *p1[10], *p2[10];
        size_t max = fit(&t, 2000, 64);
        uint32_t rng = 5;
        for (size_t i = 0; i < 10; i++) {
            size_t n1 = i == 4 ? fit(&t, 40 * KIB, 8) : kt_log_size(&rng, max);
            size_t n2 = i == 7 ? fit(&t, 40 * KIB, 8) : kt_log_size(&rng, max);
            p1[i] = kheap_alloc(h1, n1);
            p2[i] = kheap_alloc(h2, n2);
            KT_NONNULL(p1[i]);
            KT_NONNULL(p2[i]);
        }
        kheap_stats s1 = kt_stats(h1), s2 = kt_stats(h2);
        KT_EQ(kt_mapped(&t), s1.pages + s2.pages);
        extents e1 = {0}, e2 = {0};
        kheap_walk(h1, extents_record, &e1);
        kheap_walk(h2, extents_record, &e2);
        KT_EQ(0, e1.overflow);
        KT_EQ(0, e2.overflow);
        overlap_check o1 = { &e2, 0 }, o2 = { &e1, 0 };
        kheap_walk(h1, overlap_record, &o1);
        kheap_walk(h2, overlap_record, &o2);
        KT_EQ(0, o1.inside);
        KT_EQ(0, o2.inside);
        for (size_t i = 0; i < e1.n; i++)
            for (size_t j = 0; j < e2.n; j++)
                KT_TRUE(e1.start[i] != e2.start[j]);
        KT_CHECK(h1);
        KT_CHECK(h2);
        for (size_t i = 0; i < 10; i++) {
            kheap_free(h1, p1[i]);
            kheap_free(h2, p2[i]);
        }
        KT_CHECK(h1);
        KT_CHECK(h2);
        kheap_destroy(h2);
        KT_EQ(kt_stats(h1).pages, kt_mapped(&t));
    }
    KT_EQ(0, t.panic.count);
    KT_EQ(0, panic2.count);
    kt_close(&t, env);
}

static void t_two_instances_interleaved(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kt_panic_log panic2 = {0};
    kheap_config c2 = t.config;
    c2.panic_ctx = &panic2;
    kheap *hs[2] = { t.h, kheap_create(&c2) };
    KT_NONNULL(hs[1]);
    if (hs[1] != NULL) {
        /* 16 slots each: two tables of this on a small board's stack. */
        void *p[2][16] = {{0}};
        size_t len[2][16] = {{0}};
        uint32_t seed[2][16] = {{0}};
        size_t slots = fit(&t, 16, 1);
        size_t max = fit(&t, 2000, 4 * 16);
        uint32_t rng = 0xfeed;
        uint32_t next_seed = 1;
        for (unsigned op = 0; op < 2000 && !ktest_case_failed(); op++) {
            unsigned k = ktest_rand(&rng) & 1;
            size_t i = ktest_rand(&rng) % slots;
            kheap *h = hs[k];
            if (p[k][i] == NULL) {
                size_t n = kt_log_size(&rng, max);
                p[k][i] = kheap_alloc(h, n);
                if (p[k][i] != NULL) {
                    len[k][i] = n;
                    seed[k][i] = next_seed++;
                    ktest_fill(p[k][i], n, seed[k][i]);
                }
            } else if (ktest_rand(&rng) & 1) {
                KT_TRUE(ktest_verify(p[k][i], len[k][i], seed[k][i]));
                kheap_free(h, p[k][i]);
                p[k][i] = NULL;
            } else {
                size_t n = kt_log_size(&rng, max);
                void *r = kheap_realloc(h, p[k][i], n);
                if (r != NULL) {
                    size_t kept = n < len[k][i] ? n : len[k][i];
                    KT_TRUE(ktest_verify(r, kept, seed[k][i]));
                    p[k][i] = r;
                    len[k][i] = n;
                    seed[k][i] = next_seed++;
                    ktest_fill(r, n, seed[k][i]);
                }
            }
            KT_CHECK(h);
            /* The other instance's payloads must not notice. */
            if ((op & 31) == 0)
                for (size_t j = 0; j < slots; j++)
                    if (p[k ^ 1][j] != NULL)
                        KT_TRUE(ktest_verify(p[k ^ 1][j], len[k ^ 1][j], seed[k ^ 1][j]));
        }
        for (unsigned k = 0; k < 2; k++)
            for (size_t j = 0; j < slots; j++)
                if (p[k][j] != NULL) {
                    KT_TRUE(ktest_verify(p[k][j], len[k][j], seed[k][j]));
                    kheap_free(hs[k], p[k][j]);
                }
        KT_CHECK(hs[0]);
        KT_CHECK(hs[1]);
        KT_EQ(0, kt_stats(hs[0]).blocks_in_use);
        KT_EQ(0, kt_stats(hs[1]).blocks_in_use);
        kheap_destroy(hs[1]);
    }
    KT_EQ(0, t.panic.count);
    KT_EQ(0, panic2.count);
    kt_close(&t, env);
}

/* ---------------------------------------------------------------- pages */

static void t_destroy_with_live_blocks(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    uint32_t rng = 9;
    for (size_t i = 0; i < 20; i++)
        (void)kheap_alloc(h, kt_log_size(&rng, fit(&t, 3000, 64)));
    (void)kheap_alloc(h, fit(&t, 64 * KIB, 4));
    (void)kheap_aligned_alloc(h, 1024, fit(&t, 600, 16));
    KT_TRUE(kt_mapped(&t) > 0);
    KT_CHECK(h);
    /* kt_close expects pages_mapped back at 0. */
    kt_close(&t, env);
}

static void t_provider_dry_alloc(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &WRAPPED))
        return;
    kheap *h = t.h;
    t.fail.fail_all = true;
    /* A chain through the blocks themselves: no table to size. */
    void *head = NULL;
    size_t got = 0;
    size_t n = fit(&t, 200, 16);
    if (n < sizeof(void *))
        n = sizeof(void *);
    kheap_stats before = kt_stats(h);
    for (;;) {
        kheap_stats s = kt_stats(h);
        void *p = kheap_alloc(h, n);
        if (p == NULL) {
            kheap_stats after = kt_stats(h);
            KT_SAME_STATS(&s, &after, 1);
            break;
        }
        *(void **)p = head;
        head = p;
        got++;
        if (got > t.room)
            break;  /* cannot happen: every block takes a byte */
    }
    KT_EQ(before.pages, kt_stats(h).pages);
    KT_CHECK(h);
    t.fail.fail_all = false;
    while (head != NULL) {
        void *next = *(void **)head;
        kheap_free(h, head);
        head = next;
    }
    KT_EQ(before.in_use_bytes, kt_stats(h).in_use_bytes);
    /* With the provider back, the same request succeeds again. */
    void *p = kheap_alloc(h, n);
    KT_NONNULL(p);
    kheap_free(h, p);
    KT_CHECK(h);
    kt_close(&t, env);
}

static void t_region_full_recovers(const ktest_env *env)
{
    kt_opts o = STD;
    o.bytes = 128 * KIB;
    kt_heap t;
    if (!kt_open(&t, env, &o))
        return;
    kheap *h = t.h;
    kheap_stats s0 = kt_stats(h);
    void *head = NULL;
    uint32_t rng = 0xabc;
    size_t max = fit(&t, 5000, 8);
    size_t fails = 0;
    /* Keep asking, large and small, until even small requests fail. */
    for (size_t i = 0; fails < 8 && i < t.room; i++) {
        size_t n = kt_log_size(&rng, max);
        if (n < sizeof(void *))
            n = sizeof(void *);
        if (fails > 0)
            n = sizeof(void *);
        void *p = kheap_alloc(h, n);
        if (p == NULL) {
            fails++;
            KT_CHECK(h);
            continue;
        }
        *(void **)p = head;
        head = p;
    }
    KT_TRUE(fails > 0);
    kheap_stats full = kt_stats(h);
    KT_EQ(s0.failed + fails, full.failed);
    KT_EQ(full.pages, kt_mapped(&t));
    KT_CHECK(h);
    while (head != NULL) {
        void *next = *(void **)head;
        kheap_free(h, head);
        head = next;
    }
    kheap_stats s = kt_stats(h);
    KT_EQ(s0.in_use_bytes, s.in_use_bytes);
    KT_EQ(s0.blocks_in_use, s.blocks_in_use);
    void *p = kheap_alloc(h, max);
    KT_NONNULL(p);
    kheap_free(h, p);
    KT_CHECK(h);
    kt_close(&t, env);
}

/* A short mixed workload for the provider variants below. */
static void mixed_workload(kt_heap *t, uint32_t rng_seed)
{
    kheap *h = t->h;
    void *p[MAXP] = {0};
    size_t len[MAXP] = {0};
    size_t slots = fit(t, MAXP, 1);
    size_t max = fit(t, 6000, 4 * MAXP);
    uint32_t rng = rng_seed;
    for (unsigned op = 0; op < 1500 && !ktest_case_failed(); op++) {
        size_t i = ktest_rand(&rng) % slots;
        if (p[i] == NULL) {
            size_t n = kt_log_size(&rng, max);
            p[i] = (op & 7) == 0 ? kheap_aligned_alloc(h, (size_t)64 << ((op >> 3) % 4), n)
                                 : kheap_alloc(h, n);
            if (p[i] != NULL) {
                len[i] = n;
                ktest_fill(p[i], n, (uint32_t)(uintptr_t)p[i]);
            }
        } else if (ktest_rand(&rng) % 3 == 0) {
            size_t n = kt_log_size(&rng, max);
            void *r = kheap_realloc(h, p[i], n);
            if (r != NULL) {
                size_t kept = n < len[i] ? n : len[i];
                KT_TRUE(ktest_verify(r, kept, (uint32_t)(uintptr_t)p[i]));
                p[i] = r;
                len[i] = n;
                ktest_fill(r, n, (uint32_t)(uintptr_t)r);
            }
        } else {
            KT_TRUE(ktest_verify(p[i], len[i], (uint32_t)(uintptr_t)p[i]));
            kheap_free(h, p[i]);
            p[i] = NULL;
        }
        KT_CHECK(h);
        KT_EQ(kt_stats(h).pages, kt_mapped(t));
    }
    for (size_t i = 0; i < slots; i++)
        kheap_free(h, p[i]);
    KT_EQ(0, kt_stats(h).blocks_in_use);
    KT_EQ(0, t->panic.count);
    KT_CHECK(h);
}

static void t_provider_without_grow(const ktest_env *env)
{
    kt_opts o = WRAPPED;
    o.no_grow = true;
    kt_heap t;
    if (!kt_open(&t, env, &o))
        return;
    KT_TRUE(t.config.provider.grow == NULL);
    mixed_workload(&t, 0x51);
    kt_close(&t, env);
}

static void t_page_size_64(const ktest_env *env)
{
    kt_opts o = STD;
    o.bytes = 256 * KIB;
    o.page_size = 64;
    kt_heap t;
    if (!kt_open(&t, env, &o))
        return;
    mixed_workload(&t, 0x64);
    kt_close(&t, env);
}

static void t_small_heap_pages(const ktest_env *env)
{
    /* One-page heaps and a tiny large threshold: nearly every request goes
     * to the provider, grows or trims. */
    kt_opts o = STD;
    o.bytes = 256 * KIB;
    o.heap_pages = 1;
    o.large_threshold = 256;
    kt_heap t;
    if (!kt_open(&t, env, &o))
        return;
    mixed_workload(&t, 0x77);
    kt_close(&t, env);
}

static const ktest_case cases[] = {
    { "api: create rejects a NULL config", t_create_null_config },
    { "api: create rejects a config without map or unmap", t_create_no_map_unmap },
    { "api: create rejects only one lock hook", t_create_one_lock_hook },
    { "api: create takes both lock hooks iff the profile calls them", t_create_lock_hooks_per_profile },
    { "api: create rejects a page size not a power of two or below 64", t_create_bad_page_size },
    { "api: create returns NULL when the provider has no pages", t_create_no_pages },
    { "api: destroy(NULL) is ignored", t_destroy_null },
    { "api: create and destroy give every page back, again and again", t_create_destroy_pages },
    { "api: create with the default (board-scaled) heap size works", t_create_defaults_on_host },
    { "api: alloc(0) gives a unique block", t_alloc_zero_unique },
    { "api: alloc of a huge size fails and changes nothing", t_alloc_huge_fails },
    { "api: aligned_alloc of a huge size or align fails and changes nothing", t_aligned_huge_fails },
    { "api: calloc whose n*size overflows fails", t_calloc_overflow },
    { "api: calloc with a zero count or size gives unique blocks", t_calloc_zero_count },
    { "api: calloc zeroes a reused dirty block", t_calloc_zeroes_reused },
    { "api: calloc zeroes dirty pages fresh from the provider", t_calloc_zeroes_fresh_pages },
    { "api: realloc(NULL, n) acts as alloc", t_realloc_null_is_alloc },
    { "api: realloc(p, 0) frees and returns NULL", t_realloc_zero_frees },
    { "api: realloc shrink keeps the pointer and the bytes", t_realloc_shrink_same },
    { "api: realloc grows in place into a free right neighbour", t_realloc_grow_in_place },
    { "api: realloc that moves keeps every byte", t_realloc_move_keeps_bytes },
    { "api: realloc to a huge size fails and keeps the old block", t_realloc_huge_keeps_block },
    { "api: realloc with the provider dry fails and keeps the old block", t_realloc_provider_dry_keeps_block },
    { "api: aligned_alloc with a non-power-of-two align fails without panic", t_aligned_bad_align },
    { "api: aligned_alloc with align 0 fails", t_aligned_zero_align },
    { "api: aligned_alloc below KHEAP_ALIGN gives KHEAP_ALIGN", t_aligned_small_align },
    { "api: every size 0..4096 is aligned and fully usable", t_every_size_aligned },
    { "api: aligned_alloc for every power of two 8..65536", t_aligned_powers },
    { "api: realloc of an aligned block keeps its bytes", t_aligned_realloc_keeps },
    { "api: free(NULL) is a no-op", t_free_null },
#if KHEAP_CHECKS
    { "api: double free panics once with the address and changes nothing", t_double_free },
    { "api: double free of a large block panics and changes nothing", t_double_free_large },
    { "api: double free of a block merged into its neighbour panics", t_double_free_merged },
    { "api: free of another instance's block panics and changes neither", t_free_other_instance },
    { "api: free of a pointer into a block panics with that address", t_free_interior },
    { "api: free of a misaligned pointer panics with that address", t_free_misaligned },
    { "api: free of a foreign pointer panics", t_free_foreign },
    { "api: realloc of a freed or interior pointer panics and returns NULL", t_realloc_misuse },
    { "api: misuse without a panic hook changes nothing", t_misuse_without_panic_hook },
#endif
    { "api: usable_size(NULL) is 0", t_usable_null },
    { "api: usable_size covers the request and every usable byte can be written", t_usable_whole },
    { "api: stats count allocs, frees and failures exactly", t_stats_counts_exact },
    { "api: stats in_use_bytes rises with a block and returns after free", t_stats_in_use },
    { "api: stats peak values keep the high-water mark", t_stats_peak },
    { "api: stats pages equal the pages the region has mapped", t_stats_pages_match_region },
    { "api: stats largest_free succeeds without the provider, one more does not", t_stats_largest_free },
    { "api: a large block gets a heap of its own and gives it back on free", t_large_own_heap },
    { "api: freeing everything keeps at most one spare heap", t_spare_heap_only },
    { "api: walk visits every live block exactly once", t_walk_every_block_once },
    { "api: walk stops when the callback returns false", t_walk_stops },
#if KHEAP_LOCKS
    { "api: walk runs with the lock held", t_walk_locked },
#endif
    { "api: dump writes text that mentions the heap", t_dump_text },
    { "api: check accepts a NULL why", t_check_null_why },
#if KHEAP_LOCKS
    { "api: lock hooks are taken in balanced, nesting pairs", t_locks_balanced },
#endif
#if KHEAP_CHECKS && KHEAP_LOCKS
    { "api: misuse still releases the lock", t_locks_released_on_misuse },
#endif
    { "api: two instances on one provider keep to their own pages", t_two_instances_apart },
    { "api: two instances interleaved keep every payload", t_two_instances_interleaved },
    { "api: destroy gives back every page with blocks still live", t_destroy_with_live_blocks },
    { "api: alloc with the provider dry fails cleanly and recovers", t_provider_dry_alloc },
    { "api: filling the region fails cleanly and recovers", t_region_full_recovers },
    { "api: works over a provider without grow", t_provider_without_grow },
    { "api: works over 64-byte pages", t_page_size_64 },
    { "api: works with one-page heaps and a small large threshold", t_small_heap_pages },
};

const ktest_group tests_api = { cases, sizeof cases / sizeof cases[0] };
