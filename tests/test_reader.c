/*
 * test_reader.c - the snapshot reader (core/reader.c) against files built here, in
 * memory, with tests/cbor_fixture.h and LZ4F_compressFrame(): a valid file decodes to
 * exactly the values written, in every encoding a generic CBOR writer may choose, and
 * every malformed, truncated or hostile variant is refused with a negative errno and a
 * message (never a crash: run it under -fsanitize=address,undefined too).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <lz4frame.h>

#include <ttlog/reader.h>

#include "cbor_fixture.h"

/* ---- a CBOR writer over tests/cbor_fixture.h ------------------------------------- */

/*
 * Containers are built on a stack of buffers so that a definite-length head can carry the
 * count once the contents are known. indef: containers are written with indefinite
 * length and text strings in chunks, as a streaming writer would.
 */
#define ENC_DEPTH 16
struct enc {
	struct cbf level[ENC_DEPTH];
	size_t items[ENC_DEPTH]; /* items written at each level (a map counts keys and values) */
	bool is_map[ENC_DEPTH];
	int top;
	bool indef;
};

static void enc_init(struct enc *e, bool indef)
{
	memset(e, 0, sizeof *e);
	e->indef = indef;
}

/* The buffer of the current level, which the caller fills with `items` items. */
static struct cbf *e_out(struct enc *e, size_t items)
{
	e->items[e->top] += items;
	return &e->level[e->top];
}

static void e_raw(struct enc *e, const void *p, size_t n, size_t items)
{
	cbf_put(e_out(e, items), p, n);
}

static void e_u(struct enc *e, uint64_t v)
{
	cbf_u(e_out(e, 1), v);
}

static void e_i(struct enc *e, int64_t v)
{
	cbf_i64(e_out(e, 1), v);
}

static void e_negint_raw(struct enc *e, uint64_t n) /* the value -1 - n */
{
	cbf_neg(e_out(e, 1), n);
}

static void e_d(struct enc *e, double v)
{
	cbf_f64(e_out(e, 1), v);
}

static void e_half(struct enc *e, float v)
{
	assert_int_equal(cbf_f16(e_out(e, 1), v), 0);
}

static void e_single(struct enc *e, float v)
{
	cbf_f32(e_out(e, 1), v);
}

static void e_b(struct enc *e, bool v)
{
	cbf_bool(e_out(e, 1), v);
}

static void e_null(struct enc *e)
{
	cbf_null(e_out(e, 1));
}

static void e_tag(struct enc *e, uint64_t tag) /* the next item is its content */
{
	cbf_tag(e_out(e, 0), tag);
}

static void e_bytes(struct enc *e, const void *p, size_t len)
{
	cbf_bytes(e_out(e, 1), p, len);
}

static void e_sn(struct enc *e, const char *s, size_t len)
{
	struct cbf *o = e_out(e, 1);
	size_t half = len / 2;

	if (!e->indef) {
		cbf_textn(o, s, len);
		return;
	}
	/* two chunks (one when short, none when empty), then the break */
	cbf_indef(o, CBF_TEXT);
	if (half > 0)
		cbf_textn(o, s, half);
	if (len > half)
		cbf_textn(o, s + half, len - half);
	cbf_break(o);
}

static void e_s(struct enc *e, const char *s)
{
	e_sn(e, s, strlen(s));
}

static void e_begin(struct enc *e, bool map)
{
	assert_true(e->top + 1 < ENC_DEPTH);
	e->top++;
	e->level[e->top].len = 0;
	e->items[e->top] = 0;
	e->is_map[e->top] = map;
}

static void e_end(struct enc *e)
{
	struct cbf body = e->level[e->top];
	size_t items = e->items[e->top];
	bool map = e->is_map[e->top];
	struct cbf *o;

	e->level[e->top] = (struct cbf){0};
	e->top--;
	o = e_out(e, 1);
	if (e->indef)
		cbf_indef(o, map ? CBF_MAP : CBF_ARRAY);
	else if (map)
		cbf_map(o, items / 2);
	else
		cbf_arr(o, items);
	cbf_put(o, body.p, body.len);
	if (e->indef)
		cbf_break(o);
	cbf_free(&body);
}

/* The finished item; the writer is left empty. */
static struct cbf enc_take(struct enc *e)
{
	struct cbf b = e->level[0];

	assert_int_equal(e->top, 0);
	e->level[0] = (struct cbf){0};
	return b;
}

/* ---- the snapshots ---------------------------------------------------------------- */

#define TS0 1764153900000001000ull

/* One defect each; the valid file is BAD_NONE. */
enum bad {
	BAD_NONE,
	/* events */
	BAD_UNKNOWN_ID, BAD_FEW_VALUES, BAD_MANY_VALUES, BAD_U64_NEG, BAD_I64_FLOAT,
	BAD_I64_RANGE, BAD_I64_NEG_RANGE, BAD_STR_BYTES, BAD_BOOL_UINT, BAD_F64_UINT,
	BAD_STR_NULL, BAD_TID, BAD_TS_NEG, BAD_EVENT_MAP, BAD_EVENT_SHORT, BAD_EVENT_EMPTY,
	/* truncated */
	BAD_TRUNC_EVENT, BAD_TRUNC_FIELD, BAD_TRUNC_TYPE, BAD_TRUNC_SHAPE, BAD_TRUNC_LONG,
	/* callsites */
	BAD_LEVEL, BAD_TYPE_NAME, BAD_NTYPES, BAD_NUL_TARGET, BAD_NUL_FIELD, BAD_NUL_MESSAGE,
	BAD_CS_NO_ID, BAD_CS_DUP_KEY, BAD_TOO_MANY_FIELDS, BAD_CS_ID_BIG, BAD_DUP_ID,
	BAD_CS_NOT_MAP, BAD_FIELDS_NOT_TEXT,
	/* top level */
	BAD_DUP_TOP_KEY, BAD_COUNTER_TYPE, BAD_SERVICE_TYPE, BAD_CALLSITES_MAP, BAD_EVENTS_MAP,
	BAD_FORMAT_WRONG, BAD_FORMAT_TYPE, BAD_FORMAT_NUL, BAD_VERSION_2, BAD_VERSION_TEXT,
	BAD_NO_FORMAT, BAD_NO_VERSION, BAD_NO_EVENTS, BAD_NO_CALLSITES, BAD_NO_COUNTERS,
	BAD_NO_LOGGED, BAD_NO_OVERWRITTEN, BAD_NO_DROPPED, BAD_NUL_SERVICE, BAD_NUL_HOSTNAME,
	BAD_CLOCK_TYPE, BAD_TOP_ARRAY, BAD_TRAILING,
	/* hostile CBOR */
	BAD_HUGE_EVENTS, BAD_HUGE_STRING, BAD_HUGE_MAP, BAD_HUGE_FIELDS, BAD_HUGE_BYTES,
	BAD_DEEP_ARRAYS, BAD_DEEP_MAPS, BAD_DEEP_TAGS, BAD_DEEP_INDEF, BAD_STRAY_BREAK,
	BAD_RESERVED_AI, BAD_STR_CHUNK, BAD_INDEF_UINT, BAD_SIMPLE_LOW,
	BAD_N
};

struct spec {
	bool indef;          /* indefinite-length containers, chunked text */
	bool unknown;        /* unknown keys everywhere, with nested maps, arrays and tags */
	bool self_describe;  /* tag 55799 in front of the item and of some values */
	bool small_floats;   /* f64 values as half and single floats */
	bool reorder;        /* events and truncated before callsites, counters last */
	bool nul_in_value;   /* a str value with a NUL byte (allowed: it has a length) */
	size_t pad;          /* an unknown key holding a text of this many bytes */
	enum bad bad;
};

static void e_deep(struct enc *e, enum bad bad)
{
	enum { DEEP = 100000 };
	struct cbf b = {0};
	size_t i;

	for (i = 0; i < DEEP; i++) {
		switch (bad) {
		case BAD_DEEP_ARRAYS: cbf_put(&b, "\x81", 1); break;
		case BAD_DEEP_MAPS: cbf_put(&b, "\xa1\x61k", 3); break;
		case BAD_DEEP_TAGS: cbf_put(&b, "\xc1", 1); break;
		default: cbf_put(&b, "\x9f", 1); break;
		}
	}
	cbf_put(&b, "\x00", 1);
	if (bad == BAD_DEEP_INDEF)
		for (i = 0; i < DEEP; i++)
			cbf_put(&b, "\xff", 1);
	e_raw(e, b.p, b.len, 1);
	cbf_free(&b);
}

/* The value of an unknown key: a bit of everything a later version might add. */
static void e_future(struct enc *e, int depth)
{
	static const unsigned char blob[] = {1, 2, 0xff, 0};
	int i;

	e_begin(e, true);
	e_s(e, "nested");
	e_begin(e, false);
	e_u(e, 1);
	e_d(e, 2.5);
	e_null(e);
	e_bytes(e, blob, sizeof blob);
	e_begin(e, true);
	e_s(e, "when");
	e_tag(e, 1); /* epoch time */
	e_u(e, 1700000000);
	e_end(e);
	e_raw(e, "\xf7", 1, 1);     /* undefined */
	e_raw(e, "\xf8\x63", 2, 1); /* simple value 99 */
	e_half(e, 0.5f);
	e_i(e, -7);
	e_end(e);
	e_u(e, 42); /* a key that is not text */
	e_s(e, "not text");
	e_s(e, "bignum");
	e_tag(e, 2);
	e_bytes(e, blob, 2);
	e_s(e, "deep");
	for (i = 0; i < depth; i++) /* nested deep enough to matter, within the limit */
		e_raw(e, "\x81", 1, 0);
	e_raw(e, "\x9f\x80\xff", 3, 1); /* [_ []] */
	e_end(e);
}

static void put_callsite_common(struct enc *e, const struct spec *sp, int which)
{
	static const char *const fields_a[] = {"fd", "peer", "ok", "latency"};
	static const char *const types_a[] = {"u64", "str", "bool", "f64"};
	static const char *const fields_b[] = {"neg", "pos", "big"};
	static const char *const types_b[] = {"i64", "i64", "u64"};
	const char *const *fields = which == 0 ? fields_a : fields_b;
	const char *const *types = which == 0 ? types_a : types_b;
	size_t i, n = which == 0 ? 4 : which == 1 ? 3 : 0;

	if (which == 2 && sp->bad == BAD_CS_NOT_MAP) {
		e_begin(e, false);
		e_u(e, 3);
		e_end(e);
		return;
	}
	e_begin(e, true);
	if (which == 2 && sp->unknown) {
		e_s(e, "color");
		e_future(e, 3);
	}
	if (!(which == 2 && sp->bad == BAD_CS_NO_ID)) {
		e_s(e, "id");
		if (which == 2 && sp->bad == BAD_CS_ID_BIG)
			e_u(e, 1ull << 32);
		else
			e_u(e, which == 0 ? 1 : which == 1 ? 7 : (sp->bad == BAD_DUP_ID ? 7 : 3));
	}
	e_s(e, "level");
	e_u(e, which == 0 ? (sp->bad == BAD_LEVEL ? 256 : 2) : which == 1 ? 4 : 0);
	e_s(e, "target");
	if (which == 0 && sp->bad == BAD_NUL_TARGET)
		e_sn(e, "n\0et", 4);
	else
		e_s(e, which == 0 ? "net" : which == 1 ? "db" : "");
	e_s(e, "message");
	if (which == 1 && sp->bad == BAD_NUL_MESSAGE)
		e_sn(e, "delta\0", 6);
	else
		e_s(e, which == 0 ? "conn {} from {} ok={}" : which == 1 ? "delta {} {}"
									   : "no fields");
	e_s(e, "file");
	e_s(e, which == 0 ? "net.c" : which == 1 ? "db.c" : "");
	e_s(e, "line");
	e_u(e, which == 0 ? 42 : which == 1 ? 7 : 0);
	if (which == 1 && sp->bad == BAD_CS_DUP_KEY) {
		e_s(e, "line");
		e_u(e, 8);
	}
	e_s(e, "fields");
	if (which == 0 && sp->bad == BAD_HUGE_FIELDS) {
		e_raw(e, "\x9b\x10\0\0\0\0\0\0\0", 9, 1); /* 2^60 items */
	} else {
		e_begin(e, false);
		for (i = 0; i < n; i++) {
			if (which == 0 && i == 0 && sp->bad == BAD_NUL_FIELD)
				e_sn(e, "f\0d", 3);
			else if (which == 0 && i == 1 && sp->bad == BAD_FIELDS_NOT_TEXT)
				e_u(e, 1);
			else
				e_s(e, fields[i]);
		}
		if (which == 2 && sp->bad == BAD_TOO_MANY_FIELDS)
			for (i = 0; i < 9; i++)
				e_s(e, "f");
		e_end(e);
	}
	e_s(e, "types");
	e_begin(e, false);
	for (i = 0; i < n; i++) {
		if (which == 0 && i == 3 && sp->bad == BAD_NTYPES)
			continue;
		e_s(e, which == 0 && i == 0 && sp->bad == BAD_TYPE_NAME ? "u32" : types[i]);
	}
	if (which == 2 && sp->bad == BAD_TOO_MANY_FIELDS)
		for (i = 0; i < 9; i++)
			e_s(e, "u64");
	e_end(e);
	e_end(e);
}

static void put_callsites(struct enc *e, const struct spec *sp)
{
	int i;

	if (sp->bad == BAD_CALLSITES_MAP) {
		e_begin(e, true);
		e_end(e);
		return;
	}
	e_begin(e, false);
	for (i = 0; i < 3; i++)
		put_callsite_common(e, sp, i);
	e_end(e);
}

static void put_events(struct enc *e, const struct spec *sp)
{
	if (sp->bad == BAD_EVENTS_MAP) {
		e_begin(e, true);
		e_end(e);
		return;
	}
	if (sp->bad == BAD_HUGE_EVENTS) {
		e_raw(e, "\x9b\x10\0\0\0\0\0\0\0", 9, 1); /* 2^60 events, none there */
		return;
	}
	e_begin(e, false);

	/* 0: [ts, 1, 11, fd, peer, ok, latency] */
	if (sp->bad == BAD_EVENT_MAP) {
		e_begin(e, true);
		e_end(e);
	} else {
		e_begin(e, false);
		if (sp->bad == BAD_TS_NEG)
			e_i(e, -1000);
		else
			e_u(e, TS0);
		e_u(e, 1);
		e_u(e, sp->bad == BAD_TID ? 1ull << 32 : 11);
		if (sp->self_describe)
			e_tag(e, 55799);
		e_u(e, 5);
		if (sp->bad == BAD_STR_BYTES)
			e_bytes(e, "10.0.0.1", 8);
		else if (sp->bad == BAD_STR_NULL)
			e_null(e);
		else if (sp->nul_in_value)
			e_sn(e, "10.0\0.1", 7);
		else
			e_s(e, "10.0.0.1");
		if (sp->bad == BAD_BOOL_UINT)
			e_u(e, 1);
		else
			e_b(e, true);
		if (sp->bad == BAD_F64_UINT)
			e_u(e, 2);
		else if (sp->small_floats)
			e_half(e, 1.5f);
		else
			e_d(e, 1.5);
		e_end(e);
	}

	/* 1: [ts, 7, 12, neg, pos, big] */
	e_begin(e, false);
	e_u(e, TS0 + 1000);
	e_u(e, sp->bad == BAD_UNKNOWN_ID ? 99 : 7);
	e_u(e, 12);
	if (sp->bad == BAD_I64_FLOAT)
		e_d(e, -42.0);
	else if (sp->bad == BAD_I64_NEG_RANGE)
		e_negint_raw(e, 1ull << 63);
	else
		e_i(e, -42);
	if (sp->bad == BAD_I64_RANGE)
		e_u(e, 1ull << 63);
	else
		e_i(e, 17);
	if (sp->bad != BAD_FEW_VALUES) {
		if (sp->bad == BAD_U64_NEG)
			e_i(e, -1);
		else
			e_u(e, UINT64_MAX);
	}
	if (sp->bad == BAD_MANY_VALUES)
		e_u(e, 5);
	e_end(e);

	/* 2: [ts, 3, 11] */
	e_begin(e, false);
	if (sp->bad != BAD_EVENT_EMPTY) {
		e_u(e, TS0 + 2000);
		e_u(e, 3);
		if (sp->bad != BAD_EVENT_SHORT)
			e_u(e, 11);
	}
	e_end(e);

	/* 3: [ts, 7, UINT32_MAX, INT64_MIN, INT64_MAX, 0] */
	e_begin(e, false);
	e_u(e, TS0 + 3000);
	e_u(e, 7);
	e_u(e, UINT32_MAX);
	e_i(e, INT64_MIN);
	e_i(e, INT64_MAX);
	e_u(e, 0);
	e_end(e);

	/* 4: [ts, 1, 11, 0, "", false, -0.25] */
	e_begin(e, false);
	e_u(e, TS0 + 4000);
	e_u(e, 1);
	e_u(e, 11);
	e_u(e, 0);
	e_s(e, "");
	e_b(e, false);
	if (sp->small_floats)
		e_single(e, -0.25f);
	else
		e_d(e, -0.25);
	e_end(e);

	e_end(e);
}

static void put_truncated(struct enc *e, const struct spec *sp)
{
	e_begin(e, false);
	e_begin(e, false);
	switch (sp->bad) {
	case BAD_TRUNC_EVENT: e_u(e, 5); e_u(e, 1); break;
	case BAD_TRUNC_FIELD: e_u(e, 0); e_u(e, 4); break;
	case BAD_TRUNC_TYPE: e_u(e, 0); e_u(e, 0); break;
	case BAD_TRUNC_SHAPE: e_u(e, 0); break;
	case BAD_TRUNC_LONG: e_u(e, 0); e_u(e, 1); e_u(e, 2); break;
	default: e_u(e, 0); e_u(e, 1); break;
	}
	e_end(e);
	e_end(e);
}

static void put_counters(struct enc *e, const struct spec *sp)
{
	e_begin(e, true);
	if (sp->unknown) {
		e_s(e, "future_counter");
		e_u(e, 9);
	}
	if (sp->bad != BAD_NO_LOGGED) {
		e_s(e, "logged");
		e_u(e, 12);
	}
	e_s(e, "kept");
	e_u(e, 5);
	if (sp->bad != BAD_NO_OVERWRITTEN) {
		e_s(e, "overwritten");
		e_u(e, 6);
	}
	if (sp->bad != BAD_NO_DROPPED) {
		e_s(e, "dropped");
		if (sp->bad == BAD_COUNTER_TYPE)
			e_i(e, -1);
		else
			e_u(e, 1);
	}
	e_s(e, "truncated");
	e_u(e, 1);
	e_s(e, "in_flight");
	e_u(e, 2);
	e_s(e, "snapshots_written");
	e_u(e, 3);
	e_s(e, "snapshot_failures");
	e_u(e, 0);
	e_end(e);
}

/* The CBOR of a snapshot (uncompressed). */
static struct cbf make_cbor(const struct spec *sp)
{
	struct enc e;

	enc_init(&e, sp->indef);
	if (sp->self_describe)
		e_tag(&e, 55799);
	if (sp->bad == BAD_TOP_ARRAY) {
		e_begin(&e, false);
		e_s(&e, "format");
		e_end(&e);
		return enc_take(&e);
	}
	e_begin(&e, true);
	if (sp->bad != BAD_NO_FORMAT) {
		e_s(&e, "format");
		if (sp->bad == BAD_FORMAT_WRONG)
			e_s(&e, "ttlogx");
		else if (sp->bad == BAD_FORMAT_TYPE)
			e_u(&e, 1);
		else if (sp->bad == BAD_FORMAT_NUL)
			e_sn(&e, "ttlog\0", 6);
		else
			e_s(&e, "ttlog");
	}
	if (sp->bad != BAD_NO_VERSION) {
		e_s(&e, "version");
		if (sp->bad == BAD_VERSION_TEXT)
			e_s(&e, "1");
		else
			e_u(&e, sp->bad == BAD_VERSION_2 ? 2 : 1);
	}
	if (sp->unknown) {
		e_s(&e, "zz_future");
		e_future(&e, 20);
		e_s(&e, "a key longer than thirty-two bytes, unknown");
		e_u(&e, 1);
		e_s(&e, "tagged");
		e_tag(&e, 32);
		e_s(&e, "http://example.org/");
	}
	if (sp->pad > 0) {
		char *z = calloc(1, sp->pad);
		assert_non_null(z);
		e_s(&e, "padding");
		e_sn(&e, z, sp->pad);
		free(z);
	}
	switch (sp->bad) {
	case BAD_HUGE_STRING:
		e_s(&e, "hostname");
		e_raw(&e, "\x7b\x10\0\0\0\0\0\0\0", 9, 1);
		break;
	case BAD_HUGE_MAP:
		e_s(&e, "future");
		e_raw(&e, "\xbb\x10\0\0\0\0\0\0\0", 9, 1);
		break;
	case BAD_HUGE_BYTES:
		e_s(&e, "future");
		e_raw(&e, "\x5b\xff\xff\xff\xff\xff\xff\xff\xff", 9, 1);
		break;
	case BAD_DEEP_ARRAYS:
	case BAD_DEEP_MAPS:
	case BAD_DEEP_TAGS:
	case BAD_DEEP_INDEF:
		e_s(&e, "future");
		e_deep(&e, sp->bad);
		break;
	case BAD_STRAY_BREAK:
		e_s(&e, "future");
		e_raw(&e, "\xff", 1, 1);
		break;
	case BAD_RESERVED_AI:
		e_s(&e, "future");
		e_raw(&e, "\x1c", 1, 1);
		break;
	case BAD_STR_CHUNK: /* an indefinite text with a byte-string chunk */
		e_s(&e, "future");
		e_raw(&e, "\x7f\x61x\x41y\xff", 6, 1);
		break;
	case BAD_INDEF_UINT:
		e_s(&e, "future");
		e_raw(&e, "\x1f", 1, 1);
		break;
	case BAD_SIMPLE_LOW: /* simple value 5 in two bytes: not well formed */
		e_s(&e, "future");
		e_raw(&e, "\xf8\x05", 2, 1);
		break;
	default:
		break;
	}
	if (sp->reorder) {
		if (sp->bad != BAD_NO_EVENTS) {
			e_s(&e, "events");
			put_events(&e, sp);
		}
		e_s(&e, "truncated");
		put_truncated(&e, sp);
	}
	e_s(&e, "service");
	if (sp->bad == BAD_SERVICE_TYPE)
		e_u(&e, 7);
	else if (sp->bad == BAD_NUL_SERVICE)
		e_sn(&e, "s\0vc", 4);
	else
		e_s(&e, "svc");
	if (sp->bad == BAD_DUP_TOP_KEY) {
		e_s(&e, "service");
		e_s(&e, "svc2");
	}
	e_s(&e, "hostname");
	if (sp->bad == BAD_NUL_HOSTNAME)
		e_sn(&e, "host\0", 5);
	else
		e_s(&e, "host-1");
	e_s(&e, "pid");
	if (sp->self_describe)
		e_tag(&e, 55799);
	e_u(&e, 4321);
	e_s(&e, "reason");
	e_s(&e, "checkpoint");
	e_s(&e, "created_ns");
	e_u(&e, TS0 + 9999);
	e_s(&e, "variant");
	e_s(&e, "mpmc");
	e_s(&e, "capacity");
	e_u(&e, 1024);
	e_s(&e, "record_size");
	e_u(&e, 64);
	e_s(&e, "policy");
	e_s(&e, "overwrite");
	e_s(&e, "clock");
	e_begin(&e, true);
	e_s(&e, "source");
	e_s(&e, "tsc");
	e_s(&e, "ticks_per_sec");
	if (sp->bad == BAD_CLOCK_TYPE)
		e_s(&e, "fast");
	else
		e_d(&e, 2.5e9);
	if (sp->unknown) {
		e_s(&e, "drift");
		e_future(&e, 2);
	}
	e_end(&e);
	if (!sp->reorder && sp->bad != BAD_NO_COUNTERS) {
		e_s(&e, "counters");
		put_counters(&e, sp);
	}
	if (sp->bad != BAD_NO_CALLSITES) {
		e_s(&e, "callsites");
		put_callsites(&e, sp);
	}
	if (!sp->reorder) {
		if (sp->bad != BAD_NO_EVENTS) {
			e_s(&e, "events");
			put_events(&e, sp);
		}
		e_s(&e, "truncated");
		put_truncated(&e, sp);
	} else if (sp->bad != BAD_NO_COUNTERS) {
		e_s(&e, "counters");
		put_counters(&e, sp);
	}
	e_end(&e);
	if (sp->bad == BAD_TRAILING)
		e_raw(&e, "\x00", 1, 0);
	return enc_take(&e);
}

/* An LZ4 frame around data; prefs NULL: liblz4's defaults. */
static struct cbf lz4_with(const void *data, size_t len, const LZ4F_preferences_t *prefs)
{
	struct cbf b;

	assert_int_equal(cbf_lz4(data, len, prefs, &b), 0);
	return b;
}

static struct cbf lz4(const void *data, size_t len)
{
	return lz4_with(data, len, NULL);
}

/* The prefs of the library's writer (core/encode.c): linked 64 KiB blocks, checksum. */
static const LZ4F_preferences_t writer_prefs = {
	.frameInfo = {.blockSizeID = LZ4F_max64KB,
		      .blockMode = LZ4F_blockLinked,
		      .contentChecksumFlag = LZ4F_contentChecksumEnabled},
	.autoFlush = 1,
};

static struct cbf make_file(const struct spec *sp)
{
	struct cbf c = make_cbor(sp), f = lz4_with(c.p, c.len, &writer_prefs);

	cbf_free(&c);
	return f;
}

/* ---- checks ----------------------------------------------------------------------- */

/* bit for bit: -0.0 is not 0.0 */
#define assert_f64_equal(a, b)                                                       \
	do {                                                                         \
		double a_ = (a), b_ = (b);                                           \
		if (memcmp(&a_, &b_, sizeof a_) != 0)                                \
			fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);          \
	} while (0)

static void assert_field(const ttlog_field *f, const char *name, int type)
{
	assert_string_equal(f->name, name);
	assert_int_equal(f->type, type);
}

static void assert_str_field(const ttlog_field *f, const char *name, const char *s, size_t n,
			     bool truncated)
{
	assert_field(f, name, TTLOG_TYPE_STR);
	assert_int_equal(f->v.str.len, n);
	if (n > 0)
		assert_memory_equal(f->v.str.ptr, s, n);
	assert_int_equal(f->truncated, truncated);
}

/* Everything the valid snapshot holds, value by value. */
static void check_valid(ttlog_snapshot_file *s, const struct spec *sp)
{
	ttlog_snapshot_counters c;
	ttlog_event ev;
	int pass;

	assert_string_equal(ttlog_snapshot_service(s), "svc");
	assert_string_equal(ttlog_snapshot_hostname(s), "host-1");
	assert_string_equal(ttlog_snapshot_reason(s), "checkpoint");
	assert_string_equal(ttlog_snapshot_variant(s), "mpmc");
	assert_int_equal(ttlog_snapshot_pid(s), 4321);
	assert_int_equal(ttlog_snapshot_created_ns(s), TS0 + 9999);
	assert_int_equal(ttlog_snapshot_capacity(s), 1024);
	ttlog_snapshot_get_counters(s, &c);
	assert_int_equal(c.logged, 12);
	assert_int_equal(c.kept, 5);
	assert_int_equal(c.overwritten, 6);
	assert_int_equal(c.dropped, 1);
	assert_int_equal(c.truncated, 1);
	assert_int_equal(c.in_flight, 2);
	assert_int_equal(ttlog_snapshot_event_count(s), 5);

	for (pass = 0; pass < 2; pass++) { /* the second time after a rewind */
		assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
		assert_int_equal(ev.timestamp_ns, TS0);
		assert_int_equal(ev.callsite_id, 1);
		assert_int_equal(ev.thread_id, 11);
		assert_int_equal(ev.level, TTLOG_LEVEL_INFO);
		assert_string_equal(ev.target, "net");
		assert_string_equal(ev.message, "conn {} from {} ok={}");
		assert_string_equal(ev.file, "net.c");
		assert_int_equal(ev.line, 42);
		assert_int_equal(ev.nfields, 4);
		assert_field(&ev.fields[0], "fd", TTLOG_TYPE_U64);
		assert_int_equal(ev.fields[0].v.u64, 5);
		assert_false(ev.fields[0].truncated);
		if (sp->nul_in_value)
			assert_str_field(&ev.fields[1], "peer", "10.0\0.1", 7, true);
		else
			assert_str_field(&ev.fields[1], "peer", "10.0.0.1", 8, true);
		assert_field(&ev.fields[2], "ok", TTLOG_TYPE_BOOL);
		assert_true(ev.fields[2].v.b);
		assert_field(&ev.fields[3], "latency", TTLOG_TYPE_F64);
		assert_f64_equal(ev.fields[3].v.f64, 1.5);

		assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
		assert_int_equal(ev.timestamp_ns, TS0 + 1000);
		assert_int_equal(ev.callsite_id, 7);
		assert_int_equal(ev.thread_id, 12);
		assert_int_equal(ev.level, TTLOG_LEVEL_ERROR);
		assert_string_equal(ev.target, "db");
		assert_string_equal(ev.message, "delta {} {}");
		assert_string_equal(ev.file, "db.c");
		assert_int_equal(ev.line, 7);
		assert_int_equal(ev.nfields, 3);
		assert_field(&ev.fields[0], "neg", TTLOG_TYPE_I64);
		assert_int_equal(ev.fields[0].v.i64, -42);
		assert_true(ev.fields[0].v.i64 == -42);
		assert_field(&ev.fields[1], "pos", TTLOG_TYPE_I64);
		assert_true(ev.fields[1].v.i64 == 17);
		assert_field(&ev.fields[2], "big", TTLOG_TYPE_U64);
		assert_true(ev.fields[2].v.u64 == UINT64_MAX);

		assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
		assert_int_equal(ev.timestamp_ns, TS0 + 2000);
		assert_int_equal(ev.callsite_id, 3);
		assert_int_equal(ev.thread_id, 11);
		assert_int_equal(ev.level, TTLOG_LEVEL_TRACE);
		assert_string_equal(ev.target, "");
		assert_string_equal(ev.message, "no fields");
		assert_string_equal(ev.file, "");
		assert_int_equal(ev.line, 0);
		assert_int_equal(ev.nfields, 0);

		assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
		assert_int_equal(ev.timestamp_ns, TS0 + 3000);
		assert_int_equal(ev.callsite_id, 7);
		assert_true(ev.thread_id == UINT32_MAX);
		assert_int_equal(ev.nfields, 3);
		assert_true(ev.fields[0].v.i64 == INT64_MIN);
		assert_true(ev.fields[1].v.i64 == INT64_MAX);
		assert_true(ev.fields[2].v.u64 == 0);
		assert_false(ev.fields[0].truncated);

		assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
		assert_int_equal(ev.timestamp_ns, TS0 + 4000);
		assert_int_equal(ev.callsite_id, 1);
		assert_int_equal(ev.nfields, 4);
		assert_int_equal(ev.fields[0].v.u64, 0);
		assert_str_field(&ev.fields[1], "peer", "", 0, false);
		assert_false(ev.fields[2].v.b);
		assert_f64_equal(ev.fields[3].v.f64, -0.25);

		assert_int_equal(ttlog_snapshot_next(s, &ev), 0);
		assert_int_equal(ttlog_snapshot_next(s, &ev), 0);
		ttlog_snapshot_rewind(s);
	}
}

static void open_and_check(const struct spec *sp)
{
	struct cbf f = make_file(sp);
	ttlog_snapshot_file *s = NULL;
	int err;

	err = ttlog_snapshot_open_mem(f.p, f.len, &s);
	if (err != 0)
		fail_msg("open: %d (%s)", err, ttlog_reader_errmsg());
	assert_non_null(s);
	assert_string_equal(ttlog_reader_errmsg(), "");
	check_valid(s, sp);
	ttlog_snapshot_close(s);
	cbf_free(&f);
}

/* Refused with code and a message (containing want, when not NULL). */
static void expect_reject(const void *data, size_t len, int code, const char *want)
{
	ttlog_snapshot_file *s = (ttlog_snapshot_file *)&s; /* must come back NULL */
	int err = ttlog_snapshot_open_mem(data, len, &s);
	const char *msg = ttlog_reader_errmsg();

	if (err != code)
		fail_msg("open returned %d, expected %d (message \"%s\")", err, code, msg);
	assert_null(s);
	if (msg[0] == '\0')
		fail_msg("no message for error %d", err);
	if (want != NULL && strstr(msg, want) == NULL)
		fail_msg("message \"%s\" does not contain \"%s\"", msg, want);
}

/* ---- the tests -------------------------------------------------------------------- */

static void test_valid(void **state)
{
	(void)state;
	open_and_check(&(struct spec){0});
}

static void test_liblz4_default_frame(void **state)
{
	struct cbf c = make_cbor(&(struct spec){0}), f = lz4(c.p, c.len);
	ttlog_snapshot_file *s = NULL;

	(void)state;
	assert_int_equal(ttlog_snapshot_open_mem(f.p, f.len, &s), 0);
	check_valid(s, &(struct spec){0});
	ttlog_snapshot_close(s);
	cbf_free(&c);
	cbf_free(&f);
}

static void test_indefinite_lengths(void **state)
{
	(void)state;
	open_and_check(&(struct spec){.indef = true});
}

static void test_generic_writer(void **state)
{
	(void)state;
	/* what another CBOR library may produce: self-describe tags, small floats, keys in
	 * another order (events before the callsites they use), chunked strings */
	open_and_check(&(struct spec){.self_describe = true, .small_floats = true,
				      .reorder = true});
	open_and_check(&(struct spec){.indef = true, .self_describe = true, .small_floats = true,
				      .reorder = true});
}

static void test_unknown_keys_ignored(void **state)
{
	(void)state;
	open_and_check(&(struct spec){.unknown = true});
	open_and_check(&(struct spec){.unknown = true, .indef = true});
}

static void test_nul_in_str_value(void **state)
{
	(void)state;
	/* a str value has a length: a NUL in it is data, not an error */
	open_and_check(&(struct spec){.nul_in_value = true});
	open_and_check(&(struct spec){.nul_in_value = true, .indef = true});
}

static ttlog_event render_event(void)
{
	ttlog_event ev;

	memset(&ev, 0, sizeof ev);
	ev.message = "a={} b={} c={} d={} e={} f={} g={}";
	ev.nfields = 5;
	ev.fields[0] = (ttlog_field){.name = "a", .type = TTLOG_TYPE_U64, .v.u64 = UINT64_MAX};
	ev.fields[1] = (ttlog_field){.name = "b", .type = TTLOG_TYPE_I64, .v.i64 = -5};
	ev.fields[2] = (ttlog_field){.name = "c", .type = TTLOG_TYPE_F64, .v.f64 = 0.125};
	ev.fields[3] = (ttlog_field){.name = "d", .type = TTLOG_TYPE_BOOL, .v.b = false};
	ev.fields[4] = (ttlog_field){.name = "e", .type = TTLOG_TYPE_STR,
				     .v.str = {.ptr = "xyz!", .len = 3}};
	return ev;
}

static void test_render(void **state)
{
	static const char full[] = "a=18446744073709551615 b=-5 c=0.125 d=false e=xyz f={} g={}";
	ttlog_event ev = render_event();
	char buf[128];
	size_t i;

	(void)state;
	assert_int_equal(ttlog_event_render(&ev, buf, sizeof buf), strlen(full));
	assert_string_equal(buf, full);
	/* every short buffer: the prefix that fits, NUL-terminated, and the full length */
	for (i = 1; i <= sizeof full; i++) {
		memset(buf, '#', sizeof buf);
		assert_int_equal(ttlog_event_render(&ev, buf, i), strlen(full));
		assert_int_equal(strlen(buf), i - 1);
		assert_memory_equal(buf, full, i - 1);
		assert_int_equal(buf[i], '#'); /* nothing written past len */
	}
	assert_int_equal(ttlog_event_render(&ev, NULL, 0), strlen(full));
	buf[0] = '#';
	assert_int_equal(ttlog_event_render(&ev, buf, 0), strlen(full));
	assert_int_equal(buf[0], '#');

	/* more fields than placeholders: not appended */
	ev.message = "only {}";
	assert_int_equal(ttlog_event_render(&ev, buf, sizeof buf), 25);
	assert_string_equal(buf, "only 18446744073709551615");
	ev.message = "no placeholder {x} { }";
	ttlog_event_render(&ev, buf, sizeof buf);
	assert_string_equal(buf, "no placeholder {x} { }");
	ev.nfields = 0;
	ev.message = "{}{}";
	assert_int_equal(ttlog_event_render(&ev, buf, sizeof buf), 4);
	assert_string_equal(buf, "{}{}");
	ev.message = "";
	assert_int_equal(ttlog_event_render(&ev, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
}

static void test_render_from_file(void **state)
{
	struct cbf f = make_file(&(struct spec){0});
	ttlog_snapshot_file *s = NULL;
	ttlog_event ev;
	char buf[64];

	(void)state;
	assert_int_equal(ttlog_snapshot_open_mem(f.p, f.len, &s), 0);
	assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	assert_int_equal(ttlog_event_render(&ev, buf, sizeof buf), 28);
	assert_string_equal(buf, "conn 5 from 10.0.0.1 ok=true");
	assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	ttlog_event_render(&ev, buf, sizeof buf);
	assert_string_equal(buf, "delta -42 17");
	assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	ttlog_event_render(&ev, buf, sizeof buf);
	assert_string_equal(buf, "no fields");
	assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	ttlog_event_render(&ev, buf, sizeof buf);
	assert_string_equal(buf, "delta -9223372036854775808 9223372036854775807");
	assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
	ttlog_event_render(&ev, buf, sizeof buf);
	assert_string_equal(buf, "conn 0 from  ok=false");
	ttlog_snapshot_close(s);
	cbf_free(&f);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(ttlog_level_name(TTLOG_LEVEL_TRACE), "TRACE");
	assert_string_equal(ttlog_level_name(TTLOG_LEVEL_DEBUG), "DEBUG");
	assert_string_equal(ttlog_level_name(TTLOG_LEVEL_INFO), "INFO");
	assert_string_equal(ttlog_level_name(TTLOG_LEVEL_WARN), "WARN");
	assert_string_equal(ttlog_level_name(TTLOG_LEVEL_ERROR), "ERROR");
	assert_string_equal(ttlog_level_name(TTLOG_LEVEL_FATAL), "FATAL");
	assert_string_equal(ttlog_level_name(6), "?");
	assert_string_equal(ttlog_level_name(-1), "?");
	assert_string_equal(ttlog_type_name(TTLOG_TYPE_U64), "u64");
	assert_string_equal(ttlog_type_name(TTLOG_TYPE_I64), "i64");
	assert_string_equal(ttlog_type_name(TTLOG_TYPE_F64), "f64");
	assert_string_equal(ttlog_type_name(TTLOG_TYPE_BOOL), "bool");
	assert_string_equal(ttlog_type_name(TTLOG_TYPE_STR), "str");
	assert_string_equal(ttlog_type_name(0), "?");
	assert_string_equal(ttlog_type_name(6), "?");
}

static void test_reject_not_lz4(void **state)
{
	static const char text[] = "this is not CBOR at all";
	unsigned char junk[300];
	struct cbf f;
	size_t i;
	uint32_t x = 12345;

	(void)state;
	expect_reject("", 0, -EINVAL, "empty file");
	expect_reject("\x04\x22\x4d", 3, -EINVAL, "not an LZ4 frame");
	expect_reject("hello world", 11, -EINVAL, "not an LZ4 frame");
	/* the LZ4 frame is fine, its content is not a ttlog snapshot */
	f = lz4(text, strlen(text));
	expect_reject(f.p, f.len, -EINVAL, "top-level item is a text string, not a map");
	cbf_free(&f);
	for (i = 0; i < sizeof junk; i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (unsigned char)(x >> 16);
	}
	f = lz4(junk, sizeof junk);
	expect_reject(f.p, f.len, -EINVAL, NULL);
	cbf_free(&f);
	f = lz4("", 0);
	expect_reject(f.p, f.len, -EINVAL, "no CBOR data");
	cbf_free(&f);
	/* a valid CBOR map that is not ours */
	f = lz4("\xa1\x61x\x01", 4);
	expect_reject(f.p, f.len, -EINVAL, "missing key 'format'");
	cbf_free(&f);
	/* an LZ4 frame, then more bytes */
	f = make_file(&(struct spec){0});
	cbf_put(&f, "\0\0\0\0", 4);
	expect_reject(f.p, f.len, -EINVAL, "after the LZ4 frame");
	cbf_free(&f);
}

/* Every prefix of the compressed file is refused. */
static void check_compressed_prefixes(const struct spec *sp)
{
	struct cbf f = make_file(sp);
	ttlog_snapshot_file *s;
	size_t n;
	int err;

	for (n = 0; n < f.len; n++) {
		s = NULL;
		err = ttlog_snapshot_open_mem(f.p, n, &s);
		if (err >= 0 || s != NULL || ttlog_reader_errmsg()[0] == '\0')
			fail_msg("prefix of %zu of %zu compressed bytes: %d \"%s\"", n, f.len, err,
				 ttlog_reader_errmsg());
	}
	assert_int_equal(ttlog_snapshot_open_mem(f.p, f.len, &s), 0);
	ttlog_snapshot_close(s);
	cbf_free(&f);
}

/* Every prefix of the CBOR, compressed properly, is refused. */
static void check_cbor_prefixes(const struct spec *sp)
{
	struct cbf c = make_cbor(sp), f;
	ttlog_snapshot_file *s;
	size_t n;
	int err;

	for (n = 0; n < c.len; n++) {
		f = lz4(c.p, n);
		s = NULL;
		err = ttlog_snapshot_open_mem(f.p, f.len, &s);
		if (err != -EINVAL || s != NULL || ttlog_reader_errmsg()[0] == '\0')
			fail_msg("prefix of %zu of %zu CBOR bytes: %d \"%s\"", n, c.len, err,
				 ttlog_reader_errmsg());
		cbf_free(&f);
	}
	cbf_free(&c);
}

static void test_reject_truncated_compressed(void **state)
{
	(void)state;
	check_compressed_prefixes(&(struct spec){0});
	check_compressed_prefixes(&(struct spec){.indef = true, .unknown = true});
}

static void test_reject_truncated_cbor(void **state)
{
	(void)state;
	check_cbor_prefixes(&(struct spec){0});
	check_cbor_prefixes(&(struct spec){.indef = true, .unknown = true, .reorder = true,
					   .self_describe = true});
}

static void test_reject_corrupted_frame(void **state)
{
	struct cbf f = make_file(&(struct spec){0}), g = {0};
	ttlog_snapshot_file *s;
	size_t i;
	int err;

	(void)state;
	/* with the content checksum the writer uses, any flipped byte is caught */
	cbf_put(&g, f.p, f.len);
	for (i = 0; i < f.len; i++) {
		g.p[i] ^= 0x5a;
		s = NULL;
		err = ttlog_snapshot_open_mem(g.p, g.len, &s);
		if (err >= 0 || s != NULL || ttlog_reader_errmsg()[0] == '\0')
			fail_msg("byte %zu of %zu flipped: %d \"%s\"", i, f.len, err,
				 ttlog_reader_errmsg());
		g.p[i] ^= 0x5a;
	}
	cbf_free(&f);
	cbf_free(&g);
}

static const struct {
	enum bad bad;
	const char *want; /* in the message, with definite and indefinite lengths alike */
} rejects[] = {
	{BAD_UNKNOWN_ID, "event 1: unknown callsite id 99"},
	{BAD_FEW_VALUES, "event 1: 2 values for the 3 fields of callsite 7"},
	{BAD_MANY_VALUES, "the 3 fields of callsite 7"},
	{BAD_U64_NEG, "event 1: field 2 (big): is a negative integer, not an unsigned integer"},
	{BAD_I64_FLOAT, "event 1: field 0 (neg): is a float, not an integer"},
	{BAD_I64_RANGE, "event 1: field 1 (pos): 9223372036854775808 is out of the i64 range"},
	{BAD_I64_NEG_RANGE, "field 0 (neg): -1-9223372036854775808 is out of the i64 range"},
	{BAD_STR_BYTES, "event 0: field 1 (peer): is a byte string, not a text string"},
	{BAD_BOOL_UINT, "event 0: field 2 (ok): is an unsigned integer, not a bool"},
	{BAD_F64_UINT, "event 0: field 3 (latency): is an unsigned integer, not a float"},
	{BAD_STR_NULL, "event 0: field 1 (peer): is null"},
	{BAD_TID, "event 0: thread id 4294967296 does not fit 32 bits"},
	{BAD_TS_NEG, "event 0: timestamp is a negative integer"},
	{BAD_EVENT_MAP, "event 0: entry is a map, not an array"},
	{BAD_EVENT_SHORT, "event 2: "}, /* "2 items, not [...]" or "no thread id: ..." */
	{BAD_EVENT_EMPTY, "event 2: "},
	{BAD_TRUNC_EVENT, "truncated 0: event index 5 out of range"},
	{BAD_TRUNC_FIELD, "truncated 0: field index 4 out of range"},
	{BAD_TRUNC_TYPE, "truncated 0: field 0 of event 0 is a u64, not a str"},
	{BAD_TRUNC_SHAPE, "truncated 0: no field index: too short for [event_index, field_index]"},
	{BAD_TRUNC_LONG, "truncated 0: more than [event_index, field_index]"},
	{BAD_LEVEL, "callsite 0: level 256 is over 255"},
	{BAD_TYPE_NAME, "callsite 0: type \"u32\" is not"},
	{BAD_NTYPES, "callsite 0: 4 fields but 3 types"},
	{BAD_NUL_TARGET, "callsite 0: target contains a NUL byte"},
	{BAD_NUL_FIELD, "callsite 0: field name contains a NUL byte"},
	{BAD_NUL_MESSAGE, "callsite 1: message contains a NUL byte"},
	{BAD_CS_NO_ID, "callsite 2: missing key 'id'"},
	{BAD_CS_DUP_KEY, "callsite 1: duplicate key 'line'"},
	{BAD_TOO_MANY_FIELDS, "callsite 2: fields: more than 8"},
	{BAD_CS_ID_BIG, "callsite 2: id 4294967296 does not fit 32 bits"},
	{BAD_DUP_ID, "callsites: duplicate id 7"},
	{BAD_CS_NOT_MAP, "callsite 2: entry is an array, not a map"},
	{BAD_FIELDS_NOT_TEXT, "callsite 0: field name is an unsigned integer, not a text string"},
	{BAD_DUP_TOP_KEY, "duplicate key 'service'"},
	{BAD_COUNTER_TYPE, "counters: dropped is a negative integer, not an unsigned integer"},
	{BAD_SERVICE_TYPE, "service is an unsigned integer, not a text string"},
	{BAD_CALLSITES_MAP, "callsites is a map, not an array"},
	{BAD_EVENTS_MAP, "events is a map, not an array"},
	{BAD_FORMAT_WRONG, "format is \"ttlogx\", not \"ttlog\""},
	{BAD_FORMAT_TYPE, "format is an unsigned integer, not a text string"},
	{BAD_FORMAT_NUL, "format is \"ttlog?\", not \"ttlog\""},
	{BAD_VERSION_2, "version 2 is not supported"},
	{BAD_VERSION_TEXT, "version is a text string, not an unsigned integer"},
	{BAD_NO_FORMAT, "missing key 'format'"},
	{BAD_NO_VERSION, "missing key 'version'"},
	{BAD_NO_EVENTS, "missing key 'events'"},
	{BAD_NO_CALLSITES, "missing key 'callsites'"},
	{BAD_NO_COUNTERS, "missing key 'counters'"},
	{BAD_NO_LOGGED, "counters: missing key 'logged'"},
	{BAD_NO_OVERWRITTEN, "counters: missing key 'overwritten'"},
	{BAD_NO_DROPPED, "counters: missing key 'dropped'"},
	{BAD_NUL_SERVICE, "service contains a NUL byte"},
	{BAD_NUL_HOSTNAME, "hostname contains a NUL byte"},
	{BAD_CLOCK_TYPE, "clock: ticks_per_sec is a text string, not a float"},
	{BAD_TOP_ARRAY, "top-level item is an array, not a map"},
	{BAD_TRAILING, "1 trailing byte after the CBOR item"},
	{BAD_HUGE_EVENTS, "truncated CBOR"},
	{BAD_HUGE_STRING, "truncated CBOR"},
	{BAD_HUGE_MAP, "truncated CBOR"},
	{BAD_HUGE_FIELDS, "truncated CBOR"},
	{BAD_HUGE_BYTES, "truncated CBOR"},
	{BAD_DEEP_ARRAYS, "nested deeper than"},
	{BAD_DEEP_MAPS, "nested deeper than"},
	{BAD_DEEP_TAGS, "nested deeper than"},
	{BAD_DEEP_INDEF, "nested deeper than"},
	{BAD_STRAY_BREAK, "unexpected break"},
	{BAD_RESERVED_AI, "reserved additional information 28"},
	{BAD_STR_CHUNK, "bad chunk in an indefinite-length string"},
	{BAD_INDEF_UINT, "invalid indefinite length"},
	{BAD_SIMPLE_LOW, "invalid simple value 5"},
};

static void test_reject_bad_contents(void **state)
{
	size_t i;
	int indef;

	(void)state;
	assert_int_equal(sizeof rejects / sizeof rejects[0], BAD_N - 1);
	for (indef = 0; indef < 2; indef++) {
		for (i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
			struct spec sp = {.indef = indef, .bad = rejects[i].bad};
			struct cbf f = make_file(&sp);
			ttlog_snapshot_file *s = NULL;
			int err = ttlog_snapshot_open_mem(f.p, f.len, &s);
			const char *msg = ttlog_reader_errmsg();

			if (err != -EINVAL || s != NULL || strstr(msg, rejects[i].want) == NULL)
				fail_msg("case %zu (bad %d, %s): %d \"%s\", expected -EINVAL "
					 "\"...%s...\"", i, rejects[i].bad,
					 indef ? "indefinite" : "definite", err, msg,
					 rejects[i].want);
			cbf_free(&f);
		}
	}
}

static void test_reject_decompression_bomb(void **state)
{
	struct spec sp = {.pad = 8000}; /* 8000 zeros in an unknown key: compresses well */
	struct cbf c = make_cbor(&sp), f = make_file(&sp), g;
	LZ4F_preferences_t with_size = {.frameInfo = {.contentSize = c.len}};
	ttlog_snapshot_file *s = NULL;

	(void)state;
	assert_true(f.len < 1000);
	assert_int_equal(setenv("TTLOG_READER_MAX_BYTES", "4096", 1), 0);
	expect_reject(f.p, f.len, -EFBIG, "over the limit of 4096 bytes");
	/* a frame that declares its size is refused before anything is decompressed */
	g = lz4_with(c.p, c.len, &with_size);
	expect_reject(g.p, g.len, -EFBIG, "over the limit of 4096 bytes");
	/* the size itself is allowed, one byte less is not */
	assert_int_equal(setenv("TTLOG_READER_MAX_BYTES", "0", 1), 0);
	expect_reject(f.p, f.len, -EFBIG, NULL);
	{
		char lim[32];
		snprintf(lim, sizeof lim, "%zu", c.len - 1);
		assert_int_equal(setenv("TTLOG_READER_MAX_BYTES", lim, 1), 0);
		expect_reject(f.p, f.len, -EFBIG, NULL);
		expect_reject(g.p, g.len, -EFBIG, NULL);
		snprintf(lim, sizeof lim, "%zu", c.len);
		assert_int_equal(setenv("TTLOG_READER_MAX_BYTES", lim, 1), 0);
		assert_int_equal(ttlog_snapshot_open_mem(f.p, f.len, &s), 0);
		ttlog_snapshot_close(s);
		assert_int_equal(ttlog_snapshot_open_mem(g.p, g.len, &s), 0);
		ttlog_snapshot_close(s);
	}
	/* the variable can lower the limit, not raise it; garbage in it is ignored */
	assert_int_equal(setenv("TTLOG_READER_MAX_BYTES", "99999999999999999999", 1), 0);
	assert_int_equal(ttlog_snapshot_open_mem(f.p, f.len, &s), 0);
	ttlog_snapshot_close(s);
	assert_int_equal(unsetenv("TTLOG_READER_MAX_BYTES"), 0);
	assert_int_equal(ttlog_snapshot_open_mem(f.p, f.len, &s), 0);
	check_valid(s, &sp);
	ttlog_snapshot_close(s);
	cbf_free(&c);
	cbf_free(&f);
	cbf_free(&g);
}

/* The limit is lowered through the environment: never leave it behind for other tests. */
static int unset_limit(void **state)
{
	(void)state;
	return unsetenv("TTLOG_READER_MAX_BYTES");
}

static void test_open_path(void **state)
{
	char dir[] = "/tmp/ttlog-test-reader-XXXXXX", path[128], big[128], empty[128];
	struct cbf f = make_file(&(struct spec){0});
	ttlog_snapshot_file *s = NULL;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/ttlog-1-20260101000000-test.bin", dir);
	snprintf(big, sizeof big, "%s/big.bin", dir);
	snprintf(empty, sizeof empty, "%s/empty.bin", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f.p, f.len), (ssize_t)f.len);
	assert_int_equal(close(fd), 0);

	assert_int_equal(ttlog_snapshot_open(path, &s), 0);
	check_valid(s, &(struct spec){0});
	ttlog_snapshot_close(s);

	s = (ttlog_snapshot_file *)&s;
	assert_int_equal(ttlog_snapshot_open(empty, &s), -ENOENT);
	assert_null(s);
	assert_string_equal(ttlog_reader_errmsg(), strerror(ENOENT));
	assert_int_equal(ttlog_snapshot_open(dir, &s), -EISDIR);
	assert_true(ttlog_reader_errmsg()[0] != '\0');

	fd = open(empty, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(ttlog_snapshot_open(empty, &s), -EINVAL);
	assert_string_equal(ttlog_reader_errmsg(), "empty file");

	/* over 256 MiB: refused before reading (a sparse file costs nothing) */
	fd = open(big, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(256 << 20) + 1), 0);
	assert_int_equal(close(fd), 0);
	assert_int_equal(ttlog_snapshot_open(big, &s), -EFBIG);
	assert_null(s);
	assert_true(ttlog_reader_errmsg()[0] != '\0');

	/* the message of a failure stays until the next open, which clears it */
	assert_int_equal(ttlog_snapshot_open(path, &s), 0);
	assert_string_equal(ttlog_reader_errmsg(), "");
	ttlog_snapshot_close(s);

	assert_int_equal(ttlog_snapshot_open(NULL, &s), -EINVAL);
	assert_int_equal(ttlog_snapshot_open(path, NULL), -EINVAL);
	assert_int_equal(ttlog_snapshot_open_mem(NULL, 1, &s), -EINVAL);

	unlink(path);
	unlink(big);
	unlink(empty);
	rmdir(dir);
	cbf_free(&f);
}

static void test_many_events(void **state)
{
	/* enough events for the offset array and the arena to grow, with indefinite
	 * strings that have to be joined */
	enum { N = 20000 };
	struct enc e;
	struct cbf c, f;
	ttlog_snapshot_file *s = NULL;
	ttlog_event ev;
	char str[32];
	size_t i;

	(void)state;
	enc_init(&e, true);
	e_begin(&e, true);
	e_s(&e, "format");
	e_s(&e, "ttlog");
	e_s(&e, "version");
	e_u(&e, 1);
	e_s(&e, "counters");
	e_begin(&e, true);
	e_s(&e, "logged");
	e_u(&e, N);
	e_s(&e, "overwritten");
	e_u(&e, 0);
	e_s(&e, "dropped");
	e_u(&e, 0);
	e_end(&e);
	e_s(&e, "callsites");
	e_begin(&e, false);
	for (i = 0; i < 100; i++) { /* ids 1000, 999, ...: sorted by the reader */
		e_begin(&e, true);
		e_s(&e, "id");
		e_u(&e, 1000 - i);
		e_s(&e, "message");
		snprintf(str, sizeof str, "cs%zu {}", i);
		e_s(&e, str);
		e_s(&e, "fields");
		e_begin(&e, false);
		e_s(&e, "s");
		e_end(&e);
		e_s(&e, "types");
		e_begin(&e, false);
		e_s(&e, "str");
		e_end(&e);
		e_end(&e);
	}
	e_end(&e);
	e_s(&e, "events");
	e_begin(&e, false);
	for (i = 0; i < N; i++) {
		e_begin(&e, false);
		e_u(&e, i);
		e_u(&e, 1000 - i % 100);
		e_u(&e, i % 7);
		snprintf(str, sizeof str, "value-%zu", i);
		e_s(&e, str);
		e_end(&e);
	}
	e_end(&e);
	e_end(&e);
	c = enc_take(&e);
	f = lz4(c.p, c.len);
	assert_int_equal(ttlog_snapshot_open_mem(f.p, f.len, &s), 0);
	assert_int_equal(ttlog_snapshot_event_count(s), N);
	for (i = 0; i < N; i++) {
		char want[64], got[64];
		assert_int_equal(ttlog_snapshot_next(s, &ev), 1);
		assert_int_equal(ev.timestamp_ns, i);
		assert_int_equal(ev.callsite_id, 1000 - i % 100);
		assert_int_equal(ev.thread_id, i % 7);
		snprintf(want, sizeof want, "cs%zu value-%zu", i % 100, i);
		ttlog_event_render(&ev, got, sizeof got);
		assert_string_equal(got, want);
	}
	assert_int_equal(ttlog_snapshot_next(s, &ev), 0);
	ttlog_snapshot_close(s);
	cbf_free(&c);
	cbf_free(&f);
}

/* What is not a regular file is refused at once, never read: a FIFO without a writer
 * (opening it without O_NONBLOCK waits for one forever; alarm() ends the test instead)
 * and a device (/dev/zero would be read up to the size limit). */
static void test_open_not_regular(void **state)
{
	char dir[] = "/tmp/ttlog-test-reader-XXXXXX", fifo[128];
	const struct {
		const char *path, *want;
	} cases[] = {
		{fifo, "not a regular file (a FIFO)"},
		{"/dev/zero", "not a regular file (a character device)"},
		{"/dev/null", "not a regular file (a character device)"},
	};
	ttlog_snapshot_file *s;
	int err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof fifo, "%s/ttlog-1-20260101000000-test.bin", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		s = (ttlog_snapshot_file *)&s;
		alarm(60); /* SIGALRM ends the test if the open blocks */
		err = ttlog_snapshot_open(cases[i].path, &s);
		alarm(0);
		if (err != -EINVAL || s != NULL ||
		    strcmp(ttlog_reader_errmsg(), cases[i].want) != 0)
			fail_msg("%s: %d \"%s\", expected %d \"%s\"", cases[i].path, err,
				 ttlog_reader_errmsg(), -EINVAL, cases[i].want);
	}
	unlink(fifo);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_liblz4_default_frame),
		cmocka_unit_test(test_indefinite_lengths),
		cmocka_unit_test(test_generic_writer),
		cmocka_unit_test(test_unknown_keys_ignored),
		cmocka_unit_test(test_nul_in_str_value),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_from_file),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_reject_not_lz4),
		cmocka_unit_test(test_reject_truncated_compressed),
		cmocka_unit_test(test_reject_truncated_cbor),
		cmocka_unit_test(test_reject_corrupted_frame),
		cmocka_unit_test(test_reject_bad_contents),
		cmocka_unit_test_teardown(test_reject_decompression_bomb, unset_limit),
		cmocka_unit_test(test_open_path),
		cmocka_unit_test(test_many_events),
		cmocka_unit_test(test_open_not_regular),
	};

	unsetenv("TTLOG_READER_MAX_BYTES");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
