# kheap: `make test` runs everything, `make run [BOARD=b]` boots a board.
# V=1 prints the full commands.  Output goes under build/.

BOARD ?= mps2-an385
BUILD ?= build
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

.DEFAULT_GOAL := all
.PHONY: all test deps deps-host deps-target test-host test-freestanding clean

ALLOC_SRC := alloc/heap.c alloc/diag.c alloc/region.c
ALLOC_HDR := $(wildcard alloc/*.h)
SUITE_SRC := tests/ktest.c tests/suite.c $(wildcard tests/test_*.c)
SUITE_HDR := $(wildcard tests/*.h)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wcast-align -Wundef

# ---------------------------------------------------------------- deps
# Each entry point checks its tools first; mk/deps.sh installs what is
# missing (one line says so) or names the packages and stops.
deps:
	$(Q)sh mk/deps.sh all
deps-host:
	$(Q)sh mk/deps.sh host
deps-target:
	$(Q)sh mk/deps.sh target

# ---------------------------------------------------------------- host suite
HOST_DIR := $(BUILD)/host
HOST_CFLAGS := -std=c11 -g -O1 $(WARN) -D_DEFAULT_SOURCE
HOST_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_SRC := $(ALLOC_SRC) $(SUITE_SRC) tests/host_main.c tests/host_provider.c

$(HOST_DIR)/ktest-asan: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(HOST_CFLAGS) $(HOST_SAN) $(HOST_SRC) -o $@

$(HOST_DIR)/ktest-m32: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(HOST_CFLAGS) -m32 -O2 $(HOST_SRC) -o $@

test-host: $(HOST_DIR)/ktest-asan $(HOST_DIR)/ktest-m32
	@echo "== host suite, 64-bit, ASan+UBSan"
	$(Q)$(HOST_DIR)/ktest-asan
	@echo "== host suite, 32-bit (-m32)"
	$(Q)$(HOST_DIR)/ktest-m32

# ---------------------------------------------------------------- freestanding
# alloc/ must build with no libc for the smallest and a mid-size core and
# leave nothing undefined but memcpy, memmove and memset.
FS_DIR := $(BUILD)/freestanding
FS_FLAGS := -std=c11 -Os -ffreestanding -nostdlib -mthumb $(WARN)
FS_ALLOWED := memcpy memmove memset

$(FS_DIR)/alloc-%.o: $(ALLOC_SRC) $(ALLOC_HDR) | deps-target
	@mkdir -p $(@D)/$*
	@echo "  CC      $@ (-mcpu=$*)"
	$(Q)for s in $(ALLOC_SRC); do \
		arm-none-eabi-gcc $(FS_FLAGS) -mcpu=$* -c $$s -o $(@D)/$*/$$(basename $$s .c).o || exit 1; \
	done
	$(Q)arm-none-eabi-ld -r $(@D)/$*/*.o -o $@

test-freestanding: $(FS_DIR)/alloc-cortex-m0.o $(FS_DIR)/alloc-cortex-m3.o
	@echo "== freestanding: undefined symbols may only be: $(FS_ALLOWED)"
	$(Q)for o in $^; do \
		bad=$$(arm-none-eabi-nm -u $$o | awk '{print $$2}' | grep -vxE '$(subst $() ,|,$(FS_ALLOWED))'); \
		if [ -n "$$bad" ]; then echo "$$o: undefined: $$bad"; exit 1; fi; \
		echo "ok $$o: undefined: $$(arm-none-eabi-nm -u $$o | awk '{print $$2}' | tr '\n' ' ')"; \
	done

# ---------------------------------------------------------------- boards
# The test kernel, boards and QEMU runs live in mk/target.mk.
-include mk/target.mk

all: $(HOST_DIR)/ktest-asan

test: test-host test-freestanding $(TARGET_TESTS)

clean:
	rm -rf $(BUILD)
