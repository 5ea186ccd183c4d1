/*
 * pool_tls.c - TLS to a backend, the same for every path that re-encrypts:
 * the TCP relay (conn_backend.c) and HTTP mode's HTTP/1.1 and HTTP/2
 * upstreams (http/upstream.c, http/h2up.c). The callers keep their own
 * states, logs and retries; this is the setup, one handshake step and the
 * failure's wording. Contract in pool.h.
 */
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sockbio.h"

char *
pool_tls_error(char *e, size_t elen)
{
	uint32_t	 err = ERR_get_error();
	const char	*r = err != 0 ? ERR_reason_error_string(err) : NULL;

	if (err != 0)
		snprintf(e, elen, "%s", r != NULL ? r : "error");
	else
		snprintf(e, elen, "%s", errno ? strerror(errno) : "unexpected EOF");
	ERR_clear_error();
	return e;
}

SSL *
pool_tls_new(const struct pool *p, SSL_CTX *ctx, struct backend *b, int fd,
    struct sockbio_buf *rb)
{
	SSL *ssl;

	if ((ssl = SSL_new(ctx)) == NULL)
		return NULL;
	if (sockbio_attach(ssl, fd, rb) == -1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_connect_state(ssl);
	pool_tls_prepare(ssl, b);
	if (p->tls_name != NULL) {
		SSL_set_tlsext_host_name(ssl, p->tls_name);
		if (p->tls_verify)
			SSL_set1_host(ssl, p->tls_name);
	}
	return ssl;
}

int
pool_tls_handshake(SSL *ssl, short *want, char *e, size_t elen)
{
	long	vr;
	int	r;

	ERR_clear_error();
	if ((r = SSL_do_handshake(ssl)) == 1)
		return 1;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*want = EV_READ;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*want = EV_WRITE;
		return 0;
	default:
		if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
			ERR_clear_error();
			snprintf(e, elen, "certificate verify failed: %s",
			    X509_verify_cert_error_string(vr));
		} else
			pool_tls_error(e, elen);
		return -1;
	}
}
