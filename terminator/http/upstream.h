/*
 * upstream.h - HTTP/1.1 to the backends, over keep-alive connections kept
 * in a per-worker pool.
 *
 * A stream (hstream.h) whose backend was chosen is handed here. Its request
 * goes out on an idle connection to that backend if the worker has one, or
 * on a new one (TCP, then TLS when the site re-encrypts, verified as in TCP
 * mode). The response is parsed with llhttp into st->resp and st->resp_body,
 * and reported through hproxy_on_*(). When both messages completed and the
 * backend allows it, the connection goes back to the pool; an idle one is
 * closed after the site's idle timeout, when the backend closes it, or when
 * the pool already holds max_idle connections to that backend.
 *
 * A request is retried (hproxy_on_error with retry set) only when a reused
 * connection closed before any byte of the response came back and the
 * method is idempotent, or when a new connection could not be made.
 *
 * Threads: a pool and its connections belong to one worker thread; only
 * the backend counters (pool.h) are shared, through atomics.
 */
#ifndef TLSGATE_UPSTREAM_H
#define TLSGATE_UPSTREAM_H

#include <openssl/base.h>

struct backend;
struct event_base;
struct hstream;
struct pool;
struct upconn;
struct upstream_pool;

struct upstream_opts {
	double	connect_timeout;	/* TCP connect plus backend TLS handshake */
	double	response_timeout;	/* request sent until the response head */
	double	body_timeout;		/* no response body byte for this long */
	int	max_idle;		/* idle connections per backend; 0: no reuse */
	double	idle_timeout;		/* an idle connection is closed after */
	double	tunnel_idle;		/* a WebSocket tunnel with no byte either
					 * way for this long is closed (ws.h) */
};

/* The pool of worker base (one per worker). */
struct upstream_pool	*upstream_pool_new(struct event_base *base);
/* Close every idle connection and free the pool. Streams must be gone. */
void			 upstream_pool_free(struct upstream_pool *);
/* Close idle connections to backends removed by a reload (pool.h's
 * removed_at set). Called from the worker's tick. */
void			 upstream_pool_sweep(struct upstream_pool *);

/*
 * Send st's request (its fields are final: the middle has rewritten them)
 * to backend b of pool p. Returns 0 with st->up set: the outcome arrives
 * through hproxy_on_*(). Returns -1 when not even a socket could be made
 * (st->why says why); the caller may try another backend.
 */
int	upstream_start(struct upstream_pool *up, struct hstream *st, struct pool *p,
	    struct backend *b, const struct upstream_opts *o);
/* st->req_body grew, or st->req_done was set. */
void	upstream_body(struct upconn *);
/* st->resp_body shrank below HSTREAM_RESP_HIGH: read the backend again. */
void	upstream_resume(struct upconn *);
/*
 * The stream lets go (it is finished, or the client is gone). The
 * connection returns to the pool if the exchange completed and may be
 * reused; otherwise it is closed. st->up is cleared.
 */
void	upstream_detach(struct upconn *);

#endif
