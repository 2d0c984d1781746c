/*
 * snapfile.c - taking a snapshot and putting it on disk atomically: cut the ring into
 * the reserved record buffer, encode into a temporary file in the snapshot directory,
 * fsync, rename to its final name without replacing anything, fsync the directory. On
 * any failure the temporary file is removed, the error is counted and reported, and the
 * program goes on. Also: stale temporary files, retention.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define TMP_PREFIX ".ttlog-tmp-"

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

/* Move tmp to its final name: ttlog-{pid}-{stamp}-{reason}[-n].bin, never replacing a
 * file (RENAME_NOREPLACE, or link+unlink where the file system lacks it). */
static int publish(const char *tmp, const char *reason, uint64_t ns, char *name, size_t len)
{
	for (unsigned n = 0; n < 10000; n++) {
		size_t pos = 0;
		ttlog__fmt_str(name, len, &pos, "ttlog-");
		ttlog__fmt_u64(name, len, &pos, (uint64_t)getpid());
		ttlog__fmt_str(name, len, &pos, "-");
		ttlog__fmt_stamp(name, len, &pos, ns);
		ttlog__fmt_str(name, len, &pos, "-");
		ttlog__fmt_str(name, len, &pos, reason);
		if (n > 0) {
			ttlog__fmt_str(name, len, &pos, "-");
			ttlog__fmt_u64(name, len, &pos, n);
		}
		ttlog__fmt_str(name, len, &pos, ".bin");
		if (renameat2(ttlog__g.dirfd, tmp, ttlog__g.dirfd, name, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			if (linkat(ttlog__g.dirfd, tmp, ttlog__g.dirfd, name, 0) == 0) {
				unlinkat(ttlog__g.dirfd, tmp, 0);
				return 0;
			}
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
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
	size_t pos = 0;
	int fd, err;

	if (ring == NULL)
		return -ESRCH;
	info.reason = reason;
	info.created_ns = ttlog__realtime_ns();
	info.n = ring_snapshot(ring, s->records, s->records_cap, &info.cut);
	info.cut.dropped += atomic_load_explicit(&ttlog__g.dropped_extra, memory_order_relaxed);
	info.first = 0;
	info.clip = false;
	info.clip_ts = 0;
	if (ttlog__g.snapshot_clip)
		clip_window(ring, &info, s->records);

	ttlog__fmt_str(s->tmp_name, sizeof s->tmp_name, &pos, TMP_PREFIX);
	ttlog__fmt_u64(s->tmp_name, sizeof s->tmp_name, &pos, (uint64_t)getpid());
	ttlog__fmt_str(s->tmp_name, sizeof s->tmp_name, &pos, "-");
	ttlog__fmt_u64(s->tmp_name, sizeof s->tmp_name, &pos,
		       atomic_fetch_add_explicit(&ttlog__g.tmp_seq, 1, memory_order_relaxed));
	fd = openat(ttlog__g.dirfd, s->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		s->tmp_name[0] = '\0';
		return -errno;
	}
	err = ttlog__encode(s, &info, fd);
	if (err == 0 && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && err == 0)
		err = -errno;
	if (err == 0)
		err = publish(s->tmp_name, reason, info.created_ns, name, name_len);
	if (err < 0) {
		unlinkat(ttlog__g.dirfd, s->tmp_name, 0);
		return err;
	}
	s->tmp_name[0] = '\0';
	if (fsync(ttlog__g.dirfd) < 0)
		return -errno; /* the file is complete; its directory entry may not be durable */
	return 0;
}

static const char *errno_text(int err)
{
	/* strerror is not async-signal-safe; ttlog_strerror is */
	return ttlog_strerror(err);
}

int ttlog__snapshot(const char *reason_in, char *path, size_t len, bool crash)
{
	struct ttlog__snapres *s = &ttlog__g.snap;
	char reason[TTLOG_REASON_MAX + 1], name[160];
	uint32_t tid = my_tid();
	int err;

	ttlog__sanitize_reason(reason_in, reason, sizeof reason);
	if ((err = claim(s, crash, tid)) < 0)
		goto out_fail;
	err = write_snapshot(s, reason, name, sizeof name);
	release_res(s);
	if (err < 0)
		goto out_fail;
	atomic_fetch_add_explicit(&ttlog__g.snapshots_written, 1, memory_order_relaxed);
	if (!crash && ttlog__g.keep > 0)
		ttlog__retention(ttlog__g.dirfd, ttlog__g.keep);
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

TTLOG_API int ttlog_snapshot(const char *reason, char *path, size_t len)
{
	if (atomic_load_explicit(&ttlog__g.ring, memory_order_acquire) == NULL)
		return -ESRCH;
	return ttlog__snapshot(reason, path, len, false);
}

/* .ttlog-tmp-{pid}-{n}: the pid, or 0 when the name is not one of ours */
static long tmp_pid(const char *name)
{
	char *end;
	long pid;

	if (strncmp(name, TMP_PREFIX, sizeof TMP_PREFIX - 1) != 0)
		return 0;
	pid = strtol(name + sizeof TMP_PREFIX - 1, &end, 10);
	return *end == '-' && pid > 0 ? pid : 0;
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

void ttlog__clean_stale(int dirfd)
{
	DIR *d = open_dir(dirfd);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		long pid = tmp_pid(de->d_name);
		if (pid == 0 || pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			unlinkat(dirfd, de->d_name, 0);
	}
	closedir(d);
}

struct snapfile {
	struct timespec mtime;
	char name[256];
};

static int by_age(const void *a, const void *b)
{
	const struct snapfile *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
	return strcmp(y->name, x->name); /* same time: the later name is newer */
}

void ttlog__retention(int dirfd, unsigned keep)
{
	DIR *d = open_dir(dirfd);
	struct snapfile *files = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (strncmp(de->d_name, "ttlog-", 6) != 0 || l < 10 || l >= 256 ||
		    strcmp(de->d_name + l - 4, ".bin") != 0)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct snapfile *f = realloc(files, (cap = cap ? cap * 2 : 64) * sizeof *f);
			if (f == NULL)
				break;
			files = f;
		}
		files[n].mtime = st.st_mtim;
		memcpy(files[n].name, de->d_name, l + 1);
		n++;
	}
	closedir(d);
	if (n > keep) {
		qsort(files, n, sizeof *files, by_age);
		for (i = keep; i < n; i++)
			unlinkat(dirfd, files[i].name, 0);
	}
	free(files);
}
