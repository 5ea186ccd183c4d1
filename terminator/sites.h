/*
 * sites.h - the serving view: every site with its certificates, the name
 * lookup table, and the limits, as one immutable, reference-counted snapshot.
 *
 * A reload or a certificate swap builds a new view to one side and publishes
 * it; handshakes already running keep the view (and so the certificates) they
 * started with. Workers take a reference per connection with view_current(),
 * which holds a mutex only for a pointer copy and a counter increment.
 *
 * Threads: views are built and published by the main thread only
 * (view_build, view_publish, view_apply_cert): a reload and a certificate
 * from the store's feed are applied one after the other, so neither can lose
 * the other. Any thread may call view_current, view_lookup, view_ref and
 * view_unref.
 */
#ifndef TLSGATE_SITES_H
#define TLSGATE_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct certfile;
struct cidr;
struct errbuf;
struct ipname;
struct site_stats;
struct pool;
struct route_table;
struct store;

/* A site's HTTP-mode settings (config.h's site_cfg, resolved). */
struct site_http {
	int		  mode;			/* SITE_MODE_HTTP or SITE_MODE_TCP */
	int		  forwarded;		/* FWD_* */
	int64_t		  max_body;		/* 0: no limit */
	int		  backend_max_idle;
	double		  backend_idle_timeout, backend_timeout;
	double		  tunnel_idle_timeout;	/* WebSocket tunnels (ws.h) */
	char		 *hsts;			/* Strict-Transport-Security, or NULL */
};

/* The view-wide HTTP settings. */
struct view_http {
	struct cidr	 *trusted;		/* trusted proxies */
	size_t		  ntrusted;
	int		  access_log;
	double		  header_timeout, keepalive_timeout, body_timeout;
	unsigned	  max_header_size, max_headers, max_uri, h2_max_streams;
};

struct site {
	int			 refs;		/* atomic */
	char			**names;
	size_t			  nnames;
	struct addr		 *backends;
	size_t			  nbackends;
	uint8_t			 *alpn;		/* wire format, NULL if none */
	size_t			  alpn_len;
	struct certfile		 *ec, *rsa;	/* both NULL: an ACME site waiting */
	int			  is_default;
	int			  acme;
	int			  ondemand;	/* view->ondemand: names by handshake */
	struct site_stats	 *stats;	/* registry entry; never freed */
	struct pool		 *pool;		/* the backends and their policy */
	struct route_table	 *routes;	/* http/route.h, or NULL */
	struct site_http	  http;
};

struct view_slot {
	const char	*name;		/* borrowed from a site */
	struct site	*site;
};

struct view {
	int			 refs;		/* atomic */
	unsigned		 generation;
	unsigned		 config_gen;	/* new per config load, kept by cert swaps */
	struct site		**sites;
	size_t			  nsites;
	struct view_slot	 *tab;		/* open addressing, power of two */
	size_t			  tabmask;
	struct site		 *def;		/* default site or NULL */
	struct site		 *ondemand;	/* on_demand.site, or NULL: no names,
						 * no certificates (ondemand.h has them) */
	double			  od_wait;	/* on_demand.handshake_wait */
	size_t			  nipnames;	/* names that are IP literals */
	struct limits		  limits;
	struct view_http	  http;
};

/* h from sc's HTTP settings (a site's, or a route's). */
void		 site_http_init(struct site_http *h, const struct site_cfg *sc);

/*
 * Build a view from c and, for ACME sites, the certificates in store (NULL:
 * none yet). Certificate files named by c are loaded. NULL with eb set.
 */
struct view	*view_build(const struct config *c, struct store *store,
		    struct errbuf *eb);
/*
 * A copy of old in which the site that serves name gets cf (replacing its
 * certificate of the same key type). Takes a reference on cf. NULL with eb
 * set if no site serves name, or cf does not cover it.
 */
struct view	*view_with_cert(const struct view *old, const char *name,
		    struct certfile *cf, struct errbuf *eb);
/* The site that has exactly name (configured names only), or NULL. */
struct site	*view_site_named(const struct view *, const char *name);
/* Exact name, then one-label wildcard, then the default; sni may be NULL. */
struct site	*view_lookup(const struct view *, const char *sni);
/*
 * The site named by the IP literal ip (its canonical text), or NULL: for a
 * client that sent no SNI, ip is the address it connected to (RFC 8738
 * certificates are found by it); for one that sent an IP literal as SNI
 * (RFC 6066 forbids it; some clients do it), that literal.
 */
struct site	*view_lookup_ip(const struct view *, const struct ipname *ip);
/* Whether site has name (exactly, or by a one-label wildcard). */
int		 site_has_name(const struct site *site, const char *name);
/* Whether sa is one of the view's trusted proxies. */
int		 view_trusted_proxy(const struct view *, const struct sockaddr *sa);
struct view	*view_ref(struct view *);
void		 view_unref(struct view *);		/* NULL is a no-op */

/* Publish v as the current view (takes ownership of the caller's reference). */
void		 view_publish(struct view *v);
/*
 * The store's feed brought cf for name: publish a view with it, unless the
 * current view has it or a newer one already (returns 1). 0, or -1 with eb
 * set. Main thread only.
 */
int		 view_apply_cert(const char *name, struct certfile *cf,
		    struct errbuf *eb);
/* The current view's config_gen (0 before the first publish); any thread. */
unsigned	 view_config_gen(void);
/* Drop the current view (at exit). */
void		 view_publish_none(void);
/* A new reference to the current view, or NULL before the first publish. */
struct view	*view_current(void);

#endif
