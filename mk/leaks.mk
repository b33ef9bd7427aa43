# Leak reports on target (call-site tracing, KHEAP_TRACE=1).  Included by
# the top-level Makefile after mk/target.mk, whose board variables, flags and
# object rules it reuses.
#
#   make leaks [BOARD=b]   build the leak scenario (tools/scenario/leaks_main.c),
#                          boot it, and print its report with every call site
#                          resolved to function (file:line) by the board's addr2line
#   make test-leaks        every board: tests/leaks/check.sh compares the
#                          resolved report with tests/leaks/expected
#
# The image is the test kernel's start-up, console, UART, fault and
# semihosting objects (the board's, in build/<b>/obj/) plus alloc/ and the
# scenario compiled again with KHEAP_TRACE=1 into build/<b>-leaks/obj/: the
# traced objects never mix with the board's untraced ones.

LEAKS_DIR := $(BUILD)/$(or $(KERNEL_VARIANT),$(BOARD))-leaks
LEAKS_ELF := $(LEAKS_DIR)/leaks.elf
LEAKS_LOG := $(LEAKS_DIR)/leaks.log
LEAKS_TRACED_SRC := tools/scenario/leaks_main.c $(ALLOC_SRC)
LEAKS_OBJ := $(call obj_of,$(LEAKS_DIR),$(LEAKS_TRACED_SRC)) \
             $(call obj_of,$(BUILD)/$(or $(KERNEL_VARIANT),$(BOARD)),$(KERNEL_SRC) $(KERNEL_SRC_$(BOARD_ARCH)))
# The board's binutils: arm-none-eabi-addr2line, aarch64-linux-gnu-addr2line.
ADDR2LINE := $(patsubst %gcc,%addr2line,$(BOARD_CC))

.PHONY: leaks leaks-image test-leaks

$(LEAKS_DIR)/obj/%.o: %.c $(KERNEL_CONFIG) | deps-target
	@mkdir -p $(@D)
	@echo "  CC      $@ (KHEAP_TRACE=1)"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) -DKHEAP_TRACE=1 -MMD -MP -c $< -o $@

-include $(patsubst %.o,%.d,$(call obj_of,$(LEAKS_DIR),$(LEAKS_TRACED_SRC)))

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
	$(Q)$(MAKE) --no-print-directory BOARD=$(BOARD) kernel-objs-for-leaks
	$(Q)$(MAKE) --no-print-directory BOARD=$(BOARD) leaks-image
	$(Q)sh tests/leaks/check.sh -r $(LEAKS_DIR)/leaks.conf

# The board's shared kernel objects, without linking its test kernel.
.PHONY: kernel-objs-for-leaks
kernel-objs-for-leaks: $(call obj_of,$(BUILD)/$(or $(KERNEL_VARIANT),$(BOARD)),$(KERNEL_SRC) $(KERNEL_SRC_$(BOARD_ARCH)))

# After kernels-all (test-boards' images share the kernel objects), one
# image per board, then every board booted and checked: 5 cases a board.
test-leaks: kernels-all | deps-target
	$(Q)for b in $(BOARDS); do \
		$(MAKE) --no-print-directory BOARD=$$b leaks-image || exit 1; done
	@mkdir -p $(RESULTS)
	@echo "== leaks: the traced scenario's report, resolved by addr2line, on every board"
	$(Q)sh tests/leaks/check.sh $(foreach b,$(BOARDS),$(BUILD)/$(b)-leaks/leaks.conf) \
		$(call SHOW_AND_LOG,leaks)

TARGET_TESTS += test-leaks
