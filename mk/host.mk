# The host drop-in malloc.  Included by the top-level Makefile.
#
#   make host          build/host/libkheap.so and build/host/libkheap.a, and
#                      build/host/libkheap-trace.so (KHEAP_TRACE=1: call
#                      sites, KHEAP_LEAKS=1's report at exit)
#   make test-dropin   unmodified programs under LD_PRELOAD, a thread and
#                      fork stress, the errno contracts, misuse detection
#
# The library exports only the malloc family (-fvisibility=hidden, the glue
# marks its exports); alloc/ goes in unchanged.

.PHONY: host test-dropin deps-dropin

DROPIN_DIR := $(HOST_DIR)
DROPIN_OBJ_DIR := $(DROPIN_DIR)/dropin-obj
DROPIN_SRC := $(ALLOC_SRC) host/malloc_glue.c host/mmap_provider.c
DROPIN_HDR := $(ALLOC_HDR) $(wildcard host/*.h)
DROPIN_OBJ := $(addprefix $(DROPIN_OBJ_DIR)/,$(addsuffix .o,$(basename $(DROPIN_SRC))))
# -fno-builtin: the compiler must not treat our own malloc and free as the
# library's (and, say, fold a malloc + memset into a call to calloc).
DROPIN_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -O2 -g $(WARN) -fvisibility=hidden \
                 -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
                 -fno-builtin-free -pthread
DROPIN_SO := $(DROPIN_DIR)/libkheap.so
DROPIN_A := $(DROPIN_DIR)/libkheap.a
DROPIN_EXPORTS := malloc free calloc realloc reallocarray aligned_alloc posix_memalign \
                  memalign valloc pvalloc malloc_usable_size

# Test programs: dropin-threads and dropin-api are built against the static
# archive, so they also prove that linking libkheap.a replaces malloc;
# dropin-threads-preload and dropin-misuse are plain and run under the
# preload.
DROPIN_TEST_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -fno-builtin -pthread
DROPIN_TEST_BINS := $(DROPIN_DIR)/dropin-threads $(DROPIN_DIR)/dropin-threads-preload \
                    $(DROPIN_DIR)/dropin-api $(DROPIN_DIR)/dropin-misuse $(DROPIN_DIR)/dropin-leaks

# The traced drop-in is a library of its own rather than the default: two
# more header words are 16 bytes on every block (a 24-byte request takes a
# 48-byte block instead of 32), a cost a program preloaded only to run on
# kheap should not pay; a leak hunt preloads libkheap-trace.so instead.
DROPIN_TRACE_OBJ_DIR := $(DROPIN_DIR)/dropin-trace-obj
DROPIN_TRACE_OBJ := $(addprefix $(DROPIN_TRACE_OBJ_DIR)/,$(addsuffix .o,$(basename $(DROPIN_SRC))))
DROPIN_TRACE_SO := $(DROPIN_DIR)/libkheap-trace.so

host: $(DROPIN_SO) $(DROPIN_A) $(DROPIN_TRACE_SO)

$(DROPIN_TRACE_OBJ_DIR)/%.o: %.c $(DROPIN_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ (KHEAP_TRACE=1)"
	$(Q)$(CC) $(DROPIN_CFLAGS) -DKHEAP_TRACE=1 -c $< -o $@

$(DROPIN_OBJ_DIR)/%.o: %.c $(DROPIN_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(DROPIN_CFLAGS) -c $< -o $@

$(DROPIN_SO): $(DROPIN_OBJ)
$(DROPIN_TRACE_SO): $(DROPIN_TRACE_OBJ)
$(DROPIN_SO) $(DROPIN_TRACE_SO):
	@echo "  LD      $@"
	$(Q)$(CC) -shared -pthread -Wl,-z,defs -Wl,-soname,$(@F) $^ -o $@
	$(Q)missing=""; for s in $(DROPIN_EXPORTS); do \
		nm -D --defined-only $@ | awk '{print $$3}' | grep -qx "$$s" || missing="$$missing $$s"; \
	done; \
	if [ -n "$$missing" ]; then echo "$@: not exported:$$missing"; rm -f $@; exit 1; fi

$(DROPIN_A): $(DROPIN_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(DROPIN_DIR)/dropin-threads: tests/dropin/threads.c $(DROPIN_A) host/kheap_dropin.h
	@echo "  CC      $@"
	$(Q)$(CC) $(DROPIN_TEST_CFLAGS) -DDROPIN_STATIC=1 $< $(DROPIN_A) -o $@

$(DROPIN_DIR)/dropin-threads-preload: tests/dropin/threads.c host/kheap_dropin.h
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(DROPIN_TEST_CFLAGS) $< -o $@

$(DROPIN_DIR)/dropin-api: tests/dropin/api.c $(DROPIN_A) host/kheap_dropin.h
	@echo "  CC      $@"
	$(Q)$(CC) $(DROPIN_TEST_CFLAGS) $< $(DROPIN_A) -o $@

$(DROPIN_DIR)/dropin-misuse: tests/dropin/misuse.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(DROPIN_TEST_CFLAGS) $< -o $@

# -rdynamic: the report names the program's functions through dladdr.
$(DROPIN_DIR)/dropin-leaks: tests/dropin/leaks.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(DROPIN_TEST_CFLAGS) -Wno-missing-prototypes -rdynamic $< -o $@

# The programs it runs (python3, sqlite3) are installed, not skipped.
deps-dropin:
	$(Q)sh mk/deps.sh dropin

test-dropin: $(DROPIN_SO) $(DROPIN_A) $(DROPIN_TRACE_SO) $(DROPIN_TEST_BINS) | deps-dropin
	@echo "== host drop-in: LD_PRELOAD=$(DROPIN_SO)"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/dropin/run.sh $(DROPIN_DIR) $(call SHOW_AND_LOG,dropin)

DROPIN_TESTS := test-dropin

# The same threads test under ThreadSanitizer (fewer iterations: TSan runs
# it about ten times slower).
.PHONY: test-dropin-tsan
test-dropin-tsan: | deps-host
	@echo "== host drop-in: 8 threads under ThreadSanitizer"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/dropin/tsan.sh $(DROPIN_DIR)/tsan 4000 $(call SHOW_AND_LOG,dropin-tsan)
DROPIN_TESTS += test-dropin-tsan


# Misuse reports under threads (tests/threads/reports.c), built with
# ThreadSanitizer: every misuse call must get exactly its own report.
.PHONY: test-reports-tsan
REPORTS_TSAN := $(HOST_DIR)/reports-tsan
$(REPORTS_TSAN): tests/threads/reports.c $(ALLOC_SRC) $(ALLOC_HDR) host/mmap_provider.c host/mmap_provider.h | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@ (ThreadSanitizer)"
	$(Q)$(CC) -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -fsanitize=thread \
		$(ALLOC_SRC) host/mmap_provider.c tests/threads/reports.c -o $@ -lpthread
test-reports-tsan: $(REPORTS_TSAN)
	@echo "== misuse reports: 4 threads on one instance under ThreadSanitizer"
	@mkdir -p $(RESULTS)
	$(Q)TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(REPORTS_TSAN) $(call SHOW_AND_LOG,reports-tsan)
DROPIN_TESTS += test-reports-tsan

# The region shim's threading contract: two clients on one region from four
# threads with pthread-mutex region lock hooks, under ThreadSanitizer; and
# the same without the hooks, where TSan must report the race.  7 cases.
.PHONY: test-region-tsan
test-region-tsan: | deps-host
	@echo "== region shim: 2 clients x 4 threads under ThreadSanitizer"
	@mkdir -p $(RESULTS)
	$(Q)sh tests/region_tsan.sh $(HOST_DIR)/region-tsan 20000 $(call SHOW_AND_LOG,region-tsan)
DROPIN_TESTS += test-region-tsan
