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
#elif KERNEL_SELFTEST_ID(KHEAP_KERNEL_SELFTEST) == KERNEL_SELFTEST_misuse
#include "../alloc/kheap.h"
#include "../alloc/region.h"

extern char __heap_start[], __heap_end[];

/* A double free on an instance whose panic hook is the kernel's: the run
 * must end with the hook's report, not with the suite. */
void selftest_run(void)
{
    kheap_region *region = kheap_region_init(__heap_start, __heap_end, BOARD_PAGE_SIZE);
    kheap_config config = {
        .provider = kheap_region_provider(region),
        .panic = kernel_kheap_panic,
    };
    kheap *h = kheap_create(&config);
    void *p = kheap_alloc(h, 24);
    kprintf("selftest: freeing %p twice\n", p);
    kheap_free(h, p);
    kheap_free(h, p);
    kputs("selftest: FAIL: the double free was not reported\n");
}
#else
#error "KHEAP_KERNEL_SELFTEST must be fault, hang or misuse"
#endif
