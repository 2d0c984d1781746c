/*
 * view_out.c - ttlog-view's printed output: the events as a table, JSON Lines or CSV, the
 * snapshots' metadata (--header) and the statistics (--stats), each format by its own
 * printer.
 *
 * Output that needs to know the whole selection first (the table's column widths,
 * --last N) reads the files twice: once to count, once to print. Nothing is kept per
 * event, so memory is what the reader holds (O(file size)).
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

/* One thread writes the output: the stdio calls without their per-call lock (a third of
 * the time of --json on a big snapshot). */
#define putc putc_unlocked
#define fputs fputs_unlocked
#define fwrite fwrite_unlocked

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
		c->slot = vxmalloc(c->cap * sizeof *c->slot);
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
			c->slot[i].key = vxstrdup(key);
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
	struct count *v = vxmalloc(c->len * sizeof *v);
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
	const struct vopts *o;
	struct vsource *src;
	size_t nsrc;
	bool several; /* several files opened: show each event's source */
	FILE *out;
	struct vbuf text, line;
	/* pass 1 */
	size_t matched;
	int w_label, w_tid, w_target;
	/* --stats */
	uint64_t levels[UINT8_MAX + 1]; /* the levels beyond FATAL a file may hold too */
	struct counter targets, threads;
	uint64_t first_ns, last_ns, shown;
	size_t read, dups;
	/* gap records: each source's next one to show (run_pass), and --stats' totals */
	size_t *gap_next;
	bool gaps_shown;
	uint64_t gap_records, gap_events;
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
	fprintf(f, "%-5s", vlevel(ev->level));
	color(c, C_RESET);
	putc(' ', f);
	if (c->several) {
		color(c, C_LABEL);
		vtext_str(f, s->label, strlen(s->label), false);
		color(c, C_RESET);
		pad(f, c->w_label - text_width(s->label) + 1);
	}
	fprintf(f, "%*" PRIu32 " ", c->w_tid, ev->thread_id);
	color(c, C_TARGET);
	if (ev->target[0] == '\0')
		putc('-', f);
	else
		vtext_str(f, ev->target, strlen(ev->target), false);
	color(c, C_RESET);
	pad(f, c->w_target - (ev->target[0] ? text_width(ev->target) : 1) + 1);
	n = vrender(ev, o->marker, &c->text);
	vtext_str(f, c->text.p, n, false);
	for (i = vplaceholders(ev->message); i < ev->nfields; i++) {
		const ttlog_field *fl = &ev->fields[i];
		putc(' ', f);
		color(c, C_KEY);
		vtext_str(f, fl->name, strlen(fl->name), false);
		putc('=', f);
		color(c, C_RESET);
		c->line.len = 0;
		vfield_text(fl, NULL, &c->line);
		if (fl->type == TTLOG_TYPE_STR) {
			if (fl->truncated)
				vbuf_put(&c->line, o->marker, strlen(o->marker));
			vtext_str(f, c->line.p, c->line.len, true);
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
	vjson_cstr(f, vlevel(ev->level));
	fputs(",\"service\":", f);
	vjson_cstr(f, s->service);
	fputs(",\"host\":", f);
	vjson_cstr(f, s->host);
	fprintf(f, ",\"pid\":%" PRIu64 ",\"thread\":%" PRIu32 ",\"target\":", s->pid,
		ev->thread_id);
	vjson_cstr(f, ev->target);
	n = vrender(ev, NULL, &c->text);
	fputs(",\"message\":", f);
	vjson_str(f, c->text.p, n);
	fputs(",\"fields\":{", f);
	for (i = 0; i < ev->nfields; i++) {
		const ttlog_field *fl = &ev->fields[i];
		if (i > 0)
			putc(',', f);
		vjson_cstr(f, fl->name);
		putc(':', f);
		switch (fl->type) {
		case TTLOG_TYPE_U64: fprintf(f, "%" PRIu64, fl->v.u64); break;
		case TTLOG_TYPE_I64: fprintf(f, "%" PRId64, fl->v.i64); break;
		case TTLOG_TYPE_F64: f64_json(f, fl->v.f64); break;
		case TTLOG_TYPE_BOOL: fputs(fl->v.b ? "true" : "false", f); break;
		case TTLOG_TYPE_STR: vjson_str(f, fl->v.str.ptr, fl->v.str.len); break;
		default: fputs("null", f); break;
		}
		ntrunc += fl->truncated;
	}
	putc('}', f);
	if (ev->file != NULL && ev->file[0] != '\0') {
		fputs(",\"location\":", f);
		c->line.len = 0;
		vbuf_printf(&c->line, "%s:%" PRIu32, ev->file, ev->line);
		vjson_str(f, c->line.p, c->line.len);
	}
	if (ntrunc > 0) {
		fputs(",\"truncated\":[", f);
		for (i = 0, n = 0; i < ev->nfields; i++) {
			if (!ev->fields[i].truncated)
				continue;
			if (n++ > 0)
				putc(',', f);
			vjson_cstr(f, ev->fields[i].name);
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
	fprintf(f, "%s,%" PRIu64 ",%s,", when, ev->timestamp_ns, vlevel(ev->level));
	vcsv_str(f, s->service, strlen(s->service));
	putc(',', f);
	vcsv_str(f, s->host, strlen(s->host));
	fprintf(f, ",%" PRIu64 ",%" PRIu32 ",", s->pid, ev->thread_id);
	vcsv_str(f, ev->target, strlen(ev->target));
	putc(',', f);
	n = vrender(ev, NULL, &c->text);
	vcsv_str(f, c->text.p, n);
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
	vcsv_str(f, c->line.p, c->line.len);
	putc(',', f);
	c->line.len = 0;
	vbuf_put(&c->line, "", 0);
	for (i = 0; i < ev->nfields; i++)
		if (ev->fields[i].truncated) {
			if (c->line.len > 0)
				vbuf_putc(&c->line, ' ');
			vbuf_put(&c->line, ev->fields[i].name, strlen(ev->fields[i].name));
		}
	vcsv_str(f, c->line.p, c->line.len);
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
	if (ev->level >= 0 && ev->level <= UINT8_MAX)
		c->levels[ev->level]++;
	counter_add(&c->targets, ev->target);
	if (c->several)
		snprintf(key, sizeof key, "%s %" PRIu32, s->label, ev->thread_id);
	else
		snprintf(key, sizeof key, "%" PRIu32, ev->thread_id);
	counter_add(&c->threads, key);
}

typedef void (*event_fn)(struct ctx *, const struct vsource *, const ttlog_event *);
static void measure(struct ctx *c, const struct vsource *s, const ttlog_event *ev);

/* 1,204 */
static void thousands(char *buf, size_t len, uint64_t v)
{
	char d[24];
	size_t n = (size_t)snprintf(d, sizeof d, "%" PRIu64, v), j = 0;

	for (size_t i = 0; i < n && j + 2 < len; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = d[i];
	}
	buf[j] = '\0';
}

/* One gap record where it happened: a line of its own in the table ("... 1,204 events
 * overwritten here ..."), a {"gap": ...} line in --json; CSV has no row for it (its
 * columns are the events'), --stats counts it. */
static void print_gap(struct ctx *c, const struct vsource *s, const ttlog_gap *g)
{
	FILE *f = c->out;
	char n[32];

	c->gap_records++;
	c->gap_events += g->count;
	if (c->o->stats || c->o->format == FMT_CSV)
		return;
	if (c->o->format == FMT_JSON) {
		fputs("{\"gap\":{\"kind\":", f);
		vjson_cstr(f, g->kind);
		fprintf(f, ",\"count\":%" PRIu64, g->count);
		if (g->shard >= 0)
			fprintf(f, ",\"shard\":%" PRId64, g->shard);
		if (g->tid != 0)
			fprintf(f, ",\"thread\":%" PRIu32, g->tid);
		if (g->before_ns != 0)
			fprintf(f, ",\"before_ns\":%" PRIu64, g->before_ns);
		if (g->after_ns != 0)
			fprintf(f, ",\"after_ns\":%" PRIu64, g->after_ns);
		fprintf(f, ",\"service\":");
		vjson_cstr(f, s->service);
		fprintf(f, ",\"pid\":%" PRIu64 "}}\n", s->pid);
		return;
	}
	thousands(n, sizeof n, g->count);
	color(c, C_TIME);
	fprintf(f, "... %s event%s %s here", n, g->count == 1 ? "" : "s", g->kind);
	if (g->shard >= 0)
		fprintf(f, " (shard %" PRId64 "%s", g->shard, g->tid ? ", thread " : ")");
	if (g->shard >= 0 && g->tid)
		fprintf(f, "%" PRIu32 ")", g->tid);
	if (c->several) {
		fputs(" [", f);
		vtext_str(f, s->label, strlen(s->label), false);
		putc(']', f);
	}
	fputs(" ...", f);
	color(c, C_RESET);
	putc('\n', f);
}

/* Show source s's gap records that lie before its event `ord` (SIZE_MAX: all the rest). */
static void gaps_before(struct ctx *c, struct vsource *s, size_t ord)
{
	ttlog_gap g;

	while (vgap_next(s, &c->gap_next[s - c->src], ord, &g))
		print_gap(c, s, &g);
}

/* One pass over the merged timeline: fn for each event that passes the filters, after
 * the first skip of them. Returns how many passed. */
static size_t run_pass(struct ctx *c, event_fn fn, size_t skip)
{
	struct vmerge *m = vmerge_begin(c->src, c->nsrc);
	const ttlog_event *ev;
	struct vsource *s;
	size_t n = 0;

	/* gap records go with the pass that prints (or counts) events, where they happened:
	 * before the first event of their file shown after them */
	bool gaps = fn != NULL && fn != measure && c->gap_next != NULL && !vfiltered(c->o);
	if (gaps)
		memset(c->gap_next, 0, c->nsrc * sizeof *c->gap_next);
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
		if (n++ >= skip && fn != NULL) {
			if (gaps)
				gaps_before(c, s, s->ord);
			fn(c, s, ev);
		}
		if (ferror(c->out))
			break;
	}
	for (size_t i = 0; gaps && i < c->nsrc; i++)
		if (c->src[i].snap != NULL)
			gaps_before(c, &c->src[i], SIZE_MAX);
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

/* An incident trigger's window (header key "trigger"), when the snapshot is one's. */
struct trig {
	uint64_t at, start, pre, post, missed;
};

static bool trigger_of(const struct vsource *s, struct trig *t)
{
	memset(t, 0, sizeof *t);
	if (ttlog_snapshot_meta_u64(s->snap, "trigger.at_ns", &t->at) != 1)
		return false;
	ttlog_snapshot_meta_u64(s->snap, "trigger.window_start_ns", &t->start);
	ttlog_snapshot_meta_u64(s->snap, "trigger.pre_events", &t->pre);
	ttlog_snapshot_meta_u64(s->snap, "trigger.post_events", &t->post);
	ttlog_snapshot_meta_u64(s->snap, "trigger.post_not_pinned", &t->missed);
	return true;
}

/* The metadata of one snapshot file, in each format. */
static void header_json(struct ctx *c, const struct vsource *s)
{
	FILE *f = c->out;
	ttlog_snapshot_counters k;
	uint64_t clip_ns = ttlog_snapshot_clipped_before_ns(s->snap);
	char when[64];

	ttlog_snapshot_get_counters(s->snap, &k);
	vtime(ttlog_snapshot_created_ns(s->snap), c->o->local, when, sizeof when);
	fputs("{\"file\":", f);
	vjson_cstr(f, s->path);
	fputs(",\"service\":", f);
	vjson_cstr(f, s->service);
	fputs(",\"hostname\":", f);
	vjson_cstr(f, s->host);
	fprintf(f, ",\"pid\":%" PRIu64 ",\"reason\":", s->pid);
	vjson_cstr(f, ttlog_snapshot_reason(s->snap));
	fprintf(f, ",\"created_ns\":%" PRIu64 ",\"created\":\"%s\",\"variant\":",
		ttlog_snapshot_created_ns(s->snap), when);
	vjson_cstr(f, ttlog_snapshot_variant(s->snap));
	fprintf(f, ",\"capacity\":%" PRIu64 ",\"events\":%zu,\"counters\":{"
		"\"logged\":%" PRIu64 ",\"kept\":%" PRIu64 ",\"overwritten\":%" PRIu64
		",\"dropped\":%" PRIu64 ",\"clipped\":%" PRIu64
		",\"truncated\":%" PRIu64 ",\"in_flight\":%" PRIu64,
		ttlog_snapshot_capacity(s->snap), ttlog_snapshot_event_count(s->snap),
		k.logged, k.kept, k.overwritten, k.dropped, k.clipped, k.truncated,
		k.in_flight);
	if (ttlog_snapshot_torn(s->snap) != 0) /* a recovered box's: records cut by the death */
		fprintf(f, ",\"torn\":%" PRIu64, ttlog_snapshot_torn(s->snap));
	fprintf(f, "},\"clipped_before_ns\":%" PRIu64, clip_ns);
	struct trig t;
	if (trigger_of(s, &t))
		fprintf(f, ",\"trigger\":{\"at_ns\":%" PRIu64 ",\"window_start_ns\":%" PRIu64
			",\"pre_events\":%" PRIu64 ",\"post_events\":%" PRIu64
			",\"post_not_pinned\":%" PRIu64 "}",
			t.at, t.start, t.pre, t.post, t.missed);
	fputs("}\n", f);
}

static void header_csv(struct ctx *c, const struct vsource *s)
{
	FILE *f = c->out;
	ttlog_snapshot_counters k;
	uint64_t clip_ns = ttlog_snapshot_clipped_before_ns(s->snap);
	char when[64];

	ttlog_snapshot_get_counters(s->snap, &k);
	vtime(ttlog_snapshot_created_ns(s->snap), c->o->local, when, sizeof when);
	vcsv_str(f, s->path, strlen(s->path));
	putc(',', f);
	vcsv_str(f, s->service, strlen(s->service));
	putc(',', f);
	vcsv_str(f, s->host, strlen(s->host));
	fprintf(f, ",%" PRIu64 ",", s->pid);
	vcsv_str(f, ttlog_snapshot_reason(s->snap), strlen(ttlog_snapshot_reason(s->snap)));
	fprintf(f, ",%" PRIu64 ",%s,", ttlog_snapshot_created_ns(s->snap), when);
	vcsv_str(f, ttlog_snapshot_variant(s->snap), strlen(ttlog_snapshot_variant(s->snap)));
	fprintf(f, ",%" PRIu64 ",%zu,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n",
		ttlog_snapshot_capacity(s->snap), ttlog_snapshot_event_count(s->snap),
		k.logged, k.kept, k.overwritten, k.dropped, k.truncated,
		k.in_flight, k.clipped, clip_ns);
}

static void header_table(struct ctx *c, const struct vsource *s)
{
	FILE *f = c->out;
	ttlog_snapshot_counters k;
	uint64_t clip_ns = ttlog_snapshot_clipped_before_ns(s->snap);
	char when[64];

	ttlog_snapshot_get_counters(s->snap, &k);
	vtime(ttlog_snapshot_created_ns(s->snap), c->o->local, when, sizeof when);
	fputs("file         ", f);
	vtext_str(f, s->path, strlen(s->path), false);
	fputs("\nservice      ", f);
	vtext_str(f, s->service, strlen(s->service), false);
	fputs("\nhostname     ", f);
	vtext_str(f, s->host, strlen(s->host), false);
	fprintf(f, "\npid          %" PRIu64 "\nreason       ", s->pid);
	vtext_str(f, ttlog_snapshot_reason(s->snap), strlen(ttlog_snapshot_reason(s->snap)), false);
	fprintf(f, "\ncreated      %s (%" PRIu64 " ns)\nvariant      ", when,
		ttlog_snapshot_created_ns(s->snap));
	vtext_str(f, ttlog_snapshot_variant(s->snap), strlen(ttlog_snapshot_variant(s->snap)),
		  false);
	fprintf(f, "\ncapacity     %" PRIu64 "\nevents       %zu\n"
		"counters     logged=%" PRIu64 " kept=%" PRIu64 " overwritten=%" PRIu64
		" dropped=%" PRIu64 " clipped=%" PRIu64 " truncated=%" PRIu64
		" in_flight=%" PRIu64 "\n",
		ttlog_snapshot_capacity(s->snap), ttlog_snapshot_event_count(s->snap),
		k.logged, k.kept, k.overwritten, k.dropped, k.clipped, k.truncated,
		k.in_flight);
	/* a recovered black box: pushes cut by the death (logged counts them) */
	if (ttlog_snapshot_torn(s->snap) != 0)
		fprintf(f, "torn         %" PRIu64 " (records cut by the process's death)\n",
			ttlog_snapshot_torn(s->snap));
	if (ttlog_snapshot_parent_pid(s->snap) != 0)
		fprintf(f, "parent_pid   %" PRIu64 "\n", ttlog_snapshot_parent_pid(s->snap));
	if (clip_ns != 0) {
		vtime(clip_ns, c->o->local, when, sizeof when);
		fprintf(f, "clipped      events before %s (%" PRIu64
			" ns), the start of the window common to all shards\n",
			when, clip_ns);
	}
	struct trig t;
	if (trigger_of(s, &t)) {
		char start[64];
		vtime(t.at, c->o->local, when, sizeof when);
		vtime(t.start, c->o->local, start, sizeof start);
		fprintf(f, "trigger      at %s; window from %s: %" PRIu64
			" events kept before it (its own included), %" PRIu64
			" after it, %" PRIu64 " more after it not kept aside\n",
			when, start, t.pre, t.post, t.missed);
	}
}

static void print_header(struct ctx *c)
{
	const struct vopts *o = c->o;
	bool first = true;

	if (o->format == FMT_CSV)
		fputs("file,service,hostname,pid,reason,created_ns,created,variant,capacity,"
		      "events,logged,kept,overwritten,dropped,truncated,in_flight,clipped,"
		      "clipped_before_ns\n", c->out);
	for (size_t i = 0; i < c->nsrc; i++) {
		const struct vsource *s = &c->src[i];
		if (s->snap == NULL)
			continue;
		if (o->format == FMT_JSON) {
			header_json(c, s);
		} else if (o->format == FMT_CSV) {
			header_csv(c, s);
		} else {
			if (!first)
				putc('\n', c->out);
			header_table(c, s);
		}
		first = false;
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

/* What every --stats format shows, gathered once. */
struct stats {
	ttlog_snapshot_counters loss;
	struct count *tg, *th; /* targets and threads, most frequent first */
	char t0[64], t1[64];   /* first and last time */
	size_t nfiles;
	double span;           /* seconds */
};

static void stats_json(struct ctx *c, const struct stats *st)
{
	FILE *f = c->out;
	size_t i;

	fprintf(f, "{\"events\":%" PRIu64 ",\"read\":%zu,\"duplicates\":%zu,\"files\":%zu",
		c->shown, c->read + c->dups, c->dups, st->nfiles);
	if (c->shown)
		fprintf(f, ",\"first_ns\":%" PRIu64 ",\"last_ns\":%" PRIu64
			",\"first\":\"%s\",\"last\":\"%s\",\"span_s\":%.9f",
			c->first_ns, c->last_ns, st->t0, st->t1, st->span);
	fputs(",\"levels\":{", f);
	for (i = 0; i <= UINT8_MAX; i++) /* every level name, and the others met */
		if (i <= TTLOG_LEVEL_FATAL || c->levels[i])
			fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", vlevel((int)i),
				c->levels[i]);
	fputs("},\"targets\":{", f);
	for (i = 0; i < c->targets.len; i++) {
		if (i)
			putc(',', f);
		vjson_cstr(f, st->tg[i].key);
		fprintf(f, ":%" PRIu64, st->tg[i].n);
	}
	fputs("},\"threads\":{", f);
	for (i = 0; i < c->threads.len; i++) {
		if (i)
			putc(',', f);
		vjson_cstr(f, st->th[i].key);
		fprintf(f, ":%" PRIu64, st->th[i].n);
	}
	fprintf(f, "},\"loss\":{\"overwritten\":%" PRIu64 ",\"dropped\":%" PRIu64
		",\"clipped\":%" PRIu64 ",\"truncated\":%" PRIu64 ",\"in_flight\":%" PRIu64
		"},\"gaps\":{\"records\":%" PRIu64 ",\"events\":%" PRIu64 "}}\n",
		st->loss.overwritten, st->loss.dropped, st->loss.clipped, st->loss.truncated,
		st->loss.in_flight, c->gap_records, c->gap_events);
}

static void stats_csv(struct ctx *c, const struct stats *st)
{
	FILE *f = c->out;
	size_t i;

	fputs("kind,key,value\n", f);
	fprintf(f, "events,shown,%" PRIu64 "\nevents,read,%zu\nevents,duplicates,%zu\n"
		"events,files,%zu\n", c->shown, c->read + c->dups, c->dups, st->nfiles);
	if (c->shown)
		fprintf(f, "span,first_ns,%" PRIu64 "\nspan,last_ns,%" PRIu64 "\n",
			c->first_ns, c->last_ns);
	for (i = 0; i <= UINT8_MAX; i++)
		if (i <= TTLOG_LEVEL_FATAL || c->levels[i])
			fprintf(f, "level,%s,%" PRIu64 "\n", vlevel((int)i), c->levels[i]);
	for (i = 0; i < c->targets.len; i++) {
		fputs("target,", f);
		vcsv_str(f, st->tg[i].key, strlen(st->tg[i].key));
		fprintf(f, ",%" PRIu64 "\n", st->tg[i].n);
	}
	for (i = 0; i < c->threads.len; i++) {
		fputs("thread,", f);
		vcsv_str(f, st->th[i].key, strlen(st->th[i].key));
		fprintf(f, ",%" PRIu64 "\n", st->th[i].n);
	}
	fprintf(f, "loss,overwritten,%" PRIu64 "\nloss,dropped,%" PRIu64
		"\nloss,clipped,%" PRIu64 "\nloss,truncated,%" PRIu64
		"\nloss,in_flight,%" PRIu64 "\n", st->loss.overwritten, st->loss.dropped,
		st->loss.clipped, st->loss.truncated, st->loss.in_flight);
}

/* One "  key  count" line per entry, key escaped and padded to w columns. */
static void stats_rows(FILE *f, const struct count *v, size_t n, int w)
{
	for (size_t i = 0; i < n; i++) {
		fputs("  ", f);
		vtext_str(f, v[i].key, strlen(v[i].key), false);
		pad(f, w - text_width(v[i].key));
		fprintf(f, " %" PRIu64 "\n", v[i].n);
	}
}

static void stats_table(struct ctx *c, const struct stats *st)
{
	const ttlog_snapshot_counters *loss = &st->loss;
	FILE *f = c->out;
	bool missing = loss->overwritten || loss->dropped || loss->clipped;
	int w = 5;
	size_t i;

	fprintf(f, "events       %" PRIu64 " shown of %zu read from %zu file%s", c->shown,
		c->read + c->dups, st->nfiles, st->nfiles == 1 ? "" : "s");
	if (c->dups)
		fprintf(f, " (%zu duplicates of overlapping snapshots skipped)", c->dups);
	putc('\n', f);
	if (c->shown) /* microseconds, cut like the times */
		fprintf(f, "span         %s .. %s (%" PRIu64 ".%06" PRIu64 " s)\n", st->t0, st->t1,
			(c->last_ns - c->first_ns) / 1000000000u,
			(c->last_ns - c->first_ns) % 1000000000u / 1000u);
	fprintf(f, "loss         overwritten=%" PRIu64 " dropped=%" PRIu64
		" clipped=%" PRIu64 " truncated=%" PRIu64 " in_flight=%" PRIu64 "%s\n",
		loss->overwritten, loss->dropped, loss->clipped, loss->truncated,
		loss->in_flight, missing ? "  (events are missing)" : "");
	if (c->gap_records)
		fprintf(f, "gaps         %" PRIu64 " events lost in %" PRIu64
			" gap record%s among the events shown\n",
			c->gap_events, c->gap_records, c->gap_records == 1 ? "" : "s");
	for (i = 0; i < c->targets.len; i++)
		if (text_width(st->tg[i].key) > w && text_width(st->tg[i].key) <= 40)
			w = text_width(st->tg[i].key);
	for (i = 0; i < c->threads.len; i++)
		if (text_width(st->th[i].key) > w && text_width(st->th[i].key) <= 40)
			w = text_width(st->th[i].key);
	fputs("by level\n", f);
	for (i = 0; i <= UINT8_MAX; i++)
		if (c->levels[i])
			fprintf(f, "  %-*s %" PRIu64 "\n", w, vlevel((int)i), c->levels[i]);
	fputs("by target\n", f);
	stats_rows(f, st->tg, c->targets.len, w);
	fputs("by thread\n", f);
	stats_rows(f, st->th, c->threads.len, w);
}

static void print_stats(struct ctx *c)
{
	const struct vopts *o = c->o;
	struct stats st = {.tg = counter_sorted(&c->targets), .th = counter_sorted(&c->threads)};
	size_t i;

	for (i = 0; i < c->nsrc; i++)
		st.nfiles += c->src[i].snap != NULL;
	st.span = c->shown ? (double)(c->last_ns - c->first_ns) / 1e9 : 0;
	loss_totals(c, &st.loss);
	vtime(c->first_ns, o->local, st.t0, sizeof st.t0);
	vtime(c->last_ns, o->local, st.t1, sizeof st.t1);
	if (o->format == FMT_JSON)
		stats_json(c, &st);
	else if (o->format == FMT_CSV)
		stats_csv(c, &st);
	else
		stats_table(c, &st);
	free(st.tg);
	free(st.th);
}

void vout_run(struct vsource *src, size_t nsrc, bool several, const struct vopts *o)
{
	struct ctx c = {0};
	size_t i, skip = 0;

	c.o = o;
	c.src = src;
	c.nsrc = nsrc;
	c.several = several; /* events say where they come from */
	c.out = stdout;
	c.w_tid = 1;
	c.w_target = 1;
	c.gap_next = calloc(nsrc ? nsrc : 1, sizeof *c.gap_next);
	for (i = 0; i < nsrc; i++)
		if (src[i].label != NULL && text_width(src[i].label) > c.w_label)
			c.w_label = text_width(src[i].label);

	if (o->header || o->stats) {
		if (o->header)
			print_header(&c);
		if (o->stats) {
			if (o->has_last) {
				c.matched = run_pass(&c, NULL, 0);
				skip = c.matched > o->last ? c.matched - o->last : 0;
			}
			if (o->header && o->format == FMT_TABLE)
				putc('\n', stdout);
			run_pass(&c, count_event, skip);
			print_stats(&c);
		}
	} else {
		if (o->format == FMT_TABLE || o->has_last) {
			c.matched = run_pass(&c, o->format == FMT_TABLE ? measure : NULL, 0);
			skip = o->has_last && c.matched > o->last ? c.matched - o->last : 0;
		}
		if (o->format == FMT_CSV)
			fputs("time,ts_ns,level,service,host,pid,thread,target,message,fields,"
			      "truncated\n", stdout);
		run_pass(&c, o->format == FMT_JSON ? print_json
			     : o->format == FMT_CSV ? print_csv : print_table, skip);
	}
	free(c.gap_next);
	vbuf_free(&c.text);
	vbuf_free(&c.line);
	counter_free(&c.targets);
	counter_free(&c.threads);
}
