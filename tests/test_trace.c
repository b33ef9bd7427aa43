/*
 * Call-site tracing (KHEAP_TRACE=1, alloc/kheap.h): sites recorded by the
 * plain calls and the _at variants, kheap_mark and the grouped leak walk,
 * its table's overflow, kheap_site_of and the dump's site field.  Without
 * tracing only the _at variants exist, as the plain calls: that is tested
 * in every build.  Tags are made-up addresses; bytes are checked against
 * kheap_usable_size of the very blocks, which the api tests pin down.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../alloc/heap_internal.h"
#include "ktest.h"
#include "test_support.h"

/* Small pages and a small heap: the cases fit the micro:bit. */
static bool open_small(kt_heap *t, const ktest_env *env)
{
    kt_opts o = {.bytes = 8 * 1024, .page_size = 128, .large_threshold = 1024};
    return kt_open(t, env, &o);
}

#define TAG(n) ((const void *)(uintptr_t)(0x1000u + 0x10u * (n)))

static void at_variants_allocate_as_the_plain_calls(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    char *a = kheap_alloc_at(t.h, 40, TAG(1));
    char *b = kheap_calloc_at(t.h, 3, 8, TAG(2));
    char *c = kheap_aligned_alloc_at(t.h, 64, 24, TAG(3));
    KT_REQUIRE_CLOSE(a != NULL && b != NULL && c != NULL);
    KT_TRUE(ktest_all_bytes(b, 24, 0));
    KT_ALIGNED(c, 64);
    a = kheap_realloc_at(t.h, a, 200, TAG(4));
    KT_NONNULL(a);
    KT_TRUE(kheap_usable_size(t.h, a) >= 200);
    KT_EQ(3, kt_stats(t.h).blocks_in_use);
    KT_CHECK(t.h);
    kheap_free(t.h, a);
    kheap_free(t.h, b);
    kheap_free(t.h, c);
    KT_EQ(0, t.panic.count);
    kt_close(&t, env);
}

#if KHEAP_TRACE

/* What a leak walk reported, kept in the order of the calls. */
typedef struct report {
    size_t calls;
    kheap_leak leak[KHEAP_LEAK_SITES + 1];
} report;

static void record(void *ctx, const kheap_leak *leak)
{
    report *r = ctx;
    if (r->calls < KHEAP_LEAK_SITES + 1)
        r->leak[r->calls] = *leak;
    r->calls++;
}

static report leaks_of(kheap *h)
{
    report r = {0};
    size_t n = kheap_leaks(h, record, &r);
    KT_EQ(r.calls, n);
    return r;
}

/* The entry of `site` in r, or NULL (reported) when r has none. */
static const kheap_leak *find_at(const report *r, const void *site, const char *file, int line)
{
    for (size_t i = 0; i < r->calls && i < KHEAP_LEAK_SITES + 1; i++)
        if (!r->leak[i].other && r->leak[i].site == site)
            return &r->leak[i];
    ktest_fail_x(file, line, "a leak group for the site", (uintptr_t)site, 0);
    return NULL;
}

/* Expects exactly `blocks` blocks of `bytes` bytes from `site`. */
static void expect_at(const report *r, const void *site, size_t blocks, size_t bytes,
                      const char *file, int line)
{
    const kheap_leak *l = find_at(r, site, file, line);
    if (l == NULL)
        return;
    if (l->blocks != blocks)
        ktest_fail_u(file, line, "leak->blocks", blocks, l->blocks);
    if (l->bytes != bytes)
        ktest_fail_u(file, line, "leak->bytes", bytes, l->bytes);
}
#define EXPECT_LEAK(r, site, blocks, bytes) expect_at(&(r), (site), (blocks), (bytes), __FILE__, __LINE__)

static size_t usable_of(kheap *h, const void *p) { return kheap_usable_size(h, p); }

static void leaks_since_the_mark_grouped_by_site(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    /* Before any mark: everything since create. */
    void *old = kheap_alloc_at(t.h, 100, TAG(9));
    report r = leaks_of(t.h);
    KT_EQ(1, r.calls);
    EXPECT_LEAK(r, TAG(9), 1, usable_of(t.h, old));
    kheap_mark(t.h);
    KT_EQ(0, leaks_of(t.h).calls);

    void *a[3], *b[2], *balanced[4];
    for (int i = 0; i < 3; i++)
        a[i] = kheap_alloc_at(t.h, 24 + 8 * (size_t)i, TAG(1));
    for (int i = 0; i < 4; i++)
        balanced[i] = kheap_alloc_at(t.h, 48, TAG(2));
    for (int i = 0; i < 2; i++)
        b[i] = kheap_calloc_at(t.h, 5, 20, TAG(3));
    for (int i = 0; i < 4; i++)
        kheap_free(t.h, balanced[i]);
    KT_REQUIRE_CLOSE(a[0] && a[1] && a[2] && b[0] && b[1]);
    r = leaks_of(t.h);
    KT_EQ(2, r.calls);
    EXPECT_LEAK(r, TAG(1), 3, usable_of(t.h, a[0]) + usable_of(t.h, a[1]) + usable_of(t.h, a[2]));
    EXPECT_LEAK(r, TAG(3), 2, usable_of(t.h, b[0]) + usable_of(t.h, b[1]));
    KT_FALSE(r.leak[0].other || r.leak[1].other);
    /* The walk left the heap as it was, and a new mark forgets them all. */
    KT_CHECK(t.h);
    kheap_mark(t.h);
    KT_EQ(0, leaks_of(t.h).calls);
    for (int i = 0; i < 3; i++)
        kheap_free(t.h, a[i]);
    kheap_free(t.h, b[0]);
    kheap_free(t.h, b[1]);
    kheap_free(t.h, old);
    KT_EQ(0, t.panic.count);
    kt_close(&t, env);
}

static void free_removes_a_block_from_the_report(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    kheap_mark(t.h);
    void *p = kheap_alloc_at(t.h, 64, TAG(1)), *q = kheap_alloc_at(t.h, 64, TAG(1));
    KT_REQUIRE_CLOSE(p != NULL && q != NULL);
    report r = leaks_of(t.h);
    EXPECT_LEAK(r, TAG(1), 2, usable_of(t.h, p) + usable_of(t.h, q));
    kheap_free(t.h, p);
    r = leaks_of(t.h);
    KT_EQ(1, r.calls);
    EXPECT_LEAK(r, TAG(1), 1, usable_of(t.h, q));
    kheap_free(t.h, q);
    KT_EQ(0, leaks_of(t.h).calls);
    kt_close(&t, env);
}

/* A realloc records its own site and counts as new since the mark, moved
 * or not (kheap.h). */
static void realloc_takes_the_new_site_moved_or_not(const ktest_env *env)
{
    /* One span over a buffer: blocks lie in allocation order and none can
     * grow past the span, so a block with one in use after it moves. */
    const size_t bytes = 8 * 1024;
    void *buf = kt_scratch_get(env, bytes);
    KT_REQUIRE(buf != NULL);
    kheap *h = kheap_create_in(buf, bytes, NULL);
    char *p = kheap_alloc_at(h, 200, TAG(1));
    char *fence = kheap_alloc_at(h, 16, TAG(1));
    char *m = kheap_alloc_at(h, 32, TAG(1));
    char *fence2 = kheap_alloc_at(h, 16, TAG(1));
    if (p != NULL && fence != NULL && m != NULL && fence2 != NULL) {
        kheap_mark(h);
        char *shrunk = kheap_realloc_at(h, p, 100, TAG(2));
        KT_PTR_EQ(p, shrunk);
        char *moved = kheap_realloc_at(h, m, 600, TAG(3));
        KT_NONNULL(moved);
        KT_TRUE(moved != m);
        KT_PTR_EQ(TAG(2), kheap_site_of(h, shrunk));
        KT_PTR_EQ(TAG(3), kheap_site_of(h, moved));
        KT_PTR_EQ(TAG(1), kheap_site_of(h, fence));
        report r = leaks_of(h);
        KT_EQ(2, r.calls);
        EXPECT_LEAK(r, TAG(2), 1, usable_of(h, shrunk));
        EXPECT_LEAK(r, TAG(3), 1, usable_of(h, moved));
        KT_CHECK(h);
    } else {
        KT_TRUE(p != NULL && fence != NULL && m != NULL && fence2 != NULL);
    }
    kheap_destroy(h);
    kt_scratch_put(env, buf, bytes);
}

/* The blocks in use in kheap_walk's order. */
typedef struct walk_order {
    kheap *h;
    size_t n;
    void *ptr[KHEAP_LEAK_SITES + 8];
} walk_order;

static bool walk_visit(void *ctx, const kheap_block_info *info)
{
    walk_order *w = ctx;
    if (info->in_use && w->n < sizeof w->ptr / sizeof w->ptr[0])
        w->ptr[w->n++] = info->ptr;
    return true;
}

/* More sites than the table holds: the first KHEAP_LEAK_SITES in walk
 * order get a group each, the rest one `other` group. */
static void more_sites_than_the_table_holds(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    enum { EXTRA = 3, N = KHEAP_LEAK_SITES + EXTRA };
    void *p[N];
    size_t n = 0, other_bytes = 0;
    kheap_mark(t.h);
    for (; n < N; n++) {
        p[n] = kheap_alloc_at(t.h, 8, TAG(n + 1));
        if (p[n] == NULL)
            break;
    }
    KT_REQUIRE_CLOSE(n == N);
    /* The table fills in walk order: the blocks as kheap_walk meets them. */
    walk_order w = {.h = t.h};
    kheap_walk(t.h, walk_visit, &w);
    KT_REQUIRE_CLOSE(w.n == N);
    for (size_t i = KHEAP_LEAK_SITES; i < N; i++)
        other_bytes += usable_of(t.h, w.ptr[i]);
    report r = leaks_of(t.h);
    KT_EQ(KHEAP_LEAK_SITES + 1, r.calls);
    for (size_t i = 0; i < KHEAP_LEAK_SITES; i++) {
        KT_PTR_EQ(kheap_site_of(t.h, w.ptr[i]), r.leak[i].site);
        KT_EQ(1, r.leak[i].blocks);
        KT_EQ(usable_of(t.h, w.ptr[i]), r.leak[i].bytes);
        KT_FALSE(r.leak[i].other);
    }
    KT_TRUE(r.leak[KHEAP_LEAK_SITES].other);
    KT_PTR_EQ(NULL, r.leak[KHEAP_LEAK_SITES].site);
    KT_EQ(EXTRA, r.leak[KHEAP_LEAK_SITES].blocks);
    KT_EQ(other_bytes, r.leak[KHEAP_LEAK_SITES].bytes);
    /* As many sites as fit: no other group. */
    for (size_t i = KHEAP_LEAK_SITES; i < N; i++)
        kheap_free(t.h, w.ptr[i]);
    r = leaks_of(t.h);
    KT_EQ(KHEAP_LEAK_SITES, r.calls);
    for (size_t i = 0; i < r.calls; i++)
        KT_FALSE(r.leak[i].other);
    for (size_t i = 0; i < KHEAP_LEAK_SITES; i++)
        kheap_free(t.h, w.ptr[i]);
    kt_close(&t, env);
}

/* The plain calls record their caller: a site inside the function that
 * called them.  Each helper stores the result after the call, so the call
 * is not a tail call and the return address is the helper's own. */
static void *volatile sink;
#define CALLER_HELPER(name, call) \
    static __attribute__((noinline)) void *name(kheap *h, void *p) \
    { \
        (void)p; \
        void *r = call; \
        sink = r; \
        return r; \
    }
CALLER_HELPER(by_alloc, kheap_alloc(h, 40))
CALLER_HELPER(by_calloc, kheap_calloc(h, 2, 20))
CALLER_HELPER(by_realloc, kheap_realloc(h, p, 300))
CALLER_HELPER(by_aligned, kheap_aligned_alloc(h, 64, 40))

/* site lies in the function at fn: after its start, and close. */
static bool inside_fn(const void *site, void *(*fn)(kheap *, void *))
{
    uintptr_t start = (uintptr_t)fn & ~(uintptr_t)1; /* Thumb: bit 0 is the state */
    return (uintptr_t)site > start && (uintptr_t)site - start < 256;
}

static void plain_calls_record_their_caller(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    void *a = by_alloc(t.h, NULL), *c = by_calloc(t.h, NULL), *g = by_aligned(t.h, NULL);
    void *r = by_alloc(t.h, NULL);
    KT_REQUIRE_CLOSE(a && c && g && r);
    KT_TRUE(inside_fn(kheap_site_of(t.h, a), by_alloc));
    KT_TRUE(inside_fn(kheap_site_of(t.h, c), by_calloc));
    KT_TRUE(inside_fn(kheap_site_of(t.h, g), by_aligned));
    KT_FALSE(inside_fn(kheap_site_of(t.h, g), by_alloc));
    r = by_realloc(t.h, r);
    KT_REQUIRE_CLOSE(r != NULL);
    KT_TRUE(inside_fn(kheap_site_of(t.h, r), by_realloc));
    kheap_free(t.h, a);
    kheap_free(t.h, c);
    kheap_free(t.h, g);
    kheap_free(t.h, r);
    KT_EQ(0, t.panic.count);
    kt_close(&t, env);
}

static void site_of_a_bad_pointer_is_misuse(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    char *p = kheap_alloc_at(t.h, 40, TAG(5));
    KT_REQUIRE_CLOSE(p != NULL);
    KT_PTR_EQ(TAG(5), kheap_site_of(t.h, p));
    KT_PTR_EQ(NULL, kheap_site_of(t.h, NULL));
    KT_EQ(0, t.panic.count);
    KT_PTR_EQ(NULL, kheap_site_of(t.h, p + 8));
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(p + 8, t.panic.addr);
    kheap_free(t.h, p);
    KT_PTR_EQ(NULL, kheap_site_of(t.h, p));
    KT_EQ(2, t.panic.count);
    kt_close(&t, env);
}

static void dump_names_the_site_of_blocks_in_use(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    void *p = kheap_alloc_at(t.h, 40, (const void *)(uintptr_t)0xabc0);
    void *q = kheap_alloc_at(t.h, 40, (const void *)(uintptr_t)0x1230);
    KT_REQUIRE_CLOSE(p != NULL && q != NULL);
    kheap_free(t.h, p);
    static char buf[1536];
    kt_text out = {buf, sizeof buf, 0, 0};
    kheap_dump(t.h, kt_text_out, &out);
    KT_TRUE(out.total < sizeof buf);
    KT_TRUE(ktest_contains(buf, " state=used site=0x1230\n"));
    KT_FALSE(ktest_contains(buf, "0xabc0"));
    KT_FALSE(ktest_contains(buf, "state=free site"));
    KT_TRUE(ktest_contains(buf, "kheap-dump end\n"));
    kheap_free(t.h, q);
    kt_close(&t, env);
}
#endif

/* KHEAP_TRACE is part of the layout an instance records: a build with
 * the other setting refuses it, as for the tier (test_misuse.c). */
static void KT_PROFILED other_tracing_build_is_refused(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    void *p = kheap_alloc(t.h, 40);
    KT_REQUIRE_CLOSE(p != NULL);
    size_t layout = t.h->layout;
    t.h->layout ^= (size_t)1 << 16;
    KT_NULL(kheap_alloc_at(t.h, 40, TAG(1)));
    KT_EQ(0, kheap_usable_size(t.h, p));
    const char *why = NULL;
    KT_FALSE(kheap_check(t.h, &why));
    KT_STR_EQ("instance created by a build with other layout options", why);
    t.h->layout = layout;
    KT_TRUE(kheap_usable_size(t.h, p) >= 40);
    kheap_free(t.h, p);
    KT_EQ(0, t.panic.count);
    kt_close(&t, env);
}

static const ktest_case cases[] = {
    {"trace: the _at variants allocate as the plain calls", at_variants_allocate_as_the_plain_calls},
#if KHEAP_CHECKS
    {"trace: an instance of the other tracing build is refused", other_tracing_build_is_refused},
#endif
#if KHEAP_TRACE
    {"trace: leaks since the mark, grouped by site, exact counts and bytes", leaks_since_the_mark_grouped_by_site},
    {"trace: a freed block leaves the report", free_removes_a_block_from_the_report},
    {"trace: realloc takes the new site, moved or not", realloc_takes_the_new_site_moved_or_not},
    {"trace: more sites than the table holds end in one other group", more_sites_than_the_table_holds},
    {"trace: the plain calls record their caller", plain_calls_record_their_caller},
    {"trace: kheap_site_of a bad pointer is misuse", site_of_a_bad_pointer_is_misuse},
    {"trace: the dump names the site of each block in use", dump_names_the_site_of_blocks_in_use},
#endif
};

const ktest_group tests_trace = {cases, sizeof cases / sizeof cases[0]};
