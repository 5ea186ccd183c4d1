/*
 * upstream_resp.c - the response side of a backend exchange (upstream.c):
 * reads from the backend, parses with llhttp in strict mode (no lenient
 * flags) into st->resp and st->resp_body, skips 1xx interim responses, and
 * tells the middle through hproxy_on_*() once llhttp_execute() returned.
 * Reading stops while st->resp_body holds HSTREAM_RESP_HIGH bytes. A 101
 * to a WebSocket upgrade (ws.h) ends the parsing: what follows its head is
 * tunnel bytes, read into st->resp_body as they come until the backend
 * closes.
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

#include <event2/buffer.h>
#include <openssl/err.h>

#include "hstream.h"
#include "log.h"
#include "pool.h"
#include "upstream_impl.h"
#include "ws.h"
#include "xalloc.h"

#define UP_READSZ	16384		/* one TLS record's plaintext at most */
#define UP_READS	4		/* reads per wake-up, for fairness */
#define UP_HEAD_MAX	(64 * 1024)	/* response head from a backend */
#define UP_FIELDS_MAX	256

static int
up_head_bytes(llhttp_t *ps, size_t n)
{
	struct upconn *u = ps->data;

	if ((u->hbytes += n) > UP_HEAD_MAX) {
		llhttp_set_error_reason(ps, "response head too large");
		return -1;
	}
	return 0;
}

/* The held name goes in alone (its input is going, or its value was
 * empty). */
static void
up_pending_name(struct upconn *u)
{
	if (u->st != NULL)
		hfields_hold_flush(&u->st->resp.h, &u->hold);
	u->hold.name = NULL;
}

static int
up_on_message_begin(llhttp_t *ps)
{
	struct upconn *u = ps->data;

	u->hold.name = NULL;
	u->hdr_value = 0;
	u->hbytes = 0;
	return 0;
}

static int
up_on_status(llhttp_t *ps, const char *at, size_t n)
{
	(void)at;
	return up_head_bytes(ps, n);
}

static int
up_on_header_field(llhttp_t *ps, const char *at, size_t n)
{
	struct upconn	*u = ps->data;
	struct hfields	*h = &u->st->resp.h;

	if (up_head_bytes(ps, n) == -1)
		return -1;
	if (u->hold.name == NULL && (h->n == 0 || u->hdr_value)) {
		if (h->n >= UP_FIELDS_MAX) {
			llhttp_set_error_reason(ps, "too many response fields");
			return -1;
		}
		/* Held until its value comes (hfield.h). */
		u->hold.name = at;
		u->hold.len = n;
	} else
		hfields_hold_name(h, &u->hold, at, n);
	u->hdr_value = 0;
	return 0;
}

static int
up_on_header_value(llhttp_t *ps, const char *at, size_t n)
{
	struct upconn *u = ps->data;

	if (up_head_bytes(ps, n) == -1)
		return -1;
	hfields_hold_value(&u->st->resp.h, &u->hold, at, n);
	u->hdr_value = 1;
	return 0;
}

/* llhttp leaves trailing whitespace in a value; RFC 9110 5.5 drops it. */
static int
up_on_header_value_complete(llhttp_t *ps)
{
	struct upconn	*u = ps->data;
	struct hfields	*h = &u->st->resp.h;
	struct hfield	*f;

	up_pending_name(u);	/* an empty value: no value piece came */
	if (h->n == 0)
		return 0;
	f = &h->v[h->n - 1];
	u->hdr_value = 1;
	/*
	 * Content-Length is never passed on as received: llhttp took it
	 * (F_CONTENT_LENGTH, set as its value began; a second one is an
	 * error) and the head is framed anew. Dropped as it completes, every
	 * one of them, so its bit goes too, and no delete pass is needed.
	 */
	if (f->nlen == 14 && memcmp(f->name, "content-length", 14) == 0) {
		h->bytes -= (size_t)f->nlen + f->vlen;
		h->n--;
		h->known &= ~((uint32_t)1 << HFK_CONTENT_LENGTH);
		return 0;
	}
	while (f->vlen > 0 && (f->value[f->vlen - 1] == ' ' ||
	    f->value[f->vlen - 1] == '\t')) {
		f->value[--f->vlen] = '\0';
		h->bytes--;
	}
	return 0;
}

static int
up_on_headers_complete(llhttp_t *ps)
{
	struct upconn		*u = ps->data;
	struct hstream		*st = u->st;
	int			 status = llhttp_get_status_code(ps);

	if (status == 101) {
		const char *why = ws_check_101(st);
		if (why != NULL) {
			llhttp_set_error_reason(ps, why);
			return -1;
		}
		hfields_strip_hop(&st->resp.h);
		hfields_del(&st->resp.h, "content-length");
		st->resp.status = 101;
		st->resp.clen = -1;
		st->resp.body = 1;	/* the tunnel's bytes, until the close */
		u->head_ready = 1;
		up_tunnel_open(u);
		return 2;	/* no body: llhttp stops after this head */
	}
	if (status >= 100 && status < 200) {
		u->interim = 1;		/* 100 Continue, 103 Early Hints: skipped */
		return 1;
	}
	st->resp.status = status;
	hfields_strip_hop(&st->resp.h);
	st->resp.clen = -1;
	if (ps->flags & F_CONTENT_LENGTH) {
		/* llhttp parsed it (digits only, one value), and counts it
		 * down only once the body comes. */
		st->resp.clen = (int64_t)ps->content_length;
		hfields_del(&st->resp.h, "content-length");
	}
	st->resp.body = !(st->req.m == HM_HEAD || status == 204 || status == 304);
	u->head_ready = 1;
	/* A response to HEAD, a 204 and a 304 have no body whatever their
	 * fields say (RFC 9112 6.3); llhttp would read a 304's Content-Length
	 * (the representation's, RFC 9110 8.6) as a body. */
	return st->resp.body ? 0 : 1;
}

static int
up_on_body(llhttp_t *ps, const char *at, size_t n)
{
	struct upconn	*u = ps->data;
	struct hstream	*st = u->st;

	evbuffer_add(st->resp_body, at, n);
	st->resp_body_bytes += n;
	u->nbody += n;
	return 0;
}

static int
up_on_message_complete(llhttp_t *ps)
{
	struct upconn *u = ps->data;

	if (u->tunnel)
		return 0;	/* llhttp then stops with HPE_PAUSED_UPGRADE */
	if (u->interim) {
		/* The final response follows, maybe in the same read. */
		hfields_free(&u->st->resp.h);
		u->interim = 0;
		return 0;
	}
	/* Read now: llhttp resets its flags once this returns. A refused
	 * upgrade's connection is not kept: it was never meant for reuse. */
	u->keep = llhttp_should_keep_alive(ps) != 0 && !u->st->upgrade;
	u->complete = 1;
	return HPE_PAUSED;	/* nothing after it is ours to parse */
}

/* Const and shared by every worker: llhttp only reads it. */
const llhttp_settings_t up_settings = {
	.on_message_begin = up_on_message_begin,
	.on_status = up_on_status,
	.on_header_field = up_on_header_field,
	.on_header_value = up_on_header_value,
	.on_header_value_complete = up_on_header_value_complete,
	.on_headers_complete = up_on_headers_complete,
	.on_body = up_on_body,
	.on_message_complete = up_on_message_complete,
};

/* Tell the middle what the last parse produced, in order. -1 if the
 * stream was let go meanwhile. */
static int
up_deliver(struct upconn *u)
{
	struct hstream *st = u->st;

	if (u->head_ready && !u->head_sent) {
		u->head_sent = 1;
		u->state = UP_READING;
		up_timer(u, u->tunnel ? u->o.tunnel_idle : u->o.body_timeout);
		hproxy_on_resp_head(st);
		if (u->st != st)
			return -1;
	}
	if (u->nbody > 0) {
		u->nbody = 0;
		hproxy_on_resp_data(st);
		if (u->st != st)
			return -1;
	}
	if (u->complete && !u->end_sent) {
		u->end_sent = 1;
		u->state = UP_DONE;
		up_timer_off(u);
		st->resp_done = 1;
		hproxy_on_resp_end(st);
		if (u->st != st)
			return -1;
	}
	return 0;
}

static int
up_parse(struct upconn *u, const char *buf, size_t n)
{
	llhttp_errno_t	 e;
	const char	*pos;

	u->rbytes += n;
	up_progress(u);
	if (u->tunnel) {
		evbuffer_add(u->st->resp_body, buf, n);
		u->st->resp_body_bytes += n;
		u->nbody += n;
		return up_deliver(u);
	}
	e = llhttp_execute(&u->parser, buf, n);
	up_pending_name(u);	/* it points into buf */
	if (e == HPE_PAUSED_UPGRADE && u->tunnel) {
		/* The bytes after the 101's head are the tunnel's first. */
		pos = llhttp_get_error_pos(&u->parser);
		if (pos != NULL && pos < buf + n) {
			evbuffer_add(u->st->resp_body, pos, (size_t)(buf + n - pos));
			u->st->resp_body_bytes += (size_t)(buf + n - pos);
			u->nbody += (size_t)(buf + n - pos);
		}
	} else if (e == HPE_PAUSED && u->complete) {
		pos = llhttp_get_error_pos(&u->parser);
		if (pos != NULL && pos < buf + n)
			u->extra = 1;	/* more than one response: not reusable */
	} else if (e != HPE_OK)
		return up_fail(u, HSE_BACKEND, 0, "backend %s: bad response: %s (%s)",
		    u->b->str, llhttp_errno_name(e), llhttp_get_error_reason(&u->parser));
	return up_deliver(u);
}

/* The backend closed (err 0) or reset the connection. */
static int
up_eof(struct upconn *u, int err)
{
	struct hstream	*st = u->st;
	const char	*how = err ? strerror(err) : "closed";
	llhttp_errno_t	 e;

	if (u->tunnel && err == 0) {
		/* The backend's end of the tunnel: the response ends. */
		u->complete = 1;
		u->keep = 0;
		return up_deliver(u);
	}
	if (u->rbytes == 0) {
		/* Nothing of the response came: a reused connection the
		 * backend closed as we sent may be retried (RFC 9112 9.3.1). */
		int retry = u->reused && HM_IDEMPOTENT(st->req.m) &&
		    st->req_body_sent == 0;
		return up_fail(u, HSE_BACKEND, retry, "backend %s %s before responding%s",
		    u->b->str, how, u->reused ? " (reused connection)" : "");
	}
	/* A body that ends with the connection: llhttp_finish() completes
	 * it (our on_message_complete pauses, hence HPE_PAUSED). */
	if (err == 0 && (e = llhttp_finish(&u->parser), e == HPE_OK || e == HPE_PAUSED) &&
	    u->complete) {
		u->keep = 0;	/* the body ended with the connection */
		return up_deliver(u);
	}
	return up_fail(u, HSE_BACKEND, 0, "backend %s %s mid-response", u->b->str, how);
}

/* Read and parse what the backend sent. -1 if the stream was let go. */
int
up_read(struct upconn *u)
{
	char	buf[UP_READSZ], e[96];
	ssize_t	n;
	int	r, i;

	for (i = 0; i < UP_READS; i++) {
		if (u->rd_want != 0 || u->state == UP_DONE)
			return 0;
		if (evbuffer_get_length(u->st->resp_body) >= HSTREAM_RESP_HIGH) {
			/* The client is slower than the backend: wait for
			 * upstream_resume(), with no body timer meanwhile. */
			u->paused = 1;
			up_timer_off(u);
			return 0;
		}
		if (u->ssl != NULL) {
			if ((r = SSL_read(u->ssl, buf, sizeof(buf))) > 0) {
				if (up_parse(u, buf, (size_t)r) == -1)
					return -1;
				continue;
			}
			switch (SSL_get_error(u->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				u->rd_want = EV_READ;
				return 0;
			case SSL_ERROR_WANT_WRITE:
				u->rd_want = EV_WRITE;
				return 0;
			case SSL_ERROR_ZERO_RETURN:
				return up_eof(u, 0);
			case SSL_ERROR_SYSCALL:
				if (ERR_peek_error() == 0)
					return up_eof(u, r == 0 ? 0 : errno);
				/* FALLTHROUGH */
			default:
				return up_fail(u, HSE_BACKEND, 0, "backend %s TLS read: %s",
				    u->b->str, pool_tls_error(e, sizeof(e)));
			}
		}
		if ((n = recv(u->fd, buf, sizeof(buf), 0)) > 0) {
			if (up_parse(u, buf, (size_t)n) == -1)
				return -1;
			/* A short read emptied the socket: wait for readiness
			 * rather than hear EAGAIN. */
			if (n < (ssize_t)sizeof(buf))
				u->rd_want = EV_READ;
			continue;
		}
		if (n == 0)
			return up_eof(u, 0);
		if (errno == EAGAIN || errno == EINTR) {
			u->rd_want = EV_READ;
			return 0;
		}
		if (errno == ECONNRESET)
			return up_eof(u, errno);
		return up_fail(u, HSE_BACKEND, 0, "backend %s recv: %s", u->b->str,
		    strerror(errno));
	}
	/* Enough for one wake-up; bytes may wait in the TLS read-ahead, which
	 * no fd event reports: come back through the loop. */
	up_kick(u);
	return 0;
}

