/*
 * conn_backend.c - the backend side of a TCP-mode connection (conn.c has the
 * client side and the pipes): choosing and connecting to a backend, the
 * next one after a failed connect, the PROXY protocol header, and TLS to
 * the backend when re-encrypting. Worker thread only.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conn_impl.h"
#include "log.h"
#include "pool.h"
#include "proxyhdr.h"
#include "sites.h"
#include "sockbio.h"
#include "worker.h"
#include "xalloc.h"

/* The PROXY protocol header (proxyhdr.h) goes first into the
 * client-to-backend buffer. */
static void
conn_proxy_header(struct conn *c, int version)
{
	struct sockaddr_storage	 local;
	socklen_t		 ll = sizeof(local);
	const uint8_t		*alpn = NULL;
	unsigned		 alen = 0;

	if (getsockname(c->cfd, (struct sockaddr *)&local, &ll) == -1 ||
	    local.ss_family != c->peer.ss_family)
		return;
	if (c->c2b.data == NULL)
		c->c2b.data = conn_buf_get();
	if (version == 2)
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	c->c2b.off = 0;
	c->c2b.len = (uint32_t)proxyhdr_build((uint8_t *)c->c2b.data, version,
	    (struct sockaddr *)&c->peer, (struct sockaddr *)&local, alpn, alen,
	    c->ts.sni, SSL_get_version(c->ssl));
}

/*
 * Connect to the next backend the pool chooses. A connect that fails at once
 * moves on to the next one, up to the pool's retries. -1 when none is left.
 */
int
conn_connect_backend(struct conn *c)
{
	struct pool	*p = c->ts.site->pool;
	struct backend	*b;
	int		 fd, one = 1;

	if (c->ntried == 0 && p->proxy_protocol)
		conn_proxy_header(c, p->proxy_protocol);
	for (;;) {
		if (c->ntried > (size_t)p->retries || c->ntried >= CONN_MAX_TRIED ||
		    (b = pool_pick(p, (struct sockaddr *)&c->peer, c->tried, c->ntried)) == NULL) {
			if (c->ntried == 0)
				conn_errf(c, "every backend of %s is down",
				    c->ts.site->names[0]);
			return -1;
		}
		if (c->tried == NULL)
			c->tried = xcalloc(CONN_MAX_TRIED, sizeof(*c->tried));
		c->tried[c->ntried++] = b;
		fd = socket(b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			conn_errf(c, "socket: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE)
				worker_fd_shortage(c->w, errno);
			return -1;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (const struct sockaddr *)&b->ss, b->len) == -1 &&
		    errno != EINPROGRESS) {
			conn_errf(c, "connect %s: %s", b->str,
			    strerror(errno));
			close(fd);
			pool_connect_result(p, b, 0);
			continue;
		}
		break;
	}
	c->bk = b;
	atomic_fetch_add_explicit(&b->active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->total, 1, memory_order_relaxed);
	c->bfd = fd;
	c->bev_on = 0;
	c->probed = 0;
	c->brb.drained = 0;
	c->state = CONN_CONNECTING;
	event_del(&c->tev);
	conn_timer_arm(c, c->ts.view->limits.connect_timeout);
	return 0;
}

/* The connect in flight failed: count it, then try the next backend. */
int
conn_backend_retry(struct conn *c)
{
	pool_connect_result(c->ts.site->pool, c->bk, 0);
	atomic_fetch_sub_explicit(&c->bk->active, 1, memory_order_relaxed);
	c->bk = NULL;
	if (c->bev_on)
		event_del(&c->bev);
	c->bev_on = 0;
	if (c->bssl != NULL) {
		SSL_free(c->bssl);
		c->bssl = NULL;
		ERR_clear_error();
	}
	sockbio_free(&c->brb);
	close(c->bfd);
	c->bfd = -1;
	c->bhs_want = 0;
	return conn_connect_backend(c);
}

/* The backend side is ready for data: proxy from now on. */
static void
conn_backend_ready(struct conn *c)
{
	c->state = CONN_PROXYING;
	pool_connect_result(c->ts.site->pool, c->bk, 1);
	c->br_want = EV_READ;	/* wait for the backend to speak */
	c->last_io = conn_now_sec(c);
	event_del(&c->tev);
	conn_timer_arm(c, c->crb.wlen > 0 && c->ts.view->limits.idle_timeout > CONN_TICKET_DELAY ?
	    CONN_TICKET_DELAY : c->ts.view->limits.idle_timeout);
}

/*
 * Re-encryption: start TLS to the backend, verifying its certificate and
 * name. A PROXY header goes first, in the clear, as the protocol wants.
 * Returns -1 if the connection was closed.
 */
static int
conn_backend_tls_start(struct conn *c)
{
	struct pool *p = c->ts.site->pool;

	if (c->c2b.len > 0 && p->proxy_protocol) {
		ssize_t n = send(c->bfd, c->c2b.data + c->c2b.off, c->c2b.len, MSG_NOSIGNAL);
		if (n != (ssize_t)c->c2b.len) {
			conn_errf(c, "backend send: PROXY header");
			conn_close(c, CR_BACKEND_ERROR);
			return -1;
		}
		c->c2b.len = 0;
		c->c2b.off = 0;
	}
	if ((c->bssl = pool_tls_new(p, p->tls_ctx, c->bk, c->bfd, &c->brb)) == NULL) {
		conn_ssl_err(c, "backend TLS");
		conn_close(c, CR_BACKEND_ERROR);
		return -1;
	}
	c->state = CONN_BACKEND_TLS;
	c->bhs_want = 0;
	return 0;
}

/* Drive the backend TLS handshake. Returns -1 if the connection was closed. */
int
conn_backend_handshake(struct conn *c)
{
	char e[128];

	if (c->bhs_want != 0)
		return 0;
	switch (pool_tls_handshake(c->bssl, &c->bhs_want, e, sizeof(e))) {
	case 1:
		conn_backend_ready(c);
		return 0;
	case 0:
		return 0;
	default:
		conn_errf(c, "backend %s TLS: %s", c->bk->str, e);
		log_notice("c%08x backend %s: %s; failing closed", c->id, c->bk->str, c->err);
		if (conn_backend_retry(c) == -1) {
			conn_close(c, CR_CONNECT_FAILED);
			return -1;
		}
		return 0;
	}
}

/*
 * The backend connect finished: err is 0 or why it failed. Starts TLS to the
 * backend or proxying, or tries the next backend. -1 if the connection was
 * closed.
 */
static int
conn_connected(struct conn *c, int err)
{
	if (err != 0) {
		conn_errf(c, "connect %s: %s", c->bk->str,
		    strerror(err));
		if (conn_backend_retry(c) == -1) {
			conn_close(c, CR_CONNECT_FAILED);
			return -1;
		}
		return 0;
	}
	if (c->ts.site->pool->tls_ctx != NULL)
		return conn_backend_tls_start(c);
	conn_backend_ready(c);
	return 0;
}

/*
 * A connect to a nearby backend has often completed by the time connect(2)
 * returns EINPROGRESS. A zero-byte send tells at once: 0 when established,
 * EAGAIN while the SYN is out, the error if it was refused. That saves the
 * round of waiting for writability (two epoll_ctl, an epoll_wait and a
 * getsockopt) on every new connection. -1 if the connection was closed.
 */
int
conn_connect_probe(struct conn *c)
{
	c->probed = 1;
	if (send(c->bfd, "", 0, MSG_NOSIGNAL) == 0)
		return conn_connected(c, 0);
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return conn_connected(c, errno);
}

void
conn_on_backend(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	socklen_t	 len = sizeof(int);
	int		 err = 0;

	assert(c->magic == CONN_MAGIC);
	if (c->state == CONN_CONNECTING) {
		if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (conn_connected(c, err) == -1)
			return;
		if (c->state == CONN_CONNECTING) {	/* the next backend */
			conn_update_events(c);
			return;
		}
	} else {
		if (what & EV_READ)
			c->brb.drained = 0;
		conn_wants_clear(what, &c->bhs_want, &c->br_want, &c->bw_want);
	}
	conn_pump(c);
}

