# ttlog - see README.md. `make` builds libttlog for VARIANT (one of VARIANTS) and the
# tools; `make test` runs every test; `make install PREFIX=...` installs.

# the default: percpu (per-CPU rings, rseq push; the README's results say why)
VARIANT ?= percpu
PREFIX ?= /usr/local
SAN ?=
QUICK ?=
export TTLOG_TEST_QUICK
# SOVERSION changes when the ABI does (ttlog_config grew snapshot_clip: 0 -> 1; fixed at
# TTLOG_CONFIG_SIZE bytes with a reserved tail, so later fields need no bump: 1 -> 2)
VERSION := 0.3.0
SOVERSION := 2

# the variants: the list in variants/variants.h, one TTLOG_VARIANT_X(name) a line
VARIANTS := $(shell sed -n 's/^TTLOG_VARIANT_X(\([A-Za-z0-9_]*\)).*/\1/p' variants/variants.h)
ifeq ($(VARIANTS),)
$(error no variant found in variants/variants.h)
endif
CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif

# sanitizer builds live beside the plain ones: build/mpmc-asan, build/mpmc-tsan
ifeq ($(SAN),asan)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else ifeq ($(SAN),tsan)
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else
SANFLAGS :=
endif
B := build/$(VARIANT)$(if $(SAN),-$(SAN))

WARN := -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) -Iinclude -pthread
LIB_CFLAGS := $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DTTLOG_BUILDING_LIBRARY
LIBS := -lcbor -llz4 -lhwloc -pthread
TEST_LIBS := -lcmocka $(LIBS)

CORE_SRC := $(wildcard core/*.c)
HDRS := $(wildcard include/ttlog/*.h core/*.h variants/*.h)
# numa is built on mpmc rings (its node rings): always linked; spsc on a percpu ring (the
# shared ring of the threads without a shard)
LIB_RINGS := variants/$(VARIANT).c variants/mpmc.c $(if $(filter spsc,$(VARIANT)),variants/percpu.c)
LIB_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(CORE_SRC) $(sort $(LIB_RINGS)) variants/registry.c)
# the multi-variant library: every variant, through the ops tables
DYN_OBJ := $(patsubst %.c,$(B)/dyn/%.o,$(CORE_SRC) $(VARIANTS:%=variants/%.c) variants/registry.c)

TESTS := $(patsubst tests/%.c,$(B)/tests/%,$(wildcard tests/test_*.c))
TOOLS := $(B)/ttlog-view $(B)/ttlog-recover

.PHONY: all lib tools tests test test-one check-sanitize install clean deps format format-check lint
all: lib tools

DEPS_STAMP := build/.deps-ok
$(DEPS_STAMP): scripts/deps.sh
	@scripts/deps.sh core
	@mkdir -p build && touch $@
deps: $(DEPS_STAMP)

lib: $(B)/libttlog.a $(B)/libttlog.so $(B)/ttlog.pc
tools: $(TOOLS)

$(B)/obj/%.o: %.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -DTTLOG_VARIANT=$(VARIANT) -c $< -o $@

$(B)/dyn/%.o: %.c $(HDRS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -DTTLOG_VARIANT_DYNAMIC -c $< -o $@

$(B)/libttlog.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libttlog-all.a: $(DYN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libttlog.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libttlog.so.$(SOVERSION) $(SANFLAGS) -o $@.$(VERSION) $^ $(LIBS)
	ln -sf libttlog.so.$(VERSION) $@.$(SOVERSION)
	ln -sf libttlog.so.$(VERSION) $@

# regenerated every time: it carries PREFIX, which install may change
$(B)/ttlog.pc: FORCE
	@mkdir -p $(B)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: ttlog' 'Description: flight-recorder logging (variant $(VARIANT))' \
	  'Version: $(VERSION)' 'Requires.private: liblz4 libcbor' \
	  'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lttlog' 'Libs.private: -lhwloc -pthread' > $@

VIEW_SRC := tools/ttlog-view.c tools/view.c tools/view_out.c tools/view_tui.c tools/cli.c
$(B)/ttlog-view: $(VIEW_SRC) tools/view.h tools/cli.h $(B)/libttlog.a
	$(CC) $(ALL_CFLAGS) $(VIEW_SRC) -o $@ $(B)/libttlog.a $(LIBS) -lncursesw
$(B)/ttlog-recover: tools/ttlog-recover.c $(B)/libttlog.a
	$(CC) $(ALL_CFLAGS) $< -o $@ $(B)/libttlog.a $(LIBS)

# Tests: test_ring* take every variant through the ops tables (multi-variant library);
# the others use libttlog as a program would.
$(B)/tests/test_ring%: tests/test_ring%.c tests/*.h $(B)/libttlog-all.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ivariants $< -o $@ $(B)/libttlog-all.a $(TEST_LIBS)
$(B)/tests/%: tests/%.c $(wildcard tests/*.h) $(B)/libttlog.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DTTLOG_TEST_VARIANT='"$(VARIANT)"' $< -o $@ $(B)/libttlog.a $(TEST_LIBS)

# test_callsites loads a plugin that logs through the test's own libttlog (-rdynamic
# exports it) and is then dlclose'd
$(B)/tests/plugin_callsites.so: tests/plugin_callsites.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -shared $< -o $@
$(B)/tests/test_callsites: tests/test_callsites.c $(wildcard tests/*.h) $(B)/libttlog.a \
  $(B)/tests/plugin_callsites.so
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -rdynamic -DTTLOG_TEST_VARIANT='"$(VARIANT)"' $< -o $@ \
	  $(B)/libttlog.a $(TEST_LIBS) -ldl

tests: $(TESTS) $(TOOLS)

# ttlog-view --sql: SQLite, and the SQL schema code (docs/sql.md) that ttlog-ship shares
VIEW_SRC += tools/view_sql.c tools/sql_schema.c
$(B)/ttlog-view: tools/view_sql.c tools/sql_schema.c tools/sql_schema.h
$(B)/ttlog-view: LIBS += -lsqlite3
# --from postgresql://: libpq (its headers have their own directory: Debian
# /usr/include/postgresql); ttlog-ship uses it too (tools/ship.mk)
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I$$(pg_config --includedir))
PQ_LIBS := $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)
VIEW_SRC += tools/view_pg.c
$(B)/ttlog-view: tools/view_pg.c
$(B)/ttlog-view: ALL_CFLAGS += $(PQ_CFLAGS)
$(B)/ttlog-view: LIBS += $(PQ_LIBS)

# run every test of this build; TTLOG_TEST_QUICK shortens the long ones (sanitizers).
# ASan must leave the crash signals to ttlog's handler, which the crash tests check.
SAN_ENV := TTLOG_TEST_SAN=$(SAN) \
  ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigill=0:handle_sigfpe=0:detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
# Tests that do not depend on the variant libttlog is bound to run in the mpmc pass only:
# the reader and the viewer, and the ring conformance suite (it takes every variant
# through its ops table, numa under synthetic 2- and 4-node topologies, and percpu again
# without rseq, where the test checks that the fallback path is the one that ran).
VARIANT_FREE := test_reader test_reader_meta test_ring_conformance test_view.sh
# a level outside TRACE..FATAL must not compile: a script that runs the compilers
EXTRA_TESTS += tests/test_level_compile.sh
VARIANT_FREE += test_level_compile.sh
# the benchmark report's ratios to baselines, with their intervals and verdicts
EXTRA_TESTS += tests/test_report.py
VARIANT_FREE += test_report.py
export TTLOG_TEST_CC = $(CC)
export TTLOG_TEST_CXX = $(CXX)
# The black boxes of the test processes (and of the children they kill or _exit) go to a
# directory of this run, removed after it, not to the default /dev/shm/ttlog-<uid>.
test-one: tests
	@set -e; bd=$$(mktemp -d /dev/shm/ttlog-test-boxes-XXXXXX); trap 'rm -rf "$$bd"' EXIT; \
	export TTLOG_BLACKBOX_DIR="$$bd"; for t in $(TESTS) $(EXTRA_TESTS); do \
	  case " $(VARIANT_FREE) " in *" $$(basename $$t) "*) [ $(VARIANT) = mpmc ] || continue;; esac; \
	  echo "== $$t"; start=$$(date +%s); $(SAN_ENV) TTLOG_BIN=$(B) $$t; \
	  case $$t in */test_ring_conformance) \
	    for s in "numa:2 core:1 pu:1" "numa:4 core:1 pu:1"; do \
	      echo "== $$t (numa, HWLOC_SYNTHETIC=$$s)"; \
	      HWLOC_SYNTHETIC="$$s" TTLOG_TEST_VARIANTS=numa $(SAN_ENV) TTLOG_BIN=$(B) $$t; done; \
	    echo "== $$t (percpu, GLIBC_TUNABLES=glibc.pthread.rseq=0)"; \
	    GLIBC_TUNABLES=glibc.pthread.rseq=0 TTLOG_TEST_PERCPU_PATH=sched_getcpu \
	      TTLOG_TEST_VARIANTS=percpu $(SAN_ENV) TTLOG_BIN=$(B) $$t;; \
	  esac; echo "== $$t: $$(( $$(date +%s) - start )) s"; done

# `make test`: every test for every variant, then the sanitizer runs
test: $(DEPS_STAMP)
	@set -e; for v in $(VARIANTS); do $(MAKE) --no-print-directory VARIANT=$$v test-one; done
	@$(MAKE) --no-print-directory check-sanitize

check-sanitize: $(DEPS_STAMP)
	@set -e; for v in $(VARIANTS); do \
	  $(MAKE) --no-print-directory VARIANT=$$v SAN=asan test-one TTLOG_TEST_QUICK=1; \
	  $(MAKE) --no-print-directory VARIANT=$$v SAN=tsan test-one TTLOG_TEST_QUICK=1; done

install: lib tools
	install -d $(DESTDIR)$(PREFIX)/include/ttlog $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/ttlog/*.h $(DESTDIR)$(PREFIX)/include/ttlog/
	install -m 644 $(B)/libttlog.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libttlog.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libttlog.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libttlog.so.$(SOVERSION)
	ln -sf libttlog.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libttlog.so
	install -m 644 $(B)/ttlog.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(B)/ttlog-view $(B)/ttlog-recover $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 docs/ttlog-view.1 docs/ttlog-recover.1 $(DESTDIR)$(PREFIX)/share/man/man1/

# clang-format with the committed .clang-format (tabs, 100 columns, kernel braces). format
# rewrites the files in place; format-check only lists what it would change (exit 1 if any).
FORMAT_SRC := $(wildcard core/*.[ch] variants/*.[ch] include/ttlog/*.h tests/*.[ch] tools/*.[ch])
format:
	clang-format --style=file -i $(FORMAT_SRC)
format-check:
	@clang-format --style=file --dry-run --Werror $(FORMAT_SRC)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  -D_GNU_SOURCE -DTTLOG_VARIANT=mpmc -Iinclude core variants tools

clean:
	rm -rf build

# the harness (bench, perf-test, benchmark-report) and the stress suite add their targets
-include harness/harness.mk
-include stress/stress.mk
-include examples/examples.mk
-include tools/ship.mk
FORCE:
