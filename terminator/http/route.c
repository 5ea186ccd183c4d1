/*
 * route.c - a site's route table (route.h): the routes sorted by path
 * length, longest first (config order among equals), so the first route
 * that matches is the answer. Matching is a walk of that list; sites have a
 * handful of routes.
 */
#include "route.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "pool.h"
#include "sticky.h"
#include "xalloc.h"

struct route_table {
	atomic_int	 refs;
	struct route	*r;
	size_t		 n;
};

int
route_path_match(const char *prefix, size_t n, const char *path, size_t plen)
{
	if (plen < n || memcmp(prefix, path, n) != 0)
		return 0;
	return plen == n || prefix[n - 1] == '/' || path[n] == '/';
}

static void
route_clear(struct route *r)
{
	free(r->path);
	for (size_t i = 0; i < r->nmethods; i++)
		free(r->methods[i]);
	free(r->methods);
	pool_unref(r->pool);
	free(r->http.hsts);
}

struct route_table *
route_table_new(const char *label, const struct site_cfg *sc, struct errbuf *eb)
{
	struct route_table	*t = xcalloc(1, sizeof(*t));

	atomic_store(&t->refs, 1);
	t->r = xcalloc(sc->nroutes, sizeof(*t->r));
	for (size_t i = 0; i < sc->nroutes; i++) {
		const struct route_cfg	*rc = &sc->routes[i];
		struct route		*r;
		char			*name = xasprintf("%s %s", label, rc->path);
		size_t			 j, plen = strlen(rc->path);

		/* Insertion sort: longer paths first, equal ones in config order. */
		for (j = t->n; j > 0 && t->r[j - 1].plen < plen; j--)
			t->r[j] = t->r[j - 1];
		r = &t->r[j];
		memset(r, 0, sizeof(*r));
		t->n++;
		r->path = xstrdup(rc->path);
		r->plen = plen;
		if (rc->nmethods > 0) {
			r->methods = xcalloc(rc->nmethods, sizeof(char *));
			for (size_t k = 0; k < rc->nmethods; k++)
				r->methods[r->nmethods++] = xstrdup(rc->methods[k]);
		}
		site_http_init(&r->http, &rc->s);
		r->pool = pool_new(name, &rc->s, eb);
		if (r->pool != NULL && rc->s.sticky.cookie != NULL &&
		    (r->pool->sticky = sticky_new(&rc->s.sticky, r->pool,
		    rc->path, eb)) == NULL) {
			pool_unref(r->pool);
			r->pool = NULL;
		}
		free(name);
		if (r->pool == NULL) {
			errbuf_prefix(eb, "route %s", rc->path);
			route_table_unref(t);
			return NULL;
		}
	}
	return t;
}

struct route_table *
route_table_ref(struct route_table *t)
{
	if (t != NULL)
		atomic_fetch_add(&t->refs, 1);
	return t;
}

void
route_table_unref(struct route_table *t)
{
	if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	for (size_t i = 0; i < t->n; i++)
		route_clear(&t->r[i]);
	free(t->r);
	free(t);
}

size_t
route_table_n(const struct route_table *t)
{
	return t != NULL ? t->n : 0;
}

const struct route *
route_table_get(const struct route_table *t, size_t i)
{
	return &t->r[i];
}

static int
method_ok(const struct route *r, const char *method)
{
	if (r->nmethods == 0)
		return 1;
	for (size_t i = 0; i < r->nmethods; i++)
		if (strcmp(r->methods[i], method) == 0)
			return 1;
	return 0;
}

const struct route *
route_match(const struct route_table *t, const char *target, const char *method)
{
	size_t plen;

	if (t == NULL || target == NULL || target[0] != '/')
		return NULL;
	plen = strcspn(target, "?#");
	for (size_t i = 0; i < t->n; i++) {
		const struct route *r = &t->r[i];

		if (route_path_match(r->path, r->plen, target, plen) &&
		    method_ok(r, method != NULL ? method : ""))
			return r;
	}
	return NULL;
}
