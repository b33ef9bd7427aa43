# Leak reports on target (call-site tracing, KHEAP_TRACE=1).  Included by
# the top-level Makefile after mk/target.mk, whose board variables, flags and
# object rules it reuses.
#
#   make leaks [BOARD=b]   build the leak scenario (tools/scenario/leaks_main.c),
#                          boot it, and print its report with every call site
#                          resolved to function (file:line) by the board's addr2line
#   make test-leaks        every board: tests/leaks/check.sh compares the
#                          resolved report with tests/leaks/expected
#                          (test-leaks-selfcheck: the judge on doctored logs)
#
# The image is the test kernel's start-up, console, UART, fault and
# semihosting objects (the board's, in build/<b>/obj/: TRACE_KERNEL_OBJ)
# plus alloc/ and the scenario compiled again with KHEAP_TRACE=1 into
# build/<b>-trace/obj/: the traced objects never mix with the board's
# untraced ones.  The heap-picture scenario (mk/heapmap.mk) links the same
# traced alloc/ objects, so its dumps carry sites too.

TRACE_DIR := $(BUILD)/$(or $(KERNEL_VARIANT),$(BOARD))-trace
TRACE_ALLOC_OBJ := $(call obj_of,$(TRACE_DIR),$(ALLOC_SRC))
TRACE_KERNEL_OBJ := $(call obj_of,$(BUILD)/$(or $(KERNEL_VARIANT),$(BOARD)),$(KERNEL_SRC) \
                      $(KERNEL_SRC_$(BOARD_ARCH)))
LEAKS_DIR := $(TRACE_DIR)
LEAKS_ELF := $(LEAKS_DIR)/leaks.elf
LEAKS_OBJ := $(call obj_of,$(TRACE_DIR),tools/scenario/leaks_main.c) $(TRACE_ALLOC_OBJ) $(TRACE_KERNEL_OBJ)
# The board's binutils: arm-none-eabi-addr2line, aarch64-linux-gnu-addr2line.
ADDR2LINE := $(patsubst %gcc,%addr2line,$(BOARD_CC))

.PHONY: leaks leaks-image test-leaks

$(TRACE_DIR)/obj/%.o: %.c $(KERNEL_CONFIG) | deps-target
	@mkdir -p $(@D)
	@echo "  CC      $@ (KHEAP_TRACE=1)"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) -DKHEAP_TRACE=1 -MMD -MP -c $< -o $@

-include $(patsubst %.o,%.d,$(wildcard $(TRACE_DIR)/obj/*/*.o $(TRACE_DIR)/obj/*/*/*.o))

$(LEAKS_ELF): $(LEAKS_OBJ) linker/kernel.ld
	@echo "  LD      $@"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) -Wl,-Map=$(LEAKS_DIR)/leaks.map \
		$(LEAKS_OBJ) -lgcc -o $@

# What tests/leaks/check.sh needs to boot and resolve this image.
$(LEAKS_DIR)/leaks.conf: $(KERNEL_CONFIG)
	@mkdir -p $(@D)
	$(Q)printf '%s\n' "board='$(BOARD)'" "image='$(LEAKS_ELF)'" \
		"qemu='$(QEMU) $(BOARD_QEMU) $(QEMU_COMMON)'" "timeout='$(BOARD_TIMEOUT)'" \
		"addr2line='$(ADDR2LINE)'" > $@

leaks-image: $(LEAKS_ELF) $(LEAKS_DIR)/leaks.conf

leaks: | deps-target
	$(Q)$(MAKE) --no-print-directory BOARD=$(BOARD) leaks-image
	$(Q)sh tests/leaks/check.sh -r $(LEAKS_DIR)/leaks.conf

# After kernels-all (test-boards' images share the kernel objects), one
# image per board, then every board booted and checked: 5 cases a board.
test-leaks: kernels-all | deps-target
	$(Q)for b in $(BOARDS); do \
		$(MAKE) --no-print-directory BOARD=$$b leaks-image || exit 1; done
	@mkdir -p $(RESULTS)
	@echo "== leaks: the traced scenario's report, resolved by addr2line, on every board"
	$(Q)sh tests/leaks/check.sh $(foreach b,$(BOARDS),$(BUILD)/$(b)-trace/leaks.conf) \
		$(call SHOW_AND_LOG,leaks)

# The judge judged (tests/leaks/selfcheck.sh): check.sh passes the default
# board's real log and fails a wrong count, an extra site and a scenario
# that did not finish.  After test-leaks, whose images it boots.
.PHONY: test-leaks-selfcheck
test-leaks-selfcheck: test-leaks
	@mkdir -p $(RESULTS)
	@echo "== leaks judge: tests/leaks/check.sh on a real and three doctored logs"
	$(Q)sh tests/leaks/selfcheck.sh $(BUILD)/$(BOARD)-trace/leaks.conf $(call SHOW_AND_LOG,leaks-selfcheck)

TARGET_TESTS += test-leaks test-leaks-selfcheck
