# mps2-an386: ARM MPS2 FPGA image AN386 with a Cortex-M4 (QEMU -M mps2-an386;
# Application Note 386).  Memory map, UART and timer: boards/mps2.mk.
MPS2_CPU := cortex-m4
include boards/mps2.mk
