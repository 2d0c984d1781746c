/*
 * clock.c - event timestamps. Where the TSC is invariant (CPUID 0x80000007 EDX bit 8), a
 * log call reads it (no system call) and snapshots convert ticks to ns since the epoch
 * with a calibration against CLOCK_MONOTONIC_RAW (rate) and CLOCK_REALTIME (origin);
 * otherwise the log call reads CLOCK_REALTIME through the vDSO.
 */
#include <cpuid.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static uint64_t ts_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ttlog__realtime_ns(void)
{
	return ts_ns(CLOCK_REALTIME);
}

static int tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000007u)
		return 0;
	__cpuid(0x80000007u, a, b, c, d);
	return (d >> 8) & 1;
#else
	return 0;
#endif
}

/* A (ticks, ns) pair read as close together as we can: the tightest of a few tries. */
static void pair(clockid_t id, uint64_t *ticks, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = ttlog__rdtsc(), n = ts_ns(id), t1 = ttlog__rdtsc();
		if (t1 - t0 < best) {
			best = t1 - t0;
			*ticks = t0 + (t1 - t0) / 2;
			*ns = n;
		}
	}
}

int ttlog__clock_init(struct ttlog__clock *c, const char *forced)
{
	memset(c, 0, sizeof *c);
	if (forced != NULL && strcmp(forced, "tsc") != 0 && strcmp(forced, "realtime") != 0)
		return -EINVAL;
	c->tsc = forced != NULL ? strcmp(forced, "tsc") == 0 : tsc_invariant();
	c->ticks_per_ns = 1.0;
	if (!c->tsc)
		return 0;
	uint64_t t1, n1;
	struct timespec nap = {0, 20 * 1000 * 1000};
	pair(CLOCK_MONOTONIC_RAW, &c->tsc0, &c->mono0);
	nanosleep(&nap, NULL);
	pair(CLOCK_MONOTONIC_RAW, &t1, &n1);
	if (n1 <= c->mono0 || t1 <= c->tsc0) {
		c->tsc = 0; /* the TSC did not move: do not trust it */
		return 0;
	}
	c->ticks_per_ns = (double)(t1 - c->tsc0) / (double)(n1 - c->mono0);
	return 0;
}

void ttlog__clock_map_now(struct ttlog__clock *c, struct ttlog__clock_map *m)
{
	if (!c->tsc) {
		m->base_ticks = 0;
		m->base_ns = 0;
		m->ticks_per_ns = 1.0;
		return;
	}
	uint64_t t, mono, real;
	pair(CLOCK_MONOTONIC_RAW, &t, &mono);
	/* A longer baseline gives a better rate: refine after a second of running. The
	 * field is only read by snapshots, which are serialised. */
	if (mono > c->mono0 + 1000000000u && t > c->tsc0)
		c->ticks_per_ns = (double)(t - c->tsc0) / (double)(mono - c->mono0);
	/* The origin: CLOCK_REALTIME read between two TSC reads too. Read on its own after
	 * the pair above, a preemption in between (tens of us, or ms on a busy machine)
	 * would shift every event of the snapshot by as much. */
	pair(CLOCK_REALTIME, &t, &real);
	m->base_ticks = t;
	m->base_ns = real;
	m->ticks_per_ns = c->ticks_per_ns;
}

uint64_t ttlog__clock_to_ns(const struct ttlog__clock_map *m, uint64_t ticks)
{
	if (m->base_ticks == 0 && m->ticks_per_ns == 1.0)
		return ticks;
	/* integer origin, float only for the (small) offset: a double holding ns since
	 * the epoch would round to 256 ns */
	double q = (double)(int64_t)(ticks - m->base_ticks) / m->ticks_per_ns;
	/* a calibration read back from a damaged black box may be anything: clamp */
	int64_t d = q >= 9.2e18 ? INT64_MAX : q <= -9.2e18 ? INT64_MIN + 1 : (int64_t)q;
	if (d < 0 && (uint64_t)-d > m->base_ns)
		return 0;
	return m->base_ns + (uint64_t)d;
}
