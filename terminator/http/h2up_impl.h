/*
 * h2up_impl.h - what h2up.c (connections: connect, TLS, I/O, timers, the
 * per-worker set) and h2up_strm.c (the nghttp2 client session's callbacks
 * and the streams) share. Not for other modules: they use h2up.h.
 *
 * Threads: everything here belongs to one worker thread.
 */
#ifndef TLSGATE_H2UP_IMPL_H
#define TLSGATE_H2UP_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "h2up.h"
#include "hstream.h"
#include "sockbio.h"
#include "upstream.h"

#define H2UP_MAGIC	0x68327573u	/* "h2us": a stream (first member) */
#define H2UC_MAGIC	0x68327563u	/* "h2uc": a connection */
#define H2UPOOL_MAGIC	0x68327570u	/* "h2up" */

/* A stream the backend did not process (REFUSED_STREAM, above a GOAWAY's
 * last_stream_id) is sent again on another connection up to this many
 * times before the middle hears of it (which may try again itself). A
 * backend that closes connections after a few streams refuses a new
 * connection's first flight but for those few, and the stream at the end
 * of the queue may need several rounds. */
#define H2UP_RESENDS		16
/* Receive windows: a stream's is what it buffers of a response. */
#define H2UP_STREAM_WINDOW	HSTREAM_RESP_HIGH
#define H2UP_CONN_WINDOW	(8 * 1024 * 1024)
/* Streams per connection at most, whatever the backend allows: with every
 * stream's window full (its client stalled), the connection's window still
 * has room, so a stalled stream never starves the others. */
#define H2UP_STREAM_CAP		(H2UP_CONN_WINDOW / H2UP_STREAM_WINDOW)
/* Output gathered from nghttp2 before one write. */
#define H2UP_OUT_MAX		(64 * 1024)

enum h2uc_state {
	H2UC_CONNECTING,	/* TCP connect in flight; connect timer */
	H2UC_TLS,		/* TLS handshake (ALPN h2); same timer */
	H2UC_OPEN,		/* session up; idle timer when no stream */
	H2UC_CLOSED,		/* fd gone; freed once no callback runs */
	H2UC__MAX
};

/* What a stream has for the middle (h2us.pend), delivered in this order
 * outside nghttp2's calls. */
#define H2P_HEAD	0x01
#define H2P_DATA	0x02
#define H2P_END		0x04
#define H2P_TAKEN	0x08
#define H2P_ERR		0x10

struct h2uconn;

/* One request on a connection. The magic must stay the first member. */
struct h2us {
	uint32_t		 magic;
	struct h2up_pool	*pool;
	struct backend		*b;
	struct h2uconn		*c;		/* NULL once the connection is gone */
	struct hstream		*st;		/* NULL once detached */
	struct h2us		*prev, *next;	/* the connection's streams */
	struct h2us		*qnext;		/* the pool's delivery queue */
	int32_t			 id;		/* 0 until submitted */
	struct upstream_opts	 o;
	unsigned		 pend;		/* H2P_* */
	unsigned		 queued:1;
	unsigned		 final:1;	/* the final response head came */
	unsigned		 in_tr:1;	/* this header block is trailers */
	unsigned		 resp_end:1;	/* END_STREAM from the backend */
	unsigned		 req_end:1;	/* END_STREAM sent (or no body) */
	unsigned		 deferred:1;	/* the body reader waits for data */
	unsigned		 closed:1;	/* nghttp2 closed the stream */
	unsigned		 got_bytes:1;	/* any byte of a response came */
	unsigned		 dlv:1;		/* being delivered: not freed now */
	unsigned		 unsent:1;	/* its HEADERS could not go out */
	unsigned		 refused:1;	/* not processed: may go elsewhere */
	unsigned		 resends;	/* times sent again after a refusal */
	struct pool		*p;		/* borrowed from st's site or route */
	size_t			 hbytes;	/* header bytes of the response */
	size_t			 unacked;	/* response bytes not yet consumed */
	size_t			 taken;		/* body bytes for H2P_TAKEN */
	enum hstream_err	 err;
	int			 retry;
	char			 why[128];
	/* The stream's timer: limit (0: none) and last progress. */
	double			 t_limit, t_mark, t_armed;
	struct event		 tev;
};

struct h2uconn {
	uint32_t		 magic;
	uint32_t		 id;		/* for the debug log: h%08x */
	enum h2uc_state		 state;
	struct h2up_pool	*pool;
	struct h2uconn		*prev, *next;	/* the pool's connections */
	struct pool		*p;		/* a reference: the key, TLS */
	struct backend		*b;
	int			 fd;
	SSL			*ssl;
	struct sockbio_buf	 rb;
	nghttp2_session		*ng;
	struct event		 ev;		/* the fd */
	struct event		 tev;		/* connect or idle timer */
	struct event		 kev;		/* deferred pump */
	short			 ev_on;
	unsigned		 kick_on:1;
	unsigned		 goaway:1;	/* no new streams: GOAWAY either way */
	unsigned		 wblocked:1;	/* the last write would block */
	unsigned		 rd_wants_write:1;	/* SSL_read needs writability */
	unsigned		 more_input:1;	/* TLS read-ahead may hold bytes */
	unsigned		 settings:1;	/* the backend's SETTINGS came */
	unsigned		 to_submit:1;	/* streams wait for those SETTINGS */
	uint32_t		 max_hint;	/* streams until then: what a sibling
						 * connection learned, or the default */
	short			 hs_want;	/* the handshake waits for this */
	unsigned		 depth;		/* our callbacks on the stack */
	int			 cerr;
	struct h2us		*streams;
	unsigned		 nstreams;	/* attached, not yet let go */
	unsigned		 nused;		/* streams ever sent on it */
	unsigned		 gauge;		/* counted in b->conns_*: H2UC_G_* */
	double			 idle_timeout;	/* from the streams' options */
	double			 idle_since;	/* no stream since; 0: busy */
	uint8_t			*obuf;		/* output not yet written */
	size_t			 olen, ooff, ocap;
};

struct h2up_pool {
	uint32_t		 magic;
	struct event_base	*base;
	struct h2uconn		*conns;
	struct h2us		*q, *qtail;	/* streams with something to deliver */
	unsigned		 delivering;
};

/* h2up.c */
/* Monotonic seconds, coarse. */
double		 h2u_now(void);
void		 h2uc_kick(struct h2uconn *c);
/* Count c in its backend's pool gauge (tlsgate_backend_pool_connections):
 * active while it has a stream, idle while open without one, not at all
 * once closed. Call after nstreams or the state changed. */
#define H2UC_G_NONE	0
#define H2UC_G_IDLE	1
#define H2UC_G_BUSY	2
void		 h2uc_gauge(struct h2uconn *c);
/* Close c (streams on it fail with err, retry as said per stream). */
void		 h2uc_close(struct h2uconn *c, const char *why);
/* A connection of (p, b) with a free slot, or a new one (connecting).
 * NULL with why set when not even a socket could be made. */
struct h2uconn	*h2uc_get(struct h2up_pool *pool, struct pool *p, struct backend *b,
		    const struct upstream_opts *o, char *why, size_t cap);

/* h2up_strm.c */
/* Deliver what the pool's streams have for the middle; from the end of
 * our own callbacks only (outside nghttp2's calls). */
void		 h2u_deliver(struct h2up_pool *pool);
/* nghttp2's callbacks, shared by every connection of the process. */
nghttp2_session_callbacks *h2u_callbacks(void);
/* Submit every not yet submitted stream of an open connection. */
void		 h2us_submit_all(struct h2uconn *c);
/* Queue pend bits of s for delivery. */
void		 h2us_note(struct h2us *s, unsigned pend);
/* Fail s: err and retry for the middle (once; the first cause stays). */
void		 h2us_fail(struct h2us *s, enum hstream_err err, int retry,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The stream's timer: secs of no progress (0 disarms). */
void		 h2us_timer(struct h2us *s, double secs);
void		 h2us_progress(struct h2us *s);
/* Free s if neither the middle nor nghttp2 still holds it. */
void		 h2us_maybe_free(struct h2us *s);
/* Unlink s from its connection (the slot is free again). */
void		 h2us_unlink(struct h2us *s);

#endif
