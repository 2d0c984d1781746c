/*
 * test_faults.c - a snapshot that cannot be written: the error comes back (or is counted
 * by the writer thread), no file is left behind (neither ttlog-*.bin nor a temporary),
 * logging goes on, and the next snapshot works once the fault is gone.
 */
#include "testutil.h"

#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/resource.h>

static char dir[4096];

static void log_some(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		TTLOG_INFO("fault", "event {} {}", TTLOG_U64("i", i * 2654435761u),
			   TTLOG_STR("s", "some text that does not compress to nothing"));
}

static void assert_no_files(void)
{
	assert_int_equal(tu_count(dir, "ttlog-", ".bin"), 0);
	assert_int_equal(tu_count(dir, ".ttlog-tmp", ""), 0);
}

/* The fault is cleared by `clear`; then a snapshot must work again. */
static void expect_failure_then_recovery(int want_err, void (*clear)(void))
{
	char path[4096];
	ttlog_stats st;
	int rc;

	rc = ttlog_snapshot("fails", path, sizeof path);
	if (rc != want_err)
		fail_msg("snapshot returned %d (%s), want %d (%s)", rc, ttlog_strerror(rc),
			 want_err, ttlog_strerror(want_err));
	assert_no_files();
	ttlog_get_stats(&st);
	assert_int_equal(st.snapshot_failures, 1);
	/* the writer thread's failures are counted too */
	assert_int_equal(ttlog_request_snapshot("async-fails"), 0);
	tu_wait_for((ttlog_get_stats(&st), st.snapshot_failures >= 2),
		    "the writer thread's failure counted");
	assert_int_equal(st.snapshot_failures, 2);
	assert_no_files();
	/* logging goes on */
	uint64_t before = st.logged;
	log_some(10);
	ttlog_get_stats(&st);
	assert_int_equal(st.logged, before + 10);
	clear();
	assert_int_equal(ttlog_snapshot("recovered", path, sizeof path), 0);
	ttlog_snapshot_file *s = NULL;
	assert_int_equal(ttlog_snapshot_open(path, &s), 0);
	tu_assert_balanced(s);
	ttlog_snapshot_close(s);
	assert_int_equal(tu_count(dir, ".ttlog-tmp", ""), 0);
}

/* ---- ENOSPC: a tiny tmpfs, filled ---- */

static char filler[4200];

static void remove_filler(void)
{
	unlink(filler);
}

static void test_enospc(void **state)
{
	(void)state;
	tu_mkdir(dir, sizeof dir);
	if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
		print_message("test_enospc: cannot mount a tmpfs (%s): skipped, RLIMIT_FSIZE "
			      "covers the write failure\n", strerror(errno));
		tu_rmdir(dir);
		return;
	}
	tu_start(dir, 4096, TTLOG_POLICY_OVERWRITE);
	log_some(4096);
	snprintf(filler, sizeof filler, "%s/filler", dir);
	FILE *f = fopen(filler, "w");
	assert_non_null(f);
	static char block[4096];
	while (fwrite(block, 1, sizeof block, f) == sizeof block && fflush(f) == 0)
		;
	fclose(f);
	expect_failure_then_recovery(-ENOSPC, remove_filler);
}

/* ---- EFBIG: RLIMIT_FSIZE ---- */

static struct rlimit saved_fsize;
static int fsize_saved;

static void restore_fsize(void)
{
	setrlimit(RLIMIT_FSIZE, &saved_fsize);
}

static void test_efbig(void **state)
{
	struct rlimit small;

	(void)state;
	tu_mkdir(dir, sizeof dir);
	tu_start(dir, 4096, TTLOG_POLICY_OVERWRITE);
	log_some(4096);
	signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of death */
	getrlimit(RLIMIT_FSIZE, &saved_fsize);
	fsize_saved = 1;
	small = saved_fsize;
	small.rlim_cur = 2000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	expect_failure_then_recovery(-EFBIG, restore_fsize);
}

/* ---- the directory removed while running ---- */

static void recreate_nothing(void)
{
	/* the directory handle is gone for good: recovery means a new init */
	ttlog_shutdown();
	assert_int_equal(mkdir(dir, 0700), 0);
	tu_start(dir, 64, TTLOG_POLICY_OVERWRITE);
}

static void test_directory_removed(void **state)
{
	(void)state;
	tu_mkdir(dir, sizeof dir);
	tu_start(dir, 64, TTLOG_POLICY_OVERWRITE);
	log_some(10);
	assert_int_equal(rmdir(dir), 0);
	expect_failure_then_recovery(-ENOENT, recreate_nothing);
}

/* ---- read-only directory (tmpfs remounted read-only) ---- */

static void remount_rw(void)
{
	assert_int_equal(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "size=1m"), 0);
}

static void test_read_only(void **state)
{
	(void)state;
	tu_mkdir(dir, sizeof dir);
	if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
		print_message("test_read_only: cannot mount a tmpfs (%s): skipped\n",
			      strerror(errno));
		tu_rmdir(dir);
		return;
	}
	tu_start(dir, 64, TTLOG_POLICY_OVERWRITE);
	log_some(10);
	assert_int_equal(mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
	expect_failure_then_recovery(-EROFS, remount_rw);
}

/* Whatever a test left: stop ttlog, lift the limit, unmount, remove. */
static int teardown(void **state)
{
	(void)state;
	ttlog_shutdown();
	if (fsize_saved)
		restore_fsize();
	fsize_saved = 0;
	umount(dir);
	tu_rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_enospc, teardown),
		cmocka_unit_test_teardown(test_efbig, teardown),
		cmocka_unit_test_teardown(test_directory_removed, teardown),
		cmocka_unit_test_teardown(test_read_only, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
