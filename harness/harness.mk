# harness.mk - the research harness (included by the root Makefile).
#
#   make perf-test VARIANT=v [QUICK=1]   the experiment suite on one variant, tables on stdout
#   make benchmark-report [QUICK=1]      every variant and baseline, then benchmark_reports/
#   make bench [QUICK=1]                 Google Benchmark micro-benchmarks (C via a C++ shim)
#   make harness                         build only
#
# QUICK=1 runs the short version (100 ms points, 3 repetitions, fewer samples; LTTng-UST is
# only in the full run). BENCH_ARGS adds ttlog-bench options (e.g. --pin, --reps=9).

HB := $(B)/harness
BENCH_OUT ?= benchmark_reports
BENCH_ARGS ?=
QUICKFLAG := $(if $(QUICK),--quick)
CXX ?= g++

DEPS_ALL_STAMP := build/.deps-all-ok
$(DEPS_ALL_STAMP): scripts/deps.sh
	@scripts/deps.sh all
	@mkdir -p build && touch $@

HARNESS_CFLAGS := $(ALL_CFLAGS) -O2 -Wno-format-truncation -Ivariants -DTTLOG_VARIANT_DYNAMIC \
	-DTTLOG_BENCH_CFLAGS='"$(CFLAGS) -O2"'
HARNESS_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Werror -Iinclude -pthread \
	-DSPDLOG_SHARED_LIB -DSPDLOG_COMPILED_LIB -DSPDLOG_FMT_EXTERNAL
# --whole-archive: the variants are reached only through weak references (registry.c),
# which do not pull archive members in; every variant in the archive is linked.
HARNESS_LIBS := -Wl,--whole-archive $(B)/libttlog-all.a -Wl,--no-whole-archive -lcbor -llz4 -lhwloc -lck -lurcu-cds -lurcu-common \
	-lspdlog -lfmt -ljemalloc -lm -pthread

BENCH_C := harness/ttlog-bench.c harness/util.c harness/mem.c harness/bl_queues.c \
	$(wildcard harness/exp_*.c)
BENCH_OBJ := $(patsubst harness/%.c,$(HB)/%.o,$(BENCH_C)) $(HB)/bl_spdlog.o
HARNESS_HDRS := harness/bench.h $(HDRS)

.PHONY: harness perf-test benchmark-report bench

$(HB)/%.o: harness/%.c $(HARNESS_HDRS) | $(DEPS_ALL_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -c $< -o $@

$(HB)/bl_spdlog.o: harness/bl_spdlog.cpp harness/bench.h | $(DEPS_ALL_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(HARNESS_CXXFLAGS) -c $< -o $@

$(HB)/ttlog-bench: $(BENCH_OBJ) $(B)/libttlog-all.a harness/harness.mk
	$(CXX) -o $@ $(BENCH_OBJ) $(HARNESS_LIBS)

# crossbeam ArrayQueue baseline: cargo --offline against Debian's packaged crates
# (harness/crossbeam/.cargo/config.toml). Without cargo it is skipped, and the report
# says so.
$(HB)/ttlog-crossbeam-bench: harness/crossbeam/src/main.rs harness/crossbeam/Cargo.toml | $(DEPS_ALL_STAMP)
	@mkdir -p $(HB)
	@if command -v cargo >/dev/null 2>&1; then \
	  (cd harness/crossbeam && cargo build --quiet --release --offline \
	     --target-dir $(CURDIR)/$(HB)/cargo) && \
	  cp $(HB)/cargo/release/ttlog-crossbeam-bench $@; \
	else echo "harness: cargo not found: the crossbeam baseline is skipped" >&2; fi

# LTTng-UST baseline: a helper process with a tracepoint provider (harness/lttng/)
LTTNG_OBJ := $(HB)/lttng/ttlog-bench-lttng.o $(HB)/lttng/tp.o $(HB)/lttng/util.o
$(HB)/lttng/%.o: harness/lttng/%.c harness/lttng/tp.h harness/bench.h | $(DEPS_ALL_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -Iharness -Iharness/lttng -c $< -o $@
$(HB)/lttng/util.o: harness/util.c harness/bench.h | $(DEPS_ALL_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -c $< -o $@
$(HB)/ttlog-bench-lttng: $(LTTNG_OBJ)
	$(CC) -o $@ $(LTTNG_OBJ) -llttng-ust -llttng-ust-common -ldl -lhwloc -lm -pthread

HARNESS_BINS := $(HB)/ttlog-bench $(HB)/ttlog-crossbeam-bench $(HB)/ttlog-bench-lttng
harness: $(HARNESS_BINS)

HELPERS = $(if $(wildcard $(HB)/ttlog-crossbeam-bench),--crossbeam=$(HB)/ttlog-crossbeam-bench) \
	--lttng=$(HB)/ttlog-bench-lttng

perf-test: harness
	$(HB)/ttlog-bench --variant=$(VARIANT) --baselines=none $(QUICKFLAG) \
	  --out=$(BENCH_OUT)/perf-test-$(VARIANT) $(BENCH_ARGS)

benchmark-report: harness
	$(HB)/ttlog-bench --variant=all --baselines=all $(QUICKFLAG) --out=$(BENCH_OUT) \
	  $(HELPERS) $(BENCH_ARGS)
	python3 reports/report.py $(BENCH_OUT)

# Google Benchmark micro-benchmarks (C, through the C++ shim harness/gbench/shim.cpp)
GB_OBJ := $(HB)/gbench/micro.o $(HB)/gbench/shim.o
$(HB)/gbench/micro.o: harness/gbench/micro.c harness/gbench/gb.h $(HDRS) | $(DEPS_ALL_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -c $< -o $@
$(HB)/gbench/shim.o: harness/gbench/shim.cpp harness/gbench/gb.h | $(DEPS_ALL_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra -Werror -c $< -o $@
$(HB)/ttlog-gbench: $(GB_OBJ) $(B)/libttlog-all.a harness/harness.mk
	$(CXX) -o $@ $(GB_OBJ) -Wl,--whole-archive $(B)/libttlog-all.a -Wl,--no-whole-archive \
	  -lbenchmark -lcbor -llz4 -lhwloc -lm -pthread

GB_ARGS := $(if $(QUICK),--benchmark_min_time=0.02,--benchmark_min_time=0.5 \
	--benchmark_repetitions=5 --benchmark_report_aggregates_only=true)
bench: $(HB)/ttlog-gbench
	@mkdir -p $(BENCH_OUT)
	$(HB)/ttlog-gbench $(GB_ARGS) --benchmark_out=$(BENCH_OUT)/gbench.json \
	  --benchmark_out_format=json

# CI: the report and every chart must exist and be non-empty after a run
REPORT_FILES := comprehensive_report.txt report.md results.csv results_raw.csv results.json \
	$(foreach c,throughput pc_matrix latency_unloaded latency_saturated memory_matrix snapshot,\
	  charts/$(c).png charts/$(c).svg)
check-report:
	@set -e; for f in $(REPORT_FILES); do \
	  test -s $(BENCH_OUT)/$$f || { echo "check-report: $(BENCH_OUT)/$$f missing or empty" >&2; exit 1; }; \
	done; echo "check-report: $(words $(REPORT_FILES)) report files present in $(BENCH_OUT)/"
.PHONY: check-report
