/*
 * record.h - the fixed-size record a log call writes and the static callsite record it
 * refers to. Included by ttlog.h for the log macros; not an API of its own: the layout
 * may change between versions (TTLOG_RECORD_SIZE is checked at link time).
 */
#ifndef TTLOG_RECORD_H
#define TTLOG_RECORD_H

#include <stdint.h>
#include <string.h>

/*
 * Bytes per ring slot, compile-time configurable (64 or 128). A slot holds an 8-byte
 * sequence word used by the ring, the 24-byte record header and the packed field values,
 * so a 64-byte slot leaves 40 bytes for values: a u64, a bool and a 30-byte string fit.
 * Bigger slots keep longer strings at the cost of memory and cache traffic per event.
 * A program and the libttlog it links must agree: the commit symbol carries the size.
 */
#ifndef TTLOG_RECORD_SIZE
#define TTLOG_RECORD_SIZE 64
#endif
#if TTLOG_RECORD_SIZE != 64 && TTLOG_RECORD_SIZE != 128
#error "TTLOG_RECORD_SIZE must be 64 or 128"
#endif
#define TTLOG_PAYLOAD_SIZE (TTLOG_RECORD_SIZE - 24)

/* High bit of ttlog_record.callsite: a string field of this event was truncated. */
#define TTLOG_REC_TRUNCATED 0x80000000u
#define TTLOG_REC_ID_MASK 0x00ffffffu
/* High bit of a string's length byte: this string was truncated. */
#define TTLOG_STR_TRUNCATED 0x80u

/*
 * What a log call site knows at compile time. One static instance per call site; the
 * library assigns id on the first event (written once, read with acquire). Builder
 * events get a callsite in the interner with the same layout.
 */
struct ttlog_callsite {
	uint32_t id; /* 0 until registered; written by the library only */
	uint8_t level;
	uint8_t nfields;
	uint8_t types[8]; /* enum ttlog_type, nfields of them */
	const char *target;
	const char *message;
	const char *file;
	uint32_t line;
	const char *const *names; /* nfields field names */
};

/* The record: 8-byte aligned, TTLOG_RECORD_SIZE - 8 bytes (the ring adds its sequence). */
struct ttlog_record {
	uint64_t ts;       /* clock ticks (see core/clock.c), set by the library */
	uint32_t callsite; /* callsite id | TTLOG_REC_TRUNCATED */
	uint32_t tid;      /* kernel thread id, set by the library */
	unsigned char data[TTLOG_PAYLOAD_SIZE]; /* values in the callsite's field order:
		u64/i64/f64 8 bytes (native order), bool 1 byte, str 1 length byte + bytes */
};
/* C11 and C++11 spell the compile-time check differently; the header serves both */
#ifdef __cplusplus
#define TTLOG__STATIC_ASSERT(c, msg) static_assert(c, msg)
#else
#define TTLOG__STATIC_ASSERT(c, msg) _Static_assert(c, msg)
#endif
TTLOG__STATIC_ASSERT(sizeof(struct ttlog_record) == TTLOG_RECORD_SIZE - 8, "record size");

/* ---- packing, inlined into the log call ---- */

static inline unsigned char *ttlog__put8(unsigned char *p, const void *v)
{
	memcpy(p, v, 8);
	return p + 8;
}

/* Copy s into the record, at most *avail bytes; a cut string is flagged, and the cut is
 * moved back to a UTF-8 character boundary so the text stays valid. */
static inline unsigned char *ttlog__put_str(unsigned char *p, const char *s, size_t *avail,
					    uint32_t *flags)
{
	size_t n = 0, max = *avail;
	unsigned char trunc = 0;

	if (s == NULL)
		s = "(null)";
	/* a string literal's length is known where the call is compiled: no loop then */
	if (__builtin_constant_p(__builtin_strlen(s)) && __builtin_strlen(s) <= max)
		n = __builtin_strlen(s);
	else
		while (n <= max && s[n] != '\0')
			n++;
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		trunc = TTLOG_STR_TRUNCATED;
		*flags |= TTLOG_REC_TRUNCATED;
	}
	*p++ = (unsigned char)((unsigned char)n | trunc);
	memcpy(p, s, n);
	*avail -= n;
	return p + n;
}

#endif /* TTLOG_RECORD_H */
