/*
 * askserver.c - an on-demand TLS ask endpoint for tests (and an example of
 * the contract in docs/on-demand.md): GET /ask?domain=NAME&client_ip=ADDR
 * answers 200 when NAME ends with one of the --allow suffixes, else 403.
 * Every ask is printed ("ask domain=NAME client_ip=ADDR -> STATUS"), and
 * GET /count answers the number of asks so far. A name ending with a --slow
 * suffix is answered (yes) only after 10 seconds.
 *
 * usage: tg_askserver --listen 127.0.0.1:PORT [--allow SUFFIX]...
 *                     [--slow SUFFIX]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static const char	*allow[16], *slow;
static int		 nallow;
static struct event_base *base;
static unsigned long	 asks;

static int
allowed(const char *d)
{
	size_t n = strlen(d);

	for (int i = 0; i < nallow; i++) {
		size_t m = strlen(allow[i]);
		if (n >= m && strcmp(d + n - m, allow[i]) == 0)
			return 1;
	}
	return 0;
}

static void
on_late(evutil_socket_t fd, short what, void *arg)
{
	struct evhttp_request *req = arg;

	(void)fd;
	(void)what;
	evhttp_send_reply(req, 200, "OK", NULL);
}

static int
ends_with(const char *d, const char *suffix)
{
	size_t n = strlen(d), m = strlen(suffix);

	return n >= m && strcmp(d + n - m, suffix) == 0;
}

static void
on_req(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = evhttp_uri_get_path(uri), *q, *d, *ip;
	struct evkeyvalq	 kv;
	struct evbuffer		*out = evbuffer_new();
	int			 code;

	(void)arg;
	if (path != NULL && strcmp(path, "/count") == 0) {
		evbuffer_add_printf(out, "%lu", asks);
		evhttp_send_reply(req, 200, "OK", out);
		evbuffer_free(out);
		return;
	}
	memset(&kv, 0, sizeof(kv));
	q = evhttp_uri_get_query(uri);
	if (path == NULL || strcmp(path, "/ask") != 0 || q == NULL ||
	    evhttp_parse_query_str(q, &kv) != 0 ||
	    (d = evhttp_find_header(&kv, "domain")) == NULL) {
		evhttp_send_reply(req, 400, "Bad Request", out);
		evbuffer_free(out);
		evhttp_clear_headers(&kv);
		return;
	}
	ip = evhttp_find_header(&kv, "client_ip");
	asks++;
	if (slow != NULL && ends_with(d, slow)) {
		struct timeval tv = { 10, 0 };

		printf("ask domain=%s client_ip=%s -> 200 in 10 s\n", d, ip ? ip : "-");
		fflush(stdout);
		event_base_once(base, -1, EV_TIMEOUT, on_late, req, &tv);
		evbuffer_free(out);
		evhttp_clear_headers(&kv);
		return;
	}
	code = allowed(d) ? 200 : 403;
	printf("ask domain=%s client_ip=%s -> %d\n", d, ip ? ip : "-", code);
	fflush(stdout);
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Forbidden", out);
	evbuffer_free(out);
	evhttp_clear_headers(&kv);
}

int
main(int argc, char **argv)
{
	struct evhttp		*http;
	char			 host[64] = "127.0.0.1";
	int			 port = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0) {
			char *c = strrchr(argv[i + 1], ':');
			if (c == NULL || (size_t)(c - argv[i + 1]) >= sizeof(host))
				return 2;
			memcpy(host, argv[i + 1], (size_t)(c - argv[i + 1]));
			host[c - argv[i + 1]] = '\0';
			port = atoi(c + 1);
		} else if (strcmp(argv[i], "--allow") == 0 && nallow < 16)
			allow[nallow++] = argv[i + 1];
		else if (strcmp(argv[i], "--slow") == 0)
			slow = argv[i + 1];
		else {
			fprintf(stderr, "usage: tg_askserver --listen HOST:PORT "
			    "[--allow SUFFIX]... [--slow SUFFIX]\n");
			return 2;
		}
	}
	if (port == 0 || (base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL ||
	    evhttp_bind_socket(http, host, (ev_uint16_t)port) != 0) {
		fprintf(stderr, "tg_askserver: cannot listen\n");
		return 1;
	}
	evhttp_set_gencb(http, on_req, NULL);
	event_base_dispatch(base);
	return 0;
}
