/* C start-up shared by both profiles: the architecture entry (cortex_m.c's
 * reset handler, cortex_a_entry.S) has set a stack and calls crt_start. */
#include "board.h"

extern char __data_start[], __data_end[], __data_load[];
extern char __bss_start[], __bss_end[];

/* Plain byte loops: .data and .bss are small, and nothing here may rely on
 * initialised memory yet. */
static void copy_data(void)
{
    const volatile char *src = __data_load;
    for (char *dst = __data_start; dst < __data_end; dst++, src++)
        *dst = *src;
}

static void zero_bss(void)
{
    for (volatile char *p = __bss_start; p < __bss_end; p++)
        *p = 0;
}

_Noreturn void crt_start(void)
{
    copy_data();
    zero_bss();
    kernel_main();
}
