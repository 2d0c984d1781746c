/*
 * test_state.c - ttlog-ship's state file (tools/ship_state.c): hostile names survive a
 * save and a load, a malformed file is refused (never read as empty), the file is 0600
 * and replaced whole, one agent holds it at a time, pruning keeps what is seen.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../tools/ship.h"
#include "../rmdir.h"

static char dir[4096], path[4200];

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(dir, sizeof dir, "%s/ttlog-state-test-XXXXXX", t ? t : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/state", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ttlog_rm_scratch_dir(dir);
	return 0;
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_round_trip(void **state)
{
	static const char *const hosts[] = {"web-1", "", "h\xc3\xa9 st%\"]=x", "a\nb\tc", "%-"};
	static const char *const paths[] = {"/d/ttlog-1.bin", "/d i r/ttlog-%41.bin", "/\xff\x01/x",
					    "/d/-", "/d/%-"};
	struct ship_state st;
	struct ship_id id;
	char err[512];
	struct stat sb;

	(void)state;
	assert_int_equal(ship_state_open(&st, path, err, sizeof err), 0);
	for (int i = 0; i < 5; i++) {
		id.host = (char *)hosts[i];
		id.pid = (uint64_t)i * 1000;
		id.created_ns = UINT64_MAX - (uint64_t)i;
		assert_int_equal(ship_state_add(&st, i % 2 ? "syslog+tls://h:6514" : "syslog://h:1",
						&id, paths[i], (uint64_t)i + 7, (uint64_t)i * 3),
				 0);
	}
	assert_int_equal(ship_state_save(&st, err, sizeof err), 0);
	ship_state_close(&st);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(ship_state_open(&st, path, err, sizeof err), 0);
	assert_int_equal(st.n, 5);
	for (int i = 0; i < 5; i++) {
		const char *dest = i % 2 ? "syslog+tls://h:6514" : "syslog://h:1";
		struct ship_entry *e =
			ship_state_find_file(&st, dest, paths[i], (uint64_t)i + 7, (uint64_t)i * 3);
		if (e == NULL)
			fail_msg("entry %d (%s) not found after the load", i, paths[i]);
		assert_string_equal(e->id.host, hosts[i]);
		assert_int_equal(e->id.pid, (uint64_t)i * 1000);
		assert_true(e->id.created_ns == UINT64_MAX - (uint64_t)i);
		id = e->id;
		assert_ptr_equal(ship_state_find_id(&st, dest, &id), e);
		assert_null(ship_state_find_id(&st, "syslog://other:1", &id));
		assert_null(ship_state_find_file(&st, dest, paths[i], (uint64_t)i + 8, 0));
	}
	/* loaded entries start unseen: prune drops those no file matched */
	st.v[1].seen = true;
	st.v[3].seen = true;
	assert_int_equal(ship_state_prune(&st), 3);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.v[0].path, paths[1]);
	assert_string_equal(st.v[1].path, paths[3]);
	ship_state_close(&st);
}

static void expect_refused(const char *text, const char *why)
{
	struct ship_state st;
	char err[512] = "";
	int rc;

	write_file(text);
	rc = ship_state_open(&st, path, err, sizeof err);
	if (rc != -EINVAL)
		fail_msg("%s: open gave %d (%s), want -EINVAL", why, rc, err);
	if (strstr(err, "state") == NULL)
		fail_msg("%s: the message does not name the file: %s", why, err);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_refused("", "empty file");
	expect_refused("# something else\n", "another magic");
	expect_refused("# ttlog-ship state 1\ns h 1 2 3 4\n", "a missing word");
	expect_refused("# ttlog-ship state 1\ns h 1 2 3 4 /p x\n", "an extra word");
	expect_refused("# ttlog-ship state 1\ns h x 2 3 4 /p\n", "a pid that is not a number");
	expect_refused("# ttlog-ship state 1\ns h 1 2 3 99999999999999999999 /p\n", "overflow");
	expect_refused("# ttlog-ship state 1\ns h%zz 1 2 3 4 /p\n", "a bad escape");
	expect_refused("# ttlog-ship state 1\ns h%0 1 2 3 4 /p\n", "a cut escape");
	expect_refused("# ttlog-ship state 1\ns h%00 1 2 3 4 /p\n", "an escaped NUL");
	expect_refused("# ttlog-ship state 1\ns h 1 2 3 4 /p \n", "a trailing space");
	expect_refused("# ttlog-ship state 1\ns  h 1 2 3 4 /p\n", "an empty word");
	expect_refused("# ttlog-ship state 1\ns h\x01 1 2 3 4 /p\n", "a raw control byte");
}

static void test_lock(void **state)
{
	struct ship_state a, b;
	char err[512] = "";

	(void)state;
	assert_int_equal(ship_state_open(&a, path, err, sizeof err), 0);
	assert_int_not_equal(ship_state_open(&b, path, err, sizeof err), 0);
	assert_non_null(strstr(err, "another ttlog-ship uses this state file"));
	ship_state_close(&a);
	assert_int_equal(ship_state_open(&b, path, err, sizeof err), 0);
	ship_state_close(&b);
}

/* a save replaces the file whole and leaves no temporary file behind */
static void test_save_replaces(void **state)
{
	struct ship_state st;
	struct ship_id id = {.host = "h", .pid = 1, .created_ns = 2};
	char err[512], buf[256];
	struct dirent *de;
	FILE *f;
	DIR *d;
	int n = 0;

	(void)state;
	write_file("# ttlog-ship state 1\nsyslog://x:1 old 1 2 3 4 /old\n");
	assert_int_equal(ship_state_open(&st, path, err, sizeof err), 0);
	assert_int_equal(ship_state_prune(&st), 1);
	assert_int_equal(ship_state_add(&st, "syslog://x:1", &id, "/new", 5, 6), 0);
	assert_int_equal(ship_state_save(&st, err, sizeof err), 0);
	ship_state_close(&st);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(buf, sizeof buf, f) != NULL)
		n++;
	fclose(f);
	assert_int_equal(n, 2);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "state") != 0 && strcmp(de->d_name, "state.lock") != 0)
			fail_msg("left behind: %s", de->d_name);
	closedir(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_replaces, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
