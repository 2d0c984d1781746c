/*
 * ttlog.h - flight-recorder logging: keep the most recent structured events of a program
 * in lock-free in-memory rings and write a compressed snapshot (CBOR in an LZ4 frame) when
 * the program crashes, on an interval, on a signal, or on request.
 *
 * The header is the manual. Every function says what it does, whether it may be called
 * from several threads and from a signal handler, and what it returns. Functions return 0
 * or a negative errno value (-EINVAL, -ENOMEM, -ENOSPC, ...); ttlog_strerror() names it.
 * The library never writes to stdout and never exits or aborts the program.
 */
#ifndef TTLOG_TTLOG_H
#define TTLOG_TTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ttlog/record.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TTLOG_BUILDING_LIBRARY)
#define TTLOG_API __attribute__((visibility("default")))
#else
#define TTLOG_API
#endif

/* ---- levels ---------------------------------------------------------------------- */

enum ttlog_level {
	TTLOG_LEVEL_TRACE = 0,
	TTLOG_LEVEL_DEBUG = 1,
	TTLOG_LEVEL_INFO = 2,
	TTLOG_LEVEL_WARN = 3,
	TTLOG_LEVEL_ERROR = 4,
	TTLOG_LEVEL_FATAL = 5,
	TTLOG_LEVEL_OFF = 6 /* runtime level that keeps nothing */
};

/* Compile-time minimum: calls below it compile to nothing. Define before including. */
#ifndef TTLOG_MIN_LEVEL
#define TTLOG_MIN_LEVEL TTLOG_LEVEL_TRACE
#endif

/* ---- configuration --------------------------------------------------------------- */

enum ttlog_policy {
	TTLOG_POLICY_OVERWRITE = 0, /* full ring: evict the oldest event (flight recorder) */
	TTLOG_POLICY_DROP = 1       /* full ring: drop the new event */
};

/*
 * Zero means "default" for every field; pointers may be NULL for the default.
 * ttlog_config_default() fills the defaults and then applies the TTLOG_* environment:
 *   TTLOG_SNAPSHOT_DIR       snapshot_dir              (default /tmp)
 *   TTLOG_SERVICE_NAME       service                   (default: program name)
 *   TTLOG_CAPACITY           capacity, events          (default 65536)
 *   TTLOG_LEVEL              level: trace|debug|info|warn|error|fatal|off or 0..6
 *   TTLOG_SNAPSHOT_INTERVAL  snapshot_interval_s, seconds, 0 = off
 *   TTLOG_SNAPSHOT_KEEP      snapshot_keep, newest snapshots of this service kept in the
 *                            directory, 0 = keep all
 *   TTLOG_SNAPSHOT_SIGNAL    snapshot_signal: a signal name (USR2, SIGUSR1) or number, 0 = off
 *   TTLOG_POLICY             overwrite|drop
 *   TTLOG_SNAPSHOT_CLIP      snapshot_clip: 0|1 (default 0)
 *   TTLOG_SNAPSHOT_MODE      snapshot_mode: octal 0600 (default), 0640, 0604 or 0644
 *   TTLOG_BLACKBOX           blackbox: 1 (default) or 0 (off: anonymous memory)
 *   TTLOG_BLACKBOX_DIR       blackbox_dir (default /dev/shm/ttlog-<euid>)
 *   TTLOG_METRICS_FILE       metrics_file: path of a Prometheus textfile (default off)
 *   TTLOG_METRICS_INTERVAL   metrics_interval_s, seconds, 1..86400 (default 10)
 *   TTLOG_TRIGGER_LEVEL      trigger_level: a level name or off (default off)
 *   TTLOG_TRIGGER_PRE        trigger_pre, events, 1..2^20 (default 1024)
 *   TTLOG_TRIGGER_POST_MS    trigger_post_ms, 1..3600000 (default 100)
 *   TTLOG_TRIGGER_MIN_INTERVAL_S  trigger_min_interval_s, 1..86400 (default 10)
 *   TTLOG_TRIGGER_LOSS       trigger_loss_events, 0 = off (default 0)
 *   TTLOG_TRIGGER_LOSS_MS    trigger_loss_ms, 1..3600000 (default 1000)
 * A bad value is recorded in the config and makes ttlog_init() fail with -EINVAL and a
 * message (ttlog_errmsg()): it is never replaced by a default silently.
 *
 * Forward compatibility (the lz4 way): the struct has a fixed size, TTLOG_CONFIG_SIZE
 * bytes, whatever the version; the bytes after the last field are reserved and must be
 * zero. A later version adds fields there, each with zero meaning "default", so a program
 * built against this header keeps working with a newer libttlog (its zeroed reserved bytes
 * read as defaults), and a program that sets a field this libttlog does not know gets
 * -EINVAL from ttlog_init() instead of the field being ignored. Start from
 * ttlog_config_default() or zero the whole struct ({0} or memset).
 */
#define TTLOG_CONFIG_SIZE 512
typedef struct ttlog_config {
	union {
		struct {
			size_t capacity;      /* events kept in memory, >= 16; rounded up to a
						 power of 2; 0 = 65536 */
			const char *service;  /* copied by ttlog_init; at most 63 bytes */
			const char *snapshot_dir; /* copied by ttlog_init; must exist; at most
						     3000 bytes */
			int level;            /* runtime minimum level (enum ttlog_level) */
			int policy;           /* enum ttlog_policy */
			unsigned snapshot_interval_s; /* periodic snapshots, 0 = off */
			/* retention, 0 = keep every file. Counts and removes only the
			 * snapshots of this service owned by this user (regular files named
			 * ttlog-*.bin whose content is a ttlog snapshot with this service),
			 * newest by the time in their name kept; the file a snapshot has just
			 * written is never removed. */
			unsigned snapshot_keep;
			int snapshot_signal;  /* signal that asks for a snapshot, 0 = off */
			bool final_snapshot;  /* ttlog_shutdown() writes a "shutdown" snapshot */
			bool quiet;           /* do not print errors on stderr (still counted) */
			const char *variant;  /* ring variant; only the multi-variant build
						 selects */
			size_t interner_bytes; /* runtime-built event names (ttlog_builder),
						  0 = 1 MiB */
			/* sharded variants (spsc, numa): leave out of each snapshot the events
			 * older than the window common to all shards (they are counted in its
			 * counters.clipped); no effect on mpmc. docs/snapshot-format.md,
			 * "shards". */
			bool snapshot_clip;
			/* set by ttlog_config_default() when the environment holds a bad
			 * value */
			int env_error;
			char env_errmsg[160];
			/* new fields go here, zero meaning default (core/config.c:
			 * TTLOG__CONFIG_LAST names the last one) */
			/* permission bits of snapshot files, 0 = 0600 (owner read/write only:
			 * a snapshot holds the logged data, and the default directory is /tmp).
			 * Only read bits may be added for group and other: 0640, 0604, 0644;
			 * anything else makes ttlog_init() fail with -EINVAL. Applied with
			 * fchmod(), so the umask neither narrows nor widens it. */
			unsigned snapshot_mode;
			/* the black box (docs/blackbox-format.md): the rings and the callsite
			 * dictionary live in a file of blackbox_dir mapped shared, so that
			 * ttlog-recover (or the next ttlog_init() of this service) turns the
			 * last events of a process killed without a signal (SIGKILL, the OOM
			 * killer) into a snapshot. 0 = default (on), 1 = on, -1 = off */
			int blackbox;
			/* the box directory, NULL = /dev/shm/ttlog-<euid>; created 0700 when
			 * missing; refused unless a directory of ours that only we can
			 * write. Copied by ttlog_init; at most 3000 bytes */
			const char *blackbox_dir;
			/* Prometheus text exposition of the counters (ttlog_metrics_text),
			 * rewritten atomically (temporary file + rename, mode 0644: no logged
			 * data) by the writer thread every metrics_interval_s, for
			 * node_exporter's textfile collector; NULL = off. Copied by
			 * ttlog_init, at most 3000 bytes; its directory must exist and be
			 * writable (checked by a first write in ttlog_init). */
			const char *metrics_file;
			unsigned metrics_interval_s; /* 0 = 10 s; at most 86400 */
			/* Incident triggers (README "Incidents"): an event at or above this
			 * level ("error", ...; NULL or "off" = none) fires a trigger, and so
			 * does ttlog_trigger(); each takes a snapshot "trigger-<reason>" once
			 * trigger_post_ms (0 = 100, at most 3600000) have passed after it.
			 * A trigger within trigger_min_interval_s (0 = 10, at most 86400) of
			 * the last one that fired, or while that one's snapshot is pending,
			 * is suppressed and counted (ttlog_stats.triggers_suppressed). */
			const char *trigger_level;
			unsigned trigger_post_ms;
			unsigned trigger_min_interval_s;
			/* loss trigger: more than trigger_loss_events events lost (overwritten
			 * or dropped) within trigger_loss_ms (0 = 1000, at most 3600000)
			 * fires a trigger "loss"; 0 = off. Checked by the writer thread every
			 * trigger_loss_ms / 4. */
			unsigned trigger_loss_events;
			unsigned trigger_loss_ms;
			/* the incident window kept out of the overwrite path: the newest
			 * trigger_pre events before a trigger (and its own), and the first
			 * trigger_pre events of the post-trigger window, are copied aside and
			 * added to the trigger's snapshot; 0 = 1024, at most 2^20. Reserved at
			 * init: (2 trigger_pre + 1) x 64 bytes. */
			unsigned trigger_pre;
		};
		unsigned char ttlog__reserved[TTLOG_CONFIG_SIZE];
	};
} ttlog_config;
TTLOG__STATIC_ASSERT(sizeof(ttlog_config) == TTLOG_CONFIG_SIZE, "ttlog_config size is fixed");

/*
 * Fill cfg with the defaults, then the TTLOG_* environment. Returns 0, or -EINVAL when the
 * environment holds a bad value (also kept in cfg->env_error / env_errmsg, so that a caller
 * who ignores this return still gets the error from ttlog_init). Thread-safe; not
 * async-signal-safe.
 */
TTLOG_API int ttlog_config_default(ttlog_config *cfg);

/*
 * Start the library: reserve and pre-fault the ring and every buffer a snapshot needs,
 * calibrate the clock, clean stale temporary files of dead processes from the snapshot
 * directory, start the writer thread. cfg NULL means ttlog_config_default(). Returns 0;
 * -EINVAL for a bad configuration (message in ttlog_errmsg() and on stderr); -EALREADY
 * when already started; -ENOENT / -ENOTDIR / -EACCES when the snapshot directory cannot
 * be used; -ENOMEM, also when the memory cgroup (v1 or v2, the tightest of the process's
 * cgroup and its ancestors) does not leave room for what it would reserve and touch:
 * then nothing is touched and ttlog_errmsg() says how much the configuration needs and
 * how much the cgroup allows. The ring counts at the variant's worst case (spsc: every
 * per-thread shard claimed). Not thread-safe with itself or ttlog_shutdown().
 *
 * fork(): a child forked while ttlog runs keeps running it on a copy of the parent's
 * events, with a writer thread of its own (started by a fork handler), no snapshot or
 * request of the parent's threads pending, and its own thread ids; the parent is not
 * disturbed. A child that only calls exec pays that thread's creation; posix_spawn()
 * and vfork() run no fork handlers and pay nothing.
 */
TTLOG_API int ttlog_init(const ttlog_config *cfg);

/*
 * Stop the writer thread, write the final snapshot if configured, free the rings. Puts
 * back the handlers that ttlog_install_crash_handler() and the snapshot signal replaced,
 * for each signal whose handler is still ttlog's: a handler the application installed
 * after ttlog's stays. No log call may run concurrently with it; log calls after it are
 * ignored. Idempotent.
 */
TTLOG_API void ttlog_shutdown(void);

/*
 * Recover a black box (docs/blackbox-format.md): the box file `box` of a process that is
 * gone becomes an ordinary snapshot in out_dir (NULL: $TTLOG_SNAPSHOT_DIR, else /tmp),
 * written atomically like any other, with reason "recovered" and the dead process's pid,
 * service and events; a record cut by the death is counted in counters.torn, never shown.
 * Then the box is removed. A box whose process is alive (same pid and start time), or that
 * another recoverer holds, is left alone. Returns 0 (snap, if not NULL, receives the
 * snapshot's path), 1 when the box was left alone, or a negative errno when it could not
 * be recovered (the box is kept); msg (may be NULL) says why. Does not need ttlog_init();
 * thread-safe; not async-signal-safe. The tool: ttlog-recover.
 */
TTLOG_API int ttlog_recover(const char *box, const char *out_dir, char *snap, size_t snap_len,
			    char *msg, size_t msg_len);

/* The message of the last ttlog_init() failure ("" if none). Not thread-safe with init. */
TTLOG_API const char *ttlog_errmsg(void);

/* A static string naming a ttlog error code (negative errno). Thread- and signal-safe. */
TTLOG_API const char *ttlog_strerror(int err);

/* Change the runtime level. Thread-safe and async-signal-safe. */
TTLOG_API void ttlog_set_level(int level);
TTLOG_API int ttlog_get_level(void);

/* The variant libttlog logs into ("mpmc", "spsc", "numa", "percpu"); "" before ttlog_init(). */
TTLOG_API const char *ttlog_variant(void);

/* ---- snapshots ------------------------------------------------------------------- */

/*
 * Ask the writer thread for a snapshot and return at once: never blocks, never allocates.
 * reason: letters, digits, '-' and '_' are kept, other bytes become '_'; at most 40 bytes.
 * Returns 0, -ESRCH when ttlog is not running, -EBUSY when 16 requests are already pending
 * (the request is merged into a pending one and counted in snapshots_coalesced).
 * Thread-safe and async-signal-safe.
 */
TTLOG_API int ttlog_request_snapshot(const char *reason);

/*
 * Write a snapshot now and return when the file is durable (fsync'd file and directory).
 * path (may be NULL) receives the file name. Returns 0; -ESRCH when not running; the
 * negative errno of the failing step (-ENOSPC, -EACCES, -EFBIG, -ENOENT, ...), in which
 * case no file is left behind; -ENAMETOOLONG when path is too small (the file is written).
 * Thread-safe (snapshots are serialised); not async-signal-safe.
 */
TTLOG_API int ttlog_snapshot(const char *reason, char *path, size_t len);

/*
 * Install a handler for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT that writes a
 * snapshot (reason "SIGSEGV", ...) with memory reserved at init and async-signal-safe calls
 * only, on an alternate signal stack (so a stack overflow is caught). Call after
 * ttlog_init(); a thread gets its alternate stack on its first log call after the install
 * (the thread calling this one at once, the writer thread on its next wake-up).
 * Returns 0, -ESRCH when not running. Idempotent; not async-signal-safe.
 *
 * With no handler installed before (default action): snapshot, then the default action,
 * so the exit status and core dump are what they would have been. With a handler
 * installed before ttlog's, ttlog's stays installed and calls it first, then:
 *  - it returned and ttlog's handler is still the signal's: it resolved the fault (the
 *    guard page of a runtime or garbage collector) or the fault comes back: no snapshot,
 *    counted in ttlog_stats.crashes_chained;
 *  - it returned after changing the signal's handler (a crash reporter that resets the
 *    default action and re-raises, or returns to fault again): snapshot, then return;
 *  - SIGABRT: snapshot before calling it (abort() does not let the program go on).
 * A handler installed before that never returns (longjmp, _exit) leaves no snapshot: for
 * such a handler, install ttlog's first and then it, and have it call the handler it
 * replaced (ttlog's) before it ends the process.
 */
TTLOG_API int ttlog_install_crash_handler(void);

/* ---- statistics ------------------------------------------------------------------ */

/* Fixed size, as ttlog_config: later versions add counters in the reserved tail, which
 * ttlog_get_stats() zeroes, so a program built against this header keeps working. */
#define TTLOG_STATS_SIZE 256
typedef struct ttlog_stats {
	union {
		struct {
			uint64_t logged;      /* events accepted by log calls (after level
						 filtering) */
			uint64_t overwritten; /* evicted by newer events (overwrite policy) */
			/* not stored: ring full (drop policy), eviction blocked by an event being
			 * written, interner full, or too many callsites (the callsite table, or the
			 * memory their copies are kept in) */
			uint64_t dropped;
			uint64_t truncated; /* events with a string field cut to fit the record */
			uint64_t snapshots_written;
			uint64_t snapshot_failures;
			uint64_t snapshots_coalesced; /* requests merged because 16 were pending */
			uint64_t kept;                /* events in the ring now */
			/* crash signals handed to a handler installed before ttlog's that returned
			 * with ttlog's still in place (a fault it resolved, e.g. a guard page): no
			 * snapshot */
			uint64_t crashes_chained;
			/* percpu: "rseq" or "sched_getcpu" (the fallback without rseq); "" for
			 * the variants with one push path. A static string. */
			const char *push_path;
			uint64_t triggers_fired;      /* triggers that took (or will take) a
							 snapshot */
			uint64_t triggers_suppressed; /* rate limited, or one was pending */
		};
		unsigned char ttlog__reserved[TTLOG_STATS_SIZE];
	};
} ttlog_stats;
TTLOG__STATIC_ASSERT(sizeof(ttlog_stats) == TTLOG_STATS_SIZE, "ttlog_stats size is fixed");

/* Current counters; logged = kept + overwritten + dropped up to events in flight.
 * Thread-safe and async-signal-safe. */
TTLOG_API void ttlog_get_stats(ttlog_stats *st);

/*
 * The counters in the Prometheus text exposition format (0.0.4), metric names prefixed
 * ttlog_ and labelled service and variant: events logged, kept, overwritten, dropped,
 * truncated; snapshots written, failed, coalesced; snapshot duration (sum, count, last);
 * ring capacity and fill ratio. Writes a NUL-terminated text into buf (2 KiB are enough)
 * and returns its length, or -EINVAL (buf NULL or len 0), -ENOBUFS (len too small: buf
 * holds ""). Works before ttlog_init (zeros). Thread-safe; not async-signal-safe.
 */
TTLOG_API int ttlog_metrics_text(char *buf, size_t len);

/*
 * Fire an incident trigger: the writer thread takes a snapshot "trigger-<reason>" (other
 * characters than [A-Za-z0-9_-] become '_'; NULL = "manual") once the post-trigger window
 * (trigger_post_ms) has passed. Returns 0; -EBUSY when rate limited or a trigger's
 * snapshot is still pending (counted in ttlog_stats.triggers_suppressed); -ESRCH when
 * ttlog is not running. Thread-safe and async-signal-safe.
 */
TTLOG_API int ttlog_trigger(const char *reason);

/* ---- runtime-built events (names known only at run time) -------------------------- */

#define TTLOG_MAX_FIELDS 8

enum ttlog_type {
	TTLOG_TYPE_U64 = 1,
	TTLOG_TYPE_I64 = 2,
	TTLOG_TYPE_F64 = 3,
	TTLOG_TYPE_BOOL = 4,
	TTLOG_TYPE_STR = 5
};


/*
 * A builder lives on the caller's stack. begin(), the field calls and commit() copy the
 * strings they need: the caller's buffers may be reused after each call. Names (target,
 * message, field names) are interned once per distinct event shape; the record written
 * is the same as the TTLOG_* macros'. Thread-safe (a builder is used by one thread);
 * not async-signal-safe (the first commit of a new shape takes a lock).
 */
typedef struct ttlog_builder {
	int level;
	int error;
	const char *target;
	const char *message;
	uint8_t nfields;
	uint8_t types[TTLOG_MAX_FIELDS];
	const char *names[TTLOG_MAX_FIELDS];
	uint64_t nums[TTLOG_MAX_FIELDS];
	const char *strs[TTLOG_MAX_FIELDS];
} ttlog_builder;

TTLOG_API void ttlog_builder_begin(ttlog_builder *b, int level, const char *target,
				   const char *message);
TTLOG_API void ttlog_builder_u64(ttlog_builder *b, const char *name, uint64_t v);
TTLOG_API void ttlog_builder_i64(ttlog_builder *b, const char *name, int64_t v);
TTLOG_API void ttlog_builder_f64(ttlog_builder *b, const char *name, double v);
TTLOG_API void ttlog_builder_bool(ttlog_builder *b, const char *name, bool v);
/* s must stay valid until ttlog_builder_commit() */
TTLOG_API void ttlog_builder_str(ttlog_builder *b, const char *name, const char *s);
/*
 * Log the event. Returns 0; 1 when filtered by level; -E2BIG for more than
 * TTLOG_MAX_FIELDS fields or numeric fields that do not fit a record; -EINVAL for a NULL
 * name or a level outside TTLOG_LEVEL_TRACE..TTLOG_LEVEL_FATAL (also when b->level was
 * changed after ttlog_builder_begin(); not counted as logged); -ENOSPC when the interner
 * is full (the event is counted as dropped); -ESRCH when not running. Strings that do not
 * fit are truncated and counted, as with the macros.
 */
TTLOG_API int ttlog_builder_commit(ttlog_builder *b);

/* ---- the log macros -------------------------------------------------------------- */

/*
 * TTLOG_INFO(target, message, fields...): target and message are string literals; fields
 * are up to TTLOG_MAX_FIELDS of TTLOG_U64 / I64 / F64 / BOOL / STR (name, value). Each
 * "{}" in the message is filled with the next field when the snapshot is viewed.
 * TTLOG_LOG(level, ...) takes a constant expression TTLOG_LEVEL_TRACE..TTLOG_LEVEL_FATAL;
 * any other level (TTLOG_LEVEL_OFF included) is a compile-time error. The call site's
 * strings are copied into ttlog's memory on its first event, so a plugin that logged may
 * be dlclose'd and its events still read in later snapshots.
 * The call does not allocate, lock, make a system call or format text (a thread's first
 * event reads its thread id once). Thread-safe and async-signal-safe.
 */
#define TTLOG_U64(name, v) (U64, name, v)
#define TTLOG_I64(name, v) (I64, name, v)
#define TTLOG_F64(name, v) (F64, name, v)
#define TTLOG_BOOL(name, v) (BOOL, name, v)
#define TTLOG_STR(name, v) (STR, name, v)

#define TTLOG_TRACE(target, ...) TTLOG__LOG(TTLOG_LEVEL_TRACE, target, __VA_ARGS__)
#define TTLOG_DEBUG(target, ...) TTLOG__LOG(TTLOG_LEVEL_DEBUG, target, __VA_ARGS__)
#define TTLOG_INFO(target, ...) TTLOG__LOG(TTLOG_LEVEL_INFO, target, __VA_ARGS__)
#define TTLOG_WARN(target, ...) TTLOG__LOG(TTLOG_LEVEL_WARN, target, __VA_ARGS__)
#define TTLOG_ERROR(target, ...) TTLOG__LOG(TTLOG_LEVEL_ERROR, target, __VA_ARGS__)
#define TTLOG_FATAL(target, ...) TTLOG__LOG(TTLOG_LEVEL_FATAL, target, __VA_ARGS__)
#define TTLOG_LOG(level, target, ...) TTLOG__LOG(level, target, __VA_ARGS__)

#include <ttlog/macros.h>

#ifdef __cplusplus
}
#endif
#endif /* TTLOG_TTLOG_H */
