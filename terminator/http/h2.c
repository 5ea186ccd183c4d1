/*
 * h2.c - the client side of HTTP/2: an nghttp2 server session turns each
 * request stream into an hstream, and answers go out as HEADERS and DATA.
 *
 * nghttp2 does the framing, HPACK, stream states and most validation (field
 * names and values, pseudo-headers, connection-specific fields,
 * Content-Length against the DATA received); this file adds what is ours:
 * the size limits (431, 414, 413), the routing through the middle, flow
 * control tied to the backend (NO_AUTO_WINDOW_UPDATE: a window opens again
 * only when upstream.c took the bytes, so a slow backend slows the client
 * and a stream buffers at most its window), and the protections the issue
 * asks for:
 *   - rapid reset (CVE-2023-44487): client RST_STREAMs are counted per
 *     10-second window and per connection; past either limit the
 *     connection ends with GOAWAY(ENHANCE_YOUR_CALM);
 *   - CONTINUATION floods: nghttp2's max_continuations bounds a header
 *     block's frames, and the decoded fields are counted here (an HPACK
 *     bomb stops being stored at max_header_size and kills the connection
 *     at H2_HDR_KILL times that);
 *   - SETTINGS and PING floods: nghttp2 closes the session when more than
 *     max_outbound_ack acknowledgements wait (the client does not read),
 *     and refuses SETTINGS frames with more than max_settings entries;
 *   - SETTINGS_MAX_CONCURRENT_STREAMS, enforced by nghttp2 (REFUSED_STREAM
 *     before the client acknowledged it, a connection error after).
 * Output is produced on demand: fill() runs nghttp2_session_mem_send until
 * s->out holds HSESS_OUT_HIGH bytes; the rest comes at the next fill. The
 * frames are packed into space reserved at the end of s->out (no
 * evbuffer_add per frame), and DATA frames are NO_COPY: h2_send_data
 * writes the frame header and moves the body from the stream's buffer
 * straight there, where nghttp2 would copy it into its frame buffer first.
 *
 * Dormancy: nghttp2's server session is about 3 KB of malloc'd memory
 * (plus its buffers), all of it resident, whether a stream was ever opened
 * or not. A connection on which the client never opened a stream
 * (preconnects, pools opened ahead of use) holds nothing that a session
 * built afresh would not rebuild from what the client sent: the SETTINGS
 * exchanged, the connection window and PINGs. So until the first stream,
 * the client's bytes are kept (at most H2_LOG_MAX); once such a
 * connection has been idle for H2_TRIM_AFTER with nothing left to send and
 * the bytes are whole frames of those kinds only, the session is deleted.
 * The next input (or a GOAWAY of ours) builds a new one exactly as
 * h2_init() did, feeds it the kept bytes and throws away what it answers
 * (those answers went out the first time), and goes on. A connection that
 * has carried a stream keeps its session: its HPACK tables are state.
 *
 * WebSockets (RFC 8441, ws.h): SETTINGS_ENABLE_CONNECT_PROTOCOL is
 * offered; a CONNECT stream with :protocol websocket is bridged to an
 * HTTP/1.1 upgrade, and the backend's 101 is answered here with 200, after
 * which the stream's DATA both ways is the tunnel's bytes, under the same
 * flow control as any body.
 *
 * This file has the session, the responses and the timers; h2_recv.c has
 * the receive callbacks (requests, bodies, resets), h2_impl.h what both use.
 */
#include "hsess_impl.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "h2_impl.h"
#include "h2mem.h"
#include "log.h"
#include "sites.h"
#include "xalloc.h"

/* Fallbacks for a view whose limits were left at 0. */
#define H2_DEF_STREAMS		100
#define H2_DEF_HEADER_SIZE	65536
#define H2_DEF_HEADERS		100
#define H2_DEF_URI		8192
#define H2_DEF_KEEPALIVE	60.0
#define H2_DEF_HEADER_TIMEOUT	10.0

/* A stream's receive window: about what it buffers for a slow backend. */
#define H2_STREAM_WINDOW	HSTREAM_BODY_HIGH
/* The connection's receive window (all streams together). */
#define H2_CONN_WINDOW		(1024 * 1024)
/* Idle seconds after which the session's empty buffers go back to the
 * kernel (h2mem_trim): past a page load's pauses, so that a busy
 * connection pays no page faults for it. */
#define H2_TRIM_AFTER		0.5
/* Client bytes kept for a dormant session's replay, at most. */
#define H2_LOG_MAX		512
/* SETTINGS and PING acknowledgements queued before the session is closed. */
#define H2_MAX_OUTBOUND_ACK	100
/* Bytes reserved in s->out at a time: with libevent's chain header, a
 * 4 KiB block (which bufcache.h keeps). */
#define H2_OUT_CHUNK		(4096 - 128)

static nghttp2_session_callbacks *h2_cbs;
static pthread_once_t h2_cbs_once = PTHREAD_ONCE_INIT;

static int	h2_wake(struct h2 *h);

/* End the connection with GOAWAY(code): nothing more is read, what is
 * queued (the GOAWAY last) is sent, then the connection closes. */
void
h2_terminate(struct h2 *h, uint32_t code, const char *why)
{
	if (h->state == H2_DONE)
		return;
	if (h->dormant && h2_wake(h) == -1) {
		h->state = H2_DONE;
		h->s->state = HSESS_ABORT;
		return;
	}
	/* A misbehaving peer is worth an info line; a timeout is not. */
	if (code != NGHTTP2_NO_ERROR)
		log_info("c%08x: HTTP/2 GOAWAY(%s): %s", h->s->c.conn_id,
		    nghttp2_http2_strerror(code), why);
	else
		log_debug("c%08x: HTTP/2 GOAWAY: %s", h->s->c.conn_id, why);
	nghttp2_session_terminate_session(h->ng, code);
	h->state = H2_DONE;
	h->s->state = HSESS_CLOSING;
}

/* Arm the session timer: the header block in progress, or idleness. */
static void
h2_arm(struct h2 *h)
{
	struct hsess	*s = h->s;
	double		 now, left;

	if (h->state == H2_DONE || s->state != HSESS_OPEN) {
		hsess_timer(s, 0);
		return;
	}
	now = hsess_now(s);
	if (h->hdr_stream != 0)
		left = h->hdr_t0 + h->header_timeout - now;
	else if (s->nstreams == 0) {
		left = h->idle_since + h->keepalive - now;
		if (!h->trimmed && h->idle_since + H2_TRIM_AFTER - now < left)
			left = h->idle_since + H2_TRIM_AFTER - now;
	} else {
		hsess_timer(s, 0);
		return;
	}
	hsess_timer(s, left > 0.001 ? left : 0.001);
}

/* Whether the session should close: nghttp2 is done, or the streams
 * finished after a GOAWAY or the client's EOF. */
static void
h2_check(struct h2 *h)
{
	struct hsess *s = h->s;

	if (s->state != HSESS_OPEN)
		return;
	if (h->dormant) {
		if (h->eof)
			s->state = HSESS_CLOSING;	/* nothing was in flight */
	} else if (!nghttp2_session_want_read(h->ng) && !nghttp2_session_want_write(h->ng))
		s->state = HSESS_CLOSING;
	else if ((h->eof || h->state == H2_DRAINING) && s->nstreams == 0)
		s->state = HSESS_CLOSING;
	if (s->state != HSESS_OPEN)
		h->state = H2_DONE;
}

/* --- output ----------------------------------------------------------- */

/* Make what was packed part of s->out. */
static void
h2_out_commit(struct h2 *h)
{
	struct evbuffer_iovec v;

	if (h->wp == NULL)
		return;
	v.iov_base = h->wp;
	v.iov_len = h->wlen;
	if (h->wlen > 0 && evbuffer_commit_space(h->s->out, &v, 1) != 0)
		abort();	/* the space was reserved: cannot fail */
	h->wbase += h->wlen;
	h->wp = NULL;
	h->wlen = h->wcap = 0;
}

/* At least one byte of room at h->wp + h->wlen. */
static void
h2_out_room(struct h2 *h)
{
	struct evbuffer_iovec v;

	if (h->wp != NULL && h->wlen < h->wcap)
		return;
	h2_out_commit(h);
	if (evbuffer_reserve_space(h->s->out, H2_OUT_CHUNK, &v, 1) < 1)
		abort();	/* out of memory, as xmalloc does */
	h->wp = v.iov_base;
	h->wcap = v.iov_len;
}

/* Room for the next piece of n bytes: how many fit at h->wp + h->wlen. */
static size_t
h2_out_span(struct h2 *h, size_t n)
{
	h2_out_room(h);
	return h->wcap - h->wlen < n ? h->wcap - h->wlen : n;
}

/* Append n bytes of p (a frame may span reservations). */
static void
h2_out_put(struct h2 *h, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t k = h2_out_span(h, n);
		memcpy(h->wp + h->wlen, p, k);
		h->wlen += k;
		p += k;
		n -= k;
	}
}

/* Move n bytes of b to the output. */
static int
h2_out_move(struct h2 *h, struct evbuffer *b, size_t n)
{
	while (n > 0) {
		size_t k = h2_out_span(h, n);
		if (evbuffer_remove(b, h->wp + h->wlen, k) != (int)k)
			return -1;
		h->wlen += k;
		n -= k;
	}
	return 0;
}

/* --- responses -------------------------------------------------------- */

static int	h2_skip_field(const struct hfield *f);

/* Submit st's response trailers, if it has any: 0 when submitted. */
static int
h2_trailers(nghttp2_session *ng, struct hstream *st)
{
	const struct hfields	*t = st->resp_tr;
	nghttp2_nv		*nv;
	size_t			 n = 0;
	int			 rv;

	if (t == NULL || t->n == 0)
		return -1;
	nv = xcalloc(t->n, sizeof(*nv));
	for (uint32_t i = 0; i < t->n; i++)
		if (!h2_skip_field(&t->v[i]))
			nv[n++] = (nghttp2_nv){ (uint8_t *)t->v[i].name,
			    (uint8_t *)t->v[i].value, t->v[i].nlen, t->v[i].vlen,
			    NGHTTP2_NV_FLAG_NONE };
	rv = n > 0 ? nghttp2_submit_trailer(ng, st->id, nv, n) : -1;
	free(nv);
	return rv == 0 ? 0 : -1;
}

/* How much of st's body the next DATA frame carries (at most len); the
 * bytes stay in st->resp_body until h2_send_data moves them, which
 * nghttp2 calls next, before any other callback of ours. */
static ssize_t
h2_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct hstream	*st = src->ptr;
	struct h2st	*hs = st->fe;
	size_t		 have;

	(void)id;
	(void)buf;
	(void)arg;
	assert(st->magic == HSTREAM_MAGIC);
	have = evbuffer_get_length(st->resp_body);
	if (len > have)
		len = have;
	if (st->resp_done && len == have) {
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_COPY;
		/* The backend's trailers end the stream instead (h2up.h). */
		if (h2_trailers(ng, st) == 0)
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		hs->eof_sent = 1;
		st->state = HST_DONE;
		return (ssize_t)len;
	}
	if (len == 0) {
		hs->deferred = 1;	/* h2_on_data resumes it */
		return NGHTTP2_ERR_DEFERRED;
	}
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	return (ssize_t)len;
}

/* A DATA frame of h2_read_body's: its header, then the body bytes moved
 * from the stream's buffer (no padding: we never ask for it). nghttp2
 * calls this only from the mem_send of h2_fill. */
static int
h2_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *fh,
    size_t len, nghttp2_data_source *src, void *arg)
{
	struct h2	*h = arg;
	struct hstream	*st = src->ptr;

	(void)ng;
	assert(st->magic == HSTREAM_MAGIC && frame->data.padlen == 0);
	h2_out_put(h, fh, 9);
	if (h2_out_move(h, st->resp_body, len) == -1)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	h->trimmed = 0;
	if (len > 0) {
		st->out_bytes += (uint64_t)len;
		hproxy_resp_taken(st);
	}
	/* h2_fill's bound: a mem_send goes on past NO_COPY DATA frames. */
	if (h->wbase + h->wlen >= HSESS_OUT_HIGH) {
		h->paused = 1;
		return NGHTTP2_ERR_PAUSE;
	}
	return 0;
}

/* Fields no HTTP/2 message may carry (RFC 9113 8.2.2), and the length we
 * send ourselves: connection, keep-alive, proxy-connection,
 * transfer-encoding, upgrade, te, content-length. */
static int
h2_skip_field(const struct hfield *f)
{
	const char *n = f->name;

	switch (f->nlen) {
	case 0:
		return 1;
	case 2:
		return memcmp(n, "te", 2) == 0;
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

/* v in decimal, ending at end (of a buffer of at least 21 bytes before
 * it); returns where it starts. */
static char *
h2_itoa(int64_t v, char *end)
{
	char		*p = end;
	uint64_t	 u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return p;
}

/* A status code as h2_itoa() does; three digits need no loop. */
static char *
h2_status(int v, char *end)
{
	if (v < 100 || v > 999)
		return h2_itoa(v, end);
	end[-3] = (char)('0' + v / 100);
	end[-2] = (char)('0' + v / 10 % 10);
	end[-1] = (char)('0' + v % 10);
	return end - 3;
}

static void
h2_on_head(struct hstream *st)
{
	struct hsess		*s = st->s;
	struct h2		*h = s->ps;
	struct h2st		*hs = st->fe;
	struct hresp		*r = &st->resp;
	nghttp2_nv		*nv, nv_small[32];
	nghttp2_data_provider	 dp;
	char			 status[24], clen[24], *sp, *cp;
	size_t			 n = 0;
	int			 body = r->body && st->req.m != HM_HEAD, rid;

	if (st->head_sent)
		return;
	st->head_sent = 1;
	/* A local answer: the request body goes nowhere, its window opens. */
	if (st->local)
		h2_consume(h, st, hs->unconsumed);
	nv = (size_t)r->h.n + 2 <= sizeof(nv_small) / sizeof(nv_small[0]) ?
	    nv_small : xcalloc((size_t)r->h.n + 2, sizeof(*nv));
	/* RFC 8441 5: a tunnel's 101 is a 200 to the CONNECT. The literal
	 * names need no copy; the numbers on the stack do. */
	sp = h2_status(st->tunnel ? 200 : r->status, status + sizeof(status));
	nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)sp, 7,
	    (size_t)(status + sizeof(status) - sp), NGHTTP2_NV_FLAG_NO_COPY_NAME };
	if (r->clen >= 0 && (r->body || st->req.m == HM_HEAD)) {
		cp = h2_itoa(r->clen, clen + sizeof(clen));
		nv[n++] = (nghttp2_nv){ (uint8_t *)"content-length", (uint8_t *)cp,
		    14, (size_t)(clen + sizeof(clen) - cp), NGHTTP2_NV_FLAG_NO_COPY_NAME };
	}
	/*
	 * The fields are lowercase and stay where they are until the HEADERS
	 * frame is packed: the stream lives until nghttp2 closes it, after
	 * which the frame is dropped unpacked, and one let go earlier leaves
	 * them behind (h2_bury). So nghttp2 neither copies nor lowercases them.
	 * An x-request-id (ours on a local answer, or a backend's echo) is new
	 * in every response: never indexed, it does not push the fields that
	 * repeat out of the HPACK table.
	 */
	rid = (r->h.known & (1u << HFK_X_REQUEST_ID)) != 0;
	for (uint32_t i = 0; i < r->h.n; i++) {
		const struct hfield *f = &r->h.v[i];
		uint8_t fl = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
		if (h2_skip_field(f) || (st->tunnel && f->nlen == 20 &&
		    memcmp(f->name, "sec-websocket-accept", 20) == 0))
			continue;
		if (rid && f->nlen == 12 && memcmp(f->name, "x-request-id", 12) == 0)
			fl |= NGHTTP2_NV_FLAG_NO_INDEX;
		nv[n++] = (nghttp2_nv){ (uint8_t *)f->name, (uint8_t *)f->value,
		    f->nlen, f->vlen, fl };
	}
	dp.source.ptr = st;
	dp.read_callback = h2_read_body;
	if (!body) {
		hs->eof_sent = 1;
		st->state = HST_DONE;
	}
	if (nghttp2_submit_response(h->ng, st->id, nv, n, body ? &dp : NULL) != 0) {
		st->err = HSE_CLIENT;
		snprintf(st->why, sizeof(st->why), "response could not be sent");
		nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id,
		    NGHTTP2_INTERNAL_ERROR);
	}
	if (nv != nv_small)
		free(nv);
}

static void
h2_on_data(struct hstream *st)
{
	struct h2	*h = st->s->ps;
	struct h2st	*hs = st->fe;

	/* Only a DATA frame h2_read_body deferred waits to be resumed. */
	if (st->head_sent && hs->deferred) {
		hs->deferred = 0;
		nghttp2_session_resume_data(h->ng, st->id);
	}
}

static void
h2_on_abort(struct hstream *st)
{
	struct h2 *h = st->s->ps;

	nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

static void
h2_on_body_taken(struct hstream *st, size_t n)
{
	h2_consume(st->s->ps, st, n);
	/* The WINDOW_UPDATE goes out at the next fill. */
	hsess_kick_later(st->s);
}

/* --- the protocol ----------------------------------------------------- */

static void
h2_callbacks_init(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	h2_recv_callbacks(cb);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2_send_data);
	h2_cbs = cb;	/* kept for the process's life */
}

static unsigned
h2_or(unsigned v, unsigned def)
{
	return v != 0 ? v : def;
}

/* The nghttp2 session of h, with our SETTINGS and connection window
 * queued: the same at h2_init() and when a dormant session wakes. */
static int
h2_session_new(struct h2 *h)
{
	nghttp2_option		*opt;
	nghttp2_mem		 mem;
	nghttp2_settings_entry	 set[6];
	int			 rv;

	/* Workers start sessions concurrently. */
	pthread_once(&h2_cbs_once, h2_callbacks_init);
	if (nghttp2_option_new(&opt) != 0)
		return -1;
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, H2_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(opt, 32);
	/* A header block of more frames than max_header_size needs at the
	 * default frame size is a flood. */
	nghttp2_option_set_max_continuations(opt, 8 + h->max_header_size / 16384);
	/* Our own rapid-reset limit answers first (ENHANCE_YOUR_CALM);
	 * nghttp2's stays behind it. */
	nghttp2_option_set_stream_reset_rate_limit(opt, 4 * (uint64_t)h2_rst_limit(h), 33);
	nghttp2_option_set_no_closed_streams(opt, 1);
	/* Its big buffers in pages that stay untouched until used, its small
	 * ones from per-thread free lists (h2mem.h, h2small.h). */
	h2mem_init(&h->mem, &mem);
	rv = nghttp2_session_server_new3(&h->ng, h2_cbs, h, opt, &mem);
	nghttp2_option_del(opt);
	if (rv != 0) {
		h->ng = NULL;
		return -1;
	}
	set[0] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
	    h->max_streams };
	set[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
	    H2_STREAM_WINDOW };
	set[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
	    h->max_header_size };
	set[3] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };
	/* RFC 9218: no RFC 7540 priority tree to keep (or to be attacked). */
	set[4] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 };
	/* RFC 8441: WebSockets over extended CONNECT (ws.h). */
	set[5] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1 };
	if (nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, set, 6) != 0 ||
	    nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0,
	    H2_CONN_WINDOW) != 0)
		return -1;
	return 0;
}

static int
h2_init(struct hsess *s)
{
	const struct view_http	*vh = &s->c.view->http;
	struct h2		*h = xcalloc(1, sizeof(*h));

	h->s = s;
	s->ps = h;
	h->max_streams = h2_or(vh->h2_max_streams, H2_DEF_STREAMS);
	h->max_header_size = h2_or(vh->max_header_size, H2_DEF_HEADER_SIZE);
	h->max_headers = h2_or(vh->max_headers, H2_DEF_HEADERS);
	h->max_uri = h2_or(vh->max_uri, H2_DEF_URI);
	h->keepalive = vh->keepalive_timeout > 0 ? vh->keepalive_timeout : H2_DEF_KEEPALIVE;
	h->header_timeout = vh->header_timeout > 0 ? vh->header_timeout :
	    H2_DEF_HEADER_TIMEOUT;
	if (h2_session_new(h) == -1)
		return -1;
	h->loglen = 0;
	h->logcap = 128;
	h->log = xmalloc(h->logcap);
	h->idle_since = hsess_now(s);
	h->rst_t0 = h->idle_since;
	h2_arm(h);
	return 0;
}

/* --- dormancy ---------------------------------------------------------- */

static void
h2_log_stop(struct h2 *h)
{
	free(h->log);
	h->log = NULL;
	h->loglen = h->logcap = 0;
}

/* Keep the n bytes nghttp2 took, while no stream was ever opened. */
static void
h2_log_add(struct h2 *h, const uint8_t *p, size_t n)
{
	if (h->s->nstreams > 0 || h->hdr_stream != 0 ||
	    nghttp2_session_get_last_proc_stream_id(h->ng) != 0 ||
	    (size_t)h->loglen + n > H2_LOG_MAX) {
		h2_log_stop(h);
		return;
	}
	if (h->loglen + n > h->logcap) {
		h->logcap = H2_LOG_MAX;
		h->log = xrealloc(h->log, h->logcap);
	}
	memcpy(h->log + h->loglen, p, n);
	h->loglen += (uint16_t)n;
}

/* Whether the kept bytes are the client preface and whole frames that
 * leave nothing but connection settings behind: SETTINGS, PING and
 * WINDOW_UPDATE, all on stream 0. */
static int
h2_log_replayable(const struct h2 *h)
{
	size_t off = NGHTTP2_CLIENT_MAGIC_LEN, len;

	if (h->log == NULL || h->loglen < off ||
	    memcmp(h->log, NGHTTP2_CLIENT_MAGIC, off) != 0)
		return 0;
	while (off + 9 <= h->loglen) {
		const uint8_t *f = h->log + off;
		len = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];
		if ((f[3] != NGHTTP2_SETTINGS && f[3] != NGHTTP2_PING &&
		    f[3] != NGHTTP2_WINDOW_UPDATE) ||
		    (f[5] & 0x7f) != 0 || f[6] != 0 || f[7] != 0 || f[8] != 0)
			return 0;
		off += 9 + len;
	}
	return off == h->loglen;
}

/* Run nghttp2's output and drop it (it went out the first time). */
static int
h2_discard_output(struct h2 *h)
{
	const uint8_t	*data;
	ssize_t		 n;

	while ((n = nghttp2_session_mem_send(h->ng, &data)) > 0)
		;
	return n < 0 ? -1 : 0;
}

/* Delete the session of an idle connection that never had a stream, when
 * it can be rebuilt (see the file's header). */
static int
h2_sleep(struct h2 *h)
{
	struct hsess *s = h->s;

	if (h->state != H2_OPEN || h->eof || s->state != HSESS_OPEN ||
	    s->nstreams > 0 || h->hdr_stream != 0 || !h->sent_all ||
	    (s->out != NULL && evbuffer_get_length(s->out) > 0) ||
	    !h2_log_replayable(h) ||
	    nghttp2_session_want_write(h->ng) || !nghttp2_session_want_read(h->ng))
		return 0;
	nghttp2_session_del(h->ng);
	h->ng = NULL;
	h->dormant = 1;
	hsess_out_release(s);
	if (h->logcap > h->loglen) {	/* shrink to what is kept */
		h->log = xrealloc(h->log, h->loglen);
		h->logcap = h->loglen;
	}
	return 1;
}

/* A new session for a dormant h, brought to where the old one was. */
static int
h2_wake(struct h2 *h)
{
	ssize_t r;

	h->dormant = 0;
	h->trimmed = 0;
	if (h2_session_new(h) == -1 || h2_discard_output(h) == -1)
		goto fail;
	r = nghttp2_session_mem_recv(h->ng, h->log, h->loglen);
	if (r != (ssize_t)h->loglen || h2_discard_output(h) == -1)
		goto fail;
	h->sent_all = 1;
	return 0;
fail:
	log_info("c%08x: HTTP/2: a dormant session could not be rebuilt",
	    h->s->c.conn_id);
	nghttp2_session_del(h->ng);
	h->ng = NULL;
	return -1;
}

static ssize_t
h2_input(struct hsess *s, const uint8_t *p, size_t n)
{
	struct h2	*h = s->ps;
	ssize_t		 r;

	if (h->state == H2_DONE)
		return (ssize_t)n;
	if (h->dormant && h2_wake(h) == -1) {
		h->state = H2_DONE;
		s->state = HSESS_ABORT;
		return -1;
	}
	r = nghttp2_session_mem_recv(h->ng, p, n);
	h->trimmed = 0;
	/* A header block that goes on past these bytes began with them. */
	if (h->hdr_stream != 0 && h->hdr_t0 == 0)
		h->hdr_t0 = hsess_now(s);
	if (h->log != NULL && r > 0)
		h2_log_add(h, p, (size_t)r);
	if (r < 0) {
		/* Floods end here too (NGHTTP2_ERR_FLOODED, too many
		 * CONTINUATIONs): the peer's fault, an info line. */
		log_info("c%08x: HTTP/2 closed: %s", s->c.conn_id, nghttp2_strerror((int)r));
		h->state = H2_DONE;
		return -1;
	}
	h2_check(h);
	h2_arm(h);
	return (ssize_t)n;
}

static int
h2_wants_input(const struct hsess *s)
{
	const struct h2 *h = s->ps;

	return h->state != H2_DONE && !h->eof &&
	    (h->dormant || nghttp2_session_want_read(h->ng));
}

/* st is let go while its stream is open: a HEADERS frame of its response
 * may wait in nghttp2's queue, referring to st->resp.h (h2_on_head). The
 * fields are kept until the queue is empty (h2_fill) or the session ends. */
static void
h2_bury(struct h2 *h, struct hstream *st)
{
	if (!st->head_sent || h->ng == NULL || st->resp.h.arena == NULL)
		return;
	h->graves = xrealloc(h->graves, ((size_t)h->ngraves + 1) * sizeof(*h->graves));
	h->graves[h->ngraves++] = st->resp.h;
	memset(&st->resp.h, 0, sizeof(st->resp.h));
}

static void
h2_graves_free(struct h2 *h)
{
	for (unsigned i = 0; i < h->ngraves; i++)
		hfields_free(&h->graves[i]);
	free(h->graves);
	h->graves = NULL;
	h->ngraves = 0;
}

/* Let go of st before nghttp2 closes its stream (that close then finds
 * no hstream); why (or NULL: no error) goes to the log. */
static void
h2_drop(struct h2 *h, struct hstream *st, const char *why)
{
	struct h2st *hs = st->fe;

	if (why != NULL && st->err == HSE_NONE) {
		st->err = HSE_CLIENT;
		snprintf(st->why, sizeof(st->why), "%s", why);
	}
	if (h->ng != NULL) {
		nghttp2_session_set_stream_user_data(h->ng, st->id, NULL);
		if (hs != NULL && hs->unconsumed > 0)
			nghttp2_session_consume_connection(h->ng, hs->unconsumed);
	}
	if (h->hdr_st == st)
		h->hdr_st = NULL;
	h2_bury(h, st);
	st->fe = NULL;	/* st->fe_buf: nothing to free */
	hstream_free(st);
}

static void
h2_eof(struct hsess *s)
{
	struct h2	*h = s->ps;
	struct hstream	*st, *next;

	h->eof = 1;
	/* Requests whose body was still coming can never complete: end them
	 * now rather than hold their backend connections until a timeout.
	 * The others are answered (the client may still read). */
	for (st = s->streams; st != NULL; st = next) {
		next = st->next;
		if (st->req_done)
			continue;
		nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
		h2_drop(h, st, "client closed mid-request");
	}
	if (s->nstreams == 0)
		h->idle_since = hsess_now(s);
	h2_check(h);
}

static void
h2_fill(struct hsess *s)
{
	struct h2	*h = s->ps;
	const uint8_t	*data;
	ssize_t		 n;

	if (s->state == HSESS_ABORT)
		return;
	h->wbase = evbuffer_get_length(s->out);
	while (!h->dormant && h->wbase + h->wlen < HSESS_OUT_HIGH) {
		if ((n = nghttp2_session_mem_send(h->ng, &data)) < 0) {
			h2_out_commit(h);
			log_debug("c%08x: HTTP/2: %s", s->c.conn_id,
			    nghttp2_strerror((int)n));
			s->state = HSESS_ABORT;
			return;
		}
		if (n == 0 && h->paused) {	/* h2_send_data's bound */
			h->paused = 0;
			h->sent_all = 0;
			continue;
		}
		h->sent_all = n == 0;
		if (n == 0)
			break;
		h->trimmed = 0;
		h2_out_put(h, data, (size_t)n);
	}
	h2_out_commit(h);
	/* Every HEADERS frame queued has been packed or dropped. */
	if (h->sent_all && h->ngraves > 0)
		h2_graves_free(h);
	h2_check(h);
	h2_arm(h);
}

static void
h2_drained(struct hsess *s)
{
	(void)s;	/* the next hsess_output() fills again */
}

static void
h2_shutdown(struct hsess *s)
{
	struct h2 *h = s->ps;

	if (h->state != H2_OPEN)
		return;
	if (h->dormant && h2_wake(h) == -1) {
		h->state = H2_DONE;
		s->state = HSESS_ABORT;
		return;
	}
	/* RFC 9113 6.8: the notice first, then the real GOAWAY naming the
	 * last stream we take; the streams in flight finish. */
	nghttp2_submit_shutdown_notice(h->ng);
	nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR, NULL, 0);
	h->state = H2_DRAINING;
	h2_check(h);
}

static void
h2_on_timer(struct hsess *s)
{
	struct h2	*h = s->ps;
	double		 now = hsess_now(s);

	if (h->state == H2_DONE || s->state != HSESS_OPEN)
		return;
	if (h->hdr_stream != 0 && now >= h->hdr_t0 + h->header_timeout)
		h2_terminate(h, NGHTTP2_NO_ERROR, "request head timed out");
	else if (h->hdr_stream == 0 && s->nstreams == 0 &&
	    now >= h->idle_since + h->keepalive)
		h2_terminate(h, NGHTTP2_NO_ERROR, "idle");
	else {
		if (h->hdr_stream == 0 && s->nstreams == 0 && !h->trimmed &&
		    !h->dormant && now >= h->idle_since + H2_TRIM_AFTER) {
			if (!h2_sleep(h))
				h2mem_trim(&h->mem, h->sent_all);
			h->trimmed = 1;
		}
		h2_arm(h);
	}
}

static void
h2_free(struct hsess *s)
{
	struct h2	*h = s->ps;
	struct hstream	*st;

	if (h == NULL)
		return;
	/* nghttp2_session_del calls no callback and drops its queue unpacked:
	 * then the streams go, with nothing left to tell nghttp2 (or to bury). */
	nghttp2_session_del(h->ng);
	h->ng = NULL;
	while ((st = s->streams) != NULL) {
		const struct h2st *hs = st->fe;
		/* A stream answered in full is no error. */
		h2_drop(h, st, hs != NULL && hs->eof_sent ? NULL : "connection closed");
	}
	h2_graves_free(h);
	free(h->log);
	free(h);
	s->ps = NULL;
}

const struct hproto h2_proto = {
	.name = "h2",
	.init = h2_init,
	.input = h2_input,
	.wants_input = h2_wants_input,
	.eof = h2_eof,
	.fill = h2_fill,
	.drained = h2_drained,
	.shutdown = h2_shutdown,
	.on_timer = h2_on_timer,
	.free = h2_free,
	.fe = {
		.on_head = h2_on_head,
		.on_data = h2_on_data,
		.on_abort = h2_on_abort,
		.on_body_taken = h2_on_body_taken,
	},
};
