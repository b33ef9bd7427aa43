# The interrupt stress image (kernel/irq_stress.c) on every board: a timer
# interrupt and the main loop allocating on one kheap instance.  Included
# by the top-level Makefile after mk/target.mk, whose variables it reuses.
#
#   make test-irq                 every board's image under QEMU (irq.log)
#   make irq-kernel-<board>       build/<board>/irq/kernel-irq.elf + run.conf
#   make run-irq [BOARD=b]        boot one board's image, whole serial output
#
# The image is the test kernel's start-up, console, UART, semihosting and
# fault objects plus alloc/, with kernel/irq_stress.c in place of
# kernel/main.c and the timer the board names (BOARD_TIMER in its board.mk):
#   systick    SysTick, every M-profile core (kernel/timer_systick.c)
#   gtimer     the generic timer's virtual timer through a GICv2
#              (kernel/timer_gtimer.c, kernel/gic.c)
#   a9-ptimer  the Cortex-A9 MPCore private timer through its GIC
#              (kernel/timer_a9ptimer.c, kernel/gic.c)
#   none       no image: the run prints "# skip <board>: <why>" (the board's
#              BOARD_TIMER_NONE_WHY) and counts nothing, neither pass nor fail

IRQ_DIR := $(BUILD)/$(BOARD)/irq
IRQ_ELF := $(IRQ_DIR)/kernel-irq.elf
IRQ_SRC_systick := kernel/timer_systick.c
IRQ_SRC_gtimer := kernel/timer_gtimer.c kernel/gic.c
IRQ_SRC_a9-ptimer := kernel/timer_a9ptimer.c kernel/gic.c
# A-profile: the vector table with an IRQ entry (M-profile's is the
# kernel's own; AArch64's sends IRQs to a weak hook that gic.c fills).
IRQ_SRC_a := kernel/irq_vectors_a.S
ifeq ($(BOARD_TIMER),none)
IRQ_SKIP := $(BOARD_TIMER_NONE_WHY)
else ifeq ($(IRQ_SRC_$(BOARD_TIMER)),)
$(error boards/$(BOARD)/board.mk: unknown BOARD_TIMER '$(BOARD_TIMER)': systick, gtimer, a9-ptimer or none)
else
IRQ_SKIP :=
endif
IRQ_SRC := kernel/irq_stress.c $(IRQ_SRC_$(BOARD_TIMER)) $(IRQ_SRC_$(BOARD_ARCH)) \
           $(KERNEL_SRC) $(KERNEL_SRC_$(BOARD_ARCH)) $(ALLOC_SRC)
# Every object of the image builds under $(IRQ_DIR) with the test kernel's
# flags (KERNEL_CFLAGS from mk/target.mk): nothing shared with the test
# kernel's build, so the two can build side by side, and the image needs
# neither the suite nor a C library.  Its sub-make gets LIBC=none whatever
# the top level has.
IRQ_OBJ := $(call obj_of,$(IRQ_DIR),$(IRQ_SRC))

# QEMU counts instructions (-icount): time, and with it every timer, moves
# 2^shift ns per instruction instead of with the host clock, so each run
# interrupts the main loop at the same instructions whatever the host's
# load.  shift=0: 1 ns per instruction.
IRQ_QEMU_FLAGS := -icount shift=0
IRQ_TIMEOUT := 20
# Main-loop kheap calls; the interrupt's come on top.
IRQ_MAIN_OPS := 100000
# Timer period in timer counts (BOARD_TIMER_PERIOD): a tick about every
# 5000 instructions (5 us at 1 ns per instruction); each board.mk says
# what its timer counts.  The image measures it ("N ticks over M
# instructions of busy loop").
IRQ_TICK_PERIOD := $(or $(BOARD_TIMER_PERIOD),125)
# The interrupt controller and timer addresses the board gives.
IRQ_BOARD_DEFS := $(foreach v,BOARD_GICD_BASE BOARD_GICC_BASE BOARD_PTIMER_BASE,$(if $($(v)),-D$(v)=$($(v))u))

IRQ_CFLAGS := -DIRQ_MAIN_OPS=$(IRQ_MAIN_OPS)ul -DIRQ_TICK_PERIOD=$(IRQ_TICK_PERIOD)u $(IRQ_BOARD_DEFS)
# As in mk/target.mk: a flags file rewritten only when these change, so
# `make test-irq IRQ_MAIN_OPS=...` rebuilds what it must.
IRQ_FLAGS_FILE := $(IRQ_DIR)/flags
IRQ_FLAGS := $(IRQ_CFLAGS) $(IRQ_QEMU_FLAGS) $(IRQ_TIMEOUT)
ifeq ($(filter help list list-one clean,$(MAKECMDGOALS)),)
ifneq ($(IRQ_FLAGS),$(file <$(IRQ_FLAGS_FILE)))
$(shell mkdir -p $(dir $(IRQ_FLAGS_FILE)))
$(file >$(IRQ_FLAGS_FILE),$(IRQ_FLAGS))
endif
endif
IRQ_CONFIG := $(KERNEL_CONFIG) mk/irqtest.mk $(IRQ_FLAGS_FILE)

.PHONY: irq-image test-irq

$(IRQ_DIR)/obj/%.o: %.c $(IRQ_CONFIG) | deps-target
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) $(IRQ_CFLAGS) -MMD -MP -c $< -o $@
$(IRQ_DIR)/obj/%.o: %.S $(IRQ_CONFIG) | deps-target
	@mkdir -p $(@D)
	@echo "  AS      $@"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) -MMD -MP -c $< -o $@
# As in mk/target.mk: the compiler would turn string.c's loops back into
# memcpy/memset calls.
$(IRQ_DIR)/obj/kernel/string.o: KERNEL_CFLAGS += -fno-builtin -fno-tree-loop-distribute-patterns

$(IRQ_ELF): $(IRQ_OBJ) linker/kernel.ld
	@echo "  LD      $@"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) -Wl,-Map=$(IRQ_DIR)/kernel-irq.map \
		$(IRQ_OBJ) -lgcc -o $@

$(IRQ_DIR)/run.conf: $(IRQ_CONFIG)
	@mkdir -p $(@D)
	$(Q)printf '%s\n' "board='$(BOARD) (irq)'" \
		"skip='$(IRQ_SKIP)'" \
		"image='$(IRQ_ELF)'" \
		"qemu='$(QEMU) $(BOARD_QEMU) $(QEMU_COMMON) $(IRQ_QEMU_FLAGS)'" \
		"timeout='$(IRQ_TIMEOUT)'" > $@

-include $(IRQ_OBJ:.o=.d)

ifeq ($(IRQ_SKIP),)
irq-image: $(IRQ_ELF) $(IRQ_DIR)/run.conf
else
irq-image: $(IRQ_DIR)/run.conf
endif

irq-kernel-%: FORCE
	$(Q)$(MAKE) --no-print-directory $(SUBMAKE_J) BOARD=$* LIBC=none irq-image

test-irq: $(addprefix irq-kernel-,$(BOARDS)) | deps-target
	@echo "== interrupt stress: a timer interrupt and the main loop on one instance, every board"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/run_boards.sh $(foreach b,$(BOARDS),$(BUILD)/$(b)/irq/run.conf) $(call SHOW_AND_LOG,irq)

TARGET_TESTS += test-irq

# One board's image with its whole serial output (the runner shows it only
# when a board fails): make run-irq [BOARD=b]
.PHONY: run-irq
run-irq: | deps-target
ifneq ($(IRQ_SKIP),)
	@echo "# skip $(BOARD): $(IRQ_SKIP)"
else
	$(Q)$(MAKE) --no-print-directory BOARD=$(BOARD) LIBC=none irq-image
	$(Q)$(QEMU) $(BOARD_QEMU) $(QEMU_COMMON) $(IRQ_QEMU_FLAGS) -kernel $(IRQ_ELF)
endif
