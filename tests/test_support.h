/*
 * Helpers shared by the api and stress tests: a kheap over a fresh
 * sub-region of env->region with a recording panic hook, a provider wrapper
 * that fails on demand, and checks that report through ktest.
 *
 * Freestanding like every test body: no libc.
 */
#ifndef KHEAP_TEST_SUPPORT_H
#define KHEAP_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../alloc/kheap.h"
#include "../alloc/region.h"
#include "ktest.h"

/* What the panic hook saw: the test asserts on count and address. */
typedef struct kt_panic_log {
    unsigned count;
    const void *addr;
    const char *what;
} kt_panic_log;

void kt_panic_record(void *ctx, kheap_misuse what, const void *addr);

/* A provider over another one that fails the fail_at-th map/grow call
 * (counting from 1; 0 never) or every call while fail_all is set, and
 * counts what passes through so a test can see every page come back. */
typedef struct kt_failing {
    kheap_provider inner;
    size_t calls;       /* map/grow calls seen, failed ones included */
    size_t fail_at;
    bool fail_all;
    size_t failures;    /* calls this wrapper failed on purpose */
    size_t pages_out;   /* mapped or grown through here, not yet unmapped */
} kt_failing;

/* with_grow false hides grow, as a provider without sbrk-like growth would. */
kheap_provider kt_failing_provider(kt_failing *f, kheap_provider inner, bool with_grow);

typedef struct kt_opts {
    size_t bytes;           /* sub-region size wanted; less is taken if that is all there is */
    size_t page_size;       /* 0: env->region's page size */
    size_t heap_pages;      /* 0: the default, or a scaled value on a small board */
    size_t large_threshold; /* 0: likewise */
    bool wrap;              /* go through a kt_failing wrapper */
    bool no_grow;           /* the wrapper hides grow */
    bool locks;             /* install the counting lock hooks below */
} kt_opts;

/* Lock hooks that count and check that every unlock restores what its
 * lock returned (they must nest). */
typedef struct kt_lock_log {
    size_t locks, unlocks;
    size_t depth, max_depth;
    size_t bad_restores;
} kt_lock_log;

/* The hooks themselves, ctx a kt_lock_log (kt_opts.locks installs them). */
uintptr_t kt_lock_count(void *ctx);
void kt_unlock_count(void *ctx, uintptr_t saved);

/* A kheap over a sub-region of its own, with everything a test looks at. */
typedef struct kt_heap {
    kheap_region *sub;
    size_t sub_bytes;
    void *run;              /* the run from env->region under sub */
    size_t run_pages;
    size_t page_size;
    size_t room;            /* bytes the sub-region could hand out before create */
    kheap_provider region_provider;
    kt_failing fail;
    kt_panic_log panic;
    kt_lock_log lock;
    kheap_config config;
    kheap *h;
} kt_heap;

/* Bytes env->region can hand out in one run now. */
size_t kt_env_free_bytes(const ktest_env *env);

/* The block format restated (heap_internal.h): block bytes a request takes
 * (its header added, rounded to KHEAP_ALIGN), and the smallest block, which
 * holds the header, both free-list links and the footer. */
size_t kt_block_for(size_t request);
size_t kt_min_block(void);

/* kheap_stats_get as a value. */
kheap_stats kt_stats(kheap *h);

/* Sets up the sub-region and the config; kt_open also creates the instance.
 * Both record a failure and return false when they cannot (nothing is then
 * held).  kt_close destroys the instance (if any), expects every page of the
 * sub-region back and releases it. */
bool kt_prepare(kt_heap *t, const ktest_env *env, const kt_opts *o);
bool kt_open(kt_heap *t, const ktest_env *env, const kt_opts *o);
void kt_close(kt_heap *t, const ktest_env *env);

/* Pages the sub-region has handed out and not had back. */
size_t kt_mapped(const kt_heap *t);

/* A requirement once a kt_heap `t` is open (in a case whose ktest_env is
 * `env`): on failure, give every page back before leaving the case, so the
 * cases after it still find room. */
#define KT_REQUIRE_CLOSE(cond) do { \
        if (!(cond)) { \
            ktest_fail_msg(__FILE__, __LINE__, #cond, "true", "false"); \
            kt_close(&t, env); \
            return; \
        } \
    } while (0)

/* kheap_check, reporting `why` at the caller's line on failure. */
bool kt_check_at(kheap *h, const char *file, int line);
#define KT_CHECK(h) kt_check_at((h), __FILE__, __LINE__)

/* Expects every statistic to match but `failed`, which must have grown by
 * failed_delta (KT_ANY_FAILED: not looked at): what "the instance
 * unchanged" means from outside. */
#define KT_ANY_FAILED ((size_t)-1)
void kt_expect_same_stats_at(const kheap_stats *before, const kheap_stats *after,
                             size_t failed_delta, const char *file, int line);
#define KT_SAME_STATS(before, after, failed_delta) \
    kt_expect_same_stats_at((before), (after), (failed_delta), __FILE__, __LINE__)

/* A run of pages straight from env->region for a test's own bookkeeping, so
 * that big tables cost no static RAM on small boards.  NULL if none. */
void *kt_scratch_get(const ktest_env *env, size_t bytes);
void kt_scratch_put(const ktest_env *env, void *p, size_t bytes);

/* Text written through a kheap_out_fn (kt_text_out, ctx a kt_text) into
 * the caller's buffer, NUL terminated and cut at cap - 1 bytes; total
 * counts every byte written. */
typedef struct kt_text {
    char *buf;
    size_t cap, len, total;
} kt_text;
void kt_text_out(void *ctx, const char *s, size_t n);

/* Log-uniform size in [1, max]: small sizes as often as large ones. */
size_t kt_log_size(uint32_t *rng, size_t max);

/* What a count the hot paths keep (allocs, frees) reads in this profile:
 * n, or exactly 0 without KHEAP_STATS (the lean profile keeps none). */
#define KT_COUNTED(n) (KHEAP_STATS ? (size_t)(n) : (size_t)0)
/* peak_in_use_bytes: at least `floor` where kept, exactly 0 where not. */
#define KT_PEAK_AT_LEAST(peak, floor) KT_TRUE(KHEAP_STATS ? (peak) >= (floor) : (peak) == 0)

#endif
