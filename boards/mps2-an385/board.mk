# mps2-an385: ARM MPS2 FPGA image AN385 with a Cortex-M3 (QEMU -M mps2-an385;
# Application Note 385).  Memory map, UART and timer: boards/mps2.mk.
MPS2_CPU := cortex-m3
include boards/mps2.mk
