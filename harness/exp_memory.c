/*
 * exp_memory.c - memory: what a ring costs per event, what logging costs in heap and RSS
 * (allocations per logged event after warm-up must be 0), and the memory matrix: bytes
 * per event in the ring, in CBOR and after LZ4, from real snapshot files.
 *
 * memory: the ring alone (ops->create of 2^20 records, filled by two threads until it
 * overwrites; its RSS delta per event it then keeps, and per configured slot), the
 * whole ttlog_init (ring + the snapshot buffers reserved at init so a crash never
 * allocates), then two threads log 10,000 events each (warm-up: the first event of a
 * thread may set it up), meet at a barrier, and log 1,000,000 more each; jemalloc's
 * stats.allocated and its allocation count (small + large nrequests, thread caches
 * included), and the RSS, are read at the barriers. A probe of 1,000 mallocs checks that
 * the count sees allocations at all, so a zero is a measured zero.
 *
 * memory-matrix: events {10K, 100K, 1M} x fields {0, 1, 3, 6} x message/string size
 * {16, 64, 256}; a ring of exactly that many events (rounded up to a power of two), one
 * call site per shape, a sync ttlog_snapshot(), the file's size (LZ4) and its
 * decompressed size (CBOR; LZ4F), each divided by the events the snapshot kept (header
 * and callsite dictionary included, amortised). Fields: 1 = a string; 3 = u64, string, bool (the
 * standard event); 6 = u64, string, bool, i64, f64, u64. The message literal has the
 * same size as the string. A 64-byte record leaves 40 bytes of values, so long strings
 * are truncated (flagged and counted; the fraction is reported): the ring's bytes per
 * event do not grow with the string, the snapshot's do until the cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4frame.h>

#include "../variants/ring.h"
#include "bench.h"

#define MEM_CAPACITY (1u << 20)
#define MEM_WARM 10000u
#define MEM_EVENTS 1000000u

/* ---- memory ---- */

struct m_arg {
	struct bench_thread_hdr hdr;
	pthread_barrier_t *bar;
	unsigned events;
};

static void *m_thread(void *p)
{
	struct m_arg *a = p;

	bench_thread_enter(&a->hdr);
	for (unsigned i = 0; i < MEM_WARM; i++)
		BENCH_LOG_STANDARD(i);
	pthread_barrier_wait(a->bar); /* A: warmed up */
	pthread_barrier_wait(a->bar); /* B: counters read */
	for (unsigned i = 0; i < a->events; i++)
		BENCH_LOG_STANDARD(i);
	pthread_barrier_wait(a->bar); /* C: done */
	return NULL;
}

struct fill_arg {
	struct bench_thread_hdr hdr;
	const struct ttlog_ring_ops *ops;
	struct ttlog_ring *ring;
};

static void *fill_thread(void *p)
{
	struct fill_arg *a = p;
	struct ttlog_record rec;

	memset(&rec, 0, sizeof rec);
	rec.callsite = 1;
	bench_thread_enter(&a->hdr);
	for (uint64_t i = 0; i < 2ull * MEM_CAPACITY; i++) {
		rec.ts = i;
		a->ops->push(a->ring, &rec);
	}
	return NULL;
}

static void plan_memory(struct bench_ctx *c, int rep)
{
	for (int i = 0; i < c->nimpls; i++)
		if (impl_is_variant(&c->impls[i]))
			task_add(c, &exp_memory, &c->impls[i], 0, rep, 0.6);
}

static void run_memory(struct bench_ctx *c, const struct task *t)
{
	const struct ttlog_ring_ops *ops = t->impl->ring;
	struct ttlog_ring_config rc = {.capacity = MEM_CAPACITY, .policy = TTLOG_POLICY_OVERWRITE};
	struct ttlog_ring *ring;
	uint64_t r0, r1, rss_a, rss_c;
	int64_t je0, je1, je_a, je_c, n_a, n_c, probe0, probe1;
	pthread_barrier_t bar;
	struct m_arg args[2];
	unsigned events = c->quick ? MEM_EVENTS / 4 : MEM_EVENTS;
	char cfg[160];
	size_t kept = 0;
	int err;

	/* the probe: the allocation counter must see these */
	probe0 = bench_je_nmalloc();
	{
		void *volatile keep[1000];
		for (int i = 0; i < 1000; i++)
			keep[i] = malloc(24);
		for (int i = 0; i < 1000; i++)
			free(keep[i]);
	}
	probe1 = bench_je_nmalloc();

	/* the ring alone, full: two producer threads push until it overwrites (a variant
	 * may create per-thread parts on first push), then what it keeps */
	r0 = bench_rss_bytes();
	if ((err = ops->create(&ring, &rc)) < 0) {
		run_note("memory %s: create: %s", t->impl->name, ttlog_strerror(err));
		return;
	}
	{
		struct fill_arg fa[2] = {{.ops = ops, .ring = ring}, {.ops = ops, .ring = ring}};
		struct bench_threads *ft = bench_threads_start(2, fill_thread, fa, sizeof *fa, 0);
		bench_threads_join(ft);
	}
	r1 = bench_rss_bytes();
	{
		struct ttlog_record *buf = malloc(MEM_CAPACITY * sizeof *buf);
		struct ttlog_ring_cut cut;
		kept = buf ? ops->snapshot(ring, buf, MEM_CAPACITY, &cut) : 0;
		free(buf);
	}
	ops->destroy(ring);

	je0 = bench_je_allocated();
	uint64_t ri0 = bench_rss_bytes();
	if (bench_ttlog_init(c, t->impl->name, MEM_CAPACITY, TTLOG_POLICY_OVERWRITE) < 0)
		return;
	uint64_t ri1 = bench_rss_bytes();
	je1 = bench_je_allocated();

	pthread_barrier_init(&bar, NULL, 3);
	for (int i = 0; i < 2; i++) {
		args[i].bar = &bar;
		args[i].events = events;
	}
	struct bench_threads *th = bench_threads_start(2, m_thread, args, sizeof *args, 0);
	pthread_barrier_wait(&bar); /* A */
	je_a = bench_je_allocated();
	n_a = bench_je_nmalloc();
	rss_a = bench_rss_bytes();
	pthread_barrier_wait(&bar); /* B */
	pthread_barrier_wait(&bar); /* C */
	je_c = bench_je_allocated();
	n_c = bench_je_nmalloc();
	rss_c = bench_rss_bytes();
	bench_threads_join(th);
	pthread_barrier_destroy(&bar);
	ttlog_shutdown();

	snprintf(cfg, sizeof cfg, "capacity=%u;threads=2;warmup=%u;events_per_thread=%u",
		 MEM_CAPACITY, MEM_WARM, events);
#define ADD(m, u, v) res_add("memory", t->impl->name, t->impl->kind, cfg, 0, m, u, false, v)
	/* per event the full ring keeps, and per configured slot */
	ADD("ring_bytes_per_event", "bytes", kept ? (double)(r1 - r0) / (double)kept : 0);
	ADD("ring_bytes_per_slot", "bytes", (double)(r1 - r0) / MEM_CAPACITY);
	ADD("ring_kept_events", "events", (double)kept);
	ADD("init_rss_bytes_per_event", "bytes", (double)(ri1 - ri0) / MEM_CAPACITY);
	ADD("init_heap_bytes", "bytes", (double)(je1 - je0));
	ADD("log_rss_delta_bytes", "bytes", (double)rss_c - (double)rss_a);
	ADD("log_heap_delta_bytes", "bytes", (double)(je_c - je_a));
	if (n_a >= 0 && probe1 - probe0 >= 1000)
		ADD("allocs_per_event", "allocs", (double)(n_c - n_a) / (2.0 * events));
	else
		run_note("memory: jemalloc's allocation count did not see a probe of 1000 mallocs "
			 "(%lld): allocations per event not measured",
			 (long long)(probe1 - probe0));
#undef ADD
}

/* ---- memory matrix ---- */

static const unsigned mm_events[] = {10000, 100000, 1000000};
static const int mm_fields[] = {0, 1, 3, 6};
static const int mm_sizes[] = {16, 64, 256};
#define MM_NE 3
#define MM_NF 4
#define MM_NS 3

#define MSG16 "request handled "
#define MSG64 "request handled for user {} with action {} and result {} request"
#define MSG256                                                                             \
	"request handled for user {} with action {} and result {} request handled for user " \
	"{} with action {} and result {} request handled for user {} with action {} and "    \
	"result {} request handled for user {} with action {} and result {} request handled " \
	"for user {} "
_Static_assert(sizeof MSG16 == 17 && sizeof MSG64 == 65 && sizeof MSG256 == 257, "sizes");

#define SHAPE_0(M) TTLOG_INFO("matrix", M)
#define SHAPE_1(M) TTLOG_INFO("matrix", M, TTLOG_STR("s", str))
#define SHAPE_3(M) \
	TTLOG_INFO("matrix", M, TTLOG_U64("id", i), TTLOG_STR("s", str), TTLOG_BOOL("ok", i & 1))
#define SHAPE_6(M)                                                                       \
	TTLOG_INFO("matrix", M, TTLOG_U64("id", i), TTLOG_STR("s", str), TTLOG_BOOL("ok", i & 1), \
		   TTLOG_I64("delta", -(int64_t)i), TTLOG_F64("ratio", (double)i * 0.5),       \
		   TTLOG_U64("seq", i * 7))

static void log_shape(int fields, int size, uint64_t i, const char *str)
{
#define SIZES(SH)                      \
	do {                           \
		if (size == 16)        \
			SH(MSG16);     \
		else if (size == 64)   \
			SH(MSG64);     \
		else                   \
			SH(MSG256);    \
	} while (0)
	switch (fields) {
	case 0: SIZES(SHAPE_0); break;
	case 1: SIZES(SHAPE_1); break;
	case 3: SIZES(SHAPE_3); break;
	default: SIZES(SHAPE_6); break;
	}
#undef SIZES
}

/* a pool of random strings per size: realistic to compress, not one repeated value */
#define POOL 256
static char *pool[MM_NS][POOL];

static void pool_init(void)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	uint64_t x = 0x9e3779b97f4a7c15ull;

	if (pool[0][0] != NULL)
		return;
	for (int s = 0; s < MM_NS; s++)
		for (int k = 0; k < POOL; k++) {
			pool[s][k] = malloc((size_t)mm_sizes[s] + 1);
			for (int j = 0; j < mm_sizes[s]; j++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				pool[s][k][j] = al[x % 64];
			}
			pool[s][k][mm_sizes[s]] = '\0';
		}
}

/* bytes of the LZ4 frame's content */
static long long lz4_content_size(const char *path)
{
	LZ4F_dctx *d;
	FILE *f = fopen(path, "rb");
	static unsigned char in[1 << 16], out[1 << 18];
	long long total = 0;
	size_t n;

	if (f == NULL || LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) {
		if (f)
			fclose(f);
		return -1;
	}
	while ((n = fread(in, 1, sizeof in, f)) > 0) {
		size_t off = 0;
		while (off < n) {
			size_t src = n - off, dst = sizeof out;
			size_t r = LZ4F_decompress(d, out, &dst, in + off, &src, NULL);
			if (LZ4F_isError(r)) {
				total = -1;
				goto done;
			}
			off += src;
			total += (long long)dst;
		}
	}
	for (;;) { /* flush what the context still holds */
		size_t src = 0, dst = sizeof out;
		size_t r = LZ4F_decompress(d, out, &dst, NULL, &src, NULL);
		if (LZ4F_isError(r) || dst == 0)
			break;
		total += (long long)dst;
	}
done:
	LZ4F_freeDecompressionContext(d);
	fclose(f);
	return total;
}

static void plan_matrix(struct bench_ctx *c, int rep)
{
	/* sizes do not vary between repetitions: one repetition */
	if (rep != 0)
		return;
	for (int e = 0; e < MM_NE; e++) {
		if (c->quick && mm_events[e] > 100000)
			continue;
		for (int f = 0; f < MM_NF; f++)
			for (int s = 0; s < MM_NS; s++)
				for (int i = 0; i < c->nimpls; i++)
					if (impl_is_variant(&c->impls[i]))
						task_add(c, &exp_memory_matrix, &c->impls[i],
							 e * 100 + f * 10 + s, rep,
							 0.08 + mm_events[e] * 3e-7);
	}
	if (c->quick)
		run_note("memory-matrix: QUICK run: 10K and 100K events only (1M in the full run)");
}

static void run_matrix(struct bench_ctx *c, const struct task *t)
{
	int e = t->cfg / 100, fi = (t->cfg / 10) % 10, si = t->cfg % 10;
	unsigned events = mm_events[e];
	int fields = mm_fields[fi], size = mm_sizes[si];
	char path[4096], cfg[160];
	struct stat st;
	ttlog_stats ts;
	int err;

	pool_init();
	if (bench_ttlog_init(c, t->impl->name, events, TTLOG_POLICY_OVERWRITE) < 0)
		return;
	for (uint64_t i = 0; i < events; i++)
		log_shape(fields, size, i, pool[si][i % POOL]);
	ttlog_get_stats(&ts);
	size_t cap = 16;
	while (cap < events)
		cap <<= 1;
	err = ttlog_snapshot("matrix", path, sizeof path);
	ttlog_shutdown();
	if (err < 0) {
		run_note("memory-matrix %s: ttlog_snapshot: %s", t->impl->name, ttlog_strerror(err));
		return;
	}
	long long cbor = lz4_content_size(path);
	if (stat(path, &st) < 0 || cbor < 0) {
		run_note("memory-matrix %s: cannot read back %s", t->impl->name, path);
		unlink(path);
		return;
	}
	unlink(path);
	snprintf(cfg, sizeof cfg, "events=%u;fields=%d;str=%d;capacity=%zu", events, fields, size,
		 cap);
	/* per event kept: a variant may keep fewer than it was given (spsc: one thread keeps
	 * capacity / parts); the kept count is reported beside */
	double kept = ts.kept ? (double)ts.kept : (double)events;
#define ADD(m, u, v) \
	res_add("memory-matrix", t->impl->name, t->impl->kind, cfg, events, m, u, false, v)
	ADD("ring_slot_bytes", "bytes", TTLOG_RECORD_SIZE);
	ADD("ring_bytes_per_event", "bytes", (double)cap * TTLOG_RECORD_SIZE / kept);
	ADD("cbor_bytes_per_event", "bytes", (double)cbor / kept);
	ADD("lz4_bytes_per_event", "bytes", (double)st.st_size / kept);
	ADD("compression_ratio", "x", (double)cbor / (double)st.st_size);
	ADD("truncated_frac", "frac", (double)ts.truncated / (double)(ts.logged ? ts.logged : 1));
	ADD("kept_events", "events", (double)ts.kept);
#undef ADD
}

const struct experiment exp_memory = {
	"memory", "ring bytes/event, RSS and heap deltas, allocations per logged event",
	plan_memory, run_memory};
const struct experiment exp_memory_matrix = {
	"memory-matrix", "bytes/event in ring, CBOR, LZ4: events x fields x string size",
	plan_matrix, run_matrix};
