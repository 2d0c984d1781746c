/*
 * fault_matrix.c - snapshots that cannot be written, on every variant, under load.
 *
 *   fault_matrix [--variants=mpmc,spsc,numa] [--full-disk-seconds=S] [--kill-rounds=K]
 *                [--case=NAME]
 *
 * Cases (each in its own child process, two threads logging throughout):
 *   enospc          a small tmpfs filled up: synchronous snapshots return -ENOSPC, the
 *                   writer thread's failures are counted; then with a little room left, so
 *                   that the file is cut off in the middle; then space returns: recovery
 *   efbig           RLIMIT_FSIZE (SIGXFSZ ignored): -EFBIG, counted, then recovery
 *   dir-missing     ttlog_init() on a directory that does not exist: -ENOENT and a message
 *                   naming it; nothing started; then a good directory works
 *   dir-readonly    the tmpfs remounted read-only: -EROFS, counted; remounted rw: recovery
 *   dir-removed     the directory removed while running: -ENOENT, counted, logging goes on;
 *                   recovery needs a new ttlog_init() (the directory handle is gone)
 *   kill-in-write   a process SIGKILLed while its writer thread is writing a snapshot (it
 *                   has its temporary file open), on both paths: O_TMPFILE (where the
 *                   directory takes it) and named temporary files (ttlog__test_no_tmpfile).
 *                   No partial ttlog-*.bin is ever visible (a reader opens every one it
 *                   sees while the process runs); an O_TMPFILE write leaves nothing behind
 *                   (the kernel frees the file), a named one leaves its .ttlog-tmp-* file,
 *                   which the next ttlog_init() on the directory removes at once
 *   full-disk       interval snapshots (1 s) on a full disk for S seconds: every attempt
 *                   fails and is counted, no file appears, and the process does not leak
 *                   (file descriptors and live heap blocks equal before and after, RSS
 *                   growth reported); when space returns the next interval snapshot works
 * In every case: no ttlog-*.bin ever appears while the fault lasts (a watcher thread
 * looks every millisecond), no temporary file is left behind, every file written verifies
 * (stress.h), and at the end the counters account for every event logged, exactly.
 * tests/test_faults.c has the single-threaded unit versions; this is the matrix.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "stress.h"

/* ---- live heap blocks: malloc interposed (this program is never sanitized) ---- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
static _Atomic long live_blocks;

void *malloc(size_t n)
{
	void *p = __libc_malloc(n);
	if (p)
		atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	return p;
}
void *calloc(size_t a, size_t b)
{
	void *p = __libc_calloc(a, b);
	if (p)
		atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	return p;
}
void *realloc(void *old, size_t n)
{
	void *p = __libc_realloc(old, n);
	if (old == NULL && p)
		atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	else if (old != NULL && n == 0 && p == NULL)
		atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
	return p;
}
void *aligned_alloc(size_t al, size_t n)
{
	void *p = __libc_memalign(al, n);
	if (p)
		atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	return p;
}
void *memalign(size_t al, size_t n)
{
	return aligned_alloc(al, n);
}
int posix_memalign(void **out, size_t al, size_t n)
{
	*out = aligned_alloc(al, n);
	return *out ? 0 : ENOMEM;
}
void free(void *p)
{
	if (p)
		atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
	__libc_free(p);
}

/* ---- what a case reports to the parent (shared memory) ---- */

struct result {
	uint64_t runs, faults, survived, logged, kept, overwritten, dropped;
	char label[64]; /* the scenario name in the table, when it differs */
	char note[256];
};
static struct result *RES;

static uint64_t full_disk_s, kill_rounds;
static const char *variant;
static char dir[4096];
static bool mounted;

/* ---- the child's logging and checking ---- */

static struct st_threads TT;
static struct st_verifier V;
static _Atomic int stop_log;
static pthread_t loggers[2];

static void *logger_main(void *arg)
{
	uint64_t t = (uint64_t)(uintptr_t)arg, s = 0;

	atomic_store(&TT.tid[t], st_gettid());
	while (!atomic_load(&stop_log)) {
		ST_LOG_INFO(t, s);
		s++;
		atomic_store_explicit(&TT.count[t], s, memory_order_release);
		if (s % 512 == 0)
			st_sleep_us(200); /* steady, not flat out: the other cases share the CPU */
	}
	return NULL;
}

static void start_q(const char *d, size_t capacity, unsigned interval, bool quiet)
{
	ttlog_config cfg;

	st_config(&cfg, variant, "faults", d, capacity);
	cfg.snapshot_interval_s = interval;
	cfg.quiet = quiet; /* failures are counted; enospc checks the stderr lines */
	st_start(&cfg);
}

static void start(const char *d, size_t capacity, unsigned interval)
{
	start_q(d, capacity, interval, true);
}

static void start_loggers(void)
{
	st_threads_init(&TT, 8);
	st_verifier_init(&V, &TT, variant, "faults");
	for (int i = 0; i < 2; i++) {
		uint64_t t = st_thread_new(&TT);
		pthread_create(&loggers[i], NULL, logger_main, (void *)(uintptr_t)t);
	}
	/* wait until both have logged: the ring has something to snapshot */
	while (atomic_load(&TT.count[1]) < 1000 || atomic_load(&TT.count[2]) < 1000)
		st_sleep_us(1000);
}

static void stop_loggers(void)
{
	atomic_store(&stop_log, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(loggers[i], NULL);
}

/* No snapshot file and no temporary file in d. */
static void assert_no_files(const char *d, const char *when)
{
	int bins = st_count(d, "ttlog-"), tmps = st_count(d, ".ttlog-tmp-");
	ST_CHECK(bins == 0 && tmps == 0, "%s: %d ttlog-*.bin and %d temporary files in %s", when,
		 bins, tmps, d);
}

/* While a fault lasts, a watcher looks every millisecond: no ttlog-*.bin may appear. */
static _Atomic int watch_stop;
static pthread_t watcher;
static _Atomic uint64_t watch_scans;

/* Is there a ttlog-*.bin in the directory open as fd? getdents64 into a stack buffer:
 * no allocation, so the full-disk case can count heap blocks while it watches. */
static bool has_snapshot(int fd)
{
	char buf[8192];
	long n;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return false; /* removed: it holds nothing */
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *de = (void *)(buf + off);
			if (st_is_snapshot_name(de->name))
				return true;
			off += de->reclen;
		}
	}
	return false;
}

static void *watch_main(void *arg)
{
	const char *d = arg;

	while (!atomic_load(&watch_stop)) {
		/* opened each time: the directory may be removed, or another one made there */
		int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ST_CHECK(fd >= 0 || errno == ENOENT, "open %s: %s", d, strerror(errno));
		if (fd >= 0) {
			ST_CHECK(!has_snapshot(fd),
				 "a snapshot file appeared in %s while snapshots must fail", d);
			close(fd);
		}
		atomic_fetch_add(&watch_scans, 1);
		st_sleep_us(1000);
	}
	return NULL;
}

static void watch_begin(const char *d)
{
	atomic_store(&watch_stop, 0);
	atomic_store(&watch_scans, 0);
	pthread_create(&watcher, NULL, watch_main, (void *)d);
}

static void watch_end(void)
{
	/* a watcher that never looked would have seen nothing: let it look once more */
	uint64_t n = atomic_load(&watch_scans);
	while (atomic_load(&watch_scans) < n + 1)
		st_sleep_us(1000);
	atomic_store(&watch_stop, 1);
	pthread_join(watcher, NULL);
}

/* A synchronous snapshot that works; the file verifies and is removed. */
static void snapshot_ok(const char *reason)
{
	char path[4096];
	struct st_result r;
	int rc = ttlog_snapshot(reason, path, sizeof path);

	ST_CHECK(rc == 0, "snapshot '%s' should work: %d %s", reason, rc, ttlog_strerror(rc));
	st_verify_file(&V, path, NULL, &r);
	ST_CHECK(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
}

static uint64_t failures(void)
{
	ttlog_stats st;
	ttlog_get_stats(&st);
	return st.snapshot_failures;
}

/* Wait (hang guard: 120 s) until snapshot_failures reaches want. */
static void wait_failures(uint64_t want, const char *what)
{
	for (int i = 0; i < 120000 && failures() < want; i++)
		st_sleep_us(1000);
	ST_CHECK(failures() >= want, "%s: snapshot_failures %" PRIu64 ", want %" PRIu64, what,
		 failures(), want);
}

/*
 * The fault is on: n synchronous snapshots each return want_err, n requests to the writer
 * thread each fail and are counted, no file appears, logging goes on. Returns the faults
 * injected (failed attempts).
 */
static uint64_t expect_failures(int want_err, int n, const char *d)
{
	uint64_t f0 = failures(), logged0 = st_total(&TT, NULL);

	watch_begin(d);
	for (int i = 0; i < n; i++) {
		char path[4096];
		int rc = ttlog_snapshot("fails", path, sizeof path);
		ST_CHECK(rc == want_err, "snapshot returned %d (%s), want %d (%s)", rc,
			 ttlog_strerror(rc), want_err, ttlog_strerror(want_err));
	}
	ST_CHECK(failures() == f0 + (uint64_t)n, "%d failed snapshots, %" PRIu64 " counted", n,
		 failures() - f0);
	for (int i = 0; i < n; i++) {
		int rc = ttlog_request_snapshot("async-fails");
		ST_CHECK(rc == 0, "ttlog_request_snapshot: %d %s", rc, ttlog_strerror(rc));
	}
	wait_failures(f0 + 2 * (uint64_t)n, "the writer thread's failures");
	watch_end();
	assert_no_files(d, "after the failed snapshots");
	ST_CHECK(st_total(&TT, NULL) > logged0, "logging stopped during the fault");
	return failures() - f0;
}

/* Threads stopped: a last snapshot accounts for every event exactly; then shut down. */
static void finish(uint64_t faults)
{
	char path[4096];
	struct st_result r;
	int rc;

	stop_loggers();
	uint64_t total = st_total(&TT, NULL);
	rc = ttlog_snapshot("final", path, sizeof path);
	ST_CHECK(rc == 0, "final snapshot: %d %s", rc, ttlog_strerror(rc));
	st_verify_file(&V, path, NULL, &r);
	ST_CHECK(r.c.logged == total, "final snapshot: logged %" PRIu64 ", the program logged %" PRIu64,
		 r.c.logged, total);
	unlink(path);
	ttlog_shutdown();
	RES->runs++;
	RES->faults += faults;
	RES->survived++;
	RES->logged += total;
	RES->kept += r.c.kept;
	RES->overwritten += r.c.overwritten;
	RES->dropped += r.c.dropped;
}

static bool mount_tmpfs(const char *d, const char *size)
{
	char opt[64];
	snprintf(opt, sizeof opt, "size=%s", size);
	if (mount("tmpfs", d, "tmpfs", 0, opt) != 0) {
		st_note("cannot mount a tmpfs on %s (%s)", d, strerror(errno));
		return false;
	}
	mounted = true;
	return true;
}

/* Fill the file system of d up to `leave` bytes of free space. */
static void fill(const char *d, long leave, char *filler, size_t len)
{
	static char block[4096];
	snprintf(filler, len, "%s/filler", d);
	int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ST_CHECK(fd >= 0, "%s: %s", filler, strerror(errno));
	for (;;) {
		ssize_t w = write(fd, block, sizeof block);
		if (w <= 0)
			break;
	}
	if (leave > 0) /* give back some room */
		ST_CHECK(ftruncate(fd, lseek(fd, 0, SEEK_CUR) - leave) == 0, "ftruncate: %s",
			 strerror(errno));
	close(fd);
}

/* ---- the cases ---- */

static void case_enospc(void)
{
	char filler[4200], errpath[] = "/tmp/ttlog-stress-stderr-XXXXXX";
	uint64_t faults = 0;

	if (!mount_tmpfs(dir, "8m")) {
		/* no tmpfs: say so, and exercise the same write failure with a file size limit */
		snprintf(RES->note, sizeof RES->note,
			 "enospc: no tmpfs (mount failed), the write failure was injected with "
			 "RLIMIT_FSIZE instead");
		snprintf(RES->label, sizeof RES->label, "enospc(as-efbig)");
		struct rlimit small = {65536, RLIM_INFINITY}, big = {RLIM_INFINITY, RLIM_INFINITY};
		signal(SIGXFSZ, SIG_IGN);
		start(dir, 16384, 0);
		start_loggers();
		snapshot_ok("before");
		setrlimit(RLIMIT_FSIZE, &small);
		faults += expect_failures(-EFBIG, 5, dir);
		setrlimit(RLIMIT_FSIZE, &big);
		snapshot_ok("recovered");
		finish(faults);
		return;
	}
	start_q(dir, 16384, 0, false); /* not quiet: each failure is one line on stderr */
	start_loggers();
	snapshot_ok("before");
	/* stderr into a file while the disk is full (our own failure messages still go to
	 * the real stderr: st_err_fd) */
	int errfd = mkstemp(errpath);
	ST_CHECK(errfd >= 0 && (st_err_fd = dup(2)) >= 0, "mkstemp/dup: %s", strerror(errno));
	unlink(errpath);
	dup2(errfd, 2);
	/* full: every write fails at once */
	fill(dir, 0, filler, sizeof filler);
	faults += expect_failures(-ENOSPC, 5, dir);
	/* almost full: the file is cut off in the middle */
	unlink(filler);
	fill(dir, 48 * 1024, filler, sizeof filler);
	faults += expect_failures(-ENOSPC, 5, dir);
	dup2(st_err_fd, 2);
	/* every failure was reported, once, naming the cause */
	char text[16384];
	ssize_t n = pread(errfd, text, sizeof text - 1, 0);
	uint64_t lines = 0;
	close(errfd);
	text[n > 0 ? n : 0] = '\0';
	for (char *p = text; (p = strstr(p, "failed: no space left")) != NULL; p++)
		lines++;
	ST_CHECK(lines == faults, "%" PRIu64 " failures but %" PRIu64
		 " 'failed: no space left' lines on stderr:\n%s", faults, lines, text);
	/* space returns */
	unlink(filler);
	snapshot_ok("recovered");
	finish(faults);
}

static void case_efbig(void)
{
	struct rlimit small = {4096, RLIM_INFINITY}, mid = {96 * 1024, RLIM_INFINITY},
		      big = {RLIM_INFINITY, RLIM_INFINITY};
	uint64_t faults = 0;

	signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of death */
	start(dir, 16384, 0);
	start_loggers();
	snapshot_ok("before");
	ST_CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit: %s", strerror(errno));
	faults += expect_failures(-EFBIG, 5, dir);
	ST_CHECK(setrlimit(RLIMIT_FSIZE, &mid) == 0, "setrlimit: %s", strerror(errno));
	faults += expect_failures(-EFBIG, 5, dir);
	ST_CHECK(setrlimit(RLIMIT_FSIZE, &big) == 0, "setrlimit: %s", strerror(errno));
	snapshot_ok("recovered");
	finish(faults);
}

static void case_dir_missing(void)
{
	char missing[4200];
	ttlog_config cfg;
	int rc;

	snprintf(missing, sizeof missing, "%s/does-not-exist", dir);
	st_config(&cfg, variant, "faults", missing, 16384);
	cfg.quiet = true;
	rc = ttlog_init(&cfg);
	ST_CHECK(rc == -ENOENT, "ttlog_init on a missing directory: %d %s, want -ENOENT", rc,
		 ttlog_strerror(rc));
	ST_CHECK(strstr(ttlog_errmsg(), "does-not-exist") != NULL,
		 "the message does not name the directory: '%s'", ttlog_errmsg());
	ST_CHECK(ttlog_request_snapshot("x") == -ESRCH, "ttlog runs after a failed init");
	TTLOG_INFO("faults", "ignored before init");
	/* the missing directory is created: a new init works */
	ST_CHECK(mkdir(missing, 0700) == 0, "mkdir: %s", strerror(errno));
	start(missing, 16384, 0);
	start_loggers();
	snapshot_ok("works");
	finish(1);
	rmdir(missing);
}

static void case_dir_readonly(void)
{
	uint64_t faults = 0;

	if (!mount_tmpfs(dir, "8m")) {
		snprintf(RES->note, sizeof RES->note,
			 "dir-readonly: skipped, no tmpfs (mount failed) and no other way to make "
			 "a directory read-only for root");
		return;
	}
	start(dir, 16384, 0);
	start_loggers();
	snapshot_ok("before");
	ST_CHECK(mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=8m") == 0,
		 "remount ro: %s", strerror(errno));
	faults += expect_failures(-EROFS, 5, dir);
	ST_CHECK(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "size=8m") == 0, "remount rw: %s",
		 strerror(errno));
	snapshot_ok("recovered");
	finish(faults);
}

static void case_dir_removed(void)
{
	char sub[4200];
	uint64_t faults = 0;

	snprintf(sub, sizeof sub, "%s/removed", dir);
	ST_CHECK(mkdir(sub, 0700) == 0, "mkdir: %s", strerror(errno));
	start(sub, 16384, 0);
	start_loggers();
	snapshot_ok("before");
	ST_CHECK(rmdir(sub) == 0, "rmdir %s: %s", sub, strerror(errno));
	faults += expect_failures(-ENOENT, 5, sub);
	/* the same path again is another directory: still failing, the handle is gone */
	ST_CHECK(mkdir(sub, 0700) == 0, "mkdir: %s", strerror(errno));
	faults += expect_failures(-ENOENT, 2, sub);
	/* recovery: a new init (the events logged so far were counted by the old ring) */
	stop_loggers();
	ttlog_shutdown();
	atomic_store(&stop_log, 0);
	st_threads_free(&TT);
	st_verifier_free(&V);
	start(sub, 16384, 0);
	start_loggers();
	snapshot_ok("recovered");
	finish(faults);
	rmdir(sub);
}

/* kill-in-write: the victim writes snapshots of a big ring continuously, through named
 * temporary files if `named` */
static void victim(const char *d, bool named)
{
	ttlog__test_no_tmpfile = named;
	start(d, 1 << 18, 0);
	start_loggers();
	for (;;) {
		int rc = ttlog_request_snapshot("victim");
		ST_CHECK(rc == 0 || rc == -EBUSY, "request: %d", rc);
		st_sleep_us(2000);
	}
}

static _Atomic int reader_stop;
static _Atomic uint64_t reader_opens;

/* Opens every ttlog-*.bin it sees while the victim runs: each must decode completely. */
static void *reader_main(void *arg)
{
	const char *d = arg;
	while (!atomic_load(&reader_stop)) {
		char **names = st_list_snapshots(d, NULL);
		for (size_t i = 0; names[i]; i++) {
			char p[4500];
			ttlog_snapshot_file *s;
			snprintf(p, sizeof p, "%s/%s", d, names[i]);
			int rc = ttlog_snapshot_open(p, &s);
			if (rc == -ENOENT)
				continue; /* removed by the test between listing and opening */
			ST_CHECK(rc == 0, "%s: a visible snapshot does not decode: %s", p,
				 ttlog_reader_errmsg());
			ttlog_snapshot_counters c;
			ttlog_snapshot_get_counters(s, &c);
			/* a recovered box's snapshot also counts the records its death cut (torn) */
			ST_CHECK(c.logged == c.kept + c.clipped + c.overwritten + c.dropped +
						     ttlog_snapshot_torn(s),
				 "%s: unbalanced", p);
			ttlog_snapshot_close(s);
			atomic_fetch_add(&reader_opens, 1);
			unlink(p); /* read: make room for the next ones */
		}
		st_free_list(names);
		st_sleep_us(500);
	}
	return NULL;
}

/* Every ttlog-*.bin in d decodes completely (the reader may remove one meanwhile). */
static void assert_complete(const char *d)
{
	char **names = st_list_snapshots(d, NULL);
	for (size_t i = 0; names[i]; i++) {
		char p[4500];
		ttlog_snapshot_file *s;
		snprintf(p, sizeof p, "%s/%s", d, names[i]);
		int rc = ttlog_snapshot_open(p, &s);
		if (rc == -ENOENT)
			continue;
		ST_CHECK(rc == 0, "%s: a snapshot left by a killed writer does not decode: %s", p,
			 ttlog_reader_errmsg());
		ttlog_snapshot_close(s);
	}
	st_free_list(names);
}

/* kill_rounds kills of a victim in the middle of a write on one path; returns the kills
 * that landed between writes (not counted) in *missed. */
static uint64_t kill_in_write(bool named, uint64_t *missed)
{
	/* the path the victim takes: O_TMPFILE unless forced off or the directory lacks it */
	bool anon = !named && st_dir_has_tmpfile(dir);
	uint64_t kills = 0;

	while (kills < kill_rounds) {
		ST_CHECK(*missed < 50 + 10 * kill_rounds, "%" PRIu64 " kills missed the write",
			 *missed);
		fflush(NULL);
		pid_t pid = fork();
		ST_CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0)
			victim(dir, named);
		char prefix[64];
		snprintf(prefix, sizeof prefix, ".ttlog-tmp-%d-", (int)pid);
		/* let it publish a snapshot first (the reader opens what is visible), then wait
		 * until it writes the next one: it has a temporary file open (an O_TMPFILE one
		 * has no name to look for; hang guard 60 s each). Stopped, it is still writing
		 * if it still has it open; then kill. */
		uint64_t opens = atomic_load(&reader_opens);
		struct st_writing w;
		int i, status, n;
		for (i = 0; i < 600000 && atomic_load(&reader_opens) == opens; i++)
			st_sleep_us(100);
		ST_CHECK(i < 600000, "the victim never published a snapshot");
		for (i = 0; i < 600000 && st_writing(pid, dir, &w) <= 0; i++)
			st_sleep_us(100);
		ST_CHECK(i < 600000, "the victim never started a snapshot");
		kill(pid, SIGSTOP);
		ST_CHECK(waitpid(pid, &status, WUNTRACED) == pid && WIFSTOPPED(status),
			 "victim status %#x, want stopped", status);
		n = st_writing(pid, dir, &w);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "victim status %#x",
			 status);
		if (n <= 0) {
			(*missed)++; /* the write finished between our look and the stop */
			continue;
		}
		ST_CHECK(w.anon == anon && w.named == !anon,
			 "the victim wrote through %d O_TMPFILE and %d named temporary files, want "
			 "%d and %d", w.anon, w.named, anon, !anon);
		kills++;
		/* a named write leaves its file (its lock went with the writer); an O_TMPFILE
		 * one nothing: the kernel freed the file with its last descriptor */
		int left = st_count(dir, prefix);
		ST_CHECK(left == !anon, "%d %s* files left by the killed writer, want %d", left,
			 prefix, !anon);
		assert_complete(dir);
		/* the next start removes the dead process's temporary file at once */
		pid_t next = fork();
		if (next == 0) {
			start(dir, 1024, 0);
			ST_CHECK(st_count(dir, prefix) == 0, "the stale %s* file survived ttlog_init",
				 prefix);
			ttlog_shutdown();
			_exit(0);
		}
		waitpid(next, &status, 0);
		ST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the next start failed");
		ST_CHECK(st_count(dir, ".ttlog-tmp-") == 0, "temporary files left");
		assert_complete(dir);
	}
	return kills;
}

static void case_kill_in_write(void)
{
	uint64_t missed = 0, kills_anon, kills_named;
	bool has_tmpfile = st_dir_has_tmpfile(dir);
	pthread_t reader;

	atomic_store(&reader_stop, 0);
	pthread_create(&reader, NULL, reader_main, dir);
	kills_anon = kill_in_write(false, &missed);
	kills_named = kill_in_write(true, &missed);
	atomic_store(&reader_stop, 1);
	pthread_join(reader, NULL);
	ST_CHECK(atomic_load(&reader_opens) > 0, "the reader never saw a complete snapshot");
	snprintf(RES->note, sizeof RES->note,
		 "kill-in-write: %" PRIu64 " kills during an O_TMPFILE write%s, %" PRIu64
		 " during a named one (%" PRIu64 " more landed between writes), %" PRIu64
		 " complete files read while they ran",
		 has_tmpfile ? kills_anon : 0,
		 has_tmpfile ? "" : " (none: the directory takes no O_TMPFILE)", kills_named +
		 (has_tmpfile ? 0 : kills_anon), missed, atomic_load(&reader_opens));
	RES->runs += kills_anon + kills_named;
	RES->faults += kills_anon + kills_named;
	RES->survived += kills_anon + kills_named;
}

static void case_full_disk(void)
{
	char filler[4200];
	ttlog_stats st0, st1;

	if (!mount_tmpfs(dir, "8m")) {
		snprintf(RES->note, sizeof RES->note, "full-disk: skipped, no tmpfs (mount failed)");
		return;
	}
	start(dir, 16384, 1);
	start_loggers();
	fill(dir, 0, filler, sizeof filler);
	watch_begin(dir);
	/* warm up: the first failures touch whatever they touch once */
	wait_failures(2, "interval snapshots on a full disk");
	int fd0 = st_fd_count();
	long rss0 = st_rss_kb(), heap0 = atomic_load(&live_blocks);
	ttlog_get_stats(&st0);
	st_sleep_us(full_disk_s * 1000000);
	/* at least two more attempts in the window: on a machine too busy for that, wait
	 * for them (no timing bound, the watchdog guards a hang) */
	wait_failures(st0.snapshot_failures + 2, "interval snapshots on a full disk");
	ttlog_get_stats(&st1);
	int fd1 = st_fd_count();
	long rss1 = st_rss_kb(), heap1 = atomic_load(&live_blocks);
	watch_end();
	assert_no_files(dir, "after the full-disk period");
	ST_CHECK(st1.snapshots_written == st0.snapshots_written,
		 "%" PRIu64 " snapshots written on a full disk",
		 st1.snapshots_written - st0.snapshots_written);
	ST_CHECK(fd1 == fd0, "file descriptors: %d before, %d after the full-disk period", fd0, fd1);
	ST_CHECK(heap1 == heap0, "live heap blocks: %ld before, %ld after the full-disk period",
		 heap0, heap1);
	/* no performance bound: RSS is reported, and only a runaway (a leak of the snapshot
	 * buffers, MiBs per attempt) fails */
	ST_CHECK(rss1 - rss0 < 4096, "RSS grew by %ld KiB during the full-disk period", rss1 - rss0);
	/* space returns: the next interval snapshot is written (hang guard 60 s) */
	unlink(filler);
	for (int i = 0; i < 60000 && st_count(dir, "ttlog-") == 0; i++)
		st_sleep_us(1000);
	char **names = st_list_snapshots(dir, NULL);
	ST_CHECK(names[0] != NULL, "no interval snapshot after space came back");
	for (size_t i = 0; names[i]; i++) {
		char p[4500];
		struct st_result r;
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		st_verify_file(&V, p, NULL, &r);
		unlink(p);
	}
	st_free_list(names);
	snprintf(RES->note, sizeof RES->note,
		 "full-disk: %" PRIu64 " interval failures in %" PRIu64 " s; fds %d -> %d, heap "
		 "blocks %ld -> %ld, RSS %ld -> %ld KiB",
		 st1.snapshot_failures - st0.snapshot_failures, full_disk_s, fd0, fd1, heap0, heap1,
		 rss0, rss1);
	finish(st1.snapshot_failures);
}

/* ---- the parent ---- */

struct fcase {
	const char *name;
	void (*fn)(void);
};
static const struct fcase cases[] = {
	{"enospc", case_enospc},
	{"efbig", case_efbig},
	{"dir-missing", case_dir_missing},
	{"dir-readonly", case_dir_readonly},
	{"dir-removed", case_dir_removed},
	{"kill-in-write", case_kill_in_write},
	{"full-disk", case_full_disk},
};

static pid_t spawn(const struct fcase *c, const char *v, struct result *res)
{
	variant = v;
	RES = res;
	memset(res, 0, sizeof *res);
	st_set_what(c->name, v);
	st_mkdtemp(dir, sizeof dir, "fault");
	fflush(NULL);
	pid_t pid = fork();
	ST_CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		c->fn();
		if (mounted)
			umount2(dir, MNT_DETACH);
		_exit(0);
	}
	return pid;
}

static void reap(const struct fcase *c, const char *v, pid_t pid, const char *d,
		 struct result *res)
{
	int status;

	st_set_what(c->name, v);
	ST_CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
	umount2(d, MNT_DETACH); /* in case the child died with it mounted */
	ST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "the case failed (status %#x; its message is above)", status);
	if (res->note[0])
		st_note("%s", res->note);
	if (res->runs > 0) {
		struct st_row row = {res->label[0] ? res->label : c->name, v, res->runs, res->faults,
				     res->survived, res->logged, res->kept, res->overwritten,
				     res->dropped};
		st_row_write(&row);
	}
	st_rmdir(d);
}

int main(int argc, char **argv)
{
	const char *vs = st_arg(argc, argv, "--variants");
	char list[256], *save = NULL, *vv[8];
	int nv = 0;

	full_disk_s = st_arg_u64(argc, argv, "--full-disk-seconds", st_quick() ? 10 : 60);
	kill_rounds = st_arg_u64(argc, argv, "--kill-rounds", st_quick() ? 3 : 20);
	const char *only = st_arg(argc, argv, "--case");
	snprintf(list, sizeof list, "%s", vs ? vs : "mpmc");
	for (char *v = strtok_r(list, ", ", &save); v && nv < 8; v = strtok_r(NULL, ", ", &save))
		vv[nv++] = v;
	struct result *res = st_shared(sizeof(struct result) * 8);
	st_watchdog((unsigned)(3600 + full_disk_s * 2), "fault matrix");

	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct fcase *c = &cases[k];
		if (only && strcmp(only, c->name) != 0)
			continue;
		if (strcmp(c->name, "full-disk") == 0) {
			/* mostly waiting: all variants at once */
			pid_t pids[8];
			char dirs[8][4096];
			for (int i = 0; i < nv; i++) {
				pids[i] = spawn(c, vv[i], &res[i]);
				memcpy(dirs[i], dir, sizeof dir);
			}
			for (int i = 0; i < nv; i++)
				reap(c, vv[i], pids[i], dirs[i], &res[i]);
			continue;
		}
		for (int i = 0; i < nv; i++)
			reap(c, vv[i], spawn(c, vv[i], &res[0]), dir, &res[0]);
	}
	return 0;
}
