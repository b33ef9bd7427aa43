/*
 * Deliberately broken kernels for the runner's self-check: built with
 * -DKHEAP_KERNEL_SELFTEST=fault (an undefined instruction after the banner)
 * or =hang (a loop that never ends), they prove tests/run_boards.sh reports
 * a fault and a hang as failures.  Without the macro selftest_run does
 * nothing.
 */
#ifndef KERNEL_SELFTEST_H
#define KERNEL_SELFTEST_H

#define KERNEL_SELFTEST_fault 1
#define KERNEL_SELFTEST_hang 2
#define KERNEL_SELFTEST_ID_(x) KERNEL_SELFTEST_##x
#define KERNEL_SELFTEST_ID(x) KERNEL_SELFTEST_ID_(x)

#ifdef KHEAP_KERNEL_SELFTEST
void selftest_run(void);
#else
static inline void selftest_run(void) {}
#endif

#endif
