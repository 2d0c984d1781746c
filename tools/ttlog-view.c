/*
 * ttlog-view - read ttlog snapshot files (docs/snapshot-format.md) through the reader API
 * (include/ttlog/reader.h): a table, JSON Lines or CSV of the events, the snapshots'
 * metadata, statistics, or a terminal UI (view_tui.c). The manual is docs/ttlog-view.1.
 *
 * Files and directories (their ttlog-*.bin) merge into one timeline: a stable k-way merge
 * by timestamp, each file keeping its own order. Snapshots of one process overlap (a
 * periodic snapshot holds most of the previous one's events): an event met again in the
 * process's next file is shown once, from the newest file (see mark_overlap()).
 *
 * Output that needs to know the whole selection first (the table's column widths,
 * --last N) reads the files twice: once to count, once to print. Nothing is kept per
 * event, so memory is what the reader holds (O(file size)), except for the terminal UI,
 * which keeps the selected events to scroll through them.
 *
 * Exit status: 0; 1 when an input could not be read (the others are still shown) or the
 * output failed; 2 for a usage error.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "view.h"

#define PROG "ttlog-view"

/* One thread writes the output: the stdio calls without their per-call lock (a third of
 * the time of --json on a big snapshot). */
#define putc putc_unlocked
#define fputs fputs_unlocked
#define fwrite fwrite_unlocked

static const char usage_text[] =
	"usage: ttlog-view [OPTION]... FILE|DIR...\n"
	"Show the events of ttlog snapshot files, oldest first. Several files, and the\n"
	"ttlog-*.bin files of a directory, merge into one timeline.\n"
	"\n"
	"Output (default: a table; colours on a terminal unless NO_COLOR is set):\n"
	"  -j, --json            JSON Lines, one event per line, typed fields\n"
	"      --csv             CSV with a header row\n"
	"  -H, --header          the snapshots' metadata instead of the events\n"
	"  -s, --stats           counts per level, target and thread, the time span and the\n"
	"                        loss counters instead of the events (with -H: both)\n"
	"  -i, --interactive     a terminal UI: scroll, search, filter, event details\n"
	"      --local           times in local time (default UTC)\n"
	"      --color[=WHEN]    colours: auto (default), always, never; --no-color\n"
	"\n"
	"Filters (all must match; repeated --target/--service/--thread: any of them):\n"
	"  -l, --level LEVEL     minimum level: trace debug info warn error fatal\n"
	"  -t, --target GLOB     target, a shell pattern ('db*')\n"
	"      --service GLOB    service name of the snapshot\n"
	"  -T, --thread TID[,TID]  thread id\n"
	"  -g, --grep REGEX      POSIX extended regex on the message with {} filled\n"
	"  -f, --field KEY[=VALUE]  a field with this value (or just present); repeatable\n"
	"      --since TIME      events at or after TIME; --until TIME: at or before\n"
	"                        TIME: 2024-05-01T12:00:00[.frac][Z|+hh:mm] (UTC unless\n"
	"                        --local), -30s -5m -2h -1d (before now), @NS (epoch ns)\n"
	"  -n, --last N          only the last N events that pass the filters\n"
	"\n"
	"  -h, --help            this text\n"
	"Exit status: 0; 1 if an input could not be read (the others are still shown);\n"
	"2 for a usage error. See ttlog-view(1).\n";

/* ---- small helpers --------------------------------------------------------------- */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

void vbuf_put(struct vbuf *b, const char *s, size_t n)
{
	if (b->cap - b->len <= n) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap - b->len <= n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void vbuf_putc(struct vbuf *b, char c)
{
	vbuf_put(b, &c, 1);
}

void vbuf_printf(struct vbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		vbuf_put(b, tmp, (size_t)n);
		return;
	}
	vbuf_put(b, "", 0);
	if (b->cap - b->len <= (size_t)n) {
		b->cap = b->len + (size_t)n + 1;
		b->p = xrealloc(b->p, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void vbuf_free(struct vbuf *b)
{
	free(b->p);
	*b = (struct vbuf){0};
}

/* ---- rendering ------------------------------------------------------------------- */

void vfield_text(const ttlog_field *f, const char *marker, struct vbuf *b)
{
	switch (f->type) {
	case TTLOG_TYPE_U64: vbuf_printf(b, "%" PRIu64, f->v.u64); break;
	case TTLOG_TYPE_I64: vbuf_printf(b, "%" PRId64, f->v.i64); break;
	case TTLOG_TYPE_F64: vbuf_printf(b, "%g", f->v.f64); break;
	case TTLOG_TYPE_BOOL: vbuf_put(b, f->v.b ? "true" : "false", f->v.b ? 4 : 5); break;
	case TTLOG_TYPE_STR:
		vbuf_put(b, f->v.str.ptr, f->v.str.len);
		if (f->truncated && marker != NULL)
			vbuf_put(b, marker, strlen(marker));
		break;
	default: vbuf_putc(b, '?'); break;
	}
}

size_t vrender(const ttlog_event *ev, const char *marker, struct vbuf *b)
{
	const char *m = ev->message, *p;
	size_t next = 0;

	b->len = 0;
	vbuf_put(b, "", 0);
	while ((p = strstr(m, "{}")) != NULL) {
		vbuf_put(b, m, (size_t)(p - m));
		if (next < ev->nfields && next < TTLOG_MAX_FIELDS)
			vfield_text(&ev->fields[next++], marker, b);
		else
			vbuf_put(b, "{}", 2);
		m = p + 2;
	}
	vbuf_put(b, m, strlen(m));
	return b->len;
}

size_t vplaceholders(const char *m)
{
	size_t n = 0;

	while ((m = strstr(m, "{}")) != NULL) {
		n++;
		m += 2;
	}
	return n;
}

void vtime(uint64_t ns, bool local, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000u);
	unsigned us = (unsigned)(ns % 1000000000u / 1000u);
	struct tm tm;
	size_t n;

	if ((local ? localtime_r(&sec, &tm) : gmtime_r(&sec, &tm)) == NULL ||
	    (n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, len, "%" PRIu64 "ns", ns);
		return;
	}
	if (!local) {
		snprintf(buf + n, len - n, ".%06uZ", us);
	} else {
		long off = tm.tm_gmtoff;
		char sign = off < 0 ? '-' : '+';
		off = off < 0 ? -off : off;
		snprintf(buf + n, len - n, ".%06u%c%02ld:%02ld", us, sign, off / 3600,
			 off / 60 % 60);
	}
}

/* ---- output escaping ------------------------------------------------------------- */

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
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			switch (p[i]) {
			case '\n': fputs("\\n", f); break;
			case '\t': fputs("\\t", f); break;
			case '\r': fputs("\\r", f); break;
			default: fprintf(f, "\\u%04x", p[i]); break;
			}
			i++;
		} else if ((k = ttlog__utf8_seq(p + i, n - i)) == 0) {
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
 * UTF-8 as \n, \t, \r, \xNN. quote: a key=value value, quoted (and " \ escaped) when it
 * is empty or holds a space, a quote, '=' or a control character. */
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
		if (c >= 0x80 && (k = ttlog__utf8_seq(p + i, n - i)) > 0) {
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

/* A CSV cell (RFC 4180): quoted when it holds a comma, a quote, CR or LF. */
static void csv_str(FILE *f, const char *s, size_t n)
{
	bool quote = false;
	size_t i;

	for (i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote) {
		fwrite(s, 1, n, f);
		return;
	}
	putc('"', f);
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			putc('"', f);
		putc(s[i], f);
	}
	putc('"', f);
}

/* A message for stderr: one line, whatever a hostile file put in it. */
static void err_line(const char *path, const char *msg)
{
	fprintf(stderr, PROG ": ");
	text_str(stderr, path, strlen(path), false);
	fputs(": ", stderr);
	text_str(stderr, msg, strlen(msg), false);
	putc('\n', stderr);
}

/* ---- filters --------------------------------------------------------------------- */

static bool field_equals(const ttlog_field *f, const char *want)
{
	char *end;

	switch (f->type) {
	case TTLOG_TYPE_STR:
		return strlen(want) == f->v.str.len && memcmp(want, f->v.str.ptr, f->v.str.len) == 0;
	case TTLOG_TYPE_BOOL:
		if (strcmp(want, "true") == 0 || strcmp(want, "1") == 0)
			return f->v.b;
		if (strcmp(want, "false") == 0 || strcmp(want, "0") == 0)
			return !f->v.b;
		return false;
	case TTLOG_TYPE_U64: {
		if (!isdigit((unsigned char)want[0]))
			return false;
		errno = 0;
		unsigned long long u = strtoull(want, &end, 0);
		return errno == 0 && *end == '\0' && u == f->v.u64;
	}
	case TTLOG_TYPE_I64: {
		errno = 0;
		long long i = strtoll(want, &end, 0);
		return errno == 0 && end != want && *end == '\0' && i == f->v.i64;
	}
	case TTLOG_TYPE_F64: {
		double d = strtod(want, &end);
		return end != want && *end == '\0' && d == f->v.f64;
	}
	default:
		return false;
	}
}

bool vmatch_meta(const struct vopts *o, const struct vsource *src, const ttlog_event *ev)
{
	size_t i, j;
	bool ok;

	if (ev->level < o->min_level)
		return false;
	if (o->has_since && ev->timestamp_ns < o->since_ns)
		return false;
	if (o->has_until && ev->timestamp_ns > o->until_ns)
		return false;
	if (o->nthreads > 0) {
		for (i = 0, ok = false; i < o->nthreads && !ok; i++)
			ok = o->threads[i] == ev->thread_id;
		if (!ok)
			return false;
	}
	if (o->ntargets > 0) {
		for (i = 0, ok = false; i < o->ntargets && !ok; i++)
			ok = fnmatch(o->targets[i], ev->target, 0) == 0;
		if (!ok)
			return false;
	}
	if (o->nservices > 0) {
		for (i = 0, ok = false; i < o->nservices && !ok; i++)
			ok = fnmatch(o->services[i], src->service, 0) == 0;
		if (!ok)
			return false;
	}
	for (i = 0; i < o->nfields; i++) {
		for (j = 0, ok = false; j < ev->nfields && !ok; j++)
			ok = strcmp(ev->fields[j].name, o->fields[i].key) == 0 &&
			     (o->fields[i].value == NULL ||
			      field_equals(&ev->fields[j], o->fields[i].value));
		if (!ok)
			return false;
	}
	return true;
}

bool vmatch_text(const struct vopts *o, const char *text)
{
	return !o->has_grep || regexec(&o->grep, text, 0, NULL, 0) == 0;
}

/* ---- the merged timeline --------------------------------------------------------- */

struct vmerge {
	struct vsource *src;
	size_t nsrc;
	size_t *heap; /* indexes of sources with an event, the oldest head on top */
	size_t nheap;
	struct vsource *last; /* advance it on the next call */
	size_t dups;
};

static bool head_before(const struct vmerge *m, size_t a, size_t b)
{
	uint64_t ta = m->src[a].ev.timestamp_ns, tb = m->src[b].ev.timestamp_ns;
	return ta < tb || (ta == tb && a < b);
}

static void heap_down(struct vmerge *m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, best = i, t;
		if (l < m->nheap && head_before(m, m->heap[l], m->heap[best]))
			best = l;
		if (r < m->nheap && head_before(m, m->heap[r], m->heap[best]))
			best = r;
		if (best == i)
			return;
		t = m->heap[i];
		m->heap[i] = m->heap[best];
		m->heap[best] = t;
		i = best;
	}
}

/* Read the source's next event into its head; false at the end. */
static bool advance(struct vsource *s)
{
	s->has_ev = ttlog_snapshot_next(s->snap, &s->ev) == 1;
	if (s->has_ev)
		s->ord++;
	return s->has_ev;
}

struct vmerge *vmerge_begin(struct vsource *src, size_t nsrc)
{
	struct vmerge *m = xmalloc(sizeof *m);
	size_t i;

	*m = (struct vmerge){.src = src, .nsrc = nsrc};
	m->heap = xmalloc(nsrc * sizeof *m->heap);
	for (i = 0; i < nsrc; i++) {
		if (src[i].snap == NULL)
			continue;
		ttlog_snapshot_rewind(src[i].snap);
		src[i].ord = SIZE_MAX; /* the first advance() makes it 0 */
		if (advance(&src[i]))
			m->heap[m->nheap++] = i;
	}
	for (i = m->nheap / 2; i-- > 0;)
		heap_down(m, i);
	return m;
}

static bool is_dup(const struct vsource *s)
{
	return s->dup != NULL && (s->dup[s->ord / 8] >> (s->ord % 8) & 1);
}

struct vsource *vmerge_next(struct vmerge *m, const ttlog_event **ev)
{
	for (;;) {
		struct vsource *s;
		if (m->last != NULL) {
			/* the event handed out last time is consumed: advance its file */
			s = m->last;
			m->last = NULL;
			if (!advance(s))
				m->heap[0] = m->heap[--m->nheap];
			if (m->nheap > 0)
				heap_down(m, 0);
		}
		if (m->nheap == 0)
			return NULL;
		s = &m->src[m->heap[0]];
		m->last = s;
		if (is_dup(s)) {
			m->dups++;
			continue;
		}
		*ev = &s->ev;
		return s;
	}
}

size_t vmerge_duplicates(const struct vmerge *m)
{
	return m->dups;
}

void vmerge_end(struct vmerge *m)
{
	if (m == NULL)
		return;
	free(m->heap);
	free(m);
}

/* ---- overlapping snapshots of one process ------------------------------------------
 *
 * A process that wrote several of the files (periodic snapshots, one on a signal, then
 * one at shutdown) has many events in more than one of them. Timestamps cannot say
 * which: each snapshot converts the ring's clock ticks to ns with a mapping anchored
 * when it is taken, so one event's ns differ between files (by microseconds, more under
 * NTP slewing). Identity does: thread, callsite and field values. And the ring gives the
 * shape of the overlap: an event of file B (later) that is also in A (the process's
 * previous file) was in the ring at A's time, so only A needs looking at, never older
 * files. Each event of B, oldest first, is matched with an unmatched event of A of the
 * same identity whose timestamp is the nearest to its own minus the offset between the
 * two files' mappings; the offset is learnt from the matches (it drifts slowly, so the
 * latest match's), and a match must fall within DUP_WIDE of it before any is known and
 * within DUP_NEAR after. Matched events of A are marked, and the merge skips them: each
 * event is shown once, from the newest file that has it.
 */
#define DUP_WIDE 1000000000ll /* 1 s: mappings of one process never differ more */
#define DUP_NEAR 5000000ll    /* 5 ms: the offset's drift across one file */

struct ident {
	uint64_t key; /* hash of thread, callsite and values */
	uint64_t ts;
	size_t ord; /* index in its file */
	bool used;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static uint64_t event_key(const ttlog_event *ev)
{
	uint64_t h = mix(mix(0x243f6a8885a308d3ull, ev->thread_id), ev->callsite_id);
	size_t i, j;

	for (i = 0; i < ev->nfields; i++) {
		const ttlog_field *f = &ev->fields[i];
		h = mix(h, (uint64_t)f->type);
		switch (f->type) {
		case TTLOG_TYPE_STR:
			h = mix(h, f->v.str.len);
			for (j = 0; j < f->v.str.len; j++)
				h = mix(h, (unsigned char)f->v.str.ptr[j]);
			break;
		case TTLOG_TYPE_BOOL: h = mix(h, f->v.b); break;
		default: h = mix(h, f->v.u64); break; /* the bits of u64, i64, f64 */
		}
	}
	return h;
}

static int ident_cmp(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* Mark the events of a that are in b (a's next file of the same process): b's copy is
 * the one shown, with the timestamp of the newer mapping (its rate refined longer). */
static void mark_overlap(struct vsource *a, struct vsource *b)
{
	size_t na = ttlog_snapshot_event_count(a->snap), nb = ttlog_snapshot_event_count(b->snap);
	struct ident *ids = xmalloc(na * sizeof *ids);
	uint64_t a_last = 0;
	int64_t offset = 0;
	bool known = false;
	ttlog_event ev;
	size_t i = 0, ord;

	ttlog_snapshot_rewind(a->snap);
	while (i < na && ttlog_snapshot_next(a->snap, &ev) == 1) {
		ids[i] = (struct ident){.key = event_key(&ev), .ts = ev.timestamp_ns, .ord = i};
		i++;
		a_last = ev.timestamp_ns > a_last ? ev.timestamp_ns : a_last;
	}
	na = i;
	qsort(ids, na, sizeof *ids, ident_cmp);
	ttlog_snapshot_rewind(b->snap);
	for (ord = 0; ord < nb && ttlog_snapshot_next(b->snap, &ev) == 1; ord++) {
		int64_t tol = known ? DUP_NEAR : DUP_WIDE, best_d = INT64_MAX, d;
		uint64_t key = event_key(&ev), want;
		size_t lo = 0, hi = na, best = SIZE_MAX, j;

		if ((int64_t)ev.timestamp_ns - offset > (int64_t)a_last + tol)
			continue; /* later than anything in a */
		want = (uint64_t)((int64_t)ev.timestamp_ns - offset);
		while (lo < hi) { /* the first entry >= (key, want) */
			size_t mid = lo + (hi - lo) / 2;
			if (ids[mid].key < key || (ids[mid].key == key && ids[mid].ts < want))
				lo = mid + 1;
			else
				hi = mid;
		}
		/* the nearest unused entry of this key, on either side */
		for (j = lo; j < na && ids[j].key == key; j++) {
			if (ids[j].used)
				continue;
			if ((d = (int64_t)(ids[j].ts - want)) <= tol && d < best_d)
				best = j, best_d = d;
			break;
		}
		for (j = lo; j-- > 0 && ids[j].key == key;) {
			if (ids[j].used)
				continue;
			if ((d = (int64_t)(want - ids[j].ts)) <= tol && d < best_d)
				best = j, best_d = d;
			break;
		}
		if (best == SIZE_MAX)
			continue;
		ids[best].used = true;
		offset = (int64_t)(ev.timestamp_ns - ids[best].ts);
		known = true;
		if (a->dup == NULL) {
			a->dup = xmalloc(na / 8 + 1);
			memset(a->dup, 0, na / 8 + 1);
		}
		a->dup[ids[best].ord / 8] |= (uint8_t)(1u << (ids[best].ord % 8));
	}
	free(ids);
}

static struct vsource *sort_src; /* for member_cmp: qsort has no context argument */

static int member_cmp(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	uint64_t cx = ttlog_snapshot_created_ns(sort_src[x].snap);
	uint64_t cy = ttlog_snapshot_created_ns(sort_src[y].snap);

	if (cx != cy)
		return cx < cy ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* For each process with several files, in the order they were written: mark what each
 * file has that the next one repeats. */
static void mark_overlaps(struct vsource *src, size_t nsrc)
{
	size_t *member = xmalloc(nsrc * sizeof *member), n, i, j;

	sort_src = src;
	for (i = 0; i < nsrc; i++) {
		if (src[i].snap == NULL || src[i].group != i)
			continue;
		for (j = i, n = 0; j < nsrc; j++)
			if (src[j].snap != NULL && src[j].group == i)
				member[n++] = j;
		if (n < 2)
			continue;
		qsort(member, n, sizeof *member, member_cmp);
		for (j = 1; j < n; j++)
			mark_overlap(&src[member[j - 1]], &src[member[j]]);
	}
	free(member);
}

/* ---- counting (--stats) ---------------------------------------------------------- */

struct count {
	char *key;
	uint64_t n;
};

struct counter {
	struct count *slot; /* open addressing, key NULL: empty */
	size_t cap, len;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static void counter_add(struct counter *c, const char *key)
{
	size_t i;

	if (2 * (c->len + 1) > c->cap) {
		struct count *old = c->slot;
		size_t old_cap = c->cap;
		c->cap = old_cap ? old_cap * 2 : 64;
		c->slot = xmalloc(c->cap * sizeof *c->slot);
		memset(c->slot, 0, c->cap * sizeof *c->slot);
		for (i = 0; i < old_cap; i++) {
			if (old[i].key == NULL)
				continue;
			size_t j = str_hash(old[i].key) & (c->cap - 1);
			while (c->slot[j].key != NULL)
				j = (j + 1) & (c->cap - 1);
			c->slot[j] = old[i];
		}
		free(old);
	}
	for (i = str_hash(key) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		if (c->slot[i].key == NULL) {
			c->slot[i].key = xstrdup(key);
			c->slot[i].n = 1;
			c->len++;
			return;
		}
		if (strcmp(c->slot[i].key, key) == 0) {
			c->slot[i].n++;
			return;
		}
	}
}

static int count_cmp(const void *a, const void *b)
{
	const struct count *x = a, *y = b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* The entries, most frequent first; the caller frees the array (not the keys). */
static struct count *counter_sorted(const struct counter *c)
{
	struct count *v = xmalloc(c->len * sizeof *v);
	size_t i, n = 0;

	for (i = 0; i < c->cap; i++)
		if (c->slot[i].key != NULL)
			v[n++] = c->slot[i];
	qsort(v, n, sizeof *v, count_cmp);
	return v;
}

static void counter_free(struct counter *c)
{
	for (size_t i = 0; i < c->cap; i++)
		free(c->slot[i].key);
	free(c->slot);
}

/* ---- the run --------------------------------------------------------------------- */

struct ctx {
	struct vopts *o;
	struct vsource *src;
	size_t nsrc;
	bool several; /* several files opened: show each event's source */
	FILE *out;
	struct vbuf text, line;
	/* pass 1 */
	size_t matched;
	int w_label, w_tid, w_target;
	/* --stats */
	uint64_t levels[TTLOG_LEVEL_FATAL + 1];
	struct counter targets, threads;
	uint64_t first_ns, last_ns, shown;
	size_t read, dups;
};

enum { C_RESET, C_TIME, C_LABEL, C_TARGET, C_KEY };
static const char *const level_color[] = {"\033[2m", "\033[36m", "\033[32m",
					  "\033[33m", "\033[31m", "\033[1;37;41m"};
static const char *const part_color[] = {"\033[0m", "\033[2m", "\033[35m", "\033[1m",
					 "\033[2m"};

static void color(struct ctx *c, int part)
{
	if (c->o->color)
		fputs(part_color[part], c->out);
}

static int text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int w = 0;

	for (; *p; p++)
		w += (*p & 0xc0) != 0x80; /* UTF-8 lead bytes: one column each, near enough */
	return w;
}

static void pad(FILE *f, int n)
{
	while (n-- > 0)
		putc(' ', f);
}

static void print_table(struct ctx *c, const struct vsource *s, const ttlog_event *ev)
{
	const struct vopts *o = c->o;
	FILE *f = c->out;
	char when[64];
	size_t i, n;

	vtime(ev->timestamp_ns, o->local, when, sizeof when);
	color(c, C_TIME);
	fputs(when, f);
	color(c, C_RESET);
	putc(' ', f);
	if (o->color && ev->level >= 0 && ev->level <= TTLOG_LEVEL_FATAL)
		fputs(level_color[ev->level], f);
	fprintf(f, "%-5s", ttlog_level_name(ev->level));
	color(c, C_RESET);
	putc(' ', f);
	if (c->several) {
		color(c, C_LABEL);
		text_str(f, s->label, strlen(s->label), false);
		color(c, C_RESET);
		pad(f, c->w_label - text_width(s->label) + 1);
	}
	fprintf(f, "%*" PRIu32 " ", c->w_tid, ev->thread_id);
	color(c, C_TARGET);
	if (ev->target[0] == '\0')
		putc('-', f);
	else
		text_str(f, ev->target, strlen(ev->target), false);
	color(c, C_RESET);
	pad(f, c->w_target - (ev->target[0] ? text_width(ev->target) : 1) + 1);
	n = vrender(ev, o->marker, &c->text);
	text_str(f, c->text.p, n, false);
	for (i = vplaceholders(ev->message); i < ev->nfields; i++) {
		const ttlog_field *fl = &ev->fields[i];
		putc(' ', f);
		color(c, C_KEY);
		text_str(f, fl->name, strlen(fl->name), false);
		putc('=', f);
		color(c, C_RESET);
		c->line.len = 0;
		vfield_text(fl, NULL, &c->line);
		if (fl->type == TTLOG_TYPE_STR) {
			if (fl->truncated)
				vbuf_put(&c->line, o->marker, strlen(o->marker));
			text_str(f, c->line.p, c->line.len, true);
		} else {
			fputs(c->line.p, f);
		}
	}
	putc('\n', f);
}

/* The shortest %g form that reads back as the same double; null for NaN and infinities. */
static void f64_json(FILE *f, double d)
{
	char buf[40];
	int prec;

	if (!isfinite(d)) {
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

static void print_json(struct ctx *c, const struct vsource *s, const ttlog_event *ev)
{
	FILE *f = c->out;
	char when[64];
	size_t i, n, ntrunc = 0;

	vtime(ev->timestamp_ns, c->o->local, when, sizeof when);
	fprintf(f, "{\"ts_ns\":%" PRIu64 ",\"time\":\"%s\",\"level\":", ev->timestamp_ns, when);
	json_cstr(f, ttlog_level_name(ev->level));
	fputs(",\"service\":", f);
	json_cstr(f, s->service);
	fputs(",\"host\":", f);
	json_cstr(f, s->host);
	fprintf(f, ",\"pid\":%" PRIu64 ",\"thread\":%" PRIu32 ",\"target\":", s->pid,
		ev->thread_id);
	json_cstr(f, ev->target);
	n = vrender(ev, NULL, &c->text);
	fputs(",\"message\":", f);
	json_str(f, c->text.p, n);
	fputs(",\"fields\":{", f);
	for (i = 0; i < ev->nfields; i++) {
		const ttlog_field *fl = &ev->fields[i];
		if (i > 0)
			putc(',', f);
		json_cstr(f, fl->name);
		putc(':', f);
		switch (fl->type) {
		case TTLOG_TYPE_U64: fprintf(f, "%" PRIu64, fl->v.u64); break;
		case TTLOG_TYPE_I64: fprintf(f, "%" PRId64, fl->v.i64); break;
		case TTLOG_TYPE_F64: f64_json(f, fl->v.f64); break;
		case TTLOG_TYPE_BOOL: fputs(fl->v.b ? "true" : "false", f); break;
		case TTLOG_TYPE_STR: json_str(f, fl->v.str.ptr, fl->v.str.len); break;
		default: fputs("null", f); break;
		}
		ntrunc += fl->truncated;
	}
	putc('}', f);
	if (ev->file != NULL && ev->file[0] != '\0') {
		fputs(",\"location\":", f);
		c->line.len = 0;
		vbuf_printf(&c->line, "%s:%" PRIu32, ev->file, ev->line);
		json_str(f, c->line.p, c->line.len);
	}
	if (ntrunc > 0) {
		fputs(",\"truncated\":[", f);
		for (i = 0, n = 0; i < ev->nfields; i++) {
			if (!ev->fields[i].truncated)
				continue;
			if (n++ > 0)
				putc(',', f);
			json_cstr(f, ev->fields[i].name);
		}
		putc(']', f);
	}
	fputs("}\n", f);
}

static void print_csv(struct ctx *c, const struct vsource *s, const ttlog_event *ev)
{
	FILE *f = c->out;
	char when[64];
	size_t i, n;

	vtime(ev->timestamp_ns, c->o->local, when, sizeof when);
	fprintf(f, "%s,%" PRIu64 ",%s,", when, ev->timestamp_ns, ttlog_level_name(ev->level));
	csv_str(f, s->service, strlen(s->service));
	putc(',', f);
	csv_str(f, s->host, strlen(s->host));
	fprintf(f, ",%" PRIu64 ",%" PRIu32 ",", s->pid, ev->thread_id);
	csv_str(f, ev->target, strlen(ev->target));
	putc(',', f);
	n = vrender(ev, NULL, &c->text);
	csv_str(f, c->text.p, n);
	putc(',', f);
	/* the fields as key=value, space-separated, values quoted as in the table */
	c->line.len = 0;
	vbuf_put(&c->line, "", 0);
	for (i = 0; i < ev->nfields; i++) {
		const ttlog_field *fl = &ev->fields[i];
		size_t at = c->line.len, k;
		bool q = false;
		if (i > 0)
			vbuf_putc(&c->line, ' ');
		vbuf_printf(&c->line, "%s=", fl->name);
		at = c->line.len;
		vfield_text(fl, NULL, &c->line);
		for (k = at; k < c->line.len && !q; k++)
			q = c->line.p[k] == ' ' || c->line.p[k] == '"';
		if (q || (fl->type == TTLOG_TYPE_STR && fl->v.str.len == 0)) {
			/* re-write the value quoted, " and \ escaped */
			struct vbuf v = {0};
			vbuf_put(&v, c->line.p + at, c->line.len - at);
			c->line.len = at;
			vbuf_putc(&c->line, '"');
			for (k = 0; k < v.len; k++) {
				if (v.p[k] == '"' || v.p[k] == '\\')
					vbuf_putc(&c->line, '\\');
				vbuf_putc(&c->line, v.p[k]);
			}
			vbuf_putc(&c->line, '"');
			vbuf_free(&v);
		}
	}
	csv_str(f, c->line.p, c->line.len);
	putc(',', f);
	c->line.len = 0;
	vbuf_put(&c->line, "", 0);
	for (i = 0; i < ev->nfields; i++)
		if (ev->fields[i].truncated) {
			if (c->line.len > 0)
				vbuf_putc(&c->line, ' ');
			vbuf_put(&c->line, ev->fields[i].name, strlen(ev->fields[i].name));
		}
	csv_str(f, c->line.p, c->line.len);
	putc('\n', f);
}

static void count_event(struct ctx *c, const struct vsource *s, const ttlog_event *ev)
{
	char key[512];

	if (c->shown == 0 || ev->timestamp_ns < c->first_ns)
		c->first_ns = ev->timestamp_ns;
	if (c->shown == 0 || ev->timestamp_ns > c->last_ns)
		c->last_ns = ev->timestamp_ns;
	c->shown++;
	if (ev->level >= 0 && ev->level <= TTLOG_LEVEL_FATAL)
		c->levels[ev->level]++;
	counter_add(&c->targets, ev->target);
	if (c->several)
		snprintf(key, sizeof key, "%s %" PRIu32, s->label, ev->thread_id);
	else
		snprintf(key, sizeof key, "%" PRIu32, ev->thread_id);
	counter_add(&c->threads, key);
}

typedef void (*event_fn)(struct ctx *, const struct vsource *, const ttlog_event *);

/* One pass over the merged timeline: fn for each event that passes the filters, after
 * the first skip of them. Returns how many passed. */
static size_t run_pass(struct ctx *c, event_fn fn, size_t skip)
{
	struct vmerge *m = vmerge_begin(c->src, c->nsrc);
	const ttlog_event *ev;
	struct vsource *s;
	size_t n = 0;

	c->read = 0;
	while ((s = vmerge_next(m, &ev)) != NULL) {
		c->read++;
		if (!vmatch_meta(c->o, s, ev))
			continue;
		if (c->o->has_grep) {
			vrender(ev, NULL, &c->text);
			if (!vmatch_text(c->o, c->text.p))
				continue;
		}
		if (n++ >= skip && fn != NULL)
			fn(c, s, ev);
		if (ferror(c->out))
			break;
	}
	c->dups = vmerge_duplicates(m);
	vmerge_end(m);
	return n;
}

static void measure(struct ctx *c, const struct vsource *s, const ttlog_event *ev)
{
	int w;
	char tid[16];

	(void)s;
	w = ev->target[0] ? text_width(ev->target) : 1;
	if (w > c->w_target && w <= 24)
		c->w_target = w;
	w = snprintf(tid, sizeof tid, "%" PRIu32, ev->thread_id);
	if (w > c->w_tid)
		c->w_tid = w;
}

static void print_header(struct ctx *c)
{
	const struct vopts *o = c->o;
	FILE *f = c->out;
	ttlog_snapshot_counters k;
	uint64_t clip_ns;
	char when[64];
	bool first = true;

	if (o->format == FMT_CSV)
		fputs("file,service,hostname,pid,reason,created_ns,created,variant,capacity,"
		      "events,logged,kept,overwritten,dropped,truncated,in_flight,clipped,"
		      "clipped_before_ns\n", f);
	for (size_t i = 0; i < c->nsrc; i++) {
		const struct vsource *s = &c->src[i];
		if (s->snap == NULL)
			continue;
		ttlog_snapshot_get_counters(s->snap, &k);
		clip_ns = ttlog_snapshot_clipped_before_ns(s->snap);
		vtime(ttlog_snapshot_created_ns(s->snap), o->local, when, sizeof when);
		if (o->format == FMT_JSON) {
			fputs("{\"file\":", f);
			json_cstr(f, s->path);
			fputs(",\"service\":", f);
			json_cstr(f, s->service);
			fputs(",\"hostname\":", f);
			json_cstr(f, s->host);
			fprintf(f, ",\"pid\":%" PRIu64 ",\"reason\":", s->pid);
			json_cstr(f, ttlog_snapshot_reason(s->snap));
			fprintf(f, ",\"created_ns\":%" PRIu64 ",\"created\":\"%s\",\"variant\":",
				ttlog_snapshot_created_ns(s->snap), when);
			json_cstr(f, ttlog_snapshot_variant(s->snap));
			fprintf(f, ",\"capacity\":%" PRIu64 ",\"events\":%zu,\"counters\":{"
				"\"logged\":%" PRIu64 ",\"kept\":%" PRIu64 ",\"overwritten\":%" PRIu64
				",\"dropped\":%" PRIu64 ",\"clipped\":%" PRIu64
				",\"truncated\":%" PRIu64 ",\"in_flight\":%" PRIu64
				"},\"clipped_before_ns\":%" PRIu64 "}\n",
				ttlog_snapshot_capacity(s->snap), ttlog_snapshot_event_count(s->snap),
				k.logged, k.kept, k.overwritten, k.dropped, k.clipped, k.truncated,
				k.in_flight, clip_ns);
		} else if (o->format == FMT_CSV) {
			csv_str(f, s->path, strlen(s->path));
			putc(',', f);
			csv_str(f, s->service, strlen(s->service));
			putc(',', f);
			csv_str(f, s->host, strlen(s->host));
			fprintf(f, ",%" PRIu64 ",", s->pid);
			csv_str(f, ttlog_snapshot_reason(s->snap), strlen(ttlog_snapshot_reason(s->snap)));
			fprintf(f, ",%" PRIu64 ",%s,", ttlog_snapshot_created_ns(s->snap), when);
			csv_str(f, ttlog_snapshot_variant(s->snap), strlen(ttlog_snapshot_variant(s->snap)));
			fprintf(f, ",%" PRIu64 ",%zu,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
				",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
				ttlog_snapshot_capacity(s->snap), ttlog_snapshot_event_count(s->snap),
				k.logged, k.kept, k.overwritten, k.dropped, k.truncated,
				k.in_flight, k.clipped, clip_ns);
		} else {
			if (!first)
				putc('\n', f);
			first = false;
			fputs("file         ", f);
			text_str(f, s->path, strlen(s->path), false);
			fputs("\nservice      ", f);
			text_str(f, s->service, strlen(s->service), false);
			fputs("\nhostname     ", f);
			text_str(f, s->host, strlen(s->host), false);
			fprintf(f, "\npid          %" PRIu64 "\nreason       ", s->pid);
			text_str(f, ttlog_snapshot_reason(s->snap), strlen(ttlog_snapshot_reason(s->snap)), false);
			fprintf(f, "\ncreated      %s (%" PRIu64 " ns)\nvariant      ", when,
				ttlog_snapshot_created_ns(s->snap));
			text_str(f, ttlog_snapshot_variant(s->snap), strlen(ttlog_snapshot_variant(s->snap)), false);
			fprintf(f, "\ncapacity     %" PRIu64 "\nevents       %zu\n"
				"counters     logged=%" PRIu64 " kept=%" PRIu64 " overwritten=%" PRIu64
				" dropped=%" PRIu64 " clipped=%" PRIu64 " truncated=%" PRIu64
				" in_flight=%" PRIu64 "\n",
				ttlog_snapshot_capacity(s->snap), ttlog_snapshot_event_count(s->snap),
				k.logged, k.kept, k.overwritten, k.dropped, k.clipped, k.truncated,
				k.in_flight);
			if (clip_ns != 0) {
				vtime(clip_ns, o->local, when, sizeof when);
				fprintf(f, "clipped      events before %s (%" PRIu64
					" ns), the start of the window common to all shards\n",
					when, clip_ns);
			}
		}
	}
}

/* Loss over the files: counters are totals over a process's life, so the files of one
 * process count once (the largest values, its newest snapshot's). clipped is a count of
 * one snapshot, not a total: the newest snapshot's (largest logged) is taken. */
static void loss_totals(const struct ctx *c, ttlog_snapshot_counters *t)
{
	ttlog_snapshot_counters k, g;
	uint64_t newest;
	size_t i, j;

	memset(t, 0, sizeof *t);
	for (i = 0; i < c->nsrc; i++) {
		if (c->src[i].snap == NULL || c->src[i].group != i)
			continue;
		memset(&g, 0, sizeof g);
		newest = 0;
		for (j = i; j < c->nsrc; j++) {
			if (c->src[j].snap == NULL || c->src[j].group != i)
				continue;
			ttlog_snapshot_get_counters(c->src[j].snap, &k);
			g.overwritten = k.overwritten > g.overwritten ? k.overwritten : g.overwritten;
			g.dropped = k.dropped > g.dropped ? k.dropped : g.dropped;
			g.truncated = k.truncated > g.truncated ? k.truncated : g.truncated;
			g.in_flight = k.in_flight > g.in_flight ? k.in_flight : g.in_flight;
			if (j == i || k.logged > newest) {
				newest = k.logged;
				g.clipped = k.clipped;
			}
		}
		t->overwritten += g.overwritten;
		t->dropped += g.dropped;
		t->truncated += g.truncated;
		t->in_flight += g.in_flight;
		t->clipped += g.clipped;
	}
}

static void print_stats(struct ctx *c)
{
	const struct vopts *o = c->o;
	FILE *f = c->out;
	ttlog_snapshot_counters loss;
	struct count *tg = counter_sorted(&c->targets), *th = counter_sorted(&c->threads);
	char t0[64], t1[64];
	size_t i, nfiles = 0;
	double span = c->shown ? (double)(c->last_ns - c->first_ns) / 1e9 : 0;

	for (i = 0; i < c->nsrc; i++)
		nfiles += c->src[i].snap != NULL;
	loss_totals(c, &loss);
	vtime(c->first_ns, o->local, t0, sizeof t0);
	vtime(c->last_ns, o->local, t1, sizeof t1);
	if (o->format == FMT_JSON) {
		fprintf(f, "{\"events\":%" PRIu64 ",\"read\":%zu,\"duplicates\":%zu,\"files\":%zu",
			c->shown, c->read + c->dups, c->dups, nfiles);
		if (c->shown)
			fprintf(f, ",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64
				",\"first\":\"%s\",\"last\":\"%s\",\"span_s\":%.9f",
				c->first_ns, c->last_ns, t0, t1, span);
		fputs(",\"levels\":{", f);
		for (i = 0; i <= TTLOG_LEVEL_FATAL; i++)
			fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", ttlog_level_name((int)i),
				c->levels[i]);
		fputs("},\"targets\":{", f);
		for (i = 0; i < c->targets.len; i++) {
			if (i)
				putc(',', f);
			json_cstr(f, tg[i].key);
			fprintf(f, ":%" PRIu64, tg[i].n);
		}
		fputs("},\"threads\":{", f);
		for (i = 0; i < c->threads.len; i++) {
			if (i)
				putc(',', f);
			json_cstr(f, th[i].key);
			fprintf(f, ":%" PRIu64, th[i].n);
		}
		fprintf(f, "},\"loss\":{\"overwritten\":%" PRIu64 ",\"dropped\":%" PRIu64
			",\"clipped\":%" PRIu64 ",\"truncated\":%" PRIu64 ",\"in_flight\":%" PRIu64
			"}}\n", loss.overwritten, loss.dropped, loss.clipped, loss.truncated,
			loss.in_flight);
	} else if (o->format == FMT_CSV) {
		fputs("kind,key,value\n", f);
		fprintf(f, "events,shown,%" PRIu64 "\nevents,read,%zu\nevents,duplicates,%zu\n"
			"events,files,%zu\n", c->shown, c->read + c->dups, c->dups, nfiles);
		if (c->shown)
			fprintf(f, "span,first_ns,%" PRIu64 "\nspan,last_ns,%" PRIu64 "\n",
				c->first_ns, c->last_ns);
		for (i = 0; i <= TTLOG_LEVEL_FATAL; i++)
			fprintf(f, "level,%s,%" PRIu64 "\n", ttlog_level_name((int)i), c->levels[i]);
		for (i = 0; i < c->targets.len; i++) {
			fputs("target,", f);
			csv_str(f, tg[i].key, strlen(tg[i].key));
			fprintf(f, ",%" PRIu64 "\n", tg[i].n);
		}
		for (i = 0; i < c->threads.len; i++) {
			fputs("thread,", f);
			csv_str(f, th[i].key, strlen(th[i].key));
			fprintf(f, ",%" PRIu64 "\n", th[i].n);
		}
		fprintf(f, "loss,overwritten,%" PRIu64 "\nloss,dropped,%" PRIu64
			"\nloss,clipped,%" PRIu64 "\nloss,truncated,%" PRIu64
			"\nloss,in_flight,%" PRIu64 "\n", loss.overwritten, loss.dropped,
			loss.clipped, loss.truncated, loss.in_flight);
	} else {
		fprintf(f, "events       %" PRIu64 " shown of %zu read from %zu file%s", c->shown,
			c->read + c->dups, nfiles, nfiles == 1 ? "" : "s");
		if (c->dups)
			fprintf(f, " (%zu duplicates of overlapping snapshots skipped)", c->dups);
		putc('\n', f);
		if (c->shown) /* microseconds, cut like the times */
			fprintf(f, "span         %s .. %s (%" PRIu64 ".%06" PRIu64 " s)\n", t0, t1,
				(c->last_ns - c->first_ns) / 1000000000u,
				(c->last_ns - c->first_ns) % 1000000000u / 1000u);
		bool missing = loss.overwritten || loss.dropped || loss.clipped;
		fprintf(f, "loss         overwritten=%" PRIu64 " dropped=%" PRIu64
			" clipped=%" PRIu64 " truncated=%" PRIu64 " in_flight=%" PRIu64 "%s\n",
			loss.overwritten, loss.dropped, loss.clipped, loss.truncated,
			loss.in_flight, missing ? "  (events are missing)" : "");
		int w = 5;
		for (i = 0; i < c->targets.len; i++)
			if (text_width(tg[i].key) > w && text_width(tg[i].key) <= 40)
				w = text_width(tg[i].key);
		for (i = 0; i < c->threads.len; i++)
			if (text_width(th[i].key) > w && text_width(th[i].key) <= 40)
				w = text_width(th[i].key);
		fputs("by level\n", f);
		for (i = 0; i <= TTLOG_LEVEL_FATAL; i++)
			if (c->levels[i])
				fprintf(f, "  %-*s %" PRIu64 "\n", w, ttlog_level_name((int)i), c->levels[i]);
		fputs("by target\n", f);
		for (i = 0; i < c->targets.len; i++) {
			fputs("  ", f);
			text_str(f, tg[i].key, strlen(tg[i].key), false);
			pad(f, w - text_width(tg[i].key));
			fprintf(f, " %" PRIu64 "\n", tg[i].n);
		}
		fputs("by thread\n", f);
		for (i = 0; i < c->threads.len; i++) {
			fputs("  ", f);
			text_str(f, th[i].key, strlen(th[i].key), false);
			pad(f, w - text_width(th[i].key));
			fprintf(f, " %" PRIu64 "\n", th[i].n);
		}
	}
	free(tg);
	free(th);
}

/* ---- inputs ---------------------------------------------------------------------- */

static int snap_filter(const struct dirent *d)
{
	return fnmatch("ttlog-*.bin", d->d_name, FNM_PERIOD) == 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Add path, or the ttlog-*.bin files of the directory path. Returns false when a
 * directory could not be listed or holds no snapshot (reported). */
static bool add_input(const char *path, struct vsource **src, size_t *nsrc, size_t *cap)
{
	struct stat st;
	struct dirent **list;
	int n, i;

	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if ((n = scandir(path, &list, snap_filter, name_cmp)) < 0) {
			err_line(path, strerror(errno));
			return false;
		}
		if (n == 0)
			err_line(path, "no ttlog-*.bin snapshot in this directory");
		for (i = 0; i < n; i++) {
			struct vbuf p = {0};
			vbuf_printf(&p, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
				    list[i]->d_name);
			free(list[i]);
			if (*nsrc == *cap)
				*src = xrealloc(*src, (*cap = *cap * 2 + 8) * sizeof **src);
			(*src)[*nsrc] = (struct vsource){.path = p.p, .owned_path = p.p};
			++*nsrc;
		}
		free(list);
		return n > 0;
	}
	if (*nsrc == *cap)
		*src = xrealloc(*src, (*cap = *cap * 2 + 8) * sizeof **src);
	(*src)[*nsrc] = (struct vsource){.path = path};
	++*nsrc;
	return true;
}

/* Labels: the service; @host when the files come from several hosts; [pid] when one
 * label would stand for several processes. Groups: the files of one process. Returns
 * the number of processes. */
static size_t make_labels(struct vsource *src, size_t nsrc)
{
	size_t groups = 0;
	bool hosts = false;
	size_t i, j;

	for (i = 0; i < nsrc; i++)
		for (j = 0; j < i && !hosts; j++)
			hosts = src[i].snap && src[j].snap && strcmp(src[i].host, src[j].host) != 0;
	for (i = 0; i < nsrc; i++) {
		struct vbuf b = {0};
		if (src[i].snap == NULL)
			continue;
		vbuf_printf(&b, "%s", src[i].service[0] ? src[i].service : "?");
		if (hosts)
			vbuf_printf(&b, "@%s", src[i].host);
		src[i].label = b.p;
	}
	for (i = 0; i < nsrc; i++) {
		bool clash = false;
		if (src[i].snap == NULL)
			continue;
		for (j = 0; j < nsrc && !clash; j++)
			clash = src[j].snap && src[j].pid != src[i].pid &&
				strcmp(src[j].service, src[i].service) == 0 &&
				strcmp(src[j].host, src[i].host) == 0;
		if (clash) {
			struct vbuf b = {0};
			vbuf_printf(&b, "%s[%" PRIu64 "]", src[i].label, src[i].pid);
			free(src[i].label);
			src[i].label = b.p;
		}
	}
	for (i = 0; i < nsrc; i++) {
		if (src[i].snap == NULL)
			continue;
		src[i].group = i;
		for (j = 0; j < i; j++)
			if (src[j].snap && src[j].pid == src[i].pid &&
			    strcmp(src[j].host, src[i].host) == 0 &&
			    strcmp(src[j].service, src[i].service) == 0) {
				src[i].group = src[j].group;
				break;
			}
	}
	for (i = 0; i < nsrc; i++)
		groups += src[i].snap && src[i].group == i;
	return groups;
}

/* ---- options --------------------------------------------------------------------- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'ttlog-view --help' for more information.\n", stderr);
	return 2;
}

static int parse_level(const char *s, int *out)
{
	static const char *const names[] = {"trace", "debug", "info", "warn", "error", "fatal"};

	for (int i = 0; i <= TTLOG_LEVEL_FATAL; i++)
		if (strcasecmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	if (strcasecmp(s, "warning") == 0) {
		*out = TTLOG_LEVEL_WARN;
		return 0;
	}
	if (s[0] >= '0' && s[0] <= '5' && s[1] == '\0') {
		*out = s[0] - '0';
		return 0;
	}
	return -1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Fixed-width decimal of exactly n digits at s; -1 if not. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * TIME: -30s -5m -2h -1d -500ms (before now; a bare number is seconds), "now", @NS, or
 * YYYY-mm-dd[THH:MM[:SS[.frac]]][Z|+hh:mm|-hh:mm|+hhmm] (no zone: UTC, or local time
 * with --local; a space may stand for the T).
 */
static int parse_time(const char *s, bool local, uint64_t *out)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"sec", 1e9},
		     {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}, {"d", 86400e9}, {"", 1e9}};
	struct tm tm;
	const char *p;
	char *end;
	time_t t;
	long off = 0;
	uint64_t frac = 0, scale = 100000000;
	bool has_zone = false;

	if (strcmp(s, "now") == 0) {
		*out = now_ns();
		return 0;
	}
	if (s[0] == '@') {
		if (!isdigit((unsigned char)s[1]))
			return -1;
		errno = 0;
		*out = strtoull(s + 1, &end, 10);
		return errno == 0 && *end == '\0' ? 0 : -1;
	}
	if (s[0] == '-' && (isdigit((unsigned char)s[1]) || s[1] == '.')) {
		double v = strtod(s + 1, &end), ns;
		uint64_t now = now_ns();
		size_t i;
		for (i = 0; i < sizeof units / sizeof units[0]; i++)
			if (strcmp(end, units[i].unit) == 0)
				break;
		if (end == s + 1 || i == sizeof units / sizeof units[0] || !(v >= 0))
			return -1;
		ns = v * units[i].ns;
		*out = ns >= (double)now ? 0 : now - (uint64_t)ns;
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	if (strlen(s) < 10 || (tm.tm_year = digits(s, 4)) < 0 || s[4] != '-' ||
	    (tm.tm_mon = digits(s + 5, 2)) < 1 || s[7] != '-' ||
	    (tm.tm_mday = digits(s + 8, 2)) < 1)
		return -1;
	p = s + 10;
	if (*p == 'T' || *p == 't' || (*p == ' ' && isdigit((unsigned char)p[1]))) {
		if ((tm.tm_hour = digits(p + 1, 2)) < 0 || p[3] != ':' ||
		    (tm.tm_min = digits(p + 4, 2)) < 0)
			return -1;
		p += 6;
		if (*p == ':') {
			if ((tm.tm_sec = digits(p + 1, 2)) < 0)
				return -1;
			p += 3;
			if (*p == '.' || *p == ',') {
				if (!isdigit((unsigned char)p[1]))
					return -1;
				for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
					frac += (uint64_t)(*p - '0') * scale;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		has_zone = true;
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh = digits(p + 1, 2), mm = 0;
		const char *q = p + 3;
		if (hh < 0)
			return -1;
		if (*q == ':')
			q++;
		if (isdigit((unsigned char)*q)) {
			if ((mm = digits(q, 2)) < 0)
				return -1;
			q += 2;
		}
		off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
		has_zone = true;
		p = q;
	}
	if (*p != '\0' || tm.tm_mon > 12 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (local && !has_zone) {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	} else {
		t = timegm(&tm) - off;
	}
	if (t < 0)
		return -1;
	*out = (uint64_t)t * 1000000000u + frac;
	return 0;
}

static int parse_threads(const char *s, struct vopts *o)
{
	const char *p = s;
	char *end;

	for (;;) {
		unsigned long v;
		if (!isdigit((unsigned char)*p))
			return -1;
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno != 0 || v > UINT32_MAX)
			return -1;
		o->threads = xrealloc(o->threads, (o->nthreads + 1) * sizeof *o->threads);
		o->threads[o->nthreads++] = (uint32_t)v;
		if (*end == '\0')
			return 0;
		if (*end != ',')
			return -1;
		p = end + 1;
	}
}

static void free_opts(struct vopts *o)
{
	size_t i;

	for (i = 0; i < o->nfields; i++) {
		free(o->fields[i].key);
		free(o->fields[i].value);
	}
	free(o->fields);
	free(o->targets);
	free(o->services);
	free(o->threads);
	if (o->has_grep)
		regfree(&o->grep);
}

enum { OPT_CSV = 256, OPT_SERVICE, OPT_SINCE, OPT_UNTIL, OPT_LOCAL, OPT_COLOR, OPT_NO_COLOR };

static const struct option long_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"json", no_argument, NULL, 'j'},
	{"csv", no_argument, NULL, OPT_CSV},
	{"header", no_argument, NULL, 'H'},
	{"stats", no_argument, NULL, 's'},
	{"interactive", no_argument, NULL, 'i'},
	{"local", no_argument, NULL, OPT_LOCAL},
	{"color", optional_argument, NULL, OPT_COLOR},
	{"colour", optional_argument, NULL, OPT_COLOR},
	{"no-color", no_argument, NULL, OPT_NO_COLOR},
	{"level", required_argument, NULL, 'l'},
	{"target", required_argument, NULL, 't'},
	{"service", required_argument, NULL, OPT_SERVICE},
	{"thread", required_argument, NULL, 'T'},
	{"grep", required_argument, NULL, 'g'},
	{"field", required_argument, NULL, 'f'},
	{"since", required_argument, NULL, OPT_SINCE},
	{"until", required_argument, NULL, OPT_UNTIL},
	{"last", required_argument, NULL, 'n'},
	{NULL, 0, NULL, 0},
};

/* Parse argv into o; returns 0, -1 for --help (printed), or 2 after a usage message. */
static int parse_args(int argc, char **argv, struct vopts *o, int *first_arg)
{
	const char *since = NULL, *until = NULL, *color_when = "auto";
	bool json = false, csv = false;
	int c, err;
	char *end;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hjHsil:t:T:g:f:n:", long_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case 'j': json = true; break;
		case OPT_CSV: csv = true; break;
		case 'H': o->header = true; break;
		case 's': o->stats = true; break;
		case 'i': o->interactive = true; break;
		case OPT_LOCAL: o->local = true; break;
		case OPT_NO_COLOR: color_when = "never"; break;
		case OPT_COLOR:
			color_when = optarg ? optarg : "always";
			if (strcmp(color_when, "auto") != 0 && strcmp(color_when, "always") != 0 &&
			    strcmp(color_when, "never") != 0)
				return usage_error("--color: want auto, always or never, not '%s'",
						   color_when);
			break;
		case 'l':
			if (parse_level(optarg, &o->min_level) < 0)
				return usage_error("--level: unknown level '%s' (trace debug info "
						   "warn error fatal)", optarg);
			break;
		case 't':
			o->targets = xrealloc(o->targets, (o->ntargets + 1) * sizeof *o->targets);
			o->targets[o->ntargets++] = optarg;
			break;
		case OPT_SERVICE:
			o->services = xrealloc(o->services, (o->nservices + 1) * sizeof *o->services);
			o->services[o->nservices++] = optarg;
			break;
		case 'T':
			if (parse_threads(optarg, o) < 0)
				return usage_error("--thread: want thread ids like 1234 or 12,34, not "
						   "'%s'", optarg);
			break;
		case 'g':
			if (o->has_grep)
				return usage_error("--grep given twice (use one regex with |)");
			if ((err = regcomp(&o->grep, optarg, REG_EXTENDED | REG_NOSUB)) != 0) {
				char msg[256];
				regerror(err, &o->grep, msg, sizeof msg);
				return usage_error("--grep '%s': %s", optarg, msg);
			}
			o->has_grep = true;
			break;
		case 'f': {
			const char *eq = strchr(optarg, '=');
			struct vfield_filter *ff;
			if (optarg[0] == '\0' || eq == optarg)
				return usage_error("--field: want KEY=VALUE or KEY, not '%s'", optarg);
			o->fields = xrealloc(o->fields, (o->nfields + 1) * sizeof *o->fields);
			ff = &o->fields[o->nfields++];
			ff->key = eq ? strndup(optarg, (size_t)(eq - optarg)) : xstrdup(optarg);
			ff->value = eq ? xstrdup(eq + 1) : NULL;
			if (ff->key == NULL)
				exit(1);
			break;
		}
		case OPT_SINCE: since = optarg; break;
		case OPT_UNTIL: until = optarg; break;
		case 'n': {
			unsigned long long v;
			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (!isdigit((unsigned char)optarg[0]) || *end != '\0' || errno != 0 ||
			    v > SIZE_MAX)
				return usage_error("--last: want a number of events, not '%s'", optarg);
			o->has_last = true;
			o->last = (size_t)v;
			break;
		}
		case ':':
			return usage_error("option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt != 0 && optopt < 256)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (json && csv)
		return usage_error("--json and --csv: choose one");
	o->format = json ? FMT_JSON : csv ? FMT_CSV : FMT_TABLE;
	if (o->interactive && (json || csv || o->header || o->stats))
		return usage_error("--interactive shows a terminal UI: no --json, --csv, "
				   "--header or --stats with it");
	if (since != NULL && parse_time(since, o->local, &o->since_ns) < 0)
		return usage_error("--since: cannot read the time '%s'", since);
	if (until != NULL && parse_time(until, o->local, &o->until_ns) < 0)
		return usage_error("--until: cannot read the time '%s'", until);
	o->has_since = since != NULL;
	o->has_until = until != NULL;
	if (optind >= argc)
		return usage_error("no snapshot file or directory given");
	{
		const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
		int fd = o->interactive ? STDIN_FILENO : STDOUT_FILENO;
		if (strcmp(color_when, "always") == 0)
			o->color = true;
		else if (strcmp(color_when, "never") == 0)
			o->color = false;
		else
			o->color = isatty(fd) && (nc == NULL || nc[0] == '\0') &&
				   (term == NULL || strcmp(term, "dumb") != 0);
		if (o->interactive && nc != NULL && nc[0] != '\0' &&
		    strcmp(color_when, "always") != 0)
			o->color = false;
	}
	if (o->interactive && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
		return usage_error("--interactive needs a terminal");
	*first_arg = optind;
	return 0;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct vopts o = {0};
	struct ctx c = {0};
	struct vsource *src = NULL;
	size_t nsrc = 0, cap = 0, i, opened = 0, skip = 0, procs;
	int status = 0, first = 0, rc, err;
	const char *cs;

	setlocale(LC_ALL, "");
	cs = nl_langinfo(CODESET);
	o.marker = cs != NULL && strcmp(cs, "UTF-8") == 0 ? "\xe2\x80\xa6" : "...";
	if ((rc = parse_args(argc, argv, &o, &first)) != 0) {
		free_opts(&o);
		if (rc < 0)
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		return rc;
	}

	for (int a = first; a < argc; a++)
		if (!add_input(argv[a], &src, &nsrc, &cap))
			status = 1;
	for (i = 0; i < nsrc; i++) {
		const char *path = strcmp(src[i].path, "-") == 0 ? "/dev/stdin" : src[i].path;
		if ((err = ttlog_snapshot_open(path, &src[i].snap)) < 0) {
			const char *msg = ttlog_reader_errmsg();
			err_line(src[i].path, msg[0] ? msg : strerror(-err));
			src[i].snap = NULL;
			status = 1;
			continue;
		}
		opened++;
		src[i].service = ttlog_snapshot_service(src[i].snap);
		src[i].host = ttlog_snapshot_hostname(src[i].snap);
		src[i].pid = ttlog_snapshot_pid(src[i].snap);
	}
	procs = make_labels(src, nsrc);
	mark_overlaps(src, nsrc);

	c.o = &o;
	c.src = src;
	c.nsrc = nsrc;
	c.several = procs > 1; /* events say where they come from */
	c.out = stdout;
	c.w_tid = 1;
	c.w_target = 1;
	for (i = 0; i < nsrc; i++)
		if (src[i].label != NULL && text_width(src[i].label) > c.w_label)
			c.w_label = text_width(src[i].label);

	if (o.interactive) {
		if (opened > 0 && vtui_run(src, nsrc, &o) != 0)
			status = 1;
	} else if (o.header || o.stats) {
		if (o.header)
			print_header(&c);
		if (o.stats) {
			if (o.has_last) {
				c.matched = run_pass(&c, NULL, 0);
				skip = c.matched > o.last ? c.matched - o.last : 0;
			}
			if (o.header && o.format == FMT_TABLE)
				putc('\n', stdout);
			run_pass(&c, count_event, skip);
			print_stats(&c);
		}
	} else {
		if (o.format == FMT_TABLE || o.has_last) {
			c.matched = run_pass(&c, o.format == FMT_TABLE ? measure : NULL, 0);
			skip = o.has_last && c.matched > o.last ? c.matched - o.last : 0;
		}
		if (o.format == FMT_CSV)
			fputs("time,ts_ns,level,service,host,pid,thread,target,message,fields,"
			      "truncated\n", stdout);
		run_pass(&c, o.format == FMT_JSON ? print_json
			     : o.format == FMT_CSV ? print_csv : print_table, skip);
	}

	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": write error: %s\n", errno ? strerror(errno) : "output failed");
		status = 1;
	}
	for (i = 0; i < nsrc; i++) {
		ttlog_snapshot_close(src[i].snap);
		free(src[i].owned_path);
		free(src[i].label);
		free(src[i].dup);
	}
	free(src);
	vbuf_free(&c.text);
	vbuf_free(&c.line);
	counter_free(&c.targets);
	counter_free(&c.threads);
	free_opts(&o);
	return status;
}
