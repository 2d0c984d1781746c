/*
 * rfc5424.c - the RFC 5424 encoder of ttlog-ship (rfc5424.h says what goes where and how
 * each field is escaped).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/utf8.h" /* ttlog__utf8_seq */
#include "rfc5424.h"

/* ---- buffer ---------------------------------------------------------------------- */

void rbuf_free(struct rbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

static bool rbuf_reserve(struct rbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->cap - b->len > n)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len <= n) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	if ((p = realloc(b->p, cap)) == NULL) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void rbuf_add(struct rbuf *b, const void *s, size_t n)
{
	if (!rbuf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void rbuf_adds(struct rbuf *b, const char *s)
{
	rbuf_add(b, s, strlen(s));
}

void rbuf_addf(struct rbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	/* one vsnprintf when the text fits the room there is, a second one when it did not */
	if (!rbuf_reserve(b, 64))
		return;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n >= room) {
		if (!rbuf_reserve(b, (size_t)n + 1))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* decimal, without printf (the encoder writes several numbers per message) */
static void rbuf_add_u64(struct rbuf *b, uint64_t v)
{
	char d[20];
	size_t i = sizeof d;

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	rbuf_add(b, d + i, sizeof d - i);
}

static void rbuf_addc(struct rbuf *b, char c)
{
	rbuf_add(b, &c, 1);
}

void rfc5424_snap_free(struct rfc5424_snap *s)
{
	rbuf_free(&s->scratch);
	rbuf_free(&s->meta);
}

/* ---- fields ---------------------------------------------------------------------- */

int rfc5424_severity(int level)
{
	static const int sev[] = {7, 7, 6, 4, 3, 2}; /* trace debug info warn error fatal */

	return level >= 0 && level <= 5 ? sev[level] : 5;
}

/* PRINTUSASCII with %XX for the rest and '%' (in an SD-NAME also '=' ']' '"'), cut at max
 * bytes (never inside an escape). Returns true when nothing was escaped or cut. */
static bool print_escaped(struct rbuf *out, const char *s, size_t n, size_t max, bool sd_name)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t used = 0, i;
	bool exact = true;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool esc = c < 33 || c > 126 || c == '%' ||
			   (sd_name && (c == '=' || c == ']' || c == '"'));
		size_t w = esc ? 3 : 1;

		if (used + w > max)
			return false;
		if (esc) {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			rbuf_add(out, e, 3);
			exact = false;
		} else {
			rbuf_addc(out, (char)c);
		}
		used += w;
	}
	return exact;
}

bool rfc5424_header_field(struct rbuf *out, const char *s, size_t n, size_t max)
{
	if (n == 0) {
		rbuf_addc(out, '-');
		return false;
	}
	if (n == 1 && s[0] == '-') {
		rbuf_adds(out, "%2D");
		return false;
	}
	return print_escaped(out, s, n, max, false);
}

void rfc5424_sd_name(struct rbuf *out, const char *s, size_t n)
{
	if (n == 0) {
		rbuf_addc(out, '_');
		return;
	}
	print_escaped(out, s, n, RFC5424_SDNAME_MAX, true);
}

/* UTF-8 text with control characters as \n \r \t \xHH and invalid bytes as U+FFFD; in a
 * PARAM-VALUE also '"' '\' ']' escaped. */
static void text_escaped(struct rbuf *out, const char *s, size_t n, bool param)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0, k;

	while (i < n) {
		unsigned char c = p[i];
		const char *rep = NULL;
		char x[4];

		if (c >= 0x80) {
			if ((k = ttlog__utf8_seq(p + i, n - i)) != 0) {
				i += k;
				continue;
			}
			rep = "\xef\xbf\xbd";
		} else if (c < 0x20 || c == 0x7f) {
			if (c == '\n')
				rep = "\\n";
			else if (c == '\r')
				rep = "\\r";
			else if (c == '\t')
				rep = "\\t";
			else {
				x[0] = '\\';
				x[1] = 'x';
				x[2] = hex[c >> 4];
				x[3] = hex[c & 15];
			}
		} else if (param && (c == '"' || c == '\\' || c == ']')) {
			x[0] = '\\';
			x[1] = (char)c;
			rep = NULL;
		} else {
			i++;
			continue;
		}
		rbuf_add(out, s + start, i - start);
		if (rep != NULL)
			rbuf_adds(out, rep);
		else if (x[1] == 'x')
			rbuf_add(out, x, 4);
		else
			rbuf_add(out, x, 2);
		start = ++i;
	}
	rbuf_add(out, s + start, n - start);
}

void rfc5424_param_value(struct rbuf *out, const char *s, size_t n)
{
	text_escaped(out, s, n, true);
}

void rfc5424_msg_text(struct rbuf *out, const char *s, size_t n)
{
	text_escaped(out, s, n, false);
}

void rfc5424_timestamp(struct rbuf *out, uint64_t ns)
{
	/* the date and time of the last second seen: events come in bursts within a second */
	static _Thread_local time_t last = -1;
	static _Thread_local char day[64]; /* YYYY-MM-DDThh:mm:ss (room for any int) */
	time_t sec = (time_t)(ns / 1000000000u);
	unsigned us = (unsigned)(ns % 1000000000u / 1000u);
	char frac[9] = {'.', 0, 0, 0, 0, 0, 0, 'Z', 0};
	struct tm tm;

	if (sec != last) {
		if (gmtime_r(&sec, &tm) == NULL) { /* cannot happen for 64-bit ns since 1970 */
			rbuf_adds(out, "-");
			return;
		}
		snprintf(day, sizeof day, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		last = sec;
	}
	rbuf_add(out, day, 19);
	for (int i = 6; i >= 1; i--, us /= 10)
		frac[i] = (char)('0' + us % 10);
	rbuf_add(out, frac, 8);
}

/* ---- messages -------------------------------------------------------------------- */

static void param(struct rbuf *out, const char *name, const char *v, size_t n)
{
	rbuf_addc(out, ' ');
	rfc5424_sd_name(out, name, strlen(name));
	rbuf_adds(out, "=\"");
	rfc5424_param_value(out, v, n);
	rbuf_addc(out, '"');
}

static void param_u64(struct rbuf *out, const char *name, uint64_t v)
{
	rbuf_addc(out, ' ');
	rbuf_adds(out, name);
	rbuf_adds(out, "=\"");
	rbuf_add_u64(out, v);
	rbuf_addc(out, '"');
}

/* HEADER up to and with MSGID; the meta element's params for the header fields that are
 * not their value go to meta. */
static void header(struct rbuf *out, struct rfc5424_snap *s, int severity, uint64_t ns,
		   const char *msgid, struct rbuf *meta)
{
	const char *host = s->hostname ? s->hostname : "";
	const char *svc = s->service ? s->service : "";

	rbuf_addc(out, '<');
	rbuf_add_u64(out, (uint64_t)(s->facility * 8 + severity));
	rbuf_adds(out, ">1 ");
	rfc5424_timestamp(out, ns);
	rbuf_addc(out, ' ');
	if (!rfc5424_header_field(out, host, strlen(host), RFC5424_HOSTNAME_MAX) && *host)
		param(meta, "host", host, strlen(host));
	rbuf_addc(out, ' ');
	if (!rfc5424_header_field(out, svc, strlen(svc), RFC5424_APPNAME_MAX) && *svc)
		param(meta, "service", svc, strlen(svc));
	rbuf_addc(out, ' ');
	rbuf_add_u64(out, s->pid);
	rbuf_addc(out, ' ');
	if (!rfc5424_header_field(out, msgid, strlen(msgid), RFC5424_MSGID_MAX) && *msgid)
		param(meta, "target", msgid, strlen(msgid));
	rbuf_addc(out, ' ');
}

static void msg(struct rbuf *out, const char *text, size_t n)
{
	rbuf_adds(out, " \xef\xbb\xbf");
	rfc5424_msg_text(out, text, n);
}

void rfc5424_event(struct rbuf *out, struct rfc5424_snap *s, const ttlog_event *ev, uint64_t seq)
{
	struct rbuf meta = s->meta; /* its memory reused from message to message */
	size_t i, need;
	char num[32];

	rbuf_adds(&meta, "[" RFC5424_SDID_META);
	param_u64(&meta, "created", s->created_ns);
	param_u64(&meta, "seq", seq);
	header(out, s, rfc5424_severity(ev->level), ev->timestamp_ns, ev->target ? ev->target : "",
	       &meta);
	if (ev->level >= 0 && ev->level <= 5) {
		static const char *const names[] = {"trace", "debug", "info",
						    "warn",  "error", "fatal"};
		rbuf_adds(&meta, " level=\"");
		rbuf_adds(&meta, names[ev->level]);
		rbuf_addc(&meta, '"');
	} else {
		rbuf_addf(&meta, " level=\"%d\"", ev->level);
	}
	param_u64(&meta, "thread", ev->thread_id);
	rbuf_addc(&meta, ']');

	if (ev->nfields > 0) {
		rbuf_adds(out, "[" RFC5424_SDID);
		for (i = 0; i < ev->nfields && i < TTLOG_MAX_FIELDS; i++) {
			const ttlog_field *f = &ev->fields[i];
			const char *name = f->name ? f->name : "";

			rbuf_addc(out, ' ');
			rfc5424_sd_name(out, name, strlen(name));
			rbuf_adds(out, "=\"");
			switch (f->type) {
			case TTLOG_TYPE_U64: rbuf_add_u64(out, f->v.u64); break;
			case TTLOG_TYPE_I64: rbuf_addf(out, "%" PRId64, f->v.i64); break;
			case TTLOG_TYPE_F64:
				/* %.17g: the double comes back exactly */
				snprintf(num, sizeof num, "%.17g", f->v.f64);
				rbuf_adds(out, num);
				break;
			case TTLOG_TYPE_BOOL: rbuf_adds(out, f->v.b ? "true" : "false"); break;
			case TTLOG_TYPE_STR:
				rfc5424_param_value(out, f->v.str.ptr, f->v.str.len);
				break;
			default: break;
			}
			rbuf_addc(out, '"');
		}
		rbuf_addc(out, ']');
	}
	rbuf_add(out, meta.p, meta.len);
	if (meta.oom)
		out->oom = true;
	meta.len = 0;
	meta.oom = false;
	s->meta = meta;

	/* the rendered text, at its full length (a str field may hold a NUL) */
	if (!rbuf_reserve(&s->scratch, 256)) {
		out->oom = true;
		return;
	}
	need = ttlog_event_render(ev, s->scratch.p, s->scratch.cap);
	if (need >= s->scratch.cap) {
		s->scratch.len = 0;
		rbuf_reserve(&s->scratch, need + 1);
		if (s->scratch.oom) {
			out->oom = true;
			return;
		}
		ttlog_event_render(ev, s->scratch.p, s->scratch.cap);
	}
	msg(out, s->scratch.p, need);
}

void rfc5424_counters(struct rbuf *out, struct rfc5424_snap *s, const ttlog_snapshot_counters *c,
		      uint64_t torn, uint64_t events)
{
	struct rbuf meta = {0};
	const char *reason = s->reason ? s->reason : "";
	const char *variant = s->variant ? s->variant : "";
	bool loss = c->overwritten || c->dropped || c->truncated || c->clipped || torn;

	rbuf_addf(&meta, "[" RFC5424_SDID_META " created=\"%" PRIu64 "\" seq=\"0\"", s->created_ns);
	header(out, s, loss ? 4 : 6, s->created_ns, RFC5424_MSGID_COUNTERS, &meta);
	param(&meta, "reason", reason, strlen(reason));
	param(&meta, "variant", variant, strlen(variant));
	param_u64(&meta, "events", events);
	rbuf_addc(&meta, ']');

	rbuf_adds(out, "[" RFC5424_SDID);
	param_u64(out, "logged", c->logged);
	param_u64(out, "kept", c->kept);
	param_u64(out, "overwritten", c->overwritten);
	param_u64(out, "dropped", c->dropped);
	param_u64(out, "truncated", c->truncated);
	param_u64(out, "in_flight", c->in_flight);
	param_u64(out, "clipped", c->clipped);
	param_u64(out, "torn", torn);
	rbuf_addc(out, ']');
	rbuf_add(out, meta.p, meta.len);
	if (meta.oom)
		out->oom = true;
	rbuf_free(&meta);

	rbuf_free(&meta);
	rbuf_addf(&meta,
		  "snapshot %s: %" PRIu64 " events, %" PRIu64 " overwritten, %" PRIu64
		  " dropped, %" PRIu64 " truncated",
		  reason, events, c->overwritten, c->dropped, c->truncated);
	msg(out, meta.p ? meta.p : "", meta.len);
	if (meta.oom)
		out->oom = true;
	rbuf_free(&meta);
}
