/*
 * SysTick as the interrupt stress image's timer (every M-profile board:
 * ARMv6-M, ARMv7-M and ARMv8-M all have it; on the Secure mps2-an505 this
 * is the Secure instance, which the Secure vector table serves).
 *
 * Registers: ARMv7-M ARM B3.3 (SYST_CSR/RVR/CVR), ICSR.PENDSTSET/PENDSTCLR
 * (B3.2.4).  Clocked from the processor clock (CLKSOURCE = 1): QEMU feeds
 * SysTick from the board's cpuclk, which every board here connects, while
 * the reference clock is missing on some of them.
 *
 * cortex_m.c's vector table holds a weak systick_handler; the strong one
 * here takes its place in the images that link this file.
 */
#include "board.h"
#include "irq.h"

#define SYST_CSR (*(volatile uint32_t *)0xe000e010u)
#define SYST_RVR (*(volatile uint32_t *)0xe000e014u)
#define SYST_CVR (*(volatile uint32_t *)0xe000e018u)
#define SCB_ICSR (*(volatile uint32_t *)0xe000ed04u)

#define CSR_ENABLE    (1u << 0)
#define CSR_TICKINT   (1u << 1)
#define CSR_CLKSOURCE (1u << 2)
#define ICSR_PENDSTCLR (1u << 25)
#define ICSR_PENDSTSET (1u << 26)

#define RVR_MAX 0x00ffffffu

bool irq_timer_start(uint32_t period)
{
    if (period < 2 || period - 1 > RVR_MAX)
        return false;
    SYST_CSR = 0;
    SYST_RVR = period - 1;
    SYST_CVR = 0; /* any write clears the count and COUNTFLAG */
    SYST_CSR = CSR_CLKSOURCE | CSR_TICKINT | CSR_ENABLE;
    return true;
}

void irq_timer_stop(void)
{
    SYST_CSR = 0;
    SCB_ICSR = ICSR_PENDSTCLR;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

bool irq_timer_pending(void)
{
    return (SCB_ICSR & ICSR_PENDSTSET) != 0;
}

uint32_t irq_timer_hz(void)
{
    return 0;
}

void systick_handler(void);

/* SysTick needs no acknowledgement: taking the exception clears its
 * pending state and the counter reloads by itself. */
void systick_handler(void)
{
    irq_tick();
}
