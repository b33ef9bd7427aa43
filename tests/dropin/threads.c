/* Thread and fork stress for the host drop-in, linked against libkheap.a.
 *
 * 8 threads allocate with every entry point (malloc, calloc, realloc,
 * aligned_alloc, posix_memalign, memalign), stamp each block with its owner
 * and a sequence number, and trade blocks through a shared exchange, so most
 * blocks are freed by a thread other than the one that allocated them.  Every
 * payload is verified before it is freed or resized.  Half way through,
 * thread 0 forks: the child (one thread, the heap lock released by the fork
 * handlers) allocates, frees, checks the heap and exits 0.  At the end the
 * exchange is drained and kheap_check must pass.
 *
 * Built twice: against libkheap.a (-DDROPIN_STATIC=1), where it also reaches
 * the instance for kheap_check and the statistics, and plain, to run under
 * LD_PRELOAD=libkheap.so, where those hidden symbols are absent (weak, so
 * NULL) and the script reads KHEAP_STATS instead.
 *
 * Prints one line per failure and "threads: ok ..." on success; exits
 * non-zero on any failure. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../host/kheap_dropin.h"

#ifndef DROPIN_STATIC
#define DROPIN_STATIC 0
#endif
#pragma weak kheap_dropin_instance
#pragma weak kheap_check
#pragma weak kheap_stats_get

#define THREADS 8
#ifndef ITERATIONS
#define ITERATIONS 30000  /* per thread; the ThreadSanitizer build runs fewer */
#endif
#define SLOTS 256
#define LOCAL 32
#define FORKS_AT (ITERATIONS / 2)

typedef struct {
    uint32_t magic;
    uint32_t owner;  /* thread that stamped it */
    uint64_t seq;
    size_t size;     /* bytes stamped, header included */
} stamp;

#define STAMP_MAGIC 0x6b687374u

static void *_Atomic exchange[SLOTS];
static int failures;

static void fail(const char *what, const void *p)
{
    if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) >= 20)
        return;  /* the count says the rest */
    char line[160];
    int n = snprintf(line, sizeof line, "threads: FAIL %s at %p\n", what, p);
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line);
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static unsigned char pattern(const stamp *st, size_t i)
{
    return (unsigned char)(st->seq * 31 + st->owner * 7 + i);
}

/* Stamps a block of `size` bytes (size >= sizeof(stamp)). */
static void stamp_block(void *p, size_t size, uint32_t owner, uint64_t seq)
{
    stamp st = {STAMP_MAGIC, owner, seq, size};
    memcpy(p, &st, sizeof st);
    unsigned char *b = p;
    for (size_t i = sizeof st; i < size; i++)
        b[i] = pattern(&st, i);
}

/* Returns the stamped size, or 0 after reporting a mismatch. */
static size_t verify_block(const void *p)
{
    stamp st;
    memcpy(&st, p, sizeof st);
    if (st.magic != STAMP_MAGIC) {
        fail("stamp header overwritten", p);
        return 0;
    }
    if (malloc_usable_size((void *)p) < st.size) {
        fail("usable size below the stamped size", p);
        return 0;
    }
    const unsigned char *b = p;
    for (size_t i = sizeof st; i < st.size; i++) {
        if (b[i] != pattern(&st, i)) {
            fail("payload corrupted", p);
            return 0;
        }
    }
    return st.size;
}

static size_t pick_size(uint64_t *s)
{
    uint64_t r = rng(s);
    switch (r % 32) {
    case 0:
        return sizeof(stamp) + (size_t)(r >> 8) % (300 * 1024);  /* often large */
    case 1: case 2:
        return sizeof(stamp) + (size_t)(r >> 8) % 16384;
    default:
        return sizeof(stamp) + (size_t)(r >> 8) % 256;
    }
}

/* One of the allocation entry points, chosen at random; the block is
 * stamped.  NULL only on failure (reported). */
static void *allocate(uint64_t *s, uint32_t owner, uint64_t seq)
{
    size_t size = pick_size(s);
    void *p = NULL;
    size_t align = (size_t)1 << (3 + rng(s) % 10);  /* 8 .. 4096 */
    switch (rng(s) % 6) {
    case 0:
        p = calloc(1, size);
        align = 16;
        if (p != NULL) {
            const unsigned char *b = p;
            for (size_t i = 0; i < size; i++)
                if (b[i] != 0) {
                    fail("calloc block not zeroed", p);
                    break;
                }
        }
        break;
    case 1:
        p = aligned_alloc(align, size);
        break;
    case 2:
        if (posix_memalign(&p, align, size) != 0)
            p = NULL;
        break;
    case 3:
        p = memalign(align, size);
        break;
    default:
        p = malloc(size);
        align = 16;
        break;
    }
    if (p == NULL) {
        fail("allocation failed", NULL);
        return NULL;
    }
    if ((uintptr_t)p % align != 0)
        fail("misaligned block", p);
    stamp_block(p, size, owner, seq);
    return p;
}

/* Verifies, then either frees or resizes and re-verifies before freeing. */
static void release(void *p, uint64_t *s, uint32_t owner, uint64_t seq)
{
    if (p == NULL)
        return;
    size_t size = verify_block(p);
    if (size != 0 && rng(s) % 4 == 0) {
        size_t n = pick_size(s);
        void *q = realloc(p, n);
        if (q == NULL) {
            fail("realloc failed", p);
            free(p);
            return;
        }
        /* The kept prefix must have survived the move. */
        stamp st;
        memcpy(&st, q, sizeof st);
        size_t keep = size < n ? size : n;
        const unsigned char *b = q;
        for (size_t i = sizeof st; i < keep; i++)
            if (b[i] != pattern(&st, i)) {
                fail("realloc lost the payload", q);
                break;
            }
        stamp_block(q, n, owner, seq);
        verify_block(q);
        p = q;
    }
    free(p);
}

/* kheap_check on the drop-in's instance, when this build can reach it. */
static void check_heap(void)
{
    if (kheap_check == NULL || kheap_dropin_instance == NULL) {
        if (DROPIN_STATIC)
            fail("linked against libkheap.a but kheap_check is missing", NULL);
        return;
    }
    const char *why = NULL;
    if (!kheap_check(kheap_dropin_instance(), &why))
        fail(why, NULL);
}

static void child_work(void)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    void *local[LOCAL] = {0};
    for (int i = 0; i < 20000; i++) {
        int k = (int)(rng(&s) % LOCAL);
        release(local[k], &s, 99, (uint64_t)i);
        local[k] = allocate(&s, 99, (uint64_t)i);
    }
    for (int k = 0; k < LOCAL; k++)
        release(local[k], &s, 99, 0);
    check_heap();
}

static void do_fork(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        fail("fork failed", NULL);
        return;
    }
    if (pid == 0) {
        child_work();
        _exit(failures == 0 ? 0 : 1);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("forked child failed", NULL);
}

static void *worker(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    uint64_t s = 0x12345678ull * (id + 1) + 1;
    void *local[LOCAL] = {0};
    for (uint64_t i = 0; i < ITERATIONS; i++) {
        if (id < 2 && i == FORKS_AT + id * 1000)
            do_fork();
        uint64_t r = rng(&s);
        if (r % 3 == 0) {
            /* Trade: put a new block in a random slot; free what was there,
             * usually another thread's block. */
            void *p = allocate(&s, id, i);
            void *old = atomic_exchange_explicit(&exchange[(r >> 8) % SLOTS], p,
                                                 memory_order_acq_rel);
            release(old, &s, id, i);
        } else {
            int k = (int)((r >> 8) % LOCAL);
            release(local[k], &s, id, i);
            local[k] = allocate(&s, id, i);
        }
    }
    for (int k = 0; k < LOCAL; k++)
        release(local[k], &s, id, 0);
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
            fail("pthread_create failed", NULL);
            return 1;
        }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t s = 1;
    for (int i = 0; i < SLOTS; i++)
        release(exchange[i], &s, 0, 0);

    check_heap();
    kheap_stats st = {0};
    if (kheap_stats_get != NULL && kheap_dropin_instance != NULL) {
        kheap_stats_get(kheap_dropin_instance(), &st);
        if (st.allocs < (size_t)THREADS * ITERATIONS)
            fail("kheap did not serve the allocations", NULL);
    }
    if (failures != 0) {
        fprintf(stderr, "threads: %d failures\n", failures);
        return 1;
    }
    printf("threads: ok threads=%d iterations=%d forks=2", THREADS, ITERATIONS);
    if (st.allocs != 0)
        printf(" allocs=%zu frees=%zu blocks_in_use=%zu peak_pages=%zu", st.allocs, st.frees,
               st.blocks_in_use, st.peak_pages);
    printf("\n");
    return 0;
}
