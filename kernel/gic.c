/*
 * A GICv2 (or the Cortex-A9 MPCore's GICv1, which has the same registers
 * for this) for the interrupt stress image's timer on A-profile boards.
 * The board gives the distributor and CPU interface addresses
 * (BOARD_GICD_BASE, BOARD_GICC_BASE in its board.mk); the timer file
 * (timer_gtimer.c, timer_a9ptimer.c) gives its interrupt ID and what the
 * interrupt must do before its end of interrupt (gic_timer_ack).  Register
 * offsets from the GICv2 architecture specification, 4.1.2 and 4.1.3.
 *
 * ARMv7-A: kernel/irq_vectors_a.S holds the vector table this installs in
 * VBAR, which sends IRQs to irq_dispatch_a on the SVC stack and everything
 * else to the kernel's own handlers.  AArch64: the kernel's vector table
 * (kernel/aarch64_entry.S) sends IRQs to irq_dispatch_a itself.
 */
#include "board.h"
#include "irq.h"

#if !defined(BOARD_GICD_BASE) || !defined(BOARD_GICC_BASE)
#error "the board names a GIC timer: set BOARD_GICD_BASE and BOARD_GICC_BASE in its board.mk"
#endif

#define GICD_REG(off) (*(volatile uint32_t *)(uintptr_t)(BOARD_GICD_BASE + (off)))
#define GICC_REG(off) (*(volatile uint32_t *)(uintptr_t)(BOARD_GICC_BASE + (off)))

#define GICD_CTLR          GICD_REG(0x000)
#define GICD_ISENABLER(n)  GICD_REG(0x100 + 4 * (n))
#define GICD_ICENABLER(n)  GICD_REG(0x180 + 4 * (n))
#define GICD_ICPENDR(n)    GICD_REG(0x280 + 4 * (n))
#define GICD_IPRIORITYR(n) GICD_REG(0x400 + 4 * (n))
#define GICC_CTLR GICC_REG(0x000)
#define GICC_PMR  GICC_REG(0x004)
#define GICC_IAR  GICC_REG(0x00c)
#define GICC_EOIR GICC_REG(0x010)

#define INTID_SPURIOUS 1020u /* 1020-1023: nothing to acknowledge */
#define TIMER_PRIORITY 0x80u

#if defined(__aarch64__)
static void install_irq_vectors(void)
{
}
#else
extern const char irq_vectors_a[];

static void install_irq_vectors(void)
{
    __asm__ volatile("mcr p15, 0, %0, c12, c0, 0\n\tisb" :: "r"(irq_vectors_a) : "memory");
}
#endif

static void barrier(void)
{
    __asm__ volatile("dsb sy\n\tisb" ::: "memory");
}

void gic_timer_enable(void)
{
    uint32_t id = gic_timer_intid;
    uint32_t word = id / 4, shift = 8 * (id % 4);
    install_irq_vectors();
    GICD_CTLR = 0;
    GICD_IPRIORITYR(word) = (GICD_IPRIORITYR(word) & ~(0xffu << shift)) | (TIMER_PRIORITY << shift);
    GICD_ICPENDR(id / 32) = 1u << (id % 32);
    GICD_ISENABLER(id / 32) = 1u << (id % 32);
    GICD_CTLR = 1;
    GICC_PMR = 0xffu;
    GICC_CTLR = 1;
    barrier();
}

void gic_timer_disable(void)
{
    uint32_t id = gic_timer_intid;
    GICD_ICENABLER(id / 32) = 1u << (id % 32);
    GICD_ICPENDR(id / 32) = 1u << (id % 32);
    barrier();
}

void irq_dispatch_a(void);

/* Called by the IRQ entry with IRQs masked, on the kernel's stack. */
void irq_dispatch_a(void)
{
    uint32_t iar = GICC_IAR;
    uint32_t id = iar & 0x3ffu;
    if (id >= INTID_SPURIOUS)
        return;
    if (id == gic_timer_intid) {
        /* Re-arm or clear first: that drops the level-sensitive PPI
         * before the end of interrupt. */
        gic_timer_ack();
        irq_tick();
    } else {
        /* Nothing else is enabled; keep a stray one from coming back. */
        GICD_ICENABLER(id / 32) = 1u << (id % 32);
    }
    GICC_EOIR = iar;
}
