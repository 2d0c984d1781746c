/*
 * ttlog-ship - ship ttlog snapshots to a fleet's log pipeline: every complete snapshot
 * (a regular file named ttlog-*.bin) in the watched directories goes to each destination
 * exactly once, recorded in a state file only once the destination acknowledged it.
 * Destinations: syslog://HOST:PORT, syslog+tls://HOST:PORT (ship_syslog.c),
 * postgresql://... (ship_pg.c). The manual is docs/ship.md.
 *
 * This file is the program: options, the directories (inotify), the per-destination
 * backlog with its backoff, the state. One thread: a destination that is down waits for
 * its next try while the others go on.
 *
 * Exit status: 0; 1 a destination or the state failed (--once: not everything shipped);
 * 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ship.h"

static const char usage_text[] =
	"usage: ttlog-ship [OPTION]... --to URL DIR...\n"
	"Ship every complete ttlog snapshot (ttlog-*.bin) of the DIRs to each destination,\n"
	"exactly once, and keep watching the DIRs for new ones.\n"
	"\n"
	"  -t, --to URL          a destination (repeatable):\n"
	"                          syslog://HOST[:PORT]      RFC 5424 over TCP (port 514)\n"
	"                          syslog+tls://HOST[:PORT]  the same over TLS (port 6514)\n"
	"                          postgresql://[USER@]HOST[:PORT]/DB[?PARAM=...]  (or\n"
	"                            postgres://) the tables of docs/sql.md, schema ttlog,\n"
	"                            one transaction per snapshot (a libpq connection URI)\n"
	"  -1, --once            ship what is there now, then exit\n"
	"  -s, --state FILE      what was delivered where (default: DIR/.ttlog-ship.state\n"
	"                        of the first DIR); one ttlog-ship per state file\n"
	"  -v, --verbose         a line per snapshot shipped, counts at the end\n"
	"      --facility NAME   syslog facility: user (default), daemon, local0..local7, ...\n"
	"                        or 0..23\n"
	"      --ca-file FILE    syslog+tls: the CA certificates (PEM) to verify the server\n"
	"                        with (default: the system's)\n"
	"      --timeout S       connect, each write and the wait for the receiver (30);\n"
	"                        PostgreSQL: also its statement and lock timeouts\n"
	"      --backoff-max S   longest wait between tries of a destination that is down\n"
	"                        (60; the wait starts at 0.5 s and doubles)\n"
	"  -h, --help            this text\n"
	"Exit status: 0; 1 a destination or the state file failed (with --once: something\n"
	"was not shipped); 2 usage. See docs/ship.md.\n";

/* ---- log --------------------------------------------------------------------------- */

void ship_log(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define usage_error(...) cli_usage_error(PROG, __VA_ARGS__)

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* ---- destinations ------------------------------------------------------------------ */

const struct ship_dest_ops *ship_dest_lookup(const char *url)
{
	static const struct ship_dest_ops *const all[] = {&ship_syslog_ops, &ship_syslog_tls_ops,
							  &ship_pg_ops, &ship_postgres_ops};
	size_t n;

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		n = strlen(all[i]->scheme);
		if (strncmp(url, all[i]->scheme, n) == 0 && strncmp(url + n, "://", 3) == 0)
			return all[i];
	}
	return NULL;
}

/* Leave out of k (a URL) its query parameters named password (libpq's URIs take one). */
static void drop_password_param(char *k)
{
	char *q = strchr(k, '?'), *p, *next;

	if (q == NULL)
		return;
	for (p = q + 1; *p != '\0' && *p != '#'; p = next) {
		next = p + strcspn(p, "&#");
		if (strncmp(p, "password=", 9) != 0) {
			if (*next == '&')
				next++;
			continue;
		}
		if (*next == '&')
			next++;
		memmove(p, next, strlen(next) + 1);
		next = p;
	}
	/* "?" or "&" left dangling at the end of the query */
	if ((p = strchr(q, '#')) == NULL)
		p = q + strlen(q);
	while (p > q && (p[-1] == '&' || p[-1] == '?')) {
		memmove(p - 1, p, strlen(p) + 1);
		p--;
	}
}

char *ship_dest_key(const char *url)
{
	const char *auth = strstr(url, "://"), *end, *at, *colon;
	char *k;

	if (auth == NULL)
		return strdup(url);
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if ((k = strdup(url)) == NULL)
		return NULL;
	if (colon != NULL) {
		memcpy(k, url, (size_t)(colon - url));
		strcpy(k + (colon - url), at);
	}
	drop_password_param(k);
	return k;
}

struct dest {
	const struct ship_dest_ops *ops;
	void *ctx;
	char *key; /* the URL without a password: state file and log lines */
	bool down;
	unsigned failures;   /* consecutive failed tries */
	uint64_t delay_ms;   /* the wait before the next try while down */
	uint64_t next_ms;    /* no try before this (monotonic) */
	uint64_t down_since; /* monotonic ms */
	bool failed;         /* --once: it failed */
	uint64_t snapshots, messages, bytes;
};

/* ---- candidates: the snapshot files of the watched directories ---------------------- */

struct cand {
	char *path;
	uint64_t ino, size;
	struct timespec mtime;
	bool has_id;
	struct ship_id id;
	bool bad;          /* did not open: tried again when the file changes */
	uint64_t rejected; /* bit per destination that refused it for good */
	uint64_t done;     /* bit per destination known to have it (saves a state lookup) */
};

static struct {
	struct ship_opts opts;
	bool once;
	uint64_t backoff_max_ms;
	struct dest *dests;
	size_t ndests;
	char **dirs;
	int *wds;
	size_t ndirs;
	struct cand *cands;
	size_t ncands, capcands;
	const char **urls;
	struct ship_state state;
	bool state_dirty;
	int status;
} g;

static volatile sig_atomic_t stop_sig;

static void on_stop(int sig)
{
	stop_sig = sig;
}

static bool snapshot_name(const char *name)
{
	size_t n = strlen(name);

	return n > 10 && strncmp(name, "ttlog-", 6) == 0 && strcmp(name + n - 4, ".bin") == 0;
}

static void cand_free(struct cand *c)
{
	free(c->path);
	free(c->id.host);
}

static struct cand *cand_find(const char *path)
{
	for (size_t i = 0; i < g.ncands; i++)
		if (strcmp(g.cands[i].path, path) == 0)
			return &g.cands[i];
	return NULL;
}

/* Whether a file gone or replaced before it reached every destination. */
static void cand_lost(const struct cand *c)
{
	for (size_t d = 0; d < g.ndests; d++) {
		if (ship_state_find_file(&g.state, g.dests[d].key, c->path, c->ino, c->size) ||
		    (c->has_id && ship_state_find_id(&g.state, g.dests[d].key, &c->id)) ||
		    (c->rejected >> d & 1) || c->bad)
			continue;
		ship_log("%s: removed before it was shipped to %s", c->path, g.dests[d].key);
	}
}

static void cand_remove(const char *path)
{
	struct cand *c = cand_find(path);

	if (c == NULL)
		return;
	cand_lost(c);
	cand_free(c);
	*c = g.cands[--g.ncands];
}

/* A file named like a snapshot appeared or changed: (re)consider it. */
static void cand_update(const char *path)
{
	struct stat st;
	struct cand *c;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		cand_remove(path); /* gone, or not a regular file: never read */
		return;
	}
	c = cand_find(path);
	if (c != NULL && c->ino == (uint64_t)st.st_ino && c->size == (uint64_t)st.st_size &&
	    c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec)
		return;
	if (c != NULL) {
		if (c->ino != (uint64_t)st.st_ino)
			cand_lost(c); /* another file now has this name */
		free(c->id.host);
	} else {
		if (g.ncands == g.capcands) {
			size_t cap = g.capcands ? g.capcands * 2 : 64;
			struct cand *v = realloc(g.cands, cap * sizeof *v);
			if (v == NULL) {
				ship_log("out of memory");
				exit(1);
			}
			g.cands = v;
			g.capcands = cap;
		}
		c = &g.cands[g.ncands++];
		memset(c, 0, sizeof *c);
		if ((c->path = strdup(path)) == NULL) {
			ship_log("out of memory");
			exit(1);
		}
	}
	c->ino = (uint64_t)st.st_ino;
	c->size = (uint64_t)st.st_size;
	c->mtime = st.st_mtim;
	c->has_id = false;
	c->id.host = NULL;
	c->bad = false;
	c->rejected = 0;
	c->done = 0;
}

static void scan_dir(size_t i)
{
	DIR *d = opendir(g.dirs[i]);
	struct dirent *de;
	char path[PATH_MAX];

	if (d == NULL) {
		ship_log("%s: %s", g.dirs[i], strerror(errno));
		g.status = 1;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!snapshot_name(de->d_name))
			continue;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", g.dirs[i], de->d_name) >=
		    sizeof path)
			continue;
		cand_update(path);
	}
	closedir(d);
}

static int cand_order(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->path, y->path);
}

/* Open c's snapshot and learn its identity. NULL when it cannot be read: marked bad
 * (a line once), or dropped when it is gone. */
static ttlog_snapshot_file *cand_open(struct cand *c)
{
	ttlog_snapshot_file *s;
	struct stat st;
	int rc = ttlog_snapshot_open(c->path, &s);

	if (rc < 0) {
		if (rc == -ENOENT) {
			c->bad = true; /* inotify removes it */
			return NULL;
		}
		/* also a file still being written under its final name (cp): tried again
		 * when it changes */
		ship_log("%s: not shipped (yet): %s", c->path, ttlog_reader_errmsg());
		c->bad = true;
		return NULL;
	}
	/* the file as it was read: one copied in under its final name (cp) was seen first
	 * empty, and its state line must name the whole file */
	if (lstat(c->path, &st) == 0 && S_ISREG(st.st_mode)) {
		c->ino = (uint64_t)st.st_ino;
		c->size = (uint64_t)st.st_size;
		c->mtime = st.st_mtim;
	}
	if (!c->has_id) {
		c->id.host = strdup(ttlog_snapshot_hostname(s));
		if (c->id.host == NULL) {
			ttlog_snapshot_close(s);
			ship_log("out of memory");
			exit(1);
		}
		c->id.pid = ttlog_snapshot_pid(s);
		c->id.created_ns = ttlog_snapshot_created_ns(s);
		c->has_id = true;
	}
	return s;
}

/* Whether destination d has c (recording this file when it has its snapshot through
 * another file). */
static bool delivered(struct dest *d, struct cand *c)
{
	uint64_t bit = 1ull << (d - g.dests);

	if (c->done & bit)
		return true;
	if (ship_state_find_file(&g.state, d->key, c->path, c->ino, c->size)) {
		c->done |= bit;
		return true;
	}
	if (c->has_id && ship_state_find_id(&g.state, d->key, &c->id)) {
		if (ship_state_add(&g.state, d->key, &c->id, c->path, c->ino, c->size) < 0) {
			ship_log("out of memory");
			exit(1);
		}
		g.state_dirty = true;
		c->done |= bit;
		return true;
	}
	return false;
}

static void save_state(void)
{
	char err[512];

	if (ship_state_save(&g.state, err, sizeof err) < 0) {
		/* without the record, a restart would ship it again */
		ship_log("state: %s: stopping", err);
		exit(1);
	}
	g.state_dirty = false;
}

static size_t waiting(struct dest *d)
{
	size_t n = 0;

	for (size_t i = 0; i < g.ncands; i++) {
		struct cand *c = &g.cands[i];
		if (!c->bad && !(c->rejected >> (d - g.dests) & 1) && !delivered(d, c))
			n++;
	}
	return n;
}

static void dest_failed(struct dest *d, const char *err, const char *path)
{
	uint64_t t = now_ms();

	d->failures++;
	d->failed = true;
	if (!d->down) {
		d->down = true;
		d->down_since = t;
		d->delay_ms = 500;
		ship_log("%s: down: %s (shipping %s; %zu snapshots waiting)", d->key, err, path,
			 waiting(d));
	} else {
		d->delay_ms =
			d->delay_ms * 2 > g.backoff_max_ms ? g.backoff_max_ms : d->delay_ms * 2;
		if (g.opts.verbose)
			ship_log("%s: still down: %s (shipping %s)", d->key, err, path);
	}
	/* jitter (3/4..1 of the wait): agents that lost the same receiver do not all come
	 * back in the same millisecond */
	d->next_ms = t + d->delay_ms - (d->delay_ms / 4) * (uint64_t)(random() % 1000) / 1000;
}

/* One destination: ship its backlog, oldest first, until done or it fails. */
static void ship_dest(struct dest *d)
{
	size_t di = (size_t)(d - g.dests);
	char err[512];

	for (size_t i = 0; i < g.ncands && !stop_sig; i++) {
		struct cand *c = &g.cands[i];
		struct ship_snap s;
		struct ship_sent sent;
		enum ship_result r;

		if (c->bad || (c->rejected >> di & 1) || delivered(d, c))
			continue;
		if ((s.snap = cand_open(c)) == NULL) {
			if (g.once)
				g.status = 1;
			continue;
		}
		if (delivered(d, c)) { /* its snapshot went there through another file */
			ttlog_snapshot_close(s.snap);
			continue;
		}
		s.path = c->path;
		err[0] = '\0';
		r = d->ops->deliver(d->ctx, &s, &sent, err, sizeof err);
		ttlog_snapshot_close(s.snap);
		if (r == SHIP_RETRY) {
			dest_failed(d, err, c->path);
			return;
		}
		if (r == SHIP_REJECT) {
			ship_log("%s: %s refused it: %s", c->path, d->key, err);
			c->rejected |= 1ull << di;
			g.status = 1;
			continue;
		}
		if (ship_state_add(&g.state, d->key, &c->id, c->path, c->ino, c->size) < 0) {
			ship_log("out of memory");
			exit(1);
		}
		save_state();
		c->done |= 1ull << di;
		d->snapshots++;
		d->messages += sent.messages;
		d->bytes += sent.bytes;
		if (d->down) {
			ship_log("%s: up again after %u failed tries (%" PRIu64 " s)", d->key,
				 d->failures, (now_ms() - d->down_since + 500) / 1000);
			d->down = false;
		}
		d->failures = 0;
		if (g.opts.verbose)
			ship_log("%s -> %s: %" PRIu64 " messages, %" PRIu64 " bytes", c->path,
				 d->key, sent.messages, sent.bytes);
	}
}

/* Ship to every destination whose time has come; the wait until the next try (ms), -1 for
 * none. */
static int ship_round(void)
{
	uint64_t t = now_ms(), next = UINT64_MAX;

	if (g.ncands > 1)
		qsort(g.cands, g.ncands, sizeof *g.cands, cand_order);
	for (size_t d = 0; d < g.ndests && !stop_sig; d++) {
		struct dest *dp = &g.dests[d];
		if (dp->down && dp->next_ms > t)
			continue;
		if (g.once && dp->failed)
			continue;
		ship_dest(dp);
	}
	if (g.state_dirty)
		save_state();
	t = now_ms();
	for (size_t d = 0; d < g.ndests; d++)
		if (g.dests[d].down && g.dests[d].next_ms < next)
			next = g.dests[d].next_ms;
	if (next == UINT64_MAX)
		return -1;
	return next <= t ? 0 : (int)(next - t > INT_MAX ? INT_MAX : next - t);
}

/* ---- start: the state against the files there ------------------------------------ */

static void start_state(void)
{
	size_t pruned;

	for (size_t i = 0; i < g.ncands; i++) {
		struct cand *c = &g.cands[i];
		struct ship_entry *e = ship_state_any_file(&g.state, c->path, c->ino, c->size);

		if (e != NULL) { /* known: its identity without reading it */
			if ((c->id.host = strdup(e->id.host)) == NULL) {
				ship_log("out of memory");
				exit(1);
			}
			c->id.pid = e->id.pid;
			c->id.created_ns = e->id.created_ns;
			c->has_id = true;
		} else {
			ttlog_snapshot_file *s = cand_open(c);
			if (s != NULL)
				ttlog_snapshot_close(s);
		}
	}
	/* keep the entries of the snapshots that are still in some file */
	for (size_t j = 0; j < g.state.n; j++) {
		struct ship_entry *e = &g.state.v[j];
		for (size_t i = 0; i < g.ncands && !e->seen; i++) {
			struct cand *c = &g.cands[i];
			if (c->has_id && c->id.pid == e->id.pid &&
			    c->id.created_ns == e->id.created_ns &&
			    strcmp(c->id.host, e->id.host) == 0)
				e->seen = true;
		}
	}
	pruned = ship_state_prune(&g.state);
	if (pruned > 0) {
		if (g.opts.verbose)
			ship_log("state: %zu entries of snapshots no longer there dropped", pruned);
		g.state_dirty = true;
	}
}

/* ---- options -------------------------------------------------------------------- */

static int parse_facility(const char *s)
{
	static const char *const names[] = {"kern", "user",     "mail",     "daemon",
					    "auth", "syslog",   "lpr",      "news",
					    "uucp", "cron",     "authpriv", "ftp",
					    "ntp",  "security", "console",  "solaris-cron"};
	char *end;
	long v;

	for (int i = 0; i < 16; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	if (strncasecmp(s, "local", 5) == 0 && s[5] >= '0' && s[5] <= '7' && s[6] == '\0')
		return 16 + (s[5] - '0');
	errno = 0;
	v = strtol(s, &end, 10);
	if (*s && *end == '\0' && errno == 0 && v >= 0 && v <= 23)
		return (int)v;
	return -1;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v > 0) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

static void handle_inotify(int fd)
{
	_Alignas(struct inotify_event) char buf[16384];
	char path[PATH_MAX];
	ssize_t n;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (size_t i = 0; i < g.ndirs; i++)
					scan_dir(i);
				continue;
			}
			for (size_t i = 0; i < g.ndirs; i++) {
				if (g.wds[i] != ev->wd)
					continue;
				if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
					ship_log("%s: the directory is gone, no longer watched",
						 g.dirs[i]);
					g.status = 1;
				} else if (ev->len > 0 && snapshot_name(ev->name) &&
					   (size_t)snprintf(path, sizeof path, "%s/%s", g.dirs[i],
							    ev->name) < sizeof path) {
					cand_update(path);
				}
			}
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"to", required_argument, NULL, 't'},
		{"once", no_argument, NULL, '1'},
		{"state", required_argument, NULL, 's'},
		{"verbose", no_argument, NULL, 'v'},
		{"facility", required_argument, NULL, 'F'},
		{"ca-file", required_argument, NULL, 'C'},
		{"timeout", required_argument, NULL, 'T'},
		{"backoff-max", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	/* from globals (g), so that an early exit leaves nothing unreachable behind */
	const char **urls = g.urls = calloc((size_t)argc, sizeof *urls);
	size_t nurls = 0;
	const char *state_path = NULL;
	char defstate[PATH_MAX], err[512];
	double secs;
	int opt, ifd = -1, rc;
	sigset_t block, empty;
	struct sigaction sa;

	if (urls == NULL)
		return 1;
	g.opts.facility = 1; /* user */
	g.opts.timeout_s = 30;
	g.backoff_max_ms = 60000;
	while ((opt = getopt_long(argc, argv, "t:1s:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 't': urls[nurls++] = optarg; break;
		case '1': g.once = true; break;
		case 's': state_path = optarg; break;
		case 'v': g.opts.verbose = true; break;
		case 'F':
			if ((g.opts.facility = parse_facility(optarg)) < 0)
				return usage_error("--facility %s: not a syslog facility", optarg);
			break;
		case 'C': g.opts.ca_file = optarg; break;
		case 'T':
			if (parse_seconds(optarg, &secs) < 0 || secs < 1)
				return usage_error("--timeout %s: not 1..86400 seconds", optarg);
			g.opts.timeout_s = (int)secs;
			break;
		case 'B':
			if (parse_seconds(optarg, &secs) < 0)
				return usage_error("--backoff-max %s: not seconds (0 < S <= 86400)",
						   optarg);
			g.backoff_max_ms = (uint64_t)(secs * 1000);
			if (g.backoff_max_ms < 1)
				g.backoff_max_ms = 1;
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return usage_error("bad option");
		}
	}
	if (nurls == 0)
		return usage_error("no destination (--to URL)");
	if (optind >= argc)
		return usage_error("no directory to ship from");
	if (nurls > 64)
		return usage_error("more than 64 destinations");

	g.ndirs = (size_t)(argc - optind);
	g.dirs = argv + optind;
	for (size_t i = 0; i < g.ndirs; i++) {
		struct stat st;
		if (stat(g.dirs[i], &st) < 0)
			return usage_error("%s: %s", g.dirs[i], strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return usage_error("%s: not a directory", g.dirs[i]);
	}
	g.dests = calloc(nurls, sizeof *g.dests);
	if (g.dests == NULL)
		return 1;
	for (size_t i = 0; i < nurls; i++) {
		struct dest *d = &g.dests[g.ndests];
		if ((d->ops = ship_dest_lookup(urls[i])) == NULL)
			return usage_error("%s: not a destination URL (syslog://, syslog+tls://, "
					   "postgresql://)",
					   urls[i]);
		if ((d->key = ship_dest_key(urls[i])) == NULL)
			return 1;
		for (size_t j = 0; j < g.ndests; j++)
			if (strcmp(g.dests[j].key, d->key) == 0)
				return usage_error("%s: given twice", d->key);
		err[0] = '\0';
		if ((rc = d->ops->open(urls[i], &g.opts, &d->ctx, err, sizeof err)) < 0) {
			if (rc == -EINVAL)
				return usage_error("%s", err);
			ship_log("%s", err);
			return 1;
		}
		g.ndests++;
	}
	if (state_path == NULL) {
		if ((size_t)snprintf(defstate, sizeof defstate, "%s/.ttlog-ship.state",
				     g.dirs[0]) >= sizeof defstate)
			return usage_error("%s: name too long", g.dirs[0]);
		state_path = defstate;
	}
	if (ship_state_open(&g.state, state_path, err, sizeof err) < 0) {
		ship_log("state: %s", err);
		return 1;
	}
	srandom((unsigned)getpid() ^ (unsigned)now_ms());

	/* SIGINT/SIGTERM stop the agent between two deliveries (a delivery goes on through
	 * EINTR). Watching, they are blocked outside ppoll, so that one arriving just before
	 * the wait is not slept through. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(g.once ? SIG_UNBLOCK : SIG_BLOCK, &block, &empty);
	sigdelset(&empty, SIGINT);
	sigdelset(&empty, SIGTERM);

	if (!g.once) {
		/* watching before the first scan: no file slips between the two */
		ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (ifd < 0) {
			ship_log("inotify: %s", strerror(errno));
			return 1;
		}
		g.wds = calloc(g.ndirs, sizeof *g.wds);
		if (g.wds == NULL)
			return 1;
		for (size_t i = 0; i < g.ndirs; i++) {
			g.wds[i] = inotify_add_watch(
				ifd, g.dirs[i],
				IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE |
					IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
			if (g.wds[i] < 0) {
				ship_log("%s: inotify: %s", g.dirs[i], strerror(errno));
				return 1;
			}
		}
	}
	for (size_t i = 0; i < g.ndirs; i++)
		scan_dir(i);
	start_state();

	for (;;) {
		int wait = ship_round();
		struct pollfd pfd = {.fd = ifd, .events = POLLIN};
		struct timespec ts, *tp = NULL;

		if (stop_sig || g.once)
			break;
		if (wait >= 0) {
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (long)(wait % 1000) * 1000000;
			tp = &ts;
		}
		rc = ppoll(&pfd, 1, tp, &empty);
		if (rc < 0 && errno != EINTR) {
			ship_log("poll: %s", strerror(errno));
			g.status = 1;
			break;
		}
		if (rc > 0)
			handle_inotify(ifd);
	}

	for (size_t i = 0; i < g.ncands && g.once; i++)
		if (g.cands[i].bad)
			g.status = 1; /* not everything shipped: the lines said which */
	for (size_t i = 0; i < g.ndests; i++) {
		struct dest *d = &g.dests[i];
		size_t w = waiting(d);
		if (g.once && (d->failed || w > 0))
			g.status = 1;
		if (g.opts.verbose || (g.once && w > 0))
			ship_log("%s: %" PRIu64 " snapshots (%" PRIu64 " messages, %" PRIu64
				 " bytes) shipped, %zu waiting",
				 d->key, d->snapshots, d->messages, d->bytes, w);
		d->ops->close(d->ctx);
		free(d->key);
	}
	if (g.state_dirty)
		save_state();
	for (size_t i = 0; i < g.ncands; i++)
		cand_free(&g.cands[i]);
	free(g.cands);
	free(g.dests);
	free(g.wds);
	free(urls);
	ship_state_close(&g.state);
	if (ifd >= 0)
		close(ifd);
	return g.status;
}
