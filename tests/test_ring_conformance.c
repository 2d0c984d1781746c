/*
 * test_ring_conformance.c - the ring contract (variants/ring.h), checked on every variant
 * through its ops table: create/destroy, push/pop order, both policies, exact accounting,
 * snapshots while producers run (no torn record, per-thread order, the cut equation),
 * threads that come and go, 1024 concurrent producers, pushes from a signal handler that
 * interrupts a push, the sharded variants' merge and windows, and percpu's own cases (its
 * push path, pushes restarted by a signal handler, threads moving between CPUs, memory).
 *
 * Every record carries (stream, seq, checksum) and a payload derived from them, so a torn
 * record (words from two pushes) is caught. Worker threads never assert (cmocka's longjmp
 * is per thread): they record the first failure, which the main thread reports after join.
 *
 * Env: TTLOG_TEST_QUICK=1 shortens the long cases (sanitizer runs); TTLOG_TEST_VARIANTS=a,b
 * restricts the variants (the Makefile runs numa alone under HWLOC_SYNTHETIC topologies);
 * TTLOG_TEST_FILTER=pattern runs the matching tests only; TTLOG_TEST_PERCPU_PATH=rseq or
 * sched_getcpu is the push path percpu must run (the Makefile's pass without rseq sets it;
 * unset: rseq wherever this thread has an rseq area, on x86-64 outside TSan).
 * No timing thresholds: the machine is shared and noisy.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cbor.h>
#include <fcntl.h>
#include <lz4frame.h>
#if defined(__x86_64__) && defined(__GLIBC__) && \
	(__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#include <sys/rseq.h>
#define HAVE_SYS_RSEQ 1
#endif

#include "merge.h"
#include "ring.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STACK_BYTES (512 * 1024)
#else
#define STACK_BYTES (64 * 1024)
#endif

/* ---- variants and checks -------------------------------------------------------- */

/* every variant of the list (variants/variants.h) */
static const struct ttlog_ring_ops *const all_ops[] = {
#define TTLOG_VARIANT_X(v) &v##_ops,
#include "variants.h"
#undef TTLOG_VARIANT_X
};
static const char *cur = "?"; /* the variant under test, named in every failure */

static int quick(void)
{
	const char *q = getenv("TTLOG_TEST_QUICK");
	return q != NULL && q[0] == '1';
}

static int selected(const struct ttlog_ring_ops *ops)
{
	const char *v = getenv("TTLOG_TEST_VARIANTS");
	size_t n = strlen(ops->name);

	if (v == NULL || v[0] == '\0')
		return 1;
	for (const char *p = v; (p = strstr(p, ops->name)) != NULL; p += n)
		if ((p == v || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

#define FOR_EACH_VARIANT(ops)                                                              \
	for (size_t vi_ = 0; vi_ < sizeof all_ops / sizeof all_ops[0]; vi_++)              \
		for (const struct ttlog_ring_ops *ops = all_ops[vi_];                      \
		     ops != NULL && selected(ops) && (cur = ops->name,                     \
						      print_message("    [%s]\n", cur), 1); \
		     ops = NULL)

#define CHECK_OP(a, op, b)                                                                 \
	do {                                                                               \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
		if (!(a_ op b_)) {                                                         \
			print_error("variant %s: %s:%d: %s %s %s: %llu vs %llu\n", cur,    \
				    __FILE__, __LINE__, #a, #op, #b, a_, b_);              \
			fail();                                                            \
		}                                                                          \
	} while (0)
#define CHECK_EQ(a, b) CHECK_OP(a, ==, b)
#define CHECK_S(errstr)                                                                    \
	do {                                                                               \
		const char *e_ = (errstr);                                                 \
		if (e_ != NULL && e_[0] != '\0') {                                         \
			print_error("variant %s: %s:%d: %s\n", cur, __FILE__, __LINE__, e_); \
			fail();                                                            \
		}                                                                          \
	} while (0)

/* First failure seen by a worker thread; reported by the main thread. */
static _Atomic int err_set;
static char err_msg[512];

static void __attribute__((format(printf, 1, 2))) werr(const char *fmt, ...)
{
	int zero = 0;
	va_list ap;

	if (!atomic_compare_exchange_strong(&err_set, &zero, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof err_msg, fmt, ap);
	va_end(ap);
}

static const char *werr_take(void)
{
	if (!atomic_load(&err_set))
		return NULL;
	atomic_store(&err_set, 0);
	return err_msg;
}

/* ---- records ---------------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static void mkrec(struct ttlog_record *r, uint32_t stream, uint64_t seq, uint64_t ts)
{
	uint64_t s64 = stream, sum = mix(mix(s64 * 0x9e3779b97f4a7c15ull ^ seq) ^ ts);

	r->ts = ts;
	r->callsite = 1;
	r->tid = stream;
	memcpy(r->data, &s64, 8);
	memcpy(r->data + 8, &seq, 8);
	memcpy(r->data + 16, &sum, 8);
	for (size_t i = 24; i < TTLOG_PAYLOAD_SIZE; i++)
		r->data[i] = (unsigned char)(sum >> (i % 8 * 8)) ^ (unsigned char)i;
}

/* 0 and stream/seq when r is intact. */
static int rec_ok(const struct ttlog_record *r, uint32_t *stream, uint64_t *seq)
{
	uint64_t s64, sq, sum;

	memcpy(&s64, r->data, 8);
	memcpy(&sq, r->data + 8, 8);
	memcpy(&sum, r->data + 16, 8);
	if (r->callsite != 1 || s64 != r->tid || sum != mix(mix(s64 * 0x9e3779b97f4a7c15ull ^ sq) ^ r->ts))
		return -1;
	for (size_t i = 24; i < TTLOG_PAYLOAD_SIZE; i++)
		if (r->data[i] != ((unsigned char)(sum >> (i % 8 * 8)) ^ (unsigned char)i))
			return -1;
	*stream = (uint32_t)s64;
	*seq = sq;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Strictly increasing per caller: equal timestamps in two shards could be merged in either
 * order, and the checks rely on each stream's order. */
static uint64_t next_ts(uint64_t *last)
{
	uint64_t t = now_ns();
	if (t <= *last)
		t = *last + 1;
	return *last = t;
}

/*
 * Check a copy: every record intact, each stream's seq strictly increasing (so no
 * duplicate), stream < nstreams. last[] (nstreams entries, zeroed) receives seq + 1 of each
 * stream's newest record. Returns NULL or a message in buf.
 */
static const char *check_copy(const struct ttlog_record *recs, size_t n, uint64_t *last,
			      size_t nstreams, char *buf, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t st;
		uint64_t sq;
		if (rec_ok(&recs[i], &st, &sq) < 0) {
			snprintf(buf, len, "record %zu of %zu is torn (ts %llu tid %u)", i, n,
				 (unsigned long long)recs[i].ts, recs[i].tid);
			return buf;
		}
		if (st >= nstreams) {
			snprintf(buf, len, "record %zu: stream %u out of range", i, st);
			return buf;
		}
		if (sq + 1 <= last[st]) {
			snprintf(buf, len, "record %zu: stream %u seq %llu after seq %llu", i, st,
				 (unsigned long long)sq, (unsigned long long)(last[st] - 1));
			return buf;
		}
		last[st] = sq + 1;
	}
	return NULL;
}

static const char *check_cut(const struct ttlog_ring_cut *c, size_t n, char *buf, size_t len)
{
	if (c->kept != n)
		snprintf(buf, len, "cut.kept %llu but %zu records copied",
			 (unsigned long long)c->kept, n);
	else if (c->stored != c->kept + c->popped + c->overwritten)
		snprintf(buf, len, "cut: stored %llu != kept %llu + popped %llu + overwritten %llu",
			 (unsigned long long)c->stored, (unsigned long long)c->kept,
			 (unsigned long long)c->popped, (unsigned long long)c->overwritten);
	else
		return NULL;
	return buf;
}

/* ---- helpers ------------------------------------------------------------------------ */

static struct ttlog_ring *mk(const struct ttlog_ring_ops *ops, size_t cap, int policy)
{
	struct ttlog_ring_config c = {.capacity = cap, .policy = policy};
	struct ttlog_ring *r = NULL;
	int err = ops->create(&r, &c);

	CHECK_EQ(err, 0);
	assert_non_null(r);
	return r;
}

/* Records one producer keeps (see the capacity note in ring.h), for a pinned thread. */
static size_t per_producer(const struct ttlog_ring_ops *ops, struct ttlog_ring *r)
{
	size_t c = ops->capacity(r);

	(void)ops; /* every variant: a thread alone keeps the ring's capacity */
	return c;
}

/* Sharded variants hold more than they return: each shard keeps up to the capacity and a
 * snapshot returns the newest capacity records of all shards; the rest count as
 * overwritten in the snapshot's cut, not (yet) in the stats. */
static size_t holds_up_to(const struct ttlog_ring_ops *ops, struct ttlog_ring *r)
{
	if (ops == &spsc_ops) /* the shards and the shared percpu ring */
		return (SPSC_DEFAULT_SHARDS + percpu_rings()) * ops->capacity(r);
	if (ops == &numa_ops)
		return numa_nodes() * ops->capacity(r);
	if (ops == &percpu_ops)
		return percpu_rings() * ops->capacity(r);
	return ops->capacity(r);
}

/* Most records one overwriting push evicts: mpmc (and numa's per-node mpmc rings) evict
 * in batches; an spsc shard and a percpu ring evict one at a time. */
static size_t evict_batch(const struct ttlog_ring_ops *ops, struct ttlog_ring *r)
{
	if (ops == &spsc_ops || ops == &percpu_ops)
		return 1;
	return (size_t)mpmc_evict_batch(ops->capacity(r));
}

static cpu_set_t saved_mask;

/* Keep the calling thread on one CPU (numa: one node ring, so pops see its order). */
static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof s, &s);
	numa_thread_moved();
}

static void pin_main(void)
{
	pin(sched_getcpu() >= 0 ? sched_getcpu() : 0);
}

static void unpin_main(void)
{
	pthread_setaffinity_np(pthread_self(), sizeof saved_mask, &saved_mask);
	numa_thread_moved();
}

static int ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	pthread_t t;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, STACK_BYTES);
	int err = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	CHECK_EQ(err, 0);
	return t;
}

static struct ttlog_record *snapbuf(struct ttlog_ring *r, const struct ttlog_ring_ops *ops)
{
	struct ttlog_record *b = malloc(ops->capacity(r) * sizeof *b);
	assert_non_null(b);
	return b;
}

/* ---- the list of variants -------------------------------------------------------- */

/* Every variant of the list (variants/variants.h) is what the rest of the tree takes it
 * to be: its table carries the list's name and every mandatory op, and the registry finds
 * that very table by that name (the harness and ttlog_init() look variants up by name). */
static void test_variant_list(void **state)
{
	static const struct {
		const char *name;
		const struct ttlog_ring_ops *ops;
	} list[] = {
#define TTLOG_VARIANT_X(v) {#v, &v##_ops},
#include "variants.h"
#undef TTLOG_VARIANT_X
	};
	size_t n = sizeof list / sizeof list[0];

	(void)state;
	CHECK_EQ(n, sizeof all_ops / sizeof all_ops[0]);
	for (size_t i = 0; i < n; i++) {
		const struct ttlog_ring_ops *ops = list[i].ops;
		cur = list[i].name;
		CHECK_OP(ops, !=, NULL);
		if (ops->name == NULL || strcmp(ops->name, list[i].name) != 0) {
			print_error("variant %s: ops->name is \"%s\"\n", list[i].name,
				    ops->name ? ops->name : "(null)");
			fail();
		}
		CHECK_EQ(ttlog__ring_find(list[i].name), ops);
		CHECK_EQ(all_ops[i], ops);
		CHECK_OP(ops->create, !=, NULL);
		CHECK_OP(ops->destroy, !=, NULL);
		CHECK_OP(ops->push, !=, NULL);
		CHECK_OP(ops->pop, !=, NULL);
		CHECK_OP(ops->snapshot, !=, NULL);
		CHECK_OP(ops->stats, !=, NULL);
		CHECK_OP(ops->capacity, !=, NULL);
	}
	CHECK_EQ(ttlog__ring_find("no-such-variant"), NULL);
	CHECK_EQ(ttlog__ring_find(NULL), NULL);
}

/* ---- create / destroy ------------------------------------------------------------- */

static void test_create_destroy(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		struct ttlog_ring_config c = {.capacity = 100, .policy = TTLOG_POLICY_OVERWRITE};
		struct ttlog_ring *r = NULL;
		struct ttlog_ring_stats st;
		struct ttlog_ring_cut cut;
		struct ttlog_record rec, buf[4];

		CHECK_EQ(ops->create(NULL, &c), -EINVAL);
		CHECK_EQ(ops->create(&r, NULL), -EINVAL);
		c.capacity = 0;
		CHECK_EQ(ops->create(&r, &c), -EINVAL);
		c.capacity = (1ull << 32) + 1;
		CHECK_EQ(ops->create(&r, &c), -EINVAL);
		c.capacity = 100;
		c.policy = 7;
		CHECK_EQ(ops->create(&r, &c), -EINVAL);
		c.policy = -1;
		CHECK_EQ(ops->create(&r, &c), -EINVAL);
		CHECK_EQ(r, 0); /* untouched on failure */

		for (int policy = 0; policy <= 1; policy++) {
			c.policy = policy;
			CHECK_EQ(ops->create(&r, &c), 0);
			CHECK_OP(ops->capacity(r), >=, 100);
			CHECK_EQ(ops->capacity(r), 128);
			ops->stats(r, &st);
			CHECK_EQ(st.pushed + st.popped + st.overwritten + st.dropped, 0);
			CHECK_EQ(st.capacity, ops->capacity(r));
			CHECK_EQ(ops->pop(r, &rec), -EAGAIN);
			CHECK_EQ(ops->snapshot(r, buf, 4, &cut), 0);
			CHECK_EQ(cut.stored + cut.kept + cut.dropped + cut.in_flight, 0);
			ops->destroy(r);
			r = NULL;
		}
		c.capacity = 1; /* rounded up to the minimum */
		CHECK_EQ(ops->create(&r, &c), 0);
		CHECK_OP(ops->capacity(r), >=, 16);
		ops->destroy(r);
		ops->destroy(NULL);
	}
}

/* ---- order, policies -------------------------------------------------------------- */

static void test_fifo(void **state)
{
	(void)state;
	pin_main();
	FOR_EACH_VARIANT(ops)
	{
		struct ttlog_ring *r = mk(ops, 1024, TTLOG_POLICY_OVERWRITE);
		struct ttlog_record rec;
		uint64_t seq = 0, want = 0, ts = 0, sq;
		uint32_t st;

		for (int i = 0; i < 10; i++, seq++) {
			mkrec(&rec, 0, seq, next_ts(&ts));
			CHECK_EQ(ops->push(r, &rec), 0);
		}
		for (int i = 0; i < 5; i++, want++) {
			CHECK_EQ(ops->pop(r, &rec), 0);
			CHECK_EQ(rec_ok(&rec, &st, &sq), 0);
			CHECK_EQ(sq, want);
		}
		for (int i = 0; i < 10; i++, seq++) {
			mkrec(&rec, 0, seq, next_ts(&ts));
			CHECK_EQ(ops->push(r, &rec), 0);
		}
		while (ops->pop(r, &rec) == 0) {
			CHECK_EQ(rec_ok(&rec, &st, &sq), 0);
			CHECK_EQ(sq, want);
			want++;
		}
		CHECK_EQ(want, seq);
		CHECK_EQ(ops->pop(r, &rec), -EAGAIN);
		struct ttlog_ring_stats s;
		ops->stats(r, &s);
		CHECK_EQ(s.pushed, 20);
		CHECK_EQ(s.popped, 20);
		CHECK_EQ(s.overwritten + s.dropped, 0);
		ops->destroy(r);
	}
	unpin_main();
}

/* A snapshot into a buffer smaller than the contents takes the newest records, oldest
 * first, and counts the others as overwritten (the incident trigger's pinned copy relies
 * on it). */
static void test_snapshot_newest_into_small_buffer(void **state)
{
	(void)state;
	pin_main();
	FOR_EACH_VARIANT(ops)
	{
		struct ttlog_ring *r = mk(ops, 1024, TTLOG_POLICY_OVERWRITE);
		struct ttlog_record rec, out[10];
		struct ttlog_ring_cut cut;
		uint64_t ts = 0, sq;
		uint32_t st;

		for (uint64_t seq = 0; seq < 50; seq++) {
			mkrec(&rec, 0, seq, next_ts(&ts));
			CHECK_EQ(ops->push(r, &rec), 0);
		}
		memset(&cut, 0, sizeof cut);
		CHECK_EQ(ops->snapshot(r, out, 10, &cut), 10);
		for (uint64_t i = 0; i < 10; i++) {
			CHECK_EQ(rec_ok(&out[i], &st, &sq), 0);
			CHECK_EQ(sq, 40 + i);
		}
		CHECK_EQ(cut.stored, 50);
		CHECK_EQ(cut.kept, 10);
		CHECK_EQ(cut.kept + cut.popped + cut.overwritten, cut.stored);
		ops->destroy(r);
	}
	unpin_main();
}

/* Overwrite keeps one producer's newest K = capacity records (every variant); every other
 * push is counted as overwritten, exactly. */
static void test_overwrite_policy(void **state)
{
	(void)state;
	pin_main();
	FOR_EACH_VARIANT(ops)
	{
		struct ttlog_ring *r = mk(ops, 256, TTLOG_POLICY_OVERWRITE);
		size_t k = per_producer(ops, r), total = 5 * ops->capacity(r), evicted = 0, n;
		struct ttlog_record rec, *buf = snapbuf(r, ops);
		struct ttlog_ring_stats st;
		struct ttlog_ring_cut cut;
		uint64_t ts = 0, last[1] = {0};
		char msg[200];

		size_t batch = evict_batch(ops, r);

		/* a push evicts a batch when it finds the ring full; the next batch - 1 pushes
		 * find room. 4 C is a multiple of the batch: the ring ends exactly full. */
		for (uint64_t i = 0; i < total; i++) {
			mkrec(&rec, 0, i, next_ts(&ts));
			int ret = ops->push(r, &rec);
			CHECK_EQ(ret, i < k || (i - k) % batch ? 0 : (int)batch);
			evicted += (size_t)ret;
		}
		n = ops->snapshot(r, buf, ops->capacity(r), &cut);
		CHECK_EQ(n, k);
		CHECK_S(check_copy(buf, n, last, 1, msg, sizeof msg));
		for (size_t i = 0; i < n; i++) {
			uint32_t s;
			uint64_t sq;
			rec_ok(&buf[i], &s, &sq);
			CHECK_EQ(sq, total - k + i); /* the newest k, oldest first */
		}
		CHECK_S(check_cut(&cut, n, msg, sizeof msg));
		CHECK_EQ(cut.stored, total);
		CHECK_EQ(cut.overwritten, total - k);
		CHECK_EQ(cut.dropped + cut.popped + cut.in_flight, 0);
		ops->stats(r, &st);
		CHECK_EQ(st.pushed, total);
		CHECK_EQ(st.overwritten, evicted);
		CHECK_EQ(st.overwritten, total - k);
		CHECK_EQ(st.dropped, 0);
		/* the snapshot did not consume anything */
		CHECK_EQ(ops->snapshot(r, buf, ops->capacity(r), &cut), k);
		/* a smaller buffer gets the oldest records that fit, the cut stays exact */
		CHECK_EQ(ops->snapshot(r, buf, 3, &cut), 3);
		CHECK_S(check_cut(&cut, 3, msg, sizeof msg));
		CHECK_EQ(cut.stored, total);
		/* one more push into the full ring evicts a whole batch: the newest
		 * k - batch + 1 remain, and the cut still accounts for every push */
		mkrec(&rec, 0, total, next_ts(&ts));
		CHECK_EQ(ops->push(r, &rec), (int)batch);
		n = ops->snapshot(r, buf, ops->capacity(r), &cut);
		CHECK_EQ(n, k - batch + 1);
		last[0] = 0;
		CHECK_S(check_copy(buf, n, last, 1, msg, sizeof msg));
		CHECK_EQ(last[0], total + 1); /* the newest is there, */
		{
			uint32_t s0;
			uint64_t sq0;
			rec_ok(&buf[0], &s0, &sq0);
			CHECK_EQ(sq0, total + 1 - n); /* and n in a row: no gap */
		}
		CHECK_S(check_cut(&cut, n, msg, sizeof msg));
		CHECK_EQ(cut.stored, total + 1);
		CHECK_EQ(cut.overwritten, total + 1 - n);
		free(buf);
		ops->destroy(r);
	}
	unpin_main();
}

/* Drop keeps the oldest K; every later push is dropped and counted; a pop makes room. */
static void test_drop_policy(void **state)
{
	(void)state;
	pin_main();
	FOR_EACH_VARIANT(ops)
	{
		struct ttlog_ring *r = mk(ops, 256, TTLOG_POLICY_DROP);
		size_t k = per_producer(ops, r), total = 3 * ops->capacity(r), n;
		struct ttlog_record rec, *buf = snapbuf(r, ops);
		struct ttlog_ring_stats st;
		struct ttlog_ring_cut cut;
		uint64_t ts = 0, last[1] = {0}, sq;
		uint32_t s;
		char msg[200];

		for (uint64_t i = 0; i < total; i++) {
			mkrec(&rec, 0, i, next_ts(&ts));
			CHECK_EQ(ops->push(r, &rec), i < k ? 0 : -ENOBUFS);
		}
		n = ops->snapshot(r, buf, ops->capacity(r), &cut);
		CHECK_EQ(n, k);
		CHECK_S(check_copy(buf, n, last, 1, msg, sizeof msg));
		for (size_t i = 0; i < n; i++) {
			rec_ok(&buf[i], &s, &sq);
			CHECK_EQ(sq, i); /* the oldest k */
		}
		CHECK_S(check_cut(&cut, n, msg, sizeof msg));
		CHECK_EQ(cut.stored, k);
		CHECK_EQ(cut.dropped, total - k);
		CHECK_EQ(cut.overwritten + cut.popped, 0);
		ops->stats(r, &st);
		CHECK_EQ(st.pushed, k);
		CHECK_EQ(st.dropped, total - k);
		CHECK_EQ(st.overwritten, 0);
		/* a pop frees one slot: the next push is stored, the one after dropped */
		CHECK_EQ(ops->pop(r, &rec), 0);
		CHECK_EQ(rec_ok(&rec, &s, &sq), 0);
		CHECK_EQ(sq, 0);
		mkrec(&rec, 0, total, next_ts(&ts));
		CHECK_EQ(ops->push(r, &rec), 0);
		mkrec(&rec, 0, total + 1, next_ts(&ts));
		CHECK_EQ(ops->push(r, &rec), -ENOBUFS);
		n = ops->snapshot(r, buf, ops->capacity(r), &cut);
		CHECK_EQ(n, k);
		CHECK_S(check_cut(&cut, n, msg, sizeof msg));
		CHECK_EQ(cut.stored + cut.dropped, total + 2);
		CHECK_EQ(cut.popped, 1);
		free(buf);
		ops->destroy(r);
	}
	unpin_main();
}

/* ---- concurrent producers and a consumer ------------------------------------------- */

struct prod {
	const struct ttlog_ring_ops *ops;
	struct ttlog_ring *r;
	uint32_t stream;
	uint64_t n;            /* pushes to make (0: until stop) */
	int cpu;               /* pin to it, or -1 */
	_Atomic int *stop;
	_Atomic uint64_t done; /* pushes returned so far */
	uint64_t stored, evicted, dropped;
	uint64_t last_stored; /* seq + 1 of the newest push that was stored, 0 if none */
	pthread_barrier_t *start;
	pthread_barrier_t *mid; /* waited for after n / 2 pushes */
};

static void *producer(void *arg)
{
	struct prod *p = arg;
	struct ttlog_record rec;
	uint64_t ts = 0;

	if (p->cpu >= 0)
		pin(p->cpu);
	if (p->start != NULL)
		pthread_barrier_wait(p->start);
	for (uint64_t i = 0; p->n == 0 ? !atomic_load_explicit(p->stop, memory_order_relaxed)
				       : i < p->n;
	     i++) {
		mkrec(&rec, p->stream, i, next_ts(&ts));
		int ret = p->ops->push(p->r, &rec);
		if (ret >= 0) {
			p->stored++;
			p->evicted += (uint64_t)ret;
			p->last_stored = i + 1;
		} else if (ret == -ENOBUFS) {
			p->dropped++;
		} else {
			werr("stream %u: push returned %d", p->stream, ret);
		}
		atomic_store_explicit(&p->done, i + 1, memory_order_release);
		if (p->mid != NULL && i + 1 == p->n / 2)
			pthread_barrier_wait(p->mid);
	}
	return NULL;
}

struct cons {
	const struct ttlog_ring_ops *ops;
	struct ttlog_ring *r;
	_Atomic int *producers_done;
	uint64_t popped;
	uint64_t last[8];
};

static void *consumer(void *arg)
{
	struct cons *c = arg;
	struct ttlog_record rec;

	for (;;) {
		int done = atomic_load_explicit(c->producers_done, memory_order_acquire);
		if (c->ops->pop(c->r, &rec) != 0) {
			if (done)
				break; /* everything pushed before done was visible: drained */
			sched_yield();
			continue;
		}
		uint32_t st;
		uint64_t sq;
		if (rec_ok(&rec, &st, &sq) < 0 || st >= 8) {
			werr("popped a torn record");
			continue;
		}
		if (sq + 1 <= c->last[st])
			werr("stream %u: popped seq %llu after %llu", st, (unsigned long long)sq,
			     (unsigned long long)(c->last[st] - 1));
		c->last[st] = sq + 1;
		c->popped++;
	}
	return NULL;
}

static void run_accounting(const struct ttlog_ring_ops *ops, int policy, int with_consumer)
{
	enum { NP = 4 };
	struct ttlog_ring *r = mk(ops, 1024, policy);
	uint64_t n = quick() ? 20000 : 200000, stored = 0, evicted = 0, dropped = 0;
	struct prod p[NP];
	struct cons c = {.ops = ops, .r = r};
	_Atomic int pdone = 0;
	pthread_t t[NP], ct = 0;
	struct ttlog_ring_stats st;
	struct ttlog_ring_cut cut;
	struct ttlog_record *buf = snapbuf(r, ops);
	uint64_t last[NP] = {0};
	char msg[200];
	size_t k;

	c.producers_done = &pdone;
	for (int i = 0; i < NP; i++) {
		p[i] = (struct prod){.ops = ops, .r = r, .stream = (uint32_t)i, .n = n,
				     .cpu = with_consumer ? i % ncpus() : -1};
		t[i] = spawn(producer, &p[i]);
	}
	if (with_consumer)
		ct = spawn(consumer, &c);
	for (int i = 0; i < NP; i++) {
		pthread_join(t[i], NULL);
		stored += p[i].stored;
		evicted += p[i].evicted;
		dropped += p[i].dropped;
	}
	atomic_store_explicit(&pdone, 1, memory_order_release);
	if (with_consumer)
		pthread_join(ct, NULL);
	CHECK_S(werr_take());

	ops->stats(r, &st);
	CHECK_EQ(stored + dropped, NP * n);
	CHECK_EQ(st.pushed, stored);
	CHECK_EQ(st.dropped, dropped);
	CHECK_EQ(st.popped, c.popped);
	/* mpmc may evict twice in one push; a percpu or spsc push and a pop of the record it
	 * overwrites are not ordered by any locked instruction (the producer never waits for
	 * consumers): both may count it (ring.h); each is one or the other */
	CHECK_OP(st.overwritten + (ops == &spsc_ops || ops == &percpu_ops ? st.popped : 0), >=,
		 evicted);
	if (policy == TTLOG_POLICY_DROP)
		CHECK_EQ(st.overwritten, 0);
	k = ops->snapshot(r, buf, ops->capacity(r), &cut);
	CHECK_S(check_copy(buf, k, last, NP, msg, sizeof msg));
	CHECK_S(check_cut(&cut, k, msg, sizeof msg));
	CHECK_EQ(cut.in_flight, 0);
	CHECK_EQ(cut.stored, stored);
	CHECK_EQ(cut.dropped, dropped);
	CHECK_EQ(cut.stored + cut.dropped, NP * n);
	/* quiescent: the split is exact too (see holds_up_to) */
	CHECK_EQ(cut.popped, c.popped);
	if (holds_up_to(ops, r) > ops->capacity(r)) {
		CHECK_OP(cut.overwritten, >=, st.overwritten);
		CHECK_OP(st.pushed - st.popped - st.overwritten, >=, k);
		CHECK_OP(st.pushed - st.popped - st.overwritten, <=, holds_up_to(ops, r));
	} else {
		CHECK_EQ(cut.overwritten, st.overwritten);
		CHECK_EQ(st.pushed, k + st.popped + st.overwritten);
	}
	if (with_consumer)
		CHECK_EQ(k, 0); /* drained */
	free(buf);
	ops->destroy(r);
}

static void test_accounting_concurrent(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		run_accounting(ops, TTLOG_POLICY_OVERWRITE, 0);
		run_accounting(ops, TTLOG_POLICY_DROP, 0);
		run_accounting(ops, TTLOG_POLICY_OVERWRITE, 1);
		run_accounting(ops, TTLOG_POLICY_DROP, 1);
	}
}

/* ---- snapshots while producers run ----------------------------------------------- */

static void test_snapshot_while_producing(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		enum { NP = 3 };
		struct ttlog_ring *r = mk(ops, 4096, TTLOG_POLICY_OVERWRITE);
		uint64_t n = quick() ? 30000 : 300000, total = 0, prev_logged = 0;
		struct ttlog_record *buf = snapbuf(r, ops);
		struct prod p[NP];
		pthread_t t[NP];
		struct ttlog_ring_cut cut;
		const char *bad = NULL;
		char msg[300];
		int snaps = 0, running;

		for (int i = 0; i < NP; i++) {
			p[i] = (struct prod){.ops = ops, .r = r, .stream = (uint32_t)i, .n = n,
					     .cpu = -1};
			t[i] = spawn(producer, &p[i]);
		}
		do {
			uint64_t last[NP] = {0}, before = 0, after = 0;
			running = 0;
			for (int i = 0; i < NP; i++)
				before += atomic_load_explicit(&p[i].done, memory_order_acquire);
			size_t k = ops->snapshot(r, buf, ops->capacity(r), &cut);
			for (int i = 0; i < NP; i++) {
				uint64_t d = atomic_load_explicit(&p[i].done, memory_order_acquire);
				after += d;
				running |= d < n;
			}
			snaps++;
			if (bad != NULL)
				continue;
			bad = check_copy(buf, k, last, NP, msg, sizeof msg);
			if (bad == NULL)
				bad = check_cut(&cut, k, msg, sizeof msg);
			/* every push that returned before the snapshot is counted in it; none
			 * that started after it is */
			if (bad == NULL && (cut.stored + cut.dropped < before ||
					    cut.stored + cut.dropped + cut.in_flight > after + NP)) {
				snprintf(msg, sizeof msg,
					 "logged %llu (+%llu in flight) outside [%llu, %llu + %d]",
					 (unsigned long long)(cut.stored + cut.dropped),
					 (unsigned long long)cut.in_flight,
					 (unsigned long long)before, (unsigned long long)after, NP);
				bad = msg;
			}
			if (bad == NULL && cut.stored + cut.dropped < prev_logged) {
				snprintf(msg, sizeof msg, "logged went back: %llu after %llu",
					 (unsigned long long)(cut.stored + cut.dropped),
					 (unsigned long long)prev_logged);
				bad = msg;
			}
			prev_logged = cut.stored + cut.dropped;
		} while (running);
		for (int i = 0; i < NP; i++) {
			pthread_join(t[i], NULL);
			total += p[i].stored + p[i].dropped;
		}
		print_message("      %d snapshots while producing\n", snaps);
		CHECK_S(bad);
		CHECK_S(werr_take());
		uint64_t last[NP] = {0};
		size_t k = ops->snapshot(r, buf, ops->capacity(r), &cut);
		CHECK_S(check_copy(buf, k, last, NP, msg, sizeof msg));
		CHECK_S(check_cut(&cut, k, msg, sizeof msg));
		CHECK_EQ(cut.in_flight, 0);
		CHECK_EQ(cut.stored + cut.dropped, total);
		CHECK_EQ(total, NP * n);
		free(buf);
		ops->destroy(r);
	}
}

/* Two threads snapshot at once (sharded variants: one of them merges in place). */
struct snapper {
	const struct ttlog_ring_ops *ops;
	struct ttlog_ring *r;
	int count;
};

static void *snapper(void *arg)
{
	struct snapper *s = arg;
	struct ttlog_record *buf = malloc(s->ops->capacity(s->r) * sizeof *buf);
	struct ttlog_ring_cut cut;
	char msg[300];

	for (int i = 0; i < s->count && buf != NULL; i++) {
		uint64_t last[2] = {0};
		size_t k = s->ops->snapshot(s->r, buf, s->ops->capacity(s->r), &cut);
		const char *bad = check_copy(buf, k, last, 2, msg, sizeof msg);
		if (bad == NULL)
			bad = check_cut(&cut, k, msg, sizeof msg);
		/* spsc: the shards (each in timestamp order) are merged by timestamp, in
		 * place when the other snapshot holds the scratch */
		if (bad == NULL && s->ops == &spsc_ops)
			for (size_t j = 1; j < k; j++)
				if (buf[j].ts < buf[j - 1].ts) {
					snprintf(msg, sizeof msg, "record %zu out of ts order", j);
					bad = msg;
					break;
				}
		if (bad != NULL) {
			werr("%s", bad);
			break;
		}
	}
	free(buf);
	return NULL;
}

static void test_concurrent_snapshots(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		struct ttlog_ring *r = mk(ops, 2048, TTLOG_POLICY_OVERWRITE);
		_Atomic int stop = 0;
		struct prod p[2];
		struct snapper s = {.ops = ops, .r = r, .count = quick() ? 40 : 400};
		pthread_t pt[2], st[2];

		for (int i = 0; i < 2; i++) {
			p[i] = (struct prod){.ops = ops, .r = r, .stream = (uint32_t)i, .cpu = -1,
					     .stop = &stop};
			pt[i] = spawn(producer, &p[i]);
		}
		for (int i = 0; i < 2; i++)
			st[i] = spawn(snapper, &s);
		for (int i = 0; i < 2; i++)
			pthread_join(st[i], NULL);
		atomic_store(&stop, 1);
		for (int i = 0; i < 2; i++)
			pthread_join(pt[i], NULL);
		CHECK_S(werr_take());
		struct ttlog_ring_stats rs;
		ops->stats(r, &rs);
		CHECK_EQ(rs.pushed + rs.dropped, p[0].stored + p[0].dropped + p[1].stored + p[1].dropped);
		ops->destroy(r);
	}
}

/* ---- merge by timestamp, windows --------------------------------------------------- */

struct turn_arg {
	const struct ttlog_ring_ops *ops;
	struct ttlog_ring *r;
	uint32_t me, nthreads, rounds, batch;
	_Atomic uint32_t *turn;
	_Atomic uint64_t *clock;
};

static void *turn_taker(void *arg)
{
	struct turn_arg *a = arg;
	struct ttlog_record rec;
	uint64_t seq = 0;

	for (uint32_t round = 0; round < a->rounds; round++) {
		while (atomic_load_explicit(a->turn, memory_order_acquire) % a->nthreads != a->me)
			sched_yield();
		for (uint32_t i = 0; i < a->batch; i++, seq++) {
			uint64_t ts = atomic_fetch_add_explicit(a->clock, 1, memory_order_relaxed);
			mkrec(&rec, a->me, seq, ts + 1);
			if (a->ops->push(a->r, &rec) != 0)
				werr("stream %u: push %llu not stored", a->me, (unsigned long long)seq);
		}
		atomic_fetch_add_explicit(a->turn, 1, memory_order_release);
	}
	return NULL;
}

/* Threads push in turns with timestamps from one counter: every variant's snapshot is the
 * whole history in timestamp order (for the sharded ones, a real k-way merge), and the
 * windows describe the shards. */
static void test_merge_by_timestamp(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		enum { NT = 4, ROUNDS = 10, BATCH = 50 };
		struct ttlog_ring *r = mk(ops, 16384, TTLOG_POLICY_OVERWRITE);
		_Atomic uint32_t turn = 0;
		_Atomic uint64_t clock = 0;
		struct turn_arg a[NT];
		pthread_t t[NT];
		struct ttlog_record *buf = snapbuf(r, ops);
		struct ttlog_ring_cut cut;
		uint64_t last[NT] = {0};
		char msg[200];

		for (uint32_t i = 0; i < NT; i++) {
			a[i] = (struct turn_arg){ops, r, i, NT, ROUNDS, BATCH, &turn, &clock};
			t[i] = spawn(turn_taker, &a[i]);
		}
		for (int i = 0; i < NT; i++)
			pthread_join(t[i], NULL);
		CHECK_S(werr_take());
		size_t k = ops->snapshot(r, buf, ops->capacity(r), &cut);
		CHECK_EQ(k, NT * ROUNDS * BATCH);
		CHECK_S(check_copy(buf, k, last, NT, msg, sizeof msg));
		CHECK_S(check_cut(&cut, k, msg, sizeof msg));
		for (size_t i = 0; i < k; i++)
			CHECK_EQ(buf[i].ts, i + 1);
		if (ops->windows != NULL) {
			struct ttlog_shard_window w[64];
			size_t nw = ops->windows(r, 0, w, 64), sum = 0, threads = 0;
			CHECK_OP(nw, >=, 1);
			CHECK_OP(nw, <=, 64);
			for (size_t i = 0; i < nw; i++) {
				sum += w[i].kept;
				CHECK_OP(w[i].first_ts, <=, w[i].last_ts);
				if (w[i].kept == 0)
					continue;
				if (ops == &spsc_ops && !w[i].shared) {
					/* one thread's shard: its whole history */
					threads++;
					CHECK_EQ(w[i].kept, ROUNDS * BATCH);
					CHECK_OP(w[i].tid, <, NT);
					CHECK_EQ(w[i].first_ts, w[i].tid * BATCH + 1);
					CHECK_EQ(w[i].last_ts, (ROUNDS - 1) * NT * BATCH +
								       (w[i].tid + 1) * BATCH);
				}
				if (ops == &numa_ops)
					CHECK_EQ(w[i].node < 0, 0);
			}
			CHECK_EQ(sum, k);
			if (ops == &spsc_ops)
				CHECK_EQ(threads, NT);
			if (ops == &numa_ops)
				CHECK_EQ(nw, numa_nodes());
			/* windows from an offset */
			if (nw > 1) {
				struct ttlog_shard_window w2[1];
				CHECK_EQ(ops->windows(r, nw - 1, w2, 1), nw);
				CHECK_EQ(w2[0].kept, w[nw - 1].kept);
			}
		}
		free(buf);
		ops->destroy(r);
	}
}

/* ---- threads that come and go ------------------------------------------------------- */

static void test_threads_come_and_go(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		enum { BATCH = 8, M = 64 };
		uint32_t nthreads = quick() ? 256 : 1024;
		struct ttlog_ring *r = mk(ops, 4096, TTLOG_POLICY_OVERWRITE);
		size_t cap = ops->capacity(r);
		struct prod *p = calloc(nthreads, sizeof *p);
		uint64_t *last = calloc(nthreads, sizeof *last), total = 0;
		struct ttlog_record *buf = snapbuf(r, ops);
		struct ttlog_ring_cut cut;
		char msg[200];

		assert_non_null(p);
		assert_non_null(last);
		for (uint32_t b = 0; b < nthreads; b += BATCH) {
			pthread_t t[BATCH];
			for (uint32_t i = 0; i < BATCH; i++) {
				p[b + i] = (struct prod){.ops = ops, .r = r, .stream = b + i, .n = M,
							 .cpu = -1};
				t[i] = spawn(producer, &p[b + i]);
			}
			for (uint32_t i = 0; i < BATCH; i++) {
				pthread_join(t[i], NULL);
				total += p[b + i].stored + p[b + i].dropped;
			}
		}
		CHECK_S(werr_take());
		CHECK_EQ(total, (uint64_t)nthreads * M);
		CHECK_EQ(ops->capacity(r), cap); /* bounded: nothing grew */
		size_t k = ops->snapshot(r, buf, cap, &cut);
		CHECK_S(check_copy(buf, k, last, nthreads, msg, sizeof msg));
		CHECK_S(check_cut(&cut, k, msg, sizeof msg));
		CHECK_EQ(cut.stored + cut.dropped, total);
		/* the last batch's threads have exited; their newest records are still there
		 * (the newest stored: mpmc may drop, counted, when a preempted producer holds
		 * the oldest slot) */
		for (uint32_t i = nthreads - BATCH; i < nthreads; i++) {
			CHECK_OP(p[i].last_stored, >, 0);
			CHECK_EQ(last[i], p[i].last_stored);
		}
		if (ops->windows != NULL) {
			struct ttlog_shard_window w[64];
			size_t nw = ops->windows(r, 0, w, 64), shards = 0;
			for (size_t i = 0; i < nw && i < 64; i++)
				shards += !w[i].shared;
			/* retired shards are recycled: no more than the split allows */
			if (ops == &spsc_ops)
				CHECK_OP(shards, <=, SPSC_DEFAULT_SHARDS);
			if (ops == &numa_ops)
				CHECK_EQ(nw, numa_nodes());
			print_message("      %zu shard windows after %u threads\n", nw, nthreads);
		}
		free(buf);
		free(last);
		free(p);
		ops->destroy(r);
	}
}

static void test_concurrent_1024(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		uint32_t nthreads = quick() ? 128 : 1024, m = 32;
		struct ttlog_ring *r = mk(ops, 16384, TTLOG_POLICY_OVERWRITE);
		uint64_t maps0 = ttlog__ring_maps();
		struct prod *p = calloc(nthreads, sizeof *p);
		pthread_t *t = calloc(nthreads, sizeof *t);
		uint64_t *last = calloc(nthreads, sizeof *last), total = 0, stored = 0;
		struct ttlog_record *buf = snapbuf(r, ops);
		struct ttlog_ring_cut cut;
		struct ttlog_ring_stats st;
		pthread_barrier_t bar, mid;
		char msg[200];

		assert_non_null(p);
		assert_non_null(t);
		assert_non_null(last);
		pthread_barrier_init(&bar, NULL, nthreads + 1);
		pthread_barrier_init(&mid, NULL, nthreads);
		for (uint32_t i = 0; i < nthreads; i++) {
			p[i] = (struct prod){.ops = ops, .r = r, .stream = i, .n = m, .cpu = -1,
					     .start = &bar, .mid = &mid};
			t[i] = spawn(producer, &p[i]);
		}
		/* all alive at once, and all have pushed before any finishes */
		pthread_barrier_wait(&bar);
		for (uint32_t i = 0; i < nthreads; i++) {
			pthread_join(t[i], NULL);
			total += p[i].stored + p[i].dropped;
			stored += p[i].stored;
		}
		pthread_barrier_destroy(&bar);
		pthread_barrier_destroy(&mid);
		CHECK_S(werr_take());
		/* ring memory is mapped at creation, except spsc's shards: one per claimed index,
		 * never one more, however many threads make their first push at once */
		uint64_t shards = ops == &spsc_ops ? SPSC_DEFAULT_SHARDS : 0;
		CHECK_EQ(ttlog__ring_maps() - maps0, shards);
		CHECK_EQ(total, (uint64_t)nthreads * m);
		ops->stats(r, &st);
		CHECK_EQ(st.pushed, stored);
		CHECK_EQ(st.pushed + st.dropped, total);
		size_t k = ops->snapshot(r, buf, ops->capacity(r), &cut);
		CHECK_S(check_copy(buf, k, last, nthreads, msg, sizeof msg));
		CHECK_S(check_cut(&cut, k, msg, sizeof msg));
		CHECK_EQ(cut.stored, stored);
		CHECK_EQ(cut.stored + cut.dropped, total);
		if (holds_up_to(ops, r) == ops->capacity(r))
			CHECK_EQ(cut.overwritten, st.overwritten);
		CHECK_OP(cut.overwritten, >=, st.overwritten);
		if (ops == &percpu_ops) {
			/* rseq: nobody holds a slot, so nobody drops; the fallback drops only
			 * behind a producer preempted for a whole lap (counted) */
			print_message("      percpu (%s): %llu dropped\n", percpu_path(r),
				      (unsigned long long)st.dropped);
			if (strcmp(percpu_path(r), "rseq") == 0)
				CHECK_EQ(st.dropped, 0);
		}
		if (ops == &spsc_ops) {
			struct ttlog_shard_window w[64];
			size_t nw = ops->windows(r, 0, w, 64), shared = 0;
			for (size_t i = 0; i < nw && i < 64; i++)
				shared += w[i].shared ? w[i].kept : 0;
			CHECK_OP(nw, <=, SPSC_DEFAULT_SHARDS + percpu_rings());
			/* more threads than shards: the rest wrote to the shared ring */
			CHECK_OP(shared, >, 0);
			/* a percpu ring: with rseq nobody holds a slot, so nobody drops */
			print_message("      spsc shared ring (%s): %llu dropped\n",
				      spsc_shared_path(r), (unsigned long long)st.dropped);
			if (strcmp(spsc_shared_path(r), "rseq") == 0)
				CHECK_EQ(st.dropped, 0);
		}
		free(buf);
		free(last);
		free(t);
		free(p);
		ops->destroy(r);
	}
}

/* ---- a signal handler pushing into an interrupted push ------------------------------ */

static const struct ttlog_ring_ops *sig_ops;
static struct ttlog_ring *sig_ring;
static _Atomic uint64_t sig_seq, sig_stored, sig_dropped;
/* One clock for the loop and the handler: a record's timestamp is taken before its push,
 * as in the library, so that each stream stays in order through the merge. */
static _Atomic uint64_t sig_clock;

static void on_alarm(int sig)
{
	struct ttlog_record rec;
	uint64_t seq = atomic_load_explicit(&sig_seq, memory_order_relaxed);
	int saved = errno;

	(void)sig;
	mkrec(&rec, 1, seq, atomic_fetch_add_explicit(&sig_clock, 1, memory_order_relaxed) + 1);
	int ret = sig_ops->push(sig_ring, &rec);
	atomic_store_explicit(&sig_seq, seq + 1, memory_order_relaxed);
	if (ret >= 0)
		atomic_fetch_add_explicit(&sig_stored, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&sig_dropped, 1, memory_order_relaxed);
	errno = saved;
}

/* Route SIGALRM to handler and create a timer that signals this thread only
 * (SIGEV_THREAD_ID); the previous action goes to *old. */
static void thread_timer(void (*handler)(int), struct sigaction *old, timer_t *timer)
{
	struct sigaction sa = {.sa_handler = handler};
	struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGALRM};

	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	CHECK_EQ(sigaction(SIGALRM, &sa, old), 0);
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	CHECK_EQ(timer_create(CLOCK_MONOTONIC, &sev, timer), 0);
}

static void run_signal(const struct ttlog_ring_ops *ops, int policy)
{
	uint64_t n = quick() ? 100000 : 1000000, stored = 0, dropped = 0, last[2] = {0};
	struct ttlog_ring *r = mk(ops, 1 << 14, policy);
	struct ttlog_record rec, *buf = snapbuf(r, ops);
	struct sigaction old;
	struct itimerspec its = {.it_interval = {0, 20000}, .it_value = {0, 20000}};
	struct ttlog_ring_cut cut;
	struct ttlog_ring_stats st;
	timer_t timer;
	char msg[200];

	sig_ops = ops;
	sig_ring = r;
	atomic_store(&sig_clock, 0);
	atomic_store(&sig_seq, 0);
	atomic_store(&sig_stored, 0);
	atomic_store(&sig_dropped, 0);
	thread_timer(on_alarm, &old, &timer);
	CHECK_EQ(timer_settime(timer, 0, &its, NULL), 0);
	for (uint64_t i = 0; i < n; i++) {
		mkrec(&rec, 0, i, atomic_fetch_add_explicit(&sig_clock, 1, memory_order_relaxed) + 1);
		int ret = ops->push(r, &rec);
		stored += ret >= 0;
		dropped += ret < 0;
	}
	timer_delete(timer);
	sigaction(SIGALRM, &old, NULL);

	uint64_t hs = atomic_load(&sig_stored), hd = atomic_load(&sig_dropped);
	print_message("      %llu pushes from the handler\n", (unsigned long long)(hs + hd));
	ops->stats(r, &st);
	CHECK_EQ(st.pushed, stored + hs);
	CHECK_EQ(st.dropped, dropped + hd);
	size_t k = ops->snapshot(r, buf, ops->capacity(r), &cut);
	CHECK_S(check_copy(buf, k, last, 2, msg, sizeof msg));
	CHECK_S(check_cut(&cut, k, msg, sizeof msg));
	CHECK_EQ(cut.stored + cut.dropped, n + hs + hd);
	if (ops == &spsc_ops) {
		struct ttlog_shard_window w[64];
		size_t nw = ops->windows(r, 0, w, 64), shared = 0;
		for (size_t i = 0; i < nw && i < 64; i++)
			shared += w[i].shared ? w[i].kept : 0;
		print_message("      %llu kept from the shared ring (nested pushes)\n",
			      (unsigned long long)shared);
	}
	if (policy == TTLOG_POLICY_OVERWRITE)
		CHECK_EQ(last[0], n); /* the newest record of the loop is kept */
	else
		CHECK_OP(last[0], >, 0); /* the oldest are */
	free(buf);
	ops->destroy(r);
}

static void test_signal_nested_push(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		run_signal(ops, TTLOG_POLICY_OVERWRITE);
		if (!quick())
			run_signal(ops, TTLOG_POLICY_DROP);
	}
}

/* ---- a snapshot interrupting a snapshot: the windows it reports ------------------- */

/* The handler takes a snapshot; when it lands inside the loop's snapshot, the scratch is
 * busy and the ring copies in place. Its windows must then be none (unknown), never the
 * interrupted snapshot's half-counted ones: whatever windows a snapshot reports add up to
 * the records it returned. */
static struct ttlog_record *isnap_buf;
static _Atomic uint64_t isnap_fired, isnap_inplace, isnap_bad;

/* How many windows the last snapshot of r (on this thread) reports; *kept: their sum. */
static size_t windows_kept(const struct ttlog_ring_ops *ops, struct ttlog_ring *r,
			   size_t *kept)
{
	struct ttlog_shard_window w[16];
	size_t nw = ops->windows(r, 0, w, 16);

	*kept = 0;
	for (size_t i = 0; i < nw; i++) {
		if (i > 0 && i % 16 == 0)
			ops->windows(r, i, w, 16);
		*kept += w[i % 16].kept;
	}
	return nw;
}

static void on_isnap(int sig)
{
	struct ttlog_ring_cut cut;
	size_t k, nw, kept;
	int saved = errno;

	(void)sig;
	k = sig_ops->snapshot(sig_ring, isnap_buf, sig_ops->capacity(sig_ring), &cut);
	nw = windows_kept(sig_ops, sig_ring, &kept);
	if (nw == 0)
		atomic_fetch_add(&isnap_inplace, 1);
	else if (kept != k)
		atomic_fetch_add(&isnap_bad, 1);
	atomic_fetch_add(&isnap_fired, 1);
	errno = saved;
}

static void *isnap_producer(void *arg)
{
	struct ttlog_record rec;
	for (uint64_t i = 0; i < 20000; i++) {
		mkrec(&rec, 1, i, 2 * i + 2);
		sig_ops->push(sig_ring, &rec);
	}
	(void)arg;
	return NULL;
}

static void test_snapshot_in_snapshot(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		if (ops->windows == NULL)
			continue; /* no shards, no windows */
		struct ttlog_ring *r = mk(ops, 1 << 14, TTLOG_POLICY_OVERWRITE);
		struct ttlog_record rec, *buf = snapbuf(r, ops);
		struct sigaction old;
		struct ttlog_ring_cut cut;
		timer_t timer;
		int rounds = quick() ? 100 : 400;

		sig_ops = ops;
		sig_ring = r;
		isnap_buf = snapbuf(r, ops);
		atomic_store(&isnap_fired, 0);
		atomic_store(&isnap_inplace, 0);
		atomic_store(&isnap_bad, 0);
		/* two threads' records: two shards (spsc), one node ring or more (numa) */
		pthread_join(spawn(isnap_producer, NULL), NULL);
		for (uint64_t i = 0; i < 20000; i++) {
			mkrec(&rec, 0, i, 2 * i + 1);
			ops->push(r, &rec);
		}
		thread_timer(on_isnap, &old, &timer);
		for (int i = 0; i < rounds; i++) {
			/* one shot, at a point that moves through the loop's snapshot */
			struct itimerspec its = {.it_value = {0, 1000 + (long)(i % 50) * 20000}};
			uint64_t fired = atomic_load(&isnap_fired);
			CHECK_EQ(timer_settime(timer, 0, &its, NULL), 0);
			size_t k = ops->snapshot(r, buf, ops->capacity(r), &cut), kept;
			size_t nw = windows_kept(ops, r, &kept);
			CHECK_OP(nw, >, 0); /* through the scratch: windows known */
			CHECK_EQ(kept, k);
			while (atomic_load(&isnap_fired) == fired)
				sched_yield();
		}
		timer_delete(timer);
		sigaction(SIGALRM, &old, NULL);
		uint64_t inplace = atomic_load(&isnap_inplace), stale = atomic_load(&isnap_bad);
		print_message("      %llu of %d snapshots in a snapshot\n",
			      (unsigned long long)inplace, rounds);
		CHECK_EQ(stale, 0); /* windows that do not add up to the snapshot */
		CHECK_OP(inplace, >, 0); /* the point of the test: some did interrupt one */
		free(isnap_buf);
		free(buf);
		ops->destroy(r);
	}
}

/* ---- sharded specifics -------------------------------------------------------------- */

/* More threads than shards (3 shards + the shared percpu ring): the snapshot is the newest
 * capacity records of all of them. */
static void test_spsc_small_split(void **state)
{
	(void)state;
	cur = "spsc";
	if (!selected(&spsc_ops))
		return;
	struct ttlog_ring_config c = {.capacity = 256, .policy = TTLOG_POLICY_OVERWRITE};
	struct ttlog_ring *r = NULL;
	enum { NP = 6 };
	struct prod p[NP];
	pthread_t t[NP];
	uint64_t last[NP] = {0}, total = 0;
	struct ttlog_record buf[256];
	struct ttlog_ring_cut cut;
	struct ttlog_shard_window w[64];
	pthread_barrier_t bar, mid;
	char msg[200];

	CHECK_EQ(spsc_create_shards(&r, &c, 3), 0);
	CHECK_EQ(spsc_ops.capacity(r), 256);
	pthread_barrier_init(&bar, NULL, NP);
	pthread_barrier_init(&mid, NULL, NP);
	for (int i = 0; i < NP; i++) {
		p[i] = (struct prod){.ops = &spsc_ops, .r = r, .stream = (uint32_t)i,
				     .n = 10000, .cpu = -1, .start = &bar, .mid = &mid};
		t[i] = spawn(producer, &p[i]);
	}
	for (int i = 0; i < NP; i++) {
		pthread_join(t[i], NULL);
		total += p[i].stored + p[i].dropped;
	}
	pthread_barrier_destroy(&bar);
	pthread_barrier_destroy(&mid);
	CHECK_S(werr_take());
	size_t k = spsc_ops.snapshot(r, buf, 256, &cut);
	CHECK_S(check_copy(buf, k, last, NP, msg, sizeof msg));
	CHECK_S(check_cut(&cut, k, msg, sizeof msg));
	CHECK_EQ(cut.stored + cut.dropped, total);
	CHECK_EQ(k, 256); /* (3 + CPUs) x 256 held, the newest 256 returned */
	/* the 3 shards, then the CPU rings of the shared ring that the snapshot took from */
	size_t nw = spsc_ops.windows(r, 0, w, 64), wsum = 0;
	CHECK_OP(nw, >=, 3);
	CHECK_OP(nw, <=, 3 + percpu_rings());
	for (size_t i = 0; i < nw && i < 64; i++) {
		CHECK_EQ(w[i].shared, i >= 3);
		if (i >= 3)
			CHECK_OP(w[i].kept, >, 0);
		wsum += w[i].kept;
	}
	CHECK_EQ(wsum, 256);
	/* the newest 256 by timestamp: for every thread present, a run of its records ending
	 * with its very last one */
	uint64_t first[NP], cnt[NP] = {0};
	for (size_t i = 0; i < k; i++) {
		uint32_t s;
		uint64_t sq;
		rec_ok(&buf[i], &s, &sq);
		if (cnt[s]++ == 0)
			first[s] = sq;
	}
	for (int i = 0; i < NP; i++)
		if (cnt[i] > 0) {
			CHECK_EQ(last[i], 10000);
			CHECK_EQ(first[i] + cnt[i], 10000);
		}
	struct ttlog_ring_stats st;
	spsc_ops.stats(r, &st);
	CHECK_EQ(st.pushed + st.dropped, total);
	CHECK_EQ(cut.overwritten, cut.stored - 256);
	for (size_t i = 1; i < k; i++)
		CHECK_OP(buf[i].ts, >=, buf[i - 1].ts);
	spsc_ops.destroy(r);
	CHECK_EQ(spsc_create_shards(&r, &c, SPSC_MAX_SHARDS + 1), -EINVAL);
	c.capacity = 32;
	CHECK_EQ(spsc_create_shards(&r, &c, SPSC_MAX_SHARDS), 0);
	CHECK_EQ(spsc_ops.capacity(r), 32);
	spsc_ops.destroy(r);
}

/* spsc's overflow: every shard owned by a live thread, N more threads log into the shared
 * percpu ring, while one more overflow thread is held in a signal handler that interrupted
 * it (inside a push or not: where it was is not known, and a push cannot be stopped inside
 * its restartable sequence anyway). Overwrite mode: with rseq nobody drops (an mpmc shared
 * ring dropped behind a descheduled producer), and the accounting is exact. */
static _Atomic int ovf_parked, ovf_release;

static void on_park(int sig)
{
	(void)sig;
	atomic_store(&ovf_parked, 1);
	while (!atomic_load(&ovf_release))
		sched_yield();
}

struct holder {
	struct ttlog_ring *r;
	uint32_t stream;
	pthread_barrier_t *took, *done;
};

/* Takes a shard (its first push) and keeps it, alive, until done. */
static void *holder(void *arg)
{
	struct holder *h = arg;
	struct ttlog_record rec;

	mkrec(&rec, h->stream, 0, 1);
	if (spsc_ops.push(h->r, &rec) != 0)
		werr("holder %u: push not stored", h->stream);
	pthread_barrier_wait(h->took);
	pthread_barrier_wait(h->done);
	return NULL;
}

static void test_spsc_overflow(void **state)
{
	(void)state;
	cur = "spsc";
	if (!selected(&spsc_ops))
		return;
	enum { S = 2, N = 32 };
	struct ttlog_ring_config c = {.capacity = 64, .policy = TTLOG_POLICY_OVERWRITE};
	struct ttlog_ring *r = NULL;
	uint64_t m = quick() ? 500 : 4000, total = S, dropped = 0, last[S + N + 1] = {0};
	struct holder h[S];
	struct prod p[N + 1];
	pthread_t ht[S], t[N + 1];
	pthread_barrier_t took, done, bar;
	_Atomic int stop = 0;
	struct sigaction sa = {.sa_handler = on_park}, old;
	struct ttlog_ring_stats st;
	struct ttlog_ring_cut cut;
	struct ttlog_shard_window w[64];
	struct ttlog_record buf[64];
	char msg[200];

	CHECK_EQ(spsc_create_shards(&r, &c, S), 0);
	const int rseq = strcmp(spsc_shared_path(r), "rseq") == 0;
	uint64_t maps0 = ttlog__ring_maps();
	pthread_barrier_init(&took, NULL, S + 1);
	pthread_barrier_init(&done, NULL, S + 1);
	for (uint32_t i = 0; i < S; i++) {
		h[i] = (struct holder){r, i, &took, &done};
		ht[i] = spawn(holder, &h[i]);
	}
	pthread_barrier_wait(&took); /* every shard is owned by a live thread */

	/* the parked one: logs until stopped, held in on_park from its first pushes on */
	atomic_store(&ovf_parked, 0);
	atomic_store(&ovf_release, 0);
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGUSR1, &sa, &old), 0);
	p[N] = (struct prod){.ops = &spsc_ops, .r = r, .stream = S + N, .cpu = -1, .stop = &stop};
	t[N] = spawn(producer, &p[N]);
	while (atomic_load_explicit(&p[N].done, memory_order_acquire) == 0)
		sched_yield();
	CHECK_EQ(pthread_kill(t[N], SIGUSR1), 0);
	while (!atomic_load(&ovf_parked))
		sched_yield();

	pthread_barrier_init(&bar, NULL, N);
	for (uint32_t i = 0; i < N; i++) {
		p[i] = (struct prod){.ops = &spsc_ops, .r = r, .stream = S + i, .n = m, .cpu = -1,
				     .start = &bar};
		t[i] = spawn(producer, &p[i]);
	}
	for (uint32_t i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		total += p[i].stored + p[i].dropped;
		dropped += p[i].dropped;
	}
	atomic_store(&stop, 1);
	atomic_store(&ovf_release, 1);
	pthread_join(t[N], NULL);
	total += p[N].stored + p[N].dropped;
	dropped += p[N].dropped;
	sigaction(SIGUSR1, &old, NULL);
	pthread_barrier_destroy(&bar);
	CHECK_S(werr_take());

	/* the overflow threads got no shard: only the holders' two were ever mapped */
	CHECK_EQ(ttlog__ring_maps() - maps0, S);
	spsc_ops.stats(r, &st);
	print_message("      %u overflow threads (%s), %llu pushes, %llu dropped\n", N + 1,
		      spsc_shared_path(r), (unsigned long long)total, (unsigned long long)dropped);
	CHECK_EQ(total, S + N * m + p[N].stored + p[N].dropped);
	CHECK_EQ(st.pushed + st.dropped, total);
	CHECK_EQ(st.dropped, dropped);
	if (rseq)
		CHECK_EQ(dropped, 0); /* the point of the test */
	size_t k = spsc_ops.snapshot(r, buf, 64, &cut);
	CHECK_S(check_copy(buf, k, last, S + N + 1, msg, sizeof msg));
	CHECK_S(check_cut(&cut, k, msg, sizeof msg));
	CHECK_EQ(cut.in_flight, 0);
	CHECK_EQ(cut.stored + cut.dropped, total);
	CHECK_EQ(cut.dropped, dropped);
	CHECK_EQ(k, 64); /* the rings hold far more than the capacity: it is full */
	/* the holders' shards (one record each, older than all the rest: not in the newest 64),
	 * then the CPU rings the newest 64 came from */
	size_t nw = spsc_ops.windows(r, 0, w, 64), shared = 0;
	CHECK_OP(nw, >=, S + 1);
	for (size_t i = 0; i < nw && i < 64; i++) {
		CHECK_EQ(w[i].shared, i >= S);
		shared += w[i].kept;
	}
	CHECK_EQ(shared, 64);
	pthread_barrier_wait(&done);
	for (uint32_t i = 0; i < S; i++)
		pthread_join(ht[i], NULL);
	pthread_barrier_destroy(&took);
	pthread_barrier_destroy(&done);
	spsc_ops.destroy(r);
}

/* A signal handler's push that lands inside its thread's push to its own shard goes to
 * the shared ring (the shard has one writer) and is kept there: with a ring large enough
 * for everything, every loop and handler record is in the snapshot once, in order, and the
 * shared ring's windows count the nested ones. Repeated until some handler push did land
 * inside a push, or 10 rounds (then it fails: none was ever seen). */
static void test_spsc_nested_kept(void **state)
{
	(void)state;
	cur = "spsc";
	if (!selected(&spsc_ops))
		return;
	const size_t cap = 1 << 16;
	struct ttlog_record rec, *buf = malloc(cap * sizeof *buf);
	struct itimerspec its = {.it_interval = {0, 20000}, .it_value = {0, 20000}};
	struct ttlog_ring_config c = {.capacity = cap, .policy = TTLOG_POLICY_OVERWRITE};
	struct ttlog_shard_window w[64];
	struct sigaction old;
	struct ttlog_ring_cut cut;
	timer_t timer;
	uint64_t nested = 0, handler = 0, n;
	char msg[200];
	int round;

	assert_non_null(buf);
	for (round = 0; round < 10 && nested == 0; round++) {
		struct ttlog_ring *r = NULL;
		uint64_t last[2] = {0};
		CHECK_EQ(spsc_create_shards(&r, &c, 1), 0);
		sig_ops = &spsc_ops;
		sig_ring = r;
		atomic_store(&sig_clock, 0);
		atomic_store(&sig_seq, 0);
		atomic_store(&sig_stored, 0);
		atomic_store(&sig_dropped, 0);
		thread_timer(on_alarm, &old, &timer);
		CHECK_EQ(timer_settime(timer, 0, &its, NULL), 0);
		/* the loop and the handler together fill at most half the shard */
		for (n = 0; n < cap / 4 && n + atomic_load(&sig_seq) < cap / 2; n++) {
			mkrec(&rec, 0, n,
			      atomic_fetch_add_explicit(&sig_clock, 1, memory_order_relaxed) + 1);
			CHECK_EQ(spsc_ops.push(r, &rec), 0);
		}
		timer_delete(timer);
		sigaction(SIGALRM, &old, NULL);
		uint64_t hs = atomic_load(&sig_stored), hd = atomic_load(&sig_dropped);
		handler += hs;
		CHECK_EQ(hd, 0);
		size_t k = spsc_ops.snapshot(r, buf, cap, &cut);
		CHECK_S(check_copy(buf, k, last, 2, msg, sizeof msg));
		CHECK_S(check_cut(&cut, k, msg, sizeof msg));
		CHECK_EQ(k, n + hs);
		CHECK_EQ(last[0], n);
		CHECK_EQ(last[1], hs);
		CHECK_EQ(cut.stored, n + hs);
		CHECK_EQ(cut.overwritten + cut.dropped + cut.in_flight, 0);
		for (size_t i = 1; i < k; i++)
			CHECK_OP(buf[i - 1].ts, <, buf[i].ts);
		size_t nw = spsc_ops.windows(r, 0, w, 64), sum = 0;
		CHECK_OP(nw, >=, 1);
		CHECK_EQ(w[0].shared, 0); /* this thread's shard */
		for (size_t i = 0; i < nw && i < 64; i++) {
			sum += w[i].kept;
			nested += w[i].shared ? w[i].kept : 0;
		}
		CHECK_EQ(sum, k);
		spsc_ops.destroy(r);
	}
	print_message("      %d round(s), %llu handler pushes, %llu nested in a push\n", round,
		      (unsigned long long)handler, (unsigned long long)nested);
	CHECK_OP(nested, >, 0); /* the point of the test: some landed inside a push */
	free(buf);
}

/* The shared ring's CPU rings are in push order, and a producer preempted between taking
 * its timestamp and pushing puts an old timestamp after newer ones: the snapshot must
 * still return timestamp order and keep the order of a thread that moved between CPUs.
 * Deterministic: the timestamps are chosen. */
static void test_spsc_merge_unsorted(void **state)
{
	(void)state;
	cur = "spsc";
	if (!selected(&spsc_ops))
		return;
	if (ncpus() < 2) {
		print_message("    spsc: one CPU: nothing to merge, skipped\n");
		return;
	}
	struct ttlog_ring_config c = {.capacity = 64, .policy = TTLOG_POLICY_OVERWRITE};
	struct ttlog_ring *r = NULL;
	struct ttlog_record rec, buf[8];
	struct ttlog_ring_cut cut;
	struct ttlog_shard_window w[64];
	pthread_barrier_t took, done;
	struct holder h;
	uint64_t last[4] = {0};
	char msg[200];

	CHECK_EQ(spsc_create_shards(&r, &c, 1), 0);
	pthread_barrier_init(&took, NULL, 2);
	pthread_barrier_init(&done, NULL, 2);
	h = (struct holder){r, 3, &took, &done};
	pthread_t ht = spawn(holder, &h); /* stream 3, ts 1, in the one shard */
	pthread_barrier_wait(&took);
	/* stream 0 is this thread, without a shard, moving from CPU 0 to CPU 1; streams 1 and
	 * 2 were preempted producers */
	pin(0);
	mkrec(&rec, 0, 0, 100);
	CHECK_EQ(spsc_ops.push(r, &rec), 0);
	mkrec(&rec, 1, 0, 50);
	CHECK_EQ(spsc_ops.push(r, &rec), 0);
	pin(1);
	mkrec(&rec, 0, 1, 200);
	CHECK_EQ(spsc_ops.push(r, &rec), 0);
	mkrec(&rec, 2, 0, 40);
	CHECK_EQ(spsc_ops.push(r, &rec), 0);
	unpin_main();
	size_t n = spsc_ops.snapshot(r, buf, 8, &cut);
	CHECK_EQ(n, 5);
	CHECK_S(check_copy(buf, n, last, 4, msg, sizeof msg));
	CHECK_S(check_cut(&cut, n, msg, sizeof msg));
	for (size_t i = 1; i < n; i++)
		CHECK_OP(buf[i - 1].ts, <=, buf[i].ts);
	/* the shard, then CPU rings 0 and 1 (shard index S + CPU) */
	CHECK_EQ(spsc_ops.windows(r, 0, w, 64), 3);
	CHECK_EQ(w[0].shared, 0);
	CHECK_EQ(w[0].kept, 1);
	CHECK_EQ(w[1].shared, 1);
	CHECK_EQ(w[1].shard, 1);
	CHECK_EQ(w[1].kept, 2);
	CHECK_EQ(w[1].first_ts, 50);
	CHECK_EQ(w[1].last_ts, 100);
	CHECK_EQ(w[2].shard, 2);
	CHECK_EQ(w[2].kept, 2);
	CHECK_EQ(w[2].first_ts, 40);
	CHECK_EQ(w[2].last_ts, 200);
	pthread_barrier_wait(&done);
	pthread_join(ht, NULL);
	pthread_barrier_destroy(&took);
	pthread_barrier_destroy(&done);
	spsc_ops.destroy(r);
}

/* numa: the topology hwloc reports (HWLOC_SYNTHETIC "numa:N ..." when set). */
static void test_numa_topology(void **state)
{
	(void)state;
	cur = "numa";
	if (!selected(&numa_ops))
		return;
	const char *syn = getenv("HWLOC_SYNTHETIC");
	unsigned want = 0;
	if (syn != NULL && sscanf(syn, "numa:%u", &want) == 1)
		CHECK_EQ(numa_nodes(), want);
	print_message("    numa: %u node(s)%s%s\n", numa_nodes(), syn ? ", HWLOC_SYNTHETIC=" : "",
		      syn ? syn : "");
	CHECK_OP(numa_nodes(), >=, 1);
	struct ttlog_ring *r = mk(&numa_ops, 1024, TTLOG_POLICY_OVERWRITE);
	struct ttlog_record rec, buf[4];
	struct ttlog_ring_cut cut;
	struct ttlog_shard_window w[64];
	uint64_t ts = 0;
	CHECK_EQ(numa_ops.capacity(r), 1024);
	/* every CPU this thread can run on routes to some node ring */
	for (int cpu = 0; cpu < ncpus(); cpu++) {
		pin(cpu);
		mkrec(&rec, 0, (uint64_t)cpu, next_ts(&ts));
		CHECK_EQ(numa_ops.push(r, &rec), 0);
	}
	unpin_main();
	CHECK_EQ(numa_ops.snapshot(r, buf, 4, &cut), ncpus() < 4 ? (size_t)ncpus() : 4);
	CHECK_EQ(numa_ops.windows(r, 0, w, 64), numa_nodes());
	numa_ops.destroy(r);
}

/* numa: a node ring holds records in push order, and a producer preempted between taking
 * its timestamp and pushing puts an old timestamp after newer ones. The snapshot's merge
 * must still keep the order of a thread that moved between nodes (it once did not: the
 * merge took each node ring's copy as sorted). Deterministic: the timestamps are chosen. */
static void test_numa_merge_unsorted(void **state)
{
	(void)state;
	cur = "numa";
	if (!selected(&numa_ops) || numa_nodes() < 2 || ncpus() < 2) {
		print_message("    numa: one node or one CPU: nothing to merge, skipped\n");
		return;
	}
	struct ttlog_ring *r = mk(&numa_ops, 1024, TTLOG_POLICY_OVERWRITE);
	struct ttlog_record rec, buf[8];
	struct ttlog_ring_cut cut;
	struct ttlog_shard_window w[64];
	uint64_t last[3] = {0};
	size_t n, nw, used = 0;
	char msg[200];

	/* stream 0 is the thread that moves; streams 1 and 2 were preempted producers */
	pin(0);
	mkrec(&rec, 0, 0, 100);
	CHECK_EQ(numa_ops.push(r, &rec), 0);
	mkrec(&rec, 1, 0, 50);
	CHECK_EQ(numa_ops.push(r, &rec), 0);
	pin(1);
	mkrec(&rec, 0, 1, 200);
	CHECK_EQ(numa_ops.push(r, &rec), 0);
	mkrec(&rec, 2, 0, 40);
	CHECK_EQ(numa_ops.push(r, &rec), 0);
	unpin_main();
	n = numa_ops.snapshot(r, buf, 8, &cut);
	CHECK_EQ(n, 4);
	nw = numa_ops.windows(r, 0, w, 64);
	for (size_t i = 0; i < nw && i < 64; i++)
		used += w[i].kept > 0;
	if (used < 2) {
		print_message("    numa: CPUs 0 and 1 are on one node: skipped\n");
	} else {
		CHECK_S(check_copy(buf, n, last, 3, msg, sizeof msg));
		for (size_t i = 1; i < n; i++)
			CHECK_OP(buf[i - 1].ts, <=, buf[i].ts);
	}
	numa_ops.destroy(r);
}

/* merge.h's in-place stable merge against a reference. */
static void test_merge_inplace(void **state)
{
	(void)state;
	cur = "merge.h";
	static struct ttlog_record a[300], ref[300];
	unsigned seed = 12345;

	for (int iter = 0; iter < 2000; iter++) {
		size_t n = (size_t)(rand_r(&seed) % 300), m = n ? (size_t)rand_r(&seed) % (n + 1) : 0;
		unsigned range = 1 + (unsigned)rand_r(&seed) % 50;
		uint64_t t = 0;
		for (size_t i = 0; i < n; i++) {
			if (i == m)
				t = 0;
			t += (uint64_t)(rand_r(&seed) % range);
			memset(&a[i], 0, sizeof a[i]);
			a[i].ts = t;
			a[i].tid = (uint32_t)i; /* identity: original position */
		}
		/* reference: stable merge */
		size_t i = 0, j = m, o = 0;
		while (i < m || j < n)
			ref[o++] = (j >= n || (i < m && a[i].ts <= a[j].ts)) ? a[i++] : a[j++];
		ttlog__merge_inplace(a, 0, m, n);
		for (size_t x = 0; x < n; x++)
			CHECK_EQ(a[x].tid, ref[x].tid);
	}
}

/* merge.h's in-place stable sort against a reference (insertion sort), on runs that look
 * like a shared ring's push order: ascending with a few records taken out of place, and
 * on random data with many equal timestamps. */
static void test_sort_inplace(void **state)
{
	(void)state;
	cur = "merge.h";
	static struct ttlog_record a[400], ref[400];
	unsigned seed = 777;

	for (int iter = 0; iter < 2000; iter++) {
		size_t n = (size_t)(rand_r(&seed) % 400);
		int shuffled = iter % 2;
		uint64_t t = 0;
		for (size_t i = 0; i < n; i++) {
			memset(&a[i], 0, sizeof a[i]);
			t += (uint64_t)(rand_r(&seed) % 3);
			a[i].ts = shuffled ? (uint64_t)(rand_r(&seed) % 20) : t;
			a[i].tid = (uint32_t)i; /* identity: original position */
		}
		for (int k = 0; !shuffled && n > 1 && k < 4; k++) {
			/* a preempted producer: its early timestamp lands late in the ring */
			size_t from = (size_t)rand_r(&seed) % n, to = (size_t)rand_r(&seed) % n;
			struct ttlog_record x = a[from];
			if (from < to)
				memmove(&a[from], &a[from + 1], (to - from) * sizeof a[0]);
			else
				memmove(&a[to + 1], &a[to], (from - to) * sizeof a[0]);
			a[to] = x;
		}
		memcpy(ref, a, n * sizeof a[0]);
		for (size_t i = 1; i < n; i++) {
			struct ttlog_record x = ref[i];
			size_t j = i;
			for (; j > 0 && ref[j - 1].ts > x.ts; j--)
				ref[j] = ref[j - 1];
			ref[j] = x;
		}
		ttlog__sort_inplace(a, n);
		for (size_t x = 0; x < n; x++)
			CHECK_EQ(a[x].tid, ref[x].tid);
	}
}

/* ---- percpu specifics --------------------------------------------------------------- */

/* The push path percpu must run here: TTLOG_TEST_PERCPU_PATH when set (the Makefile's
 * pass under GLIBC_TUNABLES=glibc.pthread.rseq=0 sets sched_getcpu), else rseq wherever
 * glibc registered an rseq area for this thread on x86-64 outside TSan. */
static const char *percpu_expected_path(void)
{
	const char *e = getenv("TTLOG_TEST_PERCPU_PATH");

	if (e != NULL && e[0] != '\0')
		return e;
#if defined(HAVE_SYS_RSEQ) && !defined(__SANITIZE_THREAD__)
	const struct rseq *rs =
		(const struct rseq *)((const char *)__builtin_thread_pointer() + __rseq_offset);
	if (__rseq_size >= 20 && (int32_t)rs->cpu_id >= 0)
		return "rseq";
#endif
	return "sched_getcpu";
}

static void test_percpu_path(void **state)
{
	(void)state;
	cur = "percpu";
	if (!selected(&percpu_ops))
		return;
	struct ttlog_ring *r = mk(&percpu_ops, 64, TTLOG_POLICY_OVERWRITE);
	const char *want = percpu_expected_path();
	struct ttlog_ring_stats st = {0};

	print_message("    percpu: %u rings, push path %s\n", percpu_rings(), percpu_path(r));
	if (strcmp(percpu_path(r), want) != 0) {
		print_error("percpu runs the %s path, expected %s\n", percpu_path(r), want);
		fail();
	}
	percpu_ops.stats(r, &st);
	assert_non_null(st.push_path);
	assert_string_equal(st.push_path, want);
	CHECK_OP(percpu_rings(), >=, (unsigned)ncpus());
	percpu_ops.destroy(r);
}

/* Signal handler pushes landing inside the loop's pushes, on the same thread (so the same
 * CPU): the interrupted push restarts, and with a ring large enough for everything, every
 * loop and every handler record is in the snapshot exactly once, intact. Repeated until a
 * push did restart (rseq) or 10 rounds (then it fails: no restart was ever seen). */
/* policy: in drop mode a push restarted after its busy mark must find the slot still its
 * own (the mark of its aborted attempt), not full: else that CPU's ring dropped every push
 * from then on */
static void percpu_signal_restart(int policy)
{
	cur = "percpu";
	if (!selected(&percpu_ops))
		return;
	const size_t cap = 1 << 16;
	uint64_t n;
	struct ttlog_record rec, *buf = malloc(cap * sizeof *buf);
	struct itimerspec its = {.it_interval = {0, 20000}, .it_value = {0, 20000}};
	struct sigaction old;
	struct ttlog_ring_cut cut;
	timer_t timer;
	uint64_t restarts = 0, handler = 0;
	char msg[200];
	int round, rseq = 0;

	assert_non_null(buf);
	pin_main();
	for (round = 0; round < 10; round++) {
		struct ttlog_ring *r = mk(&percpu_ops, cap, policy);
		uint64_t r0 = percpu_thread_restarts(), last[2] = {0};
		rseq = strcmp(percpu_path(r), "rseq") == 0;
		sig_ops = &percpu_ops;
		sig_ring = r;
		atomic_store(&sig_clock, 0);
		atomic_store(&sig_seq, 0);
		atomic_store(&sig_stored, 0);
		atomic_store(&sig_dropped, 0);
		thread_timer(on_alarm, &old, &timer);
		CHECK_EQ(timer_settime(timer, 0, &its, NULL), 0);
		/* the loop and the handler together fill at most half the ring (a slow build
		 * takes many signals per loop push) */
		for (n = 0; n < cap / 4 && n + atomic_load(&sig_seq) < cap / 2; n++) {
			mkrec(&rec, 0, n,
			      atomic_fetch_add_explicit(&sig_clock, 1, memory_order_relaxed) + 1);
			CHECK_EQ(percpu_ops.push(r, &rec), 0);
		}
		timer_delete(timer);
		sigaction(SIGALRM, &old, NULL);
		uint64_t hs = atomic_load(&sig_stored), hd = atomic_load(&sig_dropped);
		restarts += percpu_thread_restarts() - r0;
		handler += hs;
		CHECK_EQ(hd, 0);
		size_t k = percpu_ops.snapshot(r, buf, cap, &cut);
		CHECK_S(check_copy(buf, k, last, 2, msg, sizeof msg));
		CHECK_S(check_cut(&cut, k, msg, sizeof msg));
		/* seqs strictly increase per stream: the last seq and the count show every
		 * record is there once */
		CHECK_EQ(k, n + hs);
		CHECK_EQ(last[0], n);
		CHECK_EQ(last[1], hs);
		CHECK_EQ(cut.stored, n + hs);
		CHECK_EQ(cut.overwritten + cut.dropped + cut.in_flight, 0);
		percpu_ops.destroy(r);
		if (!rseq || restarts > 0)
			break;
	}
	unpin_main();
	print_message("      %d round(s), %llu handler pushes, %llu restarted pushes\n",
		      round + 1, (unsigned long long)handler, (unsigned long long)restarts);
	CHECK_OP(handler, >, 0);
	if (rseq)
		CHECK_OP(restarts, >, 0); /* the point of the test: pushes were interrupted */
	free(buf);
}

static void test_percpu_signal_restart(void **state)
{
	(void)state;
	percpu_signal_restart(TTLOG_POLICY_OVERWRITE);
}

static void test_percpu_signal_restart_drop(void **state)
{
	(void)state;
	percpu_signal_restart(TTLOG_POLICY_DROP);
}

/* Threads that move between two CPUs while pushing (sched_setaffinity every few pushes),
 * while another thread takes snapshots: no torn record, each thread's order kept, exact
 * accounting, and at the end (a ring large enough for all) every record once. */
struct mover {
	struct ttlog_ring *r;
	uint32_t stream;
	uint64_t n;
	int cpu[2];
	_Atomic int *done;
};

static void *mover(void *arg)
{
	struct mover *m = arg;
	struct ttlog_record rec;
	uint64_t ts = 0;

	for (uint64_t i = 0; i < m->n; i++) {
		if (i % 50 == 0) {
			cpu_set_t s;
			CPU_ZERO(&s);
			CPU_SET(m->cpu[(i / 50) % 2], &s);
			if (sched_setaffinity(0, sizeof s, &s) != 0)
				werr("sched_setaffinity: %s", strerror(errno));
		}
		mkrec(&rec, m->stream, i, next_ts(&ts));
		int ret = percpu_ops.push(m->r, &rec);
		if (ret != 0)
			werr("stream %u: push %llu returned %d", m->stream,
			     (unsigned long long)i, ret);
	}
	atomic_fetch_add(m->done, 1);
	return NULL;
}

static void test_percpu_migration(void **state)
{
	(void)state;
	cur = "percpu";
	if (!selected(&percpu_ops))
		return;
	enum { NT = 4 };
	int cpus[2], nc = 0;
	for (int c = 0; c < CPU_SETSIZE && nc < 2; c++)
		if (CPU_ISSET(c, &saved_mask))
			cpus[nc++] = c;
	if (nc < 2) {
		print_message("    percpu: one CPU allowed: no migration, skipped\n");
		return;
	}
	uint64_t n = quick() ? 5000 : 20000;
	size_t cap = 1 << 17; /* NT n records fit one ring */
	struct ttlog_ring *r = mk(&percpu_ops, cap, TTLOG_POLICY_OVERWRITE);
	struct ttlog_record *buf = malloc(cap * sizeof *buf);
	struct mover m[NT];
	pthread_t t[NT];
	_Atomic int done = 0;
	struct ttlog_ring_cut cut;
	const char *bad = NULL;
	char msg[300];
	int snaps = 0;

	assert_non_null(buf);
	for (int i = 0; i < NT; i++) {
		m[i] = (struct mover){r, (uint32_t)i, n, {cpus[i % 2], cpus[(i + 1) % 2]}, &done};
		t[i] = spawn(mover, &m[i]);
	}
	do {
		uint64_t last[NT] = {0};
		size_t k = percpu_ops.snapshot(r, buf, cap, &cut);
		snaps++;
		if (bad == NULL)
			bad = check_copy(buf, k, last, NT, msg, sizeof msg);
		if (bad == NULL)
			bad = check_cut(&cut, k, msg, sizeof msg);
		if (bad == NULL && cut.overwritten + cut.dropped != 0) {
			snprintf(msg, sizeof msg, "overwritten %llu dropped %llu in a ring that fits",
				 (unsigned long long)cut.overwritten,
				 (unsigned long long)cut.dropped);
			bad = msg;
		}
	} while (atomic_load(&done) < NT);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	print_message("      %d snapshots while moving (%s)\n", snaps, percpu_path(r));
	CHECK_S(bad);
	CHECK_S(werr_take());
	uint64_t last[NT] = {0};
	size_t k = percpu_ops.snapshot(r, buf, cap, &cut);
	CHECK_S(check_copy(buf, k, last, NT, msg, sizeof msg));
	CHECK_S(check_cut(&cut, k, msg, sizeof msg));
	CHECK_EQ(k, NT * n);
	for (int i = 0; i < NT; i++)
		CHECK_EQ(last[i], n); /* with k = NT n and increasing seqs: each record once */
	CHECK_EQ(cut.stored, NT * n);
	CHECK_EQ(cut.overwritten + cut.dropped + cut.in_flight, 0);
	struct ttlog_shard_window w[64];
	size_t nw = percpu_ops.windows(r, 0, w, 64), sum = 0;
	for (size_t i = 0; i < nw && i < 64; i++) {
		sum += w[i].kept;
		CHECK_OP(w[i].shard, <, percpu_rings());
	}
	CHECK_EQ(sum, k);
	CHECK_EQ(nw, 2); /* both CPUs' rings */
	for (size_t i = 1; i < k; i++)
		CHECK_OP(buf[i - 1].ts, <=, buf[i].ts);
	free(buf);
	percpu_ops.destroy(r);
}

/* Memory: one mapping of P C slots at create, none after, whatever the thread count. */
static void test_percpu_memory(void **state)
{
	(void)state;
	cur = "percpu";
	if (!selected(&percpu_ops))
		return;
	uint64_t maps0 = ttlog__ring_maps();
	struct ttlog_ring *r = mk(&percpu_ops, 1000, TTLOG_POLICY_OVERWRITE);
	CHECK_EQ(ttlog__ring_maps() - maps0, 1);
	CHECK_EQ(percpu_ops.capacity(r), 1024);
	percpu_ops.destroy(r);
}

static const cbor_item_t *map_get(const cbor_item_t *m, const char *key)
{
	struct cbor_pair *p = cbor_map_handle(m);

	for (size_t i = 0; i < cbor_map_size(m); i++)
		if (cbor_isa_string(p[i].key) && cbor_string_length(p[i].key) == strlen(key) &&
		    memcmp(cbor_string_handle(p[i].key), key, strlen(key)) == 0)
			return p[i].value;
	return NULL;
}

/* The library on percpu: ttlog_get_stats and the snapshot header's push_path name the path
 * the ring runs; the counters balance. */
static void test_percpu_library(void **state)
{
	(void)state;
	cur = "percpu";
	if (!selected(&percpu_ops))
		return;
	static unsigned char in[1 << 20], out[4 << 20];
	const char *want = percpu_expected_path();
	char dir[256], path[4096];
	ttlog_config cfg;
	ttlog_stats st;
	struct cbor_load_result res;
	LZ4F_dctx *dctx;
	size_t nin, pos = 0, olen = 0;

	tu_mkdir(dir, sizeof dir);
	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = dir;
	cfg.capacity = 64;
	cfg.service = "test";
	cfg.variant = "percpu";
	assert_int_equal(ttlog_init(&cfg), 0);
	assert_string_equal(ttlog_variant(), "percpu");
	for (uint64_t i = 0; i < 100; i++)
		TTLOG_INFO("percpu", "event {}", TTLOG_U64("i", i));
	ttlog_get_stats(&st);
	assert_non_null(st.push_path);
	assert_string_equal(st.push_path, want);
	CHECK_EQ(st.logged, 100);
	assert_int_equal(ttlog_snapshot("percpu", path, sizeof path), 0);
	ttlog_shutdown();

	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	nin = (size_t)read(fd, in, sizeof in);
	close(fd);
	assert_true(nin > 0 && nin < sizeof in);
	assert_false(LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)));
	while (pos < nin) {
		size_t src = nin - pos, dst = sizeof out - olen;
		size_t rc = LZ4F_decompress(dctx, out + olen, &dst, in + pos, &src, NULL);
		assert_false(LZ4F_isError(rc));
		pos += src;
		olen += dst;
		if (rc == 0)
			break;
	}
	LZ4F_freeDecompressionContext(dctx);
	cbor_item_t *top = cbor_load(out, olen, &res);
	assert_non_null(top);
	const cbor_item_t *pp = map_get(top, "push_path"), *v = map_get(top, "variant");
	assert_non_null(pp);
	assert_non_null(v);
	assert_true(cbor_isa_string(pp));
	CHECK_EQ(cbor_string_length(pp), strlen(want));
	assert_memory_equal(cbor_string_handle(pp), want, strlen(want));
	assert_memory_equal(cbor_string_handle(v), "percpu", 6);
	const cbor_item_t *c = map_get(top, "counters");
	assert_non_null(c);
	uint64_t logged = cbor_get_int(map_get(c, "logged")), kept = cbor_get_int(map_get(c, "kept"));
	uint64_t ow = cbor_get_int(map_get(c, "overwritten")), dr = cbor_get_int(map_get(c, "dropped"));
	CHECK_EQ(logged, 100);
	CHECK_EQ(logged, kept + ow + dr);
	CHECK_EQ(kept, 64);
	cbor_decref(&top);
	tu_rmdir(dir);
}

/* ---- a producer lapping its readers (spsc: implicit eviction) ---------------------- */

/* A record whose every word is v, so that a copy mixed from two pushes shows two values. */
static void mkflat(struct ttlog_record *r, uint64_t v)
{
	for (size_t i = 0; i < sizeof *r / 8; i++)
		memcpy((char *)r + 8 * i, &v, 8);
}

/* v when every word of r is v, else 0 (torn) */
static uint64_t flat_value(const struct ttlog_record *r)
{
	uint64_t v, x;

	memcpy(&v, r, 8);
	for (size_t i = 1; i < sizeof *r / 8; i++) {
		memcpy(&x, (const char *)r + 8 * i, 8);
		if (x != v)
			return 0;
	}
	return v;
}

/* One producer pushing 1..n (flat records); with a popper, drops wait for it now and then */
struct lap {
	const struct ttlog_ring_ops *ops;
	struct ttlog_ring *r;
	uint64_t n;
	int cpu;                       /* pin to it, or -1 */
	_Atomic uint64_t done;         /* pushes returned */
	_Atomic unsigned char *stored; /* NULL or n + 1 flags: the push of v stored it */
	uint64_t nstored, ndropped;
	_Atomic uint64_t popped, empty; /* by the popper: pops, pops that found nothing */
};

static void *lap_producer(void *arg)
{
	struct lap *l = arg;
	struct ttlog_record rec;

	if (l->cpu >= 0)
		pin(l->cpu);
	for (uint64_t v = 1; v <= l->n; v++) {
		mkflat(&rec, v);
		int ret = l->ops->push(l->r, &rec);
		if (ret >= 0) {
			l->nstored++;
			if (l->stored != NULL)
				atomic_store_explicit(&l->stored[v], 1, memory_order_relaxed);
		} else if (ret == -ENOBUFS) {
			/* every 256th drop waits for the popper to pop or find the ring empty:
			 * the drop test then stores beyond the capacity whatever the scheduler
			 * does */
			if (++l->ndropped % 256 == 0 && l->stored != NULL) {
				uint64_t p0 = atomic_load(&l->popped);
				uint64_t e0 = atomic_load(&l->empty);
				while (atomic_load(&l->popped) == p0 &&
				       atomic_load(&l->empty) == e0)
					sched_yield();
			}
		} else {
			werr("push of %llu returned %d", (unsigned long long)v, ret);
		}
		atomic_store_explicit(&l->done, v, memory_order_release);
	}
	return NULL;
}

/* Check a snapshot of a lap producer taken between done == before and done == after. */
static const char *check_lap(const struct ttlog_ring_ops *ops, const struct ttlog_record *buf,
			     size_t k, const struct ttlog_ring_cut *cut, uint64_t before,
			     uint64_t after, char *msg, size_t len)
{
	uint64_t prev = 0;

	for (size_t i = 0; i < k; i++) {
		uint64_t v = flat_value(&buf[i]);
		if (v == 0 || v <= prev || v > after + 1) {
			snprintf(msg, len, "record %zu of %zu: %s (%llu after %llu, %llu pushed)",
				 i, k, v == 0 ? "torn" : "out of order or not pushed",
				 (unsigned long long)v, (unsigned long long)prev,
				 (unsigned long long)after);
			return msg;
		}
		/* spsc copies one shard's positions newest first and stops at the first the
		 * owner lapped: what it keeps is a run without a gap */
		if (ops == &spsc_ops && prev != 0 && v != prev + 1) {
			snprintf(msg, len, "spsc: record %zu of %zu: %llu after %llu, a gap", i, k,
				 (unsigned long long)v, (unsigned long long)prev);
			return msg;
		}
		prev = v;
	}
	if (check_cut(cut, k, msg, len) != NULL)
		return msg;
	/* every push that returned before the snapshot is in the cut; one in progress
	 * after it may be */
	if (cut->stored + cut->dropped < before ||
	    cut->stored + cut->dropped + cut->in_flight > after + 1) {
		snprintf(msg, len, "logged %llu (+%llu in flight) outside [%llu, %llu + 1]",
			 (unsigned long long)(cut->stored + cut->dropped),
			 (unsigned long long)cut->in_flight, (unsigned long long)before,
			 (unsigned long long)after);
		return msg;
	}
	/* spsc: stored is the shard's tail; its newest record, if kept, is the cut's */
	if (ops == &spsc_ops && k > 0 && prev != cut->stored) {
		snprintf(msg, len, "spsc: newest kept %llu, stored %llu", (unsigned long long)prev,
			 (unsigned long long)cut->stored);
		return msg;
	}
	return NULL;
}

/* A producer laps a snapshot reader many times over in a ring of 16 (spsc: the owner
 * overwrites the slots the reader is copying): no torn record, no gap in spsc's copy,
 * every cut exact and between the pushes made before and after it. */
static void test_lap_snapshot(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		struct ttlog_ring *r = mk(ops, 16, TTLOG_POLICY_OVERWRITE);
		struct lap l = {.ops = ops, .r = r, .n = quick() ? 200000 : 2000000, .cpu = -1};
		struct ttlog_record *buf = snapbuf(r, ops);
		size_t cap = ops->capacity(r), k;
		struct ttlog_ring_cut cut;
		uint64_t snaps = 0, short_copies = 0, before, after;
		const char *bad = NULL;
		char msg[300];
		pthread_t t = spawn(lap_producer, &l);

		do {
			before = atomic_load_explicit(&l.done, memory_order_acquire);
			k = ops->snapshot(r, buf, cap, &cut);
			after = atomic_load_explicit(&l.done, memory_order_acquire);
			snaps++;
			short_copies += before >= cap && k < cap;
			if (bad == NULL)
				bad = check_lap(ops, buf, k, &cut, before, after, msg, sizeof msg);
		} while (after < l.n);
		pthread_join(t, NULL);
		print_message("      %llu snapshots, %llu lapped while copying\n",
			      (unsigned long long)snaps, (unsigned long long)short_copies);
		CHECK_S(bad);
		CHECK_S(werr_take());
		/* quiescent: the newest records, all of them, and the cut has every push */
		k = ops->snapshot(r, buf, cap, &cut);
		CHECK_S(check_lap(ops, buf, k, &cut, l.n, l.n, msg, sizeof msg));
		CHECK_OP(k, >=, cap - evict_batch(ops, r) + 1);
		CHECK_EQ(flat_value(&buf[k - 1]), l.n);
		CHECK_EQ(flat_value(&buf[0]), l.n - k + 1);
		CHECK_EQ(cut.stored, l.n);
		CHECK_EQ(cut.overwritten, l.n - k);
		free(buf);
		ops->destroy(r);
	}
}

struct lap_cons {
	struct lap *l;
	_Atomic unsigned char *seen; /* n + 1 flags: v was popped */
	uint64_t popped;
};

/* Pop until the producer is done and the ring is empty: every record intact, in push
 * order, and popped by no other consumer. */
static void *lap_consumer(void *arg)
{
	struct lap_cons *c = arg;
	struct lap *l = c->l;
	struct ttlog_record rec;
	uint64_t last = 0;

	for (;;) {
		int fin = atomic_load_explicit(&l->done, memory_order_acquire) == l->n;
		if (l->ops->pop(l->r, &rec) != 0) {
			atomic_fetch_add(&l->empty, 1);
			if (fin)
				break;
			sched_yield();
			continue;
		}
		uint64_t v = flat_value(&rec);
		if (v == 0 || v > l->n)
			werr("popped a torn record (first word %llu)", (unsigned long long)rec.ts);
		else if (v <= last)
			werr("popped %llu after %llu", (unsigned long long)v,
			     (unsigned long long)last);
		else if (atomic_exchange(&c->seen[v], 1) != 0)
			werr("popped %llu twice", (unsigned long long)v);
		last = v;
		c->popped++;
		atomic_fetch_add(&l->popped, 1);
	}
	return NULL;
}

/* Two consumers pop while the producer laps them in a ring of 16 (spsc: they validate
 * their copy and skip what the owner lapped): no record popped twice or torn; at the end
 * popped + kept + overwritten = stored, in the cut and in the stats, and nothing kept
 * was popped. */
static void test_lap_pop(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		enum { NC = 2 };
		struct ttlog_ring *r = mk(ops, 16, TTLOG_POLICY_OVERWRITE);
		struct lap l = {.ops = ops, .r = r, .n = quick() ? 200000 : 2000000, .cpu = 0};
		_Atomic unsigned char *seen = calloc(l.n + 1, 1);
		struct lap_cons c[NC];
		struct ttlog_record *buf = snapbuf(r, ops);
		struct ttlog_ring_stats st;
		struct ttlog_ring_cut cut;
		uint64_t popped = 0;
		pthread_t t, ct[NC];
		char msg[300];

		assert_non_null(seen);
		t = spawn(lap_producer, &l);
		for (int i = 0; i < NC; i++) {
			c[i] = (struct lap_cons){.l = &l, .seen = seen};
			ct[i] = spawn(lap_consumer, &c[i]);
		}
		pthread_join(t, NULL);
		for (int i = 0; i < NC; i++) {
			pthread_join(ct[i], NULL);
			popped += c[i].popped;
		}
		print_message("      %llu of %llu popped\n", (unsigned long long)popped,
			      (unsigned long long)l.n);
		CHECK_S(werr_take());
		CHECK_EQ(l.nstored + l.ndropped, l.n);
		if (ops == &spsc_ops)
			CHECK_EQ(l.ndropped, 0); /* (mpmc drops when pops keep it from evicting) */
		size_t k = ops->snapshot(r, buf, ops->capacity(r), &cut);
		CHECK_S(check_lap(ops, buf, k, &cut, l.n, l.n, msg, sizeof msg));
		for (size_t i = 0; i < k; i++)
			CHECK_EQ(atomic_load(&seen[flat_value(&buf[i])]), 0); /* kept, not popped */
		CHECK_EQ(cut.stored, l.nstored);
		CHECK_EQ(cut.dropped, l.ndropped);
		CHECK_EQ(cut.popped, popped);
		CHECK_EQ(cut.overwritten, l.nstored - popped - k);
		ops->stats(r, &st);
		CHECK_EQ(st.pushed, l.nstored);
		CHECK_EQ(st.popped, popped);
		CHECK_EQ(st.overwritten, l.nstored - popped - k);
		CHECK_EQ(st.dropped, l.ndropped);
		free(buf);
		free((void *)seen);
		ops->destroy(r);
	}
}

/* Drop mode with a concurrent popper, ring of 16: exactly the pushes that returned 0 are
 * popped, each once, in order; the rest are counted dropped; nothing is overwritten. */
static void test_drop_pop_exact(void **state)
{
	(void)state;
	FOR_EACH_VARIANT(ops)
	{
		struct ttlog_ring *r = mk(ops, 16, TTLOG_POLICY_DROP);
		struct lap l = {.ops = ops, .r = r, .n = quick() ? 100000 : 1000000, .cpu = 0};
		_Atomic unsigned char *seen = calloc(l.n + 1, 1);
		struct lap_cons c;
		struct ttlog_ring_stats st;
		struct ttlog_ring_cut cut;
		struct ttlog_record *buf = snapbuf(r, ops);
		uint64_t mismatched = 0, first = 0;
		pthread_t t, ct;

		l.stored = calloc(l.n + 1, 1);
		assert_non_null(seen);
		assert_non_null((void *)l.stored);
		c = (struct lap_cons){.l = &l, .seen = seen};
		t = spawn(lap_producer, &l);
		ct = spawn(lap_consumer, &c);
		pthread_join(t, NULL);
		pthread_join(ct, NULL);
		print_message("      %llu stored, %llu dropped\n", (unsigned long long)l.nstored,
			      (unsigned long long)l.ndropped);
		CHECK_S(werr_take());
		for (uint64_t v = 1; v <= l.n; v++)
			if (atomic_load(&seen[v]) != atomic_load(&l.stored[v]) && mismatched++ == 0)
				first = v;
		CHECK_EQ(mismatched, 0); /* popped exactly what was stored */
		CHECK_EQ(first, 0);
		CHECK_EQ(l.nstored + l.ndropped, l.n);
		CHECK_OP(l.nstored, >, ops->capacity(r)); /* the pops made room */
		CHECK_EQ(c.popped, l.nstored);
		ops->stats(r, &st);
		CHECK_EQ(st.pushed, l.nstored);
		CHECK_EQ(st.popped, l.nstored);
		CHECK_EQ(st.dropped, l.ndropped);
		CHECK_EQ(st.overwritten, 0);
		CHECK_EQ(ops->snapshot(r, buf, ops->capacity(r), &cut), 0);
		CHECK_EQ(cut.stored, l.nstored);
		CHECK_EQ(cut.popped, l.nstored);
		CHECK_EQ(cut.dropped, l.ndropped);
		CHECK_EQ(cut.overwritten, 0);
		free(buf);
		free((void *)l.stored);
		free((void *)seen);
		ops->destroy(r);
	}
}

int main(void)
{
	pthread_getaffinity_np(pthread_self(), sizeof saved_mask, &saved_mask);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_inplace),
		cmocka_unit_test(test_sort_inplace),
		cmocka_unit_test(test_variant_list),
		cmocka_unit_test(test_create_destroy),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_snapshot_newest_into_small_buffer),
		cmocka_unit_test(test_overwrite_policy),
		cmocka_unit_test(test_drop_policy),
		cmocka_unit_test(test_accounting_concurrent),
		cmocka_unit_test(test_snapshot_while_producing),
		cmocka_unit_test(test_concurrent_snapshots),
		cmocka_unit_test(test_merge_by_timestamp),
		cmocka_unit_test(test_threads_come_and_go),
		cmocka_unit_test(test_concurrent_1024),
		cmocka_unit_test(test_signal_nested_push),
		cmocka_unit_test(test_snapshot_in_snapshot),
		cmocka_unit_test(test_spsc_small_split),
		cmocka_unit_test(test_spsc_overflow),
		cmocka_unit_test(test_spsc_nested_kept),
		cmocka_unit_test(test_spsc_merge_unsorted),
		cmocka_unit_test(test_numa_topology),
		cmocka_unit_test(test_numa_merge_unsorted),
		cmocka_unit_test(test_percpu_path),
		cmocka_unit_test(test_percpu_signal_restart),
		cmocka_unit_test(test_percpu_signal_restart_drop),
		cmocka_unit_test(test_percpu_migration),
		cmocka_unit_test(test_percpu_memory),
		cmocka_unit_test(test_percpu_library),
		cmocka_unit_test(test_lap_snapshot),
		cmocka_unit_test(test_lap_pop),
		cmocka_unit_test(test_drop_pop_exact),
	};
	if (getenv("TTLOG_TEST_FILTER") != NULL) /* e.g. "*signal*" */
		cmocka_set_test_filter(getenv("TTLOG_TEST_FILTER"));
	return cmocka_run_group_tests_name("ring conformance", tests, NULL, NULL);
}
