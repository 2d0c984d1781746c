/*
 * distributed_simulator.c - a cluster of processes ("nodes") passing requests to each
 * other over loopback UDP, each with its own flight recorder; random nodes crash or are
 * killed mid-run; afterwards the snapshots of all nodes are merged and checked.
 *
 *   distributed_simulator --variant=v [--nodes=8] [--seconds=S] [--rounds=R] [--seed=X]
 *                         [--dir=D] [--capacity=N] [--burst=N] [--tick-ms=MS] [--label=L]
 *                         [--extra-faults=N]
 *
 * Each node is a process with its own TTLOG_SERVICE_NAME ("node-3") and its own snapshot
 * directory (node-3/ in the round's directory, as each host of a fleet has its disk),
 * interval snapshots every second and snapshot requests of its own (--tick-ms, default
 * every 250 ms, 0 none), a background thread logging work events (bursts of up to --burst,
 * default 200, each millisecond) into a ring of --capacity events (default 16384),
 * and a main loop that originates requests (request_id = node << 40 | n, a random number
 * of hops) and forwards the ones it receives, logging "send" before each sendto() and
 * "recv" after each recvfrom(), with the request id and hop. Per round, with the seed:
 * one node crashes with SIGSEGV, one with abort() (SIGABRT), one is SIGKILLed, the others
 * run to the end and shut down (final snapshot). Checks:
 *   - every node's exit status is the one its fate gives;
 *   - every ttlog-*.bin in the directory decodes completely (a SIGKILLed node, perhaps
 *     killed in the middle of writing one, leaves no partial file) and balances;
 *   - a crashed node's crash snapshot exists and holds its last events: the event it
 *     logged right before the fault, and the 50 before it on its main thread, in order
 *     (any of those 50 missing must be counted as dropped);
 *   - a surviving node's shutdown snapshot accounts for every event it logged, exactly;
 *   - a node killed in the middle of a write (it is stopped while it has its temporary
 *     file open, then killed) leaves nothing when it wrote through an O_TMPFILE file (the
 *     kernel frees it) and its .ttlog-tmp-* file when it wrote through a named one (the
 *     odd-numbered nodes take that path, ttlog__test_no_tmpfile): the next ttlog_init()
 *     on the directory removes it at once, and no temporary file is left after that;
 *   - the merged timeline (every event of every snapshot, de-duplicated, sorted by
 *     timestamp) orders each request causally: the send of hop h before its receive,
 *     the receive of hop h before the send of hop h + 1.
 * Any failure: a message naming the round, the node and the request, and exit status 1.
 *
 * --dir=D: the round's directory is D (one round only), node i's D/node-<i>, created when
 * missing and kept afterwards: stress/fleet_demo.sh starts one ttlog-ship per node
 * directory before the nodes start, and checks what they shipped. Without it, a temporary
 * directory, removed after the round. --label names the row of the reliability table,
 * --extra-faults adds the faults a caller injects meanwhile (the destinations it kills).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "stress.h"

enum fate { SURVIVE, CRASH_SEGV, CRASH_ABRT, KILLED };
static const char *const fate_name[] = {"survives", "SIGSEGV", "abort", "SIGKILL"};

enum { MAXN = 64, CMD_NONE = 0, CMD_CRASH = 1, CMD_QUIT = 2, LAST_RUN = 50 };

/* One node, in memory shared with the parent. Written by the node, read by the parent
 * after the node is gone (and cmd: written by the parent, polled by the node). */
struct node {
	pid_t pid;
	enum fate fate;
	_Atomic int cmd;
	_Atomic uint64_t main_seq; /* events the main thread logged */
	_Atomic uint64_t bg_seq;   /* events the background thread logged */
	_Atomic uint64_t last_seq; /* the main thread's last event before a crash, +1 */
	_Atomic uint64_t sent, received;
	_Atomic int done;          /* logged counts final (shutdown begun) */
	_Atomic int bg_pause, bg_paused; /* the background thread holds still (see bg_main) */
	_Atomic uint64_t lost_before_crash; /* parent: last events missing, counted as dropped */
	struct st_writing killed_in;        /* parent: what a KILLED node was writing */
};

static struct node *nodes;
static unsigned nnodes;
static const char *variant;
static char dir[4096];              /* the round's directory */
static char ndir[MAXN][4160];       /* node i's snapshot directory: dir/node-<i> */
static bool keep_dir;               /* --dir: the caller's, kept */
static size_t capacity = 1 << 14;   /* --capacity */
static uint64_t burst_max = 200;    /* --burst */
static uint64_t tick_ns = 250000000; /* --tick-ms; 0: no snapshot requests of its own */
static int socks[MAXN];
static struct sockaddr_in addrs[MAXN];

struct msg {
	uint64_t req, hop, ttl, from;
};

/* ---- a node ---- */

static struct node *me;
static unsigned my_id;
static _Atomic int bg_stop;

static void *bg_main(void *arg)
{
	uint64_t rng = st_seed_mix((uint64_t)getpid(), 99), s = 0;
	(void)arg;
	while (!atomic_load(&bg_stop)) {
		/* Held still between two pushes while the main thread logs its crash event: a
		 * thread descheduled inside a push makes mpmc and numa drop other threads' new
		 * events (by design), which would make "the last event is there" a matter of
		 * scheduling. Earlier events may be dropped so: check_round accounts for them. */
		if (atomic_load(&me->bg_pause)) {
			atomic_store(&me->bg_paused, 1);
			sched_yield();
			continue;
		}
		uint64_t burst = 1 + st_rand(&rng) % burst_max;
		for (uint64_t i = 0; i < burst; i++) {
			TTLOG_DEBUG("work", "background step {} of node {}", TTLOG_U64("seq", s),
				    TTLOG_U64("node", my_id));
			atomic_store(&me->bg_seq, ++s);
		}
		st_sleep_us(1000);
	}
	return NULL;
}

static uint64_t next_seq(void)
{
	return atomic_load(&me->main_seq);
}

static void logged_one(void)
{
	atomic_fetch_add(&me->main_seq, 1);
}

static void send_to(unsigned to, const struct msg *m)
{
	/* the send is logged before the message leaves: causality */
	TTLOG_INFO("net", "send req {} hop {} to {} seq {}", TTLOG_U64("req", m->req),
		   TTLOG_U64("hop", m->hop), TTLOG_U64("peer", to), TTLOG_U64("seq", next_seq()));
	logged_one();
	ssize_t rc = sendto(socks[my_id], m, sizeof *m, 0, (struct sockaddr *)&addrs[to],
			    sizeof addrs[to]);
	if (rc == (ssize_t)sizeof *m)
		atomic_fetch_add(&me->sent, 1);
}

static unsigned other(uint64_t *rng)
{
	unsigned to = (unsigned)(st_rand(rng) % (nnodes - 1));
	return to >= my_id ? to + 1 : to;
}

static volatile int zero;

static void node_main(unsigned id, uint64_t seed)
{
	struct rlimit no_core = {0, 0};
	char svc[32];
	ttlog_config cfg;
	pthread_t bg;
	uint64_t rng = st_seed_mix(seed, 1000 + id), nreq = 0, last_req_ns = 0, last_tick_ns = 0;

	me = &nodes[id];
	my_id = id;
	setrlimit(RLIMIT_CORE, &no_core);
	for (unsigned i = 0; i < nnodes; i++)
		if (i != id)
			close(socks[i]);
	snprintf(svc, sizeof svc, "node-%u", id);
	setenv("TTLOG_SERVICE_NAME", svc, 1);
	st_config(&cfg, variant, NULL, ndir[id], capacity); /* the service: from the environment */
	cfg.snapshot_interval_s = 1;
	cfg.final_snapshot = true;
	/* not quiet: ttlog reports only failures, and a failed crash snapshot (then missing
	 * in check_round) says why on stderr */
	cfg.quiet = false;
	ttlog__test_no_tmpfile = id & 1; /* both temporary file paths in one round */
	st_start(&cfg);
	ST_CHECK(ttlog_install_crash_handler() == 0, "node %u: crash handler", id);
	pthread_create(&bg, NULL, bg_main, NULL);

	for (;;) {
		int cmd = atomic_load(&me->cmd);
		if (cmd == CMD_QUIT)
			break;
		if (cmd == CMD_CRASH) {
			atomic_store(&me->bg_pause, 1);
			while (!atomic_load(&me->bg_paused))
				sched_yield();
			uint64_t seq = next_seq();
			TTLOG_ERROR("node", "node {} crashes now, seq {}", TTLOG_U64("node", id),
				    TTLOG_U64("seq", seq));
			logged_one();
			atomic_store(&me->last_seq, seq + 1);
			atomic_store(&me->bg_pause, 0); /* it logs again as we crash */
			if (me->fate == CRASH_SEGV)
				*(volatile int *)(uintptr_t)zero = 1;
			abort();
		}
		struct pollfd p = {.fd = socks[id], .events = POLLIN};
		if (poll(&p, 1, 1) > 0) {
			struct msg m;
			struct sockaddr_in from;
			socklen_t fl = sizeof from;
			while (recvfrom(socks[id], &m, sizeof m, MSG_DONTWAIT, (struct sockaddr *)&from,
					&fl) == (ssize_t)sizeof m) {
				TTLOG_INFO("net", "recv req {} hop {} from {} seq {}",
					   TTLOG_U64("req", m.req), TTLOG_U64("hop", m.hop),
					   TTLOG_U64("peer", m.from), TTLOG_U64("seq", next_seq()));
				logged_one();
				atomic_fetch_add(&me->received, 1);
				if (m.hop + 1 < m.ttl) {
					m.hop++;
					m.from = id;
					send_to(other(&rng), &m);
				}
				fl = sizeof from;
			}
		}
		uint64_t now = st_now_ns();
		if (now - last_req_ns > 2000000) { /* a new request every ~2 ms */
			struct msg m = {((uint64_t)id << 40) | nreq++, 0, 1 + st_rand(&rng) % 4, id};
			send_to(other(&rng), &m);
			last_req_ns = now;
		}
		if (tick_ns > 0 && now - last_tick_ns > tick_ns) { /* and a snapshot of our own */
			ttlog_request_snapshot("tick");
			last_tick_ns = now;
		}
	}
	atomic_store(&bg_stop, 1);
	pthread_join(bg, NULL);
	atomic_store(&me->done, 1);
	ttlog_shutdown(); /* the final snapshot */
	_exit(0);
}

/* ---- the merged timeline ---- */

struct ev {
	uint64_t ts, req, hop, node, seq, created; /* created: the snapshot it came from */
	uint64_t ts_min, ts_max;                   /* over every copy of the event */
	int kind;                                  /* 0 send, 1 recv */
	char reason[24];                           /* of the snapshot it came from */
};

static struct ev *evs;
static size_t nev, capev;

static void add_event(const struct ev *e)
{
	if (nev == capev) {
		capev = capev ? capev * 2 : 1 << 16;
		evs = realloc(evs, capev * sizeof *evs);
		ST_CHECK(evs != NULL, "out of memory");
	}
	evs[nev++] = *e;
}

static int by_identity(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->created > y->created ? -1 : x->created < y->created; /* newest first */
}

static int by_request(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->req != y->req)
		return x->req < y->req ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	/* equal times: keep the order causality wants, so that a tie is not a failure */
	if (x->hop != y->hop)
		return x->hop < y->hop ? -1 : 1;
	return x->kind - y->kind;
}

/* ---- checking a round ---- */

struct totals {
	uint64_t runs, faults, survived, logged, kept, overwritten, dropped, pairs;
};

static int node_of_pid(uint64_t pid)
{
	for (unsigned i = 0; i < nnodes; i++)
		if ((uint64_t)nodes[i].pid == pid)
			return (int)i;
	return -1;
}

/* The snapshots in node in's directory: each one is that node's, decodes and balances. */
static void check_dir(unsigned in, struct totals *tot, bool crash_seen[], bool shutdown_seen[])
{
	size_t n;
	char **names = st_list_snapshots(ndir[in], &n);

	for (size_t f = 0; f < n; f++) {
		char path[4500];
		ttlog_snapshot_file *s;
		ttlog_snapshot_counters c;
		ttlog_event e;
		snprintf(path, sizeof path, "%s/%s", ndir[in], names[f]);
		int rc = ttlog_snapshot_open(path, &s);
		ST_CHECK(rc == 0, "%s does not decode (a partial file?): %s", path,
			 ttlog_reader_errmsg());
		int id = node_of_pid(ttlog_snapshot_pid(s));
		ST_CHECK(id == (int)in, "%s: pid %" PRIu64 " is not node %u's", path,
			 ttlog_snapshot_pid(s), in);
		char svc[32];
		snprintf(svc, sizeof svc, "node-%d", id);
		ST_CHECK(strcmp(ttlog_snapshot_service(s), svc) == 0, "%s: service '%s', want '%s'",
			 path, ttlog_snapshot_service(s), svc);
		ST_CHECK(strcmp(ttlog_snapshot_variant(s), variant) == 0, "%s: variant %s", path,
			 ttlog_snapshot_variant(s));
		ttlog_snapshot_get_counters(s, &c);
		/* a recovered box's snapshot also counts the records its death cut (torn) */
		ST_CHECK(c.logged == c.kept + c.clipped + c.overwritten + c.dropped +
					     ttlog_snapshot_torn(s),
			 "%s: unbalanced", path);
		const char *reason = ttlog_snapshot_reason(s);
		struct node *nd = &nodes[id];
		bool is_crash = strcmp(reason, "SIGSEGV") == 0 || strcmp(reason, "SIGABRT") == 0;
		bool is_shutdown = strcmp(reason, "shutdown") == 0;
		uint64_t created = ttlog_snapshot_created_ns(s);
		uint64_t last = atomic_load(&nd->last_seq), prev = 0, present = 0;
		uint64_t from = last > LAST_RUN ? last - LAST_RUN : 0;
		bool last_found = false, any = false;

		if (is_crash) {
			ST_CHECK(nd->fate == (strcmp(reason, "SIGSEGV") == 0 ? CRASH_SEGV : CRASH_ABRT),
				 "node %d (%s) has a %s snapshot", id, fate_name[nd->fate], reason);
			ST_CHECK(!crash_seen[id], "node %d: two crash snapshots", id);
			crash_seen[id] = true;
		}
		if (is_shutdown) {
			ST_CHECK(nd->fate == SURVIVE, "node %d (%s) has a shutdown snapshot", id,
				 fate_name[nd->fate]);
			shutdown_seen[id] = true;
			/* everything it logged, exactly */
			uint64_t logged = atomic_load(&nd->main_seq) + atomic_load(&nd->bg_seq);
			ST_CHECK(c.logged == logged && c.in_flight == 0,
				 "node %d: shutdown snapshot logged %" PRIu64 " (in flight %" PRIu64
				 "), the node logged %" PRIu64,
				 id, c.logged, c.in_flight, logged);
		}
		while (ttlog_snapshot_next(s, &e) == 1) {
			if (strcmp(e.target, "net") == 0) {
				struct ev x = {e.timestamp_ns, e.fields[0].v.u64, e.fields[1].v.u64,
					       (uint64_t)id, e.fields[3].v.u64, created,
					       e.timestamp_ns, e.timestamp_ns, e.message[0] == 'r', ""};
				snprintf(x.reason, sizeof x.reason, "%s", reason);
				add_event(&x);
			}
			if (is_crash && (strcmp(e.target, "net") == 0 || strcmp(e.target, "node") == 0)) {
				/* the main thread's events: in order, ending with the crash event */
				uint64_t seq = e.fields[strcmp(e.target, "node") == 0 ? 1 : 3].v.u64;
				ST_CHECK(!any || seq > prev, "node %d: %s: main-thread seq %" PRIu64
					 " after %" PRIu64, id, path, seq, prev);
				ST_CHECK(seq < last, "node %d: %s: seq %" PRIu64 " after its crash event",
					 id, path, seq);
				any = true;
				prev = seq;
				present += seq >= from;
				if (strcmp(e.target, "node") == 0)
					last_found = seq + 1 == last;
			}
		}
		if (is_crash) {
			ST_CHECK(last_found, "node %d: its last event (seq %" PRIu64
				 ") is not in its crash snapshot %s", id, last - 1, path);
			/* the events before it: all there, or their loss counted */
			uint64_t missing = last - from - present;
			ST_CHECK(missing <= c.dropped,
				 "node %d: %" PRIu64 " of its last %" PRIu64 " events are missing from "
				 "%s, and only %" PRIu64 " events were dropped",
				 id, missing, last - from, path, c.dropped);
			nd->lost_before_crash = missing;
		}
		if (is_crash || is_shutdown) {
			tot->logged += c.logged;
			tot->kept += c.kept;
			tot->overwritten += c.overwritten;
			tot->dropped += c.dropped;
		}
		ttlog_snapshot_close(s);
	}
	st_free_list(names);
}

/* The merged timeline of every node's events: each request in causal order. */
static void check_timeline(struct totals *tot)
{
	uint64_t max_copy_skew = 0;

	/* one copy of each event (the newest snapshot's), then each request in time order */
	qsort(evs, nev, sizeof *evs, by_identity);
	size_t m = 0;
	for (size_t i = 0; i < nev; i++) {
		if (m > 0 && evs[m - 1].node == evs[i].node && evs[m - 1].seq == evs[i].seq) {
			struct ev *k = &evs[m - 1];
			if (evs[i].ts < k->ts_min)
				k->ts_min = evs[i].ts;
			if (evs[i].ts > k->ts_max)
				k->ts_max = evs[i].ts;
			if (k->ts_max - k->ts_min > max_copy_skew)
				max_copy_skew = k->ts_max - k->ts_min;
			continue;
		}
		evs[m++] = evs[i];
	}
	nev = m;
	qsort(evs, nev, sizeof *evs, by_request);
	uint64_t pairs = 0;
	for (size_t i = 0; i < nev;) {
		size_t j = i;
		while (j < nev && evs[j].req == evs[i].req)
			j++;
		/* within [i, j): time order; each event must not come before its cause */
		for (size_t k = i; k < j; k++) {
			for (size_t q = k + 1; q < j; q++) {
				const struct ev *a = &evs[k], *b = &evs[q];
				/* the causal order of a request is (hop, send before recv); b is
				 * later in time, so it must not come first in that order */
				bool b_causes_a = b->hop < a->hop || (b->hop == a->hop && b->kind < a->kind);
				ST_CHECK(!b_causes_a,
					 "request %#" PRIx64 ": %s of hop %" PRIu64 " on node %" PRIu64
					 " (%s) at %" PRIu64 " ns [copies %" PRIu64 "..%" PRIu64
					 "] comes %" PRIu64 " ns before %s of hop %" PRIu64
					 " on node %" PRIu64 " (%s) at %" PRIu64 " ns [copies %" PRIu64
					 "..%" PRIu64 "]",
					 a->req, a->kind ? "recv" : "send", a->hop, a->node, a->reason,
					 a->ts, a->ts_min, a->ts_max, b->ts - a->ts,
					 b->kind ? "recv" : "send", b->hop, b->node, b->reason, b->ts,
					 b->ts_min, b->ts_max);
				if (a->kind == 0 && b->kind == 1 && a->hop == b->hop)
					pairs++;
			}
		}
		i = j;
	}
	ST_CHECK(pairs >= 10, "only %" PRIu64 " send/receive pairs found in the snapshots", pairs);
	tot->pairs += pairs;
	st_note("%zu distinct net events, %" PRIu64
		" send/receive pairs in causal order; the same event in two snapshots differs by "
		"up to %" PRIu64 " ns",
		nev, pairs, max_copy_skew);
}

static void check_round(struct totals *tot)
{
	bool crash_seen[MAXN] = {0}, shutdown_seen[MAXN] = {0};

	nev = 0;
	for (unsigned i = 0; i < nnodes; i++)
		check_dir(i, tot, crash_seen, shutdown_seen);
	for (unsigned i = 0; i < nnodes; i++) {
		if (nodes[i].fate == CRASH_SEGV || nodes[i].fate == CRASH_ABRT)
			ST_CHECK(crash_seen[i], "node %u (%s): no crash snapshot", i,
				 fate_name[nodes[i].fate]);
		if (nodes[i].fate == SURVIVE)
			ST_CHECK(shutdown_seen[i], "node %u: no shutdown snapshot", i);
	}
	check_timeline(tot);
}

static void round_run(uint64_t seed, uint64_t seconds, uint64_t round, struct totals *tot)
{
	uint64_t rng = st_seed_mix(seed, round);
	char what[64];

	snprintf(what, sizeof what, "distributed-round%" PRIu64, round);
	st_set_what(what, variant);
	if (!keep_dir)
		st_mkdtemp(dir, sizeof dir, "dist");
	for (unsigned i = 0; i < nnodes; i++) {
		snprintf(ndir[i], sizeof ndir[i], "%s/node-%u", dir, i);
		ST_CHECK(mkdir(ndir[i], 0700) == 0 || errno == EEXIST, "mkdir %s: %s", ndir[i],
			 strerror(errno));
	}
	memset(nodes, 0, sizeof *nodes * nnodes);
	/* fates: one SIGSEGV, one abort, one SIGKILL (when there are enough nodes) */
	for (unsigned i = 0; i < nnodes; i++)
		nodes[i].fate = SURVIVE;
	enum fate bad[] = {CRASH_SEGV, CRASH_ABRT, KILLED};
	for (unsigned k = 0; k < 3 && k + 2 <= nnodes; k++) {
		unsigned i;
		do
			i = (unsigned)(st_rand(&rng) % nnodes);
		while (nodes[i].fate != SURVIVE);
		nodes[i].fate = bad[k];
	}
	uint64_t when[MAXN];
	for (unsigned i = 0; i < nnodes; i++) {
		/* between 30% and 80% of the run */
		when[i] = seconds * 1000 * (300 + st_rand(&rng) % 500);
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ST_CHECK(s >= 0, "socket: %s", strerror(errno));
		int big = 1 << 20;
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
		memset(&addrs[i], 0, sizeof addrs[i]);
		addrs[i].sin_family = AF_INET;
		addrs[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ST_CHECK(bind(s, (struct sockaddr *)&addrs[i], sizeof addrs[i]) == 0, "bind: %s",
			 strerror(errno));
		socklen_t l = sizeof addrs[i];
		getsockname(s, (struct sockaddr *)&addrs[i], &l);
		socks[i] = s;
	}
	fflush(NULL);
	for (unsigned i = 0; i < nnodes; i++) {
		pid_t pid = fork();
		ST_CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0)
			node_main(i, seed ^ round);
		nodes[i].pid = pid;
	}
	for (unsigned i = 0; i < nnodes; i++)
		close(socks[i]);
	{
		char line[512];
		size_t pos = 0;
		for (unsigned i = 0; i < nnodes; i++)
			pos += (size_t)snprintf(line + pos, sizeof line - pos, " %u:%s", i,
						fate_name[nodes[i].fate]);
		st_note("%u nodes, %" PRIu64 " s, seed %" PRIu64 ", fates:%s", nnodes, seconds, seed,
			line);
	}
	uint64_t t0 = st_now_ns();
	bool acted[MAXN] = {0};
	while (st_now_ns() - t0 < seconds * 1000000000ull) {
		uint64_t ms = (st_now_ns() - t0) / 1000000;
		for (unsigned i = 0; i < nnodes; i++) {
			if (acted[i] || nodes[i].fate == SURVIVE || ms < when[i] / 1000)
				continue;
			acted[i] = true;
			if (nodes[i].fate == KILLED) {
				/* preferably while it writes a snapshot (it has its temporary
				 * file open; an O_TMPFILE one has no name to look for): stopped
				 * there, then killed, it must leave no partial ttlog-*.bin */
				struct st_writing *w = &nodes[i].killed_in;
				siginfo_t si;
				for (int k = 0; k < 20000 && st_writing(nodes[i].pid, ndir[i], w) <= 0;
				     k++)
					st_sleep_us(100);
				kill(nodes[i].pid, SIGSTOP);
				/* WNOWAIT: the exit status is collected below */
				memset(&si, 0, sizeof si);
				ST_CHECK(waitid(P_PID, (id_t)nodes[i].pid, &si,
						WSTOPPED | WEXITED | WNOWAIT) == 0,
					 "waitid: %s", strerror(errno));
				if (si.si_code != CLD_STOPPED ||
				    st_writing(nodes[i].pid, ndir[i], w) < 0)
					memset(w, 0, sizeof *w);
				kill(nodes[i].pid, SIGKILL);
			} else
				atomic_store(&nodes[i].cmd, CMD_CRASH);
		}
		st_sleep_us(10000);
	}
	for (unsigned i = 0; i < nnodes; i++) {
		if (nodes[i].fate == SURVIVE)
			atomic_store(&nodes[i].cmd, CMD_QUIT);
		else if (!acted[i] && nodes[i].fate == KILLED)
			kill(nodes[i].pid, SIGKILL); /* a run too short to reach its time */
		else if (!acted[i])
			atomic_store(&nodes[i].cmd, CMD_CRASH);
	}
	for (unsigned i = 0; i < nnodes; i++) {
		int status, waited;
		for (waited = 0; waited < 12000; waited++) { /* hang guard: 2 minutes */
			if (waitpid(nodes[i].pid, &status, WNOHANG) == nodes[i].pid)
				break;
			st_sleep_us(10000);
		}
		if (waited == 12000) {
			kill(nodes[i].pid, SIGKILL);
			waitpid(nodes[i].pid, &status, 0);
			st_fail("node %u (%s) hung", i, fate_name[nodes[i].fate]);
		}
		int want = nodes[i].fate == CRASH_SEGV ? SIGSEGV
			   : nodes[i].fate == CRASH_ABRT ? SIGABRT
			   : nodes[i].fate == KILLED     ? SIGKILL
							 : 0;
		if (want == 0)
			ST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				 "node %u (survives): status %#x", i, status);
		else
			ST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == want,
				 "node %u (%s): status %#x, want death by signal %d", i,
				 fate_name[nodes[i].fate], status, want);
	}
	check_round(tot);
	/* what a killed node left half-written: its named temporary file (its lock went with
	 * it), or nothing from an O_TMPFILE one; no other node leaves one */
	int tmps = 0, want_tmps = 0;
	char killed[160] = "";
	for (unsigned i = 0; i < nnodes; i++)
		tmps += st_count(ndir[i], ".ttlog-tmp-");
	for (unsigned i = 0; i < nnodes; i++) {
		const struct st_writing *w = &nodes[i].killed_in;
		char prefix[64];
		if (nodes[i].fate != KILLED)
			continue;
		snprintf(prefix, sizeof prefix, ".ttlog-tmp-%d-", (int)nodes[i].pid);
		ST_CHECK(st_count(ndir[i], prefix) == w->named,
			 "node %u (SIGKILL), killed while writing %d O_TMPFILE and %d named "
			 "temporary files, left %d %s* files", i, w->anon, w->named,
			 st_count(ndir[i], prefix), prefix);
		/* even nodes: O_TMPFILE, unless the directory does not take it */
		bool anon = !(i & 1) && st_dir_has_tmpfile(ndir[i]);
		ST_CHECK(w->anon + w->named == 0 || (w->anon == 1 && w->named == 0) == anon,
			 "node %u (SIGKILL) wrote through %d O_TMPFILE and %d named temporary "
			 "files, want the %s path", i, w->anon, w->named,
			 anon ? "O_TMPFILE" : "named");
		want_tmps += w->named;
		snprintf(killed, sizeof killed, "; the killed node %u (%s path) %s", i,
			 anon ? "O_TMPFILE" : "named",
			 w->anon + w->named ? "was stopped in the middle of a write" :
					      "was not writing when killed");
	}
	ST_CHECK(tmps == want_tmps, "%d temporary files in %s after the round, want %d", tmps, dir,
		 want_tmps);
	/* the next start on a directory removes them at once */
	for (unsigned i = 0; i < nnodes; i++) {
		ttlog_config cfg;
		st_config(&cfg, variant, NULL, ndir[i], 16);
		cfg.quiet = true;
		st_start(&cfg);
		ST_CHECK(st_count(ndir[i], ".ttlog-tmp-") == 0,
			 "%d stale temporary files survived ttlog_init in %s",
			 st_count(ndir[i], ".ttlog-tmp-"), ndir[i]);
		ttlog_shutdown();
	}
	uint64_t sent = 0, received = 0;
	for (unsigned i = 0; i < nnodes; i++) {
		sent += nodes[i].sent;
		received += nodes[i].received;
	}
	st_note("%" PRIu64 " messages sent, %" PRIu64 " received; %d temporary files of killed "
		"nodes cleaned%s", sent, received, tmps, killed);
	for (unsigned i = 0; i < nnodes; i++)
		if (nodes[i].lost_before_crash)
			st_note("node %u: %" PRIu64 " of its last %d events before the crash were "
				"dropped (counted): a thread descheduled inside a push blocks eviction",
				i, nodes[i].lost_before_crash, LAST_RUN);
	tot->runs += nnodes;
	tot->faults += nnodes >= 4 ? 3 : nnodes - 1;
	tot->survived += nnodes;
	if (!keep_dir) {
		for (unsigned i = 0; i < nnodes; i++)
			st_rmdir(ndir[i]);
		st_rmdir(dir);
	}
}

int main(int argc, char **argv)
{
	struct totals tot = {0};
	uint64_t seconds, rounds, seed, tick_ms;
	const char *d, *label;

	variant = st_arg(argc, argv, "--variant");
	if (variant == NULL)
		variant = "mpmc";
	nnodes = (unsigned)st_arg_u64(argc, argv, "--nodes", 8);
	seconds = st_arg_u64(argc, argv, "--seconds", st_quick() ? 6 : 60);
	rounds = st_arg_u64(argc, argv, "--rounds", 1);
	seed = st_arg_u64(argc, argv, "--seed", (uint64_t)time(NULL));
	capacity = (size_t)st_arg_u64(argc, argv, "--capacity", capacity);
	burst_max = st_arg_u64(argc, argv, "--burst", burst_max);
	tick_ms = st_arg_u64(argc, argv, "--tick-ms", tick_ns / 1000000);
	d = st_arg(argc, argv, "--dir");
	label = st_arg(argc, argv, "--label"); /* scenario name in the table */
	if (label == NULL)
		label = "distributed";
	st_set_what(label, variant);
	ST_CHECK(nnodes >= 2 && nnodes <= MAXN, "--nodes: 2..%d", MAXN);
	ST_CHECK(burst_max >= 1, "--burst: at least 1");
	ST_CHECK(tick_ms <= 3600000, "--tick-ms: at most an hour");
	tick_ns = tick_ms * 1000000;
	if (d != NULL) {
		/* the node directories stay for the caller: a second round would mix with them */
		ST_CHECK(rounds == 1, "--dir takes one round");
		ST_CHECK(strlen(d) < 4000, "--dir: too long");
		snprintf(dir, sizeof dir, "%s", d);
		keep_dir = true;
	}
	nodes = st_shared(sizeof *nodes * nnodes);
	st_watchdog((unsigned)(rounds * (seconds * 4 + 300)), "distributed simulation");
	for (uint64_t r = 0; r < rounds; r++)
		round_run(seed, seconds, r, &tot);
	tot.faults += st_arg_u64(argc, argv, "--extra-faults", 0);
	st_set_what(label, variant);
	struct st_row row = {label, variant, tot.runs, tot.faults, tot.survived, tot.logged,
			     tot.kept, tot.overwritten, tot.dropped};
	st_row_write(&row);
	free(evs);
	return 0;
}
