/*
 * Misuse detection: every class is reported through the panic hook with the
 * address and a message naming the likely bug.  The basic tier's cases run
 * in every build; the full tier's (KHEAP_HARDEN=1) only where it is built,
 * since a basic build does not claim to catch them.
 */
#include "../alloc/kheap.h"
#include "ktest.h"
#include "test_support.h"

/* The panic hook's messages and the checker's verdict, spelled out here so
 * a changed one shows. */
#define M_DOUBLE_FREE "double free"
#define M_HEADER_CHECK "header check failed: double free, or a write over the header"
#define M_OVERFLOW "overflow into the next block's header"
#define M_LINK "free list link corrupted: a write after free?"
#define M_WRITE_AFTER_FREE "write after free: freed memory was changed"
#define M_GIVEN_BACK "double free: its heap was given back"
#define M_CANARY "write past the end of the block: the trailing canary was changed"
#define V_CANARY "a block's trailing canary was changed: a write past its end"

static bool open_small(kt_heap *t, const ktest_env *env)
{
    kt_opts o = {.bytes = 16 * 1024, .page_size = 128, .large_threshold = 1024};
    return kt_open(t, env, &o);
}

static void double_free_after_merge_says_double_free(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    char *a = kheap_alloc(t.h, 40), *b = kheap_alloc(t.h, 40), *c = kheap_alloc(t.h, 40);
    kheap_free(t.h, a);
    kheap_free(t.h, b);  /* merges into a */
    kheap_free(t.h, b);
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(b, t.panic.addr);
    /* The merge left b's old header as stale bytes of a free block: the
     * full tier's check word no longer vouches for it. */
    KT_STR_EQ(KHEAP_HARDEN ? M_HEADER_CHECK : M_DOUBLE_FREE, t.panic.what);
    KT_CHECK(t.h);
    kheap_free(t.h, c);
    kt_close(&t, env);
}

#if KHEAP_HARDEN
/* After a detection of corruption the instance stops: later calls fail and
 * report nothing more. */
static void expect_stopped(kt_heap *t)
{
    unsigned reports = t->panic.count;
    KT_NULL(kheap_alloc(t->h, 16));
    KT_FALSE(kheap_check(t->h, NULL));
    KT_EQ(reports, t->panic.count);
}

static void overflow_into_next_header_is_caught_at_free(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    char *a = kheap_alloc(t.h, 40), *b = kheap_alloc(t.h, 40);
    /* A linear overflow from a's end up to b: over a's canary, and over b's
     * check word and size word, whatever the word size and alignment. */
    for (char *c = a + kheap_usable_size(t.h, a); c < b; c++)
        *c = 'x';
    kheap_free(t.h, a);
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(a, t.panic.addr);
    KT_STR_EQ(M_OVERFLOW, t.panic.what);
    kheap_free(t.h, b);  /* b's own header is the broken one */
    KT_EQ(2, t.panic.count);
    KT_PTR_EQ(b, t.panic.addr);
    KT_STR_EQ(M_HEADER_CHECK, t.panic.what);
    kt_close(&t, env);
}

static void forged_free_link_is_caught_at_allocation(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    char *a = kheap_alloc(t.h, 64), *fence = kheap_alloc(t.h, 16);
    kheap_free(t.h, a);
    /* A write after free over the free-list link a now holds. */
    *(void **)(void *)a = fence;
    KT_EQ(0, t.panic.count);
    KT_NULL(kheap_alloc(t.h, 64));
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(a, t.panic.addr);
    KT_STR_EQ(M_LINK, t.panic.what);
    expect_stopped(&t);
    kt_close(&t, env);
}

static void write_after_free_is_caught_when_handed_out(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    /* A 256-byte block sits at the start of its size class, so the search
     * for the same request finds it again (on every word size) before the
     * larger free tail. */
    size_t request = 256 - KHEAP_BLOCK_OVERHEAD;
    char *a = kheap_alloc(t.h, request), *fence = kheap_alloc(t.h, 16);
    kheap_free(t.h, a);
    a[100] = 0;  /* past the links, in the poisoned part */
    KT_EQ(0, t.panic.count);
    KT_NULL(kheap_alloc(t.h, request));
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(a + 100, t.panic.addr);
    KT_STR_EQ(M_WRITE_AFTER_FREE, t.panic.what);
    expect_stopped(&t);
    (void)fence;
    kt_close(&t, env);
}

static void double_free_of_a_returned_large_block_is_reported(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    kheap_stats s0;
    kheap_stats_get(t.h, &s0);
    char *big = kheap_alloc(t.h, s0.largest_free + 2048);
    KT_NONNULL(big);
    kheap_free(t.h, big);  /* its heap goes back to the provider */
    kheap_free(t.h, big);  /* must not read the header of a page that is gone */
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(big, t.panic.addr);
    KT_STR_EQ(M_GIVEN_BACK, t.panic.what);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

static void overflow_past_the_request_is_caught_by_the_canary(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    /* 37 bytes leave slack before the block's end: the overflow stays
     * inside the block, where only the canary can see it. */
    char *a = kheap_alloc(t.h, 37), *fence = kheap_alloc(t.h, 16);
    KT_EQ(37, kheap_usable_size(t.h, a));
    ktest_fill(a, 37, 5);
    KT_TRUE(kheap_check(t.h, NULL));
    a[37] = 'x';  /* one byte past the request */
    const char *why = NULL;
    KT_FALSE(kheap_check(t.h, &why));
    KT_STR_EQ(V_CANARY, why);
    kheap_free(t.h, a);  /* reported, and the block stays as evidence */
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(a + 37, t.panic.addr);
    KT_STR_EQ(M_CANARY, t.panic.what);
    a[37] = (char)0x5c;  /* put the canary back: the free goes through */
    kheap_free(t.h, a);
    KT_EQ(1, t.panic.count);
    KT_CHECK(t.h);
    kheap_free(t.h, fence);
    kt_close(&t, env);
}

static void freed_memory_is_poisoned(const ktest_env *env)
{
    kt_heap t;
    if (!open_small(&t, env))
        return;
    unsigned char *a = kheap_alloc(t.h, 120), *fence = kheap_alloc(t.h, 16);
    ktest_fill(a, 120, 3);
    kheap_free(t.h, a);
    /* Past the two links, up to the footer: all POISON. */
    KT_TRUE(ktest_all_bytes(a + 2 * sizeof(void *), 120 - 4 * sizeof(void *), 0xa5));
    KT_CHECK(t.h);
    kheap_free(t.h, fence);
    kt_close(&t, env);
}
#endif

static const ktest_case cases[] = {
    {"misuse: a double free after a merge says double free", double_free_after_merge_says_double_free},
#if KHEAP_HARDEN
    {"misuse(full): an overflow into the next header is caught at free", overflow_into_next_header_is_caught_at_free},
    {"misuse(full): a forged free-list link is caught at allocation", forged_free_link_is_caught_at_allocation},
    {"misuse(full): a write after free is caught when handed out", write_after_free_is_caught_when_handed_out},
    {"misuse(full): a double free of a returned large block is reported", double_free_of_a_returned_large_block_is_reported},
    {"misuse(full): freed memory is poisoned", freed_memory_is_poisoned},
    {"misuse(full): a write past the request is caught by the trailing canary", overflow_past_the_request_is_caught_by_the_canary},
#endif
};

const ktest_group tests_harden = {cases, sizeof cases / sizeof cases[0]};
