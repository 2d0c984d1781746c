/*
 * rmdir.h - remove a test's scratch directory: its files (one level) and itself. Shared by
 * tests/testutil.h and stress/stress.h.
 */
#ifndef TTLOG_TESTS_RMDIR_H
#define TTLOG_TESTS_RMDIR_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void ttlog_rm_scratch_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4096 + 512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

#endif /* TTLOG_TESTS_RMDIR_H */
