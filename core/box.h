/*
 * box.h - the black box's file layout (docs/blackbox-format.md), shared by the writer
 * (box.c) and the recoverer (recover.c). Every integer is native-endian: a box is read
 * back on the machine that wrote it. Offsets are from the start of the file.
 */
#ifndef TTLOG_CORE_BOX_H
#define TTLOG_CORE_BOX_H

#include <stdatomic.h>
#include <stdint.h>

#define TTLOG_BOX_MAGIC "TTLOGBOX"
#define TTLOG_BOX_VERSION 1
#define TTLOG_BOX_HEADER 8192          /* the header's bytes, page-aligned */
#define TTLOG_BOX_SEG_MAX 8192         /* segment table entries */
#define TTLOG_BOX_CS_BYTES (12u << 20) /* the callsite dictionary region */
#define TTLOG_BOX_SUFFIX ".box"

/*
 * The header: written once by box_open before the box is in use, except the fields
 * marked "running", which the process updates while it lives (atomics in the mapping).
 */
struct ttlog__box_hdr {
	char magic[8];        /* TTLOG_BOX_MAGIC, no NUL */
	uint32_t version;     /* TTLOG_BOX_VERSION */
	uint32_t header_size; /* TTLOG_BOX_HEADER */
	uint64_t file_size;   /* the size the file was given (sparse) */
	uint32_t record_size; /* TTLOG_RECORD_SIZE: bytes per slot */
	uint32_t policy;      /* enum ttlog_policy */
	int32_t pid;          /* the process, and the one it was forked from (0: none) */
	int32_t parent_pid;
	uint64_t start_time; /* /proc/<pid>/stat field 22: clock ticks after boot */
	uint64_t capacity;   /* the ring's capacity (after rounding) */
	uint32_t clock_tsc;  /* 1: record timestamps are TSC ticks; 0: realtime ns */
	uint32_t uid;        /* owner, informative */
	double ticks_per_ns; /* calibration: ns = anchor_ns + (ts - anchor_ticks) / rate */
	uint64_t anchor_ticks;
	uint64_t anchor_ns;
	uint64_t created_ns; /* when the box was made (realtime ns) */
	uint64_t seg_off;    /* segment table: seg_max entries of struct ttlog__box_seg */
	uint32_t seg_max;
	uint32_t pad0;
	uint64_t cs_off; /* callsite dictionary: cs_size bytes */
	uint64_t cs_size;
	uint64_t ring_off; /* ring memory: ring_size bytes, carved as rings need it */
	uint64_t ring_size;
	/* running: segments registered (entries [0, seg_count) were claimed; each is valid
	 * once its state says so) */
	_Atomic uint32_t seg_count;
	uint32_t pad1;
	/* running: bytes of the callsite dictionary claimed */
	_Atomic uint64_t cs_top;
	/* running: events lost outside the rings (callsite table or interner full) and
	 * events with a truncated string */
	_Atomic uint64_t dropped_extra;
	_Atomic uint64_t truncated;
	char service[64]; /* NUL-terminated strings */
	char hostname[256];
	char variant[32];
	char snapshot_dir[3008]; /* the process's snapshot directory */
	/* running: a newer calibration (each live snapshot refines it), written into the
	 * anchor that is not current, then made current: a death in the middle of an update
	 * leaves the other one whole. anchor_cur 0: the fields above, 1: these */
	double ticks_per_ns1;
	uint64_t anchor_ticks1;
	uint64_t anchor_ns1;
	_Atomic uint32_t anchor_cur;
};
_Static_assert(sizeof(struct ttlog__box_hdr) <= TTLOG_BOX_HEADER, "header fits its page");

/* Segment kinds: how a segment's slots say what they hold (docs/blackbox-format.md). */
enum {
	TTLOG_BOX_SEG_MPMC = 1,   /* seq p + 1 holds p; p claimed (in flight) */
	TTLOG_BOX_SEG_SPSC = 2,   /* seq p + 1 holds p; p being written */
	TTLOG_BOX_SEG_PERCPU = 3, /* seq p + 1 holds p; bit 63 busy, bit 62 popped */
};
#define TTLOG_BOX_SEG_RSEQ 1u /* percpu: pushes are rseq sequences (else CAS fallback) */
#define TTLOG_BOX_SEG_VALID 0x5e6d0a11u

/* One ring segment: a run of slots with its positions and loss counters. */
struct ttlog__box_seg {
	_Atomic uint32_t state; /* TTLOG_BOX_SEG_VALID once the entry is complete */
	uint32_t kind;
	uint32_t flags;
	uint32_t pad;
	uint64_t nslots;                      /* a power of two */
	uint64_t pos0;                        /* the first position (percpu: nslots) */
	uint64_t slots;                       /* offset of nslots slots of record_size bytes */
	uint64_t tail, head, popped, dropped; /* offsets of 64-bit counters */
	uint64_t busy; /* offset of a 32-bit push-in-progress flag, 0: none */
};

/*
 * A callsite dictionary entry, 8-aligned, entries one after another from cs_off. commit
 * is written last: the FNV-1a hash of the bytes after it (size included), with the low
 * bit set, so that a torn entry (or a never-written one) does not match.
 */
struct ttlog__box_cs {
	_Atomic uint64_t commit;
	uint32_t size; /* the whole entry, 8-aligned */
	uint32_t id;
	uint32_t line;
	uint8_t level;
	uint8_t nfields;
	uint8_t types[8];
	uint8_t pad[2];
	/* then NUL-terminated: target, message, file, nfields names */
};

static inline uint64_t ttlog__box_hash(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h | 1;
}

#endif /* TTLOG_CORE_BOX_H */
