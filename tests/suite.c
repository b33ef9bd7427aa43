/* Every test group, in the order they run on the host and on target. */
#include "ktest.h"

extern const ktest_group tests_region;
extern const ktest_group tests_api;
extern const ktest_group tests_core;
extern const ktest_group tests_stress;
extern const ktest_group tests_harden;

const ktest_group *const ktest_suite[] = {
    &tests_region,
    &tests_api,
    &tests_core,
    &tests_stress,
    &tests_harden,
};
const size_t ktest_suite_count = sizeof ktest_suite / sizeof ktest_suite[0];
