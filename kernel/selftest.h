/*
 * Deliberately broken kernels for the runner's self-check: built with
 * -DKHEAP_KERNEL_SELFTEST=fault (an undefined instruction after the banner),
 * =hang (a loop that never ends) or =misuse (a double free that kheap's
 * panic hook reports), they prove tests/run_boards.sh reports a fault, a
 * hang and a detected misuse as failures.  Without the macro selftest_run
 * does nothing.
 */
#ifndef KERNEL_SELFTEST_H
#define KERNEL_SELFTEST_H

#include "../alloc/kheap.h"

#define KERNEL_SELFTEST_fault 1
#define KERNEL_SELFTEST_hang 2
#define KERNEL_SELFTEST_misuse 3
#define KERNEL_SELFTEST_ID_(x) KERNEL_SELFTEST_##x
#define KERNEL_SELFTEST_ID(x) KERNEL_SELFTEST_ID_(x)

/* kheap's panic hook on target: prints what was detected and where, then
 * ends the run with EXIT_MISUSE.  Never a silent continue. */
void kernel_kheap_panic(void *ctx, kheap_misuse what, const void *addr);

#ifdef KHEAP_KERNEL_SELFTEST
void selftest_run(void);
#else
static inline void selftest_run(void) {}
#endif

#endif
