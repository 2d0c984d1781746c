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

uint64_t ttlog__mono_ns(void)
{
	return ts_ns(CLOCK_MONOTONIC);
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
	ttlog__clock_anchor(c); /* the first anchor, kept for the life of the process */
	return 0;
}

void ttlog__clock_anchor(struct ttlog__clock *c)
{
	uint64_t t, ns;
	uint32_t slot, seq;

	if (!c->tsc)
		return;
	pair(CLOCK_REALTIME, &t, &ns);
	slot = c->nadded < TTLOG_ANCHORS ? c->nadded : 1 + (c->nadded - 1) % (TTLOG_ANCHORS - 1);
	/* relaxed: only this thread writes aseq */
	seq = atomic_load_explicit(&c->aseq, memory_order_relaxed);
	atomic_store_explicit(&c->aseq, seq + 1, memory_order_relaxed);
	/* R7: release, pairs with A7 in ttlog__clock_map_now(): a reader that sees a new word
	 * sees the odd aseq before it */
	atomic_store_explicit(&c->aw[slot][0], t, memory_order_release);
	atomic_store_explicit(&c->aw[slot][1], ns, memory_order_release);
	/* R8: release, pairs with A8: the pair is complete */
	atomic_store_explicit(&c->aseq, seq + 2, memory_order_release);
	c->nadded++;
}

/* Copy the anchors into m in ascending ticks (a ring after the first one), consistent
 * with aseq (a few tries: a snapshot never waits for the writer); 0 of them on failure. */
static void anchors_copy(struct ttlog__clock *c, struct ttlog__clock_map *m)
{
	struct ttlog__anchor a[TTLOG_ANCHORS];

	m->nanchors = 0;
	for (int tries = 0; tries < 4; tries++) {
		/* A8: acquire, pairs with R8: the pairs written before it are complete */
		uint32_t s1 = atomic_load_explicit(&c->aseq, memory_order_acquire), n = 0;
		if (s1 & 1u)
			continue;
		uint32_t added = s1 / 2; /* one anchor per two increments */
		n = added < TTLOG_ANCHORS ? added : TTLOG_ANCHORS;
		for (uint32_t i = 0; i < n; i++) {
			/* A7: acquire, pairs with R7: a newer word shows in aseq below */
			a[i].ticks = atomic_load_explicit(&c->aw[i][0], memory_order_acquire);
			a[i].ns = atomic_load_explicit(&c->aw[i][1], memory_order_acquire);
		}
		/* relaxed: ordered by A7 */
		if (atomic_load_explicit(&c->aseq, memory_order_relaxed) != s1)
			continue;
		/* slot 0, then the ring from its oldest: slot 1 + (added - 1) % (N - 1) */
		uint32_t k = 0, ring = n > 1 ? n - 1 : 0;
		uint32_t oldest = added > TTLOG_ANCHORS ? (added - 1) % (TTLOG_ANCHORS - 1) : 0;
		if (n > 0)
			m->anchors[k++] = a[0];
		for (uint32_t i = 0; i < ring; i++)
			m->anchors[k++] = a[1 + (oldest + i) % ring];
		m->nanchors = k;
		return;
	}
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
	anchors_copy(c, m);
	/* now is the last anchor; an anchor not below the previous one is kept only (a
	 * TSC that went backwards across CPUs, or a realtime step back: the line serves) */
	uint32_t k = 0;
	for (uint32_t i = 0; i < m->nanchors; i++)
		if (k == 0 || (m->anchors[i].ticks > m->anchors[k - 1].ticks &&
			       m->anchors[i].ns >= m->anchors[k - 1].ns))
			m->anchors[k++] = m->anchors[i];
	if (k > 0 && (t <= m->anchors[k - 1].ticks || real < m->anchors[k - 1].ns))
		k = 0; /* now is not after the anchors: use the line through now */
	if (k > 0)
		m->anchors[k++] = (struct ttlog__anchor){t, real};
	m->nanchors = k;
}

/* base_ns + (ticks - base_ticks) at rate ticks_per_ns, clamped at 0 */
static uint64_t line(uint64_t base_ticks, uint64_t base_ns, double ticks_per_ns,
		     uint64_t ticks)
{
	double q = (double)(int64_t)(ticks - base_ticks) / ticks_per_ns;
	/* a calibration read back from a damaged black box may be anything: clamp */
	int64_t d = q >= 9.2e18 ? INT64_MAX : q <= -9.2e18 ? INT64_MIN + 1 : (int64_t)q;
	if (d < 0 && (uint64_t)-d > base_ns)
		return 0;
	return base_ns + (uint64_t)d;
}

uint64_t ttlog__clock_to_ns(const struct ttlog__clock_map *m, uint64_t ticks)
{
	if (m->base_ticks == 0 && m->ticks_per_ns == 1.0)
		return ticks;
	if (m->nanchors >= 2 && ticks >= m->anchors[0].ticks &&
	    ticks < m->anchors[m->nanchors - 1].ticks) {
		uint32_t lo = 0, hi = m->nanchors - 1; /* anchors[lo] <= ticks < anchors[hi] */
		while (hi - lo > 1) {
			uint32_t mid = lo + (hi - lo) / 2;
			if (m->anchors[mid].ticks <= ticks)
				lo = mid;
			else
				hi = mid;
		}
		const struct ttlog__anchor *a = &m->anchors[lo], *b = &m->anchors[hi];
		double f = (double)(ticks - a->ticks) / (double)(b->ticks - a->ticks);
		return a->ns + (uint64_t)(f * (double)(b->ns - a->ns));
	}
	if (m->nanchors >= 1 && ticks < m->anchors[0].ticks)
		return line(m->anchors[0].ticks, m->anchors[0].ns, m->ticks_per_ns, ticks);
	/* integer origin, float only for the (small) offset: a double holding ns since
	 * the epoch would round to 256 ns */
	return line(m->base_ticks, m->base_ns, m->ticks_per_ns, ticks);
}
