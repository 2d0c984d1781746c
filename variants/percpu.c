/*
 * percpu.c - one ring per possible CPU; a push is a restartable sequence (rseq) on the ring
 * of the CPU it runs on, so producers never wait for, nor drop because of, one another.
 *
 * Algorithm: per-CPU data updated under restartable sequences, as in the Linux kernel's
 * rseq (M. Desnoyers, P. Turner, "Restartable sequences", Linux 4.18,
 * Documentation/userspace-api/rseq.rst and tools/testing/selftests/rseq/) and librseq's
 * per-CPU buffer (rseq_cmpeqv_trystorev_storev: stores into a slot, one commit store of
 * the offset). glibc 2.35+ registers an rseq area for every thread; we read its place from
 * __rseq_offset / __rseq_size (<sys/rseq.h>) and never register one ourselves.
 *
 * Layout: n rings (n = possible CPUs), C slots each (C = capacity rounded up to a power of
 * two, at least 16), one mapping from ttlog__ring_alloc (n C slots of TTLOG_RECORD_SIZE
 * bytes: the 8-byte sequence word and the record). Per CPU: tail (producers) and head
 * (consumers) on cache lines of their own. Positions start at C (so that slot i starts as
 * "consumed by position i", see the seq encoding): a ring has stored tail - C records.
 *
 * A slot's seq: p + 1 = holds the complete record of position p; (p + 1) | BUSY = the
 * record of p is being written; (p + 1) | USED = the record of p was popped.
 *
 * rseq push (x86-64; under overwrite): cpu = rseq->cpu_id; then, inside the critical
 * section (abort handler preceded by RSEQ_SIG; no system call inside): check cpu_id is
 * still cpu, pos = tail, seq = busy(pos), copy the record words, seq = pos + 1, and the
 * commit store tail = pos + 1. A preempted, migrated or signalled push is aborted by the
 * kernel before it runs again and restarts from the CPU read: it never holds a slot. An
 * aborted push leaves its slot busy at a position >= tail, which snapshots never read as a
 * record (the record the slot held before counts as overwritten; the restart rewrites the
 * slot). x86 does not reorder stores with stores, so the plain stores in program order are
 * release stores to readers on other CPUs; readers use acquire loads and re-check seq after
 * the copy (a seqlock). No locked instruction: overwritten records are tail - C - head
 * arithmetic, not counted. Under drop, the critical section first checks that the slot's
 * previous record was popped (seq == used(pos - C)); if not, it leaves the section and the
 * drop is counted with one atomic add (a locked instruction only when dropping).
 *
 * Fallback (no rseq: GLIBC_TUNABLES=glibc.pthread.rseq=0, an old kernel, not x86-64, or a
 * TSan build, since TSan cannot see the stores inside the asm): cpu = sched_getcpu() (vDSO,
 * no system call), then a Vyukov-style claim: a position is reserved by a CAS on that
 * ring's tail only once the slot's previous lap is complete (or popped), so two writers
 * never share a slot; the record is published by a release store of seq. A writer may be
 * migrated after sched_getcpu(): rings are then shared, which is why the claim is atomic.
 * A slot whose previous writer is still writing (a producer preempted for a whole lap)
 * makes the push drop, counted, as mpmc does; snapshots count claimed-but-unwritten
 * positions as in_flight. Which path a ring uses is decided once at create, for the whole
 * ring (the two never mix in one ring): rseq when __rseq_size covers the original ABI (20
 * bytes: glibc 2.36 reports 20, not 32) and the creating thread's cpu_id is registered
 * (>= 0). A thread of an rseq ring without a registered area (glibc failed to register
 * it) drops its records, counted: it could use neither path safely.
 *
 * Pop (producer/consumer experiments): the ring the caller last took a record from (else
 * its CPU's ring) first, then the others in index order; FIFO within a ring, not across
 * rings. A consumer that lost a race on a ring's head starts its next pop on the next ring,
 * so that consumers spread over the rings. A consumer claims the head position by CAS,
 * copies, and keeps the record if seq still shows it (else a producer overwrote it
 * meanwhile: it counts as overwritten and the consumer tries the next). Under drop the
 * consumer then marks the slot used, which is what lets producers reuse it; a consumer
 * preempted between its CAS and that mark makes the pushes to that slot drop meanwhile.
 *
 * Snapshot: per ring, the cut is "positions below tail". A k-way merge reads the rings'
 * records newest first straight from the rings (one validated candidate per ring, in
 * scratch reserved at create: n records, not n C), filling the caller's buffer from its end
 * with the newest max records of all rings, then sorts them by timestamp (merge.h; a ring
 * is in push order, not quite timestamp order). Memory: n C slots plus O(n) scratch. A
 * snapshot that finds the scratch in use (one on another thread, or the one a signal
 * handler interrupted) copies ring after ring into the caller's buffer and merges in
 * place, without windows (merge.h).
 *
 * Progress: rseq push is wait-free in the absence of interference and lock-free overall
 * (a restart happens only when the thread was preempted, migrated or signalled inside the
 * section, each of which lets another push complete); the fallback push is lock-free and
 * never waits (it drops). Pop is lock-free; snapshot is wait-free (one pass per ring).
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PERCPU_PREFETCH /* -DPERCPU_PREFETCH=0 turns it off (experiments) */
#define PERCPU_PREFETCH 4
#endif

#include "merge.h"
#include "ring.h"
#include "shard.h"

#if defined(__SANITIZE_THREAD__)
#define PERCPU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PERCPU_TSAN 1
#endif
#endif

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(PERCPU_TSAN) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#define PERCPU_RSEQ 1
#include <sys/rseq.h>
#else
#define PERCPU_RSEQ 0
#endif

/* The seqlock's word accesses: relaxed between fences F1/F2; under TSan (whose GCC build
 * rejects atomic_thread_fence) release stores and acquire loads of each word instead, the
 * fence-free form of the same seqlock (a reader that sees a word of a newer write also
 * sees that write's busy mark in its seq re-check). */
#if defined(PERCPU_TSAN)
#define PERCPU_W_STORE memory_order_release
#define PERCPU_W_LOAD memory_order_acquire
#define PERCPU_FENCE(o) ((void)0)
#else
#define PERCPU_W_STORE memory_order_relaxed
#define PERCPU_W_LOAD memory_order_relaxed
#define PERCPU_FENCE(o) atomic_thread_fence(o)
#endif

#define PERCPU_WORDS (sizeof(struct ttlog_record) / 8)
#define PERCPU_BUSY (1ull << 63)
#define PERCPU_USED (1ull << 62)
#define PERCPU_POS(s) ((s) & ~(PERCPU_BUSY | PERCPU_USED)) /* position + 1 */
#define PERCPU_SHIFT (TTLOG_RECORD_SIZE == 64 ? 6 : 7)      /* log2 of a slot's size */
#define PERCPU_MAX_RINGS 8192

struct percpu_slot {
	/* written by the slot's producer (plain stores in the rseq asm, release stores in
	 * the fallback) and by drop-mode consumers (release); read by everyone */
	_Atomic uint64_t seq;
	/* the record as words: written by the producer, read relaxed by consumers and
	 * snapshots, ordered by seq */
	_Atomic uint64_t w[PERCPU_WORDS];
};
_Static_assert(sizeof(struct percpu_slot) == TTLOG_RECORD_SIZE, "slot is one record size");
_Static_assert(sizeof(struct percpu_slot) == 1u << PERCPU_SHIFT, "slot size is 2^shift");

struct percpu_cpu {
	/* written by this CPU's producers (rseq: plain commit store; fallback: CAS), read
	 * by everyone; dropped: atomic add by producers that drop */
	_Alignas(64) _Atomic uint64_t tail;
	_Atomic uint64_t dropped;
	struct percpu_slot *ring; /* this CPU's C slots: read-only after create */
	/* written by consumers (CAS), read by producers (overwrite: eviction count) and
	 * snapshots; popped: atomic add by consumers in overwrite mode only (in drop mode
	 * only pops move head: popped is head - C, percpu_popped, and a pop executes one
	 * locked instruction, its CAS) */
	_Alignas(64) _Atomic uint64_t head;
	_Atomic uint64_t popped;
};
_Static_assert(sizeof(struct percpu_cpu) == 128, "two cache lines per CPU");

struct ttlog_ring {
	/* read-only after create */
	uint64_t id;    /* unique per ring, never 0: keys the consumers' caches (tl_pop) */
	unsigned n;     /* rings: possible CPUs */
	int policy;
	int rseq;       /* 1: pushes are rseq sequences; 0: sched_getcpu() + CAS */
	int rseq_overwrite; /* rseq and the overwrite policy: percpu_push's fast path */
	uint64_t cap;   /* C, slots per ring; also the first position */
	uint64_t mask;
	unsigned shift; /* log2 C */
	size_t bytes;
	struct percpu_slot *slots; /* n C */
	struct percpu_cpu *cpu;    /* n */
	/* snapshot scratch: owned by whoever set scratch_busy from 0 to 1 */
	_Alignas(64) _Atomic uint32_t scratch_busy;
	struct percpu_scan *scan;        /* n: one per ring (ring.h) */
	struct ttlog_shard_window *win;  /* n */
	unsigned *active;                /* n: rings with a candidate */
	size_t nwin;
};

static _Atomic uint64_t percpu_next_id;

/* rseq restarts of this thread (tests: the signal test checks a push did restart). */
static __thread uint64_t tl_restarts __attribute__((tls_model("initial-exec")));

uint64_t percpu_thread_restarts(void)
{
	return tl_restarts;
}

/* Possible CPUs: the highest index in /sys/devices/system/cpu/possible, plus one (rseq's
 * cpu_id is below it), at least sysconf(_SC_NPROCESSORS_CONF). Read once per create. */
static unsigned possible_cpus(void)
{
	long conf = sysconf(_SC_NPROCESSORS_CONF);
	unsigned n = conf > 0 ? (unsigned)conf : 1, hi = 0;
	char buf[256], *p, *end;
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");

	if (f != NULL) {
		if (fgets(buf, sizeof buf, f) != NULL) {
			for (p = buf; *p != '\0' && *p != '\n'; p = end) {
				unsigned long v = strtoul(p, &end, 10);
				if (end == p)
					break;
				if (v >= PERCPU_MAX_RINGS)
					v = PERCPU_MAX_RINGS - 1;
				if (v + 1 > hi)
					hi = (unsigned)v + 1;
				if (*end == '-' || *end == ',')
					end++;
			}
		}
		fclose(f);
	}
	if (hi > n)
		n = hi;
	return n < PERCPU_MAX_RINGS ? n : PERCPU_MAX_RINGS;
}

unsigned percpu_rings(void)
{
	return possible_cpus();
}

#if PERCPU_RSEQ
/* The calling thread's rseq cpu_id (negative: not registered). The area lives at
 * %fs:__rseq_offset; the kernel writes cpu_id, this thread reads it. */
static inline int32_t rseq_cpu_id(void)
{
	int32_t cpu;

	__asm__ __volatile__("movl %%fs:4(%1), %0" : "=r"(cpu) : "r"(__rseq_offset));
	return cpu;
}

static int rseq_usable(void)
{
	return __rseq_size >= 20 && rseq_cpu_id() >= 0;
}

/*
 * The critical section. [1, 2) is the sequence, 4 the abort handler (after RSEQ_SIG, in
 * __rseq_failure, as librseq lays it out), 3 the struct rseq_cs descriptor. Inputs: the
 * cpu read before, the ring's tail (head is at +64), the CPU's ring of slots. The stores
 * are plain movs in program order: x86-TSO keeps them in order for other CPUs (R1: the
 * busy mark before the words, the words before seq = pos + 1, seq before the commit store
 * of tail; pairs with A1/A2 in percpu_snapshot() and A3 in percpu_pop()).
 */
#define PERCPU_RSEQ_HEAD                                                                   \
	".pushsection __rseq_cs, \"aw\"\n\t"                                               \
	".balign 32\n\t"                                                                   \
	"3:\n\t"                                                                           \
	".long 0, 0\n\t"                                                                   \
	".quad 1f, 2f - 1f, 4f\n\t"                                                        \
	".popsection\n\t"                                                                  \
	".pushsection __rseq_cs_ptr_array, \"aw\"\n\t"                                     \
	".quad 3b\n\t"                                                                     \
	".popsection\n\t"                                                                  \
	"leaq 3b(%%rip), %%rax\n\t"                                                        \
	"movq %%rax, %%fs:8(%[off])\n\t"                                                   \
	"1:\n\t"                                                                           \
	"cmpl %[cpu], %%fs:4(%[off])\n\t"                                                  \
	"jnz 4f\n\t"                                                                       \
	"movq (%[tail]), %%rax\n\t"                                                        \
	"movq %%rax, %%rdx\n\t"                                                            \
	"andq %[mask], %%rdx\n\t"                                                          \
	"shlq %[shift], %%rdx\n\t"                                                         \
	"addq %[ring], %%rdx\n\t"
#define PERCPU_RSEQ_WRITE                                                                  \
	"leaq 1(%%rax), %%rcx\n\t"                                                         \
	"btsq $63, %%rcx\n\t"                                                              \
	"movq %%rcx, (%%rdx)\n\t"                                                          \
	".set .Lpercpu_o, 0\n\t"                                                           \
	".rept %c[words]\n\t"                                                              \
	"movq .Lpercpu_o(%[rec]), %%rcx\n\t"                                               \
	"movq %%rcx, .Lpercpu_o + 8(%%rdx)\n\t"                                            \
	".set .Lpercpu_o, .Lpercpu_o + 8\n\t"                                              \
	".endr\n\t"                                                                        \
	"leaq 1(%%rax), %%rax\n\t"                                                         \
	"movq %%rax, (%%rdx)\n\t"                                                          \
	"movq %%rax, (%[tail])\n\t"                                                        \
	"2:\n\t"                                                                           \
	".pushsection __rseq_failure, \"ax\"\n\t"                                          \
	".byte 0x0f, 0xb9, 0x3d\n\t"                                                       \
	".long 0x53053053\n\t" /* RSEQ_SIG */                                              \
	"4:\n\t"                                                                           \
	"jmp %l[abort]\n\t"                                                                \
	".popsection\n\t"

_Static_assert(RSEQ_SIG == 0x53053053, "glibc's RSEQ_SIG");
_Static_assert(offsetof(struct percpu_cpu, head) == 64, "head at tail + 64 in the asm");

/* Overwrite: store *rec on this CPU's ring c. 0 and *tail = the new tail (the position
 * stored + 1), or 1 to restart (aborted). */
static inline int rseq_push_overwrite(struct percpu_cpu *c, uint64_t mask, uint32_t cpu,
				      const struct ttlog_record *rec, uint64_t *tail)
{
	uint64_t t;

	__asm__ goto(PERCPU_RSEQ_HEAD PERCPU_RSEQ_WRITE
		     : "=&a"(t)
		     : [off] "r"(__rseq_offset), [cpu] "r"(cpu), [tail] "r"(&c->tail),
		       [ring] "r"(c->ring), [mask] "rm"(mask), [shift] "i"(PERCPU_SHIFT),
		       [rec] "r"(rec), [words] "i"(PERCPU_WORDS)
		     : "rcx", "rdx", "memory", "cc"
		     : abort);
	*tail = t;
	return 0;
abort:
	return 1;
}

/* Drop: as above, but only into a slot whose previous record was popped (seq ==
 * used(pos - C)), or that an aborted attempt of this push marked (busy, or complete when
 * it was aborted just before its commit store); 0 stored, 1 restart, 2 full. */
static inline int rseq_push_drop(struct ttlog_ring *r, uint32_t cpu,
				 const struct ttlog_record *rec)
{
	struct percpu_slot *ring = r->cpu[cpu].ring;

	/* A4 (in the asm): the load of seq == used(pos - C) pairs with R5 in percpu_pop():
	 * the consumer's copy of the old record is done (loads are not reordered with later
	 * stores on x86). */
	__asm__ goto(PERCPU_RSEQ_HEAD
		     "leaq 1(%%rax), %%rcx\n\t"
		     "subq %[cap], %%rcx\n\t"
		     "btsq $62, %%rcx\n\t"
		     "cmpq %%rcx, (%%rdx)\n\t"
		     "je 5f\n\t"
		     /* or the mark of an aborted push of this very position, busy or
		      * complete (aborted between seq and the commit store): it had found
		      * the slot free, and nobody can commit pos but a push here */
		     "movq (%%rdx), %%rcx\n\t"
		     "btrq $63, %%rcx\n\t"
		     "subq %%rax, %%rcx\n\t"
		     "cmpq $1, %%rcx\n\t"
		     "jnz %l[full]\n\t"
		     "5:\n\t"
		     PERCPU_RSEQ_WRITE
		     :
		     : [off] "r"(__rseq_offset), [cpu] "r"(cpu), [tail] "r"(&r->cpu[cpu].tail),
		       [ring] "r"(ring), [mask] "rm"(r->mask), [cap] "rm"(r->cap),
		       [shift] "i"(PERCPU_SHIFT), [rec] "r"(rec), [words] "i"(PERCPU_WORDS)
		     : "rax", "rcx", "rdx", "memory", "cc"
		     : abort, full);
	return 0;
abort:
	return 1;
full:
	return 2;
}

/* Overwrite: one attempt on CPU ring cpu (< r->n); what push returns, or -1 aborted. */
static inline int push_overwrite_once(struct ttlog_ring *r, uint32_t cpu,
				      const struct ttlog_record *rec)
{
	struct percpu_cpu *c = &r->cpu[cpu];
	uint64_t t;

	if (__builtin_expect(rseq_push_overwrite(c, r->mask, cpu, rec, &t) != 0, 0))
		return -1;
	/* the slot PERCPU_PREFETCH pushes ahead, for writing: in a ring larger than the
	 * cache it was last written a lap ago and is cold; a hint, so a migration since
	 * costs nothing but it */
	if (PERCPU_PREFETCH > 0)
		__builtin_prefetch(&c->ring[(t + PERCPU_PREFETCH - 1) & r->mask], 1, 3);
	/* relaxed: only the return value (whether the record of t - 1 - C had been popped)
	 * reads it; head only grows */
	return atomic_load_explicit(&c->head, memory_order_relaxed) + r->cap <= t - 1;
}

static int push_rseq(struct ttlog_ring *r, const struct ttlog_record *rec)
{
	int ret;

	for (;;) {
		uint32_t cpu = (uint32_t)rseq_cpu_id();
		if (__builtin_expect(cpu >= r->n, 0)) {
			/* no rseq area on this thread: neither path is safe on this ring */
			/* relaxed: a counter, read for statistics only */
			atomic_fetch_add_explicit(&r->cpu[0].dropped, 1, memory_order_relaxed);
			return -ENOBUFS;
		}
		if (r->policy == TTLOG_POLICY_OVERWRITE) {
			if (__builtin_expect((ret = push_overwrite_once(r, cpu, rec)) >= 0, 1))
				return ret;
		} else if ((ret = rseq_push_drop(r, cpu, rec)) != 1) {
			if (ret == 0)
				return 0;
			/* relaxed: a counter, read for statistics only */
			atomic_fetch_add_explicit(&r->cpu[cpu].dropped, 1, memory_order_relaxed);
			return -ENOBUFS;
		}
		tl_restarts++;
	}
}
#else
static int rseq_usable(void)
{
	return 0;
}

static int push_rseq(struct ttlog_ring *r, const struct ttlog_record *rec)
{
	(void)r;
	(void)rec;
	return -ENOBUFS; /* never called: r->rseq is 0 */
}
#endif

/* Fallback: sched_getcpu() picks the ring; a CAS on its tail claims a position whose slot
 * has finished its previous lap (so no two writers share a slot). */
static int push_fallback(struct ttlog_ring *r, const struct ttlog_record *rec)
{
	const uint64_t *w = (const uint64_t *)rec;
	int cpu = sched_getcpu();
	struct percpu_cpu *c = &r->cpu[cpu >= 0 && (unsigned)cpu < r->n ? (unsigned)cpu : 0];
	struct percpu_slot *ring = r->slots + ((size_t)(c - r->cpu) << r->shift), *s;
	uint64_t pos, seq, prev;
	size_t i;

	/* relaxed: only a guess at the position; the CAS below decides */
	pos = atomic_load_explicit(&c->tail, memory_order_relaxed);
	for (;;) {
		s = &ring[pos & r->mask];
		/* A5: acquire, pairs with R2 below (the previous lap's record is complete)
		 * and with R5 in percpu_pop() (it was popped). */
		seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		prev = pos - r->cap + 1; /* position + 1 of the slot's previous lap */
		if (seq == (prev | PERCPU_USED) ||
		    (seq == prev && r->policy == TTLOG_POLICY_OVERWRITE)) {
			/* relaxed: the CAS only claims the position; the slot is ordered by A5 */
			if (atomic_compare_exchange_weak_explicit(&c->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (PERCPU_POS(seq) <= prev) {
			/* full (drop), or the previous lap's writer has not finished: never
			 * wait for it (it may be the push this signal handler interrupted) */
			uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
			if (t == pos) {
				/* relaxed: a counter, read for statistics only */
				atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
				return -ENOBUFS;
			}
			pos = t;
		} else {
			/* another writer took pos already */
			pos = atomic_load_explicit(&c->tail, memory_order_relaxed);
		}
	}
	/* relaxed: a hint for the return value only */
	uint64_t head = atomic_load_explicit(&c->head, memory_order_relaxed);
	atomic_store_explicit(&s->seq, (pos + 1) | PERCPU_BUSY, memory_order_relaxed);
	/* F1: release fence, pairs with F2 in the snapshot and pop: a reader that sees any
	 * of the words below also sees the busy mark, so it rejects a mixed record. */
	PERCPU_FENCE(memory_order_release);
	TTLOG_UNROLL_WORDS /* the copy into the slot: 7 stores, no loop */
	for (i = 0; i < PERCPU_WORDS; i++)
		atomic_store_explicit(&s->w[i], w[i], PERCPU_W_STORE);
	/* R2: release, pairs with A1/A2 in percpu_snapshot(), A3 in percpu_pop(), A5. */
	atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
	return head + r->cap <= pos;
}

/* Everything but the first attempt of an rseq push under overwrite: out of line, so that
 * the common case below needs no callee-saved register (no stack frame at all). */
static int __attribute__((noinline)) push_slow(struct ttlog_ring *r,
						const struct ttlog_record *rec)
{
	if (__builtin_expect(r->rseq, 1))
		return push_rseq(r, rec);
	return push_fallback(r, rec);
}

int percpu_push(struct ttlog_ring *r, const struct ttlog_record *rec)
{
#if PERCPU_RSEQ
	if (__builtin_expect(r->rseq_overwrite, 1)) {
		uint32_t cpu = (uint32_t)rseq_cpu_id();
		int ret;
		/* cpu >= n: this thread has no rseq area (push_rseq counts the drop) */
		if (__builtin_expect(cpu < r->n, 1)) {
			if (__builtin_expect((ret = push_overwrite_once(r, cpu, rec)) >= 0, 1))
				return ret;
			tl_restarts++; /* aborted: push_rseq() starts again */
		}
	}
#endif
	return push_slow(r, rec);
}

const char *percpu_path(const struct ttlog_ring *r)
{
	return r->rseq ? "rseq" : "sched_getcpu";
}

int percpu_create(struct ttlog_ring **out, const struct ttlog_ring_config *cfg)
{
	struct ttlog_ring *r;
	size_t cap, i;
	unsigned shift = 0;
	int err;

	if ((err = ttlog__ring_config_check(out, cfg, &cap)) < 0)
		return err;
	while (((size_t)1 << shift) < cap)
		shift++;
	r = aligned_alloc(64, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	/* relaxed: a unique number, nothing to order */
	r->id = atomic_fetch_add_explicit(&percpu_next_id, 1, memory_order_relaxed) + 1;
	r->n = possible_cpus();
	r->policy = cfg->policy;
	r->rseq = rseq_usable();
	r->rseq_overwrite = r->rseq && cfg->policy == TTLOG_POLICY_OVERWRITE;
	r->cap = cap;
	r->mask = cap - 1;
	r->shift = shift;
	/* one mapping: the slots, then the CPUs' positions and counters (black box: all in
	 * the box file) */
	r->bytes = r->n * cap * sizeof(struct percpu_slot) + r->n * sizeof(struct percpu_cpu);
	r->slots = ttlog__ring_alloc(r->bytes);
	r->cpu = r->slots != NULL ? (struct percpu_cpu *)(r->slots + r->n * cap) : NULL;
	r->scan = calloc(r->n, sizeof(struct percpu_scan));
	r->win = calloc(r->n, sizeof(struct ttlog_shard_window));
	r->active = calloc(r->n, sizeof(unsigned));
	if (r->slots == NULL || r->cpu == NULL || r->scan == NULL || r->win == NULL ||
	    r->active == NULL) {
		percpu_destroy(r);
		return -ENOMEM;
	}
	for (unsigned c = 0; c < r->n; c++) {
		/* positions start at C: as if 0 .. C-1 had been pushed and popped */
		r->cpu[c].ring = r->slots + ((size_t)c << shift);
		atomic_init(&r->cpu[c].tail, cap);
		atomic_init(&r->cpu[c].head, cap);
		atomic_init(&r->cpu[c].dropped, 0);
		atomic_init(&r->cpu[c].popped, 0);
		for (i = 0; i < cap; i++)
			atomic_init(&r->slots[(c << shift) + i].seq, (i + 1) | PERCPU_USED);
		ttlog__box_segment(&(struct ttlog_seg){
			.kind = TTLOG_SEG_PERCPU, .flags = r->rseq ? TTLOG_SEG_RSEQ : 0,
			.nslots = cap, .pos0 = cap, .slots = r->cpu[c].ring, .tail = &r->cpu[c].tail,
			.head = &r->cpu[c].head, .popped = &r->cpu[c].popped,
			.dropped = &r->cpu[c].dropped});
	}
	atomic_init(&r->scratch_busy, 0);
	*out = r;
	return 0;
}

void percpu_destroy(struct ttlog_ring *r)
{
	if (r == NULL)
		return;
	if (r->slots != NULL)
		ttlog__ring_free(r->slots, r->bytes);
	free(r->scan);
	free(r->win);
	free(r->active);
	free(r);
}

/* Records popped from CPU ring c; relaxed reads: counters for statistics and snapshot
 * attribution. */
static uint64_t percpu_popped(const struct ttlog_ring *r, struct percpu_cpu *c)
{
	if (r->policy == TTLOG_POLICY_DROP)
		return atomic_load_explicit(&c->head, memory_order_relaxed) - r->cap;
	return atomic_load_explicit(&c->popped, memory_order_relaxed);
}

/* A consumer's cache: the ring it last took a record from and that ring's tail as it last
 * read it (A6), so that a pop neither probes empty rings first nor reads the producers'
 * tail line while it knows records are below it (tail only grows). Written key last after
 * a reset, with signal fences: a signal handler's pop that interrupts an update sees a
 * miss; a pop it interrupts re-checks the key. */
static __thread struct {
	uint64_t key; /* ring id; 0: none */
	unsigned ci;
	uint64_t tail;
} tl_pop __attribute__((tls_model("initial-exec")));

static int pop_cache_get(const struct ttlog_ring *r, unsigned *ci, uint64_t *t)
{
	if (tl_pop.key != r->id)
		return 0;
	atomic_signal_fence(memory_order_seq_cst);
	*ci = tl_pop.ci;
	*t = tl_pop.tail;
	atomic_signal_fence(memory_order_seq_cst);
	return tl_pop.key == r->id && *ci < r->n;
}

static void pop_cache_put(const struct ttlog_ring *r, unsigned ci, uint64_t t)
{
	tl_pop.key = 0;
	atomic_signal_fence(memory_order_seq_cst);
	tl_pop.ci = ci;
	tl_pop.tail = t;
	atomic_signal_fence(memory_order_seq_cst);
	tl_pop.key = r->id;
}

/* Pop from ring ci: 0, or -EAGAIN when it is empty or its oldest record is in flight. *tp: a
 * tail of that ring this thread read with A6 (0: none), updated when read again. */
static int pop_ring(struct ttlog_ring *r, unsigned ci, struct ttlog_record *out, uint64_t *tp,
		    int *lost)
{
	struct percpu_cpu *c = &r->cpu[ci];
	struct percpu_slot *ring = r->slots + ((size_t)ci << r->shift);
	uint64_t *w = (uint64_t *)out, t = *tp;

	for (;;) {
		/* relaxed: a guess; the CAS decides */
		uint64_t h = atomic_load_explicit(&c->head, memory_order_relaxed);
		if (h >= t) {
			/* A6: acquire, pairs with the commit store (R1) / R2 through seq:
			 * positions below t are claimed */
			t = *tp = atomic_load_explicit(&c->tail, memory_order_acquire);
			if (h >= t)
				return -EAGAIN;
		}
		if (h + r->cap < t) {
			/* lapped (overwrite): the records below t - C are gone */
			/* relaxed: claims positions only; nothing is read from them */
			atomic_compare_exchange_strong_explicit(&c->head, &h, t - r->cap,
								memory_order_relaxed,
								memory_order_relaxed);
			continue;
		}
		struct percpu_slot *s = &ring[h & r->mask];
		/* A3: acquire, pairs with R1 / R2: the record of h is complete */
		uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (seq != h + 1) {
			if (PERCPU_POS(seq) > h + 1) {
				/* overwritten: a tail read again may show the whole lap (A6
				 * again), for the jump above */
				t = *tp = atomic_load_explicit(&c->tail, memory_order_acquire);
				if (h + r->cap < t)
					continue;
				/* else by a push aborted before its commit, so tail does not
				 * show it: skip it, it counts as overwritten. relaxed: claims
				 * the position only */
				atomic_compare_exchange_strong_explicit(
					&c->head, &h, h + 1, memory_order_relaxed,
					memory_order_relaxed);
			} else if (atomic_load_explicit(&c->head, memory_order_relaxed) == h)
				return -EAGAIN; /* in flight (fallback) */
			continue;               /* head moved: look again */
		}
		/* relaxed: the CAS only claims the position; the record is ordered by A3 */
		if (!atomic_compare_exchange_strong_explicit(&c->head, &h, h + 1,
							     memory_order_relaxed,
							     memory_order_relaxed)) {
			*lost = 1; /* another consumer popped h */
			continue;
		}
		TTLOG_UNROLL_WORDS /* a pop's copy: 7 loads, no loop */
		for (size_t i = 0; i < PERCPU_WORDS; i++)
			w[i] = atomic_load_explicit(&s->w[i], PERCPU_W_LOAD);
		/* F2: acquire fence, pairs with F1 / the busy mark's store order: a word from
		 * a newer lap shows in the seq read below */
		PERCPU_FENCE(memory_order_acquire);
		if (atomic_load_explicit(&s->seq, memory_order_relaxed) != h + 1)
			continue; /* overwritten while copying: not popped */
		if (r->policy == TTLOG_POLICY_DROP)
			/* R5: release, pairs with A4 / A5 in the pushes: the slot is free */
			atomic_store_explicit(&s->seq, (h + 1) | PERCPU_USED,
					      memory_order_release);
		else
			/* relaxed: a counter for statistics and snapshot attribution */
			atomic_fetch_add_explicit(&c->popped, 1, memory_order_relaxed);
		return 0;
	}
}

int percpu_pop(struct ttlog_ring *r, struct ttlog_record *out)
{
	unsigned first;
	uint64_t t = 0;

	if (!pop_cache_get(r, &first, &t)) {
		int cpu = sched_getcpu();
		first = cpu >= 0 && (unsigned)cpu < r->n ? (unsigned)cpu : 0;
	}
	for (unsigned k = 0; k < r->n; k++) {
		unsigned i = first + k < r->n ? first + k : first + k - r->n;
		int lost = 0;
		if (k > 0)
			t = 0;
		if (pop_ring(r, i, out, &t, &lost) == 0) {
			/* a consumer that lost a race on this ring's head starts its next pop on
			 * the next ring: consumers sharing a ring pass its head's line back and
			 * forth on every pop, so they spread out over the rings instead */
			if (lost && r->n > 1)
				pop_cache_put(r, i + 1 < r->n ? i + 1 : 0, 0);
			else
				pop_cache_put(r, i, t);
			return 0;
		}
	}
	return -EAGAIN;
}

enum { SLOT_GONE, SLOT_KEPT, SLOT_IN_FLIGHT };

/* Read position p of ring ci into *out: SLOT_KEPT (an intact copy), SLOT_IN_FLIGHT (claimed
 * before the cut, not written yet: fallback only) or SLOT_GONE (overwritten or popped). */
static int slot_read(struct ttlog_ring *r, unsigned ci, uint64_t p, struct ttlog_record *out)
{
	struct percpu_slot *s = &r->slots[((size_t)ci << r->shift) + (p & r->mask)];
	uint64_t *w = (uint64_t *)out;
	/* A1: acquire, pairs with R1 (rseq asm) / R2 (fallback): the record of p is
	 * complete */
	uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);

	if (seq != p + 1)
		return PERCPU_POS(seq) < p + 1 || seq == ((p + 1) | PERCPU_BUSY)
			       ? SLOT_IN_FLIGHT
			       : SLOT_GONE;
	for (size_t i = 0; i < PERCPU_WORDS; i++)
		w[i] = atomic_load_explicit(&s->w[i], PERCPU_W_LOAD);
	/* F2: acquire fence, pairs with F1 / the rseq busy mark stored before the words: a
	 * word from a newer lap shows in seq below */
	PERCPU_FENCE(memory_order_acquire);
	return atomic_load_explicit(&s->seq, memory_order_relaxed) == p + 1 ? SLOT_KEPT
									  : SLOT_GONE;
}

/* The cut of ring ci: sc->next = tail, sc->start = the oldest position still held. */
static void scan_begin(struct ttlog_ring *r, unsigned ci, struct percpu_scan *sc,
		       struct ttlog_ring_cut *cut)
{
	struct percpu_cpu *c = &r->cpu[ci];
	/* A2: acquire, pairs with the commit store (R1) / R2 via seq: the cut is "every
	 * position below tail" */
	uint64_t t = atomic_load_explicit(&c->tail, memory_order_acquire);
	uint64_t h = atomic_load_explicit(&c->head, memory_order_acquire);

	/* relaxed: a counter; the cut takes it as it is now */
	cut->dropped += atomic_load_explicit(&c->dropped, memory_order_relaxed);
	cut->stored += t - r->cap;
	sc->next = t;
	sc->start = h > t - r->cap ? (h < t ? h : t) : t - r->cap;
	sc->in_flight = 0;
	sc->has = 0;
}

/* Move ring ci's cursor to its next older intact record (into sc->cand); 0 if none left. */
static int scan_next(struct ttlog_ring *r, unsigned ci, struct percpu_scan *sc)
{
	while (sc->next > sc->start) {
		int k = slot_read(r, ci, --sc->next, &sc->cand);
		if (k == SLOT_KEPT)
			return sc->has = 1;
		if (k == SLOT_IN_FLIGHT)
			sc->in_flight++;
		else if (r->rseq)
			/* rseq rings are written in position order: older ones are gone too */
			sc->next = sc->start;
	}
	return sc->has = 0;
}

/* Positions left unread at the end: only the fallback has claimed-but-unwritten ones. */
static void scan_end(struct ttlog_ring *r, unsigned ci, struct percpu_scan *sc,
		     struct ttlog_ring_cut *cut)
{
	struct percpu_slot *ring = r->slots + ((size_t)ci << r->shift);

	for (; !r->rseq && sc->next > sc->start; sc->next--) {
		uint64_t p = sc->next - 1;
		/* A1 again: only the seq word */
		uint64_t seq = atomic_load_explicit(&ring[p & r->mask].seq, memory_order_acquire);
		if (seq != p + 1 && (PERCPU_POS(seq) < p + 1 || seq == ((p + 1) | PERCPU_BUSY)))
			sc->in_flight++;
	}
	cut->in_flight += sc->in_flight;
	cut->popped += percpu_popped(r, &r->cpu[ci]);
}

/* Another variant's snapshot reading these rings (ring.h). */
unsigned percpu_nrings(const struct ttlog_ring *r)
{
	return r->n;
}

void percpu_scan_open(struct ttlog_ring *r, unsigned ring, struct percpu_scan *c,
		      struct ttlog_ring_cut *cut)
{
	scan_begin(r, ring, c, cut);
}

int percpu_scan_prev(struct ttlog_ring *r, unsigned ring, struct percpu_scan *c)
{
	return scan_next(r, ring, c);
}

void percpu_scan_close(struct ttlog_ring *r, unsigned ring, struct percpu_scan *c,
		       struct ttlog_ring_cut *cut)
{
	scan_end(r, ring, c, cut);
	/* this ring's share of what cut_close() below does for a whole percpu snapshot */
	cut->stored -= c->in_flight;
}

/* The shared close, once the claimed-but-unpublished positions are taken out of stored. */
static void cut_close(struct ttlog_ring_cut *cut, size_t kept)
{
	cut->stored -= cut->in_flight;
	ttlog__cut_close(cut, kept);
}

/* Scratch in use: ring after ring, newest first into the room left, merged in place. */
static size_t snapshot_inplace(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
			       struct ttlog_ring_cut *cut)
{
	struct percpu_scan sc;
	size_t used = 0;

	ttlog__inplace_begin(r);
	for (unsigned i = 0; i < r->n; i++) {
		size_t room = max - used, n = 0;
		scan_begin(r, i, &sc, cut);
		while (n < room && scan_next(r, i, &sc))
			out[used + room - ++n] = sc.cand;
		scan_end(r, i, &sc, cut);
		memmove(out + used, out + used + room - n, n * sizeof(*out));
		ttlog__sort_inplace(out + used, n);
		ttlog__merge_inplace(out, 0, used, used + n);
		used += n;
	}
	cut_close(cut, used);
	return used;
}

size_t percpu_snapshot(struct ttlog_ring *r, struct ttlog_record *out, size_t max,
		       struct ttlog_ring_cut *cut)
{
	unsigned na = 0;
	size_t w = max, kept;

	memset(cut, 0, sizeof(*cut));
	if (!ttlog__scratch_take(&r->scratch_busy))
		return snapshot_inplace(r, out, max, cut);
	for (unsigned i = 0; i < r->n; i++) {
		uint64_t s0 = cut->stored, d0 = cut->dropped;
		scan_begin(r, i, &r->scan[i], cut);
		r->win[i] = (struct ttlog_shard_window){.node = -1,
							.shard = i,
							.shared = 1,
							.stored = cut->stored - s0,
							.dropped = cut->dropped - d0};
		if (scan_next(r, i, &r->scan[i]))
			r->active[na++] = i;
	}
	/* newest first, from the end of out: the newest max records of all rings */
	while (w > 0 && na > 0) {
		unsigned bk = 0;
		for (unsigned k = 1; k < na; k++)
			if (r->scan[r->active[k]].cand.ts >= r->scan[r->active[bk]].cand.ts)
				bk = k;
		unsigned bi = r->active[bk];
		struct percpu_scan *sc = &r->scan[bi];
		ttlog__window_take(&r->win[bi], &sc->cand);
		out[--w] = sc->cand;
		if (!scan_next(r, bi, sc))
			r->active[bk] = r->active[--na];
	}
	kept = max - w;
	if (w > 0)
		memmove(out, out + w, kept * sizeof(*out));
	/* a ring is in push order, not quite timestamp order (a producer preempted between
	 * its timestamp and its push): sort, stably, so each thread keeps its order */
	ttlog__sort_inplace(out, kept);
	r->nwin = 0;
	for (unsigned i = 0; i < r->n; i++) {
		scan_end(r, i, &r->scan[i], cut);
		r->win[i].stored -= r->scan[i].in_flight; /* as cut_close() does for the cut */
		if (r->win[i].kept > 0)
			r->win[r->nwin++] = r->win[i]; /* the rings this snapshot took from */
	}
	cut_close(cut, kept);
	ttlog__scratch_give(&r->scratch_busy);
	return kept;
}

size_t percpu_windows(struct ttlog_ring *r, size_t first, struct ttlog_shard_window *out,
		      size_t max)
{
	return ttlog__windows_copy(r, r->win, r->nwin, first, out, max);
}

void percpu_stats(const struct ttlog_ring *r, struct ttlog_ring_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < r->n; i++) {
		struct percpu_cpu *c = &r->cpu[i];
		/* relaxed: counters, each read atomically, not all at one instant */
		uint64_t p = percpu_popped(r, c); /* before head: never more than head says */
		uint64_t h = atomic_load_explicit(&c->head, memory_order_relaxed);
		uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
		uint64_t gone = (h > t - r->cap ? h : t - r->cap) - r->cap;
		st->pushed += t - r->cap;
		st->popped += p;
		st->overwritten += gone > p ? gone - p : 0;
		st->dropped += atomic_load_explicit(&c->dropped, memory_order_relaxed);
	}
	st->capacity = r->cap;
	st->push_path = percpu_path(r);
}

size_t percpu_capacity(const struct ttlog_ring *r)
{
	return (size_t)r->cap;
}

TTLOG_DEFINE_RING_OPS(percpu, .windows = percpu_windows);
