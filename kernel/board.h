/*
 * The test kernel's view of a board.  boards/<name>/board.mk chooses the
 * UART driver and the architecture files and passes these macros with -D;
 * nothing else in kernel/ knows which board it runs on.
 */
#ifndef KERNEL_BOARD_H
#define KERNEL_BOARD_H

#include <stdint.h>

#if !defined(BOARD_NAME) || !defined(BOARD_CPU) || !defined(BOARD_UART_BASE) || \
    !defined(BOARD_PAGE_SIZE) || !defined(BOARD_STRESS_OPS)
#error "build through mk/target.mk: it passes the BOARD_* macros from boards/<name>/board.mk"
#endif

/* One driver per UART kind (kernel/uart_<kind>.c), at BOARD_UART_BASE.
 * Polled: the kernel never enables an interrupt. */
void uart_init(void);
void uart_putc(char c);

/* Per architecture (kernel/cortex_m.c, kernel/cortex_a.c): turns on the
 * fault reporting that the reset state leaves off. */
void arch_init(void);

/* Ends the run with `status` as QEMU's exit status (semihosting); where
 * semihosting is absent or returns, stops in a wfi loop. */
_Noreturn void board_exit(int status);

/* Exit statuses the runner can tell apart. */
enum {
    EXIT_PASS = 0,
    EXIT_TESTS_FAILED = 1,
    EXIT_SETUP_FAILED = 2,
    EXIT_FAULT = 3,
    EXIT_MISUSE = 4,  /* kheap's panic hook: misuse or corruption detected */
};

/* The C side of start-up, shared by both profiles: .data copied, .bss
 * zeroed, then kernel_main. */
_Noreturn void crt_start(void);
_Noreturn void kernel_main(void);

/* Linker symbols (linker/kernel.ld). */
extern char __stack_bottom[], __stack_top[];
extern char __heap_start[], __heap_end[];

/* A fault report calls fault_begin first (a second fault while reporting
 * ends the run at once) and fault_exit last (EXIT_FAULT). */
void fault_begin(void);
_Noreturn void fault_exit(void);

#endif
