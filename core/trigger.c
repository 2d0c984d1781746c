/*
 * trigger.c - incident triggers: an event at or above TTLOG_TRIGGER_LEVEL, a call of
 * ttlog_trigger(), or more than N events lost (overwritten or dropped) within T ms asks
 * for a snapshot "trigger-<reason>" that the writer thread takes once the post-trigger
 * window (TTLOG_TRIGGER_POST_MS) has passed, so that the snapshot holds what followed the
 * trigger as well as what led to it. Rate limited (TTLOG_TRIGGER_MIN_INTERVAL_S): a
 * trigger within the interval of the last one, or while its snapshot is still pending,
 * is counted as suppressed. Firing is async-signal-safe: two CAS and an eventfd write.
 *
 * The log call pays one compare and branch: its callsite's level against
 * ttlog__trigger_min (TTLOG_LEVEL_OFF + 1 when no level triggers).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

uint8_t ttlog__trigger_min = TTLOG_LEVEL_OFF + 1;

/* The one trigger whose snapshot is pending: filled by the thread that won the rate
 * limiter's CAS and then `state` 0 -> 1 (A1/R1), handed to the writer by R2, given back
 * by the writer's R3 once the snapshot is written. */
static struct {
	_Atomic int state; /* 0 free, 1 being filled, 2 armed: the writer's */
	char reason[TTLOG_REASON_MAX + 1];
	uint64_t due_ms; /* CLOCK_MONOTONIC ms: when the post-trigger window ends */
} pending;

static struct {
	uint64_t post_ms, min_interval_ns;
	uint64_t loss_events, loss_ms; /* loss trigger: more than loss_events in loss_ms; 0: off */
	_Atomic uint64_t next_ok_ns;   /* rate limiter: no trigger fires before this time */
	_Atomic uint64_t fired, suppressed;
	/* the writer's loss samples: every loss_ms / 4, the newest LOSS_SAMPLES kept */
	uint64_t sample_ms[5], sample_lost[5];
	unsigned nsamples, next_sample;
} t;
#define LOSS_SAMPLES 5

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t lost_now(void)
{
	ttlog_stats st;

	ttlog_get_stats(&st);
	return st.overwritten + st.dropped;
}

int ttlog__trigger_init(const ttlog_config *cfg, char *msg, size_t len)
{
	int level = TTLOG_LEVEL_OFF;

	if (cfg->trigger_level != NULL && ttlog__parse_level(cfg->trigger_level, &level) < 0) {
		snprintf(msg, len, "trigger_level '%.40s': want trace|debug|info|warn|error|fatal|off",
			 cfg->trigger_level);
		return -EINVAL;
	}
	if (cfg->trigger_post_ms > 3600000 || cfg->trigger_min_interval_s > 86400 ||
	    cfg->trigger_loss_ms > 3600000) {
		snprintf(msg, len, "%s",
			 "trigger_post_ms and trigger_loss_ms: at most 3600000; "
			 "trigger_min_interval_s: at most 86400");
		return -EINVAL;
	}
	t.post_ms = cfg->trigger_post_ms ? cfg->trigger_post_ms : TTLOG_TRIGGER_POST_MS_DEFAULT;
	t.min_interval_ns = (uint64_t)(cfg->trigger_min_interval_s
					       ? cfg->trigger_min_interval_s
					       : TTLOG_TRIGGER_MIN_INTERVAL_DEFAULT) *
			    1000000000u;
	t.loss_events = cfg->trigger_loss_events;
	t.loss_ms = cfg->trigger_loss_ms ? cfg->trigger_loss_ms : 1000;
	/* relaxed: ttlog_init publishes the ring (release) after this */
	atomic_store_explicit(&t.next_ok_ns, 0, memory_order_relaxed);
	atomic_store_explicit(&t.fired, 0, memory_order_relaxed);
	atomic_store_explicit(&t.suppressed, 0, memory_order_relaxed);
	atomic_store_explicit(&pending.state, 0, memory_order_relaxed);
	/* the window's first sample: nothing is lost before ttlog_init returns */
	t.sample_ms[0] = mono_ns() / 1000000u;
	t.sample_lost[0] = 0;
	t.nsamples = t.next_sample = 1;
	/* OFF (6) triggers nothing: the minimum is then above every recordable level */
	__atomic_store_n(&ttlog__trigger_min, (uint8_t)(level >= TTLOG_LEVEL_OFF ? 7 : level),
			 __ATOMIC_RELAXED);
	return 0;
}

void ttlog__trigger_stop(void)
{
	__atomic_store_n(&ttlog__trigger_min, (uint8_t)(TTLOG_LEVEL_OFF + 1), __ATOMIC_RELAXED);
}

int ttlog__trigger_fire(const char *reason)
{
	uint64_t now = mono_ns();
	/* relaxed: the CAS below decides; nothing else is read through it */
	uint64_t next = atomic_load_explicit(&t.next_ok_ns, memory_order_relaxed);
	int free_ = 0;

	if (now < next || !atomic_compare_exchange_strong_explicit(&t.next_ok_ns, &next,
								   now + t.min_interval_ns,
								   memory_order_relaxed,
								   memory_order_relaxed))
		goto suppressed;
	/* A1: acquire, pairs with R3 in ttlog__trigger_run(): the writer is done with the
	 * previous trigger's reason */
	if (!atomic_compare_exchange_strong_explicit(&pending.state, &free_, 1,
						     memory_order_acquire, memory_order_relaxed))
		goto suppressed; /* the previous trigger's snapshot is still to be written */
	char r[TTLOG_REASON_MAX + 1];
	size_t pos = 0;
	ttlog__sanitize_reason(reason, r, sizeof r);
	ttlog__fmt_str(pending.reason, sizeof pending.reason, &pos, "trigger-");
	ttlog__fmt_str(pending.reason, sizeof pending.reason, &pos, r);
	pending.due_ms = now / 1000000u + t.post_ms;
	/* R2: release, pairs with A2 in the writer's ttlog__trigger_due() */
	atomic_store_explicit(&pending.state, 2, memory_order_release);
	/* relaxed: counters */
	atomic_fetch_add_explicit(&t.fired, 1, memory_order_relaxed);
	ttlog__writer_wake();
	return 0;
suppressed:
	atomic_fetch_add_explicit(&t.suppressed, 1, memory_order_relaxed);
	return -EBUSY;
}

TTLOG_API int ttlog_trigger(const char *reason)
{
	int saved = errno, rc;

	/* relaxed: a running check, as ttlog_request_snapshot's */
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_relaxed) == NULL)
		return -ESRCH;
	rc = ttlog__trigger_fire(reason != NULL ? reason : "manual");
	errno = saved;
	return rc;
}

void ttlog__trigger_level_fired(int level)
{
	static const char *const names[] = {"trace", "debug", "info", "warn", "error", "fatal"};

	ttlog__trigger_fire(level >= 0 && level < 6 ? names[level] : "level");
}

/* The writer's loss trigger: a sample every loss_ms / 4; more than loss_events lost
 * since the oldest sample taken within the last loss_ms fires it. */
static void loss_check(uint64_t now_ms)
{
	uint64_t lost = lost_now(), step = t.loss_ms / 4 ? t.loss_ms / 4 : 1, ref = lost;
	unsigned newest = (t.next_sample + LOSS_SAMPLES - 1) % LOSS_SAMPLES;

	if (t.nsamples == 0 || now_ms >= t.sample_ms[newest] + step) {
		t.sample_ms[t.next_sample] = now_ms;
		t.sample_lost[t.next_sample] = lost;
		t.next_sample = (t.next_sample + 1) % LOSS_SAMPLES;
		if (t.nsamples < LOSS_SAMPLES)
			t.nsamples++;
	}
	for (unsigned i = 0; i < t.nsamples; i++)
		if (t.sample_ms[i] + t.loss_ms >= now_ms && t.sample_lost[i] < ref)
			ref = t.sample_lost[i];
	if (lost - ref > t.loss_events) {
		/* the window restarts: the same losses do not fire again */
		for (unsigned i = 0; i < t.nsamples; i++)
			t.sample_lost[i] = lost;
		ttlog__trigger_fire("loss");
	}
}

uint64_t ttlog__trigger_next_ms(uint64_t now_ms)
{
	uint64_t next = 0;

	if (t.loss_events != 0) {
		loss_check(now_ms);
		next = now_ms + (t.loss_ms / 4 ? t.loss_ms / 4 : 1);
	}
	/* A2: acquire, pairs with R2 in ttlog__trigger_fire(): the reason and due time */
	if (atomic_load_explicit(&pending.state, memory_order_acquire) == 2 &&
	    (next == 0 || pending.due_ms < next))
		next = pending.due_ms;
	return next;
}

void ttlog__trigger_run(uint64_t now_ms, int now_anyway)
{
	char reason[TTLOG_REASON_MAX + 1];

	/* A2 again */
	if (atomic_load_explicit(&pending.state, memory_order_acquire) != 2 ||
	    (now_ms < pending.due_ms && !now_anyway))
		return;
	memcpy(reason, pending.reason, sizeof reason);
	ttlog__snapshot(reason, NULL, 0, false);
	/* R3: release, pairs with A1 in ttlog__trigger_fire() */
	atomic_store_explicit(&pending.state, 0, memory_order_release);
}

void ttlog__trigger_stats(uint64_t *fired, uint64_t *suppressed)
{
	/* relaxed: counters */
	*fired = atomic_load_explicit(&t.fired, memory_order_relaxed);
	*suppressed = atomic_load_explicit(&t.suppressed, memory_order_relaxed);
}

void ttlog__trigger_after_fork(void)
{
	/* a trigger armed in the parent is the parent's writer's to serve */
	atomic_store_explicit(&pending.state, 0, memory_order_relaxed);
}
