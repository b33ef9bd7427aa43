/*
 * Misuse reports: each call delivers exactly its own report, whatever runs
 * between its unlock and its panic hook; diagnostics stay bounded on a
 * broken heap; validation reads nothing outside the instance's pages.
 *
 * Freestanding like every test body: no libc.
 */
#include "../alloc/heap_internal.h"
#include "../alloc/kheap.h"
#include "ktest.h"
#include "test_support.h"

#define KIB ((size_t)1024)

static const kt_opts STD = { .bytes = 128 * KIB };

/* Every report in order, so a test sees which call delivered what. */
#define REPORTS_MAX 4
typedef struct report_log {
    unsigned count;
    const void *addr[REPORTS_MAX];
    const char *what[REPORTS_MAX];
    bool in_irq[REPORTS_MAX];       /* delivered while the "interrupt" ran */
    const bool *irq_running;
} report_log;

static void report_record(void *ctx, kheap_misuse what, const void *addr)
{
    report_log *log = ctx;
    if (log->count < REPORTS_MAX) {
        log->addr[log->count] = addr;
        log->what[log->count] = kheap_misuse_text(what);
        log->in_irq[log->count] = log->irq_running != NULL && *log->irq_running;
    }
    log->count++;
}

/* An "interrupt" that runs in the window between a call's unlock and its
 * return: the unlock hook runs `irq` once, when armed, as an interrupt
 * that was held off by the lock would. */
typedef struct irq_window {
    kheap *h;
    void (*irq)(struct irq_window *w);
    void *victim;
    bool armed;
    bool running;
    unsigned depth;
} irq_window;

static uintptr_t window_lock(void *ctx)
{
    irq_window *w = ctx;
    return w->depth++;
}

static void window_unlock(void *ctx, uintptr_t saved)
{
    irq_window *w = ctx;
    w->depth = (unsigned)saved;
    if (w->armed && w->depth == 0) {
        w->armed = false;
        w->running = true;
        w->irq(w);
        w->running = false;
    }
}

static void irq_double_free(irq_window *w)
{
    kheap_free(w->h, w->victim);
}

/* Larger than the freed blocks, so it cannot reuse (and revive) them. */
#define BIG_REQUEST 200

static void irq_valid_calls(irq_window *w)
{
    kheap_free(w->h, kheap_alloc(w->h, BIG_REQUEST));
}

/* Three blocks with in-use neighbours: p and q freed, so a second free of
 * either is a double free that changes nothing. */
static bool open_window(kt_heap *t, const ktest_env *env, irq_window *w, report_log *log,
                        void **p, void **q)
{
    if (!kt_prepare(t, env, &STD))
        return false;
    *w = (irq_window){0};
    *log = (report_log){0};
    log->irq_running = &w->running;
    t->config.lock = window_lock;
    t->config.unlock = window_unlock;
    t->config.lock_ctx = w;
    t->config.panic = report_record;
    t->config.panic_ctx = log;
    t->h = kheap_create(&t->config);
    if (t->h == NULL) {
        ktest_fail_msg(__FILE__, __LINE__, "kheap_create", "an instance", "NULL");
        kt_close(t, env);  /* the sub-region's run goes back */
        return false;
    }
    w->h = t->h;
    void *a = kheap_alloc(t->h, 32);
    *p = kheap_alloc(t->h, 32);
    void *b = kheap_alloc(t->h, 32);
    *q = kheap_alloc(t->h, 32);
    void *c = kheap_alloc(t->h, 32);
    if (a == NULL || *p == NULL || b == NULL || *q == NULL || c == NULL) {
        ktest_fail_msg(__FILE__, __LINE__, "five blocks", "allocated", "NULL");
        return true;
    }
    kheap_free(t->h, *p);
    kheap_free(t->h, *q);
    return true;
}

static void KT_PROFILED t_irq_reports_its_own(const ktest_env *env)
{
    kt_heap t;
    irq_window w;
    report_log log;
    void *p, *q;
    if (!open_window(&t, env, &w, &log, &p, &q))
        return;
    w.irq = irq_double_free;
    w.victim = q;
    w.armed = true;
    kheap_free(t.h, p);
    /* The interrupt's call finishes first, so its report comes first. */
    KT_EQ(2, log.count);
    KT_PTR_EQ(q, log.addr[0]);
    KT_STR_EQ("double free", log.what[0]);
    KT_TRUE(log.in_irq[0]);
    KT_PTR_EQ(p, log.addr[1]);
    KT_STR_EQ("double free", log.what[1]);
    KT_FALSE(log.in_irq[1]);
    KT_FALSE(w.armed);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

static void KT_PROFILED t_irq_valid_call_delivers_nothing(const ktest_env *env)
{
    kt_heap t;
    irq_window w;
    report_log log;
    void *p, *q;
    if (!open_window(&t, env, &w, &log, &p, &q))
        return;
    w.irq = irq_valid_calls;
    w.armed = true;
    kheap_free(t.h, p);
    KT_EQ(1, log.count);
    KT_PTR_EQ(p, log.addr[0]);
    KT_STR_EQ("double free", log.what[0]);
    KT_FALSE(log.in_irq[0]);  /* delivered by the call that found it */
    /* And a valid call with an interrupt that misuses: only the
     * interrupt's report. */
    w.irq = irq_double_free;
    w.victim = q;
    w.armed = true;
    kheap_free(t.h, kheap_alloc(t.h, BIG_REQUEST));
    KT_EQ(2, log.count);
    KT_PTR_EQ(q, log.addr[1]);
    KT_TRUE(log.in_irq[1]);
    KT_CHECK(t.h);
    kt_close(&t, env);
}


/* ------------------------------------------------ diagnostics, bounded */

/* What a test needs of kheap_dump's text, kept line by line so that a
 * small board's stack holds it: the lines seen of each kind, and the last
 * "broken" line whole. */
typedef struct dump_lines {
    char line[96];
    size_t len;
    unsigned begin, heaps, stopped, stats, end;
    char broken[96];
} dump_lines;

static bool starts(const char *s, const char *prefix)
{
    while (*prefix != '\0')
        if (*s++ != *prefix++)
            return false;
    return true;
}

static void line_done(dump_lines *d)
{
    d->line[d->len] = '\0';
    d->begin += starts(d->line, "kheap-dump begin ");
    d->heaps += starts(d->line, "heap ");
    d->stopped += starts(d->line, "stopped ");
    d->stats += starts(d->line, "stats ");
    d->end += starts(d->line, "kheap-dump end");
    if (starts(d->line, "broken "))
        for (size_t i = 0; i <= d->len; i++)
            d->broken[i] = d->line[i];
    d->len = 0;
}

static void text_out(void *ctx, const char *text, size_t len)
{
    dump_lines *d = ctx;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n')
            line_done(d);
        else if (d->len + 1 < sizeof d->line)
            d->line[d->len++] = text[i];
    }
}

static bool count_block(void *ctx, const kheap_block_info *info)
{
    (void)info;
    (*(size_t *)ctx)++;
    return true;
}

static size_t walk_count(kheap *h)
{
    size_t n = 0;
    kheap_walk(h, count_block, &n);
    return n;
}

/* Five blocks of 32 bytes, the 2nd and 4th freed: two listed free blocks
 * between blocks in use, then the dv. */
static bool five_blocks(kt_heap *t, const ktest_env *env, void *x[5])
{
    if (!kt_open(t, env, &STD))
        return false;
    for (int i = 0; i < 5; i++)
        x[i] = kheap_alloc(t->h, 32);
    for (int i = 0; i < 5; i++)
        if (x[i] == NULL) {
            ktest_fail_msg(__FILE__, __LINE__, "five blocks", "allocated", "NULL");
            kt_close(t, env);
            return false;
        }
    kheap_free(t->h, x[1]);
    kheap_free(t->h, x[3]);
    return true;
}

/* A write after free that links a free block to itself: the count of free
 * blocks must stop (it looped for ever, lock held), and the checker must
 * name the cycle. */
static void t_self_linked_free_block(const ktest_env *env)
{
    kt_heap t;
    void *x[5];
    if (!five_blocks(&t, env, x))
        return;
    block *b = block_from_payload(x[1]);
    KT_REQUIRE_CLOSE(block_is_free(b));
    block *saved = link_get(t.h, &b->next_free);
    link_set(t.h, &b->next_free, b);
    kheap_stats s;
    kheap_stats_get(t.h, &s);
    KT_EQ(3, s.blocks_in_use);
    const char *why = NULL;
    KT_FALSE(kheap_check(t.h, &why));
    KT_STR_EQ("free lists hold more blocks than the heaps (a cycle or a stale entry)", why);
    link_set(t.h, &b->next_free, saved);
    kheap_stats_get(t.h, &s);
    KT_EQ(3, s.free_blocks);  /* the two listed and the dv */
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* A forged size of 0 in a header: the walk and the dump stop at it rather
 * than spin on it. */
static void t_forged_zero_size_ends_walks(const ktest_env *env)
{
    kt_heap t;
    void *x[5];
    if (!five_blocks(&t, env, x))
        return;
    KT_EQ(6, walk_count(t.h));  /* five blocks and the dv */
    block *b = block_from_payload(x[2]);
    size_t word = b->size;
    b->size = word & KH_FLAG_MASK;
    KT_EQ(3, walk_count(t.h));  /* x[0], x[1] and the forged one */
    dump_lines out = {0};
    kheap_dump(t.h, text_out, &out);
    KT_EQ(1, out.begin);
    KT_EQ(1, out.heaps);
    KT_EQ(1, out.stats);
    KT_EQ(1, out.end);
    /* "broken offset=N why=size" names the forged block's payload offset. */
    const heap *home = t.h->heaps;
    KT_EQ(1, t.h->stats.heaps);
    char line[64];
    size_t n = 0;
    const char *head = "broken offset=";
    while (head[n] != '\0') {
        line[n] = head[n];
        n++;
    }
    size_t off = (size_t)((char *)x[2] - (const char *)home), div = 1;
    while (div * 10 <= off)
        div *= 10;
    for (; div != 0; div /= 10)
        line[n++] = (char)('0' + off / div % 10);
    const char *tail = " why=size";
    for (size_t i = 0; tail[i] != '\0'; i++)
        line[n++] = tail[i];
    line[n] = '\0';
    KT_STR_EQ(line, out.broken);
    b->size = word;
    KT_EQ(6, walk_count(t.h));
    KT_CHECK(t.h);
    kt_close(&t, env);
}

#if KHEAP_HARDEN
/* A panic hook that looks at the instance it was called for, as kheap.h
 * allows: after corruption stopped it, the dump names the stop and walks
 * nothing, the walk calls nothing, the stats come from the counters. */
typedef struct inspect {
    kheap *h;
    unsigned reports;
    const char *what;
    dump_lines dump;
    size_t walked;
    kheap_stats stats;
} inspect;

static void inspect_hook(void *ctx, kheap_misuse what, const void *addr)
{
    (void)addr;
    inspect *in = ctx;
    in->reports++;
    in->what = kheap_misuse_text(what);
    kheap_dump(in->h, text_out, &in->dump);
    in->walked = walk_count(in->h);
    kheap_stats_get(in->h, &in->stats);
}

static void t_stopped_instance_diagnostics(const ktest_env *env)
{
    kt_heap t;
    if (!kt_prepare(&t, env, &STD))
        return;
    inspect in = {0};
    t.config.panic = inspect_hook;
    t.config.panic_ctx = &in;
    t.h = in.h = kheap_create(&t.config);
    KT_REQUIRE_CLOSE(t.h != NULL);
    void *keep = kheap_alloc(t.h, 64);
    char *p = kheap_alloc(t.h, 64);
    void *keep2 = kheap_alloc(t.h, 64);
    KT_REQUIRE_CLOSE(keep != NULL && p != NULL && keep2 != NULL);
    kheap_free(t.h, p);
    p[4 * sizeof(size_t)] ^= 1;  /* a write after free, past the links */
    KT_NULL(kheap_alloc(t.h, 64));
    KT_EQ(1, in.reports);
    KT_STR_EQ("write after free: freed memory was changed", in.what);
    KT_EQ(1, in.dump.begin);
    KT_EQ(1, in.dump.stopped);
    KT_EQ(0, in.dump.heaps);
    KT_EQ(1, in.dump.stats);
    KT_EQ(1, in.dump.end);
    KT_EQ(0, in.walked);
    KT_EQ(0, in.stats.free_blocks);
    KT_EQ(0, in.stats.largest_free);
    KT_EQ(1, in.stats.heaps);
    /* Stopped for good: destroy still gives every page back. */
    kt_close(&t, env);
}
#endif

/* ------------------------------------------------ validation bounds */

/* A forged "previous block free" whose footer reaches just below the
 * instance's lowest page, where a fake free header waits: free must report
 * the footer and change nothing, reading nothing below that page. */
static void KT_PROFILED t_footer_below_first_page(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    kheap *h = t.h;
    void *first = kheap_alloc(h, 32);
    void *x = kheap_alloc(h, 32);
    KT_REQUIRE_CLOSE(first != NULL && x != NULL && t.h->stats.heaps == 1);
    block *xb = block_from_payload(x);
    char *page0 = (char *)(uintptr_t)(h->first - KH_PAYLOAD_OFF);
    size_t off = (uintptr_t)x - h->first;
    /* The old bound let prev_size reach off + KH_PAYLOAD_OFF: a "previous
     * block" whose size word is the word below page0.  That word is a free
     * page of the sub-region (the instance's one heap is its top run). */
    size_t prev_size = off + KH_PAYLOAD_OFF;
    block *fake = (block *)(void *)((char *)xb - prev_size);
    KT_PTR_EQ(page0 - KH_WORD, &fake->size);
    KT_EQ('F', kheap_region_page_kind(t.sub, (size_t)(page0 - 1 - (char *)t.sub) / t.page_size));
    size_t word = xb->size, footer = xb->prev_size;
    hdr_set(h, fake, prev_size | KH_FLAG_FREE);
    xb->prev_size = prev_size;
    hdr_set(h, xb, word | KH_FLAG_PREV_FREE);
    kheap_stats before = kt_stats(h);
    kheap_free(h, x);
    KT_EQ(1, t.panic.count);
    KT_PTR_EQ(x, t.panic.addr);
    KT_STR_EQ("underflow into the header (bad previous footer)", t.panic.what);
    kheap_stats after = kt_stats(h);
    KT_SAME_STATS(&before, &after, 0);
    hdr_set(h, xb, word);
    xb->prev_size = footer;
    KT_CHECK(h);
    kheap_free(h, x);
    kheap_free(h, first);
    KT_EQ(1, t.panic.count);
    kt_close(&t, env);
}

/* ------------------------------------------------ pages given back */

/* What free says of a pointer whose heap went back: the full tier may
 * remember the run, the basic tier asks the provider. */
#define GONE_TEXT (KHEAP_HARDEN ? "double free: its heap was given back" \
                                : "not in a page the instance holds: a double free after its heap went back?")

/* Sizes by pages, so the cases fit the smallest board: a home heap of 1.5 KiB
 * and a large threshold of two pages; a request two pages past the home
 * heap gets a heap of its own whatever the home heap holds. */
#define PAGES_ROOM 24u

static kt_opts pages_opts(const ktest_env *env)
{
    size_t ps = env->region_provider->page_size;
    kt_opts o = {.bytes = PAGES_ROOM * ps, .heap_pages = (1536 + ps - 1) / ps, .large_threshold = 2 * ps};
    return o;
}

/* free(p); free(p) of a large block whose heap went back: reported through
 * the provider's owns() before a word of the gone pages is read. */
static void double_free_after_release(kheap *h, kt_panic_log *log, size_t large)
{
    void *keep = kheap_alloc(h, 32);
    void *p = kheap_alloc(h, large);
    if (keep != NULL && p != NULL) {
        kheap_free(h, p);
        kheap_stats before = kt_stats(h);
        kheap_free(h, p);
        KT_EQ(1, log->count);
        KT_PTR_EQ(p, log->addr);
        KT_STR_EQ(GONE_TEXT, log->what);
        KT_EQ(0, kheap_usable_size(h, p));
        KT_EQ(2, log->count);
        KT_PTR_EQ(p, log->addr);
        kheap_stats after = kt_stats(h);
        KT_SAME_STATS(&before, &after, 0);
        KT_CHECK(h);
    }
    KT_NONNULL(keep);
    KT_NONNULL(p);
    kheap_free(h, keep);
}

static void KT_PROFILED t_double_free_of_released_heap(const ktest_env *env)
{
    kt_heap t;
    kt_opts o = pages_opts(env);
    if (!kt_open(&t, env, &o))
        return;
    double_free_after_release(t.h, &t.panic, (o.heap_pages + 2) * t.page_size);
    kt_close(&t, env);
}

#ifdef KTEST_HOST
/* The same where given-back pages fault on any access (the host's guard
 * provider), so a read of them would kill the suite.  Host only: on target
 * no provider can make a page fault, and the case is not registered. */
static void KT_PROFILED t_double_free_released_guarded(const ktest_env *env)
{
    KT_REQUIRE(env->guard_provider != NULL);
    kt_panic_log log = {0};
    kheap_config c = {.provider = *env->guard_provider, .panic = kt_panic_record, .panic_ctx = &log};
    kheap *h = kheap_create(&c);
    KT_REQUIRE(h != NULL);
    double_free_after_release(h, &log, 64 * KIB);
    kheap_destroy(h);
}
#endif

/* Two instances share a region: X's large block goes back, Y's large block
 * takes the same pages, and X frees its old pointer again.  X must report
 * it (the region says the page is Y's), not free Y's live block. */
static void KT_PROFILED t_double_free_into_another_instance(const ktest_env *env)
{
    kt_heap t;
    kt_opts o = pages_opts(env);
    if (!kt_prepare(&t, env, &o))
        return;
    kheap_provider second = kheap_region_provider(t.sub);
    kheap_config cy = t.config;
    kt_panic_log ylog = {0};
    cy.provider = second;
    cy.panic_ctx = &ylog;
    t.h = kheap_create(&t.config);
    kheap *y = kheap_create(&cy);
    size_t large = (o.heap_pages + 2) * t.page_size;
    char *p = t.h != NULL ? kheap_alloc(t.h, large) : NULL;
    if (p != NULL)
        kheap_free(t.h, p);
    char *q = y != NULL ? kheap_alloc(y, large) : NULL;
    if (p != NULL && q != NULL) {
        KT_PTR_EQ(p, q);  /* the same pages, the same layout */
        ktest_fill(q, large, 5);
        kheap_stats ybefore = kt_stats(y);
        kheap_free(t.h, p);
        KT_EQ(1, t.panic.count);
        KT_PTR_EQ(p, t.panic.addr);
        KT_STR_EQ(GONE_TEXT, t.panic.what);
        KT_EQ(0, ylog.count);
        kheap_stats yafter = kt_stats(y);
        KT_SAME_STATS(&ybefore, &yafter, 0);
        KT_TRUE(ktest_verify(q, large, 5));
        KT_CHECK(t.h);
        KT_CHECK(y);
    }
    KT_NONNULL(t.h);
    KT_NONNULL(y);
    KT_NONNULL(p);
    KT_NONNULL(q);
    kheap_free(y, q);
    kheap_destroy(y);
    KT_TRUE(kheap_region_provider_release(&second));
    kt_close(&t, env);
}

/* A double free of a block whose page went back with a heap's top trim:
 * the block before it is free, so freeing it merges both and trims all
 * but a page of slack above the merged block's start, taking the freed
 * block's own header page.  The second free must be reported from the
 * provider's owns() or, without one (`no_owns`), from the full tier's
 * record of runs given back. */
static void double_free_after_top_trim(const ktest_env *env, bool no_owns)
{
    kt_heap t;
    size_t ps = env->region_provider->page_size;
    kt_opts o = {.bytes = 40 * ps, .heap_pages = 8, .large_threshold = 64 * ps, .wrap = no_owns};
    if (!kt_open(&t, env, &o))
        return;
    kheap *h = t.h;
    /* c: the first block of a second heap (the home heap filled first). */
    void *c = NULL, *home[16];
    unsigned n = 0;
    while (n < 16 && kt_stats(h).heaps < 2 && (home[n] = kheap_alloc(h, ps)) != NULL)
        n++;
    c = n > 0 && kt_stats(h).heaps == 2 ? home[--n] : NULL;
    char *f = c != NULL ? kheap_alloc(h, 3 * ps) : NULL;
    /* A page: more than any block the filling left free, so it is carved
     * from the free space right after f. */
    char *p = f != NULL ? kheap_alloc(h, ps) : NULL;
    /* d does not fit: the provider maps a run below the second heap, which
     * takes it in, so that heap now holds more pages than it was mapped
     * with and its top can be trimmed. */
    void *d = p != NULL ? kheap_alloc(h, 5 * ps) : NULL;
    if (d != NULL && kt_stats(h).heaps == 2 && p == f + kt_block_for(3 * ps)) {
        size_t pages = kt_stats(h).pages;
        kheap_free(h, f);
        kheap_free(h, p);
        KT_TRUE(kt_stats(h).pages < pages);
        kheap_stats before = kt_stats(h);
        kheap_free(h, p);
        KT_EQ(1, t.panic.count);
        KT_PTR_EQ(p, t.panic.addr);
        KT_STR_EQ(GONE_TEXT, t.panic.what);
        kheap_stats after = kt_stats(h);
        KT_SAME_STATS(&before, &after, 0);
        KT_CHECK(h);
    } else {
        ktest_fail_msg(__FILE__, __LINE__, "a second heap grown below", "set up", "not");
    }
    kheap_free(h, d);
    kheap_free(h, c);
    while (n > 0)
        kheap_free(h, home[--n]);
    kt_close(&t, env);
}

static void KT_PROFILED t_double_free_after_top_trim(const ktest_env *env)
{
    double_free_after_top_trim(env, false);
}

#if KHEAP_HARDEN
static void t_double_free_after_top_trim_no_owns(const ktest_env *env)
{
    double_free_after_top_trim(env, true);
}
#endif

/* ------------------------------------------------ forged size words */

/* free(x) after its header's size word was overwritten with each of eight
 * data patterns (zeros, ones, text, a high bit, sizes below the minimum, a size
 * that leads into a heap that went back, one that leads past every page):
 * every one is reported with x's address, nothing changes, and no word of
 * a page the instance does not hold is read (the host runs this over the
 * guard provider too, where such a read faults). */
static void forged_sizes(kheap *h, kt_panic_log *log, size_t large)
{
    /* Runs map top down: x's heap, mapped after gone's, lies below it, so
     * once gone's heap goes back a size can reach from x into the hole. */
    void *keep = kheap_alloc(h, 32);
    char *gone = kheap_alloc(h, large);
    char *x = kheap_alloc(h, large);
    void *after = kheap_alloc(h, 48);
    if (keep == NULL || gone == NULL || x == NULL || after == NULL) {
        ktest_fail_msg(__FILE__, __LINE__, "four blocks", "allocated", "NULL");
        kheap_free(h, keep);
        kheap_free(h, gone);
        kheap_free(h, x);
        kheap_free(h, after);
        return;
    }
    kheap_free(h, gone);  /* its heap goes back: a hole the patterns aim at */
    block *b = block_from_payload(x);
    size_t word = b->size;
    uintptr_t to_gone = (uintptr_t)block_from_payload(gone) - (uintptr_t)b;
    size_t patterns[8] = {
        0, ~(size_t)0, (size_t)0x4141414141414141ull, (size_t)1 << (8 * sizeof(size_t) - 1),
        KH_MIN_BLOCK | 1, KH_MIN_BLOCK / 2, (size_t)to_gone, (size_t)1 << (8 * sizeof(size_t) - 2),
    };
    for (unsigned i = 0; i < 8; i++) {
        kheap_stats before = kt_stats(h);
        unsigned count = log->count;
        b->size = patterns[i];
        kheap_free(h, x);
        b->size = word;
        if (log->count != count + 1 || log->addr != x)
            ktest_fail_u(__FILE__, __LINE__, "reports for forged pattern #", count + 1, log->count);
        kheap_stats after_stats = kt_stats(h);
        KT_SAME_STATS(&before, &after_stats, 0);
    }
    KT_CHECK(h);
    kheap_free(h, x);
    kheap_free(h, after);
    kheap_free(h, keep);
    KT_CHECK(h);
}

static void KT_PROFILED t_forged_sizes_reported(const ktest_env *env)
{
    kt_heap t;
    kt_opts o = pages_opts(env);
    if (!kt_open(&t, env, &o))
        return;
    forged_sizes(t.h, &t.panic, (o.heap_pages + 1) * t.page_size);
    KT_EQ(8, t.panic.count);
    kt_close(&t, env);
}

#ifdef KTEST_HOST
static void KT_PROFILED t_forged_sizes_guarded(const ktest_env *env)
{
    KT_REQUIRE(env->guard_provider != NULL);
    kt_panic_log log = {0};
    kheap_config c = {.provider = *env->guard_provider, .panic = kt_panic_record, .panic_ctx = &log};
    kheap *h = kheap_create(&c);
    KT_REQUIRE(h != NULL);
    forged_sizes(h, &log, 64 * KIB);
    KT_EQ(8, log.count);
    kheap_destroy(h);
}
#endif

/* ------------------------------------------------ mixed builds */

/* An instance whose recorded layout is another build's: every call refuses
 * it and touches nothing; the checker says why. */
static void KT_PROFILED t_other_build_refused(const ktest_env *env)
{
    kt_heap t;
    if (!kt_open(&t, env, &STD))
        return;
    void *p = kheap_alloc(t.h, 40);
    KT_REQUIRE_CLOSE(p != NULL);
    kheap_stats before = kt_stats(t.h);
    size_t layout = t.h->layout;
    t.h->layout ^= (size_t)1 << 15;  /* the other tier's */
    KT_NULL(kheap_alloc(t.h, 40));
    KT_NULL(kheap_calloc(t.h, 2, 20));
    KT_NULL(kheap_aligned_alloc(t.h, 64, 40));
    KT_NULL(kheap_realloc(t.h, p, 80));
    KT_EQ(0, kheap_usable_size(t.h, p));
    kheap_free(t.h, p);
    kheap_stats s = {.allocs = 12345};
    kheap_stats_get(t.h, &s);
    KT_EQ(12345, s.allocs);
    KT_EQ(0, walk_count(t.h));
    dump_lines out = {0};
    kheap_dump(t.h, text_out, &out);
    KT_EQ(0, out.begin);
    const char *why = NULL;
    KT_FALSE(kheap_check(t.h, &why));
    KT_STR_EQ("instance created by a build with other layout options", why);
    KT_EQ(0, t.panic.count);
    t.h->layout = layout;
    kheap_stats after = kt_stats(t.h);
    KT_SAME_STATS(&before, &after, 0);
    /* The block is still live: usable and freed normally. */
    KT_EQ(KHEAP_HARDEN ? 40 : kt_block_for(40) - KHEAP_BLOCK_OVERHEAD, kheap_usable_size(t.h, p));
    kheap_free(t.h, p);
    KT_CHECK(t.h);
    kt_close(&t, env);
}

/* Every code has its own message; a value that is no code gets one that
 * says so rather than NULL or a neighbour's text. */
static void t_misuse_texts(const ktest_env *env)
{
    (void)env;
    const kheap_misuse last = KHEAP_MISUSE_FREE_HEADER;
    for (unsigned a = 0; a <= (unsigned)last; a++) {
        const char *ta = kheap_misuse_text((kheap_misuse)a);
        KT_TRUE(ta != NULL && ta[0] != '\0');
        for (unsigned b = 0; b < a && ta != NULL; b++)
            KT_FALSE(ktest_streq(ta, kheap_misuse_text((kheap_misuse)b)));
    }
    KT_STR_EQ("no misuse", kheap_misuse_text(KHEAP_MISUSE_NONE));
    KT_STR_EQ("double free", kheap_misuse_text(KHEAP_MISUSE_DOUBLE_FREE));
    KT_STR_EQ("__malloc_unlock without __malloc_lock", kheap_misuse_text(KHEAP_MISUSE_UNLOCK_UNPAIRED));
    KT_STR_EQ("free block header corrupted: an overflow from the block before it?",
              kheap_misuse_text(last));
    KT_STR_EQ("unknown misuse", kheap_misuse_text((kheap_misuse)(last + 1)));
    KT_STR_EQ("unknown misuse", kheap_misuse_text((kheap_misuse)-1));
}

static const ktest_case cases[] = {
    {"misuse: every code has a message of its own, an unknown value says so", t_misuse_texts},
#if KHEAP_CHECKS && KHEAP_LOCKS
    {"misuse: an interrupt in the unlock window reports its own misuse, the call its own",
     t_irq_reports_its_own},
    {"misuse: a valid call in the unlock window delivers no other call's report",
     t_irq_valid_call_delivers_nothing},
#endif
    {"misuse: a free block linked to itself stops the stats count and the checker names it",
     t_self_linked_free_block},
    {"misuse: a forged zero size ends the walk and the dump at that block",
     t_forged_zero_size_ends_walks},
#if KHEAP_CHECKS
    {"misuse: a footer reaching below the instance's lowest page is reported",
     t_footer_below_first_page},
    {"misuse: a double free of a block whose heap went back is reported",
     t_double_free_of_released_heap},
    {"misuse: a double free into another instance's pages on a shared region is reported",
     t_double_free_into_another_instance},
    {"misuse: a double free of a block whose page went with a top trim is reported",
     t_double_free_after_top_trim},
#endif
#if KHEAP_HARDEN
    {"misuse(full): without owns(), a top trim's pages are remembered for a double free",
     t_double_free_after_top_trim_no_owns},
#endif
#if KHEAP_CHECKS
    {"misuse: free reports a size word forged with each of eight patterns",
     t_forged_sizes_reported},
#ifdef KTEST_HOST
    {"misuse: forged size words read no faulting page (host guard provider)",
     t_forged_sizes_guarded},
#endif
#endif
#if KHEAP_CHECKS
    {"misuse: an instance from a build with other options is refused by every call",
     t_other_build_refused},
#endif
#if defined(KTEST_HOST) && KHEAP_CHECKS
    {"misuse: a double free of a released heap reads no faulting page (host guard provider)",
     t_double_free_released_guarded},
#endif
#if KHEAP_HARDEN
    {"misuse: after corruption the dump, walk and stats of a stopped instance read no block",
     t_stopped_instance_diagnostics},
#endif
};

const ktest_group tests_misuse = {cases, sizeof cases / sizeof cases[0]};
