/*
 * The Arm generic timer's virtual timer as the interrupt stress image's
 * timer (BOARD_TIMER := gtimer): virt with a Cortex-A15 (ARMv7-A, CP15
 * accessors) or a Cortex-A53 (AArch64, system registers), MMU off, no EL2
 * or EL3.  CNTV_TVAL/CNTV_CTL: ARMv7-A ARM B4.1.32-34, Armv8-A ARM
 * D13.8.17-19; CNTVOFF is 0 without EL2.  The virtual timer raises PPI 11,
 * interrupt ID 27 (QEMU hw/arm/virt.c ARCH_TIMER_VIRT_IRQ), through the
 * board's GIC (kernel/gic.c).
 */
#include "board.h"
#include "irq.h"

#define CNT_ENABLE  (1u << 0)
#define CNT_IMASK   (1u << 1)
#define CNT_ISTATUS (1u << 2)

const uint32_t gic_timer_intid = 27u; /* virtual timer, PPI 11 */

static uint32_t timer_period;

#if defined(__aarch64__)
static uint32_t read_cntfrq(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(v));
    return (uint32_t)v;
}

static uint32_t read_cntv_ctl(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, cntv_ctl_el0" : "=r"(v));
    return (uint32_t)v;
}

static void write_cntv_ctl(uint32_t v)
{
    __asm__ volatile("msr cntv_ctl_el0, %0\n\tisb" :: "r"((uint64_t)v) : "memory");
}

static void write_cntv_tval(uint32_t v)
{
    __asm__ volatile("msr cntv_tval_el0, %0\n\tisb" :: "r"((uint64_t)v) : "memory");
}
#else
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
#endif

uint32_t irq_timer_hz(void)
{
    return read_cntfrq();
}

bool irq_timer_start(uint32_t period)
{
    if (period < 2 || period > 0x7fffffffu)
        return false;
    timer_period = period;
    gic_timer_enable();
    write_cntv_tval(period);
    write_cntv_ctl(CNT_ENABLE);
    return true;
}

void irq_timer_stop(void)
{
    write_cntv_ctl(0);
    gic_timer_disable();
}

/* Asserted and not yet handled: the timer condition holds while enabled
 * and unmasked, and the handler clears it by re-arming. */
bool irq_timer_pending(void)
{
    uint32_t ctl = read_cntv_ctl();
    return (ctl & (CNT_ENABLE | CNT_IMASK | CNT_ISTATUS)) == (CNT_ENABLE | CNT_ISTATUS);
}

void gic_timer_ack(void)
{
    write_cntv_tval(timer_period);
}
