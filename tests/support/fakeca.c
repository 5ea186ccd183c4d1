/*
 * fakeca.c - a hostile ACME server for tests, on plain HTTP (the client
 * reaches it only with TLSGATE_ACME_ALLOW_HTTP=1): it serves a directory,
 * nonces and accounts, and answers every newOrder with 429 rateLimited and
 * "Retry-After: 3600". Each newOrder is counted: "neworder N" goes to stdout
 * (flushed) as it arrives.
 *
 * usage: fakeca --listen 127.0.0.1:PORT
 * Prints "ready" on stdout once it listens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static char	 base_url[128];
static int	 norders, nonce;

static void
reply(struct evhttp_request *req, int code, const char *reason, const char *type,
    const char *body)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*b = evbuffer_new();
	char			 n[32];

	snprintf(n, sizeof(n), "nonce%08d", ++nonce);
	evhttp_add_header(h, "Replay-Nonce", n);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (type != NULL)
		evhttp_add_header(h, "Content-Type", type);
	if (body != NULL)
		evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char		*uri = evhttp_request_get_uri(req);
	enum evhttp_cmd_type	 m = evhttp_request_get_command(req);
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	char			 body[512];

	if (strcmp(uri, "/dir") == 0) {
		snprintf(body, sizeof(body), "{\"newNonce\": \"%s/nonce\", "
		    "\"newAccount\": \"%s/acct\", \"newOrder\": \"%s/order\"}",
		    base_url, base_url, base_url);
		reply(req, 200, "OK", "application/json", body);
	} else if (strcmp(uri, "/nonce") == 0)
		reply(req, m == EVHTTP_REQ_HEAD ? 200 : 204, "OK", NULL, NULL);
	else if (strcmp(uri, "/acct") == 0 && m == EVHTTP_REQ_POST) {
		snprintf(body, sizeof(body), "%s/acct/1", base_url);
		evhttp_add_header(h, "Location", body);
		reply(req, 201, "Created", "application/json", "{\"status\": \"valid\"}");
	} else if (strcmp(uri, "/order") == 0 && m == EVHTTP_REQ_POST) {
		printf("neworder %d\n", ++norders);
		fflush(stdout);
		evhttp_add_header(h, "Retry-After", "3600");
		reply(req, 429, "Too Many Requests", "application/problem+json",
		    "{\"type\": \"urn:ietf:params:acme:error:rateLimited\", "
		    "\"detail\": \"too many new orders recently\"}");
	} else
		reply(req, 404, "Not Found", NULL, NULL);
}

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct evhttp		*http;
	char			 host[64];
	int			 port;

	if (argc != 3 || strcmp(argv[1], "--listen") != 0 ||
	    sscanf(argv[2], "%63[^:]:%d", host, &port) != 2) {
		fprintf(stderr, "usage: fakeca --listen HOST:PORT\n");
		return 2;
	}
	snprintf(base_url, sizeof(base_url), "http://%s:%d", host, port);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, host, (unsigned short)port) != 0) {
		fprintf(stderr, "fakeca: cannot listen on %s\n", argv[2]);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	event_base_dispatch(base);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
