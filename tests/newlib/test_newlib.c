/*
 * newlib's own allocating code on kheap (the newlib kernels only:
 * LIBC=newlib or nano, mk/newlib.mk).
 *
 * Each case runs a piece of newlib that allocates (stdio's stdout buffer,
 * dtoa behind printf's %f, asprintf's growing buffer, strdup) or that works
 * on what malloc returned (qsort), and shows through kheap_stats and the
 * glue's call counters that the memory came from the glue's kheap instance:
 * the block counts grow, kheap_usable_size on the pointers newlib returns is
 * nonzero (kheap vouches for them as live blocks), and freeing them puts
 * the counts back.  The link itself holds no other allocator (mk/newlib.mk
 * checks the map), and the last case shows the sbrk break never moved.
 *
 * The glue's instance takes its pages from env->region (kernel/syscalls.c),
 * the same region the other groups carve their sub-regions from.
 */
#include <errno.h>
#include <malloc.h>
#include <reent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ktest.h"
#include "../../alloc/libc/kheap_newlib.h"
#include "../../kernel/irq.h"

/* newlib declares these only for some configurations. */
int asprintf(char **out, const char *fmt, ...);
int vasprintf(char **out, const char *fmt, va_list ap);
char *strdup(const char *s);
void *_sbrk(ptrdiff_t incr);
void *aligned_alloc(size_t align, size_t size);
int posix_memalign(void **out, size_t align, size_t size);
void __malloc_unlock(struct _reent *r);

/* Sizes no allocator can meet, hidden from GCC's compile-time checks. */
static volatile size_t huge = SIZE_MAX - 64;
static volatile size_t half = SIZE_MAX / 2;
static volatile size_t zero = 0;

static kheap_stats stats_now(void)
{
    kheap_stats st;
    kheap_stats_get(kheap_newlib_heap(), &st);
    return st;
}

static kheap_newlib_calls calls_now(void)
{
    kheap_newlib_calls c;
    kheap_newlib_calls_get(&c);
    return c;
}

/* A pointer newlib handed back is a live block of the glue's instance. */
#define KT_FROM_KHEAP(p, atleast) do { \
        KT_NONNULL(p); \
        KT_TRUE(kheap_usable_size(kheap_newlib_heap(), (p)) >= (size_t)(atleast)); \
    } while (0)

static void check_instance(void)
{
    const char *why = NULL;
    bool ok = kheap_check(kheap_newlib_heap(), &why);
    if (!ok)
        ktest_fail_msg(__FILE__, __LINE__, "kheap_check(newlib instance)", "ok", why);
}

static void test_glue_is_kheap(const ktest_env *env)
{
    KT_REQUIRE(kheap_newlib_heap() != NULL);
    KT_PTR_EQ(env->region, kheap_newlib_region());
    kheap_stats before = stats_now();

    char *a = malloc(100);
    KT_FROM_KHEAP(a, 100);
    KT_EQ(kheap_usable_size(kheap_newlib_heap(), a), malloc_usable_size(a));
    KT_ALIGNED(a, 8);
    unsigned char *z = calloc(10, 30);
    KT_FROM_KHEAP(z, 300);
    KT_TRUE(z != NULL && ktest_all_bytes(z, 300, 0));
    ktest_fill(a, 100, 1);
    char *b = realloc(a, 5000);
    KT_FROM_KHEAP(b, 5000);
    KT_TRUE(b != NULL && ktest_verify(b, 100, 1));
    void *m = memalign(64, 200);
    KT_FROM_KHEAP(m, 200);
    KT_ALIGNED(m, 64);
    void *al = aligned_alloc(256, 512);
    KT_FROM_KHEAP(al, 512);
    KT_ALIGNED(al, 256);
    void *pm = NULL;
    KT_EQ(0, posix_memalign(&pm, 128, 40));
    KT_FROM_KHEAP(pm, 40);
    KT_ALIGNED(pm, 128);
    void *r = _malloc_r(_REENT, 24);
    KT_FROM_KHEAP(r, 24);
    r = _realloc_r(_REENT, r, 48);
    KT_FROM_KHEAP(r, 48);
    KT_EQ(kheap_usable_size(kheap_newlib_heap(), r), _malloc_usable_size_r(_REENT, r));

    kheap_stats mid = stats_now();
    KT_TRUE(mid.allocs >= before.allocs + 7);
    KT_EQ(before.blocks_in_use + 6, mid.blocks_in_use);
    struct mallinfo mi = mallinfo();
    KT_EQ(mid.in_use_bytes, mi.uordblks);
    KT_EQ(mid.free_bytes, mi.fordblks);

    free(b);
    free(z);
    free(m);
    free(al);
    free(pm);
    _free_r(_REENT, r);
    free(NULL);
    kheap_stats after = stats_now();
    KT_EQ(before.blocks_in_use, after.blocks_in_use);
    KT_EQ(before.in_use_bytes, after.in_use_bytes);
    KT_EQ(mid.frees + 6, after.frees);
    check_instance();
}

static void test_errno(const ktest_env *env)
{
    (void)env;
    kheap_stats before = stats_now();
    errno = 0;
    KT_NULL(malloc(huge));
    KT_EQ(ENOMEM, errno);
    errno = 0;
    KT_NULL(calloc(half, 4));
    KT_EQ(ENOMEM, errno);
    struct _reent *re = _REENT;
    re->_errno = 0;
    KT_NULL(_malloc_r(re, half));
    KT_EQ(ENOMEM, re->_errno);

    /* volatile: GCC takes realloc's argument as gone even when it fails. */
    char *volatile p = malloc(32);
    KT_REQUIRE(p != NULL);
    ktest_fill(p, 32, 7);
    errno = 0;
    KT_NULL(realloc(p, huge));
    KT_EQ(ENOMEM, errno);
    KT_TRUE(ktest_verify(p, 32, 7)); /* the old block is untouched */
    errno = 0;
    KT_NULL(realloc(p, zero));        /* frees, not a failure */
    KT_EQ(0, errno);

    void *q = (void *)1;
    KT_EQ(EINVAL, posix_memalign(&q, 3, 8));
    KT_EQ(EINVAL, posix_memalign(&q, 2, 8)); /* not a multiple of sizeof(void *) */
    KT_PTR_EQ(1, q);
    errno = 0;
    KT_NULL(aligned_alloc(48, 96));
    KT_EQ(EINVAL, errno);
    kheap_stats after = stats_now();
    KT_EQ(before.blocks_in_use, after.blocks_in_use);
    KT_TRUE(after.failed >= before.failed + 4);
}

/* The first output to stdout makes newlib allocate its buffer (__smakebuf_r
 * through _malloc_r); kheap then vouches for stdout's buffer pointer. */
static void test_stdout_buffer(const ktest_env *env)
{
    (void)env;
    kheap_stats before = stats_now();
    kheap_newlib_calls cb = calls_now();
    bool fresh = stdout->_bf._base == NULL;
    printf("# newlib: printf to stdout through kheap (%s)\n", fresh ? "first use" : "again");
    fflush(stdout);
    kheap_stats after = stats_now();
    kheap_newlib_calls ca = calls_now();
    KT_NONNULL(stdout->_bf._base);
    KT_FROM_KHEAP(stdout->_bf._base, stdout->_bf._size);
    if (fresh) {
        KT_TRUE(after.allocs >= before.allocs + 1);
        KT_TRUE(ca.malloc + ca.calloc >= cb.malloc + cb.calloc + 1);
        KT_TRUE(after.blocks_in_use >= before.blocks_in_use + 1);
    }
    check_instance();
}

/* printf's %f runs dtoa, which takes its Bigints from _calloc_r/_malloc_r
 * (and keeps a free list of them in the reent). */
static void test_printf_float(const ktest_env *env)
{
    (void)env;
    char buf[80];
    kheap_newlib_calls cb = calls_now();
    kheap_stats before = stats_now();
    int n = snprintf(buf, sizeof buf, "%f", 3.14159);
    KT_EQ(8, n);
    KT_TRUE(strcmp(buf, "3.141590") == 0);
    const char *want = "6.022e+23|10000000000000000000000";
    n = snprintf(buf, sizeof buf, "%.3e|%.0f", 6.02214076e23, 1e22);
    KT_EQ(strlen(want), n);
    if (strcmp(buf, want) != 0)
        ktest_fail_msg(__FILE__, __LINE__, "snprintf(\"%.3e|%.0f\")", want, buf);
    kheap_newlib_calls ca = calls_now();
    kheap_stats after = stats_now();
    KT_TRUE(ca.malloc + ca.calloc > cb.malloc + cb.calloc);
    KT_TRUE(after.allocs > before.allocs);
    printf("# newlib: %%f through kheap: pi=%f, e=%.10f; dtoa took %u blocks\n", 3.14159265,
           2.718281828459045, (unsigned)(after.allocs - before.allocs));
    check_instance();
}

static char *format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* asprintf's string stream starts small and grows with _realloc_r. */
static void test_asprintf(const ktest_env *env)
{
    (void)env;
    kheap_stats before = stats_now();
    kheap_newlib_calls cb = calls_now();
    char *s = NULL;
    int n = asprintf(&s, "%s-%d-%0700d", "kheap", 42, 7);
    KT_EQ(709, n);
    KT_FROM_KHEAP(s, 710);
    KT_TRUE(s != NULL && strncmp(s, "kheap-42-000", 12) == 0 && s[708] == '7' && s[709] == 0);
    char *v = format("%s/%u/%x", "vasprintf", 123u, 0xbeefu);
    KT_FROM_KHEAP(v, 20);
    KT_TRUE(v != NULL && strcmp(v, "vasprintf/123/beef") == 0);
    kheap_newlib_calls ca = calls_now();
    KT_TRUE(ca.realloc > cb.realloc); /* the growth went through realloc */
    KT_TRUE(ca.malloc + ca.realloc >= cb.malloc + cb.realloc + 3);
    free(s);
    free(v);
    kheap_stats after = stats_now();
    KT_EQ(before.blocks_in_use, after.blocks_in_use);
    KT_EQ(before.in_use_bytes, after.in_use_bytes);
    KT_TRUE(after.allocs >= before.allocs + 2);
    check_instance();
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void test_strdup_qsort(const ktest_env *env)
{
    (void)env;
    kheap_stats before = stats_now();
    const char *text = "a string newlib copies with _malloc_r";
    char *d = strdup(text);
    KT_FROM_KHEAP(d, strlen(text) + 1);
    KT_TRUE(d != NULL && strcmp(d, text) == 0);
    KT_EQ(before.allocs + 1, stats_now().allocs);

    enum { N = 1000 };
    uint32_t *v = malloc(N * sizeof *v);
    KT_FROM_KHEAP(v, N * sizeof *v);
    if (v != NULL) {
        uint32_t seed = 12345, sum = 0, sum2 = 0;
        for (size_t i = 0; i < N; i++) {
            v[i] = ktest_rand(&seed) % 5000;
            sum += v[i];
        }
        qsort(v, N, sizeof *v, cmp_u32);
        bool sorted = true;
        for (size_t i = 0; i < N; i++) {
            sum2 += v[i];
            if (i > 0 && v[i - 1] > v[i])
                sorted = false;
        }
        KT_TRUE(sorted);
        KT_EQ(sum, sum2);
    }
    free(v);
    free(d);
    kheap_stats after = stats_now();
    KT_EQ(before.blocks_in_use, after.blocks_in_use);
    KT_EQ(before.in_use_bytes, after.in_use_bytes);
    check_instance();
}

/* __malloc_lock nests on the instance's hooks: interrupts stay masked until
 * the outermost unlock, which restores what was there before. */
static void test_malloc_lock(const ktest_env *env)
{
    (void)env;
    uintptr_t s = irq_save_disable();
    irq_restore(s);
    bool enabled_before = irq_saved_enabled(s);
    __malloc_lock(_REENT);
    __malloc_lock(_REENT);
    void *p = malloc(16); /* kheap's own lock nests inside */
    KT_NONNULL(p);
    free(p);
    s = irq_save_disable();
    irq_restore(s);
    KT_FALSE(irq_saved_enabled(s));
    __malloc_unlock(_REENT);
    s = irq_save_disable();
    irq_restore(s);
    KT_FALSE(irq_saved_enabled(s));
    __malloc_unlock(_REENT);
    s = irq_save_disable();
    irq_restore(s);
    KT_EQ(enabled_before, irq_saved_enabled(s));
}

/* _sbrk moves the break of the glue's region; nothing else in the run ever
 * did (newlib's own malloc, the only other sbrk user, is not linked). */
static void test_sbrk(const ktest_env *env)
{
    kheap_region_usage u;
    kheap_region_usage_get(env->region, &u);
    KT_EQ(0, u.pages_brk);
    char *b0 = _sbrk(0);
    KT_TRUE(b0 != (char *)-1);
    char *old = _sbrk(100);
    KT_PTR_EQ(b0, old);
    KT_PTR_EQ(b0 + 100, _sbrk(0));
    kheap_region_usage_get(env->region, &u);
    KT_EQ(1, u.pages_brk);
    KT_PTR_EQ(b0 + 100, _sbrk(-100));
    KT_PTR_EQ(b0, _sbrk(0));
    errno = 0;
    KT_PTR_EQ(-1, _sbrk(PTRDIFF_MAX / 2));
    KT_EQ(ENOMEM, errno);
    KT_PTR_EQ(b0, _sbrk(0));
    kheap_region_usage_get(env->region, &u);
    KT_EQ(0, u.pages_brk);
}

static const ktest_case cases[] = {
    { "newlib: malloc family and _r family are the kheap instance", test_glue_is_kheap },
    { "newlib: errno and failure values", test_errno },
    { "newlib: stdout buffer comes from kheap", test_stdout_buffer },
    { "newlib: printf %f (dtoa) allocates from kheap", test_printf_float },
    { "newlib: asprintf/vasprintf grow through realloc", test_asprintf },
    { "newlib: strdup and qsort on an allocated array", test_strdup_qsort },
    { "newlib: __malloc_lock nests on the lock hooks", test_malloc_lock },
    { "newlib: _sbrk on the region; the break never moved", test_sbrk },
};
const ktest_group tests_newlib = { cases, sizeof cases / sizeof cases[0] };
