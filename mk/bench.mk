# The benchmark.  Included by the top-level Makefile.
#
#   make bench [BOARD=b]   one image per allocator (kheap, newlib, newlib-nano,
#                          picolibc: deps-bench installs it when missing),
#                          every trace under qemu -icount shift=10;
#                          build/bench/results.csv and a table on the console
#   make bench-images      just build the images (picolibc's when installed)
#   make size              a table of -Os code+rodata, Cortex-M3 and M0 (the
#                          long lines per input file in build/size.txt):
#                          kheap's malloc family, its set-up, diag, and
#                          the libcs' malloc family (bench/size.sh);
#                          per-function sizes in build/size/<cpu>/
#   make bench-host        the traces on x86-64 under callgrind, kheap vs glibc
#
# Benchmarks are not tests: nothing here is part of `make test`.

.PHONY: bench bench-images bench-measure size bench-host deps-bench deps-bench-host

# make bench and make bench-host check their tools first, like every entry
# point, with mk/deps.sh's bench mode (picolibc-arm-none-eabi, valgrind) on
# top of the mode they build with, so one line says what gets installed.
# make test and CI never ask for the bench mode.
deps-bench:
	$(Q)sh mk/deps.sh target bench
deps-bench-host:
	$(Q)sh mk/deps.sh host bench

BENCH_BOARDS := mps2-an385 mps2-an386 mps2-an500
BENCH_DIR := $(BUILD)/bench
BENCH_BDIR := $(BENCH_DIR)/$(BOARD)
BENCH_TRACES := mixed small frag holes aligned mixed-16k mixed-4m mixed.4m small.4m aligned.4m

# Shared by every image: start-up, console, UART, fault report, semihosting
# exit (not kernel/main.c: bench_main.c is the kernel_main), the region shim
# (the arena for everyone) and the bench itself.
BENCH_COMMON_SRC := kernel/console.c kernel/crt.c kernel/semihost.c kernel/fault.c \
    kernel/uart_$(BOARD_UART).c kernel/cortex_m.c alloc/region.c \
    bench/bench_main.c bench/empty.c
# Not kernel/string.c: the kheap images take memcpy/memset/memmove from the
# libc.a the newlib image links (see BENCH_LD_kheap), so a realloc that
# moves costs every allocator the same copy.
BENCH_KHEAP_SRC := bench/adapt_kheap.c alloc/core.c alloc/pages.c alloc/diag.c
BENCH_LIBC_SRC := bench/adapt_libc.c bench/syscalls.c
BENCH_HDR := $(wildcard bench/*.h alloc/*.h kernel/*.h)

BENCH_CFLAGS := $(filter-out -nostdlib,$(KERNEL_CFLAGS)) -std=gnu11 \
    -DBENCH_TIMER_BASE=0x40000000u
BENCH_LDFLAGS := -T linker/kernel.ld $(BOARD_LDFLAGS) \
    -Wl,--defsym=__page_size=$(BOARD_PAGE_SIZE) \
    -Wl,--defsym=__stack_size=$(BOARD_STACK_SIZE) \
    -Wl,--defsym=__exc_stack_size=0 -Wl,--gc-sections

PICOLIBC_SPECS := /usr/lib/picolibc/arm-none-eabi/picolibc.specs
# A row per profile: kheap-lean (no checks, statistics or lock hooks),
# kheap (the default) and kheap-full (the full misuse tier, KHEAP_HARDEN=1);
# kheap-trace is the default with call-site tracing (KHEAP_TRACE=1).
# kheap-bycall: the default with trim_by_call (no free gives pages back).
BENCH_ALLOCS := kheap-lean kheap kheap-full kheap-trace kheap-bycall newlib nano \
                $(if $(wildcard $(PICOLIBC_SPECS)),picolibc)

# Per allocator: extra compile flags (the libc's headers) and link flags.
BENCH_CC_kheap :=
BENCH_CC_kheap-full := -DKHEAP_HARDEN=1
BENCH_CC_kheap-lean := -DKHEAP_PROFILE=KHEAP_PROFILE_LEAN
BENCH_CC_kheap-trace := -DKHEAP_TRACE=1
BENCH_CC_kheap-bycall := -DBENCH_TRIM_BY_CALL=1
BENCH_CC_newlib := -DBENCH_LIBC_NAME='"newlib"'
BENCH_CC_nano := -DBENCH_LIBC_NAME='"nano"' --specs=nano.specs
BENCH_CC_picolibc := -DBENCH_LIBC_NAME='"picolibc"' --specs=$(PICOLIBC_SPECS)

# What each image links after its objects.  newlib and nano: their libc.a
# and libgcc (their malloc, and mem* from the same archive: newlib's realloc
# moves with memmove, nano's with memcpy).  kheap and kheap-full: compiled
# -ffreestanding (no libc headers) and linked -nostdlib, then newlib's
# libc.a (the multilib the newlib image gets) and libgcc in a group after
# the objects.  An archive only answers what is still undefined, and kheap
# leaves only memcpy, memset and memmove: so kheap copies with newlib's
# optimized routines like newlib does, not kernel/string.c's word loops,
# and no other libc member gets in (bench_libc_only_mem checks each kheap
# map).  picolibc: its own libc.a, mem* included.
BENCH_LIBC_GROUP := -Wl,--start-group -lc -lgcc -Wl,--end-group
BENCH_LD_kheap := -nostdlib $(BENCH_LIBC_GROUP)
BENCH_LD_kheap-full := $(BENCH_LD_kheap)
BENCH_LD_kheap-lean := $(BENCH_LD_kheap)
BENCH_LD_kheap-trace := $(BENCH_LD_kheap)
BENCH_LD_kheap-bycall := $(BENCH_LD_kheap)
BENCH_LD_newlib := -nostartfiles $(BENCH_LIBC_GROUP)
BENCH_LD_nano := --specs=nano.specs $(BENCH_LD_newlib)
BENCH_LD_picolibc := --specs=$(PICOLIBC_SPECS) -nostartfiles

# The libc members a kheap image may hold: newlib's mem* and nothing else
# (no malloc, _sbrk, reent or errno).  Run on the map after the link.
BENCH_LIBC_ALLOWED := lib_a-mem(cpy|set|move)\.o
define bench_libc_only_mem
	$(Q)bad=$$$$(sed -n '1,/^Discarded input sections/p' $(1) | grep -oE 'libc(_nano)?\.a\([^)]*\)' | \
		sort -u | grep -vE '\($(BENCH_LIBC_ALLOWED)\)$$$$'); \
	if [ -n "$$$$bad" ]; then echo "bench: $(1): kheap image pulls libc members besides mem*:" $$$$bad; rm -f $$@; exit 1; fi
endef

bench_objs = $(addprefix $(BENCH_BDIR)/$(1)/,$(addsuffix .o,$(basename $(2))))
BENCH_SRC_kheap := $(BENCH_COMMON_SRC) $(BENCH_KHEAP_SRC)
BENCH_SRC_kheap-full := $(BENCH_SRC_kheap)
BENCH_SRC_kheap-lean := $(BENCH_SRC_kheap)
BENCH_SRC_kheap-trace := $(BENCH_SRC_kheap)
BENCH_SRC_kheap-bycall := $(BENCH_SRC_kheap)
BENCH_SRC_newlib := $(BENCH_COMMON_SRC) $(BENCH_LIBC_SRC)
BENCH_SRC_nano := $(BENCH_SRC_newlib)
BENCH_SRC_picolibc := $(BENCH_SRC_newlib)
BENCH_ELFS := $(foreach a,$(BENCH_ALLOCS),$(BENCH_BDIR)/$(a).elf)

define bench_image
$(BENCH_BDIR)/$(1)/%.o: %.c $(BENCH_HDR) mk/bench.mk $(KERNEL_CONFIG) | deps-target
	@mkdir -p $$(@D)
	@echo "  CC      $$@"
	$(Q)$(TARGET_CC) $(BENCH_CFLAGS) $(BENCH_CC_$(1)) -c $$< -o $$@

$(BENCH_BDIR)/$(1).elf: $(call bench_objs,$(1),$(BENCH_SRC_$(1))) linker/kernel.ld
	@echo "  LD      $$@"
	$(Q)$(TARGET_CC) $(BENCH_CFLAGS) $(BENCH_LDFLAGS) -Wl,-Map=$(BENCH_BDIR)/$(1).map \
		$(call bench_objs,$(1),$(BENCH_SRC_$(1))) $(BENCH_LD_$(1)) -o $$@
$(if $(filter kheap%,$(1)),$(call bench_libc_only_mem,$(BENCH_BDIR)/$(1).map))
endef
$(foreach a,$(BENCH_ALLOCS),$(eval $(call bench_image,$(a))))

bench-images: $(BENCH_ELFS)

# BENCH_ALLOCS looked for picolibc when this make started, which may be
# before deps-bench installed it: a fresh make builds and measures.
bench: | deps-bench
	$(Q)$(if $(filter $(BOARD),$(BENCH_BOARDS)),,echo "bench: BOARD=$(BOARD) has no 25 MHz CMSDK timer at 0x40000000; boards that do: $(BENCH_BOARDS)"; exit 1;)
	$(Q)$(MAKE) --no-print-directory bench-measure

bench-measure: bench-images | deps-target
	$(Q)sh bench/run.sh "$(BOARD)" "$(QEMU) $(BOARD_QEMU) -nographic -icount shift=10" \
		"$(BENCH_DIR)" "$(BENCH_TRACES)" $(foreach a,$(BENCH_ALLOCS),$(a)=$(BENCH_BDIR)/$(a).elf)

# ---------------------------------------------------------------- size
# The long lines (per input file) go to build/size.txt; the console gets
# one row per allocator and part, one column per CPU.
size: | deps-target
	$(Q)sh bench/size.sh $(BUILD) $(wildcard $(PICOLIBC_SPECS)) > $(BUILD)/size.log 2>&1 || \
		{ cat $(BUILD)/size.log; exit 1; }
	$(Q)awk 'function part(p) { \
			sub(/\(/, " (", p); gsub(/,/, ", ", p); \
			sub(/^malloc-family$$/, "malloc family", p); \
			sub(/^everything-incl-set-up$$/, "everything (set-up included)", p); return p } \
		/^#/ || NF < 4 { next } \
		{ k = $$2 SUBSEP part($$3); if (!(k in seen)) { seen[k] = 1; rows[++n] = k } \
		  if (!($$1 in cpus)) { cpus[$$1] = 1; cpu[++m] = $$1 } v[k, $$1] = $$4 } \
		END { printf "make size: .text+.rodata bytes after --gc-sections, -Os (per input file: $(BUILD)/size.txt)\n\n"; \
		  printf "%-11s %-52s", "allocator", "part"; for (j = 1; j <= m; j++) printf " %10s", cpu[j]; printf "\n"; \
		  for (i = 1; i <= n; i++) { split(rows[i], r, SUBSEP); printf "%-11s %-52s", r[1], r[2]; \
		    for (j = 1; j <= m; j++) printf " %10s", v[rows[i], cpu[j]]; printf "\n" } \
		  f = v["kheap" SUBSEP "malloc family", "cortex-m3"]; c = v["kheap" SUBSEP "core-alone", "cortex-m3"]; \
		  l = v["kheap-lean" SUBSEP "malloc family", "cortex-m3"]; \
		  printf "\nagainst the bar (cortex-m3): malloc family %d <= 2500 %s, core alone %d <= 1536 %s, lean family %d <= 1536 %s\n", \
		    f, f <= 2500 ? "ok" : "MISS", c, c <= 1536 ? "ok" : "MISS", l, l <= 1536 ? "ok" : "MISS" }' $(BUILD)/size.txt

# ---------------------------------------------------------------- host bench
BENCH_HOST_BIN := $(BENCH_DIR)/host-bench
$(BENCH_HOST_BIN): bench/host_bench.c bench/traces.h $(ALLOC_SRC) $(ALLOC_HDR) | deps-bench-host
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 -O2 -g $(WARN) -Wno-missing-prototypes bench/host_bench.c $(ALLOC_SRC) -o $@

# The same bench built with the lean profile: its kheap is kheap-lean.
$(BENCH_HOST_BIN)-lean: bench/host_bench.c bench/traces.h $(ALLOC_SRC) $(ALLOC_HDR) | deps-bench-host
	@mkdir -p $(@D)
	@echo "  CC      $@ (KHEAP_PROFILE_LEAN)"
	$(Q)$(CC) -std=gnu11 -O2 -g $(WARN) -Wno-missing-prototypes -DKHEAP_PROFILE=KHEAP_PROFILE_LEAN \
		bench/host_bench.c $(ALLOC_SRC) -o $@

bench-host: $(BENCH_HOST_BIN) $(BENCH_HOST_BIN)-lean
	$(Q)sh bench/host_run.sh $(BENCH_HOST_BIN) $(BENCH_DIR) "$(BENCH_TRACES)" $(BENCH_HOST_BIN)-lean
