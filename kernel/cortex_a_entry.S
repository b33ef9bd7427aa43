/*
 * A-profile entry (ARMv7-A, the virt board's Cortex-A15), ARM state.
 *
 * QEMU starts an ELF kernel at its entry point in SVC mode with the MMU and
 * caches off.  Each exception mode that can report a fault gets its own
 * small stack; VBAR points at the table below (SCTLR.V cleared) because
 * address 0 is flash on virt.
 */
    .syntax unified
    .arm

    .equ MODE_SVC, 0x13
    .equ MODE_ABT, 0x17
    .equ MODE_UND, 0x1b
    .equ MODE_IRQ, 0x12
    .equ MODE_FIQ, 0x11
    .equ SCTLR_V,  (1 << 13)
    .equ EXC_STACK, 256        @ per mode; mk/target.mk reserves 4 (__exc_stack_size)

    /* Fault kinds, as cortex_a.c numbers them. */
    .equ KIND_UNDEF, 0
    .equ KIND_SVC,   1
    .equ KIND_PABT,  2
    .equ KIND_DABT,  3
    .equ KIND_IRQ,   4
    .equ KIND_FIQ,   5

    .section .vectors, "ax"
    .balign 32
    .global reset_handler
    .type reset_handler, %function
reset_handler:
vectors:
    b   a_reset
    b   a_undef
    b   a_svc
    b   a_pabt
    b   a_dabt
    b   a_reset                 @ 0x14: not used on ARMv7-A
    b   a_irq
    b   a_fiq

    .text
a_reset:
    cpsid aif
    ldr r0, =__exc_stack_top
    cps #MODE_UND
    mov sp, r0
    sub r0, r0, #EXC_STACK
    cps #MODE_ABT
    mov sp, r0
    sub r0, r0, #EXC_STACK
    cps #MODE_IRQ
    mov sp, r0
    sub r0, r0, #EXC_STACK
    cps #MODE_FIQ
    mov sp, r0
    cps #MODE_SVC
    ldr sp, =__stack_top

    ldr r0, =vectors
    mcr p15, 0, r0, c12, c0, 0  @ VBAR
    mrc p15, 0, r0, c1, c0, 0   @ SCTLR
    bic r0, r0, #SCTLR_V
    mcr p15, 0, r0, c1, c0, 0
    isb
    b   crt_start

/*
 * Each stub saves r0-r12 and the exception LR, then adds the interrupted
 * mode's SP and LR: the kernel only ever runs in SVC mode, so those are
 * SP_svc/LR_svc.  They are read by switching to SVC mode and back, not with
 * the banked-register MRS: that needs EL2, which virt leaves out unless
 * virtualization=on.  Frame for fault_report_a:
 *   [0..12] r0-r12, [13] sp_svc, [14] lr_svc, [15] exception lr
 */
    .macro fault_stub kind
    stmfd sp!, {lr}
    sub   sp, sp, #8
    stmfd sp!, {r0-r12}
    .if \kind == KIND_SVC
    /* Already in SVC mode (banked MRS of the own mode is UNPREDICTABLE):
     * SP_svc is ours before the frame, LR_svc was overwritten. */
    add   r4, sp, #64
    mov   r5, #0
    .else
    mrs   r6, cpsr
    cps   #MODE_SVC
    mov   r4, sp
    mov   r5, lr
    msr   cpsr_c, r6
    .endif
    str   r4, [sp, #52]
    str   r5, [sp, #56]
    mov   r0, #\kind
    mov   r1, sp
    mrs   r2, spsr
    bl    fault_report_a
    .endm

a_undef: fault_stub KIND_UNDEF
a_svc:   fault_stub KIND_SVC
a_pabt:  fault_stub KIND_PABT
a_dabt:  fault_stub KIND_DABT
a_irq:   fault_stub KIND_IRQ
a_fiq:   fault_stub KIND_FIQ
    .ltorg
