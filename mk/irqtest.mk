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
# kernel/main.c and the profile's timer: SysTick on M-profile, the generic
# timer through the GICv2 on virt.

IRQ_DIR := $(BUILD)/$(BOARD)/irq
IRQ_ELF := $(IRQ_DIR)/kernel-irq.elf
IRQ_SRC_m := kernel/timer_systick.c
IRQ_SRC_a := kernel/timer_generic.c kernel/irq_vectors_a.S
IRQ_SRC := kernel/irq_stress.c $(IRQ_SRC_$(BOARD_ARCH)) \
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
# Timer period in timer counts: a tick every 5000 instructions (5 us at
# 1 ns per instruction).  SysTick counts the CPU clock, which QEMU runs at
# 25 MHz on mps2-an385/386/500 (mps2.c SYSCLK_FRQ), 20 MHz on mps2-an505
# (mps2-tz.c), 16 MHz on microbit (nrf51_soc.c) and 12.5 MHz on
# lm3s6965evb (stellaris.c: 200 MHz / 16 for the reset RCC); the generic
# timer counts at CNTFRQ, 62.5 MHz on virt (16 ns, GTIMER_SCALE).  The
# image measures it ("N ticks over M instructions of busy loop").
IRQ_TICK_PERIOD_mps2-an385  := 125
IRQ_TICK_PERIOD_mps2-an386  := 125
IRQ_TICK_PERIOD_mps2-an500  := 125
IRQ_TICK_PERIOD_mps2-an505  := 100
IRQ_TICK_PERIOD_microbit    := 80
IRQ_TICK_PERIOD_lm3s6965evb := 62
IRQ_TICK_PERIOD_virt        := 312
IRQ_TICK_PERIOD := $(or $(IRQ_TICK_PERIOD_$(BOARD)),125)

IRQ_CFLAGS := -DIRQ_MAIN_OPS=$(IRQ_MAIN_OPS)ul -DIRQ_TICK_PERIOD=$(IRQ_TICK_PERIOD)u
# As in mk/target.mk: a flags file rewritten only when these change, so
# `make test-irq IRQ_MAIN_OPS=...` rebuilds what it must.
IRQ_FLAGS_FILE := $(IRQ_DIR)/flags
IRQ_FLAGS := $(IRQ_CFLAGS) $(IRQ_QEMU_FLAGS) $(IRQ_TIMEOUT)
ifeq ($(filter list list-one clean,$(MAKECMDGOALS)),)
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

$(IRQ_ELF): $(IRQ_OBJ) linker/kernel.ld linker/$(BOARD)/memory.ld
	@echo "  LD      $@"
	$(Q)$(TARGET_CC) $(KERNEL_CFLAGS) $(KERNEL_LDFLAGS) -Wl,-Map=$(IRQ_DIR)/kernel-irq.map \
		$(IRQ_OBJ) -lgcc -o $@

$(IRQ_DIR)/run.conf: $(IRQ_CONFIG)
	@mkdir -p $(@D)
	$(Q)printf '%s\n' "board='$(BOARD) (irq)'" \
		"image='$(IRQ_ELF)'" \
		"qemu='$(QEMU) $(BOARD_QEMU) $(QEMU_COMMON) $(IRQ_QEMU_FLAGS)'" \
		"timeout='$(IRQ_TIMEOUT)'" > $@

-include $(IRQ_OBJ:.o=.d)

irq-image: $(IRQ_ELF) $(IRQ_DIR)/run.conf

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
	$(Q)$(MAKE) --no-print-directory BOARD=$(BOARD) LIBC=none irq-image
	$(Q)$(QEMU) $(BOARD_QEMU) $(QEMU_COMMON) $(IRQ_QEMU_FLAGS) -kernel $(IRQ_ELF)
