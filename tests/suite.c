/* Every test group, in the order they run on the host and on target. */
#include "suite.h"

const ktest_group *const ktest_suite[] = {KTEST_GROUPS(KTEST_ENTRY)};
const size_t ktest_suite_count = sizeof ktest_suite / sizeof ktest_suite[0];
