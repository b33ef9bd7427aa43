/*
 * Misuse reports: each call delivers exactly its own report, whatever runs
 * between its unlock and its panic hook; diagnostics stay bounded on a
 * broken heap; validation reads nothing outside the instance's pages.
 *
 * Freestanding like every test body: no libc.
 */
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

static void report_record(void *ctx, const char *what, const void *addr)
{
    report_log *log = ctx;
    if (log->count < REPORTS_MAX) {
        log->addr[log->count] = addr;
        log->what[log->count] = what;
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

static void t_irq_reports_its_own(const ktest_env *env)
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

static void t_irq_valid_call_delivers_nothing(const ktest_env *env)
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

static const ktest_case cases[] = {
    {"misuse: an interrupt in the unlock window reports its own misuse, the call its own",
     t_irq_reports_its_own},
    {"misuse: a valid call in the unlock window delivers no other call's report",
     t_irq_valid_call_delivers_nothing},
};

const ktest_group tests_misuse = {cases, sizeof cases / sizeof cases[0]};
