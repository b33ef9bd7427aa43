/*
 * ARMv7-A vector table for the interrupt stress image (virt, vexpress-a9).
 *
 * cortex_a_entry.S's table treats an IRQ as a fault.  This one, installed
 * in VBAR by gic.c, takes IRQs to irq_dispatch_a and branches
 * every other vector to the same slot of the kernel's table (which starts
 * at reset_handler), so faults still get the kernel's report with the
 * registers and LR untouched.  cortex_a_entry.S stays as it is.
 *
 * The IRQ entry runs the C handler on the interrupted SVC stack (the 256
 * bytes of IRQ stack are too few for kheap calls): it stores LR_irq and
 * SPSR_irq there with SRS, saves the caller-saved registers, aligns the
 * stack to 8 bytes (AAPCS) and returns with RFE.  IRQs stay masked
 * throughout: the handler never nests.
 */
    .syntax unified
    .arm

    .equ MODE_SVC, 0x13

    .section .text.irq_vectors_a, "ax"
    .balign 32                  @ VBAR bits [4:0] are RES0
    .global irq_vectors_a
    .type irq_vectors_a, %object
irq_vectors_a:
    b   reset_handler           @ 0x00 reset
    b   reset_handler + 0x04    @ 0x04 undefined instruction
    b   reset_handler + 0x08    @ 0x08 SVC
    b   reset_handler + 0x0c    @ 0x0c prefetch abort
    b   reset_handler + 0x10    @ 0x10 data abort
    b   reset_handler + 0x14    @ 0x14 not used
    b   irq_entry_a             @ 0x18 IRQ
    b   reset_handler + 0x1c    @ 0x1c FIQ
    .size irq_vectors_a, . - irq_vectors_a

    .type irq_entry_a, %function
irq_entry_a:
    sub   lr, lr, #4            @ the interrupted instruction
    srsdb sp!, #MODE_SVC
    cps   #MODE_SVC
    push  {r0-r3, r12, lr}
    and   r1, sp, #4            @ 0 or 4: realign to 8 for the call
    sub   sp, sp, r1
    push  {r1, r2}
    bl    irq_dispatch_a
    pop   {r1, r2}
    add   sp, sp, r1
    pop   {r0-r3, r12, lr}
    rfeia sp!
    .size irq_entry_a, . - irq_entry_a
