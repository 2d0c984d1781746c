/*
 * view_tui.c - ttlog-view --interactive: an ncurses UI over the merged timeline.
 *
 * The events that pass the command line's filters are kept in memory (a compact row per
 * event plus its fields; strings stay in the readers' buffers), so that the list can
 * scroll both ways. On top of them the UI filters by minimum level and by target, and
 * searches with a regex; Enter opens the details of the selected event.
 *
 * Keys (also on the '?' screen): Up/Down j/k, PgUp/PgDn, Home/End g/G; / search, n/N
 * next/previous match; l/L raise/lower the minimum level, 0-5 set it; t target pattern,
 * T only the selected event's target (again: all targets); c clear filters and search;
 * Enter details (Up/Down there: previous/next event; Esc, q or Enter: back); q quit.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <curses.h>

#include "view.h"

struct trow {
	uint64_t ts;
	const char *target, *message, *file;
	uint32_t tid, line, callsite;
	uint32_t src;
	uint8_t level; /* 0..5, or a level beyond FATAL a file may hold */
	uint8_t nfields;
	size_t field0; /* its fields in tui.fields */
	uint64_t gap;  /* a gap record's row: events lost here; target is its kind */
};

struct tui {
	struct vsource *src;
	size_t nsrc;
	const struct vopts *o;
	bool several, utf8, color;
	struct trow *rows;
	size_t nrows, rows_cap;
	ttlog_field *fields;
	size_t nfields, fields_cap;
	size_t *vis; /* rows that pass the UI's filters */
	size_t nvis;
	size_t top, sel; /* indexes into vis */
	int w_label, w_tid, w_target; /* column widths */
	int min_level;
	char target[128]; /* fnmatch pattern, "" = all */
	regex_t re;
	bool has_re;
	char re_text[128];
	char msg[160]; /* shown in the status line until the next key */
	struct vbuf text, line;
};

enum { P_LEVEL = 1, P_LABEL = 7, P_KEY = 8, P_BAR = 9 };

static void *tmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL) {
		endwin();
		fputs("ttlog-view: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

static void *trealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL) {
		endwin();
		fputs("ttlog-view: out of memory\n", stderr);
		exit(1);
	}
	return p;
}

/* ---- loading --------------------------------------------------------------------- */

/* max(w, columns of s) when that is at most cap (UTF-8 lead bytes: near enough) */
static int widest(int w, const char *s, int cap)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n > w && n <= cap ? n : w;
}


/* Rows for source s's gap records that lie before its event ord (SIZE_MAX: the rest),
 * shown where they happened (at time ts, the next event's) */
static void add_gaps(struct tui *t, struct vsource *s, size_t *gap_next, size_t ord, uint64_t ts)
{
	size_t i = (size_t)(s - t->src);
	ttlog_gap g;

	while (vgap_next(s, &gap_next[i], ord, &g)) {
		if (t->nrows == t->rows_cap)
			t->rows = trealloc(t->rows, (t->rows_cap = t->rows_cap * 2 + 1024) *
							     sizeof *t->rows);
		t->rows[t->nrows++] = (struct trow){.ts = ts, .target = g.kind, .message = "",
						    .file = "", .tid = g.tid, .src = (uint32_t)i,
						    .gap = g.count, .field0 = t->nfields};
	}
}

static void load(struct tui *t)
{
	struct vmerge *m = vmerge_begin(t->src, t->nsrc);
	const ttlog_event *ev;
	struct vsource *s;
	size_t *gap_next = tmalloc((t->nsrc ? t->nsrc : 1) * sizeof *gap_next);

	memset(gap_next, 0, (t->nsrc ? t->nsrc : 1) * sizeof *gap_next);
	while ((s = vmerge_next(m, &ev)) != NULL) {
		struct trow *r;
		if (!vmatch_meta(t->o, s, ev))
			continue;
		if (t->o->has_grep) {
			vrender(ev, NULL, &t->text);
			if (!vmatch_text(t->o, t->text.p))
				continue;
		}
		if (!vfiltered(t->o))
			add_gaps(t, s, gap_next, s->ord, ev->timestamp_ns);
		if (t->nrows == t->rows_cap)
			t->rows = trealloc(t->rows, (t->rows_cap = t->rows_cap * 2 + 1024) *
							     sizeof *t->rows);
		if (t->fields_cap - t->nfields < ev->nfields)
			t->fields = trealloc(t->fields, (t->fields_cap = t->fields_cap * 2 + 4096) *
								 sizeof *t->fields);
		r = &t->rows[t->nrows++];
		*r = (struct trow){.ts = ev->timestamp_ns, .target = ev->target,
				   .message = ev->message, .file = ev->file, .tid = ev->thread_id,
				   .line = ev->line, .callsite = ev->callsite_id,
				   .src = (uint32_t)(s - t->src), .level = (uint8_t)ev->level,
				   .nfields = (uint8_t)ev->nfields, .field0 = t->nfields};
		memcpy(t->fields + t->nfields, ev->fields, ev->nfields * sizeof *ev->fields);
		t->nfields += ev->nfields;
		t->w_target = widest(t->w_target, ev->target[0] ? ev->target : "-", 16);
		t->w_label = widest(t->w_label, s->label, 24);
		t->line.len = 0;
		vbuf_printf(&t->line, "%" PRIu32, ev->thread_id);
		t->w_tid = widest(t->w_tid, t->line.p, 10);
	}
	vmerge_end(m);
	for (size_t i = 0; i < t->nsrc && !vfiltered(t->o); i++)
		if (t->src[i].snap != NULL)
			add_gaps(t, &t->src[i], gap_next, SIZE_MAX,
				 t->nrows ? t->rows[t->nrows - 1].ts : 0);
	free(gap_next);
	if (t->o->has_last && t->nrows > t->o->last) {
		size_t drop = t->nrows - t->o->last;
		memmove(t->rows, t->rows + drop, t->o->last * sizeof *t->rows);
		t->nrows = t->o->last;
	}
	t->vis = tmalloc(t->nrows * sizeof *t->vis);
}

static void row_event(const struct tui *t, const struct trow *r, ttlog_event *ev)
{
	memset(ev, 0, sizeof *ev);
	ev->timestamp_ns = r->ts;
	ev->thread_id = r->tid;
	ev->callsite_id = r->callsite;
	ev->level = r->level;
	ev->target = r->target;
	ev->message = r->message;
	ev->file = r->file;
	ev->line = r->line;
	ev->nfields = r->nfields;
	memcpy(ev->fields, t->fields + r->field0, r->nfields * sizeof *ev->fields);
}

/* The searchable text of a row: target, message (marked) and key=value fields. */
static const char *row_text(struct tui *t, const struct trow *r)
{
	ttlog_event ev;
	size_t i;

	if (r->gap) {
		t->text.len = 0;
		vbuf_printf(&t->text, "%" PRIu64 " events %s here", r->gap, r->target);
		return t->text.p;
	}
	row_event(t, r, &ev);
	vrender(&ev, t->o->marker, &t->text);
	for (i = vplaceholders(ev.message); i < ev.nfields; i++) {
		vbuf_printf(&t->text, " %s=", ev.fields[i].name);
		vfield_text(&ev.fields[i], t->o->marker, &t->text);
	}
	return t->text.p;
}

static bool row_visible(const struct tui *t, const struct trow *r)
{
	if (r->gap) /* losses are shown whatever the filters */
		return true;
	return r->level >= t->min_level &&
	       (t->target[0] == '\0' || fnmatch(t->target, r->target, 0) == 0);
}

/* Recompute the visible rows, keeping the selected row (or the first one after it). */
static void refilter(struct tui *t)
{
	size_t keep = t->nvis > 0 ? t->vis[t->sel] : 0, i;
	bool found = false;

	t->nvis = 0;
	t->sel = 0;
	for (i = 0; i < t->nrows; i++) {
		if (!row_visible(t, &t->rows[i]))
			continue;
		if (!found && i >= keep) {
			t->sel = t->nvis;
			found = true;
		}
		t->vis[t->nvis++] = i;
	}
	if (!found && t->nvis > 0)
		t->sel = t->nvis - 1;
	if (t->top > t->sel)
		t->top = t->sel;
}

/* ---- drawing --------------------------------------------------------------------- */

/* The next character of p[0..n): its length, and in *w the columns it takes, or -1 when
 * it is drawn as '?' (vchar() refuses it, or the terminal cannot show it). */
static size_t next_char(const struct tui *t, const unsigned char *p, size_t n, int *w)
{
	bool safe;
	size_t k = vchar(p, n, &safe);
	uint32_t cp;

	*w = safe ? 1 : -1;
	if (!safe || k == 1)
		return k;
	if (!t->utf8) {
		*w = -1;
		return k;
	}
	cp = k == 2 ? (p[0] & 0x1fu) : k == 3 ? (p[0] & 0x0fu) : (p[0] & 0x07u);
	for (size_t j = 1; j < k; j++)
		cp = cp << 6 | (p[j] & 0x3fu);
	*w = wcwidth((wchar_t)cp);
	return k;
}

/* Draw bytes s[0..n) from column x on row y, clipped at column maxx; what next_char()
 * cannot show becomes '?'. Returns the next column. */
static int put_clip(struct tui *t, int y, int x, const char *s, size_t n, int maxx)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	int w;

	while (i < n && x < maxx) {
		k = next_char(t, p + i, n - i, &w);
		if (x + (w < 0 ? 1 : w) > maxx)
			break;
		if (w < 0)
			mvaddch(y, x, '?');
		else
			mvaddnstr(y, x, s + i, (int)k);
		x += w < 0 ? 1 : w;
		i += k;
	}
	return x;
}

static int put_str(struct tui *t, int y, int x, const char *s, int maxx)
{
	return put_clip(t, y, x, s, strlen(s), maxx);
}

static void level_attr(const struct tui *t, int level, bool on)
{
	if (!t->color || level < 0 || level > TTLOG_LEVEL_FATAL)
		return;
	attr_t a = COLOR_PAIR(P_LEVEL + level) | (level >= TTLOG_LEVEL_ERROR ? A_BOLD : 0);
	if (on)
		attron(a);
	else
		attroff(a);
}

static void draw_row(struct tui *t, int y, const struct trow *r, bool selected)
{
	ttlog_event ev;
	char when[64];
	const char *tod;
	int x = 0, maxx = COLS;
	size_t i, n;

	row_event(t, r, &ev);
	if (selected)
		attron(A_REVERSE);
	move(y, 0);
	clrtoeol();
	if (selected) /* the whole line in reverse video */
		mvhline(y, 0, ' ', COLS);
	if (r->gap) {
		t->line.len = 0;
		vbuf_printf(&t->line, "... %" PRIu64 " event%s %s here ...", r->gap,
			    r->gap == 1 ? "" : "s", r->target);
		if (t->several)
			vbuf_printf(&t->line, " [%s]", t->src[r->src].label);
		attron(A_DIM);
		put_str(t, y, 0, t->line.p, maxx);
		attroff(A_DIM);
		if (selected)
			attroff(A_REVERSE);
		return;
	}
	vtime(r->ts, t->o->local, when, sizeof when);
	tod = strlen(when) > 11 ? when + 11 : when; /* HH:MM:SS.uuuuuu... */
	x = put_str(t, y, x, tod, maxx);
	x++;
	level_attr(t, r->level, true);
	x = put_str(t, y, x, vlevel(r->level), maxx);
	level_attr(t, r->level, false);
	x = (int)strlen(tod) + 1 + 5 + 1;
	if (t->several) {
		int x0 = x;
		if (t->color)
			attron(COLOR_PAIR(P_LABEL));
		x = put_str(t, y, x, t->src[r->src].label, maxx) + 1;
		if (t->color)
			attroff(COLOR_PAIR(P_LABEL));
		if (x < x0 + t->w_label + 1)
			x = x0 + t->w_label + 1;
	}
	t->line.len = 0;
	vbuf_printf(&t->line, "%*" PRIu32, t->w_tid, r->tid);
	x = put_str(t, y, x, t->line.p, maxx) + 1;
	{
		int x0 = x;
		attron(A_BOLD);
		x = put_str(t, y, x, r->target[0] ? r->target : "-", maxx) + 1;
		attroff(A_BOLD);
		if (x < x0 + t->w_target + 1)
			x = x0 + t->w_target + 1;
	}
	n = vrender(&ev, t->o->marker, &t->text);
	x = put_clip(t, y, x, t->text.p, n, maxx);
	for (i = vplaceholders(ev.message); i < ev.nfields && x < maxx; i++) {
		x = put_str(t, y, x + 1, ev.fields[i].name, maxx);
		x = put_str(t, y, x, "=", maxx);
		t->line.len = 0;
		vfield_text(&ev.fields[i], t->o->marker, &t->line);
		x = put_clip(t, y, x, t->line.p, t->line.len, maxx);
	}
	if (selected)
		attroff(A_REVERSE);
}

static int list_height(void)
{
	return LINES > 2 ? LINES - 2 : 1;
}

static void draw_list(struct tui *t)
{
	int h = list_height(), y;
	char when[64];

	erase();
	/* title bar */
	attron(A_REVERSE);
	mvhline(0, 0, ' ', COLS);
	t->line.len = 0;
	vbuf_printf(&t->line, " ttlog-view  %zu/%zu events", t->nvis, t->nrows);
	if (t->nrows > 0) {
		vtime(t->rows[0].ts, t->o->local, when, sizeof when);
		if (strlen(when) > 10)
			when[10] = '\0'; /* the date */
		vbuf_printf(&t->line, "  from %s", when);
	}
	vbuf_printf(&t->line, "  level>=%s", vlevel(t->min_level));
	if (t->target[0])
		vbuf_printf(&t->line, "  target=%s", t->target);
	if (t->has_re)
		vbuf_printf(&t->line, "  search=/%s/", t->re_text);
	put_str(t, 0, 0, t->line.p, COLS);
	attroff(A_REVERSE);

	if (t->sel < t->top)
		t->top = t->sel;
	if (t->sel >= t->top + (size_t)h)
		t->top = t->sel - (size_t)h + 1;
	for (y = 0; y < h && t->top + (size_t)y < t->nvis; y++)
		draw_row(t, y + 1, &t->rows[t->vis[t->top + (size_t)y]],
			 t->top + (size_t)y == t->sel);
	if (t->nvis == 0)
		put_str(t, 2, 2, t->nrows ? "no event passes the filters (c: clear them)"
					  : "no event", COLS);

	/* status line */
	move(LINES - 1, 0);
	clrtoeol();
	if (t->msg[0]) {
		put_str(t, LINES - 1, 0, t->msg, COLS - 1);
	} else {
		t->line.len = 0;
		vbuf_printf(&t->line, "%zu/%zu  ", t->nvis ? t->sel + 1 : 0, t->nvis);
		vbuf_printf(&t->line, "Enter details  / search  n N  l L level  t T target  "
				      "c clear  ? help  q quit");
		put_str(t, LINES - 1, 0, t->line.p, COLS - 1);
	}
	refresh();
}

/* A line of text, wrapped at the screen width from column x0; returns the next row. */
static int put_wrapped(struct tui *t, int y, int x0, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	if (n == 0)
		return y + 1;
	while (i < n && y < LINES - 1) {
		/* how many bytes fit on this row: put_clip stops at the edge */
		size_t j = i;
		int x = x0;
		while (j < n) {
			int w;
			size_t k = next_char(t, p + j, n - j, &w);
			w = w < 0 ? 1 : w;
			if (x + w > COLS)
				break;
			x += w;
			j += k;
		}
		if (j == i)
			break;
		put_clip(t, y++, x0, s + i, j - i, COLS);
		i = j;
	}
	return y;
}

static void draw_details(struct tui *t)
{
	const struct trow *r = &t->rows[t->vis[t->sel]];
	const struct vsource *s = &t->src[r->src];
	ttlog_event ev;
	char when[64];
	int y = 1;
	size_t i, n;

	row_event(t, r, &ev);
	erase();
	if (r->gap) { /* a gap record has no event to detail: its line says it all */
		put_str(t, 1, 0, row_text(t, r), COLS);
		put_str(t, LINES - 1, 0, "Up/Down previous/next event   Esc q Enter back", COLS - 1);
		refresh();
		return;
	}
	attron(A_REVERSE);
	mvhline(0, 0, ' ', COLS);
	t->line.len = 0;
	vbuf_printf(&t->line, " event %zu of %zu", t->sel + 1, t->nvis);
	put_str(t, 0, 0, t->line.p, COLS);
	attroff(A_REVERSE);

#define LABEL(name) (attron(A_BOLD), put_str(t, y, 0, name, COLS), attroff(A_BOLD))
	vtime(r->ts, t->o->local, when, sizeof when);
	LABEL("time");
	t->line.len = 0;
	vbuf_printf(&t->line, "%s  (%" PRIu64 " ns since the epoch)", when, r->ts);
	put_str(t, y++, 11, t->line.p, COLS);
	LABEL("level");
	level_attr(t, r->level, true);
	put_str(t, y++, 11, vlevel(r->level), COLS);
	level_attr(t, r->level, false);
	LABEL("service");
	t->line.len = 0;
	vbuf_printf(&t->line, "%s  host %s  pid %" PRIu64, s->service, s->host, s->pid);
	put_str(t, y++, 11, t->line.p, COLS);
	LABEL("snapshot");
	t->line.len = 0;
	vbuf_printf(&t->line, "%s  (%s)", s->path, ttlog_snapshot_reason(s->snap));
	put_str(t, y++, 11, t->line.p, COLS);
	LABEL("thread");
	t->line.len = 0;
	vbuf_printf(&t->line, "%" PRIu32, r->tid);
	put_str(t, y++, 11, t->line.p, COLS);
	LABEL("target");
	put_str(t, y++, 11, r->target, COLS);
	if (r->file[0]) {
		LABEL("location");
		t->line.len = 0;
		vbuf_printf(&t->line, "%s:%" PRIu32, r->file, r->line);
		put_str(t, y++, 11, t->line.p, COLS);
	}
	LABEL("template");
	y = put_wrapped(t, y, 11, r->message, strlen(r->message));
	LABEL("message");
	n = vrender(&ev, t->o->marker, &t->text);
	y = put_wrapped(t, y, 11, t->text.p, n);
	LABEL("fields");
	if (ev.nfields == 0)
		put_str(t, y++, 11, "(none)", COLS);
	else
		y++;
	for (i = 0; i < ev.nfields && y < LINES - 1; i++) {
		const ttlog_field *f = &ev.fields[i];
		t->line.len = 0;
		vbuf_printf(&t->line, "%s (%s) = ", f->name, ttlog_type_name(f->type));
		if (t->color)
			attron(COLOR_PAIR(P_KEY));
		put_str(t, y, 2, t->line.p, COLS);
		if (t->color)
			attroff(COLOR_PAIR(P_KEY));
		{
			int x0 = 2 + (int)strlen(t->line.p);
			t->line.len = 0;
			vfield_text(f, NULL, &t->line);
			if (f->truncated)
				vbuf_printf(&t->line, "%s  [truncated]", t->o->marker);
			y = put_wrapped(t, y, x0 < COLS / 2 ? x0 : 4, t->line.p, t->line.len);
		}
	}
#undef LABEL
	move(LINES - 1, 0);
	clrtoeol();
	put_str(t, LINES - 1, 0, "Up/Down previous/next event   Esc q Enter back", COLS - 1);
	refresh();
}

static void draw_help(struct tui *t)
{
	static const char *const lines[] = {
		"ttlog-view --interactive",
		"",
		"  Up Down j k      move",
		"  PgUp PgDn Space  page",
		"  Home End g G     first, last event",
		"  Enter            details of the event (Up/Down there: neighbours)",
		"  /                search (POSIX extended regex over target, message, fields;",
		"                   case-insensitive unless it has a capital letter)",
		"  n N              next, previous match",
		"  l L              raise, lower the minimum level; 0-5 set it",
		"  t                filter by target (shell pattern, empty: all)",
		"  T                only the selected event's target; again: all targets",
		"  c                clear the filters and the search",
		"  q                quit",
		"",
		"any key: back",
	};
	erase();
	for (size_t i = 0; i < sizeof lines / sizeof lines[0] && (int)i < LINES; i++)
		put_str(t, (int)i, 0, lines[i], COLS);
	refresh();
}

/* ---- input ----------------------------------------------------------------------- */

/* Read a line on the status row after prompt; false when cancelled (Esc). */
static bool prompt(struct tui *t, const char *what, char *buf, size_t len)
{
	size_t n = strlen(buf);
	int ch;

	curs_set(1);
	for (;;) {
		move(LINES - 1, 0);
		clrtoeol();
		put_str(t, LINES - 1, 0, what, COLS - 1);
		put_clip(t, LINES - 1, (int)strlen(what), buf, n, COLS - 1);
		refresh();
		ch = getch();
		if (ch == '\n' || ch == '\r' || ch == KEY_ENTER)
			break;
		if (ch == 27) {
			curs_set(0);
			return false;
		}
		if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n > 0) {
			/* drop a whole UTF-8 character */
			n--;
			while (n > 0 && ((unsigned char)buf[n] & 0xc0) == 0x80)
				n--;
			buf[n] = '\0';
		} else if (ch == 21) { /* ^U */
			n = 0;
			buf[0] = '\0';
		} else if (ch >= 0x20 && ch < 0x100 && ch != 0x7f && n + 1 < len) {
			buf[n++] = (char)ch;
			buf[n] = '\0';
		}
	}
	curs_set(0);
	return true;
}

static void search(struct tui *t, int dir, bool include_current)
{
	size_t i, steps;

	if (!t->has_re || t->nvis == 0)
		return;
	i = t->sel;
	for (steps = 0; steps < t->nvis; steps++) {
		if (steps > 0 || !include_current)
			i = dir > 0 ? (i + 1) % t->nvis : (i + t->nvis - 1) % t->nvis;
		if (regexec(&t->re, row_text(t, &t->rows[t->vis[i]]), 0, NULL, 0) == 0) {
			if ((dir > 0 && i < t->sel) || (dir < 0 && i > t->sel))
				snprintf(t->msg, sizeof t->msg, "search wrapped around");
			t->sel = i;
			return;
		}
	}
	snprintf(t->msg, sizeof t->msg, "not found: /%.120s/", t->re_text);
}

static void new_search(struct tui *t)
{
	char buf[sizeof t->re_text];
	int flags = REG_EXTENDED | REG_NOSUB, err;
	bool upper = false;

	snprintf(buf, sizeof buf, "%s", t->re_text);
	if (!prompt(t, "/", buf, sizeof buf))
		return;
	if (t->has_re)
		regfree(&t->re);
	t->has_re = false;
	snprintf(t->re_text, sizeof t->re_text, "%s", buf);
	if (buf[0] == '\0')
		return;
	for (const char *p = buf; *p; p++)
		upper |= isupper((unsigned char)*p) != 0;
	if (!upper)
		flags |= REG_ICASE;
	if ((err = regcomp(&t->re, buf, flags)) != 0) {
		char e[100];
		regerror(err, &t->re, e, sizeof e);
		snprintf(t->msg, sizeof t->msg, "bad regex /%.60s/: %.80s", buf, e);
		return;
	}
	t->has_re = true;
	search(t, 1, true);
}

static void details(struct tui *t)
{
	int ch;

	for (;;) {
		draw_details(t);
		ch = getch();
		if (ch == KEY_UP || ch == 'k') {
			if (t->sel > 0)
				t->sel--;
		} else if (ch == KEY_DOWN || ch == 'j') {
			if (t->sel + 1 < t->nvis)
				t->sel++;
		} else if (ch == 27 || ch == 'q' || ch == '\n' || ch == '\r' || ch == KEY_ENTER ||
			   ch == KEY_BACKSPACE || ch == KEY_LEFT) {
			return;
		}
	}
}

int vtui_run(struct vsource *src, size_t nsrc, const struct vopts *o)
{
	struct tui t = {.src = src, .nsrc = nsrc, .o = o, .min_level = 0};
	const char *cs = nl_langinfo(CODESET);
	size_t i, procs = 0;
	int ch;

	for (i = 0; i < nsrc; i++) /* files of more than one process: show the source */
		procs += src[i].snap != NULL && src[i].group == i;
	t.several = procs > 1;
	t.utf8 = cs != NULL && strcmp(cs, "UTF-8") == 0;
	load(&t);
	refilter(&t);

	if (initscr() == NULL) {
		fputs("ttlog-view: cannot start the terminal UI\n", stderr);
		return 1;
	}
	set_escdelay(25);
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	t.color = o->color && has_colors();
	if (t.color) {
		static const short lc[] = {COLOR_WHITE, COLOR_CYAN, COLOR_GREEN,
					   COLOR_YELLOW, COLOR_RED, COLOR_MAGENTA};
		start_color();
		use_default_colors();
		for (short l = 0; l <= TTLOG_LEVEL_FATAL; l++)
			init_pair((short)(P_LEVEL + l), lc[l], -1);
		init_pair(P_LABEL, COLOR_MAGENTA, -1);
		init_pair(P_KEY, COLOR_CYAN, -1);
	}

	for (;;) {
		int h = list_height();
		draw_list(&t);
		ch = getch();
		t.msg[0] = '\0';
		switch (ch) {
		case 'q':
			goto out;
		case KEY_UP: case 'k':
			if (t.sel > 0)
				t.sel--;
			break;
		case KEY_DOWN: case 'j':
			if (t.sel + 1 < t.nvis)
				t.sel++;
			break;
		case KEY_PPAGE: case 'b':
			t.sel = t.sel > (size_t)h ? t.sel - (size_t)h : 0;
			break;
		case KEY_NPAGE: case ' ':
			t.sel = t.sel + (size_t)h < t.nvis ? t.sel + (size_t)h : (t.nvis ? t.nvis - 1 : 0);
			break;
		case KEY_HOME: case 'g':
			t.sel = 0;
			break;
		case KEY_END: case 'G':
			t.sel = t.nvis ? t.nvis - 1 : 0;
			break;
		case '/':
			new_search(&t);
			break;
		case 'n':
			search(&t, 1, false);
			break;
		case 'N':
			search(&t, -1, false);
			break;
		case 'l':
			if (t.min_level < TTLOG_LEVEL_FATAL)
				t.min_level++;
			refilter(&t);
			break;
		case 'L':
			if (t.min_level > 0)
				t.min_level--;
			refilter(&t);
			break;
		case '0': case '1': case '2': case '3': case '4': case '5':
			t.min_level = ch - '0';
			refilter(&t);
			break;
		case 't': {
			char buf[sizeof t.target];
			snprintf(buf, sizeof buf, "%s", t.target);
			if (prompt(&t, "target (pattern, empty: all): ", buf, sizeof buf)) {
				snprintf(t.target, sizeof t.target, "%s", buf);
				refilter(&t);
			}
			break;
		}
		case 'T':
			if (t.target[0])
				t.target[0] = '\0';
			else if (t.nvis > 0)
				snprintf(t.target, sizeof t.target, "%s", t.rows[t.vis[t.sel]].target);
			/* a target with pattern characters matches itself only if escaped */
			if (strpbrk(t.target, "*?[\\") != NULL) {
				char esc[sizeof t.target];
				size_t j = 0;
				for (const char *p = t.target; *p && j + 2 < sizeof esc; p++) {
					if (strchr("*?[\\", *p))
						esc[j++] = '\\';
					esc[j++] = *p;
				}
				esc[j] = '\0';
				memcpy(t.target, esc, j + 1);
			}
			refilter(&t);
			break;
		case 'c':
			t.min_level = 0;
			t.target[0] = '\0';
			if (t.has_re)
				regfree(&t.re);
			t.has_re = false;
			t.re_text[0] = '\0';
			refilter(&t);
			break;
		case '\n': case '\r': case KEY_ENTER: case KEY_RIGHT:
			if (t.nvis > 0)
				details(&t);
			break;
		case '?':
			draw_help(&t);
			getch();
			break;
		default:
			break;
		}
	}
out:
	endwin();
	if (t.has_re)
		regfree(&t.re);
	free(t.rows);
	free(t.fields);
	free(t.vis);
	vbuf_free(&t.text);
	vbuf_free(&t.line);
	return 0;
}
