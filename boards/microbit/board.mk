# microbit: BBC micro:bit v1, nRF51822 with a Cortex-M0 (ARMv6-M: no CLZ,
# no fault status registers) (QEMU -M microbit).
#
# Memory map (linker/microbit/memory.ld): QEMU include/hw/arm/nrf51.h and
# hw/arm/nrf51_soc.c: 256 KiB flash at 0x00000000, 16 KiB SRAM at
# 0x20000000.  The UART is the nRF51's own at 0x40002000 (NRF51_UART_BASE;
# nRF51 Series Reference Manual v3.0).
# 256-byte pages and a 2 KiB stack leave about 13 KiB of heap; the largest
# block the allocator has to support is then 32 KiB (KHEAP_MAX_BLOCK_LOG2).
BOARD_CPU        := cortex-m0
BOARD_ARCH       := m
BOARD_CPU_FLAGS  := -mcpu=cortex-m0 -mthumb
BOARD_UART       := nrf51
BOARD_UART_BASE  := 0x40002000
BOARD_RAM        := 16 KiB @ 0x20000000
BOARD_PAGE_SIZE  := 256
BOARD_STACK_SIZE := 2048
BOARD_QEMU       := -M microbit
BOARD_STRESS_OPS := 100000
BOARD_TIMEOUT    := 30
BOARD_CFLAGS     := -DKHEAP_MAX_BLOCK_LOG2=15
