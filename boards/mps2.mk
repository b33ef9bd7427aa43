# What the four ARM MPS2 FPGA images share (QEMU hw/arm/mps2.c for AN385,
# AN386 and AN500; hw/arm/mps2-tz.c for AN505).  Included by their
# board.mk after they set what differs (at least MPS2_CPU); `?=` below
# leaves anything a board set alone.
#
# Memory (AN385/AN386/AN500; mps2.c's memory map comment and
# mps2_common_init): ZBT SSRAM1 4 MiB at 0x00000000, where the vector table
# must be (VTOR resets to 0), and ZBT SSRAM 2&3 4 MiB at 0x20000000 (stack,
# data, heap).  SSRAM1 is RAM too, but the image treats it as ROM so that
# the layout is the one a flash part would need.  UART0 is a CMSDK APB UART
# at 0x40004000 (mps2.c uartbase[]).
# Interrupt test: SysTick from the CPU clock, 25 MHz (mps2.c SYSCLK_FRQ):
# 125 counts, a tick every 5,000 instructions under -icount shift=0.
ifndef MPS2_CPU
$(error boards/$(BOARD)/board.mk: set MPS2_CPU before including boards/mps2.mk)
endif
BOARD_CPU        := $(MPS2_CPU)
BOARD_ARCH       := m
# Soft float everywhere: the kernel never touches an FPU, so CPACR stays off.
BOARD_CPU_FLAGS  ?= -mcpu=$(MPS2_CPU) -mthumb -mfloat-abi=soft
BOARD_UART       := cmsdk
BOARD_UART_BASE  ?= 0x40004000
BOARD_ROM_BASE   ?= 0x00000000
BOARD_ROM_SIZE   ?= 4M
BOARD_RAM_BASE   ?= 0x20000000
BOARD_RAM_SIZE   ?= 4M
BOARD_QEMU       := -M $(BOARD)
BOARD_TIMER      := systick
BOARD_TIMER_PERIOD ?= 125
