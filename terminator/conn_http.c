/*
 * conn_http.c - a connection in HTTP mode: the TLS side of the pump. The
 * client's decrypted bytes go into the session (hsess.h), and what the
 * session queues goes out through SSL_write; the session does the rest.
 *
 * Input waits in c->c2b while the session does not take it (an HTTP/1.1
 * request being answered, or a request body the backend has not taken),
 * which is the back-pressure towards the client: nothing more is read.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "conn_impl.h"
#include "hsess.h"
#include "sites.h"
#include "worker.h"
#include "xalloc.h"

#define CONN_HTTP_BUFSZ	16384
#define CONN_HTTP_WRITE	16384	/* bytes per SSL_write: one full record */

static void
conn_http_kick(void *arg)
{
	struct conn *c = arg;

	if (conn_http_pump(c) == 0)
		conn_update_events(c);
}

/* Whether the SNI named the handshake's site (rather than the default
 * standing in for an unknown or absent name). */
static int
conn_sni_matched(const struct conn *c)
{
	/* The handshake chose ts.site by this same SNI: if the site has the
	 * name, the SNI named it, with no second lookup needed. */
	return c->ts.sni[0] != '\0' && (c->ts.site->ondemand ||
	    site_has_name(c->ts.site, c->ts.sni));
}

int
conn_http_start(struct conn *c)
{
	struct hsess_conn	 hc;
	const uint8_t		*alpn = NULL;
	unsigned		 alen = 0;

	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	memset(&hc, 0, sizeof(hc));
	hc.w = c->w;
	hc.view = c->ts.view;
	hc.site = c->ts.site;
	hc.sni_matched = conn_sni_matched(c);
	hc.sni = c->ts.sni;
	hc.peer = &c->peer;
	hc.conn_id = c->id;
	hc.kick = conn_http_kick;
	hc.arg = c;
	c->state = CONN_HTTP;
	event_del(&c->tev);
	if (c->crb.wlen > 0) {		/* corked tickets: see conn.c */
		struct timeval tv = { 0, 100000 };
		evtimer_add(&c->tev, &tv);
	}
	c->hs = hsess_new(alen == 2 && memcmp(alpn, "h2", 2) == 0 ? HSESS_H2 : HSESS_H1, &hc);
	if (c->hs == NULL) {
		conn_errf(c, "HTTP session setup failed");
		conn_close(c, CR_HTTP_ABORT);
		return -1;
	}
	return 0;
}

/*
 * Reading stays armed while c2b is empty, even when the session takes no
 * input (an HTTP/1.1 request being answered): a client that waits for the
 * response sends nothing meanwhile, so this costs nothing, and it saves
 * two epoll_ctl calls per request. What does arrive is read ahead into c2b
 * (one buffer at most), and c2b holding bytes turns reading off.
 */
short
conn_http_events(const struct conn *c)
{
	short ev = c->wr_want;

	if (c->rd_want != 0 && c->c2b.len == 0 && !c->c_eof)
		ev |= c->rd_want;
	return ev;
}

/* Read from the client into c2b. 1: bytes arrived or EOF, 0: would block,
 * -1: closed. */
static int
conn_http_read(struct conn *c)
{
	int r;

	/*
	 * Known empty: the last recv came back short and no readiness came
	 * since, the read-ahead buffer is empty, and the TLS library holds
	 * neither plaintext nor part of a record. SSL_read() would only say
	 * WANT_READ, after resetting its error state (most of its cost here):
	 * after every HTTP/1.1 request, the read that follows it.
	 */
	if (c->crb.drained && c->crb.len == 0 && !SSL_has_pending(c->ssl)) {
		c->rd_want = EV_READ;
		conn_buf_free(&c->c2b);
		return 0;
	}
	if (c->c2b.data == NULL)
		c->c2b.data = conn_buf_get();
	c->c2b.off = 0;
	/* No ERR_clear_error() first: SSL_read() and SSL_write() clear the
	 * error queue themselves (ssl_reset_error_state(), in BoringSSL and
	 * AWS-LC alike), and the call costs as much as a small record's AEAD. */
	if ((r = SSL_read(c->ssl, c->c2b.data, CONN_HTTP_BUFSZ)) > 0) {
		c->c2b.len = (uint32_t)r;
		c->bytes_in += (uint64_t)r;
		return 1;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		c->rd_want = EV_READ;
		conn_buf_free(&c->c2b);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->rd_want = EV_WRITE;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		c->c_eof = 1;
		hsess_eof(c->hs);
		return 1;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && (r == 0 || errno == 0)) {
			c->c_eof = 1;
			hsess_eof(c->hs);
			return 1;
		}
		/* FALLTHROUGH */
	default:
		conn_ssl_err(c, "client read");
		conn_close(c, CR_CLIENT_ERROR);
		return -1;
	}
}

/* Send what the session queued. 1: something went, 0: nothing could,
 * -1: closed. */
static int
conn_http_write(struct conn *c)
{
	struct evbuffer	*out = hsess_output(c->hs);
	size_t		 len;
	int		 r, sent = 0;

	while ((len = evbuffer_get_length(out)) > 0 && c->wr_want == 0) {
		unsigned char *p;
		if (len > CONN_HTTP_WRITE)
			len = CONN_HTTP_WRITE;
		p = evbuffer_pullup(out, (ssize_t)len);
		/* SSL_write() clears the error queue (see conn_http_read()). */
		if ((r = SSL_write(c->ssl, p, (int)len)) > 0) {
			evbuffer_drain(out, (size_t)r);
			c->bytes_out += (uint64_t)r;
			sent = 1;
			continue;
		}
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_WRITE:
			c->wr_want = EV_WRITE;
			break;
		case SSL_ERROR_WANT_READ:
			c->wr_want = EV_READ;
			break;
		default:
			conn_ssl_err(c, "client write");
			conn_close(c, CR_CLIENT_ERROR);
			return -1;
		}
	}
	return sent;
}

int
conn_http_pump(struct conn *c)
{
	int progress;

	assert(c->state == CONN_HTTP);
	do {
		progress = 0;
		/* Client to c2b; what came goes on to the session at once. */
		if (c->c2b.len == 0 && !c->c_eof && c->rd_want == 0) {
			int r = conn_http_read(c);
			if (r == -1)
				return -1;
			progress |= r;
		}
		/* c2b to session. */
		if (c->c2b.len > 0 && hsess_wants_input(c->hs)) {
			ssize_t used = hsess_input(c->hs, (const uint8_t *)c->c2b.data +
			    c->c2b.off, c->c2b.len);
			if (used < 0) {
				if (c->err == NULL)
					conn_errf(c, "HTTP protocol error");
				conn_close(c, CR_HTTP_ABORT);
				return -1;
			}
			if (used > 0) {
				c->c2b.off += (uint32_t)used;
				c->c2b.len -= (uint32_t)used;
				progress = 1;
			}
			if (c->c2b.len == 0)
				conn_buf_free(&c->c2b);
		}
		/* Session to client. */
		switch (conn_http_write(c)) {
		case -1:
			return -1;
		case 1:
			hsess_drained(c->hs);
			progress = 1;
			break;
		}
		switch (hsess_state(c->hs)) {
		case HSESS_ABORT:
			conn_close(c, CR_HTTP_ABORT);
			return -1;
		case HSESS_CLOSING:
			if (evbuffer_get_length(hsess_output(c->hs)) == 0) {
				conn_close(c, CR_DONE);
				return -1;
			}
			break;
		default:
			break;
		}
	} while (progress);
	return 0;
}

void
conn_stop_http(struct worker *w)
{
	struct conn *c, *next;

	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != CONN_HTTP)
			continue;
		hsess_shutdown(c->hs);
		conn_http_kick(c);
	}
}

void
conn_http_retire(struct worker *w, unsigned gen)
{
	struct conn *c, *next;

	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state != CONN_HTTP || c->http_retired || gen == 0 ||
		    c->ts.view->config_gen == gen)
			continue;
		c->http_retired = 1;
		hsess_shutdown(c->hs);
		conn_http_kick(c);
	}
}
