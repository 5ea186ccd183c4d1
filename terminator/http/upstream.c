/*
 * upstream.c - one HTTP/1.1 exchange with a backend (upstream.h).
 *
 * A connection comes from the worker's idle pool (upstream_pool.c) or is
 * made here: a non-blocking connect, then TLS when the site re-encrypts,
 * verified and resumed as in TCP mode (conn.c). The request head is built in
 * one buffer and goes out with the first body bytes in one writev; a body of
 * unknown length is sent chunked. The response is parsed with llhttp in
 * strict mode into st->resp and st->resp_body.
 *
 * Like conn.c, every operation that would block records which fd event it
 * waits for (hs_want, rd_want, wr_want), and one function derives the fd
 * interests from those and the state. All the work happens in up_pump(),
 * run from our own event callbacks only: the entry points called by the
 * middle (upstream_start, upstream_body, upstream_resume) just schedule it
 * through kev, so the middle never sees hproxy_on_*() from inside its own
 * call. The middle, in turn, may call anything of ours from inside
 * hproxy_on_*(): u->depth counts our callbacks on the stack, a connection
 * closed meanwhile is freed only when the outermost one returns, and after
 * each hproxy_on_*() the pump checks that the stream is still attached.
 * llhttp's callbacks only fill st; the middle hears of head, data and end
 * after llhttp_execute() returned, so re-entry never meets a parser
 * half-way.
 */
#include "upstream.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "hstream.h"
#include "log.h"
#include "pool.h"
#include "upstream_impl.h"
#include "xalloc.h"

#define UP_READSZ	16384		/* one TLS record's plaintext at most */
#define UP_READS	4		/* reads per wake-up, for fairness */
#define UP_TLS_WRITE	16384		/* bytes per SSL_write */
#define UP_HEAD_MAX	(64 * 1024)	/* response head from a backend */
#define UP_FIELDS_MAX	256

const char *const up_state_names[UP__MAX] = {
	"connecting", "tls", "sending", "waiting", "reading", "done", "idle",
	"closed",
};

static uint32_t up_next_id;

static void	up_on_io(evutil_socket_t, short, void *);
static void	up_on_timer(evutil_socket_t, short, void *);
static void	up_on_kick(evutil_socket_t, short, void *);
static const llhttp_settings_t up_settings;

/* --- time and events --------------------------------------------------- */

static double
up_now(const struct upconn *u)
{
	struct timeval tv;

	event_base_gettimeofday_cached(u->pool->base, &tv);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void
tv_set(struct timeval *tv, double secs)
{
	if (secs < 0)
		secs = 0;
	tv->tv_sec = (time_t)secs;
	tv->tv_usec = (suseconds_t)((secs - (double)tv->tv_sec) * 1e6);
}

/* Arm the state's timer: secs from now, pushed back by up_progress(). A
 * limit of 0 or less means none. */
void
up_timer(struct upconn *u, double secs)
{
	struct timeval tv;

	event_del(&u->tev);
	u->t_limit = secs;
	u->t_mark = up_now(u);
	if (secs <= 0)
		return;
	tv_set(&tv, secs);
	evtimer_add(&u->tev, &tv);
}

/* Progress on the exchange: the timer counts from now (no heap operation:
 * the timer callback re-arms for what is left). */
static void
up_progress(struct upconn *u)
{
	u->t_mark = up_now(u);
}

static void
up_kick(struct upconn *u)
{
	event_active(&u->kev, EV_TIMEOUT, 1);
}

static short
up_interest(const struct upconn *u)
{
	short w = 0;

	switch (u->state) {
	case UP_CONNECTING:
		return u->cerr ? 0 : EV_WRITE;
	case UP_TLS:
		return u->hs_want;
	case UP_SENDING:
	case UP_WAITING:
	case UP_READING:
		if (!u->paused)
			w |= u->rd_want;
		if (!u->wdone && !u->wfail)
			w |= u->wr_want;
		return w;
	case UP_IDLE:
		return EV_READ;
	default:
		return 0;
	}
}

/* Arm exactly the fd events the current waits need. */
void
up_update_events(struct upconn *u)
{
	short w = up_interest(u);

	if (u->fd == -1 || w == u->ev_on)
		return;
	event_del(&u->ev);
	if (w) {
		event_assign(&u->ev, u->pool->base, u->fd, w | EV_PERSIST, up_on_io, u);
		event_add(&u->ev, NULL);
	}
	u->ev_on = w;
}

/* --- attach, detach, close -------------------------------------------- */

static void
up_attach(struct upconn *u, struct hstream *st, struct pool *p,
    const struct upstream_opts *o)
{
	u->st = st;
	u->p = p;
	u->o = *o;
	st->up = u;
	st->reused = u->reused;
	st->bk = u->b;
	atomic_fetch_add_explicit(&u->b->active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&u->b->conns_busy, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&u->b->total, 1, memory_order_relaxed);
	if (u->reused)
		atomic_fetch_add_explicit(&u->b->reuses, 1, memory_order_relaxed);
}

/* The stream lets go of u (or u of the stream); st->up is cleared. */
static void
up_unattach(struct upconn *u)
{
	if (u->st == NULL)
		return;
	u->st->up = NULL;
	u->st = NULL;
	u->p = NULL;
	atomic_fetch_sub_explicit(&u->b->active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&u->b->conns_busy, 1, memory_order_relaxed);
	free(u->hb);
	u->hb = NULL;
	free(u->tbuf);
	u->tbuf = NULL;
}

/*
 * The one teardown path: the fd, TLS and timers go now; the struct goes
 * when no callback of ours is on the stack (up_unwind). clean: the exchange
 * ended well, so the backend gets a close_notify. Idempotent.
 */
void
up_close(struct upconn *u, int clean, const char *why)
{
	assert(u->magic == UPCONN_MAGIC);
	if (u->state == UP_CLOSED)
		return;
	assert(u->st == NULL);
	log_debug("u%08x backend %s: closed in state %s: %s", u->id, u->b->str,
	    up_state_names[u->state], why);
	if (u->state == UP_IDLE)
		upool_unlink(u);
	if (u->ev_on)
		event_del(&u->ev);
	u->ev_on = 0;
	event_del(&u->tev);
	event_del(&u->kev);
	if (u->ssl != NULL) {
		ERR_clear_error();
		if (clean)
			(void)SSL_shutdown(u->ssl);	/* best effort, non-blocking */
		SSL_free(u->ssl);
		u->ssl = NULL;
		ERR_clear_error();
	}
	sockbio_free(&u->rb);
	close(u->fd);
	u->fd = -1;
	u->pool->nconns--;
	u->state = UP_CLOSED;
	if (u->depth == 0) {
		u->magic = 0;
		free(u);
	}
}

/* The outermost callback of ours returns: free a closed connection, or arm
 * the events its state needs. */
void
up_unwind(struct upconn *u)
{
	if (u->depth > 0)
		return;
	if (u->state == UP_CLOSED) {
		u->magic = 0;
		free(u);
		return;
	}
	up_update_events(u);
}

/*
 * The exchange failed: detach and close the connection, then tell the
 * middle, which may start the request again elsewhere from inside
 * hproxy_on_error(). Returns -1 for the callers' convenience: u must not be
 * used for the stream any more.
 */
static int
up_fail(struct upconn *u, enum hstream_err err, int retry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
up_fail(struct upconn *u, enum hstream_err err, int retry, const char *fmt, ...)
{
	struct hstream	*st = u->st;
	char		 why[128];
	va_list		 ap;

	assert(u->depth > 0 && st != NULL);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	up_unattach(u);
	up_close(u, 0, why);
	hproxy_on_error(st, err, retry, why);
	return -1;
}

/* Drain BoringSSL's queue into out; errno describes a bare EOF. */
static const char *
up_ssl_err(char *out, size_t cap)
{
	uint32_t	 e = ERR_get_error();
	const char	*r = e != 0 ? ERR_reason_error_string(e) : NULL;

	if (e != 0)
		snprintf(out, cap, "%s", r != NULL ? r : "error");
	else
		snprintf(out, cap, "%s", errno ? strerror(errno) : "unexpected EOF");
	ERR_clear_error();
	return out;
}

/* --- connect and TLS -------------------------------------------------- */

/* A connect (TCP or TLS) failed: passive health, then a retry elsewhere. */
static int
up_connect_fail(struct upconn *u, const char *what, const char *detail)
{
	pool_connect_result(u->p, u->b, 0);
	return up_fail(u, HSE_CONNECT, 1, "%s %s: %s", what, u->b->str, detail);
}

/* TCP and (when asked) TLS are up: the request can go. */
static void
up_ready(struct upconn *u)
{
	pool_connect_result(u->p, u->b, 1);
	log_debug("u%08x backend %s: connected%s%s", u->id, u->b->str,
	    u->ssl ? ", TLS " : "", u->ssl ? SSL_get_version(u->ssl) : "");
	u->state = UP_SENDING;
	u->rd_want = EV_READ;	/* nothing to read before the request is out */
	u->wr_want = 0;
	up_timer(u, u->o.response_timeout);
}

static int
up_tls_start(struct upconn *u)
{
	char e[96];

	if ((u->ssl = SSL_new(u->ctx)) == NULL ||
	    sockbio_attach(u->ssl, u->fd, &u->rb) == -1)
		return up_connect_fail(u, "TLS to backend", up_ssl_err(e, sizeof(e)));
	SSL_set_connect_state(u->ssl);
	pool_tls_prepare(u->ssl, u->b);
	if (u->p->tls_name != NULL) {
		SSL_set_tlsext_host_name(u->ssl, u->p->tls_name);
		if (u->p->tls_verify)
			SSL_set1_host(u->ssl, u->p->tls_name);
	}
	u->state = UP_TLS;
	u->hs_want = 0;
	return 0;
}

static int
up_handshake(struct upconn *u)
{
	char	e[96];
	long	vr;
	int	r;

	if (u->hs_want != 0)
		return 0;
	ERR_clear_error();
	if ((r = SSL_do_handshake(u->ssl)) == 1) {
		up_ready(u);
		return 0;
	}
	switch (SSL_get_error(u->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		u->hs_want = EV_READ;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		u->hs_want = EV_WRITE;
		return 0;
	default:
		/* Fail closed, as TCP mode does: never send a request to a
		 * backend whose certificate or name did not verify. */
		if ((vr = SSL_get_verify_result(u->ssl)) != X509_V_OK) {
			ERR_clear_error();
			snprintf(e, sizeof(e), "certificate verify failed: %s",
			    X509_verify_cert_error_string(vr));
		} else
			up_ssl_err(e, sizeof(e));
		log_notice("u%08x backend %s TLS: %s; failing closed", u->id,
		    u->b->str, e);
		return up_connect_fail(u, "TLS to backend", e);
	}
}

/* The connect finished (err 0) or failed. */
static int
up_connected(struct upconn *u, int err)
{
	if (err != 0)
		return up_connect_fail(u, "connect", strerror(err));
	if (u->ctx != NULL) {
		if (up_tls_start(u) == -1)
			return -1;
		return up_handshake(u);
	}
	up_ready(u);
	return 0;
}

/*
 * A connect to a nearby backend has usually completed by the time the
 * deferred work runs: a zero-byte send tells (0 when established, EAGAIN
 * while the SYN is out, the error if refused) and saves waiting a round
 * for writability, as conn.c's probe does.
 */
static int
up_connect_probe(struct upconn *u)
{
	if (u->cerr != 0)
		return up_connected(u, u->cerr);
	if (send(u->fd, "", 0, MSG_NOSIGNAL) == 0)
		return up_connected(u, 0);
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return up_connected(u, errno);
}

/* --- the request ------------------------------------------------------ */

static char *
put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* Build the request head (upstream.h's framing rules) into u->hb. */
static void
up_build_head(struct upconn *u)
{
	const struct hreq	*r = &u->st->req;
	const char		*auth = r->authority ? r->authority : "";
	size_t			 cap, ml = strlen(r->method), tl = strlen(r->target);
	char			*p, num[32];
	int			 nl = 0;

	cap = ml + 1 + tl + 11 + 6 + strlen(auth) + 2 + r->h.bytes + 4 * (size_t)r->h.n +
	    64;
	p = u->hb = xmalloc(cap);
	p = put(p, r->method, ml);
	*p++ = ' ';
	p = put(p, r->target, tl);
	p = put(p, " HTTP/1.1\r\nhost: ", 17);
	p = put(p, auth, strlen(auth));
	p = put(p, "\r\n", 2);
	for (uint32_t i = 0; i < r->h.n; i++) {
		const struct hfield *f = &r->h.v[i];
		p = put(p, f->name, f->nlen);
		p = put(p, ": ", 2);
		p = put(p, f->value, f->vlen);
		p = put(p, "\r\n", 2);
	}
	u->chunked = 0;
	u->body_left = 0;
	if (r->clen >= 0) {
		nl = snprintf(num, sizeof(num), "%" PRId64, r->clen);
		u->body_left = (uint64_t)r->clen;
	} else if (r->body) {
		p = put(p, "transfer-encoding: chunked\r\n", 28);
		u->chunked = 1;
	} else if (r->m == HM_POST || r->m == HM_PUT || r->m == HM_PATCH)
		nl = snprintf(num, sizeof(num), "0");
	if (nl > 0) {
		p = put(p, "content-length: ", 16);
		p = put(p, num, (size_t)nl);
		p = put(p, "\r\n", 2);
	}
	p = put(p, "\r\n", 2);
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
	ERR_clear_error();
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
		    up_ssl_err(e, sizeof(e)));
	}
}

/* Write what can be written. -1 if the stream was let go. */
static int
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
		if (u->hb != NULL && u->hoff == u->hlen) {
			free(u->hb);	/* the head is out */
			u->hb = NULL;
		}
	}
	if (taken > 0) {
		st->req_body_sent += taken;
		hproxy_on_body_taken(st, taken);
		if (u->st != st)
			return -1;
	}
	return 0;
}

/* --- the response ----------------------------------------------------- */

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

static int
up_on_message_begin(llhttp_t *ps)
{
	struct upconn *u = ps->data;

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
	if (h->n == 0 || u->hdr_value) {
		if (h->n >= UP_FIELDS_MAX) {
			llhttp_set_error_reason(ps, "too many response fields");
			return -1;
		}
		hfields_add(h, at, n, "", 0);
	} else
		hfields_extend_last(h, 0, at, n);
	u->hdr_value = 0;
	return 0;
}

static int
up_on_header_value(llhttp_t *ps, const char *at, size_t n)
{
	struct upconn *u = ps->data;

	if (up_head_bytes(ps, n) == -1)
		return -1;
	hfields_extend_last(&u->st->resp.h, 1, at, n);
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

	if (h->n == 0)
		return 0;
	f = &h->v[h->n - 1];
	while (f->vlen > 0 && (f->value[f->vlen - 1] == ' ' ||
	    f->value[f->vlen - 1] == '\t')) {
		f->value[--f->vlen] = '\0';
		h->bytes--;
	}
	u->hdr_value = 1;
	return 0;
}

static int
up_on_headers_complete(llhttp_t *ps)
{
	struct upconn		*u = ps->data;
	struct hstream		*st = u->st;
	const struct hfield	*f;
	int			 status = llhttp_get_status_code(ps);

	if (status == 101) {
		llhttp_set_error_reason(ps, "101 Switching Protocols: no upgrades yet");
		return -1;
	}
	if (status >= 100 && status < 200) {
		u->interim = 1;		/* 100 Continue, 103 Early Hints: skipped */
		return 1;
	}
	st->resp.status = status;
	hfields_strip_hop(&st->resp.h);
	st->resp.clen = -1;
	if ((f = hfields_get(&st->resp.h, "content-length")) != NULL) {
		/* llhttp checked it: digits only, one value. */
		st->resp.clen = (int64_t)strtoull(f->value, NULL, 10);
		hfields_del(&st->resp.h, "content-length");
	}
	st->resp.body = !(st->req.m == HM_HEAD || status == 204 || status == 304);
	u->head_ready = 1;
	/* A response to HEAD has no body whatever its fields say. */
	return st->req.m == HM_HEAD ? 1 : 0;
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

	if (u->interim) {
		/* The final response follows, maybe in the same read. */
		hfields_free(&u->st->resp.h);
		u->interim = 0;
		return 0;
	}
	/* Read now: llhttp resets its flags once this returns. */
	u->keep = llhttp_should_keep_alive(ps) != 0;
	u->complete = 1;
	return HPE_PAUSED;	/* nothing after it is ours to parse */
}

/* Const and shared by every worker: llhttp only reads it. */
static const llhttp_settings_t up_settings = {
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
		up_timer(u, u->o.body_timeout);
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
		event_del(&u->tev);
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
	e = llhttp_execute(&u->parser, buf, n);
	if (e == HPE_PAUSED && u->complete) {
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

	if (u->rbytes == 0) {
		/* Nothing of the response came: a reused connection the
		 * backend closed as we sent may be retried (RFC 9112 9.3.1). */
		int retry = u->reused && HM_IDEMPOTENT(st->req.m) &&
		    st->req_body_sent == 0;
		return up_fail(u, HSE_BACKEND, retry, "backend %s %s before responding%s",
		    u->b->str, how, u->reused ? " (reused connection)" : "");
	}
	if (err == 0 && llhttp_finish(&u->parser) == HPE_OK && u->complete) {
		u->keep = 0;	/* the body ended with the connection */
		return up_deliver(u);
	}
	return up_fail(u, HSE_BACKEND, 0, "backend %s %s mid-response", u->b->str, how);
}

/* Read and parse what the backend sent. -1 if the stream was let go. */
static int
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
			event_del(&u->tev);
			return 0;
		}
		if (u->ssl != NULL) {
			ERR_clear_error();
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
				    u->b->str, up_ssl_err(e, sizeof(e)));
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

/* Make all the progress possible; hproxy_on_*() may be called. */
static void
up_pump(struct upconn *u)
{
	if (u->st == NULL)
		return;
	if (u->state == UP_CONNECTING && up_connect_probe(u) == -1)
		return;
	if (u->state == UP_TLS && up_handshake(u) == -1)
		return;
	if (u->state == UP_SENDING || u->state == UP_WAITING || u->state == UP_READING) {
		if (up_write(u) == -1)
			return;
		(void)up_read(u);
	}
}

/* --- event callbacks -------------------------------------------------- */

static void
up_wants_clear(struct upconn *u, short what)
{
	short *w[3] = { &u->hs_want, &u->rd_want, &u->wr_want };

	for (int i = 0; i < 3; i++)
		if (*w[i] != 0 && (what & *w[i]) != 0)
			*w[i] = 0;
}

static void
up_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct upconn	*u = arg;
	socklen_t	 len = sizeof(int);
	int		 err = 0;

	(void)fd;
	assert(u->magic == UPCONN_MAGIC);
	u->depth++;
	if (what & EV_READ)
		u->rb.drained = 0;
	if (u->state == UP_IDLE)
		upool_on_idle_read(u);
	else if (u->state == UP_CONNECTING) {
		if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (up_connected(u, err) == 0)
			up_pump(u);
	} else {
		up_wants_clear(u, what);
		up_pump(u);
	}
	u->depth--;
	up_unwind(u);
}

static void
up_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct upconn *u = arg;

	(void)fd;
	(void)what;
	assert(u->magic == UPCONN_MAGIC);
	u->depth++;
	up_pump(u);
	u->depth--;
	up_unwind(u);
}

static void
up_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upconn	*u = arg;
	struct timeval	 tv;
	double		 left;

	(void)fd;
	(void)what;
	assert(u->magic == UPCONN_MAGIC);
	u->depth++;
	left = u->t_limit - (up_now(u) - u->t_mark);
	if (left > 0.001) {
		/* There was progress since it was armed. */
		tv_set(&tv, left);
		evtimer_add(&u->tev, &tv);
	} else switch (u->state) {
	case UP_CONNECTING:
	case UP_TLS:
		(void)up_connect_fail(u, u->state == UP_TLS ? "TLS to backend" :
		    "connect", "timed out");
		break;
	case UP_SENDING:
	case UP_WAITING:
		(void)up_fail(u, HSE_TIMEOUT, 0, "backend %s: no response in %.3gs",
		    u->b->str, u->t_limit);
		break;
	case UP_READING:
		(void)up_fail(u, HSE_TIMEOUT, 0, "backend %s: no response body byte "
		    "in %.3gs", u->b->str, u->t_limit);
		break;
	case UP_IDLE:
		up_close(u, 1, "idle timeout");
		break;
	default:
		break;
	}
	u->depth--;
	up_unwind(u);
}

/* --- the API ---------------------------------------------------------- */

/* A new connection to b, connecting. NULL with why set. */
static struct upconn *
up_new(struct upstream_pool *up, struct backend *b, SSL_CTX *ctx, char *why,
    size_t cap)
{
	struct upconn	*u;
	int		 fd, one = 1, cerr = 0;

	fd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(why, cap, "socket: %s", strerror(errno));
		return NULL;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&b->ss, b->len) == -1 &&
	    errno != EINPROGRESS)
		cerr = errno;	/* reported from the loop, as any failure */
	u = xcalloc(1, sizeof(*u));
	u->magic = UPCONN_MAGIC;
	u->id = __atomic_add_fetch(&up_next_id, 1, __ATOMIC_RELAXED);
	u->pool = up;
	u->b = b;
	u->ctx = ctx;
	u->fd = fd;
	u->cerr = cerr;
	u->state = UP_CONNECTING;
	evtimer_assign(&u->tev, up->base, up_on_timer, u);
	event_assign(&u->kev, up->base, -1, 0, up_on_kick, u);
	up->nconns++;
	log_debug("u%08x backend %s: connecting%s", u->id, b->str,
	    ctx != NULL ? " (TLS)" : "");
	return u;
}

int
upstream_start(struct upstream_pool *up, struct hstream *st, struct pool *p,
    struct backend *b, const struct upstream_opts *o)
{
	struct upconn *u;

	assert(up->magic == UPPOOL_MAGIC && st->up == NULL);
	if ((u = upool_take(up, b, p->tls_ctx)) != NULL) {
		log_debug("u%08x backend %s: reused", u->id, b->str);
		u->reused = 1;
		u->state = UP_SENDING;
		u->rd_want = EV_READ;
		u->wr_want = 0;
	} else if ((u = up_new(up, b, p->tls_ctx, st->why, sizeof(st->why))) == NULL)
		return -1;
	/* Per exchange: a fresh parser and request state. */
	llhttp_init(&u->parser, HTTP_RESPONSE, &up_settings);
	u->parser.data = u;
	u->hb = NULL;
	u->hoff = u->hlen = 0;
	u->froff = u->frlen = 0;
	u->tlen = u->tbody = 0;
	u->chunk_left = u->body_left = 0;
	u->rbytes = 0;
	u->nbody = 0;
	u->chunked = u->chunk_open = u->chunk_end = 0;
	u->wdone = u->wfail = u->hdr_value = u->interim = 0;
	u->head_ready = u->head_sent = u->complete = u->end_sent = 0;
	u->keep = u->extra = u->paused = 0;
	up_attach(u, st, p, o);
	if (u->state == UP_CONNECTING)
		up_timer(u, o->connect_timeout);
	else
		up_timer(u, o->response_timeout);
	up_kick(u);
	return 0;
}

void
upstream_body(struct upconn *u)
{
	assert(u->magic == UPCONN_MAGIC);
	if (u->st != NULL && !u->wdone)
		up_kick(u);
}

void
upstream_resume(struct upconn *u)
{
	assert(u->magic == UPCONN_MAGIC);
	if (u->st == NULL || !u->paused ||
	    evbuffer_get_length(u->st->resp_body) >= HSTREAM_RESP_HIGH)
		return;
	u->paused = 0;
	if (u->state == UP_READING)
		up_timer(u, u->o.body_timeout);
	up_kick(u);
}

void
upstream_detach(struct upconn *u)
{
	int reusable;

	if (u == NULL)
		return;
	assert(u->magic == UPCONN_MAGIC);
	if (u->st == NULL)
		return;
	/* Reusable: both messages complete, nothing extra, and the backend
	 * said it keeps the connection. */
	reusable = u->state == UP_DONE && u->wdone && u->keep && !u->extra &&
	    !u->wfail;
	u->depth++;		/* keep u while it is closed: up_unwind frees */
	up_unattach(u);
	if (reusable)
		upool_put(u);
	else
		up_close(u, u->state == UP_DONE, u->state == UP_DONE ?
		    "not reusable" : "the stream let go mid-exchange");
	u->depth--;
	up_unwind(u);
}
