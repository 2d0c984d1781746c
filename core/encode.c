/*
 * encode.c - a snapshot as CBOR (libcbor's buffer encoders, which never allocate) in an
 * LZ4 frame (liblz4 with a context created and warmed at init), streamed to a file
 * descriptor through two fixed buffers. Allocation-free and async-signal-safe, so the
 * crash handler uses it as it is. Layout: docs/snapshot-format.md.
 */
#define LZ4F_STATIC_LINKING_ONLY /* LZ4F_createCompressionContext_advanced */
#include <cbor.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "utf8.h"

static const LZ4F_preferences_t lz4_prefs = {
	.frameInfo = {.blockSizeID = LZ4F_max64KB,
		      .blockMode = LZ4F_blockLinked,
		      .contentChecksumFlag = LZ4F_contentChecksumEnabled},
	.compressionLevel = 0,
	.autoFlush = 1,
};

struct enc {
	struct ttlog__snapres *s;
	size_t used;
	int fd;
	int err;
};

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void flush(struct enc *e)
{
	size_t n;

	if (e->err != 0 || e->used == 0)
		return;
	n = LZ4F_compressUpdate(e->s->cctx, e->s->out, e->s->out_cap, e->s->chunk, e->used,
				NULL);
	e->used = 0;
	if (LZ4F_isError(n)) {
		e->err = -EIO;
		return;
	}
	e->err = write_all(e->fd, e->s->out, n);
}

/* Room for one item head (at most 9 bytes) or a short value. */
static unsigned char *room(struct enc *e, size_t n)
{
	if (TTLOG_CHUNK_SIZE - e->used < n)
		flush(e);
	return e->s->chunk + e->used;
}

#define PUT(e, call_)                                                            \
	do {                                                                     \
		unsigned char *p_ = room(e, 16);                                 \
		size_t len_ = TTLOG_CHUNK_SIZE - (e)->used;                      \
		(void)p_;                                                        \
		(e)->used += call_;                                              \
	} while (0)

static void put_uint(struct enc *e, uint64_t v)
{
	PUT(e, cbor_encode_uint(v, p_, len_));
}
static void put_int(struct enc *e, int64_t v)
{
	if (v >= 0)
		PUT(e, cbor_encode_uint((uint64_t)v, p_, len_));
	else
		PUT(e, cbor_encode_negint((uint64_t)(-(v + 1)), p_, len_));
}
static void put_double(struct enc *e, double v)
{
	PUT(e, cbor_encode_double(v, p_, len_));
}
static void put_bool(struct enc *e, bool v)
{
	PUT(e, cbor_encode_bool(v, p_, len_));
}
static void put_array(struct enc *e, size_t n)
{
	PUT(e, cbor_encode_array_start(n, p_, len_));
}
static void put_map(struct enc *e, size_t n)
{
	PUT(e, cbor_encode_map_start(n, p_, len_));
}

/* A text string; bytes that are not UTF-8 (and NULs) become '?', so that any CBOR
 * decoder accepts the file and C readers can use the text as a string. */
static void put_text(struct enc *e, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	PUT(e, cbor_encode_string_start(n, p_, len_));
	while (i < n) {
		unsigned char *d = room(e, 8);
		size_t k = ttlog__utf8_seq(p + i, n - i);
		if (k == 0 || p[i] == 0) {
			*d = '?';
			k = 1;
		} else {
			memcpy(d, p + i, k);
		}
		e->used += k;
		i += k;
	}
}

static void put_cstr(struct enc *e, const char *s)
{
	put_text(e, s ? s : "", s ? strlen(s) : 0);
}

static const char *const type_names[] = {"?", "u64", "i64", "f64", "bool", "str"};

/* Walk a record's values: calls emit for each field; returns the field count decoded. */
struct field_val {
	int type;
	uint64_t num;
	const char *str;
	size_t len;
	bool truncated;
};

static size_t decode_fields(const struct ttlog_callsite *cs, const struct ttlog_record *r,
			    struct field_val *f)
{
	const unsigned char *p = r->data, *end = r->data + TTLOG_PAYLOAD_SIZE;
	size_t i;

	if (cs == NULL)
		return 0; /* cannot happen: an id is published after its table entry */
	for (i = 0; i < cs->nfields && i < TTLOG_MAX_FIELDS; i++) {
		f[i].type = cs->types[i];
		f[i].truncated = false;
		switch (cs->types[i]) {
		case TTLOG_TYPE_BOOL:
			f[i].num = p < end ? *p++ : 0;
			break;
		case TTLOG_TYPE_STR: {
			size_t n = p < end ? *p & 0x7f : 0;
			f[i].truncated = p < end && (*p & TTLOG_STR_TRUNCATED);
			if (p < end)
				p++;
			if (n > (size_t)(end - p))
				n = (size_t)(end - p);
			f[i].str = (const char *)p;
			f[i].len = n;
			p += n;
			break;
		}
		default:
			f[i].num = 0;
			if (end - p >= 8)
				memcpy(&f[i].num, p, 8);
			p += end - p >= 8 ? 8 : end - p;
			break;
		}
	}
	return i;
}

/* The callsite of an id: this process's table, or the recovered box's dictionary. */
static const struct ttlog_callsite *cs_get(const struct ttlog__snapinfo *info, uint32_t id)
{
	if (info->src == NULL)
		return ttlog__callsite(id);
	return id >= 1 && id <= info->src->ncs ? info->src->cs[id - 1] : NULL;
}

static void put_callsites(struct enc *e, const struct ttlog__snapinfo *info)
{
	uint32_t n = info->src ? info->src->ncs : ttlog__callsite_count(), count = 0, id, i;

	for (id = 1; id <= n; id++)
		count += cs_get(info, id) != NULL;
	put_array(e, count);
	for (id = 1; id <= n && count > 0; id++) {
		const struct ttlog_callsite *cs = cs_get(info, id);
		if (cs == NULL)
			continue;
		count--;
		put_map(e, 8);
		put_cstr(e, "id");
		put_uint(e, id);
		put_cstr(e, "level");
		put_uint(e, cs->level);
		put_cstr(e, "target");
		put_cstr(e, cs->target);
		put_cstr(e, "message");
		put_cstr(e, cs->message);
		put_cstr(e, "file");
		put_cstr(e, cs->file);
		put_cstr(e, "line");
		put_uint(e, cs->line);
		put_cstr(e, "fields");
		put_array(e, cs->nfields);
		for (i = 0; i < cs->nfields; i++)
			put_cstr(e, cs->names[i]);
		put_cstr(e, "types");
		put_array(e, cs->nfields);
		for (i = 0; i < cs->nfields; i++)
			put_cstr(e, cs->types[i] <= TTLOG_TYPE_STR ? type_names[cs->types[i]] : "?");
	}
}

static void put_events(struct enc *e, const struct ttlog__snapinfo *info,
		       const struct ttlog__clock_map *map)
{
	const struct ttlog_record *recs = e->s->records;
	struct field_val f[TTLOG_MAX_FIELDS];
	size_t i, k, nf;

	put_array(e, info->n - info->first);
	for (i = info->first; i < info->n && e->err == 0; i++) {
		const struct ttlog_callsite *cs =
			cs_get(info, recs[i].callsite & TTLOG_REC_ID_MASK);
		nf = decode_fields(cs, &recs[i], f);
		put_array(e, 3 + nf);
		put_uint(e, ttlog__clock_to_ns(map, recs[i].ts));
		put_uint(e, recs[i].callsite & TTLOG_REC_ID_MASK);
		put_uint(e, recs[i].tid);
		for (k = 0; k < nf; k++) {
			switch (f[k].type) {
			case TTLOG_TYPE_U64: put_uint(e, f[k].num); break;
			case TTLOG_TYPE_I64: put_int(e, (int64_t)f[k].num); break;
			case TTLOG_TYPE_F64: {
				double d;
				memcpy(&d, &f[k].num, sizeof d);
				put_double(e, d);
				break;
			}
			case TTLOG_TYPE_BOOL: put_bool(e, f[k].num != 0); break;
			default: put_text(e, f[k].str, f[k].len); break;
			}
		}
	}
}

/* [event_index, field_index] of every truncated string (event_index counts the events
 * written, from records[info->first]); two passes (count, then write) because CBOR
 * arrays carry their length first. */
static void put_truncated(struct enc *e, const struct ttlog__snapinfo *info)
{
	const struct ttlog_record *recs = e->s->records;
	struct field_val f[TTLOG_MAX_FIELDS];
	size_t pass, i, k, nf, count = 0;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1)
			put_array(e, count);
		for (i = info->first; i < info->n; i++) {
			if (!(recs[i].callsite & TTLOG_REC_TRUNCATED))
				continue;
			nf = decode_fields(cs_get(info, recs[i].callsite & TTLOG_REC_ID_MASK),
					   &recs[i], f);
			for (k = 0; k < nf; k++) {
				if (!f[k].truncated)
					continue;
				if (pass == 0) {
					count++;
				} else {
					put_array(e, 2);
					put_uint(e, i - info->first);
					put_uint(e, k);
				}
			}
		}
	}
}

/* The shards the snapshot merged, with the time window each kept (sharded variants;
 * an empty array for mpmc). Read from the ring right after the snapshot it describes. */
static void put_shards(struct enc *e, const struct ttlog__clock_map *map, bool recovered)
{
	struct ttlog_ring *ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	struct ttlog__windows ws;
	const struct ttlog_shard_window *x;

	put_array(e, ttlog__windows_open(&ws, recovered ? NULL : ring));
	while ((x = ttlog__windows_next(&ws)) != NULL) {
		put_map(e, x->node >= 0 ? 7 : 6);
		put_cstr(e, "shard");
		put_uint(e, x->shard);
		put_cstr(e, "tid");
		put_uint(e, x->tid);
		put_cstr(e, "shared");
		put_bool(e, x->shared != 0);
		put_cstr(e, "first_ns");
		put_uint(e, x->kept ? ttlog__clock_to_ns(map, x->first_ts) : 0);
		put_cstr(e, "last_ns");
		put_uint(e, x->kept ? ttlog__clock_to_ns(map, x->last_ts) : 0);
		put_cstr(e, "kept");
		put_uint(e, x->kept);
		if (x->node >= 0) {
			put_cstr(e, "node");
			put_uint(e, (uint64_t)x->node);
		}
	}
}

/* Where the lost events were (gaps.c). */
static void put_gaps(struct enc *e, struct ttlog_ring *ring, const struct ttlog__snapinfo *info,
		     const struct ttlog__clock_map *map)
{
	struct ttlog__gap g[TTLOG_GAPS_MAX];
	size_t n = ttlog__gaps(ring, info, e->s->records, g, TTLOG_GAPS_MAX);

	put_array(e, n);
	for (size_t i = 0; i < n; i++) {
		put_map(e, 3 + (g[i].shard >= 0) + (g[i].tid != 0) + (g[i].before_ts != 0) +
				   (g[i].after_ts != 0));
		put_cstr(e, "kind");
		put_cstr(e, g[i].kind);
		put_cstr(e, "count");
		put_uint(e, g[i].count);
		put_cstr(e, "index");
		put_uint(e, g[i].index);
		if (g[i].shard >= 0) {
			put_cstr(e, "shard");
			put_uint(e, (uint64_t)g[i].shard);
		}
		if (g[i].tid != 0) {
			put_cstr(e, "tid");
			put_uint(e, g[i].tid);
		}
		if (g[i].before_ts != 0) {
			put_cstr(e, "before_ns");
			put_uint(e, ttlog__clock_to_ns(map, g[i].before_ts));
		}
		if (g[i].after_ts != 0) {
			put_cstr(e, "after_ns");
			put_uint(e, ttlog__clock_to_ns(map, g[i].after_ts));
		}
	}
}

int ttlog__encode(struct ttlog__snapres *s, const struct ttlog__snapinfo *info, int fd)
{
	struct enc e = {.s = s, .used = 0, .fd = fd, .err = 0};
	struct ttlog__clock_map map;
	const struct ttlog_ring_cut *c = &info->cut;
	const struct ttlog__snapsrc *src = info->src;
	/* acquire: pairs with the release in ttlog_init(); the ring is complete */
	struct ttlog_ring *ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	struct ttlog_ring_stats rs = {0}; /* push_path: which path the ring's pushes take */
	struct ttlog__trigger_info ti;
	int trig = src == NULL && ttlog__trigger_header(&ti);
	uint64_t parent = src ? src->parent_pid : (uint64_t)ttlog__g.parent_pid;
	int policy = src ? src->policy : ttlog__g.policy;
	size_t n;

	if (ring != NULL && src == NULL)
		ring_stats(ring, &rs);
	if (src != NULL) {
		map = src->map;
	} else {
		ttlog__clock_map_now(&ttlog__g.clock, &map);
		ttlog__box_anchor(&map); /* a recovery converts with the latest calibration */
	}
	n = LZ4F_compressBegin(s->cctx, s->out, s->out_cap, &lz4_prefs);
	if (LZ4F_isError(n))
		return -EIO;
	if ((e.err = write_all(fd, s->out, n)) < 0)
		return e.err;

	/* push_path: variants with two paths; parent_pid: a forked child's; trigger: a
	 * trigger's snapshot */
	put_map(&e, 19 + (rs.push_path != NULL) + (parent != 0) + trig);
	put_cstr(&e, "format");
	put_cstr(&e, "ttlog");
	put_cstr(&e, "version");
	put_uint(&e, 1);
	put_cstr(&e, "service");
	put_cstr(&e, src ? src->service : ttlog__g.service);
	put_cstr(&e, "hostname");
	put_cstr(&e, src ? src->hostname : ttlog__g.hostname);
	put_cstr(&e, "pid");
	put_uint(&e, src ? src->pid : (uint64_t)getpid());
	if (parent != 0) {
		put_cstr(&e, "parent_pid");
		put_uint(&e, parent);
	}
	put_cstr(&e, "reason");
	put_cstr(&e, info->reason);
	put_cstr(&e, "created_ns");
	put_uint(&e, info->created_ns);
	put_cstr(&e, "variant");
	put_cstr(&e, src ? src->variant : ring_name());
	put_cstr(&e, "capacity");
	put_uint(&e, src ? src->capacity : ttlog__g.capacity);
	if (rs.push_path != NULL) {
		put_cstr(&e, "push_path");
		put_cstr(&e, rs.push_path);
	}
	put_cstr(&e, "record_size");
	put_uint(&e, TTLOG_RECORD_SIZE);
	put_cstr(&e, "policy");
	put_cstr(&e, policy == TTLOG_POLICY_DROP ? "drop" : "overwrite");
	put_cstr(&e, "clock");
	put_map(&e, 3);
	put_cstr(&e, "source");
	put_cstr(&e, (src ? src->clock_tsc : ttlog__g.clock.tsc) ? "tsc" : "realtime");
	put_cstr(&e, "ticks_per_sec");
	put_double(&e, map.ticks_per_ns * 1e9);
	/* the (ticks, ns) pairs the events' times were interpolated between */
	put_cstr(&e, "anchors");
	put_array(&e, map.nanchors);
	for (uint32_t i = 0; i < map.nanchors; i++) {
		put_array(&e, 2);
		put_uint(&e, map.anchors[i].ticks);
		put_uint(&e, map.anchors[i].ns);
	}
	put_cstr(&e, "counters");
	put_map(&e, 10);
	put_cstr(&e, "logged");
	put_uint(&e, c->stored + c->dropped + (src ? src->torn : 0));
	put_cstr(&e, "kept");
	put_uint(&e, c->kept - info->first);
	put_cstr(&e, "overwritten");
	put_uint(&e, c->overwritten + c->popped);
	put_cstr(&e, "dropped");
	put_uint(&e, c->dropped);
	put_cstr(&e, "clipped");
	put_uint(&e, info->first);
	put_cstr(&e, "truncated");
	put_uint(&e, src ? src->truncated
			 : atomic_load_explicit(&ttlog__g.truncated, memory_order_relaxed));
	put_cstr(&e, "in_flight");
	put_uint(&e, c->in_flight);
	put_cstr(&e, "torn");
	put_uint(&e, src ? src->torn : 0);
	put_cstr(&e, "snapshots_written");
	put_uint(&e, src ? 0
			 : atomic_load_explicit(&ttlog__g.snapshots_written, memory_order_relaxed));
	put_cstr(&e, "snapshot_failures");
	put_uint(&e, src ? 0
			 : atomic_load_explicit(&ttlog__g.snapshot_failures, memory_order_relaxed));
	if (trig) {
		/* the event that fired it, by its index in events (absent: none) */
		size_t ev = info->n;
		for (size_t i = info->first; ti.ev_ts != 0 && i < info->n; i++)
			if (s->records[i].ts == ti.ev_ts && s->records[i].tid == ti.ev_tid) {
				ev = i;
				break;
			}
		put_cstr(&e, "trigger");
		put_map(&e, 5 + (ev < info->n));
		if (ev < info->n) {
			put_cstr(&e, "event_index");
			put_uint(&e, ev - info->first);
		}
		put_cstr(&e, "at_ns");
		put_uint(&e, ttlog__clock_to_ns(&map, ti.at_ts));
		put_cstr(&e, "window_start_ns");
		put_uint(&e, ttlog__clock_to_ns(&map, ti.first_ts));
		put_cstr(&e, "pre_events");
		put_uint(&e, ti.pre);
		put_cstr(&e, "post_events");
		put_uint(&e, ti.post);
		put_cstr(&e, "post_not_pinned");
		put_uint(&e, ti.post_missed);
	}
	put_cstr(&e, "shards");
	put_shards(&e, &map, src != NULL);
	put_cstr(&e, "clipped_before_ns");
	put_uint(&e, info->clip ? ttlog__clock_to_ns(&map, info->clip_ts) : 0);
	put_cstr(&e, "callsites");
	put_callsites(&e, info);
	put_cstr(&e, "events");
	put_events(&e, info, &map);
	put_cstr(&e, "truncated");
	put_truncated(&e, info);
	put_cstr(&e, "gaps");
	put_gaps(&e, src != NULL ? NULL : ring, info, &map);
	flush(&e);
	if (e.err < 0)
		return e.err;
	n = LZ4F_compressEnd(s->cctx, s->out, s->out_cap, NULL);
	if (LZ4F_isError(n))
		return -EIO;
	return write_all(fd, s->out, n);
}

/*
 * liblz4 1.9.4 allocates a buffer on every LZ4F_compressBegin(), even with a context
 * that already has one. The crash path must not call malloc, so the context gets its
 * memory from this pool, reserved at init: freed blocks are reused by size. Used under
 * the snapshot buffers' owner, one thread at a time.
 */
static void *pool_alloc(void *opaque, size_t n)
{
	struct ttlog__lz4pool *p = opaque;
	size_t i;

	n = (n + 63) & ~(size_t)63;
	for (i = 0; i < p->nblocks; i++) {
		if (!p->blocks[i].used && p->blocks[i].size >= n) {
			p->blocks[i].used = true;
			return p->blocks[i].ptr;
		}
	}
	if (p->nblocks == TTLOG_LZ4POOL_BLOCKS || TTLOG_LZ4POOL_BYTES - p->top < n)
		return NULL;
	p->blocks[p->nblocks] = (struct ttlog__lz4block){p->base + p->top, n, true};
	p->top += n;
	return p->blocks[p->nblocks++].ptr;
}

static void *pool_calloc(void *opaque, size_t n)
{
	void *m = pool_alloc(opaque, n);
	if (m != NULL)
		memset(m, 0, n);
	return m;
}

static void pool_free(void *opaque, void *m)
{
	struct ttlog__lz4pool *p = opaque;
	for (size_t i = 0; i < p->nblocks; i++)
		if (p->blocks[i].ptr == m)
			p->blocks[i].used = false;
}

size_t ttlog__snapres_bytes(size_t capacity)
{
	/* what ttlog__snapres_init() maps: the LZ4 pool (its context lives in it), the
	 * records, the CBOR chunk and the compressed staging */
	return TTLOG_LZ4POOL_BYTES + capacity * sizeof(struct ttlog_record) + TTLOG_CHUNK_SIZE +
	       LZ4F_compressBound(TTLOG_CHUNK_SIZE, &lz4_prefs) + LZ4F_HEADER_SIZE_MAX;
}

int ttlog__snapres_init(struct ttlog__snapres *s, size_t capacity)
{
	LZ4F_CustomMem cmem = {pool_alloc, pool_calloc, pool_free, &s->pool};
	size_t n;

	memset(s, 0, sizeof *s);
	s->pool.base = ttlog__anon_alloc(TTLOG_LZ4POOL_BYTES);
	if (s->pool.base == NULL)
		return -ENOMEM;
	s->records_cap = capacity;
	s->records = ttlog__anon_alloc(capacity * sizeof(struct ttlog_record));
	s->chunk = ttlog__anon_alloc(TTLOG_CHUNK_SIZE);
	s->out_cap = LZ4F_compressBound(TTLOG_CHUNK_SIZE, &lz4_prefs) + LZ4F_HEADER_SIZE_MAX;
	s->out = ttlog__anon_alloc(s->out_cap);
	if (s->records == NULL || s->chunk == NULL || s->out == NULL)
		goto fail;
	if ((s->cctx = LZ4F_createCompressionContext_advanced(cmem, LZ4F_VERSION)) == NULL)
		goto fail;
	/* Warm the context: its internal buffers are allocated by the first begin, so the
	 * crash path finds them ready. */
	n = LZ4F_compressBegin(s->cctx, s->out, s->out_cap, &lz4_prefs);
	if (LZ4F_isError(n))
		goto fail;
	n = LZ4F_compressUpdate(s->cctx, s->out, s->out_cap, s->chunk, 16, NULL);
	if (LZ4F_isError(n) || LZ4F_isError(LZ4F_compressEnd(s->cctx, s->out, s->out_cap, NULL)))
		goto fail;
	return 0;
fail:
	ttlog__snapres_fini(s);
	return -ENOMEM;
}

void ttlog__snapres_fini(struct ttlog__snapres *s)
{
	ttlog__ring_free(s->records, s->records_cap * sizeof(struct ttlog_record));
	ttlog__ring_free(s->chunk, TTLOG_CHUNK_SIZE);
	ttlog__ring_free(s->out, s->out_cap);
	if (s->cctx != NULL)
		LZ4F_freeCompressionContext(s->cctx);
	ttlog__ring_free(s->pool.base, TTLOG_LZ4POOL_BYTES);
	memset(s, 0, sizeof *s);
}
