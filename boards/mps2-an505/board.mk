# mps2-an505: ARM MPS2 FPGA image AN505, Cortex-M33 (ARMv8-M Mainline with
# the Security Extension) on the IoT Kit subsystem (QEMU -M mps2-an505).
#
# The core starts in Secure state with the SAU off, so the kernel runs
# Secure and uses the Secure aliases (address bit 28 set).  Memory map
# (linker/mps2-an505/memory.ld): QEMU hw/arm/mps2-tz.c an505_raminfo:
# ssram-0 4 MiB at 0x00000000 (Secure 0x10000000, where init-svtor points:
# the image), ssram-1 + ssram-2 2 + 2 MiB at 0x28000000 (Secure 0x38000000:
# stack, data, heap).  UART0 is a CMSDK APB UART at 0x40200000 (mps2-tz.c
# an505_ppcs, apb_ppcexp1 "uart0"), Secure alias 0x50200000.
# The heap lies inside 4 MiB of RAM, so no block reaches 4 MiB: the index
# needs lists up to 2^22 (KHEAP_MAX_BLOCK_LOG2), 544 bytes of list heads.
BOARD_CPU        := cortex-m33
BOARD_ARCH       := m
BOARD_CPU_FLAGS  := -mcpu=cortex-m33 -mthumb -mfloat-abi=soft
BOARD_UART       := cmsdk
BOARD_UART_BASE  := 0x50200000
BOARD_RAM        := 4 MiB @ 0x38000000
BOARD_PAGE_SIZE  := 4096
BOARD_STACK_SIZE := 8192
BOARD_QEMU       := -M mps2-an505
BOARD_STRESS_OPS := 100000
BOARD_TIMEOUT    := 30
BOARD_CFLAGS     := -DKHEAP_MAX_BLOCK_LOG2=22
