/*
 * ttlog-view - read ttlog snapshot files (docs/snapshot-format.md) through the reader API
 * (include/ttlog/reader.h): a table, JSON Lines or CSV of the events, the snapshots'
 * metadata, statistics, or a terminal UI. The manual is docs/ttlog-view.1.
 *
 * This file is the program: the options and main(). The inputs, the merged timeline and
 * the escaping are in view.c, the printed output in view_out.c, the terminal UI in
 * view_tui.c; view.h is what they share.
 *
 * Exit status: 0; 1 when an input could not be read (the others are still shown) or the
 * output failed; 2 for a usage error.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "view.h"

/* One thread writes the output: the stdio calls without their per-call lock (a third of
 * the time of --json on a big snapshot). */
#define putc putc_unlocked
#define fputs fputs_unlocked
#define fwrite fwrite_unlocked

static const char usage_text[] =
	"usage: ttlog-view [OPTION]... FILE|DIR...\n"
	"       ttlog-view [OPTION]... --from postgresql://... [FILE|DIR...]\n"
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
	"      --sql QUERY       load the snapshots into an in-memory SQLite database (tables\n"
	"                        snapshots, callsites, events: docs/sql.md) and print the\n"
	"                        result of one read-only statement (SELECT ...): a table,\n"
	"                        or --json / --csv; a file given twice is loaded once\n"
	"      --from URL        the snapshots ttlog-ship loaded into PostgreSQL (a libpq\n"
	"                        URI: postgresql://[USER@]HOST[:PORT]/DB[?...]), merged with\n"
	"                        the FILEs given; --service, --since, --until, --level and\n"
	"                        --field run in the database; repeatable\n"
	"      --local           times in local time (default UTC)\n"
	"      --color[=WHEN]    colours: auto (default), always, never; --no-color\n"
	"\n"
	"Filters (all must match; repeated --target/--service/--thread: any of them):\n"
	"  -l, --level LEVEL     minimum level: trace debug info warn error fatal, or 0..255\n"
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
	"Exit status: 0; 1 if an input could not be read (the others are still shown) or\n"
	"the --sql statement failed while running; 2 for a usage error or a --sql statement\n"
	"SQLite refuses. See ttlog-view(1).\n";

/* ---- options --------------------------------------------------------------------- */

#define usage_error(...) cli_usage_error(PROG, __VA_ARGS__)

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
	if (isdigit((unsigned char)s[0])) { /* 6..255: levels beyond fatal a file may hold */
		char *end;
		unsigned long v;
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno == 0 && *end == '\0' && v <= UINT8_MAX) {
			*out = (int)v;
			return 0;
		}
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
		o->threads = vxrealloc(o->threads, (o->nthreads + 1) * sizeof *o->threads);
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
	free(o->from);
	if (o->has_grep)
		regfree(&o->grep);
}

enum { OPT_CSV = 256, OPT_SERVICE, OPT_SINCE, OPT_UNTIL, OPT_LOCAL, OPT_COLOR, OPT_NO_COLOR,
       OPT_SQL, OPT_FROM };

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
	{"sql", required_argument, NULL, OPT_SQL},
	{"from", required_argument, NULL, OPT_FROM},
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
						   "warn error fatal, or 0..255)", optarg);
			break;
		case 't':
			o->targets = vxrealloc(o->targets, (o->ntargets + 1) * sizeof *o->targets);
			o->targets[o->ntargets++] = optarg;
			break;
		case OPT_SERVICE:
			o->services = vxrealloc(o->services, (o->nservices + 1) * sizeof *o->services);
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
			o->fields = vxrealloc(o->fields, (o->nfields + 1) * sizeof *o->fields);
			ff = &o->fields[o->nfields++];
			ff->key = eq ? strndup(optarg, (size_t)(eq - optarg)) : vxstrdup(optarg);
			ff->value = eq ? vxstrdup(eq + 1) : NULL;
			if (ff->key == NULL)
				exit(1);
			break;
		}
		case OPT_SINCE: since = optarg; break;
		case OPT_UNTIL: until = optarg; break;
		case OPT_SQL: o->sql = optarg; break;
		case OPT_FROM:
			if (strncmp(optarg, "postgresql://", 13) != 0 &&
			    strncmp(optarg, "postgres://", 11) != 0)
				return usage_error("--from: want a postgresql:// URL, not '%s'",
						   optarg);
			o->from = vxrealloc(o->from, (o->nfrom + 1) * sizeof *o->from);
			o->from[o->nfrom++] = optarg;
			break;
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
	if (o->sql != NULL && o->nfrom > 0)
		return usage_error("--sql loads files into SQLite; for PostgreSQL use its own "
				   "client (psql) on the same tables");
	if (o->sql != NULL &&
	    (o->header || o->stats || o->interactive || o->local || o->has_last ||
	     o->min_level != 0 || o->ntargets || o->nservices || o->nthreads || o->nfields ||
	     o->has_grep || since != NULL || until != NULL))
		return usage_error("--sql takes no --header, --stats, --interactive, --local, "
				   "filter or --last: say it in the query (WHERE, LIMIT)");
	if (since != NULL && parse_time(since, o->local, &o->since_ns) < 0)
		return usage_error("--since: cannot read the time '%s'", since);
	if (until != NULL && parse_time(until, o->local, &o->until_ns) < 0)
		return usage_error("--until: cannot read the time '%s'", until);
	o->has_since = since != NULL;
	o->has_until = until != NULL;
	if (optind >= argc && o->nfrom == 0)
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

/* '-': standard input, a pipe as well as a file, read here (the reader opens regular files
 * only, a FIFO could block it) up to the reader's limit on a file's size. On failure *msg
 * is set when the reader is not the one to say why. */
static int open_stdin(ttlog_snapshot_file **snap, const char **msg)
{
	const size_t limit = (size_t)256 << 20; /* reader.h: "over 256 MiB" is refused */
	struct vbuf b = {0};
	char chunk[65536];
	ssize_t got;
	int err;

	for (;;) {
		got = read(STDIN_FILENO, chunk, sizeof chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = -errno;
			*msg = strerror(errno);
			vbuf_free(&b);
			return err;
		}
		if (got == 0)
			break;
		vbuf_put(&b, chunk, (size_t)got);
		if (b.len > limit) {
			*msg = "file is over the limit of 256 MiB";
			vbuf_free(&b);
			return -EFBIG;
		}
	}
	err = ttlog_snapshot_open_mem(b.p, b.len, snap);
	vbuf_free(&b);
	return err;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct vopts o = {0};
	struct vsource *src = NULL;
	struct vsql *sql = NULL;
	size_t nsrc = 0, cap = 0, i, opened = 0, procs;
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

	/* --sql: the statement first, so that a mistake in it costs no reading */
	if (o.sql != NULL && (sql = vsql_prepare(o.sql, &o)) == NULL) {
		free_opts(&o);
		return 2;
	}
	for (size_t f = 0; f < o.nfrom; f++) /* the database's snapshots, opened in memory */
		if (!vpg_add(o.from[f], &o, &src, &nsrc, &cap))
			status = 1;
	for (int a = first; a < argc; a++)
		if (!vadd_input(argv[a], &src, &nsrc, &cap))
			status = 1;
	for (i = 0; i < nsrc; i++) {
		const char *msg = NULL;
		if (src[i].snap != NULL)
			err = 0;
		else if (strcmp(src[i].path, "-") == 0)
			err = open_stdin(&src[i].snap, &msg);
		else
			err = ttlog_snapshot_open(src[i].path, &src[i].snap);
		if (err < 0) {
			if (msg == NULL)
				msg = ttlog_reader_errmsg();
			verr_line(src[i].path, msg[0] ? msg : strerror(-err));
			src[i].snap = NULL;
			status = 1;
			continue;
		}
		opened++;
		if (sql != NULL) { /* into the database, and the file's memory let go */
			if (!vsql_load(sql, &src[i]))
				status = 1;
			ttlog_snapshot_close(src[i].snap);
			src[i].snap = NULL;
			continue;
		}
		src[i].service = ttlog_snapshot_service(src[i].snap);
		src[i].host = ttlog_snapshot_hostname(src[i].snap);
		src[i].pid = ttlog_snapshot_pid(src[i].snap);
	}
	if (sql != NULL) {
		if (vsql_finish(sql) != 0)
			status = 1;
		vsql_free(sql);
	} else {
		procs = vmake_labels(src, nsrc);
		vmark_overlaps(src, nsrc);
		if (o.interactive) {
			if (opened > 0 && vtui_run(src, nsrc, &o) != 0)
				status = 1;
		} else {
			vout_run(src, nsrc, procs > 1, &o);
		}
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
	free_opts(&o);
	return status;
}