# The libFuzzer harness (tests/fuzz/).  Included by the top-level Makefile.
#
#   make fuzz [FUZZ_SECONDS=n]  fuzz for n seconds (default 60) on build/fuzz/corpus,
#                               a copy of tests/fuzz/corpus that keeps what it finds
#                               between runs; ends with two lines
#                               "fuzz: N runs in S s (R exec/s), cov C, ft F" and
#                               "fuzz misuse: N calls (...), R reports checked, ..."
#                               (no misuse call made: fails)
#   make test-fuzz              a short bounded, seeded pass from the seeds alone, and
#                               the seeds through the plain gcc replay build; fails on
#                               any crash (part of `make test`)
#   make fuzz-replay FUZZ_INPUTS="f1 f2"
#                               run inputs through the gcc build (no clang needed);
#                               FUZZ_TRACE=1 in the environment prints each operation
#   make fuzz-corpus            rewrite tests/fuzz/corpus from tests/fuzz/make_corpus.py
#
# FUZZ_HARDEN=1 fuzzes the full misuse-detection tier (-DKHEAP_HARDEN=1) in
# build/fuzz-harden/; test-fuzz runs both tiers.
# FUZZ_OVERFLOW=0 builds the misuse op that overflows into the next block's
# header as a no-op (build/fuzz[-harden]-nooverflow/), for a run that should
# go on past a known overflow finding; test-fuzz always builds it in.
# A crash leaves its input in build/fuzz[-harden]/artifacts/.  FUZZ_FLAGS adds libFuzzer
# flags (e.g. FUZZ_FLAGS=-jobs=4).  clang's libFuzzer runtime is checked by a test
# compile and installed when missing (mk/deps.sh fuzz).

FUZZ_HARDEN ?= 0
FUZZ_OVERFLOW ?= 1
FUZZ_DIR := $(BUILD)/fuzz$(if $(filter 1,$(FUZZ_HARDEN)),-harden)$(if $(filter 0,$(FUZZ_OVERFLOW)),-nooverflow)
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TEST_RUNS ?= 10000
FUZZ_FLAGS ?=
FUZZ_SEEDS := tests/fuzz/corpus
FUZZ_SRC := tests/fuzz/fuzz_kheap.c
FUZZ_BIN := $(FUZZ_DIR)/fuzz_kheap
FUZZ_REPLAY_BIN := $(FUZZ_DIR)/fuzz_kheap-replay
FUZZ_BASE_CFLAGS := -std=c11 -g -O1 $(WARN) -D_DEFAULT_SOURCE -fno-omit-frame-pointer \
                    -fno-sanitize-recover=all -DKHEAP_HARDEN=$(FUZZ_HARDEN) \
                    -DFUZZ_OVERFLOW=$(FUZZ_OVERFLOW)
FUZZ_CFLAGS := $(FUZZ_BASE_CFLAGS) -fsanitize=fuzzer,address,undefined
# libFuzzer options shared by both runs: inputs up to 4 KiB (a few thousand
# operations), a slow input is a hang after 20 s, crashes go under build/.
FUZZ_RUN_FLAGS := -max_len=4096 -timeout=20 -print_final_stats=1 \
                  -artifact_prefix=$(FUZZ_DIR)/artifacts/

FUZZ_TESTS := test-fuzz
.PHONY: fuzz test-fuzz test-fuzz-tier test-fuzz-seeds fuzz-deps fuzz-replay fuzz-corpus

fuzz-deps:
	$(Q)sh mk/deps.sh fuzz

# The region shim is built without comparison tracing: its page scans (the
# usage count at the end of every input) would otherwise cost a callback per
# page and teach the fuzzer nothing; its edges are still covered.
$(FUZZ_DIR)/region.o: alloc/region.c $(ALLOC_HDR) | fuzz-deps
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fno-sanitize-coverage=trace-cmp -c $< -o $@

$(FUZZ_BIN): $(FUZZ_SRC) $(filter-out alloc/region.c,$(ALLOC_SRC)) $(FUZZ_DIR)/region.o \
             $(ALLOC_HDR) | fuzz-deps
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SRC) $(filter-out alloc/region.c,$(ALLOC_SRC)) \
		$(FUZZ_DIR)/region.o -o $@

$(FUZZ_REPLAY_BIN): $(FUZZ_SRC) $(ALLOC_SRC) $(ALLOC_HDR) | deps-host
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(FUZZ_BASE_CFLAGS) -fsanitize=address,undefined -DFUZZ_REPLAY_MAIN \
		$(FUZZ_SRC) $(ALLOC_SRC) -o $@

fuzz: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	$(Q)cp $(FUZZ_SEEDS)/* $(FUZZ_DIR)/corpus/
	@echo "== fuzz, $(FUZZ_TIER): $(FUZZ_SECONDS) s on $(FUZZ_DIR)/corpus (log: $(FUZZ_DIR)/fuzz.log)"
	$(Q)sh tests/fuzz/run-fuzz.sh $(FUZZ_BIN) $(FUZZ_DIR)/corpus $(FUZZ_DIR)/fuzz.log \
		$(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS)

FUZZ_TIER := $(if $(filter 1,$(FUZZ_HARDEN)),full tier (KHEAP_HARDEN=1),basic tier)$(if \
             $(filter 0,$(FUZZ_OVERFLOW)), without the overflow op)
# One case per tier in build/results/fuzz.log (`ok N`/`not ok N`, then
# `N passed, M failed`), from the exit status of its sub-make: both tiers
# run even when the first fails.
test-fuzz:
	@mkdir -p $(RESULTS)
	$(Q){ n=0; bad=0; for h in 0 1; do \
		n=$$((n + 1)); tier=$$([ $$h = 1 ] && echo "full tier" || echo "basic tier"); \
		if $(MAKE) --no-print-directory test-fuzz-tier FUZZ_HARDEN=$$h FUZZ_OVERFLOW=1; then \
			echo "ok $$n - fuzz, $$tier: every seed replayed, $(FUZZ_TEST_RUNS) runs without a finding"; \
		else bad=$$((bad + 1)); echo "not ok $$n - fuzz, $$tier: see above"; fi; \
	done; echo "$$((n - bad)) passed, $$bad failed"; [ $$bad = 0 ]; } $(call SHOW_AND_LOG,fuzz)

# The seeds through the replay build: it must read every seed, and -m fails
# unless they made every kind of misuse call and checked reports.  Its last
# line counts them.
FUZZ_SEED_COUNT = $(words $(wildcard $(FUZZ_SEEDS)/*))
test-fuzz-seeds: $(FUZZ_REPLAY_BIN)
	@echo "== fuzz, $(FUZZ_TIER): seeds through the gcc replay build"
	$(Q)$(FUZZ_REPLAY_BIN) -m $(FUZZ_SEEDS)/* >$(FUZZ_DIR)/replay.log 2>&1 || \
		{ cat $(FUZZ_DIR)/replay.log; exit 1; }; tail -1 $(FUZZ_DIR)/replay.log
	$(Q)tail -1 $(FUZZ_DIR)/replay.log | grep -q '^replayed $(FUZZ_SEED_COUNT) input(s): ok' || \
		{ echo "fuzz: expected 'replayed $(FUZZ_SEED_COUNT) input(s): ok' (one per seed)"; exit 1; }

# The run must have done all its runs: one cut short by -max_total_time
# fails instead of passing with less.  The time limit only bounds a
# runaway: the full tier's 10,000 runs take about 45 s on a loaded 2-core
# machine.
FUZZ_TEST_MAX_SECONDS ?= 300
test-fuzz-tier: $(FUZZ_BIN) test-fuzz-seeds
	@echo "== fuzz, $(FUZZ_TIER): $(FUZZ_TEST_RUNS) runs from the seeds (log: $(FUZZ_DIR)/test-fuzz.log)"
	$(Q)rm -rf $(FUZZ_DIR)/test-corpus && mkdir -p $(FUZZ_DIR)/test-corpus $(FUZZ_DIR)/artifacts
	$(Q)cp $(FUZZ_SEEDS)/* $(FUZZ_DIR)/test-corpus/
	$(Q)out=$$(sh tests/fuzz/run-fuzz.sh $(FUZZ_BIN) $(FUZZ_DIR)/test-corpus $(FUZZ_DIR)/test-fuzz.log \
		$(FUZZ_RUN_FLAGS) -seed=1 -runs=$(FUZZ_TEST_RUNS) -max_total_time=$(FUZZ_TEST_MAX_SECONDS)) || \
		{ status=$$?; [ -z "$$out" ] || echo "$$out"; exit $$status; }; echo "$$out"; \
	case $$out in "fuzz: $(FUZZ_TEST_RUNS) runs "*) ;; \
		*) echo "fuzz: expected $(FUZZ_TEST_RUNS) runs; cut short by -max_total_time=$(FUZZ_TEST_MAX_SECONDS)?"; exit 1 ;; esac

FUZZ_INPUTS ?=
fuzz-replay: $(FUZZ_REPLAY_BIN)
	$(Q)$(FUZZ_REPLAY_BIN) $(FUZZ_INPUTS)

fuzz-corpus:
	$(Q)python3 tests/fuzz/make_corpus.py $(FUZZ_SEEDS)
