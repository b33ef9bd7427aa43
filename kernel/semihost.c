/*
 * The run's exit status through semihosting SYS_EXIT_EXTENDED, which QEMU
 * (-semihosting-config enable=on,target=native) turns into its own exit
 * status.  SYS_EXIT on 32-bit ARM can only say "success" or "failure";
 * the extended call carries the code.
 */
#include "board.h"

#include <stdint.h>

#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* The trap differs by architecture, profile and instruction set (Arm
 * semihosting specification, "The semihosting interface"): HLT #0xF000 on
 * AArch64, where the operation goes in W0 and the parameter block in X1 and
 * the block's fields are 64 bits wide. */
#if defined(__aarch64__)
static void semihost_call(uintptr_t op, const void *arg)
{
    register uintptr_t x0 __asm__("x0") = op;
    register const void *x1 __asm__("x1") = arg;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
}
#else
#if __ARM_ARCH_PROFILE == 'M'
#define SEMIHOST_TRAP "bkpt 0xab"
#elif defined(__thumb__)
#define SEMIHOST_TRAP "svc 0xab"
#else
#define SEMIHOST_TRAP "svc 0x123456"
#endif

static void semihost_call(uintptr_t op, const void *arg)
{
    register uintptr_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile(SEMIHOST_TRAP : "+r"(r0) : "r"(r1) : "memory");
}
#endif

_Noreturn void board_exit(int status)
{
    const uintptr_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)status };
    semihost_call(SYS_EXIT_EXTENDED, block);
    /* Only without a debugger or semihosting host: park the core. */
    for (;;)
        __asm__ volatile("wfi");
}
