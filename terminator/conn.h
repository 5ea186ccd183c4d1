/*
 * conn.h - one client connection: TLS on the client side, plain TCP to the
 * site's backend, and the bytes between them.
 *
 * Owned by its worker and touched only on that worker's thread. A connection
 * frees itself through conn_close(); nothing else frees it.
 */
#ifndef TLSGATE_CONN_H
#define TLSGATE_CONN_H

#include <sys/socket.h>

struct worker;

/*
 * Take an accepted, non-blocking client fd and start its TLS handshake. The
 * caller has counted it in w->sh->nconns and climit_acquire(sa); the
 * connection gives both back when it closes (or at once if it cannot start).
 */
void	conn_accept(struct worker *w, int fd, const struct sockaddr *sa,
	    socklen_t salen);
/* Close the connections of w to backends removed more than drain seconds
 * ago. */
void	conn_close_removed(struct worker *w, double drain);
/* Graceful stop of w's HTTP-mode connections: finish the requests in
 * flight, take no new ones. */
void	conn_stop_http(struct worker *w);
/* After a reload: HTTP-mode connections still on an older configuration
 * (view config_gen other than gen) finish their requests in flight and
 * close (HTTP/2 GOAWAY, HTTP/1.1 Connection: close), so that clients come
 * back to the new one. Worker thread. */
void	conn_http_retire(struct worker *w, unsigned gen);
/* Close every connection of w now (drain timeout reached). */
void	conn_close_all(struct worker *w);

#endif
