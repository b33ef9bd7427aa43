/*
 * The ARM generic timer as the interrupt stress image's timer on the virt
 * board (Cortex-A15, ARMv7-A, ARM state, MMU off, no EL2 or EL3).
 *
 * The virtual timer (CNTV_TVAL/CNTV_CTL, ARMv7-A ARM B4.1.32-34; CNTVOFF
 * is 0 without EL2) raises PPI 11, interrupt ID 27 (QEMU hw/arm/virt.c
 * ARCH_TIMER_VIRT_IRQ, wired to the GIC's PPI inputs; the DT's timer node
 * lists it).  QEMU's virt has a GICv2 (no security extensions unless
 * secure=on): distributor at 0x08000000, CPU interface at 0x08010000
 * (base_memmap VIRT_GIC_DIST, VIRT_GIC_CPU).  Register offsets from the
 * GICv2 architecture specification, 4.1.2 and 4.1.3.
 *
 * kernel/irq_vectors_a.S holds the vector table this image installs: it
 * sends IRQs to irq_dispatch_a on the SVC stack and everything else to the
 * kernel's own handlers in cortex_a_entry.S.
 */
#include "board.h"
#include "irq.h"

#define GICD_BASE 0x08000000u
#define GICC_BASE 0x08010000u
#define GICD_REG(off) (*(volatile uint32_t *)(GICD_BASE + (off)))
#define GICC_REG(off) (*(volatile uint32_t *)(GICC_BASE + (off)))

#define GICD_CTLR          GICD_REG(0x000)
#define GICD_ISENABLER(n)  GICD_REG(0x100 + 4 * (n))
#define GICD_ICENABLER(n)  GICD_REG(0x180 + 4 * (n))
#define GICD_ICPENDR(n)    GICD_REG(0x280 + 4 * (n))
#define GICD_IPRIORITYR(n) GICD_REG(0x400 + 4 * (n))
#define GICC_CTLR GICC_REG(0x000)
#define GICC_PMR  GICC_REG(0x004)
#define GICC_IAR  GICC_REG(0x00c)
#define GICC_EOIR GICC_REG(0x010)

#define TIMER_INTID   27u   /* virtual timer, PPI 11 */
#define INTID_SPURIOUS 1020u /* 1020-1023: nothing to acknowledge */
#define TIMER_PRIORITY 0x80u

#define CNT_ENABLE  (1u << 0)
#define CNT_IMASK   (1u << 1)
#define CNT_ISTATUS (1u << 2)

extern const char irq_vectors_a[];

static uint32_t timer_period;

static uint32_t read_cntfrq(void)
{
    uint32_t v;
    __asm__ volatile("mrc p15, 0, %0, c14, c0, 0" : "=r"(v));
    return v;
}

static uint32_t read_cntv_ctl(void)
{
    uint32_t v;
    __asm__ volatile("mrc p15, 0, %0, c14, c3, 1" : "=r"(v));
    return v;
}

static void write_cntv_ctl(uint32_t v)
{
    __asm__ volatile("mcr p15, 0, %0, c14, c3, 1\n\tisb" :: "r"(v) : "memory");
}

static void write_cntv_tval(uint32_t v)
{
    __asm__ volatile("mcr p15, 0, %0, c14, c3, 0\n\tisb" :: "r"(v) : "memory");
}

static void set_vbar(const void *table)
{
    __asm__ volatile("mcr p15, 0, %0, c12, c0, 0\n\tisb" :: "r"(table) : "memory");
}

uint32_t irq_timer_hz(void)
{
    return read_cntfrq();
}

bool irq_timer_start(uint32_t period)
{
    if (period < 2 || period > 0x7fffffffu)
        return false;
    timer_period = period;
    set_vbar(irq_vectors_a);

    uint32_t word = TIMER_INTID / 4, shift = 8 * (TIMER_INTID % 4);
    GICD_CTLR = 0;
    GICD_IPRIORITYR(word) = (GICD_IPRIORITYR(word) & ~(0xffu << shift)) | (TIMER_PRIORITY << shift);
    GICD_ICPENDR(TIMER_INTID / 32) = 1u << (TIMER_INTID % 32);
    GICD_ISENABLER(TIMER_INTID / 32) = 1u << (TIMER_INTID % 32);
    GICD_CTLR = 1;
    GICC_PMR = 0xffu;
    GICC_CTLR = 1;

    write_cntv_tval(period);
    write_cntv_ctl(CNT_ENABLE);
    return true;
}

void irq_timer_stop(void)
{
    write_cntv_ctl(0);
    GICD_ICENABLER(TIMER_INTID / 32) = 1u << (TIMER_INTID % 32);
    GICD_ICPENDR(TIMER_INTID / 32) = 1u << (TIMER_INTID % 32);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

/* Asserted and not yet handled: the timer condition holds while enabled
 * and unmasked, and the handler clears it by re-arming. */
bool irq_timer_pending(void)
{
    uint32_t ctl = read_cntv_ctl();
    return (ctl & (CNT_ENABLE | CNT_IMASK | CNT_ISTATUS)) == (CNT_ENABLE | CNT_ISTATUS);
}

void irq_dispatch_a(void);

/* Called by irq_vectors_a.S in SVC mode with IRQs masked. */
void irq_dispatch_a(void)
{
    uint32_t iar = GICC_IAR;
    uint32_t id = iar & 0x3ffu;
    if (id >= INTID_SPURIOUS)
        return;
    if (id == TIMER_INTID) {
        /* Re-arm first: that drops the level-sensitive PPI before EOI. */
        write_cntv_tval(timer_period);
        irq_tick();
    } else {
        /* Nothing else is enabled; keep a stray one from coming back. */
        GICD_ICENABLER(id / 32) = 1u << (id % 32);
    }
    GICC_EOIR = iar;
}
