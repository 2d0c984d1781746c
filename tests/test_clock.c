/*
 * test_clock.c - clock anchors: a snapshot maps each event's ticks to CLOCK_REALTIME by
 * interpolating between the (TSC, realtime) pairs the writer thread takes, so a clock
 * whose rate is not the calibrated one (NTP slewing, TSC drift) is followed; outside the
 * anchors the calibrated line serves. The anchor ring keeps the first pair and the newest.
 */
#include "testutil.h"

/* the clock is variant-free: any ring mapping will do for the internal header */
#define TTLOG_VARIANT_DYNAMIC
#include "../core/internal.h"

static struct ttlog__clock_map synthetic(void)
{
	struct ttlog__clock_map m;

	memset(&m, 0, sizeof m);
	m.ticks_per_ns = 1.0;
	m.base_ticks = 3000;
	m.base_ns = 1000000000u + 2100;
	/* realtime ran 10% faster than the ticks between the first two anchors, and at the
	 * ticks' rate between the last two */
	m.anchors[0] = (struct ttlog__anchor){1000, 1000000000u};
	m.anchors[1] = (struct ttlog__anchor){2000, 1000000000u + 1100};
	m.anchors[2] = (struct ttlog__anchor){3000, 1000000000u + 2100};
	m.nanchors = 3;
	return m;
}

static void test_interpolation(void **state)
{
	struct ttlog__clock_map m = synthetic();

	(void)state;
	assert_int_equal(ttlog__clock_to_ns(&m, 1000), 1000000000u);
	assert_int_equal(ttlog__clock_to_ns(&m, 2000), 1000000000u + 1100);
	assert_int_equal(ttlog__clock_to_ns(&m, 1500), 1000000000u + 550); /* not 500 */
	assert_int_equal(ttlog__clock_to_ns(&m, 2500), 1000000000u + 1600);
	/* before the first anchor and after the last: the calibrated line from the nearest */
	assert_int_equal(ttlog__clock_to_ns(&m, 500), 1000000000u - 500);
	assert_int_equal(ttlog__clock_to_ns(&m, 3500), 1000000000u + 2600);
	/* without anchors: the line through base, as before anchors existed */
	m.nanchors = 0;
	assert_int_equal(ttlog__clock_to_ns(&m, 1500), 1000000000u + 600);
}

/* More anchors than the ring holds: the first is kept, then the newest, ascending, and
 * now is the last; every event time is then between two anchors or after the first. */
static void test_anchor_ring(void **state)
{
	struct ttlog__clock c;
	struct ttlog__clock_map m;

	(void)state;
	assert_int_equal(ttlog__clock_init(&c, NULL), 0);
	if (!c.tsc)
		skip(); /* no invariant TSC here: timestamps are realtime ns, nothing to map */
	uint64_t first = atomic_load(&c.aw[0][0]);
	for (int i = 0; i < TTLOG_ANCHORS + 10; i++)
		ttlog__clock_anchor(&c);
	ttlog__clock_map_now(&c, &m);
	assert_int_equal(m.nanchors, TTLOG_ANCHORS + 1);
	assert_true(m.anchors[0].ticks == first);
	for (uint32_t i = 1; i < m.nanchors; i++) {
		assert_true(m.anchors[i].ticks > m.anchors[i - 1].ticks);
		assert_true(m.anchors[i].ns >= m.anchors[i - 1].ns);
	}
	assert_int_equal(m.anchors[m.nanchors - 1].ticks, m.base_ticks);
	/* a time between two anchors maps between their times */
	uint64_t mid = m.anchors[1].ticks + (m.anchors[2].ticks - m.anchors[1].ticks) / 2;
	uint64_t ns = ttlog__clock_to_ns(&m, mid);
	assert_true(ns >= m.anchors[1].ns && ns <= m.anchors[2].ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interpolation),
		cmocka_unit_test(test_anchor_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
