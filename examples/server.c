/*
 * server.c - a small key-value server on loopback TCP that logs every request with
 * fields, and writes a snapshot when it receives SIGUSR2: the flight recorder of a live
 * service, asked for its recent history without stopping it.
 *
 *   server [PORT]            serve on 127.0.0.1:PORT (none or 0: a free port); prints
 *                            "listening on 127.0.0.1:PORT" once ready; SIGUSR2 writes a
 *                            snapshot (reason "signal"), SIGTERM or SIGINT stop it with a
 *                            final snapshot (reason "shutdown")
 *   server --client PORT N   send N requests over one connection, print a summary
 *
 * Protocol: one line per request, "GET key" or "PUT key value"; one line per reply:
 * "200 value", "201 stored", "404 not found", "400 bad request". One thread per
 * connection (at most MAX_CONN at a time). Snapshots go to $TTLOG_SNAPSHOT_DIR (/tmp).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ttlog/ttlog.h>

#define MAX_CONN 32
#define MAX_KEYS 256

/* ---- the store: a small table under a lock (an example, not a database) ---- */

static struct {
	char key[32], value[64];
} store[MAX_KEYS];
static size_t nstore;
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;

static int store_get(const char *key, char *out, size_t len)
{
	int found = 0;

	pthread_mutex_lock(&store_lock);
	for (size_t i = 0; i < nstore && !found; i++)
		if (strcmp(store[i].key, key) == 0) {
			snprintf(out, len, "%s", store[i].value);
			found = 1;
		}
	pthread_mutex_unlock(&store_lock);
	return found;
}

static int store_put(const char *key, const char *value)
{
	size_t i;
	int ok = 1;

	pthread_mutex_lock(&store_lock);
	for (i = 0; i < nstore && strcmp(store[i].key, key) != 0; i++)
		;
	if (i == nstore && nstore == MAX_KEYS)
		ok = 0;
	else {
		snprintf(store[i].key, sizeof store[i].key, "%s", key);
		snprintf(store[i].value, sizeof store[i].value, "%s", value);
		nstore += i == nstore;
	}
	pthread_mutex_unlock(&store_lock);
	return ok;
}

/* ---- connections ---- */

struct conn {
	pthread_t thread;
	int fd;
	uint64_t id;
	uint16_t peer_port;
	/* 0 free, 1 running, 2 finished (to be joined); the acceptor writes 0 and 1, the
	 * connection's thread writes 2 when it is done with fd */
	_Atomic int state;
};

static struct conn conns[MAX_CONN];
static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Handle one request line, write the reply into out; returns the status. */
static int handle(struct conn *c, char *line, char *out, size_t len)
{
	char method[8], key[32], value[64];
	uint64_t t0 = now_us();
	int status, n;

	n = sscanf(line, "%7s %31s %63s", method, key, value);
	if (n >= 2 && strcmp(method, "GET") == 0) {
		char v[64];
		status = store_get(key, v, sizeof v) ? 200 : 404;
		snprintf(out, len, status == 200 ? "200 %s\n" : "404 not found\n", v);
	} else if (n == 3 && strcmp(method, "PUT") == 0) {
		status = store_put(key, value) ? 201 : 507;
		snprintf(out, len, status == 201 ? "201 stored\n" : "507 store full\n");
	} else {
		status = 400;
		snprintf(out, len, "400 bad request\n");
		TTLOG_WARN("server", "bad request on connection {}: {}", TTLOG_U64("conn", c->id),
			   TTLOG_STR("line", line));
		return status;
	}
	/* the request, with what one would filter on later; a record has 40 bytes for
	 * values (u64: 8, a string: 1 + its length), so a longer key would be cut */
	TTLOG_INFO("server", "{} {} -> {}", TTLOG_STR("method", method), TTLOG_STR("key", key),
		   TTLOG_U64("status", (uint64_t)status), TTLOG_U64("latency_us", now_us() - t0));
	return status;
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	char buf[512], reply[128];
	size_t have = 0;
	uint64_t requests = 0;
	ssize_t got;

	TTLOG_INFO("server", "connection {} from port {}", TTLOG_U64("conn", c->id),
		   TTLOG_U64("peer_port", c->peer_port));
	while ((got = recv(c->fd, buf + have, sizeof buf - 1 - have, 0)) > 0) {
		char *line, *nl;
		have += (size_t)got;
		buf[have] = '\0';
		line = buf;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			handle(c, line, reply, sizeof reply);
			requests++;
			if (send(c->fd, reply, strlen(reply), MSG_NOSIGNAL) < 0)
				goto out;
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof buf - 1) { /* a line too long: refuse it */
			TTLOG_WARN("server", "connection {}: line over {} bytes",
				   TTLOG_U64("conn", c->id), TTLOG_U64("limit", sizeof buf - 1));
			break;
		}
	}
out:
	TTLOG_INFO("server", "connection {} closed after {} requests", TTLOG_U64("conn", c->id),
		   TTLOG_U64("requests", requests));
	close(c->fd);
	/* R1: release, pairs with A1 in run_server(): the slot is reused after the join */
	atomic_store_explicit(&c->state, 2, memory_order_release);
	return NULL;
}

static int run_server(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)port)};
	socklen_t alen = sizeof a;
	struct sigaction sa;
	ttlog_config cfg;
	uint64_t next_id = 1;
	int lfd, rc, one = 1;

	ttlog_config_default(&cfg);
	if (cfg.snapshot_signal == 0)
		cfg.snapshot_signal = SIGUSR2; /* unless TTLOG_SNAPSHOT_SIGNAL says otherwise */
	cfg.final_snapshot = true;
	if ((rc = ttlog_init(&cfg)) < 0) {
		fprintf(stderr, "server: ttlog_init: %s\n", ttlog_errmsg());
		return 1;
	}
	ttlog_install_crash_handler();

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		perror("server: listen");
		ttlog_shutdown();
		return 1;
	}
	TTLOG_INFO("server", "listening on port {}", TTLOG_U64("port", ntohs(a.sin_port)));
	printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
	fflush(stdout);

	while (!stopping) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		struct sockaddr_in peer;
		socklen_t plen = sizeof peer;
		struct conn *c = NULL;
		int fd;

		for (int i = 0; i < MAX_CONN; i++) /* reap finished connections */
			/* A1: acquire, pairs with R1 in serve() */
			if (atomic_load_explicit(&conns[i].state, memory_order_acquire) == 2) {
				pthread_join(conns[i].thread, NULL);
				/* relaxed: only this thread reads a free slot */
				atomic_store_explicit(&conns[i].state, 0, memory_order_relaxed);
			}
		if (poll(&p, 1, 200) <= 0)
			continue; /* timeout, or a signal: look at stopping again */
		if ((fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC)) < 0)
			continue;
		for (int i = 0; i < MAX_CONN && c == NULL; i++)
			/* relaxed: 0 is written by this thread only */
			if (atomic_load_explicit(&conns[i].state, memory_order_relaxed) == 0)
				c = &conns[i];
		if (c == NULL) {
			TTLOG_WARN("server", "refused a connection: {} already open",
				   TTLOG_U64("max", MAX_CONN));
			close(fd);
			continue;
		}
		c->fd = fd;
		c->id = next_id++;
		c->peer_port = ntohs(peer.sin_port);
		/* relaxed: pthread_create() publishes the slot to the new thread */
		atomic_store_explicit(&c->state, 1, memory_order_relaxed);
		if (pthread_create(&c->thread, NULL, serve, c) != 0) {
			TTLOG_ERROR("server", "cannot start a thread for connection {}",
				    TTLOG_U64("conn", c->id));
			close(fd);
			atomic_store_explicit(&c->state, 0, memory_order_relaxed);
		}
	}
	/* stop: wake the connection threads and wait for them; no log call may run while
	 * ttlog_shutdown() writes the final snapshot */
	TTLOG_INFO("server", "stopping");
	close(lfd);
	for (int i = 0; i < MAX_CONN; i++) {
		/* A2: acquire, pairs with R1 in serve(): once 2, fd is closed, leave it */
		int st = atomic_load_explicit(&conns[i].state, memory_order_acquire);
		if (st == 1)
			shutdown(conns[i].fd, SHUT_RDWR); /* recv() returns 0: the thread ends */
		if (st != 0)
			pthread_join(conns[i].thread, NULL);
	}
	ttlog_shutdown();
	return 0;
}

/* ---- the client ---- */

static int run_client(int port, int n)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), counts[600] = {0};
	FILE *in;
	char line[256];

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		perror("client: connect");
		return 1;
	}
	if ((in = fdopen(dup(fd), "r")) == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		int len, status;
		switch (i % 4) { /* PUT, GET of it, GET of a missing key, and a bad line */
		case 0: len = snprintf(line, sizeof line, "PUT user%d value%d\n", i, i); break;
		case 1: len = snprintf(line, sizeof line, "GET user%d\n", i - 1); break;
		case 2: len = snprintf(line, sizeof line, "GET nobody%d\n", i); break;
		default: len = snprintf(line, sizeof line, "HELLO %d\n", i); break;
		}
		if (send(fd, line, (size_t)len, MSG_NOSIGNAL) != len || fgets(line, sizeof line, in) == NULL) {
			fprintf(stderr, "client: the server went away after %d requests\n", i);
			return 1;
		}
		if (sscanf(line, "%d", &status) == 1 && status >= 0 && status < 600)
			counts[status]++;
	}
	printf("sent %d requests: %d x 200, %d x 201, %d x 404, %d x 400\n", n, counts[200],
	       counts[201], counts[404], counts[400]);
	fclose(in);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--client") == 0)
		return run_client(atoi(argv[2]), atoi(argv[3]));
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: server [PORT] | server --client PORT N\n");
		return 2;
	}
	return run_server(argc == 2 ? atoi(argv[1]) : 0);
}
