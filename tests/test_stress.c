/*
 * Stress: a long seeded random workload with the heap checked after every
 * operation, and a fixed workload run once per provider call with that call
 * failing, so every path that asks the provider for pages meets a NULL.
 *
 * Sizes and counts scale with what env->region holds; the operation count
 * is env->stress_ops.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../alloc/kheap.h"
#include "../alloc/region.h"
#include "ktest.h"
#include "test_support.h"

#define KIB ((size_t)1024)

typedef struct slot {
    void *p;
    size_t len;     /* bytes stamped with seed */
    uint32_t seed;
} slot;

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

static uint32_t next_seed(uint32_t *counter)
{
    *counter += 0x9e3779b9u;
    return *counter;
}

static bool stamp_ok(const slot *s)
{
    return ktest_verify(s->p, s->len, s->seed);
}

/* After realloc(s->p, n) answered got (n > 0): the kept prefix must be
 * intact and the slot takes the new block, freshly stamped; a NULL answer
 * must have left the old block as it was.  False when either was not so. */
static bool realloc_took(slot *s, void *got, size_t n, uint32_t *seeds)
{
    if (got == NULL) {
        if (stamp_ok(s))
            return true;
        ktest_fail_x(__FILE__, __LINE__, "failed realloc left the block", 0, (uintptr_t)s->p);
        return false;
    }
    bool kept = ktest_verify(got, min_size(n, s->len), s->seed);
    if (!kept)
        ktest_fail_u(__FILE__, __LINE__, "realloc kept the prefix, new size", 1, n);
    s->p = got;
    s->len = n;
    s->seed = next_seed(seeds);
    ktest_fill(got, n, s->seed);
    return kept;
}

/* ---------------------------------------------------------------- random stress */

typedef struct stress_shape {
    size_t slots;
    size_t max_small;   /* log-uniform sizes 1..max_small */
    size_t max_large;   /* an occasional request up to this; 0: none */
    size_t max_align_log2;
} stress_shape;

static stress_shape shape_for(size_t avail)
{
    stress_shape s;
    s.slots = min_size(256, avail / 512);
    if (s.slots < 4)
        s.slots = 4;
    s.max_small = min_size(2048, avail / 16);
    s.max_large = min_size(16 * KIB, avail / 8);
    if (s.max_large <= s.max_small)
        s.max_large = 0;
    s.max_align_log2 = 3;
    while (s.max_align_log2 < 12 && ((size_t)4 << s.max_align_log2) <= s.max_small)
        s.max_align_log2++;
    return s;
}

static void t_random_stress(const ktest_env *env)
{
    stress_shape sh = shape_for(kt_env_free_bytes(env));
    size_t table_bytes = sh.slots * sizeof(slot);
    slot *tab = kt_scratch_get(env, table_bytes);
    KT_REQUIRE(tab != NULL);
    for (size_t i = 0; i < sh.slots; i++)
        tab[i] = (slot){0};

    kt_opts o = { .bytes = 8192 * KIB };
    kt_heap t;
    if (!kt_open(&t, env, &o)) {
        kt_scratch_put(env, tab, table_bytes);
        return;
    }
    kheap *h = t.h;
    kheap_stats s0;
    kheap_stats_get(h, &s0);
    /* With twice the worst-case live bytes there is no excuse for a NULL. */
    size_t worst = sh.slots * (sh.max_large > sh.max_small ? sh.max_large : sh.max_small);
    bool must_succeed = t.room >= 2 * worst + 64 * KIB;

    uint32_t rng = 0x5eed1234u, seeds = 1;
    size_t live = 0, nulls = 0, ops_done = 0;
    bool broken = false;
    for (unsigned long op = 0; op < env->stress_ops && !broken; op++) {
        uint32_t r = ktest_rand(&rng);
        size_t i = ktest_rand(&rng) % sh.slots;
        slot *s = &tab[i];
        size_t n = (r & 0x3f00) == 0 && sh.max_large != 0 ? kt_log_size(&rng, sh.max_large)
                                                          : kt_log_size(&rng, sh.max_small);
        if ((r & 0x3f0000) == 0)
            n = 0;
        bool asked = false;   /* a request that may legitimately return NULL */
        void *got = NULL;
        if (s->p == NULL) {
            unsigned kind = r % 8;
            size_t align = 0;
            asked = true;
            if (kind <= 3) {
                got = kheap_alloc(h, n);
            } else if (kind == 4) {
                /* n split into count * size when it divides evenly. */
                size_t each = (r & 0x10) && n % 4 == 0 && n != 0 ? 4 : 1;
                got = kheap_calloc(h, n / each, each);
                if (got != NULL && !ktest_all_bytes(got, n, 0)) {
                    ktest_fail_u(__FILE__, __LINE__, "calloc bytes not zero, size", 0, n);
                    broken = true;
                }
            } else if (kind == 5) {
                align = (size_t)1 << (ktest_rand(&rng) % (sh.max_align_log2 + 1));
                got = kheap_aligned_alloc(h, align, n);
                if (got != NULL && (uintptr_t)got % align != 0) {
                    ktest_fail_x(__FILE__, __LINE__, "aligned_alloc address % align", 0,
                                 (uintptr_t)got % align);
                    broken = true;
                }
            } else {
                got = kheap_realloc(h, NULL, n);
            }
            if (got != NULL) {
                if ((uintptr_t)got % KHEAP_ALIGN != 0 || kheap_usable_size(h, got) < n) {
                    ktest_fail_u(__FILE__, __LINE__, "usable size >= request", n,
                                 kheap_usable_size(h, got));
                    broken = true;
                }
                s->p = got;
                s->len = n;
                s->seed = next_seed(&seeds);
                ktest_fill(got, n, s->seed);
                live++;
            }
        } else {
            unsigned kind = r % 16;
            if (!stamp_ok(s)) {
                ktest_fail_x(__FILE__, __LINE__, "payload stamp intact at", 0, (uintptr_t)s->p);
                broken = true;
            } else if (kind <= 6) {
                kheap_free(h, s->p);
                s->p = NULL;
                live--;
            } else if (kind <= 13) {
                asked = true;
                got = kheap_realloc(h, s->p, n);
                if (n == 0) {
                    /* realloc(p, 0) frees. */
                    if (got != NULL) {
                        ktest_fail_x(__FILE__, __LINE__, "realloc(p, 0)", 0, (uintptr_t)got);
                        broken = true;
                    }
                    s->p = NULL;
                    live--;
                    asked = false;
                } else if (!realloc_took(s, got, n, &seeds)) {
                    broken = true;
                }
            } else if (kheap_usable_size(h, s->p) < s->len) {
                ktest_fail_u(__FILE__, __LINE__, "usable size", s->len, kheap_usable_size(h, s->p));
                broken = true;
            }
        }
        if (asked && got == NULL) {
            nulls++;
            if (must_succeed) {
                ktest_fail_u(__FILE__, __LINE__, "NULL with room to spare; request", 0, n);
                broken = true;
            }
        }
        if (!KT_CHECK(h)) {
            ktest_puts("#   after operation ");
            ktest_putu(op);
            ktest_puts("\n");
            broken = true;
        }
        if ((op & 0xfff) == 0 && !broken) {
            kheap_stats st;
            kheap_stats_get(h, &st);
            KT_EQ(live, st.blocks_in_use - s0.blocks_in_use);
            KT_EQ(st.pages, kt_mapped(&t));
            for (size_t j = 0; j < sh.slots; j++)
                if (tab[j].p != NULL && !stamp_ok(&tab[j]))
                    ktest_fail_x(__FILE__, __LINE__, "payload stamp intact at", 0,
                                 (uintptr_t)tab[j].p);
            broken = ktest_case_failed();
        }
        ops_done++;
    }
    KT_EQ(env->stress_ops, ops_done);

    if (!broken) {
        for (size_t j = 0; j < sh.slots; j++) {
            if (tab[j].p == NULL)
                continue;
            KT_TRUE(stamp_ok(&tab[j]));
            kheap_free(h, tab[j].p);
            tab[j].p = NULL;
        }
        kheap_stats st;
        kheap_stats_get(h, &st);
        KT_EQ(s0.in_use_bytes, st.in_use_bytes);
        KT_EQ(s0.blocks_in_use, st.blocks_in_use);
        KT_EQ(s0.failed + nulls, st.failed);
        KT_EQ(st.pages, kt_mapped(&t));
        KT_EQ(0, t.panic.count);
        KT_CHECK(h);
    }
    kt_close(&t, env);
    kt_scratch_put(env, tab, table_bytes);
}

/* ---------------------------------------------------------------- provider failure at every call */

#define SEQ_SLOTS 24
#define SEQ_OPS 240

typedef struct seq_result {
    bool broken;
    size_t nulls;
} seq_result;

/* A fixed workload (same seed every run) that makes the instance map, grow
 * and give back pages often.  Every NULL must coincide with a provider call
 * the wrapper failed during that very request: nothing else may fail here. */
static seq_result run_sequence(kt_heap *t, size_t slots, size_t max_small, size_t max_large)
{
    kheap *h = t->h;
    slot tab[SEQ_SLOTS] = {{0}};
    uint32_t rng = 0xc0ffee, seeds = 7;
    seq_result res = {0};
    for (unsigned op = 0; op < SEQ_OPS && !res.broken; op++) {
        uint32_t r = ktest_rand(&rng);
        slot *s = &tab[ktest_rand(&rng) % slots];
        size_t n = (r & 0x300) == 0 ? kt_log_size(&rng, max_large) : kt_log_size(&rng, max_small);
        size_t failures = t->fail.failures;
        bool asked = true;
        void *got = NULL;
        if (s->p == NULL) {
            switch (r % 4) {
            case 0: got = kheap_alloc(h, n); break;
            case 1: got = kheap_calloc(h, 1, n); break;
            case 2: got = kheap_aligned_alloc(h, (size_t)64 << (r >> 28 & 3), n); break;
            default: got = kheap_realloc(h, NULL, n); break;
            }
            if (got != NULL) {
                s->p = got;
                s->len = n;
                s->seed = next_seed(&seeds);
                ktest_fill(got, n, s->seed);
            }
        } else if (!stamp_ok(s)) {
            ktest_fail_x(__FILE__, __LINE__, "payload stamp intact at", 0, (uintptr_t)s->p);
            res.broken = true;
        } else if (r % 3 == 0) {
            asked = false;
            kheap_free(h, s->p);
            s->p = NULL;
        } else {
            got = kheap_realloc(h, s->p, n);
            if (!realloc_took(s, got, n, &seeds))
                res.broken = true;
        }
        if (asked && got == NULL) {
            res.nulls++;
            if (t->fail.failures == failures) {
                ktest_fail_u(__FILE__, __LINE__, "NULL without a failed provider call; op", 0, op);
                res.broken = true;
            }
        }
        if (!KT_CHECK(h))
            res.broken = true;
        kheap_stats st;
        kheap_stats_get(h, &st);
        if (st.pages != t->fail.pages_out) {
            ktest_fail_u(__FILE__, __LINE__, "stats.pages == pages through the provider",
                         t->fail.pages_out, st.pages);
            res.broken = true;
        }
    }
    for (size_t i = 0; i < SEQ_SLOTS; i++) {
        if (tab[i].p == NULL)
            continue;
        if (!res.broken && !stamp_ok(&tab[i])) {
            ktest_fail_x(__FILE__, __LINE__, "payload stamp intact at", 0, (uintptr_t)tab[i].p);
            res.broken = true;
        }
        kheap_free(h, tab[i].p);
    }
    kheap_stats st;
    kheap_stats_get(h, &st);
    if (st.blocks_in_use != 0) {
        ktest_fail_u(__FILE__, __LINE__, "blocks_in_use after freeing all", 0, st.blocks_in_use);
        res.broken = true;
    }
    if (!KT_CHECK(h))
        res.broken = true;
    return res;
}

static void every_failure_point(const ktest_env *env, bool with_grow)
{
    /* Small pages, one-page heaps and a low large threshold: many provider
     * calls from a short sequence, on a 16 KiB board too. */
    kt_opts o = { .bytes = 512 * KIB, .page_size = 256, .heap_pages = 1,
                  .large_threshold = 512, .wrap = true, .no_grow = !with_grow };
    kt_heap t;
    if (!kt_prepare(&t, env, &o))
        return;
    /* Live bytes stay under a third of the room even if every slot holds
     * the largest size, so only the injected failure can make a NULL. */
    size_t max_large = min_size(3 * KIB, t.room / 16);
    size_t max_small = min_size(400, t.room / 32);
    size_t slots = min_size(SEQ_SLOTS, t.room / 3 / max_large);
    if (slots < 2)
        slots = 2;
    /* Some requests must take the large path on every board. */
    if (t.config.large_threshold > max_large / 2)
        t.config.large_threshold = max_large / 2;

    t.h = kheap_create(&t.config);
    KT_NONNULL(t.h);
    if (t.h == NULL) {
        kt_close(&t, env);
        return;
    }
    seq_result clean = run_sequence(&t, slots, max_small, max_large);
    KT_EQ(0, clean.nulls);
    kheap_destroy(t.h);
    t.h = NULL;
    KT_EQ(0, t.fail.pages_out);
    size_t calls = t.fail.calls;
    /* Too few calls and the test proves little; the sequence is meant to
     * map, grow and trim many times. */
    KT_TRUE(calls >= 8);

    for (size_t k = 1; k <= calls + 1 && !clean.broken && !ktest_case_failed(); k++) {
        t.fail.calls = 0;
        t.fail.failures = 0;
        t.fail.fail_at = k;
        t.h = kheap_create(&t.config);
        if (t.h == NULL) {
            /* Only the injected failure may stop create. */
            if (t.fail.failures == 0)
                ktest_fail_u(__FILE__, __LINE__, "create NULL without a failed call; k", 0, k);
        } else {
            seq_result res = run_sequence(&t, slots, max_small, max_large);
            if (res.broken) {
                ktest_puts("#   with provider call ");
                ktest_putu(k);
                ktest_puts(" failing\n");
            }
            kheap_destroy(t.h);
            t.h = NULL;
        }
        if (t.fail.pages_out != 0 || kt_mapped(&t) != 0) {
            ktest_fail_u(__FILE__, __LINE__, "pages leaked with failing call", k, t.fail.pages_out);
            break;
        }
        /* k = calls + 1 never fires: the run must then be the clean one. */
        if (k == calls + 1)
            KT_EQ(0, t.fail.failures);
    }
    KT_EQ(0, t.panic.count);
    kt_close(&t, env);
}

static void t_every_failure_point(const ktest_env *env)
{
    every_failure_point(env, true);
}

static void t_every_failure_point_no_grow(const ktest_env *env)
{
    every_failure_point(env, false);
}

static const ktest_case cases[] = {
    { "stress: random alloc, calloc, realloc, aligned and free, checked after every op",
      t_random_stress },
    { "stress: a provider failing at each call in turn leaks nothing", t_every_failure_point },
    { "stress: a provider without grow failing at each call in turn leaks nothing",
      t_every_failure_point_no_grow },
};

const ktest_group tests_stress = { cases, sizeof cases / sizeof cases[0] };
