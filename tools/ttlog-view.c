/*
 * ttlog-view - print the events of ttlog snapshot files (docs/snapshot-format.md), using
 * only the reader API (include/ttlog/reader.h).
 *
 *   ttlog-view [--json] [--help] FILE...
 *
 * One line per event, oldest first. Several files are merged into one timeline by
 * timestamp: a stable merge (each file keeps its own order; equal timestamps keep the
 * order of the files on the command line), and each line starts with the file's service.
 * A file that cannot be read is reported on stderr and skipped; the exit status is then 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ttlog/reader.h>

static const char usage_text[] =
	"usage: ttlog-view [--json] [--help] FILE...\n"
	"Print the events of ttlog snapshot files, oldest first, one line each:\n"
	"  time (UTC), level, thread id, target, message, then the fields that are not\n"
	"  in the message as name=value. With several files, the events are merged by\n"
	"  timestamp and each line starts with the service name.\n"
	"  --json   JSON Lines: one object per event, with every field\n"
	"  --help   this text\n"
	"Exit status: 0, 1 if a file could not be read (the others are shown), 2 for usage.\n";

struct source {
	const char *path;
	ttlog_snapshot_file *snap;
	const char *service;
	ttlog_event ev; /* the next event of this file, when has_ev */
	bool has_ev;
};

struct view {
	bool json;
	bool prefix; /* several files: lines start with the service */
	char *text;  /* rendered message */
	size_t text_cap;
};

/* ---- text escaping --------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not valid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string: quotes, backslashes and control characters escaped, bytes that are not
 * UTF-8 replaced by U+FFFD so that the line stays valid JSON. */
static void json_str(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	putc('"', f);
	while (i < n) {
		if (p[i] == '"' || p[i] == '\\') {
			putc('\\', f);
			putc(p[i++], f);
		} else if (p[i] < 0x20) {
			fprintf(f, "\\u%04x", p[i++]);
		} else if ((k = utf8_seq(p + i, n - i)) == 0) {
			fputs("\\ufffd", f);
			i++;
		} else {
			fwrite(p + i, 1, k, f);
			i += k;
		}
	}
	putc('"', f);
}

static void json_cstr(FILE *f, const char *s)
{
	json_str(f, s, strlen(s));
}

/* Text for a terminal, kept on one line: control characters and bytes that are not
 * UTF-8 as \n, \t, \r, \xNN.
 * quote: a value in name=value form, quoted (and " \ escaped) when it is empty or holds
 * a space, a quote, '=' or a control character. */
static void text_str(FILE *f, const char *s, size_t n, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, k;

	if (quote) {
		quote = n == 0;
		for (i = 0; i < n && !quote; i++)
			quote = p[i] <= ' ' || p[i] == '"' || p[i] == '=' || p[i] == 0x7f;
	}
	if (quote)
		putc('"', f);
	for (i = 0; i < n; i += k) {
		unsigned char c = p[i];
		if (c >= 0x80 && (k = utf8_seq(p + i, n - i)) > 0) {
			fwrite(p + i, 1, k, f);
			continue;
		}
		k = 1;
		if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c >= 0x7f) /* control, or not UTF-8: not for the terminal */
			fprintf(f, "\\x%02x", c);
		else if (quote && (c == '"' || c == '\\'))
			fprintf(f, "\\%c", c);
		else
			putc(c, f);
	}
	if (quote)
		putc('"', f);
}

/* A column: "-" when empty, quoted when it holds a space, so that every line has the same
 * columns. */
static void text_cstr(FILE *f, const char *s)
{
	if (s[0] == '\0')
		putc('-', f);
	else
		text_str(f, s, strlen(s), true);
}

/* ---- one event ------------------------------------------------------------------- */

/* YYYY-mm-ddTHH:MM:SS.uuuuuuZ (microseconds cut, not rounded). */
static void format_time(uint64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000u);
	unsigned us = (unsigned)(ns % 1000000000u / 1000u);
	struct tm tm;
	size_t n;

	if (gmtime_r(&sec, &tm) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, len, "%" PRIu64 "ns", ns);
		return;
	}
	snprintf(buf + n, len - n, ".%06uZ", us);
}

/* The number of {} the message has (the renderer fills them in order). */
static size_t placeholders(const char *m)
{
	size_t n = 0;

	while ((m = strstr(m, "{}")) != NULL) {
		n++;
		m += 2;
	}
	return n;
}

/* The shortest %g form that reads back as the same double. */
static void f64_json(FILE *f, double d)
{
	char buf[40];
	int prec;

	if (!isfinite(d)) { /* NaN and infinities are not JSON numbers */
		fputs("null", f);
		return;
	}
	for (prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	fputs(buf, f);
}

static void field_value(FILE *f, const ttlog_field *fl, bool json)
{
	switch (fl->type) {
	case TTLOG_TYPE_U64: fprintf(f, "%" PRIu64, fl->v.u64); break;
	case TTLOG_TYPE_I64: fprintf(f, "%" PRId64, fl->v.i64); break;
	case TTLOG_TYPE_F64:
		if (json)
			f64_json(f, fl->v.f64);
		else
			fprintf(f, "%g", fl->v.f64);
		break;
	case TTLOG_TYPE_BOOL: fputs(fl->v.b ? "true" : "false", f); break;
	case TTLOG_TYPE_STR:
		if (json)
			json_str(f, fl->v.str.ptr, fl->v.str.len);
		else
			text_str(f, fl->v.str.ptr, fl->v.str.len, true);
		break;
	default: fputs(json ? "null" : "?", f); break;
	}
}

/* Render into v->text, growing it; returns the length (the text may hold NULs that came
 * from str values). */
static size_t render(struct view *v, const ttlog_event *ev)
{
	size_t n = ttlog_event_render(ev, v->text, v->text_cap);

	if (n >= v->text_cap) {
		char *t = realloc(v->text, n + 1);
		if (t == NULL)
			return v->text_cap ? v->text_cap - 1 : 0; /* show what fits */
		v->text = t;
		v->text_cap = n + 1;
		n = ttlog_event_render(ev, v->text, v->text_cap);
	}
	return n;
}

static void print_event(struct view *v, const struct source *src, const ttlog_event *ev)
{
	char when[64];
	size_t n = render(v, ev), i;
	FILE *f = stdout;

	format_time(ev->timestamp_ns, when, sizeof when);
	if (v->json) {
		fprintf(f, "{\"ts_ns\":%" PRIu64 ",\"time\":\"%s\",\"level\":", ev->timestamp_ns,
			when);
		json_cstr(f, ttlog_level_name(ev->level));
		fprintf(f, ",\"thread\":%" PRIu32 ",\"target\":", ev->thread_id);
		json_cstr(f, ev->target);
		fputs(",\"message\":", f);
		json_str(f, v->text, n);
		fputs(",\"service\":", f);
		json_cstr(f, src->service);
		fputs(",\"fields\":{", f);
		for (i = 0; i < ev->nfields; i++) {
			if (i > 0)
				putc(',', f);
			json_cstr(f, ev->fields[i].name);
			putc(':', f);
			field_value(f, &ev->fields[i], true);
		}
		fputs("}}\n", f);
		return;
	}
	if (v->prefix) {
		text_cstr(f, src->service);
		putc(' ', f);
	}
	fprintf(f, "%s %-5s %" PRIu32 " ", when, ttlog_level_name(ev->level), ev->thread_id);
	text_cstr(f, ev->target);
	putc(' ', f);
	text_str(f, v->text, n, false);
	for (i = placeholders(ev->message); i < ev->nfields; i++) {
		putc(' ', f);
		text_str(f, ev->fields[i].name, strlen(ev->fields[i].name), false);
		putc('=', f);
		field_value(f, &ev->fields[i], false);
	}
	putc('\n', f);
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct view v = {0};
	struct source *src;
	size_t nsrc = 0, i;
	bool opts_done = false;
	int status = 0, err;

	src = calloc((size_t)argc, sizeof *src);
	if (src == NULL) {
		fprintf(stderr, "ttlog-view: out of memory\n");
		return 1;
	}
	for (i = 1; i < (size_t)argc; i++) {
		const char *a = argv[i];
		if (!opts_done && strcmp(a, "--") == 0) {
			opts_done = true;
		} else if (!opts_done && strcmp(a, "--json") == 0) {
			v.json = true;
		} else if (!opts_done && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			fputs(usage_text, stdout);
			free(src);
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		} else if (!opts_done && a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "ttlog-view: unknown option '%s'\n%s", a, usage_text);
			free(src);
			return 2;
		} else {
			src[nsrc++].path = a;
		}
	}
	if (nsrc == 0) {
		fprintf(stderr, "ttlog-view: no file given\n%s", usage_text);
		free(src);
		return 2;
	}
	v.prefix = nsrc > 1;

	for (i = 0; i < nsrc; i++) {
		if ((err = ttlog_snapshot_open(src[i].path, &src[i].snap)) < 0) {
			const char *msg = ttlog_reader_errmsg();
			fprintf(stderr, "ttlog-view: %s: %s\n", src[i].path,
				msg[0] ? msg : strerror(-err));
			status = 1;
			continue;
		}
		src[i].service = ttlog_snapshot_service(src[i].snap);
		src[i].has_ev = ttlog_snapshot_next(src[i].snap, &src[i].ev) == 1;
	}

	/* stable k-way merge: the oldest head wins, ties go to the earlier file */
	for (;;) {
		struct source *best = NULL;
		for (i = 0; i < nsrc; i++)
			if (src[i].has_ev &&
			    (best == NULL || src[i].ev.timestamp_ns < best->ev.timestamp_ns))
				best = &src[i];
		if (best == NULL || ferror(stdout))
			break;
		print_event(&v, best, &best->ev);
		best->has_ev = ttlog_snapshot_next(best->snap, &best->ev) == 1;
	}

	for (i = 0; i < nsrc; i++)
		ttlog_snapshot_close(src[i].snap);
	free(src);
	free(v.text);
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ttlog-view: write error: %s\n",
			errno ? strerror(errno) : "output failed");
		status = 1;
	}
	return status;
}
