/*
 * challenge.h - ACME challenges in flight, shared between the ACME thread
 * (which sets and clears them) and the terminator (which answers them):
 * HTTP-01 tokens for the port-80 listener, TLS-ALPN-01 certificates for the
 * HTTPS workers. This is the terminator's local cache: the ACME client
 * publishes challenges in the store, and challenge_follow() keeps this cache
 * in step with the store: those in flight when it is called, then the
 * store's feed. Every function is thread-safe.
 */
#ifndef TLSGATE_CHALLENGE_H
#define TLSGATE_CHALLENGE_H

struct certfile;
struct errbuf;
struct store;

/*
 * Answer the challenges published in s (those in flight, then its change
 * feed), joining its members (store.h); unfollow stops. Call it before the
 * listeners are bound, and challenge_listening(s) once they all are: from
 * then on each challenge in the cache is acknowledged in the store (a node
 * that orders asks the CA once every member has acknowledged), those
 * already there at once.
 */
void		 challenge_follow(struct store *s);
void		 challenge_listening(struct store *s);
void		 challenge_unfollow(struct store *s);

/* HTTP-01: /.well-known/acme-challenge/<token> answers key_auth. */
void		 challenge_http_set(const char *token, const char *key_auth);
void		 challenge_http_clear(const char *token);
/* The key authorization for token (new string), or NULL. */
char		*challenge_http_get(const char *token);

/*
 * TLS-ALPN-01 (RFC 8737): a self-signed certificate for name carrying the
 * critical acmeIdentifier extension with SHA-256(key_auth). A reverse-DNS
 * name ("1.0.0.127.in-addr.arpa", ip6.arpa) stands for an IP identifier
 * (RFC 8738 section 6): its certificate has that address as its only SAN
 * and no CN. Looked up by the SNI of the CA's handshake. 0 or -1.
 */
int		 challenge_tlsalpn_set(const char *name, const char *key_auth,
		    struct errbuf *eb);
void		 challenge_tlsalpn_clear(const char *name);
/* The certificate for name (new reference), or NULL. */
struct certfile	*challenge_tlsalpn_get(const char *name);

#endif
