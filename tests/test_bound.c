/*
 * The heap-size bound the README states, tested: a workload whose requests
 * take blocks of m..n bytes (headers included) and that never holds more
 * than M block bytes live never fails on a heap of C block bytes when
 *
 *     C >= M + (M / m + 1) * (n + n / 8)
 *
 * Why: a request of block size b fails only when every free block is
 * smaller than b + b/8 (good fit finds any block of a larger class; only
 * the rest of b's own class, which spans at most b/8, can be missed), no two
 * free blocks touch (so there are at most one more of them than blocks in
 * use), and at most M / m blocks are in use.  Free bytes are then below
 * (M / m + 1) * (n + n / 8), so the heap holds less than the bound.
 *
 * The workloads (1 KiB live, less on a board without room for the heap)
 * run on one heap (the home heap sized to hold the bound) over a provider
 * that refuses every call after kheap_create, so a NULL can only come from
 * fragmentation.  A control shows the adversarial workload
 * does fragment: on a heap of M it fails.
 *
 * Freestanding like every test body: no libc.
 */
#include "../alloc/kheap.h"
#include "../alloc/region.h"
#include "ktest.h"
#include "test_support.h"

#define SUB_PAGE 64u

/* The workload: requests from r_lo to r_hi bytes, at most live_max block
 * bytes live. */
typedef struct load {
    size_t r_lo, r_hi, live_max;
} load;

static size_t bound_of(const load *l)
{
    size_t m = kt_block_for(l->r_lo), n = kt_block_for(l->r_hi);
    return l->live_max + (l->live_max / m + 1) * (n + n / 8);
}

/* One instance whose home heap holds at least `capacity` block bytes (the
 * smallest number of 64-byte pages that does), over a provider that then
 * refuses every call. */
static bool open_capacity(kt_heap *t, const ktest_env *env, size_t capacity)
{
    kheap_region_usage eu;
    kheap_region_usage_get(env->region, &eu);
    for (size_t pages = capacity / SUB_PAGE + 1;; pages++) {
        /* The sub-region: the home heap, its bookkeeping, whole env pages. */
        size_t bytes = (pages + 8) * SUB_PAGE + 2 * eu.page_size;
        kt_opts o = {.bytes = bytes, .page_size = SUB_PAGE,
                     .heap_pages = pages, .large_threshold = (size_t)1 << 20, .wrap = true};
        if (!kt_open(t, env, &o))
            return false;
        if (kt_stats(t->h).free_bytes >= capacity) {
            t->fail.fail_all = true;
            return true;
        }
        kt_close(t, env);
        if (pages * SUB_PAGE > 4 * capacity + 64 * 1024) {
            ktest_fail_u(__FILE__, __LINE__, "home heap block bytes", capacity, 0);
            return false;
        }
    }
}

#define MAX_LIVE 128

typedef struct live_set {
    void *p[MAX_LIVE];
    size_t b[MAX_LIVE];  /* block bytes of each */
    size_t n, bytes, failures;
} live_set;

/* Static: a kilobyte is too much for the smallest board's stack. */
static live_set the_set;

static void live_free(kheap *h, live_set *s, size_t i)
{
    kheap_free(h, s->p[i]);
    s->bytes -= s->b[i];
    s->n--;
    s->p[i] = s->p[s->n];
    s->b[i] = s->b[s->n];
}

/* Allocates a request when its block fits the live budget; counts NULLs. */
static bool live_alloc(kheap *h, live_set *s, const load *l, size_t request)
{
    size_t b = kt_block_for(request);
    if (s->n == MAX_LIVE || s->bytes + b > l->live_max)
        return false;
    void *p = kheap_alloc(h, request);
    if (p == NULL) {
        s->failures++;
        return false;
    }
    s->p[s->n] = p;
    s->b[s->n] = b;
    s->n++;
    s->bytes += b;
    return true;
}

static void live_free_all(kheap *h, live_set *s)
{
    while (s->n > 0)
        live_free(h, s, s->n - 1);
}

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Random sizes with the live set held at its budget: two allocations to
 * one free, so it fills and then churns where the pressure is highest. */
static void run_random(kheap *h, live_set *s, const load *l, unsigned long ops, uint32_t seed)
{
    uint32_t x = seed;
    for (unsigned long op = 0; op < ops; op++) {
        size_t request = l->r_lo + next_rand(&x) % (l->r_hi - l->r_lo + 1);
        if (next_rand(&x) % 3 != 0 && live_alloc(h, s, l, request))
            continue;
        if (s->n > 0)
            live_free(h, s, next_rand(&x) % s->n);
    }
    live_free_all(h, s);
}

/* Frees every other block in allocation order (so in address order for
 * blocks carved one after another) while more than half the budget is
 * live: the holes stay pinned between the blocks kept. */
static void free_every_other(kheap *h, live_set *s, const load *l)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i % 2 == 0 && s->bytes > l->live_max / 2) {
            kheap_free(h, s->p[i]);
            s->bytes -= s->b[i];
        } else {
            s->p[kept] = s->p[i];
            s->b[kept] = s->b[i];
            kept++;
        }
    }
    s->n = kept;
}

/* Sizes doubling from r_lo to r_hi, each time after every other block has
 * gone, so the holes left are too small for the next, doubled size. */
static void run_doubling(kheap *h, live_set *s, const load *l)
{
    for (unsigned round = 0; round < 4; round++) {
        for (size_t r = l->r_lo; r <= l->r_hi; r = 2 * r + KHEAP_BLOCK_OVERHEAD) {
            free_every_other(h, s, l);
            while (live_alloc(h, s, l, r))
                ;
        }
    }
    live_free_all(h, s);
}

/* 1 KiB live, halved on a board whose region cannot hold the bound's heap
 * and an instance (the micro:bit's newlib kernel: about 7 KiB free). */
static load load_for(const ktest_env *env)
{
    size_t avail = kt_env_free_bytes(env);
    load l = {.r_lo = 8, .r_hi = 120, .live_max = 1024};
    while (l.live_max > 128 && bound_of(&l) + 2048 > avail)
        l.live_max /= 2;
    return l;
}

static void within_the_bound_nothing_fails(const ktest_env *env)
{
    kt_heap t;
    const load l = load_for(env);
    if (!open_capacity(&t, env, bound_of(&l)))
        return;
    kheap_stats s0 = kt_stats(t.h);
    live_set *s = &the_set;
    *s = (live_set){0};
    run_random(t.h, s, &l, env->stress_ops / 10, 0x5eed1u);
    KT_EQ(0, s->failures);
    run_doubling(t.h, s, &l);
    KT_EQ(0, s->failures);
    KT_CHECK(t.h);
    /* Every call stayed inside the home heap, which is whole again. */
    kheap_stats s1 = kt_stats(t.h);
    KT_EQ(0, t.fail.failures);
    KT_EQ(s0.pages, s1.pages);
    KT_EQ(1, s1.free_blocks);
    KT_EQ(s0.free_bytes, s1.free_bytes);
    kt_close(&t, env);
}

/* The control: the adversary does fragment, so the bound is not vacuous
 * for it.  A heap of M holds its live budget; once holes are pinned the
 * blocks no longer fit.  (How much more than M it needs depends on the
 * layout, not monotonically: on the host about 1.2-1.5 M, the README's
 * figures.) */
static void below_the_bound_the_adversary_wins(const ktest_env *env)
{
    kt_heap t;
    const load l = load_for(env);
    if (!open_capacity(&t, env, l.live_max))
        return;
    live_set *s = &the_set;
    *s = (live_set){0};
    run_doubling(t.h, s, &l);
    KT_TRUE(s->failures > 0);
    KT_EQ(0, s->n);
    KT_CHECK(t.h);
    KT_EQ(1, kt_stats(t.h).free_blocks);
    kt_close(&t, env);
}

static const ktest_case cases[] = {
    {"bound: a workload within the stated heap-size bound never fails", within_the_bound_nothing_fails},
    {"bound: below it the doubling adversary fragments the heap", below_the_bound_the_adversary_wins},
};

const ktest_group tests_bound = {cases, sizeof cases / sizeof cases[0]};
