/* The drop-in's contracts, one line per check: errno values, alignment,
 * realloc's glibc behaviour, zeroing, malloc_usable_size.  Linked against
 * libkheap.a; the sizes go through volatile so the compiler cannot fold the
 * calls away (it is also built with -fno-builtin). */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../host/kheap_dropin.h"

static int failed, passed;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (cond) {                                                         \
            passed++;                                                       \
        } else {                                                            \
            failed++;                                                       \
            printf("api: FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                   \
    } while (0)

static volatile size_t huge = SIZE_MAX - 4096;
static volatile size_t half = SIZE_MAX / 2 + 2;

static int aligned_to(const void *p, size_t a)
{
    return p != NULL && (uintptr_t)p % a == 0;
}

int main(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    /* malloc */
    void *a = malloc(0), *b = malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    CHECK(aligned_to(a, _Alignof(max_align_t)));
    free(a);
    free(b);
    free(NULL);
    errno = 0;
    CHECK(malloc(huge) == NULL && errno == ENOMEM);
    void *m = malloc(100);
    CHECK(m != NULL && malloc_usable_size(m) >= 100);
    CHECK(malloc_usable_size(NULL) == 0);

    /* calloc */
    errno = 0;
    CHECK(calloc(half, 2) == NULL && errno == ENOMEM);
    unsigned char *c = calloc(1000, 5);
    int zero = c != NULL;
    for (size_t i = 0; zero && i < 5000; i++)
        zero = c[i] == 0;
    CHECK(zero);
    free(c);
    /* A recycled block must come back zeroed too. */
    c = malloc(4000);
    memset(c, 0xa5, 4000);
    free(c);
    c = calloc(4000, 1);
    zero = c != NULL;
    for (size_t i = 0; zero && i < 4000; i++)
        zero = c[i] == 0;
    CHECK(zero);
    free(c);

    /* realloc */
    memset(m, 'k', 100);
    char *r = realloc(m, 100000);
    CHECK(r != NULL && r[0] == 'k' && r[99] == 'k');
    errno = 0;
    char *r2 = realloc(r, huge);
    CHECK(r2 == NULL && errno == ENOMEM);
    if (r2 == NULL) {
        CHECK(r[0] == 'k' && r[99] == 'k');  /* the old block stays */
        CHECK(realloc(r, 0) == NULL);        /* glibc: frees */
    }
    r = realloc(NULL, 10);
    CHECK(r != NULL);
    free(r);
    r = realloc(NULL, 0);
    CHECK(r != NULL);
    free(r);

    /* reallocarray */
    r = reallocarray(NULL, 10, 10);
    CHECK(r != NULL && malloc_usable_size(r) >= 100);
    errno = 0;
    r2 = reallocarray(r, half, 2);
    CHECK(r2 == NULL && errno == ENOMEM);
    if (r2 == NULL) {
        r[99] = 'x';
        r2 = reallocarray(r, 1000, 10);
        CHECK(r2 != NULL && r2[99] == 'x');
    }
    free(r2);

    /* aligned_alloc */
    errno = 0;
    CHECK(aligned_alloc(3, 64) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(aligned_alloc(0, 64) == NULL && errno == EINVAL);
    static const size_t aligns[] = {1, 2, 8, 16, 64, 256, 4096, 65536, 1 << 20};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        void *p = aligned_alloc(aligns[i], 3 * aligns[i]);
        CHECK(aligned_to(p, aligns[i]) && malloc_usable_size(p) >= 3 * aligns[i]);
        free(p);
    }
    errno = 0;
    CHECK(aligned_alloc(64, huge) == NULL && errno == ENOMEM);

    /* memalign: glibc rounds an alignment that is not a power of two up */
    void *p = memalign(48, 100);
    CHECK(aligned_to(p, 64));
    free(p);
    p = memalign(4096, 10);
    CHECK(aligned_to(p, 4096));
    free(p);
    errno = 0;
    CHECK(memalign(half, 10) == NULL && errno == EINVAL);

    /* posix_memalign */
    void *sentinel = &failed, *q = sentinel;
    errno = 0;
    CHECK(posix_memalign(&q, 4, 64) == EINVAL && q == sentinel);
    CHECK(posix_memalign(&q, 24, 64) == EINVAL && q == sentinel);
    CHECK(posix_memalign(&q, 0, 64) == EINVAL && q == sentinel);
    CHECK(posix_memalign(&q, 64, huge) == ENOMEM && q == sentinel);
    CHECK(errno == 0);
    CHECK(posix_memalign(&q, 128, 1000) == 0 && aligned_to(q, 128));
    free(q);
    CHECK(posix_memalign(&q, sizeof(void *), 0) == 0 && q != NULL);
    free(q);

    /* valloc, pvalloc */
    p = valloc(10);
    CHECK(aligned_to(p, page));
    free(p);
    p = pvalloc(page + 1);
    CHECK(aligned_to(p, page) && malloc_usable_size(p) >= 2 * page);
    free(p);
    errno = 0;
    CHECK(pvalloc(huge) == NULL && errno == ENOMEM);

    /* strdup and friends inside libc allocate from us and free back to us */
    char *d = strdup("kheap");
    CHECK(d != NULL && malloc_usable_size(d) >= 6);
    free(d);

    kheap *h = kheap_dropin_instance();
    const char *why = NULL;
    CHECK(kheap_check(h, &why));
    if (why != NULL)
        printf("api: kheap_check: %s\n", why);
    kheap_stats st;
    kheap_stats_get(h, &st);
    CHECK(st.allocs > 20);
    printf("api: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
