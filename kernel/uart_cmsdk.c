/* Arm CMSDK APB UART (the mps2-* boards).  Registers from the CMSDK TRM
 * (DDI 0479) and QEMU hw/char/cmsdk-apb-uart.c. */
#include "board.h"

#define UART_DATA    (*(volatile uint32_t *)(BOARD_UART_BASE + 0x00))
#define UART_STATE   (*(volatile uint32_t *)(BOARD_UART_BASE + 0x04))
#define UART_CTRL    (*(volatile uint32_t *)(BOARD_UART_BASE + 0x08))
#define UART_BAUDDIV (*(volatile uint32_t *)(BOARD_UART_BASE + 0x10))

#define STATE_TX_FULL 0x1u
#define CTRL_TX_EN    0x1u
/* The smallest divider the UART accepts; QEMU drops bytes below it and the
 * baud rate itself means nothing there. */
#define BAUDDIV_MIN   16u

void uart_init(void)
{
    UART_BAUDDIV = BAUDDIV_MIN;
    UART_CTRL = CTRL_TX_EN;
}

void uart_putc(char c)
{
    while (UART_STATE & STATE_TX_FULL)
        ;
    UART_DATA = (uint8_t)c;
}
