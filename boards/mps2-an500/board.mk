# mps2-an500: ARM MPS2 FPGA image AN500 with a Cortex-M7 (QEMU -M mps2-an500;
# Application Note 500).  Memory map, UART and timer: boards/mps2.mk.
MPS2_CPU := cortex-m7
include boards/mps2.mk
