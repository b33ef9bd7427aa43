# What QEMU's generic Arm machine gives every CPU it is run with (QEMU -M
# virt; hw/arm/virt.c base_memmap).  Included by boards/virt/board.mk and
# boards/virt-a53/board.mk after they set what differs (at least VIRT_CPU).
#
# Memory: VIRT_MEM at 0x40000000, sized by -m (VIRT_MEM below; 0 to
# 0x08000000 is flash, which we leave alone).  The image is loaded straight
# into RAM: its first MiB holds code ("ROM") and starts exactly at the RAM
# base, so hw/arm/boot.c does not place a DTB there.  VIRT_UART, a PL011,
# at 0x09000000.  -nic none: without it QEMU looks for the virtio-net
# option ROM and stops.
# Interrupt test: the generic timer's virtual timer (CNTV, PPI 27) through
# the GICv2, distributor 0x08000000, CPU interface 0x08010000
# (base_memmap VIRT_GIC_DIST, VIRT_GIC_CPU); it counts at CNTFRQ, 62.5 MHz
# (16 ns, GTIMER_SCALE): 312 counts.
ifndef VIRT_CPU
$(error boards/$(BOARD)/board.mk: set VIRT_CPU before including boards/virt.mk)
endif
VIRT_MEM         := 128M
BOARD_CPU        := $(VIRT_CPU)
BOARD_UART       := pl011
BOARD_UART_BASE  := 0x09000000
BOARD_ROM_BASE   := 0x40000000
BOARD_ROM_SIZE   := 1M
BOARD_RAM_BASE   := 0x40100000
BOARD_RAM_SIZE   := $(VIRT_MEM)-1M
BOARD_STACK_SIZE := 16384
BOARD_QEMU       := -M virt -cpu $(VIRT_CPU) -m $(VIRT_MEM) -nic none
BOARD_TIMER      := gtimer
BOARD_TIMER_PERIOD := 312
BOARD_GICD_BASE  := 0x08000000
BOARD_GICC_BASE  := 0x08010000
