# virt-a53: QEMU's generic Arm machine with a Cortex-A53 in AArch64 state
# (qemu-system-aarch64 -M virt -cpu cortex-a53), EL1, MMU off: 8-byte
# words and 16-byte alignment (alignof(max_align_t)) on target.
#
# Memory: as boards/virt/board.mk (QEMU hw/arm/virt.c base_memmap:
# VIRT_MEM at 0x40000000 sized by -m, the image's first MiB at its base so
# that hw/arm/boot.c puts no DTB there; VIRT_UART, a PL011, at 0x09000000;
# -nic none).  The compiler is Debian's gcc-aarch64-linux-gnu, used
# freestanding: no PIE, no stack protector (it would want the C library's
# guard), static link.  With the MMU off every access is Device memory,
# where an unaligned access faults: -mstrict-align.  The kernel uses no
# floating point: -mgeneral-regs-only, so CPACR_EL1 can leave the FPU off.
# Interrupt test: the generic timer's virtual timer (PPI 27) through the
# GICv2 that virt gives a Cortex-A53 (distributor 0x08000000, CPU
# interface 0x08010000); CNTFRQ is 62.5 MHz: 312 counts.
VIRT_MEM         := 128M
BOARD_CPU        := cortex-a53
BOARD_ARCH       := a64
BOARD_CC         := aarch64-linux-gnu-gcc
BOARD_QEMU_BIN   := qemu-system-aarch64
BOARD_CPU_FLAGS  := -mcpu=cortex-a53 -mstrict-align -mgeneral-regs-only \
                    -fno-pie -fno-stack-protector
BOARD_LINK_FLAGS := -static -no-pie -Wl,--build-id=none
BOARD_UART       := pl011
BOARD_UART_BASE  := 0x09000000
BOARD_ROM_BASE   := 0x40000000
BOARD_ROM_SIZE   := 1M
BOARD_RAM_BASE   := 0x40100000
BOARD_RAM_SIZE   := $(VIRT_MEM)-1M
BOARD_STACK_SIZE := 16384
BOARD_QEMU       := -M virt -cpu cortex-a53 -m $(VIRT_MEM) -nic none
BOARD_TIMER      := gtimer
BOARD_TIMER_PERIOD := 312
BOARD_GICD_BASE  := 0x08000000
BOARD_GICC_BASE  := 0x08010000
# apt-cache search newlib: only libnewlib-arm-none-eabi (32-bit Arm) ships
# built libraries.
BOARD_NEWLIB_NONE_WHY := no AArch64 newlib is packaged in Debian (only libnewlib-arm-none-eabi)
