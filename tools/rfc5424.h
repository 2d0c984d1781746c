/*
 * rfc5424.h - ttlog events and snapshot counters as RFC 5424 syslog messages, for
 * ttlog-ship's syslog destination (tools/ship_syslog.c). Pure encoding: no I/O, no
 * framing (the transport adds RFC 6587 octet counting). One thread per encoder.
 *
 * What goes where (docs/ship.md has the full table):
 *   PRI       facility * 8 + severity; severity from the level: trace, debug -> 7,
 *             info -> 6, warn -> 4, error -> 3, fatal -> 2 (a level outside 0..5 -> 5)
 *   VERSION   1
 *   TIMESTAMP the event's time, UTC, microseconds (nanoseconds truncated)
 *   HOSTNAME  the snapshot's hostname      APP-NAME  its service
 *   PROCID    its pid                       MSGID     the event's target
 *   SD        [ttlog@32473 FIELD="value"...] (the fields, in the callsite's order), then
 *             [ttlog.meta@32473 created=".." seq=".." level=".." thread=".." ...]
 *   MSG       UTF-8 BOM + the rendered message
 *
 * Escaping, so that whatever a snapshot holds yields a valid message:
 *   header fields and SD-NAMEs: a byte outside PRINTUSASCII (33..126), '%', and in an
 *     SD-NAME also '=', ']' and '"', become %XX (upper-case hex); a header value "-"
 *     becomes %2D (a lone "-" is NILVALUE); empty -> NILVALUE ("-") in the header, "_"
 *     as a name. A value longer than the field allows (HOSTNAME 255, APP-NAME 48,
 *     PROCID 128, MSGID 32, SD-NAME 32) is cut there, never inside a %XX; when the
 *     header's HOSTNAME, APP-NAME or MSGID is not the value itself, the meta element
 *     carries the exact value (host=, service=, target=).
 *   PARAM-VALUE: '"', '\' and ']' as \" \\ \] (RFC 5424 6.3.3).
 *   PARAM-VALUE and MSG: control characters (U+0000..U+001F, U+007F) as \n \r \t or
 *     \xHH (receivers drop or rewrite them otherwise: rsyslog removes them from MSG);
 *     each byte that is not part of valid UTF-8 becomes U+FFFD. In MSG a backslash is
 *     left as it is (MSG is for people; the exact values are in the SD).
 */
#ifndef TTLOG_RFC5424_H
#define TTLOG_RFC5424_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ttlog/reader.h>

/* The Private Enterprise Number of the SD-IDs: 32473, reserved for documentation
 * (RFC 5612). */
#define RFC5424_SDID "ttlog@32473"
#define RFC5424_SDID_META "ttlog.meta@32473"
#define RFC5424_MSGID_COUNTERS "ttlog.counters"

/* Field widths of RFC 5424 6. */
#define RFC5424_HOSTNAME_MAX 255
#define RFC5424_APPNAME_MAX 48
#define RFC5424_PROCID_MAX 128
#define RFC5424_MSGID_MAX 32
#define RFC5424_SDNAME_MAX 32

/* A growing byte buffer. oom is set (and stays set) when a growth failed; the content is
 * then incomplete and must not be sent. */
struct rbuf {
	char *p;
	size_t len, cap;
	bool oom;
};
void rbuf_free(struct rbuf *b);
void rbuf_add(struct rbuf *b, const void *s, size_t n);
void rbuf_adds(struct rbuf *b, const char *s);
void rbuf_addf(struct rbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What every message of one snapshot shares. */
struct rfc5424_snap {
	int facility; /* 0..23 */
	const char *hostname, *service, *reason, *variant;
	uint64_t pid, created_ns;
	/* owned, rfc5424_snap_free(): the rendered message, the meta element */
	struct rbuf scratch, meta;
};
void rfc5424_snap_free(struct rfc5424_snap *s);

/* Append the message of event ev (seq: its position in the snapshot, from 1) to out. */
void rfc5424_event(struct rbuf *out, struct rfc5424_snap *s, const ttlog_event *ev, uint64_t seq);
/* Append the snapshot's counters message (MSGID ttlog.counters, seq 0): torn is
 * ttlog_snapshot_torn() (a recovered box's records cut by the death); events is the
 * number of event messages of the snapshot, so a receiver can tell it has them all. */
void rfc5424_counters(struct rbuf *out, struct rfc5424_snap *s, const ttlog_snapshot_counters *c,
		      uint64_t torn, uint64_t events);

/* The pieces, for the tests. */
int rfc5424_severity(int level);
/* A header field: PRINTUSASCII with %XX escapes, cut at max; NILVALUE when empty. Returns
 * true when what was written is the value itself (no escape, no cut, not NILVALUE). */
bool rfc5424_header_field(struct rbuf *out, const char *s, size_t n, size_t max);
/* An SD-NAME (PARAM-NAME): as a header field, also escaping '=' ']' '"'; "_" when empty. */
void rfc5424_sd_name(struct rbuf *out, const char *s, size_t n);
/* A PARAM-VALUE (without the quotes). */
void rfc5424_param_value(struct rbuf *out, const char *s, size_t n);
/* MSG text (without the BOM). */
void rfc5424_msg_text(struct rbuf *out, const char *s, size_t n);
/* TIMESTAMP: YYYY-MM-DDThh:mm:ss.uuuuuuZ */
void rfc5424_timestamp(struct rbuf *out, uint64_t ns);

#endif /* TTLOG_RFC5424_H */
