/* The newlib kernels' suite (LIBC=newlib or nano, mk/newlib.mk): every group
 * of tests/suite.c in its order, then newlib's own allocating code on kheap.
 * mk/newlib.mk stops the build when this list and tests/suite.c's differ. */
#include "ktest.h"

extern const ktest_group tests_region;
extern const ktest_group tests_api;
extern const ktest_group tests_core;
extern const ktest_group tests_stress;
extern const ktest_group tests_harden;
extern const ktest_group tests_newlib;

const ktest_group *const ktest_suite[] = {
    &tests_region,
    &tests_api,
    &tests_core,
    &tests_stress,
    &tests_harden,
    &tests_newlib,
};
const size_t ktest_suite_count = sizeof ktest_suite / sizeof ktest_suite[0];
