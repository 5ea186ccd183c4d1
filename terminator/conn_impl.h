/*
 * conn_impl.h - the connection's insides, shared by conn.c (TLS, the TCP
 * relay) and conn_http.c (HTTP mode's side of the pump). Worker thread only.
 */
#ifndef TLSGATE_CONN_IMPL_H
#define TLSGATE_CONN_IMPL_H

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event_struct.h>
#include <openssl/base.h>

#include "log.h"
#include "sockbio.h"
#include "tls.h"

struct backend;
struct hsess;
struct site_stats;
struct worker;

#define CONN_MAGIC	0x636f6e6eu	/* "conn" */
#define CONN_BUFSZ	16384
#define CONN_TICKET_DELAY 0.1	/* seconds corked tickets may wait, at most */

enum conn_state {
	CONN_HANDSHAKE,		/* server TLS accept; site chosen by SNI */
	CONN_CONNECTING,	/* backend connect in flight */
	CONN_BACKEND_TLS,	/* re-encrypting: TLS handshake with the backend */
	CONN_PROXYING,		/* both directions flowing */
	CONN_HTTP,		/* HTTP mode: the session (hsess.h) has it */
	CONN__MAX
};

enum conn_reason {
	CR_DONE,		/* both sides finished normally */
	CR_CLIENT_CLOSED,
	CR_BACKEND_CLOSED,
	CR_HANDSHAKE_FAILED,
	CR_HANDSHAKE_TIMEOUT,
	CR_NO_SITE,
	CR_CONNECT_FAILED,
	CR_CONNECT_TIMEOUT,
	CR_IDLE_TIMEOUT,
	CR_CLIENT_ERROR,
	CR_BACKEND_ERROR,
	CR_SHUTDOWN,
	CR_ACME_CHALLENGE,
	CR_NO_BACKEND,
	CR_HTTP_ABORT,		/* HTTP mode: the session gave up on the client */
	CR__MAX
};

extern const char *const conn_reason_names[CR__MAX];

struct buf {
	char		*data;
	uint32_t	 off, len;
};

#define CONN_MAX_TRIED	16	/* backends one connection may try */

struct conn {
	uint32_t		 magic;
	uint32_t		 id;
	struct worker		*w;
	struct conn		*prev, *next;
	enum conn_state		 state;
	int			 cfd, bfd;
	SSL			*ssl;
	/* Read-ahead BIOs of the client and the backend TLS. brb.drained also
	 * serves the plain backend's recv: the backend socket is known empty. */
	struct sockbio_buf	 crb, brb;
	struct tls_state	 ts;
	struct event		 cev, bev, tev;
	short			 cev_on, bev_on;	/* armed interests */
	/* What each SSL operation waits for: 0, EV_READ or EV_WRITE. */
	short			 hs_want, rd_want, wr_want;
	SSL			*bssl;		/* backend TLS, when re-encrypting */
	/* What backend reads/writes wait for (0: not blocked; EV_READ/EV_WRITE). */
	short			 br_want, bw_want, bhs_want;
	unsigned		 c_eof:1, b_eof:1, b_shut:1, closing:1;
	unsigned		 probed:1;	/* connect checked without waiting */
	struct buf		 c2b, b2c;
	struct backend		*bk;		/* the backend connected to */
	struct backend		**tried;	/* CONN_MAX_TRIED, made at the
						 * first pick (TCP mode only) */
	size_t			 ntried;
	struct sockaddr_storage	 peer;
	struct timespec		 t_start;
	time_t			 last_io;
	uint64_t		 bytes_in, bytes_out;
	struct site_stats	*st;		/* set once the handshake is done */
	char			*err;		/* detail for the close line, or
						 * NULL: conn_errf() sets it */
	struct hsess		*hs;		/* HTTP mode */
	unsigned		 http_retired:1;	/* told to finish (reload) */
};


/* The one teardown path (logs, frees); callers return right after. */
void	conn_close(struct conn *c, enum conn_reason why);
/* Arm exactly the fd events the current waits need. */
void	conn_update_events(struct conn *c);
/* Set c->err (the close line's detail), replacing what was there. */
void	conn_errf(struct conn *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Drain the TLS library's error queue into c->err (first error wins). */
void	conn_ssl_err(struct conn *c, const char *what);
/* A CONN_BUFSZ buffer (from the thread's bufcache); conn_buf_free gives it
 * back. */
char	*conn_buf_get(void);
void	conn_buf_free(struct buf *b);

/* conn.c's helpers for conn_backend.c. */
time_t	conn_now_sec(const struct conn *c);	/* the loop's cached time */
void	conn_timer_arm(struct conn *c, double secs);
/* Make all the progress possible, then re-arm the events. */
void	conn_pump(struct conn *c);
void	conn_wants_clear(short what, short *a, short *b, short *c);

/* The backend side in TCP mode (conn_backend.c). Each returns -1 if the
 * connection was closed. */
int	conn_connect_backend(struct conn *c);	/* -1: no backend left (not closed) */
int	conn_backend_retry(struct conn *c);	/* -1: no backend left (not closed) */
int	conn_backend_handshake(struct conn *c);
int	conn_connect_probe(struct conn *c);
void	conn_on_backend(evutil_socket_t fd, short what, void *arg);

/* HTTP mode (conn_http.c): after the handshake, and each pump. -1 if the
 * connection was closed. */
int	conn_http_start(struct conn *c);
int	conn_http_pump(struct conn *c);
/* The client fd events HTTP mode waits for. */
short	conn_http_events(const struct conn *c);

#endif
