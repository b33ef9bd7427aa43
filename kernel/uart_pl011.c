/* Arm PL011 (lm3s6965evb, virt).  Registers from the PL011 TRM (DDI 0183).
 * Real Stellaris parts also need the UART and GPIO clocks gated on; QEMU
 * does not model that, and neither does this driver. */
#include "board.h"

#define UART_DR   (*(volatile uint32_t *)(BOARD_UART_BASE + 0x00))
#define UART_FR   (*(volatile uint32_t *)(BOARD_UART_BASE + 0x18))
#define UART_LCRH (*(volatile uint32_t *)(BOARD_UART_BASE + 0x2c))
#define UART_CR   (*(volatile uint32_t *)(BOARD_UART_BASE + 0x30))

#define FR_TXFF     (1u << 5)
#define LCRH_FEN    (1u << 4)
#define LCRH_WLEN_8 (3u << 5)
#define CR_UARTEN   (1u << 0)
#define CR_TXE      (1u << 8)

void uart_init(void)
{
    UART_CR = 0;
    UART_LCRH = LCRH_WLEN_8 | LCRH_FEN;
    UART_CR = CR_UARTEN | CR_TXE;
}

void uart_putc(char c)
{
    while (UART_FR & FR_TXFF)
        ;
    UART_DR = (uint8_t)c;
}
