/*
 * kheap_create_in: an instance over a fixed buffer, no provider (the
 * o1heap/TLSF use case), against its contract in alloc/kheap.h.  The
 * buffer is scratch memory: a run mapped from env->region for the case and
 * given back at its end, so a small board keeps its RAM for the rest.
 * Sizes come from the layout (heap_internal.h, pages.h), so the stats are
 * checked exactly.
 */
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../alloc/pages.h"
#include "../alloc/kheap.h"
#include "ktest.h"
#include "test_support.h"

/* Bytes of the buffer before its first block's payload: the span's header
 * and the instance, as kheap_create_in lays them out. */
static size_t fixed_overhead(void)
{
    return first_payload_offset(home_header_bytes());
}

typedef struct scratch {
    void *run;
    size_t pages;
    size_t bytes;
} scratch;

/* A run of at least `bytes` (fewer when env->region has less, but always
 * room for the instance and some blocks); false when there is not. */
static bool scratch_get(scratch *s, const ktest_env *env, size_t bytes)
{
    const kheap_provider *p = env->region_provider;
    size_t free = kt_env_free_bytes(env);
    size_t least = fixed_overhead() + 16 * KH_MIN_BLOCK;
    if (bytes > free)
        bytes = free;
    if (bytes < least)
        return false;
    s->pages = (bytes + p->page_size - 1) / p->page_size;
    s->run = p->map(p->ctx, s->pages);
    s->bytes = s->pages * p->page_size;
    return s->run != NULL;
}

static void scratch_put(scratch *s, const ktest_env *env)
{
    const kheap_provider *p = env->region_provider;
    p->unmap(p->ctx, s->run, s->pages);
}

static bool inside(const scratch *s, const void *p, size_t n)
{
    return (uintptr_t)p >= (uintptr_t)s->run && (uintptr_t)p + n <= (uintptr_t)s->run + s->bytes;
}

static void t_exact_stats(const ktest_env *env)
{
    scratch s;
    KT_REQUIRE(scratch_get(&s, env, 8192));
    kheap *h = kheap_create_in(s.run, s.bytes, NULL);
    KT_NONNULL(h);
    if (h != NULL) {
        /* The run is page aligned: the span is all of it. */
        size_t free = s.bytes - fixed_overhead();
        kheap_stats st = kt_stats(h);
        KT_TRUE(inside(&s, h, sizeof *h));
        KT_EQ(free, st.free_bytes);
        KT_EQ(0, st.in_use_bytes);
        KT_EQ(1, st.free_blocks);
        KT_EQ(free - KH_REQ_OVERHEAD, st.largest_free);
        KT_EQ(1, st.heaps);
        KT_EQ(s.bytes / KHEAP_ALIGN, st.pages);
        kt_check_at(h, __FILE__, __LINE__);
        /* One block of everything there is, and not a byte more. */
        void *p = kheap_alloc(h, st.largest_free);
        KT_NONNULL(p);
        KT_TRUE(inside(&s, p, st.largest_free));
        KT_EQ(free, kt_stats(h).in_use_bytes);
        KT_NULL(kheap_alloc(h, 0));
        kheap_free(h, p);
        KT_NULL(kheap_alloc(h, st.largest_free + 1));
        KT_EQ(2, kt_stats(h).failed);
        KT_EQ(free, kt_stats(h).free_bytes);
        kt_check_at(h, __FILE__, __LINE__);
        kheap_destroy(h);
    }
    scratch_put(&s, env);
}

static void t_fill_free_all(const ktest_env *env)
{
    scratch s;
    KT_REQUIRE(scratch_get(&s, env, 16384));
    kt_lock_log locks = {0};
    kheap_config c = {0};
    if (KHEAP_LOCKS) {
        c.lock = kt_lock_count;
        c.unlock = kt_unlock_count;
        c.lock_ctx = &locks;
    }
    kheap *h = kheap_create_in(s.run, s.bytes, &c);
    KT_REQUIRE(h != NULL);
    kheap_stats before = kt_stats(h);
    /* The blocks hold their own list (no array: small boards have no RAM
     * to spare for one), the rest of each is a pattern. */
    typedef struct node {
        struct node *next;
        size_t n;
    } node;
    static const size_t sizes[] = {sizeof(node), 24, 100, sizeof(node), 300, 48};
    node *last = NULL;
    size_t n = 0;
    for (;; n++) {
        size_t want = sizes[n % (sizeof sizes / sizeof sizes[0])];
        node *p = kheap_alloc(h, want);
        if (p == NULL)
            break;
        KT_TRUE(inside(&s, p, want));
        KT_ALIGNED(p, KHEAP_ALIGN);
        p->next = last;
        p->n = n;
        ktest_fill(p + 1, want - sizeof(node), (uint32_t)n);
        last = p;
    }
    KT_TRUE(n > 8);
    kheap_stats full = kt_stats(h);
    KT_EQ(1, full.failed);
    KT_EQ(before.pages, full.pages);
    KT_EQ(1, full.heaps);
    KT_EQ(n, full.blocks_in_use);
    KT_EQ(before.free_bytes, full.free_bytes + full.in_use_bytes);
    kt_check_at(h, __FILE__, __LINE__);
    /* Every other block first (no merges between them), then the rest. */
    for (node *p = last; p != NULL && p->next != NULL; p = p->next) {
        node *gone = p->next;
        KT_TRUE(ktest_verify(gone + 1, sizes[gone->n % (sizeof sizes / sizeof sizes[0])] - sizeof(node),
                             (uint32_t)gone->n));
        p->next = gone->next;
        kheap_free(h, gone);
    }
    kt_check_at(h, __FILE__, __LINE__);
    while (last != NULL) {
        node *next = last->next;
        KT_TRUE(ktest_verify(last + 1, sizes[last->n % (sizeof sizes / sizeof sizes[0])] - sizeof(node),
                             (uint32_t)last->n));
        kheap_free(h, last);
        last = next;
    }
    kheap_stats after = kt_stats(h);
    KT_EQ(before.free_bytes, after.free_bytes);
    KT_EQ(1, after.free_blocks);
    KT_EQ(0, after.in_use_bytes);
    KT_EQ(before.largest_free, after.largest_free);
    KT_EQ(KT_COUNTED(n), after.frees);
    KT_EQ(before.pages, after.pages);
    KT_EQ(locks.locks, locks.unlocks);
    KT_EQ(0, locks.bad_restores);
    kt_check_at(h, __FILE__, __LINE__);
    kheap_destroy(h);
    scratch_put(&s, env);
}

static void t_refused(const ktest_env *env)
{
    scratch s;
    KT_REQUIRE(scratch_get(&s, env, 8192));
    char *buf = s.run;
    size_t least = fixed_overhead() + KH_MIN_BLOCK;
    KT_NULL(kheap_create_in(NULL, s.bytes, NULL));
    KT_NULL(kheap_create_in(buf, least - 1, NULL));
    KT_NULL(kheap_create_in(buf, 0, NULL));
    KT_NULL(kheap_create_in((void *)(UINTPTR_MAX - 15), 64, NULL));
    kheap_config c = {0};
    c.provider = *env->region_provider;
    KT_NULL(kheap_create_in(buf, s.bytes, &c));
    kheap_config one_lock = {0};
    one_lock.lock = kt_lock_count;
    KT_NULL(kheap_create_in(buf, s.bytes, &one_lock));
    kheap_config knobs = {0};
    knobs.large_threshold = 4096;
    KT_NULL(kheap_create_in(buf, s.bytes, &knobs));

    /* The smallest that works holds one minimum block. */
    kheap *h = kheap_create_in(buf, least, NULL);
    KT_NONNULL(h);
    if (h != NULL) {
        KT_EQ(KH_MIN_BLOCK, kt_stats(h).free_bytes);
        void *p = kheap_alloc(h, 1);
        KT_NONNULL(p);
        KT_NULL(kheap_alloc(h, 1));
        kheap_free(h, p);
        kt_check_at(h, __FILE__, __LINE__);
    }
    /* A misaligned buffer: the instance starts at the next boundary and
     * the span ends at the last one. */
    h = kheap_create_in(buf + 3, s.bytes - 3 - 5, NULL);
    KT_NONNULL(h);
    if (h != NULL) {
        KT_ALIGNED(h, KHEAP_ALIGN);
        size_t len = ((s.bytes - 5) & ~(size_t)(KHEAP_ALIGN - 1)) - KHEAP_ALIGN;
        KT_EQ(len - fixed_overhead(), kt_stats(h).free_bytes);
        void *p = kheap_aligned_alloc(h, 256, 100);
        KT_NONNULL(p);
        KT_ALIGNED(p, 256);
        KT_TRUE(inside(&s, p, 100));
        kheap_free(h, p);
        kt_check_at(h, __FILE__, __LINE__);
    }
    scratch_put(&s, env);
}

static void KT_PROFILED t_misuse(const ktest_env *env)
{
    scratch s;
    KT_REQUIRE(scratch_get(&s, env, 8192));
    kt_panic_log log = {0};
    kheap_config c = {0};
    c.panic = kt_panic_record;
    c.panic_ctx = &log;
    kheap *h = kheap_create_in(s.run, s.bytes, &c);
    KT_REQUIRE(h != NULL);
    char *a = kheap_alloc(h, 40), *b = kheap_alloc(h, 40);
    KT_NONNULL(a);
    KT_NONNULL(b);
    kheap_free(h, a);
    KT_EQ(0, log.count);
    kheap_free(h, a);
    KT_EQ(1, log.count);
    KT_PTR_EQ(a, log.addr);
    KT_TRUE(log.what != NULL && ktest_contains(log.what, "double free"));
    kheap_free(h, b + KHEAP_ALIGN);
    KT_EQ(2, log.count);
    /* A pointer into the stack: outside the buffer. */
    char elsewhere[2 * KHEAP_ALIGN];
    kheap_free(h, (char *)(((uintptr_t)elsewhere + KHEAP_ALIGN - 1) & ~(uintptr_t)(KHEAP_ALIGN - 1)));
    KT_EQ(3, log.count);
    KT_NULL(kheap_realloc(h, a, 100));
    KT_EQ(4, log.count);
    kt_check_at(h, __FILE__, __LINE__);
    kheap_free(h, b);
    KT_EQ(4, log.count);
    kt_check_at(h, __FILE__, __LINE__);
    scratch_put(&s, env);
}

typedef struct seen {
    size_t in_use, free, bytes;
} seen;

static bool count_block(void *ctx, const kheap_block_info *info)
{
    seen *w = ctx;
    if (info->in_use)
        w->in_use++;
    else
        w->free++;
    w->bytes += info->in_use ? 0 : info->size + KH_REQ_OVERHEAD;
    return true;
}


static void t_diag_and_realloc(const ktest_env *env)
{
    scratch s;
    KT_REQUIRE(scratch_get(&s, env, 8192));
    kheap *h = kheap_create_in(s.run, s.bytes, NULL);
    KT_REQUIRE(h != NULL);
    char *a = kheap_alloc(h, 64), *b = kheap_alloc(h, 64), *c = kheap_alloc(h, 64);
    KT_REQUIRE(a != NULL && b != NULL && c != NULL);
    kheap_free(h, b);
    seen w = {0};
    kheap_walk(h, count_block, &w);
    KT_EQ(2, w.in_use);
    KT_EQ(2, w.free);
    KT_EQ(kt_stats(h).free_bytes, w.bytes);
    KT_EQ(s.bytes - fixed_overhead() - 2 * kt_block_for(64), w.bytes);
    char buf[96];
    kt_text t = {buf, sizeof buf, 0, 0};
    kheap_dump(h, kt_text_out, &t);
    KT_TRUE(t.total > 0);
    KT_TRUE(ktest_contains(t.buf, "heap"));
    /* realloc grows in place into the free neighbour, then moves. */
    ktest_fill(a, 64, 7);
    KT_PTR_EQ(a, kheap_realloc(h, a, 100));
    KT_TRUE(ktest_verify(a, 64, 7));
    size_t room = kt_stats(h).largest_free;
    KT_NULL(kheap_realloc(h, a, room + 4096));
    KT_TRUE(ktest_verify(a, 64, 7));
    char *m = kheap_realloc(h, a, 1000);
    KT_NONNULL(m);
    KT_TRUE(ktest_verify(m, 64, 7));
    kheap_free(h, m);
    kheap_free(h, c);
    KT_EQ(1, kt_stats(h).free_blocks);
    kt_check_at(h, __FILE__, __LINE__);
    /* trim and destroy give nothing back: there is no provider. */
    KT_EQ(0, kheap_trim(h));
    KT_EQ(1, kt_stats(h).free_blocks);
    /* destroy touches nothing. */
    unsigned char before[32];
    __builtin_memcpy(before, s.run, sizeof before);
    kheap_destroy(h);
    KT_TRUE(__builtin_memcmp(before, s.run, sizeof before) == 0);
    scratch_put(&s, env);
}

static const ktest_case cases[] = {
    {"static: an instance over a buffer has exact stats from the layout", t_exact_stats},
    {"static: fill until NULL, free all: one free block, no provider", t_fill_free_all},
    {"static: bad arguments are refused; the smallest and a misaligned buffer work", t_refused},
#if KHEAP_CHECKS
    {"static: misuse is reported and changes nothing", t_misuse},
#endif
    {"static: walk, dump and realloc; trim and destroy touch nothing", t_diag_and_realloc},
};

const ktest_group tests_static = {cases, sizeof cases / sizeof cases[0]};
