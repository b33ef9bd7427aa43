/*
 * AArch64 entry (virt with a Cortex-A53), EL1, MMU and caches off.
 *
 * QEMU starts an ELF kernel at its entry point in EL1 (EL2 with
 * -machine virtualization=on: the code below drops to EL1 then; EL3, with
 * secure=on, is not handled).  The kernel runs at EL1 on SP_EL1 (EL1h).
 * VBAR_EL1 points at the table below: every synchronous exception and
 * SError goes to fault_report_a64 with the registers saved, IRQs go to
 * irq_dispatch_a when the image links one (kernel/gic.c: the interrupt
 * stress image) and are reported as faults otherwise.  Armv8-A ARM D1.10
 * (exception vectors), C5.2 (SPSR, CurrentEL).
 */
    .equ SPSR_EL1H_MASKED, 0x3c5     // EL1h, D, A, I and F masked
    .equ HCR_EL2_RW,       (1 << 31) // EL1 is AArch64
    .equ FRAME_SIZE,       272       // x0-x30, sp, elr, spsr: 34 words

    /* Fault kinds, as aarch64.c numbers them. */
    .equ KIND_SYNC,   0
    .equ KIND_IRQ,    1
    .equ KIND_FIQ,    2
    .equ KIND_SERROR, 3
    .equ KIND_LOWER,  4

    .section .vectors, "ax"
    .global reset_handler
    .type reset_handler, %function
reset_handler:
    msr   daifset, #0xf
    mrs   x0, CurrentEL
    lsr   x0, x0, #2
    cmp   x0, #2
    b.ne  1f
    /* EL2: EL1 in AArch64, its timer registers reachable, then eret. */
    mov   x0, #HCR_EL2_RW
    msr   hcr_el2, x0
    mov   x0, #3                    // CNTHCTL_EL2.EL1PCEN, EL1PCTEN
    msr   cnthctl_el2, x0
    msr   cntvoff_el2, xzr
    mov   x0, #SPSR_EL1H_MASKED
    msr   spsr_el2, x0
    adr   x0, 1f
    msr   elr_el2, x0
    eret
1:  msr   spsel, #1
    ldr   x0, =__stack_top
    mov   sp, x0
    ldr   x0, =vectors_a64
    msr   vbar_el1, x0
    isb
    bl    crt_start
2:  wfi
    b     2b
    .ltorg

/* Saves x0-x30, the interrupted SP, ELR_EL1 and SPSR_EL1 below SP. */
    .macro save_frame
    sub   sp, sp, #FRAME_SIZE
    stp   x0, x1, [sp, #0]
    stp   x2, x3, [sp, #16]
    stp   x4, x5, [sp, #32]
    stp   x6, x7, [sp, #48]
    stp   x8, x9, [sp, #64]
    stp   x10, x11, [sp, #80]
    stp   x12, x13, [sp, #96]
    stp   x14, x15, [sp, #112]
    stp   x16, x17, [sp, #128]
    stp   x18, x19, [sp, #144]
    stp   x20, x21, [sp, #160]
    stp   x22, x23, [sp, #176]
    stp   x24, x25, [sp, #192]
    stp   x26, x27, [sp, #208]
    stp   x28, x29, [sp, #224]
    add   x0, sp, #FRAME_SIZE
    stp   x30, x0, [sp, #240]
    mrs   x0, elr_el1
    mrs   x1, spsr_el1
    stp   x0, x1, [sp, #256]
    .endm

    .macro fault_entry kind
    save_frame
    mov   x0, #\kind
    mov   x1, sp
    bl    fault_report_a64
    .endm

    .text
    .balign 2048                    // VBAR_EL1 bits [10:0] are RES0
    .global vectors_a64
vectors_a64:
    /* Current EL with SP_EL0: the kernel never runs on SP_EL0. */
    .balign 0x80
    fault_entry KIND_SYNC
    .balign 0x80
    fault_entry KIND_IRQ
    .balign 0x80
    fault_entry KIND_FIQ
    .balign 0x80
    fault_entry KIND_SERROR
    /* Current EL with SP_EL1: the kernel. */
    .balign 0x80
    fault_entry KIND_SYNC
    .balign 0x80
    b     el1_irq
    .balign 0x80
    fault_entry KIND_FIQ
    .balign 0x80
    fault_entry KIND_SERROR
    /* Lower ELs (AArch64, then AArch32): there are none. */
    .rept 8
    .balign 0x80
    fault_entry KIND_LOWER
    .endr

/*
 * An IRQ at EL1: the handler runs on the interrupted stack with IRQs
 * masked (never nesting), so ELR_EL1 and SPSR_EL1 stay as saved; the
 * callee-saved registers are the C code's to keep.  Without a dispatcher
 * (the regular test kernel enables no interrupt) it is a fault.
 */
    .weak irq_dispatch_a
el1_irq:
    save_frame
    ldr   x9, =irq_dispatch_a
    cbz   x9, 1f
    blr   x9
    ldp   x0, x1, [sp, #256]
    msr   elr_el1, x0
    msr   spsr_el1, x1
    ldp   x0, x1, [sp, #0]
    ldp   x2, x3, [sp, #16]
    ldp   x4, x5, [sp, #32]
    ldp   x6, x7, [sp, #48]
    ldp   x8, x9, [sp, #64]
    ldp   x10, x11, [sp, #80]
    ldp   x12, x13, [sp, #96]
    ldp   x14, x15, [sp, #112]
    ldp   x16, x17, [sp, #128]
    ldp   x18, x19, [sp, #144]
    ldr   x30, [sp, #240]
    add   sp, sp, #FRAME_SIZE
    eret
1:  mov   x0, #KIND_IRQ
    mov   x1, sp
    bl    fault_report_a64
    .ltorg
