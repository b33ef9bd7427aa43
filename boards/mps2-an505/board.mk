# mps2-an505: ARM MPS2 FPGA image AN505, Cortex-M33 (ARMv8-M Mainline with
# the Security Extension) on the IoT Kit subsystem (QEMU -M mps2-an505).
#
# The core starts in Secure state with the SAU off, so the kernel runs
# Secure and uses the Secure aliases (address bit 28 set: the SSE-200/IoTKit
# IDAU, hw/arm/armsse.c; the MPCs reset to all-Secure, so Secure code needs
# no set-up to use either).  Memory (hw/arm/mps2-tz.c an505_raminfo):
# ssram-0 4 MiB at 0x00000000 (Secure 0x10000000, where init-svtor points:
# the image), ssram-1 + ssram-2 2 + 2 MiB at 0x28000000 (Secure 0x38000000:
# stack, data, heap).  UART0 is a CMSDK APB UART at 0x40200000 (mps2-tz.c
# an505_ppcs, apb_ppcexp1 "uart0"), Secure alias 0x50200000.
# SysTick (the Secure instance) counts the 20 MHz CPU clock (mps2-tz.c).
MPS2_CPU           := cortex-m33
BOARD_UART_BASE    := 0x50200000
BOARD_ROM_BASE     := 0x10000000
BOARD_RAM_BASE     := 0x38000000
BOARD_TIMER_PERIOD := 100
include boards/mps2.mk
