/*
 * complex.c - several processes ("nodes") that serve requests together, each with its
 * own flight recorder; one of them crashes. The snapshots of all of them, read together
 * by ttlog-view, tell the story of a request across the nodes.
 *
 *   complex DIR [REQUESTS]
 *
 * The launcher forks four nodes in a chain, linked by socket pairs:
 *
 *   gateway -> auth -> orders -> billing
 *
 * Each node sets its own TTLOG_SERVICE_NAME and TTLOG_SNAPSHOT_DIR=DIR before
 * ttlog_init(), as separate programs would. The gateway makes REQUESTS requests (default
 * 10), with ids 1001, 1002, ...; each node logs what it does with a request_id field and
 * passes the request on. billing has a bug: the 7th request (1007) makes it dereference
 * a NULL pointer, and its crash handler writes a snapshot (reason SIGSEGV). orders sees
 * the connection drop and fails that request and the ones after it; the failures travel
 * back to the gateway. At the end the surviving nodes shut down, each writing a final
 * snapshot (reason shutdown), and the launcher says how to read the story:
 *
 *   ttlog-view --field request_id=1007 DIR
 *
 * Exit status: 0 when billing crashed as planned (with REQUESTS >= 7) and the other
 * nodes ended normally.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ttlog/ttlog.h>

#define FIRST_ID 1001
#define CRASH_ID 1007

enum { GATEWAY, AUTH, ORDERS, BILLING, NODES };
static const char *const node_name[NODES] = {"gateway", "auth", "orders", "billing"};

/* One message on a SOCK_SEQPACKET pair: a request going down, its reply coming up. */
struct msg {
	uint64_t request_id;
	uint32_t user;
	uint32_t qty;
	uint64_t amount_cents;
	int32_t status; /* replies: 200, or an error */
	char item[20];
};

static int send_msg(int fd, const struct msg *m)
{
	return send(fd, m, sizeof *m, MSG_NOSIGNAL) == (ssize_t)sizeof *m ? 0 : -1;
}

/* 1: a message; 0: the peer is gone. */
static int recv_msg(int fd, struct msg *m)
{
	ssize_t n;

	do
		n = recv(fd, m, sizeof *m, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof *m;
}

/* Pass m downstream and wait for the reply; false when the node below is gone. */
static int call(int down, struct msg *m)
{
	return down >= 0 && send_msg(down, m) == 0 && recv_msg(down, m);
}

static int start_ttlog(const char *dir, const char *name)
{
	ttlog_config cfg;

	/* what an operator would set in each node's environment */
	setenv("TTLOG_SERVICE_NAME", name, 1);
	setenv("TTLOG_SNAPSHOT_DIR", dir, 1);
	ttlog_config_default(&cfg);
	cfg.final_snapshot = true;
	if (ttlog_init(&cfg) < 0) {
		fprintf(stderr, "%s: ttlog_init: %s\n", name, ttlog_errmsg());
		return -1;
	}
	ttlog_install_crash_handler();
	return 0;
}

/* ---- the nodes ------------------------------------------------------------------- */

static void gateway(int down, int requests)
{
	static const char *const items[] = {"book", "lamp", "chair", "pen", "mug"};

	TTLOG_INFO("gateway", "gateway up, sending {} requests", TTLOG_U64("requests", (uint64_t)requests));
	for (int i = 0; i < requests; i++) {
		struct msg m = {.request_id = FIRST_ID + (uint64_t)i, .user = 40 + (uint32_t)i % 3,
				.qty = 1 + (uint32_t)i % 4};
		snprintf(m.item, sizeof m.item, "%s", items[i % 5]);
		TTLOG_INFO("http", "request {} received: {} x{}", TTLOG_U64("request_id", m.request_id),
			   TTLOG_STR("item", m.item), TTLOG_U64("qty", m.qty), TTLOG_U64("user", m.user));
		if (!call(down, &m)) {
			TTLOG_ERROR("http", "request {} failed: auth unreachable",
				    TTLOG_U64("request_id", FIRST_ID + (uint64_t)i));
			continue;
		}
		if (m.status == 200)
			TTLOG_INFO("http", "request {} done: 200, charged {} cents",
				   TTLOG_U64("request_id", m.request_id),
				   TTLOG_U64("amount_cents", m.amount_cents));
		else
			TTLOG_ERROR("http", "request {} failed with status {}",
				    TTLOG_U64("request_id", m.request_id), TTLOG_I64("status", m.status));
	}
	TTLOG_INFO("gateway", "gateway done");
}

static void auth(int up, int down)
{
	struct msg m;

	while (recv_msg(up, &m)) {
		TTLOG_DEBUG("auth", "request {}: user {} authorized", TTLOG_U64("request_id", m.request_id),
			    TTLOG_U64("user", m.user), TTLOG_STR("role", "customer"));
		if (!call(down, &m)) {
			m.status = 503;
			TTLOG_ERROR("auth", "request {}: orders unreachable",
				    TTLOG_U64("request_id", m.request_id));
		} else if (m.status != 200) {
			TTLOG_WARN("auth", "request {} failed downstream with {}",
				   TTLOG_U64("request_id", m.request_id), TTLOG_I64("status", m.status));
		}
		send_msg(up, &m);
	}
	TTLOG_INFO("auth", "gateway closed the connection");
}

static void orders(int up, int down)
{
	struct msg m;
	int billing_alive = 1;

	while (recv_msg(up, &m)) {
		uint64_t unit = 250 + 100 * (m.request_id % 7);
		m.amount_cents = unit * m.qty;
		TTLOG_INFO("orders", "request {}: reserved {} x{}", TTLOG_U64("request_id", m.request_id),
			   TTLOG_STR("item", m.item), TTLOG_U64("qty", m.qty));
		if (!billing_alive) {
			m.status = 503;
			TTLOG_WARN("orders", "request {}: billing is down, refused",
				   TTLOG_U64("request_id", m.request_id));
		} else if (!call(down, &m)) {
			billing_alive = 0;
			m.status = 502;
			TTLOG_ERROR("orders", "request {}: billing connection lost, reservation released",
				    TTLOG_U64("request_id", m.request_id), TTLOG_STR("item", m.item));
		}
		send_msg(up, &m);
	}
	TTLOG_INFO("orders", "auth closed the connection");
}

static void billing(int up)
{
	struct msg m;

	while (recv_msg(up, &m)) {
		TTLOG_INFO("billing", "request {}: charging {} cents",
			   TTLOG_U64("request_id", m.request_id), TTLOG_U64("amount_cents", m.amount_cents));
		if (m.request_id == CRASH_ID) {
			/* the bug: a ledger entry that was never created */
			volatile uint64_t *ledger = NULL;
			TTLOG_WARN("billing", "request {}: no ledger for user {}",
				   TTLOG_U64("request_id", m.request_id), TTLOG_U64("user", m.user));
			*ledger += m.amount_cents; /* SIGSEGV: the crash handler writes a snapshot */
		}
		m.status = 200;
		send_msg(up, &m);
	}
}

/* ---- the launcher ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
	int link[NODES - 1][2]; /* link[i]: node i (end 0) to node i+1 (end 1) */
	pid_t pid[NODES];
	int requests = argc > 2 ? atoi(argv[2]) : 10, failed = 0;
	int crash = requests > CRASH_ID - FIRST_ID; /* billing meets request 1007 */

	if (argc < 2 || argc > 3 || requests < 1) {
		fprintf(stderr, "usage: complex DIR [REQUESTS]\n");
		return 2;
	}
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	for (int i = 0; i < NODES - 1; i++)
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, link[i]) < 0) {
			perror("socketpair");
			return 1;
		}
	for (int n = 0; n < NODES; n++) {
		if ((pid[n] = fork()) < 0) {
			perror("fork");
			return 1;
		}
		if (pid[n] > 0)
			continue;
		/* the node: keep only its own ends */
		int up = n > 0 ? link[n - 1][1] : -1, down = n < NODES - 1 ? link[n][0] : -1;
		for (int i = 0; i < NODES - 1; i++) {
			if (link[i][0] != down)
				close(link[i][0]);
			if (link[i][1] != up)
				close(link[i][1]);
		}
		if (n == BILLING) { /* no core file for a planned crash */
			struct rlimit no_core = {0, 0};
			setrlimit(RLIMIT_CORE, &no_core);
		}
		if (start_ttlog(argv[1], node_name[n]) < 0)
			_exit(1);
		switch (n) {
		case GATEWAY: gateway(down, requests); break;
		case AUTH: auth(up, down); break;
		case ORDERS: orders(up, down); break;
		default: billing(up); break;
		}
		if (down >= 0)
			close(down); /* the next node sees the end and stops too */
		ttlog_shutdown(); /* the final snapshot */
		_exit(0);
	}
	for (int i = 0; i < NODES - 1; i++) {
		close(link[i][0]);
		close(link[i][1]);
	}
	for (int n = 0; n < NODES; n++) {
		int st;
		if (waitpid(pid[n], &st, 0) < 0) {
			perror("waitpid");
			return 1;
		}
		if (WIFSIGNALED(st)) {
			printf("%-8s pid %d: killed by signal %d (%s)\n", node_name[n], (int)pid[n],
			       WTERMSIG(st), strsignal(WTERMSIG(st)));
			failed |= n != BILLING || !crash || WTERMSIG(st) != SIGSEGV;
		} else {
			printf("%-8s pid %d: exited with %d\n", node_name[n], (int)pid[n], WEXITSTATUS(st));
			failed |= (n == BILLING && crash) || WEXITSTATUS(st) != 0;
		}
	}
	printf("snapshots in %s; the story of request %d:\n  ttlog-view --field request_id=%d %s\n",
	       argv[1], CRASH_ID, CRASH_ID, argv[1]);
	return failed;
}
