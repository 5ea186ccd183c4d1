/*
 * h1.c - the client side of HTTP/1.1: requests parsed by llhttp (strict
 * mode, no lenient flags) into streams, responses written in order.
 *
 * One request at a time: after a request's last byte the parser pauses, and
 * input waits (in conn.c's buffer) until the response is complete, so
 * pipelined requests are answered in order without being held in memory.
 * llhttp already refuses the smuggling patterns (Content-Length with
 * Transfer-Encoding, a duplicate or invalid Content-Length, a
 * Transfer-Encoding whose last coding is not chunked, bare CR, obs-fold);
 * this file adds the size limits (414, 431, 413) and the timeouts.
 *
 * A WebSocket upgrade (ws.h) whose backend answered 101 turns the
 * connection into a tunnel (H1_TUNNEL): the 101 goes out, then the
 * client's bytes go to the stream's request body and the backend's come
 * back unframed, with no parser, until either side ends; then the
 * connection closes. Any other upgrade is not made: llhttp's pause after
 * such a request is resumed and HTTP/1.1 goes on.
 */
#include "hsess_impl.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <llhttp.h>

#include "log.h"
#include "sites.h"
#include "ws.h"
#include "xalloc.h"

enum h1_state {
	H1_IDLE,		/* between requests (keep-alive) */
	H1_HEAD,		/* reading a request head */
	H1_BODY,		/* reading a request body */
	H1_WAIT,		/* request read; answering it */
	H1_TUNNEL,		/* WebSocket: raw bytes both ways (ws.h) */
	H1_DONE,		/* no more requests on this connection */
	H1__MAX
};

struct h1 {
	llhttp_t		 parser;
	struct hsess		*s;
	enum h1_state		 state;
	struct hstream		*st;		/* the exchange in progress */
	int			 last_value;	/* the parser's last piece was a value */
	/* Where the last value piece ended, to tell a value split across
	 * reads from obs-fold (llhttp delivers both as more value). */
	int			 in_value;
	const char		*vend, *buf_start, *buf_end;
	unsigned		 gen, vgen;	/* input calls; the one of vend */
	int			 vend_at_end;
	struct hfield_hold	 hold;	/* a name waiting for its value */
	size_t			 head_bytes;
	size_t			 url_len, url_cap;
	char			*url;		/* kept from request to request */
	int			 err_status;	/* set by a callback refusing the head */
	const char		*err_why;
	unsigned		 paused:1;	/* the parser stopped mid-input */
	unsigned		 body_wait:1;	/* paused for body room */
	unsigned		 close:1;	/* close after this response */
	unsigned		 chunked:1;	/* the response is sent chunked */
	unsigned		 eof:1;		/* the client closed its side */
	unsigned		 shutdown:1;
	unsigned		 cont:1;	/* Expect: 100-continue pending */
	int			 version;
};

static llhttp_settings_t h1_settings;

/* Response bodies up to this size are copied into the output, not moved. */
#define H1_COPY_MAX	2048

static const struct view_http *
h1_vh(const struct h1 *h)
{
	return &h->s->c.view->http;
}

static int
h1_refuse(struct h1 *h, int status, const char *why)
{
	h->err_status = status;
	h->err_why = why;
	llhttp_set_error_reason(&h->parser, why);
	return HPE_USER;
}

static void
h1_arm(struct h1 *h)
{
	const struct view_http *vh = h1_vh(h);

	switch (h->state) {
	case H1_IDLE:
		hsess_timer(h->s, vh->keepalive_timeout);
		break;
	case H1_HEAD:
		hsess_timer(h->s, vh->header_timeout);
		break;
	case H1_BODY:
		hsess_timer(h->s, vh->body_timeout);
		break;
	default:
		hsess_timer(h->s, 0);
	}
}

/* --- parser callbacks ------------------------------------------------ */

/* The held name goes in alone (its input is going, or the head ended). */
static void
h1_pending_name(struct h1 *h)
{
	if (h->st != NULL)
		hfields_hold_flush(&h->st->req.h, &h->hold);
	h->hold.name = NULL;
}

static int
h1_on_message_begin(llhttp_t *p)
{
	struct h1 *h = p->data;

	assert(h->st == NULL);
	h->state = H1_HEAD;
	h->head_bytes = 0;
	h->url_len = 0;
	h->last_value = 1;
	h->in_value = 0;
	h->hold.name = NULL;
	h->st = hstream_new(h->s, (int32_t)(h->s->nreq + 1));
	h1_arm(h);
	return 0;
}

static int
h1_on_url(llhttp_t *p, const char *at, size_t n)
{
	struct h1 *h = p->data;

	if (h->url_len + n > h1_vh(h)->max_uri)
		return h1_refuse(h, 414, "request target too long");
	if (h->url_len + n + 1 > h->url_cap) {
		h->url_cap = h->url_len + n + 1 < 64 ? 64 : 2 * (h->url_len + n + 1);
		h->url = xrealloc(h->url, h->url_cap);
	}
	memcpy(h->url + h->url_len, at, n);
	h->url_len += n;
	h->url[h->url_len] = '\0';
	h->head_bytes += n;
	return 0;
}

static int
h1_on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct h1	*h = p->data;
	struct hfields	*f = &h->st->req.h;

	h->head_bytes += n;
	if (h->head_bytes > h1_vh(h)->max_header_size)
		return h1_refuse(h, 431, "request header too large");
	h->in_value = 0;
	if (h->last_value) {
		if (f->n >= h1_vh(h)->max_headers)
			return h1_refuse(h, 431, "too many header fields");
		/* Held until its value comes (hfield.h). */
		h->hold.name = at;
		h->hold.len = n;
		h->last_value = 0;
	} else
		hfields_hold_name(f, &h->hold, at, n);
	return 0;
}

static int
h1_on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct h1 *h = p->data;

	h->head_bytes += n;
	if (h->head_bytes > h1_vh(h)->max_header_size)
		return h1_refuse(h, 431, "request header too large");
	/* A value that goes on after its line ended is obs-fold (RFC 9112
	 * 5.2), which llhttp joins; a proxy must refuse it. */
	if (h->in_value && !(h->vgen == h->gen ? at == h->vend :
	    h->vend_at_end && at == h->buf_start))
		return h1_refuse(h, 400, "obs-fold in a header field");
	h->in_value = 1;
	h->vend = at + n;
	h->vgen = h->gen;
	h->vend_at_end = at + n == h->buf_end;
	/* llhttp lets no CR or LF into a value in strict mode; be sure. */
	if (memchr(at, '\r', n) != NULL || memchr(at, '\n', n) != NULL)
		return h1_refuse(h, 400, "line break in a header value");
	hfields_hold_value(&h->st->req.h, &h->hold, at, n);
	h->last_value = 1;
	return 0;
}

static int
h1_on_headers_complete(llhttp_t *p)
{
	struct h1	*h = p->data;
	struct hstream	*st = h->st;
	struct hreq	*r = &st->req;
	const struct hfield *f;
	struct hfield	 host;
	unsigned	 nhost = 0;
	const char	*m = llhttp_method_name((llhttp_method_t)p->method);
	size_t		 mlen = strlen(m);

	h1_pending_name(h);
	h->s->nreq++;
	r->method = hfields_strdup(&r->h, m, mlen, 0);
	r->m = hmethod_parse(m, mlen);
	r->version = p->http_major == 1 && p->http_minor == 0 ? 10 : 11;
	h->version = r->version;
	/* Room for "/" at least: the memmove below may write it. */
	r->target = hfields_strdup(&r->h, h->url != NULL ? h->url : "", h->url_len, 2);
	h->url_len = 0;
	if (h->url_cap > 256) {		/* keep only a small one */
		free(h->url);
		h->url = NULL;
		h->url_cap = 0;
	}
	if (p->http_major != 1)
		return h1_refuse(h, 505, "HTTP version not supported");
	/* Host leaves the fields here; the authority stands for it. */
	if (hfields_may_have(&r->h, "host", 4))
		nhost = hfields_pop(&r->h, "host", 4, &host);
	if (nhost > 1)
		return h1_refuse(h, 400, "more than one Host field");
	/* Absolute form (RFC 9112 3.2.2): its authority wins over Host. */
	if (r->target[0] != '/' && (strncasecmp(r->target, "https://", 8) == 0 ||
	    strncasecmp(r->target, "http://", 7) == 0)) {
		char *a = strstr(r->target, "://") + 3, *slash = strchr(a, '/');
		size_t alen = slash != NULL ? (size_t)(slash - a) : strlen(a);
		if (alen == 0 || memchr(a, '@', alen) != NULL)
			return h1_refuse(h, 400, "bad authority in the request target");
		hreq_set_authority(r, a, alen);
		memmove(r->target, slash != NULL ? slash : "/",
		    strlen(slash != NULL ? slash : "/") + 1);
	} else if (nhost > 0 && host.vlen > 0)
		hreq_set_authority(r, host.value, host.vlen);
	else if (r->version == 11)
		return h1_refuse(h, 400, "no Host field");
	if (r->m == HM_CONNECT)
		return h1_refuse(h, 405, "CONNECT is not supported");
	if (r->target[0] != '/' && !(r->m == HM_OPTIONS && strcmp(r->target, "*") == 0))
		return h1_refuse(h, 400, "request target is not in origin form");
	if (p->flags & F_CHUNKED)
		r->clen = -1, r->body = 1;
	else if (p->flags & F_CONTENT_LENGTH) {
		r->clen = (int64_t)p->content_length;
		r->body = r->clen > 0;
	} else
		r->clen = -1, r->body = 0;	/* no body */
	hfields_del(&r->h, "content-length");
	/* Keep-alive as the client asked (llhttp knows the 1.0 rules). */
	if (!llhttp_should_keep_alive(p) || h->shutdown)
		h->close = 1;
	if ((f = hfields_get(&r->h, "expect")) != NULL) {
		if (strcasecmp(f->value, "100-continue") != 0)
			return h1_refuse(h, 417, "unsupported expectation");
		h->cont = r->body;
		hfields_del(&r->h, "expect");
	}
	/* Before the hop-by-hop fields go: Upgrade and Connection say it. */
	(void)ws_h1_request(st);
	r->te_trailers = (f = hfields_get(&r->h, "te")) != NULL &&
	    hfield_has_token(f->value, "trailers");
	hfields_strip_hop(&r->h);
	h->state = r->body ? H1_BODY : H1_WAIT;
	h1_arm(h);
	hproxy_request(st);
	/* An upgrade's request side ends with the tunnel, not here. */
	if (!r->body && !st->upgrade) {
		st->req_done = 1;
		hproxy_body_end(st);
	} else if (h->cont && st->state != HST_DONE && !st->local) {
		/* The body is wanted: tell the client to send it. */
		evbuffer_add(h->s->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		h->cont = 0;
	}
	return 0;
}

static int
h1_on_body(llhttp_t *p, const char *at, size_t n)
{
	struct h1	*h = p->data;
	struct hstream	*st = h->st;
	int64_t		 max = st->site != NULL ? st->site->http.max_body : 0;

	if (max > 0 && st->req_body_bytes + n > (uint64_t)max) {
		h->close = 1;
		return h1_refuse(h, 413, "request body too large");
	}
	hproxy_body(st, at, n);
	h1_arm(h);
	/* Past the mark, input stops after this chunk (h1_wants_input): at
	 * most one read's worth more is buffered. */
	if (!hproxy_body_room(st))
		h->body_wait = 1;
	return 0;
}

static int
h1_on_message_complete(llhttp_t *p)
{
	struct h1	*h = p->data;
	struct hstream	*st = h->st;

	if (st->req.body) {
		st->req_done = 1;
		hproxy_body_end(st);
	}
	h->state = H1_WAIT;
	h1_arm(h);
	/* Stop here: the next request waits for this response. */
	return HPE_PAUSED;
}

static pthread_once_t h1_settings_once = PTHREAD_ONCE_INIT;

/* Once per process, whichever worker's first connection comes first. */
static void
h1_settings_make(void)
{
	llhttp_settings_init(&h1_settings);
	h1_settings.on_message_begin = h1_on_message_begin;
	h1_settings.on_url = h1_on_url;
	h1_settings.on_header_field = h1_on_header_field;
	h1_settings.on_header_value = h1_on_header_value;
	h1_settings.on_headers_complete = h1_on_headers_complete;
	h1_settings.on_body = h1_on_body;
	h1_settings.on_message_complete = h1_on_message_complete;
}

/* --- responses -------------------------------------------------------- */

static const char *
h1_reason(int status)
{
	const char *r = llhttp_status_name((llhttp_status_t)status);

	return r != NULL ? r : "Unknown";
}

/* Decimal digits of v into the end of buf; returns where they start. */
static char *
h1_u64(char *end, uint64_t v)
{
	do
		*--end = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	return end;
}

/*
 * The response head, laid out in one go into space reserved in o: one
 * buffer operation instead of four per field.
 */
static void
h1_write_head(struct evbuffer *o, const struct hresp *r, const char *reason,
    int clen, int chunked, struct hname conn)
{
	struct evbuffer_iovec	 v;
	char			 num[24], *n = NULL, *p;
	size_t			 len, rl = strlen(reason), nl = 0;

	len = 13 + rl + 2 + conn.len + 2;	/* "HTTP/1.1 NNN " reason CRLF conn CRLF */
	for (uint32_t i = 0; i < r->h.n; i++)
		len += (size_t)r->h.v[i].nlen + 2 + r->h.v[i].vlen + 2;
	if (clen) {
		n = h1_u64(num + sizeof(num), (uint64_t)r->clen);
		nl = (size_t)(num + sizeof(num) - n);
		len += 16 + nl + 2;
	} else if (chunked)
		len += 28;
	if (evbuffer_reserve_space(o, (ev_ssize_t)len, &v, 1) < 1)
		return;
	p = v.iov_base;
	memcpy(p, "HTTP/1.1 ", 9);
	p[9] = (char)('0' + r->status / 100 % 10);
	p[10] = (char)('0' + r->status / 10 % 10);
	p[11] = (char)('0' + r->status % 10);
	p[12] = ' ';
	p += 13;
	p = hf_put(p, reason, rl);
	*p++ = '\r';
	*p++ = '\n';
	for (uint32_t i = 0; i < r->h.n; i++) {
		p = hf_put(p, r->h.v[i].name, r->h.v[i].nlen);
		*p++ = ':';
		*p++ = ' ';
		p = hf_put(p, r->h.v[i].value, r->h.v[i].vlen);
		*p++ = '\r';
		*p++ = '\n';
	}
	if (clen) {
		memcpy(p, "content-length: ", 16);
		memcpy(p + 16, n, nl);
		p += 16 + nl;
		*p++ = '\r';
		*p++ = '\n';
	} else if (chunked) {
		memcpy(p, "transfer-encoding: chunked\r\n", 28);
		p += 28;
	}
	p = hf_put(p, conn.name, conn.len);
	*p++ = '\r';
	*p++ = '\n';
	v.iov_len = (size_t)(p - (char *)v.iov_base);
	evbuffer_commit_space(o, &v, 1);
}

/* The backend took the WebSocket upgrade: the 101 goes out, and the
 * connection is a tunnel until either side ends, then closes. */
static void
h1_tunnel_open(struct h1 *h, struct hstream *st)
{
	h->state = H1_TUNNEL;
	h->close = 1;
	h->chunked = 0;
	h1_write_head(h->s->out, &st->resp, h1_reason(101), 0, 0, (struct hname)
	    HNAME("connection: upgrade\r\nupgrade: websocket\r\n"));
	h1_arm(h);	/* no timer of ours: the tunnel's idle limit is upstream's */
	if (h->eof) {
		st->req_done = 1;
		hproxy_body_end(st);
	}
}

static void
h1_on_head(struct hstream *st)
{
	struct hsess	*s = st->s;
	struct h1	*h = s->ps;
	struct hresp	*r = &st->resp;
	struct evbuffer	*o = s->out;
	const char	*reason;
	struct hname	 conn;

	if (st->head_sent)
		return;
	st->head_sent = 1;
	if (st->tunnel) {
		h1_tunnel_open(h, st);
		return;
	}
	if (h->state == H1_BODY || h->state == H1_HEAD || h->eof || h->shutdown)
		h->close = 1;	/* the rest of the request is not read, or we stop */
	h->chunked = 0;
	if (r->body && r->clen < 0) {
		if (h->version >= 11)
			h->chunked = 1;
		else
			h->close = 1;	/* the end of the body is the close */
	}
	reason = h1_reason(r->status);
	if (h->close)
		conn = (struct hname)HNAME("connection: close\r\n");
	else if (h->version == 10)
		conn = (struct hname)HNAME("connection: keep-alive\r\n");
	else
		conn = (struct hname)HNAME("");
	h1_write_head(o, r, reason, r->clen >= 0 && (r->body || st->req.m == HM_HEAD),
	    h->chunked, conn);
}

/* The exchange is over on both sides: next request, or close. */
static void
h1_finish(struct h1 *h)
{
	struct hstream *st = h->st;

	h->st = NULL;
	h->chunked = 0;
	if (st != NULL && (!st->req_done || h->state != H1_WAIT))
		h->close = 1;
	hstream_free(st);
	if (h->close || h->eof || h->shutdown) {
		h->state = H1_DONE;
		h->s->state = HSESS_CLOSING;
		hsess_timer(h->s, 0);
		return;
	}
	h->state = H1_IDLE;
	h1_arm(h);
	hsess_kick_later(h->s);	/* pipelined input may be waiting */
}

/* The last chunk, with the backend's trailers (h2up.h) when the client
 * said it takes them (TE: trailers); otherwise they are dropped. */
static void
h1_last_chunk(struct evbuffer *out, const struct hstream *st)
{
	evbuffer_add(out, "0\r\n", 3);
	for (uint32_t i = 0; st->resp_tr != NULL && st->req.te_trailers &&
	    i < st->resp_tr->n; i++) {
		const struct hfield *f = &st->resp_tr->v[i];
		evbuffer_add(out, f->name, f->nlen);
		evbuffer_add(out, ": ", 2);
		evbuffer_add(out, f->value, f->vlen);
		evbuffer_add(out, "\r\n", 2);
	}
	evbuffer_add(out, "\r\n", 2);
}

static void
h1_on_data(struct hstream *st)
{
	struct hsess	*s = st->s;
	struct h1	*h = s->ps;
	size_t		 n;

	if (!st->head_sent)
		return;
	while ((n = evbuffer_get_length(st->resp_body)) > 0 &&
	    evbuffer_get_length(s->out) < HSESS_OUT_HIGH) {
		if (n > HSESS_OUT_HIGH)
			n = HSESS_OUT_HIGH;
		if (h->chunked)
			evbuffer_add_printf(s->out, "%zx\r\n", n);
		if (n <= H1_COPY_MAX) {
			/* A small body is copied behind the head, most often
			 * into the head's own chain: conn_http_write()'s
			 * pullup then has nothing to join. */
			evbuffer_add(s->out, evbuffer_pullup(st->resp_body,
			    (ev_ssize_t)n), n);
			evbuffer_drain(st->resp_body, n);
		} else
			evbuffer_remove_buffer(st->resp_body, s->out, n);
		if (h->chunked)
			evbuffer_add(s->out, "\r\n", 2);
		st->out_bytes += n;
		hproxy_resp_taken(st);
	}
	if (st->resp_done && evbuffer_get_length(st->resp_body) == 0) {
		if (h->chunked)
			h1_last_chunk(s->out, st);
		h1_finish(h);
	}
}

static void
h1_on_abort(struct hstream *st)
{
	struct hsess *s = st->s;

	s->state = HSESS_ABORT;
}

static void
h1_on_body_taken(struct hstream *st, size_t n)
{
	struct hsess	*s = st->s;
	struct h1	*h = s->ps;

	(void)n;
	if (h->body_wait && hproxy_body_room(st)) {
		h->body_wait = 0;
		hsess_kick_later(s);
	}
}

/* --- the protocol ----------------------------------------------------- */

static int
h1_init(struct hsess *s)
{
	struct h1 *h = xcalloc(1, sizeof(*h));

	pthread_once(&h1_settings_once, h1_settings_make);
	llhttp_init(&h->parser, HTTP_REQUEST, &h1_settings);
	h->parser.data = h;
	h->s = s;
	h->state = H1_IDLE;
	s->ps = h;
	h1_arm(h);
	return 0;
}

/* A request the parser refused: answer it (if nothing was sent yet) and
 * close. */
static void
h1_bad(struct h1 *h, llhttp_errno_t e)
{
	struct hstream	*st = h->st;
	int		 status = h->err_status ? h->err_status : 400;
	char		 why[160];

	h->close = 1;
	snprintf(why, sizeof(why), "%s", h->err_why ? h->err_why :
	    llhttp_get_error_reason(&h->parser) ? llhttp_get_error_reason(&h->parser) :
	    llhttp_errno_name(e));
	if (st == NULL) {
		/* Bytes that are no request at all: answer through a stream
		 * so it is logged like any other. */
		h1_on_message_begin(&h->parser);
		st = h->st;
		st->req.method = hfields_strdup(&st->req.h, "-", 1, 0);
		st->req.target = hfields_strdup(&st->req.h, "-", 1, 0);
	}
	if (st->req.method == NULL) {
		st->req.method = hfields_strdup(&st->req.h, "-", 1, 0);
		st->req.target = h->url_len > 0 ?
		    hfields_strdup(&st->req.h, h->url, h->url_len, 0) :
		    hfields_strdup(&st->req.h, "-", 1, 0);
		h->url_len = 0;
	}
	h->state = H1_DONE;
	st->req_done = 0;
	if (st->head_sent || st->state == HST_RESPONDING) {
		h->s->state = HSESS_ABORT;
		return;
	}
	hproxy_respond(st, status, HSE_BAD_REQUEST, why);
}

/* Client bytes of a tunnel: the stream's request body, unparsed. */
static ssize_t
h1_tunnel_input(struct h1 *h, const uint8_t *p, size_t n)
{
	struct hstream *st = h->st;

	if (h->body_wait || st->req_done)
		return 0;
	hproxy_body(st, p, n);
	if (!hproxy_body_room(st))
		h->body_wait = 1;	/* h1_on_body_taken() lifts it */
	return (ssize_t)n;
}

static ssize_t
h1_input(struct hsess *s, const uint8_t *p, size_t n)
{
	struct h1	*h = s->ps;
	llhttp_errno_t	 e;
	size_t		 used;

	if (h->state == H1_TUNNEL)
		return h1_tunnel_input(h, p, n);
	if (h->state == H1_DONE || h->state == H1_WAIT || h->body_wait)
		return 0;
	if (h->paused) {
		llhttp_resume(&h->parser);
		h->paused = 0;
	}
	h->gen++;
	h->buf_start = (const char *)p;
	h->buf_end = (const char *)p + n;
	e = llhttp_execute(&h->parser, (const char *)p, n);
	h1_pending_name(h);	/* it points into p */
	while (e == HPE_PAUSED_UPGRADE) {
		/* After a request asking for an upgrade that was not made
		 * (anything but a WebSocket, which never gets here): the
		 * client goes on in HTTP/1.1. */
		used = (size_t)((const uint8_t *)llhttp_get_error_pos(&h->parser) - p);
		llhttp_resume_after_upgrade(&h->parser);
		e = llhttp_execute(&h->parser, (const char *)p + used, n - used);
		h1_pending_name(h);
	}
	if (e == HPE_OK)
		return (ssize_t)n;
	if (e == HPE_PAUSED) {
		h->paused = 1;
		used = (size_t)((const uint8_t *)llhttp_get_error_pos(&h->parser) - p);
		return (ssize_t)used;
	}
	h1_bad(h, e);
	return (ssize_t)n;
}

static int
h1_wants_input(const struct hsess *s)
{
	const struct h1 *h = s->ps;

	return h->state != H1_DONE && h->state != H1_WAIT && !h->body_wait;
}

static void
h1_eof(struct hsess *s)
{
	struct h1 *h = s->ps;

	h->eof = 1;
	switch (h->state) {
	case H1_IDLE:
		h->state = H1_DONE;
		s->state = HSESS_CLOSING;
		break;
	case H1_HEAD:
	case H1_BODY:
		/* Gone mid-request: nothing to answer. */
		if (h->st != NULL) {
			h->st->err = HSE_CLIENT;
			snprintf(h->st->why, sizeof(h->st->why), "client closed mid-request");
		}
		s->state = HSESS_ABORT;
		break;
	case H1_TUNNEL:
		/* The client's end of the tunnel: the backend's follows. */
		if (h->st != NULL && !h->st->req_done) {
			h->st->req_done = 1;
			hproxy_body_end(h->st);
		}
		break;
	default:
		break;		/* answer, then close */
	}
}

static void
h1_fill(struct hsess *s)
{
	(void)s;	/* responses are written as they come */
}

static void
h1_drained(struct hsess *s)
{
	struct h1 *h = s->ps;

	if (h->st != NULL && h->st->head_sent && evbuffer_get_length(s->out) < HSESS_OUT_HIGH)
		h1_on_data(h->st);
}

static void
h1_shutdown(struct hsess *s)
{
	struct h1 *h = s->ps;

	h->shutdown = 1;
	if (h->state == H1_IDLE) {
		h->state = H1_DONE;
		s->state = HSESS_CLOSING;
	}
}

static void
h1_on_timer(struct hsess *s)
{
	struct h1 *h = s->ps;

	switch (h->state) {
	case H1_IDLE:
		h->state = H1_DONE;
		s->state = HSESS_CLOSING;
		break;
	case H1_HEAD:
	case H1_BODY:
		h->close = 1;
		h->err_status = 408;
		h->err_why = h->state == H1_HEAD ? "request head timed out" :
		    "request body timed out";
		if (h->st != NULL && !h->st->head_sent && h->st->state != HST_RESPONDING) {
			h1_bad(h, HPE_USER);
			break;
		}
		s->state = HSESS_ABORT;
		break;
	default:
		break;
	}
}

static void
h1_free(struct hsess *s)
{
	struct h1 *h = s->ps;

	if (h == NULL)
		return;
	if (h->st != NULL) {
		if (h->st->err == HSE_NONE && !h->st->resp_done) {
			h->st->err = HSE_CLIENT;
			snprintf(h->st->why, sizeof(h->st->why), "connection closed");
		}
		hstream_free(h->st);
	}
	free(h->url);
	free(h);
	s->ps = NULL;
}

const struct hproto h1_proto = {
	.name = "http/1.1",
	.init = h1_init,
	.input = h1_input,
	.wants_input = h1_wants_input,
	.eof = h1_eof,
	.fill = h1_fill,
	.drained = h1_drained,
	.shutdown = h1_shutdown,
	.on_timer = h1_on_timer,
	.free = h1_free,
	.fe = {
		.on_head = h1_on_head,
		.on_data = h1_on_data,
		.on_abort = h1_on_abort,
		.on_body_taken = h1_on_body_taken,
	},
};
