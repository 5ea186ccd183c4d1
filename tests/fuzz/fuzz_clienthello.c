/*
 * fuzz_clienthello - the server side of a handshake through tlsgate's own
 * SSL_CTX (tls_server_ctx_new: select-certificate, servername and ALPN
 * callbacks, session tickets) and a view with four sites: ECDSA and RSA
 * certificates with ALPN, a wildcard, a default, and an ACME site waiting for
 * its first certificate; plus a TLS-ALPN-01 challenge for "alpn.test".
 *
 * Input: one mode byte, then the data.
 *  - mode % 2 == 0 (raw): the rest is the client's first flight, fed to a
 *    server SSL from a memory BIO. The most direct way at the ClientHello
 *    parsing and the callbacks; seeds are captured ClientHellos.
 *  - mode % 2 == 1 (client): the rest drives a real BoringSSL client in the
 *    same process over a BIO pair: byte 1 picks versions and signature
 *    algorithms, byte 2 is the SNI's length, then the SNI and the ALPN list
 *    in wire format. A finished handshake exchanges data and is resumed once
 *    with its ticket.
 * After each handshake, the server's view of it goes through what conn.c
 * does with it: tls_alpn_name(), log_field_escape() and the PROXY header.
 * Everything happens in memory and is bounded by a count of rounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <netinet/in.h>

#include "challenge.h"
#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "proxyhdr.h"
#include "sites.h"
#include "testcert.h"
#include "tls.h"

static SSL_CTX		*server_ctx;
static struct view	*view;

static char *
cert_files(const char *dir, const char *base, const char *type, const char *names,
    char **key)
{
	char *cpem, *kpem, *cpath, name[64];

	if (testcert_make(type, names, 30, &cpem, &kpem) == -1)
		abort();
	snprintf(name, sizeof(name), "%s.key", base);
	*key = testcert_write(dir, name, kpem, 0600);
	snprintf(name, sizeof(name), "%s.pem", base);
	cpath = testcert_write(dir, name, cpem, 0644);
	free(cpem);
	free(kpem);
	return cpath;
}

static void
setup(void)
{
	char			 dir[] = "/tmp/fuzz-clienthello-XXXXXX", *text;
	char			*c1, *k1, *c2, *k2, *c3, *k3, *c4, *k4;
	struct config_errors	 errs = { NULL, 0 };
	struct config		*c;
	struct errbuf		 eb;

	log_set_level(LOG_LVL_ERR);
	if (mkdtemp(dir) == NULL)
		abort();
	c1 = cert_files(dir, "a-ec", "ec", "a.test,www.a.test", &k1);
	c2 = cert_files(dir, "a-rsa", "rsa", "a.test,www.a.test", &k2);
	c3 = cert_files(dir, "w", "ec", "*.w.test", &k3);
	c4 = cert_files(dir, "d", "ec", "d.test", &k4);
	if (asprintf(&text,
	    "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},"
	    " \"acme\": {\"directory\": \"https://127.0.0.1:1/dir\", \"state_dir\": \"%s\"},"
	    " \"sites\": ["
	    "{\"names\": [\"a.test\", \"www.a.test\"], \"mode\": \"tcp\","
	    " \"backends\": [\"127.0.0.1:1\"],"
	    "  \"alpn\": [\"h2\", \"http/1.1\"], \"certificates\": ["
	    "  {\"cert\": \"%s\", \"key\": \"%s\"}, {\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"*.w.test\"], \"mode\": \"tcp\","
	    " \"backends\": [\"127.0.0.1:1\"],"
	    "  \"certificates\": [{\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"d.test\"], \"mode\": \"tcp\","
	    " \"default\": true, \"backends\": [\"127.0.0.1:1\"],"
	    "  \"alpn\": [\"http/1.1\"], \"certificates\": [{\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"acme.test\"], \"mode\": \"tcp\","
	    " \"acme\": true, \"backends\": [\"127.0.0.1:1\"]}]}",
	    dir, c1, k1, c2, k2, c3, k3, c4, k4) < 0)
		abort();
	if ((c = config_load_text("/fuzz/tlsgate.json", text, strlen(text), &errs)) == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "config: %s\n", errs.msgs[i]);
		abort();
	}
	if ((view = view_build(c, NULL, &eb)) == NULL ||
	    (server_ctx = tls_server_ctx_new(NULL, &eb)) == NULL ||
	    challenge_tlsalpn_set("alpn.test", "fuzz-key-authorization", &eb) == -1) {
		fprintf(stderr, "setup: %s\n", eb.msg);
		abort();
	}
	config_free(c);
	free(text);
	free(c1); free(k1); free(c2); free(k2); free(c3); free(k3); free(c4); free(k4);
	testcert_rmtree(dir);
}

/* What conn.c does with a finished (or failed) handshake's state. */
static void
use_state(SSL *ssl, const struct tls_state *ts)
{
	char			 alpn[LOG_FIELD_CAP(255)], sni[LOG_FIELD_CAP(256)];
	uint8_t			 hdr[PROXYHDR_MAX];
	struct sockaddr_in	 a;
	const uint8_t		*p;
	unsigned		 n;

	(void)tls_alpn_name(ssl, alpn, sizeof(alpn));
	log_field_escape(sni, sizeof(sni), ts->sni, strlen(ts->sni));
	if (strspn(sni, "!#$%&'()*+,-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") != strlen(sni))
		abort();
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	SSL_get0_alpn_selected(ssl, &p, &n);
	(void)proxyhdr_build(hdr, 2, (struct sockaddr *)&a, (struct sockaddr *)&a,
	    p, n, ts->sni, SSL_get_version(ssl));
}

static SSL *
server_new(struct tls_state *ts)
{
	SSL *s = SSL_new(server_ctx);

	memset(ts, 0, sizeof(*ts));
	ts->view = view;
	tls_attach(s, ts);
	SSL_set_accept_state(s);
	return s;
}

static void
raw(const uint8_t *data, size_t size)
{
	struct tls_state	 ts;
	SSL			*s = server_new(&ts);
	BIO			*in = BIO_new_mem_buf(data, size), *out = BIO_new(BIO_s_mem());

	BIO_set_mem_eof_return(in, -1);		/* more may come: WANT_READ */
	SSL_set_bio(s, in, out);
	ERR_clear_error();
	(void)SSL_do_handshake(s);
	use_state(s, &ts);
	ERR_clear_error();
	SSL_free(s);
	tls_state_clear(&ts);
}

/* Run both ends until both are done or stuck; 1 if the handshake finished. */
static int
pump(SSL *cl, SSL *sv)
{
	int cdone = 0, sdone = 0;

	for (int round = 0; round < 32 && !(cdone && sdone); round++) {
		int progress = 0, r;
		if (!cdone) {
			if ((r = SSL_do_handshake(cl)) == 1)
				cdone = progress = 1;
			else if (SSL_get_error(cl, r) != SSL_ERROR_WANT_READ)
				return 0;
		}
		if (!sdone) {
			if ((r = SSL_do_handshake(sv)) == 1)
				sdone = progress = 1;
			else if (SSL_get_error(sv, r) != SSL_ERROR_WANT_READ)
				return 0;
		}
		(void)progress;
	}
	return cdone && sdone;
}

static SSL_SESSION *
client_run(SSL_CTX *cctx, const char *sni, const uint8_t *alpn, size_t alen,
    SSL_SESSION *resume)
{
	struct tls_state	 ts;
	SSL			*cl = SSL_new(cctx), *sv = server_new(&ts);
	BIO			*b1, *b2;
	SSL_SESSION		*sess = NULL;
	char			 buf[64];

	BIO_new_bio_pair(&b1, 0, &b2, 0);
	SSL_set_bio(cl, b1, b1);
	SSL_set_bio(sv, b2, b2);
	SSL_set_connect_state(cl);
	if (sni[0] != '\0')
		SSL_set_tlsext_host_name(cl, sni);
	if (alen > 0)
		(void)SSL_set_alpn_protos(cl, alpn, alen);
	if (resume != NULL)
		SSL_set_session(cl, resume);
	ERR_clear_error();
	if (pump(cl, sv)) {
		/* Data both ways; in TLS 1.3 this also delivers the ticket. */
		if (SSL_write(cl, "ping", 4) == 4 && SSL_read(sv, buf, sizeof(buf)) == 4 &&
		    SSL_write(sv, "pong", 4) == 4)
			(void)SSL_read(cl, buf, sizeof(buf));
		sess = SSL_get1_session(cl);
	}
	use_state(sv, &ts);
	ERR_clear_error();
	SSL_free(cl);
	SSL_free(sv);
	tls_state_clear(&ts);
	return sess;
}

static void
client(const uint8_t *data, size_t size)
{
	static const uint16_t ecdsa[] = { SSL_SIGN_ECDSA_SECP256R1_SHA256 };
	static const uint16_t rsa[] = { SSL_SIGN_RSA_PSS_RSAE_SHA256,
	    SSL_SIGN_RSA_PKCS1_SHA256 };
	SSL_CTX		*cctx;
	SSL_SESSION	*sess;
	char		 sni[256];
	size_t		 sl;
	uint8_t		 opt;

	if (size < 2)
		return;
	opt = data[0];
	sl = data[1] < size - 2 ? data[1] : size - 2;
	memcpy(sni, data + 2, sl);
	sni[sl] = '\0';				/* a C string: stops at a NUL */
	data += 2 + sl;
	size -= 2 + sl;
	cctx = SSL_CTX_new(TLS_method());
	SSL_CTX_set_min_proto_version(cctx, opt & 1 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(cctx, opt & 2 ? TLS1_2_VERSION : TLS1_3_VERSION);
	if (opt & 4)
		SSL_CTX_set_verify_algorithm_prefs(cctx, ecdsa, 1);
	else if (opt & 8)
		SSL_CTX_set_verify_algorithm_prefs(cctx, rsa, 2);
	if (opt & 16)
		SSL_CTX_set_strict_cipher_list(cctx, "ECDHE-RSA-AES128-GCM-SHA256");
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);
	if ((sess = client_run(cctx, sni, data, size, NULL)) != NULL) {
		SSL_SESSION *again = client_run(cctx, sni, data, size, sess);
		SSL_SESSION_free(again);
		SSL_SESSION_free(sess);
	}
	SSL_CTX_free(cctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (view == NULL)
		setup();
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		raw(data + 1, size - 1);
	else
		client(data + 1, size - 1);
	return 0;
}
