/*
 * httpecho.c - an HTTP/1.1 echo server for the HTTP-mode tests. Requests are
 * parsed by llhttp in strict mode (no lenient flags), with keep-alive and
 * pipelining: after each complete request the parser pauses, the answer is
 * queued (or its timer armed), and parsing resumes only once the answer is
 * fully queued, so answers leave in request order. Request bodies may come
 * with Content-Length or chunked; they are hashed, not kept.
 *
 * Answers, by path (the target up to '?'):
 *   (any other)     200 application/json: {"name", "method", "path" (raw
 *                   target), "version" ("1.1"/"1.0"), "headers": [[name,
 *                   value], ...] in received order with names as received,
 *                   "body_len", "body_sha256" (hex), "conn" (1-based number of
 *                   this TCP connection at this backend), "req_on_conn",
 *                   "peer" ("ip:port")}
 *   /__stats        {"conns": accepted, "open": open now, "requests": total}
 *   /status/NNN     status NNN (200-599) with a short text body (none for
 *                   204 and 304)
 *   /delay/MS       the JSON answer, MS milliseconds later
 *   /drop           the connection is closed with no answer
 *   /close          the JSON answer with "Connection: close", then close
 *   /bytes/N        N bytes of 'x' with Content-Length
 *   /chunked/N      N bytes of 'x' sent chunked, in several chunks
 *   /page           an HTML page whose script writes the protocol of its own
 *                   load (nextHopProtocol) into the title and <pre id=proto>
 * HEAD gets the headers of the same answer and never a body. Every answer
 * carries "X-Backend: NAME". A request llhttp refuses gets 400 and a close.
 * With idle_close_ms, a connection idle that long between requests is closed
 * (to make a proxy reuse a connection the backend has just closed).
 */
#include <ctype.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <llhttp.h>
#include <openssl/sha.h>

#include "httpecho.h"

#define HC_MAGIC	0x68656368u
#define HC_QUEUE_MAX	262144		/* body bytes queued at once */
#define HC_LINGER_MS	2000		/* longest wait for the peer's EOF */

enum hc_state {
	HC_READING,	/* parsing; no answer owed */
	HC_DELAYING,	/* /delay: answer on the timer */
	HC_STREAMING,	/* /bytes, /chunked: body being queued as it drains */
	HC_CLOSING,	/* last answer queued: close once flushed */
	HC_LINGERING,	/* answer sent, write side shut: read and drop until EOF */
	HC__MAX
};

struct hconn {
	unsigned		 magic;
	enum hc_state		 state;
	struct bufferevent	*bev;
	struct event		*timer;		/* /delay and idle close */
	const struct httpecho_cfg *cfg;
	llhttp_t		 parser;
	unsigned long		 seq, nreq;
	char			 peer[64];

	/* The request being parsed. */
	int			 in_msg;	/* between message begin and complete */
	int			 done;		/* on_message_complete seen */
	struct evbuffer		*url, *field, *value;
	json_t			*headers;
	SHA256_CTX		 sha;
	unsigned long long	 body_len;
	int			 head, keep_alive;
	int			 close_after;	/* close once this answer is out */

	/* The body being streamed. */
	unsigned long long	 left;
	size_t			 piece;		/* bytes per write (per chunk) */
	int			 chunked;
};

static unsigned long	 stat_conns, stat_open, stat_requests;
static llhttp_settings_t settings;

static int	hc_process(struct hconn *);

static void
hc_free(struct hconn *c)
{
	if (c->magic != HC_MAGIC)
		abort();
	c->magic = 0;
	stat_open--;
	bufferevent_free(c->bev);
	event_free(c->timer);
	evbuffer_free(c->url);
	evbuffer_free(c->field);
	evbuffer_free(c->value);
	json_decref(c->headers);
	free(c);
}

/*
 * A JSON string from peer bytes. Bytes that are not valid UTF-8 are read as
 * Latin-1, so hostile input still shows up (and the output stays JSON).
 */
static json_t *
jstr(const char *p, size_t n)
{
	json_t	*j = json_stringn(p, n);
	char	*u;
	size_t	 k = 0;

	if (j != NULL)
		return j;
	u = malloc(n * 2 + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch < 0x80)
			u[k++] = (char)ch;
		else {
			u[k++] = (char)(0xc0 | ch >> 6);
			u[k++] = (char)(0x80 | (ch & 0x3f));
		}
	}
	j = json_stringn(u, k);
	free(u);
	return j;
}

static json_t *
jbuf(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);

	return jstr(n ? (const char *)evbuffer_pullup(b, -1) : "", n);
}

static struct hconn *
hc_of(llhttp_t *p)
{
	struct hconn *c = p->data;

	if (c == NULL || c->magic != HC_MAGIC)
		abort();
	return c;
}

static int
on_message_begin(llhttp_t *p)
{
	struct hconn *c = hc_of(p);

	evbuffer_drain(c->url, evbuffer_get_length(c->url));
	evbuffer_drain(c->field, evbuffer_get_length(c->field));
	evbuffer_drain(c->value, evbuffer_get_length(c->value));
	json_decref(c->headers);
	c->headers = json_array();
	SHA256_Init(&c->sha);
	c->body_len = 0;
	c->done = 0;
	c->in_msg = 1;
	return 0;
}

static int
on_url(llhttp_t *p, const char *at, size_t n)
{
	return evbuffer_add(hc_of(p)->url, at, n);
}

static int
on_header_field(llhttp_t *p, const char *at, size_t n)
{
	return evbuffer_add(hc_of(p)->field, at, n);
}

static int
on_header_value(llhttp_t *p, const char *at, size_t n)
{
	return evbuffer_add(hc_of(p)->value, at, n);
}

/* A header line is complete: append [name, value] and reset both parts. */
static int
on_header_value_complete(llhttp_t *p)
{
	struct hconn *c = hc_of(p);

	json_array_append_new(c->headers, json_pack("[o,o]", jbuf(c->field),
	    jbuf(c->value)));
	evbuffer_drain(c->field, evbuffer_get_length(c->field));
	evbuffer_drain(c->value, evbuffer_get_length(c->value));
	return 0;
}

static int
on_headers_complete(llhttp_t *p)
{
	struct hconn	*c = hc_of(p);
	size_t		 i;
	json_t		*h;

	c->head = p->method == HTTP_HEAD;
	/* curl waits a second for this before sending a large body. */
	if (p->http_major == 1 && p->http_minor == 1)
		json_array_foreach(c->headers, i, h) {
			if (strcasecmp(json_string_value(json_array_get(h, 0)), "expect") == 0 &&
			    strcasecmp(json_string_value(json_array_get(h, 1)), "100-continue") == 0)
				evbuffer_add_printf(bufferevent_get_output(c->bev),
				    "HTTP/1.1 100 Continue\r\n\r\n");
		}
	return 0;
}

static int
on_body(llhttp_t *p, const char *at, size_t n)
{
	struct hconn *c = hc_of(p);

	SHA256_Update(&c->sha, at, n);
	c->body_len += n;
	return 0;
}

/* Stop the parser here: the answer goes out before the next request is read. */
static int
on_message_complete(llhttp_t *p)
{
	struct hconn *c = hc_of(p);

	c->done = 1;
	c->in_msg = 0;
	c->keep_alive = llhttp_should_keep_alive(p);
	c->nreq++;
	stat_requests++;
	return HPE_PAUSED;
}

static const char *
reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 413: return "Content Too Large";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

/*
 * Queue a status line and headers. clen < 0 means chunked. The connection
 * closes after this answer when the request did not allow keep-alive or
 * close is set.
 */
static void
hc_head(struct hconn *c, int status, const char *ctype, long long clen, int close)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (!c->keep_alive)
		close = 1;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nX-Backend: %s\r\n", status,
	    reason(status), c->cfg->name);
	if (ctype != NULL)
		evbuffer_add_printf(out, "Content-Type: %s\r\n", ctype);
	if (clen >= 0 && status != 204 && status != 304)
		evbuffer_add_printf(out, "Content-Length: %lld\r\n", clen);
	else if (clen < 0)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	if (close)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (c->parser.http_minor == 0)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	evbuffer_add(out, "\r\n", 2);
	if (close)
		c->close_after = 1;
}

/* The answer is completely queued: read the next request, or close. */
static void
hc_done(struct hconn *c)
{
	c->state = c->close_after ? HC_CLOSING : HC_READING;
}

/* A complete answer with a body from memory (left out for HEAD). */
static void
hc_answer(struct hconn *c, int status, const char *ctype, const char *body,
    size_t n, int close)
{
	hc_head(c, status, ctype, (long long)n, close);
	if (!c->head && status != 204 && status != 304)
		evbuffer_add(bufferevent_get_output(c->bev), body, n);
	hc_done(c);
}

static void
hc_answer_json(struct hconn *c, json_t *j, int close)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	hc_answer(c, 200, "application/json", s, strlen(s), close);
	free(s);
}

static void
hc_echo(struct hconn *c, int close)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	char		 hex[2 * SHA256_DIGEST_LENGTH + 1];

	SHA256_Final(md, &c->sha);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hc_answer_json(c, json_pack("{s:s, s:s, s:o, s:s, s:O, s:I, s:s, s:I, s:I, s:s}",
	    "name", c->cfg->name,
	    "method", llhttp_method_name((llhttp_method_t)c->parser.method),
	    "path", jbuf(c->url),
	    "version", c->parser.http_minor == 0 ? "1.0" : "1.1",
	    "headers", c->headers,
	    "body_len", (json_int_t)c->body_len,
	    "body_sha256", hex,
	    "conn", (json_int_t)c->seq,
	    "req_on_conn", (json_int_t)c->nreq,
	    "peer", c->peer), close);
}

static const char page_html[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>loading</title></head>\n"
    "<body><pre id=\"proto\">pending</pre>\n<script>\n"
    "window.addEventListener(\"load\", function () {\n"
    "  var p = performance.getEntries()[0].nextHopProtocol;\n"
    "  document.title = p;\n"
    "  document.getElementById(\"proto\").textContent = p;\n"
    "});\n</script></body></html>\n";

/* Queue body bytes of /bytes or /chunked while the output stays short. */
static void
hc_fill(struct hconn *c)
{
	static char	 xs[16384];
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	if (xs[0] == 0)
		memset(xs, 'x', sizeof(xs));
	while (c->left > 0 && evbuffer_get_length(out) < HC_QUEUE_MAX) {
		size_t n = c->left < c->piece ? (size_t)c->left : c->piece;
		if (c->chunked)
			evbuffer_add_printf(out, "%zx\r\n", n);
		evbuffer_add(out, xs, n);
		if (c->chunked)
			evbuffer_add(out, "\r\n", 2);
		c->left -= n;
	}
	if (c->left == 0) {
		if (c->chunked)
			evbuffer_add(out, "0\r\n\r\n", 5);
		c->chunked = 0;
		hc_done(c);
	}
}

/* Answer the request just parsed. Returns -1 when c was freed. */
static int
hc_respond(struct hconn *c)
{
	char		 path[256];
	unsigned long long v;
	char		 tail;
	/* The target is not NUL-terminated in the buffer: copy, then cut. */
	ev_ssize_t	 n = evbuffer_copyout(c->url, path, sizeof(path) - 1);

	path[n > 0 ? n : 0] = '\0';
	path[strcspn(path, "?")] = '\0';

	if (strcmp(path, "/__stats") == 0)
		hc_answer_json(c, json_pack("{s:I, s:I, s:I}", "conns", (json_int_t)stat_conns,
		    "open", (json_int_t)stat_open, "requests", (json_int_t)stat_requests), 0);
	else if (sscanf(path, "/status/%llu%c", &v, &tail) == 1 && v >= 200 && v <= 599) {
		char body[64];
		int bl = snprintf(body, sizeof(body), "status %llu from %s\n", v, c->cfg->name);
		if (v == 204 || v == 304)
			bl = 0;
		hc_answer(c, (int)v, "text/plain", body, (size_t)bl, 0);
	} else if (sscanf(path, "/delay/%llu%c", &v, &tail) == 1 && v <= 3600000) {
		struct timeval tv = { (time_t)(v / 1000), (suseconds_t)(v % 1000) * 1000 };
		c->state = HC_DELAYING;
		evtimer_add(c->timer, &tv);
	} else if (strcmp(path, "/drop") == 0) {
		hc_free(c);
		return -1;
	} else if (strcmp(path, "/close") == 0)
		hc_echo(c, 1);
	else if (sscanf(path, "/bytes/%llu%c", &v, &tail) == 1 ||
	    sscanf(path, "/chunked/%llu%c", &v, &tail) == 1) {
		/* Chunked needs HTTP/1.1; a 1.0 client gets Content-Length. */
		c->chunked = path[1] == 'c' && c->parser.http_minor == 1;
		hc_head(c, 200, "application/octet-stream", c->chunked ? -1 : (long long)v, 0);
		if (c->head) {
			c->chunked = 0;
			hc_done(c);
		} else {
			c->left = v;
			c->state = HC_STREAMING;
			/* At least four chunks, at most 16 KiB each. */
			c->piece = v / 4 < 1 ? 1 : v / 4 < 16384 ? (size_t)(v / 4) : 16384;
			hc_fill(c);
		}
	} else if (strcmp(path, "/page") == 0)
		hc_answer(c, 200, "text/html; charset=utf-8", page_html,
		    sizeof(page_html) - 1, 0);
	else
		hc_echo(c, 0);
	return 0;
}

static void
hc_arm_idle(struct hconn *c)
{
	struct timeval tv;

	if (c->cfg->idle_close_ms == 0 || c->state != HC_READING || c->in_msg ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		return;
	tv.tv_sec = c->cfg->idle_close_ms / 1000;
	tv.tv_usec = (suseconds_t)(c->cfg->idle_close_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/*
 * Parse what has arrived while no answer is owed. Returns -1 when c was
 * freed (a bad request, /drop, or a close after the last answer flushed).
 */
static int
hc_process(struct hconn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);

	while (c->state == HC_READING && evbuffer_get_length(in) > 0) {
		size_t		 n = evbuffer_get_contiguous_space(in);
		const char	*p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		llhttp_errno_t	 err = llhttp_execute(&c->parser, p, n);

		if (err == HPE_OK) {
			evbuffer_drain(in, n);
			continue;
		}
		if ((err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) && c->done) {
			evbuffer_drain(in, (size_t)(llhttp_get_error_pos(&c->parser) - p));
			if (err == HPE_PAUSED)
				llhttp_resume(&c->parser);
			else
				c->keep_alive = 0;	/* no upgrades here */
			c->done = 0;
			if (hc_respond(c) == -1)
				return -1;
			continue;
		}
		fprintf(stderr, "httpecho %s: conn %lu: bad request: %s (%s)\n",
		    c->cfg->name, c->seq, llhttp_errno_name(err),
		    llhttp_get_error_reason(&c->parser));
		c->keep_alive = 0;
		c->head = 0;
		hc_answer(c, 400, "text/plain", "bad request\n", 12, 1);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
	if (c->state == HC_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		/*
		 * Lingering close: a peer still sending (a refused request's
		 * body, pipelined requests) would get a reset that can destroy
		 * the answer in flight, so shut the write side and drain.
		 */
		struct timeval tv = { HC_LINGER_MS / 1000, 0 };
		c->state = HC_LINGERING;
		shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		evtimer_del(c->timer);
		evtimer_add(c->timer, &tv);
	}
	if (c->state == HC_LINGERING) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return 0;
	}
	hc_arm_idle(c);
	return 0;
}

static void
hc_on_read(struct bufferevent *bev, void *arg)
{
	struct hconn *c = arg;

	(void)bev;
	if (c->state == HC_READING)
		evtimer_del(c->timer);	/* not idle any more */
	hc_process(c);
}

/* The output drained completely (low watermark 0). */
static void
hc_on_write(struct bufferevent *bev, void *arg)
{
	struct hconn *c = arg;

	(void)bev;
	if (c->state == HC_STREAMING) {
		hc_fill(c);
		if (c->state == HC_STREAMING)
			return;
	}
	hc_process(c);
}

static void
hc_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		hc_free(arg);
}

static void
hc_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == HC_DELAYING) {
		hc_echo(c, 0);
		hc_process(c);
	} else if (c->state == HC_READING || c->state == HC_LINGERING)
		hc_free(c);	/* idle too long, or the peer never closed */
}

void
httpecho_accept(struct event_base *base, const struct httpecho_cfg *cfg,
    evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	struct hconn	*c = calloc(1, sizeof(*c));
	char		 ip[INET6_ADDRSTRLEN] = "?";

	(void)salen;
	if (settings.on_message_complete == NULL) {
		llhttp_settings_init(&settings);
		settings.on_message_begin = on_message_begin;
		settings.on_url = on_url;
		settings.on_header_field = on_header_field;
		settings.on_header_value = on_header_value;
		settings.on_header_value_complete = on_header_value_complete;
		settings.on_headers_complete = on_headers_complete;
		settings.on_body = on_body;
		settings.on_message_complete = on_message_complete;
	}
	c->magic = HC_MAGIC;
	c->cfg = cfg;
	c->seq = ++stat_conns;
	stat_open++;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, ntohs(s4->sin_port));
	}
	c->url = evbuffer_new();
	c->field = evbuffer_new();
	c->value = evbuffer_new();
	c->headers = json_array();
	llhttp_init(&c->parser, HTTP_REQUEST, &settings);
	c->parser.data = c;
	c->timer = evtimer_new(base, hc_on_timer, c);
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, hc_on_read, hc_on_write, hc_on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	hc_arm_idle(c);
}
