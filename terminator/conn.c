/*
 * conn.c - the per-connection state machine: TLS handshake, backend connect
 * (conn_backend.c), then two one-buffer pipes (client to backend, backend to
 * client), or HTTP mode (conn_http.c).
 *
 * TLS I/O is driven over plain libevent events on the raw fds (Debian's
 * libevent_openssl is built against OpenSSL 3 and cannot be used). Each
 * direction has at most one 16 KiB buffer: while it holds data, its source is
 * not read, which is the back-pressure that bounds memory however slow either
 * side is. Buffers are freed as soon as they drain and the source would block,
 * so an idle connection holds no buffer of ours, and BoringSSL frees its own
 * record buffers when empty.
 *
 * Readiness is tracked Redis-style: each SSL operation that returns WANT_READ
 * or WANT_WRITE records which fd event it waits for, and one function derives
 * the fd interests from those records and the state. Every callback runs
 * conn_pump(), which makes all the progress it can and then re-arms events.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdarg.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bufcache.h"
#include "climit.h"
#include "conn_impl.h"
#include "ech.h"
#include "hsess.h"
#include "log.h"
#include "ondemand.h"
#include "pool.h"
#include "proxyhdr.h"
#include "sites.h"
#include "sockbio.h"
#include "stats.h"
#include "tls.h"
#include "tlsnego.h"
#include "worker.h"
#include "xalloc.h"

const char *const conn_reason_names[CR__MAX] = {
	"done", "client-closed", "backend-closed", "handshake-failed",
	"handshake-timeout", "no-site", "connect-failed", "connect-timeout",
	"idle-timeout", "client-error", "backend-error", "shutdown", "acme-challenge",
	"no-backend", "http-abort",
};

static uint32_t conn_next_id;

static void	conn_on_client(evutil_socket_t, short, void *);
static void	conn_on_timer(evutil_socket_t, short, void *);

time_t
conn_now_sec(const struct conn *c)
{
	struct timeval tv;

	event_base_gettimeofday_cached(c->w->base, &tv);
	return tv.tv_sec;
}

void
conn_timer_arm(struct conn *c, double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	evtimer_add(&c->tev, &tv);
}

static void
fmt_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char	 host[INET6_ADDRSTRLEN] = "?";
	int	 port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(out, cap, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(out, cap, "[%s]:%d", host, port);
	} else
		snprintf(out, cap, "?");
}

void
conn_errf(struct conn *c, const char *fmt, ...)
{
	char	 buf[160];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	free(c->err);
	c->err = xstrdup(buf);
}

void
conn_ssl_err(struct conn *c, const char *what)
{
	uint32_t e = ERR_get_error();

	if (c->err == NULL) {
		if (e != 0)
			conn_errf(c, "%s: %s", what,
			    ERR_reason_error_string(e) ? ERR_reason_error_string(e) :
			    "error");
		else
			conn_errf(c, "%s: %s", what,
			    errno ? strerror(errno) : "unexpected EOF");
	}
	ERR_clear_error();
}

char *
conn_buf_get(void)
{
	char *p = bufcache_get();

	if (p == NULL) {
		log_err("out of memory");
		abort();
	}
	return p;
}

void
conn_buf_free(struct buf *b)
{
	bufcache_put(b->data);
	b->data = NULL;
	b->off = b->len = 0;
}

/* The connection's one log line. */
static void
conn_log_close(struct conn *c, enum conn_reason why, enum log_level lvl)
{
	struct timespec	 t;
	char		 peer[INET6_ADDRSTRLEN + 8], alpn[LOG_FIELD_CAP(255)] = "-";
	char		 sni[LOG_FIELD_CAP(TLS_SNI_MAX)] = "-";
	char		 ech[LOG_FIELD_CAP(255) + 32];
	const char	*ver = "-";
	long		 ms;

	clock_gettime(CLOCK_MONOTONIC, &t);
	ms = (t.tv_sec - c->t_start.tv_sec) * 1000 +
	    (t.tv_nsec - c->t_start.tv_nsec) / 1000000;
	fmt_peer(&c->peer, peer, sizeof(peer));
	if (c->state != CONN_HANDSHAKE) {
		ver = tls_version_name(c->ssl);
		tls_alpn_name(c->ssl, alpn, sizeof(alpn));
	}
	/* The SNI is the client's bytes: escaped, it stays one field. */
	if (c->ts.sni[0] != '\0')
		log_field_escape(sni, sizeof(sni), c->ts.sni, strlen(c->ts.sni));
	log_msg(lvl, "c%08x w%d client=%s sni=%s alpn=%s tls=%s group=%s resumed=%d%s "
	    "backend=%s in=%llu out=%llu ms=%ld close=%s%s%s", c->id, c->w->id, peer,
	    sni, alpn, ver, c->state != CONN_HANDSHAKE ?
	    tlsnego_group_name(SSL_get_curve_id(c->ssl)) : "-",
	    c->state != CONN_HANDSHAKE && SSL_session_reused(c->ssl),
	    ech_conn_note(c->ssl, ech, sizeof(ech)),
	    c->bk ? c->bk->str : c->ntried ? c->tried[c->ntried - 1]->str : "-",
	    (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out, ms,
	    conn_reason_names[why], c->err ? " err=" : "", c->err ? c->err : "");
}

/*
 * The one teardown path. It logs the connection line, sends close_notify if
 * the handshake finished, and frees everything. Callers return right after.
 */
void
conn_close(struct conn *c, enum conn_reason why)
{
	struct worker	*w = c->w;
	enum log_level	 lvl = why == CR_HANDSHAKE_FAILED || why == CR_CONNECT_FAILED ||
	    why == CR_NO_SITE || why == CR_NO_BACKEND ? LOG_LVL_NOTICE : LOG_LVL_INFO;

	assert(c->magic == CONN_MAGIC);
	if (log_get_level() >= lvl)	/* no formatting at all when filtered */
		conn_log_close(c, why, lvl);
	if (c->st != NULL) {
		atomic_fetch_sub_explicit(&c->st->conns_current, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->st->bytes_in, c->bytes_in, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->st->bytes_out, c->bytes_out, memory_order_relaxed);
	}
	if (c->bk != NULL)
		atomic_fetch_sub_explicit(&c->bk->active, 1, memory_order_relaxed);
	event_del(&c->cev);
	event_del(&c->tev);
	if (c->ts.odw != NULL) {
		od_wait_cancel(c->ts.odw);
		c->ts.odw = NULL;
	}
	hsess_free(c->hs);
	c->hs = NULL;
	if (c->bfd != -1) {
		if (c->bev_on)
			event_del(&c->bev);
		if (c->bssl != NULL) {
			ERR_clear_error();
			if (c->state == CONN_PROXYING)
				(void)SSL_shutdown(c->bssl);
			SSL_free(c->bssl);
		}
		close(c->bfd);
	}
	sockbio_free(&c->brb);
	if (c->state != CONN_HANDSHAKE && why != CR_CLIENT_ERROR) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);	/* best effort, non-blocking */
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	sockbio_free(&c->crb);
	close(c->cfd);
	conn_buf_free(&c->c2b);
	conn_buf_free(&c->b2c);
	view_unref(c->ts.view);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	atomic_fetch_sub(&w->sh->nconns, 1);
	climit_release((struct sockaddr *)&c->peer);
	c->magic = 0;
	free(c->err);
	free(c->tried);
	tls_state_clear(&c->ts);
	free(c);
}

void
conn_update_events(struct conn *c)
{
	short cw = 0, bw = 0;

	if (c->state == CONN_HANDSHAKE)
		cw = c->hs_want;
	else if (c->state == CONN_HTTP)
		cw = conn_http_events(c);
	else
		cw = c->rd_want | c->wr_want;
	if (c->state == CONN_CONNECTING)
		bw = EV_WRITE;
	else if (c->state == CONN_BACKEND_TLS)
		bw = c->bhs_want;
	else if (c->state == CONN_PROXYING) {
		if (c->br_want && !c->b_eof && c->b2c.len == 0)
			bw |= c->br_want;
		if (c->bw_want && c->c2b.len > 0)
			bw |= c->bw_want;
	}
	if (cw != c->cev_on) {
		event_del(&c->cev);
		if (cw) {
			event_assign(&c->cev, c->w->base, c->cfd, cw | EV_PERSIST,
			    conn_on_client, c);
			event_add(&c->cev, NULL);
		}
		c->cev_on = cw;
	}
	if (c->bfd != -1 && bw != c->bev_on) {
		if (c->bev_on)
			event_del(&c->bev);
		if (bw) {
			event_assign(&c->bev, c->w->base, c->bfd, bw | EV_PERSIST,
			    conn_on_backend, c);
			event_add(&c->bev, NULL);
		}
		c->bev_on = bw;
	}
}

/* On-demand TLS resolved the name this handshake waits for: go on. */
static void
conn_on_ondemand(void *arg)
{
	struct conn *c = arg;

	assert(c->magic == CONN_MAGIC);
	c->ts.odw = NULL;
	c->ts.od_woken = 1;
	conn_pump(c);
}

/* Returns -1 if the connection was closed. */
static int
conn_handshake(struct conn *c)
{
	int r, e;

	if (c->hs_want != 0)
		return 0;
	ERR_clear_error();
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		if (c->ts.acme_challenge) {
			/* The CA has seen the certificate: nothing to proxy. */
			conn_close(c, CR_ACME_CHALLENGE);
			return -1;
		}
		if (c->ts.site == NULL) {
			stats_handshake(STATS_HS_FAIL_NO_SITE);
			conn_close(c, CR_NO_SITE);
			return -1;
		}
		stats_handshake(SSL_session_reused(c->ssl) ? STATS_HS_RESUMED : STATS_HS_FULL);
		stats_handshake_group(SSL_get_curve_id(c->ssl));
		c->st = c->ts.site->stats;
		atomic_fetch_add_explicit(&c->st->conns_total, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->st->conns_current, 1, memory_order_relaxed);
		/*
		 * BoringSSL queues TLS 1.3 NewSessionTickets until the next
		 * write. Push them into the BIO's corked buffer now: they leave
		 * in front of the first bytes to the client (one send, one
		 * wake-up of the client, not two), or at the latest
		 * CONN_TICKET_DELAY after the backend answers the connect, for a
		 * client that waits for the server before it speaks.
		 */
		if (SSL_version(c->ssl) == TLS1_3_VERSION) {
			c->crb.cork = 1;
			(void)SSL_write(c->ssl, "", 0);
			c->crb.cork = 0;
			ERR_clear_error();
		}
		if (c->ts.site->http.mode == SITE_MODE_HTTP)
			return conn_http_start(c);
		if (conn_connect_backend(c) == -1) {
			conn_close(c, c->ntried == 0 ? CR_NO_BACKEND : CR_CONNECT_FAILED);
			return -1;
		}
		return 0;
	}
	switch ((e = SSL_get_error(c->ssl, r))) {
	case SSL_ERROR_WANT_READ:
		c->hs_want = EV_READ;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->hs_want = EV_WRITE;
		return 0;
	case SSL_ERROR_PENDING_CERTIFICATE:
		/* On-demand TLS: no fd events until the certificate (or a
		 * refusal) wakes us; the handshake timer becomes the wait. */
		if (c->ts.odw == NULL) {
			conn_errf(c, "handshake paused with nothing to wait for");
			stats_handshake(STATS_HS_FAIL_PROTOCOL);
			conn_close(c, CR_HANDSHAKE_FAILED);
			return -1;
		}
		od_wait_bind(c->ts.odw, worker_post, c->w, conn_on_ondemand, c);
		conn_timer_arm(c, c->ts.view->od_wait);
		return 0;
	default:
		if (c->ts.od_late) {
			conn_errf(c, "on-demand certificate for %s not ready in time",
			    c->ts.sni);
			ERR_clear_error();
			stats_handshake(STATS_HS_FAIL_TIMEOUT);
			conn_close(c, CR_HANDSHAKE_TIMEOUT);
		} else if (c->ts.no_site && c->ts.od_refused != NULL) {
			conn_errf(c, "on-demand certificate refused: %s",
			    c->ts.od_refused);
			ERR_clear_error();
			stats_handshake(STATS_HS_FAIL_NO_SITE);
			conn_close(c, CR_NO_SITE);
		} else if (c->ts.no_site) {
			conn_errf(c, "unknown server name");
			ERR_clear_error();
			stats_handshake(STATS_HS_FAIL_NO_SITE);
			conn_close(c, CR_NO_SITE);
		} else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			/* Gone before a ClientHello: probes, scanners, health checks. */
			stats_handshake(STATS_HS_FAIL_EOF);
			conn_close(c, CR_CLIENT_CLOSED);
		} else {
			conn_ssl_err(c, "handshake");
			stats_handshake(STATS_HS_FAIL_PROTOCOL);
			conn_close(c, CR_HANDSHAKE_FAILED);
		}
		return -1;
	}
}

/* Client to backend. Returns -1 if the connection was closed. */
static int
conn_flow_c2b(struct conn *c)
{
	ssize_t	n;
	int	r;

	for (;;) {
		if (c->c2b.len > 0) {
			if (c->state != CONN_PROXYING || c->bw_want)
				return 0;
			if (c->bssl != NULL) {
				r = SSL_write(c->bssl, c->c2b.data + c->c2b.off, (int)c->c2b.len);
				if (r <= 0) {
					switch (SSL_get_error(c->bssl, r)) {
					case SSL_ERROR_WANT_WRITE:
						c->bw_want = EV_WRITE;
						return 0;
					case SSL_ERROR_WANT_READ:
						c->bw_want = EV_READ;
						return 0;
					default:
						conn_ssl_err(c, "backend TLS write");
						conn_close(c, CR_BACKEND_ERROR);
						return -1;
					}
				}
				n = r;
			} else
				n = send(c->bfd, c->c2b.data + c->c2b.off, c->c2b.len,
				    MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR) {
					c->bw_want = EV_WRITE;
					return 0;
				}
				conn_errf(c, "backend send: %s",
				    strerror(errno));
				conn_close(c, CR_BACKEND_ERROR);
				return -1;
			}
			c->c2b.off += (uint32_t)n;
			c->c2b.len -= (uint32_t)n;
			c->last_io = conn_now_sec(c);
			continue;
		}
		if (c->c_eof) {
			if (c->state == CONN_PROXYING && !c->b_shut) {
				/* TLS to the backend: close_notify, then the TCP half. */
				if (c->bssl != NULL) {
					ERR_clear_error();
					(void)SSL_shutdown(c->bssl);
					ERR_clear_error();
				}
				shutdown(c->bfd, SHUT_WR);
				c->b_shut = 1;
			}
			conn_buf_free(&c->c2b);
			return 0;
		}
		if (c->rd_want != 0)
			return 0;
		if (c->c2b.data == NULL)
			c->c2b.data = conn_buf_get();
		c->c2b.off = 0;
		/* No ERR_clear_error() before SSL_read() or SSL_write(): both
		 * clear the queue themselves (see conn_http_read()). */
		if ((r = SSL_read(c->ssl, c->c2b.data, CONN_BUFSZ)) > 0) {
			c->c2b.len = (uint32_t)r;
			c->bytes_in += (uint64_t)r;
			c->last_io = conn_now_sec(c);
			continue;
		}
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			c->rd_want = EV_READ;
			conn_buf_free(&c->c2b);	/* idle: hold no buffer */
			return 0;
		case SSL_ERROR_WANT_WRITE:
			c->rd_want = EV_WRITE;
			return 0;
		case SSL_ERROR_ZERO_RETURN:	/* close_notify */
			c->c_eof = 1;
			continue;
		case SSL_ERROR_SYSCALL:
			if (ERR_peek_error() == 0 && (r == 0 || errno == 0)) {
				c->c_eof = 1;	/* TCP FIN without close_notify */
				continue;
			}
			/* FALLTHROUGH */
		default:
			conn_ssl_err(c, "client read");
			conn_close(c, CR_CLIENT_ERROR);
			return -1;
		}
	}
}

/* Backend to client. Returns -1 if the connection was closed. */
static int
conn_flow_b2c(struct conn *c)
{
	ssize_t	n;
	int	r;

	if (c->state != CONN_PROXYING)
		return 0;
	for (;;) {
		if (c->b2c.len > 0) {
			if (c->wr_want != 0)
				return 0;
			r = SSL_write(c->ssl, c->b2c.data + c->b2c.off, (int)c->b2c.len);
			if (r > 0) {
				c->b2c.off += (uint32_t)r;
				c->b2c.len -= (uint32_t)r;
				c->last_io = conn_now_sec(c);
				continue;
			}
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_WRITE:
				c->wr_want = EV_WRITE;
				return 0;
			case SSL_ERROR_WANT_READ:
				c->wr_want = EV_READ;
				return 0;
			default:
				conn_ssl_err(c, "client write");
				conn_close(c, CR_CLIENT_ERROR);
				return -1;
			}
		}
		if (c->b_eof) {
			/* Everything the backend sent has reached the client. */
			conn_close(c, c->c_eof ? CR_DONE : CR_BACKEND_CLOSED);
			return -1;
		}
		if (c->br_want)
			return 0;
		if (c->b2c.data == NULL)
			c->b2c.data = conn_buf_get();
		c->b2c.off = 0;
		if (c->bssl != NULL) {
			if ((r = SSL_read(c->bssl, c->b2c.data, CONN_BUFSZ)) > 0) {
				c->b2c.len = (uint32_t)r;
				c->bytes_out += (uint64_t)r;
				c->last_io = conn_now_sec(c);
				continue;
			}
			switch (SSL_get_error(c->bssl, r)) {
			case SSL_ERROR_WANT_READ:
				c->br_want = EV_READ;
				conn_buf_free(&c->b2c);
				return 0;
			case SSL_ERROR_WANT_WRITE:
				c->br_want = EV_WRITE;
				return 0;
			case SSL_ERROR_ZERO_RETURN:
				c->b_eof = 1;
				continue;
			case SSL_ERROR_SYSCALL:
				if (ERR_peek_error() == 0) {
					c->b_eof = 1;
					continue;
				}
				/* FALLTHROUGH */
			default:
				conn_ssl_err(c, "backend TLS read");
				conn_close(c, CR_BACKEND_ERROR);
				return -1;
			}
		}
		/* A short read emptied the socket: wait for readiness rather
		 * than ask again only to hear EAGAIN. */
		if (c->brb.drained) {
			c->br_want = EV_READ;
			conn_buf_free(&c->b2c);
			return 0;
		}
		n = recv(c->bfd, c->b2c.data, CONN_BUFSZ, 0);
		if (n > 0) {
			if (n < CONN_BUFSZ)
				c->brb.drained = 1;
			c->b2c.len = (uint32_t)n;
			c->bytes_out += (uint64_t)n;
			c->last_io = conn_now_sec(c);
			continue;
		}
		if (n == 0) {
			c->b_eof = 1;
			continue;
		}
		if (errno == EAGAIN || errno == EINTR) {
			c->br_want = EV_READ;
			conn_buf_free(&c->b2c);
			return 0;
		}
		conn_errf(c, "backend recv: %s", strerror(errno));
		conn_close(c, CR_BACKEND_ERROR);
		return -1;
	}
}

void
conn_pump(struct conn *c)
{
	if (c->state == CONN_HANDSHAKE) {
		if (conn_handshake(c) == -1)
			return;
		if (c->state == CONN_HANDSHAKE) {
			conn_update_events(c);
			return;
		}
	}
	if (c->state == CONN_HTTP) {
		if (conn_http_pump(c) == 0)
			conn_update_events(c);
		return;
	}
	if (c->state == CONN_CONNECTING && !c->probed) {
		/* After the client's first bytes are read, so they can go
		 * out in this same round if the backend is already there. */
		if (conn_flow_c2b(c) == -1 || conn_connect_probe(c) == -1)
			return;
	}
	if (c->state == CONN_BACKEND_TLS && conn_backend_handshake(c) == -1)
		return;
	if (conn_flow_c2b(c) == -1 || conn_flow_b2c(c) == -1)
		return;
	conn_update_events(c);
}

/* An fd event arrived: each operation that waited for it may try again. */
void
conn_wants_clear(short what, short *a, short *b, short *c)
{
	short *w[3] = { a, b, c };

	for (int i = 0; i < 3; i++)
		if (*w[i] != 0 && (what & *w[i]) != 0)
			*w[i] = 0;
}

static void
conn_on_client(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	assert(c->magic == CONN_MAGIC);
	if (what & EV_READ)
		c->crb.drained = 0;
	conn_wants_clear(what, &c->hs_want, &c->rd_want, &c->wr_want);
	conn_pump(c);
}

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	double		 idle;
	time_t		 now;

	assert(c->magic == CONN_MAGIC);
	switch (c->state) {
	case CONN_HANDSHAKE:
		if (c->ts.odw != NULL) {
			/* A paused on-demand handshake: end it with an alert
			 * (unrecognized_name), not a bare close. */
			od_wait_cancel(c->ts.odw);
			c->ts.odw = NULL;
			c->ts.od_late = 1;
			conn_timer_arm(c, 1);	/* in case the alert cannot go */
			conn_pump(c);
			return;
		}
		stats_handshake(STATS_HS_FAIL_TIMEOUT);
		conn_close(c, CR_HANDSHAKE_TIMEOUT);
		return;
	case CONN_CONNECTING:
	case CONN_BACKEND_TLS:
		conn_errf(c, "no answer from %s", c->bk->str);
		if (conn_backend_retry(c) == -1)
			conn_close(c, CR_CONNECT_TIMEOUT);
		else
			conn_update_events(c);
		return;
	case CONN_HTTP:
		/* Only the corked tickets: the session keeps its own time. */
		if (sockbio_flush(&c->crb) == -1) {
			conn_errf(c, "client send: %s", strerror(errno));
			conn_close(c, CR_CLIENT_ERROR);
		}
		return;
	default:
		/* Session tickets still corked: the client spoke not, nor the
		 * backend. Send them on their own. */
		if (sockbio_flush(&c->crb) == -1) {
			conn_errf(c, "client send: %s", strerror(errno));
			conn_close(c, CR_CLIENT_ERROR);
			return;
		}
		/* Idle: activity only stamps last_io; re-arm for what is left. */
		idle = c->ts.view->limits.idle_timeout;
		now = conn_now_sec(c);
		if ((double)(now - c->last_io) >= idle) {
			conn_close(c, CR_IDLE_TIMEOUT);
			return;
		}
		conn_timer_arm(c, idle - (double)(now - c->last_io));
	}
}

void
conn_accept(struct worker *w, int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->magic = CONN_MAGIC;
	c->id = __atomic_add_fetch(&conn_next_id, 1, __ATOMIC_RELAXED);
	c->w = w;
	c->cfd = fd;
	c->bfd = -1;
	c->state = CONN_HANDSHAKE;
	memcpy(&c->peer, sa, salen < sizeof(c->peer) ? salen : sizeof(c->peer));
	clock_gettime(CLOCK_MONOTONIC, &c->t_start);
	if ((c->ts.view = view_current()) == NULL || (c->ssl = SSL_new(w->sh->ctx)) == NULL ||
	    sockbio_attach(c->ssl, fd, &c->crb) == -1) {
		ERR_clear_error();
		SSL_free(c->ssl);
		view_unref(c->ts.view);
		close(fd);
		free(c);
		atomic_fetch_sub(&w->sh->nconns, 1);
		climit_release(sa);
		return;
	}
	SSL_set_accept_state(c->ssl);
	c->ts.peer = (const struct sockaddr *)&c->peer;
	c->ts.local_fd = fd;
	tls_attach(c->ssl, &c->ts);
	event_assign(&c->cev, w->base, fd, EV_READ | EV_PERSIST, conn_on_client, c);
	evtimer_assign(&c->tev, w->base, conn_on_timer, c);
	conn_timer_arm(c, c->ts.view->limits.handshake_timeout);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	/* The ClientHello is usually already here: try before waiting. */
	conn_pump(c);
}

void
conn_close_removed(struct worker *w, double drain)
{
	struct timespec	 ts;
	long		 now;
	struct conn	*c, *next;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (c = w->conns; c != NULL; c = next) {
		long ra;
		next = c->next;
		if (c->bk != NULL && (ra = atomic_load(&c->bk->removed_at)) != 0 &&
		    (double)(now - ra) >= drain * 1000) {
			conn_errf(c, "backend removed by a reload");
			conn_close(c, CR_SHUTDOWN);
		}
	}
}

void
conn_close_all(struct worker *w)
{
	while (w->conns != NULL)
		conn_close(w->conns, CR_SHUTDOWN);
}
