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
 *
 * The incident window is kept out of the overwrite path: when a trigger fires, the
 * newest TTLOG_TRIGGER_PRE + 1 events (the trigger's own and the ones before it) are
 * copied out of the ring at once, by the thread that fired it; then, until the window
 * ends, ttlog__trigger_min is 0 so that every log call takes the slow path, which also
 * copies its event into the first TTLOG_TRIGGER_PRE slots of the post window. The
 * trigger's snapshot merges both copies with the ring's contents (duplicates removed,
 * counters moved from overwritten to kept) and describes the window in its header.
 * Memory: 2 TTLOG_TRIGGER_PRE + 1 records, reserved at init.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../variants/merge.h"
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

/* A post-window copy, seqlock style: gen is 0 while the words are written, then the
 * window's number. Release stores and acquire loads of the words (plain moves on x86-64)
 * order them with gen without fences (GCC's TSan rejects fences). */
#define PIN_WORDS (sizeof(struct ttlog_record) / 8)
struct pin_slot {
	_Atomic uint64_t gen;
	_Atomic uint64_t w[PIN_WORDS];
};

static struct {
	/* read-only while running */
	size_t pre_cap, post_cap;
	uint8_t level_min; /* the configured trigger level (TTLOG_LEVEL_OFF + 1: none) */
	struct ttlog_record *pre;
	struct pin_slot *post;
	/* written by the thread that fired (owner of pending.state 1 -> 2), read by the
	 * writer after A2 */
	size_t npre;
	uint64_t at_ts; /* the trigger's time, record ticks */
	uint64_t ev_ts; /* the event that fired it (ts, tid; 0: none, ttlog_trigger or loss) */
	uint32_t ev_tid;
	/* the window: open from the firing (R4) to the writer's close; post slots are
	 * claimed with post_n and stamped with the window's gen */
	_Atomic int open;
	_Atomic uint64_t post_n, gen, post_missed;
	/* the writer thread while it writes a trigger's snapshot (merge and header) */
	int merging;
	pthread_t writer;
	uint64_t merged_post;
} pin;

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
	    cfg->trigger_loss_ms > 3600000 || cfg->trigger_pre > (1u << 20)) {
		snprintf(msg, len, "%s",
			 "trigger_post_ms and trigger_loss_ms: at most 3600000; "
			 "trigger_min_interval_s: at most 86400; trigger_pre: at most 2^20");
		return -EINVAL;
	}
	ttlog__trigger_fini();
	pin.pre_cap = (cfg->trigger_pre ? cfg->trigger_pre : TTLOG_TRIGGER_PRE_DEFAULT) + 1;
	pin.post_cap = pin.pre_cap - 1;
	pin.pre = calloc(pin.pre_cap, sizeof *pin.pre);
	pin.post = calloc(pin.post_cap, sizeof *pin.post);
	if (pin.pre == NULL || pin.post == NULL) {
		ttlog__trigger_fini();
		snprintf(msg, len, "%s", "trigger window: out of memory");
		return -ENOMEM;
	}
	pin.npre = 0;
	pin.merging = 0;
	atomic_store_explicit(&pin.open, 0, memory_order_relaxed);
	atomic_store_explicit(&pin.post_n, 0, memory_order_relaxed);
	atomic_store_explicit(&pin.post_missed, 0, memory_order_relaxed);
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
	t.sample_ms[0] = ttlog__mono_ns() / 1000000u;
	t.sample_lost[0] = 0;
	t.nsamples = t.next_sample = 1;
	/* OFF (6) triggers nothing: the minimum is then above every recordable level */
	pin.level_min = (uint8_t)(level >= TTLOG_LEVEL_OFF ? TTLOG_LEVEL_OFF + 1 : level);
	__atomic_store_n(&ttlog__trigger_min, pin.level_min, __ATOMIC_RELAXED);
	return 0;
}

size_t ttlog__trigger_pin_records(void)
{
	return pin.pre_cap + pin.post_cap;
}

void ttlog__trigger_stop(void)
{
	/* (level_min stays: the writer may still close a window; no event is recorded after
	 * ttlog_shutdown has set the runtime level to off) */
	__atomic_store_n(&ttlog__trigger_min, (uint8_t)(TTLOG_LEVEL_OFF + 1), __ATOMIC_RELAXED);
}

void ttlog__trigger_fini(void)
{
	free(pin.pre);
	free(pin.post);
	pin.pre = NULL;
	pin.post = NULL;
	pin.pre_cap = pin.post_cap = 0;
}

/* The firing thread, owner of the pending trigger: copy the newest events out of the
 * ring (ring snapshots are async-signal-safe and never block) and open the post window. */
static void pin_window(void)
{
	/* acquire: pairs with the release in ttlog_init(); the ring is complete */
	struct ttlog_ring *ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	struct ttlog_ring_cut cut;

	pin.at_ts = ttlog__g.clock.tsc ? ttlog__rdtsc() : ttlog__realtime_ns();
	pin.npre = 0;
	/* under the snapshot buffers' claim, one ring snapshot at a time (the shard windows
	 * of a snapshot being written stay its own); while a snapshot is being written the
	 * pre-trigger events are not copied (pre_events 0): the ring still holds them */
	if (ring != NULL && pin.pre != NULL && ttlog__snapres_try() == 0) {
		pin.npre = ring_snapshot(ring, pin.pre, pin.pre_cap, &cut);
		ttlog__snapres_give();
	}
	/* relaxed: the window's slots are told apart by gen; R4 publishes the opening */
	atomic_store_explicit(&pin.post_n, 0, memory_order_relaxed);
	atomic_store_explicit(&pin.post_missed, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&pin.gen, 1, memory_order_relaxed);
	/* R4: release, pairs with A4 in ttlog__trigger_on_event() */
	atomic_store_explicit(&pin.open, 1, memory_order_release);
	/* every log call now takes the slow path, which copies its event */
	__atomic_store_n(&ttlog__trigger_min, 0, __ATOMIC_RELAXED);
}

int ttlog__trigger_fire(const char *reason, const struct ttlog_record *ev)
{
	uint64_t now = ttlog__mono_ns();
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
	pin.ev_ts = ev != NULL ? ev->ts : 0;
	pin.ev_tid = ev != NULL ? ev->tid : 0;
	pin_window();
	/* R2: release, pairs with A2 in the writer's ttlog__trigger_next_ms()/_run() */
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
	if (!ttlog__fork_settled(true)) /* the window copies a forked child's own rings */
		return -EAGAIN;
	rc = ttlog__trigger_fire(reason != NULL ? reason : "manual", NULL);
	errno = saved;
	return rc;
}

void ttlog__trigger_on_event(int level, const struct ttlog_record *r)
{
	static const char *const names[] = {"trace", "debug", "info", "warn", "error", "fatal"};

	/* A4: acquire, pairs with R4 in pin_window(): gen is the open window's */
	if (atomic_load_explicit(&pin.open, memory_order_acquire)) {
		uint64_t g = atomic_load_explicit(&pin.gen, memory_order_relaxed);
		/* relaxed: claims a slot; the slot's gen publishes it */
		uint64_t i = atomic_fetch_add_explicit(&pin.post_n, 1, memory_order_relaxed);
		if (i < pin.post_cap) {
			const uint64_t *w = (const uint64_t *)r;
			/* relaxed: ordered before the words by their release stores (R6): a
			 * reader that sees one of them sees 0 here (so a copy from an earlier
			 * window, preempted for a whole window, is not taken for a later one) */
			atomic_store_explicit(&pin.post[i].gen, 0, memory_order_relaxed);
			for (size_t k = 0; k < PIN_WORDS; k++)
				/* R6: release, pairs with A6 in ttlog__trigger_merge() */
				atomic_store_explicit(&pin.post[i].w[k], w[k], memory_order_release);
			/* R5: release, pairs with A5 in ttlog__trigger_merge() */
			atomic_store_explicit(&pin.post[i].gen, g, memory_order_release);
		} else {
			/* relaxed: a counter (these events are in the ring, or overwritten) */
			atomic_fetch_add_explicit(&pin.post_missed, 1, memory_order_relaxed);
		}
	}
	if (level >= pin.level_min)
		ttlog__trigger_fire(level >= 0 && level < 6 ? names[level] : "level", r);
}

/* Same event: every byte of the record (timestamp, thread, callsite, values). */
static int same_record(const struct ttlog_record *a, const struct ttlog_record *b)
{
	return memcmp(a, b, sizeof *a) == 0;
}

size_t ttlog__trigger_merge(struct ttlog_record *recs, size_t n, size_t cap,
			    struct ttlog_ring_cut *cut)
{
	size_t m = n, j = 0;

	if (!pin.merging || !pthread_equal(pin.writer, pthread_self()))
		return n;
	for (size_t i = 0; i < pin.npre && m < cap; i++)
		recs[m++] = pin.pre[i];
	/* relaxed: the writer closed the window (open = 0) before this; late claims are
	 * told apart by gen */
	uint64_t g = atomic_load_explicit(&pin.gen, memory_order_relaxed);
	uint64_t claimed = atomic_load_explicit(&pin.post_n, memory_order_relaxed);
	pin.merged_post = 0;
	for (uint64_t i = 0; i < claimed && i < pin.post_cap && m < cap; i++) {
		/* A5: acquire, pairs with R5 in ttlog__trigger_on_event(): the copy is whole */
		if (atomic_load_explicit(&pin.post[i].gen, memory_order_acquire) != g)
			continue; /* claimed, not written yet: the event is in the ring */
		uint64_t *w = (uint64_t *)&recs[m];
		for (size_t k = 0; k < PIN_WORDS; k++)
			/* A6: acquire, pairs with R6: a word written since shows in gen */
			w[k] = atomic_load_explicit(&pin.post[i].w[k], memory_order_acquire);
		/* relaxed: ordered by A6 */
		if (atomic_load_explicit(&pin.post[i].gen, memory_order_relaxed) != g)
			continue;
		m++;
		pin.merged_post++;
	}
	ttlog__sort_inplace(recs, m);
	/* duplicates (a pinned event still in the ring) are adjacent among equal times */
	for (size_t i = 0; i < m; i++) {
		size_t k = j;
		while (k > 0 && recs[k - 1].ts == recs[i].ts && !same_record(&recs[k - 1], &recs[i]))
			k--;
		if (k > 0 && recs[k - 1].ts == recs[i].ts)
			continue;
		recs[j++] = recs[i];
	}
	/* the pinned events the ring no longer held were counted overwritten (or popped) */
	uint64_t extra = j - n, take = extra < cut->overwritten ? extra : cut->overwritten;
	cut->kept += extra;
	cut->overwritten -= take;
	cut->popped -= extra - take < cut->popped ? extra - take : cut->popped;
	return j;
}

int ttlog__trigger_header(struct ttlog__trigger_info *ti)
{
	if (!pin.merging || !pthread_equal(pin.writer, pthread_self()))
		return 0;
	ti->at_ts = pin.at_ts;
	ti->pre = pin.npre;
	ti->post = pin.merged_post;
	/* relaxed: a counter, the window is closed */
	ti->post_missed = atomic_load_explicit(&pin.post_missed, memory_order_relaxed);
	ti->first_ts = pin.npre > 0 ? pin.pre[0].ts : pin.at_ts;
	ti->ev_ts = pin.ev_ts;
	ti->ev_tid = pin.ev_tid;
	return 1;
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
		ttlog__trigger_fire("loss", NULL);
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
	/* close the window: log calls back on the fast path (relaxed: a late one that still
	 * copies finds the window closed, or stamps an old gen... either way it is in the
	 * ring) */
	atomic_store_explicit(&pin.open, 0, memory_order_relaxed);
	__atomic_store_n(&ttlog__trigger_min, pin.level_min, __ATOMIC_RELAXED);
	pin.writer = pthread_self();
	pin.merging = 1;
	ttlog__snapshot(reason, NULL, 0, false);
	pin.merging = 0;
	/* R3: release, pairs with A1 in ttlog__trigger_fire() */
	atomic_store_explicit(&pending.state, 0, memory_order_release);
}

void ttlog__trigger_stats(uint64_t *fired, uint64_t *suppressed)
{
	/* relaxed: counters */
	*fired = atomic_load_explicit(&t.fired, memory_order_relaxed);
	*suppressed = atomic_load_explicit(&t.suppressed, memory_order_relaxed);
}

void ttlog__trigger_fast_again(void)
{
	uint8_t all = 0;

	/* relaxed: as ttlog__trigger_after_fork(); a window opened meanwhile wants every call
	 * on the slow path: put it back */
	if (__atomic_compare_exchange_n(&ttlog__trigger_min, &all, pin.level_min, false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED) &&
	    atomic_load_explicit(&pin.open, memory_order_relaxed))
		__atomic_store_n(&ttlog__trigger_min, 0, __ATOMIC_RELAXED);
}

void ttlog__trigger_after_fork(void)
{
	/* a trigger armed in the parent is the parent's writer's to serve */
	atomic_store_explicit(&pending.state, 0, memory_order_relaxed);
	atomic_store_explicit(&pin.open, 0, memory_order_relaxed);
	pin.merging = 0;
	__atomic_store_n(&ttlog__trigger_min, pin.level_min, __ATOMIC_RELAXED);
}
