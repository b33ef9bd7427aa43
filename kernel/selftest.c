/* See selftest.h.  Only built into the self-check images. */
#include "selftest.h"

#include "board.h"
#include "console.h"

#if KERNEL_SELFTEST_ID(KHEAP_KERNEL_SELFTEST) == KERNEL_SELFTEST_fault
/* An undefined instruction faults the same way on every core (UsageFault,
 * HardFault on ARMv6-M, the undefined exception on A-profile); a bad address
 * would depend on what each board maps there. */
void selftest_run(void)
{
    kputs("selftest: executing an undefined instruction\n");
    __asm__ volatile("udf #0");
}
#elif KERNEL_SELFTEST_ID(KHEAP_KERNEL_SELFTEST) == KERNEL_SELFTEST_hang
void selftest_run(void)
{
    kputs("selftest: hanging on purpose\n");
    for (volatile unsigned spin = 0;; spin++)
        ;
}
#else
#error "KHEAP_KERNEL_SELFTEST must be fault or hang"
#endif
