/*
 * The Cortex-A9 MPCore private timer as the interrupt stress image's timer
 * (BOARD_TIMER := a9-ptimer; vexpress-a9).  It has no generic timer.
 *
 * Registers (Cortex-A9 MPCore TRM, 4.1 and 4.2): at PERIPHBASE + 0x600
 * (BOARD_PTIMER_BASE): Load, Counter, Control (enable, auto-reload, IRQ
 * enable, prescaler [15:8]), Interrupt Status (the event flag, cleared by
 * writing 1).  Its interrupt is PPI 13, ID 29, through the MPCore's GIC
 * (kernel/gic.c).  QEMU (hw/timer/arm_mptimer.c) counts it down every
 * 10 ns with prescaler 0: 100 MHz.  The interrupt is level-sensitive: it
 * holds while the event flag is set and the IRQ enable is on.
 */
#include "board.h"
#include "irq.h"

#ifndef BOARD_PTIMER_BASE
#error "BOARD_TIMER := a9-ptimer needs BOARD_PTIMER_BASE (PERIPHBASE + 0x600) in the board.mk"
#endif

#define PT_REG(off) (*(volatile uint32_t *)(uintptr_t)(BOARD_PTIMER_BASE + (off)))
#define PT_LOAD    PT_REG(0x00)
#define PT_COUNTER PT_REG(0x04)
#define PT_CONTROL PT_REG(0x08)
#define PT_STATUS  PT_REG(0x0c)

#define CTL_ENABLE      (1u << 0)
#define CTL_AUTO_RELOAD (1u << 1)
#define CTL_IRQ_ENABLE  (1u << 2)
#define STATUS_EVENT    (1u << 0)

const uint32_t gic_timer_intid = 29u; /* private timer, PPI 13 */

static uint32_t timer_period;

/* QEMU's model; real parts count PERIPHCLK, half the CPU clock or less. */
uint32_t irq_timer_hz(void)
{
    return 100000000u;
}

bool irq_timer_start(uint32_t period)
{
    if (period < 2)
        return false;
    timer_period = period;
    PT_CONTROL = 0;
    PT_STATUS = STATUS_EVENT;
    gic_timer_enable();
    /* Load writes the counter too; auto-reload restarts from Load. */
    PT_LOAD = period - 1;
    PT_CONTROL = CTL_ENABLE | CTL_AUTO_RELOAD | CTL_IRQ_ENABLE;
    return true;
}

void irq_timer_stop(void)
{
    PT_CONTROL = 0;
    PT_STATUS = STATUS_EVENT;
    gic_timer_disable();
}

bool irq_timer_pending(void)
{
    return (PT_CONTROL & CTL_IRQ_ENABLE) != 0 && (PT_STATUS & STATUS_EVENT) != 0;
}

/* Clears the event and restarts the count: the next tick comes a whole
 * period after this one is handled, as the generic timer's re-arm does, so
 * a handler that outlasts a period never returns to a tick already
 * waiting (which the lock test would take for one the lock held off). */
void gic_timer_ack(void)
{
    PT_COUNTER = timer_period - 1;
    PT_STATUS = STATUS_EVENT;
}
