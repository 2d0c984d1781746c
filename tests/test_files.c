/*
 * test_files.c - snapshot files in a shared directory (the default is /tmp): file and
 * temporary modes whatever the umask, TTLOG_SNAPSHOT_MODE, temporary names planted by
 * others, stale temporary files judged by their writer's lock, retention that removes
 * only our own snapshots, a thread cancelled inside ttlog_snapshot(), and a message for
 * every error code.
 */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* internal switches of libttlog (core/snapfile.c), for tests */
extern int ttlog__test_no_tmpfile;
extern void (*ttlog__test_tmp_hook)(int fd, const char *name);

static char dir[4096];
static mode_t saved_umask;
static int snapshot_hung; /* the cancellation test saw a hang: leave ttlog alone */

static int setup(void **state)
{
	(void)state;
	tu_mkdir(dir, sizeof dir);
	saved_umask = umask(022);
	umask(saved_umask);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!snapshot_hung)
		ttlog_shutdown();
	ttlog__test_no_tmpfile = 0;
	ttlog__test_tmp_hook = NULL;
	unsetenv("TTLOG_SNAPSHOT_MODE");
	umask(saved_umask);
	tu_rmdir(dir);
	return 0;
}

/* Start ttlog on dir; keep: retention; service: the snapshots' service. */
static void start(const char *service, unsigned keep)
{
	ttlog_config cfg;
	int rc;

	assert_int_equal(ttlog_config_default(&cfg), 0);
	cfg.snapshot_dir = dir;
	cfg.capacity = 64;
	cfg.service = service;
	cfg.snapshot_keep = keep;
	cfg.quiet = true;
	rc = ttlog_init(&cfg);
	if (rc != 0)
		fail_msg("ttlog_init: %d %s (%s)", rc, ttlog_strerror(rc), ttlog_errmsg());
}

static void snap(const char *reason, char *path, size_t len)
{
	int rc = ttlog_snapshot(reason, path, len);

	if (rc != 0)
		fail_msg("ttlog_snapshot(%s): %d %s", reason, rc, ttlog_strerror(rc));
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		fail_msg("lstat %s: %s", path, strerror(errno));
	return (unsigned)(st.st_mode & 07777);
}

/* ---- modes ---- */

/* What the hook saw of the temporary file. */
static struct {
	int calls;
	unsigned fd_mode, name_mode;
	int anon;           /* no name: an O_TMPFILE file */
	int nlink;
	int lock_conflict;  /* 1: another descriptor could not take a read lock on it */
	char name[64];
} seen;

static void tmp_hook(int fd, const char *name)
{
	struct stat st;
	char p[4200];

	seen.calls++;
	snprintf(seen.name, sizeof seen.name, "%s", name);
	if (fstat(fd, &st) == 0) {
		seen.fd_mode = (unsigned)(st.st_mode & 07777);
		seen.nlink = (int)st.st_nlink;
	}
	seen.anon = name[0] == '\0';
	seen.name_mode = 0;
	seen.lock_conflict = -1;
	if (!seen.anon) {
		struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET};
		int other;

		snprintf(p, sizeof p, "%s/%s", dir, name);
		if (lstat(p, &st) == 0)
			seen.name_mode = (unsigned)(st.st_mode & 07777);
		other = open(p, O_RDONLY | O_CLOEXEC);
		if (other >= 0) {
			seen.lock_conflict =
				fcntl(other, F_OFD_SETLK, &fl) < 0 && errno == EAGAIN ? 1 : 0;
			close(other);
		}
	}
}

/* Snapshot files and temporary files are 0600 (or the configured mode) under umask 0 and
 * 077, on the O_TMPFILE path and on the named one; a named temporary file never looks like
 * a snapshot and is locked by its writer. */
static void check_modes(unsigned want, const char *env)
{
	static const mode_t masks[] = {0, 077};
	char path[4096];

	for (int named = 0; named < 2; named++) {
		for (size_t m = 0; m < 2; m++) {
			if (env != NULL)
				setenv("TTLOG_SNAPSHOT_MODE", env, 1);
			ttlog__test_no_tmpfile = named;
			ttlog__test_tmp_hook = tmp_hook;
			memset(&seen, 0, sizeof seen);
			umask(masks[m]);
			start("test", 0);
			snap("mode", path, sizeof path);
			ttlog_shutdown();
			umask(saved_umask);
			if (seen.calls != 1)
				fail_msg("hook calls %d, want 1", seen.calls);
			if (mode_of(path) != want)
				fail_msg("umask %03o named %d: file %s mode %04o, want %04o",
					 (unsigned)masks[m], named, path, mode_of(path), want);
			if (seen.fd_mode != want)
				fail_msg("umask %03o named %d: temporary mode %04o, want %04o",
					 (unsigned)masks[m], named, seen.fd_mode, want);
			if (named) {
				if (seen.anon)
					fail_msg("named path forced, but the temp had no name");
				if (strncmp(seen.name, ".ttlog-tmp-", 11) != 0)
					fail_msg("temporary name '%s'", seen.name);
				if (seen.name_mode != want)
					fail_msg("temporary %s mode %04o, want %04o", seen.name,
						 seen.name_mode, want);
				if (seen.lock_conflict != 1)
					fail_msg("temporary %s: writer's lock %d, want 1 (held)",
						 seen.name, seen.lock_conflict);
			} else if (seen.anon && seen.nlink != 0) {
				fail_msg("O_TMPFILE temp has %d links", seen.nlink);
			}
			assert_int_equal(tu_count(dir, ".ttlog-tmp-", ""), 0);
			unlink(path);
		}
	}
}

static void test_modes_private_whatever_umask(void **state)
{
	(void)state;
	check_modes(0600, NULL);
}

static void test_mode_env_widens_and_bad_values(void **state)
{
	static const char *const bad[] = {"0666", "0700", "0200", "0400", "0660", "0602",
					  "1600", "4644", "0", "", "abc", "0644x", "-0600",
					  "0o600", "99", "600 ", "0x180", "01000000600"};
	ttlog_config cfg;

	(void)state;
	check_modes(0640, "0640");
	check_modes(0644, "644");
	check_modes(0604, "0604");
	check_modes(0600, "0600");

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc;

		setenv("TTLOG_SNAPSHOT_MODE", bad[i], 1);
		rc = ttlog_config_default(&cfg);
		if (rc != -EINVAL || cfg.env_error != -EINVAL ||
		    strstr(cfg.env_errmsg, "TTLOG_SNAPSHOT_MODE") == NULL)
			fail_msg("TTLOG_SNAPSHOT_MODE='%s': rc %d env_error %d msg '%s', want "
				 "-EINVAL naming the variable", bad[i], rc, cfg.env_error,
				 cfg.env_errmsg);
		cfg.snapshot_dir = dir;
		cfg.quiet = true;
		rc = ttlog_init(&cfg);
		if (rc != -EINVAL || strstr(ttlog_errmsg(), "TTLOG_SNAPSHOT_MODE") == NULL)
			fail_msg("init with TTLOG_SNAPSHOT_MODE='%s': %d '%s'", bad[i], rc,
				 ttlog_errmsg());
	}
	unsetenv("TTLOG_SNAPSHOT_MODE");

	/* the field itself */
	{
		static const unsigned modes[] = {0,    0600, 0640, 0604, 0644, 0666, 0700,
						 0200, 0400, 0660, 0602, 0601, 0610, 0100,
						 0777, 01600, 04644, 02640, 07777, 0x10180};
		for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
			unsigned m = modes[i];
			int ok = m == 0 || m == 0600 || m == 0640 || m == 0604 || m == 0644, rc;

			assert_int_equal(ttlog_config_default(&cfg), 0);
			cfg.snapshot_dir = dir;
			cfg.quiet = true;
			cfg.snapshot_mode = m;
			rc = ttlog_init(&cfg);
			ttlog_shutdown();
			if (rc != (ok ? 0 : -EINVAL))
				fail_msg("snapshot_mode %04o: ttlog_init %d, want %d", m, rc,
					 ok ? 0 : -EINVAL);
		}
	}
}

/* ---- planted temporary names ---- */

static void plant(const char *name, int kind)
{
	char p[4200];
	int fd;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	switch (kind) {
	case 0:
		fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			fail_msg("plant %s: %s", p, strerror(errno));
		close(fd);
		break;
	case 1:
		assert_int_equal(mkdir(p, 0700), 0);
		break;
	case 2:
		assert_int_equal(symlink("/dev/null", p), 0);
		break;
	default:
		assert_int_equal(mkfifo(p, 0600), 0);
		break;
	}
}

/* Every name the old scheme (.ttlog-tmp-{pid}-{n}, n a process-wide counter) could give
 * this process for its first 1024 snapshots exists: snapshots still succeed, on the
 * O_TMPFILE path and on the named one, and the planted names are left alone. */
static void test_planted_temp_names(void **state)
{
	char name[64], path[4096], p[4200];
	int before;

	(void)state;
	for (int n = 0; n < 1024; n++) {
		snprintf(name, sizeof name, ".ttlog-tmp-%d-%d", (int)getpid(), n);
		plant(name, n == 1 ? 1 : n == 2 ? 2 : n == 3 ? 3 : 0);
	}
	before = tu_count(dir, ".ttlog-tmp-", "");
	assert_int_equal(before, 1024);
	for (int named = 0; named < 2; named++) {
		ttlog__test_no_tmpfile = named;
		start("test", 0);
		for (int i = 0; i < 3; i++) {
			ttlog_snapshot_file *s = NULL;
			int rc;

			TTLOG_INFO("planted", "event {}", TTLOG_U64("i", (uint64_t)i));
			snap("planted", path, sizeof path);
			rc = ttlog_snapshot_open(path, &s);
			if (rc != 0)
				fail_msg("open %s: %d %s", path, rc, ttlog_reader_errmsg());
			ttlog_snapshot_close(s);
		}
		ttlog_shutdown();
		if (tu_count(dir, ".ttlog-tmp-", "") != before)
			fail_msg("named %d: %d temporary names after, %d before", named,
				 tu_count(dir, ".ttlog-tmp-", ""), before);
	}
	assert_int_equal(tu_count(dir, "ttlog-", ".bin"), 6);
	snprintf(p, sizeof p, "%s/.ttlog-tmp-%d-1", dir, (int)getpid());
	assert_int_equal(rmdir(p), 0); /* tu_rmdir removes files only */
}

/* ---- stale temporary files ---- */

/* A pid that exists in no namespace of this machine: above pid_max. */
static long absent_pid(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	long max = 4194304;

	if (f != NULL) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 4194304;
		fclose(f);
	}
	return max + 1000;
}

static int make_tmp(const char *name, int age_s)
{
	char p[4200];
	int fd;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	fd = open(p, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		fail_msg("create %s: %s", p, strerror(errno));
	assert_int_equal(write(fd, "x", 1), 1);
	if (age_s > 0) {
		struct timespec t[2] = {{.tv_sec = time(NULL) - age_s},
					{.tv_sec = time(NULL) - age_s}};
		assert_int_equal(futimens(fd, t), 0);
	}
	return fd;
}

static int exists(const char *name)
{
	char p[4200];
	struct stat st;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

/* A temporary file whose writer (this test, standing for a process of another pid
 * namespace: its pid does not exist here) holds its lock survives ttlog_init()'s cleanup;
 * an unlocked one is removed (this version's names at once, since their writers always
 * lock and re-check; an older version's only once an hour old: its writers did not lock);
 * a fresh unlocked one of the old form, another user's, a symlink and names that are not
 * ours are kept. */
static void test_stale_temp_lock_decides(void **state)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	char live[64], stale[64], stale_new[64], fresh[64], other[64], link_[64], target[64];
	char live_new[64], fresh_new[64];
	int fd_live_new;
	long pid = absent_pid();
	int fd_live, fd;

	(void)state;
	snprintf(live, sizeof live, ".ttlog-tmp-%ld-0", pid);
	snprintf(stale, sizeof stale, ".ttlog-tmp-%ld-1", pid);
	snprintf(stale_new, sizeof stale_new, ".ttlog-tmp-%ld-0123456789abcdef", pid);
	snprintf(fresh, sizeof fresh, ".ttlog-tmp-%ld-2", pid);
	snprintf(live_new, sizeof live_new, ".ttlog-tmp-%ld-00000000000000aa", pid);
	snprintf(fresh_new, sizeof fresh_new, ".ttlog-tmp-%ld-fedcba9876543210", pid);
	snprintf(other, sizeof other, ".ttlog-tmp-%ld-3", pid);
	snprintf(link_, sizeof link_, ".ttlog-tmp-%ld-4", pid);
	snprintf(target, sizeof target, "not-a-temp");

	fd_live = make_tmp(live, 3600);
	if (fcntl(fd_live, F_OFD_SETLK, &fl) < 0)
		fail_msg("OFD lock: %s", strerror(errno));
	close(make_tmp(stale, 3600));
	close(make_tmp(stale_new, 3600));
	close(make_tmp(fresh, 0));
	close(make_tmp(fresh_new, 0));
	fd_live_new = make_tmp(live_new, 0);
	if (fcntl(fd_live_new, F_OFD_SETLK, &fl) < 0)
		fail_msg("OFD lock: %s", strerror(errno));
	fd = make_tmp(other, 3600);
	if (geteuid() == 0)
		assert_int_equal(fchown(fd, 65534, 65534), 0);
	close(fd);
	close(make_tmp(target, 3600));
	{
		char p[4200];
		snprintf(p, sizeof p, "%s/%s", dir, link_);
		assert_int_equal(symlink(target, p), 0);
	}

	start("test", 0);
	if (!exists(live))
		fail_msg("%s (lock held by a live writer) was removed", live);
	if (exists(stale))
		fail_msg("%s (unlocked, an hour old) was kept", stale);
	if (exists(stale_new))
		fail_msg("%s (unlocked, an hour old) was kept", stale_new);
	if (!exists(fresh))
		fail_msg("%s (unlocked but fresh, an older version's name) was removed", fresh);
	if (exists(fresh_new))
		fail_msg("%s (unlocked, this version's name) was kept", fresh_new);
	if (!exists(live_new))
		fail_msg("%s (fresh, lock held by a live writer) was removed", live_new);
	if (geteuid() == 0 && !exists(other))
		fail_msg("%s (another user's) was removed", other);
	if (!exists(link_) || !exists(target))
		fail_msg("symlink %s or its target removed: %d %d", link_, exists(link_),
			 exists(target));
	ttlog_shutdown();
	close(fd_live);
	close(fd_live_new);

	/* the writer is gone (its lock with it): the next init removes the file */
	start("test", 0);
	if (exists(live))
		fail_msg("%s (writer gone, an hour old) was kept", live);
}

/* ---- retention ---- */

static void rename_to(const char *from_path, const char *name)
{
	char p[4200];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	if (rename(from_path, p) < 0)
		fail_msg("rename %s -> %s: %s", from_path, p, strerror(errno));
}

static void junk(const char *name, const void *data, size_t n, int year_2099)
{
	char p[4200];
	int fd;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		fail_msg("create %s: %s", p, strerror(errno));
	if (n > 0)
		assert_int_equal(write(fd, data, n), (ssize_t)n);
	if (year_2099) {
		struct timespec t[2] = {{.tv_sec = 4070908800}, {.tv_sec = 4070908800}};
		assert_int_equal(futimens(fd, t), 0);
	}
	close(fd);
}

/* TTLOG_SNAPSHOT_KEEP counts and removes only this user's snapshots of this service,
 * ranked by the time in their names; it keeps other users' files, files named
 * ttlog-*.bin that are not snapshots, FIFOs, symlinks, another service's snapshots, and
 * the file just written even when two empty files dated 2099 exist. */
static void test_retention_only_our_snapshots(void **state)
{
	static const unsigned char lz4_magic_junk[] = {0x04, 0x22, 0x4d, 0x18, 0x64, 0x40,
						       0xa7, 0xff, 0xff, 0x00, 0x00};
	char path[4096], p[4200];
	static const char *const own_old[] = {"ttlog-1-20010101000000-old.bin",
					      "ttlog-1-20020101000000-old.bin",
					      "ttlog-1-20030101000000-old.bin"};
	static const char *const kept[] = {
		"ttlog-1-20000101000000-otherservice.bin", "ttlog-1-20000101000000-nobody.bin",
		"ttlog-2-20990101000000-a.bin", "ttlog-2-20990101000000-b.bin",
		"ttlog-1-19990101000000-text.bin", "ttlog-1-19990101000000-magic.bin",
		"ttlog-1-19990101000000-fifo.bin", "ttlog-1-19990101000000-link.bin",
		"ttlog-1-20030101000000-old.bin"};

	(void)state;
	/* another service's snapshot */
	start("otherservice", 0);
	snap("x", path, sizeof path);
	ttlog_shutdown();
	rename_to(path, "ttlog-1-20000101000000-otherservice.bin");
	/* three old snapshots of ours, one of ours given to another user */
	start("test", 0);
	for (size_t i = 0; i < 3; i++) {
		snap("x", path, sizeof path);
		rename_to(path, own_old[i]);
	}
	snap("x", path, sizeof path);
	ttlog_shutdown();
	rename_to(path, "ttlog-1-20000101000000-nobody.bin");
	snprintf(p, sizeof p, "%s/ttlog-1-20000101000000-nobody.bin", dir);
	if (geteuid() == 0)
		assert_int_equal(chown(p, 65534, 65534), 0);
	else
		unlink(p); /* cannot give it away: that case needs root */
	/* not snapshots */
	junk("ttlog-2-20990101000000-a.bin", NULL, 0, 1);
	junk("ttlog-2-20990101000000-b.bin", NULL, 0, 1);
	junk("ttlog-1-19990101000000-text.bin", "not a snapshot\n", 15, 1);
	junk("ttlog-1-19990101000000-magic.bin", lz4_magic_junk, sizeof lz4_magic_junk, 1);
	snprintf(p, sizeof p, "%s/ttlog-1-19990101000000-fifo.bin", dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	snprintf(p, sizeof p, "%s/ttlog-1-19990101000000-link.bin", dir);
	{
		char t[4200];
		snprintf(t, sizeof t, "%s/%s", dir, own_old[0]);
		assert_int_equal(symlink(t, p), 0);
	}

	start("test", 2);
	snap("new", path, sizeof path);
	if (access(path, F_OK) != 0)
		fail_msg("ttlog_snapshot returned %s, which does not exist", path);
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
		if (geteuid() != 0 && strstr(kept[i], "nobody") != NULL)
			continue;
		if (!exists(kept[i]))
			fail_msg("retention removed %s", kept[i]);
	}
	/* keep 2: the new one and the newest old one by name; the two older ones go */
	if (exists(own_old[0]) || exists(own_old[1]))
		fail_msg("retention kept %s %d, %s %d (want both removed)", own_old[0],
			 exists(own_old[0]), own_old[1], exists(own_old[1]));
	/* a second snapshot: the just-written one of before is now older than the new */
	snap("newer", path, sizeof path);
	if (access(path, F_OK) != 0)
		fail_msg("ttlog_snapshot returned %s, which does not exist", path);
	if (tu_count(dir, "ttlog-", "-new.bin") + tu_count(dir, "ttlog-", "-old.bin") != 1)
		fail_msg("after a second snapshot: %d -new, %d -old, want 1 in all",
			 tu_count(dir, "ttlog-", "-new.bin"), tu_count(dir, "ttlog-", "-old.bin"));
}

/* ---- error messages ---- */

static void test_strerror_every_code(void **state)
{
	static const int codes[] = {
		EINVAL, ENOMEM, ENOSPC, EALREADY, ESRCH, EBUSY, ENOBUFS, E2BIG, EACCES, EPERM,
		ENOENT, ENOTDIR, EISDIR, EROFS, EFBIG, EDQUOT, EIO, ENAMETOOLONG, ETIMEDOUT,
		EEXIST, EMFILE, ENFILE, EINTR, ELOOP, ETXTBSY, EOVERFLOW, EAGAIN, EWOULDBLOCK,
		ENOSYS, EOPNOTSUPP, ENOTSUP, EXDEV, EMLINK, EBADF, EFAULT, ENOLCK, EDEADLK,
		ENODEV, ENXIO, EPIPE, ESTALE, ENOTEMPTY, ECANCELED, EBADMSG, EILSEQ, ERANGE,
		EPROTO};

	(void)state;
	assert_string_equal(ttlog_strerror(0), "success");
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const char *m = ttlog_strerror(-codes[i]);
		if (m == NULL || m[0] == '\0' || strstr(m, "unknown") != NULL)
			fail_msg("ttlog_strerror(-%d) (%s) = '%s'", codes[i], strerror(codes[i]),
				 m ? m : "(null)");
	}
	assert_non_null(strstr(ttlog_strerror(-12345), "unknown"));
}

/* ---- cancellation ---- */

/* Its own frame, which returns: the thread below is unwound by its cancellation, and
 * ASan would find the log macro's block-scoped record still poisoned in an unwound frame. */
static __attribute__((noinline)) void log_one(void)
{
	TTLOG_INFO("cancel", "event");
}

static void *snapshot_forever(void *arg)
{
	(void)arg;
	for (;;) {
		log_one();
		ttlog_snapshot("cancel", NULL, 0);
		pthread_testcancel();
	}
	return NULL;
}

static void *one_snapshot(void *arg)
{
	*(int *)arg = ttlog_snapshot("after", NULL, 0);
	return NULL;
}

/* A thread cancelled while it is in ttlog_snapshot() (cancelled at moving points: at once,
 * then after longer and longer runs) does not leave the snapshot buffers claimed: a later
 * ttlog_snapshot() returns. A hang fails the test after a generous bound; nothing is
 * asserted about how long a snapshot takes. */
static void test_cancelled_snapshot_does_not_hang(void **state)
{
	int rounds = tu_quick() ? 8 : 24;

	(void)state;
	start("test", 0);
	for (int r = 0; r < rounds; r++) {
		struct timespec nap = {0, (long)r * 250 * 1000}, until;
		pthread_t t;
		int rc = -1, jr;

		assert_int_equal(pthread_create(&t, NULL, snapshot_forever, NULL), 0);
		if (r > 0)
			nanosleep(&nap, NULL);
		assert_int_equal(pthread_cancel(t), 0);
		assert_int_equal(pthread_join(t, NULL), 0);

		assert_int_equal(pthread_create(&t, NULL, one_snapshot, &rc), 0);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 120;
		jr = pthread_timedjoin_np(t, NULL, &until);
		if (jr == ETIMEDOUT) {
			snapshot_hung = 1; /* the buffers are held forever: leave ttlog be */
			fail_msg("round %d: ttlog_snapshot() after a cancelled one has not "
				 "returned in 120 s (snapshot buffers still claimed)", r);
		}
		assert_int_equal(jr, 0);
		if (rc != 0)
			fail_msg("round %d: ttlog_snapshot after a cancel: %d %s", r, rc,
				 ttlog_strerror(rc));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_strerror_every_code, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes_private_whatever_umask, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mode_env_widens_and_bad_values, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_planted_temp_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_temp_lock_decides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_only_our_snapshots, setup,
						teardown),
		/* last: on a hang it leaves ttlog running */
		cmocka_unit_test_setup_teardown(test_cancelled_snapshot_does_not_hang, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
