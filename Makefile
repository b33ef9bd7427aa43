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
.PHONY: all test deps deps-host deps-target test-host test-freestanding test-core-alone clean

ALLOC_SRC := alloc/core.c alloc/pages.c alloc/diag.c alloc/region.c
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
HOST_CFLAGS := -std=c11 -g -O1 $(WARN) -D_DEFAULT_SOURCE -DKTEST_HOST=1
HOST_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_SRC := $(ALLOC_SRC) $(SUITE_SRC) tests/host_main.c tests/host_provider.c host/mmap_provider.c

$(HOST_DIR)/ktest-asan: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(HOST_CFLAGS) $(HOST_SAN) $(HOST_SRC) -o $@

$(HOST_DIR)/ktest-m32: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(HOST_CFLAGS) -m32 -O2 $(HOST_SRC) -o $@

# The Cortex-M geometry on the host: 4-byte words and 8-byte alignment
# (i386's max_align_t is 16), so layout bugs of the boards show without QEMU.
CM_GEOMETRY := -m32 -DKHEAP_ALIGN=8
$(HOST_DIR)/ktest-m32-cm: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ (Cortex-M geometry: $(CM_GEOMETRY))"
	$(Q)$(CC) $(HOST_CFLAGS) $(CM_GEOMETRY) -O2 $(HOST_SRC) -o $@

# Every stage of `make test` leaves its output in $(RESULTS); test-summary
# sums their "N passed, M failed" lines into the one line that ends the run.
RESULTS := $(BUILD)/results
# `make test` starts from an empty $(RESULTS): a log left by an earlier run
# would stand in for a stage that did not run this time.  Cleared while the
# Makefile is read, so before any stage (under -j, in any order) writes;
# not under -n, which only prints.
ifneq ($(filter test,$(MAKECMDGOALS)),)
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS))),)
$(shell rm -rf $(RESULTS))
endif
endif
SHOW_AND_LOG = 2>&1 | tee $(RESULTS)/$(1).log; exit $${PIPESTATUS[0]}
SHELL := /bin/bash

# The full misuse tier (KHEAP_HARDEN=1) changes the block format: the whole
# suite runs against it too, plus the cases only that tier can pass.
$(HOST_DIR)/ktest-full: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ (KHEAP_HARDEN=1)"
	$(Q)$(CC) $(HOST_CFLAGS) $(HOST_SAN) -DKHEAP_HARDEN=1 $(HOST_SRC) -o $@

$(HOST_DIR)/ktest-full-m32: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ (KHEAP_HARDEN=1, Cortex-M geometry: $(CM_GEOMETRY))"
	$(Q)$(CC) $(HOST_CFLAGS) $(CM_GEOMETRY) -O2 -DKHEAP_HARDEN=1 $(HOST_SRC) -o $@

# The lean profile (no misuse checks, no statistics kept, no lock hooks):
# the suite runs what applies to it, 64-bit under the sanitizers and in
# the Cortex-M geometry.
LEAN := -DKHEAP_PROFILE=KHEAP_PROFILE_LEAN
$(HOST_DIR)/ktest-lean: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ ($(LEAN))"
	$(Q)$(CC) $(HOST_CFLAGS) $(HOST_SAN) $(LEAN) $(HOST_SRC) -o $@

$(HOST_DIR)/ktest-lean-m32: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ ($(LEAN), Cortex-M geometry: $(CM_GEOMETRY))"
	$(Q)$(CC) $(HOST_CFLAGS) $(CM_GEOMETRY) -O2 $(LEAN) $(HOST_SRC) -o $@

# Call-site tracing (KHEAP_TRACE=1) adds two header words: the whole suite
# runs against that format too, in both tiers, plus the tracing cases.
$(HOST_DIR)/ktest-trace: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ (KHEAP_TRACE=1)"
	$(Q)$(CC) $(HOST_CFLAGS) $(HOST_SAN) -DKHEAP_TRACE=1 $(HOST_SRC) -o $@

$(HOST_DIR)/ktest-trace-full-m32: $(HOST_SRC) $(ALLOC_HDR) $(SUITE_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ (KHEAP_TRACE=1 KHEAP_HARDEN=1, Cortex-M geometry: $(CM_GEOMETRY))"
	$(Q)$(CC) $(HOST_CFLAGS) $(CM_GEOMETRY) -O2 -DKHEAP_TRACE=1 -DKHEAP_HARDEN=1 $(HOST_SRC) -o $@

test-host: $(HOST_DIR)/ktest-asan $(HOST_DIR)/ktest-m32 $(HOST_DIR)/ktest-m32-cm $(HOST_DIR)/ktest-full \
           $(HOST_DIR)/ktest-full-m32 $(HOST_DIR)/ktest-lean $(HOST_DIR)/ktest-lean-m32 \
           $(HOST_DIR)/ktest-trace $(HOST_DIR)/ktest-trace-full-m32
	@mkdir -p $(RESULTS)
	@echo "== host suite, 64-bit, ASan+UBSan"
	$(Q)$(HOST_DIR)/ktest-asan $(call SHOW_AND_LOG,host-asan)
	@echo "== host suite, 32-bit (-m32)"
	$(Q)sh tests/run32.sh $(HOST_DIR)/ktest-m32 $(call SHOW_AND_LOG,host-m32)
	@echo "== host suite, Cortex-M geometry ($(CM_GEOMETRY))"
	$(Q)sh tests/run32.sh $(HOST_DIR)/ktest-m32-cm $(call SHOW_AND_LOG,host-m32-cm)
	@echo "== host suite, full misuse tier (KHEAP_HARDEN=1), ASan+UBSan"
	$(Q)$(HOST_DIR)/ktest-full $(call SHOW_AND_LOG,host-full)
	@echo "== host suite, full misuse tier, Cortex-M geometry ($(CM_GEOMETRY))"
	$(Q)sh tests/run32.sh $(HOST_DIR)/ktest-full-m32 $(call SHOW_AND_LOG,host-full-m32)
	@echo "== host suite, lean profile, 64-bit, ASan+UBSan"
	$(Q)$(HOST_DIR)/ktest-lean $(call SHOW_AND_LOG,host-lean)
	@echo "== host suite, lean profile, Cortex-M geometry"
	$(Q)sh tests/run32.sh $(HOST_DIR)/ktest-lean-m32 $(call SHOW_AND_LOG,host-lean-m32)
	@echo "== host suite, call-site tracing (KHEAP_TRACE=1), ASan+UBSan"
	$(Q)$(HOST_DIR)/ktest-trace $(call SHOW_AND_LOG,host-trace)
	@echo "== host suite, tracing and the full tier (KHEAP_TRACE=1 KHEAP_HARDEN=1), Cortex-M geometry"
	$(Q)sh tests/run32.sh $(HOST_DIR)/ktest-trace-full-m32 $(call SHOW_AND_LOG,host-trace-full-m32)

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
	$(Q)arm-none-eabi-ld -r $(addprefix $(@D)/$*/,$(notdir $(ALLOC_SRC:.c=.o))) -o $@

# One case per object; an object nm cannot read, or one without
# kheap_alloc (nothing compiled into it), fails rather than passing with no
# undefined symbol.
test-freestanding: $(FS_DIR)/alloc-cortex-m0.o $(FS_DIR)/alloc-cortex-m3.o
	@mkdir -p $(RESULTS)
	@echo "== freestanding: undefined symbols may only be: $(FS_ALLOWED)"
	$(Q){ n=0; bad=0; for o in $^; do \
		n=$$((n + 1)); why=""; \
		if ! und=$$(arm-none-eabi-nm -u $$o); then why="nm failed"; \
		elif ! arm-none-eabi-nm --defined-only $$o | grep -q ' T kheap_alloc$$'; then \
			why="kheap_alloc not defined"; \
		else \
			und=$$(echo $$(printf '%s\n' "$$und" | awk '{print $$2}')); \
			extra=$$(printf '%s\n' $$und | grep -vxE '$(subst $() ,|,$(FS_ALLOWED))'); \
			[ -z "$$extra" ] || why="undefined: $$(echo $$extra)"; \
		fi; \
		if [ -z "$$why" ]; then echo "ok $$n - $$o: undefined: $$und"; \
		else bad=$$((bad + 1)); echo "not ok $$n - $$o: $$why"; fi; \
	done; echo "$$((n - bad)) passed, $$bad failed"; [ $$bad = 0 ]; } $(call SHOW_AND_LOG,freestanding)

# ---------------------------------------------------------------- core alone
# A Cortex-M3 program that uses only kheap_create_in (a fixed buffer) keeps
# nothing of pages.c or region.c after --gc-sections: the core stands alone.
test-core-alone: | deps-target
	@mkdir -p $(RESULTS)
	@echo "== core alone: a kheap_create_in program links no page layer"
	$(Q)sh tests/core_alone/check.sh $(BUILD) $(call SHOW_AND_LOG,core-alone)

# ---------------------------------------------------------------- fragments
# The test kernel, boards and QEMU runs (mk/target.mk), the host drop-in
# malloc (mk/host.mk), the fuzzer (mk/fuzz.mk), the newlib kernels
# (mk/newlib.mk, included by mk/target.mk), the interrupt stress (mk/irqtest.mk), the leak reports
# on target (mk/leaks.mk, whose traced objects the next one links), the heap pictures and debugger
# (mk/heapmap.mk), the benchmark (mk/bench.mk).  Each adds its
# checks to TARGET_TESTS, DROPIN_TESTS, FUZZ_TESTS or TOOLS_TESTS.
# `include`, not `-include`: a fragment that went missing must stop the
# build, not quietly take its stages out of `make test`.
include mk/target.mk
include mk/host.mk
include mk/fuzz.mk
include mk/irqtest.mk
include mk/leaks.mk
include mk/heapmap.mk
include mk/bench.mk

all: $(HOST_DIR)/ktest-asan

# tests/summary.sh also holds every stage to the number of cases
# tests/expected-counts states for it; `make test-counts` rewrites that
# file from the last run's logs, for a commit that adds or drops cases on
# purpose.
# Every stage runs even when one fails (make -k in a sub-make), so the run
# always ends with the summary line, which names each stage that failed or
# left no log (a stage whose build broke leaves none).
TEST_STAGES := test-host test-freestanding test-core-alone $(DROPIN_TESTS) $(FUZZ_TESTS) \
               $(TOOLS_TESTS) $(TARGET_TESTS) test-summary-selfcheck
.PHONY: test-stages
test-stages: $(TEST_STAGES)
test:
	$(Q)$(MAKE) --no-print-directory -k test-stages || true
	$(Q)sh tests/summary.sh $(RESULTS)

# The judge is tested too: summary.sh on fabricated logs must pass a good
# run and fail each kind of bad one, or a judge that passes everything
# would leave make test green.
test-summary-selfcheck:
	@mkdir -p $(RESULTS)
	@echo "== the judge: tests/summary.sh on fabricated result logs"
	$(Q)sh tests/summary_selftest.sh $(call SHOW_AND_LOG,summary-selfcheck)

.PHONY: test-summary test-counts test-summary-selfcheck
test-summary:
	$(Q)sh tests/summary.sh $(RESULTS)
test-counts:
	$(Q)sh tests/summary.sh -w $(RESULTS)

clean:
	rm -rf $(BUILD)
