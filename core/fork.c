/*
 * fork.c - a forked child's rings, settled when the child first uses them.
 *
 * fork() copies the rings as they are at one instant, while other threads of the parent may
 * be in the middle of a push: in the child, where those threads do not exist, a slot they
 * had claimed is never published (an mpmc ring then drops every push that reaches it). With
 * a black box the rings are not even copied: the child maps its parent's live file
 * (box_fork.c). So the parent notes every ring's positions just before the fork
 * (ttlog__fork_prepare: a few loads per ring), the child only marks its rings as unsettled
 * (ttlog__fork_child), and the first thing in the child that touches them (a log call, a
 * snapshot, the stats, a trigger) settles them: each ring is cut back to the noted
 * positions. A record the parent overwrote since (box), or whose push had not finished, is
 * gone from the child's ring: the ones that remain move to the newest positions below the
 * noted tail (in order, each validated seqlock-style), the positions below them are marked
 * free and count as overwritten. A child that only calls exec settles nothing.
 *
 * Settling runs once, in whichever thread of the child gets there first; other threads'
 * log calls meanwhile drop their event (counted), their other calls wait for it.
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "internal.h"

/* GCC's ThreadSanitizer rejects atomic_thread_fence: acquire loads of each word instead
 * (as variants/percpu.c does). */
#if defined(__SANITIZE_THREAD__)
#define FORK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FORK_TSAN 1
#endif
#endif

enum { FK_OWN = 0, FK_UNSETTLED = 1, FK_SETTLING = 2 };

/* percpu's seq flags (variants/percpu.c, docs/blackbox-format.md): bit 63 being written,
 * bit 62 consumed; a free slot is "consumed" */
#define SEQ_FLAGS (3ull << 62)
#define PERCPU_FREE (1ull << 62)
enum { SEG_FREE = 0, SEG_CLAIMED = 1, SEG_VALID = 2 };

/* Every ring segment of the process (variants describe them through ttlog__box_segment,
 * box or not), with its positions at the last fork. Claimed lock-free (a shard may be made
 * in a signal handler); removed under reg_lock, which the fork's prepare holds while it
 * reads the rings, so that no ring is unmapped under it. */
#define FORK_SEGS 8192
static struct fork_entry {
	_Atomic uint32_t state; /* SEG_* */
	struct ttlog_seg seg;
	struct ttlog__fork_pos at_fork;
} reg[FORK_SEGS];
static _Atomic uint32_t reg_top; /* entries [0, reg_top) were ever claimed */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	_Atomic int state; /* FK_*: FK_OWN in the parent and once a child has settled */
	/* a log call counting a loss while the child settles (see ttlog__fork_count) */
	_Atomic uint32_t counting;
	_Atomic int installed;     /* the child's own box is mapped (while settling) */
	_Atomic uint64_t extra[2]; /* dropped_extra and truncated counted while settling */
} fk;

/* the thread that is settling: its signal handlers must not wait for it */
static __thread int tl_settling __attribute__((tls_model("initial-exec")));

void ttlog__fork_track(const struct ttlog_seg *s)
{
	uint32_t top = atomic_load_explicit(&reg_top, memory_order_relaxed);

	for (uint32_t i = 0; i < FORK_SEGS; i++) {
		uint32_t free_ = SEG_FREE;
		/* relaxed: claims the entry; its content is published by the VALID store */
		if (atomic_load_explicit(&reg[i].state, memory_order_relaxed) != SEG_FREE ||
		    !atomic_compare_exchange_strong_explicit(&reg[i].state, &free_, SEG_CLAIMED,
							     memory_order_relaxed,
							     memory_order_relaxed))
			continue;
		reg[i].seg = *s;
		reg[i].at_fork.valid = false;
		while (top < i + 1 && !atomic_compare_exchange_weak_explicit(&reg_top, &top, i + 1,
									     memory_order_relaxed,
									     memory_order_relaxed))
			;
		/* release: pairs with the acquire loads of the prepare and the settling */
		atomic_store_explicit(&reg[i].state, SEG_VALID, memory_order_release);
		return;
	}
	/* full: this segment is not cut in a forked child (it heals as the child logs, but for
	 * mpmc, where a slot claimed at the fork would make the child drop) */
}

static bool within(const void *p, const void *lo, size_t bytes)
{
	const unsigned char *c = p, *l = lo;

	return c != NULL && l != NULL && c >= l && c < l + bytes;
}

void ttlog__fork_untrack(const void *mem, size_t bytes)
{
	uint32_t top = atomic_load_explicit(&reg_top, memory_order_acquire);

	pthread_mutex_lock(&reg_lock);
	for (uint32_t i = 0; i < top; i++) {
		const struct ttlog_seg *s = &reg[i].seg;
		if (atomic_load_explicit(&reg[i].state, memory_order_acquire) != SEG_VALID)
			continue;
		if (within(s->slots, mem, bytes) || within(s->tail, mem, bytes) ||
		    within(s->head, mem, bytes) || within(s->popped, mem, bytes) ||
		    within(s->dropped, mem, bytes) || within(s->busy, mem, bytes))
			atomic_store_explicit(&reg[i].state, SEG_FREE, memory_order_release);
	}
	pthread_mutex_unlock(&reg_lock);
}

static uint64_t load_u64(const void *p, memory_order o)
{
	return atomic_load_explicit((_Atomic uint64_t *)p, o);
}

void ttlog__fork_prepare(void)
{
	uint32_t top;

	pthread_mutex_lock(&reg_lock); /* held across the fork: ttlog__fork_parent/_child */
	/* a child that has not settled forks again: its child inherits the same cut */
	if (ttlog__fork_pending())
		return;
	top = atomic_load_explicit(&reg_top, memory_order_acquire);
	for (uint32_t i = 0; i < top; i++) {
		struct fork_entry *e = &reg[i];
		e->at_fork.valid =
			atomic_load_explicit(&e->state, memory_order_acquire) == SEG_VALID;
		if (!e->at_fork.valid)
			continue;
		/* acquire: the cut is "every position below tail", as a snapshot takes it */
		e->at_fork.tail = load_u64(e->seg.tail, memory_order_acquire);
		e->at_fork.head = load_u64(e->seg.head, memory_order_acquire);
		/* relaxed: counters */
		e->at_fork.popped = load_u64(e->seg.popped, memory_order_relaxed);
		e->at_fork.dropped = load_u64(e->seg.dropped, memory_order_relaxed);
	}
	ttlog__box_before_fork();
}

void ttlog__fork_parent(void)
{
	pthread_mutex_unlock(&reg_lock);
}

void ttlog__fork_child(void)
{
	bool any = false;

	pthread_mutex_unlock(&reg_lock); /* the child has one thread; the lock is its own */
	for (uint32_t i = 0, top = atomic_load_explicit(&reg_top, memory_order_relaxed); i < top;
	     i++)
		any |= atomic_load_explicit(&reg[i].state, memory_order_relaxed) == SEG_VALID;
	ttlog__box_after_fork();
	if (!any && !ttlog__box_shared())
		return;
	/* relaxed: the child has one thread */
	atomic_store_explicit(&fk.installed, 0, memory_order_relaxed);
	atomic_store_explicit(&fk.counting, 0, memory_order_relaxed);
	atomic_store_explicit(&fk.extra[0], 0, memory_order_relaxed);
	atomic_store_explicit(&fk.extra[1], 0, memory_order_relaxed);
	atomic_store_explicit(&fk.state, FK_UNSETTLED, memory_order_relaxed);
}

bool ttlog__fork_pending(void)
{
	/* relaxed: set before the child has a second thread; cleared with release below */
	return atomic_load_explicit(&fk.state, memory_order_relaxed) != FK_OWN;
}

/* Copy the record of position p out of a slot, seqlock style (the slot may be the
 * parent's, live): true when the slot holds p's record, whole. */
static bool read_record(const unsigned char *slot, uint64_t p, uint64_t *out)
{
	_Atomic uint64_t *s = (_Atomic uint64_t *)slot;
	/* A1: acquire, pairs with the producers' publishing store of seq */
	uint64_t seq = atomic_load_explicit(&s[0], memory_order_acquire);

	if (seq != p + 1)
		return false; /* another lap, being written, popped, or never written */
#if defined(FORK_TSAN)
	for (size_t i = 1; i < TTLOG_RECORD_SIZE / 8; i++)
		out[i - 1] = atomic_load_explicit(&s[i], memory_order_acquire);
#else
	for (size_t i = 1; i < TTLOG_RECORD_SIZE / 8; i++)
		out[i - 1] = atomic_load_explicit(&s[i], memory_order_relaxed);
	/* F2: acquire fence, pairs with the producers' release fence after their mark: a
	 * word of a newer lap means the re-check below sees that lap's mark */
	atomic_thread_fence(memory_order_acquire);
#endif
	return atomic_load_explicit(&s[0], memory_order_relaxed) == seq;
}

void ttlog__fork_cut(const struct ttlog_seg *s, const struct ttlog__fork_pos *f,
		     const unsigned char *src, unsigned char *dst, ptrdiff_t to_dst)
{
	uint64_t c = s->nslots, mask = c - 1, t = f ? f->tail : s->pos0;
	uint64_t h = f ? f->head : s->pos0, lo, q, rec[TTLOG_RECORD_SIZE / 8];

	if (t < s->pos0)
		t = h = s->pos0;
	if (h > t)
		h = t;
	lo = t - s->pos0 >= c ? t - c : s->pos0;
	if (h > lo)
		lo = h;
	/* newest first, into the newest positions (q >= p: in place, a slot is written only
	 * after it was read): records of the parent's later laps and those cut mid-write drop
	 * out, the others keep their order */
	q = t;
	for (uint64_t p = t; p > lo;) {
		p--;
		if (!read_record(src + (p & mask) * TTLOG_RECORD_SIZE, p, rec + 1))
			continue;
		if (--q == p && dst == src)
			continue; /* in place already */
		rec[0] = q + 1;
		memcpy(dst + (q & mask) * TTLOG_RECORD_SIZE, rec, sizeof rec);
	}
	/* The slots not holding a record: mpmc's producer of position r + C waits for seq
	 * r + C (the slot free); for spsc and percpu, a slot that says it holds a position
	 * after r (the parent's later laps, a push in flight) would read, once the child's
	 * tail reaches it, as a record whose tail store was cut. Only the slots that must
	 * change are written (in place, a page is copied only if it must be). */
	for (uint64_t k = 0; k < c - (t - q); k++) {
		uint64_t r = q - 1 - k, cur,
			 v = s->kind == TTLOG_SEG_MPMC     ? r + c
			     : s->kind == TTLOG_SEG_PERCPU ? (r + 1) | PERCPU_FREE
							   : 0;
		unsigned char *slot = dst + (r & mask) * TTLOG_RECORD_SIZE;
		memcpy(&cur, slot, sizeof cur);
		if (s->kind == TTLOG_SEG_MPMC ? cur != v : (cur & ~SEQ_FLAGS) > r + 1)
			memcpy(slot, &v, sizeof v);
	}
#define DST(p) ((unsigned char *)(p) + to_dst)
	memcpy(DST(s->tail), &t, sizeof t);
	memcpy(DST(s->head), &q, sizeof q); /* what is below q was stored and is gone */
	{
		uint64_t popped = f && f->popped < q ? f->popped : 0, dropped = f ? f->dropped : 0;
		uint32_t idle = 0;
		memcpy(DST(s->popped), &popped, sizeof popped);
		memcpy(DST(s->dropped), &dropped, sizeof dropped);
		if (s->busy != NULL)
			memcpy(DST(s->busy), &idle, sizeof idle);
	}
#undef DST
}

/* Settle: each ring cut back to the fork, those of a box shared with the parent from its
 * live pages into the child's new box (box_fork.c), the others in place. */
static void settle(void)
{
	uint32_t top = atomic_load_explicit(&reg_top, memory_order_acquire);
	const unsigned char *box_lo;
	size_t box_len;
	ptrdiff_t to_box = ttlog__box_settle_begin(&box_lo, &box_len);

	for (uint32_t i = 0; i < top; i++) {
		struct fork_entry *e = &reg[i];
		ptrdiff_t to = within(e->seg.slots, box_lo, box_len) ? to_box : 0;
		if (atomic_load_explicit(&e->state, memory_order_acquire) != SEG_VALID)
			continue;
		ttlog__fork_cut(&e->seg, e->at_fork.valid ? &e->at_fork : NULL, e->seg.slots,
				(unsigned char *)e->seg.slots + to, to);
	}
	ttlog__box_settle_end();
}

bool ttlog__fork_tracked(const void *slots)
{
	uint32_t top = atomic_load_explicit(&reg_top, memory_order_acquire);

	for (uint32_t i = 0; i < top; i++)
		if (atomic_load_explicit(&reg[i].state, memory_order_acquire) == SEG_VALID &&
		    reg[i].seg.slots == slots)
			return true;
	return false;
}

bool ttlog__fork_settled(bool wait)
{
	int s = FK_UNSETTLED;

	/* acquire: pairs with R1 below: the child's rings are settled */
	if (atomic_load_explicit(&fk.state, memory_order_acquire) == FK_OWN)
		return true;
	if (tl_settling)
		return false; /* a signal handler interrupted the settling */
	if (!atomic_compare_exchange_strong_explicit(&fk.state, &s, FK_SETTLING,
						     memory_order_acquire, memory_order_acquire)) {
		if (!wait)
			return false;
		while (atomic_load_explicit(&fk.state, memory_order_acquire) != FK_OWN)
			sched_yield();
		return true;
	}
	tl_settling = 1;
	atomic_signal_fence(memory_order_seq_cst);
	settle();
	/* counts from now on go to the child's box; those made before are in extra (Dekker:
	 * seq_cst store, then load, against ttlog__fork_count's) */
	atomic_store_explicit(&fk.installed, 1, memory_order_seq_cst);
	while (atomic_load_explicit(&fk.counting, memory_order_seq_cst) != 0)
		sched_yield();
	ttlog__box_add_counts(atomic_exchange(&fk.extra[0], 0), atomic_exchange(&fk.extra[1], 0));
	atomic_signal_fence(memory_order_seq_cst);
	tl_settling = 0;
	/* R1: release, pairs with the acquire loads above */
	atomic_store_explicit(&fk.state, FK_OWN, memory_order_release);
	ttlog__box_settled_late();
	ttlog__trigger_fast_again(); /* log calls back on their fast path */
	return true;
}

bool ttlog__fork_count(int which)
{
	bool held;

	atomic_fetch_add_explicit(&fk.counting, 1, memory_order_seq_cst);
	held = atomic_load_explicit(&fk.installed, memory_order_seq_cst) == 0;
	if (held) /* relaxed: a counter */
		atomic_fetch_add_explicit(&fk.extra[which], 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&fk.counting, 1, memory_order_seq_cst);
	return held;
}
