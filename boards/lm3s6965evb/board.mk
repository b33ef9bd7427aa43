# lm3s6965evb: TI Stellaris LM3S6965 evaluation board, Cortex-M3
# (QEMU -M lm3s6965evb).
#
# Memory map (linker/lm3s6965evb/memory.ld): QEMU hw/arm/stellaris.c, from
# the LM3S6965's DC0 0x00ff007f: 256 KiB flash at 0x00000000, 64 KiB SRAM at
# 0x20000000.  UART0 is a PL011 (Luminary variant) at 0x4000c000
# (stellaris.c uart_addr[]; LM3S6965 data sheet, memory map).
# 1 KiB pages: 64 KiB of SRAM would be only 15 pages of 4 KiB.
# The heap lies inside 64 KiB of RAM, so no block reaches 2^16 bytes
# (KHEAP_MAX_BLOCK_LOG2): the index needs no lists beyond.
BOARD_CPU        := cortex-m3
BOARD_ARCH       := m
BOARD_CPU_FLAGS  := -mcpu=cortex-m3 -mthumb
BOARD_UART       := pl011
BOARD_UART_BASE  := 0x4000c000
BOARD_RAM        := 64 KiB @ 0x20000000
BOARD_PAGE_SIZE  := 1024
BOARD_STACK_SIZE := 4096
BOARD_QEMU       := -M lm3s6965evb
BOARD_STRESS_OPS := 100000
BOARD_TIMEOUT    := 30
BOARD_CFLAGS     := -DKHEAP_MAX_BLOCK_LOG2=16
