/*
 * wsload.c - bench/http's WebSocket load client (scenarios ws1 and ws2):
 * --conns TLS connections, each upgraded to a WebSocket, each exchanging
 * small binary messages with an echo backend (bench/wsecho.c) through the
 * proxy under test, for --seconds or until --messages have been sent in
 * all, whichever comes first.
 *
 *   HTTP/1.1 (default): ALPN http/1.1, GET --path with Upgrade: websocket,
 *        Sec-WebSocket-Version 13 and a key; the 101's Sec-WebSocket-Accept
 *        must be the key's.
 *   --h2: RFC 8441 over HTTP/2 (nghttp2): ALPN h2, the server's SETTINGS
 *        must carry ENABLE_CONNECT_PROTOCOL = 1; one extended CONNECT
 *        (:protocol websocket) per connection, :status 200, then the frames
 *        ride in DATA frames.
 *
 * Each connection keeps --window messages in flight (default 1: ping-pong)
 * of --size bytes (default 32), masked as a client's frames must be, each
 * carrying its sequence number; an echo counts when it comes back whole, in
 * order, with its number. Nothing is timed until every connection is
 * upgraded: the message phase starts then, on every thread at once, and
 * the CPU of the processes named by --cpu-of (the proxy, the backend) and
 * of this client is taken around that phase alone, so handshakes and
 * upgrades are not in the figures. After the phase, the echoes still in
 * flight are awaited (at most 10 s) and counted.
 *
 * Flags: --connect HOST:PORT --sni NAME --path P (/ws) --h2 --conns N (8)
 *        --threads T (1; connections are spread over them, one epoll loop
 *        each) --seconds S (5) --messages M (10,000,000 in all) --size B
 *        (8..65535) --window W (1) --deadline S (to connect and upgrade
 *        every connection, 30) --cpu-of NAME=PID[,PID...] (up to 4)
 * Prints one line: "ok conns=N messages=M seconds=S rate=R client_cpu=C
 * client_share=X cpu_NAME=C..." (rate: echoed messages per second of the
 * phase; client_share: the client's CPU over the phase's wall time, in
 * cores: near --threads means the client was the bottleneck) and exits 0;
 * "FAIL: ..." and exit 1 on any error (a failed upgrade, a wrong or missing
 * echo, a stream or connection that ended).
 *
 * Threads: each load thread owns its connections and epoll set; the totals
 * are atomics, and three barriers mark the phase for the main thread.
 * Links tlsgate's TLS library (AWS-LC or BoringSSL) and Debian's nghttp2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define WL_KEY		"dGhlIHNhbXBsZSBub25jZQ=="	/* RFC 6455's example */
#define WL_ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="	/* and its accept */
#define WL_DRAIN_SECS	10.0
#define WL_CPU_MAX	4

static const char	*opt_connect = "127.0.0.1:8443", *opt_sni = "localhost", *opt_path = "/ws";
static int		 opt_h2, opt_conns = 8, opt_threads = 1, opt_window = 1;
static double		 opt_seconds = 5, opt_deadline = 30;
static long		 opt_messages = 10000000, opt_size = 32;
static struct {
	const char	*name;
	char		*pids;
}			 cpu_of[WL_CPU_MAX];
static int		 ncpu_of;

static struct sockaddr_storage	 target;
static socklen_t		 target_len;
static SSL_CTX			*ctx;
static nghttp2_session_callbacks *h2cb;

static atomic_long	 budget;		/* messages that may still be sent */
static atomic_long	 n_echoed;		/* in the phase and its drain */
static atomic_int	 n_failed;
static double		 t_end;			/* the phase's end, set before b2 */
static pthread_barrier_t b_ready, b_go, b_done;
static pthread_mutex_t	 err_mu = PTHREAD_MUTEX_INITIALIZER;
static char		 first_err[256];

enum wl_state {
	WL_CONNECT,		/* TCP connect in flight */
	WL_TLS,			/* handshake */
	WL_UPGRADE,		/* 101 or :status 200 awaited */
	WL_READY,		/* upgraded; waits for the phase */
	WL_RUN,			/* sending and counting */
	WL_DRAIN,		/* no more sends; the last echoes awaited */
	WL_DONE,		/* every echo in (or failed) */
	WL__MAX
};

struct wlconn {
	int		 fd;
	SSL		*ssl;
	enum wl_state	 state;
	int		 wantw;		/* the last SSL call wants writability */
	uint8_t		*out;		/* bytes for SSL_write: frames, or nghttp2's */
	size_t		 outlen, outoff, outcap;
	uint8_t		*rx;		/* received WebSocket bytes (h1: the head first) */
	size_t		 rxlen, rxcap;
	uint8_t		*tx;		/* h2: WebSocket bytes for DATA frames */
	size_t		 txlen, txoff, txcap;
	nghttp2_session	*ng;
	int32_t		 sid;
	int		 submitted, status, deferred;
	uint64_t	 sent, rcvd;	/* messages */
	uint8_t		 mask[4];
};

struct wlthr {
	pthread_t	 th;
	int		 ep;
	struct wlconn	*c;
	int		 n;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *m)
{
	fprintf(stderr, "wsload: %s\n", m);
	exit(2);
}

static void
reserve(uint8_t **b, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 4096;
	if ((*b = realloc(*b, *cap)) == NULL)
		die("out of memory");
}

/* A connection failed: count it once, keep the first message, drop it. */
static void __attribute__((format(printf, 2, 3)))
cfail(struct wlconn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->state == WL_DONE && c->fd == -1)
		return;
	pthread_mutex_lock(&err_mu);
	if (first_err[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(first_err, sizeof(first_err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&err_mu);
	atomic_fetch_add(&n_failed, 1);
	c->state = WL_DONE;
	if (c->fd != -1)
		close(c->fd);	/* leaves the epoll set too */
	c->fd = -1;
}

/* --- sending ------------------------------------------------------------ */

static void
out_add(struct wlconn *c, const void *p, size_t n)
{
	reserve(&c->out, &c->outcap, c->outlen + n);
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

/* h2: move what nghttp2 has to send into c->out. */
static int
h2_pump(struct wlconn *c)
{
	const uint8_t	*d;
	ssize_t		 n;

	while ((n = nghttp2_session_mem_send(c->ng, &d)) > 0)
		out_add(c, d, (size_t)n);
	if (n < 0) {
		cfail(c, "nghttp2 send: %s", nghttp2_strerror((int)n));
		return -1;
	}
	return 0;
}

/* Queue one message: a masked binary frame with the sequence number. */
static void
send_msg(struct wlconn *c)
{
	uint8_t		 hdr[8], *p, **b = c->ng ? &c->tx : &c->out;
	size_t		*len = c->ng ? &c->txlen : &c->outlen;
	size_t		*cap = c->ng ? &c->txcap : &c->outcap;
	size_t		 hl, i, sz = (size_t)opt_size;
	uint64_t	 seq = c->sent++;

	hdr[0] = 0x82;
	if (sz < 126) {
		hdr[1] = (uint8_t)(0x80 | sz);
		hl = 2;
	} else {
		hdr[1] = 0x80 | 126;
		hdr[2] = (uint8_t)(sz >> 8);
		hdr[3] = (uint8_t)sz;
		hl = 4;
	}
	memcpy(hdr + hl, c->mask, 4);
	hl += 4;
	reserve(b, cap, *len + hl + sz);
	p = *b + *len;
	memcpy(p, hdr, hl);
	p += hl;
	/* The payload: the sequence number, then a filler. */
	for (i = 0; i < sz; i++)
		p[i] = (uint8_t)(i < 8 ? seq >> (8 * i) : i) ^ c->mask[i % 4];
	*len += hl + sz;
	if (c->ng != NULL && c->deferred) {
		c->deferred = 0;
		nghttp2_session_resume_data(c->ng, c->sid);
	}
}

/* Write c->out; 0 (done or blocked) or -1 (failed). */
static int
flush(struct wlconn *c)
{
	int r;

	if (c->ng != NULL && h2_pump(c) == -1)
		return -1;
	c->wantw = 0;
	while (c->outoff < c->outlen) {
		ERR_clear_error();
		r = SSL_write(c->ssl, c->out + c->outoff, (int)(c->outlen - c->outoff));
		if (r > 0) {
			c->outoff += (size_t)r;
			continue;
		}
		r = SSL_get_error(c->ssl, r);
		if (r == SSL_ERROR_WANT_WRITE) {
			c->wantw = 1;
			return 0;
		}
		if (r == SSL_ERROR_WANT_READ)
			return 0;
		cfail(c, "write: TLS error %d", r);
		return -1;
	}
	c->outoff = c->outlen = 0;
	return 0;
}

/* May c send another message now? Takes one from the budget if so. */
static int
may_send(struct wlconn *c, double t)
{
	if (c->state != WL_RUN)
		return 0;
	if (t >= t_end || atomic_fetch_sub(&budget, 1) <= 0) {
		c->state = WL_DRAIN;
		return 0;
	}
	return 1;
}

/* --- receiving ---------------------------------------------------------- */

/* Count the whole echoes in c->rx; keep a partial one. */
static int
take_echoes(struct wlconn *c, double t)
{
	size_t	 off = 0, sz = (size_t)opt_size;
	long	 got = 0;

	for (;;) {
		const uint8_t	*f = c->rx + off;
		size_t		 avail = c->rxlen - off, hl, len, i;
		uint64_t	 seq = 0;

		if (avail < 2)
			break;
		len = f[1] & 0x7f;
		hl = len == 126 ? 4 : len == 127 ? 10 : 2;
		if (avail < hl)
			break;
		if (len == 126)
			len = (size_t)f[2] << 8 | f[3];
		if (f[0] != 0x82 || (f[1] & 0x80) || len != sz) {
			cfail(c, "echo %llu: not a %zu-byte binary frame (%02x %02x)",
			    (unsigned long long)c->rcvd, sz, f[0], f[1]);
			return -1;
		}
		if (avail < hl + len)
			break;
		for (i = 0; i < 8 && i < len; i++)
			seq |= (uint64_t)f[hl + i] << (8 * i);
		if (sz >= 8 && seq != c->rcvd) {
			cfail(c, "echo %llu came with number %llu",
			    (unsigned long long)c->rcvd, (unsigned long long)seq);
			return -1;
		}
		c->rcvd++;
		got++;
		off += hl + len;
		if (c->rcvd > c->sent) {
			cfail(c, "an echo of nothing sent");
			return -1;
		}
		if (may_send(c, t))
			send_msg(c);
	}
	memmove(c->rx, c->rx + off, c->rxlen - off);
	c->rxlen -= off;
	if (got > 0)
		atomic_fetch_add(&n_echoed, got);
	if (c->state == WL_DRAIN && c->rcvd == c->sent)
		c->state = WL_DONE;
	return 0;
}

/* h1: the 101 is in c->rx? 1 yes, 0 not yet, -1 failed. */
static int
take_101(struct wlconn *c)
{
	uint8_t	*e = memmem(c->rx, c->rxlen, "\r\n\r\n", 4);
	size_t	 hl;

	if (e == NULL)
		return c->rxlen > 8192 ? (cfail(c, "upgrade: no end of head"), -1) : 0;
	hl = (size_t)(e - c->rx) + 4;
	*e = '\0';
	if (strncmp((char *)c->rx, "HTTP/1.1 101", 12) != 0) {
		cfail(c, "upgrade: %.60s", (char *)c->rx);
		return -1;
	}
	if (strcasestr((char *)c->rx, "\nsec-websocket-accept: " WL_ACCEPT) == NULL) {
		cfail(c, "upgrade: no or a wrong Sec-WebSocket-Accept");
		return -1;
	}
	memmove(c->rx, c->rx + hl, c->rxlen - hl);
	c->rxlen -= hl;
	c->state = WL_READY;
	return 1;
}

static ssize_t	wl_h2_read(nghttp2_session *, int32_t, uint8_t *, size_t, uint32_t *,
		    nghttp2_data_source *, void *);

static int
on_h2_frame(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	struct wlconn		*c = arg;
	nghttp2_data_provider	 dp;
	nghttp2_nv		 nv[5];

	if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK) &&
	    !c->submitted) {
		if (nghttp2_session_get_remote_settings(s,
		    NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) != 1) {
			cfail(c, "the server's SETTINGS have no ENABLE_CONNECT_PROTOCOL");
			return 0;
		}
#define NV(i, n, v) nv[i] = (nghttp2_nv){ (uint8_t *)(n), (uint8_t *)(v), \
	    sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE }
		NV(0, ":method", "CONNECT");
		NV(1, ":protocol", "websocket");
		NV(2, ":scheme", "https");
		NV(3, ":path", opt_path);
		NV(4, ":authority", opt_sni);
#undef NV
		dp.source.ptr = c;
		dp.read_callback = wl_h2_read;
		c->sid = nghttp2_submit_request(s, NULL, nv, 5, &dp, c);
		c->submitted = 1;
		if (c->sid < 0)
			cfail(c, "submit: %s", nghttp2_strerror(c->sid));
	}
	if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == c->sid &&
	    c->state == WL_UPGRADE) {
		if (c->status != 200)
			cfail(c, "extended CONNECT: :status %d", c->status);
		else
			c->state = WL_READY;
	}
	return 0;
}

static int
on_h2_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
    const uint8_t *val, size_t vl, uint8_t flags, void *arg)
{
	struct wlconn *c = arg;

	(void)s, (void)flags;
	if (f->hd.stream_id == c->sid && nl == 7 && memcmp(name, ":status", 7) == 0)
		c->status = vl == 3 ? atoi((const char *)val) : -1;
	return 0;
}

static int
on_h2_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *p, size_t n,
    void *arg)
{
	struct wlconn *c = arg;

	(void)s, (void)flags;
	if (id != c->sid)
		return 0;
	reserve(&c->rx, &c->rxcap, c->rxlen + n);
	memcpy(c->rx + c->rxlen, p, n);
	c->rxlen += n;
	return 0;
}

static int
on_h2_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	struct wlconn *c = arg;

	(void)s;
	if (id == c->sid && c->state != WL_DONE)
		cfail(c, "the stream ended: %s", nghttp2_http2_strerror(code));
	return 0;
}

/* The stream's DATA: the WebSocket bytes queued, or deferred until more. */
static ssize_t
wl_h2_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	struct wlconn	*c = arg;
	size_t		 n = c->txlen - c->txoff;

	(void)s, (void)id, (void)flags, (void)src;
	if (n == 0) {
		c->txoff = c->txlen = 0;
		c->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (n > len)
		n = len;
	memcpy(buf, c->tx + c->txoff, n);
	c->txoff += n;
	return (ssize_t)n;
}

/* Read what there is; 0 or -1 (failed). */
static int
on_read(struct wlconn *c, double t)
{
	uint8_t	buf[16384];
	int	r;

	for (;;) {
		ERR_clear_error();
		r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r <= 0) {
			r = SSL_get_error(c->ssl, r);
			if (r == SSL_ERROR_WANT_READ)
				break;
			if (r == SSL_ERROR_WANT_WRITE) {
				c->wantw = 1;
				break;
			}
			cfail(c, "read: %s", r == SSL_ERROR_ZERO_RETURN ||
			    r == SSL_ERROR_SYSCALL ? "connection closed" : "TLS error");
			return -1;
		}
		if (c->ng != NULL) {
			ssize_t n = nghttp2_session_mem_recv(c->ng, buf, (size_t)r);
			if (n < 0) {
				cfail(c, "nghttp2 recv: %s", nghttp2_strerror((int)n));
				return -1;
			}
			if (c->state == WL_DONE)
				return -1;	/* failed in a callback */
		} else {
			reserve(&c->rx, &c->rxcap, c->rxlen + (size_t)r);
			memcpy(c->rx + c->rxlen, buf, (size_t)r);
			c->rxlen += (size_t)r;
		}
	}
	if (c->state == WL_UPGRADE && c->ng == NULL && take_101(c) == -1)
		return -1;
	if (c->state >= WL_READY && c->rxlen > 0 && c->state != WL_DONE)
		if (c->state == WL_READY ? (cfail(c, "data before any message"), -1) :
		    take_echoes(c, t))
			return -1;
	return 0;
}

/* --- connection setup ---------------------------------------------------- */

static int
start_conn(struct wlthr *th, struct wlconn *c)
{
	struct epoll_event	e = { .events = EPOLLOUT, .data.ptr = c };
	int			one = 1;

	c->fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		die("socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&target, target_len) == -1 &&
	    errno != EINPROGRESS) {
		cfail(c, "connect: %s", strerror(errno));
		return -1;
	}
	c->state = WL_CONNECT;
	c->mask[0] = 0x5a;
	c->mask[1] = (uint8_t)(uintptr_t)c;
	c->mask[2] = 0xc3;
	c->mask[3] = (uint8_t)((uintptr_t)c >> 8);
	epoll_ctl(th->ep, EPOLL_CTL_ADD, c->fd, &e);
	return 0;
}

static int
handshake(struct wlconn *c)
{
	const uint8_t	*alpn;
	unsigned	 alen;
	char		 req[1024];
	int		 r, n;

	ERR_clear_error();
	if ((r = SSL_do_handshake(c->ssl)) != 1) {
		r = SSL_get_error(c->ssl, r);
		if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE) {
			c->wantw = r == SSL_ERROR_WANT_WRITE;
			return 0;
		}
		cfail(c, "TLS handshake failed");
		return -1;
	}
	c->wantw = 0;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	if (alen != (opt_h2 ? 2u : 8u) || memcmp(alpn, opt_h2 ? "h2" : "http/1.1", alen) != 0) {
		cfail(c, "ALPN: %.*s, not %s", (int)alen, (const char *)alpn,
		    opt_h2 ? "h2" : "http/1.1");
		return -1;
	}
	c->state = WL_UPGRADE;
	if (opt_h2) {
		nghttp2_settings_entry set = { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 };
		if (nghttp2_session_client_new(&c->ng, h2cb, c) != 0)
			die("nghttp2 session");
		nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, &set, 1);
		nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, 8 << 20);
	} else {
		n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
		    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " WL_KEY
		    "\r\nSec-WebSocket-Version: 13\r\n\r\n", opt_path, opt_sni);
		out_add(c, req, (size_t)n);
	}
	return flush(c);
}

/* One pass of c's events. */
static void
on_event(struct wlthr *th, struct wlconn *c, uint32_t ev, double t)
{
	struct epoll_event e = { .data.ptr = c };

	if (c->state == WL_DONE) {
		if (c->fd != -1)
			epoll_ctl(th->ep, EPOLL_CTL_DEL, c->fd, NULL);
		return;
	}
	if (c->state == WL_CONNECT) {
		int err = 0;
		socklen_t l = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err != 0) {
			cfail(c, "connect: %s", strerror(err));
			return;
		}
		if ((c->ssl = SSL_new(ctx)) == NULL)
			die("SSL_new");
		SSL_set_fd(c->ssl, c->fd);
		SSL_set_tlsext_host_name(c->ssl, opt_sni);
		SSL_set_connect_state(c->ssl);
		c->state = WL_TLS;
	}
	if (c->state == WL_TLS) {
		if (handshake(c) == -1)
			return;
	} else if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->wantw) {
		if (on_read(c, t) == -1)
			return;
	}
	if (c->state != WL_DONE && c->state != WL_TLS && flush(c) == -1)
		return;
	if (c->state == WL_DONE) {
		/* Kept open until every thread is done: closes are not measured. */
		if (c->fd != -1)
			epoll_ctl(th->ep, EPOLL_CTL_DEL, c->fd, NULL);
		return;
	}
	e.events = EPOLLIN | (c->wantw || c->outoff < c->outlen ? EPOLLOUT : 0);
	epoll_ctl(th->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Run th's loop until every connection is in a state >= until, or t_stop. */
static void
loop(struct wlthr *th, enum wl_state until, double t_stop)
{
	struct epoll_event	evs[256];
	double			t = now();
	int			i, n, left;

	for (;;) {
		left = 0;
		for (i = 0; i < th->n; i++)
			if (th->c[i].state < until)
				left++;
		if (left == 0 || t >= t_stop)
			return;
		n = epoll_wait(th->ep, evs, 256, 100);
		t = now();
		for (i = 0; i < n; i++)
			on_event(th, evs[i].data.ptr, evs[i].events, t);
		if (until == WL_DONE && t >= t_end)
			/* Time is up: connections whose window is out stop. */
			for (i = 0; i < th->n; i++) {
				struct wlconn *c = &th->c[i];
				if (c->state == WL_RUN)
					c->state = c->rcvd == c->sent ? WL_DONE : WL_DRAIN;
				else if (c->state == WL_DRAIN && c->rcvd == c->sent)
					c->state = WL_DONE;
			}
	}
}

static void *
thread_main(void *arg)
{
	struct wlthr	*th = arg;
	double		 t = now();
	int		 i, k;

	for (i = 0; i < th->n; i++)
		start_conn(th, &th->c[i]);
	loop(th, WL_READY, t + opt_deadline);
	for (i = 0; i < th->n; i++)
		if (th->c[i].state < WL_READY)
			cfail(&th->c[i], "not upgraded within %.0f s (state %d)", opt_deadline,
			    (int)th->c[i].state);
	pthread_barrier_wait(&b_ready);
	pthread_barrier_wait(&b_go);
	t = now();
	for (i = 0; i < th->n; i++) {
		struct wlconn		*c = &th->c[i];
		struct epoll_event	 e = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };

		if (c->state != WL_READY)
			continue;
		c->state = WL_RUN;
		for (k = 0; k < opt_window && may_send(c, t); k++)
			send_msg(c);
		if (c->rcvd == c->sent && c->state == WL_DRAIN)
			c->state = WL_DONE;
		if (flush(c) == 0)
			epoll_ctl(th->ep, EPOLL_CTL_MOD, c->fd, &e);
	}
	loop(th, WL_DONE, t_end + WL_DRAIN_SECS);
	for (i = 0; i < th->n; i++)
		if (th->c[i].state != WL_DONE)
			cfail(&th->c[i], "%llu of %llu echoes did not come back",
			    (unsigned long long)(th->c[i].sent - th->c[i].rcvd),
			    (unsigned long long)th->c[i].sent);
	pthread_barrier_wait(&b_done);
	for (i = 0; i < th->n; i++) {
		if (th->c[i].fd != -1)
			close(th->c[i].fd);
		if (th->c[i].ssl != NULL)
			SSL_free(th->c[i].ssl);
		if (th->c[i].ng != NULL)
			nghttp2_session_del(th->c[i].ng);
		free(th->c[i].out);
		free(th->c[i].rx);
		free(th->c[i].tx);
	}
	return NULL;
}

/* --- CPU of other processes, from /proc ----------------------------------- */

/* utime + stime of the listed processes (all their threads), in seconds. */
static double
cpu_of_pids(const char *list)
{
	char	 path[64], buf[1024], *p, *copy = strdup(list), *save = NULL, *tok;
	double	 s = 0;
	FILE	*f;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		unsigned long ut, st;

		snprintf(path, sizeof(path), "/proc/%s/stat", tok);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		    &ut, &st) == 2)
			s += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		fclose(f);
	}
	free(copy);
	return s;
}

static double
self_cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
parse_target(void)
{
	char		 host[128];
	const char	*colon = strrchr(opt_connect, ':');
	size_t		 hl;

	if (colon == NULL || (hl = (size_t)(colon - opt_connect)) >= sizeof(host))
		die("--connect HOST:PORT");
	memcpy(host, opt_connect, hl);
	host[hl] = '\0';
	memset(&target, 0, sizeof(target));
	if (host[0] == '[' && hl > 2) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&target;
		host[hl - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			die("--connect: not an address");
		target_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&target;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			die("--connect: not an address");
		target_len = sizeof(*s4);
	}
}

int
main(int argc, char **argv)
{
	struct wlthr	*th;
	struct wlconn	*conns;
	double		 t0, t1, c0, c1, w0[WL_CPU_MAX], w1[WL_CPU_MAX];
	int		 i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--h2") == 0) {
			opt_h2 = 1;
			continue;
		}
		if (v == NULL)
			die("usage: see bench/wsload.c");
		i++;
		if (strcmp(a, "--connect") == 0)
			opt_connect = v;
		else if (strcmp(a, "--sni") == 0)
			opt_sni = v;
		else if (strcmp(a, "--path") == 0)
			opt_path = v;
		else if (strcmp(a, "--conns") == 0)
			opt_conns = atoi(v);
		else if (strcmp(a, "--threads") == 0)
			opt_threads = atoi(v);
		else if (strcmp(a, "--seconds") == 0)
			opt_seconds = atof(v);
		else if (strcmp(a, "--messages") == 0)
			opt_messages = atol(v);
		else if (strcmp(a, "--size") == 0)
			opt_size = atol(v);
		else if (strcmp(a, "--window") == 0)
			opt_window = atoi(v);
		else if (strcmp(a, "--deadline") == 0)
			opt_deadline = atof(v);
		else if (strcmp(a, "--cpu-of") == 0 && ncpu_of < WL_CPU_MAX &&
		    strchr(v, '=') != NULL) {
			cpu_of[ncpu_of].name = strndup(v, (size_t)(strchr(v, '=') - v));
			cpu_of[ncpu_of++].pids = strchr(v, '=') + 1;
		} else
			die("usage: see bench/wsload.c");
	}
	if (opt_conns < 1 || opt_conns > 100000 || opt_threads < 1 || opt_threads > 64 ||
	    opt_seconds <= 0 || opt_seconds > 3600 || opt_messages < 1 ||
	    opt_size < 8 || opt_size > 65535 || opt_window < 1 || opt_window > 1000)
		die("an option is out of range (see bench/wsload.c)");
	if (opt_threads > opt_conns)
		opt_threads = opt_conns;
	parse_target();
	signal(SIGPIPE, SIG_IGN);
	atomic_store(&budget, opt_messages);

	ctx = SSL_CTX_new(TLS_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_alpn_protos(ctx, (const uint8_t *)(opt_h2 ? "\x02h2" : "\x08http/1.1"),
	    opt_h2 ? 3 : 9);
	nghttp2_session_callbacks_new(&h2cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(h2cb, on_h2_frame);
	nghttp2_session_callbacks_set_on_header_callback(h2cb, on_h2_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h2cb, on_h2_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(h2cb, on_h2_close);

	conns = calloc((size_t)opt_conns, sizeof(*conns));
	th = calloc((size_t)opt_threads, sizeof(*th));
	if (conns == NULL || th == NULL)
		die("out of memory");
	pthread_barrier_init(&b_ready, NULL, (unsigned)opt_threads + 1);
	pthread_barrier_init(&b_go, NULL, (unsigned)opt_threads + 1);
	pthread_barrier_init(&b_done, NULL, (unsigned)opt_threads + 1);
	for (i = 0; i < opt_threads; i++) {
		int lo = (int)((long)opt_conns * i / opt_threads);
		int hi = (int)((long)opt_conns * (i + 1) / opt_threads);

		th[i].c = conns + lo;
		th[i].n = hi - lo;
		if ((th[i].ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
			die("epoll");
		if (pthread_create(&th[i].th, NULL, thread_main, &th[i]) != 0)
			die("pthread_create");
	}
	pthread_barrier_wait(&b_ready);
	/* Every connection is upgraded (or failed): the phase starts. */
	for (i = 0; i < ncpu_of; i++)
		w0[i] = cpu_of_pids(cpu_of[i].pids);
	c0 = self_cpu();
	t0 = now();
	t_end = t0 + opt_seconds;
	pthread_barrier_wait(&b_go);
	pthread_barrier_wait(&b_done);
	t1 = now();
	c1 = self_cpu();
	for (i = 0; i < ncpu_of; i++)
		w1[i] = cpu_of_pids(cpu_of[i].pids);
	for (i = 0; i < opt_threads; i++)
		pthread_join(th[i].th, NULL);
	for (i = 0; i < opt_threads; i++)
		close(th[i].ep);
	free(th);
	free(conns);
	SSL_CTX_free(ctx);
	nghttp2_session_callbacks_del(h2cb);
	if (atomic_load(&n_failed) > 0 || atomic_load(&n_echoed) == 0) {
		printf("FAIL: %d of %d connections failed: %s\n", atomic_load(&n_failed),
		    opt_conns, first_err[0] ? first_err : "no message echoed");
		for (i = 0; i < ncpu_of; i++)
			free((char *)cpu_of[i].name);
		return 1;
	}
	printf("ok conns=%d messages=%ld seconds=%.3f rate=%.1f client_cpu=%.3f "
	    "client_share=%.2f", opt_conns, atomic_load(&n_echoed), t1 - t0,
	    (double)atomic_load(&n_echoed) / (t1 - t0), c1 - c0, (c1 - c0) / (t1 - t0));
	for (i = 0; i < ncpu_of; i++)
		printf(" cpu_%s=%.3f", cpu_of[i].name, w1[i] - w0[i]);
	printf("\n");
	for (i = 0; i < ncpu_of; i++)
		free((char *)cpu_of[i].name);
	return 0;
}
