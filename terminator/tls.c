/*
 * tls.c - BoringSSL server setup and the callbacks that pick a site.
 *
 * The ClientHello is read through SSL_CLIENT_HELLO and CBS, never by byte
 * arithmetic on our side. The chosen certificate is installed with
 * SSL_set_chain_and_key, which only takes references on the site's
 * CRYPTO_BUFFERs and key: no copy, and a swapped-out certificate stays alive
 * for exactly as long as handshakes that chose it.
 */
#include "tls.h"

#include <string.h>
#include <sys/socket.h>

#include <openssl/bytestring.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certfile.h"
#include "challenge.h"
#include "errbuf.h"
#include "ipname.h"
#include "log.h"
#include "ondemand.h"
#include "sites.h"
#include "sockbio.h"
#include "ticket.h"
#include "tlsnego.h"

#if !defined(OPENSSL_IS_BORINGSSL) && !defined(OPENSSL_IS_AWSLC)
#error "tlsgate is built against AWS-LC or BoringSSL only"
#endif

static int tls_ex_idx = -1;
static char tls_no_sni[1];	/* ts->sni when the client sent none */
/* Set by tls_server_ctx_new() on the main thread at start; read-only after. */
static struct tlsnego_groups tls_groups;

/* Copy the host_name from the server_name extension; 0 if absent or bad. */
static int
hello_sni(const SSL_CLIENT_HELLO *ch, char *out, size_t cap)
{
	const uint8_t	*data;
	size_t		 len;
	CBS		 ext, list, name;
	uint8_t		 type;

	if (!SSL_early_callback_ctx_extension_get(ch, TLSEXT_TYPE_server_name,
	    &data, &len))
		return 0;
	CBS_init(&ext, data, len);
	if (!CBS_get_u16_length_prefixed(&ext, &list) || CBS_len(&ext) != 0)
		return 0;
	while (CBS_len(&list) > 0) {
		if (!CBS_get_u8(&list, &type) ||
		    !CBS_get_u16_length_prefixed(&list, &name))
			return 0;
		if (type != TLSEXT_NAMETYPE_host_name)
			continue;
		if (CBS_len(&name) == 0 || CBS_len(&name) >= cap ||
		    CBS_contains_zero_byte(&name))
			return 0;
		memcpy(out, CBS_data(&name), CBS_len(&name));
		out[CBS_len(&name)] = '\0';
		for (char *p = out; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + 32);
		return 1;
	}
	return 0;
}

/*
 * Whether the client can verify an ECDSA P-256 certificate: it must offer
 * ecdsa_secp256r1_sha256, and for TLS 1.2 also an ECDHE-ECDSA suite.
 */
static int
client_takes_ecdsa(const SSL_CLIENT_HELLO *ch)
{
	const uint8_t	*data;
	size_t		 len;
	CBS		 ext, list, suites;

	if (!SSL_early_callback_ctx_extension_get(ch,
	    TLSEXT_TYPE_signature_algorithms, &data, &len))
		return 0;
	CBS_init(&ext, data, len);
	if (!CBS_get_u16_length_prefixed(&ext, &list) ||
	    !tlsnego_has_u16(list, SSL_SIGN_ECDSA_SECP256R1_SHA256))
		return 0;
	if (SSL_early_callback_ctx_extension_get(ch,
	    TLSEXT_TYPE_supported_versions, &data, &len)) {
		CBS_init(&ext, data, len);
		if (CBS_get_u8_length_prefixed(&ext, &list) &&
		    tlsnego_has_u16(list, TLS1_3_VERSION))
			return 1;
	}
	CBS_init(&suites, ch->cipher_suites, ch->cipher_suites_len);
	return tlsnego_has_u16(suites, 0xc02b) || tlsnego_has_u16(suites, 0xc02c) ||
	    tlsnego_has_u16(suites, 0xcca9);
}

/* Whether the client offers the "acme-tls/1" protocol (RFC 8737). */
static int
hello_acme_tls(const SSL_CLIENT_HELLO *ch)
{
	static const char	 want[] = "acme-tls/1";
	const uint8_t		*data;
	size_t			 len;
	CBS			 ext, list, proto;

	if (!SSL_early_callback_ctx_extension_get(ch,
	    TLSEXT_TYPE_application_layer_protocol_negotiation, &data, &len))
		return 0;
	CBS_init(&ext, data, len);
	if (!CBS_get_u16_length_prefixed(&ext, &list))
		return 0;
	while (CBS_get_u8_length_prefixed(&list, &proto))
		if (CBS_len(&proto) == sizeof(want) - 1 &&
		    memcmp(CBS_data(&proto), want, sizeof(want) - 1) == 0)
			return 1;
	return 0;
}

/*
 * The certificate of an on-demand name: served from memory, or the
 * handshake pauses (the library calls us again once conn.c is woken), or
 * it is refused (the servername callback sends unrecognized_name).
 */
static enum ssl_select_cert_result_t
tls_select_ondemand(const SSL_CLIENT_HELLO *ch, struct tls_state *ts)
{
	struct certfile	*cf = NULL;
	struct od_wait	*w = NULL;
	int		 ok;

	if (ts->od_late) {
		ts->od_refused = "the certificate was not ready in time";
		ts->no_site = 1;
		return ssl_select_cert_success;
	}
	switch (ondemand_get(ts->sni, ts->peer, ts->od_woken, &cf, &w,
	    &ts->od_refused)) {
	case OD_READY:
		ts->site = ts->view->ondemand;
		ok = SSL_set_chain_and_key(ch->ssl, cf->chain, cf->nchain, cf->key,
		    NULL);
		certfile_unref(cf);
		return ok ? ssl_select_cert_success : ssl_select_cert_error;
	case OD_PENDING:
		ts->odw = w;
		return ssl_select_cert_retry;
	default:
		ts->no_site = 1;
		return ssl_select_cert_success;
	}
}

/* The TLS-ALPN-01 certificate for sni, which may end in a dot (RFC 8738's
 * reverse names often do): a new reference, or NULL. */
static struct certfile *
challenge_get(const char *sni)
{
	char	name[TLS_SNI_MAX + 1];
	size_t	n = strlen(sni);

	if (n < 2 || sni[n - 1] != '.')
		return challenge_tlsalpn_get(sni);
	memcpy(name, sni, n - 1);
	name[n - 1] = '\0';
	return challenge_tlsalpn_get(name);
}

/*
 * The site for this handshake: by SNI (exact, wildcard, default); but with
 * no SNI, a site named by the IP address the client connected to (the local
 * address of the accepted socket: an RFC 8738 certificate), and with an IP
 * literal as SNI, which RFC 6066 forbids but some clients send, the site
 * named by that address. getsockname() runs only if some site has an IP
 * name, and only for clients without SNI.
 */
static struct site *
lookup_site(const struct tls_state *ts)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	struct ipname		 ip;
	struct site		*s;

	if (ts->view->nipnames == 0)
		return view_lookup(ts->view, ts->sni[0] ? ts->sni : NULL);
	if (ts->sni[0] == '\0') {
		if (ts->local_fd > 0 &&
		    getsockname(ts->local_fd, (struct sockaddr *)&ss, &len) == 0 &&
		    ipname_from_sockaddr((struct sockaddr *)&ss, &ip) == 0 &&
		    (s = view_lookup_ip(ts->view, &ip)) != NULL)
			return s;
		return view_lookup(ts->view, NULL);
	}
	if (ipname_parse(ts->sni, &ip) == 0)
		return (s = view_lookup_ip(ts->view, &ip)) != NULL ? s : ts->view->def;
	return view_lookup(ts->view, ts->sni);
}

static enum ssl_select_cert_result_t
tls_select_cert(const SSL_CLIENT_HELLO *ch)
{
	struct tls_state	*ts = SSL_get_ex_data(ch->ssl, tls_ex_idx);
	struct certfile		*cf;
	struct site		*s;

	if (ts == NULL || ts->view == NULL)
		return ssl_select_cert_error;
	if (tlsnego_hello(ch, &tls_groups) == -1)
		return ssl_select_cert_error;
	{
		char name[TLS_SNI_MAX + 1];

		tls_state_clear(ts);
		if (hello_sni(ch, name, sizeof(name)) && name[0] != '\0' &&
		    (ts->sni = strdup(name)) == NULL) {
			ts->sni = tls_no_sni;
			return ssl_select_cert_error;
		}
	}
	/*
	 * TLS-ALPN-01: the CA's validation handshake gets the challenge
	 * certificate, and nothing else does: a normal client never offers
	 * acme-tls/1, and without a challenge in flight it is refused.
	 */
	if (hello_acme_tls(ch)) {
		if (ts->sni[0] == '\0' || (cf = challenge_get(ts->sni)) == NULL) {
			ts->no_site = 1;
			return ssl_select_cert_success;
		}
		ts->acme_challenge = 1;
		if (!SSL_set_chain_and_key(ch->ssl, cf->chain, cf->nchain, cf->key, NULL)) {
			certfile_unref(cf);
			return ssl_select_cert_error;
		}
		certfile_unref(cf);
		return ssl_select_cert_success;
	}
	s = lookup_site(ts);
	/* A name no site has: on-demand TLS, when it is on. */
	if (ts->sni[0] != '\0' && ts->view->ondemand != NULL &&
	    (s == NULL || (s == ts->view->def && !site_has_name(s, ts->sni))))
		return tls_select_ondemand(ch, ts);
	/* An ACME site still waiting for its first certificate: the default's. */
	if (s != NULL && s->ec == NULL && s->rsa == NULL)
		s = ts->view->def != NULL && (ts->view->def->ec || ts->view->def->rsa) ?
		    ts->view->def : NULL;
	if (s == NULL) {
		/* The servername callback sends unrecognized_name. */
		ts->no_site = 1;
		return ssl_select_cert_success;
	}
	ts->site = s;
	cf = s->ec != NULL && (s->rsa == NULL || client_takes_ecdsa(ch)) ? s->ec : s->rsa;
	if (!SSL_set_chain_and_key(ch->ssl, cf->chain, cf->nchain, cf->key, NULL))
		return ssl_select_cert_error;
	return ssl_select_cert_success;
}

static int
tls_servername(SSL *ssl, int *alert, void *arg)
{
	struct tls_state *ts = SSL_get_ex_data(ssl, tls_ex_idx);

	if (ts == NULL || ts->no_site) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return ts->sni[0] != '\0' ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

static int
tls_alpn_select(SSL *ssl, const uint8_t **out, uint8_t *outlen, const uint8_t *in,
    unsigned inlen, void *arg)
{
	static const uint8_t	 acme_tls[] = "\x0a" "acme-tls/1";
	struct tls_state	*ts = SSL_get_ex_data(ssl, tls_ex_idx);
	uint8_t			*sel;

	if (ts != NULL && ts->acme_challenge) {
		if (SSL_select_next_proto(&sel, outlen, acme_tls, sizeof(acme_tls) - 1,
		    in, inlen) != OPENSSL_NPN_NEGOTIATED)
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	if (ts == NULL || ts->site == NULL || ts->site->alpn == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	/* Server preference: the site's order wins. */
	if (SSL_select_next_proto(&sel, outlen, ts->site->alpn,
	    (unsigned)ts->site->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
tls_server_ctx_new(const char *groups, struct errbuf *eb)
{
	static const uint8_t	 sid_ctx[] = "tlsgate";
	SSL_CTX			*ctx;
	const char		*why;

	if (groups == NULL)
		groups = tlsnego_default_groups();
	if ((why = tlsnego_groups_parse(groups, &tls_groups)) != NULL) {
		errbuf_set(eb, "tls.groups \"%s\": %s", groups, why);
		return NULL;
	}

	if (tls_ex_idx == -1)
		tls_ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if ((ctx = SSL_CTX_new(TLS_method())) == NULL)
		return errbuf_ssl(eb, "SSL_CTX_new"), NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    /* TLS 1.2: forward-secret AEAD suites only (TLS 1.3's are fixed). */
	    !SSL_CTX_set_strict_cipher_list(ctx,
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") ||
	    tlsnego_ctx_groups(ctx, &tls_groups) == -1 ||
	    !SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) ||
	    ticket_init(ctx) == -1) {
		errbuf_ssl(eb, "server TLS settings");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Stateless resumption only: tickets, no per-process session cache. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	sockbio_ctx_read_ahead(ctx);
	SSL_CTX_set_select_certificate_cb(ctx, tls_select_cert);
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_servername);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, NULL);
	return ctx;
}

void
tls_attach(SSL *ssl, struct tls_state *ts)
{
	if (ts->sni == NULL)
		ts->sni = tls_no_sni;
	SSL_set_ex_data(ssl, tls_ex_idx, ts);
}

void
tls_state_clear(struct tls_state *ts)
{
	if (ts->sni != tls_no_sni)
		free(ts->sni);
	ts->sni = tls_no_sni;
}

const char *
tls_version_name(const SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *
tls_alpn_name(const SSL *ssl, char *buf, size_t cap)
{
	const uint8_t	*p;
	unsigned	 n;

	SSL_get0_alpn_selected(ssl, &p, &n);
	if (n == 0 || cap == 0)
		return "-";
	/* The client's bytes when it is acme-tls/1's peer: a log field, escaped. */
	return log_field_escape(buf, cap, (const char *)p, n);
}
