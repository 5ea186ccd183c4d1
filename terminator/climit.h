/*
 * climit.h - per-client limits, shared by every worker: how many connections
 * one client has open, and a token bucket for its new handshakes.
 *
 * A client is an IPv4 address, or an IPv6 /64 (one subscriber usually gets a
 * whole /64, so counting single IPv6 addresses would limit nothing). The
 * table is process-wide, sharded, and each shard has its own mutex: any
 * worker thread may call any function here.
 */
#ifndef TLSGATE_CLIMIT_H
#define TLSGATE_CLIMIT_H

#include <sys/socket.h>

enum climit_verdict {
	CLIMIT_OK,
	CLIMIT_CONNS,		/* the client has max_conns open already */
	CLIMIT_RATE,		/* the client's handshake bucket is empty */
	CLIMIT__MAX
};

/*
 * Set the limits (0 turns each off); burst is the bucket size, at least 1.
 * Takes effect for the next acquire; counts of open connections are kept.
 */
void	climit_configure(unsigned max_conns, double rate, double burst);
/*
 * Account one new connection from sa. On CLIMIT_OK the caller owns one count
 * and must give it back with climit_release(sa) when the connection closes;
 * on a refusal nothing is held.
 */
enum climit_verdict climit_acquire(const struct sockaddr *sa);
void	climit_release(const struct sockaddr *sa);
/* Free the entries of one shard (round robin) that hold nothing: no open
 * connection and a full bucket. Cheap; workers call it from their tick. */
void	climit_sweep(void);
/* Entries in the table now (for tests and metrics). */
unsigned long climit_entries(void);

#endif
