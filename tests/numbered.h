/*
 * numbered.h - the numbered-events logger whose process is killed, and the check of the
 * snapshot recovered from its black box, shared by tests/test_blackbox.c and
 * stress/blackbox_kill.c.
 *
 * NUMBERED_NT threads log events "bb" {t, i}, i = 0, 1, ... per thread t, and say in
 * shared memory which event each has started and finished. The recovered snapshot must
 * hold, per thread, the events 0..n-1 in order with finished <= n <= started (at most the
 * one in flight is missing, counted torn), and balanced counters.
 */
#ifndef TTLOG_TESTS_NUMBERED_H
#define TTLOG_TESTS_NUMBERED_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <ttlog/reader.h>
#include <ttlog/ttlog.h>

#define NUMBERED_NT 4

/* Shared with the logging child (MAP_SHARED): per thread, events started and finished. */
struct numbered {
	_Atomic uint64_t attempt[NUMBERED_NT];
	_Atomic uint64_t done[NUMBERED_NT];
	_Atomic int finished; /* every thread has logged all its events */
	uint64_t per_thread;
};

struct numbered_arg {
	struct numbered *n;
	unsigned thread;
};

/* pthread start routine: arg is a struct numbered_arg. */
static inline void *numbered_logger(void *arg)
{
	const struct numbered_arg *a = arg;
	struct numbered *n = a->n;
	unsigned k = a->thread;

	for (uint64_t i = 0; i < n->per_thread; i++) {
		atomic_store(&n->attempt[k], i + 1);
		TTLOG_INFO("bb", "thread {} event {}", TTLOG_U64("t", k), TTLOG_U64("i", i));
		atomic_store(&n->done[k], i + 1);
	}
	return NULL;
}

/* In the child: NUMBERED_NT threads log their events; then finished is set. */
static inline void numbered_run(struct numbered *n)
{
	pthread_t t[NUMBERED_NT];
	struct numbered_arg arg[NUMBERED_NT];

	for (unsigned k = 0; k < NUMBERED_NT; k++) {
		arg[k] = (struct numbered_arg){n, k};
		pthread_create(&t[k], NULL, numbered_logger, &arg[k]);
	}
	for (unsigned k = 0; k < NUMBERED_NT; k++)
		pthread_join(t[k], NULL);
	atomic_store(&n->finished, 1);
}

static inline uint64_t numbered_done(const struct numbered *n)
{
	uint64_t d = 0;

	for (unsigned k = 0; k < NUMBERED_NT; k++)
		d += atomic_load(&((struct numbered *)n)->done[k]);
	return d;
}

/* What a check saw of the recovered snapshot. */
struct numbered_seen {
	ttlog_snapshot_counters c;
	uint64_t torn;
	size_t events; /* ttlog_snapshot_event_count() */
};

static inline int numbered_fail(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline int numbered_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -1;
}

static inline int numbered_field(const ttlog_event *ev, const char *name, uint64_t *v)
{
	for (size_t i = 0; i < ev->nfields; i++)
		if (strcmp(ev->fields[i].name, name) == 0) {
			*v = ev->fields[i].v.u64;
			return 0;
		}
	return -1;
}

/*
 * Check the snapshot s recovered from pid's box against n; events with another target
 * are skipped; with lo_ns < hi_ns every "bb" event's time must lie within them (give the
 * slack the clock needs). 0 and *seen filled, or -1 with why saying what is wrong.
 */
static inline int numbered_check(ttlog_snapshot_file *s, pid_t pid, const struct numbered *n,
				 uint64_t lo_ns, uint64_t hi_ns, struct numbered_seen *seen,
				 char *why, size_t len)
{
	uint64_t next[NUMBERED_NT] = {0}, done = 0, attempt = 0, inflight = 0, k, i;
	const ttlog_snapshot_counters *c = &seen->c;
	ttlog_event ev;
	int rc;

	if (strcmp(ttlog_snapshot_reason(s), "recovered") != 0 ||
	    ttlog_snapshot_pid(s) != (uint64_t)pid)
		return numbered_fail(why, len, "reason %s pid %llu, want recovered and %d",
				     ttlog_snapshot_reason(s),
				     (unsigned long long)ttlog_snapshot_pid(s), (int)pid);
	while ((rc = ttlog_snapshot_next(s, &ev)) > 0) {
		if (strcmp(ev.target, "bb") != 0)
			continue;
		if (numbered_field(&ev, "t", &k) < 0 || numbered_field(&ev, "i", &i) < 0 ||
		    k >= NUMBERED_NT)
			return numbered_fail(why, len, "an event without its fields t and i");
		if (lo_ns < hi_ns && (ev.timestamp_ns < lo_ns || ev.timestamp_ns > hi_ns))
			return numbered_fail(why, len, "event at %llu ns, want %llu..%llu",
					     (unsigned long long)ev.timestamp_ns,
					     (unsigned long long)lo_ns, (unsigned long long)hi_ns);
		if (i != next[k])
			return numbered_fail(why, len,
					     "thread %llu: event %llu where %llu was expected",
					     (unsigned long long)k, (unsigned long long)i,
					     (unsigned long long)next[k]);
		next[k]++;
	}
	if (rc != 0)
		return numbered_fail(why, len, "events: %s", ttlog_reader_errmsg());
	for (k = 0; k < NUMBERED_NT; k++) {
		uint64_t d = atomic_load(&((struct numbered *)n)->done[k]);
		uint64_t a = atomic_load(&((struct numbered *)n)->attempt[k]);
		if (next[k] < d || next[k] > a)
			return numbered_fail(
				why, len,
				"thread %u: %llu events recovered; it had finished %llu "
				"and started %llu",
				(unsigned)k, (unsigned long long)next[k], (unsigned long long)d,
				(unsigned long long)a);
		done += d;
		attempt += a;
		inflight += a - d;
	}
	ttlog_snapshot_get_counters(s, &seen->c);
	seen->torn = ttlog_snapshot_torn(s);
	seen->events = ttlog_snapshot_event_count(s);
	if (c->logged != c->kept + c->clipped + c->overwritten + c->dropped + seen->torn)
		return numbered_fail(
			why, len,
			"unbalanced: logged %llu != kept %llu + clipped %llu + "
			"overwritten %llu + dropped %llu + torn %llu",
			(unsigned long long)c->logged, (unsigned long long)c->kept,
			(unsigned long long)c->clipped, (unsigned long long)c->overwritten,
			(unsigned long long)c->dropped, (unsigned long long)seen->torn);
	if (seen->torn > inflight || c->logged < done || c->logged > attempt)
		return numbered_fail(why, len,
				     "torn %llu with %llu in flight; logged %llu, done %llu, "
				     "started %llu",
				     (unsigned long long)seen->torn, (unsigned long long)inflight,
				     (unsigned long long)c->logged, (unsigned long long)done,
				     (unsigned long long)attempt);
	return 0;
}

#endif /* TTLOG_TESTS_NUMBERED_H */
