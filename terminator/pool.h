/*
 * pool.h - a site's backend pool: weighted balancing, retries, health.
 *
 * Backends live in a process-wide registry keyed by (site, address) and are
 * never freed, so their health state and connection counts survive reloads,
 * and a connection can hold a backend pointer however long it lives. A pool
 * is the per-view list of a site's backends with its policy. Workers pick
 * and count with atomics; smooth weighted round robin takes the pool's mutex.
 */
#ifndef TLSGATE_POOL_H
#define TLSGATE_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/base.h>

#include "config.h"

struct errbuf;
struct sticky;

enum lb_kind {
	LB_ROUND_ROBIN,		/* smooth weighted round robin */
	LB_LEAST_CONN,		/* fewest open connections per weight */
	LB_SOURCE_HASH,		/* weighted rendezvous hashing of the client IP */
	LB_P2C,			/* power of two random choices, by open connections */
	LB__MAX
};
extern const char *const lb_kind_names[LB__MAX];

struct backend {
	struct backend		*next;		/* registry */
	char			*site, *str;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	uint64_t		 hash;		/* of the address, for rendezvous */
	atomic_int		 up;		/* 1 healthy, 0 down */
	atomic_int		 active;	/* open connections (HTTP: busy ones) */
	/* HTTP mode's keep-alive connections (upstream.h), all workers. */
	atomic_int		 conns_idle, conns_busy;
	atomic_ulong		 reuses;	/* requests sent on a reused connection */
	atomic_ulong		 total, failures;
	atomic_int		 passive_fails;	/* consecutive connect failures */
	atomic_long		 down_until;	/* pools without checks: retry after */
	atomic_long		 removed_at;	/* dropped by a reload at (ms), or 0 */
	pthread_mutex_t		 sess_mtx;
	SSL_SESSION		*session;	/* re-encryption: last session, to resume */
	int			 rise_cnt, fall_cnt;	/* health checker's */
};

struct pool {
	atomic_int		  refs;
	int			  checked;	/* active health checks run */
	char			*site;
	struct backend		**b;
	int			 *weight;
	int			 *cur;		/* smooth WRR state */
	size_t			  n;
	enum lb_kind		  lb;
	int			  retries;	/* extra backends to try */
	int			  fall;		/* passive: failures to mark down */
	int			  proxy_protocol;	/* 0, 1 or 2 */
	struct health_cfg	  hc;		/* path owned */
	SSL_CTX			 *tls_ctx;	/* re-encryption, or NULL */
	char			 *tls_name;	/* SNI and name to verify */
	int			  tls_verify;
	struct sticky		 *sticky;	/* cookie sessions (http/sticky.h), or NULL */
	int			  h2;		/* HTTP/2 to the backends (http/h2up.h) */
	pthread_mutex_t		  mtx;
};

/*
 * A pool for site from its config (backends found or made in the registry),
 * with its client TLS context when re-encrypting. NULL with eb set.
 */
struct pool	*pool_new(const char *site, const struct site_cfg *sc,
		    struct errbuf *eb);
struct pool	*pool_ref(struct pool *);
void		 pool_unref(struct pool *);		/* NULL is a no-op */

/*
 * Choose a healthy backend not in tried[0..ntried) for a client at src.
 * NULL if none is left (all down or tried).
 */
struct backend	*pool_pick(struct pool *, const struct sockaddr *src,
		    struct backend *const *tried, size_t ntried);
/* Whether p->b[i] may take a request now (up, or its hold time is over). */
int		 pool_usable(struct pool *, size_t i);
/*
 * After a reload: backends of old that new no longer has are draining from
 * now (no new connections: they are not in new's pools); ones that came
 * back are not. Thread-safe.
 */
void		 pool_mark_removed(struct pool *const *old, size_t nold,
		    struct pool *const *new, size_t nnew);
/* Prepare a backend TLS connection to b: resume its last session if any. */
void		 pool_tls_prepare(SSL *ssl, struct backend *b);

/*
 * Backend TLS (pool_tls.c), one way for the TCP relay and HTTP mode's
 * HTTP/1.1 and HTTP/2 upstreams. Worker threads.
 * pool_tls_new: a client SSL over fd (reads go through rb) to b, a backend
 * of p, with ctx (p->tls_ctx or a route's): p's SNI name and name check,
 * b's last session offered. NULL on failure: pool_tls_error() says why.
 * pool_tls_handshake: one step; 1 done, 0 blocked (*want: EV_READ or
 * EV_WRITE), -1 failed with why in e: "certificate verify failed: ..." when
 * the certificate or its name did not verify (callers fail closed).
 * pool_tls_error: why the last TLS call failed (the error queue's reason,
 * else errno's, else "unexpected EOF") into e, which it returns.
 * Both leave the error queue empty.
 */
struct sockbio_buf;
SSL		*pool_tls_new(const struct pool *p, SSL_CTX *ctx, struct backend *b,
		    int fd, struct sockbio_buf *rb);
int		 pool_tls_handshake(SSL *ssl, short *want, char *e, size_t elen);
char		*pool_tls_error(char *e, size_t elen);
/* A connect to b failed / worked: passive health. */
void		 pool_connect_result(struct pool *, struct backend *b, int ok);

#endif
