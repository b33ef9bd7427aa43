/*
 * The allocator's seed behaviours, seen from outside through stats, walk
 * and the region's page accounting: split, coalesce, heaps given back, the
 * spare, tail trim, growth in place, the large group, good fit, the
 * one-word header, and kheap_check catching a broken header.
 *
 * Block arithmetic here restates the documented format (heap_internal.h):
 * a block in use costs one size_t, sizes are multiples of KHEAP_ALIGN, the
 * smallest block holds four words.
 */
#include "../alloc/kheap.h"
#include "../alloc/region.h"
#include "ktest.h"
#include "test_support.h"

#define WORD sizeof(size_t)
#define HEADER KHEAP_BLOCK_OVERHEAD
#define SUB_PAGE 128u

/* An instance over its own sub-region with small pages, new heaps of
 * heap_pages pages, and the given large threshold.  The home heap gets what
 * the instance needs (heap_pages 1 asks for no more). */
static bool open_core(kt_heap *t, const ktest_env *env, size_t bytes, size_t heap_pages,
                      size_t large_threshold, bool grow)
{
    kt_opts o = {.bytes = bytes, .page_size = SUB_PAGE, .heap_pages = heap_pages,
                 .large_threshold = large_threshold, .wrap = true, .no_grow = !grow};
    return kt_open(t, env, &o);
}

/* Walk recorder: the blocks in address order of the first heap seen. */
#define MAX_SEEN 16
typedef struct seen {
    size_t n;
    const void *heap;
    kheap_block_info b[MAX_SEEN];
} seen;

static bool record(void *ctx, const kheap_block_info *info)
{
    seen *s = ctx;
    if (s->n == 0)
        s->heap = info->heap;
    if (info->heap != s->heap || s->n == MAX_SEEN)
        return true;
    s->b[s->n++] = *info;
    return true;
}

static seen walk_home(kheap *h)
{
    seen s = {0};
    kheap_walk(h, record, &s);
    return s;
}

static void split_leaves_rest_free(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 16 * 1024, 0, 1u << 20, true))
        return;
    kheap_stats s0 = kt_stats(t.h);
    KT_EQ(1, s0.free_blocks);
    void *p = kheap_alloc(t.h, 100);
    KT_NONNULL(p);
    kheap_stats s1 = kt_stats(t.h);
    KT_EQ(kt_block_for(100), s1.in_use_bytes);
    KT_EQ(s0.free_bytes - kt_block_for(100), s1.free_bytes);
    KT_EQ(1, s1.free_blocks);
    seen w = walk_home(t.h);
    KT_EQ(2, w.n);
    KT_PTR_EQ(p, w.b[0].ptr);
    KT_TRUE(w.b[0].in_use);
    /* In use: what alloc may use; exactly the request in the full tier,
     * whose canary starts where the request ends. */
    KT_EQ(KHEAP_HARDEN ? 100 : kt_block_for(100) - HEADER, w.b[0].size);
    KT_EQ(kheap_usable_size(t.h, p), w.b[0].size);
    KT_FALSE(w.b[1].in_use);
    KT_EQ(s1.free_bytes - HEADER, w.b[1].size);
    KT_PTR_EQ((char *)p + kt_block_for(100), w.b[1].ptr);
    KT_CHECK(t.h);
    kheap_free(t.h, p);
    KT_EQ(s0.free_bytes, kt_stats(t.h).free_bytes);
    KT_EQ(1, kt_stats(t.h).free_blocks);
    kt_close(&t, env);
}

/* Four neighbours a, b, c, d and the free tail after them. */
static bool four_blocks(kt_heap *t, const ktest_env *env, void *p[4])
{
    if (!open_core(t, env, 16 * 1024, 0, 1u << 20, true))
        return false;
    for (int i = 0; i < 4; i++)
        p[i] = kheap_alloc(t->h, 40);
    for (int i = 1; i < 4; i++)
        KT_PTR_EQ((char *)p[i - 1] + kt_block_for(40), p[i]);
    return !ktest_case_failed();
}

static void coalesce_right(const ktest_env *env)
{
    kt_heap t;
    void *p[4];
    if (four_blocks(&t, env, p)) {
        kheap_free(t.h, p[1]);
        KT_EQ(2, kt_stats(t.h).free_blocks);
        kheap_free(t.h, p[0]);  /* merges with b on its right */
        KT_EQ(2, kt_stats(t.h).free_blocks);
        seen w = walk_home(t.h);
        KT_PTR_EQ(p[0], w.b[0].ptr);
        KT_FALSE(w.b[0].in_use);
        KT_EQ(2 * kt_block_for(40) - HEADER, w.b[0].size);
        KT_PTR_EQ(p[2], w.b[1].ptr);
        KT_CHECK(t.h);
    }
    kt_close(&t, env);
}

static void coalesce_left(const ktest_env *env)
{
    kt_heap t;
    void *p[4];
    if (four_blocks(&t, env, p)) {
        kheap_free(t.h, p[0]);
        kheap_free(t.h, p[1]);  /* merges with a on its left */
        KT_EQ(2, kt_stats(t.h).free_blocks);
        seen w = walk_home(t.h);
        KT_PTR_EQ(p[0], w.b[0].ptr);
        KT_EQ(2 * kt_block_for(40) - HEADER, w.b[0].size);
        KT_CHECK(t.h);
    }
    kt_close(&t, env);
}

static void coalesce_both(const ktest_env *env)
{
    kt_heap t;
    void *p[4];
    if (four_blocks(&t, env, p)) {
        kheap_free(t.h, p[0]);
        kheap_free(t.h, p[2]);
        KT_EQ(3, kt_stats(t.h).free_blocks);
        kheap_free(t.h, p[1]);  /* a, b and c become one block */
        KT_EQ(2, kt_stats(t.h).free_blocks);
        seen w = walk_home(t.h);
        KT_PTR_EQ(p[0], w.b[0].ptr);
        KT_FALSE(w.b[0].in_use);
        KT_EQ(3 * kt_block_for(40) - HEADER, w.b[0].size);
        KT_PTR_EQ(p[3], w.b[1].ptr);
        KT_TRUE(w.b[1].in_use);
        kheap_free(t.h, p[3]);  /* and with the free tail: one block again */
        KT_EQ(1, kt_stats(t.h).free_blocks);
        KT_CHECK(t.h);
    }
    kt_close(&t, env);
}

static void one_word_per_block_in_use(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 16 * 1024, 0, 1u << 20, true))
        return;
    /* A request that fills its block exactly shows the whole overhead. */
    size_t r = 4 * KHEAP_ALIGN - HEADER;
    char *a = kheap_alloc(t.h, r);
    char *b = kheap_alloc(t.h, r);
    KT_EQ(r + HEADER, (size_t)(b - a));
    KT_EQ(r, kheap_usable_size(t.h, a));
    KT_EQ(r + HEADER, kt_stats(t.h).in_use_bytes / 2);
    /* The brief's figure: 4 bytes on 32-bit, in the basic tier. */
    if (sizeof(void *) == 4 && KHEAP_ALIGN == 8 && KHEAP_HARDEN == 0)
        KT_EQ(4, (size_t)(b - a) - r);
    kheap_free(t.h, a);
    kheap_free(t.h, b);
    kt_close(&t, env);
}

/* Fills the free space of the instance's newest heap with one block. */
static void *fill_heap(kheap *h)
{
    return kheap_alloc(h, kt_stats(h).largest_free);
}

static void empty_heaps_go_back_but_one_spare(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 24 * 1024, 4, 1u << 20, false))
        return;
    void *home = fill_heap(t.h);
    KT_NONNULL(home);
    kheap_stats s0 = kt_stats(t.h);
    KT_EQ(1, s0.heaps);
    void *x = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* no room: heap 2 */
    kheap_stats s1 = kt_stats(t.h);
    KT_EQ(2, s1.heaps);
    KT_EQ(s0.pages + 4, s1.pages);
    /* A page mapped past kheap right below heap 2 keeps heap 3 apart (a
     * run that ends where heap 2 begins would join it). */
    void *fence = t.region_provider.map(t.region_provider.ctx, 1);
    KT_NONNULL(fence);
    void *y = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* heap 3 */
    KT_EQ(3, kt_stats(t.h).heaps);
    size_t mapped = kt_mapped(&t);
    kheap_free(t.h, x);  /* heap 2 empty: kept as the spare */
    KT_EQ(3, kt_stats(t.h).heaps);
    KT_EQ(mapped, kt_mapped(&t));
    kheap_free(t.h, y);  /* heap 3 empty too: goes back */
    kheap_stats s3 = kt_stats(t.h);
    KT_EQ(2, s3.heaps);
    KT_EQ(s1.pages, s3.pages);
    KT_EQ(mapped - 4, kt_mapped(&t));
    /* The spare serves the next request without the provider. */
    size_t calls = t.fail.calls;
    void *z = kheap_alloc(t.h, 4 * SUB_PAGE - 128);
    KT_NONNULL(z);
    KT_EQ(calls, t.fail.calls);
    KT_EQ(2, kt_stats(t.h).heaps);
    kheap_free(t.h, z);
    kheap_free(t.h, home);
    t.region_provider.unmap(t.region_provider.ctx, fence, 1);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* A provider that maps top down puts a new run right below the newest
 * heap: the heap takes it in (its header moves down).  Those pages stay
 * while the heap holds blocks (a first block cannot be told apart without
 * reading the live block before it) and go back when it empties: it then
 * keeps the pages it was mapped with, as the spare. */
static void a_run_below_the_newest_heap_joins_it(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 24 * 1024, 4, 1u << 20, false))
        return;
    void *home = fill_heap(t.h);
    void *x = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* heap 2 */
    kheap_stats s1 = kt_stats(t.h);
    KT_EQ(2, s1.heaps);
    seen before = walk_home(t.h);
    size_t mapped = kt_mapped(&t);
    void *y1 = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* 4 pages more for heap 2 */
    void *y2 = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* and 4 more */
    kheap_stats s2 = kt_stats(t.h);
    KT_EQ(2, s2.heaps);
    KT_EQ(s1.pages + 8, s2.pages);
    KT_EQ(mapped + 8, kt_mapped(&t));
    KT_TRUE((char *)y2 < (char *)y1 && (char *)y1 < (char *)x);
    KT_CHECK(t.h);
    /* Blocks keep their places; only the header moved, and heap 2's walk
     * now starts below them. */
    seen after = walk_home(t.h);
    KT_TRUE((const char *)after.heap < (const char *)before.heap);
    KT_PTR_EQ(y2, after.b[0].ptr);
    KT_PTR_EQ(before.b[0].ptr, x);
    kheap_free(t.h, y2);  /* 4 free pages at the bottom: they stay */
    KT_EQ(s1.pages + 8, kt_stats(t.h).pages);
    kheap_free(t.h, y1);
    KT_EQ(s1.pages + 8, kt_stats(t.h).pages);
    KT_EQ(mapped + 8, kt_mapped(&t));
    KT_CHECK(t.h);
    kheap_free(t.h, x);  /* heap 2 empty: the spare, at the pages it was mapped with */
    kheap_stats s3 = kt_stats(t.h);
    KT_EQ(2, s3.heaps);
    KT_EQ(s1.pages, s3.pages);
    KT_EQ(mapped, kt_mapped(&t));
    kheap_free(t.h, home);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* A provider that maps top down has put another run right above the
 * newest heap, so a grow at its top fails: after one failed call the heap
 * asks no more, and its growth is one map() (the run below joins it),
 * until its own top trim frees the pages above it; then a grow there
 * succeeds in place. */
static void a_failed_top_grow_is_not_retried_until_a_top_trim(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 24 * 1024, 4, 1u << 20, true))
        return;
    void *home = fill_heap(t.h);
    size_t calls = t.fail.calls;
    void *x = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* the home heap's grow fails: heap 2 */
    KT_EQ(calls + 2, t.fail.calls);
    KT_EQ(2, kt_stats(t.h).heaps);
    calls = t.fail.calls;
    void *y1 = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* heap 2's grow fails, a map joins */
    KT_EQ(calls + 2, t.fail.calls);
    calls = t.fail.calls;
    void *y2 = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* the map alone */
    KT_EQ(calls + 1, t.fail.calls);
    KT_EQ(2, kt_stats(t.h).heaps);
    KT_TRUE(x && y1 && y2);
    size_t pages = kt_stats(t.h).pages, mapped = kt_mapped(&t);
    /* x merges with the rests of its own pages and of y1's: the whole free
     * pages at heap 2's top go back but one, as slack: 2 or 3 of the 4 it
     * spans, as the tier's header sizes leave those rests. */
    kheap_free(t.h, x);
    size_t trimmed = pages - kt_stats(t.h).pages;
    KT_TRUE(trimmed == 2 || trimmed == 3);
    KT_EQ(mapped - trimmed, kt_mapped(&t));
    calls = t.fail.calls;
    void *z = kheap_alloc(t.h, 2 * SUB_PAGE + 64);  /* grows back in place at the top */
    KT_NONNULL(z);
    KT_EQ(calls + 1, t.fail.calls);
    KT_EQ(2, kt_stats(t.h).heaps);
    KT_CHECK(t.h);
    kheap_free(t.h, z);
    kheap_free(t.h, y2);
    kheap_free(t.h, y1);
    kheap_free(t.h, home);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* With trim_by_call no free calls the provider for a normal heap: heap 2
 * empties and stays, whole.  kheap_trim then gives it back (no spare is
 * kept by a trim), and finds nothing more to give the second time. */
static void trim_by_call_frees_give_nothing_back(const ktest_env *env)
{
    kt_heap t;
    kt_opts o = {.bytes = 24 * 1024, .page_size = SUB_PAGE, .heap_pages = 4,
                 .large_threshold = 1u << 20, .wrap = true};
    if (!kt_prepare(&t, env, &o))
        return;
    t.config.trim_by_call = true;
    t.h = kheap_create(&t.config);
    KT_REQUIRE_CLOSE(t.h != NULL);
    void *home = fill_heap(t.h);
    void *x = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* heap 2, 4 pages */
    void *y = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* 4 more below it */
    KT_TRUE(home && x && y);
    kheap_stats s1 = kt_stats(t.h);
    KT_EQ(2, s1.heaps);
    size_t mapped = kt_mapped(&t), calls = t.fail.calls;
    kheap_free(t.h, y);
    kheap_free(t.h, x);  /* heap 2 is empty: it stays, and no call was made */
    KT_EQ(calls, t.fail.calls);
    KT_EQ(s1.pages, kt_stats(t.h).pages);
    KT_EQ(2, kt_stats(t.h).heaps);
    KT_CHECK(t.h);
    KT_EQ(8, kheap_trim(t.h));
    KT_EQ(s1.pages - 8, kt_stats(t.h).pages);
    KT_EQ(mapped - 8, kt_mapped(&t));
    KT_EQ(1, kt_stats(t.h).heaps);
    KT_CHECK(t.h);
    kheap_free(t.h, home);
    KT_EQ(0, kheap_trim(t.h));  /* the home heap keeps the pages it was mapped with */
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* kheap_trim over the default policy: the spare heap free kept goes. */
static void trim_gives_back_the_spare(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 24 * 1024, 4, 1u << 20, true))
        return;
    void *home = fill_heap(t.h);
    void *x = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* heap 2 */
    KT_NONNULL(x);
    size_t pages = kt_stats(t.h).pages;
    kheap_free(t.h, x);  /* heap 2 is the spare: kept */
    KT_EQ(pages, kt_stats(t.h).pages);
    KT_EQ(4, kheap_trim(t.h));
    KT_EQ(pages - 4, kt_stats(t.h).pages);
    KT_EQ(1, kt_stats(t.h).heaps);
    KT_CHECK(t.h);
    kheap_free(t.h, home);
    KT_EQ(0, kheap_trim(t.h));
    KT_EQ(0, kheap_trim(NULL));
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* A provider whose unmap cannot take side-by-side runs back as one (a
 * buddy allocator, say) leaves unmap_spans_runs false: a run mapped right
 * below the newest heap then stays a heap of its own. */
static void without_spanning_unmap_a_run_below_stays_apart(const ktest_env *env)
{
    kt_heap t;
    kt_opts o = {.bytes = 24 * 1024, .page_size = SUB_PAGE, .heap_pages = 4,
                 .large_threshold = 1u << 20, .wrap = true, .no_grow = true};
    if (!kt_prepare(&t, env, &o))
        return;
    KT_TRUE(t.config.provider.unmap_spans_runs);  /* the region shim's */
    t.config.provider.unmap_spans_runs = false;
    t.h = kheap_create(&t.config);
    KT_NONNULL(t.h);
    if (t.h != NULL) {
        void *home = fill_heap(t.h);
        void *x = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* heap 2 */
        void *y = kheap_alloc(t.h, 4 * SUB_PAGE - 128);  /* right below it: heap 3 */
        KT_EQ(3, kt_stats(t.h).heaps);
        KT_TRUE((char *)y + 4 * SUB_PAGE <= (char *)x);
        kheap_free(t.h, y);  /* heap 3 empty: the spare */
        kheap_free(t.h, x);  /* heap 2 empty too: goes back */
        KT_EQ(2, kt_stats(t.h).heaps);
        kheap_free(t.h, home);
        KT_CHECK(t.h);
    }
    kt_close(&t, env);
}

static void large_requests_get_their_own_heap(const ktest_env *env)
{
    kt_heap t;
    size_t threshold = 2 * SUB_PAGE;
    if (!open_core(&t, env, 24 * 1024, 4, threshold, true))
        return;
    kheap_stats s0 = kt_stats(t.h);
    size_t mapped = kt_mapped(&t);
    char *p = kheap_alloc(t.h, 3 * SUB_PAGE);
    KT_NONNULL(p);
    kheap_stats s1 = kt_stats(t.h);
    KT_EQ(s0.heaps + 1, s1.heaps);
    /* Exactly the pages it needs: a header, the block, the sentinel word. */
    KT_EQ(4, s1.pages - s0.pages);
    KT_EQ(mapped + 4, kt_mapped(&t));
    KT_EQ(s0.free_bytes, s1.free_bytes);
    KT_TRUE(kheap_usable_size(t.h, p) >= 3 * SUB_PAGE);
    ktest_fill(p, 3 * SUB_PAGE, 7);
    KT_TRUE(ktest_verify(p, 3 * SUB_PAGE, 7));
    kheap_free(t.h, p);  /* straight back, never the spare */
    kheap_stats s2 = kt_stats(t.h);
    KT_EQ(s0.heaps, s2.heaps);
    KT_EQ(s0.pages, s2.pages);
    KT_EQ(mapped, kt_mapped(&t));
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* Two instances on one sub-region: the first one's home heap sits at the
 * top, the second's right below it.  Destroying the first leaves free pages
 * above the second, so its heap can grow in place. */
typedef struct grow_setup {
    kt_heap t;
    kheap *h;
    size_t mapped0;
    kheap_stats s0;
} grow_setup;

static bool open_growable(grow_setup *g, const ktest_env *env, bool grow)
{
    if (!open_core(&g->t, env, 32 * 1024, 1, 1u << 20, grow))
        return false;
    g->h = kheap_create(&g->t.config);
    KT_NONNULL(g->h);
    if (g->h == NULL)
        return false;
    kheap_destroy(g->t.h);
    g->t.h = NULL;
    g->mapped0 = kt_mapped(&g->t);
    g->s0 = kt_stats(g->h);
    return true;
}

static void close_growable(grow_setup *g, const ktest_env *env)
{
    kheap_destroy(g->h);
    kt_close(&g->t, env);
}

static void heap_grows_in_place_and_trims_back(const ktest_env *env)
{
    grow_setup g;
    if (open_growable(&g, env, true)) {
        size_t want = g.s0.largest_free + 3 * SUB_PAGE;
        char *p = kheap_alloc(g.h, want);
        KT_NONNULL(p);
        kheap_stats s1 = kt_stats(g.h);
        KT_EQ(1, s1.heaps);  /* no new heap: the home heap grew */
        KT_EQ(g.s0.pages + 3, s1.pages);
        KT_EQ(g.mapped0 + 3, kt_mapped(&g.t));
        KT_CHECK(g.h);
        kheap_free(g.h, p);  /* the grown pages go back */
        kheap_stats s2 = kt_stats(g.h);
        KT_EQ(g.s0.pages, s2.pages);
        KT_EQ(g.mapped0, kt_mapped(&g.t));
        KT_EQ(g.s0.free_bytes, s2.free_bytes);
        KT_CHECK(g.h);
    }
    close_growable(&g, env);
}

static void without_grow_a_new_heap_is_mapped(const ktest_env *env)
{
    grow_setup g;
    if (open_growable(&g, env, false)) {
        char *p = kheap_alloc(g.h, g.s0.largest_free + 3 * SUB_PAGE);
        KT_NONNULL(p);
        KT_EQ(2, kt_stats(g.h).heaps);
        KT_TRUE(kheap_check(g.h, NULL));
        kheap_free(g.h, p);
    }
    close_growable(&g, env);
}

static void realloc_grows_the_heap_under_the_last_block(const ktest_env *env)
{
    grow_setup g;
    if (open_growable(&g, env, true)) {
        char *p = fill_heap(g.h);
        size_t n = kheap_usable_size(g.h, p);
        ktest_fill(p, n, 11);
        char *q = kheap_realloc(g.h, p, n + 2 * SUB_PAGE);
        KT_PTR_EQ(p, q);
        KT_EQ(g.s0.pages + 2, kt_stats(g.h).pages);
        KT_TRUE(ktest_verify(q, n, 11));
        KT_CHECK(g.h);
        q = kheap_realloc(g.h, q, n);  /* shrinking gives the pages back but the slack */
        KT_PTR_EQ(p, q);
        KT_EQ(g.s0.pages + 1, kt_stats(g.h).pages);
        KT_TRUE(ktest_verify(q, n, 11));
        kheap_free(g.h, q);  /* and the slack once the heap is empty */
        KT_EQ(g.s0.pages, kt_stats(g.h).pages);
        KT_CHECK(g.h);
    }
    close_growable(&g, env);
}

/* Holes of 1x, 2x and 8x a request, each fenced by a block in use, and the
 * rest of the heap taken, so no dv can serve it (a freed block becomes the
 * dv only when there is none: here the smallest hole, too small). */
static void good_fit_picks_the_smallest_class_that_fits(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 16 * 1024, 0, 1u << 20, true))
        return;
    size_t r = 48;
    void *small = kheap_alloc(t.h, r / 2), *f1 = kheap_alloc(t.h, 8);
    void *fits = kheap_alloc(t.h, 2 * r), *f2 = kheap_alloc(t.h, 8);
    void *big = kheap_alloc(t.h, 8 * r), *f3 = kheap_alloc(t.h, 8);
    void *rest = fill_heap(t.h);
    KT_NONNULL(rest);
    KT_EQ(0, kt_stats(t.h).free_blocks);
    kheap_free(t.h, small);
    kheap_free(t.h, fits);
    kheap_free(t.h, big);
    KT_PTR_EQ(fits, kheap_alloc(t.h, r));
    KT_EQ(3, kt_stats(t.h).free_blocks);  /* small, fits' rest, big */
    KT_CHECK(t.h);
    kheap_free(t.h, fits);
    kheap_free(t.h, f1);
    kheap_free(t.h, f2);
    kheap_free(t.h, f3);
    kheap_free(t.h, rest);
    KT_EQ(1, kt_stats(t.h).free_blocks);
    kt_close(&t, env);
}

/* The order an allocation looks in: the head of its own list (an exact fit
 * for small sizes), then good fit over the index, then the dv (here the
 * heap's free tail). */
static void own_list_then_good_fit_then_dv(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 16 * 1024, 0, 1u << 20, true))
        return;
    size_t r = 24;
    void *exact = kheap_alloc(t.h, r), *f1 = kheap_alloc(t.h, 8);
    void *wide = kheap_alloc(t.h, 8 * r), *f2 = kheap_alloc(t.h, 8);
    char *tail = kheap_alloc(t.h, 8);  /* the dv starts after it */
    kheap_free(t.h, exact);
    kheap_free(t.h, wide);
    KT_PTR_EQ(exact, kheap_alloc(t.h, r));
    char *from_wide = kheap_alloc(t.h, r);
    KT_PTR_EQ(wide, from_wide);
    void *wide_rest = kheap_alloc(t.h, 8 * r - kt_block_for(r));
    KT_PTR_EQ((char *)wide + kt_block_for(r), wide_rest);
    KT_PTR_EQ(tail + kt_block_for(8), kheap_alloc(t.h, r));
    KT_CHECK(t.h);
    void *all[] = {exact, f1, from_wide, wide_rest, f2, tail, tail + kt_block_for(8)};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        kheap_free(t.h, all[i]);
    KT_EQ(1, kt_stats(t.h).free_blocks);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

static void aligned_gap_becomes_a_free_block(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 16 * 1024, 0, 1u << 20, true))
        return;
    size_t align = 4 * KHEAP_ALIGN;
    void *first = kheap_alloc(t.h, 8);
    /* Misalign the free space so the aligned block needs a gap: with a
     * block that is not a multiple of align (with tracing and the full
     * tier on 32-bit, an 8-byte request's block is exactly 4 * 8). */
    if (((uintptr_t)first + kt_block_for(8)) % align == 0) {
        size_t odd = 8;
        while (kt_block_for(odd) % align == 0)
            odd += KHEAP_ALIGN;
        (void)kheap_alloc(t.h, odd);
    }
    char *p = kheap_aligned_alloc(t.h, align, 64);
    KT_ALIGNED(p, align);
    seen w = walk_home(t.h);
    size_t i = 0;
    while (i < w.n && w.b[i].ptr != p)
        i++;
    KT_TRUE(i > 0 && i < w.n);
    if (i > 0 && i < w.n) {
        KT_FALSE(w.b[i - 1].in_use);  /* the gap before it is a block of its own */
        KT_TRUE(w.b[i - 1].size + HEADER >= kt_min_block());
    }
    KT_CHECK(t.h);
    kt_close(&t, env);
}

static void check_names_a_broken_header(const ktest_env *env)
{
    kt_heap t;
    if (!open_core(&t, env, 16 * 1024, 0, 1u << 20, true))
        return;
    char *a = kheap_alloc(t.h, 40);
    char *b = kheap_alloc(t.h, 40);
    char *c = kheap_calloc(t.h, 1, 40);  /* zeroes where b's next header will be read */
    KT_CHECK(t.h);
    size_t *header = (size_t *)(void *)(b - WORD);
    size_t saved = *header;
    *header = saved + KHEAP_ALIGN;  /* an overflow from a into b's header */
    /* The full tier's check word no longer vouches for b's header; the
     * basic tier walks on by b's new size into c, whose zeroed payload
     * reads as a size-0 header. */
    const char *why = NULL;
    KT_FALSE(kheap_check(t.h, &why));
    KT_STR_EQ(KHEAP_HARDEN ? "header check word is wrong: a write over this header"
                           : "block size below the minimum or not a multiple of KHEAP_ALIGN",
              why);
    *header = saved;
    KT_TRUE(kheap_check(t.h, &why));
    KT_NULL(why);
    kheap_free(t.h, a);
    kheap_free(t.h, b);
    kheap_free(t.h, c);
    kt_close(&t, env);
}

/* The dump's text, collected (in scratch pages: two of these would
 * overflow the micro:bit's 2 KiB stack). */
typedef struct text_buf {
    char text[768];
    size_t len;
    bool overflow;
} text_buf;

static void buf_put(text_buf *tb, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tb->len + 1 >= sizeof tb->text) {
            tb->overflow = true;
            break;
        }
        tb->text[tb->len++] = s[i];
    }
    tb->text[tb->len] = '\0';
}

static void buf_out(void *ctx, const char *text, size_t len) { buf_put(ctx, text, len); }

static void buf_str(text_buf *tb, const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    buf_put(tb, s, n);
}

static void buf_num(text_buf *tb, uintmax_t v, unsigned base)
{
    char d[3 * sizeof v + 1];
    size_t i = sizeof d;
    do {
        unsigned x = (unsigned)(v % base);
        d[--i] = (char)(x < 10 ? '0' + x : 'a' + x - 10);
        v /= base;
    } while (v != 0);
    if (base == 16)
        buf_str(tb, "0x");
    buf_put(tb, d + i, sizeof d - i);
}

static void buf_field(text_buf *tb, const char *name, size_t v)
{
    buf_str(tb, " ");
    buf_str(tb, name);
    buf_str(tb, "=");
    buf_num(tb, v, 10);
}

static void buf_heap(text_buf *tb, uintptr_t addr, size_t pages, const char *kind)
{
    buf_str(tb, "heap addr=");
    buf_num(tb, addr, 16);
    buf_field(tb, "pages", pages);
    buf_field(tb, "bytes", pages * SUB_PAGE);
    buf_str(tb, " kind=");
    buf_str(tb, kind);
    buf_str(tb, "\n");
}

/* used: the block's payload, or NULL for a free block; a traced build
 * names a used block's site, which kheap_site_of tells. */
static void buf_block(text_buf *tb, kheap *h, size_t offset, size_t size, const void *used)
{
    buf_str(tb, "block");
    buf_field(tb, "offset", offset);
    buf_field(tb, "size", size);
    buf_str(tb, used != NULL ? " state=used" : " state=free");
#if KHEAP_TRACE
    if (used != NULL) {
        buf_str(tb, " site=");
        buf_num(tb, (uintptr_t)kheap_site_of(h, used), 16);
    }
#else
    (void)h;
#endif
    buf_str(tb, "\n");
}

static size_t max_of(size_t a, size_t b) { return a > b ? a : b; }

/* The exact text for a home heap holding [a free][b used][rest free] and
 * a large heap holding c.  Every figure comes from outside diag.c: the
 * addresses alloc returned, the region's page count and the block format
 * (a heap starts on a page with its header; a block's size runs from its
 * payload to the next payload, so a heap's last block ends at its end,
 * where the sentinel's payload would start). */
static void dump_is_exact(const ktest_env *env)
{
    kt_heap t;
    const size_t threshold = 4 * SUB_PAGE;
    text_buf *bufs = kt_scratch_get(env, 2 * sizeof(text_buf));
    if (bufs == NULL) {
        KT_NONNULL(bufs);
        return;
    }
    if (!open_core(&t, env, 16 * 1024, 0, threshold, false)) {
        kt_scratch_put(env, bufs, 2 * sizeof(text_buf));
        return;
    }
    const uintptr_t page_mask = SUB_PAGE - 1;
    char *a = kheap_alloc(t.h, 100), *b = kheap_alloc(t.h, 40);
    kheap_free(t.h, a);
    size_t home_pages = kt_mapped(&t);
    uintptr_t home = (uintptr_t)t.h & ~page_mask;
    size_t home_bytes = home_pages * SUB_PAGE;
    KT_TRUE((uintptr_t)a > home && (uintptr_t)b > (uintptr_t)a &&
            (uintptr_t)b < home + home_bytes);   /* both in the home heap */
    /* Larger than any free block, and large: a heap of its own. */
    size_t big = max_of(kt_stats(t.h).largest_free + 1, threshold);
    char *c = kheap_alloc(t.h, big);
    if (a == NULL || b == NULL || c == NULL) {
        KT_TRUE(a != NULL && b != NULL && c != NULL);
        kt_close(&t, env);
        kt_scratch_put(env, bufs, 2 * sizeof(text_buf));
        return;
    }
    size_t large_pages = kt_mapped(&t) - home_pages;
    uintptr_t large = (uintptr_t)c & ~page_mask;

    size_t a_off = (size_t)((uintptr_t)a - home), b_off = (size_t)((uintptr_t)b - home);
    size_t rest_off = b_off + kt_block_for(40);
    size_t rest_block = home_bytes - rest_off;
    size_t c_off = (size_t)((uintptr_t)c - large);
    size_t c_block = large_pages * SUB_PAGE - c_off;
    size_t used_b = KHEAP_HARDEN ? 40 : kt_block_for(40) - HEADER;
    size_t used_c = KHEAP_HARDEN ? big : c_block - HEADER;

    text_buf *want = &bufs[0], *got = &bufs[1];
    want->len = got->len = 0;
    want->overflow = got->overflow = false;
    buf_str(want, "kheap-dump begin instance=");
    buf_num(want, (uintptr_t)t.h, 16);
    buf_field(want, "page_size", SUB_PAGE);
    buf_str(want, "\n");
    buf_heap(want, large, large_pages, "large");   /* newest first */
    buf_block(want, t.h, c_off, used_c, c);
    buf_heap(want, home, home_pages, "home");
    buf_block(want, t.h, a_off, kt_block_for(100) - HEADER, NULL);
    buf_block(want, t.h, b_off, used_b, b);
    buf_block(want, t.h, rest_off, rest_block - HEADER, NULL);
    buf_str(want, "stats");
    buf_field(want, "in_use", kt_block_for(40) + c_block);
    buf_field(want, "free", kt_block_for(100) + rest_block);
    buf_field(want, "largest_free", max_of(kt_block_for(100), rest_block) - HEADER);
    buf_field(want, "peak_in_use", KT_COUNTED(max_of(kt_block_for(100), c_block) + kt_block_for(40)));
    buf_field(want, "pages", home_pages + large_pages);
    buf_field(want, "heaps", 2);
    buf_field(want, "allocs", KT_COUNTED(3));
    buf_field(want, "frees", KT_COUNTED(1));
    buf_field(want, "failed", 0);
    buf_str(want, "\nkheap-dump end\n");

    kheap_dump(t.h, buf_out, got);
    KT_FALSE(want->overflow);
    KT_FALSE(got->overflow);
    KT_STR_EQ(want->text, got->text);
    kheap_free(t.h, b);
    kheap_free(t.h, c);
    kt_close(&t, env);
    kt_scratch_put(env, bufs, 2 * sizeof(text_buf));
}

static const ktest_case cases[] = {
    {"core: split leaves the rest of a block free", split_leaves_rest_free},
    {"core: free coalesces with the block on its right", coalesce_right},
    {"core: free coalesces with the block on its left", coalesce_left},
    {"core: free coalesces with both neighbours", coalesce_both},
    {"core: a block in use costs one header (one word in the basic tier)", one_word_per_block_in_use},
    {"core: empty heaps go back to the provider but one spare", empty_heaps_go_back_but_one_spare},
    {"core: a run below the newest heap joins it, and goes back once free", a_run_below_the_newest_heap_joins_it},
    {"core: with trim_by_call frees give nothing back, kheap_trim gives back what it can",
     trim_by_call_frees_give_nothing_back},
    {"core: kheap_trim gives back the spare heap", trim_gives_back_the_spare},
    {"core: a failed grow at a heap's top is not retried until the heap trims its top",
     a_failed_top_grow_is_not_retried_until_a_top_trim},
    {"core: without a spanning unmap, a run below stays a heap of its own", without_spanning_unmap_a_run_below_stays_apart},
    {"core: large requests get a heap of their own, returned on free", large_requests_get_their_own_heap},
    {"core: a heap grows in place and trims its tail back", heap_grows_in_place_and_trims_back},
    {"core: without grow a new heap is mapped", without_grow_a_new_heap_is_mapped},
    {"core: realloc grows the heap under the last block", realloc_grows_the_heap_under_the_last_block},
    {"core: good fit takes the smallest size class that fits", good_fit_picks_the_smallest_class_that_fits},
    {"core: own list first, then good fit, then the designated victim", own_list_then_good_fit_then_dv},
    {"core: an aligned block's gap becomes a free block", aligned_gap_becomes_a_free_block},
    {"core: check names a broken header", check_names_a_broken_header},
    {"core: dump prints the exact map of a known instance", dump_is_exact},
};

const ktest_group tests_core = {cases, sizeof cases / sizeof cases[0]};
