/*
 * Two clients of one region shim on four threads, for ThreadSanitizer: the
 * region's threading contract (alloc/region.h) with pthread-mutex lock
 * hooks.  Host only.
 *
 * Threads 0 and 1 go through client A, 2 and 3 through client B.  Each
 * client has a mutex that stands for its instance's lock (kheap makes a
 * client's map/unmap/grow under it); the region's own hooks are another
 * mutex.  Every thread maps, grows and unmaps runs of its own, tags each
 * page it holds and checks the tags before giving it back (a page handed
 * out twice shows), asks owns() of both clients without any lock, tries to
 * give back and grow into runs through the wrong client, and threads 0 and
 * 3 move the sbrk break and read the usage.
 *
 * Usage: region-threads [--no-lock] [ITERATIONS]
 *   --no-lock  leaves the region's hooks unset: the clients' mutexes alone
 *              do not serialise the two clients, and TSan reports the race
 *              (tests/region_tsan.sh checks that it does).
 * Prints "ok N - ..." per check and "N passed, M failed"; exits non-zero
 * on a failure.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../alloc/region.h"

#define PAGE 256u
#define REGION_BYTES ((size_t)1 << 20)
#define THREADS 4
#define MAX_RUNS 24
#define MAX_RUN_PAGES 8u

typedef struct client {
    kheap_provider p;
    pthread_mutex_t mutex;   /* the instance lock it stands for */
} client;

typedef struct run {
    char *addr;
    size_t pages;
} run;

typedef struct worker {
    pthread_t thread;
    unsigned id;
    client *mine, *other;
    run runs[MAX_RUNS];
    size_t nruns;
    uint32_t rng;
    unsigned long iterations;
    /* failures, by check */
    unsigned long tag_bad, owns_bad, cross_bad, usage_bad, maps, refusals;
} worker;

static kheap_region *region;
static client clients[2];
static pthread_mutex_t region_mutex = PTHREAD_MUTEX_INITIALIZER;
static char *region_start, *region_end;

static uintptr_t region_lock(void *ctx)
{
    pthread_mutex_lock(ctx);
    return 0;
}

static void region_unlock(void *ctx, uintptr_t saved)
{
    (void)saved;
    pthread_mutex_unlock(ctx);
}

static uint32_t rnd(worker *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 17;
    w->rng ^= w->rng << 5;
    return w->rng;
}

static uint32_t tag_of(const worker *w, const run *r, size_t page)
{
    return ((uint32_t)w->id << 28) ^ (uint32_t)((uintptr_t)r->addr >> 8) ^ (uint32_t)page;
}

static void tag_pages(const worker *w, const run *r, size_t from)
{
    for (size_t i = from; i < r->pages; i++) {
        uint32_t t = tag_of(w, r, i);
        memcpy(r->addr + i * PAGE, &t, sizeof t);
        memcpy(r->addr + i * PAGE + PAGE - sizeof t, &t, sizeof t);
    }
}

/* Tags intact and every page the worker's client's, the other's not: no
 * lock, as kheap asks owns() of its own pages. */
static void check_run(worker *w, const run *r)
{
    for (size_t i = 0; i < r->pages; i++) {
        char *pg = r->addr + i * PAGE;
        uint32_t head, tail, t = tag_of(w, r, i);
        memcpy(&head, pg, sizeof head);
        memcpy(&tail, pg + PAGE - sizeof tail, sizeof tail);
        if (head != t || tail != t)
            w->tag_bad++;
        if (!w->mine->p.owns(w->mine->p.ctx, pg + (rnd(w) % PAGE)) ||
            w->other->p.owns(w->other->p.ctx, pg))
            w->owns_bad++;
    }
}

static void op_map(worker *w)
{
    if (w->nruns == MAX_RUNS)
        return;
    run r = { NULL, 1 + rnd(w) % MAX_RUN_PAGES };
    pthread_mutex_lock(&w->mine->mutex);
    r.addr = w->mine->p.map(w->mine->p.ctx, r.pages);
    pthread_mutex_unlock(&w->mine->mutex);
    if (r.addr == NULL)
        return;
    w->maps++;
    tag_pages(w, &r, 0);
    w->runs[w->nruns++] = r;
    check_run(w, &r);
}

static void op_unmap(worker *w)
{
    if (w->nruns == 0)
        return;
    size_t k = rnd(w) % w->nruns;
    run r = w->runs[k];
    check_run(w, &r);
    w->runs[k] = w->runs[--w->nruns];
    pthread_mutex_lock(&w->mine->mutex);
    w->mine->p.unmap(w->mine->p.ctx, r.addr, r.pages);
    bool still = w->mine->p.owns(w->mine->p.ctx, r.addr);
    pthread_mutex_unlock(&w->mine->mutex);
    if (still)
        w->owns_bad++;
}

static void op_grow(worker *w)
{
    if (w->nruns == 0)
        return;
    run *r = &w->runs[rnd(w) % w->nruns];
    if (r->pages >= 2 * MAX_RUN_PAGES)
        return;
    pthread_mutex_lock(&w->mine->mutex);
    bool grown = w->mine->p.grow(w->mine->p.ctx, r->addr + r->pages * PAGE, 1);
    pthread_mutex_unlock(&w->mine->mutex);
    if (grown) {
        r->pages++;
        tag_pages(w, r, r->pages - 1);
    }
    check_run(w, r);
}

/* Through the other client: refused, the run still this worker's. */
static void op_cross(worker *w)
{
    if (w->nruns == 0)
        return;
    const run *r = &w->runs[rnd(w) % w->nruns];
    pthread_mutex_lock(&w->other->mutex);
    w->other->p.unmap(w->other->p.ctx, r->addr, r->pages);
    w->other->p.unmap(w->other->p.ctx, r->addr + (r->pages - 1) * PAGE, 1);
    bool grew = w->other->p.grow(w->other->p.ctx, r->addr + PAGE, 1);
    pthread_mutex_unlock(&w->other->mutex);
    if (grew)
        w->cross_bad++;
    w->refusals++;
    for (size_t i = 0; i < r->pages; i++)
        if (!w->mine->p.owns(w->mine->p.ctx, r->addr + i * PAGE))
            w->cross_bad++;
}

/* owns() at random addresses of the region, no lock: never both clients'. */
static void op_probe(worker *w)
{
    const char *a = region_start + (rnd(w) % (size_t)(region_end - region_start));
    if (clients[0].p.owns(clients[0].p.ctx, a) && clients[1].p.owns(clients[1].p.ctx, a))
        w->owns_bad++;
}

static void op_sbrk(worker *w)
{
    intptr_t n = (intptr_t)(rnd(w) % (4 * PAGE));
    void *old = kheap_region_sbrk(region, n);
    if (old != (void *)-1 && kheap_region_sbrk(region, -n) == (void *)-1)
        w->usage_bad++;
}

static void op_usage(worker *w)
{
    kheap_region_usage u;
    kheap_region_usage_get(region, &u);
    if (u.pages_meta + u.pages_mapped + u.pages_brk + u.pages_free != u.pages_total ||
        u.clients != 2)
        w->usage_bad++;
}

static void *work(void *arg)
{
    worker *w = arg;
    for (unsigned long i = 0; i < w->iterations; i++) {
        uint32_t v = rnd(w) % 16;
        if (v < 5)
            op_map(w);
        else if (v < 9)
            op_unmap(w);
        else if (v < 11)
            op_grow(w);
        else if (v < 12)
            op_cross(w);
        else if (v < 14)
            op_probe(w);
        else if (w->id == 0 || w->id == 3)
            v == 14 ? op_sbrk(w) : op_usage(w);
    }
    while (w->nruns != 0)
        op_unmap(w);
    return NULL;
}

static unsigned passed, failed;

static void check(bool ok, const char *what, unsigned long bad)
{
    unsigned n = passed + failed + 1;
    if (ok) {
        passed++;
        printf("ok %u - %s\n", n, what);
    } else {
        failed++;
        printf("not ok %u - %s: %lu failures\n", n, what, bad);
    }
}

int main(int argc, char **argv)
{
    bool lock = true;
    unsigned long iterations = 20000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-lock") == 0)
            lock = false;
        else
            iterations = strtoul(argv[i], NULL, 10);
    }
    char *mem = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    region = kheap_region_init(mem, mem + REGION_BYTES, PAGE);
    if (region == NULL || (lock && !kheap_region_set_lock(region, region_lock, region_unlock,
                                                           &region_mutex))) {
        fputs("region set-up failed\n", stderr);
        return 2;
    }
    region_start = mem;
    region_end = mem + REGION_BYTES;
    for (int c = 0; c < 2; c++) {
        clients[c].p = kheap_region_provider(region);
        pthread_mutex_init(&clients[c].mutex, NULL);
    }
    printf("# region %zu KiB of %u-byte pages, %d threads x %lu iterations, region lock %s\n",
           REGION_BYTES >> 10, PAGE, THREADS, iterations, lock ? "on" : "OFF");

    static worker w[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        w[t].id = t;
        w[t].mine = &clients[t / 2];
        w[t].other = &clients[1 - t / 2];
        w[t].rng = 0x9e3779b9u * (t + 1);
        w[t].iterations = iterations;
        if (pthread_create(&w[t].thread, NULL, work, &w[t]) != 0) {
            perror("pthread_create");
            return 2;
        }
    }
    unsigned long tag_bad = 0, owns_bad = 0, cross_bad = 0, usage_bad = 0, maps = 0, refusals = 0;
    for (unsigned t = 0; t < THREADS; t++) {
        pthread_join(w[t].thread, NULL);
        tag_bad += w[t].tag_bad;
        owns_bad += w[t].owns_bad;
        cross_bad += w[t].cross_bad;
        usage_bad += w[t].usage_bad;
        maps += w[t].maps;
        refusals += w[t].refusals;
    }
    printf("# %lu runs mapped, %lu cross-client attempts\n", maps, refusals);
    check(maps > iterations / 4, "the threads mapped runs", maps);
    check(tag_bad == 0, "no page handed out twice: every tag intact", tag_bad);
    check(owns_bad == 0, "owns() true for the client's own pages only", owns_bad);
    check(cross_bad == 0 && refusals != 0, "unmap and grow through the other client refused",
          cross_bad);
    check(usage_bad == 0, "sbrk and usage consistent while mapping", usage_bad);
    kheap_region_usage u;
    kheap_region_usage_get(region, &u);
    bool whole = u.pages_mapped == 0 && u.pages_brk == 0 &&
                 u.largest_free_run == u.pages_total - u.pages_meta;
    bool released = kheap_region_provider_release(&clients[0].p) &&
                    kheap_region_provider_release(&clients[1].p);
    check(whole && released, "region whole at the end, both clients released",
          u.pages_mapped + u.pages_brk);
    printf("%u passed, %u failed\n", passed, failed);
    munmap(mem, REGION_BYTES);
    return failed == 0 ? 0 : 1;
}
