/* The suite's groups in the order they run: one list for every build
 * (tests/suite.c, and tests/suite_newlib.c which adds newlib's group). */
#ifndef KTEST_SUITE_H
#define KTEST_SUITE_H

#include "../alloc/kheap.h"
#include "ktest.h"

/* tests_harden is misuse detection throughout: a profile without checks
 * (lean) has none of its cases. */
#if KHEAP_CHECKS
#define KTEST_GROUP_HARDEN(X) X(tests_harden)
#else
#define KTEST_GROUP_HARDEN(X)
#endif

#define KTEST_GROUPS(X) X(tests_region) X(tests_static) X(tests_api) X(tests_core) X(tests_check) X(tests_stress) \
                        X(tests_bound) KTEST_GROUP_HARDEN(X) X(tests_misuse) X(tests_large) \
                        X(tests_trace)

#define KTEST_DECLARE(group) extern const ktest_group group;
#define KTEST_ENTRY(group) &group,

KTEST_GROUPS(KTEST_DECLARE)

#endif
