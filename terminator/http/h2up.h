/*
 * h2up.h - HTTP/2 to the backends of a pool marked
 * `http.backend_protocol: "h2"`: cleartext with prior knowledge, or over
 * the pool's backend TLS with ALPN h2.
 *
 * A worker keeps a small set of multiplexed HTTP/2 client connections per
 * (pool, backend) (libnghttp2's client session does the framing). A stream
 * goes on the oldest connection that has a free slot under the backend's
 * SETTINGS_MAX_CONCURRENT_STREAMS; when all are full, or draining after a
 * GOAWAY, another connection is opened. A new connection's requests wait
 * for the backend's SETTINGS, so that even its first flight stays within
 * the limit (H2UP_MAX_STREAMS is what a connection takes on before then). Request and response bodies stream both ways under
 * HTTP/2 flow control: a stream buffers at most HSTREAM_RESP_HIGH bytes of
 * response (its receive window) and HSTREAM_BODY_HIGH of request (the
 * middle's limit). Response trailers land in st->resp_tr.
 *
 * Failures, through hproxy_on_error(): a connect or TLS failure (or no h2
 * by ALPN) before the stream was sent is HSE_CONNECT with retry; a stream
 * the backend refused (RST_STREAM REFUSED_STREAM, or above a GOAWAY's
 * last_stream_id) is HSE_BACKEND with retry; any other reset, or the
 * connection lost mid-stream, is HSE_BACKEND without (retry only when no
 * byte of the response came, the method is idempotent and no body byte
 * went). Timeouts are those of upstream.h, per stream.
 *
 * The middle holds the stream as st->up, a `struct upconn *` it never
 * dereferences; upstream.c's entry points hand streams whose magic is
 * H2UP_MAGIC (h2up_owns()) to the functions below.
 *
 * Threads: a pool, its connections and streams belong to one worker.
 */
#ifndef TLSGATE_H2UP_H
#define TLSGATE_H2UP_H

struct backend;
struct event_base;
struct hstream;
struct pool;
struct upconn;
struct upstream_opts;
struct h2up_pool;

/* Streams per connection until the backend's SETTINGS say otherwise. */
#define H2UP_MAX_STREAMS	100

struct h2up_pool *h2up_pool_new(struct event_base *base);
/* Close every connection and free the pool. Streams must be gone. */
void		 h2up_pool_free(struct h2up_pool *);
/* Close idle connections to backends removed by a reload. */
void		 h2up_pool_sweep(struct h2up_pool *);

/*
 * Send st to backend b of p over HTTP/2. 0 with st->up set (the outcome
 * comes through hproxy_on_*()), or -1 with st->why set when not even a
 * socket could be made (or st is a WebSocket upgrade, which HTTP/2
 * backends are not offered).
 */
int		 h2up_start(struct h2up_pool *, struct hstream *st, struct pool *p,
		    struct backend *b, const struct upstream_opts *o);
/* Whether st->up is one of ours. */
int		 h2up_owns(const struct upconn *u);
/* upstream.h's upstream_body, upstream_resume and upstream_detach. */
void		 h2up_body(struct upconn *u);
void		 h2up_resume(struct upconn *u);
void		 h2up_detach(struct upconn *u);

#endif
