/* The newlib kernels' suite (LIBC=newlib or nano, mk/newlib.mk): every group
 * of tests/suite.h in its order, then newlib's own allocating code on kheap. */
#include "suite.h"

extern const ktest_group tests_newlib;

const ktest_group *const ktest_suite[] = {KTEST_GROUPS(KTEST_ENTRY) &tests_newlib};
const size_t ktest_suite_count = sizeof ktest_suite / sizeof ktest_suite[0];
