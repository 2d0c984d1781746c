/*
 * ttlog.c - start and stop, the log call's commit, statistics and levels.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

struct ttlog__state ttlog__g = {.dirfd = -1};

/* The runtime level the macros compare against. OFF until ttlog_init() so that log calls
 * before it (or after shutdown) cost one load and a branch. */
TTLOG_API int ttlog__runtime_level = TTLOG_LEVEL_OFF;

#if defined(TTLOG_VARIANT_DYNAMIC)
const struct ttlog_ring_ops *ttlog__ops;
#endif

static char errmsg[256];

/* The calling thread's id (low 32 bits) and the crash handler generation its alternate
 * stack was set up for (high 32 bits): one load and one compare on the log call see both
 * a new thread (0: generation 0, never current) and a handler installed since. */
static __thread uint64_t tl_self __attribute__((tls_model("initial-exec")));

static uint32_t thread_setup(void)
{
	uint32_t tid = (uint32_t)tl_self, gen;

	if (tid == 0)
		tid = (uint32_t)syscall(SYS_gettid);
	gen = ttlog__crash_thread_setup();
	tl_self = (uint64_t)gen << 32 | tid;
	return tid;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* fork(): the child has only the forking thread. What other threads held is theirs no
 * more: the claim on the snapshot buffers (a snapshot in progress), the crash snapshot
 * state, the writer thread and its eventfd (shared with the parent). The black box is
 * still the parent's: the child makes its own when it first touches the rings
 * (box_fork.c), and until then every log call takes the slow path, which settles it. The
 * parent is not touched. A child that only execs pays a getpid, the eventfd and a thread
 * creation (posix_spawn and vfork run no fork handlers: nothing). */
static void after_fork_child(void)
{
	ttlog__interner_fork_unlock();
	ttlog__fork_child(); /* the rings: unsettled until the child uses them */
	tl_self = 0; /* the child's events carry the child's tid */
	/* relaxed: the child has one thread */
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_relaxed) == NULL)
		return;
	ttlog__g.parent_pid = ttlog__g.pid;
	ttlog__g.pid = getpid();
	/* relaxed: one thread; the parent's temporary file is the parent's to finish */
	atomic_store_explicit(&ttlog__g.snap.owner, 0, memory_order_relaxed);
	ttlog__g.snap.tmp_name[0] = '\0';
	ttlog__crash_after_fork();
	ttlog__trigger_after_fork();
	if (ttlog__fork_pending()) /* relaxed: one thread */
		__atomic_store_n(&ttlog__trigger_min, 0, __ATOMIC_RELAXED);
	ttlog__writer_after_fork();
}

/* the interner's lock is taken before the rings' registry's: nothing holds the registry's
 * while it waits for the interner's */
static void before_fork(void)
{
	ttlog__interner_fork_lock();
	ttlog__fork_prepare();
}

static void after_fork_parent(void)
{
	ttlog__fork_parent();
	ttlog__interner_fork_unlock();
}

static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* The log call's rare cases (ring not running, first event of a callsite, a truncated
 * string, a thread's first event or one after a crash handler install), out of line so
 * that the common path saves no register. Does what TTLOG__COMMIT does. */
static void __attribute__((noinline, cold))
commit_slow(struct ttlog_ring *ring, struct ttlog_callsite *cs, struct ttlog_record *r)
{
	uint32_t id, tid;
	uint64_t self;

	if (__builtin_expect(ttlog__fork_pending(), 0)) {
		if (!ttlog__fork_settled(false)) {
			/* a forked child's other thread is making the child's box: lost, counted
			 * (relaxed: a counter) */
			atomic_fetch_add_explicit(&ttlog__g.dropped_extra, 1, memory_order_relaxed);
			ttlog__box_count(0);
			return;
		}
		/* acquire: as in TTLOG__COMMIT (NULL when the child could not settle) */
		ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	}
	if (ring == NULL)
		return;
	/* acquire: pairs with R2 in ttlog__register() */
	id = __atomic_load_n(&cs->id, __ATOMIC_ACQUIRE);
	if (id == 0) {
		int reg = ttlog__register(cs, true);
		if (reg < 0) {
			/* table or arena full: dropped (relaxed: a counter). A callsite no
			 * snapshot may hold (-EINVAL: level OFF or above, ...) is not an event:
			 * neither recorded nor counted. */
			if (reg == -ENOSPC) {
				atomic_fetch_add_explicit(&ttlog__g.dropped_extra, 1,
							  memory_order_relaxed);
				ttlog__box_count(0);
			}
			return;
		}
		id = (uint32_t)reg;
	}
	if (r->callsite & TTLOG_REC_TRUNCATED) {
		atomic_fetch_add_explicit(&ttlog__g.truncated, 1, memory_order_relaxed);
		ttlog__box_count(1);
	}
	self = tl_self;
	/* relaxed: a new generation has only to be seen by a later event; thread_setup()
	 * reads it again with acquire */
	if ((uint32_t)(self >> 32) != atomic_load_explicit(&ttlog__crash_gen, memory_order_relaxed))
		tid = thread_setup();
	else
		tid = (uint32_t)self;
	r->callsite |= id;
	r->tid = tid;
	r->ts = ttlog__g.clock.tsc ? ttlog__rdtsc() : ttlog__realtime_ns();
	ring_push(ring, r);
	/* relaxed: as in TTLOG__COMMIT */
	if (cs->level >= __atomic_load_n(&ttlog__trigger_min, __ATOMIC_RELAXED))
		ttlog__trigger_on_event(cs->level, r);
}

void TTLOG__COMMIT(struct ttlog_callsite *cs, struct ttlog_record *r)
{
	/* acquire: pairs with the release store in ttlog_init(); the ring is complete */
	struct ttlog_ring *ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	/* acquire: pairs with R2 in ttlog__register() */
	uint32_t id = __atomic_load_n(&cs->id, __ATOMIC_ACQUIRE);
	uint64_t self = tl_self;

	/* relaxed (the generation): as in commit_slow() */
	/* relaxed (the trigger level): a change has only to be seen by later events */
	if (__builtin_expect(ring == NULL || id == 0 || (r->callsite & TTLOG_REC_TRUNCATED) ||
				     cs->level >= __atomic_load_n(&ttlog__trigger_min,
								  __ATOMIC_RELAXED) ||
				     (uint32_t)(self >> 32) !=
					     atomic_load_explicit(&ttlog__crash_gen,
								  memory_order_relaxed) ||
				     !ttlog__g.clock.tsc,
			     0)) {
		commit_slow(ring, cs, r);
		return;
	}
	r->callsite |= id;
	r->tid = (uint32_t)self;
	r->ts = ttlog__rdtsc();
	ring_push(ring, r);
}

static int fail(int err, const char *fmt, const char *arg)
{
	snprintf(errmsg, sizeof errmsg, fmt, arg);
	ttlog__report(errmsg, "");
	return err;
}

TTLOG_API const char *ttlog_errmsg(void)
{
	return errmsg;
}

TTLOG_API int ttlog_init(const ttlog_config *user)
{
	ttlog_config def;
	const ttlog_config *cfg = user;
	struct ttlog_ring_config rc;
	struct ttlog_ring *ring;
	struct stat st;
	size_t capacity;
	int err;

	errmsg[0] = '\0';
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_relaxed) != NULL)
		return fail(-EALREADY, "%s", "ttlog_init: already running");
	if (cfg == NULL) {
		ttlog_config_default(&def);
		cfg = &def;
	}
	ttlog__g.quiet = cfg->quiet;
	if (cfg->env_error != 0)
		return fail(-EINVAL, "environment: %s", cfg->env_errmsg);
	if (!ttlog__config_reserved_ok(cfg))
		return fail(-EINVAL, "%s", "ttlog_config: a field this libttlog does not know is "
				     "set (built against a newer ttlog.h?)");
	if (cfg->capacity != 0 && (cfg->capacity < 16 || cfg->capacity > (1u << 30)))
		return fail(-EINVAL, "%s", "capacity: want 16..2^30 events");
	capacity = cfg->capacity ? cfg->capacity : TTLOG_DEFAULT_CAPACITY;
	if (cfg->level < TTLOG_LEVEL_TRACE || cfg->level > TTLOG_LEVEL_OFF)
		return fail(-EINVAL, "%s", "level: want 0 (trace) .. 6 (off)");
	if (cfg->policy != TTLOG_POLICY_OVERWRITE && cfg->policy != TTLOG_POLICY_DROP)
		return fail(-EINVAL, "%s", "policy: want TTLOG_POLICY_OVERWRITE or _DROP");
	if (cfg->snapshot_signal != 0 && !ttlog__signal_usable(cfg->snapshot_signal))
		return fail(-EINVAL, "%s", "snapshot_signal: want 0, SIGUSR1, SIGUSR2, SIGHUP, "
				     "SIGPWR, SIGURG, SIGWINCH or a real-time signal");
	if (ttlog__check_mode(cfg->snapshot_mode) < 0)
		return fail(-EINVAL, "%s",
			    "snapshot_mode: want 0 (0600), 0600, 0640, 0604 or 0644");
	{
		const char *svc = cfg->service ? cfg->service : program_invocation_short_name;
		const char *dir = cfg->snapshot_dir ? cfg->snapshot_dir : "/tmp";
		if (svc[0] == '\0' || strlen(svc) >= TTLOG_SERVICE_MAX)
			return fail(-EINVAL, "service: want 1..63 bytes, got '%.80s'", svc);
		if (dir[0] == '\0' || strlen(dir) > TTLOG_DIR_MAX)
			return fail(-EINVAL, "%s", "snapshot_dir: empty or too long");
		strcpy(ttlog__g.service, svc);
		strcpy(ttlog__g.dir, dir);
	}
	if (cfg->metrics_file != NULL &&
	    (cfg->metrics_file[0] == '\0' || strlen(cfg->metrics_file) > TTLOG_DIR_MAX))
		return fail(-EINVAL, "%s", "metrics_file: empty or too long");
	if (cfg->metrics_interval_s > 86400)
		return fail(-EINVAL, "%s", "metrics_interval_s: want 0 (10 s) .. 86400");
	snprintf(ttlog__g.metrics_file, sizeof ttlog__g.metrics_file, "%s",
		 cfg->metrics_file != NULL ? cfg->metrics_file : "");
	ttlog__g.metrics_interval_s = cfg->metrics_interval_s ? cfg->metrics_interval_s : 10;
	if ((err = ttlog__trigger_init(cfg, errmsg, sizeof errmsg)) < 0) {
		ttlog__report(errmsg, "");
		return err;
	}
#if defined(TTLOG_VARIANT_DYNAMIC)
	ttlog__ops = ttlog__ring_find(cfg->variant ? cfg->variant
				      : getenv("TTLOG_VARIANT") ? getenv("TTLOG_VARIANT")
								 : TTLOG_DEFAULT_VARIANT);
	if (ttlog__ops == NULL)
		return fail(-EINVAL, "variant '%s' is not linked in",
			    cfg->variant ? cfg->variant : getenv("TTLOG_VARIANT"));
#else
	if (cfg->variant != NULL && strcmp(cfg->variant, ring_name()) != 0)
		return fail(-EINVAL, "variant: this libttlog is built for " ring_name()
				     ", not '%s'", cfg->variant);
#endif
	/* before any page is touched: in a memory cgroup too small for the ring the
	 * pre-faulting would get the process OOM-killed here */
	if ((err = ttlog__mem_check(ring_name(), capacity,
				    cfg->interner_bytes ? cfg->interner_bytes : 1u << 20, errmsg,
				    sizeof errmsg)) < 0) {
		ttlog__report(errmsg, "");
		return err;
	}
	if ((err = ttlog__clock_init(&ttlog__g.clock, getenv("TTLOG_CLOCK"))) < 0)
		return fail(err, "TTLOG_CLOCK='%.40s': want tsc or realtime", getenv("TTLOG_CLOCK"));

	ttlog__g.dirfd = open(ttlog__g.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ttlog__g.dirfd < 0) {
		err = -errno;
		snprintf(errmsg, sizeof errmsg, "snapshot directory '%.200s': %s", ttlog__g.dir,
			 strerror(errno));
		ttlog__report(errmsg, "");
		return err;
	}
	if (fstat(ttlog__g.dirfd, &st) < 0 || faccessat(ttlog__g.dirfd, ".", W_OK | X_OK, 0) < 0) {
		err = -errno;
		snprintf(errmsg, sizeof errmsg, "snapshot directory '%.200s': %s", ttlog__g.dir,
			 strerror(errno));
		ttlog__report(errmsg, "");
		goto fail_dir;
	}
	if (gethostname(ttlog__g.hostname, sizeof ttlog__g.hostname - 1) < 0)
		strcpy(ttlog__g.hostname, "unknown");
	ttlog__g.policy = cfg->policy;
	ttlog__g.final_snapshot = cfg->final_snapshot;
	ttlog__g.snapshot_clip = cfg->snapshot_clip;
	ttlog__g.interval_s = cfg->snapshot_interval_s;
	ttlog__g.keep = cfg->snapshot_keep;
	ttlog__g.snapshot_mode = cfg->snapshot_mode != 0 ? cfg->snapshot_mode : 0600;
	ttlog__g.snapshot_signal = cfg->snapshot_signal;
	ttlog__g.pid = getpid();
	ttlog__g.parent_pid = 0;
	atomic_store_explicit(&ttlog__g.crashes_chained, 0, memory_order_relaxed);
	atomic_store_explicit(&ttlog__g.truncated, 0, memory_order_relaxed);
	atomic_store_explicit(&ttlog__g.dropped_extra, 0, memory_order_relaxed);
	atomic_store_explicit(&ttlog__g.snapshots_written, 0, memory_order_relaxed);
	atomic_store_explicit(&ttlog__g.snapshot_failures, 0, memory_order_relaxed);
	atomic_store_explicit(&ttlog__g.snapshots_coalesced, 0, memory_order_relaxed);
	atomic_store_explicit(&ttlog__g.snapshot_ns_total, 0, memory_order_relaxed);
	atomic_store_explicit(&ttlog__g.snapshots_timed, 0, memory_order_relaxed);
	atomic_store_explicit(&ttlog__g.snapshot_ns_last, 0, memory_order_relaxed);

	ttlog__g.box_dir[0] = '\0';
	if (cfg->blackbox >= 0) {
		const char *bd = cfg->blackbox_dir;
		char def_dir[64];
		if (bd == NULL)
			bd = ttlog__box_default_dir(def_dir, sizeof def_dir);
		if (bd[0] == '\0' || strlen(bd) > TTLOG_DIR_MAX) {
			err = fail(-EINVAL, "%s", "blackbox_dir: empty or too long");
			goto fail_dir;
		}
		if ((err = ttlog__box_open(bd, ring_name(), capacity, errmsg, sizeof errmsg)) < 0) {
			ttlog__report(errmsg, " (TTLOG_BLACKBOX=0 runs without it)");
			goto fail_dir;
		}
		strcpy(ttlog__g.box_dir, bd);
		ttlog__recover_scan(); /* the writer recovers what it finds */
	}
	if ((err = ttlog__interner_init(cfg->interner_bytes ? cfg->interner_bytes : 1u << 20)) < 0) {
		fail(err, "%s", "interner: out of memory");
		goto fail_box;
	}
	rc.capacity = capacity;
	rc.policy = cfg->policy;
	if ((err = ring_create(&ring, &rc)) < 0) {
		fail(err, "ring: cannot reserve %s events", "the configured");
		goto fail_box;
	}
	ttlog__g.capacity = ring_capacity(ring);
	if ((err = ttlog__snapres_init(&ttlog__g.snap,
				       ttlog__g.capacity + ttlog__trigger_pin_records())) < 0) {
		fail(err, "%s", "snapshot buffers: out of memory");
		goto fail_ring;
	}
	ttlog__clean_stale(ttlog__g.dirfd);
	pthread_once(&atfork_once, register_atfork);
	/* release: pairs with the acquire in TTLOG__COMMIT and the writer */
	atomic_store_explicit(&ttlog__g.ring, ring, memory_order_release);
	/* the first write says now, not in the writer later, that the file cannot be written */
	if (ttlog__g.metrics_file[0] != '\0' &&
	    (err = ttlog__metrics_write_file(ttlog__g.metrics_file)) < 0) {
		atomic_store_explicit(&ttlog__g.ring, NULL, memory_order_release);
		snprintf(errmsg, sizeof errmsg, "metrics file '%.200s': %s", ttlog__g.metrics_file,
			 ttlog_strerror(err));
		ttlog__report(errmsg, "");
		goto fail_snap;
	}
	if ((err = ttlog__writer_start()) < 0) {
		atomic_store_explicit(&ttlog__g.ring, NULL, memory_order_release);
		fail(err, "%s", "writer thread: cannot start");
		goto fail_snap;
	}
	__atomic_store_n(&ttlog__runtime_level, cfg->level, __ATOMIC_RELAXED);
	return 0;

fail_snap:
	ttlog__snapres_fini(&ttlog__g.snap);
fail_ring:
	ring_destroy(ring);
fail_box:
	ttlog__box_close();
	ttlog__g.box_dir[0] = '\0';
fail_dir:
	ttlog__trigger_fini();
	close(ttlog__g.dirfd);
	ttlog__g.dirfd = -1;
	return err;
}

TTLOG_API void ttlog_shutdown(void)
{
	struct ttlog_ring *ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);

	if (ring == NULL)
		return;
	__atomic_store_n(&ttlog__runtime_level, TTLOG_LEVEL_OFF, __ATOMIC_RELAXED);
	ttlog__trigger_stop();
	ttlog__writer_stop();
	if (ttlog__g.final_snapshot)
		ttlog__snapshot("shutdown", NULL, 0, false);
	ttlog__crash_uninstall();
	atomic_store_explicit(&ttlog__g.ring, NULL, memory_order_release);
	ttlog__snapres_fini(&ttlog__g.snap);
	ttlog__trigger_fini();
	ring_destroy(ring);
	ttlog__box_close(); /* ended normally: nothing to recover */
	ttlog__g.box_dir[0] = '\0';
	close(ttlog__g.dirfd);
	ttlog__g.dirfd = -1;
}

TTLOG_API void ttlog_set_level(int level)
{
	if (level < TTLOG_LEVEL_TRACE)
		level = TTLOG_LEVEL_TRACE;
	if (level > TTLOG_LEVEL_OFF)
		level = TTLOG_LEVEL_OFF;
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_relaxed) != NULL)
		__atomic_store_n(&ttlog__runtime_level, level, __ATOMIC_RELAXED);
}

TTLOG_API int ttlog_get_level(void)
{
	return __atomic_load_n(&ttlog__runtime_level, __ATOMIC_RELAXED);
}

TTLOG_API const char *ttlog_variant(void)
{
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_relaxed) == NULL)
		return "";
	return ring_name();
}

TTLOG_API void ttlog_get_stats(ttlog_stats *st)
{
	struct ttlog_ring *ring;
	struct ttlog_ring_stats rs = {0};
	uint64_t extra;

	ttlog__fork_settled(true); /* a forked child's rings, not its parent's */
	ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	memset(st, 0, sizeof *st);
	if (ring != NULL)
		ring_stats(ring, &rs);
	extra = atomic_load_explicit(&ttlog__g.dropped_extra, memory_order_relaxed);
	st->overwritten = rs.overwritten + rs.popped;
	st->dropped = rs.dropped + extra;
	st->logged = rs.pushed + st->dropped;
	st->kept = rs.pushed - st->overwritten;
	st->truncated = atomic_load_explicit(&ttlog__g.truncated, memory_order_relaxed);
	st->snapshots_written = atomic_load_explicit(&ttlog__g.snapshots_written, memory_order_relaxed);
	st->snapshot_failures = atomic_load_explicit(&ttlog__g.snapshot_failures, memory_order_relaxed);
	st->snapshots_coalesced =
		atomic_load_explicit(&ttlog__g.snapshots_coalesced, memory_order_relaxed);
	st->crashes_chained = atomic_load_explicit(&ttlog__g.crashes_chained, memory_order_relaxed);
	st->push_path = rs.push_path != NULL ? rs.push_path : "";
	ttlog__trigger_stats(&st->triggers_fired, &st->triggers_suppressed);
}

TTLOG_API const char *ttlog_strerror(int err)
{
	/* Every code a ttlog function can return, from its own checks or from the system
	 * calls under it (open, write, fsync, link, rename, fcntl, mmap, pthread_create, ...):
	 * strerror() is not async-signal-safe, and the crash path reports through this. */
	switch (err) {
	case 0: return "success";
	case -EINVAL: return "invalid argument or configuration";
	case -ENOMEM: return "out of memory";
	case -ENOSPC: return "no space left (disk, or interner full)";
	case -EALREADY: return "ttlog is already running";
	case -ESRCH: return "ttlog is not running";
	case -EBUSY: return "too many snapshot requests pending, or resource busy";
	case -ENOBUFS: return "ring full, event dropped";
	case -E2BIG: return "event does not fit a record";
	case -EACCES: return "permission denied";
	case -EPERM: return "operation not permitted";
	case -ENOENT: return "no such file or directory";
	case -ENOTDIR: return "not a directory";
	case -EISDIR: return "is a directory";
	case -EROFS: return "read-only file system";
	case -EFBIG: return "file too large";
	case -EDQUOT: return "disk quota exceeded";
	case -EIO: return "input/output error";
	case -ENAMETOOLONG: return "name or buffer too long";
	case -ETIMEDOUT: return "timed out waiting for a snapshot in progress";
	case -EEXIST: return "file exists (no free snapshot or temporary name)";
	case -EMFILE: return "too many open files in this process";
	case -ENFILE: return "too many open files in the system";
	case -EINTR: return "interrupted by a signal";
	case -ELOOP: return "too many levels of symbolic links";
	case -ETXTBSY: return "file busy";
	case -EOVERFLOW: return "value too large";
	case -EAGAIN: return "resource temporarily unavailable"; /* = EWOULDBLOCK */
	case -ENOSYS: return "function not implemented by the kernel";
	case -EOPNOTSUPP: return "operation not supported"; /* = ENOTSUP */
	case -EXDEV: return "cross-device link";
	case -EMLINK: return "too many links";
	case -EBADF: return "bad file descriptor";
	case -EFAULT: return "bad address";
	case -ENOLCK: return "no locks available";
	case -EDEADLK: return "resource deadlock avoided";
	case -ENODEV: return "no such device";
	case -ENXIO: return "no such device or address";
	case -EPIPE: return "broken pipe";
	case -ESTALE: return "stale file handle";
	case -ENOTEMPTY: return "directory not empty";
	case -ECANCELED: return "operation canceled";
	case -EBADMSG: return "malformed data";
	case -EILSEQ: return "invalid byte sequence";
	case -ERANGE: return "result out of range";
	case -EPROTO: return "protocol error";
	default: return "unknown error";
	}
}
