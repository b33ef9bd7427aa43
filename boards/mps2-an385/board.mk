# mps2-an385: ARM MPS2 FPGA image AN385 with a cortex-m3 (QEMU -M mps2-an385).
#
# Memory map (linker/mps2-an385/memory.ld): QEMU hw/arm/mps2.c, memory map comment
# and mps2_common_init: ZBT SSRAM1 4 MiB at 0x00000000 (the image: vectors,
# code, .data load), ZBT SSRAM 2&3 4 MiB at 0x20000000 (stack, data, heap).
# UART0 is a CMSDK APB UART at 0x40004000 (mps2.c uartbase[]; Application
# Note AN385).
# The heap lies inside 4 MiB of RAM, so no block reaches 4 MiB: the index
# needs lists up to 2^22 (KHEAP_MAX_BLOCK_LOG2), 544 bytes of list heads.
BOARD_CPU        := cortex-m3
BOARD_ARCH       := m
BOARD_CPU_FLAGS  := -mcpu=cortex-m3 -mthumb 
BOARD_UART       := cmsdk
BOARD_UART_BASE  := 0x40004000
BOARD_RAM        := 4 MiB @ 0x20000000
BOARD_PAGE_SIZE  := 4096
BOARD_STACK_SIZE := 8192
BOARD_QEMU       := -M mps2-an385
BOARD_STRESS_OPS := 100000
BOARD_TIMEOUT    := 30
BOARD_CFLAGS     := -DKHEAP_MAX_BLOCK_LOG2=22
