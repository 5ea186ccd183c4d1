/*
 * http80.c - port 80: redirect to HTTPS.
 *
 * The Host header comes from the network, so it is checked before it is put
 * into a Location header: a DNS name or an IP literal, optionally with a port,
 * and nothing else. A bad or missing Host gets 400, never a redirect to an
 * attacker-chosen place.
 */
#include "http80.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/util.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "challenge.h"
#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "lpause.h"
#include "worker.h"
#include "xalloc.h"

struct http80 {
	struct evhttp	*http;
	int		 https_port;
	struct lpause	**lp;		/* one per listener: see lpause.h */
	size_t		 nlp;
};

/* Copy the host part of a Host header into out; 0 if it is not acceptable. */
static int
host_part(const char *h, char *out, size_t cap)
{
	size_t n;

	if (h == NULL || *h == '\0')
		return 0;
	if (h[0] == '[') {
		const char *rb = strchr(h, ']');
		if (rb == NULL || (size_t)(rb - h + 1) >= cap)
			return 0;
		n = (size_t)(rb - h + 1);
		if (strspn(h + 1, "0123456789abcdefABCDEF:.") != n - 2)
			return 0;
		h += 0;
	} else {
		n = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-");
		if (n == 0 || n >= cap)
			return 0;
	}
	/* After the host, only ":port" may follow. */
	if (h[n] != '\0' && (h[n] != ':' || strspn(h + n + 1, "0123456789") !=
	    strlen(h + n + 1)))
		return 0;
	memcpy(out, h, n);
	out[n] = '\0';
	return 1;
}

char *
http80_redirect_url(const char *hosthdr, const char *uri, int https_port)
{
	struct evhttp_uri	*parsed = NULL;
	char			 host[300], port[16] = "", *loc;
	const char		*path = "/", *query = NULL;

	if (!host_part(hosthdr, host, sizeof(host)))
		return NULL;
	if (uri != NULL && (parsed = evhttp_uri_parse(uri)) != NULL) {
		if (evhttp_uri_get_path(parsed) && evhttp_uri_get_path(parsed)[0] == '/')
			path = evhttp_uri_get_path(parsed);
		query = evhttp_uri_get_query(parsed);
	}
	if (https_port != 443)
		snprintf(port, sizeof(port), ":%d", https_port);
	/* evhttp has already refused CR/LF in the request line. */
	loc = xasprintf("https://%s%s%s%s%s", host, port, path, query ? "?" : "",
	    query ? query : "");
	if (parsed)
		evhttp_uri_free(parsed);
	return loc;
}

static void
http80_on_request(struct evhttp_request *req, void *arg)
{
	struct http80		*h = arg;
	const char		*uri = evhttp_request_get_uri(req);
	const char		*hosthdr;
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);
	char			*loc;

	/*
	 * HTTP-01: only tokens in flight are served, on the exact path
	 * /.well-known/acme-challenge/<base64url token>, for GET and HEAD.
	 */
	if (uri != NULL && strncmp(uri, "/.well-known/acme-challenge/", 28) == 0) {
		const char	*tok = uri + 28;
		char		*ka = NULL;

		if ((evhttp_request_get_command(req) == EVHTTP_REQ_GET ||
		    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) &&
		    *tok != '\0' && strlen(tok) <= 256 &&
		    strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_") == strlen(tok))
			ka = challenge_http_get(tok);
		if (ka == NULL) {
			evhttp_send_error(req, 404, "Not Found");
			return;
		}
		{
			struct evbuffer *body = evbuffer_new();
			evhttp_add_header(out, "Content-Type", "application/octet-stream");
			evbuffer_add(body, ka, strlen(ka));
			evhttp_send_reply(req, 200, "OK", body);
			evbuffer_free(body);
		}
		log_info("http-01: answered token %.12s...", tok);
		free(ka);
		return;
	}
	hosthdr = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	if ((loc = http80_redirect_url(hosthdr, uri, h->https_port)) == NULL) {
		evhttp_add_header(out, "Content-Type", "text/plain");
		evhttp_add_header(out, "Connection", "close");
		evhttp_send_error(req, 400, "Bad Request: missing or invalid Host");
		return;
	}
	evhttp_add_header(out, "Location", loc);
	evhttp_add_header(out, "Content-Type", "text/plain");
	{
		struct evbuffer *body = evbuffer_new();
		evbuffer_add_printf(body, "Moved to %s\n", loc);
		evhttp_send_reply(req, 308, "Permanent Redirect", body);
		evbuffer_free(body);
	}
	free(loc);
}

struct http80 *
http80_new(struct event_base *base, const struct addr *addrs, size_t n,
    const int *fds, int https_port, struct errbuf *eb)
{
	struct http80	*h = xcalloc(1, sizeof(*h));
	struct evhttp_bound_socket *bs;
	int		 fd;

	h->https_port = https_port;
	h->lp = xcalloc(n + 1, sizeof(*h->lp));
	if ((h->http = evhttp_new(base)) == NULL) {
		http80_free(h);
		return errbuf_set(eb, "evhttp_new failed"), NULL;
	}
	evhttp_set_timeout(h->http, 30);
	evhttp_set_max_headers_size(h->http, 16384);
	evhttp_set_max_body_size(h->http, 65536);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->http, http80_on_request, h);
	for (size_t i = 0; i < n; i++) {
		fd = fds != NULL && fds[i] >= 0 ? fds[i] :
		    worker_listen_socket(&addrs[i], 0, eb);
		if (fd != -1)
			evutil_make_socket_nonblocking(fd);
		if (fd == -1 ||
		    (bs = evhttp_accept_socket_with_handle(h->http, fd)) == NULL) {
			if (fd != -1) {
				close(fd);
				errbuf_set(eb, "%s: evhttp accept failed", addrs[i].str);
			}
			http80_free(h);
			return NULL;
		}
		h->lp[h->nlp++] = lpause_new(base, evhttp_bound_socket_get_listener(bs),
		    "http");
	}
	return h;
}

void
http80_free(struct http80 *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nlp; i++)
		lpause_free(h->lp[i]);
	free(h->lp);
	if (h->http != NULL)
		evhttp_free(h->http);
	free(h);
}
