/*
 * hsess.h - the HTTP session of one client connection in HTTP mode.
 *
 * conn.c keeps the socket and the TLS; the session is what sits between the
 * TLS connection and the backends. conn.c feeds it decrypted bytes with
 * hsess_input() and sends what hsess_output() holds; the session parses
 * requests (HTTP/1.1 with llhttp, HTTP/2 with nghttp2, by ALPN), turns each
 * into a stream (hstream.h) and answers it from a backend or by itself.
 * When the session has something new to send or can take input again while
 * conn.c is not calling it (a backend answered), it calls the connection's
 * kick function from the event loop; the kick may close the connection and
 * so free the session, and is always the last thing the session does.
 *
 * Threads: a session belongs to the worker that owns its connection.
 */
#ifndef TLSGATE_HSESS_H
#define TLSGATE_HSESS_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct evbuffer;
struct hsess;
struct site;
struct view;
struct worker;

enum hsess_proto {
	HSESS_H1,		/* ALPN http/1.1, or none */
	HSESS_H2,		/* ALPN h2 */
	HSESS_PROTO__MAX
};

enum hsess_state {
	HSESS_OPEN,
	HSESS_CLOSING,		/* send what hsess_output() holds, then close */
	HSESS_ABORT,		/* close now */
	HSESS_STATE__MAX
};

/* What a session knows of its connection; copied by hsess_new(). */
struct hsess_conn {
	struct worker	*w;
	struct view	*view;		/* borrowed: the connection holds the ref */
	struct site	*site;		/* chosen by the handshake */
	int		 sni_matched;	/* the SNI named site (not the default) */
	const char	*sni;		/* the client's server name (the
					 * connection owns it) */
	const struct sockaddr_storage *peer;
	uint32_t	 conn_id;
	void		(*kick)(void *arg);
	void		*arg;
};

/* A session on a connection whose handshake chose proto. */
struct hsess	*hsess_new(enum hsess_proto proto, const struct hsess_conn *c);
/* Frees the session and every stream; backend connections mid-exchange
 * are closed. No kick follows. NULL is a no-op. */
void		 hsess_free(struct hsess *);
/*
 * n decrypted bytes from the client. Returns how many were taken (the rest
 * should be offered again after the next kick), or -1 when the connection
 * must close now (state is HSESS_ABORT).
 */
ssize_t		 hsess_input(struct hsess *, const uint8_t *p, size_t n);
/* Whether the session takes input now (back-pressure and state). */
int		 hsess_wants_input(const struct hsess *);
/* The client closed its sending side (or sent close_notify). */
void		 hsess_eof(struct hsess *);
/* Bytes for the client (filled on demand); conn.c drains what it sends,
 * then calls hsess_drained(). */
struct evbuffer	*hsess_output(struct hsess *);
void		 hsess_drained(struct hsess *);
enum hsess_state hsess_state(const struct hsess *);
/* Graceful stop: finish the exchanges in flight, take no new ones (HTTP/2
 * GOAWAY; HTTP/1.1 answers with Connection: close), then close. */
void		 hsess_shutdown(struct hsess *);
/* For the connection's log line: requests seen. */
unsigned	 hsess_requests(const struct hsess *);

#endif
