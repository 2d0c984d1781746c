/*
 * view.c - what the parts of ttlog-view share (declared in view.h): text buffers, the
 * rendering of events, escaping for each output, the filters, the inputs and their
 * labels, the merged timeline and the de-duplication of overlapping snapshots.
 *
 * Files and directories (their ttlog-*.bin) merge into one timeline: a stable k-way merge
 * by timestamp, each file keeping its own order. Snapshots of one process overlap (a
 * periodic snapshot holds most of the previous one's events): an event met again in the
 * process's next file is shown once, from the newest file (see mark_overlap()).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../core/utf8.h" /* ttlog__utf8_seq */
#include "view.h"

/* One thread writes the output: the stdio calls without their per-call lock (a third of
 * the time of --json on a big snapshot). */
#define putc putc_unlocked
#define fputs fputs_unlocked
#define fwrite fwrite_unlocked

/* ---- small helpers --------------------------------------------------------------- */

void *vxmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	return p;
}

void *vxrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(1);
	}
	return p;
}

char *vxstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(vxmalloc(n), s, n);
}

void vbuf_put(struct vbuf *b, const char *s, size_t n)
{
	if (b->cap - b->len <= n) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap - b->len <= n)
			cap *= 2;
		b->p = vxrealloc(b->p, cap);
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
		b->p = vxrealloc(b->p, b->cap);
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

const char *vlevel(int level)
{
	static char names[UINT8_MAX + 1][sizeof "L255"]; /* one thread: filled on first use */

	if (level <= TTLOG_LEVEL_FATAL || level > UINT8_MAX)
		return ttlog_level_name(level);
	if (names[level][0] == '\0')
		snprintf(names[level], sizeof names[level], "L%d", level);
	return names[level];
}

/* ---- output escaping -------------------------------------------------------------
 *
 * Text from a file (targets, messages, values, names, metadata, the reader's messages
 * that quote it) is hostile: it may hold terminal controls (ESC sequences that retitle
 * the window or clear the screen; the C1 controls U+0080..U+009F, which some terminals
 * obey like ESC [ and ESC ]) and bytes that are not UTF-8. vchar() is the one rule of
 * what may reach an output as is; vescape() the one writer of what may not, in each
 * output's spelling. The terminal UI draws '?' for what vchar() refuses.
 */

size_t vchar(const unsigned char *p, size_t n, bool *safe)
{
	size_t k;

	if (p[0] >= 0x20 && p[0] < 0x7f) {
		*safe = true;
		return 1;
	}
	if (p[0] < 0x80 || (k = ttlog__utf8_seq(p, n)) == 0) {
		*safe = false; /* C0 control, DEL, or a byte that is not UTF-8 */
		return 1;
	}
	*safe = !(p[0] == 0xc2 && p[1] <= 0x9f); /* 0xc2 0x80..0x9f: U+0080..U+009F */
	return k;
}

enum vesc_style {
	ESC_TEXT,   /* \n \t \r, \xNN for a control or a byte that is not UTF-8, \u0080.. */
	ESC_QUOTED, /* the same, inside "": " and \ escaped with a backslash */
	ESC_JSON,   /* JSON string escapes; a byte that is not UTF-8 becomes \ufffd */
	ESC_CSV,    /* ESC_TEXT inside a quoted CSV cell: " doubled */
};

static void vescape(FILE *f, const char *s, size_t n, enum vesc_style style)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, k;
	bool safe;

	for (i = 0; i < n; i += k) {
		unsigned char c = p[i];
		k = vchar(p + i, n - i, &safe);
		if (safe) {
			if (k > 1)
				fwrite(p + i, 1, k, f);
			else if (c == '"' && style == ESC_CSV)
				fputs("\"\"", f);
			else if ((c == '"' || c == '\\') && style != ESC_TEXT && style != ESC_CSV)
				fprintf(f, "\\%c", c);
			else
				putc(c, f);
		} else if (k == 2) { /* a C1 control */
			fprintf(f, "\\u%04x", p[i + 1]);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (style == ESC_JSON && c >= 0x80) {
			fputs("\\ufffd", f);
		} else if (style == ESC_JSON) {
			fprintf(f, "\\u%04x", c);
		} else {
			fprintf(f, "\\x%02x", c);
		}
	}
}

/* A JSON string: quotes, backslashes and control characters escaped, bytes that are not
 * UTF-8 replaced by U+FFFD so that the line stays valid JSON. */
void vjson_str(FILE *f, const char *s, size_t n)
{
	putc('"', f);
	vescape(f, s, n, ESC_JSON);
	putc('"', f);
}

void vjson_cstr(FILE *f, const char *s)
{
	vjson_str(f, s, strlen(s));
}

/* Text for a terminal, kept on one line. quote: a key=value value, quoted (and " \
 * escaped) when it is empty or holds a space, a quote, '=' or a control character. */
void vtext_str(FILE *f, const char *s, size_t n, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	if (quote) {
		quote = n == 0;
		for (i = 0; i < n && !quote; i++)
			quote = p[i] <= ' ' || p[i] == '"' || p[i] == '=' || p[i] == 0x7f;
	}
	if (!quote) {
		vescape(f, s, n, ESC_TEXT);
		return;
	}
	putc('"', f);
	vescape(f, s, n, ESC_QUOTED);
	putc('"', f);
}

/* Is s[0..n) a decimal number (-3, -2.5)? A spreadsheet reads it as that number, never
 * as a formula. */
static bool plain_number(const char *s, size_t n)
{
	size_t i = s[0] == '-', d = 0;

	while (i < n && isdigit((unsigned char)s[i]))
		i++, d++;
	if (i < n && s[i] == '.' && d > 0)
		for (i++, d = 0; i < n && isdigit((unsigned char)s[i]); i++)
			d++;
	return d > 0 && i == n;
}

/* A CSV cell (RFC 4180), escaped like the table's text so that it holds no control
 * character (and no line break) and only UTF-8. A cell that a spreadsheet would take for
 * a formula (it starts with = + - @, a tab or a CR; OWASP's rule) gets a ' in front and
 * is quoted, except a plain decimal number (-3): that is data, not a formula. Quoted
 * also when it holds a comma or a quote. */
void vcsv_str(FILE *f, const char *s, size_t n)
{
	bool formula = n > 0 && memchr("=+-@\t\r", s[0], 6) != NULL && !plain_number(s, n);
	bool quote = formula;

	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"';
	if (!quote) {
		vescape(f, s, n, ESC_TEXT);
		return;
	}
	putc('"', f);
	if (formula)
		putc('\'', f);
	vescape(f, s, n, ESC_CSV);
	putc('"', f);
}

/* A message for stderr: one line, whatever a hostile file put in it. */
void verr_line(const char *path, const char *msg)
{
	fputs(PROG ": ", stderr);
	vtext_str(stderr, path, strlen(path), false);
	fputs(": ", stderr);
	vtext_str(stderr, msg, strlen(msg), false);
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
	struct vmerge *m = vxmalloc(sizeof *m);
	size_t i;

	*m = (struct vmerge){.src = src, .nsrc = nsrc};
	m->heap = vxmalloc(nsrc * sizeof *m->heap);
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
	struct ident *ids = vxmalloc(na * sizeof *ids);
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
			a->dup = vxmalloc(na / 8 + 1);
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
void vmark_overlaps(struct vsource *src, size_t nsrc)
{
	size_t *member = vxmalloc(nsrc * sizeof *member), n, i, j;

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
static const char *file_kind(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
			     : "its type is unknown";
}

bool vadd_input(const char *path, struct vsource **src, size_t *nsrc, size_t *cap)
{
	struct stat st;
	struct dirent **list;
	bool skipped = false;
	int n, i;

	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if ((n = scandir(path, &list, snap_filter, name_cmp)) < 0) {
			verr_line(path, strerror(errno));
			return false;
		}
		if (n == 0)
			verr_line(path, "no ttlog-*.bin snapshot in this directory");
		for (i = 0; i < n; i++) {
			struct vbuf p = {0};
			vbuf_printf(&p, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/",
				    list[i]->d_name);
			free(list[i]);
			/* a FIFO would block the reader (which refuses it anyway), a device
			 * never end: what is not a file is skipped, and said (a file that
			 * went away is left to the reader to report) */
			if (stat(p.p, &st) == 0 && !S_ISREG(st.st_mode)) {
				struct vbuf why = {0};
				vbuf_printf(&why, "not a regular file (%s), skipped",
					    file_kind(st.st_mode));
				verr_line(p.p, why.p);
				vbuf_free(&why);
				vbuf_free(&p);
				skipped = true;
				continue;
			}
			if (*nsrc == *cap)
				*src = vxrealloc(*src, (*cap = *cap * 2 + 8) * sizeof **src);
			(*src)[*nsrc] = (struct vsource){.path = p.p, .owned_path = p.p};
			++*nsrc;
		}
		free(list);
		return n > 0 && !skipped;
	}
	if (*nsrc == *cap)
		*src = vxrealloc(*src, (*cap = *cap * 2 + 8) * sizeof **src);
	(*src)[*nsrc] = (struct vsource){.path = path};
	++*nsrc;
	return true;
}

/* Labels: the service; @host when the files come from several hosts; [pid] when one
 * label would stand for several processes. Groups: the files of one process. Returns
 * the number of processes. */
size_t vmake_labels(struct vsource *src, size_t nsrc)
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

bool vgap_next(const struct vsource *s, size_t *cursor, size_t ord, ttlog_gap *g)
{
	if (*cursor >= ttlog_snapshot_gap_count(s->snap) ||
	    ttlog_snapshot_gap(s->snap, *cursor, g) != 0 || (ord != SIZE_MAX && g->index > ord))
		return false;
	(*cursor)++;
	return true;
}
