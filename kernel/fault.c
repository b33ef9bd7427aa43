/* What every fault report shares, whatever the profile. */
#include "board.h"
#include "console.h"
#include "selftest.h"

#include <stdbool.h>

static volatile bool reporting;

void fault_begin(void)
{
    /* The report itself faulted (a broken stack or console): say nothing
     * more, just stop with the fault status. */
    if (reporting)
        board_exit(EXIT_FAULT);
    reporting = true;
}

_Noreturn void fault_exit(void)
{
    kprintf("kernel: stopped by a fault, exit %d\n", EXIT_FAULT);
    board_exit(EXIT_FAULT);
}

/* kheap's panic hook: the address and the likely bug, then the run ends
 * (EXIT_MISUSE), so the runner counts it as the failure it is. */
void kernel_kheap_panic(void *ctx, kheap_misuse what, const void *addr)
{
    (void)ctx;
    kprintf("\n*** KHEAP PANIC: %s at %p\n", kheap_misuse_text(what), addr);
    kputs("kernel: stopped by kheap's panic hook\n");
    board_exit(EXIT_MISUSE);
}
