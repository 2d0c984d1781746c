/*
 * gen_box_seeds.c - seeds for fuzz_recover: real black boxes (a process's own box, read
 * while it runs, for each variant linked in), compacted to a few KiB: the header, the
 * segment table, the dictionary and every segment's slots and counters, one after
 * another, the offsets rewritten. The pid is one no process has, so the recoverer takes
 * the box as a dead process's.
 *
 *   gen_box_seeds OUTDIR
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ttlog/ttlog.h>

#include "../../core/box.h"

static unsigned char in[1 << 20], out[1 << 20];

/* This process's box in boxdir, opened, and its first max bytes in `in`. */
static int read_box(const char *boxdir, size_t *len, size_t max)
{
	char prefix[32], path[600];
	struct dirent *de;
	DIR *d = opendir(boxdir);
	int fd = -1;

	snprintf(prefix, sizeof prefix, "ttlog-%d-", (int)getpid());
	while (d != NULL && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(path, sizeof path, "%s/%s", boxdir, de->d_name);
			fd = open(path, O_RDONLY);
		}
	if (d != NULL)
		closedir(d);
	if (fd < 0)
		return -1;
	*len = (size_t)pread(fd, in, max, 0);
	return fd;
}

static void copy_range(int fd, size_t *top, uint64_t off, uint64_t n, uint64_t *new_off)
{
	if (*top + n > sizeof out || pread(fd, out + *top, n, (off_t)off) != (ssize_t)n) {
		fprintf(stderr, "gen_box_seeds: a box part does not fit\n");
		exit(1);
	}
	*new_off = *top;
	*top += (n + 7) & ~7ull;
}

int main(int argc, char **argv)
{
	static const char *const variants[] = {"mpmc", "spsc", "numa", "percpu"};
	char boxdir[] = "/tmp/ttlog-seed-box-XXXXXX", snapdir[] = "/tmp/ttlog-seed-snap-XXXXXX";

	if (argc != 2 || mkdtemp(boxdir) == NULL || mkdtemp(snapdir) == NULL) {
		fprintf(stderr, "usage: gen_box_seeds OUTDIR\n");
		return 2;
	}
	for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
		ttlog_config cfg;
		struct ttlog__box_hdr h;
		struct ttlog__box_seg seg[64];
		size_t len = 0, top;
		char name[700];
		int fd, ofd;

		ttlog_config_default(&cfg);
		cfg.variant = variants[v];
		cfg.capacity = 16;
		cfg.blackbox_dir = boxdir;
		cfg.snapshot_dir = snapdir;
		cfg.service = "seed";
		cfg.quiet = true;
		if (ttlog_init(&cfg) != 0)
			continue; /* not linked in */
		for (int i = 0; i < 40; i++)
			TTLOG_INFO("seed", "event {} {}", TTLOG_I64("i", i),
				   TTLOG_STR("s", "text"));
		if ((fd = read_box(boxdir, &len, sizeof h)) < 0 || len != sizeof h) {
			ttlog_shutdown();
			continue;
		}
		memcpy(&h, in, sizeof h);
		uint32_t nseg = atomic_load(&h.seg_count);
		if (nseg > 64)
			nseg = 64;
		if (pread(fd, seg, nseg * sizeof *seg, (off_t)h.seg_off) !=
		    (ssize_t)(nseg * sizeof *seg))
			nseg = 0;
		top = TTLOG_BOX_HEADER;
		uint64_t cs_top = atomic_load(&h.cs_top);
		copy_range(fd, &top, h.seg_off, nseg * sizeof *seg, &h.seg_off);
		h.seg_max = nseg;
		copy_range(fd, &top, h.cs_off, cs_top, &h.cs_off);
		h.cs_size = cs_top;
		for (uint32_t i = 0; i < nseg; i++) {
			copy_range(fd, &top, seg[i].slots, seg[i].nslots * TTLOG_RECORD_SIZE,
				   &seg[i].slots);
			copy_range(fd, &top, seg[i].tail, 8, &seg[i].tail);
			copy_range(fd, &top, seg[i].head, 8, &seg[i].head);
			copy_range(fd, &top, seg[i].popped, 8, &seg[i].popped);
			copy_range(fd, &top, seg[i].dropped, 8, &seg[i].dropped);
			if (seg[i].busy != 0) {
				uint64_t b;
				copy_range(fd, &top, seg[i].busy, 8, &b);
				seg[i].busy = b;
			}
		}
		close(fd);
		ttlog_shutdown();
		h.ring_off = 0;
		h.ring_size = 0;
		h.pid = 0x3ffffff0; /* above any pid_max: gone */
		h.file_size = top;
		memcpy(out, &h, sizeof h);
		memcpy(out + h.seg_off, seg, nseg * sizeof *seg);
		snprintf(name, sizeof name, "%s/box-%s", argv[1], variants[v]);
		ofd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (ofd < 0 || write(ofd, out, top) != (ssize_t)top) {
			perror(name);
			return 1;
		}
		close(ofd);
		printf("%s: %zu bytes, %u segments\n", name, top, nseg);
	}
	rmdir(boxdir);
	rmdir(snapdir);
	return 0;
}
