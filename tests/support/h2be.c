/*
 * h2be - an HTTP/2 backend speaking cleartext with prior knowledge (h2c),
 * for 88-h2-backend. libevent and libnghttp2's server session; one stream
 * at a time per request, answers by path (the query is ignored):
 *
 *   /count     "conns=N streams=M refused=K": connections accepted, streams
 *              seen, and streams this server refused or was sent beyond its
 *              SETTINGS_MAX_CONCURRENT_STREAMS (a client that ignores it)
 *   /echo      200 at once, then the request's DATA echoed as it comes, and
 *              trailers "x-echo-bytes: N" and "x-te: VALUE" (the request's
 *              te field, or "none") when the request ends
 *   /trailers  a small body, then trailers "x-trailer-one: 1" and
 *              "grpc-status: 0"
 *   /rst       RST_STREAM(INTERNAL_ERROR) once the request head is in
 *   /hang      no answer at all
 *   otherwise  "h2be NAME path=PATH te=VALUE\n" when the request ended
 *
 * Options: --listen ADDR:PORT, --name NAME, --max-streams N (its
 * SETTINGS_MAX_CONCURRENT_STREAMS, default 100), --goaway-after N (after
 * the N-th stream of a connection, GOAWAY(NO_ERROR) naming it last: later
 * streams on that connection are refused, and the connection closes when
 * its streams are done). Prints "conn N" per accepted connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>

enum kind { K_PLAIN, K_COUNT, K_ECHO, K_TRAILERS, K_RST, K_HANG };

struct strm {
	int32_t		 id;
	enum kind	 kind;
	char		 path[256];
	char		 te[64];
	struct evbuffer	*buf;		/* body to send */
	int		 eof;		/* the request ended */
	int		 deferred;
	unsigned long	 bytes;		/* echoed */
};

struct hconn {
	nghttp2_session		*ng;
	struct bufferevent	*bev;
	unsigned		 nstreams;	/* seen on this connection */
	unsigned		 open;		/* not yet closed */
	int			 goaway;
};

static const char	*be_name = "h2be";
static unsigned		 max_streams = 100, goaway_after;
static unsigned		 nconns;
static unsigned long	 nstreams_total, nrefused;

static struct strm *
strm_of(nghttp2_session *ng, int32_t id)
{
	return nghttp2_session_get_stream_user_data(ng, id);
}

static ssize_t
body_read(nghttp2_session *ng, int32_t id, uint8_t *out, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct strm	*s = src->ptr;
	int		 n;
	char		 num[32];

	(void)arg;
	n = evbuffer_remove(s->buf, out, len);
	if (n < 0)
		n = 0;
	if (evbuffer_get_length(s->buf) == 0 && s->eof) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (s->kind == K_ECHO) {
			snprintf(num, sizeof(num), "%lu", s->bytes);
			nghttp2_nv tr[2] = {
				{ (uint8_t *)"x-echo-bytes", (uint8_t *)num, 12,
				    strlen(num), NGHTTP2_NV_FLAG_NONE },
				{ (uint8_t *)"x-te", (uint8_t *)s->te, 4, strlen(s->te),
				    NGHTTP2_NV_FLAG_NONE },
			};
			if (nghttp2_submit_trailer(ng, id, tr, 2) == 0)
				*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		} else if (s->kind == K_TRAILERS) {
			nghttp2_nv tr[2] = {
				{ (uint8_t *)"x-trailer-one", (uint8_t *)"1", 13, 1,
				    NGHTTP2_NV_FLAG_NONE },
				{ (uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1,
				    NGHTTP2_NV_FLAG_NONE },
			};
			if (nghttp2_submit_trailer(ng, id, tr, 2) == 0)
				*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		}
		return n;
	}
	if (n == 0) {
		s->deferred = 1;
		return NGHTTP2_ERR_DEFERRED;
	}
	return n;
}

static void
respond(nghttp2_session *ng, struct strm *s, const char *ctype)
{
	nghttp2_data_provider dp = { .source.ptr = s, .read_callback = body_read };
	nghttp2_nv nv[2] = {
		{ (uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-type", (uint8_t *)ctype, 12, strlen(ctype),
		    NGHTTP2_NV_FLAG_NONE },
	};

	nghttp2_submit_response(ng, s->id, nv, 2, &dp);
}

/* The request ended: answer the kinds that wait for it. */
static void
request_end(nghttp2_session *ng, struct strm *s)
{
	s->eof = 1;
	switch (s->kind) {
	case K_COUNT:
		evbuffer_add_printf(s->buf, "conns=%u streams=%lu refused=%lu\n",
		    nconns, nstreams_total, nrefused);
		respond(ng, s, "text/plain");
		break;
	case K_PLAIN:
		evbuffer_add_printf(s->buf, "%s %s path=%s te=%s\n", "h2be", be_name,
		    s->path, s->te);
		respond(ng, s, "text/plain");
		break;
	case K_TRAILERS:
		evbuffer_add_printf(s->buf, "with trailers\n");
		respond(ng, s, "text/plain");
		break;
	case K_ECHO:
		if (s->deferred) {
			s->deferred = 0;
			nghttp2_session_resume_data(ng, s->id);
		}
		break;
	default:
		break;
	}
}

static int
on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct hconn	*c = arg;
	struct strm	*s;

	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = calloc(1, sizeof(*s));
	s->id = f->hd.stream_id;
	s->buf = evbuffer_new();
	strcpy(s->te, "none");
	nghttp2_session_set_stream_user_data(ng, s->id, s);
	c->nstreams++;
	c->open++;
	if (c->open > max_streams)
		nrefused++;	/* nghttp2 refuses it too */
	nstreams_total++;
	return 0;
}

static int
on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct strm *s = strm_of(ng, f->hd.stream_id);

	(void)flags;
	(void)arg;
	if (s == NULL || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
		size_t n = strcspn((const char *)value, "?");
		if (n > vlen)
			n = vlen;
		if (n >= sizeof(s->path))
			n = sizeof(s->path) - 1;
		memcpy(s->path, value, n);
		s->path[n] = '\0';
	} else if (nlen == 2 && memcmp(name, "te", 2) == 0 && vlen < sizeof(s->te)) {
		memcpy(s->te, value, vlen);
		s->te[vlen] = '\0';
	}
	return 0;
}

static int
on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct hconn	*c = arg;
	struct strm	*s = strm_of(ng, f->hd.stream_id);
	int		 end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	if (s == NULL)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
		s->kind = strcmp(s->path, "/count") == 0 ? K_COUNT :
		    strcmp(s->path, "/echo") == 0 ? K_ECHO :
		    strcmp(s->path, "/trailers") == 0 ? K_TRAILERS :
		    strcmp(s->path, "/rst") == 0 ? K_RST :
		    strcmp(s->path, "/hang") == 0 ? K_HANG : K_PLAIN;
		if (goaway_after > 0 && c->nstreams == goaway_after && !c->goaway) {
			c->goaway = 1;
			nghttp2_submit_goaway(ng, NGHTTP2_FLAG_NONE, s->id,
			    NGHTTP2_NO_ERROR, NULL, 0);
		}
		if (s->kind == K_RST) {
			nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id,
			    NGHTTP2_INTERNAL_ERROR);
			return 0;
		}
		if (s->kind == K_ECHO)
			respond(ng, s, "application/octet-stream");
	}
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && end &&
	    s->kind != K_RST)
		request_end(ng, s);
	return 0;
}

static int
on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p, size_t n,
    void *arg)
{
	struct strm *s = strm_of(ng, id);

	(void)flags;
	(void)arg;
	if (s == NULL || s->kind != K_ECHO)
		return 0;
	evbuffer_add(s->buf, p, n);
	s->bytes += n;
	if (s->deferred) {
		s->deferred = 0;
		nghttp2_session_resume_data(ng, id);
	}
	return 0;
}

static int
on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct hconn	*c = arg;
	struct strm	*s = strm_of(ng, id);

	if (code == NGHTTP2_REFUSED_STREAM)
		nrefused++;
	if (s == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(ng, id, NULL);
	evbuffer_free(s->buf);
	free(s);
	c->open--;
	return 0;
}

static void
conn_free(struct hconn *c)
{
	nghttp2_session_del(c->ng);
	bufferevent_free(c->bev);
	free(c);
}

/* Send what nghttp2 has; 0 when the connection should close. */
static int
flush(struct hconn *c)
{
	const uint8_t	*data;
	ssize_t		 n;

	while ((n = nghttp2_session_mem_send(c->ng, &data)) > 0)
		bufferevent_write(c->bev, data, (size_t)n);
	if (n < 0)
		return 0;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 1;
	if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
		return 0;
	return !(c->goaway && c->open == 0);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct hconn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 len = evbuffer_get_length(in);
	ssize_t		 r;

	r = nghttp2_session_mem_recv(c->ng, evbuffer_pullup(in, -1), len);
	if (r < 0) {
		conn_free(c);
		return;
	}
	evbuffer_drain(in, len);
	if (!flush(c))
		conn_free(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct hconn *c = arg;

	(void)bev;
	if (!flush(c))
		conn_free(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(arg);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg)
{
	static nghttp2_session_callbacks *cbs;
	struct event_base	*base = arg;
	struct hconn		*c = calloc(1, sizeof(*c));
	nghttp2_settings_entry	 set[1] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_streams } };
	int			 one = 1;

	(void)l;
	(void)sa;
	(void)salen;
	if (cbs == NULL) {
		nghttp2_session_callbacks_new(&cbs);
		nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
		nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
		nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
		nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
		nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	nghttp2_session_server_new(&c->ng, cbs, c);
	nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, set, 1);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	nconns++;
	printf("conn %u\n", nconns);
	fflush(stdout);
	if (!flush(c))
		conn_free(c);
}

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct evconnlistener	*l;
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	const char		*listen_at = NULL;
	char			 host[64];
	char			*colon;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0)
			listen_at = argv[i + 1];
		else if (strcmp(argv[i], "--name") == 0)
			be_name = argv[i + 1];
		else if (strcmp(argv[i], "--max-streams") == 0)
			max_streams = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--goaway-after") == 0)
			goaway_after = (unsigned)atoi(argv[i + 1]);
		else {
			fprintf(stderr, "h2be: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (listen_at == NULL || strlen(listen_at) >= sizeof(host) ||
	    (colon = strrchr(strcpy(host, listen_at), ':')) == NULL) {
		fprintf(stderr, "usage: h2be --listen ADDR:PORT [--name N] "
		    "[--max-streams N] [--goaway-after N]\n");
		return 2;
	}
	*colon = '\0';
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "h2be: bad address %s\n", host);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	l = evconnlistener_new_bind(base, on_accept, base,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (l == NULL) {
		fprintf(stderr, "h2be: listen %s: %s\n", listen_at, strerror(errno));
		return 1;
	}
	printf("listening %s\n", listen_at);
	fflush(stdout);
	event_base_dispatch(base);
	return 0;
}
