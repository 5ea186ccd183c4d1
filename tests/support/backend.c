/*
 * backend.c - a test backend on libevent: "echo" returns every byte, "http"
 * answers keep-alive HTTP/1.1 requests with its name (or N bytes for
 * GET /bytes/N), so tests can tell which backend served them.
 *
 * usage: backend --listen HOST:PORT --mode echo|http [--name NAME]
 * Prints "ready" on stdout once it listens.
 */
#include <arpa/inet.h>
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

static const char	*name = "backend";
static int		 http_mode;

struct client {
	struct bufferevent	*bev;
	size_t			 pending;	/* body bytes still to send */
};

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
				char body[300];
				int bl = snprintf(body, sizeof(body), "%s\n", name);
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
	struct client *c = calloc(1, sizeof(*c));

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
		else if (strcmp(argv[i], "--mode") == 0)
			http_mode = strcmp(argv[i + 1], "http") == 0;
	}
	if (listen_at == NULL ||
	    evutil_parse_sockaddr_port(listen_at, (struct sockaddr *)&ss, &sslen) == -1) {
		fprintf(stderr, "usage: backend --listen HOST:PORT --mode echo|http "
		    "[--name NAME]\n");
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
