/*
 * ship_tls.c - TLS sessions for syslog+tls:// through GnuTLS (ship_tls.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ship_tls.h"

struct ship_tls_cred {
	gnutls_certificate_credentials_t x509;
};

struct ship_tls {
	gnutls_session_t s;
	int fd;
};

int ship_tls_cred_new(struct ship_tls_cred **out, const char *ca_file, char *err, size_t errlen)
{
	struct ship_tls_cred *c = calloc(1, sizeof *c);
	int rc;

	if (c == NULL || gnutls_certificate_allocate_credentials(&c->x509) < 0) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (ca_file != NULL)
		rc = gnutls_certificate_set_x509_trust_file(c->x509, ca_file, GNUTLS_X509_FMT_PEM);
	else
		rc = gnutls_certificate_set_x509_system_trust(c->x509);
	if (rc <= 0) { /* the number of certificates loaded: none is an error too */
		snprintf(err, errlen, "%s: %s", ca_file ? ca_file : "system trust store",
			 rc == 0 ? "no CA certificate in it" : gnutls_strerror(rc));
		gnutls_certificate_free_credentials(c->x509);
		free(c);
		return -1;
	}
	*out = c;
	return 0;
}

void ship_tls_cred_free(struct ship_tls_cred *cred)
{
	if (cred == NULL)
		return;
	gnutls_certificate_free_credentials(cred->x509);
	free(cred);
}

static int fail(struct ship_tls *t, int rc, const char *what, char *err, size_t errlen)
{
	if (rc == GNUTLS_E_AGAIN)
		snprintf(err, errlen, "TLS %s: timed out", what);
	else if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR && t != NULL) {
		gnutls_datum_t why = {0};
		unsigned status = gnutls_session_get_verify_cert_status(t->s);
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
		snprintf(err, errlen, "TLS %s: %s", what, why.data ? (char *)why.data : "?");
		gnutls_free(why.data);
	} else
		snprintf(err, errlen, "TLS %s: %s", what, gnutls_strerror(rc));
	return -1;
}

int ship_tls_start(struct ship_tls **out, struct ship_tls_cred *cred, int fd, const char *host,
		   char *err, size_t errlen)
{
	struct ship_tls *t = calloc(1, sizeof *t);
	int rc;

	*out = NULL;
	if (t == NULL || gnutls_init(&t->s, GNUTLS_CLIENT) < 0) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->fd = fd;
	if ((rc = gnutls_set_default_priority(t->s)) < 0 ||
	    (rc = gnutls_credentials_set(t->s, GNUTLS_CRD_CERTIFICATE, cred->x509)) < 0 ||
	    (rc = gnutls_server_name_set(t->s, GNUTLS_NAME_DNS, host, strlen(host))) < 0) {
		fail(t, rc, "setup", err, errlen);
		ship_tls_free(t);
		return -1;
	}
	gnutls_session_set_verify_cert(t->s, host, 0);
	gnutls_transport_set_int(t->s, fd);
	do
		rc = gnutls_handshake(t->s);
	while (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc));
	if (rc < 0) {
		fail(t, rc, "handshake", err, errlen);
		ship_tls_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int ship_tls_write(struct ship_tls *t, const char *p, size_t n, char *err, size_t errlen)
{
	ssize_t w;

	while (n > 0) {
		w = gnutls_record_send(t->s, p, n);
		if (w == GNUTLS_E_INTERRUPTED)
			continue;
		if (w < 0)
			return fail(t, (int)w, "send", err, errlen);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ship_tls_finish(struct ship_tls *t, char *err, size_t errlen)
{
	char buf[512];
	ssize_t r;
	int rc;

	do
		rc = gnutls_bye(t->s, GNUTLS_SHUT_WR);
	while (rc == GNUTLS_E_INTERRUPTED);
	if (rc < 0)
		return fail(t, rc, "close", err, errlen);
	if (shutdown(t->fd, SHUT_WR) < 0) {
		snprintf(err, errlen, "shutdown: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		r = gnutls_record_recv(t->s, buf, sizeof buf);
		if (r == 0)
			return 0; /* the peer's close_notify */
		/* a peer that closes the TCP connection after reading everything, without a
		 * close_notify of its own (rsyslog does this), is a clean close too: a reset
		 * or a timeout is not */
		if (r == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		if (r == GNUTLS_E_INTERRUPTED || (r > 0))
			continue;
		return fail(t, (int)r, "waiting for the receiver to close", err, errlen);
	}
}

void ship_tls_free(struct ship_tls *t)
{
	if (t == NULL)
		return;
	gnutls_deinit(t->s);
	free(t);
}
