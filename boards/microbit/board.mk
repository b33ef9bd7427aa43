# microbit: BBC micro:bit v1, nRF51822 with a Cortex-M0 (ARMv6-M: no CLZ,
# no fault status registers) (QEMU -M microbit).
#
# Memory: QEMU include/hw/arm/nrf51.h and hw/arm/nrf51_soc.c:
# NRF51_FLASH_BASE 0x00000000 with NRF51822_FLASH_SIZE 256 KiB,
# NRF51_SRAM_BASE 0x20000000 with NRF51822_SRAM_SIZE 16 KiB (the
# nRF51822-QFAA on the micro:bit v1).  The UART is the nRF51's own at
# 0x40002000 (NRF51_UART_BASE; nRF51 Series Reference Manual v3.0).
# 256-byte pages and a 2 KiB stack leave about 13 KiB of heap.
# SysTick counts the 16 MHz CPU clock (nrf51_soc.c): 80 counts.
BOARD_CPU        := cortex-m0
BOARD_ARCH       := m
BOARD_CPU_FLAGS  := -mcpu=cortex-m0 -mthumb
BOARD_UART       := nrf51
BOARD_UART_BASE  := 0x40002000
BOARD_ROM_BASE   := 0x00000000
BOARD_ROM_SIZE   := 256K
BOARD_RAM_BASE   := 0x20000000
BOARD_RAM_SIZE   := 16K
BOARD_PAGE_SIZE  := 256
BOARD_STACK_SIZE := 2048
BOARD_QEMU       := -M microbit
BOARD_TIMER      := systick
BOARD_TIMER_PERIOD := 80
