/*
 * snapfile.c - taking a snapshot and putting it on disk atomically: cut the ring into
 * the reserved record buffer, encode into a temporary file in the snapshot directory,
 * fsync, link it to its final name without replacing anything, fsync the directory. On
 * any failure the temporary file is removed, the error is counted and reported, and the
 * program goes on. Also: stale temporary files, retention.
 *
 * The snapshot directory is shared (/tmp by default), so nothing here trusts a name:
 * - files are created 0600 and then fchmod'ed to the configured mode (umask plays no
 *   part, and the data is never readable by others before the mode is set);
 * - the temporary file has no name at all where the file system has O_TMPFILE (it gets
 *   its final name with linkat, which never replaces a file); elsewhere it is
 *   .ttlog-tmp-{pid}-{16 hex random} created with O_EXCL, retried with another random
 *   suffix on a clash, and locked (OFD lock) by its writer for as long as it exists;
 * - stale temporary files are recognised by their lock, not by their pid (pids are per
 *   namespace; a directory is not);
 * - retention deletes only this user's regular files that are ttlog snapshots of this
 *   service, ranked by the time in their name, never the file just written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h> /* GRND_NONBLOCK */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define TMP_PREFIX ".ttlog-tmp-"

/* Tests only: 1 makes every snapshot take the named temporary file path, as on a file
 * system without O_TMPFILE; the hook, when set, sees each temporary file right after it
 * is created, locked and given its mode ("" as name for an O_TMPFILE one). */
int ttlog__test_no_tmpfile;
void (*ttlog__test_tmp_hook)(int fd, const char *name);

/* Set once O_TMPFILE or the /proc link of one failed in this directory: later snapshots go
 * straight to the named path; cleared by ttlog_init (ttlog__clean_stale). relaxed: a hint;
 * a stale read costs one failed attempt. */
static _Atomic int tmpfile_off;

void ttlog__sanitize_reason(const char *in, char *out, size_t len)
{
	size_t i = 0;

	if (in != NULL) {
		for (; i < TTLOG_REASON_MAX && i + 1 < len && in[i] != '\0'; i++) {
			char c = in[i];
			int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				 (c >= '0' && c <= '9') || c == '-' || c == '_';
			out[i] = ok ? c : '_';
		}
	}
	out[i] = '\0';
	if (i == 0 && len > 6)
		strcpy(out, "manual");
}

static uint32_t my_tid(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

/* Claim the reserved snapshot buffers. Ordinary snapshots wait their turn; the crash
 * path steals them from its own thread (it crashed while writing one) and otherwise waits
 * at most ~3 s for another thread's snapshot to finish. */
static int claim(struct ttlog__snapres *s, bool crash, uint32_t tid)
{
	struct timespec nap = {0, 1000 * 1000};
	for (int waited = 0;; waited++) {
		uint32_t free_ = 0;
		/* A1: acquire, pairs with R1 in release_res(): the previous user is done */
		if (atomic_compare_exchange_strong_explicit(&s->owner, &free_, tid,
							    memory_order_acquire,
							    memory_order_relaxed))
			return 0;
		if (crash && free_ == tid) {
			if (s->tmp_name[0] != '\0')
				unlinkat(ttlog__g.dirfd, s->tmp_name, 0);
			return 0;
		}
		if (crash && waited > 3000)
			return -ETIMEDOUT;
		nanosleep(&nap, NULL);
	}
}

static void release_res(struct ttlog__snapres *s)
{
	s->tmp_name[0] = '\0';
	/* R1: release, pairs with A1 in claim() */
	atomic_store_explicit(&s->owner, 0, memory_order_release);
}

int ttlog__snapres_try(void)
{
	uint32_t free_ = 0;

	/* A1 again: the previous user is done */
	return atomic_compare_exchange_strong_explicit(&ttlog__g.snap.owner, &free_, my_tid(),
						       memory_order_acquire, memory_order_relaxed)
		       ? 0
		       : -EBUSY;
}

void ttlog__snapres_give(void)
{
	release_res(&ttlog__g.snap);
}

/* Try to give the temporary file the final name `name`, never replacing a file: 0, or a
 * negative errno (-EEXIST: the name is taken). An O_TMPFILE file (anon) is linked through
 * /proc/self/fd, which needs no capability (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH:
 * it is the fallback when /proc is missing); a named one is renamed with RENAME_NOREPLACE,
 * or linked and unlinked where the file system lacks it. */
static int link_final(struct ttlog__snapres *s, int dirfd, int fd, bool anon, const char *name)
{
	if (anon) {
		char proc[40];
		size_t pos = 0;

		ttlog__fmt_str(proc, sizeof proc, &pos, "/proc/self/fd/");
		ttlog__fmt_u64(proc, sizeof proc, &pos, (uint64_t)fd);
		if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != ENOENT)
			return -errno;
		if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
			return 0;
		return -errno;
	}
	if (renameat2(dirfd, s->tmp_name, dirfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (linkat(dirfd, s->tmp_name, dirfd, name, 0) < 0)
		return -errno;
	unlinkat(dirfd, s->tmp_name, 0);
	return 0;
}

/* Give the temporary file its final name: ttlog-{pid}-{stamp}-{reason}[-n].bin, the first
 * n that is free. */
static int publish(struct ttlog__snapres *s, int dirfd, uint64_t pid, int fd, bool anon,
		   const char *reason, uint64_t ns, char *name, size_t len)
{
	for (unsigned n = 0; n < 10000; n++) {
		size_t pos = 0;
		int err;

		ttlog__fmt_str(name, len, &pos, "ttlog-");
		ttlog__fmt_u64(name, len, &pos, pid);
		ttlog__fmt_str(name, len, &pos, "-");
		ttlog__fmt_stamp(name, len, &pos, ns);
		ttlog__fmt_str(name, len, &pos, "-");
		ttlog__fmt_str(name, len, &pos, reason);
		if (n > 0) {
			ttlog__fmt_str(name, len, &pos, "-");
			ttlog__fmt_u64(name, len, &pos, n);
		}
		ttlog__fmt_str(name, len, &pos, ".bin");
		if ((err = link_final(s, dirfd, fd, anon, name)) != -EEXIST)
			return err;
	}
	return -EEXIST;
}

/* 64 unpredictable bits for a temporary name: getrandom(2) as a raw system call (async-
 * signal-safe; the libc wrapper may keep per-thread state), else the clocks and a counter
 * (a clash is still only a retry). */
static uint64_t random64(void)
{
	uint64_t v = 0;

	if (syscall(SYS_getrandom, &v, sizeof v, GRND_NONBLOCK) == (long)sizeof v)
		return v;
	/* relaxed: only distinctness matters */
	v = atomic_fetch_add_explicit(&ttlog__g.tmp_seq, 1, memory_order_relaxed);
	return (ttlog__realtime_ns() ^ ttlog__rdtsc() ^ (v << 48)) * 0x9E3779B97F4A7C15ull;
}

static void fmt_hex64(char *buf, size_t len, size_t *pos, uint64_t v)
{
	char tmp[17];

	for (int i = 15; i >= 0; i--, v >>= 4)
		tmp[i] = "0123456789abcdef"[v & 15];
	tmp[16] = '\0';
	ttlog__fmt_str(buf, len, pos, tmp);
}

/* An OFD lock on the whole file: held by the writer while its temporary file has a name,
 * taken (read lock) by a cleaner before it removes one. Released when the last descriptor
 * of the open file description closes, that is also when its process dies. */
static int lock_fd(int fd, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* A new temporary file with no name (O_TMPFILE), or -errno. */
static int open_anon(int dirfd)
{
	int fd;

	/* relaxed: tmpfile_off is a hint (see its definition) */
	if (ttlog__test_no_tmpfile || atomic_load_explicit(&tmpfile_off, memory_order_relaxed))
		return -EOPNOTSUPP;
	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		int err = -errno;
		/* not supported by this kernel (EISDIR) or file system (EOPNOTSUPP) */
		if (err == -EOPNOTSUPP || err == -EISDIR || err == -EINVAL)
			atomic_store_explicit(&tmpfile_off, 1, memory_order_relaxed);
		return err;
	}
	return fd;
}

/* A new temporary file .ttlog-tmp-{pid}-{16 hex} (s->tmp_name), created 0600 with O_EXCL
 * and locked. A name that exists (left over, or planted by someone else) is never opened
 * and never fails the snapshot: another random name is tried. The lock is taken after the
 * create, so a cleaner may take it first and remove the file: then the lock fails, or the
 * file has no link left once we hold it, and we start again with a new name. */
static int open_named(struct ttlog__snapres *s, int dirfd)
{
	for (int tries = 0; tries < 64; tries++) {
		struct stat st;
		size_t pos = 0;
		int fd, err;

		ttlog__fmt_str(s->tmp_name, sizeof s->tmp_name, &pos, TMP_PREFIX);
		ttlog__fmt_u64(s->tmp_name, sizeof s->tmp_name, &pos, (uint64_t)getpid());
		ttlog__fmt_str(s->tmp_name, sizeof s->tmp_name, &pos, "-");
		fmt_hex64(s->tmp_name, sizeof s->tmp_name, &pos, random64());
		fd = openat(dirfd, s->tmp_name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = -errno;
			if (err == -EEXIST)
				continue;
			s->tmp_name[0] = '\0';
			return err;
		}
		err = lock_fd(fd, F_WRLCK);
		/* -EINVAL: no OFD locks (before Linux 3.15): go on unlocked */
		if (err == 0 || err == -EINVAL) {
			if (fstat(fd, &st) == 0 && st.st_nlink > 0)
				return fd;
			err = -EAGAIN;
		}
		close(fd); /* a cleaner has it: it removes the name, not us */
		if (err != -EAGAIN && err != -EACCES) {
			unlinkat(dirfd, s->tmp_name, 0);
			s->tmp_name[0] = '\0';
			return err;
		}
	}
	s->tmp_name[0] = '\0';
	return -EEXIST;
}

/* Drop a temporary file that was not published. */
static void discard(struct ttlog__snapres *s, int dirfd, int fd)
{
	if (s->tmp_name[0] != '\0')
		unlinkat(dirfd, s->tmp_name, 0);
	s->tmp_name[0] = '\0';
	close(fd);
}

/* snapshot_clip: the start of the window common to all shards (the latest first_ts of
 * the shards that kept events) when two or more shards kept events, and how many of the
 * leading records are older than it. The sharded variants return records sorted by ts, so
 * the older ones are a prefix; it is counted, not inferred, and only a prefix is left out
 * (the file stays in ring order). Reads the windows of the snapshot just taken; no
 * allocation (the crash path uses it). */
static void clip_window(struct ttlog_ring *ring, struct ttlog__snapinfo *info,
			const struct ttlog_record *recs)
{
	struct ttlog_shard_window w[16];
	size_t n = ring_windows(ring, 0, w, 16), shards = 0, i;
	uint64_t start = 0;

	for (i = 0; i < n; i++) {
		if (i > 0 && i % 16 == 0)
			ring_windows(ring, i, w, 16);
		if (w[i % 16].kept == 0)
			continue;
		if (shards++ == 0 || w[i % 16].first_ts > start)
			start = w[i % 16].first_ts;
	}
	if (shards < 2)
		return;
	info->clip = true;
	info->clip_ts = start;
	while (info->first < info->n && recs[info->first].ts < start)
		info->first++;
}

static int write_snapshot(struct ttlog__snapres *s, const char *reason, char *name,
			  size_t name_len)
{
	struct ttlog_ring *ring = atomic_load_explicit(&ttlog__g.ring, memory_order_acquire);
	struct ttlog__snapinfo info;

	if (ring == NULL)
		return -ESRCH;
	info.reason = reason;
	info.created_ns = ttlog__realtime_ns();
	info.n = ring_snapshot(ring, s->records, ttlog__g.capacity, &info.cut);
	info.n = ttlog__trigger_merge(s->records, info.n, s->records_cap, &info.cut);
	info.cut.dropped += atomic_load_explicit(&ttlog__g.dropped_extra, memory_order_relaxed);
	info.first = 0;
	info.clip = false;
	info.clip_ts = 0;
	if (ttlog__g.snapshot_clip)
		clip_window(ring, &info, s->records);
	info.src = NULL;
	return ttlog__snapfile_write(s, ttlog__g.dirfd,
				     ttlog__g.snapshot_mode != 0 ? ttlog__g.snapshot_mode : 0600,
				     (uint64_t)getpid(), &info, name, name_len);
}

int ttlog__snapfile_write(struct ttlog__snapres *s, int dirfd, unsigned mode, uint64_t pid,
			  const struct ttlog__snapinfo *info, char *name, size_t name_len)
{
	const char *reason = info->reason;
	int fd, err;

	/* O_TMPFILE first; once more on a named file if its link through /proc fails */
	for (int attempt = 0;; attempt++) {
		bool anon = true, retry = false;

		s->tmp_name[0] = '\0';
		if ((fd = open_anon(dirfd)) < 0) {
			anon = false;
			if ((fd = open_named(s, dirfd)) < 0)
				return fd;
		}
		/* 0600 at creation, so nothing is readable by others before this; fchmod, not
		 * the open mode, so that the umask neither narrows nor widens it */
		err = fchmod(fd, (mode_t)mode) < 0 ? -errno : 0;
		if (err == 0 && ttlog__test_tmp_hook != NULL)
			ttlog__test_tmp_hook(fd, s->tmp_name);
		if (err == 0)
			err = ttlog__encode(s, info, fd);
		if (err == 0 && fsync(fd) < 0)
			err = -errno;
		/* published before close: a named file keeps its lock until it has its final
		 * name, an anonymous one is linked through its descriptor */
		if (err == 0) {
			err = publish(s, dirfd, pid, fd, anon, reason, info->created_ns, name,
				      name_len);
			retry = anon && attempt == 0 && err != -EEXIST && err != -ENOSPC &&
				err != -EDQUOT;
		}
		if (err < 0) {
			discard(s, dirfd, fd);
			if (!retry)
				return err;
			/* the link failed, not the write: named files from now on */
			atomic_store_explicit(&tmpfile_off, 1, memory_order_relaxed);
			continue;
		}
		s->tmp_name[0] = '\0';
		close(fd); /* after fsync: nothing left to report */
		break;
	}
	if (fsync(dirfd) < 0)
		return -errno; /* the file is complete; its directory entry may not be durable */
	return 0;
}

static const char *errno_text(int err)
{
	/* strerror is not async-signal-safe; ttlog_strerror is */
	return ttlog_strerror(err);
}

static int snapshot(const char *reason_in, char *path, size_t len, bool crash)
{
	struct ttlog__snapres *s = &ttlog__g.snap;
	char reason[TTLOG_REASON_MAX + 1], name[160];
	uint32_t tid = my_tid();
	int err;

	ttlog__sanitize_reason(reason_in, reason, sizeof reason);
	if ((err = claim(s, crash, tid)) < 0)
		goto out_fail;
	uint64_t t0 = ttlog__mono_ns();
	err = write_snapshot(s, reason, name, sizeof name);
	release_res(s);
	t0 = ttlog__mono_ns() - t0;
	/* relaxed: statistics (ttlog_metrics_text) */
	atomic_store_explicit(&ttlog__g.snapshot_ns_last, t0, memory_order_relaxed);
	atomic_fetch_add_explicit(&ttlog__g.snapshot_ns_total, t0, memory_order_relaxed);
	atomic_fetch_add_explicit(&ttlog__g.snapshots_timed, 1, memory_order_relaxed);
	if (err < 0)
		goto out_fail;
	atomic_fetch_add_explicit(&ttlog__g.snapshots_written, 1, memory_order_relaxed);
	if (!crash && ttlog__g.keep > 0)
		ttlog__retention(ttlog__g.dirfd, ttlog__g.keep, name);
	if (path != NULL && len > 0) {
		size_t pos = 0;
		ttlog__fmt_str(path, len, &pos, ttlog__g.dir);
		ttlog__fmt_str(path, len, &pos, "/");
		ttlog__fmt_str(path, len, &pos, name);
		if (strlen(ttlog__g.dir) + 1 + strlen(name) >= len)
			return -ENAMETOOLONG;
	}
	return 0;

out_fail:
	atomic_fetch_add_explicit(&ttlog__g.snapshot_failures, 1, memory_order_relaxed);
	{
		char msg[128];
		size_t pos = 0;
		ttlog__fmt_str(msg, sizeof msg, &pos, "snapshot '");
		ttlog__fmt_str(msg, sizeof msg, &pos, reason);
		ttlog__fmt_str(msg, sizeof msg, &pos, "' failed: ");
		ttlog__report(msg, errno_text(err));
	}
	return err;
}

int ttlog__snapshot(const char *reason, char *path, size_t len, bool crash)
{
	int err, old;

	/* a forked child's rings, not its parent's (false: this is a signal handler that
	 * interrupted their settling) */
	if (!ttlog__fork_settled(true))
		return -EAGAIN;
	if (crash)
		return snapshot(reason, path, len, true);
	/* fsync and nanosleep are cancellation points: a thread cancelled in there would keep
	 * the snapshot buffers claimed forever, and every later snapshot would wait for them */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	err = snapshot(reason, path, len, false);
	pthread_setcancelstate(old, NULL);
	return err;
}

TTLOG_API int ttlog_snapshot(const char *reason, char *path, size_t len)
{
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_acquire) == NULL)
		return -ESRCH;
	return ttlog__snapshot(reason, path, len, false);
}

/* .ttlog-tmp-{digits}-{hex digits}: the names ttlog gives its temporary files (the pid
 * part decimal, the suffix a sequence number before, 16 random hex digits now) */
/* One of our temporary names: 0 if not; 2 for this version's .ttlog-tmp-{pid}-{16 hex},
 * whose writer always holds a lock; 1 for an older version's .ttlog-tmp-{pid}-{n}, whose
 * writer did not lock. */
static int tmp_name_ours(const char *name)
{
	const char *p = name + sizeof TMP_PREFIX - 1;
	size_t n;

	if (strncmp(name, TMP_PREFIX, sizeof TMP_PREFIX - 1) != 0)
		return 0;
	for (n = 0; *p >= '0' && *p <= '9'; p++)
		n++;
	if (n == 0 || *p++ != '-')
		return 0;
	for (n = 0; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
		n++;
	if (n == 0 || n > 20 || *p != '\0')
		return 0;
	return n == 16 ? 2 : 1;
}

/* A directory stream on its own descriptor (closedir must not close dirfd). */
static DIR *open_dir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d == NULL && fd >= 0)
		close(fd);
	return d;
}

/* Open name for reading if it is a regular file of ours (effective uid) and still the
 * entry we looked at: no symlink followed, no FIFO or device opened (O_NONBLOCK: opening a
 * FIFO does not wait for a writer). The descriptor, or -1. */
static int open_own_regular(int dirfd, const char *name, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_uid != geteuid()) {
		close(fd);
		return -1;
	}
	return fd;
}

/* name still names the file st describes (not replaced since we opened it) */
static bool same_file(int dirfd, const char *name, const struct stat *st)
{
	struct stat now;

	return fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st->st_dev &&
	       now.st_ino == st->st_ino;
}

/*
 * Remove the temporary files that no writer holds. A writer locks its temporary file
 * (lock_fd) right after creating it and keeps the lock until the file has its final name;
 * the lock goes when the writer dies, in whatever pid namespace it lived. A file we can
 * lock is therefore not being written, but for the window between a writer's create and
 * its lock, which the writer closes: once it holds its lock, a writer that finds its file
 * unlinked starts again under a new name (open_named). We unlink while holding the lock,
 * and only a regular file of our uid with one of our names. The names of an older ttlog,
 * whose writers took no lock, are also required to be older than TMP_STALE_S (their
 * mtime: a writer's writes move it), so that a live process running that version keeps
 * the file it is writing.
 */
#define TMP_STALE_S 60

void ttlog__clean_stale(int dirfd)
{
	DIR *d = open_dir(dirfd);
	time_t now = time(NULL);
	struct dirent *de;
	struct stat st;

	/* a new start, maybe a new directory: try O_TMPFILE again */
	atomic_store_explicit(&tmpfile_off, 0, memory_order_relaxed);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		int kind = tmp_name_ours(de->d_name), fd;

		if (kind == 0)
			continue;
		if ((fd = open_own_regular(dirfd, de->d_name, &st)) < 0)
			continue;
		if ((kind == 2 || st.st_mtime <= now - TMP_STALE_S) && lock_fd(fd, F_RDLCK) == 0 &&
		    same_file(dirfd, de->d_name, &st))
			unlinkat(dirfd, de->d_name, 0);
		close(fd);
	}
	closedir(d);
}

/* ---- retention ---- */

/* ttlog-{pid}-{YYYYmmddHHMMSS}-{reason}[-n].bin: the stamp as a number, or 0 when the name
 * is not one ttlog gives (reason: [A-Za-z0-9_-]+) */
static uint64_t snap_stamp(const char *name)
{
	const char *p = name + 6;
	uint64_t stamp = 0;
	size_t n, l = strlen(name);

	if (l >= 256 || l < 6 + 1 + 1 + 14 + 1 + 1 + 4 || strncmp(name, "ttlog-", 6) != 0 ||
	    strcmp(name + l - 4, ".bin") != 0)
		return 0;
	for (n = 0; *p >= '0' && *p <= '9'; p++)
		n++;
	if (n == 0 || *p++ != '-')
		return 0;
	for (n = 0; n < 14; n++, p++) {
		if (*p < '0' || *p > '9')
			return 0;
		stamp = stamp * 10 + (uint64_t)(*p - '0');
	}
	if (*p++ != '-' || p >= name + l - 4)
		return 0;
	for (; p < name + l - 4; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return 0;
	return stamp;
}

/* A CBOR head: major type and argument. */
static bool cbor_head(const unsigned char **p, const unsigned char *end, int *major,
		      uint64_t *arg)
{
	unsigned ai;
	int n;

	if (*p >= end)
		return false;
	*major = **p >> 5;
	ai = *(*p)++ & 31u;
	if (ai < 24) {
		*arg = ai;
		return true;
	}
	n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 0;
	if (n == 0 || end - *p < n)
		return false;
	for (*arg = 0; n > 0; n--)
		*arg = *arg << 8 | *(*p)++;
	return true;
}

static bool cbor_text_is(const unsigned char **p, const unsigned char *end, const char *s)
{
	size_t l = strlen(s);
	uint64_t arg;
	int major;

	if (!cbor_head(p, end, &major, &arg) || major != 3 || arg != l ||
	    (size_t)(end - *p) < l || memcmp(*p, s, l) != 0)
		return false;
	*p += l;
	return true;
}

/*
 * Is the open file fd a ttlog snapshot of our service? It must start with the LZ4 frame
 * magic, and the start of its decompressed content must be the map ttlog writes, whose
 * first keys are, in this order, format "ttlog", version (any unsigned), service (ours).
 * At most the first 128 KiB are read: the first LZ4 block (64 KiB of content at most)
 * holds the start of the map.
 */
static bool is_our_snapshot(LZ4F_dctx *dctx, int fd)
{
	unsigned char in[16384], out[256];
	size_t got = 0;
	off_t off = 0;
	const unsigned char *p = out;
	uint64_t arg;
	int major;

	LZ4F_resetDecompressionContext(dctx);
	while (got < sizeof out && off < 128 * 1024) {
		ssize_t n = pread(fd, in, sizeof in, off);
		size_t used = 0;

		if (n <= 0)
			break;
		if (off == 0 && (n < 4 || in[0] != 0x04 || in[1] != 0x22 || in[2] != 0x4d ||
				 in[3] != 0x18))
			return false;
		off += n;
		while (used < (size_t)n && got < sizeof out) {
			size_t src = (size_t)n - used, dst = sizeof out - got;
			size_t rc = LZ4F_decompress(dctx, out + got, &dst, in + used, &src, NULL);

			if (LZ4F_isError(rc))
				return false;
			used += src;
			got += dst;
			if (rc == 0)
				break; /* end of the frame */
		}
	}
	return cbor_head(&p, out + got, &major, &arg) && major == 5 &&
	       cbor_text_is(&p, out + got, "format") && cbor_text_is(&p, out + got, "ttlog") &&
	       cbor_text_is(&p, out + got, "version") && cbor_head(&p, out + got, &major, &arg) &&
	       major == 0 && cbor_text_is(&p, out + got, "service") &&
	       cbor_text_is(&p, out + got, ttlog__g.service);
}

struct snapfile {
	uint64_t stamp;
	dev_t dev;
	ino_t ino;
	char name[256];
};

/* Newest first: the later stamp in the name; on the same stamp the longer name (so that
 * -10 ranks after -9), then the greater name. mtimes are not used: anyone can set them. */
static int by_age(const void *a, const void *b)
{
	const struct snapfile *x = a, *y = b;
	size_t lx = strlen(x->name), ly = strlen(y->name);

	if (x->stamp != y->stamp)
		return x->stamp < y->stamp ? 1 : -1;
	if (lx != ly)
		return lx < ly ? 1 : -1;
	return strcmp(y->name, x->name);
}

/*
 * Keep the newest `keep` snapshots of this service in the directory. Only this user's
 * regular files that are ttlog snapshots of the same service count and are removed
 * (open_own_regular, is_our_snapshot); the file just written (`keep_name`) is never
 * removed, whatever names others planted.
 */
void ttlog__retention(int dirfd, unsigned keep, const char *keep_name)
{
	DIR *d = open_dir(dirfd);
	struct snapfile *files = NULL;
	size_t n = 0, cap = 0, i;
	LZ4F_dctx *dctx = NULL;
	struct dirent *de;
	struct stat st;

	if (d == NULL)
		return;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
		closedir(d);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t stamp = snap_stamp(de->d_name);
		bool ok;
		int fd;

		if (stamp == 0 || (fd = open_own_regular(dirfd, de->d_name, &st)) < 0)
			continue;
		ok = is_our_snapshot(dctx, fd);
		close(fd);
		if (!ok)
			continue;
		if (n == cap) {
			struct snapfile *f = realloc(files, (cap = cap ? cap * 2 : 64) * sizeof *f);
			if (f == NULL)
				break;
			files = f;
		}
		files[n].stamp = stamp;
		files[n].dev = st.st_dev;
		files[n].ino = st.st_ino;
		memcpy(files[n].name, de->d_name, strlen(de->d_name) + 1);
		n++;
	}
	closedir(d);
	LZ4F_freeDecompressionContext(dctx);
	if (n > keep) {
		qsort(files, n, sizeof *files, by_age);
		for (i = keep; i < n; i++) {
			if (keep_name != NULL && strcmp(files[i].name, keep_name) == 0)
				continue;
			st.st_dev = files[i].dev;
			st.st_ino = files[i].ino;
			if (same_file(dirfd, files[i].name, &st))
				unlinkat(dirfd, files[i].name, 0);
		}
	}
	free(files);
}
