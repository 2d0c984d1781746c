/*
 * view.h - what the parts of ttlog-view share: the opened files ("sources"), the options,
 * the text helpers, the escaping, the inputs and the merged timeline (view.c), the
 * printed output (view_out.c) and the terminal UI (view_tui.c); ttlog-view.c is the
 * program (options, main). Not a library: one program, one thread.
 */
#ifndef TTLOG_VIEW_H
#define TTLOG_VIEW_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ttlog/reader.h>

#define PROG "ttlog-view" /* how messages on stderr start */

/* One snapshot file given on the command line (or found in a directory). */
struct vsource {
	const char *path;           /* as given, or owned_path */
	char *owned_path;           /* DIR/ttlog-*.bin found in a directory argument */
	ttlog_snapshot_file *snap;  /* NULL when the file could not be read */
	const char *service, *host; /* from the snapshot, live until it is closed */
	uint64_t pid;
	char *label;   /* how events of this file are marked when there are several files */
	size_t group;  /* index of the first open source of the same process (host, pid) */
	uint8_t *dup;  /* bit per event: also in the process's next file (NULL: none) */
	/* merge state */
	ttlog_event ev; /* this file's next event, when has_ev */
	size_t ord;     /* its index in the file */
	bool has_ev;
};

enum vformat { FMT_TABLE, FMT_JSON, FMT_CSV };

struct vfield_filter {
	char *key;
	char *value; /* NULL: the field only has to be present */
};

struct vopts {
	enum vformat format;
	bool header, stats, interactive;
	bool local;   /* times in local time instead of UTC */
	bool color;   /* ANSI colours (table) / curses colours (TUI) */
	const char *marker; /* appended to a truncated string: "…" or "..." */
	/* filters: an event is shown when it passes all of them */
	int min_level;
	char **targets, **services; /* fnmatch() patterns, any may match */
	size_t ntargets, nservices;
	uint32_t *threads; /* any may match */
	size_t nthreads;
	struct vfield_filter *fields; /* all must match */
	size_t nfields;
	regex_t grep;
	bool has_grep;
	bool has_since, has_until;
	uint64_t since_ns, until_ns; /* inclusive */
	bool has_last;
	size_t last;
	const char *sql;   /* --sql QUERY */
	const char **from; /* --from URL: PostgreSQL databases to read */
	size_t nfrom;
};

/* Some events may be left out (a filter, --last): gap records are then not shown in
 * place, since the events around them may be missing too. */
static inline bool vfiltered(const struct vopts *o)
{
	return o->min_level > 0 || o->ntargets || o->nservices || o->nthreads || o->nfields ||
	       o->has_grep || o->has_since || o->has_until || o->has_last;
}

/* The next gap record of s at *cursor that lies before its event ord (SIZE_MAX: any):
 * true with *g, the cursor moved past it. */
bool vgap_next(const struct vsource *s, size_t *cursor, size_t ord, ttlog_gap *g);

/* malloc, realloc, strdup that end the program (exit 1, a message on stderr) when out of
 * memory. */
void *vxmalloc(size_t n);
void *vxrealloc(void *p, size_t n);
char *vxstrdup(const char *s);

/* A growable text buffer, NUL-terminated. */
struct vbuf {
	char *p;
	size_t len, cap;
};
void vbuf_put(struct vbuf *b, const char *s, size_t n);
void vbuf_putc(struct vbuf *b, char c);
void vbuf_printf(struct vbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vbuf_free(struct vbuf *b);

/* The message with each {} filled by the next field value, into b (reset first); a
 * truncated string value is followed by marker (NULL: no mark). Returns b->len. */
size_t vrender(const ttlog_event *ev, const char *marker, struct vbuf *b);
/* The number of {} in a message (fields past them are shown as key=value). */
size_t vplaceholders(const char *message);
/* A field value as text (no quoting); a truncated string gets the marker. */
void vfield_text(const ttlog_field *f, const char *marker, struct vbuf *b);
/* The name of a level: "TRACE".."FATAL", and "L6".."L255" for the levels a file may hold
 * beyond FATAL (the reader keeps them; they count as above FATAL for --level). */
const char *vlevel(int level);
/* YYYY-mm-ddTHH:MM:SS.uuuuuuZ, or with the local offset (+hh:mm) when local. */
void vtime(uint64_t ns, bool local, char *buf, size_t len);

/* The one rule of what text from a file may show as is (view.c, "output escaping"): the
 * length of the character at p (n >= 1 bytes), with *safe false when it must be escaped
 * (a C0 control, DEL, a C1 control U+0080..U+009F: 2 bytes, a byte that is not UTF-8). */
size_t vchar(const unsigned char *p, size_t n, bool *safe);
/* Escaped output of text taken from a file, per format: JSON strings; a terminal's text
 * (quote: as a key=value value, quoted when needed); a CSV cell (formulas neutralised). */
void vjson_str(FILE *f, const char *s, size_t n);
void vjson_cstr(FILE *f, const char *s);
void vtext_str(FILE *f, const char *s, size_t n, bool quote);
void vcsv_str(FILE *f, const char *s, size_t n);
/* "ttlog-view: PATH: MSG" on stderr, one line whatever the file put in msg. */
void verr_line(const char *path, const char *msg);

/* Does the event pass the filters? text is its rendered message without marker. */
bool vmatch_meta(const struct vopts *o, const struct vsource *src, const ttlog_event *ev);
bool vmatch_text(const struct vopts *o, const char *text);

/*
 * The merged timeline: every open source's events by timestamp, a stable k-way merge
 * (each file keeps its own order; equal timestamps go to the file given first); the
 * events of a file marked in its dup bitmap are skipped (counted in duplicates).
 */
struct vmerge;
struct vmerge *vmerge_begin(struct vsource *src, size_t nsrc);
/* The next event, or NULL at the end; *ev lives until the next call. */
struct vsource *vmerge_next(struct vmerge *m, const ttlog_event **ev);
size_t vmerge_duplicates(const struct vmerge *m);
void vmerge_end(struct vmerge *m);

/* Add path, or the ttlog-*.bin files of the directory path, to *src (grown as needed,
 * *cap its room). Returns false when an input was not added (reported on stderr). */
bool vadd_input(const char *path, struct vsource **src, size_t *nsrc, size_t *cap);
/* Label the opened sources (service, @host, [pid] as needed) and group the files of one
 * process; returns the number of processes. */
size_t vmake_labels(struct vsource *src, size_t nsrc);
/* Mark, for each process with several files, the events its next file repeats. */
void vmark_overlaps(struct vsource *src, size_t nsrc);

/* The printed output (not --interactive): events, --header and/or --stats in o->format,
 * on stdout. several: events of several processes, each marked with its source. */
void vout_run(struct vsource *src, size_t nsrc, bool several, const struct vopts *o);

/*
 * The terminal UI over the events that pass the command line's filters (the last N with
 * --last). Returns the exit status: 0, or 1 when the terminal could not be used.
 */
int vtui_run(struct vsource *src, size_t nsrc, const struct vopts *o);

/*
 * --sql (view_sql.c): vsql_prepare() makes the in-memory database and prepares the query
 * (NULL after a message: a bad statement); vsql_load() loads one open snapshot (false
 * after a one-line message: nothing of it is loaded); vsql_finish() runs the query and
 * prints its result in o->format, returning the exit status (0, or 1 after a message).
 */
struct vsql;
struct vsql *vsql_prepare(const char *query, const struct vopts *o);
bool vsql_load(struct vsql *q, struct vsource *src);
int vsql_finish(struct vsql *q);
void vsql_free(struct vsql *q);

/*
 * --from URL (view_pg.c): the snapshots ttlog-ship loaded into the PostgreSQL database at
 * url (a libpq connection URI) added to *src as open sources (path: the file they were
 * shipped from), with the events that pass o's --service, --since, --until, --level and
 * --field keys (the rest of the filters is the viewer's, as for files); a snapshot with
 * no such event is left out when one of those event filters is given. Returns false after
 * a message on stderr (the database could not be read; or a snapshot could not be
 * rebuilt, one line each, the others added).
 */
bool vpg_add(const char *url, const struct vopts *o, struct vsource **src, size_t *nsrc,
	     size_t *cap);

#endif
