/*
 * acme_http.c - libcurl multi-socket on libevent (curl's hiperfifo.c
 * pattern): curl tells us which sockets to watch and when its timer fires;
 * we tell curl when they are ready. Completed transfers are collected with
 * curl_multi_info_read and handed to their callbacks.
 *
 * All requests share a few connections per CA: HTTP/2 multiplexed when
 * the CA speaks it (libcurl waits for the first connection to say so rather
 * than open more), reused HTTP/1.1 keep-alive connections otherwise, with
 * requests beyond the cap waiting for a free one. Hundreds of orders in
 * flight once meant hundreds of connections, and a CA that stalled under them
 * (issue 14).
 *
 * Every request carries an account signature or asks for one's inputs, so
 * the transport never lets a CA (or anything between us and it) steer it
 * elsewhere: https only, no redirects followed, and a 3xx is an error. A
 * 302 that curl followed, or that the client took as an answer and whose
 * Location it then POSTed to, once sent a signed request over plain HTTP to
 * another host (issue 17, finding 5).
 */
#include "acme_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "xalloc.h"

#define ACME_HTTP_MAX_BODY	(4 * 1024 * 1024)

struct acme_http {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	char			*ca_file;
	int			 running;
	struct xfer		*xfers;		/* in flight, for cleanup */
	int			 plain;		/* http:// allowed (not for ACME) */
	long			 timeout_ms;	/* per request; 0: 60 s */
};

struct xfer {
	struct acme_http	*h;
	struct xfer		*prev, *next;
	CURL			*easy;
	struct curl_slist	*hdrs;
	struct acme_http_resp	 resp;
	size_t			 cap;
	acme_http_done		*done;
	void			*arg;
	char			 errbuf[CURL_ERROR_SIZE];
	int			 too_big;
};

struct sock {
	struct event	*ev;
	curl_socket_t	 fd;
};

static void	check_done(struct acme_http *);

static void
on_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct acme_http	*h = arg;
	int			 flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, flags, &h->running);
	check_done(h);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct acme_http *h = arg;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
	check_done(h);
}

static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct acme_http	*h = userp;
	struct sock		*sk = socketp;
	short			 kind;

	if (what == CURL_POLL_REMOVE) {
		if (sk != NULL) {
			event_free(sk->ev);
			free(sk);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
	    ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
	if (sk == NULL) {
		sk = xcalloc(1, sizeof(*sk));
		sk->fd = s;
		curl_multi_assign(h->multi, s, sk);
	} else
		event_free(sk->ev);
	sk->ev = event_new(h->base, s, kind, on_sock_event, h);
	event_add(sk->ev, NULL);
	return 0;
}

static int
timer_cb(CURLM *m, long ms, void *userp)
{
	struct acme_http	*h = userp;
	struct timeval		 tv;

	if (ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct xfer	*x = userdata;
	size_t		 n = size * nmemb;

	/* A hostile server cannot make us buffer without bound. */
	if (x->resp.len + n > ACME_HTTP_MAX_BODY) {
		x->too_big = 1;
		return 0;
	}
	if (x->resp.len + n + 1 > x->cap) {
		x->cap = (x->resp.len + n + 1) * 2;
		x->resp.body = xrealloc(x->resp.body, x->cap);
	}
	memcpy(x->resp.body + x->resp.len, ptr, n);
	x->resp.len += n;
	x->resp.body[x->resp.len] = '\0';
	return n;
}

static char *
header_value(const char *line, size_t n, const char *name)
{
	size_t nl = strlen(name);

	if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return NULL;
	line += nl + 1;
	n -= nl + 1;
	while (n > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' '))
		n--;
	return strndup(line, n);
}

static size_t
header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct xfer	*x = userdata;
	size_t		 n = size * nitems;
	char		*v;

	/* A new status line (after a 100 or a redirect) starts a new set. */
	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		free(x->resp.location);
		free(x->resp.retry_after);
		x->resp.location = x->resp.retry_after = NULL;
	}
	if ((v = header_value(buf, n, "Location")) != NULL) {
		free(x->resp.location);
		x->resp.location = v;
	} else if ((v = header_value(buf, n, "Replay-Nonce")) != NULL) {
		free(x->resp.nonce);
		x->resp.nonce = v;
	} else if ((v = header_value(buf, n, "Retry-After")) != NULL) {
		free(x->resp.retry_after);
		x->resp.retry_after = v;
	} else if ((v = header_value(buf, n, "Content-Type")) != NULL) {
		free(x->resp.content_type);
		x->resp.content_type = v;
	} else if ((v = header_value(buf, n, "Link")) != NULL && x->resp.nlinks < 32) {
		x->resp.links = xrealloc(x->resp.links,
		    (x->resp.nlinks + 1) * sizeof(char *));
		x->resp.links[x->resp.nlinks++] = v;
	} else
		free(v);
	return n;
}

static void
xfer_free(struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		x->h->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	curl_slist_free_all(x->hdrs);
	curl_easy_cleanup(x->easy);
	free(x->resp.body);
	free(x->resp.location);
	free(x->resp.nonce);
	free(x->resp.retry_after);
	free(x->resp.content_type);
	for (size_t i = 0; i < x->resp.nlinks; i++)
		free(x->resp.links[i]);
	free(x->resp.links);
	free(x);
}

static void
check_done(struct acme_http *h)
{
	CURLMsg		*m;
	int		 left;
	struct xfer	*x;

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(h->multi, m->easy_handle);
		if (x->resp.body == NULL) {
			x->resp.body = xstrdup("");
		}
		if (m->data.result == CURLE_UNSUPPORTED_PROTOCOL) {
			x->done(NULL, acme_http_allow_plain() || h->plain ?
			    "unsupported URL scheme" :
			    "not an https:// URL: refused (ACME is https only)", x->arg);
		} else if (m->data.result != CURLE_OK) {
			char err[CURL_ERROR_SIZE + 64];
			snprintf(err, sizeof(err), "%s", x->too_big ?
			    "response larger than 4 MiB" : x->errbuf[0] ? x->errbuf :
			    curl_easy_strerror(m->data.result));
			x->done(NULL, err, x->arg);
		} else {
			curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->resp.status);
			if (x->resp.status >= 300 && x->resp.status < 400) {
				/* No ACME resource redirects (RFC 8555 uses Location
				 * with 201 only); following one is how a signed POST
				 * leaves for another host. */
				char err[LOG_FIELD_CAP(200) + 64], loc[LOG_FIELD_CAP(200)];
				const char *l = x->resp.location;

				/* The CA's text goes into logs: escaped. */
				log_field_escape(loc, sizeof(loc), l ? l : "(no Location)",
				    l ? strnlen(l, 200) : 13);
				snprintf(err, sizeof(err), "HTTP %ld redirect to %s refused",
				    x->resp.status, loc);
				x->done(NULL, err, x->arg);
			} else
				x->done(&x->resp, NULL, x->arg);
		}
		xfer_free(x);
	}
}

int
acme_http_allow_plain(void)
{
	const char *v = getenv("TLSGATE_ACME_ALLOW_HTTP");

	return v != NULL && strcmp(v, "1") == 0;
}

struct acme_http *
acme_http_new(struct event_base *base, const char *ca_file)
{
	struct acme_http *h = xcalloc(1, sizeof(*h));

	if (acme_http_allow_plain())
		log_warnx("TLSGATE_ACME_ALLOW_HTTP=1: ACME requests may use plain "
		    "http://, unauthenticated and unencrypted. This switch is for "
		    "tests only; never set it in production");

	h->base = base;
	h->ca_file = ca_file ? xstrdup(ca_file) : NULL;
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, on_timer, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	return h;
}

void
acme_http_limit(struct acme_http *h, long per_host, long total)
{
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, total);
}

void
acme_http_set_options(struct acme_http *h, int allow_plain, long timeout_ms)
{
	h->plain = allow_plain;
	h->timeout_ms = timeout_ms;
}

void
acme_http_free(struct acme_http *h)
{
	if (h == NULL)
		return;
	while (h->xfers != NULL) {
		curl_multi_remove_handle(h->multi, h->xfers->easy);
		xfer_free(h->xfers);
	}
	curl_multi_cleanup(h->multi);
	event_free(h->timer);
	free(h->ca_file);
	free(h);
}

int
acme_http_request(struct acme_http *h, const char *method, const char *url,
    const char *body, acme_http_done *done, void *arg)
{
	struct xfer *x = xcalloc(1, sizeof(*x));

	x->h = h;
	x->done = done;
	x->arg = arg;
	if ((x->easy = curl_easy_init()) == NULL) {
		free(x);
		return -1;
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "tlsgate/" "0.1");
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS,
	    h->timeout_ms > 0 ? h->timeout_ms : 60000L);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR,
	    acme_http_allow_plain() || h->plain ? "https,http" : "https");
	curl_easy_setopt(x->easy, CURLOPT_REDIR_PROTOCOLS_STR,
	    acme_http_allow_plain() || h->plain ? "https,http" : "https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->easy, CURLOPT_MAXREDIRS, 0L);
	if (h->ca_file != NULL)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, h->ca_file);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0) {
		x->hdrs = curl_slist_append(NULL, "Content-Type: application/jose+json");
		curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body ? body : "");
	}
	x->next = h->xfers;
	if (h->xfers)
		h->xfers->prev = x;
	h->xfers = x;
	if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
		xfer_free(x);
		return -1;
	}
	return 0;
}
