# virt: QEMU's generic Arm machine with a Cortex-A15 (ARMv7-A), in ARM state
# with the MMU off (QEMU -M virt -cpu cortex-a15).  Memory map, UART and
# timer: boards/virt.mk.
# With the MMU off every access is Device memory, where an unaligned access
# faults: -mno-unaligned-access keeps GCC from emitting any.
VIRT_CPU         := cortex-a15
BOARD_ARCH       := a
BOARD_CPU_FLAGS  := -mcpu=cortex-a15 -marm -mfloat-abi=soft -mno-unaligned-access
include boards/virt.mk
