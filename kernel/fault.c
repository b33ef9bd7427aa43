/* What every fault report shares, whatever the profile. */
#include "board.h"
#include "console.h"

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
