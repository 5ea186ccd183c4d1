/*
 * hstream.h - one HTTP exchange (a request and its response) in the one
 * internal form that the client side and the backend side share.
 *
 *   client side (frontend)          middle              backend side
 *   h1.c  (llhttp, HTTP/1.1)  --\                   /-- upstream.c (HTTP/1.1
 *                               >-- hproxy.c (route, -<    to the backend, a
 *   h2.c  (nghttp2, HTTP/2)   --/   headers, errors)  \-- keep-alive pool)
 *
 * A frontend parses a request head into st->req and calls hproxy_request();
 * body bytes follow through hproxy_body() and hproxy_body_end(). The middle
 * picks a backend, rewrites the fields and hands the stream to upstream.c,
 * which writes the request as HTTP/1.1 and parses the response into
 * st->resp and st->resp_body. The middle then calls the frontend's hooks
 * (struct hfront) to send it. Local answers (400, 421, 502, ...) take the
 * same path with st->local set.
 *
 * Threads: a stream, its session and its backend connection belong to one
 * worker and are touched only on that worker's thread. Nothing here calls
 * back into the caller synchronously in a way that frees the caller's
 * stream: hooks that may end a stream are deferred (see hsess_kick()).
 */
#ifndef TLSGATE_HSTREAM_H
#define TLSGATE_HSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hfield.h"

struct backend;
struct evbuffer;
struct hsess;
struct route;
struct site;
struct upconn;

enum hmethod {
	HM_GET, HM_HEAD, HM_POST, HM_PUT, HM_DELETE, HM_OPTIONS, HM_TRACE,
	HM_PATCH, HM_CONNECT, HM_OTHER,
	HM__MAX
};

/* RFC 9110 9.2.2: a request that may be sent again without harm. */
#define HM_IDEMPOTENT(m) ((m) == HM_GET || (m) == HM_HEAD || (m) == HM_PUT || \
    (m) == HM_DELETE || (m) == HM_OPTIONS || (m) == HM_TRACE)

/* method, target and authority live in h's arena (hfields_strdup()). */
struct hreq {
	char		*method;	/* as received, e.g. "GET" */
	enum hmethod	 m;
	char		*target;	/* origin-form "/path?query", or "*" */
	char		*authority;	/* Host or :authority (lowercase); NULL if none */
	size_t		 authority_len;	/* its length (set with it) */
	int		 version;	/* 10, 11 or 20 */
	struct hfields	 h;		/* end-to-end fields; no Host, no pseudo-headers */
	int64_t		 clen;		/* Content-Length, -1 when unknown */
	unsigned	 body:1;	/* body bytes follow the head */
	unsigned	 te_trailers:1;	/* the client sent TE: trailers (h2up.h) */
};

struct hresp {
	int		 status;
	struct hfields	 h;		/* end-to-end fields; hop-by-hop removed */
	int64_t		 clen;		/* Content-Length, -1 when unknown */
	unsigned	 body:1;	/* a body follows (never for HEAD, 204, 304) */
};

enum hstream_state {
	HST_ROUTING,		/* head parsed; choosing a backend */
	HST_BACKEND,		/* with upstream.c: connecting, sending, waiting */
	HST_RESPONDING,		/* response head handed to the frontend */
	HST_DONE,		/* response complete on our side */
	HST__MAX
};

/* Why a stream ended badly; the access log's "err" field. */
enum hstream_err {
	HSE_NONE,
	HSE_BAD_REQUEST,	/* 400 and friends: the client's fault */
	HSE_MISDIRECTED,	/* 421: Host names no name of the SNI's site */
	HSE_NO_BACKEND,		/* 503: every backend is down */
	HSE_CONNECT,		/* 502: could not connect */
	HSE_BACKEND,		/* 502: the backend closed or sent garbage */
	HSE_TIMEOUT,		/* 504: no response head in time */
	HSE_CLIENT,		/* the client went away or reset the stream */
	HSE__MAX
};
extern const char *const hstream_err_names[HSE__MAX];

struct hstream {
	uint32_t		 magic;
	struct hsess		*s;
	struct hstream		*prev, *next;	/* the session's streams */
	int32_t			 id;		/* HTTP/2 stream id; HTTP/1.1: 1, 2, ... */
	enum hstream_state	 state;
	struct hreq		 req;
	struct hresp		 resp;
	/* Request body received and not yet written to the backend. */
	struct evbuffer		*req_body;
	uint64_t		 req_body_bytes;	/* received from the client */
	uint64_t		 req_body_sent;		/* written to the backend */
	/* Response body from the backend not yet taken by the frontend. */
	struct evbuffer		*resp_body;
	uint64_t		 resp_body_bytes;	/* received from the backend */
	/* Response trailers (HTTP/2 backends, h2up.h), or NULL; complete
	 * when resp_done is set. Freed with the stream. */
	struct hfields		*resp_tr;
	unsigned		 req_done:1;	/* the client's body is complete */
	unsigned		 resp_done:1;	/* the backend's body is complete */
	unsigned		 local:1;	/* answered by tlsgate itself */
	unsigned		 head_sent:1;	/* frontend: response head is out */
	/* WebSockets (ws.h): an upgrade goes to the backend; it said 101 and
	 * the bodies are now the tunnel's bytes; asked by RFC 8441 CONNECT. */
	unsigned		 upgrade:1, tunnel:1, ws_h2:1;
	struct upconn		*up;		/* backend connection while attached */
	struct backend		*bk;		/* the backend that answered, or last tried */
	struct backend		*tried[8];
	unsigned		 ntried;
	unsigned		 reused:1;	/* up came from the idle pool */
	unsigned		 reuse_retries;	/* fresh attempts after reused ones failed */
	enum hstream_err	 err;
	char			 why[128];	/* detail for the log */
	char			 rid[72];	/* X-Request-ID */
	struct timespec		 t0;		/* head complete */
	double			 ttfb;		/* seconds to response head, or -1 */
	void			*fe;		/* the frontend's own per-stream data */
	uint64_t		 fe_buf[5];	/* room for it (zeroed in a new stream) */
	struct site		*site;		/* the site the request is for */
	const struct route	*route;		/* its route (route.h), or NULL */
	struct backend		*sticky_bk;	/* the one its sticky cookie named */
	unsigned		 pend;		/* hooks to run (hsess_impl.h) */
	uint64_t		 out_bytes;	/* response bytes sent to the client */
};

/*
 * What a frontend does when the middle has something for the client. Each
 * is called on the worker thread, never from inside a frontend's own call
 * into the middle (hproxy_* defers through the session when it must).
 */
struct hfront {
	/* st->resp holds the response head: send it. */
	void	(*on_head)(struct hstream *st);
	/* st->resp_body grew, or st->resp_done was set: send what it can. */
	void	(*on_data)(struct hstream *st);
	/* The exchange broke after the head was sent: abort the stream
	 * (HTTP/2 RST_STREAM; HTTP/1.1 closes the connection). */
	void	(*on_abort)(struct hstream *st);
	/* The backend side wrote n bytes of request body: the frontend may
	 * accept more (HTTP/2 WINDOW_UPDATE; HTTP/1.1 reads on). */
	void	(*on_body_taken)(struct hstream *st, size_t n);
};

/* Request body buffered per stream before the client is paused. */
#define HSTREAM_BODY_HIGH	(64 * 1024)
/* Response body buffered per stream before the backend is paused. */
#define HSTREAM_RESP_HIGH	(64 * 1024)

/* --- the middle (hproxy.c), called by frontends ---------------------- */

/* A new stream of s (linked into the session). */
struct hstream	*hstream_new(struct hsess *s, int32_t id);
/*
 * The frontend is done with st (response sent, or the client gone): logs
 * the access line, releases the backend connection (to the pool only if
 * the exchange completed) and frees st.
 */
void		 hstream_free(struct hstream *st);
/* The head in st->req is complete: route it, or answer it locally. */
void		 hproxy_request(struct hstream *st);
/* Body bytes from the client; the middle copies them. */
void		 hproxy_body(struct hstream *st, const void *p, size_t n);
/* The client's body is complete (also right after the head when it has none). */
void		 hproxy_body_end(struct hstream *st);
/* Whether st may take more body from the client now (back-pressure). */
int		 hproxy_body_room(const struct hstream *st);
/* Answer st locally with status and a short text body; err and why go to
 * the log. Only before the response head was handed to the frontend. */
void		 hproxy_respond(struct hstream *st, int status, enum hstream_err err,
		    const char *why);
/* The frontend took response body out of st->resp_body: the backend may
 * be read again. */
void		 hproxy_resp_taken(struct hstream *st);

/* --- the middle, called by upstream.c -------------------------------- */

/*
 * Bracket an event callback of the backend side: the frontend hooks that
 * hproxy_on_*() defer meanwhile run in hproxy_unhold() (for an HTTP/1.1
 * client; from the loop as before for others, and then hproxy_hold()
 * returns NULL). hproxy_unhold() may free st, its session and the backend
 * connection: it must be the callback's last act.
 */
struct hsess	*hproxy_hold(struct hstream *st);
void		 hproxy_unhold(struct hsess *held);

/* st->resp holds the response head (1xx already skipped). */
void		 hproxy_on_resp_head(struct hstream *st);
/* st->resp_body grew. */
void		 hproxy_on_resp_data(struct hstream *st);
/* The response is complete. */
void		 hproxy_on_resp_end(struct hstream *st);
/* The backend side has written n body bytes (st->req_body_sent grew). */
void		 hproxy_on_body_taken(struct hstream *st, size_t n);
/*
 * The exchange failed on the backend side. retry: the request may be sent
 * again (nothing of it was lost: the backend connection was a reused one
 * that closed before any byte of the response, and the method is
 * idempotent, or the connect itself failed). err is HSE_CONNECT,
 * HSE_BACKEND or HSE_TIMEOUT. The stream is detached from its connection
 * (st->up is NULL) when this is called.
 */
void		 hproxy_on_error(struct hstream *st, enum hstream_err err, int retry,
		    const char *why);

/* Set r->authority to a lowercase copy of the n bytes at p (replacing any). */
void		 hreq_set_authority(struct hreq *r, const char *p, size_t n);
const char	*hmethod_name(enum hmethod);
/* strlen(hmethod_name(m)). */
size_t		 hmethod_len(enum hmethod);
enum hmethod	 hmethod_parse(const char *p, size_t n);

#endif
