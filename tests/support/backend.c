/*
 * backend.c - a test backend on libevent: "echo" returns every byte, "http"
 * answers keep-alive HTTP/1.1 requests with its name (or N bytes for
 * GET /bytes/N), so tests can tell which backend served them; "proxy" is
 * "http" after a PROXY protocol header; "httpecho" is a real HTTP/1.1 server
 * that answers with what it received, as JSON (httpecho.c).
 *
 * usage: backend --listen HOST:PORT --mode echo|http|proxy|httpecho
 *            [--name NAME] [--idle-close MS (httpecho)]
 * Prints "ready" on stdout once it listens.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "httpecho.h"

static const char	*name = "backend";
static int		 http_mode, proxy_mode, httpecho_mode;
static struct httpecho_cfg httpecho_cfg;

struct client {
	struct bufferevent	*bev;
	size_t			 pending;	/* body bytes still to send */
	int			 proxied;	/* PROXY header parsed */
	char			 info[1024];	/* what the header said */
};

/*
 * PROXY protocol v1 or v2 at the start of the stream: parse it into c->info.
 * Returns 1 when parsed (and drained), 0 if more bytes are needed, -1 if bad.
 */
static int
parse_proxy(struct client *c, struct evbuffer *in)
{
	static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	unsigned char	 b[600];
	size_t		 n = evbuffer_get_length(in);

	if (n > sizeof(b))
		n = sizeof(b);
	evbuffer_copyout(in, b, n);
	if (n >= 6 && memcmp(b, "PROXY ", 6) == 0) {
		char *e = memchr(b, '\n', n), p[6], src[64], dst[64];
		unsigned sp, dp;
		if (e == NULL)
			return n < 107 ? 0 : -1;
		*e = '\0';
		if (sscanf((char *)b, "PROXY %5s %63s %63s %u %u", p, src, dst, &sp, &dp) != 5)
			return -1;
		snprintf(c->info, sizeof(c->info), "v1 src=%s:%u dst=%s:%u", src, sp, dst, dp);
		evbuffer_drain(in, (size_t)((unsigned char *)e - b) + 1);
		return 1;
	}
	if (n < 16)
		return memcmp(b, sig, n) == 0 ? 0 : -1;
	if (memcmp(b, sig, 12) != 0)
		return -1;
	{
		size_t		 len = (size_t)b[14] << 8 | b[15], off;
		char		 src[64], dst[64], sni[256] = "-", alpn[64] = "-", ver[32] = "-";
		unsigned	 sp, dp;
		if (n < 16 + len)
			return 0;
		if (b[13] == 0x11) {
			inet_ntop(AF_INET, b + 16, src, sizeof(src));
			inet_ntop(AF_INET, b + 20, dst, sizeof(dst));
			sp = (unsigned)b[24] << 8 | b[25];
			dp = (unsigned)b[26] << 8 | b[27];
			off = 28;
		} else if (b[13] == 0x21) {
			inet_ntop(AF_INET6, b + 16, src, sizeof(src));
			inet_ntop(AF_INET6, b + 32, dst, sizeof(dst));
			sp = (unsigned)b[48] << 8 | b[49];
			dp = (unsigned)b[50] << 8 | b[51];
			off = 52;
		} else
			return -1;
		while (off + 3 <= 16 + len) {
			unsigned t = b[off], l = (unsigned)b[off + 1] << 8 | b[off + 2];
			const unsigned char *v = b + off + 3;
			if (off + 3 + l > 16 + len)
				return -1;
			if (t == 0x01)
				snprintf(alpn, sizeof(alpn), "%.*s", (int)l, v);
			else if (t == 0x02)
				snprintf(sni, sizeof(sni), "%.*s", (int)l, v);
			else if (t == 0x20 && l >= 5) {
				unsigned so = 5;	/* client + verify, then sub-TLVs */
				while (so + 3 <= l) {
					unsigned st = v[so], sl = (unsigned)v[so + 1] << 8 | v[so + 2];
					if (st == 0x21)
						snprintf(ver, sizeof(ver), "%.*s", (int)sl, v + so + 3);
					so += 3 + sl;
				}
			}
			off += 3 + l;
		}
		snprintf(c->info, sizeof(c->info), "v2 src=%s:%u dst=%s:%u sni=%s alpn=%s "
		    "tls=%s", src, sp, dst, dp, sni, alpn, ver);
		evbuffer_drain(in, 16 + len);
		return 1;
	}
}

static void on_write(struct bufferevent *, void *);

static void
client_free(struct client *c)
{
	bufferevent_free(c->bev);
	free(c);
}

static void
fill_body(struct client *c)
{
	static char	 chunk[65536];
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	if (chunk[0] == 0)
		memset(chunk, 'x', sizeof(chunk));
	/* Keep at most 256 KiB queued: honour back-pressure from the proxy. */
	while (c->pending > 0 && evbuffer_get_length(out) < 262144) {
		size_t n = c->pending < sizeof(chunk) ? c->pending : sizeof(chunk);
		evbuffer_add(out, chunk, n);
		c->pending -= n;
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer	*out = bufferevent_get_output(bev);
	struct evbuffer_ptr p;
	char		 line[1024];
	size_t		 n;

	if (proxy_mode && !c->proxied) {
		int r = parse_proxy(c, in);
		if (r == 0)
			return;
		if (r < 0) {
			client_free(c);
			return;
		}
		c->proxied = 1;
	}
	if (!http_mode) {
		bufferevent_write_buffer(bev, in);
		return;
	}
	while (c->pending == 0) {
		p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
		if (p.pos < 0)
			return;
		{
			ev_ssize_t got = evbuffer_copyout(in, line, sizeof(line) - 1);
			n = got > 0 ? (size_t)got : 0;
		}
		line[n] = '\0';
		evbuffer_drain(in, (size_t)p.pos + 4);
		{
			unsigned long long want = 0;
			if (sscanf(line, "GET /bytes/%llu", &want) == 1) {
				evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n"
				    "Content-Length: %llu\r\nContent-Type: "
				    "application/octet-stream\r\n\r\n", want);
				c->pending = (size_t)want;
				fill_body(c);
			} else {
				char body[1400];
				int bl = snprintf(body, sizeof(body), "%s%s%s\n", name,
				    c->info[0] ? " " : "", c->info);
				evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n"
				    "Content-Length: %d\r\nContent-Type: text/plain\r\n"
				    "X-Backend: %s\r\n\r\n%s", bl, name, body);
			}
		}
	}
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (c->pending > 0) {
		fill_body(c);
		if (c->pending == 0)
			on_read(bev, c);	/* pipelined requests */
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_free(arg);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
	struct client *c;

	if (httpecho_mode) {
		httpecho_accept(evconnlistener_get_base(l), &httpecho_cfg, fd, sa, len);
		return;
	}
	c = calloc(1, sizeof(*c));
	c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 131072, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct sockaddr_storage	 ss;
	int			 sslen = sizeof(ss);
	const char		*listen_at = NULL;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0)
			listen_at = argv[i + 1];
		else if (strcmp(argv[i], "--name") == 0)
			name = argv[i + 1];
		else if (strcmp(argv[i], "--mode") == 0) {
			http_mode = strcmp(argv[i + 1], "http") == 0 ||
			    strcmp(argv[i + 1], "proxy") == 0;
			proxy_mode = strcmp(argv[i + 1], "proxy") == 0;
			httpecho_mode = strcmp(argv[i + 1], "httpecho") == 0;
		} else if (strcmp(argv[i], "--idle-close") == 0)
			httpecho_cfg.idle_close_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else
			listen_at = NULL, i = argc;	/* unknown flag: usage */
	}
	httpecho_cfg.name = name;
	if (listen_at == NULL ||
	    evutil_parse_sockaddr_port(listen_at, (struct sockaddr *)&ss, &sslen) == -1) {
		fprintf(stderr, "usage: backend --listen HOST:PORT --mode "
		    "echo|http|proxy|httpecho [--name NAME] [--idle-close MS]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (evconnlistener_new_bind(base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_REUSEABLE, 1024, (struct sockaddr *)&ss, sslen) == NULL) {
		fprintf(stderr, "backend: cannot listen on %s: %s\n", listen_at,
		    strerror(errno));
		event_base_free(base);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
