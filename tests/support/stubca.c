/* stubca.c - see stubca.h. */
#include "stubca.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#define STUBCA_PATHS	32

struct stubca {
	struct evhttp	*http;
	int		 port;
	unsigned	 total;
	unsigned	 nonce;
	struct {
		char		 path[64];
		unsigned	 n;
	}		 seen[STUBCA_PATHS];
};

static void
count(struct stubca *s, const char *path)
{
	s->total++;
	for (int i = 0; i < STUBCA_PATHS; i++) {
		if (s->seen[i].path[0] == '\0')
			snprintf(s->seen[i].path, sizeof(s->seen[i].path), "%s", path);
		if (strcmp(s->seen[i].path, path) == 0) {
			s->seen[i].n++;
			return;
		}
	}
}

unsigned
stubca_count(const struct stubca *s, const char *path)
{
	if (path == NULL)
		return s->total;
	for (int i = 0; i < STUBCA_PATHS; i++)
		if (strcmp(s->seen[i].path, path) == 0)
			return s->seen[i].n;
	return 0;
}

int
stubca_port(const struct stubca *s)
{
	return s->port;
}

static void
reply(struct evhttp_request *req, int code, const char *reason, const char *body)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct stubca		*s = arg;
	const struct evhttp_uri	*u = evhttp_request_get_evhttp_uri(req);
	const char		*path = evhttp_uri_get_path(u), *q = evhttp_uri_get_query(u);
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	char			 buf[512];

	if (path == NULL)
		path = "/";
	if (strcmp(path, "/count") == 0) {
		/* "/count" or "/count?" alone: every request. */
		snprintf(buf, sizeof(buf), "%u\n", stubca_count(s,
		    q != NULL && *q != '\0' ? q : NULL));
		reply(req, 200, "OK", buf);
		return;
	}
	count(s, path);
	if (strcmp(path, "/dir") == 0) {
		snprintf(buf, sizeof(buf), "{\"newNonce\": \"http://127.0.0.1:%d/nonce\", "
		    "\"newAccount\": \"http://127.0.0.1:%d/redirect\", "
		    "\"newOrder\": \"http://127.0.0.1:%d/redirect\"}", s->port, s->port,
		    s->port);
		evhttp_add_header(out, "Content-Type", "application/json");
		reply(req, 200, "OK", buf);
	} else if (strcmp(path, "/dir-429") == 0) {
		/* A CA that rate-limits every order. */
		snprintf(buf, sizeof(buf), "{\"newNonce\": \"http://127.0.0.1:%d/nonce\", "
		    "\"newAccount\": \"http://127.0.0.1:%d/acct\", "
		    "\"newOrder\": \"http://127.0.0.1:%d/ratelimited\"}", s->port, s->port,
		    s->port);
		evhttp_add_header(out, "Content-Type", "application/json");
		reply(req, 200, "OK", buf);
	} else if (strcmp(path, "/acct") == 0) {
		snprintf(buf, sizeof(buf), "http://127.0.0.1:%d/acct/1", s->port);
		evhttp_add_header(out, "Location", buf);
		snprintf(buf, sizeof(buf), "stub-nonce-%u", ++s->nonce);
		evhttp_add_header(out, "Replay-Nonce", buf);
		evhttp_add_header(out, "Content-Type", "application/json");
		reply(req, 201, "Created", "{\"status\": \"valid\"}");
	} else if (strcmp(path, "/ratelimited") == 0) {
		snprintf(buf, sizeof(buf), "stub-nonce-%u", ++s->nonce);
		evhttp_add_header(out, "Replay-Nonce", buf);
		evhttp_add_header(out, "Retry-After", "3600");
		evhttp_add_header(out, "Content-Type", "application/problem+json");
		reply(req, 429, "Too Many Requests", "{\"type\": "
		    "\"urn:ietf:params:acme:error:rateLimited\", \"detail\": "
		    "\"too many new orders recently\"}");
	} else if (strcmp(path, "/nonce") == 0) {
		snprintf(buf, sizeof(buf), "stub-nonce-%u", ++s->nonce);
		evhttp_add_header(out, "Replay-Nonce", buf);
		evhttp_add_header(out, "Cache-Control", "no-store");
		reply(req, 200, "OK", "");
	} else if (strcmp(path, "/redirect") == 0 || strcmp(path, "/moved") == 0) {
		int code = path[1] == 'r' ? 302 : 301;

		snprintf(buf, sizeof(buf), "http://127.0.0.2:%d/target", s->port);
		evhttp_add_header(out, "Location", buf);
		snprintf(buf, sizeof(buf), "stub-nonce-%u", ++s->nonce);
		evhttp_add_header(out, "Replay-Nonce", buf);
		reply(req, code, code == 302 ? "Found" : "Moved Permanently", "");
	} else if (strcmp(path, "/ok") == 0)
		reply(req, 200, "OK", "ok");
	else if (strcmp(path, "/target") == 0)
		reply(req, 200, "OK", "target");
	else
		reply(req, 404, "Not Found", "");
}

struct stubca *
stubca_new(struct event_base *base, int port)
{
	struct stubca			*s = calloc(1, sizeof(*s));
	struct evhttp_bound_socket	*bs;
	struct sockaddr_in		 sin;
	socklen_t			 len = sizeof(sin);

	s->http = evhttp_new(base);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD);
	evhttp_set_gencb(s->http, on_request, s);
	if ((bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1",
	    (uint16_t)port)) == NULL)
		goto fail;
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin,
	    &len) == -1)
		goto fail;
	s->port = ntohs(sin.sin_port);
	/* The "other host": same port, another loopback address. */
	if (evhttp_bind_socket(s->http, "127.0.0.2", (uint16_t)s->port) == -1)
		goto fail;
	return s;
fail:
	stubca_free(s);
	return NULL;
}

void
stubca_free(struct stubca *s)
{
	if (s == NULL)
		return;
	if (s->http != NULL)
		evhttp_free(s->http);
	free(s);
}
