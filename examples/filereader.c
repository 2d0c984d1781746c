/* filereader.c - the reader API (<ttlog/reader.h>) in 40 lines: a snapshot's metadata,
 * then each event with its typed fields.   Usage: filereader FILE */
#include <inttypes.h>
#include <stdio.h>

#include <ttlog/reader.h>

int main(int argc, char **argv)
{
	ttlog_snapshot_file *snap;
	ttlog_snapshot_counters c;
	ttlog_event ev;
	char text[512];

	if (argc != 2)
		return fprintf(stderr, "usage: filereader FILE\n"), 2;
	if (ttlog_snapshot_open(argv[1], &snap) < 0) /* any bad file: an error, never a crash */
		return fprintf(stderr, "filereader: %s: %s\n", argv[1], ttlog_reader_errmsg()), 1;
	ttlog_snapshot_get_counters(snap, &c);
	printf("service %s, host %s, pid %" PRIu64 ", reason %s: %zu events, %" PRIu64
	       " overwritten, %" PRIu64 " dropped\n", ttlog_snapshot_service(snap),
	       ttlog_snapshot_hostname(snap), ttlog_snapshot_pid(snap), ttlog_snapshot_reason(snap),
	       ttlog_snapshot_event_count(snap), c.overwritten, c.dropped);
	while (ttlog_snapshot_next(snap, &ev) == 1) { /* oldest first */
		ttlog_event_render(&ev, text, sizeof text); /* {} filled */
		printf("%" PRIu64 " %s %" PRIu32 " %s: %s\n", ev.timestamp_ns,
		       ttlog_level_name(ev.level), ev.thread_id, ev.target, text);
		for (size_t i = 0; i < ev.nfields; i++) {
			const ttlog_field *f = &ev.fields[i];
			printf("    %s (%s%s) = ", f->name, ttlog_type_name(f->type), f->truncated ? ", cut" : "");
			switch (f->type) {
			case TTLOG_TYPE_U64: printf("%" PRIu64 "\n", f->v.u64); break;
			case TTLOG_TYPE_I64: printf("%" PRId64 "\n", f->v.i64); break;
			case TTLOG_TYPE_F64: printf("%g\n", f->v.f64); break;
			case TTLOG_TYPE_BOOL: printf("%s\n", f->v.b ? "true" : "false"); break;
			default: printf("\"%.*s\"\n", (int)f->v.str.len, f->v.str.ptr); break;
			}
		}
	}
	ttlog_snapshot_close(snap);
	return 0;
}
