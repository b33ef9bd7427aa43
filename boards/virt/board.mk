# virt: QEMU's generic Arm machine with a Cortex-A15 (ARMv7-A), in ARM state
# with the MMU off (QEMU -M virt -cpu cortex-a15).
#
# Memory map (linker/virt/memory.ld): QEMU hw/arm/virt.c base_memmap:
# VIRT_MEM at 0x40000000, sized by -m (128 MiB here; the image takes the
# first MiB), VIRT_UART, a PL011, at 0x09000000.  -nic none: without it QEMU
# looks for the virtio-net option ROM and stops.
# With the MMU off every access is Device memory, where an unaligned access
# faults: -mno-unaligned-access keeps GCC from emitting any.
# The heap lies inside 128 MiB of RAM, so no block reaches 2^27 bytes
# (KHEAP_MAX_BLOCK_LOG2): the index needs no lists beyond.
BOARD_CPU        := cortex-a15
BOARD_ARCH       := a
BOARD_CPU_FLAGS  := -mcpu=cortex-a15 -marm -mfloat-abi=soft -mno-unaligned-access
BOARD_UART       := pl011
BOARD_UART_BASE  := 0x09000000
BOARD_RAM        := 128 MiB @ 0x40000000
BOARD_PAGE_SIZE  := 4096
BOARD_STACK_SIZE := 16384
BOARD_QEMU       := -M virt -cpu cortex-a15 -m 128M -nic none
BOARD_STRESS_OPS := 100000
BOARD_TIMEOUT    := 30
BOARD_CFLAGS     := -DKHEAP_MAX_BLOCK_LOG2=27
