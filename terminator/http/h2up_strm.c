/*
 * h2up_strm.c - the streams of the HTTP/2 backend connections (h2up.h):
 * a request becomes HEADERS (pseudo-headers from st->req, the end-to-end
 * fields, "te: trailers" when the client sent it) and DATA read from
 * st->req_body as the backend's window allows; the response's HEADERS,
 * DATA and trailers fill st->resp, st->resp_body and st->resp_tr. h2up.c
 * owns the connections.
 *
 * nghttp2's callbacks only record: each stream queues what it has for the
 * middle (H2P_* bits) on the worker's pool, and h2u_deliver() hands it on
 * once nghttp2 has returned, from the end of our own event callbacks. A
 * stream is freed when both the middle let it go (h2up_detach) and nghttp2
 * is done with it (closed, never sent, or its connection gone); until then
 * nghttp2's pointer to it stays valid and finds st NULL.
 *
 * Flow control: the session runs without automatic WINDOW_UPDATEs. Response
 * bytes count as consumed only when the frontend took them out of
 * st->resp_body (h2up_resume), so a stream never buffers more than its
 * window, HSTREAM_RESP_HIGH. The request body is read by nghttp2 when the
 * backend's window has room; what the client sends meanwhile waits in
 * st->req_body, which the middle bounds.
 *
 * Timers, per stream: until the final response head, the response timeout;
 * after it, the body timeout. Both count from the last byte either way
 * (a gRPC stream may be quiet on one side while the other talks), and the
 * body timeout does not run while the client has not taken what came.
 */
#include "h2up_impl.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "log.h"
#include "pool.h"
#include "xalloc.h"

#define H2UP_HEAD_MAX	(64 * 1024)	/* response head or trailers */
#define H2UP_FIELDS_MAX	256

static nghttp2_session_callbacks	*h2u_cbs;
static pthread_once_t			 h2u_cbs_once = PTHREAD_ONCE_INIT;

static void	h2us_on_timer(evutil_socket_t, short, void *);

static struct h2us *
h2us_of(nghttp2_session *ng, int32_t id)
{
	struct h2us *s = nghttp2_session_get_stream_user_data(ng, id);

	assert(s == NULL || s->magic == H2UP_MAGIC);
	return s;
}

/* --- the stream's life ------------------------------------------------- */

void
h2us_note(struct h2us *s, unsigned pend)
{
	struct h2up_pool *pool = s->pool;

	s->pend |= pend;
	if (s->queued)
		return;
	s->queued = 1;
	s->qnext = NULL;
	if (pool->qtail != NULL)
		pool->qtail->qnext = s;
	else
		pool->q = s;
	pool->qtail = s;
}

void
h2us_fail(struct h2us *s, enum hstream_err err, int retry, const char *fmt, ...)
{
	va_list ap;

	if (s->st == NULL || (s->pend & H2P_ERR) || s->resp_end)
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	s->err = err;
	s->retry = retry;
	h2us_note(s, H2P_ERR);
}

void
h2us_timer(struct h2us *s, double secs)
{
	struct timeval tv;

	s->t_limit = secs;
	s->t_mark = h2u_now();
	if (secs <= 0)
		return;
	if (s->t_armed != 0 && s->t_armed <= s->t_mark + secs)
		return;
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	evtimer_add(&s->tev, &tv);
	s->t_armed = s->t_mark + secs;
}

void
h2us_progress(struct h2us *s)
{
	s->t_mark = h2u_now();
}

void
h2us_unlink(struct h2us *s)
{
	struct h2uconn *c = s->c;

	if (c == NULL)
		return;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->c = NULL;
}

void
h2us_maybe_free(struct h2us *s)
{
	if (s->st != NULL || s->queued || s->dlv)
		return;
	if (s->c != NULL && s->id > 0 && !s->closed)
		return;		/* nghttp2 may still call us about it */
	h2us_unlink(s);
	event_del(&s->tev);
	s->magic = 0;
	free(s);
}

/*
 * The middle lets go of s, or s of the middle: st->up is cleared, and a
 * stream still open at the backend is reset unless both sides ended.
 * Window the stream held goes back to the connection.
 */
static void
h2us_release(struct h2us *s)
{
	struct hstream	*st = s->st;
	struct h2uconn	*c = s->c;

	if (st == NULL)
		return;
	st->up = NULL;
	s->st = NULL;
	s->pend = 0;
	event_del(&s->tev);
	s->t_armed = 0;
	atomic_fetch_sub_explicit(&s->b->active, 1, memory_order_relaxed);
	if (c == NULL)
		return;
	c->nstreams--;
	h2uc_gauge(c);
	if (c->ng != NULL && s->id > 0 && !s->closed) {
		if (!(s->resp_end && s->req_end))
			(void)nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id,
			    NGHTTP2_CANCEL);
		if (s->unacked > 0)
			(void)nghttp2_session_consume(c->ng, s->id, s->unacked);
		s->unacked = 0;
	}
	h2uc_kick(c);	/* the RST, WINDOW_UPDATE, or the idle timer */
}

/* s was not processed: send its request again on another connection (a
 * new one if need be), without the middle knowing. */
static void
h2us_resend(struct h2us *s)
{
	struct hstream		*st = s->st;
	struct upstream_opts	 o = s->o;
	unsigned		 n = s->resends + 1;

	h2us_release(s);
	if (h2up_start(s->pool, st, s->p, s->b, &o) == -1) {
		hproxy_on_error(st, HSE_CONNECT, 1, st->why);
		return;
	}
	((struct h2us *)(void *)st->up)->resends = n;
}

void
h2u_deliver(struct h2up_pool *pool)
{
	struct h2us	*s;
	struct hstream	*st;
	unsigned	 pend;
	size_t		 n;

	if (pool->delivering)
		return;
	pool->delivering = 1;
	while ((s = pool->q) != NULL) {
		pool->q = s->qnext;
		if (pool->q == NULL)
			pool->qtail = NULL;
		s->qnext = NULL;
		s->queued = 0;
		pend = s->pend;
		s->pend = 0;
		if ((st = s->st) == NULL) {
			h2us_maybe_free(s);
			continue;
		}
		s->dlv = 1;
		if ((pend & H2P_ERR) && s->refused && s->resends < H2UP_RESENDS)
			h2us_resend(s);
		else if (pend & H2P_ERR) {
			/* The middle may send st again from inside, elsewhere. */
			h2us_release(s);
			hproxy_on_error(st, s->err, s->retry, s->why);
		} else {
			if ((pend & H2P_TAKEN) && (n = s->taken) > 0) {
				s->taken = 0;
				hproxy_on_body_taken(st, n);
			}
			if ((pend & H2P_HEAD) && s->st == st)
				hproxy_on_resp_head(st);
			if ((pend & H2P_DATA) && s->st == st)
				hproxy_on_resp_data(st);
			if ((pend & H2P_END) && s->st == st) {
				st->resp_done = 1;
				hproxy_on_resp_end(st);
			}
		}
		s->dlv = 0;
		h2us_maybe_free(s);
	}
	pool->delivering = 0;
}

static void
h2us_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct h2us		*s = arg;
	struct h2up_pool	*pool = s->pool;
	struct timeval		 tv;
	double			 left;

	(void)fd;
	(void)what;
	assert(s->magic == H2UP_MAGIC);
	s->t_armed = 0;
	if (s->t_limit <= 0 || s->st == NULL)
		return;
	left = s->t_limit - (h2u_now() - s->t_mark);
	/* A client that has not taken the last bytes is not the backend's
	 * silence: wait for it. */
	if (left <= 0.001 && s->final && evbuffer_get_length(s->st->resp_body) > 0)
		left = s->t_limit;
	if (left > 0.001) {
		tv.tv_sec = (time_t)left;
		tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
		evtimer_add(&s->tev, &tv);
		s->t_armed = h2u_now() + left;
		return;
	}
	if (!s->final)
		h2us_fail(s, HSE_TIMEOUT, 0, "backend %s: no response in %.3gs",
		    s->b->str, s->t_limit);
	else
		h2us_fail(s, HSE_TIMEOUT, 0, "backend %s: no response body byte in "
		    "%.3gs", s->b->str, s->t_limit);
	h2u_deliver(pool);	/* releases s: the RST goes out from a kick */
}

/* --- requests ---------------------------------------------------------- */

/* Fields an HTTP/2 request may not carry (RFC 9113 8.2.2), Host (it is
 * :authority), and the length we send ourselves. */
static int
h2us_skip_field(const struct hfield *f)
{
	const char *n = f->name;

	switch (f->nlen) {
	case 0:
		return 1;
	case 2:
		return memcmp(n, "te", 2) == 0;
	case 4:
		return memcmp(n, "host", 4) == 0;
	case 7:
		return memcmp(n, "upgrade", 7) == 0;
	case 10:
		return memcmp(n, "connection", 10) == 0 ||
		    memcmp(n, "keep-alive", 10) == 0;
	case 14:
		return memcmp(n, "content-length", 14) == 0;
	case 16:
		return memcmp(n, "proxy-connection", 16) == 0;
	case 17:
		return memcmp(n, "transfer-encoding", 17) == 0;
	}
	return n[0] == ':';
}

static ssize_t
h2us_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct h2us	*s = src->ptr;
	struct hstream	*st;
	int		 n;

	(void)ng;
	(void)id;
	(void)arg;
	assert(s->magic == H2UP_MAGIC);
	if ((st = s->st) == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;	/* resets it */
	if ((n = evbuffer_remove(st->req_body, buf, len)) < 0)
		n = 0;
	if (n > 0) {
		st->req_body_sent += (uint64_t)n;
		s->taken += (size_t)n;
		h2us_note(s, H2P_TAKEN);
		h2us_progress(s);
	}
	if (st->req_done && evbuffer_get_length(st->req_body) == 0) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->req_end = 1;
		return n;
	}
	if (n == 0) {
		s->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	return n;
}

#define H2US_NV(nm, nl, v, vl) (nghttp2_nv){ (uint8_t *)(nm), (uint8_t *)(v), \
	(nl), (vl), NGHTTP2_NV_FLAG_NONE }

/* Send s's request on c (open). A failure is noted on s. */
static void
h2us_submit(struct h2uconn *c, struct h2us *s)
{
	const struct hreq	*r = &s->st->req;
	const char		*auth = r->authority != NULL ? r->authority : "";
	const char		*scheme = c->ssl != NULL ? "https" : "http";
	nghttp2_nv		*nv, nv_small[40];
	nghttp2_data_provider	 dp;
	char			 clen[24];
	size_t			 n = 0;
	int32_t			 id;
	int			 body = r->body;

	nv = (size_t)r->h.n + 6 <= sizeof(nv_small) / sizeof(nv_small[0]) ?
	    nv_small : xcalloc((size_t)r->h.n + 6, sizeof(*nv));
	nv[n++] = H2US_NV(":method", 7, r->method, strlen(r->method));
	nv[n++] = H2US_NV(":scheme", 7, scheme, strlen(scheme));
	nv[n++] = H2US_NV(":authority", 10, auth, strlen(auth));
	nv[n++] = H2US_NV(":path", 5, r->target, strlen(r->target));
	for (uint32_t i = 0; i < r->h.n; i++) {
		const struct hfield *f = &r->h.v[i];
		if (!h2us_skip_field(f))
			nv[n++] = H2US_NV(f->name, f->nlen, f->value, f->vlen);
	}
	/* RFC 9113 8.2.2: the one TE an HTTP/2 request may carry; gRPC
	 * servers want it. */
	if (r->te_trailers)
		nv[n++] = H2US_NV("te", 2, "trailers", 8);
	if (r->clen >= 0) {
		int l = snprintf(clen, sizeof(clen), "%lld", (long long)r->clen);
		nv[n++] = H2US_NV("content-length", 14, clen, (size_t)l);
	}
	dp.source.ptr = s;
	dp.read_callback = h2us_read_body;
	id = nghttp2_submit_request(c->ng, NULL, nv, n, body ? &dp : NULL, s);
	if (nv != nv_small)
		free(nv);
	if (id < 0) {
		h2us_fail(s, HSE_BACKEND, 1, "backend %s: HTTP/2 request: %s",
		    s->b->str, nghttp2_strerror(id));
		return;
	}
	s->id = id;
	s->req_end = !body;
	c->nused++;
	h2us_timer(s, s->o.response_timeout);
}

void
h2us_submit_all(struct h2uconn *c)
{
	for (struct h2us *s = c->streams; s != NULL; s = s->next)
		if (s->id == 0 && s->st != NULL)
			h2us_submit(c, s);
}

/* --- nghttp2's callbacks ----------------------------------------------- */

static int
h2u_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2us *s;

	(void)arg;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    (s = h2us_of(ng, frame->hd.stream_id)) == NULL)
		return 0;
	/* After the final head, a header block is trailers. */
	s->in_tr = s->final;
	s->hbytes = 0;
	return 0;
}

/* The head broke our limits: the stream is reset, the client told. */
static int
h2us_bad_head(struct h2us *s, const char *why)
{
	h2us_fail(s, HSE_BACKEND, 0, "backend %s: %s", s->b->str, why);
	return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int
h2u_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct h2us	*s;
	struct hstream	*st;
	struct hfields	*h;

	(void)flags;
	(void)arg;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    (s = h2us_of(ng, frame->hd.stream_id)) == NULL || (st = s->st) == NULL)
		return 0;
	s->got_bytes = 1;
	if ((s->hbytes += nlen + vlen) > H2UP_HEAD_MAX)
		return h2us_bad_head(s, "response head too large");
	if (s->in_tr) {
		if (nlen > 0 && name[0] == ':')
			return 0;	/* nghttp2 refuses these anyway */
		if (st->resp_tr == NULL)
			st->resp_tr = xcalloc(1, sizeof(*st->resp_tr));
		h = st->resp_tr;
	} else {
		h = &st->resp.h;
		if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
			/* nghttp2 checked: three digits. */
			st->resp.status = vlen == 3 ? (value[0] - '0') * 100 +
			    (value[1] - '0') * 10 + (value[2] - '0') : 0;
			return 0;
		}
		if (nlen > 0 && name[0] == ':')
			return 0;
		if (nlen == 14 && memcmp(name, "content-length", 14) == 0) {
			int64_t v = 0;	/* digits: nghttp2 checked */
			for (size_t i = 0; i < vlen && v < INT64_MAX / 10 - 10; i++)
				v = v * 10 + (value[i] - '0');
			st->resp.clen = v;
			return 0;
		}
	}
	if (h->n >= H2UP_FIELDS_MAX)
		return h2us_bad_head(s, "too many response fields");
	hfields_add(h, (const char *)name, nlen, (const char *)value, vlen);
	return 0;
}

static void
h2us_end(struct h2us *s)
{
	if (s->resp_end)
		return;
	s->resp_end = 1;
	s->t_limit = 0;
	h2us_note(s, H2P_END);
}

static int
h2u_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *arg)
{
	struct h2uconn	*c = arg;
	struct h2us	*s;
	struct hstream	*st;
	int		 end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	if (frame->hd.type == NGHTTP2_SETTINGS &&
	    !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		c->settings = 1;	/* h2uc_room() may trust them now */
		return 0;
	}
	if (frame->hd.type == NGHTTP2_GOAWAY) {
		/* No new streams here; nghttp2 closes those above
		 * last_stream_id as REFUSED_STREAM (retried elsewhere). */
		c->goaway = 1;
		log_debug("h%08x backend %s: GOAWAY(%s), last stream %d", c->id,
		    c->b->str, nghttp2_http2_strerror(frame->goaway.error_code),
		    frame->goaway.last_stream_id);
		return 0;
	}
	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    (s = h2us_of(ng, frame->hd.stream_id)) == NULL || (st = s->st) == NULL)
		return 0;
	h2us_progress(s);
	if (frame->hd.type == NGHTTP2_HEADERS && !s->in_tr) {
		if (st->resp.status >= 100 && st->resp.status < 200 && !end) {
			/* 100 Continue, 103 Early Hints: skipped. */
			hfields_reset(&st->resp.h);
			st->resp.status = 0;
			st->resp.clen = -1;
			return 0;
		}
		s->final = 1;
		st->resp.body = !(end || st->req.m == HM_HEAD ||
		    st->resp.status == 204 || st->resp.status == 304);
		h2us_note(s, H2P_HEAD);
		h2us_timer(s, s->o.body_timeout);
	}
	if (end)
		h2us_end(s);
	return 0;
}

static int
h2u_on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p,
    size_t n, void *arg)
{
	struct h2us	*s = h2us_of(ng, id);
	struct hstream	*st;

	(void)flags;
	(void)arg;
	if (s == NULL || (st = s->st) == NULL) {
		/* Nobody takes these: the window opens at once. */
		(void)nghttp2_session_consume(ng, id, n);
		return 0;
	}
	evbuffer_add(st->resp_body, p, n);
	st->resp_body_bytes += n;
	s->unacked += n;
	s->got_bytes = 1;
	h2us_progress(s);
	h2us_note(s, H2P_DATA);
	return 0;
}

static int
h2u_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct h2us *s = h2us_of(ng, id);

	(void)arg;
	if (s == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	s->closed = 1;
	if (s->unacked > 0)
		(void)nghttp2_session_consume_connection(ng, s->unacked);
	s->unacked = 0;
	if (s->st != NULL && !s->resp_end) {
		const struct hstream *st = s->st;
		/* RFC 9113 8.7: a refused stream was not processed, nor
		 * one whose HEADERS never went (a GOAWAY came first). */
		if (code == NGHTTP2_REFUSED_STREAM || s->unsent) {
			s->refused = !s->got_bytes && st->req_body_sent == 0;
			h2us_fail(s, HSE_BACKEND, s->refused,
			    "backend %s refused the stream", s->b->str);
		}
		else
			h2us_fail(s, HSE_BACKEND, 0, "backend %s reset the stream (%s)",
			    s->b->str, nghttp2_http2_strerror(code));
	}
	h2us_maybe_free(s);
	return 0;
}

/* A request's HEADERS could not be sent (the backend's GOAWAY came in
 * between): the stream closes next, and may be sent elsewhere. */
static int
h2u_on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *frame,
    int err, void *arg)
{
	struct h2us *s;

	(void)err;
	(void)arg;
	if (frame->hd.type == NGHTTP2_HEADERS &&
	    (s = h2us_of(ng, frame->hd.stream_id)) != NULL)
		s->unsent = 1;
	return 0;
}

static void
h2u_callbacks_init(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2u_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2u_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2u_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2u_on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2u_on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, h2u_on_frame_not_send);
	h2u_cbs = cb;	/* kept for the process's life */
}

nghttp2_session_callbacks *
h2u_callbacks(void)
{
	pthread_once(&h2u_cbs_once, h2u_callbacks_init);
	return h2u_cbs;
}

/* --- the API ----------------------------------------------------------- */

int
h2up_owns(const struct upconn *u)
{
	return u != NULL && *(const uint32_t *)(const void *)u == H2UP_MAGIC;
}

int
h2up_start(struct h2up_pool *pool, struct hstream *st, struct pool *p,
    struct backend *b, const struct upstream_opts *o)
{
	struct h2uconn	*c;
	struct h2us	*s;

	assert(pool->magic == H2UPOOL_MAGIC && st->up == NULL);
	if (st->upgrade) {
		/* RFC 8441 towards the backend is not made. */
		snprintf(st->why, sizeof(st->why), "backend %s speaks HTTP/2: "
		    "WebSockets to it are not supported", b->str);
		return -1;
	}
	if ((c = h2uc_get(pool, p, b, o, st->why, sizeof(st->why))) == NULL)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->magic = H2UP_MAGIC;
	s->pool = pool;
	s->b = b;
	s->p = p;
	s->o = *o;
	s->st = st;
	evtimer_assign(&s->tev, pool->base, h2us_on_timer, s);
	s->c = c;
	s->next = c->streams;
	if (c->streams != NULL)
		c->streams->prev = s;
	c->streams = s;
	c->nstreams++;
	h2uc_gauge(c);
	c->idle_since = 0;
	if (o->idle_timeout > c->idle_timeout)
		c->idle_timeout = o->idle_timeout;
	st->up = (struct upconn *)(void *)s;
	st->bk = b;
	st->reused = c->nused > 0;
	atomic_fetch_add_explicit(&b->active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->total, 1, memory_order_relaxed);
	if (st->reused)
		atomic_fetch_add_explicit(&b->reuses, 1, memory_order_relaxed);
	/* Until it is sent: the connect and the response timeouts. */
	h2us_timer(s, o->connect_timeout + o->response_timeout);
	if (c->state == H2UC_OPEN && c->settings)
		h2us_submit(c, s);
	else
		c->to_submit = 1;
	h2uc_kick(c);
	return 0;
}

void
h2up_body(struct upconn *u)
{
	struct h2us *s = (struct h2us *)(void *)u;

	assert(s->magic == H2UP_MAGIC);
	if (s->st == NULL || s->c == NULL || s->id == 0 || s->closed || !s->deferred)
		return;
	s->deferred = 0;
	(void)nghttp2_session_resume_data(s->c->ng, s->id);
	h2uc_kick(s->c);
}

void
h2up_resume(struct upconn *u)
{
	struct h2us	*s = (struct h2us *)(void *)u;
	size_t		 left, n;

	assert(s->magic == H2UP_MAGIC);
	if (s->st == NULL || s->c == NULL || s->c->ng == NULL || s->id == 0)
		return;
	left = evbuffer_get_length(s->st->resp_body);
	if (s->unacked <= left)
		return;
	/* What the frontend took opens the window again. */
	n = s->unacked - left;
	s->unacked = left;
	(void)nghttp2_session_consume(s->c->ng, s->id, n);
	h2uc_kick(s->c);
}

void
h2up_detach(struct upconn *u)
{
	struct h2us *s = (struct h2us *)(void *)u;

	assert(s->magic == H2UP_MAGIC);
	if (s->st == NULL)
		return;
	h2us_release(s);
	h2us_maybe_free(s);
}
