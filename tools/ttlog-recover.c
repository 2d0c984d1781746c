/*
 * ttlog-recover - turn the black boxes of processes that are gone (killed by SIGKILL or
 * the OOM killer, which leave no signal to catch) into ordinary snapshot files, through
 * ttlog_recover() (include/ttlog/ttlog.h; the box format is docs/blackbox-format.md).
 * The manual is docs/ttlog-recover.1.
 *
 * Exit status: 0 (every box recovered or left alone because its process lives); 1 when a
 * box could not be recovered (it is kept, and the message says why); 2 for a usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ttlog/ttlog.h>

static const char usage_text[] =
	"usage: ttlog-recover [--out DIR] [--verbose] [DIR|FILE]...\n"
	"Turn the black box of every ttlog process that is gone into a snapshot file\n"
	"(reason 'recovered', the dead process's pid), then remove the box. A box whose\n"
	"process is alive is left alone.\n"
	"\n"
	"  DIR|FILE        a box directory (its ttlog-*.box files) or a box file;\n"
	"                  default: $TTLOG_BLACKBOX_DIR, else /dev/shm/ttlog-<uid>\n"
	"  -o, --out DIR   where the snapshots go (default: $TTLOG_SNAPSHOT_DIR, else /tmp)\n"
	"  -v, --verbose   also say which boxes were left alone and why\n"
	"  -h, --help      this text\n"
	"\n"
	"Exit status: 0; 1 when a box could not be recovered (it is kept); 2 for a usage\n"
	"error. See ttlog-recover(1).\n";

static int failures, recovered;
static bool verbose;
static const char *out_dir;

static void one(const char *path)
{
	char snap[4200], msg[512];
	int rc = ttlog_recover(path, out_dir, snap, sizeof snap, msg, sizeof msg);

	if (rc == 0) {
		recovered++;
		printf("%s -> %s\n", path, snap);
	} else if (rc == 1) {
		if (verbose)
			fprintf(stderr, "ttlog-recover: %s: left alone: %s\n", path, msg);
	} else {
		failures++;
		fprintf(stderr, "ttlog-recover: %s: not recovered (kept): %s\n", path,
			msg[0] ? msg : ttlog_strerror(rc));
	}
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_box(const struct dirent *de)
{
	size_t l = strlen(de->d_name);
	return strncmp(de->d_name, "ttlog-", 6) == 0 && l > 10 &&
	       strcmp(de->d_name + l - 4, ".box") == 0;
}

static void dir(const char *d, bool missing_ok)
{
	struct dirent **list;
	int n = scandir(d, &list, is_box, by_name);

	if (n < 0) {
		if (errno == ENOENT && missing_ok)
			return; /* the default directory: no box was ever made */
		failures++;
		fprintf(stderr, "ttlog-recover: %s: %s\n", d, strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		char path[4200];
		if ((size_t)snprintf(path, sizeof path, "%s/%s", d, list[i]->d_name) < sizeof path)
			one(path);
		free(list[i]);
	}
	free(list);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"out", required_argument, NULL, 'o'},
					     {"verbose", no_argument, NULL, 'v'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct stat st;
	int c;

	while ((c = getopt_long(argc, argv, "o:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out_dir = optarg; break;
		case 'v': verbose = true; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default:
			fputs("Try 'ttlog-recover --help' for more information.\n", stderr);
			return 2;
		}
	}
	if (out_dir != NULL && (stat(out_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
		fprintf(stderr, "ttlog-recover: --out %s: not a directory\n", out_dir);
		fputs("Try 'ttlog-recover --help' for more information.\n", stderr);
		return 2;
	}
	if (optind == argc) {
		char def[64];
		const char *d = getenv("TTLOG_BLACKBOX_DIR");
		if (d == NULL || d[0] == '\0') {
			snprintf(def, sizeof def, "/dev/shm/ttlog-%u", (unsigned)geteuid());
			d = def;
		}
		dir(d, true);
	}
	for (int i = optind; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			dir(argv[i], false);
		else
			one(argv[i]);
	}
	if (verbose)
		fprintf(stderr, "ttlog-recover: %d recovered, %d failed\n", recovered, failures);
	return failures ? 1 : 0;
}
