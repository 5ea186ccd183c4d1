/*
 * upstream_impl.h - what upstream.c (one exchange on a backend connection)
 * and upstream_pool.c (the idle connections of a worker) share. Not for
 * other modules: they use upstream.h.
 *
 * Threads: everything here belongs to one worker thread.
 */
#ifndef TLSGATE_UPSTREAM_IMPL_H
#define TLSGATE_UPSTREAM_IMPL_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <llhttp.h>
#include <openssl/ssl.h>

#include "hfield.h"
#include "sockbio.h"
#include "upstream.h"

#define UPCONN_MAGIC	0x7570636eu	/* "upcn" */
#define UPPOOL_MAGIC	0x7570706cu	/* "uppl" */

enum up_state {
	UP_CONNECTING,		/* TCP connect in flight; connect timer */
	UP_TLS,			/* TLS handshake with the backend; same timer */
	UP_SENDING,		/* request going out, no response head yet */
	UP_WAITING,		/* request out; response timer until the head */
	UP_READING,		/* head handed on, body flowing; body timer */
	UP_DONE,		/* response complete; waits for upstream_detach */
	UP_IDLE,		/* in the pool: read watch and idle timer */
	UP_CLOSED,		/* fd gone; freed once no callback of ours runs */
	UP__MAX
};

/* The idle connections of one (backend, TLS context): the context is part
 * of the key because a reload may change how the backend is spoken to. */
struct upkey {
	struct upkey		*next;
	struct backend		*b;
	SSL_CTX			*ctx;		/* borrowed: each SSL holds a ref */
	struct upconn		*idle;		/* most recently used first */
	int			 nidle;
};

struct upstream_pool {
	uint32_t		 magic;
	struct event_base	*base;
	struct upkey		*keys;
	unsigned		 nconns;	/* open connections, idle or busy */
	struct h2up_pool	*h2;		/* HTTP/2 backends (h2up.h) */
};

struct upconn {
	uint32_t		 magic;
	uint32_t		 id;		/* for the debug log: u%08x */
	enum up_state		 state;
	struct upstream_pool	*pool;
	struct backend		*b;
	SSL_CTX			*ctx;		/* key: the pool's tls_ctx or NULL */
	struct upconn		*prev, *next;	/* the key's idle list */
	int			 fd;
	SSL			*ssl;		/* re-encryption, or NULL */
	struct sockbio_buf	 rb;
	struct event		 ev;		/* the fd, interests as computed */
	struct event		 tev;		/* the state's timer */
	struct event		 kev;		/* deferred work (upstream_body...) */
	short			 ev_on;		/* armed fd interests */
	short			 kick_on;	/* kev is active, not yet run */
	/* What each operation waits for: 0 (may try), EV_READ or EV_WRITE. */
	short			 hs_want, rd_want, wr_want;
	unsigned		 depth;		/* our callbacks on the stack */
	int			 cerr;		/* connect error seen at once */
	double			 t_limit, t_mark;	/* timer: limit, last progress */
	double			 t_armed;	/* when tev fires; 0: not pending */

	/* The exchange: valid while attached (st != NULL). */
	struct hstream		*st;
	struct pool		*p;		/* borrowed from st's site */
	struct upstream_opts	 o;
	llhttp_t		 parser;
	char			*hb;		/* the request head (hlen bytes) */
	uint32_t		 hb_cap;	/* hb's size: kept between exchanges */
	uint32_t		 hoff, hlen;
	char			 fr[40];	/* chunk framing not yet written */
	uint8_t			 froff, frlen;
	char			*tbuf;		/* TLS: the record SSL_write retries */
	uint32_t		 tlen, tbody;	/* its size; body bytes in it */
	uint64_t		 body_left;	/* Content-Length bytes to send */
	uint64_t		 chunk_left;	/* of the current chunk, to send */
	uint64_t		 rbytes;	/* response bytes received */
	size_t			 hbytes;	/* response head bytes (limit) */
	size_t			 nbody;		/* body bytes parsed this round */
	struct hfield_hold	 hold;	/* a name waiting for its value */
	unsigned		 reused:1;	/* came from the idle pool */
	unsigned		 chunked:1, chunk_open:1, chunk_end:1;
	unsigned		 wdone:1;	/* the whole request is written */
	unsigned		 wfail:1;	/* a write failed: read what is left */
	unsigned		 hdr_value:1;	/* last header piece was a value */
	unsigned		 interim:1;	/* parsing a 1xx */
	unsigned		 head_ready:1, head_sent:1;
	unsigned		 complete:1, end_sent:1;
	unsigned		 keep:1;	/* llhttp: the backend keeps it open */
	unsigned		 extra:1;	/* bytes after the response */
	unsigned		 paused:1;	/* st->resp_body is full */
	unsigned		 tunnel:1;	/* after a 101: raw bytes both ways */
};

enum hstream_err;

/* upstream.c: the connection */
void		 up_close(struct upconn *, int clean, const char *why);
/* Detach st, close u, then hproxy_on_error(). Always -1: u is done with
 * the stream. Only from inside our callbacks (u->depth > 0). */
int		 up_fail(struct upconn *, enum hstream_err err, int retry,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void		 up_update_events(struct upconn *);
/* Request-head buffers up to this size stay with a pooled connection. */
#define UP_HB_KEEP	1024
void		 up_timer(struct upconn *, double secs);
/* No timer for the state (lazily: tev may still fire, and finds none). */
void		 up_timer_off(struct upconn *);
void		 up_progress(struct upconn *);
void		 up_kick(struct upconn *);
void		 up_unwind(struct upconn *);
extern const char *const up_state_names[UP__MAX];

/* upstream_req.c: write what can be written of the request. */
int		 up_write(struct upconn *);
/* A bodiless request on a reused plain connection, at once: 0 if all of it
 * went; -1 leaves the rest to up_write() from the loop. */
int		 up_write_now(struct upconn *);
/* upstream.c: the backend said 101; st's bodies carry raw bytes now. */
void		 up_tunnel_open(struct upconn *);
/* upstream_resp.c: read and parse the response; the parser's settings. */
int		 up_read(struct upconn *);
extern const llhttp_settings_t up_settings;

/* upstream_pool.c */
/* Take an idle connection for (b, ctx), or NULL. */
struct upconn	*upool_take(struct upstream_pool *, struct backend *b, SSL_CTX *ctx);
/* Keep u, whose exchange completed, for the next request; or close it. */
void		 upool_put(struct upconn *u);
/* u is leaving the pool (closing): unlink it. */
void		 upool_unlink(struct upconn *u);
/* An idle connection's fd became readable. */
void		 upool_on_idle_read(struct upconn *u);

#endif
