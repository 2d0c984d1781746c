/*
 * exp_snapshot.c - what a snapshot costs, split into its steps, and what it weighs.
 *
 * A ring of N events (N in 1K, 100K, 1M; the standard event), then:
 *   total:    ttlog_snapshot() itself, the public synchronous call (collect, encode,
 *             compress, write to a temporary file, fsync, rename, fsync the directory)
 *   collect:  the ring's snapshot (ops->snapshot) into a record buffer
 *   encode:   CBOR encoding = ttlog__encode into a memory file (CBOR + LZ4, no disk) minus
 *   compress: LZ4F compression alone of the same CBOR bytes, same frame settings
 *   write:    the compressed bytes to a temporary file in the snapshot directory, fsync,
 *             rename, fsync of the directory
 * The split uses the library's internal encoder (core/internal.h) with buffers of its
 * own, exactly as core/snapfile.c calls it; the parts are measured separately, so their
 * sum is close to, not equal to, the total. ns per event = total / events kept in the
 * snapshot (reported beside: a variant may keep fewer than N); the compression
 * ratio = CBOR bytes / file bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4frame.h>

#include "../core/internal.h"
#include "bench.h"

static const unsigned sn_events[] = {1000, 100000, 1000000};

static void plan(struct bench_ctx *c, int rep)
{
	for (int e = 0; e < 3; e++)
		for (int i = 0; i < c->nimpls; i++)
			if (impl_is_variant(&c->impls[i]))
				task_add(c, &exp_snapshot, &c->impls[i], e, rep,
					 0.1 + sn_events[e] * 1.2e-6);
}

static uint64_t compress_alone(const unsigned char *cbor, size_t n, unsigned char *out,
			       size_t out_cap, size_t *out_n)
{
	/* the frame settings of core/encode.c: 64 KB linked blocks, content checksum,
	 * fast level, fed 64 KB at a time as the encoder does */
	static const LZ4F_preferences_t prefs = {
		.frameInfo = {.blockSizeID = LZ4F_max64KB,
			      .blockMode = LZ4F_blockLinked,
			      .contentChecksumFlag = LZ4F_contentChecksumEnabled},
		.compressionLevel = 0,
		.autoFlush = 1,
	};
	LZ4F_cctx *cx;
	size_t pos = 0, w;
	uint64_t t0, t1;

	if (LZ4F_isError(LZ4F_createCompressionContext(&cx, LZ4F_VERSION)))
		return 0;
	/* warm the context as the library does at init */
	LZ4F_compressBegin(cx, out, out_cap, &prefs);
	LZ4F_compressEnd(cx, out, out_cap, NULL);
	t0 = bench_now_ns();
	w = LZ4F_compressBegin(cx, out, out_cap, &prefs);
	for (size_t off = 0; off < n && !LZ4F_isError(w); off += 65536) {
		size_t chunk = n - off < 65536 ? n - off : 65536;
		pos += w;
		w = LZ4F_compressUpdate(cx, out + pos, out_cap - pos, cbor + off, chunk, NULL);
	}
	pos += LZ4F_isError(w) ? 0 : w;
	w = LZ4F_compressEnd(cx, out + pos, out_cap - pos, NULL);
	pos += LZ4F_isError(w) ? 0 : w;
	t1 = bench_now_ns();
	LZ4F_freeCompressionContext(cx);
	*out_n = pos;
	return t1 - t0;
}

static unsigned char *read_fd(int fd, size_t *n)
{
	struct stat st;
	unsigned char *p;

	if (fstat(fd, &st) < 0)
		return NULL;
	*n = (size_t)st.st_size;
	p = malloc(*n ? *n : 1);
	if (p != NULL && pread(fd, p, *n, 0) != (ssize_t)*n) {
		free(p);
		p = NULL;
	}
	return p;
}

static unsigned char *decompress(const unsigned char *in, size_t n, size_t *out_n)
{
	LZ4F_dctx *d;
	size_t cap = n * 8 + 65536, have = 0, off = 0;
	unsigned char *out = malloc(cap);

	if (out == NULL || LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION))) {
		free(out);
		return NULL;
	}
	for (;;) {
		size_t src = n - off, dst = cap - have;
		size_t r = LZ4F_decompress(d, out + have, &dst, in + off, &src, NULL);
		if (LZ4F_isError(r)) {
			free(out);
			out = NULL;
			break;
		}
		off += src;
		have += dst;
		if (r == 0)
			break;
		if (cap - have < 65536) {
			cap *= 2;
			out = realloc(out, cap);
		}
		if (src == 0 && dst == 0 && off >= n)
			break;
	}
	LZ4F_freeDecompressionContext(d);
	*out_n = have;
	return out;
}

static void run(struct bench_ctx *c, const struct task *t)
{
	unsigned n = sn_events[t->cfg];
	struct ttlog__snapres res;
	struct ttlog__snapinfo info;
	struct ttlog_ring *ring;
	char path[4096], cfg[160], tmp[4200], fin[4200];
	uint64_t t0, t1, t_collect, t_enc, t_comp, t_write, t_total;
	unsigned char *lz = NULL, *cbor = NULL, *out = NULL;
	size_t lz_n = 0, cbor_n = 0, out_n = 0;
	struct stat st;
	int fd, err;

	if (bench_ttlog_init(c, t->impl->name, n, TTLOG_POLICY_OVERWRITE) < 0)
		return;
	for (uint64_t i = 0; i < n; i++)
		BENCH_LOG_STANDARD(i);

	/* total: the public call */
	t0 = bench_now_ns();
	err = ttlog_snapshot("bench", path, sizeof path);
	t_total = bench_now_ns() - t0;
	if (err < 0 || stat(path, &st) < 0) {
		run_note("snapshot %s: ttlog_snapshot: %s", t->impl->name, ttlog_strerror(err));
		ttlog_shutdown();
		return;
	}
	unlink(path);

	/* the parts, with buffers of our own */
	if (ttlog__snapres_init(&res, ttlog__g.capacity) < 0) {
		run_note("snapshot: cannot reserve buffers for the split");
		ttlog_shutdown();
		return;
	}
	ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	t0 = bench_now_ns();
	info.n = t->impl->ring->snapshot(ring, res.records, res.records_cap, &info.cut);
	t_collect = bench_now_ns() - t0;
	info.reason = "bench";
	info.created_ns = ttlog__realtime_ns();

	fd = memfd_create("ttlog-bench-snap", MFD_CLOEXEC);
	t0 = bench_now_ns();
	err = fd < 0 ? -errno : ttlog__encode(&res, &info, fd);
	t1 = bench_now_ns();
	t_enc = t1 - t0;
	if (err == 0)
		lz = read_fd(fd, &lz_n);
	if (fd >= 0)
		close(fd);
	if (lz != NULL)
		cbor = decompress(lz, lz_n, &cbor_n);
	if (cbor != NULL && (out = malloc(LZ4F_compressFrameBound(cbor_n, NULL) + 65536)) != NULL)
		t_comp = compress_alone(cbor, cbor_n, out, LZ4F_compressFrameBound(cbor_n, NULL) + 65536,
					&out_n);
	else
		t_comp = 0;

	/* write: the same bytes, the same durability steps */
	snprintf(tmp, sizeof tmp, "%s/.bench-tmp-%d", c->snap_dir, (int)getpid());
	snprintf(fin, sizeof fin, "%s/bench-%d.bin", c->snap_dir, (int)getpid());
	t0 = bench_now_ns();
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0 && lz != NULL) {
		size_t off = 0;
		while (off < lz_n) {
			ssize_t w = write(fd, lz + off, lz_n - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
		fsync(fd);
		close(fd);
		rename(tmp, fin);
		int dfd = open(c->snap_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	t_write = bench_now_ns() - t0;
	unlink(fin);
	ttlog__snapres_fini(&res);
	ttlog_shutdown();

	snprintf(cfg, sizeof cfg, "events=%u;event=msg+u64+str+bool", n);
#define ADD(m, u, v) res_add("snapshot", t->impl->name, t->impl->kind, cfg, n, m, u, false, v)
	ADD("total_ns", "ns", (double)t_total);
	/* per event in the snapshot: a variant may keep fewer than it was given (spsc keeps
	 * capacity / parts per thread) */
	ADD("ns_per_event", "ns", (double)t_total / (double)(info.n ? info.n : n));
	ADD("collect_ns", "ns", (double)t_collect);
	if (lz != NULL && cbor != NULL && t_comp > 0) {
		ADD("encode_ns", "ns", t_enc > t_comp ? (double)(t_enc - t_comp) : 0);
		ADD("compress_ns", "ns", (double)t_comp);
		ADD("write_ns", "ns", (double)t_write);
		ADD("cbor_bytes", "bytes", (double)cbor_n);
		ADD("compression_ratio", "x", (double)cbor_n / (double)st.st_size);
	} else {
		run_note("snapshot %s: the encode/compress split failed (%s)", t->impl->name,
			 ttlog_strerror(err));
	}
	ADD("file_bytes", "bytes", (double)st.st_size);
	ADD("kept_events", "events", (double)info.n);
#undef ADD
	free(lz);
	free(cbor);
	free(out);
}

const struct experiment exp_snapshot = {
	"snapshot", "snapshot cost: collect/encode/compress/write, ns/event, size", plan, run};
