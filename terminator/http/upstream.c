/*
 * upstream.c - one HTTP/1.1 exchange with a backend (upstream.h): the
 * connection's state machine, its events and timers, connect and TLS. The
 * request is written by upstream_req.c, the response read and parsed by
 * upstream_resp.c, and idle connections are kept by upstream_pool.c.
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
 * call. (upstream_start writes a bodiless request on a reused plain
 * connection at once, a write that reports nothing to the middle.) Our
 * event callbacks bracket their work with hproxy_hold()/hproxy_unhold(),
 * so that an HTTP/1.1 client's hooks run as the callback ends, with no
 * loop turn; the unhold is each callback's last act. The middle, in turn, may call anything of ours from inside
 * hproxy_on_*(): u->depth counts our callbacks on the stack, a connection
 * closed meanwhile is freed only when the outermost one returns, and after
 * each hproxy_on_*() the pump checks that the stream is still attached.
 * llhttp's callbacks only fill st; the middle hears of head, data and end
 * after llhttp_execute() returned, so re-entry never meets a parser
 * half-way.
 *
 * A WebSocket upgrade (ws.h) takes a new connection, never a pooled one.
 * Once its 101 is parsed the connection is a tunnel: the request side
 * writes st->req_body as it comes, unframed, and half-closes when the
 * client is done; the response side puts what it reads into st->resp_body,
 * unparsed, until the backend closes. One timer, tunnel_idle, counts from
 * the last byte either way. The connection is closed afterwards.
 */
#include "upstream.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "h2up.h"
#include "hstream.h"
#include "log.h"
#include "pool.h"
#include "upstream_impl.h"
#include "xalloc.h"

const char *const up_state_names[UP__MAX] = {
	"connecting", "tls", "sending", "waiting", "reading", "done", "idle",
	"closed",
};

static uint32_t up_next_id;

static void	up_on_io(evutil_socket_t, short, void *);
static void	up_on_timer(evutil_socket_t, short, void *);
static void	up_on_kick(evutil_socket_t, short, void *);

/* --- time and events --------------------------------------------------- */

/* Monotonic seconds for the timers; coarse (a tick, a few ms) is enough for
 * timeouts of seconds and costs a memory read. */
static double
up_now(const struct upconn *u)
{
	struct timespec ts;

	(void)u;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
tv_set(struct timeval *tv, double secs)
{
	if (secs < 0)
		secs = 0;
	tv->tv_sec = (time_t)secs;
	tv->tv_usec = (suseconds_t)((secs - (double)tv->tv_sec) * 1e6);
}

/*
 * Arm the state's timer: secs from now, pushed back by up_progress(). A
 * limit of 0 or less means none. Lazy: tev is (re)scheduled only when it
 * would fire later than the new limit; firing early, up_on_timer() re-arms
 * for what is left. A kept-alive exchange moves from one limit to the next
 * (idle, response, body, idle) with no timer-heap operation most of the time.
 */
void
up_timer(struct upconn *u, double secs)
{
	struct timeval tv;

	u->t_limit = secs;
	u->t_mark = up_now(u);
	if (secs <= 0)
		return;
	if (u->t_armed != 0 && u->t_armed <= u->t_mark + secs)
		return;
	tv_set(&tv, secs);
	evtimer_add(&u->tev, &tv);
	u->t_armed = u->t_mark + secs;
}

void
up_timer_off(struct upconn *u)
{
	u->t_limit = 0;
}

/* Progress on the exchange: the timer counts from now (no heap operation:
 * the timer callback re-arms for what is left). */
void
up_progress(struct upconn *u)
{
	u->t_mark = up_now(u);
}

void
up_kick(struct upconn *u)
{
	if (u->kick_on)
		return;		/* active already: no second activation needed */
	u->kick_on = 1;
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
	/*
	 * DONE is brief: the connection goes back to the pool (reading, as
	 * now) or is closed within this pass of the loop. Leaving the event
	 * as it is spares the epoll_ctl that libevent would make for the
	 * delete and the add that follows.
	 */
	if (w == 0 && u->state == UP_DONE)
		return;
	if (u->ev_on)
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
	if (u->hb_cap > UP_HB_KEEP) {
		/* A big head's buffer does not stay in the pool. */
		free(u->hb);
		u->hb = NULL;
		u->hb_cap = 0;
	}
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
	u->t_armed = 0;
	event_del(&u->kev);
	u->kick_on = 0;
	if (u->ssl != NULL) {
		ERR_clear_error();
		if (clean)
			(void)SSL_shutdown(u->ssl);	/* best effort, non-blocking */
		SSL_free(u->ssl);
		u->ssl = NULL;
		ERR_clear_error();
	}
	sockbio_free(&u->rb);
	free(u->hb);
	u->hb = NULL;
	u->hb_cap = 0;
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
int
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

	if ((u->ssl = pool_tls_new(u->p, u->ctx, u->b, u->fd, &u->rb)) == NULL)
		return up_connect_fail(u, "TLS to backend", pool_tls_error(e, sizeof(e)));
	u->state = UP_TLS;
	u->hs_want = 0;
	return 0;
}

static int
up_handshake(struct upconn *u)
{
	char e[96];

	if (u->hs_want != 0)
		return 0;
	switch (pool_tls_handshake(u->ssl, &u->hs_want, e, sizeof(e))) {
	case 1:
		up_ready(u);
		return 0;
	case 0:
		return 0;
	default:
		/* Fail closed, as TCP mode does: never send a request to a
		 * backend whose certificate or name did not verify. */
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
	struct hsess	*held;
	socklen_t	 len = sizeof(int);
	int		 err = 0;

	(void)fd;
	assert(u->magic == UPCONN_MAGIC);
	/* The frontend's hooks run when this ends (hproxy_hold()). */
	held = u->st != NULL ? hproxy_hold(u->st) : NULL;
	u->depth++;
	if (what & EV_READ)
		u->rb.drained = 0;
	if (u->state == UP_IDLE)
		upool_on_idle_read(u);
	else if (u->state == UP_DONE) {
		/* Still armed from the exchange (up_update_events): stop. */
		event_del(&u->ev);
		u->ev_on = 0;
	} else if (u->state == UP_CONNECTING) {
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
	hproxy_unhold(held);	/* last: u may be gone after it */
}

static void
up_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct upconn	*u = arg;
	struct hsess	*held;

	(void)fd;
	(void)what;
	assert(u->magic == UPCONN_MAGIC);
	u->kick_on = 0;
	held = u->st != NULL ? hproxy_hold(u->st) : NULL;
	u->depth++;
	up_pump(u);
	u->depth--;
	up_unwind(u);
	hproxy_unhold(held);	/* last: u may be gone after it */
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
	u->t_armed = 0;
	left = u->t_limit - (up_now(u) - u->t_mark);
	if (u->t_limit <= 0)
		;	/* disarmed since it was scheduled (up_timer_off()) */
	else if (left > 0.001) {
		/* There was progress since it was armed, or a later limit. */
		tv_set(&tv, left);
		evtimer_add(&u->tev, &tv);
		u->t_armed = up_now(u) + left;
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
		if (u->tunnel)
			(void)up_fail(u, HSE_TIMEOUT, 0, "backend %s: tunnel idle "
			    "for %.3gs", u->b->str, u->t_limit);
		else
			(void)up_fail(u, HSE_TIMEOUT, 0, "backend %s: no response "
			    "body byte in %.3gs", u->b->str, u->t_limit);
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
	if (p->h2)	/* http.backend_protocol "h2" */
		return h2up_start(up->h2, st, p, b, o);
	/* An upgrade ends the connection's HTTP: it gets one of its own. */
	if (!st->upgrade && (u = upool_take(up, b, p->tls_ctx)) != NULL) {
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
	/*
	 * A bodiless request on a reused plain connection (most of them) goes
	 * out now, in one write, rather than from the loop a turn later: that
	 * write reports nothing to the middle, so the rule above holds. Any
	 * other case, and a write that is short or fails, is the pump's.
	 */
	if (u->state == UP_SENDING && u->ssl == NULL && !st->req.body &&
	    up_write_now(u) == 0) {
		up_update_events(u);
		return 0;
	}
	up_kick(u);
	return 0;
}

void
upstream_body(struct upconn *u)
{
	if (h2up_owns(u)) {
		h2up_body(u);
		return;
	}
	assert(u->magic == UPCONN_MAGIC);
	if (u->st != NULL && !u->wdone)
		up_kick(u);
}

void
upstream_resume(struct upconn *u)
{
	if (h2up_owns(u)) {
		h2up_resume(u);
		return;
	}
	assert(u->magic == UPCONN_MAGIC);
	if (u->st == NULL || !u->paused ||
	    evbuffer_get_length(u->st->resp_body) >= HSTREAM_RESP_HIGH)
		return;
	u->paused = 0;
	if (u->state == UP_READING)
		up_timer(u, u->tunnel ? u->o.tunnel_idle : u->o.body_timeout);
	up_kick(u);
}

void
up_tunnel_open(struct upconn *u)
{
	u->tunnel = 1;
	u->st->tunnel = 1;
	u->keep = 0;
	u->wdone = 0;		/* the client's bytes follow the head */
	u->chunked = 0;
	u->body_left = UINT64_MAX;
	up_kick(u);		/* and some may be waiting already */
}

void
upstream_detach(struct upconn *u)
{
	int reusable;

	if (u == NULL)
		return;
	if (h2up_owns(u)) {
		h2up_detach(u);
		return;
	}
	assert(u->magic == UPCONN_MAGIC);
	if (u->st == NULL)
		return;
	/* Reusable: both messages complete, nothing extra, and the backend
	 * said it keeps the connection. */
	reusable = u->state == UP_DONE && u->wdone && u->keep && !u->extra &&
	    !u->wfail && !u->tunnel;
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
