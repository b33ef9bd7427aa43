/* Helpers for the api and stress tests: see test_support.h. */
#include "test_support.h"

/* Below this many free bytes a sub-region cannot hold a default heap (16 KiB)
 * a few times over, so heap size and large threshold scale with the room. */
#define KT_DEFAULTS_NEED ((size_t)64 * 1024)

void kt_panic_record(void *ctx, kheap_misuse what, const void *addr)
{
    kt_panic_log *log = ctx;
    log->count++;
    log->addr = addr;
    log->what = kheap_misuse_text(what);
}

static void *failing_map(void *ctx, size_t pages)
{
    kt_failing *f = ctx;
    f->calls++;
    if (f->fail_all || f->calls == f->fail_at) {
        f->failures++;
        return NULL;
    }
    void *p = f->inner.map(f->inner.ctx, pages);
    if (p != NULL)
        f->pages_out += pages;
    return p;
}

static void failing_unmap(void *ctx, void *addr, size_t pages)
{
    kt_failing *f = ctx;
    f->pages_out -= pages;
    f->inner.unmap(f->inner.ctx, addr, pages);
}

static bool failing_grow(void *ctx, void *end, size_t pages)
{
    kt_failing *f = ctx;
    f->calls++;
    if (f->fail_all || f->calls == f->fail_at) {
        f->failures++;
        return false;
    }
    if (!f->inner.grow(f->inner.ctx, end, pages))
        return false;
    f->pages_out += pages;
    return true;
}

kheap_provider kt_failing_provider(kt_failing *f, kheap_provider inner, bool with_grow)
{
    f->inner = inner;
    f->calls = 0;
    f->fail_at = 0;
    f->fail_all = false;
    f->failures = 0;
    f->pages_out = 0;
    kheap_provider p = {
        .ctx = f,
        .page_size = inner.page_size,
        .map = failing_map,
        .unmap = failing_unmap,
        .grow = with_grow && inner.grow != NULL ? failing_grow : NULL,
        .unmap_spans_runs = inner.unmap_spans_runs,
    };
    return p;
}

uintptr_t kt_lock_count(void *ctx)
{
    kt_lock_log *l = ctx;
    uintptr_t saved = l->depth;
    l->locks++;
    l->depth++;
    if (l->depth > l->max_depth)
        l->max_depth = l->depth;
    return saved;
}

void kt_unlock_count(void *ctx, uintptr_t saved)
{
    kt_lock_log *l = ctx;
    l->unlocks++;
    if (l->depth == 0 || saved != l->depth - 1)
        l->bad_restores++;
    if (l->depth > 0)
        l->depth--;
}

size_t kt_env_free_bytes(const ktest_env *env)
{
    kheap_region_usage u;
    kheap_region_usage_get(env->region, &u);
    return u.largest_free_run * u.page_size;
}

static size_t round_align(size_t v)
{
    return (v + KHEAP_ALIGN - 1) & ~(size_t)(KHEAP_ALIGN - 1);
}

size_t kt_min_block(void)
{
    return round_align(KHEAP_BLOCK_OVERHEAD + 3 * sizeof(size_t));
}

size_t kt_block_for(size_t request)
{
    size_t b = round_align(request + KHEAP_BLOCK_OVERHEAD);
    return b < kt_min_block() ? kt_min_block() : b;
}

kheap_stats kt_stats(kheap *h)
{
    kheap_stats s;
    kheap_stats_get(h, &s);
    return s;
}

size_t kt_mapped(const kt_heap *t)
{
    kheap_region_usage u;
    kheap_region_usage_get(t->sub, &u);
    return u.pages_mapped;
}

bool kt_prepare(kt_heap *t, const ktest_env *env, const kt_opts *o)
{
    kheap_region_usage eu;
    kheap_region_usage_get(env->region, &eu);
    size_t avail = eu.largest_free_run * eu.page_size;
    size_t bytes = o->bytes < avail ? o->bytes : avail;
    size_t ps = o->page_size != 0 ? o->page_size : eu.page_size;

    t->h = NULL;
    t->sub = NULL;
    t->panic = (kt_panic_log){0};
    t->lock = (kt_lock_log){0};
    t->page_size = ps;
    /* A sub-region needs its bookkeeping page plus a few to be any use. */
    if (bytes < 4 * ps || bytes < 2 * eu.page_size) {
        ktest_fail_u(__FILE__, __LINE__, "bytes free in env->region", 4 * ps, bytes);
        return false;
    }
    /* Like ktest_subregion, but the run is remembered apart from the
     * region: with sub-region pages larger than env's, the region starts
     * wherever the run's first aligned page is, not at the run. */
    kheap_provider env_p = *env->region_provider;
    t->run_pages = bytes / eu.page_size;
    t->run = env_p.map(env_p.ctx, t->run_pages);
    if (t->run == NULL) {
        ktest_fail_msg(__FILE__, __LINE__, "a run from env->region", "a run", "NULL");
        return false;
    }
    t->sub_bytes = t->run_pages * eu.page_size;
    t->sub = kheap_region_init(t->run, (char *)t->run + t->sub_bytes, ps);
    if (t->sub == NULL) {
        env_p.unmap(env_p.ctx, t->run, t->run_pages);
        ktest_fail_msg(__FILE__, __LINE__, "kheap_region_init", "a sub-region", "NULL");
        return false;
    }
    kheap_region_usage su;
    kheap_region_usage_get(t->sub, &su);
    t->room = su.largest_free_run * su.page_size;
    t->region_provider = kheap_region_provider(t->sub);

    kheap_config c = {0};
    c.provider = o->wrap ? kt_failing_provider(&t->fail, t->region_provider, !o->no_grow)
                         : t->region_provider;
    c.panic = kt_panic_record;
    c.panic_ctx = &t->panic;
    c.heap_pages = o->heap_pages;
    c.large_threshold = o->large_threshold;
    if (t->room < KT_DEFAULTS_NEED) {
        if (c.heap_pages == 0) {
            c.heap_pages = t->room / ps / 3;
            if (c.heap_pages == 0)
                c.heap_pages = 1;
        }
        if (c.large_threshold == 0)
            c.large_threshold = c.heap_pages * ps / 4;
    }
    if (o->locks && KHEAP_LOCKS) {
        c.lock = kt_lock_count;
        c.unlock = kt_unlock_count;
        c.lock_ctx = &t->lock;
    }
    t->config = c;
    return true;
}

static void kt_release(kt_heap *t, const ktest_env *env)
{
    kheap_provider env_p = *env->region_provider;
    env_p.unmap(env_p.ctx, t->run, t->run_pages);
    t->sub = NULL;
}

bool kt_open(kt_heap *t, const ktest_env *env, const kt_opts *o)
{
    if (!kt_prepare(t, env, o))
        return false;
    t->h = kheap_create(&t->config);
    if (t->h == NULL) {
        ktest_fail_msg(__FILE__, __LINE__, "kheap_create", "an instance", "NULL");
        kt_release(t, env);
        return false;
    }
    return true;
}

void kt_close(kt_heap *t, const ktest_env *env)
{
    if (t->sub == NULL)
        return;
    kheap_destroy(t->h);
    t->h = NULL;
    size_t left = kt_mapped(t);
    if (left != 0)
        ktest_fail_u(__FILE__, __LINE__, "sub-region pages_mapped after kheap_destroy", 0, left);
    kt_release(t, env);
}

bool kt_check_at(kheap *h, const char *file, int line)
{
    const char *why = NULL;
    if (kheap_check(h, &why))
        return true;
    ktest_fail_msg(file, line, "kheap_check", "consistent", why != NULL ? why : "(no reason)");
    return false;
}

#define KT_SAME_FIELD(field) do { \
        if (before->field != after->field) \
            ktest_fail_u(file, line, "stats." #field, before->field, after->field); \
    } while (0)

void kt_expect_same_stats_at(const kheap_stats *before, const kheap_stats *after,
                             size_t failed_delta, const char *file, int line)
{
    KT_SAME_FIELD(in_use_bytes);
    KT_SAME_FIELD(free_bytes);
    KT_SAME_FIELD(peak_in_use_bytes);
    KT_SAME_FIELD(blocks_in_use);
    KT_SAME_FIELD(free_blocks);
    KT_SAME_FIELD(largest_free);
    KT_SAME_FIELD(pages);
    KT_SAME_FIELD(peak_pages);
    KT_SAME_FIELD(heaps);
    KT_SAME_FIELD(allocs);
    KT_SAME_FIELD(frees);
    if (failed_delta != KT_ANY_FAILED && after->failed != before->failed + failed_delta)
        ktest_fail_u(file, line, "stats.failed", before->failed + failed_delta, after->failed);
}

void *kt_scratch_get(const ktest_env *env, size_t bytes)
{
    kheap_provider p = *env->region_provider;
    return p.map(p.ctx, (bytes + p.page_size - 1) / p.page_size);
}

void kt_scratch_put(const ktest_env *env, void *ptr, size_t bytes)
{
    kheap_provider p = *env->region_provider;
    p.unmap(p.ctx, ptr, (bytes + p.page_size - 1) / p.page_size);
}

size_t kt_log_size(uint32_t *rng, size_t max)
{
    unsigned bits = 0;
    while (bits + 1 < 8 * sizeof(size_t) && ((size_t)1 << (bits + 1)) <= max)
        bits++;
    unsigned e = ktest_rand(rng) % (bits + 1);
    size_t lo = (size_t)1 << e;
    size_t s = lo + ktest_rand(rng) % lo;
    return s > max ? max : s;
}

void kt_text_out(void *ctx, const char *s, size_t n)
{
    kt_text *t = ctx;
    for (size_t i = 0; i < n && t->len + 1 < t->cap; i++)
        t->buf[t->len++] = s[i];
    t->buf[t->len] = 0;
    t->total += n;
}
