# ship.mk - ttlog-ship (tools/ttlog-ship.c and its modules) and its tests (included by the
# root Makefile).
#
#   make                 also builds $(B)/ttlog-ship
#   make install         also installs bin/ttlog-ship
#   make test            also runs, in the mpmc passes (the agent does not depend on the
#                        variant): tests/ship/test_rfc5424 (the encoder on hostile input),
#                        tests/ship/test_state (the state file), tests/ship/test_ship.sh
#                        (a real rsyslogd on loopback) and tests/ship/test_pg.sh (a real
#                        PostgreSQL on loopback: ttlog-ship --to and ttlog-view --from) and
#                        tests/ship/test_fleet_check.py (the fleet check's reading of
#                        rsyslogd's file, torn lines included)

SHIP_SRC := tools/ttlog-ship.c tools/ship_state.c tools/ship_syslog.c tools/ship_tls.c \
  tools/rfc5424.c tools/ship_pg.c tools/sql_schema.c tools/cli.c
SHIP_HDRS := tools/ship.h tools/ship_tls.h tools/rfc5424.h core/utf8.h tools/sql_schema.h \
  tools/cli.h
# libpq: PQ_CFLAGS and PQ_LIBS from the root Makefile

$(B)/ttlog-ship: $(SHIP_SRC) $(SHIP_HDRS) $(B)/libttlog.a
	$(CC) $(ALL_CFLAGS) $(PQ_CFLAGS) $(SHIP_SRC) -o $@ $(B)/libttlog.a $(LIBS) -lgnutls \
	  $(PQ_LIBS) -lm

$(B)/tests/ship/test_rfc5424: tests/ship/test_rfc5424.c tools/rfc5424.c $(SHIP_HDRS) \
  $(B)/libttlog.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) tests/ship/test_rfc5424.c tools/rfc5424.c -o $@ $(B)/libttlog.a \
	  $(TEST_LIBS)

$(B)/tests/ship/test_state: tests/ship/test_state.c tools/ship_state.c tools/ship.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) tests/ship/test_state.c tools/ship_state.c -o $@ $(TEST_LIBS)

# writes the snapshots the integration test ships, through libttlog
$(B)/tests/ship/gen: tests/ship/gen.c $(B)/libttlog.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< -o $@ $(B)/libttlog.a $(LIBS)

tools: $(B)/ttlog-ship
tests: $(B)/ttlog-ship $(B)/tests/ship/test_rfc5424 $(B)/tests/ship/test_state \
  $(B)/tests/ship/gen
EXTRA_TESTS += $(B)/tests/ship/test_rfc5424 $(B)/tests/ship/test_state tests/ship/test_ship.sh \
  tests/ship/test_pg.sh tests/ship/test_fleet_check.py
VARIANT_FREE += test_rfc5424 test_state test_ship.sh test_pg.sh test_fleet_check.py

.PHONY: install-ship
install: install-ship
install-ship: $(B)/ttlog-ship
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(B)/ttlog-ship $(DESTDIR)$(PREFIX)/bin/
