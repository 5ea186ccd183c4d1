/*
 * acme_http.h - HTTP for the ACME client: libcurl's multi-socket interface
 * driven by an event_base, so no request ever blocks the loop.
 *
 * All calls and callbacks happen on the thread that runs the event_base.
 */
#ifndef TLSGATE_ACME_HTTP_H
#define TLSGATE_ACME_HTTP_H

#include <stddef.h>

struct event_base;
struct acme_http;

struct acme_http_resp {
	long	 status;		/* 0 on a transport error */
	char	*body;			/* NUL-terminated */
	size_t	 len;
	char	*location;		/* headers, or NULL */
	char	*nonce;			/* Replay-Nonce */
	char	*retry_after;
	char	*content_type;
	char	**links;		/* raw Link header values */
	size_t	 nlinks;
};

/* resp is borrowed for the duration of the call; err NULL means a response. */
typedef void acme_http_done(const struct acme_http_resp *resp, const char *err,
    void *arg);

/*
 * ACME speaks https only. The environment variable TLSGATE_ACME_ALLOW_HTTP=1
 * also allows plain http:// (for tests against a local stub CA); this returns
 * 1 when it is set. Redirects are never followed either way: any 3xx answer
 * completes the request with an error naming the status and the Location.
 */
int		 acme_http_allow_plain(void);

/* ca_file: extra CA bundle for the ACME server (NULL: system store). */
struct acme_http *acme_http_new(struct event_base *base, const char *ca_file);
void		 acme_http_free(struct acme_http *);
/* For other callers than ACME (the on-demand ask endpoint): allow plain
 * http:// on this handle, and a per-request timeout (0: 60 s). */
void		 acme_http_set_options(struct acme_http *, int allow_plain,
		    long timeout_ms);
/*
 * At most per_host connections to one host and total in all (the ACME
 * client: a few per CA). Requests beyond them wait for a connection (HTTP/1.1
 * keep-alive) or share one (HTTP/2, which every handle prefers over TLS).
 */
void		 acme_http_limit(struct acme_http *, long per_host, long total);
/*
 * Start a request: method "GET", "HEAD" or "POST" (body with
 * application/jose+json). done runs later from the loop, never from inside
 * this call. Returns 0, or -1 if it could not start.
 */
int		 acme_http_request(struct acme_http *, const char *method,
		    const char *url, const char *body, acme_http_done *done,
		    void *arg);

#endif
