# examples.mk - the examples, the viewer's tests and the reader's fuzz target (included
# by the root Makefile).
#
#   make                 also builds $(B)/examples/{simple,server,complex,filereader}
#   make test            also runs, per variant and sanitizer: tests/view/test_view.sh (the
#                        viewer on crafted and real snapshots, hostile files included); in
#                        the plain passes only: examples/test_examples.sh (every example,
#                        the server driven by a client, the merged story of the complex
#                        example) and tests/view/test_tui.sh (--interactive driven in tmux)
#   make fuzz            libFuzzer over ttlog_snapshot_open_mem() for FUZZ_SECONDS (600)
#   make fuzz-quick      the same for 60 s (CI)
#   make fuzz-recover    libFuzzer over ttlog_recover() (black boxes) for FUZZ_SECONDS;
#                        fuzz-recover-quick: 60 s
#
# Test scripts get TTLOG_BIN=$(B) and TTLOG_TEST_SAN=$(SAN) from the root test-one loop.

EX_B := $(B)/examples
EXAMPLES := $(patsubst examples/%.c,%,$(wildcard examples/*.c))
EXAMPLE_BINS := $(EXAMPLES:%=$(EX_B)/%)
VIEW_FIXTURES := $(if $(wildcard tests/view/fixtures.c),$(B)/view/fixtures)

.PHONY: examples fuzz fuzz-quick fuzz-build fuzz-recover fuzz-recover-quick fuzz-recover-build

$(EX_B)/%: examples/%.c $(B)/libttlog.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(B)/libttlog.a $(LIBS)

$(VIEW_FIXTURES): tests/view/fixtures.c tests/cbor_fixture.h $(B)/libttlog.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(B)/libttlog.a $(LIBS)

# --sql's test: the schema code alone (sql_dump), snapshots of every variant (sql_gen)
VIEW_SQL_TOOLS := $(if $(wildcard tests/view/sql_dump.c),$(B)/view/sql_dump $(B)/view/sql_gen)
$(B)/view/sql_dump: tests/view/sql_dump.c tools/sql_schema.c tools/sql_schema.h $(B)/libttlog.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< tools/sql_schema.c -o $@ $(B)/libttlog.a $(LIBS)
$(B)/view/sql_gen: tests/view/sql_gen.c tests/cbor_fixture.h $(B)/libttlog-all.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ -Wl,--whole-archive $(B)/libttlog-all.a \
	  -Wl,--no-whole-archive $(LIBS)

examples: $(EXAMPLE_BINS)
all: examples
# the sanitizer passes run only the viewer's test: no examples to build for them
tests: $(if $(SAN),,examples) $(VIEW_FIXTURES) $(VIEW_SQL_TOOLS)

# slow or terminal-bound tests: the plain pass of each variant only; the UI's test
# does not depend on the variant (the examples do: they log through it)
EXTRA_TESTS += $(wildcard tests/view/test_view.sh tests/view/test_sql.sh)
ifeq ($(SAN),)
EXTRA_TESTS += $(wildcard examples/test_examples.sh tests/view/test_tui.sh)
endif
VARIANT_FREE += test_tui.sh test_sql.sh

# ---- fuzzing the reader ------------------------------------------------------------
# The target links core/reader.c itself (instrumented for coverage); the seeds are real
# snapshots from every variant, made at build time by tests/fuzz/gen_seeds.c, and their
# CBOR. New inputs go to build/fuzz/corpus (kept between runs), crashes to
# build/fuzz/artifacts/. -rss_limit_mb holds the whole process to 1 GiB: with inputs of
# at most 64 KiB the reader may decompress to 16 MiB, so any blow-up is a finding.
FUZZ_B := build/fuzz
FUZZ_SECONDS ?= 600
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_RUN = ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  $(FUZZ_B)/fuzz_reader -max_total_time=$(1) -rss_limit_mb=1024 -malloc_limit_mb=512 \
  -max_len=65536 -timeout=20 -print_final_stats=1 -dict=tests/fuzz/reader.dict \
  -artifact_prefix=$(FUZZ_B)/artifacts/ $(FUZZ_B)/corpus $(FUZZ_B)/seeds

$(FUZZ_B)/fuzz_reader: tests/fuzz/fuzz_reader.c core/reader.c include/ttlog/reader.h include/ttlog/ttlog.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) tests/fuzz/fuzz_reader.c core/reader.c -o $@ -llz4

# the multi-variant library (any VARIANT's build has them all): seeds from every variant
$(FUZZ_B)/gen_seeds: tests/fuzz/gen_seeds.c tests/cbor_fixture.h $(B)/libttlog-all.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ -Wl,--whole-archive $(B)/libttlog-all.a \
	  -Wl,--no-whole-archive $(LIBS)

$(FUZZ_B)/seeds/.stamp: $(FUZZ_B)/gen_seeds
	rm -rf $(FUZZ_B)/seeds && mkdir -p $(FUZZ_B)/seeds
	$(FUZZ_B)/gen_seeds $(FUZZ_B)/seeds
	@touch $@

fuzz-build: $(DEPS_STAMP) $(FUZZ_B)/fuzz_reader $(FUZZ_B)/seeds/.stamp
	@mkdir -p $(FUZZ_B)/corpus $(FUZZ_B)/artifacts

fuzz: fuzz-build
	$(call FUZZ_RUN,$(FUZZ_SECONDS))

fuzz-quick: fuzz-build
	$(call FUZZ_RUN,60)

# ---- fuzzing the black box recoverer ---------------------------------------------------
# The whole library instrumented (recovery writes a snapshot through the encoder); seeds:
# real boxes of every variant compacted to a few KiB (tests/fuzz/gen_box_seeds.c).
FUZZ_LIB_SRC := $(CORE_SRC) $(VARIANTS:%=variants/%.c) variants/registry.c
FUZZ_RECOVER_RUN = ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  $(FUZZ_B)/fuzz_recover -max_total_time=$(1) -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -max_len=65536 -timeout=20 -print_final_stats=1 \
  -artifact_prefix=$(FUZZ_B)/recover-artifacts/ $(FUZZ_B)/recover-corpus $(FUZZ_B)/box-seeds

$(FUZZ_B)/fuzz_recover: tests/fuzz/fuzz_recover.c $(FUZZ_LIB_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -pthread -DTTLOG_VARIANT_DYNAMIC -fvisibility=hidden \
	  -DTTLOG_BUILDING_LIBRARY tests/fuzz/fuzz_recover.c $(FUZZ_LIB_SRC) -o $@ $(LIBS)

$(FUZZ_B)/gen_box_seeds: tests/fuzz/gen_box_seeds.c core/box.h $(B)/libttlog-all.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ -Wl,--whole-archive $(B)/libttlog-all.a \
	  -Wl,--no-whole-archive $(LIBS)

$(FUZZ_B)/box-seeds/.stamp: $(FUZZ_B)/gen_box_seeds
	rm -rf $(FUZZ_B)/box-seeds && mkdir -p $(FUZZ_B)/box-seeds
	$(FUZZ_B)/gen_box_seeds $(FUZZ_B)/box-seeds
	@touch $@

fuzz-recover-build: $(DEPS_STAMP) $(FUZZ_B)/fuzz_recover $(FUZZ_B)/box-seeds/.stamp
	@mkdir -p $(FUZZ_B)/recover-corpus $(FUZZ_B)/recover-artifacts

fuzz-recover: fuzz-recover-build
	$(call FUZZ_RECOVER_RUN,$(FUZZ_SECONDS))

fuzz-recover-quick: fuzz-recover-build
	$(call FUZZ_RECOVER_RUN,60)
