/*
 * h2_recv.c - the request side of HTTP/2 (h2_impl.h): nghttp2's receive
 * callbacks. A request's HEADERS become an hstream (pseudo-headers into
 * st->req, fields checked against max_headers, max_header_size and
 * max_uri), DATA goes to the middle, and client RST_STREAMs are counted
 * against rapid reset (CVE-2023-44487). h2.c owns the session. An
 * extended CONNECT (RFC 8441) with :protocol websocket becomes a WebSocket
 * upgrade towards the backend (ws.h); its DATA is the tunnel's bytes.
 */
#include "hsess_impl.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "h2_impl.h"
#include "sites.h"
#include "ws.h"
#include "xalloc.h"

_Static_assert(sizeof(struct h2st) <= sizeof(((struct hstream *)0)->fe_buf),
    "struct h2st fits in hstream.fe_buf");

struct hstream *
h2_stream(struct h2 *h, int32_t id)
{
	struct hstream *st = nghttp2_session_get_stream_user_data(h->ng, id);

	assert(st == NULL || st->magic == HSTREAM_MAGIC);
	return st;
}

void
h2_consume(struct h2 *h, struct hstream *st, size_t n)
{
	struct h2st *hs = st->fe;

	if (n > hs->unconsumed)
		n = hs->unconsumed;
	if (n == 0)
		return;
	hs->unconsumed -= n;
	nghttp2_session_consume(h->ng, st->id, n);
}

/* --- requests --------------------------------------------------------- */

static void
h2_refuse(struct hstream *st, int status, const char *why)
{
	struct h2st *hs = st->fe;

	if (hs->refuse == 0) {
		hs->refuse = status;
		hs->refuse_why = why;
	}
}

static int
h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2	*h = arg;
	struct hstream	*st;

	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	h->hdr_stream = frame->hd.stream_id;
	h->hdr_st = NULL;
	h->hdr_t0 = 0;		/* h2_input: the block's start, if it goes on */
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;	/* trailers: read, not forwarded */
	st = hstream_new(h->s, frame->hd.stream_id);
	st->fe = st->fe_buf;	/* zeroed */
	st->req.version = 20;
	h->hdr_st = st;
	nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, st);
	return 0;
}

/* The hstream of the header block in progress: looked up once a block. */
static struct hstream *
h2_hdr_stream(struct h2 *h, int32_t id)
{
	if (id != h->hdr_stream)
		return h2_stream(h, id);
	if (h->hdr_st == NULL)
		h->hdr_st = h2_stream(h, id);
	return h->hdr_st;
}

static int
h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct h2	*h = arg;
	struct hstream	*st;
	struct h2st	*hs;
	struct hreq	*r;

	(void)ng;
	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    (st = h2_hdr_stream(h, frame->hd.stream_id)) == NULL)
		return 0;
	hs = st->fe;
	r = &st->req;
	hs->hdr_bytes += nlen + vlen;
	if (hs->hdr_bytes > (size_t)h->max_header_size * H2_HDR_KILL) {
		/* Far past the limit: an HPACK bomb, not a big request. */
		h2_terminate(h, NGHTTP2_ENHANCE_YOUR_CALM, "header block flood");
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;	/* trailers: counted, not forwarded */
	if (hs->refuse != 0)
		return 0;	/* answered already: stop storing */
	if (hs->hdr_bytes > h->max_header_size) {
		h2_refuse(st, 431, "request header too large");
		return 0;
	}
	if (nlen > 0 && name[0] == ':') {
		/* nghttp2 has checked the set, their order and their values. */
		if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
			r->method = hfields_strdup(&r->h, (const char *)value, vlen, 0);
			r->m = hmethod_parse((const char *)value, vlen);
		} else if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
			if (vlen > h->max_uri) {
				h2_refuse(st, 414, "request target too long");
				return 0;
			}
			r->target = hfields_strdup(&r->h, (const char *)value, vlen, 0);
		} else if (nlen == 10 && memcmp(name, ":authority", 10) == 0) {
			hreq_set_authority(r, (const char *)value, vlen);
		} else if (nlen == 9 && memcmp(name, ":protocol", 9) == 0) {
			/* nghttp2 lets it in only with our SETTINGS_ENABLE_
			 * CONNECT_PROTOCOL sent, and on CONNECT only. */
			hs->xproto = vlen == 9 && strncasecmp((const char *)value,
			    "websocket", 9) == 0 ? 1 : 2;
		}
		return 0;	/* :scheme */
	}
	if (nlen == 14 && memcmp(name, "content-length", 14) == 0) {
		/* nghttp2 has checked it is digits and will check the DATA. */
		int64_t v = 0;
		for (size_t i = 0; i < vlen && v < INT64_MAX / 10 - 10; i++)
			v = v * 10 + (value[i] - '0');
		r->clen = v;
		return 0;
	}
	if (r->h.n >= h->max_headers) {
		h2_refuse(st, 431, "too many header fields");
		return 0;
	}
	/* nghttp2 passes on lowercase names only (RFC 9113 8.2.1). */
	hfields_add_lc(&r->h, (const char *)name, nlen, (const char *)value, vlen);
	return 0;
}

/* RFC 9113 8.2.3: cookie crumbs are joined with "; " for HTTP/1.1. */
static void
h2_join_cookies(struct hfields *f)
{
	char	*v = NULL;
	size_t	 len = 0;

	if (hfields_count(f, "cookie") < 2)
		return;
	for (uint32_t i = 0; i < f->n; i++) {
		if (strcmp(f->v[i].name, "cookie") != 0)
			continue;
		v = xrealloc(v, len + f->v[i].vlen + 3);
		if (len > 0) {
			memcpy(v + len, "; ", 2);
			len += 2;
		}
		memcpy(v + len, f->v[i].value, f->v[i].vlen);
		len += f->v[i].vlen;
	}
	hfields_del(f, "cookie");
	hfields_add_lc(f, "cookie", 6, v, len);
	free(v);
}

/* A request head is complete: route it, or answer it. */
static void
h2_request(struct h2 *h, struct hstream *st, int end_stream)
{
	struct h2st	*hs = st->fe;
	struct hreq	*r = &st->req;
	const struct hfield *f;

	h->s->nreq++;
	if (r->method == NULL) {
		r->method = hfields_strdup(&r->h, "-", 1, 0);
		r->m = HM_OTHER;
	}
	if (r->target == NULL)
		r->target = hfields_strdup(&r->h, r->m == HM_CONNECT ? "-" : "/", 1, 0);
	if (r->authority == NULL && (f = hfields_get(&r->h, "host")) != NULL &&
	    f->vlen > 0)
		hreq_set_authority(r, f->value, f->vlen);
	hfields_del(&r->h, "host");
	h2_join_cookies(&r->h);
	/* nghttp2 refused connection-specific fields; TE: trailers remains,
	 * and goes on to an HTTP/2 backend (h2up.h). */
	r->te_trailers = hfields_get(&r->h, "te") != NULL;
	hfields_strip_hop(&r->h);
	/* No body and no content-length: none is sent on (a GET gets no
	 * "content-length: 0" it never had; upstream_req.c adds one for POST,
	 * PUT and PATCH). */
	r->body = !end_stream;
	if (hs->refuse == 0 && r->m == HM_CONNECT) {
		if (hs->xproto == 1)
			ws_h2_request(st);	/* now a GET with an upgrade */
		else if (hs->xproto == 2)
			h2_refuse(st, 501, "extended CONNECT is for websocket only");
		else
			h2_refuse(st, 405, "CONNECT is not supported");
	}
	if (hs->refuse != 0)
		hproxy_respond(st, hs->refuse, HSE_BAD_REQUEST, hs->refuse_why);
	else
		hproxy_request(st);
	if (end_stream) {
		st->req_done = 1;
		hproxy_body_end(st);
	}
}

unsigned
h2_rst_limit(const struct h2 *h)
{
	return 2 * h->max_streams > H2_RST_WINDOW_MIN ? 2 * h->max_streams :
	    H2_RST_WINDOW_MIN;
}

static int
h2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2	*h = arg;
	struct hsess	*s = h->s;
	struct hstream	*st;
	int		 end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	double		 now;

	(void)ng;
	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		st = h2_hdr_stream(h, frame->hd.stream_id);
		h->hdr_stream = 0;
		h->hdr_st = NULL;
		if (st == NULL)
			break;
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			h2_request(h, st, end);
		else if (end && !st->req_done) {
			st->req_done = 1;	/* trailers end the body */
			hproxy_body_end(st);
		}
		break;
	case NGHTTP2_DATA:
		if (end && (st = h2_stream(h, frame->hd.stream_id)) != NULL &&
		    !st->req_done) {
			st->req_done = 1;
			hproxy_body_end(st);
		}
		break;
	case NGHTTP2_RST_STREAM:
		/* CVE-2023-44487: a client that opens and resets streams makes
		 * work for the backend side at no cost of its own. */
		now = hsess_now(s);
		if (now - h->rst_t0 >= H2_RST_WINDOW_SECS) {
			h->rst_t0 = now;
			h->rst_window = 0;
		}
		h->rst_window++;
		h->rst_total++;
		if (h->rst_window > h2_rst_limit(h))
			h2_terminate(h, NGHTTP2_ENHANCE_YOUR_CALM, "rapid reset");
		else if (h->rst_total > H2_RST_CONN_MAX && h->rst_total * 2 > s->nreq)
			h2_terminate(h, NGHTTP2_ENHANCE_YOUR_CALM,
			    "too many resets on one connection");
		break;
	default:
		break;
	}
	return 0;
}

static int
h2_on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p,
    size_t n, void *arg)
{
	struct h2	*h = arg;
	struct hstream	*st = h2_stream(h, id);
	struct h2st	*hs;
	int64_t		 max;

	(void)flags;
	if (st == NULL) {
		nghttp2_session_consume(ng, id, n);
		return 0;
	}
	hs = st->fe;
	hs->unconsumed += n;
	/* A tunnel's bytes are no request body: no size limit. */
	max = st->site != NULL && !st->upgrade ? st->site->http.max_body : 0;
	if (!st->local && max > 0 && st->req_body_bytes + n > (uint64_t)max) {
		st->req_body_bytes += n;
		if (!st->head_sent && st->state != HST_RESPONDING)
			hproxy_respond(st, 413, HSE_BAD_REQUEST, "request body too large");
		else {
			st->err = HSE_BAD_REQUEST;
			snprintf(st->why, sizeof(st->why), "request body too large");
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
		}
		h2_consume(h, st, hs->unconsumed);
		return 0;
	}
	hproxy_body(st, p, n);
	/* Nobody will take these bytes: the window opens at once. */
	if (st->local || st->state == HST_DONE || st->up == NULL)
		h2_consume(h, st, hs->unconsumed);
	return 0;
}

static int
h2_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct h2	*h = arg;
	struct hsess	*s = h->s;
	struct hstream	*st = h2_stream(h, id);
	struct h2st	*hs;

	if (id == h->hdr_stream) {
		h->hdr_stream = 0;
		h->hdr_st = NULL;
	}
	if (st == NULL)
		return 0;
	/* No set_stream_user_data(NULL): with no_closed_streams (h2.c) the
	 * stream is destroyed as this returns. */
	hs = st->fe;
	/* Window the stream held but nobody gave back: the connection's. */
	if (hs->unconsumed > 0)
		nghttp2_session_consume_connection(ng, hs->unconsumed);
	if (!hs->eof_sent && st->err == HSE_NONE) {
		st->err = HSE_CLIENT;
		snprintf(st->why, sizeof(st->why), "stream reset (%s)",
		    nghttp2_http2_strerror(code));
	}
	st->fe = NULL;
	hstream_free(st);
	if (s->nstreams == 0)
		h->idle_since = hsess_now(s);
	return 0;
}

void
h2_recv_callbacks(nghttp2_session_callbacks *cb)
{
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
}
