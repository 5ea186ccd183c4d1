/*
 * config_routes.c - a site's `routes` and `sticky`, and the health keys
 * that came with routes (config_schema_routes.inc).
 *
 * The `routes` row only checks the shape while the site's object is walked;
 * the routes themselves are walked once the whole site is (from
 * cfg_walk_site), so that each route can start from the site's HTTP
 * settings whatever the order of the keys. A route is walked with the
 * site's own rows (same checks, same messages), restricted to the keys a
 * route may have: the pool's keys and the per-exchange HTTP settings.
 * Connection-wide keys (names, certificates, mode, http.h2,
 * http.max_body_size...) stay the site's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_impl.h"
#include "config_schema.h"
#include "xalloc.h"

#define STICKY_DEFAULT_COOKIE	"tlsgate_srv"

/* Top-level keys of a route object, besides path and methods. */
static const char *const route_keys[] = { "backends", "balance", "retries",
    "health", "backend_tls", "sticky", "hsts", "http", NULL };
/* Its http.* keys. */
static const char *const route_http_keys[] = { "forwarded", "backend_timeout",
    "backend_max_idle", "backend_idle_timeout", "tunnel_idle_timeout",
    "backend_protocol", NULL };

static int
in_list(const char *const *l, const char *k)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, k) == 0)
			return 1;
	return 0;
}

/* RFC 9110 5.6.2 tchar: what a method or a cookie name may be made of. */
static int
is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s) != NULL))
			return 0;
	return 1;
}

const char *
cfg_check_cookie_name(const char *s)
{
	return is_token(s) && strlen(s) <= 64 ? NULL : "expected a cookie name "
	    "(1-64 letters, digits and !#$%&'*+-.^_`|~)";
}

const char *
cfg_check_health_host(const char *s)
{
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '/')
			return "expected a host name, optionally with :port";
	return NULL;
}

void
cfg_health_status(struct cfg_walk *w, const struct cfg_key *k, const char *path,
    json_t *v, void *base)
{
	struct site_cfg	*s = base;
	const char	*t = json_string_value(v);
	int		 a = 0, b = 0, n = 0, ok = 0;

	(void)k;
	if (t != NULL && sscanf(t, "%3d%n", &a, &n) == 1 && t[n] == '\0') {
		b = a;
		ok = 1;
	} else if (t != NULL && sscanf(t, "%3d-%3d%n", &a, &b, &n) == 2 &&
	    t[n] == '\0')
		ok = 1;
	if (!ok || a < 100 || b > 599 || a > b) {
		cfg_err(w, path, "expected a status \"200\" or a range \"200-399\" "
		    "within 100-599");
		return;
	}
	s->health.status_min = a;
	s->health.status_max = b;
}

void
cfg_site_routes(struct cfg_walk *w, const struct cfg_key *k, const char *path,
    json_t *v, void *base)
{
	(void)k;
	(void)base;
	/* The routes are walked with the rest of the site: cfg_site_routes_walk. */
	if (!json_is_array(v))
		cfg_err(w, path, "expected an array of route objects");
}

static const char *
check_route_path(const char *s)
{
	if (s[0] != '/')
		return "expected a path starting with /";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
			return "a route path has no space, control character, ? or #";
	return NULL;
}

/* What cfg_walk_site does after the walk, for a route's pool keys. */
/* Any sticky key turns sticky sessions on; the cookie's name has a default. */
static void
sticky_default(json_t *js, struct site_cfg *s)
{
	if (json_is_object(json_object_get(js, "sticky")) && s->sticky.cookie == NULL &&
	    json_object_get(json_object_get(js, "sticky"), "cookie") == NULL)
		s->sticky.cookie = xstrdup(STICKY_DEFAULT_COOKIE);
}

static void
route_methods(struct cfg_walk *w, const char *path, json_t *v, struct route_cfg *r)
{
	json_t	*e;
	size_t	 i;
	char	 sub[800];

	if (!json_is_array(v) || json_array_size(v) == 0) {
		cfg_err(w, path, "expected a non-empty array of methods, e.g. "
		    "[\"GET\", \"HEAD\"]");
		return;
	}
	r->methods = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, e) {
		const char *m = json_string_value(e);

		snprintf(sub, sizeof(sub), "%s/%zu", path, i);
		if (m == NULL || !is_token(m)) {
			cfg_err(w, sub, "expected a method name such as \"GET\" "
			    "(methods are case-sensitive)");
			continue;
		}
		r->methods[r->nmethods++] = xstrdup(m);
	}
}

/* One route object at path into r, starting from the site's settings. */
static void
route_walk(struct cfg_walk *w, const char *path, json_t *js,
    const struct site_cfg *site, struct route_cfg *r)
{
	json_t		*f, *v, *hv;
	const char	*k, *hk, *why;
	char		 sub[700], sub2[800], full[128];

	cfg_defaults(w, cfg_site_keys, &r->s);
	r->s.mode = site->mode;
	r->s.h2 = site->h2;
	r->s.max_body_size = site->max_body_size;
	r->s.forwarded = site->forwarded;
	r->s.backend_max_idle = site->backend_max_idle;
	r->s.backend_idle_timeout = site->backend_idle_timeout;
	r->s.backend_timeout = site->backend_timeout;
	r->s.tunnel_idle_timeout = site->tunnel_idle_timeout;
	r->s.backend_proto = site->backend_proto;
	r->s.hsts_max_age = site->hsts_max_age;
	r->s.hsts_subdomains = site->hsts_subdomains;
	r->s.hsts_preload = site->hsts_preload;
	if (!json_is_object(js)) {
		cfg_err(w, path, "expected a route object");
		return;
	}
	f = json_object();
	json_object_foreach(js, k, v) {
		snprintf(sub, sizeof(sub), "%s/%s", path, k);
		if (strcmp(k, "path") == 0) {
			const char *ps = json_string_value(v);

			if (ps == NULL)
				cfg_err(w, sub, "expected a path starting with /");
			else if ((why = check_route_path(ps)) != NULL)
				cfg_err(w, sub, "%s (got \"%s\")", why, ps);
			else
				r->path = xstrdup(ps);
		} else if (strcmp(k, "methods") == 0)
			route_methods(w, sub, v, r);
		else if (!in_list(route_keys, k))
			cfg_err(w, sub, "not a route key: a route has path, methods, "
			    "backends, balance, retries, health, backend_tls, "
			    "sticky, hsts and some http keys");
		else if (strcmp(k, "http") == 0 && json_is_object(v)) {
			json_t *hf = json_object();

			json_object_foreach(v, hk, hv) {
				snprintf(sub2, sizeof(sub2), "%s/%s", sub, hk);
				if (in_list(route_http_keys, hk))
					json_object_set(hf, hk, hv);
				else if (snprintf(full, sizeof(full), "http.%s",
				    hk) > 0 && cfg_key_find(cfg_site_keys, full) != NULL)
					cfg_err(w, sub2, "not per route: it is the "
					    "site's (set it on the site)");
				else
					cfg_err(w, sub2, "unknown key");
			}
			json_object_set_new(f, k, hf);
		} else
			json_object_set(f, k, v);
	}
	cfg_walk_object(w, cfg_site_keys, "", path, f, &r->s);
	json_decref(f);
	if (json_object_get(js, "path") == NULL)
		cfg_err(w, path, "missing key \"path\"");
	if (json_object_get(js, "backends") == NULL)
		cfg_err(w, path, "missing key \"backends\"");
	cfg_pool_finish(w, path, js, &r->s);
	sticky_default(js, &r->s);
}

void
cfg_site_routes_walk(struct cfg_walk *w, const char *path, json_t *js,
    struct site_cfg *s)
{
	json_t	*rs = json_object_get(js, "routes"), *e;
	size_t	 i;
	char	 sub[640], ref[640];

	sticky_default(js, s);
	if (s->mode != SITE_MODE_HTTP) {
		static const char *const http_only[] = { "routes", "sticky", NULL };

		for (i = 0; http_only[i] != NULL; i++)
			if (json_object_get(js, http_only[i]) != NULL) {
				snprintf(sub, sizeof(sub), "%s/%s", path, http_only[i]);
				cfg_err(w, sub, "only for mode \"http\", and this "
				    "site's mode is \"tcp\"");
			}
		return;
	}
	if (!json_is_array(rs) || json_array_size(rs) == 0)
		return;		/* absent, or reported by cfg_site_routes */
	s->routes = xcalloc(json_array_size(rs), sizeof(*s->routes));
	json_array_foreach(rs, i, e) {
		struct route_cfg *r = &s->routes[s->nroutes++];

		snprintf(sub, sizeof(sub), "%s/routes/%zu", path, i);
		route_walk(w, sub, e, s, r);
		if (r->path == NULL || r->nmethods > 0)
			continue;
		/* The same path twice without methods: the second never matches. */
		for (size_t j = 0; j + 1 < s->nroutes; j++)
			if (s->routes[j].path != NULL && s->routes[j].nmethods == 0 &&
			    strcmp(s->routes[j].path, r->path) == 0) {
				snprintf(sub, sizeof(sub), "%s/routes/%zu/path", path, i);
				snprintf(ref, sizeof(ref), "%s/routes/%zu/path", path, j);
				cfg_err_ref(w, sub, ref, "the same path as an earlier "
				    "route without methods, which takes every request "
				    "this one would; remove one or give methods,");
				break;
			}
	}
}

void
cfg_routes_free(struct site_cfg *s)
{
	for (size_t i = 0; i < s->nroutes; i++) {
		struct route_cfg *r = &s->routes[i];

		free(r->path);
		cfg_free_strs(r->methods, r->nmethods);
		cfg_site_free(&r->s);
	}
	free(s->routes);
	s->routes = NULL;
	s->nroutes = 0;
}
