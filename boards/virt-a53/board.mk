# virt-a53: QEMU's generic Arm machine with a Cortex-A53 in AArch64 state
# (qemu-system-aarch64 -M virt -cpu cortex-a53), EL1, MMU off: 8-byte
# words and 16-byte alignment (alignof(max_align_t)) on target.
#
# Memory map, UART and timer: boards/virt.mk, as for virt.  The compiler
# is Debian's gcc-aarch64-linux-gnu, used freestanding: no PIE, no stack
# protector (it would want the C library's guard), static link.  With the MMU off every access is Device memory,
# where an unaligned access faults: -mstrict-align.  The kernel uses no
# floating point: -mgeneral-regs-only, so CPACR_EL1 can leave the FPU off.
VIRT_CPU         := cortex-a53
BOARD_ARCH       := a64
BOARD_CC         := aarch64-linux-gnu-gcc
BOARD_QEMU_BIN   := qemu-system-aarch64
BOARD_CPU_FLAGS  := -mcpu=cortex-a53 -mstrict-align -mgeneral-regs-only \
                    -fno-pie -fno-stack-protector
BOARD_LINK_FLAGS := -static -no-pie -Wl,--build-id=none
include boards/virt.mk
# apt-cache search newlib: only libnewlib-arm-none-eabi (32-bit Arm) ships
# built libraries.
BOARD_NEWLIB_NONE_WHY := no AArch64 newlib is packaged in Debian (only libnewlib-arm-none-eabi)
