/*
 * make bench-host: the target bench's traces (bench/traces.h) on the host,
 * kheap (over the region shim on an mmap'd arena of the trace's size)
 * against the C library's malloc (glibc: no arena limit), counted by
 * valgrind --tool=callgrind.  Every measured call goes through one of the
 * noinline h_* functions below; bench/host_run.sh toggles collection on
 * them and divides each one's inclusive instruction count by its calls.
 *
 * usage: host-bench kheap|glibc TRACE
 */
#define _DEFAULT_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../alloc/kheap.h"
#include "../alloc/region.h"

static kheap *H;
static unsigned failed;
static unsigned long n_malloc, n_free, n_realloc, n_memalign;
static int use_kheap;

#define NOINLINE __attribute__((noinline))
NOINLINE static void *h_malloc(size_t n) { return use_kheap ? kheap_alloc(H, n) : malloc(n); }
NOINLINE static void h_free(void *p) { if (use_kheap) kheap_free(H, p); else free(p); }
NOINLINE static void *h_realloc(void *p, size_t n) { return use_kheap ? kheap_realloc(H, p, n) : realloc(p, n); }
NOINLINE static void *h_memalign(size_t a, size_t n) { return use_kheap ? kheap_aligned_alloc(H, a, n) : memalign(a, n); }

static void *do_malloc(size_t n) { n_malloc++; void *p = h_malloc(n); failed += p == NULL; return p; }
static void do_free(void *p) { n_free++; h_free(p); }
static void *do_realloc(void *p, size_t n) { n_realloc++; void *q = h_realloc(p, n); failed += q == NULL; return q; }
static void *do_memalign(size_t a, size_t n) { n_memalign++; void *p = h_memalign(a, n); failed += p == NULL; return p; }

#include "traces.h"

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "kheap") != 0 && strcmp(argv[1], "glibc") != 0)) {
        fprintf(stderr, "usage: %s kheap|glibc TRACE\n", argv[0]);
        return 2;
    }
    const trace *t = NULL;
    for (size_t i = 0; i < NTRACES; i++)
        if (strcmp(argv[2], traces[i].name) == 0)
            t = &traces[i];
    if (t == NULL) {
        fprintf(stderr, "unknown trace %s\n", argv[2]);
        return 2;
    }
    use_kheap = strcmp(argv[1], "kheap") == 0;
    if (use_kheap) {
        size_t arena = t->arena != 0 ? t->arena : 4096 * 1024;
        size_t len = arena + 2 * 4096;
        char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a == MAP_FAILED)
            return 2;
        kheap_region *r = kheap_region_init(a, a + len, 4096);
        kheap_config c = { .provider = kheap_region_provider(r) };
        H = kheap_create(&c);
        if (H == NULL)
            return 2;
    }
    rng = t->seed;
    if (t->fn != NULL)
        t->fn();
    else
        run_mix(&t->m);
    printf("HOST,%s,%s,malloc=%lu,free=%lu,realloc=%lu,memalign=%lu,failed=%u,peak_live=%zu\n",
           argv[1], t->name, n_malloc, n_free, n_realloc, n_memalign, failed, peak_live);
    return 0;
}
