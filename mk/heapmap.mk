# Heap pictures and the debugger.  Included by the top-level Makefile after
# mk/target.mk, whose board variables, flags and object rules it reuses.
#
#   make heapmap [BOARD=b]   boot the scenario image (tools/scenario/), log its
#                            serial output to build/<b>/heapmap.log and draw
#                            build/<b>/heapmap-1.svg ... (tools/heapmap.py)
#   make debug [BOARD=b]     QEMU waiting for gdb (-S, port DEBUG_PORT), then
#                            gdb-multiarch with tools/gdb/kheap.py loaded;
#                            DEBUG_IMAGE=heapmap (default) or kernel
#   make test-tools          the tool's tests and the gdb command against QEMU
#
# The scenario image is the test kernel's start-up, console, UART, fault and
# semihosting objects plus alloc/, with tools/scenario/heapmap_main.c in place
# of kernel/main.c and the suite: it shares the board's kernel objects in
# build/<b>/obj/ and links with the same linker script and flags.  Its
# alloc/ (and the scenario) are the traced ones of mk/leaks.mk
# (KHEAP_TRACE=1, build/<b>-trace/obj/), so every block in use in its
# dumps has a site: the picture colours blocks by it, and the debugger's
# `kheap leaks` and `kheap owner` have sites to show.

PYTHON ?= python3
GDB ?= gdb-multiarch

# The image is freestanding; its objects are the board's (the LIBC=none
# variant's, where mk/target.mk has variants).
HEAPMAP_DIR := $(BUILD)/$(or $(KERNEL_VARIANT),$(BOARD))
HEAPMAP_ELF := $(HEAPMAP_DIR)/heapmap.elf
HEAPMAP_LOG := $(HEAPMAP_DIR)/heapmap.log
HEAPMAP_PREFIX := heapmap-
HEAPMAP_SRC := tools/scenario/heapmap_main.c
HEAPMAP_OBJ = $(call obj_of,$(TRACE_DIR),$(HEAPMAP_SRC)) $(TRACE_ALLOC_OBJ) $(TRACE_KERNEL_OBJ)
# A line per step with its time (tools/timed.sh).
HEAPMAP_STEP = sh tools/timed.sh

.PHONY: heapmap heapmap-image heapmap-boot heapmap-render debug test-tools deps-tools

heapmap-image: $(HEAPMAP_ELF)

$(HEAPMAP_ELF): $(HEAPMAP_OBJ) linker/kernel.ld
	@echo "  LD      $@"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) -Wl,-Map=$(HEAPMAP_DIR)/heapmap.map \
		$(HEAPMAP_OBJ) -lgcc -o $@


# The scenario exits 0 iff kheap_check held at every point and every page
# came back; its log must hold the four dumps.
heapmap-boot: $(HEAPMAP_ELF) | deps-target
	$(Q)status=0; timeout -k 5 $(BOARD_TIMEOUT) $(QEMU) $(BOARD_QEMU) $(QEMU_COMMON) \
		-kernel $(HEAPMAP_ELF) < /dev/null > $(HEAPMAP_LOG) 2>&1 || status=$$?; \
	if [ $$status != 0 ] || ! tr -d '\r' < $(HEAPMAP_LOG) | grep -qx 'heapmap: exit 0'; then \
		tr -d '\r' < $(HEAPMAP_LOG) | sed 's/^/| /'; \
		echo "heapmap: the scenario failed on $(BOARD) (QEMU exit $$status)"; exit 1; \
	fi

heapmap-render: | deps-tools
	$(Q)rm -f $(HEAPMAP_DIR)/$(HEAPMAP_PREFIX)*.svg
	$(Q)$(PYTHON) tools/heapmap.py --out-dir $(HEAPMAP_DIR) --prefix $(HEAPMAP_PREFIX) \
		--elf $(HEAPMAP_ELF) --addr2line $(ADDR2LINE) $(HEAPMAP_LOG)

heapmap: | deps-target deps-tools
	$(Q)$(HEAPMAP_STEP) "heapmap: build $(HEAPMAP_ELF)" \
		$(MAKE) --no-print-directory BOARD=$(BOARD) heapmap-image
	$(Q)$(HEAPMAP_STEP) "heapmap: boot $(BOARD) > $(HEAPMAP_LOG)" \
		$(MAKE) --no-print-directory BOARD=$(BOARD) heapmap-boot
	$(Q)$(HEAPMAP_STEP) "heapmap: draw $(HEAPMAP_DIR)/$(HEAPMAP_PREFIX)*.svg" \
		$(MAKE) --no-print-directory BOARD=$(BOARD) heapmap-render

# ---------------------------------------------------------------- debugger
# QEMU's serial output goes to build/<b>/debug-serial.log (gdb owns the
# terminal); QEMU stops when gdb exits.
DEBUG_IMAGE ?= heapmap
DEBUG_PORT ?= 1234
DEBUG_ELF := $(if $(filter kernel,$(DEBUG_IMAGE)),$(KERNEL_ELF),$(HEAPMAP_ELF))
DEBUG_BREAK := $(if $(filter kernel,$(DEBUG_IMAGE)),kernel_main,heapmap_breakpoint)
DEBUG_QEMU := $(QEMU) $(BOARD_QEMU) -display none -monitor none \
    -serial file:$(HEAPMAP_DIR)/debug-serial.log \
    -semihosting-config enable=on,target=native -gdb tcp::$(DEBUG_PORT) -S

debug: $(DEBUG_ELF) | deps-target deps-tools
	@echo "debug: QEMU waits on :$(DEBUG_PORT); serial output in $(HEAPMAP_DIR)/debug-serial.log"
	@echo "debug: breakpoint at $(DEBUG_BREAK); then 'continue', 'kheap', 'kheap check'"
	$(Q)$(DEBUG_QEMU) -kernel $(DEBUG_ELF) & qemu=$$!; \
		trap 'kill $$qemu 2>/dev/null' EXIT INT TERM; \
		$(GDB) -q -x tools/gdb/kheap.py -ex 'target remote :$(DEBUG_PORT)' \
			-ex 'break $(DEBUG_BREAK)' $(DEBUG_ELF); \
		kill $$qemu 2>/dev/null; wait $$qemu 2>/dev/null; true

# ---------------------------------------------------------------- tests
# tools/heapmap.py on a committed fixture, then the gdb command against the
# scenario under QEMU; the last line is "N passed, M failed".
deps-tools:
	$(Q)sh mk/deps.sh tools

# The scenario image links the board's kernel objects: build them through
# kernel-<b> first, as test-boards does, so a parallel make builds them once.
test-tools: kernel-$(BOARD) | deps-target deps-tools
	$(Q)$(MAKE) --no-print-directory BOARD=$(BOARD) heapmap-image
	@mkdir -p $(RESULTS)
	@echo "== tools: heapmap.py and the gdb kheap command ($(BOARD))"
	$(Q)PYTHON=$(PYTHON) GDB=$(GDB) sh tests/tools/run.sh $(HEAPMAP_ELF) \
		"$(QEMU) $(BOARD_QEMU)" $(BOARD_TIMEOUT) $(call SHOW_AND_LOG,tools)

TOOLS_TESTS := test-tools
