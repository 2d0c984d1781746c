/*
 * fuzz_recover.c - libFuzzer target for the black box recoverer (core/recover.c), built
 * with clang -fsanitize=fuzzer,address,undefined over the whole library
 * (examples/examples.mk: make fuzz-recover, make fuzz-recover-quick).
 *
 * The input is a box file as it is, but for its header's file_size, set to the input's
 * length (a box whose size disagrees is refused at once, and the mutations should reach
 * the segment table, the slots and the dictionary). The seeds are real boxes compacted to
 * a few KiB (tests/fuzz/gen_box_seeds.c). ttlog_recover() must return an error or write a
 * snapshot that the reader opens and iterates; it must never crash or leak.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ttlog/reader.h>
#include <ttlog/ttlog.h>

#include "../../core/box.h"

static char dir[64], box[128];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char snap[512], msg[512];
	int fd, rc;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof dir, "/tmp/ttlog-fuzz-recover-XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(box, sizeof box, "%s/ttlog-1-1.box", dir);
	}
	fd = open(box, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	if (size >= sizeof(struct ttlog__box_hdr)) {
		uint64_t fs = size;
		if (pwrite(fd, &fs, 8, offsetof(struct ttlog__box_hdr, file_size)) != 8)
			abort();
	}
	close(fd);
	rc = ttlog_recover(box, dir, snap, sizeof snap, msg, sizeof msg);
	if (rc == 0) {
		ttlog_snapshot_file *s = NULL;
		ttlog_event ev;
		char text[512];
		if (ttlog_snapshot_open(snap, &s) != 0) {
			fprintf(stderr, "recovered snapshot unreadable: %s\n",
				ttlog_reader_errmsg());
			abort();
		}
		while (ttlog_snapshot_next(s, &ev) > 0)
			ttlog_event_render(&ev, text, sizeof text);
		ttlog_snapshot_close(s);
		unlink(snap);
	} else if (rc < 0 && msg[0] == '\0') {
		fprintf(stderr, "an error without a message: %d\n", rc);
		abort();
	}
	unlink(box);
	return 0;
}
