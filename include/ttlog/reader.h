/*
 * reader.h - read ttlog snapshot files (docs/snapshot-format.md).
 *
 * Any file is safe to open: a malformed, truncated or hostile file makes
 * ttlog_snapshot_open() return a negative errno (-EINVAL for a bad format, -EFBIG for a
 * file or decompressed size over the limit, -EIO/-ENOENT/... from the system) with a
 * message, never a crash; memory use is bounded by TTLOG_READER_MAX_BYTES of
 * decompressed data. A handle is used by one thread at a time; different handles are
 * independent. Nothing here is async-signal-safe.
 */
#ifndef TTLOG_READER_H
#define TTLOG_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ttlog/ttlog.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Largest decompressed snapshot a reader accepts (1 GiB). A file is also refused
 * (-EFBIG) when it is over 256 MiB, or when it decompresses to more than
 * 255 * its size + 64 KiB (beyond LZ4's best ratio: a decompression bomb).
 * The environment variable TTLOG_READER_MAX_BYTES (decimal bytes), read by each open,
 * can lower this limit, never raise it; tests use it to try the limit cheaply.
 */
#define TTLOG_READER_MAX_BYTES (1ull << 30)

typedef struct ttlog_snapshot_file ttlog_snapshot_file;

typedef struct ttlog_field {
	const char *name;
	int type;         /* enum ttlog_type */
	bool truncated;   /* a str cut to fit the record */
	union {
		uint64_t u64;
		int64_t i64;
		double f64;
		bool b;
		struct {
			const char *ptr; /* not NUL-terminated */
			size_t len;
		} str;
	} v;
} ttlog_field;

typedef struct ttlog_event {
	uint64_t timestamp_ns; /* since the Unix epoch */
	uint32_t thread_id;
	uint32_t callsite_id;
	int level;             /* enum ttlog_level 0..5, or up to 255 (see ttlog_level_name) */
	const char *target;
	const char *message;   /* raw, with its {} placeholders */
	const char *file;
	uint32_t line;
	size_t nfields;
	ttlog_field fields[TTLOG_MAX_FIELDS];
} ttlog_event;

/* Counters of the snapshot (docs/snapshot-format.md, "counters"):
 * logged = kept + clipped + overwritten + dropped. clipped: events the ring held that
 * snapshot_clip left out (0 in files written without the key). */
typedef struct ttlog_snapshot_counters {
	uint64_t logged, kept, overwritten, dropped, truncated, in_flight;
	uint64_t clipped;
} ttlog_snapshot_counters;

/*
 * Open and validate a snapshot file (the whole file is decoded and checked here, so
 * iteration cannot fail later). On success *out is a handle to close; on failure *out is
 * NULL, the return is a negative errno and ttlog_reader_errmsg() says what is wrong.
 * The strings returned by the accessors below live until ttlog_snapshot_close().
 * Only a regular file is read: a FIFO, a device or a socket is refused (-EINVAL, "not a
 * regular file (a FIFO)") without blocking, since reading it could wait forever or never
 * end; -EISDIR for a directory. To read a pipe, read it yourself and use
 * ttlog_snapshot_open_mem().
 */
TTLOG_API int ttlog_snapshot_open(const char *path, ttlog_snapshot_file **out);
/* The same, from a file already in memory (the bytes are copied). */
TTLOG_API int ttlog_snapshot_open_mem(const void *data, size_t len, ttlog_snapshot_file **out);
TTLOG_API void ttlog_snapshot_close(ttlog_snapshot_file *snap);

/* The last open failure of this thread, as "what: why" ("" if none; each open clears it). */
TTLOG_API const char *ttlog_reader_errmsg(void);

/* Metadata. */
TTLOG_API const char *ttlog_snapshot_service(const ttlog_snapshot_file *snap);
TTLOG_API const char *ttlog_snapshot_hostname(const ttlog_snapshot_file *snap);
TTLOG_API const char *ttlog_snapshot_reason(const ttlog_snapshot_file *snap);
TTLOG_API const char *ttlog_snapshot_variant(const ttlog_snapshot_file *snap);
TTLOG_API uint64_t ttlog_snapshot_pid(const ttlog_snapshot_file *snap);
/* The pid of the process a forked child's snapshot came from (key parent_pid), 0 if none. */
TTLOG_API uint64_t ttlog_snapshot_parent_pid(const ttlog_snapshot_file *snap);
/* counters.torn: records a death cut in the middle of their push (a recovered black box;
 * then logged = kept + clipped + overwritten + dropped + torn); 0 without the key. */
TTLOG_API uint64_t ttlog_snapshot_torn(const ttlog_snapshot_file *snap);
TTLOG_API uint64_t ttlog_snapshot_created_ns(const ttlog_snapshot_file *snap);
TTLOG_API uint64_t ttlog_snapshot_capacity(const ttlog_snapshot_file *snap);
TTLOG_API void ttlog_snapshot_get_counters(const ttlog_snapshot_file *snap,
					   ttlog_snapshot_counters *c);
/* The start of the window common to all shards (ns since the epoch) when the snapshot was
 * clipped to it (snapshot_clip): every event is at or after it and counters.clipped
 * events of the ring older than it were left out. 0 when no clip was applied. */
TTLOG_API uint64_t ttlog_snapshot_clipped_before_ns(const ttlog_snapshot_file *snap);
TTLOG_API size_t ttlog_snapshot_event_count(const ttlog_snapshot_file *snap);

/*
 * The callsite dictionary ("callsites"): every event shape the process had registered,
 * also those no event in the file uses. ttlog_snapshot_callsite() fills *out with the
 * i-th (0 <= i < ttlog_snapshot_callsite_count(), by ascending id) and returns 0, or
 * -EINVAL when i is out of range. The strings live until ttlog_snapshot_close().
 */
typedef struct ttlog_callsite_info {
	uint32_t id, line;
	int level; /* as for ttlog_event */
	const char *target, *message, *file;
	size_t nfields;
	const char *names[TTLOG_MAX_FIELDS];
	int types[TTLOG_MAX_FIELDS]; /* enum ttlog_type */
} ttlog_callsite_info;
TTLOG_API size_t ttlog_snapshot_callsite_count(const ttlog_snapshot_file *snap);
TTLOG_API int ttlog_snapshot_callsite(const ttlog_snapshot_file *snap, size_t i,
				      ttlog_callsite_info *out);

/*
 * Keys this reader has no accessor for, which later writers add (docs/snapshot-format.md:
 * readers ignore unknown keys): key is a top-level key ("parent_pid", "push_path"), or
 * "counters." or "trigger." and a key of that map ("counters.torn", "trigger.at_ns"). Return 1 with the value,
 * 0 when the key is absent, -EINVAL when its value is of another type (or, for text,
 * holds a NUL byte), -ERANGE when the text does not fit buf with its NUL (len bytes).
 */
/*
 * Gap records (docs/snapshot-format.md, "gaps"): where the events the counters count as
 * lost were. kind: "overwritten", "dropped", "clipped" (or "other" for a kind this reader
 * does not know); count events, lost before event `index` (oldest first; index = the
 * event count: after the last); shard -1, tid 0, before_ns / after_ns 0 when not known.
 * The counts sum to overwritten + dropped + clipped. Files written before gap records
 * have none.
 */
typedef struct ttlog_gap {
	const char *kind; /* a static string */
	uint64_t count, index;
	int64_t shard;
	uint32_t tid;
	uint64_t before_ns, after_ns;
} ttlog_gap;
/* The number of gap records (0 for a file without them, or a malformed list). */
TTLOG_API size_t ttlog_snapshot_gap_count(const ttlog_snapshot_file *snap);
/* Gap record i into *g: 0, -ERANGE past the last, -EINVAL, -EBADMSG on a malformed list. */
TTLOG_API int ttlog_snapshot_gap(const ttlog_snapshot_file *snap, size_t i, ttlog_gap *g);

TTLOG_API int ttlog_snapshot_meta_u64(const ttlog_snapshot_file *snap, const char *key,
				      uint64_t *v);
TTLOG_API int ttlog_snapshot_meta_text(const ttlog_snapshot_file *snap, const char *key,
				       char *buf, size_t len);

/*
 * Iterate: ttlog_snapshot_rewind() goes back to the first (oldest) event;
 * ttlog_snapshot_next() fills *ev and returns 1, or 0 after the last event. The strings in
 * *ev live until ttlog_snapshot_close().
 */
TTLOG_API void ttlog_snapshot_rewind(ttlog_snapshot_file *snap);
TTLOG_API int ttlog_snapshot_next(ttlog_snapshot_file *snap, ttlog_event *ev);

/*
 * Render the message with each {} filled by the next field value (integers in decimal,
 * floats %g, bools true/false, strings as is); fields beyond the placeholders are not
 * appended. Writes at most len bytes including the NUL (len > 0) and returns the length
 * the full text would have, like snprintf.
 */
TTLOG_API size_t ttlog_event_render(const ttlog_event *ev, char *buf, size_t len);

/* The name of a level ("TRACE".."FATAL") and of a field type ("u64".."str"); "?" for
 * anything else. A snapshot may hold events at a level outside 0..5 (up to 255: level 6,
 * OFF, was recorded by older libraries): the reader keeps them, with ev->level as it was
 * written, and a program shows the number (ttlog-view writes "L6"). */
TTLOG_API const char *ttlog_level_name(int level);
TTLOG_API const char *ttlog_type_name(int type);

#ifdef __cplusplus
}
#endif
#endif /* TTLOG_READER_H */
