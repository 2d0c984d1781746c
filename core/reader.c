/*
 * reader.c - read and validate ttlog snapshot files (docs/snapshot-format.md, the API in
 * include/ttlog/reader.h).
 *
 * A file is one LZ4 frame around one CBOR item. ttlog_snapshot_open() does all the work:
 *   1. read the file (at most READER_MAX_FILE bytes);
 *   2. decompress the frame into one buffer that grows, but never past the limit
 *      (reader_limit(): TTLOG_READER_MAX_BYTES, lowered by the environment, and at most
 *      255 times the compressed size, about LZ4's best ratio);
 *   3. walk the CBOR with the small bounded parser below: one pass checks that the
 *      whole item is well formed (every length against the bytes left, nesting at most
 *      READER_MAX_DEPTH) and notes where the known top-level keys are; then each known
 *      key is decoded and checked against the format, in an order that puts the
 *      callsites before the events that refer to them.
 * What stays is the decompressed buffer, the callsites (names copied into an arena as
 * NUL-terminated strings), one 32-bit offset per event and, only if the file has them, a
 * byte of truncation flags per event and the joined copies of indefinite-length event
 * strings: O(file size). ttlog_snapshot_next() decodes one event again from its offset
 * with the same code; open proved it valid, so iteration cannot fail.
 *
 * Why a hand-written parser and not libcbor: cbor_load() builds a tree of heap items
 * (tens of bytes per value, unbounded by the limit above), and the streaming decoder
 * would still need this file's bookkeeping of depth, lengths and indefinite items.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4frame.h>

#include <ttlog/reader.h>

/* Largest file (compressed) the reader reads. */
#define READER_MAX_FILE ((size_t)256 << 20)
/* Deepest CBOR nesting accepted (arrays, maps and tags each count one level); the format
 * itself needs 5 (top map, callsites, callsite, fields, text chunks), the rest is room
 * for unknown keys. Bounds the recursion of skip(). */
#define READER_MAX_DEPTH 64
#define ARENA_CHUNK ((size_t)64 << 10)
#define LZ4_MAGIC 0x184D2204u

/* Event offsets are 32-bit: the decompressed buffer must stay below 4 GiB. */
_Static_assert(TTLOG_READER_MAX_BYTES < UINT32_MAX, "event offsets are 32-bit");

static _Thread_local char reader_err[256];

/* ---- the handle ------------------------------------------------------------------ */

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	_Alignas(8) char data[];
};

struct callsite {
	uint32_t id;
	uint32_t line;
	uint8_t level;
	uint8_t nfields;
	uint8_t types[TTLOG_MAX_FIELDS]; /* enum ttlog_type */
	const char *target, *message, *file;
	const char **names; /* nfields names, in the arena */
};

/* An indefinite-length text value of an event, joined at open. */
struct spill {
	uint32_t off; /* offset of the string's initial byte in data */
	uint32_t len;
	const char *ptr; /* in the arena */
};

struct ttlog_snapshot_file {
	unsigned char *data; /* the decompressed CBOR */
	size_t len;
	struct arena_chunk *arena;

	const char *service, *hostname, *reason, *variant;
	uint64_t pid, created_ns, capacity, clipped_before_ns;
	uint64_t parent_pid, torn; /* 0 when the file has no such key */
	ttlog_snapshot_counters counters;

	struct callsite *cs; /* sorted by id, ids unique */
	size_t ncs;
	uint32_t *ev_off; /* offset of each event's array in data */
	size_t nev;
	uint8_t *trunc; /* per event, bit i: field i was truncated; NULL when none is */
	struct spill *spill; /* by offset */
	size_t nspill, spill_cap;

	size_t cursor; /* next event ttlog_snapshot_next() returns */

	/* the gap records, read at the first call that wants them (a walk finds "gaps" by
	 * skipping the keys before it, events included: once, not once per event) */
	bool gaps_read;
	int gaps_err;     /* the walk's error (the records before the bad one are in gaps) */
	size_t ngaps;     /* records in gaps */
	size_t gaps_seen; /* the array's length as far as the walk went */
	ttlog_gap *gaps;
};

static void *arena_alloc(ttlog_snapshot_file *s, size_t n, size_t align)
{
	struct arena_chunk *c = s->arena;
	size_t at;

	if (c != NULL) {
		at = (c->used + align - 1) & ~(align - 1);
		if (at <= c->cap && c->cap - at >= n) {
			c->used = at + n;
			return c->data + at;
		}
	}
	if (n > ARENA_CHUNK / 4) {
		/* big: its own chunk, behind the current one so that its free tail stays */
		struct arena_chunk *b = malloc(sizeof *b + n);
		if (b == NULL)
			return NULL;
		b->used = b->cap = n;
		if (c != NULL) {
			b->next = c->next;
			c->next = b;
		} else {
			b->next = NULL;
			s->arena = b;
		}
		return b->data;
	}
	c = malloc(sizeof *c + ARENA_CHUNK);
	if (c == NULL)
		return NULL;
	c->next = s->arena;
	c->cap = ARENA_CHUNK;
	c->used = n;
	s->arena = c;
	return c->data;
}

/* ---- errors ---------------------------------------------------------------------- */

static void set_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reader_err, sizeof reader_err, fmt, ap);
	va_end(ap);
}

/* ---- the CBOR parser ------------------------------------------------------------- */

enum { M_UINT, M_NEGINT, M_BYTES, M_TEXT, M_ARRAY, M_MAP, M_TAG, M_SIMPLE };

#define TAG_SELF_DESCRIBE 55799 /* "this is CBOR", RFC 8949 3.4.6: no meaning, skipped */

struct rd {
	ttlog_snapshot_file *s;
	const unsigned char *p;
	size_t len, pos;
	bool quiet; /* re-decoding a validated event: leave the error message alone */
	/* context of the messages: "what" or "what index" */
	const char *ctx;
	size_t ctx_idx;
	bool ctx_has_idx;
};

struct item {
	size_t off; /* offset of the initial byte */
	int major;
	int ai;     /* additional information: 0..27, 31 */
	bool indef; /* indefinite length (also set for a break) */
	uint64_t val; /* integer, length, count, tag number, simple value or float bits */
};

/* A string whose content was checked: in place when definite, else chunks to join. */
struct text {
	const unsigned char *ptr; /* definite only */
	size_t len;               /* total bytes */
	size_t chunks;            /* indefinite: offset of the first chunk */
	bool indef;
};

/* A container being read. */
struct cont {
	uint64_t left; /* definite: items (arrays) or pairs (maps) still to come */
	bool indef;
	int depth; /* depth of the items inside */
};

static int fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct rd *r, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (r->quiet)
		return -EINVAL;
	if (r->ctx != NULL && r->ctx_has_idx)
		n = snprintf(reader_err, sizeof reader_err, "%s %zu: ", r->ctx, r->ctx_idx);
	else if (r->ctx != NULL)
		n = snprintf(reader_err, sizeof reader_err, "%s: ", r->ctx);
	if (n < 0 || (size_t)n >= sizeof reader_err)
		n = 0;
	va_start(ap, fmt);
	vsnprintf(reader_err + n, sizeof reader_err - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int nomem(struct rd *r)
{
	if (!r->quiet)
		set_err("out of memory");
	return -ENOMEM;
}

static int truncated(struct rd *r, size_t item_off)
{
	return fail(r, "truncated CBOR at byte %zu (item at byte %zu)", r->len, item_off);
}

static void set_ctx(struct rd *r, const char *ctx)
{
	r->ctx = ctx;
	r->ctx_has_idx = false;
}

static void set_ctx_idx(struct rd *r, const char *ctx, size_t idx)
{
	r->ctx = ctx;
	r->ctx_idx = idx;
	r->ctx_has_idx = true;
}

static bool is_break(const struct item *it)
{
	return it->major == M_SIMPLE && it->ai == 31;
}

static const char *kind(const struct item *it)
{
	static const char *const names[] = {"an unsigned integer", "a negative integer",
					    "a byte string", "a text string", "an array",
					    "a map", "a tag"};
	if (it->major < M_SIMPLE)
		return names[it->major];
	switch (it->ai) {
	case 20: case 21: return "a bool";
	case 22: return "null";
	case 23: return "undefined";
	case 25: case 26: case 27: return "a float";
	case 31: return "a break";
	default: return "a simple value";
	}
}

/* Read one item head: the initial byte and its argument (not a string's content). */
static int head(struct rd *r, struct item *it)
{
	unsigned char ib;
	size_t n, i;

	if (r->pos >= r->len)
		return truncated(r, r->pos);
	it->off = r->pos;
	ib = r->p[r->pos++];
	it->major = ib >> 5;
	it->ai = ib & 31;
	it->indef = false;
	if (it->ai < 24) {
		it->val = (uint64_t)it->ai;
	} else if (it->ai <= 27) {
		n = (size_t)1 << (it->ai - 24);
		if (r->len - r->pos < n)
			return truncated(r, it->off);
		it->val = 0;
		for (i = 0; i < n; i++)
			it->val = it->val << 8 | r->p[r->pos + i];
		r->pos += n;
		if (it->major == M_SIMPLE && it->ai == 24 && it->val < 32)
			return fail(r, "invalid simple value %" PRIu64 " at byte %zu", it->val,
				    it->off);
	} else if (it->ai == 31) {
		if (it->major == M_UINT || it->major == M_NEGINT || it->major == M_TAG)
			return fail(r, "invalid indefinite length at byte %zu", it->off);
		it->indef = true;
		it->val = 0;
	} else {
		return fail(r, "reserved additional information %d at byte %zu", it->ai,
			    it->off);
	}
	return 0;
}

/* The head of a value: a break is an error here, and self-describe tags are skipped. */
static int value_head(struct rd *r, struct item *it)
{
	int err;

	for (;;) {
		if ((err = head(r, it)) < 0)
			return err;
		if (is_break(it))
			return fail(r, "unexpected break at byte %zu", it->off);
		if (it->major != M_TAG || it->val != TAG_SELF_DESCRIBE)
			return 0;
	}
}

/* Consume the content of a byte or text string whose head is it. */
static int read_string(struct rd *r, const struct item *it, struct text *t)
{
	struct item c;
	int err;

	t->indef = it->indef;
	t->chunks = r->pos;
	t->ptr = NULL;
	t->len = 0;
	if (!it->indef) {
		if (it->val > r->len - r->pos)
			return truncated(r, it->off);
		t->ptr = r->p + r->pos;
		t->len = (size_t)it->val;
		r->pos += t->len;
		return 0;
	}
	for (;;) {
		if ((err = head(r, &c)) < 0)
			return err;
		if (is_break(&c))
			return 0;
		if (c.major != it->major || c.indef)
			return fail(r, "bad chunk in an indefinite-length string at byte %zu",
				    c.off);
		if (c.val > r->len - r->pos)
			return truncated(r, c.off);
		t->len += (size_t)c.val; /* no overflow: bounded by the buffer */
		r->pos += (size_t)c.val;
	}
}

/* Copy the t->len bytes of a string read by read_string() to dst. */
static void text_copy(const struct rd *r, const struct text *t, char *dst)
{
	struct rd w = *r;
	struct item c;

	if (!t->indef) {
		if (t->len > 0)
			memcpy(dst, t->ptr, t->len);
		return;
	}
	w.quiet = true;
	w.pos = t->chunks;
	while (head(&w, &c) == 0 && !is_break(&c)) {
		memcpy(dst, w.p + w.pos, (size_t)c.val);
		dst += c.val;
		w.pos += (size_t)c.val;
	}
}

/* Skip one item, checking that it is well formed; depth is its nesting level. */
static int skip(struct rd *r, int depth)
{
	struct item it;
	struct cont c;
	struct text t;
	int err;

	for (;;) {
		if (depth > READER_MAX_DEPTH)
			return fail(r, "CBOR nested deeper than %d levels at byte %zu",
				    READER_MAX_DEPTH, r->pos);
		if ((err = head(r, &it)) < 0)
			return err;
		switch (it.major) {
		case M_UINT:
		case M_NEGINT:
			return 0;
		case M_BYTES:
		case M_TEXT:
			return read_string(r, &it, &t);
		case M_ARRAY:
		case M_MAP:
			/* each item takes at least one byte: a count past the end is a lie */
			if (!it.indef && it.val > (r->len - r->pos) / (it.major == M_MAP ? 2 : 1))
				return truncated(r, it.off);
			c.left = it.val;
			c.indef = it.indef;
			for (;;) {
				if (c.indef) {
					if (r->pos >= r->len)
						return truncated(r, it.off);
					if (r->p[r->pos] == 0xff) {
						r->pos++;
						return 0;
					}
				} else if (c.left-- == 0) {
					return 0;
				}
				if ((err = skip(r, depth + 1)) < 0)
					return err;
				if (it.major == M_MAP && (err = skip(r, depth + 1)) < 0)
					return err;
			}
		case M_TAG:
			depth++; /* the tagged item, without recursion */
			continue;
		default:
			if (is_break(&it))
				return fail(r, "unexpected break at byte %zu", it.off);
			return 0; /* simple values and floats: the head was all */
		}
	}
}

/* Start reading an array or a map (major) at nesting level depth. */
static int cont_begin(struct rd *r, struct cont *c, int major, int depth, const char *what)
{
	struct item it;
	int err;

	if ((err = value_head(r, &it)) < 0)
		return err;
	if (it.major != major)
		return fail(r, "%s is %s, not %s", what, kind(&it),
			    major == M_ARRAY ? "an array" : "a map");
	if (!it.indef && it.val > (r->len - r->pos) / (major == M_MAP ? 2 : 1))
		return truncated(r, it.off);
	c->left = it.val;
	c->indef = it.indef;
	c->depth = depth + 1;
	return 0;
}

/* 1: another item (or map pair) follows; 0: the container ended (its break consumed). */
static int cont_more(struct rd *r, struct cont *c)
{
	if (c->indef) {
		if (r->pos >= r->len)
			return truncated(r, r->pos);
		if (r->p[r->pos] == 0xff) {
			r->pos++;
			return 0;
		}
		return 1;
	}
	if (c->left == 0)
		return 0;
	c->left--;
	return 1;
}

/* A map key: text keys of up to 31 bytes land in key (NUL-terminated, *klen its length);
 * other keys are skipped and reported as unknown (*klen = SIZE_MAX). */
static int read_key(struct rd *r, const struct cont *m, char key[32], size_t *klen)
{
	size_t start = r->pos;
	struct item it;
	struct text t;
	int err;

	*klen = SIZE_MAX;
	if ((err = value_head(r, &it)) < 0)
		return err;
	if (it.major != M_TEXT) {
		r->pos = start;
		return skip(r, m->depth);
	}
	if ((err = read_string(r, &it, &t)) < 0)
		return err;
	if (t.len < 32) {
		text_copy(r, &t, key);
		key[t.len] = '\0';
		*klen = t.len;
	}
	return 0;
}

/* Index of the key in names[0..n), or -1. A key with a NUL in it matches nothing. */
static int key_index(const char *key, size_t klen, const char *const *names, int n)
{
	int i;

	if (klen == SIZE_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (strlen(names[i]) == klen && memcmp(names[i], key, klen) == 0)
			return i;
	return -1;
}

static int get_uint(struct rd *r, const char *what, uint64_t *v)
{
	struct item it;
	int err;

	if ((err = value_head(r, &it)) < 0)
		return err;
	if (it.major != M_UINT)
		return fail(r, "%s is %s, not an unsigned integer", what, kind(&it));
	*v = it.val;
	return 0;
}

static int get_uint32(struct rd *r, const char *what, uint32_t *v)
{
	uint64_t u;
	int err;

	if ((err = get_uint(r, what, &u)) < 0)
		return err;
	if (u > UINT32_MAX)
		return fail(r, "%s %" PRIu64 " does not fit 32 bits", what, u);
	*v = (uint32_t)u;
	return 0;
}

static double half_to_double(uint16_t h)
{
	unsigned e = (h >> 10) & 0x1f, m = h & 0x3ff;
	double v;

	if (e == 0) {
		v = m / 16777216.0; /* m * 2^-24 */
	} else if (e == 31) {
		v = m == 0 ? __builtin_inf() : __builtin_nan("");
	} else {
		/* (1024 + m) * 2^(e - 25), the power built from its bits: no libm */
		uint64_t bits = (uint64_t)(e - 25 + 1023) << 52;
		double p;
		memcpy(&p, &bits, sizeof p);
		v = (1024 + m) * p;
	}
	return (h & 0x8000) ? -v : v;
}

/* A float item (half, single or double) as a double. */
static bool item_f64(const struct item *it, double *d)
{
	if (it->major != M_SIMPLE)
		return false;
	if (it->ai == 25) {
		*d = half_to_double((uint16_t)it->val);
	} else if (it->ai == 26) {
		uint32_t b = (uint32_t)it->val;
		float f;
		memcpy(&f, &b, sizeof f);
		*d = f;
	} else if (it->ai == 27) {
		memcpy(d, &it->val, sizeof *d);
	} else {
		return false;
	}
	return true;
}

/* Printable excerpt of some bytes, for messages. */
static const char *excerpt(const char *p, size_t len, char buf[28])
{
	size_t i, n = len < 24 ? len : 24;

	for (i = 0; i < n; i++)
		buf[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	strcpy(buf + n, len > n ? "..." : "");
	return buf;
}

/* Text for a C string: joined if indefinite, copied into the arena, NUL-terminated; a
 * NUL inside is an error (a caller would see the string cut short). */
static int get_cstr(struct rd *r, const char *what, const char **out)
{
	struct item it;
	struct text t;
	char *d;
	int err;

	if ((err = value_head(r, &it)) < 0)
		return err;
	if (it.major != M_TEXT)
		return fail(r, "%s is %s, not a text string", what, kind(&it));
	if ((err = read_string(r, &it, &t)) < 0)
		return err;
	if (t.len == 0) {
		*out = "";
		return 0;
	}
	if ((d = arena_alloc(r->s, t.len + 1, 1)) == NULL)
		return nomem(r);
	text_copy(r, &t, d);
	d[t.len] = '\0';
	if (memchr(d, '\0', t.len) != NULL)
		return fail(r, "%s contains a NUL byte", what);
	*out = d;
	return 0;
}

/* A text value compared with the allowed words: *idx their index, or -1. */
static int get_word(struct rd *r, const char *what, const char *const *words, int n,
		    int *idx, char shown[28])
{
	struct item it;
	struct text t;
	char buf[32];
	int err;

	if ((err = value_head(r, &it)) < 0)
		return err;
	if (it.major != M_TEXT)
		return fail(r, "%s is %s, not a text string", what, kind(&it));
	if ((err = read_string(r, &it, &t)) < 0)
		return err;
	*idx = -1;
	if (t.len < sizeof buf) {
		text_copy(r, &t, buf);
		*idx = key_index(buf, t.len, words, n);
		if (shown != NULL)
			excerpt(buf, t.len, shown);
	} else if (shown != NULL) {
		strcpy(shown, "(long text)");
	}
	return 0;
}

/* ---- the snapshot ---------------------------------------------------------------- */

static int cs_cmp(const void *a, const void *b)
{
	const struct callsite *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static const struct callsite *find_callsite(const ttlog_snapshot_file *s, uint64_t id)
{
	size_t lo = 0, hi = s->ncs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->cs[mid].id == id)
			return &s->cs[mid];
		if (s->cs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct spill *find_spill(const ttlog_snapshot_file *s, size_t off)
{
	size_t lo = 0, hi = s->nspill;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->spill[mid].off == off)
			return &s->spill[mid];
		if (s->spill[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const char *const type_words[] = {"u64", "i64", "f64", "bool", "str"};

/* The array of field names (kind 0) or of types (kind 1) of a callsite. */
static int parse_cs_list(struct rd *r, struct callsite *cs, int kind_, size_t *count)
{
	const char *names[TTLOG_MAX_FIELDS];
	const char *what = kind_ == 0 ? "fields" : "types";
	struct cont a;
	size_t n = 0;
	int err, idx;
	char shown[28];

	if ((err = cont_begin(r, &a, M_ARRAY, 3, what)) < 0)
		return err;
	while ((err = cont_more(r, &a)) > 0) {
		if (n == TTLOG_MAX_FIELDS)
			return fail(r, "%s: more than %d", what, TTLOG_MAX_FIELDS);
		if (kind_ == 0) {
			if ((err = get_cstr(r, "field name", &names[n])) < 0)
				return err;
		} else {
			if ((err = get_word(r, "type", type_words, 5, &idx, shown)) < 0)
				return err;
			if (idx < 0)
				return fail(r, "type \"%s\" is not u64, i64, f64, bool or str",
					    shown);
			cs->types[n] = (uint8_t)(TTLOG_TYPE_U64 + idx);
		}
		n++;
	}
	if (err < 0)
		return err;
	if (kind_ == 0 && n > 0) {
		cs->names = arena_alloc(r->s, n * sizeof *cs->names, sizeof(void *));
		if (cs->names == NULL)
			return nomem(r);
		memcpy(cs->names, names, n * sizeof *names);
	}
	*count = n;
	return 0;
}

enum { C_ID, C_LEVEL, C_TARGET, C_MESSAGE, C_FILE, C_LINE, C_FIELDS, C_TYPES, C_N };
static const char *const cs_keys[C_N] = {"id",   "level", "target", "message",
					 "file", "line",  "fields", "types"};

static int parse_callsite(struct rd *r, struct callsite *cs)
{
	struct cont m;
	char key[32];
	size_t klen, nnames = 0, ntypes = 0;
	unsigned seen = 0;
	uint64_t level;
	int err, k;

	memset(cs, 0, sizeof *cs);
	cs->target = cs->message = cs->file = "";
	if ((err = cont_begin(r, &m, M_MAP, 2, "entry")) < 0)
		return err;
	while ((err = cont_more(r, &m)) > 0) {
		if ((err = read_key(r, &m, key, &klen)) < 0)
			return err;
		k = key_index(key, klen, cs_keys, C_N);
		if (k >= 0 && (seen & 1u << k))
			return fail(r, "duplicate key '%s'", cs_keys[k]);
		if (k >= 0)
			seen |= 1u << k;
		switch (k) {
		case C_ID: err = get_uint32(r, "id", &cs->id); break;
		case C_LEVEL:
			if ((err = get_uint(r, "level", &level)) < 0)
				return err;
			/* 0..5 are the levels; a file may hold others (6, OFF, was once
			 * recorded): kept, for the reader's user to show as a number */
			if (level > UINT8_MAX)
				return fail(r, "level %" PRIu64 " is over 255", level);
			cs->level = (uint8_t)level;
			break;
		case C_TARGET: err = get_cstr(r, "target", &cs->target); break;
		case C_MESSAGE: err = get_cstr(r, "message", &cs->message); break;
		case C_FILE: err = get_cstr(r, "file", &cs->file); break;
		case C_LINE: err = get_uint32(r, "line", &cs->line); break;
		case C_FIELDS: err = parse_cs_list(r, cs, 0, &nnames); break;
		case C_TYPES: err = parse_cs_list(r, cs, 1, &ntypes); break;
		default: err = skip(r, m.depth); break;
		}
		if (err < 0)
			return err;
	}
	if (err < 0)
		return err;
	if (!(seen & 1u << C_ID))
		return fail(r, "missing key 'id'");
	if (nnames != ntypes)
		return fail(r, "%zu fields but %zu types", nnames, ntypes);
	cs->nfields = (uint8_t)nnames;
	return 0;
}

static int parse_callsites(struct rd *r)
{
	ttlog_snapshot_file *s = r->s;
	struct cont a;
	size_t cap, i;
	int err;

	set_ctx(r, NULL);
	if ((err = cont_begin(r, &a, M_ARRAY, 1, "callsites")) < 0)
		return err;
	set_ctx(r, "callsites");
	/* the count is real (pass 1 checked the items are there), but an item may still be
	 * invalid: grow with the callsites that pass rather than trust a big count */
	cap = a.indef || a.left > 1024 ? 1024 : (size_t)a.left;
	if (cap > 0 && (s->cs = malloc(cap * sizeof *s->cs)) == NULL)
		return nomem(r);
	while ((err = cont_more(r, &a)) > 0) {
		if (s->ncs == cap) {
			struct callsite *n = realloc(s->cs, 2 * cap * sizeof *n);
			if (n == NULL)
				return nomem(r);
			s->cs = n;
			cap *= 2;
		}
		set_ctx_idx(r, "callsite", s->ncs);
		if ((err = parse_callsite(r, &s->cs[s->ncs])) < 0)
			return err;
		s->ncs++;
	}
	if (err < 0)
		return err;
	set_ctx(r, "callsites");
	if (s->ncs > 1)
		qsort(s->cs, s->ncs, sizeof *s->cs, cs_cmp);
	for (i = 1; i < s->ncs; i++)
		if (s->cs[i].id == s->cs[i - 1].id)
			return fail(r, "duplicate id %" PRIu32, s->cs[i].id);
	return 0;
}

static int add_spill(struct rd *r, size_t off, const char *ptr, size_t len)
{
	ttlog_snapshot_file *s = r->s;

	if (s->nspill == s->spill_cap) {
		size_t cap = s->spill_cap ? 2 * s->spill_cap : 16;
		struct spill *n = realloc(s->spill, cap * sizeof *n);
		if (n == NULL)
			return nomem(r);
		s->spill = n;
		s->spill_cap = cap;
	}
	s->spill[s->nspill++] = (struct spill){(uint32_t)off, (uint32_t)len, ptr};
	return 0;
}

static int decode_value(struct rd *r, const struct callsite *cs, size_t i, ttlog_field *f,
			bool at_open)
{
	static const char *const want[] = {"", "an unsigned integer", "an integer", "a float",
					   "a bool", "a text string"};
	struct item it;
	struct text t;
	int err;

	if ((err = value_head(r, &it)) < 0)
		return err;
	f->name = cs->names[i];
	f->type = cs->types[i];
	f->truncated = false;
	switch (cs->types[i]) {
	case TTLOG_TYPE_U64:
		if (it.major != M_UINT)
			break;
		f->v.u64 = it.val;
		return 0;
	case TTLOG_TYPE_I64:
		if (it.major != M_UINT && it.major != M_NEGINT)
			break;
		if (it.val > INT64_MAX)
			return fail(r, "field %zu (%.40s): %s%" PRIu64 " is out of the i64 range",
				    i, f->name, it.major == M_NEGINT ? "-1-" : "", it.val);
		f->v.i64 = it.major == M_UINT ? (int64_t)it.val : -1 - (int64_t)it.val;
		return 0;
	case TTLOG_TYPE_F64:
		if (!item_f64(&it, &f->v.f64))
			break;
		return 0;
	case TTLOG_TYPE_BOOL:
		if (it.major != M_SIMPLE || (it.ai != 20 && it.ai != 21))
			break;
		f->v.b = it.ai == 21;
		return 0;
	default: /* TTLOG_TYPE_STR */
		if (it.major != M_TEXT)
			break;
		if ((err = read_string(r, &it, &t)) < 0)
			return err;
		f->v.str.len = t.len;
		if (!t.indef) {
			f->v.str.ptr = (const char *)t.ptr;
		} else if (at_open) {
			char *d = t.len ? arena_alloc(r->s, t.len, 1) : (char *)"";
			if (d == NULL)
				return nomem(r);
			text_copy(r, &t, d);
			f->v.str.ptr = d;
			if ((err = add_spill(r, it.off, d, t.len)) < 0)
				return err;
		} else {
			const struct spill *sp = find_spill(r->s, it.off);
			if (sp == NULL)
				return -EINVAL; /* cannot happen: recorded at open */
			f->v.str.ptr = sp->ptr;
		}
		return 0;
	}
	return fail(r, "field %zu (%.40s): is %s, not %s (%s)", i, f->name, kind(&it),
		    want[cs->types[i]], ttlog_type_name(cs->types[i]));
}

#define EVENT_SHAPE "[timestamp, callsite, thread, values...]"
#define TRUNCATED_SHAPE "[event_index, field_index]"

/* The next item of an array, which must be there and be an unsigned integer. */
static int next_uint(struct rd *r, struct cont *a, const char *what, const char *shape,
		     uint64_t *v)
{
	int err = cont_more(r, a);

	if (err < 0)
		return err;
	if (err == 0)
		return fail(r, "no %s: too short for %s", what, shape);
	return get_uint(r, what, v);
}

/* One event at r->pos into ev. At open: errors are reported and indefinite strings
 * joined; afterwards (ttlog_snapshot_next) the same walk cannot fail. */
static int decode_event(struct rd *r, ttlog_event *ev, bool at_open)
{
	const struct callsite *cs;
	struct cont a;
	uint64_t id, tid;
	size_t i;
	int err;

	if ((err = cont_begin(r, &a, M_ARRAY, 2, "entry")) < 0)
		return err;
	if (!a.indef && a.left < 3)
		return fail(r, "%" PRIu64 " items, not " EVENT_SHAPE, a.left);
	if ((err = next_uint(r, &a, "timestamp", EVENT_SHAPE, &ev->timestamp_ns)) < 0 ||
	    (err = next_uint(r, &a, "callsite id", EVENT_SHAPE, &id)) < 0 ||
	    (err = next_uint(r, &a, "thread id", EVENT_SHAPE, &tid)) < 0)
		return err;
	if (tid > UINT32_MAX)
		return fail(r, "thread id %" PRIu64 " does not fit 32 bits", tid);
	ev->thread_id = (uint32_t)tid;
	if ((cs = find_callsite(r->s, id)) == NULL)
		return fail(r, "unknown callsite id %" PRIu64, id);
	if (!a.indef && a.left != cs->nfields)
		return fail(r, "%" PRIu64 " values for the %u fields of callsite %" PRIu32, a.left,
			    cs->nfields, cs->id);
	ev->callsite_id = cs->id;
	ev->level = cs->level;
	ev->target = cs->target;
	ev->message = cs->message;
	ev->file = cs->file;
	ev->line = cs->line;
	ev->nfields = cs->nfields;
	for (i = 0; i < cs->nfields; i++) {
		if ((err = cont_more(r, &a)) < 0)
			return err;
		if (err == 0)
			return fail(r, "%zu values for the %u fields of callsite %" PRIu32, i,
				    cs->nfields, cs->id);
		if ((err = decode_value(r, cs, i, &ev->fields[i], at_open)) < 0)
			return err;
	}
	if ((err = cont_more(r, &a)) < 0)
		return err;
	if (err > 0)
		return fail(r, "more values than the %u fields of callsite %" PRIu32, cs->nfields,
			    cs->id);
	return 0;
}

static int parse_events(struct rd *r)
{
	ttlog_snapshot_file *s = r->s;
	ttlog_event scratch;
	struct cont a;
	size_t cap;
	int err;

	set_ctx(r, NULL);
	if ((err = cont_begin(r, &a, M_ARRAY, 1, "events")) < 0)
		return err;
	set_ctx(r, "events");
	cap = a.indef || a.left > 65536 ? 65536 : (size_t)a.left; /* as for callsites */
	if (cap > 0 && (s->ev_off = malloc(cap * sizeof *s->ev_off)) == NULL)
		return nomem(r);
	while ((err = cont_more(r, &a)) > 0) {
		if (s->nev == cap) {
			uint32_t *n = realloc(s->ev_off, 2 * cap * sizeof *n);
			if (n == NULL)
				return nomem(r);
			s->ev_off = n;
			cap *= 2;
		}
		set_ctx_idx(r, "event", s->nev);
		s->ev_off[s->nev] = (uint32_t)r->pos;
		if ((err = decode_event(r, &scratch, true)) < 0)
			return err;
		s->nev++;
	}
	return err;
}

/* The callsite of a validated event. */
static const struct callsite *event_callsite(const ttlog_snapshot_file *s, size_t idx)
{
	struct rd r = {.s = (ttlog_snapshot_file *)s, .p = s->data, .len = s->len, .quiet = true};
	struct cont a;
	uint64_t ts, id;

	r.pos = s->ev_off[idx];
	if (cont_begin(&r, &a, M_ARRAY, 2, "") < 0 || cont_more(&r, &a) <= 0 ||
	    get_uint(&r, "", &ts) < 0 || cont_more(&r, &a) <= 0 || get_uint(&r, "", &id) < 0)
		return NULL;
	return find_callsite(s, id);
}

static int parse_truncated(struct rd *r)
{
	ttlog_snapshot_file *s = r->s;
	const struct callsite *cs;
	struct cont a, pair;
	uint64_t ei, fi;
	size_t n = 0;
	int err;

	set_ctx(r, NULL);
	if ((err = cont_begin(r, &a, M_ARRAY, 1, "truncated")) < 0)
		return err;
	set_ctx(r, "truncated");
	while ((err = cont_more(r, &a)) > 0) {
		set_ctx_idx(r, "truncated", n++);
		if ((err = cont_begin(r, &pair, M_ARRAY, 2, "entry")) < 0)
			return err;
		if ((err = next_uint(r, &pair, "event index", TRUNCATED_SHAPE, &ei)) < 0 ||
		    (err = next_uint(r, &pair, "field index", TRUNCATED_SHAPE, &fi)) < 0 ||
		    (err = cont_more(r, &pair)) < 0)
			return err;
		if (err > 0)
			return fail(r, "more than %s", TRUNCATED_SHAPE);
		if (ei >= s->nev)
			return fail(r, "event index %" PRIu64 " out of range (%zu events)", ei,
				    s->nev);
		cs = event_callsite(s, (size_t)ei);
		if (cs == NULL || fi >= cs->nfields)
			return fail(r, "field index %" PRIu64 " out of range (event %" PRIu64
				       " has %u fields)", fi, ei, cs ? cs->nfields : 0);
		if (cs->types[fi] != TTLOG_TYPE_STR)
			return fail(r, "field %" PRIu64 " of event %" PRIu64 " is a %s, not a str",
				    fi, ei, ttlog_type_name(cs->types[fi]));
		if (s->trunc == NULL && (s->trunc = calloc(s->nev, 1)) == NULL)
			return nomem(r);
		s->trunc[ei] |= (uint8_t)(1u << fi);
	}
	return err;
}

enum { K_COUNTERS_LOGGED, K_COUNTERS_KEPT, K_COUNTERS_OVERWRITTEN, K_COUNTERS_DROPPED,
       K_COUNTERS_TRUNCATED, K_COUNTERS_IN_FLIGHT, K_COUNTERS_WRITTEN, K_COUNTERS_FAILURES,
       K_COUNTERS_CLIPPED, K_COUNTERS_TORN, K_COUNTERS_N };
static const char *const counter_keys[K_COUNTERS_N] = {
	"logged",    "kept",      "overwritten",       "dropped",
	"truncated", "in_flight", "snapshots_written", "snapshot_failures",
	"clipped",   "torn"};

static int parse_counters(struct rd *r)
{
	ttlog_snapshot_counters *c = &r->s->counters;
	uint64_t *dst[K_COUNTERS_N] = {&c->logged,   &c->kept,      &c->overwritten,
				       &c->dropped,  &c->truncated, &c->in_flight,
				       NULL,         NULL,          &c->clipped,
				       &r->s->torn};
	struct cont m;
	char key[32];
	size_t klen;
	unsigned seen = 0;
	uint64_t v;
	int err, k;

	set_ctx(r, NULL);
	if ((err = cont_begin(r, &m, M_MAP, 1, "counters")) < 0)
		return err;
	set_ctx(r, "counters");
	while ((err = cont_more(r, &m)) > 0) {
		if ((err = read_key(r, &m, key, &klen)) < 0)
			return err;
		k = key_index(key, klen, counter_keys, K_COUNTERS_N);
		if (k < 0) {
			err = skip(r, m.depth);
		} else if (seen & 1u << k) {
			return fail(r, "duplicate key '%s'", counter_keys[k]);
		} else {
			seen |= 1u << k;
			err = get_uint(r, counter_keys[k], &v);
			if (err == 0 && dst[k] != NULL)
				*dst[k] = v;
		}
		if (err < 0)
			return err;
	}
	if (err < 0)
		return err;
	for (k = 0; k <= K_COUNTERS_DROPPED; k++)
		if (k != K_COUNTERS_KEPT && !(seen & 1u << k))
			return fail(r, "missing key '%s'", counter_keys[k]);
	return 0;
}

static int parse_clock(struct rd *r)
{
	static const char *const keys[] = {"source", "ticks_per_sec"};
	struct cont m;
	struct item it;
	char key[32];
	size_t klen;
	unsigned seen = 0;
	const char *source;
	double d;
	int err, k;

	set_ctx(r, NULL);
	if ((err = cont_begin(r, &m, M_MAP, 1, "clock")) < 0)
		return err;
	set_ctx(r, "clock");
	while ((err = cont_more(r, &m)) > 0) {
		if ((err = read_key(r, &m, key, &klen)) < 0)
			return err;
		k = key_index(key, klen, keys, 2);
		if (k >= 0 && (seen & 1u << k))
			return fail(r, "duplicate key '%s'", keys[k]);
		if (k >= 0)
			seen |= 1u << k;
		if (k == 0) {
			err = get_cstr(r, "source", &source);
		} else if (k == 1) {
			if ((err = value_head(r, &it)) == 0 && !item_f64(&it, &d))
				return fail(r, "ticks_per_sec is %s, not a float", kind(&it));
		} else {
			err = skip(r, m.depth);
		}
		if (err < 0)
			return err;
	}
	return err;
}

enum { K_FORMAT, K_VERSION, K_SERVICE, K_HOSTNAME, K_PID, K_REASON, K_CREATED, K_VARIANT,
       K_CAPACITY, K_RECORD_SIZE, K_POLICY, K_CLOCK, K_COUNTERS, K_CALLSITES, K_EVENTS,
       K_TRUNCATED, K_CLIPPED_BEFORE, K_PARENT_PID, K_N };
static const char *const top_keys[K_N] = {
	"format",   "version",     "service", "hostname", "pid",      "reason",
	"created_ns", "variant",   "capacity", "record_size", "policy", "clock",
	"counters", "callsites",   "events",  "truncated", "clipped_before_ns", "parent_pid"};

static int parse_snapshot(ttlog_snapshot_file *s)
{
	struct rd r = {.s = s, .p = s->data, .len = s->len};
	size_t off[K_N], klen;
	unsigned seen = 0;
	struct cont m;
	char key[32], shown[28];
	uint64_t version;
	const char *policy;
	int err, k, idx;
	static const char *const ttlog_word[] = {"ttlog"};

	if (s->len == 0)
		return fail(&r, "no CBOR data in the LZ4 frame");
	/* pass 1: the whole item is well formed; where the known keys are */
	if ((err = cont_begin(&r, &m, M_MAP, 0, "the top-level item")) < 0)
		return err;
	while ((err = cont_more(&r, &m)) > 0) {
		if ((err = read_key(&r, &m, key, &klen)) < 0)
			return err;
		k = key_index(key, klen, top_keys, K_N);
		if (k >= 0 && (seen & 1u << k))
			return fail(&r, "duplicate key '%s'", top_keys[k]);
		if (k >= 0) {
			seen |= 1u << k;
			off[k] = r.pos;
		}
		if ((err = skip(&r, m.depth)) < 0)
			return err;
	}
	if (err < 0)
		return err;
	if (r.pos != r.len)
		return fail(&r, "%zu trailing byte%s after the CBOR item (at byte %zu)",
			    r.len - r.pos, r.len - r.pos == 1 ? "" : "s", r.pos);

	/* pass 2: the contents, identity first */
	if (!(seen & 1u << K_FORMAT))
		return fail(&r, "missing key 'format' (not a ttlog snapshot)");
	r.pos = off[K_FORMAT];
	if ((err = get_word(&r, "format", ttlog_word, 1, &idx, shown)) < 0)
		return err;
	if (idx != 0)
		return fail(&r, "format is \"%s\", not \"ttlog\"", shown);
	if (!(seen & 1u << K_VERSION))
		return fail(&r, "missing key 'version'");
	r.pos = off[K_VERSION];
	if ((err = get_uint(&r, "version", &version)) < 0)
		return err;
	if (version != 1)
		return fail(&r, "version %" PRIu64 " is not supported (only 1)", version);
	for (k = K_COUNTERS; k <= K_EVENTS; k++)
		if (!(seen & 1u << k))
			return fail(&r, "missing key '%s'", top_keys[k]);

	s->service = s->hostname = s->reason = s->variant = "";
	for (k = K_SERVICE; k < K_N; k++) {
		if (!(seen & 1u << k))
			continue;
		r.pos = off[k];
		set_ctx(&r, NULL);
		switch (k) {
		case K_SERVICE: err = get_cstr(&r, "service", &s->service); break;
		case K_HOSTNAME: err = get_cstr(&r, "hostname", &s->hostname); break;
		case K_REASON: err = get_cstr(&r, "reason", &s->reason); break;
		case K_VARIANT: err = get_cstr(&r, "variant", &s->variant); break;
		case K_POLICY: err = get_cstr(&r, "policy", &policy); break;
		case K_PID: err = get_uint(&r, "pid", &s->pid); break;
		case K_PARENT_PID: err = get_uint(&r, "parent_pid", &s->parent_pid); break;
		case K_CREATED: err = get_uint(&r, "created_ns", &s->created_ns); break;
		case K_CAPACITY: err = get_uint(&r, "capacity", &s->capacity); break;
		case K_RECORD_SIZE: err = get_uint(&r, "record_size", &version); break;
		case K_CLOCK: err = parse_clock(&r); break;
		case K_COUNTERS: err = parse_counters(&r); break;
		case K_CALLSITES: err = parse_callsites(&r); break;
		case K_EVENTS:
			/* callsites (k before) are in: events can refer to them */
			err = parse_events(&r);
			break;
		case K_TRUNCATED: err = parse_truncated(&r); break; /* after events */
		case K_CLIPPED_BEFORE:
			err = get_uint(&r, "clipped_before_ns", &s->clipped_before_ns);
			break;
		default: break;
		}
		if (err < 0)
			return err;
	}
	return 0;
}

/* ---- the LZ4 frame --------------------------------------------------------------- */

static uint64_t reader_limit(size_t compressed)
{
	uint64_t lim = TTLOG_READER_MAX_BYTES, ratio = 255 * (uint64_t)compressed + (64 << 10);
	const char *e = getenv("TTLOG_READER_MAX_BYTES");

	if (e != NULL && *e >= '0' && *e <= '9') {
		char *end;
		int saved = errno;
		unsigned long long v;

		errno = 0;
		v = strtoull(e, &end, 10);
		if (errno == 0 && *end == '\0' && v < lim)
			lim = v; /* it can only lower the limit */
		errno = saved;
	}
	return lim < ratio ? lim : ratio;
}

static int decompress(const unsigned char *src, size_t n, unsigned char **out, size_t *outlen)
{
	LZ4F_dctx *dctx = NULL;
	LZ4F_frameInfo_t fi;
	unsigned char *buf = NULL, *nb;
	size_t cap, dpos = 0, spos, ret, dsz, ssz;
	uint64_t limit, guess;
	int err, stalls = 0;

	if (n == 0) {
		set_err("empty file");
		return -EINVAL;
	}
	if (n < 4 || (src[0] | src[1] << 8 | src[2] << 16 | (uint32_t)src[3] << 24) != LZ4_MAGIC) {
		set_err("not an LZ4 frame");
		return -EINVAL;
	}
	if (n > READER_MAX_FILE) {
		set_err("file is %zu bytes, over the limit of %zu", n, READER_MAX_FILE);
		return -EFBIG;
	}
	limit = reader_limit(n);
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
		set_err("out of memory");
		return -ENOMEM;
	}
	spos = n;
	ret = LZ4F_getFrameInfo(dctx, &fi, src, &spos);
	if (LZ4F_isError(ret)) {
		set_err("bad LZ4 frame header: %s", LZ4F_getErrorName(ret));
		err = -EINVAL;
		goto out;
	}
	if (fi.contentSize > limit) {
		set_err("decompressed size %llu is over the limit of %" PRIu64 " bytes",
			fi.contentSize, limit);
		err = -EFBIG;
		goto out;
	}
	/* room for one byte past the limit: reaching it proves the frame is too big */
	guess = fi.contentSize > 0 ? fi.contentSize : 4 * (uint64_t)n + (64 << 10);
	cap = (size_t)(guess < limit ? guess + 1 : limit + 1);
	if ((buf = malloc(cap)) == NULL) {
		set_err("out of memory");
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (dpos == cap) {
			size_t ncap = (uint64_t)cap * 2 > limit + 1 ? (size_t)limit + 1 : cap * 2;
			if ((nb = realloc(buf, ncap)) == NULL) {
				set_err("out of memory");
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		dsz = cap - dpos;
		ssz = n - spos;
		ret = LZ4F_decompress(dctx, buf + dpos, &dsz, src + spos, &ssz, NULL);
		if (LZ4F_isError(ret)) {
			set_err("bad LZ4 data: %s", LZ4F_getErrorName(ret));
			err = -EINVAL;
			goto out;
		}
		dpos += dsz;
		spos += ssz;
		if (dpos > limit) {
			set_err("decompressed size is over the limit of %" PRIu64 " bytes", limit);
			err = -EFBIG;
			goto out;
		}
		if (ret == 0)
			break;
		if (dsz == 0 && spos == n) {
			set_err("truncated LZ4 frame (%zu bytes)", n);
			err = -EINVAL;
			goto out;
		}
		/* with input and room left the decoder always advances; never spin if not */
		stalls = dsz == 0 && ssz == 0 ? stalls + 1 : 0;
		if (stalls > 2) {
			set_err("LZ4 decoder makes no progress at byte %zu", spos);
			err = -EINVAL;
			goto out;
		}
	}
	if (spos != n) {
		set_err("%zu bytes after the LZ4 frame", n - spos);
		err = -EINVAL;
		goto out;
	}
	if (dpos + 1 < cap && (nb = realloc(buf, dpos ? dpos : 1)) != NULL)
		buf = nb;
	*out = buf;
	*outlen = dpos;
	buf = NULL;
	err = 0;
out:
	free(buf);
	LZ4F_freeDecompressionContext(dctx);
	return err;
}

/* ---- the API --------------------------------------------------------------------- */

static int open_bytes(const unsigned char *src, size_t n, ttlog_snapshot_file **out)
{
	ttlog_snapshot_file *s = calloc(1, sizeof *s);
	int err;

	if (s == NULL) {
		set_err("out of memory");
		return -ENOMEM;
	}
	if ((err = decompress(src, n, &s->data, &s->len)) < 0 ||
	    (err = parse_snapshot(s)) < 0) {
		ttlog_snapshot_close(s);
		return err;
	}
	*out = s;
	return 0;
}

TTLOG_API int ttlog_snapshot_open_mem(const void *data, size_t len, ttlog_snapshot_file **out)
{
	reader_err[0] = '\0';
	if (out == NULL || (data == NULL && len > 0)) {
		set_err("invalid argument");
		return -EINVAL;
	}
	*out = NULL;
	return open_bytes(data, len, out);
}

TTLOG_API int ttlog_snapshot_open(const char *path, ttlog_snapshot_file **out)
{
	unsigned char *buf = NULL, *nb;
	size_t len = 0, cap;
	struct stat st;
	int fd, err;
	ssize_t got;

	reader_err[0] = '\0';
	if (out == NULL || path == NULL) {
		set_err("invalid argument");
		return -EINVAL;
	}
	*out = NULL;
	/* O_NONBLOCK: opening a FIFO without a writer would wait for one forever; the file
	 * type is checked before any read */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
		err = -errno;
		set_err("%s", strerror(-err));
		return err;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		set_err("%s", strerror(-err));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		set_err("%s", strerror(EISDIR));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) { /* a read could block, or never end (/dev/zero) */
		err = -EINVAL;
		set_err("not a regular file (%s)",
			S_ISFIFO(st.st_mode)   ? "a FIFO"
			: S_ISCHR(st.st_mode)  ? "a character device"
			: S_ISBLK(st.st_mode)  ? "a block device"
			: S_ISSOCK(st.st_mode) ? "a socket"
					       : "its type is unknown");
		goto out;
	}
	if ((uint64_t)st.st_size > READER_MAX_FILE) {
		err = -EFBIG;
		set_err("file is %lld bytes, over the limit of %zu", (long long)st.st_size,
			READER_MAX_FILE);
		goto out;
	}
	/* the size is a hint: the file may change */
	cap = (size_t)st.st_size + 1;
	for (;;) {
		if (len == cap) {
			if (cap > READER_MAX_FILE) {
				err = -EFBIG;
				set_err("file is over the limit of %zu bytes", READER_MAX_FILE);
				goto out;
			}
			cap = cap * 2 > READER_MAX_FILE + 1 ? READER_MAX_FILE + 1 : cap * 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				err = -ENOMEM;
				set_err("out of memory");
				goto out;
			}
			buf = nb;
		} else if (buf == NULL && (buf = malloc(cap)) == NULL) {
			err = -ENOMEM;
			set_err("out of memory");
			goto out;
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			set_err("read: %s", strerror(-err));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > READER_MAX_FILE) {
		err = -EFBIG;
		set_err("file is over the limit of %zu bytes", READER_MAX_FILE);
		goto out;
	}
	err = open_bytes(buf, len, out);
out:
	free(buf);
	close(fd);
	return err;
}

TTLOG_API void ttlog_snapshot_close(ttlog_snapshot_file *s)
{
	struct arena_chunk *c, *next;

	if (s == NULL)
		return;
	for (c = s->arena; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(s->data);
	free(s->cs);
	free(s->ev_off);
	free(s->trunc);
	free(s->spill);
	free(s->gaps);
	free(s);
}

TTLOG_API const char *ttlog_reader_errmsg(void)
{
	return reader_err;
}

TTLOG_API const char *ttlog_snapshot_service(const ttlog_snapshot_file *s)
{
	return s ? s->service : "";
}

TTLOG_API const char *ttlog_snapshot_hostname(const ttlog_snapshot_file *s)
{
	return s ? s->hostname : "";
}

TTLOG_API const char *ttlog_snapshot_reason(const ttlog_snapshot_file *s)
{
	return s ? s->reason : "";
}

TTLOG_API const char *ttlog_snapshot_variant(const ttlog_snapshot_file *s)
{
	return s ? s->variant : "";
}

TTLOG_API uint64_t ttlog_snapshot_parent_pid(const ttlog_snapshot_file *s)
{
	return s->parent_pid;
}

TTLOG_API uint64_t ttlog_snapshot_torn(const ttlog_snapshot_file *s)
{
	return s->torn;
}

TTLOG_API uint64_t ttlog_snapshot_pid(const ttlog_snapshot_file *s)
{
	return s ? s->pid : 0;
}

TTLOG_API uint64_t ttlog_snapshot_created_ns(const ttlog_snapshot_file *s)
{
	return s ? s->created_ns : 0;
}

TTLOG_API uint64_t ttlog_snapshot_capacity(const ttlog_snapshot_file *s)
{
	return s ? s->capacity : 0;
}

TTLOG_API uint64_t ttlog_snapshot_clipped_before_ns(const ttlog_snapshot_file *s)
{
	return s ? s->clipped_before_ns : 0;
}

TTLOG_API void ttlog_snapshot_get_counters(const ttlog_snapshot_file *s,
					   ttlog_snapshot_counters *c)
{
	if (c == NULL)
		return;
	if (s == NULL)
		memset(c, 0, sizeof *c);
	else
		*c = s->counters;
}

TTLOG_API size_t ttlog_snapshot_event_count(const ttlog_snapshot_file *s)
{
	return s ? s->nev : 0;
}

TTLOG_API void ttlog_snapshot_rewind(ttlog_snapshot_file *s)
{
	if (s != NULL)
		s->cursor = 0;
}

TTLOG_API int ttlog_snapshot_next(ttlog_snapshot_file *s, ttlog_event *ev)
{
	struct rd r;
	size_t i;

	if (s == NULL || ev == NULL || s->cursor >= s->nev)
		return 0;
	memset(ev, 0, sizeof *ev);
	r = (struct rd){.s = s, .p = s->data, .len = s->len, .pos = s->ev_off[s->cursor],
			.quiet = true};
	if (decode_event(&r, ev, false) < 0) {
		s->cursor = s->nev; /* cannot happen: open decoded this event already */
		return 0;
	}
	if (s->trunc != NULL)
		for (i = 0; i < ev->nfields; i++)
			ev->fields[i].truncated = (s->trunc[s->cursor] >> i) & 1;
	s->cursor++;
	return 1;
}

/* ---- rendering ------------------------------------------------------------------- */

struct sink {
	char *buf;
	size_t cap, n; /* n: the full length so far, even past cap */
};

static void sink_put(struct sink *o, const char *p, size_t k)
{
	if (o->cap > 0 && o->n < o->cap - 1) {
		size_t room = o->cap - 1 - o->n;
		memcpy(o->buf + o->n, p, k < room ? k : room);
	}
	o->n += k;
}

static void put_field(struct sink *o, const ttlog_field *f)
{
	char tmp[64];
	int k = 0;

	switch (f->type) {
	case TTLOG_TYPE_U64: k = snprintf(tmp, sizeof tmp, "%" PRIu64, f->v.u64); break;
	case TTLOG_TYPE_I64: k = snprintf(tmp, sizeof tmp, "%" PRId64, f->v.i64); break;
	case TTLOG_TYPE_F64: k = snprintf(tmp, sizeof tmp, "%g", f->v.f64); break;
	case TTLOG_TYPE_BOOL: k = snprintf(tmp, sizeof tmp, "%s", f->v.b ? "true" : "false"); break;
	case TTLOG_TYPE_STR: sink_put(o, f->v.str.ptr, f->v.str.len); return;
	default: k = snprintf(tmp, sizeof tmp, "?"); break;
	}
	if (k > 0)
		sink_put(o, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

TTLOG_API size_t ttlog_event_render(const ttlog_event *ev, char *buf, size_t len)
{
	struct sink o = {.buf = buf, .cap = buf ? len : 0, .n = 0};
	const char *m, *p;
	size_t next = 0;

	if (ev == NULL || ev->message == NULL) {
		if (o.cap > 0)
			buf[0] = '\0';
		return 0;
	}
	m = ev->message;
	while ((p = strstr(m, "{}")) != NULL) {
		sink_put(&o, m, (size_t)(p - m));
		if (next < ev->nfields && next < TTLOG_MAX_FIELDS)
			put_field(&o, &ev->fields[next++]);
		else
			sink_put(&o, "{}", 2);
		m = p + 2;
	}
	sink_put(&o, m, strlen(m));
	if (o.cap > 0)
		buf[o.n < o.cap ? o.n : o.cap - 1] = '\0';
	return o.n;
}

TTLOG_API const char *ttlog_level_name(int level)
{
	static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};

	return level >= 0 && level <= TTLOG_LEVEL_FATAL ? names[level] : "?";
}

TTLOG_API const char *ttlog_type_name(int type)
{
	return type >= TTLOG_TYPE_U64 && type <= TTLOG_TYPE_STR ? type_words[type - 1] : "?";
}

/* ---- the callsite dictionary, and keys without an accessor ------------------------ */

TTLOG_API size_t ttlog_snapshot_callsite_count(const ttlog_snapshot_file *s)
{
	return s ? s->ncs : 0;
}

TTLOG_API int ttlog_snapshot_callsite(const ttlog_snapshot_file *s, size_t i,
				      ttlog_callsite_info *out)
{
	const struct callsite *cs;

	if (s == NULL || out == NULL || i >= s->ncs)
		return -EINVAL;
	cs = &s->cs[i];
	memset(out, 0, sizeof *out);
	out->id = cs->id;
	out->line = cs->line;
	out->level = cs->level;
	out->target = cs->target;
	out->message = cs->message;
	out->file = cs->file;
	out->nfields = cs->nfields;
	for (size_t k = 0; k < cs->nfields; k++) {
		out->names[k] = cs->names[k];
		out->types[k] = cs->types[k];
	}
	return 0;
}

/* Position r at the value of key ("name" at the top level, "counters.name" in counters):
 * 1 found, 0 absent. The file was validated at open: this walk cannot meet bad CBOR, and
 * is quiet anyway so that it leaves the thread's error message alone. */
static int find_meta(const ttlog_snapshot_file *s, const char *key, struct rd *r)
{
	const char *dot = strchr(key, '.');
	const char *want = key;
	size_t wlen = dot ? (size_t)(dot - key) : strlen(key);
	struct cont m;
	int depth = 0, err;

	/* the walk only reads: no arena allocation happens on this path */
	*r = (struct rd){.s = (ttlog_snapshot_file *)s, .p = s->data, .len = s->len, .quiet = true};
	if (dot != NULL && !(wlen == 8 && memcmp(key, "counters", 8) == 0) &&
	    !(wlen == 7 && memcmp(key, "trigger", 7) == 0))
		return 0;
	for (;;) {
		if ((err = cont_begin(r, &m, M_MAP, depth, "map")) < 0)
			return err;
		for (;;) {
			struct item it;
			struct text t;
			bool match = false;
			size_t start = r->pos;

			if ((err = cont_more(r, &m)) <= 0)
				return err;
			if ((err = value_head(r, &it)) < 0)
				return err;
			if (it.major == M_TEXT) {
				if ((err = read_string(r, &it, &t)) < 0)
					return err;
				if (t.len == wlen && !t.indef)
					match = memcmp(t.ptr, want, wlen) == 0;
				else if (t.len == wlen && wlen < 64) {
					char tmp[64];
					text_copy(r, &t, tmp);
					match = memcmp(tmp, want, wlen) == 0;
				}
			} else {
				r->pos = start;
				if ((err = skip(r, m.depth)) < 0)
					return err;
			}
			if (match)
				break;
			if ((err = skip(r, m.depth)) < 0)
				return err;
		}
		if (dot == NULL || want != key)
			return 1;
		want = dot + 1; /* into counters */
		wlen = strlen(want);
		depth = 1;
	}
}

TTLOG_API int ttlog_snapshot_meta_u64(const ttlog_snapshot_file *s, const char *key,
				      uint64_t *v)
{
	struct rd r;
	struct item it;
	int err;

	if (s == NULL || key == NULL || v == NULL)
		return -EINVAL;
	if ((err = find_meta(s, key, &r)) <= 0)
		return err;
	if ((err = value_head(&r, &it)) < 0)
		return err;
	if (it.major != M_UINT)
		return -EINVAL;
	*v = it.val;
	return 1;
}

TTLOG_API int ttlog_snapshot_meta_text(const ttlog_snapshot_file *s, const char *key,
				       char *buf, size_t len)
{
	struct rd r;
	struct item it;
	struct text t;
	int err;

	if (s == NULL || key == NULL || buf == NULL || len == 0)
		return -EINVAL;
	if ((err = find_meta(s, key, &r)) <= 0)
		return err;
	if ((err = value_head(&r, &it)) < 0)
		return err;
	if (it.major != M_TEXT)
		return -EINVAL;
	if ((err = read_string(&r, &it, &t)) < 0)
		return err;
	if (t.len >= len)
		return -ERANGE;
	text_copy(&r, &t, buf);
	buf[t.len] = '\0';
	if (memchr(buf, '\0', t.len) != NULL) {
		buf[0] = '\0';
		return -EINVAL;
	}
	return 1;
}

/* ---- gap records (docs/snapshot-format.md, "gaps") ---------------------------------- */

static const char *gap_kind(const char *k, size_t len)
{
	static const char *const kinds[] = {"overwritten", "dropped", "clipped"};

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (strlen(kinds[i]) == len && memcmp(kinds[i], k, len) == 0)
			return kinds[i];
	return "other"; /* a kind a later writer adds */
}

/* Walk the "gaps" array to element i (i = UINT64_MAX: only count): 1 with *g filled, 0
 * past the end or no gaps, a negative errno on a malformed array. *n: its length. With
 * all, each record is also stored there (all[k]), *filled counting them. */
static int gap_walk(const ttlog_snapshot_file *s, uint64_t i, ttlog_gap *g, uint64_t *n,
		    ttlog_gap *all, size_t *filled)
{
	static const char *const keys[] = {"kind",  "count",     "index",   "shard",
					   "tid",   "before_ns", "after_ns"};
	struct rd r;
	struct cont a, m;
	int err;

	*n = 0;
	if ((err = find_meta(s, "gaps", &r)) <= 0)
		return err;
	if ((err = cont_begin(&r, &a, M_ARRAY, 1, "gaps")) < 0)
		return err;
	for (uint64_t k = 0; (err = cont_more(&r, &a)) > 0; k++) {
		ttlog_gap x = {.kind = "other", .shard = -1};
		uint64_t v;
		(*n)++;
		if ((err = cont_begin(&r, &m, M_MAP, 2, "gap")) < 0)
			return err;
		while ((err = cont_more(&r, &m)) > 0) {
			char key[32];
			size_t klen;
			if ((err = read_key(&r, &m, key, &klen)) < 0)
				return err;
			int ki = key_index(key, klen, keys, 7);
			if (ki == 0) {
				struct item it;
				struct text t;
				char buf[32];
				if ((err = value_head(&r, &it)) < 0)
					return err;
				if (it.major != M_TEXT)
					return -EBADMSG;
				if ((err = read_string(&r, &it, &t)) < 0)
					return err;
				if (t.len < sizeof buf) {
					text_copy(&r, &t, buf);
					x.kind = gap_kind(buf, t.len);
				}
			} else if (ki > 0) {
				if ((err = get_uint(&r, keys[ki], &v)) < 0)
					return err;
				if (ki == 1)
					x.count = v;
				else if (ki == 2)
					x.index = v;
				else if (ki == 3)
					x.shard = v > INT64_MAX ? -1 : (int64_t)v;
				else if (ki == 4)
					x.tid = v > UINT32_MAX ? 0 : (uint32_t)v;
				else if (ki == 5)
					x.before_ns = v;
				else
					x.after_ns = v;
			} else if ((err = skip(&r, m.depth)) < 0) {
				return err;
			}
		}
		if (err < 0)
			return err;
		if (x.index > s->nev)
			x.index = s->nev; /* a hostile index: at the end */
		if (all != NULL)
			all[(*filled)++] = x;
		if (k == i) {
			*g = x;
			return 1;
		}
	}
	return err < 0 ? err : 0;
}

/* Read the gap records into the handle, once: a count, then the records. */
static void gaps_read(const ttlog_snapshot_file *cs)
{
	ttlog_snapshot_file *s = (ttlog_snapshot_file *)cs; /* a cache: one thread per handle */
	uint64_t n = 0;
	int err;

	if (s->gaps_read)
		return;
	s->gaps_read = true;
	err = gap_walk(s, UINT64_MAX, NULL, &n, NULL, NULL);
	s->gaps_seen = (size_t)n;
	if (n == 0) {
		s->gaps_err = err < 0 ? err : 0;
		return;
	}
	if ((s->gaps = malloc((size_t)n * sizeof *s->gaps)) == NULL) {
		s->gaps_err = -ENOMEM;
		s->gaps_seen = 0;
		return;
	}
	err = gap_walk(s, UINT64_MAX, NULL, &n, s->gaps, &s->ngaps);
	s->gaps_err = err < 0 ? err : 0;
}

TTLOG_API size_t ttlog_snapshot_gap_count(const ttlog_snapshot_file *s)
{
	if (s == NULL)
		return 0;
	gaps_read(s);
	return s->gaps_err < 0 ? 0 : s->gaps_seen;
}

TTLOG_API int ttlog_snapshot_gap(const ttlog_snapshot_file *s, size_t i, ttlog_gap *g)
{
	if (s == NULL || g == NULL)
		return -EINVAL;
	gaps_read(s);
	if (i < s->ngaps) {
		*g = s->gaps[i];
		return 0;
	}
	return s->gaps_err < 0 ? s->gaps_err : -ERANGE;
}
