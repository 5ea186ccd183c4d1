/*
 * tls.h - the server SSL_CTX and per-handshake certificate selection.
 *
 * One SSL_CTX serves every site on every worker. The certificate is chosen in
 * the TLS library's select-certificate callback (which also makes the
 * server's group and suite choices: tlsnego.h) from the connection's view: exact
 * SNI, then a one-label wildcard, then the default site; without SNI, first a
 * site named by the IP address the client connected to (RFC 8738). Clients that offer
 * ECDSA get a site's ECDSA certificate; others get its RSA one.
 * The context is made on the main thread at start and shared read-only; the
 * callbacks run on the worker that owns the connection.
 */
#ifndef TLSGATE_TLS_H
#define TLSGATE_TLS_H

#include <openssl/base.h>

struct errbuf;
struct od_wait;
struct site;
struct sockaddr;
struct view;

/* Per-connection TLS state, owned by the connection and linked to its SSL. */
struct tls_state {
	struct view	*view;		/* borrowed: the connection holds the ref */
	struct site	*site;		/* chosen in the callback; NULL before */
	int		 no_site;	/* unknown SNI and no default */
	int		 acme_challenge;	/* a TLS-ALPN-01 validation */
	/* The client's server name: "" if it sent none; otherwise owned
	 * (exactly its length: an idle connection should not carry 256
	 * bytes for it). tls_attach() sets "", tls_state_clear() frees. */
	char		*sni;
	/* On-demand TLS (ondemand.h): the client's address, for the ask
	 * endpoint and its limits; and, while the handshake is paused for a
	 * certificate (SSL_ERROR_PENDING_CERTIFICATE), the wait to bind. */
	const struct sockaddr *peer;
	/* The accepted socket, whose local address picks a site named by an
	 * IP address for a client that sends no SNI; 0: unknown. */
	int		 local_fd;
	struct od_wait	*odw;
	const char	*od_refused;	/* why on-demand said no, or NULL */
	int		 od_woken;	/* the wait ended: take its answer */
	int		 od_late;	/* the wait timed out: refuse with an alert */
};
#define TLS_SNI_MAX	255	/* longest host_name kept */

/* The shared server context (TLS 1.2-1.3, modern suites, key-exchange
 * groups from tls.groups, or tlsnego_default_groups() when NULL). */
SSL_CTX	*tls_server_ctx_new(const char *groups, struct errbuf *eb);
/* Link ts to ssl (before the handshake starts). */
void	 tls_attach(SSL *ssl, struct tls_state *ts);
/* Free what ts owns (its sni); ts->sni is "" after. */
void	 tls_state_clear(struct tls_state *ts);
/* "TLSv1.3" etc.; the negotiated ALPN escaped by log_field_escape() (so
 * cap should be LOG_FIELD_CAP(255)), or "-". */
const char *tls_version_name(const SSL *ssl);
const char *tls_alpn_name(const SSL *ssl, char *buf, size_t cap);

#endif
