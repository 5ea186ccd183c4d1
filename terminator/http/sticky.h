/*
 * sticky.h - cookie-based sticky sessions for one pool.
 *
 * The cookie's value is opaque: base64url of a version, an expiry (0: none)
 * and an id of the backend (a hash of its address as configured), followed
 * by a 128-bit HMAC-SHA256 tag over them, the cookie's name and the pool's
 * name. A client cannot name a backend of its choice, nor replay a cookie
 * of one pool (a route, another site) on another; an expired, tampered or
 * unknown cookie is ignored, never obeyed.
 *
 * The key is one per store, shared by every process and node that uses it
 * (restarts keep it): 32 random bytes in hex, made when missing (under the
 * store's "_sticky" lock). With the file store, or with no store (no site
 * uses ACME), that is <state_dir>/sticky.key, mode 0600; with etcd, a
 * sealed key under the cluster's prefix.
 *
 * Threads: sticky_key_load, sticky_new and sticky_free on the main thread
 * (a sticky is owned by its pool, pool.h); sticky_find and sticky_set_cookie
 * on any worker.
 */
#ifndef TLSGATE_STICKY_H
#define TLSGATE_STICKY_H

#include <stddef.h>

#include "config.h"

struct backend;
struct errbuf;
struct hfields;
struct pool;
struct sticky;

/* Read, or make, the key in st (NULL: <state_dir>/sticky.key) and use it
 * from now on; without a store, a second call for the same state_dir does
 * nothing. 0, or -1 with eb set. */
struct store;
int		 sticky_key_load(const char *state_dir, struct store *st,
		    struct errbuf *eb);
/* Sticky sessions for p (which must outlive it) by cfg's cookie, sent with
 * Path=path. The key must be loaded. NULL with eb set. */
struct sticky	*sticky_new(const struct sticky_cfg *cfg, struct pool *p,
		    const char *path, struct errbuf *eb);
void		 sticky_free(struct sticky *);		/* NULL is a no-op */
/*
 * The backend that the first valid cookie among h's Cookie fields names, if
 * it is in the pool and usable now (pool_usable); else NULL, and the caller
 * balances as usual.
 */
struct backend	*sticky_find(const struct sticky *, const struct hfields *h);
/* Add a Set-Cookie field to h that names b. */
void		 sticky_set_cookie(const struct sticky *, const struct backend *b,
		    struct hfields *h);

#endif
