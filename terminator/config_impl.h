/*
 * config_impl.h - what the config_*.c files share, and nothing else uses:
 * the walk state with its deferred errors, a string hash map, and the small
 * helpers of the JSON walker and the flag translator. Single-threaded: one
 * load runs on one thread at a time, with its own walk.
 */
#ifndef TLSGATE_CONFIG_IMPL_H
#define TLSGATE_CONFIG_IMPL_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"

/* A string-keyed open-addressing hash map; keys are borrowed. */
struct cfg_map_ent {
	const char	*key;		/* NULL: empty slot */
	size_t		 val;		/* the caller's */
	size_t		 count;		/* the caller's */
};
struct cfg_map {
	struct cfg_map_ent	*tab;
	size_t			 mask, n;
};
/* The entry for key; with create, a new zeroed one if absent (else NULL). */
struct cfg_map_ent	*cfg_map_get(struct cfg_map *, const char *key, int create);
void			 cfg_map_free(struct cfg_map *);

/* An error waiting for its position: JSON paths ("/sites/1/names/0"). */
struct cfg_err {
	char	*path;
	char	*msg;
	char	*ref;		/* a second path the message points at, or NULL */
};

struct cfg_walk {
	const char		*file;		/* for messages */
	const char		*text;		/* the JSON text, NULL when from flags */
	size_t			 len;
	char			*dir;		/* for relative paths, or NULL */
	struct config_errors	*errs;
	struct cfg_err		*pend;
	size_t			 npend, cappend;
	struct cfg_map		*origin;	/* flags: path -> index in origins */
	char			**origins;	/* flags: "--site a.test=..." */
	int			 from_flags;
};

struct site_cfg;
/* A site's or a route's checks once its keys are read (config_json.c). */
void	cfg_pool_finish(struct cfg_walk *, const char *path, json_t *js,
	    struct site_cfg *);

/* Record an error at a JSON path; positions are added by cfg_errs_flush. */
void	cfg_err(struct cfg_walk *, const char *path, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* The same, with ref: a path whose position is appended to the message. */
void	cfg_err_ref(struct cfg_walk *, const char *path, const char *ref,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Locate every pending error (one scan of the text) and move it to w->errs. */
void	cfg_errs_flush(struct cfg_walk *);
/* Add a finished message to errs (takes ownership of msg). */
void	cfg_errs_add(struct config_errors *, char *msg);

/* Helpers (config.c). */
int	 cfg_valid_name(const char *);	/* DNS name, optional "*." label */
char	*cfg_lowercase_dup(const char *);
char	*cfg_name_dup(const char *);	/* lowercase; IP literals canonical */
char	*cfg_abs_path(const struct cfg_walk *, const char *);
char	*cfg_acme_directory(const char *);	/* "production", "staging" or a URL */
void	 cfg_free_strs(char **, size_t);
/* Cross-field checks shared by both sources; linear in the config's size. */
void	 cfg_validate(struct cfg_walk *, struct config *);

/*
 * The HTTP/TCP mode rules of one walked site (config_http.c): js is its
 * object, path its JSON path ("/sites/3"). Sets s->mode to TCP when
 * proxy_protocol implies it; reports conflicts to w.
 */
void	 cfg_site_http(struct cfg_walk *, const char *path, json_t *js,
	    struct site_cfg *s);

/* The walker (config_json.c): fill c from a parsed document. */
/* One site object at path into s; tmpl: the defaults to copy, or NULL to
 * apply them here. ondemand: on_demand.site (no names, certificates by ACME). */
void	 cfg_walk_site(struct cfg_walk *, const char *path, json_t *js,
	    struct site_cfg *s, const struct site_cfg *tmpl, int ondemand);
struct cfg_key;
/* config_ondemand.c: on_demand.site's row, the ask URL's check, the
 * cross-key checks, and freeing. */
void	 cfg_ondemand_site(struct cfg_walk *, const struct cfg_key *,
	    const char *, json_t *, void *);
/* An http(s):// URL with a host (config_ondemand.c): NULL, or why not. */
const char *cfg_check_http_url(const char *, const char **host);
const char *cfg_check_ask_url(const char *);
void	 cfg_ondemand_validate(struct cfg_walk *, struct config *);
/* The store section (config_store.c): an etcd endpoint's URL, and the
 * checks that span its keys. */
const char *cfg_check_etcd_url(const char *);
void	 cfg_store_validate(struct cfg_walk *, struct config *);
/* acme.issuers (config_issuers.c): its row's parser, the checks (last:
 * they set acme.directory), and freeing. */
void	 cfg_acme_issuers(struct cfg_walk *, const struct cfg_key *,
	    const char *, json_t *, void *);
void	 cfg_issuers_validate(struct cfg_walk *, struct config *);
void	 cfg_issuers_free(struct config *);
void	 cfg_site_free(struct site_cfg *);
void	 cfg_walk_root(struct cfg_walk *, json_t *root, struct config *c);
/* Walk an object whose keys are rows of table under prefix ("" or "limits"). */
struct cfg_key;
void	 cfg_walk_object(struct cfg_walk *, const struct cfg_key *table,
	    const char *prefix, const char *path, json_t *obj, void *base);
/* The special rows of cfg_site_keys (config_json.c). */
void	 cfg_site_names(struct cfg_walk *, const struct cfg_key *, const char *,
	    json_t *, void *);
void	 cfg_site_backends(struct cfg_walk *, const struct cfg_key *, const char *,
	    json_t *, void *);
void	 cfg_site_certs(struct cfg_walk *, const struct cfg_key *, const char *,
	    json_t *, void *);
void	 cfg_site_acme(struct cfg_walk *, const struct cfg_key *, const char *,
	    json_t *, void *);
/* config_routes.c: the rows of config_schema_routes.inc; the routes of a
 * walked site (js its object), checked and stored in s->routes; freeing. */
void	 cfg_site_routes(struct cfg_walk *, const struct cfg_key *, const char *,
	    json_t *, void *);
void	 cfg_health_status(struct cfg_walk *, const struct cfg_key *,
	    const char *, json_t *, void *);
const char *cfg_check_cookie_name(const char *);
const char *cfg_check_health_host(const char *);
void	 cfg_site_routes_walk(struct cfg_walk *, const char *path, json_t *js,
	    struct site_cfg *s);
void	 cfg_routes_free(struct site_cfg *);

#endif
