/*
 * Misuse reports under threads: 4 threads share one instance with mutex
 * lock hooks and each makes REPORTS_PER_THREAD misuse calls on its own
 * pointers (an interior and a misaligned pointer into a block it holds,
 * which stay misuse whatever the other threads do).  Every call must
 * deliver exactly one report, to the thread that made it, naming its
 * pointer: a lost, doubled or crossed report fails the run.  Built with
 * ThreadSanitizer, which also flags report fields touched outside the lock.
 * Prints "ok"/"not ok" lines and "N passed, M failed".
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "../../alloc/kheap.h"
#include "../../host/mmap_provider.h"

#ifndef REPORTS_PER_THREAD
#define REPORTS_PER_THREAD 20000
#endif
#define THREADS 4

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static kheap *heap;

static uintptr_t lock(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&mutex);
    return 0;
}

static void unlock(void *ctx, uintptr_t saved)
{
    (void)ctx;
    (void)saved;
    pthread_mutex_unlock(&mutex);
}

/* What this thread's current call expects to be told, and what it was. */
static _Thread_local const void *expected;
static _Thread_local unsigned reports, wrong;

static void panic_hook(void *ctx, kheap_misuse what, const void *addr)
{
    (void)ctx;
    (void)what;
    reports++;
    if (addr != expected)
        wrong++;
}

typedef struct result {
    unsigned calls, reports, wrong;
} result;

static void *worker(void *arg)
{
    result *r = arg;
    char *p = kheap_alloc(heap, 256);
    if (p == NULL)
        return NULL;
    for (unsigned i = 0; i < REPORTS_PER_THREAD; i++) {
        expected = (i & 1) ? p + 1 : p + 64;
        kheap_free(heap, (void *)expected);
        r->calls++;
        /* Valid calls in between, so reports race with real work. */
        kheap_free(heap, kheap_alloc(heap, 16 + (i & 255)));
    }
    kheap_free(heap, p);
    r->reports = reports;
    r->wrong = wrong;
    return NULL;
}

int main(void)
{
    static mmap_provider_state os;
    kheap_config config = {
        .provider = mmap_provider(&os, 0),
        .lock = lock,
        .unlock = unlock,
        .panic = panic_hook,
    };
    heap = kheap_create(&config);
    if (heap == NULL) {
        puts("not ok 1 - kheap_create\n0 passed, 1 failed");
        return 1;
    }
    pthread_t t[THREADS];
    result r[THREADS] = {{0}};
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, &r[i]);
    unsigned calls = 0, got = 0, crossed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        calls += r[i].calls;
        got += r[i].reports;
        crossed += r[i].wrong;
    }
    const char *why = NULL;
    int ok = calls == THREADS * REPORTS_PER_THREAD && got == calls && crossed == 0 &&
             kheap_check(heap, &why);
    printf("%s 1 - %d threads x %d misuse calls: %u reports, %u to the wrong call%s%s\n",
           ok ? "ok" : "not ok", THREADS, REPORTS_PER_THREAD, got, crossed,
           why != NULL ? "; check: " : "", why != NULL ? why : "");
    kheap_destroy(heap);
    printf("%d passed, %d failed\n", ok, !ok);
    return ok ? 0 : 1;
}
