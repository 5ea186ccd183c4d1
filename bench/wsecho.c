/*
 * wsecho.c - bench/http's WebSocket backend (scenarios ws1, ws2): an
 * RFC 6455 echo server in plain sockets and one epoll loop, single-threaded
 * like tg_backend, made to cost little per message so that the proxy in
 * front of it is what a run measures.
 *
 * A connection sends an HTTP/1.1 GET with Upgrade: websocket and a
 * Sec-WebSocket-Key; the answer is 101 with its Sec-WebSocket-Accept (SHA-1
 * and base64 from tlsgate's TLS library) and the Sec-WebSocket-Protocol it
 * asked for, if any. A request without a key gets 400 and is closed. After
 * the 101, every frame that came whole in one read is unmasked and sent
 * back unmasked with its FIN bit and opcode (fragments are echoed as
 * fragments), all of one read's answers in one write; a ping gets a pong, a
 * close gets its close back and the connection ends once that is written.
 * While output waits (the peer does not read), the connection is not read:
 * back-pressure, with a bounded buffer.
 *
 *   --listen ADDR:PORT   (IPv4 or [IPv6])
 * Prints "listening" once it accepts, and on SIGTERM or SIGINT exits 0
 * after printing "conns=N messages=M" (connections upgraded, data
 * messages echoed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/base64.h>
#include <openssl/sha.h>

#define WE_HEAD_MAX	8192		/* the upgrade request */
#define WE_FRAME_MAX	(1u << 20)	/* one frame's payload at most */
#define WE_READ		65536

enum we_state {
	WE_HTTP,		/* reading the upgrade request */
	WE_WS,			/* echoing frames */
	WE_CLOSING,		/* flush what is left, then close */
	WE__MAX
};

struct wconn {
	int		 fd;
	enum we_state	 state;
	uint8_t		*in;		/* unparsed input */
	size_t		 inlen, incap;
	uint8_t		*out;		/* output not yet written */
	size_t		 outlen, outoff, outcap;
	int		 wantout;	/* EPOLLOUT is armed (input is not) */
};

static volatile sig_atomic_t	 stopping;
static unsigned long		 n_conns, n_msgs;
static int			 ep;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL) {
		fprintf(stderr, "wsecho: out of memory\n");
		exit(2);
	}
	return p;
}

static void
reserve(uint8_t **b, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 4096;
	*b = xrealloc(*b, *cap);
}

static void
out_add(struct wconn *c, const void *p, size_t n)
{
	reserve(&c->out, &c->outcap, c->outlen + n);
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
}

static void
conn_free(struct wconn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* The value of header NAME in the head [h, h+n), or NULL; *vlen its length. */
static const char *
head_field(const char *h, size_t n, const char *name, size_t *vlen)
{
	size_t		 nl = strlen(name);
	const char	*p = h, *end = h + n, *eol, *v;

	while (p < end && (eol = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			v = p + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*vlen = (size_t)(eol - v);
			while (*vlen > 0 && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' '))
				(*vlen)--;
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

/* The upgrade request is in: answer 101 (0) or 400 (-1: close after). */
static int
upgrade(struct wconn *c, size_t headlen)
{
	static const char	 guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	const char		*key, *proto;
	size_t			 klen, plen;
	char			 buf[256 + 64], resp[512];
	uint8_t			 md[SHA_DIGEST_LENGTH];
	uint8_t			 acc[64];
	int			 n;

	key = head_field((const char *)c->in, headlen, "sec-websocket-key", &klen);
	if (key == NULL || klen == 0 || klen > 256) {
		static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n";
		out_add(c, bad, sizeof(bad) - 1);
		return -1;
	}
	memcpy(buf, key, klen);
	memcpy(buf + klen, guid, sizeof(guid) - 1);
	SHA1((const uint8_t *)buf, klen + sizeof(guid) - 1, md);
	EVP_EncodeBlock(acc, md, sizeof(md));
	proto = head_field((const char *)c->in, headlen, "sec-websocket-protocol", &plen);
	if (proto != NULL && plen > 128)
		plen = 128;
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
	    "%s%.*s%s\r\n", (const char *)acc, proto ? "Sec-WebSocket-Protocol: " : "",
	    proto ? (int)plen : 0, proto ? proto : "", proto ? "\r\n" : "");
	out_add(c, resp, (size_t)n);
	n_conns++;
	return 0;
}

/* Echo every whole frame of c->in; keep a partial one. 0, or -1: close. */
static int
echo_frames(struct wconn *c)
{
	size_t off = 0;

	while (c->state == WE_WS) {
		const uint8_t	*f = c->in + off;
		size_t		 avail = c->inlen - off, hl = 2, i;
		uint64_t	 len;
		uint8_t		 op, hdr[10], *pl;

		if (avail < 2)
			break;
		op = f[0] & 0x0f;
		len = f[1] & 0x7f;
		if (len == 126)
			hl = 4;
		else if (len == 127)
			hl = 10;
		if (!(f[1] & 0x80))
			return -1;		/* a client's frames are masked */
		if (avail < hl + 4)
			break;
		if (len == 126)
			len = (uint64_t)f[2] << 8 | f[3];
		else if (len == 127) {
			len = 0;
			for (i = 2; i < 10; i++)
				len = len << 8 | f[i];
		}
		if (len > WE_FRAME_MAX)
			return -1;
		if (avail < hl + 4 + len)
			break;
		pl = (uint8_t *)f + hl + 4;
		for (i = 0; i < len; i++)
			pl[i] ^= f[hl + i % 4];
		if (op == 0x9)
			op = 0xa;		/* ping: pong */
		hdr[0] = (uint8_t)((f[0] & 0x80) | op);
		if (len < 126) {
			hdr[1] = (uint8_t)len;
			hl = 2;
		} else if (len < 65536) {
			hdr[1] = 126;
			hdr[2] = (uint8_t)(len >> 8);
			hdr[3] = (uint8_t)len;
			hl = 4;
		} else {
			hdr[1] = 127;
			for (i = 0; i < 8; i++)
				hdr[2 + i] = (uint8_t)(len >> (56 - 8 * i));
			hl = 10;
		}
		out_add(c, hdr, hl);
		out_add(c, pl, (size_t)len);
		off = (size_t)(pl - c->in) + (size_t)len;
		if (op == 0x8)
			c->state = WE_CLOSING;
		else if (op != 0xa && (f[0] & 0x80))
			n_msgs++;
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
	return 0;
}

/* Write what is queued. 0: all of it or blocked; -1: close. */
static int
flush(struct wconn *c)
{
	struct epoll_event e = { .data.ptr = c };

	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!c->wantout) {
				/* Stop reading until the peer reads. */
				e.events = EPOLLOUT;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
				c->wantout = 1;
			}
			return 0;
		}
		if (n <= 0)
			return -1;
		c->outoff += (size_t)n;
	}
	c->outoff = c->outlen = 0;
	if (c->state == WE_CLOSING)
		return -1;
	if (c->wantout) {
		e.events = EPOLLIN;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
		c->wantout = 0;
	}
	return 0;
}

static int
on_readable(struct wconn *c)
{
	ssize_t n;

	reserve(&c->in, &c->incap, c->inlen + WE_READ);
	n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	c->inlen += (size_t)n;
	if (c->state == WE_HTTP) {
		uint8_t *e = memmem(c->in, c->inlen, "\r\n\r\n", 4);
		size_t hl;

		if (e == NULL)
			return c->inlen > WE_HEAD_MAX ? -1 : 0;
		hl = (size_t)(e - c->in) + 4;
		if (upgrade(c, hl) == -1)
			c->state = WE_CLOSING;
		else
			c->state = WE_WS;
		memmove(c->in, c->in + hl, c->inlen - hl);
		c->inlen -= hl;
	}
	if (c->state == WE_WS && echo_frames(c) == -1)
		return -1;
	if (c->inlen + WE_READ < c->incap / 4 && c->incap > 4 * WE_READ) {
		c->incap = c->inlen + WE_READ;	/* a big frame passed */
		c->in = xrealloc(c->in, c->incap);
	}
	return flush(c);
}

static int
listen_on(const char *spec)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 host[128];
	const char		*colon = strrchr(spec, ':');
	size_t			 hl;
	int			 fd, one = 1;

	if (colon == NULL || (hl = (size_t)(colon - spec)) >= sizeof(host))
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		host[hl - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return -1;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, 4096) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct sigaction	 sa;
	struct epoll_event	 e, evs[256];
	const char		*addr = NULL;
	int			 lfd, i, n, one = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			addr = argv[++i];
		else {
			fprintf(stderr, "usage: tg_wsecho --listen ADDR:PORT\n");
			return 2;
		}
	}
	if (addr == NULL || (lfd = listen_on(addr)) == -1) {
		fprintf(stderr, "wsecho: cannot listen on %s: %s\n", addr ? addr : "(none)",
		    strerror(errno));
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ep = epoll_create1(EPOLL_CLOEXEC);
	e.events = EPOLLIN;
	e.data.ptr = NULL;		/* the listener */
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	printf("listening\n");
	fflush(stdout);
	while (!stopping) {
		n = epoll_wait(ep, evs, 256, 1000);
		for (i = 0; i < n; i++) {
			struct wconn *c = evs[i].data.ptr;

			if (c == NULL) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					if (c == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->state = WE_HTTP;
					e.events = EPOLLIN;
					e.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
				}
				continue;
			}
			if (c->wantout ? flush(c) == -1 : on_readable(c) == -1)
				conn_free(c);
		}
	}
	printf("conns=%lu messages=%lu\n", n_conns, n_msgs);
	return 0;
}
