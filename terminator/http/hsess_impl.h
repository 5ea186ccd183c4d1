/*
 * hsess_impl.h - what the session, its two protocols (h1.c, h2.c) and the
 * middle (hproxy.c) share inside terminator/http. Not for conn.c.
 */
#ifndef TLSGATE_HSESS_IMPL_H
#define TLSGATE_HSESS_IMPL_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event_struct.h>

#include "hsess.h"
#include "hstream.h"

#define HSESS_MAGIC	0x68736573u	/* "hses" */
#define HSTREAM_MAGIC	0x6873746du	/* "hstm" */

/* Client output buffered before streams stop taking backend data. */
#define HSESS_OUT_HIGH	(256 * 1024)

/* Pending frontend notifications of a stream (hstream.pend). */
#define HPEND_HEAD	0x01
#define HPEND_DATA	0x02
#define HPEND_ABORT	0x04
#define HPEND_RELEASE	0x08	/* the middle lets the backend connection go */

/* One protocol's side of a session. */
struct hproto {
	const char	*name;
	int		(*init)(struct hsess *);
	ssize_t		(*input)(struct hsess *, const uint8_t *p, size_t n);
	int		(*wants_input)(const struct hsess *);
	void		(*eof)(struct hsess *);
	void		(*fill)(struct hsess *);	/* queue output into s->out */
	void		(*drained)(struct hsess *);
	void		(*shutdown)(struct hsess *);
	void		(*on_timer)(struct hsess *);
	void		(*free)(struct hsess *);
	struct hfront	 fe;
};
extern const struct hproto h1_proto, h2_proto;

struct hsess {
	uint32_t		 magic;
	enum hsess_proto	 proto;
	enum hsess_state	 state;
	const struct hproto	*p;
	void			*ps;		/* the protocol's state */
	struct hsess_conn	 c;
	struct event_base	*base;
	struct evbuffer		*out;		/* NULL after hsess_out_release() */
	struct hstream		*streams, *streams_tail;
	unsigned		 nstreams;
	unsigned		 nreq;		/* requests seen */
	int			 trusted;	/* the peer is a trusted proxy */
	int			 in_defer;	/* running deferred hooks */
	int			 defer_on;	/* defer_ev is active, not yet run */
	int			 held;		/* hsess_hold(): hooks wait for unhold */
	int			 held_pending;	/* and some are waiting */
	char			 peer_ip[INET6_ADDRSTRLEN];
	size_t			 peer_ip_len;
	char			 peer_port[8];
	struct event		 defer_ev;	/* runs pending hooks, then kicks */
	struct event		 timer;		/* the protocol's timeouts */
	double			 t_due;		/* the protocol's deadline; 0: none */
	double			 t_armed;	/* when timer fires; 0: not pending */
};

/* Let st's backend connection go (back to the pool when it can). */
void	hproxy_release(struct hstream *st);
/* Run st's frontend hooks (pend bits) from the loop, then kick the
 * connection. */
void	hsess_defer(struct hsess *s, struct hstream *st, unsigned pend);
/*
 * Around an event callback of the backend side (upstream.c, through
 * hproxy_hold()): hooks deferred meanwhile run when it ends, in
 * hsess_unhold(), rather than a loop turn later. Only for an HTTP/1.1
 * session (one exchange at a time: nothing to batch); NULL for others.
 * hsess_unhold() must be the caller's last use of anything the hooks or
 * the kick may free (the stream, the backend connection, the session).
 */
struct hsess *hsess_hold(struct hsess *s);
void	hsess_unhold(struct hsess *s);
/* Kick the connection from the loop (output queued, input wanted). */
void	hsess_kick_later(struct hsess *s);
/* Arm the session timer for secs from now (0 disarms). Lazy: the event is
 * rescheduled only when it would fire too late (hsess.c). */
void	hsess_timer(struct hsess *s, double secs);
/* An idle session frees its empty output buffer; hsess_output() makes a
 * new one. Only for a protocol that touches s->out through hsess_output()
 * alone while it has nothing to send (h2.c's dormancy). */
void	hsess_out_release(struct hsess *s);
/* The session's cached clock, monotonic seconds. */
double	hsess_now(const struct hsess *s);

#endif
