# The test kernel on QEMU boards.  Included by the top-level Makefile.
#
#   make [BOARD=b]              build/<b>/kernel.elf
#   make run [BOARD=b]          boot it; the exit status is the kernel's
#   make list                   the boards
#   make help                   every target, one line each
#   make test-boards            every board, under a timeout, one line each
#   make test-runner-selfcheck  a faulting and a hanging kernel must fail
#
# A board is data: boards/<b>/board.mk sets the BOARD_* variables below
# (boards of a family share a fragment, e.g. boards/mps2.mk) and says where
# each figure comes from.  Nothing else names a board: the linker script
# takes the memory map with --defsym, the index size follows the RAM size,
# and the interrupt test takes the timer the board names.
#
#   required  BOARD_CPU, BOARD_ARCH (m: M-profile, a: ARMv7-A, a64: AArch64),
#             BOARD_CPU_FLAGS, BOARD_UART (kernel/uart_<kind>.c),
#             BOARD_UART_BASE, BOARD_ROM_BASE, BOARD_ROM_SIZE, BOARD_RAM_BASE,
#             BOARD_RAM_SIZE (ld sizes: 64K, 4M, 128M-1M), BOARD_QEMU
#             (machine arguments), BOARD_TIMER (the interrupt test's
#             timer: systick, gtimer, a9-ptimer, or none with
#             BOARD_TIMER_NONE_WHY saying why)
#   defaults  BOARD_PAGE_SIZE 4096, BOARD_STACK_SIZE 8192, BOARD_STRESS_OPS
#             100000, BOARD_TIMEOUT 30 (s), BOARD_CC arm-none-eabi-gcc,
#             BOARD_QEMU_BIN qemu-system-arm, BOARD_CFLAGS and
#             BOARD_LINK_FLAGS none; BOARD_NEWLIB_NONE_WHY (set: the newlib
#             kernels are skipped on this board, with that reason)
#   timers    BOARD_TIMER_PERIOD (timer counts per tick, about 5,000
#             instructions); gtimer and a9-ptimer: BOARD_GICD_BASE,
#             BOARD_GICC_BASE; a9-ptimer: BOARD_PTIMER_BASE

BOARDS := $(sort $(patsubst boards/%/board.mk,%,$(wildcard boards/*/board.mk)))
ifeq ($(filter $(BOARD),$(BOARDS)),)
$(error unknown BOARD '$(BOARD)'; known boards: $(BOARDS))
endif
include boards/$(BOARD)/board.mk

BOARD_PAGE_SIZE  ?= 4096
BOARD_STACK_SIZE ?= 8192
BOARD_STRESS_OPS ?= 100000
BOARD_TIMEOUT    ?= 30
BOARD_CC         ?= arm-none-eabi-gcc
BOARD_QEMU_BIN   ?= qemu-system-arm
BOARD_CFLAGS     ?=
BOARD_LINK_FLAGS ?=
BOARD_REQUIRED := BOARD_CPU BOARD_ARCH BOARD_CPU_FLAGS BOARD_UART BOARD_UART_BASE \
    BOARD_ROM_BASE BOARD_ROM_SIZE BOARD_RAM_BASE BOARD_RAM_SIZE BOARD_QEMU BOARD_TIMER
$(foreach v,$(BOARD_REQUIRED),$(if $($(v)),,$(error boards/$(BOARD)/board.mk: $(v) is not set (see mk/target.mk))))
ifeq ($(filter $(BOARD_ARCH),m a a64),)
$(error boards/$(BOARD)/board.mk: BOARD_ARCH '$(BOARD_ARCH)': m, a or a64)
endif
ifeq ($(BOARD_TIMER),none)
$(if $(BOARD_TIMER_NONE_WHY),,$(error boards/$(BOARD)/board.mk: BOARD_TIMER is none: say why in BOARD_TIMER_NONE_WHY))
endif
ifeq ($(wildcard kernel/uart_$(BOARD_UART).c),)
$(error boards/$(BOARD)/board.mk: no UART driver kernel/uart_$(BOARD_UART).c)
endif

# The RAM size in bytes, for humans ("4 MiB") and for the free-block index:
# the heap lies inside RAM, so no block reaches the next power of two of its
# size, and the index needs no lists beyond (KHEAP_MAX_BLOCK_LOG2).
BOARD_RAM_FACTS := $(shell n=$$(( $(subst K,*1024,$(subst M,*1048576,$(BOARD_RAM_SIZE))) )); \
    l=0; while [ $$(( 1 << l )) -lt $$n ]; do l=$$(( l + 1 )); done; \
    if [ $$(( n % 1048576 )) = 0 ]; then h="$$(( n / 1048576 ))_MiB"; else h="$$(( n / 1024 ))_KiB"; fi; \
    echo $$n $$l $$h)
BOARD_RAM_BYTES  := $(word 1,$(BOARD_RAM_FACTS))
BOARD_INDEX_LOG2 := $(word 2,$(BOARD_RAM_FACTS))
BOARD_RAM_HUMAN  := $(subst _, ,$(word 3,$(BOARD_RAM_FACTS)))
ifeq ($(BOARD_INDEX_LOG2),)
$(error boards/$(BOARD)/board.mk: cannot read BOARD_RAM_SIZE '$(BOARD_RAM_SIZE)')
endif
# The memory map for linker/kernel.ld.
BOARD_LDFLAGS := -Wl,--defsym=__board_rom_base=$(BOARD_ROM_BASE) \
    -Wl,--defsym=__board_rom_size=$(BOARD_ROM_SIZE) \
    -Wl,--defsym=__board_ram_base=$(BOARD_RAM_BASE) \
    -Wl,--defsym=__board_ram_size=$(BOARD_RAM_SIZE)

# LIBC: none, the freestanding kernel (kernel/string.c supplies memcpy and
# friends), or a C library kernel that mk/newlib.mk describes (newlib, nano)
# through the KERNEL_LIBC_* settings below; it builds in
# build/<board>-<libc>/ beside the freestanding one.
LIBC ?= none
KERNEL_LIBC_SRC :=
KERNEL_LIBC_OMIT :=
KERNEL_LIBC_CFLAGS := -ffreestanding -nostdlib
KERNEL_LIBC_LDFLAGS :=
KERNEL_LIBC_LIBS :=
# Not -include: without it the newlib stages would silently drop out.
include mk/newlib.mk
ifeq ($(LIBC),none)
KERNEL_VARIANT := $(BOARD)
else ifneq ($(filter $(LIBC),$(KERNEL_LIBCS)),)
KERNEL_VARIANT := $(BOARD)-$(LIBC)
else
$(error unknown LIBC '$(LIBC)'; known: none $(KERNEL_LIBCS))
endif

# HARDEN=1: the same kernel with the full misuse tier (KHEAP_HARDEN=1), in
# build/<board>[-<libc>]-full/, so the full tier's checks run on target too.
HARDEN ?= 0
ifeq ($(HARDEN),1)
KERNEL_VARIANT := $(KERNEL_VARIANT)-full
endif
# PROFILE=lean: the lean profile (no misuse checks, statistics or lock
# hooks), in build/<board>-lean/; PROFILE=full is HARDEN=1.
PROFILE ?= default
ifeq ($(PROFILE),full)
HARDEN := 1
KERNEL_VARIANT := $(KERNEL_VARIANT)-full
else ifeq ($(PROFILE),lean)
KERNEL_VARIANT := $(KERNEL_VARIANT)-lean
else ifneq ($(PROFILE),default)
$(error unknown PROFILE '$(PROFILE)'; known: lean default full)
endif

QEMU := $(BOARD_QEMU_BIN)
# -audiodev none: boards with a sound device (vexpress-a9's PL041) would
# otherwise try every audio back end and print a page of errors; such a
# board points its codec at this one (-global pl041.audiodev=snd).
QEMU_COMMON := -nographic -semihosting-config enable=on,target=native -audiodev none,id=snd
TARGET_CC := $(BOARD_CC)

# A self-check image (KERNEL_SELFTEST=fault, hang or misuse) builds beside the
# real one, never over it.
KERNEL_SELFTEST ?=
KERNEL_DIR := $(BUILD)/$(KERNEL_VARIANT)$(if $(KERNEL_SELFTEST),-selftest-$(KERNEL_SELFTEST))
KERNEL_ELF := $(KERNEL_DIR)/kernel.elf

# Only the files that see KHEAP_KERNEL_SELFTEST differ in a self-check
# image; it links the board's other objects (build them first).
KERNEL_SELFTEST_SRC := kernel/main.c $(if $(KERNEL_SELFTEST),kernel/selftest.c)
KERNEL_SRC := kernel/console.c kernel/string.c kernel/crt.c \
              kernel/semihost.c kernel/fault.c kernel/stack.c kernel/uart_$(BOARD_UART).c
KERNEL_SRC_m := kernel/cortex_m.c
KERNEL_SRC_a := kernel/cortex_a.c kernel/cortex_a_entry.S
KERNEL_SRC_a64 := kernel/aarch64.c kernel/aarch64_entry.S
KERNEL_SHARED_SRC := $(filter-out $(KERNEL_LIBC_OMIT),$(KERNEL_SRC) $(KERNEL_SRC_$(BOARD_ARCH)) \
    $(ALLOC_SRC) $(SUITE_SRC)) $(KERNEL_LIBC_SRC)
obj_of = $(addprefix $(1)/obj/,$(addsuffix .o,$(basename $(2))))
KERNEL_OBJ := $(call obj_of,$(KERNEL_DIR),$(KERNEL_SELFTEST_SRC)) \
              $(call obj_of,$(BUILD)/$(KERNEL_VARIANT),$(KERNEL_SHARED_SRC))

EXC_STACK_SIZE_m := 0
EXC_STACK_SIZE_a := 1024
EXC_STACK_SIZE_a64 := 0

KERNEL_CFLAGS := -std=c11 -O2 -g $(WARN) $(KERNEL_LIBC_CFLAGS) $(BOARD_CPU_FLAGS) \
    -ffunction-sections -fdata-sections -fno-common \
    -fno-unwind-tables -fno-asynchronous-unwind-tables \
    -DBOARD_NAME='"$(BOARD)"' -DBOARD_CPU='"$(BOARD_CPU)"' \
    -DBOARD_UART_BASE=$(BOARD_UART_BASE)u -DBOARD_PAGE_SIZE=$(BOARD_PAGE_SIZE)u \
    -DBOARD_STRESS_OPS=$(BOARD_STRESS_OPS)ul -DKHEAP_MAX_BLOCK_LOG2=$(BOARD_INDEX_LOG2) \
    $(BOARD_CFLAGS) \
    $(if $(filter 1,$(HARDEN)),-DKHEAP_HARDEN=1) \
    $(if $(filter lean,$(PROFILE)),-DKHEAP_PROFILE=KHEAP_PROFILE_LEAN)
KERNEL_LDFLAGS := -nostdlib -T linker/kernel.ld $(BOARD_LDFLAGS) \
    -Wl,--defsym=__page_size=$(BOARD_PAGE_SIZE) \
    -Wl,--defsym=__stack_size=$(BOARD_STACK_SIZE) \
    -Wl,--defsym=__exc_stack_size=$(EXC_STACK_SIZE_$(BOARD_ARCH)) \
    -Wl,--gc-sections $(BOARD_LINK_FLAGS) $(KERNEL_LIBC_LDFLAGS)
# Everything that changes how the objects come out, flags given on the
# command line (BOARD_STRESS_OPS=..., ALLOC_SRC=...) included: the flags
# file is rewritten only when they differ from the last build's.
KERNEL_FLAGS_FILE := $(BUILD)/$(KERNEL_VARIANT)/flags
KERNEL_FLAGS := $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) $(KERNEL_SHARED_SRC) $(KERNEL_LIBC_LIBS)
ifeq ($(filter help list list-one clean,$(MAKECMDGOALS)),)
ifneq ($(KERNEL_FLAGS),$(file <$(KERNEL_FLAGS_FILE)))
$(shell mkdir -p $(dir $(KERNEL_FLAGS_FILE)))
$(file >$(KERNEL_FLAGS_FILE),$(KERNEL_FLAGS))
endif
endif
KERNEL_CONFIG := $(filter boards/%,$(MAKEFILE_LIST)) mk/target.mk $(KERNEL_FLAGS_FILE)

.PHONY: kernel run list test-boards test-runner-selfcheck kernels-all

all: kernel

# KERNEL_SKIP (set by mk/newlib.mk for a board without that C library):
# no image, only a run.conf that says why.
KERNEL_SKIP ?=
ifeq ($(KERNEL_SKIP),)
kernel: $(KERNEL_ELF) $(KERNEL_DIR)/run.conf
else
kernel: $(KERNEL_DIR)/run.conf
endif

# The compiler would turn string.c's loops back into memcpy/memset calls.
$(BUILD)/$(KERNEL_VARIANT)/obj/kernel/string.o: KERNEL_CFLAGS += -fno-builtin -fno-tree-loop-distribute-patterns
$(call obj_of,$(KERNEL_DIR),$(KERNEL_SELFTEST_SRC)): \
    KERNEL_CFLAGS += $(if $(KERNEL_SELFTEST),-DKHEAP_KERNEL_SELFTEST=$(KERNEL_SELFTEST))

define kernel_compile
	@mkdir -p $(@D)
	@echo "  $(1)      $@"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) -MMD -MP -c $< -o $@
endef

$(BUILD)/$(KERNEL_VARIANT)/obj/%.o: %.c $(KERNEL_CONFIG) | deps-target
	$(call kernel_compile,CC)
$(BUILD)/$(KERNEL_VARIANT)/obj/%.o: %.S $(KERNEL_CONFIG) | deps-target
	$(call kernel_compile,AS)
ifneq ($(KERNEL_SELFTEST),)
$(KERNEL_DIR)/obj/%.o: %.c $(KERNEL_CONFIG) | deps-target
	$(call kernel_compile,CC)
endif

$(KERNEL_ELF): $(KERNEL_OBJ) linker/kernel.ld
	@echo "  LD      $@"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) -Wl,-Map=$(KERNEL_DIR)/kernel.map \
		$(KERNEL_OBJ) $(KERNEL_LIBC_LIBS) -lgcc -o $@

# What tests/run_boards.sh needs to boot this image, as shell assignments.
$(KERNEL_DIR)/run.conf: $(KERNEL_CONFIG)
	@mkdir -p $(@D)
	$(Q)printf '%s\n' "board='$(BOARD)$(if $(filter-out none,$(LIBC)), ($(LIBC)))$(if $(filter 1,$(HARDEN)), (full tier))$(if $(filter lean,$(PROFILE)), (lean))$(if $(KERNEL_SELFTEST), (selftest $(KERNEL_SELFTEST)))'" \
		"skip='$(KERNEL_SKIP)'" \
		"image='$(KERNEL_ELF)'" \
		"qemu='$(QEMU) $(BOARD_QEMU) $(QEMU_COMMON)'" \
		"timeout='$(BOARD_TIMEOUT)'" > $@

-include $(KERNEL_OBJ:.o=.d)

ifeq ($(KERNEL_SKIP),)
run: $(KERNEL_ELF) | deps-target
	$(Q)$(QEMU) $(BOARD_QEMU) $(QEMU_COMMON) -kernel $(KERNEL_ELF)
else
run:
	@echo "# skip $(BOARD): $(KERNEL_SKIP)"
endif

# make help: every target a user types, one line each (keep it in step
# with the fragments' header comments).
define KHEAP_HELP
Start here
  make run [BOARD=b]        build the test kernel and boot it under QEMU (default mps2-an385)
  make test                 everything below that is a test; ends with one "N passed, M failed" line
  make list                 the boards: cpu, RAM, page size, interrupt timer, newlib
  make heapmap [BOARD=b]    boot a scenario and draw the heap as SVG (build/<b>/heapmap-*.svg)
  make leaks [BOARD=b]      boot a traced scenario (KHEAP_TRACE=1): its leaks by function (file:line)
  make size                 code size table: kheap's parts against newlib and nano
  make debug [BOARD=b]      QEMU halted for gdb-multiarch, the kheap gdb command loaded
Build
  make [BOARD=b]            build/<b>/kernel.elf (the host suite too)
  make host                 build/host/libkheap.so and .a: malloc for unmodified programs
                            (libkheap-trace.so: KHEAP_LEAKS=1 prints the leaks at exit)
  make run LIBC=newlib|nano the test kernel linked with newlib / newlib-nano, kheap behind malloc
  make run-irq [BOARD=b]    the interrupt stress image on one board, whole serial output
  make deps                 install the Debian packages the build needs (make does it when missing)
  make clean                remove build/
Test stages (make test runs them all)
  make test-host            the suite on the host: ASan+UBSan, -m32, both misuse tiers, traced
  make test-freestanding    alloc/ built with no libc; only memcpy, memmove, memset undefined
  make test-dropin          real programs under LD_PRELOAD=libkheap.so (test-dropin-tsan: threads)
  make test-fuzz            the fuzzer's seeds and a bounded run per tier (make fuzz: a long run)
  make test-tools           heapmap.py on a known log, the gdb command against QEMU
  make test-leaks           the traced leak scenario on every board, resolved by addr2line
  make test-boards          the suite on every board (test-boards-full: the full misuse tier)
  make test-newlib          the newlib kernels on every board that has newlib (test-nano, test-newlib-map)
  make test-irq             a timer interrupt and the main loop on one instance, every board
  make test-runner-selfcheck a faulting, a hanging and a misusing kernel must fail
Benchmarks (not tests)
  make bench [BOARD=b]      kheap, newlib, nano, picolibc on the traces under -icount (mps2 boards)
  make bench-host           the traces on x86-64 under callgrind, kheap against glibc
Variables
  BOARD=b V=1 LIBC=newlib|nano HARDEN=1 (full misuse tier) IRQ_MAIN_OPS=n FUZZ_SECONDS=n
endef
export KHEAP_HELP

.PHONY: help
help:
	@printf '%s\n' "$$KHEAP_HELP"

# One row per board, columns as wide as their longest entry.  Each row is
# a sub-make (it reads the board's own board.mk); column(1) is not on
# every machine, so awk pads.
list:
	$(Q){ echo "board|cpu|arch|ram|page|interrupt test|newlib"; \
	for b in $(BOARDS); do \
		$(MAKE) -s --no-print-directory BOARD=$$b list-one || exit 1; \
	done; } | awk -F'|' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $$i; if (length($$i) > w[i]) w[i] = length($$i) } \
		if (NF > nf) nf = NF } \
		END { for (r = 1; r <= NR; r++) { line = ""; for (i = 1; i <= nf; i++) \
			line = line (i < nf ? sprintf("%-*s  ", w[i], c[r, i]) : c[r, i]); print line } }'

.PHONY: list-one
list-one:
	@echo "$(BOARD)$(if $(filter $(BOARD),mps2-an385), (default))|$(BOARD_CPU)|$(BOARD_ARCH)|$(BOARD_RAM_HUMAN) @ $(BOARD_RAM_BASE)|$(BOARD_PAGE_SIZE)|$(if $(filter none,$(BOARD_TIMER)),skipped: $(BOARD_TIMER_NONE_WHY),$(BOARD_TIMER))|$(if $(BOARD_NEWLIB_NONE_WHY),skipped,yes)"

# ---------------------------------------------------------------- board runs
# One sub-make per board (each includes its own board.mk); they run in
# parallel under make -j, and take -j$(KERNEL_JOBS) themselves when the
# top level was not given one.
KERNEL_JOBS := $(shell nproc 2>/dev/null || echo 2)
SUBMAKE_J = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(KERNEL_JOBS))

kernel-%: FORCE
	$(Q)$(MAKE) --no-print-directory $(SUBMAKE_J) BOARD=$(firstword $(subst @, ,$*)) \
		KERNEL_SELFTEST=$(word 2,$(subst @, ,$*)) kernel

kernels-all: $(addprefix kernel-,$(BOARDS))

kernel-full-%: FORCE
	$(Q)$(MAKE) --no-print-directory $(SUBMAKE_J) BOARD=$* HARDEN=1 kernel

kernel-lean-%: FORCE
	$(Q)$(MAKE) --no-print-directory $(SUBMAKE_J) BOARD=$* PROFILE=lean kernel

test-boards: kernels-all | deps-target
	@echo "== target suite: every board under QEMU"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/run_boards.sh $(foreach b,$(BOARDS),$(BUILD)/$(b)/run.conf) $(call SHOW_AND_LOG,boards)

# The self-check images reuse the board's objects: built one after the
# other, never beside a build of the same board.
SELFCHECK_BOARD := mps2-an385
test-runner-selfcheck: kernel-$(SELFCHECK_BOARD) | deps-target
	$(Q)$(MAKE) --no-print-directory kernel-$(SELFCHECK_BOARD)@fault
	$(Q)$(MAKE) --no-print-directory kernel-$(SELFCHECK_BOARD)@hang
	$(Q)$(MAKE) --no-print-directory kernel-$(SELFCHECK_BOARD)@misuse
	@echo "== runner self-check: a faulting, a hanging and a misusing kernel must be failures"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/run_boards_selfcheck.sh $(BUILD)/$(SELFCHECK_BOARD)-selftest-fault/run.conf \
		$(BUILD)/$(SELFCHECK_BOARD)-selftest-hang/run.conf \
		$(BUILD)/$(SELFCHECK_BOARD)-selftest-misuse/run.conf $(call SHOW_AND_LOG,runner-selfcheck)

.PHONY: FORCE
FORCE:

# The whole suite again with the full misuse tier, its own cases included.
.PHONY: test-boards-full
test-boards-full: $(addprefix kernel-full-,$(BOARDS)) | deps-target
	@echo "== target suite, full misuse tier (KHEAP_HARDEN=1): every board under QEMU"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/run_boards.sh $(foreach b,$(BOARDS),$(BUILD)/$(b)-full/run.conf) $(call SHOW_AND_LOG,boards-full)

# The lean profile on a board of each kind: ARMv7-M, ARMv6-M (no CLZ,
# 16 KiB) and ARMv7-A.
LEAN_BOARDS := mps2-an385 microbit virt
.PHONY: test-boards-lean
test-boards-lean: $(addprefix kernel-lean-,$(LEAN_BOARDS)) | deps-target
	@echo "== target suite, lean profile: $(LEAN_BOARDS) under QEMU"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/run_boards.sh $(foreach b,$(LEAN_BOARDS),$(BUILD)/$(b)-lean/run.conf) $(call SHOW_AND_LOG,boards-lean)

TARGET_TESTS += test-boards test-boards-full test-boards-lean test-runner-selfcheck
