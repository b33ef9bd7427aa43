/*
 * M-profile start-up and fault reporting (ARMv6-M, ARMv7-M, ARMv8-M).
 *
 * The core loads SP and PC from the vector table at reset, so the table is
 * the entry point: linker/kernel.ld puts .vectors first, where VTOR points
 * out of reset (0x0, or 0x10000000 on the Secure mps2-an505).  Every handler
 * is weak and defaults to the fault report, so an unexpected exception shows
 * up with its number instead of hanging.
 */
#include "board.h"
#include "console.h"

#include <stdbool.h>

typedef void (*handler_fn)(void);

/* Exception numbers 1-15 as ARMv7-M/ARMv8-M lay them out (ARMv6-M leaves
 * the fault and monitor slots reserved), then the external interrupts.
 * 32 covers every interrupt QEMU wires on mps2-an385/an386/an500, microbit
 * and lm3s6965evb; none is enabled. */
#define IRQ_SLOTS 32

struct vector_table {
    const void *initial_sp;
    handler_fn reset;
    handler_fn nmi;
    handler_fn hard_fault;
    handler_fn mem_manage;
    handler_fn bus_fault;
    handler_fn usage_fault;
    handler_fn secure_fault;
    handler_fn reserved_8_10[3];
    handler_fn svcall;
    handler_fn debug_monitor;
    handler_fn reserved_13;
    handler_fn pendsv;
    handler_fn systick;
    handler_fn irq[IRQ_SLOTS];
};

void reset_handler(void);
void default_handler(void);
void nmi_handler(void) __attribute__((weak, alias("default_handler")));
void hard_fault_handler(void) __attribute__((weak, alias("default_handler")));
void mem_manage_handler(void) __attribute__((weak, alias("default_handler")));
void bus_fault_handler(void) __attribute__((weak, alias("default_handler")));
void usage_fault_handler(void) __attribute__((weak, alias("default_handler")));
void secure_fault_handler(void) __attribute__((weak, alias("default_handler")));
void svcall_handler(void) __attribute__((weak, alias("default_handler")));
void debug_monitor_handler(void) __attribute__((weak, alias("default_handler")));
void pendsv_handler(void) __attribute__((weak, alias("default_handler")));
void systick_handler(void) __attribute__((weak, alias("default_handler")));
void irq_handler(void) __attribute__((weak, alias("default_handler")));

__attribute__((section(".vectors"), used))
static const struct vector_table vectors = {
    .initial_sp = __stack_top,
    .reset = reset_handler,
    .nmi = nmi_handler,
    .hard_fault = hard_fault_handler,
    .mem_manage = mem_manage_handler,
    .bus_fault = bus_fault_handler,
    .usage_fault = usage_fault_handler,
    .secure_fault = secure_fault_handler,
    .svcall = svcall_handler,
    .debug_monitor = debug_monitor_handler,
    .pendsv = pendsv_handler,
    .systick = systick_handler,
    .irq = { [0 ... IRQ_SLOTS - 1] = irq_handler },
};

void reset_handler(void)
{
    crt_start();
}

/* ARMv6-M and ARMv8-M Baseline have neither the configurable fault
 * exceptions nor their status registers: everything is a HardFault. */
#if defined(__ARM_ARCH_6M__) || defined(__ARM_ARCH_8M_BASE__)
#define HAS_FAULT_STATUS 0
#else
#define HAS_FAULT_STATUS 1
#endif
/* The Security Extension's SecureFault and its SFSR/SFAR (ARMv8-M). */
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8M_BASE__)
#define HAS_SECURE_FAULT 1
#else
#define HAS_SECURE_FAULT 0
#endif

#define SCB_SHCSR (*(volatile uint32_t *)0xe000ed24u)
#define SCB_CFSR  (*(volatile uint32_t *)0xe000ed28u)
#define SCB_HFSR  (*(volatile uint32_t *)0xe000ed2cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xe000ed34u)
#define SCB_BFAR  (*(volatile uint32_t *)0xe000ed38u)
#define SAU_SFSR  (*(volatile uint32_t *)0xe000ede4u)
#define SAU_SFAR  (*(volatile uint32_t *)0xe000ede8u)

#define SHCSR_MEMFAULTENA    (1u << 16)
#define SHCSR_BUSFAULTENA    (1u << 17)
#define SHCSR_USGFAULTENA    (1u << 18)
#define SHCSR_SECUREFAULTENA (1u << 19)

/* Without this the three configurable faults all escalate to HardFault and
 * the report could only say "forced". */
void arch_init(void)
{
    uint32_t enable = 0;
    if (HAS_FAULT_STATUS)
        enable |= SHCSR_MEMFAULTENA | SHCSR_BUSFAULTENA | SHCSR_USGFAULTENA;
    if (HAS_FAULT_STATUS && HAS_SECURE_FAULT)
        enable |= SHCSR_SECUREFAULTENA;
    if (enable != 0)
        SCB_SHCSR |= enable;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

/* The hardware-stacked frame and what fault_entry saves beside it. */
struct stacked {
    uint32_t r0, r1, r2, r3, r12, lr, pc, xpsr;
};
struct saved {
    uint32_t r8, r9, r10, r11, r4, r5, r6, r7;
};

static const char *const exception_names[] = {
    [2] = "NMI", [3] = "HardFault", [4] = "MemManage", [5] = "BusFault",
    [6] = "UsageFault", [7] = "SecureFault", [11] = "SVCall",
    [12] = "DebugMonitor", [14] = "PendSV", [15] = "SysTick",
};

static const char *exception_name(uint32_t n)
{
    if (n < sizeof exception_names / sizeof exception_names[0] && exception_names[n] != NULL)
        return exception_names[n];
    return n >= 16 ? "IRQ" : "reserved";
}

typedef struct bit_name {
    uint8_t bit;
    const char *name;
} bit_name;

/* CFSR = UFSR:BFSR:MMFSR (ARMv7-M ARM B3.2.15, ARMv8-M adds STKOF). */
static const bit_name cfsr_bits[] = {
    { 0, "IACCVIOL" }, { 1, "DACCVIOL" }, { 3, "MUNSTKERR" }, { 4, "MSTKERR" },
    { 5, "MLSPERR" }, { 7, "MMARVALID" }, { 8, "IBUSERR" }, { 9, "PRECISERR" },
    { 10, "IMPRECISERR" }, { 11, "UNSTKERR" }, { 12, "STKERR" }, { 13, "LSPERR" },
    { 15, "BFARVALID" }, { 16, "UNDEFINSTR" }, { 17, "INVSTATE" }, { 18, "INVPC" },
    { 19, "NOCP" }, { 20, "STKOF" }, { 24, "UNALIGNED" }, { 25, "DIVBYZERO" },
};
static const bit_name hfsr_bits[] = {
    { 1, "VECTTBL" }, { 30, "FORCED" }, { 31, "DEBUGEVT" },
};
static const bit_name sfsr_bits[] = {
    { 0, "INVEP" }, { 1, "INVIS" }, { 2, "INVER" }, { 3, "AUVIOL" },
    { 4, "INVTRAN" }, { 5, "LSPERR" }, { 6, "SFARVALID" }, { 7, "LSERR" },
};

static void print_bits(const char *reg, uint32_t value, const bit_name *bits, size_t n)
{
    kprintf("  %s 0x%08x", reg, (unsigned)value);
    for (size_t i = 0; i < n; i++)
        if (value & (1u << bits[i].bit))
            kprintf(" %s", bits[i].name);
    kputs("\n");
}

static void print_fault_status(void)
{
    if (!HAS_FAULT_STATUS) {
        kputs("  (ARMv6-M/v8-M Baseline: no fault status registers)\n");
        return;
    }
    uint32_t cfsr = SCB_CFSR;
    print_bits("CFSR ", cfsr, cfsr_bits, sizeof cfsr_bits / sizeof cfsr_bits[0]);
    print_bits("HFSR ", SCB_HFSR, hfsr_bits, sizeof hfsr_bits / sizeof hfsr_bits[0]);
    kprintf("  MMFAR 0x%08x%s\n", (unsigned)SCB_MMFAR, (cfsr & (1u << 7)) ? "" : " (not valid)");
    kprintf("  BFAR  0x%08x%s\n", (unsigned)SCB_BFAR, (cfsr & (1u << 15)) ? "" : " (not valid)");
    if (HAS_SECURE_FAULT) {
        uint32_t sfsr = SAU_SFSR;
        print_bits("SFSR ", sfsr, sfsr_bits, sizeof sfsr_bits / sizeof sfsr_bits[0]);
        kprintf("  SFAR  0x%08x%s\n", (unsigned)SAU_SFAR, (sfsr & (1u << 6)) ? "" : " (not valid)");
    }
}

static bool frame_readable(const struct stacked *f)
{
    const char *p = (const char *)f;
    return ((uintptr_t)p & 3u) == 0 && p >= __stack_bottom && p + sizeof *f <= __stack_top;
}

static void print_frame(const struct stacked *f, const struct saved *s)
{
    /* The stacked SP is above the frame, plus the 4 bytes of padding the
     * core inserts when xPSR bit 9 says it realigned the stack. */
    uint32_t sp = (uint32_t)(uintptr_t)(f + 1) + ((f->xpsr & (1u << 9)) ? 4u : 0u);
    kprintf("  pc   0x%08x  lr   0x%08x  sp   0x%08x  xpsr 0x%08x\n",
            (unsigned)f->pc, (unsigned)f->lr, (unsigned)sp, (unsigned)f->xpsr);
    kprintf("  r0   0x%08x  r1   0x%08x  r2   0x%08x  r3   0x%08x\n",
            (unsigned)f->r0, (unsigned)f->r1, (unsigned)f->r2, (unsigned)f->r3);
    kprintf("  r4   0x%08x  r5   0x%08x  r6   0x%08x  r7   0x%08x\n",
            (unsigned)s->r4, (unsigned)s->r5, (unsigned)s->r6, (unsigned)s->r7);
    kprintf("  r8   0x%08x  r9   0x%08x  r10  0x%08x  r11  0x%08x\n",
            (unsigned)s->r8, (unsigned)s->r9, (unsigned)s->r10, (unsigned)s->r11);
    kprintf("  r12  0x%08x\n", (unsigned)f->r12);
}

_Noreturn void fault_report_m(uint32_t exc_return, const struct stacked *frame,
                              const struct saved *saved);

_Noreturn void fault_report_m(uint32_t exc_return, const struct stacked *frame,
                              const struct saved *saved)
{
    uint32_t ipsr;
    fault_begin();
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    ipsr &= 0x1ffu;
    kprintf("\n*** FAULT: %s (exception %u) ***\n", exception_name(ipsr), (unsigned)ipsr);
    if (frame_readable(frame))
        print_frame(frame, saved);
    else
        kprintf("  stacked frame at %p is outside the stack: not read\n", (const void *)frame);
    kprintf("  exc_return 0x%08x\n", (unsigned)exc_return);
    print_fault_status();
    fault_exit();
}

/* Finds the stacked frame (MSP or PSP, EXC_RETURN bit 2), saves r4-r11
 * beside it and hands both to fault_report_m.  Thumb-1 only, so the same
 * code runs on the Cortex-M0. */
__attribute__((naked)) void default_handler(void)
{
    __asm__ volatile(
        "mov   r0, lr\n\t"
        "movs  r1, #4\n\t"
        "tst   r0, r1\n\t"
        "beq   1f\n\t"
        "mrs   r1, psp\n\t"
        "b     2f\n"
        "1:\n\t"
        "mrs   r1, msp\n"
        "2:\n\t"
        "push  {r4-r7}\n\t"
        "mov   r4, r8\n\t"
        "mov   r5, r9\n\t"
        "mov   r6, r10\n\t"
        "mov   r7, r11\n\t"
        "push  {r4-r7}\n\t"
        "mov   r2, sp\n\t"
        "bl    fault_report_m\n");
}
