/* ktest: see ktest.h.  Freestanding: runs unchanged inside the test kernel. */
#include "ktest.h"

static const ktest_env *current_env;
static bool case_failed;
static unsigned case_number;
static const char *case_name;

void ktest_puts(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    current_env->write(s, n);
}

static void put_digits(uintmax_t v, unsigned base)
{
    char buf[3 * sizeof(uintmax_t) + 2];
    size_t i = sizeof buf;
    do {
        unsigned d = (unsigned)(v % base);
        buf[--i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v != 0);
    current_env->write(buf + i, sizeof buf - i);
}

void ktest_putu(uintmax_t v) { put_digits(v, 10); }

void ktest_putx(uintmax_t v)
{
    ktest_puts("0x");
    put_digits(v, 16);
}

/* The first failure of a case becomes its "not ok" line; later ones are
 * "#" diagnostics so a case still prints exactly one result line. */
static void fail_prefix(const char *file, int line, const char *expr)
{
    if (!case_failed) {
        ktest_puts("not ok ");
        ktest_putu(case_number);
        ktest_puts(" - ");
        ktest_puts(case_name);
        ktest_puts(": ");
    } else {
        ktest_puts("#   also: ");
    }
    case_failed = true;
    ktest_puts(file);
    ktest_puts(":");
    ktest_putu((uintmax_t)line);
    ktest_puts(": ");
    ktest_puts(expr);
    ktest_puts(": expected ");
}

void ktest_fail_u(const char *file, int line, const char *expr, uintmax_t expected, uintmax_t got)
{
    fail_prefix(file, line, expr);
    ktest_putu(expected);
    ktest_puts(", got ");
    ktest_putu(got);
    ktest_puts("\n");
}

void ktest_fail_x(const char *file, int line, const char *expr, uintmax_t expected, uintmax_t got)
{
    fail_prefix(file, line, expr);
    ktest_putx(expected);
    ktest_puts(", got ");
    ktest_putx(got);
    ktest_puts("\n");
}

void ktest_fail_msg(const char *file, int line, const char *expr, const char *expected, const char *got)
{
    fail_prefix(file, line, expr);
    ktest_puts(expected);
    ktest_puts(", got ");
    ktest_puts(got);
    ktest_puts("\n");
}

static void put_quoted(const char *s)
{
    if (s == NULL) {
        ktest_puts("(null)");
        return;
    }
    ktest_puts("\"");
    ktest_puts(s);
    ktest_puts("\"");
}

void ktest_fail_str(const char *file, int line, const char *expr, const char *expected, const char *got)
{
    fail_prefix(file, line, expr);
    put_quoted(expected);
    ktest_puts(", got ");
    put_quoted(got);
    ktest_puts("\n");
}

bool ktest_case_failed(void) { return case_failed; }

bool ktest_contains(const char *hay, const char *needle)
{
    for (; *hay != '\0'; hay++) {
        size_t i = 0;
        while (needle[i] != '\0' && hay[i] == needle[i])
            i++;
        if (needle[i] == '\0')
            return true;
    }
    return needle[0] == '\0';
}

bool ktest_streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    while (*a != '\0' && *a == *b) {
        a++;
        b++;
    }
    return *a == *b;
}

size_t ktest_run_filtered(const ktest_env *env, const ktest_group *const *groups,
                          size_t ngroups, const char *filter)
{
    size_t passed = 0, failed = 0;
    current_env = env;
    case_number = 0;
    for (size_t g = 0; g < ngroups; g++) {
        for (size_t c = 0; c < groups[g]->count; c++) {
            const ktest_case *tc = &groups[g]->cases[c];
            if (filter != NULL && !ktest_contains(tc->name, filter))
                continue;
            case_number++;
            case_name = tc->name;
            case_failed = false;
            tc->fn(env);
            if (case_failed) {
                failed++;
                continue;
            }
            passed++;
            ktest_puts("ok ");
            ktest_putu(case_number);
            ktest_puts(" - ");
            ktest_puts(tc->name);
            ktest_puts("\n");
        }
    }
    ktest_putu(passed);
    ktest_puts(" passed, ");
    ktest_putu(failed);
    ktest_puts(" failed\n");
    return failed;
}

size_t ktest_run(const ktest_env *env, const ktest_group *const *groups, size_t ngroups)
{
    return ktest_run_filtered(env, groups, ngroups, NULL);
}

uint32_t ktest_rand(uint32_t *state)
{
    /* xorshift32: deterministic on every target, never 0 from a non-0 seed. */
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static unsigned char pattern_byte(uint32_t seed, size_t i)
{
    uint32_t x = seed ^ (uint32_t)(i * 2654435761u);
    return (unsigned char)(x ^ (x >> 8) ^ (x >> 16) ^ (x >> 24));
}

void ktest_fill(void *p, size_t n, uint32_t seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern_byte(seed, i);
}

bool ktest_verify(const void *p, size_t n, uint32_t seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(seed, i))
            return false;
    return true;
}

bool ktest_all_bytes(const void *p, size_t n, unsigned char value)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != value)
            return false;
    return true;
}

static size_t env_pages_for(const ktest_env *env, size_t bytes)
{
    kheap_region_usage u;
    kheap_region_usage_get(env->region, &u);
    return (bytes + u.page_size - 1) / u.page_size;
}

kheap_region *ktest_subregion(const ktest_env *env, size_t bytes, size_t page_size)
{
    kheap_provider p = *env->region_provider;
    if (page_size > p.page_size)
        return NULL;
    size_t pages = env_pages_for(env, bytes);
    char *run = p.map(p.ctx, pages);
    if (run == NULL)
        return NULL;
    kheap_region *sub = kheap_region_init(run, run + pages * p.page_size, page_size);
    if (sub == NULL)
        p.unmap(p.ctx, run, pages);
    return sub;
}

void ktest_subregion_release(const ktest_env *env, kheap_region *sub, size_t bytes)
{
    kheap_provider p = *env->region_provider;
    p.unmap(p.ctx, sub, env_pages_for(env, bytes));
}
