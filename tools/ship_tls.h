/*
 * ship_tls.h - TLS for ttlog-ship's syslog+tls:// destination (RFC 5425), through GnuTLS:
 * the server's certificate is verified against the CA file (or the system's trust store)
 * and its name against the URL's host. Each function returns 0 or -1 with err filled.
 */
#ifndef TTLOG_SHIP_TLS_H
#define TTLOG_SHIP_TLS_H

#include <stddef.h>

struct ship_tls_cred;
struct ship_tls;

/* The trust store: ca_file (PEM), or the system's when NULL. */
int ship_tls_cred_new(struct ship_tls_cred **out, const char *ca_file, char *err, size_t errlen);
void ship_tls_cred_free(struct ship_tls_cred *cred);
/* Handshake on the connected socket fd (its timeouts apply) and verify the peer as host. */
int ship_tls_start(struct ship_tls **out, struct ship_tls_cred *cred, int fd, const char *host,
		   char *err, size_t errlen);
int ship_tls_write(struct ship_tls *t, const char *p, size_t n, char *err, size_t errlen);
/* close_notify, our side shut down, then the peer's close: the acknowledgement. */
int ship_tls_finish(struct ship_tls *t, char *err, size_t errlen);
/* Free the session (the socket stays open: the caller closes it). NULL is fine. */
void ship_tls_free(struct ship_tls *t);

#endif /* TTLOG_SHIP_TLS_H */
