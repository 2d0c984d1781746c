/*
 * metrics.c - the recorder's own counters in the Prometheus text exposition format
 * (version 0.0.4), for a scrape handler (ttlog_metrics_text) or for node_exporter's
 * textfile collector (TTLOG_METRICS_FILE: the writer thread replaces the file atomically
 * every metrics interval, so the collector never reads half a file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct out {
	char *buf;
	size_t len, pos;
	int overflow;
};

static void __attribute__((format(printf, 2, 3))) put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->pos)
		o->overflow = 1;
	else
		o->pos += (size_t)n;
}

/* A label value: backslash, double quote and newline escaped, as the format requires. */
static void label_value(char *dst, size_t len, const char *s)
{
	size_t j = 0;

	for (; *s != '\0' && j + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			dst[j++] = '\\';
			dst[j++] = *s;
		} else if (*s == '\n') {
			dst[j++] = '\\';
			dst[j++] = 'n';
		} else {
			dst[j++] = *s;
		}
	}
	dst[j] = '\0';
}

static void metric(struct out *o, const char *name, const char *type, const char *help,
		   const char *labels, const char *value)
{
	put(o, "# HELP ttlog_%s %s\n# TYPE ttlog_%s %s\nttlog_%s{%s} %s\n", name, help, name, type,
	    name, labels, value);
}

static void metric_u64(struct out *o, const char *name, const char *type, const char *help,
		       const char *labels, uint64_t v)
{
	char value[24];

	snprintf(value, sizeof value, "%llu", (unsigned long long)v);
	metric(o, name, type, help, labels, value);
}

TTLOG_API int ttlog_metrics_text(char *buf, size_t len)
{
	struct out o = {.buf = buf, .len = len};
	char service[2 * TTLOG_SERVICE_MAX], variant[64], labels[sizeof service + 96], v[40];
	ttlog_stats st;
	uint64_t written, failed, timed, ns_total, ns_last;

	if (buf == NULL || len == 0)
		return -EINVAL;
	ttlog_get_stats(&st);
	/* relaxed: counters, each read atomically */
	written = atomic_load_explicit(&ttlog__g.snapshots_written, memory_order_relaxed);
	failed = atomic_load_explicit(&ttlog__g.snapshot_failures, memory_order_relaxed);
	timed = atomic_load_explicit(&ttlog__g.snapshots_timed, memory_order_relaxed);
	ns_total = atomic_load_explicit(&ttlog__g.snapshot_ns_total, memory_order_relaxed);
	ns_last = atomic_load_explicit(&ttlog__g.snapshot_ns_last, memory_order_relaxed);
	label_value(service, sizeof service, ttlog__g.service);
	label_value(variant, sizeof variant, ttlog_variant());
	snprintf(labels, sizeof labels, "service=\"%s\",variant=\"%s\"", service, variant);

	metric_u64(&o, "events_logged_total", "counter",
		   "Events accepted by log calls (kept + overwritten + dropped).", labels,
		   st.logged);
	metric_u64(&o, "events_kept", "gauge", "Events in the rings now.", labels, st.kept);
	metric_u64(&o, "events_overwritten_total", "counter",
		   "Events evicted by newer ones (overwrite policy).", labels, st.overwritten);
	metric_u64(&o, "events_dropped_total", "counter",
		   "Events not stored (ring full under drop, interner or callsite table full).",
		   labels, st.dropped);
	metric_u64(&o, "events_truncated_total", "counter",
		   "Events with a string field cut to fit the record.", labels, st.truncated);
	metric_u64(&o, "snapshots_written_total", "counter", "Snapshot files written.", labels,
		   written);
	metric_u64(&o, "snapshot_failures_total", "counter", "Snapshots that failed.", labels,
		   failed);
	metric_u64(&o, "snapshots_coalesced_total", "counter",
		   "Snapshot requests merged because 16 were pending.", labels,
		   st.snapshots_coalesced);
	metric_u64(&o, "triggers_fired_total", "counter",
		   "Incident triggers fired (each takes a snapshot after its window).", labels,
		   st.triggers_fired);
	metric_u64(&o, "triggers_suppressed_total", "counter",
		   "Incident triggers rate limited, or fired while one was pending.", labels,
		   st.triggers_suppressed);
	put(&o,
	    "# HELP ttlog_snapshot_duration_seconds Time spent writing snapshot files.\n"
	    "# TYPE ttlog_snapshot_duration_seconds summary\n"
	    "ttlog_snapshot_duration_seconds_sum{%s} %.9f\n"
	    "ttlog_snapshot_duration_seconds_count{%s} %llu\n",
	    labels, (double)ns_total / 1e9, labels, (unsigned long long)timed);
	snprintf(v, sizeof v, "%.9f", (double)ns_last / 1e9);
	metric(&o, "snapshot_last_duration_seconds", "gauge",
	       "Duration of the last snapshot, written or failed.", labels, v);
	metric_u64(&o, "ring_capacity_events", "gauge", "Events one snapshot can hold.", labels,
		   ttlog__g.capacity);
	snprintf(v, sizeof v, "%.6f",
		 ttlog__g.capacity == 0 ? 0.0
					: (st.kept > ttlog__g.capacity
						   ? 1.0
						   : (double)st.kept / (double)ttlog__g.capacity));
	metric(&o, "ring_fill_ratio", "gauge", "Events kept over ring capacity (0..1).", labels, v);
	if (o.overflow) {
		buf[0] = '\0';
		return -ENOBUFS;
	}
	return (int)o.pos;
}

/* Replace path with the current metrics: a temporary file in the same directory (a name
 * the textfile collector ignores: it reads *.prom only), then rename(2). Mode 0644: the
 * counters hold no logged data, and the collector often runs as another user. */
int ttlog__metrics_write_file(const char *path)
{
	char text[4096], tmp[TTLOG_DIR_MAX + 64];
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	unsigned long long rnd = 0;
	int n, fd, err = 0;

	if ((n = ttlog_metrics_text(text, sizeof text)) < 0)
		return n;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
		rnd = atomic_fetch_add_explicit(&ttlog__g.tmp_seq, 1, memory_order_relaxed);
	if (snprintf(tmp, sizeof tmp, "%.*s.ttlog-metrics-%016llx", (int)dirlen, path, rnd) >=
	    (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	errno = 0;
	if (fchmod(fd, 0644) < 0 || write(fd, text, (size_t)n) != n)
		err = errno != 0 ? -errno : -EIO;
	if (close(fd) < 0 && err == 0)
		err = -errno;
	if (err == 0 && rename(tmp, path) < 0)
		err = -errno;
	if (err != 0)
		unlink(tmp);
	return err;
}
