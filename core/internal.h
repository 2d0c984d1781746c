/*
 * internal.h - state and functions shared by the files of core/ (ttlog__ prefix).
 */
#ifndef TTLOG_CORE_INTERNAL_H
#define TTLOG_CORE_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lz4frame.h>

#include <ttlog/ttlog.h>

#include "../variants/map.h"

#define TTLOG_MAX_CALLSITES 65536
#define TTLOG_REASON_MAX 40
#define TTLOG_DIR_MAX 3000
#define TTLOG_PATH_MAX 4096
#define TTLOG_SERVICE_MAX 64
#define TTLOG_PENDING_MAX 16
#define TTLOG_CHUNK_SIZE (64 * 1024)
#define TTLOG_DEFAULT_CAPACITY 65536
/* the ring the multi-variant library uses when none is named (the Makefile's default
 * VARIANT is the same): the README's results say why */
#define TTLOG_DEFAULT_VARIANT "percpu"

/* ---- callsites (callsite.c) ---- */

/* Bytes of ttlog's own memory for copies of the callsites registered (static storage,
 * for the process): a copy is its fixed part, the field name pointers and the strings,
 * a few hundred bytes for a typical call site, so this holds tens of thousands. */
#define TTLOG_CALLSITE_ARENA_BYTES (8u << 20)

/* Register cs (once; racing callers may both get a table entry, one id wins). copy: the
 * table gets a copy of cs and its strings in ttlog's arena (a program's or a plugin's
 * callsite, whose memory may go away); else cs itself (memory ttlog owns for the
 * process). Returns the id (> 0); -ENOSPC when the table or the arena is full (the
 * caller counts the event as dropped); -EINVAL for a callsite no snapshot may hold
 * (level above FATAL, more than TTLOG_MAX_FIELDS fields, an unknown type: the event is
 * not recorded, nor counted). Lock-free, async-signal-safe, allocates nothing. */
int ttlog__register(struct ttlog_callsite *cs, bool copy);
/* The callsite of an id, or NULL. */
const struct ttlog_callsite *ttlog__callsite(uint32_t id);
/* Number of table entries claimed so far (some may still be NULL). */
uint32_t ttlog__callsite_count(void);
/* Bytes of TTLOG_CALLSITE_ARENA_BYTES taken so far. */
size_t ttlog__callsite_arena_used(void);

/* ---- clock (clock.c) ---- */

/* A (TSC, CLOCK_REALTIME ns) pair. */
struct ttlog__anchor {
	uint64_t ticks, ns;
};
#define TTLOG_ANCHORS 64   /* the first anchor and the newest 63 */
#define TTLOG_ANCHOR_S 10  /* seconds between anchors (the writer thread) */

struct ttlog__clock {
	int tsc;               /* 1: timestamps are TSC ticks; 0: CLOCK_REALTIME ns */
	double ticks_per_ns;   /* calibrated at init, refined by each snapshot */
	uint64_t tsc0, mono0;  /* calibration origin (TSC, CLOCK_MONOTONIC_RAW ns) */
	/* anchors: written by the writer thread (ttlog__clock_anchor) under aseq (odd while
	 * one is written), read by every snapshot (ttlog__clock_map_now); words written
	 * with release stores and read with acquire loads, so no fence is needed */
	_Atomic uint64_t aw[TTLOG_ANCHORS][2];
	_Atomic uint32_t aseq;
	uint32_t nadded; /* anchors taken so far: the writer's */
};
/* Choose the clock and calibrate (sleeps ~20 ms for the TSC). forced: NULL, "tsc" or
 * "realtime". Returns 0 or -EINVAL for an unknown forced value. */
int ttlog__clock_init(struct ttlog__clock *c, const char *forced);
/* A conversion valid now: between two anchors, linear between them (so each event maps
 * to CLOCK_REALTIME as it was at that time: NTP's slewing and the TSC's drift are
 * followed); outside them, ns = base + (ticks - base_ticks) / ticks_per_ns from the
 * nearest. nanchors 0: the single line through base. Async-signal-safe. */
struct ttlog__clock_map {
	uint64_t base_ticks, base_ns;
	double ticks_per_ns;
	uint32_t nanchors; /* ascending ticks; the last is (base_ticks, base_ns) */
	struct ttlog__anchor anchors[TTLOG_ANCHORS + 1];
};
/* Writer thread: take an anchor now (every TTLOG_ANCHOR_S). */
void ttlog__clock_anchor(struct ttlog__clock *c);
void ttlog__clock_map_now(struct ttlog__clock *c, struct ttlog__clock_map *m);
uint64_t ttlog__clock_to_ns(const struct ttlog__clock_map *m, uint64_t ticks);
uint64_t ttlog__realtime_ns(void);
/* CLOCK_MONOTONIC in ns (async-signal-safe: the crash path times its snapshot). */
uint64_t ttlog__mono_ns(void);

static inline uint64_t ttlog__rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
#else
	return 0;
#endif
}

/* ---- configuration (config.c) ---- */

int ttlog__parse_level(const char *s, int *out);
/* 1 when the reserved bytes of cfg (after the last field this version knows) are zero. */
int ttlog__config_reserved_ok(const ttlog_config *cfg);
int ttlog__parse_signal(const char *s, int *out);
int ttlog__signal_usable(int sig);
/* 0 when mode is a valid ttlog_config.snapshot_mode (0, or 0600 plus read bits for group
 * and other), -EINVAL otherwise. */
int ttlog__check_mode(unsigned mode);
const char *ttlog__signal_name(int sig); /* "SIGSEGV", async-signal-safe; NULL if unknown */

/* ---- snapshot files (snapfile.c) and encoding (encode.c) ---- */

/* Memory of the LZ4 compression context (see encode.c) */
#define TTLOG_LZ4POOL_BYTES (1u << 20)
#define TTLOG_LZ4POOL_BLOCKS 16
struct ttlog__lz4block {
	unsigned char *ptr;
	size_t size;
	bool used;
};
struct ttlog__lz4pool {
	unsigned char *base;
	size_t top, nblocks;
	struct ttlog__lz4block blocks[TTLOG_LZ4POOL_BLOCKS];
};

/* Everything a snapshot needs, reserved at init so the crash path allocates nothing. */
struct ttlog__snapres {
	/* tid of the thread using these buffers, 0 when free: claimed by CAS */
	_Atomic uint32_t owner;
	struct ttlog_record *records; /* ring capacity of them */
	size_t records_cap;
	unsigned char *chunk;         /* CBOR staging, TTLOG_CHUNK_SIZE */
	unsigned char *out;           /* compressed staging */
	size_t out_cap;
	LZ4F_cctx *cctx;
	struct ttlog__lz4pool pool;
	char tmp_name[64];            /* the temporary file being written, "" if none */
};

/* A snapshot of another process (a recovered black box, recover.c): what the encoder
 * otherwise takes from ttlog__g, the callsite table and the ring. */
struct ttlog__snapsrc {
	const char *service, *hostname, *variant;
	int policy;
	int clock_tsc;
	uint64_t pid, parent_pid, capacity, truncated;
	uint64_t torn; /* records cut by the death */
	struct ttlog__clock_map map;
	const struct ttlog_callsite *const *cs; /* cs[id - 1]; NULL where an id is missing */
	uint32_t ncs;
};

struct ttlog__snapinfo {
	const struct ttlog__snapsrc *src; /* NULL: this process */
	const char *reason;
	uint64_t created_ns;
	struct ttlog_ring_cut cut;
	size_t n;
	/* snapshot_clip: records[0..first) are older than the window common to all shards
	 * and left out of the file (counters.clipped); clip_ts is that window's start in
	 * record ticks. first 0 and clip false when no clip was applied. */
	size_t first;
	bool clip;
	uint64_t clip_ts;
};

/* A gap record (gaps.c): count events of one kind ("overwritten", "dropped", "clipped")
 * lost before events[index] of the file (index = the number of events: after the last),
 * from one shard (-1: not known), with the time bounds known (ticks; 0: unknown). */
struct ttlog__gap {
	const char *kind;
	uint64_t count, index;
	int64_t shard;
	uint32_t tid;
	uint64_t before_ts, after_ts;
};
#define TTLOG_GAPS_MAX 40
/* The gaps of a snapshot of ring (NULL: no shard windows) whose records are
 * recs[info->first, info->n), in event order; their counts sum to the counters'
 * overwritten + dropped + clipped. Returns how many (at most max). Async-signal-safe. */
size_t ttlog__gaps(struct ttlog_ring *ring, const struct ttlog__snapinfo *info,
		   const struct ttlog_record *recs, struct ttlog__gap *out, size_t max);
/* The shard windows of the ring's last snapshot (ring_windows), read 16 at a time: open
 * returns how many there are (0 for a ring without shards, or ring NULL), next gives them
 * in order, NULL after the last. */
struct ttlog__windows {
	struct ttlog_ring *ring;
	struct ttlog_shard_window w[16];
	size_t n, i;
};
size_t ttlog__windows_open(struct ttlog__windows *c, struct ttlog_ring *ring);
const struct ttlog_shard_window *ttlog__windows_next(struct ttlog__windows *c);

int ttlog__snapres_init(struct ttlog__snapres *s, size_t capacity);
/* The bytes ttlog__snapres_init() reserves (and touches) for capacity records. */
size_t ttlog__snapres_bytes(size_t capacity);
void ttlog__snapres_fini(struct ttlog__snapres *s);
/* Encode records[info->first..info->n) with the header into fd (CBOR in an LZ4 frame).
 * 0 or a negative errno. Allocates nothing; async-signal-safe. */
int ttlog__encode(struct ttlog__snapres *s, const struct ttlog__snapinfo *info, int fd);

/* Take the snapshot buffers' claim without waiting (0, or -EBUSY: a snapshot is being
 * written), and give it back: one ring snapshot at a time, so that the shard windows a
 * snapshot reads after its ring snapshot are its own. Async-signal-safe. */
int ttlog__snapres_try(void);
void ttlog__snapres_give(void);
/* Write info's snapshot (records in s) as a file in dirfd with the given mode, named
 * after pid: temporary file, fsync, final name without replacing, fsync of the directory.
 * name receives the file's name. 0 or a negative errno. Allocates nothing. */
int ttlog__snapfile_write(struct ttlog__snapres *s, int dirfd, unsigned mode, uint64_t pid,
			  const struct ttlog__snapinfo *info, char *name, size_t name_len);
/* Write a snapshot. crash: called from the crash handler (no allocation, no retention
 * pass, bounded wait for a snapshot in progress). path (may be NULL) receives the
 * file's path. 0 or a negative errno; failures are counted and, unless quiet, printed. */
int ttlog__snapshot(const char *reason, char *path, size_t len, bool crash);
/* Remove the temporary files no writer holds (their writer's lock is gone) from the
 * snapshot directory. */
void ttlog__clean_stale(int dirfd);
/* Keep the newest `keep` snapshots of this service and user in the directory (by the time
 * in their names), never keep_name (the file just written; may be NULL). */
void ttlog__retention(int dirfd, unsigned keep, const char *keep_name);
/* Tests only (snapfile.c): force the named temporary file path; see each temporary file. */
extern int ttlog__test_no_tmpfile;
extern void (*ttlog__test_tmp_hook)(int fd, const char *name);
/* "reason" reduced to [A-Za-z0-9_-], at most TTLOG_REASON_MAX bytes, "" -> "manual". */
void ttlog__sanitize_reason(const char *in, char *out, size_t len);

/* ---- writer thread (writer.c) ---- */

int ttlog__writer_start(void);
void ttlog__writer_stop(void);
/* async-signal-safe wake-up of the writer for a signal-triggered snapshot */
void ttlog__writer_signal_snapshot(void);
/* Wake the writer thread (an eventfd write): async-signal-safe. */
void ttlog__writer_wake(void);
/* In a forked child (only its forking thread): a new eventfd and writer thread, no
 * request pending. */
void ttlog__writer_after_fork(void);
/* The writer's poll timeout in ms for the next interval snapshot at `next` (0: none),
 * now and next in CLOCK_MONOTONIC ms: -1, or 0..one hour (longer waits are chunked). */
int ttlog__writer_poll_timeout(uint64_t now, uint64_t next);

/* ---- crash handler (crash.c) ---- */

/* Bumped by each ttlog_install_crash_handler(), starts at 1: a thread whose events were
 * set up under another generation calls ttlog__crash_thread_setup() again. */
extern _Atomic uint32_t ttlog__crash_gen __attribute__((visibility("hidden"))); /* no GOT */
/* Give the calling thread an alternate signal stack if the crash handler is installed
 * and it has none. Returns the generation it looked at. Not on the log call's fast path:
 * a thread's first event, and its first after an install. */
uint32_t ttlog__crash_thread_setup(void);
void ttlog__crash_uninstall(void);
/* Remove the crash signals from set (the writer thread keeps them unblocked). */
void ttlog__crash_signals_del(sigset_t *set);
/* In a forked child: no crash snapshot in progress (it was another thread's). */
void ttlog__crash_after_fork(void);

/* ---- interner (interner.c) ---- */

int ttlog__interner_init(size_t bytes);
/* fork(): held by the forking thread across it (pthread_atfork), so that no other thread
 * holds it in the child, where that thread does not exist */
void ttlog__interner_fork_lock(void);
void ttlog__interner_fork_unlock(void);
/* The callsite for a builder's shape, interned on first use. 0 and *id, or -ENOSPC. */
int ttlog__interner_callsite(const ttlog_builder *b, uint32_t *id);

/* ---- the memory cgroup (memlimit.c, memlimit.h) ---- */

/* 0 when the memory cgroup allows what ttlog_init() reserves for this variant, capacity
 * and interner; else -ENOMEM and msg says how much is needed and how much is allowed. */
int ttlog__mem_check(const char *variant, size_t capacity, size_t interner_bytes, char *msg,
		     size_t len);

/* ---- async-signal-safe formatting (fmt.c) ---- */

/* Append s / the decimal v to buf[*pos..len), always NUL-terminated, truncating. */
void ttlog__fmt_str(char *buf, size_t len, size_t *pos, const char *s);
void ttlog__fmt_u64(char *buf, size_t len, size_t *pos, uint64_t v);
/* YYYYmmddHHMMSS (UTC) of ns since the epoch. */
void ttlog__fmt_stamp(char *buf, size_t len, size_t *pos, uint64_t ns);
/* One line "ttlog: <a><b>\n" on stderr with write(2), unless quiet. */
void ttlog__report(const char *a, const char *b);

/* ---- incident triggers (trigger.c) ---- */

#define TTLOG_TRIGGER_POST_MS_DEFAULT 100
#define TTLOG_TRIGGER_MIN_INTERVAL_DEFAULT 10
#define TTLOG_TRIGGER_PRE_DEFAULT 1024
/* The lowest callsite level that fires a trigger; TTLOG_LEVEL_OFF + 1: none. Read by
 * every log call (relaxed). */
extern uint8_t ttlog__trigger_min __attribute__((visibility("hidden"))); /* no GOT */
/* Apply cfg's trigger fields: 0, or -EINVAL with msg. */
int ttlog__trigger_init(const ttlog_config *cfg, char *msg, size_t len);
void ttlog__trigger_stop(void);
void ttlog__trigger_fini(void);
/* Records the pinned window can add to a snapshot (the snapshot buffers' extra room). */
size_t ttlog__trigger_pin_records(void);
/* Fire a trigger (rate limited) for ev (the event that fired it; NULL: none): 0, or
 * -EBUSY when suppressed (counted). Async-signal-safe. */
int ttlog__trigger_fire(const char *reason, const struct ttlog_record *ev);
/* The log call's slow path, after r (level `level`) was stored: copy it into an open
 * post-trigger window; fire a trigger if its level is at or above the trigger level. */
void ttlog__trigger_on_event(int level, const struct ttlog_record *r);
/* In a trigger's snapshot (the writer thread, between the window's close and the end of
 * the snapshot): add the pinned events to recs[0..n) (room for cap), sorted by time and
 * without duplicates, moving their count from overwritten to kept in *cut. Returns the
 * new count; n unchanged in any other snapshot. */
size_t ttlog__trigger_merge(struct ttlog_record *recs, size_t n, size_t cap,
			    struct ttlog_ring_cut *cut);
/* What a trigger's snapshot says of its window (header key "trigger"). */
struct ttlog__trigger_info {
	uint64_t at_ts, first_ts; /* the trigger's time, the oldest pinned event's (ticks) */
	uint64_t pre, post, post_missed;
	uint64_t ev_ts; /* the event that fired it (ticks; 0: none) and its thread */
	uint32_t ev_tid;
};
/* 1 and *ti in a trigger's snapshot (as ttlog__trigger_merge), else 0. */
int ttlog__trigger_header(struct ttlog__trigger_info *ti);
/* Writer thread: checks the loss trigger, and returns the CLOCK_MONOTONIC ms at which it
 * wants to run again (a pending trigger's window end, the next loss sample), 0 = none. */
uint64_t ttlog__trigger_next_ms(uint64_t now_ms);
/* Writer thread: write the pending trigger's snapshot once its window has passed (or now,
 * when the writer is stopping). */
void ttlog__trigger_run(uint64_t now_ms, int now_anyway);
void ttlog__trigger_stats(uint64_t *fired, uint64_t *suppressed);
void ttlog__trigger_after_fork(void);
/* A forked child's box is settled: log calls take their fast path again (unless a
 * trigger's window wants them all). */
void ttlog__trigger_fast_again(void);

/* ---- metrics (metrics.c) ---- */

/* Replace path atomically with the Prometheus text of the counters: 0 or a negative
 * errno. */
int ttlog__metrics_write_file(const char *path);
/* ---- black box (box.c) and recovery (recover.c) ---- */

/* Memory that never goes to the black box (snapshot buffers): anonymous, populated. */
void *ttlog__anon_alloc(size_t bytes);
/* "/dev/shm/ttlog-<euid>" into buf. */
const char *ttlog__box_default_dir(char *buf, size_t len);
/* Open (creating it 0700 when missing and create is set) a box directory: it must be a
 * directory, not a symlink, owned by the effective uid and not writable by group or
 * other. The descriptor, or a negative errno with msg saying why. */
int ttlog__box_dir_open(const char *dir, bool create, char *msg, size_t len);
/* Field 22 of /proc/<pid>/stat (the start time in clock ticks after boot). 0 or -errno. */
int ttlog__proc_start_time(pid_t pid, uint64_t *out);
/* Create and map this process's box in dir for the variant and capacity (ttlog__g's
 * clock, service, hostname, dir and policy are set). 0, or a negative errno and msg. */
int ttlog__box_open(const char *dir, const char *variant, size_t capacity, char *msg,
		    size_t len);
bool ttlog__box_active(void);
/* Unmap and remove the box (ttlog_shutdown, after the ring is destroyed). */
void ttlog__box_close(void);
/* The crash snapshot is written: remove the box's file (async-signal-safe). */
void ttlog__box_crash_written(void);
/* A forked child's box (box_fork.c, driven by fork.c): the parent notes the dictionary
 * and counters at the fork; the child drops its parent's descriptor; settling makes the
 * child's own box: begin copies the parent's into a new file (or private memory) and
 * returns where the copy is from the parent's mapping (0: no box shared with the
 * parent), with the parent's ring memory in [*lo, *lo + *len) (fork.c cuts those rings
 * into the copy); end puts the copy in place. add_counts: losses counted meanwhile;
 * settled_late: callsites registered between the note and the fork, once settled. */
void ttlog__box_before_fork(void);
void ttlog__box_after_fork(void);
/* true in a forked child whose box is still its parent's mapping (never written, the
 * parent's to remove) */
bool ttlog__box_shared(void);
ptrdiff_t ttlog__box_settle_begin(const unsigned char **lo, size_t *len);
void ttlog__box_settle_end(void);
void ttlog__box_add_counts(uint64_t dropped_extra, uint64_t truncated);
void ttlog__box_settled_late(void);
/* Ring memory from the box (page-aligned, zero, its file pages allocated), or NULL when
 * there is no box or no room left. No system call but one fallocate; async-signal-safe. */
void *ttlog__box_carve(size_t bytes);
bool ttlog__box_owns(const void *p);
/* Append a registered callsite to the box's dictionary (async-signal-safe). */
void ttlog__box_callsite(uint32_t id, const struct ttlog_callsite *cs);
/* A newer clock calibration for the box (a live snapshot's; async-signal-safe). */
void ttlog__box_anchor(const struct ttlog__clock_map *m);
/* Count an event in the box: which 0 dropped outside the rings, 1 truncated. */
void ttlog__box_count(int which);
/* ttlog_init(): list the boxes of dead processes of this service and snapshot directory in
 * the box directory; the writer thread, at its start, recovers them into the snapshot
 * directory (ttlog__recover_peers: nothing at all when the list is empty). */
void ttlog__recover_scan(void);
void ttlog__recover_peers(void);

/* ---- fork (fork.c) ---- */

/* A ring's positions when the parent forked (noted by ttlog__fork_prepare). */
struct ttlog__fork_pos {
	uint64_t tail, head, popped, dropped;
	bool valid;
};
/* Every ring segment of the process is tracked (ttlog__box_segment calls track; the
 * segment's memory, freed, untracks it) so that a forked child can cut it back to the
 * fork. track is lock-free and async-signal-safe; untrack takes a mutex. */
void ttlog__fork_track(const struct ttlog_seg *s);
void ttlog__fork_untrack(const void *mem, size_t bytes);
/* pthread_atfork's handlers: prepare notes every ring's positions (a few loads each) and
 * the box's; child marks the child's rings unsettled (nothing else: a child that only
 * execs pays for no copy). */
void ttlog__fork_prepare(void);
void ttlog__fork_parent(void);
void ttlog__fork_child(void);
/* true in a forked child whose rings are not settled yet: every log call then takes the
 * slow path, and whatever touches the rings first calls ttlog__fork_settled(). */
bool ttlog__fork_pending(void);
/* Settle a forked child's rings (fork.c): true once they are the child's own (at once when
 * there is nothing to settle); while another thread settles, false, or with wait it waits
 * for it; false in a signal handler that interrupted the settling. Async-signal-safe
 * (system calls, no allocation). */
bool ttlog__fork_settled(bool wait);
/* A segment whose slots are at slots is tracked (a forked child: its ring is the child's,
 * made before the fork; the parent's box may describe later ones). */
bool ttlog__fork_tracked(const void *slots);
/* While settling: count a loss for the child's box to be (true), or false once the box is
 * in place (count it there). */
bool ttlog__fork_count(int which);
/* Cut one segment back to the fork f (NULL: empty it): its records read from slots src,
 * written to slots dst (src itself: in place), its counters at their address + to_dst. */
void ttlog__fork_cut(const struct ttlog_seg *s, const struct ttlog__fork_pos *f,
		     const unsigned char *src, unsigned char *dst, ptrdiff_t to_dst);

/* ---- the running library (ttlog.c) ---- */

struct ttlog__state {
	/* written by init/shutdown only; read by everyone while running */
	_Atomic(struct ttlog_ring *) ring;
	struct ttlog__clock clock;
	size_t capacity;
	int policy;
	bool quiet, final_snapshot, snapshot_clip;
	unsigned interval_s, keep;
	unsigned snapshot_mode; /* of snapshot files, applied with fchmod; 0600 if 0 */
	int snapshot_signal;
	int dirfd;
	char dir[TTLOG_DIR_MAX + 1];
	char service[TTLOG_SERVICE_MAX];
	char hostname[256];
	char box_dir[TTLOG_DIR_MAX + 1]; /* "" when running without a black box */
	struct ttlog__snapres snap;
	/* this process, and the process it was forked from (0: not a forked child): set by
	 * init and by the fork child handler */
	pid_t pid, parent_pid;
	/* TTLOG_METRICS_FILE: rewritten by the writer thread every metrics_interval_s */
	char metrics_file[TTLOG_DIR_MAX + 1];
	unsigned metrics_interval_s;
	/* counters: written by any thread (relaxed RMW), read by stats and snapshots */
	_Alignas(64) _Atomic uint64_t truncated;
	_Atomic uint64_t dropped_extra; /* interner full, callsite table full */
	_Atomic uint64_t snapshots_written;
	_Atomic uint64_t snapshot_failures;
	_Atomic uint64_t snapshots_coalesced;
	_Atomic uint64_t tmp_seq; /* temporary names when getrandom(2) has nothing */
	_Atomic uint64_t crashes_chained; /* crash signals a previous handler resolved */
	/* snapshots that reached the write, and the time they took */
	_Atomic uint64_t snapshots_timed, snapshot_ns_total, snapshot_ns_last;
};
extern struct ttlog__state ttlog__g;

#endif /* TTLOG_CORE_INTERNAL_H */
