/*
 * simple.c - the smallest ttlog program: start the library, log a few structured
 * events, take a snapshot, read it back.
 *
 *   simple [DIR]    snapshots go to DIR (default: $TTLOG_SNAPSHOT_DIR, else /tmp)
 *
 * Build against an installed ttlog: cc simple.c $(pkg-config --cflags --libs ttlog)
 */
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include <ttlog/reader.h>
#include <ttlog/ttlog.h>

int main(int argc, char **argv)
{
	ttlog_config cfg;
	ttlog_snapshot_file *snap;
	ttlog_event ev;
	ttlog_builder b;
	char path[4096], text[256];
	int rc;

	ttlog_config_default(&cfg); /* defaults, then the TTLOG_* environment */
	if (argc > 1)
		cfg.snapshot_dir = argv[1];
	if ((rc = ttlog_init(&cfg)) < 0) {
		fprintf(stderr, "simple: ttlog_init: %s\n", ttlog_errmsg());
		return 1;
	}
	ttlog_install_crash_handler(); /* a crash would write a snapshot too */

	/* structured events: the message's {} are filled with the fields when viewed */
	TTLOG_INFO("app", "simple example started as pid {}", TTLOG_U64("pid", (uint64_t)getpid()));
	for (uint64_t job = 1; job <= 3; job++)
		TTLOG_DEBUG("worker", "job {} took {} ms", TTLOG_U64("job", job),
			    TTLOG_F64("ms", 1.25 * (double)job), TTLOG_BOOL("cached", job == 2));
	TTLOG_WARN("worker", "job {} failed: {}", TTLOG_U64("job", 4), TTLOG_STR("error", "disk full"),
		   TTLOG_I64("retry_in_s", -1));
	/* names known only at run time: the builder */
	ttlog_builder_begin(&b, TTLOG_LEVEL_ERROR, "database", "Connection failed");
	ttlog_builder_u64(&b, "connection_id", 12345);
	ttlog_builder_commit(&b);

	/* the snapshot, written now and durable on return (ttlog_request_snapshot() would
	 * ask the writer thread instead, without blocking) */
	if ((rc = ttlog_snapshot("requested", path, sizeof path)) < 0) {
		fprintf(stderr, "simple: ttlog_snapshot: %s\n", ttlog_strerror(rc));
		ttlog_shutdown();
		return 1;
	}
	ttlog_shutdown();
	printf("snapshot: %s\n", path);

	/* read it back */
	if ((rc = ttlog_snapshot_open(path, &snap)) < 0) {
		fprintf(stderr, "simple: %s: %s\n", path, ttlog_reader_errmsg());
		return 1;
	}
	printf("%zu events from %s (pid %" PRIu64 ")\n", ttlog_snapshot_event_count(snap),
	       ttlog_snapshot_service(snap), ttlog_snapshot_pid(snap));
	while (ttlog_snapshot_next(snap, &ev) == 1) {
		ttlog_event_render(&ev, text, sizeof text);
		printf("  %-5s %-8s %s\n", ttlog_level_name(ev.level), ev.target, text);
	}
	ttlog_snapshot_close(snap);
	return 0;
}
