# lm3s6965evb: TI Stellaris LM3S6965 evaluation board, Cortex-M3
# (QEMU -M lm3s6965evb).
#
# Memory: QEMU hw/arm/stellaris.c, from the LM3S6965's DC0 0x00ff007f:
# 256 KiB flash at 0x00000000, 64 KiB SRAM at 0x20000000 (the LM3S6965
# data sheet's memory map).  UART0 is a PL011 (Luminary variant) at
# 0x4000c000 (stellaris.c uart_addr[]).
# 1 KiB pages: 64 KiB of SRAM would be only 15 pages of 4 KiB.
# SysTick counts the 12.5 MHz CPU clock (stellaris.c: 200 MHz / 16 for the
# reset RCC): 62 counts for a tick about every 5,000 instructions.
BOARD_CPU        := cortex-m3
BOARD_ARCH       := m
BOARD_CPU_FLAGS  := -mcpu=cortex-m3 -mthumb
BOARD_UART       := pl011
BOARD_UART_BASE  := 0x4000c000
BOARD_ROM_BASE   := 0x00000000
BOARD_ROM_SIZE   := 256K
BOARD_RAM_BASE   := 0x20000000
BOARD_RAM_SIZE   := 64K
BOARD_PAGE_SIZE  := 1024
BOARD_STACK_SIZE := 4096
BOARD_QEMU       := -M lm3s6965evb
BOARD_TIMER      := systick
BOARD_TIMER_PERIOD := 62
