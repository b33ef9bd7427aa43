/*
 * ktest: the test framework shared by the host and the test kernel.
 *
 * No libc in here or in the test bodies: output goes through the
 * environment's write function, numbers are formatted by ktest itself.
 * Each case prints "ok N - name" or "not ok N - name: file:line: expected X,
 * got Y" (later failures of the same case follow as "#" lines), every case
 * runs whatever failed before it, and the run ends with "N passed, M failed".
 */
#ifndef KTEST_H
#define KTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../alloc/page.h"
#include "../alloc/region.h"

typedef struct ktest_env {
    /* The region every test takes its pages from (on target the linker's
     * heap region).  A test that needs a region of its own maps a run from
     * it and lays a sub-region over that; all of it goes back at the end. */
    kheap_region *region;
    /* The one client of env->region (kheap_region_provider(region), made
     * once by the runner) through which tests map and give back runs of
     * their own: the region refuses an unmap through any other client. */
    const kheap_provider *region_provider;
    /* Stress operation counts; the host uses 1,000,000, targets less. */
    unsigned long stress_ops;
    /* Writes len bytes of text. */
    void (*write)(const char *text, size_t len);
    /* A provider over real mmap on the host; NULL on target. */
    const kheap_provider *os_provider;
    /* Host only (NULL on target): a provider whose pages fault on any
     * access once they are unmapped (tests/host_provider.h, guard_provider),
     * so a use-after-unmap kills the suite instead of passing unseen. */
    const kheap_provider *guard_provider;
    /* Host only (NULL on target): true iff reading the byte at addr would
     * fault, asked without faulting. */
    bool (*read_faults)(const void *addr);
    /* Short name for the banner ("host", a board name). */
    const char *name;
} ktest_env;

typedef struct ktest_case {
    const char *name;
    void (*fn)(const ktest_env *env);
} ktest_case;

typedef struct ktest_group {
    const ktest_case *cases;
    size_t count;
} ktest_group;

/* Runs every case of every group; returns the number of failed cases. */
size_t ktest_run(const ktest_env *env, const ktest_group *const *groups, size_t ngroups);
/* Same, but only cases whose name contains `filter` (NULL: all). */
size_t ktest_run_filtered(const ktest_env *env, const ktest_group *const *groups,
                          size_t ngroups, const char *filter);

/* The suite: every group, listed in tests/suite.c.  Each test file defines
 * one group:  const ktest_group tests_x = { cases, sizeof cases / sizeof cases[0] }; */
extern const ktest_group *const ktest_suite[];
extern const size_t ktest_suite_count;

/* Output helpers for test bodies and runners. */
void ktest_puts(const char *s);
void ktest_putu(uintmax_t v);
void ktest_putx(uintmax_t v);

/* Recording a failure; the macros below call these. */
void ktest_fail_u(const char *file, int line, const char *expr, uintmax_t expected, uintmax_t got);
void ktest_fail_x(const char *file, int line, const char *expr, uintmax_t expected, uintmax_t got);
void ktest_fail_msg(const char *file, int line, const char *expr, const char *expected, const char *got);
/* As ktest_fail_msg, the strings quoted ("(null)" unquoted for NULL). */
void ktest_fail_str(const char *file, int line, const char *expr, const char *expected, const char *got);
bool ktest_case_failed(void);

/* Tiny libc-free helpers that test bodies need. */
void ktest_fill(void *p, size_t n, uint32_t seed);
bool ktest_verify(const void *p, size_t n, uint32_t seed);
bool ktest_all_bytes(const void *p, size_t n, unsigned char value);
uint32_t ktest_rand(uint32_t *state);
/* True iff needle occurs in hay (an empty needle always does). */
bool ktest_contains(const char *hay, const char *needle);
/* True iff a and b are the same string, or both NULL. */
bool ktest_streq(const char *a, const char *b);

/* A region of its own for a test: maps ceil(bytes / env page) pages from
 * env->region and lays a region of `page_size` pages over them (the region
 * header sits at the run's start, so the returned pointer is the run).
 * page_size may not exceed env->region's (a larger one would move the
 * region's start off the run's).  NULL when it does or there is no run. */
kheap_region *ktest_subregion(const ktest_env *env, size_t bytes, size_t page_size);
/* Gives the sub-region's run back to env->region. */
void ktest_subregion_release(const ktest_env *env, kheap_region *sub, size_t bytes);

/* Expectations: record a failure and carry on. */
/* Marks a case whose entry in its group is under a profile's #if
 * (KHEAP_CHECKS, KHEAP_STATS, KHEAP_LOCKS): a build without that option
 * leaves it unregistered, not skipped-and-passed. */
#define KT_PROFILED __attribute__((unused))

#define KT_EQ(expected, got) do { \
        uintmax_t kt_e_ = (uintmax_t)(expected), kt_g_ = (uintmax_t)(got); \
        if (kt_e_ != kt_g_) ktest_fail_u(__FILE__, __LINE__, #got, kt_e_, kt_g_); \
    } while (0)
#define KT_PTR_EQ(expected, got) do { \
        uintmax_t kt_e_ = (uintptr_t)(expected), kt_g_ = (uintptr_t)(got); \
        if (kt_e_ != kt_g_) ktest_fail_x(__FILE__, __LINE__, #got, kt_e_, kt_g_); \
    } while (0)
#define KT_TRUE(cond) do { \
        if (!(cond)) ktest_fail_msg(__FILE__, __LINE__, #cond, "true", "false"); \
    } while (0)
#define KT_FALSE(cond) do { \
        if (cond) ktest_fail_msg(__FILE__, __LINE__, #cond, "false", "true"); \
    } while (0)
/* Exact string equality (two NULLs are equal). */
#define KT_STR_EQ(expected, got) do { \
        const char *kt_es_ = (expected), *kt_gs_ = (got); \
        if (!ktest_streq(kt_es_, kt_gs_)) ktest_fail_str(__FILE__, __LINE__, #got, kt_es_, kt_gs_); \
    } while (0)
#define KT_NULL(p) KT_PTR_EQ(0, (p))
#define KT_NONNULL(p) do { \
        if ((p) == 0) ktest_fail_msg(__FILE__, __LINE__, #p, "non-NULL", "NULL"); \
    } while (0)
#define KT_ALIGNED(p, a) KT_EQ(0, (uintptr_t)(p) % (uintptr_t)(a))
/* Assertions: as above, then leave the test function (only in void ones). */
#define KT_REQUIRE(cond) do { \
        if (!(cond)) { ktest_fail_msg(__FILE__, __LINE__, #cond, "true", "false"); return; } \
    } while (0)

#endif
