/*
 * ship_syslog.c - the syslog destinations of ttlog-ship: syslog://HOST:PORT (TCP) and
 * syslog+tls://HOST:PORT (TLS through GnuTLS, ship_tls.c). Each event is an RFC 5424
 * message (rfc5424.c), framed by octet counting (RFC 6587 3.4.1: "LEN SP MSG"); the
 * snapshot's counters go first as a message of their own.
 *
 * Acknowledgement: syslog over TCP has none. A snapshot is delivered when all its bytes
 * were written, our side was shut down (SHUT_WR, or TLS close_notify), and the peer then
 * closed its side cleanly (EOF, no reset): a receiver closes after it has read everything
 * we sent, and a peer that dies with bytes unread resets the connection instead. One
 * connection per snapshot, so that this acknowledges exactly that snapshot. What remains
 * (docs/ship.md): the peer has read the bytes, not necessarily stored them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "rfc5424.h"
#include "ship.h"
#include "ship_tls.h"

/* bytes gathered before a write */
#define BATCH_BYTES (64 * 1024)

struct syslog_dest {
	char host[256], port[16];
	bool tls;
	struct ship_opts opts;
	struct ship_tls_cred *cred; /* TLS: the trust store, loaded once */
};

struct conn {
	int fd;
	struct ship_tls *tls; /* NULL: plain TCP */
	/* the address connected to, for the probe after the close */
	struct addrinfo ai;
	struct sockaddr_storage addr;
};

/* ---- URL ---------------------------------------------------------------------- */

/* HOST[:PORT] or [V6]:PORT after the scheme; a path, user or query is refused. */
static int parse_url(struct syslog_dest *d, const char *url, const char *scheme,
		     const char *defport, char *err, size_t errlen)
{
	const char *p = url + strlen(scheme) + 3, *host, *hend, *port = NULL;
	size_t hl;

	if (*p == '[') {
		host = p + 1;
		if ((hend = strchr(host, ']')) == NULL)
			goto bad;
		p = hend + 1;
	} else {
		host = p;
		hend = p + strcspn(p, ":/?#@");
		p = hend;
	}
	if (*p == ':') {
		port = p + 1;
		p = port + strspn(port, "0123456789");
		if (p == port || p - port > 5 || atoi(port) < 1 || atoi(port) > 65535)
			goto bad;
	}
	if (*p != '\0' && strcmp(p, "/") != 0)
		goto bad;
	hl = (size_t)(hend - host);
	if (hl == 0 || hl >= sizeof d->host)
		goto bad;
	memcpy(d->host, host, hl);
	d->host[hl] = '\0';
	if (port)
		snprintf(d->port, sizeof d->port, "%d", atoi(port));
	else
		snprintf(d->port, sizeof d->port, "%s", defport);
	return 0;
bad:
	snprintf(err, errlen, "%s: not %s://HOST[:PORT]", url, scheme);
	return -EINVAL;
}

static int open_common(const char *url, const struct ship_opts *o, void **ctx, char *err,
		       size_t errlen, bool tls)
{
	struct syslog_dest *d = calloc(1, sizeof *d);
	int rc;

	if (d == NULL)
		return -ENOMEM;
	d->tls = tls;
	d->opts = *o;
	rc = parse_url(d, url, tls ? "syslog+tls" : "syslog", tls ? "6514" : "514", err, errlen);
	if (rc == 0 && tls)
		rc = ship_tls_cred_new(&d->cred, o->ca_file, err, errlen);
	if (rc < 0) {
		free(d);
		return rc;
	}
	*ctx = d;
	return 0;
}

static int open_tcp(const char *url, const struct ship_opts *o, void **ctx, char *err,
		    size_t errlen)
{
	return open_common(url, o, ctx, err, errlen, false);
}

static int open_tls(const char *url, const struct ship_opts *o, void **ctx, char *err,
		    size_t errlen)
{
	return open_common(url, o, ctx, err, errlen, true);
}

static void close_dest(void *ctx)
{
	struct syslog_dest *d = ctx;

	if (d == NULL)
		return;
	ship_tls_cred_free(d->cred);
	free(d);
}

/* ---- connection ----------------------------------------------------------------- */

static int connect_one(const struct addrinfo *ai, int timeout_s)
{
	struct timeval tv = {.tv_sec = timeout_s};
	struct pollfd pfd;
	socklen_t sl = sizeof(int);
	int fd, e = 0, rc;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			e = -errno;
			close(fd);
			return e;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		do
			rc = poll(&pfd, 1, timeout_s * 1000);
		while (rc < 0 && errno == EINTR);
		if (rc == 0)
			e = -ETIMEDOUT;
		else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
			e = -errno;
		else
			e = -e;
		if (e < 0) {
			close(fd);
			return e;
		}
	}
	/* blocking from here, each send and recv bounded by the timeout */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
		e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int conn_open(struct conn *c, struct syslog_dest *d, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int rc, fd = -ENOENT;

	memset(c, 0, sizeof *c);
	c->fd = -1;
	if ((rc = getaddrinfo(d->host, d->port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", d->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((fd = connect_one(ai, d->opts.timeout_s)) >= 0)
			break;
	if (ai != NULL && ai->ai_addrlen <= sizeof c->addr) {
		c->ai = *ai;
		memcpy(&c->addr, ai->ai_addr, ai->ai_addrlen);
		c->ai.ai_addr = (struct sockaddr *)&c->addr;
		c->ai.ai_next = NULL;
		c->ai.ai_canonname = NULL;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "connect: %s", strerror(-fd));
		return -1;
	}
	c->fd = fd;
	if (d->tls && ship_tls_start(&c->tls, d->cred, fd, d->host, err, errlen) < 0) {
		close(fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	ship_tls_free(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->tls = NULL;
}

static int conn_write(struct conn *c, const char *p, size_t n, char *err, size_t errlen)
{
	ssize_t w;

	if (c->tls)
		return ship_tls_write(c->tls, p, n, err, errlen);
	while (n > 0) {
		w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			snprintf(err, errlen, "send: %s",
				 errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Our side done, then the peer's clean close: the acknowledgement. */
static int conn_finish(struct conn *c, char *err, size_t errlen)
{
	char buf[512];
	ssize_t r;

	if (c->tls)
		return ship_tls_finish(c->tls, err, errlen);
	if (shutdown(c->fd, SHUT_WR) < 0) {
		snprintf(err, errlen, "shutdown: %s", strerror(errno));
		return -1;
	}
	for (;;) { /* a syslog receiver sends nothing; whatever comes is read and dropped */
		r = recv(c->fd, buf, sizeof buf, 0);
		if (r == 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "waiting for the receiver to close: %s",
				 errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
	}
}

/*
 * The receiver closed our connection: was it the receiver, or its death? A process that is
 * killed after it read our last bytes but before it handled them closes the connection
 * the same clean way (the kernel does it). So the close counts only when the receiver
 * still accepts a connection afterwards: a dead one refuses it. The probe carries nothing
 * (rsyslog and syslog-ng drop an empty session silently; with TLS it ends before the
 * handshake). What it cannot see: a receiver restarted in between, or a listening socket
 * that outlives the receiver (systemd socket activation). docs/ship.md.
 */
static int probe(struct conn *c, struct syslog_dest *d, char *err, size_t errlen)
{
	int fd;

	if (c->ai.ai_addr == NULL)
		return 0;
	if ((fd = connect_one(&c->ai, d->opts.timeout_s)) < 0) {
		snprintf(err, errlen,
			 "the receiver closed, then refused a new connection (%s): "
			 "it may have died before handling the last messages",
			 strerror(-fd));
		return -1;
	}
	close(fd);
	return 0;
}

/* ---- delivery -------------------------------------------------------------------- */

/* Frame msg into batch; write the batch when it is full. */
static int frame(struct conn *c, struct rbuf *batch, struct rbuf *msg, struct ship_sent *sent,
		 char *err, size_t errlen)
{
	if (msg->oom || batch->oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rbuf_addf(batch, "%zu ", msg->len);
	rbuf_add(batch, msg->p, msg->len);
	sent->messages++;
	msg->len = 0;
	if (batch->len >= BATCH_BYTES) {
		if (batch->oom || conn_write(c, batch->p, batch->len, err, errlen) < 0)
			return -1;
		sent->bytes += batch->len;
		batch->len = 0;
	}
	return 0;
}

static enum ship_result deliver(void *ctx, const struct ship_snap *s, struct ship_sent *sent,
				char *err, size_t errlen)
{
	struct syslog_dest *d = ctx;
	struct rfc5424_snap rs = {0};
	struct rbuf batch = {0}, msg = {0};
	ttlog_snapshot_counters k;
	ttlog_event ev;
	struct conn c;
	uint64_t seq = 0;
	int rc = -1;

	sent->messages = sent->bytes = 0;
	rs.facility = d->opts.facility;
	rs.hostname = ttlog_snapshot_hostname(s->snap);
	rs.service = ttlog_snapshot_service(s->snap);
	rs.reason = ttlog_snapshot_reason(s->snap);
	rs.variant = ttlog_snapshot_variant(s->snap);
	rs.pid = ttlog_snapshot_pid(s->snap);
	rs.created_ns = ttlog_snapshot_created_ns(s->snap);

	if (conn_open(&c, d, err, errlen) < 0)
		return SHIP_RETRY;
	ttlog_snapshot_get_counters(s->snap, &k);
	rfc5424_counters(&msg, &rs, &k, ttlog_snapshot_torn(s->snap),
			 ttlog_snapshot_event_count(s->snap));
	if (frame(&c, &batch, &msg, sent, err, errlen) < 0)
		goto out;
	ttlog_snapshot_rewind(s->snap);
	while (ttlog_snapshot_next(s->snap, &ev) == 1) {
		rfc5424_event(&msg, &rs, &ev, ++seq);
		if (frame(&c, &batch, &msg, sent, err, errlen) < 0)
			goto out;
	}
	if (batch.len > 0) {
		if (conn_write(&c, batch.p, batch.len, err, errlen) < 0)
			goto out;
		sent->bytes += batch.len;
	}
	rc = conn_finish(&c, err, errlen);
	if (rc == 0)
		rc = probe(&c, d, err, errlen);
out:
	conn_close(&c);
	rbuf_free(&batch);
	rbuf_free(&msg);
	rfc5424_snap_free(&rs);
	return rc == 0 ? SHIP_OK : SHIP_RETRY;
}

const struct ship_dest_ops ship_syslog_ops = {
	.scheme = "syslog",
	.open = open_tcp,
	.deliver = deliver,
	.close = close_dest,
};

const struct ship_dest_ops ship_syslog_tls_ops = {
	.scheme = "syslog+tls",
	.open = open_tls,
	.deliver = deliver,
	.close = close_dest,
};
