/*
 * Interrupts for the interrupt stress image (kernel/irq_stress.c): masking
 * the way kheap's lock hooks do it, and the periodic timer the board names
 * (BOARD_TIMER in boards/<b>/board.mk; mk/irqtest.mk picks the file).
 *
 *   M-profile: masked with PRIMASK; SysTick (kernel/timer_systick.c).
 *   ARMv7-A:   masked with CPSR.I; the generic timer (timer_gtimer.c) or
 *              the Cortex-A9 private timer (timer_a9ptimer.c) through the
 *              GIC (gic.c), with kernel/irq_vectors_a.S as vector table.
 *   AArch64:   masked with PSTATE.I (DAIF); the generic timer through the
 *              GIC, IRQs from the kernel's own vector table.
 *
 * The regular test kernel (kernel/main.c) links none of this and never
 * enables an interrupt.
 */
#ifndef KERNEL_IRQ_H
#define KERNEL_IRQ_H

#include <stdbool.h>
#include <stdint.h>

#if __ARM_ARCH_PROFILE == 'M'

/* PRIMASK: 1 masks every configurable-priority exception (SysTick too). */
static inline uintptr_t irq_save_disable(void)
{
    uintptr_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask) :: "memory");
    return primask;
}

/* Writes the saved PRIMASK back; the isb makes a pending interrupt that the
 * write unmasks be taken before the next instruction. */
static inline void irq_restore(uintptr_t saved)
{
    __asm__ volatile("msr primask, %0\n\tisb" :: "r"(saved) : "memory");
}

static inline bool irq_saved_enabled(uintptr_t saved)
{
    return (saved & 1u) == 0;
}

static inline void irq_enable(void)
{
    __asm__ volatile("cpsie i\n\tisb" ::: "memory");
}

#elif defined(__aarch64__)

#define IRQ_DAIF_I (1u << 7)

/* Only PSTATE.I is saved: the lock never touches the other masks. */
static inline uintptr_t irq_save_disable(void)
{
    uintptr_t daif;
    __asm__ volatile("mrs %0, daif\n\tmsr daifset, #2" : "=r"(daif) :: "memory");
    return daif & IRQ_DAIF_I;
}

static inline void irq_restore(uintptr_t saved)
{
    if ((saved & IRQ_DAIF_I) == 0)
        __asm__ volatile("msr daifclr, #2\n\tisb" ::: "memory");
}

static inline bool irq_saved_enabled(uintptr_t saved)
{
    return (saved & IRQ_DAIF_I) == 0;
}

static inline void irq_enable(void)
{
    __asm__ volatile("msr daifclr, #2\n\tisb" ::: "memory");
}

#else /* ARMv7-A, ARM or Thumb state */

#define IRQ_CPSR_I (1u << 7)

/* Only CPSR.I is saved: the lock never touches the mode or the other
 * masks. */
static inline uintptr_t irq_save_disable(void)
{
    uintptr_t cpsr;
    __asm__ volatile("mrs %0, cpsr\n\tcpsid i" : "=r"(cpsr) :: "memory");
    return cpsr & IRQ_CPSR_I;
}

static inline void irq_restore(uintptr_t saved)
{
    if ((saved & IRQ_CPSR_I) == 0)
        __asm__ volatile("cpsie i\n\tisb" ::: "memory");
}

static inline bool irq_saved_enabled(uintptr_t saved)
{
    return (saved & IRQ_CPSR_I) == 0;
}

static inline void irq_enable(void)
{
    __asm__ volatile("cpsie i\n\tisb" ::: "memory");
}

#endif

/* A timer behind a GIC (kernel/gic.c): the timer file names its interrupt
 * ID and clears or re-arms the interrupt in gic_timer_ack, which the GIC
 * dispatch calls before irq_tick and the end of interrupt. */
extern const uint32_t gic_timer_intid;
void gic_timer_ack(void);
void gic_timer_enable(void);
void gic_timer_disable(void);

/* The timer (the board's BOARD_TIMER).  irq_timer_start makes irq_tick run every
 * `period` timer counts (board-specific units: CPU cycles for SysTick,
 * CNTFRQ counts for the generic timer) once interrupts are enabled;
 * irq_timer_stop stops it and clears anything pending.  irq_timer_pending
 * says whether a tick is waiting to be taken (asserted, not yet handled). */
bool irq_timer_start(uint32_t period);
void irq_timer_stop(void);
bool irq_timer_pending(void);
/* The timer's counting rate in Hz, 0 when the board cannot say. */
uint32_t irq_timer_hz(void);
/* What the timer's interrupt runs, with interrupts masked (defined by the
 * image that uses the timer). */
void irq_tick(void);

#endif
