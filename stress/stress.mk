# stress.mk - the stress and reliability suite (included by the root Makefile).
#
#   make stress QUICK=1   the short version, for CI (a few minutes on 2 cores)
#   make stress           the same scenarios, longer
#   make bench-stress     the full suite (long runs, more rounds)
#
# Programs (stress/*.c) link the multi-variant library and run every variant of
# $(VARIANTS) from one binary; the sanitizer runs use copies built with SAN=asan / SAN=tsan
# (build/mpmc-asan/, build/mpmc-tsan/); the fleet scenario also needs build/mpmc's
# ttlog-ship and ttlog-view. stress/run.sh runs the scenarios and writes the
# reliability table: $(STRESS_OUT)/reliability.csv and reliability.txt. Any failed check
# stops the run with a message naming the scenario and a non-zero status.

STRESS_B := $(B)/stress
STRESS_OUT ?= benchmark_reports
STRESS_PROGS := $(patsubst stress/%.c,%,$(wildcard stress/*.c))
# --whole-archive: the variants are reached only through weak references (registry.c)
STRESS_LIBS := -Wl,--whole-archive $(B)/libttlog-all.a -Wl,--no-whole-archive $(LIBS) \
  $(if $(filter numa,$(VARIANTS)),-lhwloc) -lm

.PHONY: stress bench-stress stress-bins stress-san-bins

$(STRESS_B)/%: stress/%.c stress/stress.h tests/die.h tests/rmdir.h tests/numbered.h $(B)/libttlog-all.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-format-truncation $< -o $@ $(STRESS_LIBS)

stress-bins: $(STRESS_PROGS:%=$(STRESS_B)/%)
# the sanitizer runs only need the thread stress program
stress-san-bins: $(STRESS_B)/heavy_stress_test

STRESS_BUILD = $(MAKE) --no-print-directory VARIANT=mpmc stress-bins fleet-bins && \
  $(MAKE) --no-print-directory VARIANT=mpmc SAN=asan stress-san-bins && \
  $(MAKE) --no-print-directory VARIANT=mpmc SAN=tsan stress-san-bins

stress: $(DEPS_STAMP)
	@$(STRESS_BUILD)
	@VARIANTS="$(VARIANTS)" QUICK="$(QUICK)" STRESS_OUT="$(STRESS_OUT)" \
	  BIN=build/mpmc/stress ASAN_BIN=build/mpmc-asan/stress TSAN_BIN=build/mpmc-tsan/stress \
	  FLEET_BIN=build/mpmc stress/run.sh

bench-stress: $(DEPS_STAMP)
	@$(STRESS_BUILD)
	@VARIANTS="$(VARIANTS)" QUICK= FULL=1 STRESS_OUT="$(STRESS_OUT)" \
	  BIN=build/mpmc/stress ASAN_BIN=build/mpmc-asan/stress TSAN_BIN=build/mpmc-tsan/stress \
	  FLEET_BIN=build/mpmc stress/run.sh

# ---- the fleet on one machine (issue 15): stress/fleet_demo.sh ----------------------------
# A real rsyslogd and PostgreSQL on loopback, the distributed simulator's nodes with one
# ttlog-ship each, both destinations killed mid-run, every event checked exactly once in
# both, the agents' rate and CPU measured. `make fleet-demo` (QUICK=1: the short run that
# `make stress` also does, scenario "fleet").
.PHONY: fleet-demo fleet-bins
fleet-bins: $(STRESS_B)/distributed_simulator $(B)/ttlog-ship $(B)/ttlog-view
fleet-demo: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory fleet-bins
	@FLEET_BIN=$(B) VARIANT=$(VARIANT) QUICK="$(QUICK)" stress/fleet_demo.sh
