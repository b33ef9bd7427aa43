# vexpress-a9: Arm Versatile Express with the CoreTile A9x4 (one Cortex-A9
# in QEMU unless -smp), ARMv7-A in ARM state, MMU off (QEMU -M vexpress-a9).
#
# Memory: QEMU hw/arm/vexpress.c a9_daughterboard_init: RAM at 0x60000000
# sized by -m (VEXPRESS_MEM below), its first 64 MiB aliased at 0; the
# image's first MiB is code ("ROM").  UART0, a PL011, at 0x10009000
# (motherboard_legacy_map VE_UART0).  The A9MPCore private region at
# PERIPHBASE 0x1e000000: GIC CPU interface +0x100, private timer +0x600,
# distributor +0x1000 (Cortex-A9 MPCore TRM, 1.5).  -nic none: the LAN9118
# stays unconnected; -global pl041.audiodev=snd: the PL041's codec gets
# the silent back end (QEMU_COMMON's -audiodev none) instead of printing a
# page of audio errors.
# With the MMU off every access is strongly ordered, where an unaligned
# access faults: -mno-unaligned-access.
# Interrupt test: the private timer (PPI 29), which QEMU counts every 10 ns
# (hw/timer/arm_mptimer.c, prescaler 0): 500 counts, a tick every 5,000
# instructions under -icount shift=0.
VEXPRESS_MEM      := 128M
BOARD_CPU         := cortex-a9
BOARD_ARCH        := a
BOARD_CPU_FLAGS   := -mcpu=cortex-a9 -marm -mfloat-abi=soft -mno-unaligned-access
BOARD_UART        := pl011
BOARD_UART_BASE   := 0x10009000
BOARD_ROM_BASE    := 0x60000000
BOARD_ROM_SIZE    := 1M
BOARD_RAM_BASE    := 0x60100000
BOARD_RAM_SIZE    := $(VEXPRESS_MEM)-1M
BOARD_STACK_SIZE  := 16384
BOARD_QEMU        := -M vexpress-a9 -m $(VEXPRESS_MEM) -nic none -global pl041.audiodev=snd
BOARD_TIMER       := a9-ptimer
BOARD_TIMER_PERIOD := 500
BOARD_GICD_BASE   := 0x1e001000
BOARD_GICC_BASE   := 0x1e000100
BOARD_PTIMER_BASE := 0x1e000600
