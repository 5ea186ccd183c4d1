/*
 * h2up.c - the HTTP/2 backend connections of a worker (h2up.h): the set
 * kept per (pool, backend), connect, TLS with ALPN h2, reading into and
 * writing out of the nghttp2 client session, the connect and idle timers,
 * and the one teardown path. The streams and nghttp2's callbacks are in
 * h2up_strm.c.
 *
 * As in upstream.c, the work happens in our own event callbacks only: the
 * entry points the middle calls schedule it (kev), and what a connection
 * has for the middle (heads, data, ends, errors) is queued per stream
 * while nghttp2 runs and delivered by h2u_deliver() once nghttp2 returned,
 * so the middle never re-enters nghttp2 from inside one of its callbacks.
 * c->depth counts our callbacks on the stack: a connection closed meanwhile
 * is freed when the outermost returns.
 *
 * Output: nghttp2_session_mem_send() is drained into one buffer of up to
 * H2UP_OUT_MAX bytes, which is written (send, or one SSL_write that is
 * retried with the same buffer) before more is asked of nghttp2: a backend
 * that does not read stops us producing, and nghttp2's flow control stops
 * the streams.
 */
#include "h2up_impl.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"
#include "pool.h"
#include "xalloc.h"

#define H2UC_READSZ	16384
#define H2UC_READS	8	/* reads per wake-up, for fairness */

static uint32_t h2uc_next_id;

static void	h2uc_on_io(evutil_socket_t, short, void *);
static void	h2uc_on_timer(evutil_socket_t, short, void *);
static void	h2uc_on_kick(evutil_socket_t, short, void *);

double
h2u_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
h2u_tv(struct timeval *tv, double secs)
{
	if (secs < 0.001)
		secs = 0.001;
	tv->tv_sec = (time_t)secs;
	tv->tv_usec = (suseconds_t)((secs - (double)tv->tv_sec) * 1e6);
}

/* --- the set ----------------------------------------------------------- */

struct h2up_pool *
h2up_pool_new(struct event_base *base)
{
	struct h2up_pool *pool = xcalloc(1, sizeof(*pool));

	pool->magic = H2UPOOL_MAGIC;
	pool->base = base;
	return pool;
}

void
h2up_pool_free(struct h2up_pool *pool)
{
	if (pool == NULL)
		return;
	assert(pool->magic == H2UPOOL_MAGIC);
	while (pool->conns != NULL)
		h2uc_close(pool->conns, "worker stops");
	/* Nothing is delivered any more: what is queued is let go. */
	pool->delivering = 1;
	while (pool->q != NULL) {
		struct h2us *s = pool->q;
		pool->q = s->qnext;
		s->queued = 0;
		s->pend = 0;
		h2us_maybe_free(s);
	}
	pool->magic = 0;
	free(pool);
}

void
h2up_pool_sweep(struct h2up_pool *pool)
{
	struct h2uconn *c, *next;

	for (c = pool->conns; c != NULL; c = next) {
		next = c->next;
		if (c->nstreams == 0 && atomic_load(&c->b->removed_at) != 0)
			h2uc_close(c, "backend removed by a reload");
	}
}

/* --- events ------------------------------------------------------------ */

void
h2uc_kick(struct h2uconn *c)
{
	if (c->kick_on || c->state == H2UC_CLOSED)
		return;
	c->kick_on = 1;
	event_active(&c->kev, EV_TIMEOUT, 1);
}

static short
h2uc_interest(const struct h2uconn *c)
{
	short w;

	switch (c->state) {
	case H2UC_CONNECTING:
		return c->cerr ? 0 : EV_WRITE;
	case H2UC_TLS:
		return c->hs_want;
	case H2UC_OPEN:
		w = c->rd_wants_write ? EV_WRITE : EV_READ;
		if (c->wblocked)
			w |= EV_WRITE;
		return w;
	default:
		return 0;
	}
}

static void
h2uc_update_events(struct h2uconn *c)
{
	short w = h2uc_interest(c);

	if (c->fd == -1 || w == c->ev_on)
		return;
	if (c->ev_on)
		event_del(&c->ev);
	if (w) {
		event_assign(&c->ev, c->pool->base, c->fd, w | EV_PERSIST, h2uc_on_io, c);
		event_add(&c->ev, NULL);
	}
	c->ev_on = w;
}

static void
h2uc_timer(struct h2uconn *c, double secs)
{
	struct timeval tv;

	if (secs <= 0) {
		event_del(&c->tev);
		return;
	}
	h2u_tv(&tv, secs);
	evtimer_add(&c->tev, &tv);
}

void
h2uc_gauge(struct h2uconn *c)
{
	unsigned g = c->state == H2UC_CLOSED ? H2UC_G_NONE :
	    c->nstreams > 0 ? H2UC_G_BUSY : H2UC_G_IDLE;

	if (g == c->gauge)
		return;
	if (c->gauge != H2UC_G_NONE)
		atomic_fetch_sub_explicit(c->gauge == H2UC_G_BUSY ? &c->b->conns_busy :
		    &c->b->conns_idle, 1, memory_order_relaxed);
	if (g != H2UC_G_NONE)
		atomic_fetch_add_explicit(g == H2UC_G_BUSY ? &c->b->conns_busy :
		    &c->b->conns_idle, 1, memory_order_relaxed);
	c->gauge = g;
}

/* The outermost callback returns: free a closed connection, or arm the
 * events its state needs. */
static void
h2uc_unwind(struct h2uconn *c)
{
	if (c->depth > 0)
		return;
	if (c->state == H2UC_CLOSED) {
		c->magic = 0;
		free(c);
		return;
	}
	h2uc_update_events(c);
}

/* --- teardown ---------------------------------------------------------- */

void
h2uc_close(struct h2uconn *c, const char *why)
{
	struct h2us *s, *next;

	assert(c->magic == H2UC_MAGIC);
	if (c->state == H2UC_CLOSED)
		return;
	log_debug("h%08x backend %s: HTTP/2 closed (%u streams used): %s", c->id,
	    c->b->str, c->nused, why);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->pool->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	/* The streams still on it fail; nghttp2 calls nothing from here on. */
	for (s = c->streams; s != NULL; s = next) {
		next = s->next;
		if (s->st != NULL && !s->closed) {
			const struct hstream *st = s->st;
			if (s->id == 0)
				h2us_fail(s, HSE_CONNECT, 1, "backend %s: %s", c->b->str, why);
			else
				h2us_fail(s, HSE_BACKEND, !s->got_bytes &&
				    HM_IDEMPOTENT(st->req.m) && st->req_body_sent == 0,
				    "backend %s: HTTP/2 connection lost: %s",
				    c->b->str, why);
		}
		s->closed = 1;
		h2us_unlink(s);
		h2us_maybe_free(s);
	}
	if (c->ev_on)
		event_del(&c->ev);
	c->ev_on = 0;
	event_del(&c->tev);
	event_del(&c->kev);
	c->kick_on = 0;
	nghttp2_session_del(c->ng);
	c->ng = NULL;
	if (c->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);	/* best effort, non-blocking */
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	sockbio_free(&c->rb);
	close(c->fd);
	c->fd = -1;
	free(c->obuf);
	c->obuf = NULL;
	c->ocap = 0;
	c->state = H2UC_CLOSED;
	h2uc_gauge(c);		/* before the pool (and c->b) may go */
	pool_unref(c->p);
	c->p = NULL;
	if (c->depth == 0) {
		c->magic = 0;
		free(c);
	}
}

/* Connect or TLS failed: passive health, and the streams try elsewhere. */
static int
h2uc_connect_fail(struct h2uconn *c, const char *what, const char *detail)
{
	char why[160];

	pool_connect_result(c->p, c->b, 0);
	snprintf(why, sizeof(why), "%s: %s", what, detail);
	h2uc_close(c, why);
	return -1;
}

/* --- the session ------------------------------------------------------- */

static int
h2uc_session_start(struct h2uconn *c)
{
	nghttp2_option		*opt;
	nghttp2_settings_entry	 set[3];
	int			 rv;

	if (nghttp2_option_new(&opt) != 0)
		return h2uc_connect_fail(c, "HTTP/2 to backend", "out of memory");
	/* Response windows open only as the client takes the bytes. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	/* Until the backend's SETTINGS: what a sibling learned of it. */
	nghttp2_option_set_peer_max_concurrent_streams(opt, c->max_hint);
	nghttp2_option_set_max_outbound_ack(opt, 100);
	rv = nghttp2_session_client_new2(&c->ng, h2u_callbacks(), c, opt);
	nghttp2_option_del(opt);
	if (rv != 0) {
		c->ng = NULL;
		return h2uc_connect_fail(c, "HTTP/2 to backend", nghttp2_strerror(rv));
	}
	set[0] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
	    H2UP_STREAM_WINDOW };
	set[1] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 };
	set[2] = (nghttp2_settings_entry){ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0 };
	if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, set, 3) != 0 ||
	    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0,
	    H2UP_CONN_WINDOW) != 0)
		return h2uc_connect_fail(c, "HTTP/2 to backend", "session setup");
	pool_connect_result(c->p, c->b, 1);
	log_debug("h%08x backend %s: HTTP/2 up%s%s", c->id, c->b->str,
	    c->ssl ? " over TLS " : " (cleartext)", c->ssl ? SSL_get_version(c->ssl) : "");
	c->state = H2UC_OPEN;
	c->more_input = c->ssl != NULL;	/* the read-ahead may hold some */
	event_del(&c->tev);
	return 0;
}

static int
h2uc_handshake(struct h2uconn *c)
{
	const uint8_t	*alpn;
	unsigned	 alen;
	char		 e[128];

	if (c->hs_want != 0)
		return 0;
	switch (pool_tls_handshake(c->ssl, &c->hs_want, e, sizeof(e))) {
	case 1:
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		if (alen != 2 || memcmp(alpn, "h2", 2) != 0)
			return h2uc_connect_fail(c, "TLS to backend",
			    "it did not agree to h2 by ALPN");
		return h2uc_session_start(c);
	case 0:
		return 0;
	default:
		/* Fail closed, as everywhere: never send a request to a
		 * backend whose certificate or name did not verify. */
		log_notice("h%08x backend %s TLS: %s; failing closed", c->id,
		    c->b->str, e);
		return h2uc_connect_fail(c, "TLS to backend", e);
	}
}

static int
h2uc_connected(struct h2uconn *c, int err)
{
	char e[96];

	if (err != 0)
		return h2uc_connect_fail(c, "connect", strerror(err));
	if (c->p->tls_ctx == NULL)
		return h2uc_session_start(c);
	if ((c->ssl = pool_tls_new(c->p, c->p->tls_ctx, c->b, c->fd, &c->rb)) == NULL)
		return h2uc_connect_fail(c, "TLS to backend", pool_tls_error(e, sizeof(e)));
	/* RFC 9113 3.2: h2 by ALPN, and nothing else. */
	if (SSL_set_alpn_protos(c->ssl, (const uint8_t *)"\x02h2", 3) != 0)
		return h2uc_connect_fail(c, "TLS to backend", "ALPN");
	c->state = H2UC_TLS;
	c->hs_want = 0;
	return h2uc_handshake(c);
}

/* The connect has usually completed when the deferred work runs: a
 * zero-byte send tells (as upstream.c's probe). */
static int
h2uc_connect_probe(struct h2uconn *c)
{
	if (c->cerr != 0)
		return h2uc_connected(c, c->cerr);
	if (send(c->fd, "", 0, MSG_NOSIGNAL) == 0)
		return h2uc_connected(c, 0);
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return h2uc_connected(c, errno);
}

/* --- I/O --------------------------------------------------------------- */

/* Feed what the backend sent to nghttp2. -1 when c closed. */
static int
h2uc_read(struct h2uconn *c)
{
	uint8_t	buf[H2UC_READSZ];
	char	e[96];
	ssize_t	n, rv;
	int	r;

	c->rd_wants_write = 0;
	for (int i = 0; i < H2UC_READS; i++) {
		if (c->ssl != NULL) {
			if ((r = SSL_read(c->ssl, buf, sizeof(buf))) > 0)
				n = r;
			else switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				return 0;
			case SSL_ERROR_WANT_WRITE:
				c->rd_wants_write = 1;
				return 0;
			case SSL_ERROR_ZERO_RETURN:
				h2uc_close(c, "the backend closed");
				return -1;
			case SSL_ERROR_SYSCALL:
				if (ERR_peek_error() == 0) {
					h2uc_close(c, r == 0 ? "the backend closed" :
					    strerror(errno));
					return -1;
				}
				/* FALLTHROUGH */
			default:
				h2uc_close(c, pool_tls_error(e, sizeof(e)));
				return -1;
			}
		} else if ((n = recv(c->fd, buf, sizeof(buf), 0)) <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
			h2uc_close(c, n == 0 ? "the backend closed" : strerror(errno));
			return -1;
		}
		if ((rv = nghttp2_session_mem_recv(c->ng, buf, (size_t)n)) < 0) {
			log_info("h%08x backend %s: HTTP/2: %s", c->id, c->b->str,
			    nghttp2_strerror((int)rv));
			h2uc_close(c, nghttp2_strerror((int)rv));
			return -1;
		}
		if (c->ssl == NULL && n < (ssize_t)sizeof(buf))
			return 0;	/* the socket is empty: wait for readiness */
	}
	/* Bytes may wait in the TLS read-ahead, which no fd event reports. */
	c->more_input = 1;
	h2uc_kick(c);
	return 0;
}

/* Write what nghttp2 has to send. -1 when c closed. */
static int
h2uc_write(struct h2uconn *c)
{
	const uint8_t	*data;
	char		 e[96];
	ssize_t		 n;
	int		 r;

	for (;;) {
		if (c->ooff == c->olen) {
			c->ooff = c->olen = 0;
			while (c->olen < H2UP_OUT_MAX) {
				if ((n = nghttp2_session_mem_send(c->ng, &data)) < 0) {
					h2uc_close(c, nghttp2_strerror((int)n));
					return -1;
				}
				if (n == 0)
					break;
				if (c->olen + (size_t)n > c->ocap) {
					/* None of it is in an SSL_write retry. */
					c->ocap = c->olen + (size_t)n < H2UP_OUT_MAX ?
					    H2UP_OUT_MAX : c->olen + (size_t)n;
					c->obuf = xrealloc(c->obuf, c->ocap);
				}
				memcpy(c->obuf + c->olen, data, (size_t)n);
				c->olen += (size_t)n;
			}
			if (c->olen == 0) {
				c->wblocked = 0;
				return 0;
			}
		}
		if (c->ssl != NULL) {
			r = SSL_write(c->ssl, c->obuf + c->ooff, (int)(c->olen - c->ooff));
			if (r > 0) {
				c->ooff += (size_t)r;
				continue;
			}
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_WRITE:
			case SSL_ERROR_WANT_READ:
				c->wblocked = 1;
				return 0;
			default:
				h2uc_close(c, pool_tls_error(e, sizeof(e)));
				return -1;
			}
		}
		n = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
		if (n >= 0) {
			c->ooff += (size_t)n;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR) {
			c->wblocked = 1;
			return 0;
		}
		h2uc_close(c, strerror(errno));
		return -1;
	}
}

/* After I/O: end a session that is done, or arm the idle timer. */
static void
h2uc_check(struct h2uconn *c)
{
	if (c->state != H2UC_OPEN)
		return;
	if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
	    c->ooff == c->olen) {
		h2uc_close(c, "session ended");
		return;
	}
	if (c->nstreams > 0) {
		c->idle_since = 0;
		return;
	}
	if (c->goaway) {
		h2uc_close(c, "GOAWAY and no stream left");
		return;
	}
	if (c->idle_since == 0) {
		c->idle_since = h2u_now();
		h2uc_timer(c, c->idle_timeout);
	}
}

/* Make the progress there is to make; rd: the fd may have input. */
static void
h2uc_pump(struct h2uconn *c, int rd)
{
	if (c->state == H2UC_CONNECTING && h2uc_connect_probe(c) == -1)
		return;
	if (c->state == H2UC_TLS && h2uc_handshake(c) == -1)
		return;
	if (c->state != H2UC_OPEN)
		return;
	if ((rd || c->more_input) && (c->more_input = 0, h2uc_read(c)) == -1)
		return;
	/* Requests go once the backend said how many it takes: the first
	 * flight of a new connection never goes past its limit. */
	if (c->to_submit && c->settings) {
		c->to_submit = 0;
		h2us_submit_all(c);
	}
	if (h2uc_write(c) == -1)
		return;
	h2uc_check(c);
}

static void
h2uc_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct h2uconn	*c = arg;
	struct h2up_pool *pool = c->pool;
	socklen_t	 len = sizeof(int);
	int		 err = 0, rd;

	(void)fd;
	assert(c->magic == H2UC_MAGIC);
	c->depth++;
	if (what & EV_READ)
		c->rb.drained = 0;
	if (c->state == H2UC_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (h2uc_connected(c, err) == 0)
			h2uc_pump(c, 1);
	} else {
		if (c->state == H2UC_TLS && c->hs_want != 0 && (what & c->hs_want))
			c->hs_want = 0;
		rd = (what & EV_READ) || (c->rd_wants_write && (what & EV_WRITE));
		if (what & EV_WRITE)
			c->wblocked = 0;
		h2uc_pump(c, rd);
	}
	/* Before the unwind: the middle may take this connection again. */
	h2u_deliver(pool);
	c->depth--;
	h2uc_unwind(c);
}

static void
h2uc_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct h2uconn	*c = arg;
	struct h2up_pool *pool = c->pool;

	(void)fd;
	(void)what;
	assert(c->magic == H2UC_MAGIC);
	c->kick_on = 0;
	c->depth++;
	h2uc_pump(c, 0);
	/* Before the unwind: the middle may take this connection again. */
	h2u_deliver(pool);
	c->depth--;
	h2uc_unwind(c);
}

static void
h2uc_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct h2uconn	*c = arg;
	struct h2up_pool *pool = c->pool;
	double		 left;

	(void)fd;
	(void)what;
	assert(c->magic == H2UC_MAGIC);
	c->depth++;
	if (c->state == H2UC_CONNECTING || c->state == H2UC_TLS)
		(void)h2uc_connect_fail(c, c->state == H2UC_TLS ? "TLS to backend" :
		    "connect", "timed out");
	else if (c->state == H2UC_OPEN && c->nstreams == 0 && c->idle_since != 0) {
		left = c->idle_since + c->idle_timeout - h2u_now();
		if (left > 0.001)
			h2uc_timer(c, left);
		else {
			/* A GOAWAY of courtesy, then the close. */
			(void)nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR);
			if (h2uc_write(c) == 0)
				h2uc_close(c, "idle timeout");
		}
	}
	/* Before the unwind: the middle may take this connection again. */
	h2u_deliver(pool);
	c->depth--;
	h2uc_unwind(c);
}

/* --- making one -------------------------------------------------------- */

/* Free slots of c for new streams. */
static unsigned
h2uc_room(const struct h2uconn *c)
{
	uint32_t max = c->max_hint;

	if (c->ng != NULL && c->settings)
		max = nghttp2_session_get_remote_settings(c->ng,
		    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	if (max > H2UP_STREAM_CAP)
		max = H2UP_STREAM_CAP;
	if (max == 0)
		max = 1;
	return c->nstreams < max ? max - c->nstreams : 0;
}

/* A connection of (p, b) with a free slot, or a new one. NULL with why. */
struct h2uconn *
h2uc_get(struct h2up_pool *pool, struct pool *p, struct backend *b,
    const struct upstream_opts *o, char *why, size_t cap)
{
	struct h2uconn	*c;
	uint32_t	 hint = H2UP_MAX_STREAMS;
	int		 fd, one = 1, cerr = 0;

	for (c = pool->conns; c != NULL; c = c->next) {
		if (c->p != p || c->b != b)
			continue;
		if (!c->goaway && h2uc_room(c) > 0)
			return c;
		/* A new connection starts from what this one learned, so that
		 * its first flight does not go past the backend's limit. */
		if (c->settings)
			hint = nghttp2_session_get_remote_settings(c->ng,
			    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	}
	if (hint > H2UP_STREAM_CAP)
		hint = H2UP_STREAM_CAP;
	fd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(why, cap, "socket: %s", strerror(errno));
		return NULL;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&b->ss, b->len) == -1 &&
	    errno != EINPROGRESS)
		cerr = errno;	/* reported from the loop, as any failure */
	c = xcalloc(1, sizeof(*c));
	c->magic = H2UC_MAGIC;
	c->id = __atomic_add_fetch(&h2uc_next_id, 1, __ATOMIC_RELAXED);
	c->pool = pool;
	c->p = pool_ref(p);
	c->b = b;
	c->fd = fd;
	c->cerr = cerr;
	c->state = H2UC_CONNECTING;
	c->idle_timeout = o->idle_timeout;
	c->max_hint = hint > 0 ? hint : 1;
	evtimer_assign(&c->tev, pool->base, h2uc_on_timer, c);
	event_assign(&c->kev, pool->base, -1, 0, h2uc_on_kick, c);
	/* Newest last: streams fill the oldest connections first. */
	if (pool->conns == NULL)
		pool->conns = c;
	else {
		struct h2uconn *t = pool->conns;
		while (t->next != NULL)
			t = t->next;
		t->next = c;
		c->prev = t;
	}
	log_debug("h%08x backend %s: HTTP/2 connecting%s", c->id, b->str,
	    p->tls_ctx != NULL ? " (TLS)" : "");
	h2uc_gauge(c);
	h2uc_timer(c, o->connect_timeout);
	h2uc_kick(c);
	return c;
}
