/*
 * upstream_req.c - the request side of a backend exchange (upstream.c): the
 * HTTP/1.1 head built in one buffer from st->req, then the body from
 * st->req_body, framed by Content-Length or chunked, written with writev
 * (plain) or SSL_write (re-encryption). Writing goes on while the response
 * comes in: a backend may answer (or echo) before the body is complete.
 * A WebSocket upgrade (ws.h) gets its two hop-by-hop fields back in the
 * head; once it is a tunnel, st->req_body goes out unframed, and the
 * client's end becomes a half-close towards the backend.
 */
#include "upstream.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>

#include "hstream.h"
#include "log.h"
#include "pool.h"
#include "upstream_impl.h"
#include "xalloc.h"

#define UP_TLS_WRITE	16384		/* bytes per SSL_write */
#define UP_WS_FIELDS	"connection: upgrade\r\nupgrade: websocket\r\n"

/* Build the request head (upstream.h's framing rules) into u->hb. */
static void
up_build_head(struct upconn *u)
{
	const struct hreq	*r = &u->st->req;
	/* A known method was received spelled as hmethod_name() spells it. */
	const char		*auth = r->authority ? r->authority : "";
	size_t			 cap, tl = strlen(r->target);
	size_t			 ml = r->m < HM_OTHER ? hmethod_len(r->m) : strlen(r->method);
	size_t			 al = r->authority ? r->authority_len : 0;
	char			*p, num[32];
	int			 nl = 0;

	cap = ml + 1 + tl + 11 + 6 + al + 2 + r->h.bytes + 4 * (size_t)r->h.n +
	    64 + sizeof(UP_WS_FIELDS);
	assert(ml == strlen(r->method) && al == strlen(auth));
	if (cap > u->hb_cap) {
		/* The buffer stays with the connection for the next head. */
		if (cap < UP_HB_KEEP)
			cap = UP_HB_KEEP;
		free(u->hb);
		u->hb = xmalloc(cap);
		u->hb_cap = (uint32_t)cap;
	}
	p = u->hb;
	p = hf_put(p, r->method, ml);
	*p++ = ' ';
	p = hf_put(p, r->target, tl);
	p = hf_put(p, " HTTP/1.1\r\nhost: ", 17);
	p = hf_put(p, auth, al);
	p = hf_put(p, "\r\n", 2);
	for (uint32_t i = 0; i < r->h.n; i++) {
		const struct hfield *f = &r->h.v[i];
		p = hf_put(p, f->name, f->nlen);
		p = hf_put(p, ": ", 2);
		p = hf_put(p, f->value, f->vlen);
		p = hf_put(p, "\r\n", 2);
	}
	if (u->st->upgrade)
		p = hf_put(p, UP_WS_FIELDS, sizeof(UP_WS_FIELDS) - 1);
	u->chunked = 0;
	u->body_left = 0;
	if (r->clen >= 0) {
		nl = snprintf(num, sizeof(num), "%" PRId64, r->clen);
		u->body_left = (uint64_t)r->clen;
	} else if (r->body) {
		p = hf_put(p, "transfer-encoding: chunked\r\n", 28);
		u->chunked = 1;
	} else if (r->m == HM_POST || r->m == HM_PUT || r->m == HM_PATCH)
		nl = snprintf(num, sizeof(num), "0");
	if (nl > 0) {
		p = hf_put(p, "content-length: ", 16);
		p = hf_put(p, num, (size_t)nl);
		p = hf_put(p, "\r\n", 2);
	}
	p = hf_put(p, "\r\n", 2);
	u->hoff = 0;
	u->hlen = (uint32_t)(p - u->hb);
	assert(u->hlen <= cap);
}

/* Body bytes that may go out now, after the pending framing. */
static size_t
up_body_budget(struct upconn *u)
{
	size_t avail = evbuffer_get_length(u->st->req_body);

	if (u->chunked) {
		if (u->chunk_left == 0 && avail > 0 && u->froff == u->frlen &&
		    !u->chunk_end) {
			/* A new chunk: close the last one, announce this one. */
			u->frlen = (uint8_t)snprintf(u->fr, sizeof(u->fr), "%s%zx\r\n",
			    u->chunk_open ? "\r\n" : "", avail);
			u->froff = 0;
			u->chunk_left = avail;
			u->chunk_open = 1;
		}
		if (u->chunk_left == 0 && avail == 0 && u->st->req_done &&
		    u->froff == u->frlen && !u->chunk_end) {
			u->frlen = (uint8_t)snprintf(u->fr, sizeof(u->fr), "%s0\r\n\r\n",
			    u->chunk_open ? "\r\n" : "");
			u->froff = 0;
			u->chunk_end = 1;
		}
		return avail < u->chunk_left ? avail : (size_t)u->chunk_left;
	}
	return avail < u->body_left ? avail : (size_t)u->body_left;
}

/* Everything of the request is out. */
static int
up_request_complete(const struct upconn *u)
{
	if (u->hoff < u->hlen || u->froff < u->frlen || u->tlen > 0)
		return 0;
	if (u->tunnel)
		return u->st->req_done && evbuffer_get_length(u->st->req_body) == 0;
	if (u->chunked)
		return u->chunk_end;
	return u->body_left == 0;
}

/* n bytes left: consume them from head, framing, then body. Returns the
 * body bytes among them. */
static size_t
up_consume(struct upconn *u, size_t n)
{
	size_t k;

	k = u->hlen - u->hoff < n ? u->hlen - u->hoff : n;
	u->hoff += (uint32_t)k;
	n -= k;
	k = (size_t)(u->frlen - u->froff) < n ? (size_t)(u->frlen - u->froff) : n;
	u->froff += (uint8_t)k;
	n -= k;
	if (n > 0) {
		evbuffer_drain(u->st->req_body, n);
		if (u->chunked)
			u->chunk_left -= n;
		else
			u->body_left -= n;
	}
	return n;
}

/* A write failed with err: a reset peer may still have answered, so read
 * what is there; anything else ends the exchange. */
static int
up_write_error(struct upconn *u, int err, const char *what)
{
	if (u->ssl == NULL && (err == EPIPE || err == ECONNRESET)) {
		u->wfail = 1;
		u->rd_want = 0;
		return 0;
	}
	if (u->rbytes == 0 && u->reused && HM_IDEMPOTENT(u->st->req.m) &&
	    u->st->req_body_sent == 0 && (err == EPIPE || err == ECONNRESET))
		return up_fail(u, HSE_BACKEND, 1, "backend %s %s: %s (reused connection)",
		    u->b->str, what, strerror(err));
	return up_fail(u, HSE_BACKEND, 0, "backend %s %s: %s", u->b->str, what,
	    strerror(err));
}

/* One plain writev of head, framing and body: 1 when bytes went (*body of
 * them from the body), 0 when it would block, -1 if the connection closed. */
static int
up_writev(struct upconn *u, size_t budget, size_t *body)
{
	struct iovec	iov[16];
	int		n = 0, nb;
	ssize_t		w;

	if (u->hoff < u->hlen) {
		iov[n].iov_base = u->hb + u->hoff;
		iov[n++].iov_len = u->hlen - u->hoff;
	}
	if (u->froff < u->frlen) {
		iov[n].iov_base = u->fr + u->froff;
		iov[n++].iov_len = (size_t)(u->frlen - u->froff);
	}
	if (budget > 0) {
		struct evbuffer_iovec ev[14];
		nb = evbuffer_peek(u->st->req_body, (ev_ssize_t)budget, NULL, ev, 14);
		for (int i = 0; i < nb && i < 14 && budget > 0; i++) {
			size_t l = ev[i].iov_len < budget ? ev[i].iov_len : budget;
			iov[n].iov_base = ev[i].iov_base;
			iov[n++].iov_len = l;
			budget -= l;
		}
	}
	if ((w = writev(u->fd, iov, n)) >= 0) {
		*body = up_consume(u, (size_t)w);
		return w > 0;
	}
	if (errno == EAGAIN || errno == EINTR) {
		u->wr_want = EV_WRITE;
		return 0;
	}
	return up_write_error(u, errno, "send");
}

/*
 * One SSL_write, with the same return convention. A write that would block
 * must be retried with the same bytes, so they are copied into u->tbuf
 * first and stay there until it succeeds; the sources are consumed at copy
 * time, the body counted as taken once the write succeeded.
 */
static int
up_tls_write(struct upconn *u, size_t budget, size_t *body)
{
	char	e[96];
	int	r;

	if (u->tlen == 0) {
		size_t room = UP_TLS_WRITE, k;
		if (u->tbuf == NULL)
			u->tbuf = xmalloc(UP_TLS_WRITE);
		if ((k = u->hlen - u->hoff < room ? u->hlen - u->hoff : room) > 0)
			memcpy(u->tbuf, u->hb + u->hoff, k);
		u->tlen = (uint32_t)k;
		room -= k;
		k = (size_t)(u->frlen - u->froff) < room ? (size_t)(u->frlen - u->froff) : room;
		if (k > 0)
			memcpy(u->tbuf + u->tlen, u->fr + u->froff, k);
		u->tlen += (uint32_t)k;
		room -= k;
		if ((k = budget < room ? budget : room) > 0)
			evbuffer_copyout(u->st->req_body, u->tbuf + u->tlen, k);
		u->tlen += (uint32_t)k;
		u->tbody = (uint32_t)up_consume(u, u->tlen);
	}
	if ((r = SSL_write(u->ssl, u->tbuf, (int)u->tlen)) > 0) {
		*body = u->tbody;
		u->tlen = u->tbody = 0;
		return 1;
	}
	switch (SSL_get_error(u->ssl, r)) {
	case SSL_ERROR_WANT_WRITE:
		u->wr_want = EV_WRITE;
		return 0;
	case SSL_ERROR_WANT_READ:
		u->wr_want = EV_READ;
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0)
			return up_write_error(u, errno, "TLS write");
		/* FALLTHROUGH */
	default:
		return up_fail(u, HSE_BACKEND, 0, "backend %s TLS write: %s", u->b->str,
		    pool_tls_error(e, sizeof(e)));
	}
}

/* The client ended its side of a tunnel: so do we, towards the backend
 * (a FIN, or TLS close_notify), and read on until the backend closes. */
static void
up_tunnel_shut(struct upconn *u)
{
	if (u->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(u->ssl);	/* best effort, non-blocking */
		ERR_clear_error();
	} else
		(void)shutdown(u->fd, SHUT_WR);
}

/*
 * A bodiless request on a reused plain connection, sent from inside the
 * middle's call (upstream_start): one write of the head. 0 when it went
 * whole and the request is complete; -1 otherwise, with nothing done that
 * the pump does not take over from the loop (the rest of a short write, or
 * the error, which it meets again and reports). No hproxy_on_*() is called.
 */
int
up_write_now(struct upconn *u)
{
	ssize_t w;

	up_build_head(u);
	if (u->chunked || u->body_left != 0)
		return -1;
	if ((w = write(u->fd, u->hb, u->hlen)) <= 0)
		return -1;
	(void)up_consume(u, (size_t)w);
	/* No up_progress(): upstream_start()'s up_timer() marked now. */
	if (!up_request_complete(u))
		return -1;
	u->wdone = 1;
	u->state = UP_WAITING;
	return 0;
}

/* Write what can be written. -1 if the stream was let go. */
int
up_write(struct upconn *u)
{
	struct hstream	*st = u->st;
	size_t		 taken = 0, budget, body;
	int		 r;

	if (u->hlen == 0)
		up_build_head(u);
	while (!u->wdone && !u->wfail && u->wr_want == 0 && u->state != UP_DONE) {
		budget = up_body_budget(u);
		if (u->hoff == u->hlen && u->froff == u->frlen && u->tlen == 0 &&
		    budget == 0) {
			if (up_request_complete(u)) {
				u->wdone = 1;
				if (u->tunnel)
					up_tunnel_shut(u);
				free(u->tbuf);
				u->tbuf = NULL;
				if (u->state == UP_SENDING)
					u->state = UP_WAITING;
			}
			break;		/* done, or waiting for the client's body */
		}
		body = 0;
		r = u->ssl != NULL ? up_tls_write(u, budget, &body) :
		    up_writev(u, budget, &body);
		if (r == -1)
			return -1;
		taken += body;
		if (r == 0)
			break;
		up_progress(u);
	}
	if (taken > 0) {
		st->req_body_sent += taken;
		hproxy_on_body_taken(st, taken);
		if (u->st != st)
			return -1;
	}
	return 0;
}

