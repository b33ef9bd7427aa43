# The newlib kernels: the test kernel linked with newlib (LIBC=newlib) or
# newlib-nano (LIBC=nano, --specs=nano.specs), kheap behind their malloc.
#
#   make run LIBC=newlib [BOARD=b]   build/<b>-newlib/kernel.elf, booted
#   make run LIBC=nano [BOARD=b]     build/<b>-nano/kernel.elf
#   make test-newlib test-nano       every board they fit, under QEMU
#   make test-newlib-map             no newlib allocator object in any map
#
# mk/target.mk includes this file early (its KERNEL_LIBC_* settings shape
# the kernel build); the top-level Makefile's include of it is then a
# no-op.  Sources: alloc/libc/newlib_glue.c (the glue), kernel/syscalls.c
# (system calls, kheap set-up), tests/suite_newlib.c (the suite plus
# tests/newlib/test_newlib.c).  kernel/string.c and tests/suite.c stay out:
# newlib has memcpy and friends, and the suite list gains a group.
ifndef KHEAP_NEWLIB_MK
KHEAP_NEWLIB_MK := 1

KERNEL_LIBCS := newlib nano

ifneq ($(filter $(LIBC),$(KERNEL_LIBCS)),)
KERNEL_LIBC_SRC := alloc/libc/newlib_glue.c kernel/syscalls.c \
                   tests/suite_newlib.c tests/newlib/test_newlib.c
KERNEL_LIBC_OMIT := kernel/string.c tests/suite.c
# Hosted: newlib's headers and builtins.  nano.specs also picks nano's
# newlib.h, so it goes on every compile, not only the link.
KERNEL_LIBC_CFLAGS := $(if $(filter nano,$(LIBC)),--specs=nano.specs)
# nano leaves %f out of printf unless asked.
KERNEL_LIBC_LDFLAGS := $(if $(filter nano,$(LIBC)),-u _printf_float)
# The kernel links -nostdlib: the C library by name, after every object of
# ours, so the glue's malloc family is defined before libc.a is searched.
KERNEL_LIBC_LIBS := -Wl,--start-group $(if $(filter nano,$(LIBC)),-lc_nano,-lc) -lgcc -Wl,--end-group

endif

# A board without a newlib for its CPU says why (BOARD_NEWLIB_NONE_WHY in
# its board.mk): its newlib and nano "kernels" are a run.conf that makes
# tests/run_boards.sh print "# skip <board>: <why>", and the map check
# skips it the same way.
ifneq ($(filter $(LIBC),$(KERNEL_LIBCS)),)
ifneq ($(BOARD_NEWLIB_NONE_WHY),)
KERNEL_SKIP := $(BOARD_NEWLIB_NONE_WHY)
endif
endif

.PHONY: test-newlib test-nano test-newlib-map

# One sub-make per board and C library: kernel-lib-<libc>@<board>.
kernel-lib-%: FORCE
	$(Q)$(MAKE) --no-print-directory $(SUBMAKE_J) LIBC=$(firstword $(subst @, ,$*)) \
		BOARD=$(word 2,$(subst @, ,$*)) kernel

newlib-kernels-%: FORCE
	$(Q)$(MAKE) --no-print-directory $(foreach b,$(BOARDS),kernel-lib-$*@$(b))

test-newlib test-nano: test-%: newlib-kernels-% | deps-target
	@echo "== target suite with $* and kheap behind malloc: every board that has it"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/run_boards.sh $(foreach b,$(BOARDS),$(BUILD)/$(b)-$*/run.conf) \
		$(call SHOW_AND_LOG,boards-$*)

# The map of every newlib kernel must show the glue defining the malloc
# family and no allocator object taken from libc.a / libc_nano.a; a control
# program linked with newlib's own malloc must fail the same check.
NEWLIB_CONTROL_MAP := $(BUILD)/newlib-control/control.map
$(NEWLIB_CONTROL_MAP): tests/newlib/map_control.c | deps-target
	@mkdir -p $(@D)
	@echo "  LD      $(@D)/control.elf (newlib's own malloc)"
	$(Q)$(TARGET_CC) -mcpu=cortex-m3 -mthumb -O2 -ffunction-sections --specs=nosys.specs $< \
		-Wl,-Map=$@ -o $(@D)/control.elf 2>/dev/null

test-newlib-map: newlib-kernels-newlib newlib-kernels-nano $(NEWLIB_CONTROL_MAP)
	@echo "== newlib link check: malloc family from kheap's glue, none of newlib's allocator"
	@mkdir -p $(RESULTS)
	$(Q){ maps=; for conf in $(foreach l,$(KERNEL_LIBCS),$(foreach b,$(BOARDS),$(BUILD)/$(b)-$(l)/run.conf)); do \
		skip=; board=; . ./$$conf; \
		if [ -n "$$skip" ]; then echo "# skip $$board: $$skip"; else maps="$$maps $${conf%run.conf}kernel.map"; fi; \
	done; sh tests/newlib/map_check.sh -n $(NEWLIB_CONTROL_MAP) $$maps; } \
		$(call SHOW_AND_LOG,newlib-map)

TARGET_TESTS += test-newlib test-nano test-newlib-map

endif
