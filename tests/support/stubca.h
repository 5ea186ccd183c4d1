/*
 * stubca.h - a hostile ACME CA stub over plain HTTP (libevent evhttp), for
 * tests: its account endpoint answers a POST with a 302 to another address,
 * or (the /dir-429 directory) every newOrder is rate-limited for an hour; it
 * counts every request per path, so a test can show that the redirect
 * target never heard from the client, or how many orders were sent.
 *
 * Listens on 127.0.0.1:port and 127.0.0.2:port (the "other host"). Routes:
 *   GET  /dir       directory: newNonce /nonce, newAccount and newOrder
 *                   /redirect, all on 127.0.0.1
 *   GET  /dir-429   directory: newNonce /nonce, newAccount /acct, newOrder
 *                   /ratelimited
 *   POST /acct      201, a valid account
 *   any  /ratelimited 429 rateLimited with "Retry-After: 3600"
 *   HEAD|GET /nonce 200 with a Replay-Nonce
 *   any  /redirect  302, Location http://127.0.0.2:port/target
 *   any  /moved     301, the same Location
 *   any  /ok        200 "ok"
 *   any  /target    200 "target" (must stay at zero requests)
 *   GET  /count?P   the count for path P, as text (not counted itself)
 * Everything runs on the thread of base.
 */
#ifndef TLSGATE_STUBCA_H
#define TLSGATE_STUBCA_H

struct event_base;
struct stubca;

/* Port 0 picks a free one. NULL if the addresses cannot be bound. */
struct stubca	*stubca_new(struct event_base *base, int port);
int		 stubca_port(const struct stubca *);
/* Requests seen for path (without the query), or all of them for NULL. */
unsigned	 stubca_count(const struct stubca *, const char *path);
void		 stubca_free(struct stubca *);		/* NULL is a no-op */

#endif
