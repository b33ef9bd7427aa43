/* nRF51 UART (microbit).  Registers from the nRF51 Series Reference Manual
 * v3.0, section 29, and QEMU hw/char/nrf51_uart.c, which drops TXD writes
 * unless the UART is enabled and STARTTX was triggered. */
#include "board.h"

#define UART_STARTTX       (*(volatile uint32_t *)(BOARD_UART_BASE + 0x008))
#define UART_EVENTS_TXDRDY (*(volatile uint32_t *)(BOARD_UART_BASE + 0x11c))
#define UART_ENABLE        (*(volatile uint32_t *)(BOARD_UART_BASE + 0x500))
#define UART_PSELTXD       (*(volatile uint32_t *)(BOARD_UART_BASE + 0x50c))
#define UART_TXD           (*(volatile uint32_t *)(BOARD_UART_BASE + 0x51c))
#define UART_BAUDRATE      (*(volatile uint32_t *)(BOARD_UART_BASE + 0x524))

#define ENABLE_UART     4u
#define BAUD_115200     0x01d7e000u
#define MICROBIT_TX_PIN 24u /* P0.24 goes to the interface chip's serial */

void uart_init(void)
{
    UART_PSELTXD = MICROBIT_TX_PIN;
    UART_BAUDRATE = BAUD_115200;
    UART_ENABLE = ENABLE_UART;
    UART_STARTTX = 1;
}

/* TXDRDY says the previous byte left; clear it before each new one. */
void uart_putc(char c)
{
    UART_EVENTS_TXDRDY = 0;
    UART_TXD = (uint8_t)c;
    while (UART_EVENTS_TXDRDY == 0)
        ;
}
