/*
 * cbor_fixture.h - a CBOR writer for crafted snapshots, and the LZ4 frame around them:
 * shared by tests/test_reader.c, tests/fuzz/gen_seeds.c and tests/view/fixtures.c.
 *
 * Every head is written in its shortest form, as RFC 8949's preferred serialisation
 * (and libcbor's encoders) has it; the callers add what a generic writer may do beyond
 * that (indefinite lengths, chunked strings, tags, narrow floats) with the calls below.
 * The caller counts the items of a definite container. Out of memory ends the program:
 * these are test fixtures.
 */
#ifndef TTLOG_TESTS_CBOR_FIXTURE_H
#define TTLOG_TESTS_CBOR_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

/* major types */
enum { CBF_UINT, CBF_NEGINT, CBF_BYTES, CBF_TEXT, CBF_ARRAY, CBF_MAP, CBF_TAG, CBF_SIMPLE };

/* A growable byte buffer; {0} is an empty one. */
struct cbf {
	unsigned char *p;
	size_t len, cap;
};

static inline void cbf_put(struct cbf *c, const void *d, size_t n)
{
	if (c->cap - c->len < n) {
		size_t cap = c->cap ? c->cap : 256;
		while (cap - c->len < n)
			cap *= 2;
		if ((c->p = realloc(c->p, cap)) == NULL) {
			fprintf(stderr, "cbor_fixture: out of memory\n");
			exit(1);
		}
		c->cap = cap;
	}
	if (n > 0)
		memcpy(c->p + c->len, d, n);
	c->len += n;
}

static inline void cbf_free(struct cbf *c)
{
	free(c->p);
	*c = (struct cbf){0};
}

/* The head of an item of type major with argument v (a value, a length or a count). */
static inline void cbf_head(struct cbf *c, int major, uint64_t v)
{
	unsigned char b[9];
	int n = v < 24 ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
	int ai = n == 0 ? (int)v : n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27;

	b[0] = (unsigned char)(major << 5 | ai);
	for (int i = 0; i < n; i++)
		b[1 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	cbf_put(c, b, (size_t)n + 1);
}

static inline void cbf_u(struct cbf *c, uint64_t v)
{
	cbf_head(c, CBF_UINT, v);
}

/* the value -1 - n */
static inline void cbf_neg(struct cbf *c, uint64_t n)
{
	cbf_head(c, CBF_NEGINT, n);
}

static inline void cbf_i64(struct cbf *c, int64_t v)
{
	if (v >= 0)
		cbf_u(c, (uint64_t)v);
	else
		cbf_neg(c, (uint64_t)(-(v + 1)));
}

static inline void cbf_textn(struct cbf *c, const char *s, size_t n)
{
	cbf_head(c, CBF_TEXT, n);
	cbf_put(c, s, n);
}

static inline void cbf_str(struct cbf *c, const char *s)
{
	cbf_textn(c, s, strlen(s));
}

static inline void cbf_bytes(struct cbf *c, const void *p, size_t n)
{
	cbf_head(c, CBF_BYTES, n);
	cbf_put(c, p, n);
}

static inline void cbf_arr(struct cbf *c, uint64_t items)
{
	cbf_head(c, CBF_ARRAY, items);
}

static inline void cbf_map(struct cbf *c, uint64_t pairs)
{
	cbf_head(c, CBF_MAP, pairs);
}

/* the next item is its content */
static inline void cbf_tag(struct cbf *c, uint64_t tag)
{
	cbf_head(c, CBF_TAG, tag);
}

/* The start of an indefinite-length item of type major (bytes, text, array, map): its
 * contents (chunks of that type for a string) follow, then cbf_break(). */
static inline void cbf_indef(struct cbf *c, int major)
{
	unsigned char b = (unsigned char)(major << 5 | 31);
	cbf_put(c, &b, 1);
}

static inline void cbf_break(struct cbf *c)
{
	cbf_put(c, "\xff", 1);
}

static inline void cbf_bool(struct cbf *c, bool v)
{
	cbf_put(c, v ? "\xf5" : "\xf4", 1);
}

static inline void cbf_null(struct cbf *c)
{
	cbf_put(c, "\xf6", 1);
}

/* A float of width bytes (2, 4, 8) with IEEE 754 bits, big-endian after its head. */
static inline void cbf_float_bits(struct cbf *c, int width, uint64_t bits)
{
	unsigned char b[9];

	b[0] = (unsigned char)(CBF_SIMPLE << 5 | (width == 2 ? 25 : width == 4 ? 26 : 27));
	for (int i = 0; i < width; i++)
		b[1 + i] = (unsigned char)(bits >> (8 * (width - 1 - i)));
	cbf_put(c, b, (size_t)width + 1);
}

static inline void cbf_f64(struct cbf *c, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	cbf_float_bits(c, 8, bits);
}

static inline void cbf_f32(struct cbf *c, float v)
{
	uint32_t bits;
	memcpy(&bits, &v, sizeof bits);
	cbf_float_bits(c, 4, bits);
}

/* v as a half-precision float: 0, or -1 (nothing written) when v is not a zero or a
 * normal half exactly (the fixtures only need exact values). */
static inline int cbf_f16(struct cbf *c, float v)
{
	uint32_t bits, mant;
	int exp;

	memcpy(&bits, &v, sizeof bits);
	exp = (int)(bits >> 23 & 0xff) - 127;
	mant = bits & 0x7fffff;
	if ((bits & 0x7fffffff) == 0) {
		cbf_float_bits(c, 2, bits >> 16);
		return 0;
	}
	if (exp < -14 || exp > 15 || (mant & 0x1fff) != 0)
		return -1;
	cbf_float_bits(c, 2, (bits >> 16 & 0x8000) | (uint32_t)(exp + 15) << 10 | mant >> 13);
	return 0;
}

/* data in an LZ4 frame, in *out (which it replaces); prefs NULL: liblz4's defaults.
 * 0, or -1 when liblz4 fails. */
static inline int cbf_lz4(const void *data, size_t len, const LZ4F_preferences_t *prefs,
			  struct cbf *out)
{
	size_t n;

	*out = (struct cbf){0};
	out->cap = LZ4F_compressFrameBound(len, prefs);
	if ((out->p = malloc(out->cap)) == NULL) {
		fprintf(stderr, "cbor_fixture: out of memory\n");
		exit(1);
	}
	n = LZ4F_compressFrame(out->p, out->cap, data, len, prefs);
	if (LZ4F_isError(n)) {
		cbf_free(out);
		return -1;
	}
	out->len = n;
	return 0;
}

#endif /* TTLOG_TESTS_CBOR_FIXTURE_H */
