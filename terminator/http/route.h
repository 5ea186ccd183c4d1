/*
 * route.h - a site's routes: path-prefix (and optional method) rules that
 * send matching requests to a pool of their own (config.h's route_cfg).
 *
 * A route path P matches a request path Q (the target up to any '?') when
 * Q starts with P on a segment boundary: P ends with '/', or Q is P, or Q
 * continues with '/'. So "/api" and "/api/" both match "/api/users"; "/api"
 * matches "/api" too; neither matches "/apiary". Bytes are compared as sent
 * (no percent-decoding, case-sensitive): routes choose a pool, they are not
 * an access control. The longest matching path wins; among equal paths, the
 * first in config order whose methods match (no methods: any).
 *
 * A table is built with its site by the main thread, is immutable, and is
 * reference-counted like the site's pool; any thread may match and take or
 * drop references.
 */
#ifndef TLSGATE_ROUTE_H
#define TLSGATE_ROUTE_H

#include <stddef.h>

#include "sites.h"

struct pool;

struct route {
	char		 *path;
	size_t		  plen;
	char		**methods;	/* NULL: any */
	size_t		  nmethods;
	struct pool	 *pool;		/* its own backends and health */
	struct site_http  http;		/* per-exchange settings; mode as the site */
};

struct route_table;

/*
 * The routes of sc (sc->nroutes > 0), each with a pool named "LABEL PATH"
 * in logs and in the backend registry (so a route's backends have health
 * state of their own). NULL with eb set.
 */
struct route_table	*route_table_new(const char *label, const struct site_cfg *sc,
			    struct errbuf *eb);
struct route_table	*route_table_ref(struct route_table *);	/* NULL-safe */
void			 route_table_unref(struct route_table *);	/* NULL-safe */
/* The pools of t, for health checks: the i-th, i < route_table_n(t). */
size_t			 route_table_n(const struct route_table *);
const struct route	*route_table_get(const struct route_table *, size_t i);

/*
 * The route for a request (target "/path?query", method as received), or
 * NULL when none matches (or t is NULL): the site's own pool then serves it.
 * Borrowed from t.
 */
const struct route	*route_match(const struct route_table *t, const char *target,
			    const char *method);
/* Whether prefix (n bytes) matches path (plen bytes) as described above. */
int			 route_path_match(const char *prefix, size_t n,
			    const char *path, size_t plen);

#endif
