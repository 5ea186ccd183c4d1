/*
 * config.h - tlsgate's configuration: parsed from JSON or from command-line
 * flags into plain structs, validated in one pass that reports every error
 * with file:line:column and the key at fault (or the flag and its value).
 * Both sources go through one schema (config_schema.h), so they accept the
 * same values. Loading is linear in the config's size. Any one thread may
 * load; the result is plain data, read-only once loaded.
 */
#ifndef TLSGATE_CONFIG_H
#define TLSGATE_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <sys/socket.h>

#include "cidr.h"

struct addr {
	char			*str;		/* as written */
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

struct cert_cfg {
	char	*cert, *key;			/* paths, absolute after load */
};

/* site_cfg.mode: HTTP terminates HTTP (the default); TCP relays the bytes. */
#define SITE_MODE_HTTP	0
#define SITE_MODE_TCP	1
/* site_cfg.forwarded: which client-address headers reach the backend. */
#define FWD_XFF		0	/* X-Forwarded-For, -Proto, -Host */
#define FWD_FORWARDED	1	/* RFC 7239 Forwarded */
#define FWD_BOTH	2
#define FWD_NONE	3
/* site_cfg.backend_proto: HTTP/1.1 (the default) or HTTP/2 (http/h2up.h). */
#define BACKEND_PROTO_H1	0
#define BACKEND_PROTO_H2	1

struct site_cfg {
	char		**names;		/* lowercase; "*.x" allowed */
	size_t		  nnames;
	struct addr	 *backends;
	size_t		  nbackends;
	struct cert_cfg	 *certs;
	size_t		  ncerts;
	char		**alpn;
	size_t		  nalpn;
	int		  is_default;
	int		  acme;			/* certificates from ACME */
	char		**challenges;		/* in order; default tls-alpn-01, http-01 */
	size_t		  nchallenges;
	int		  acme_rsa;		/* also an RSA certificate */
	char		 *acme_profile;		/* NULL: acme.profile */
	int		 *weights;		/* per backend, default 1 */
	int		  balance;		/* enum lb_kind */
	int		  retries;		/* extra backends after a failed connect */
	int		  proxy_protocol;	/* 0, 1, 2 */
	struct backend_tls_cfg {
		int	 on;
		char	*ca, *server_name, *cert, *key;
		int	 verify;		/* default on */
	} btls;
	struct health_cfg {
		int	 type;			/* 0 none, 1 tcp, 2 http */
		char	*path;
		double	 interval, timeout;
		int	 rise, fall;
		char	*host;			/* Host of http checks; NULL: the
						   site's first name */
		int	 status_min, status_max;	/* good statuses; 0: 200-399 */
	} health;
	int		  mode;			/* SITE_MODE_*; TCP if proxy_protocol
						   is set and mode is not given */
	/* HTTP mode only (config_http.c refuses them explicitly set on TCP). */
	int		  forwarded;		/* FWD_*, default FWD_XFF */
	int		  h2;			/* offer h2 in ALPN; default on */
	long long	  max_body_size;	/* request body bytes; 0: no limit */
	int		  backend_max_idle;	/* idle keep-alive connections kept per
						   backend per worker; 0: no reuse */
	double		  backend_idle_timeout;	/* seconds an idle pooled one is kept */
	double		  backend_timeout;	/* seconds until the response starts;
						   then 504 */
	double		  tunnel_idle_timeout;	/* a WebSocket tunnel idle this long
						   is closed */
	int		  backend_proto;	/* BACKEND_PROTO_*: HTTP to the backends */
	long		  hsts_max_age;		/* seconds; 0: no Strict-Transport-Security */
	int		  hsts_subdomains;	/* includeSubDomains */
	int		  hsts_preload;		/* preload (needs the two above) */
	/* Cookie-based sticky sessions (http/sticky.h); cookie NULL: off. */
	struct sticky_cfg {
		char	*cookie;
		long	 ttl;			/* seconds; 0: a session cookie */
	} sticky;
	struct route_cfg *routes;		/* config_routes.c; in the order given */
	size_t		  nroutes;
};

/* One of a site's routes: its match and, in s, its own pool and settings
 * (s has no names or certificates; its HTTP settings start as the site's). */
struct route_cfg {
	char		 *path;			/* prefix, starts with "/" */
	char		**methods;		/* NULL: any */
	size_t		  nmethods;
	struct site_cfg	  s;
};

/* One CA of acme.issuers (config_issuers.c); NULL fields: acme.*'s. */
struct acme_issuer_entry {
	char	*directory;		/* required */
	char	*email, *ca_file, *eab_kid, *eab_hmac, *profile;
};

struct acme_global {
	char	*directory;		/* ACME directory URL; with issuers,
					 * the first one's */
	char	*email, *ca_file, *state_dir;
	char	*eab_kid, *eab_hmac;
	char	*dns_hook, *preferred_chain;
	long	 retry_base;		/* seconds; 0: the client's default (60) */
	long	 max_concurrent_orders;	/* 0: the client's default */
	char	*profile;		/* ACME profile; NULL: the CA's default */
	struct acme_issuer_entry *issuers;	/* fallback CAs, in order */
	size_t	 nissuers;		/* 0: directory alone */
	long	 fallback_failures, fallback_retry_after;
};

/* on_demand: certificates ordered at a name's first handshake (ondemand.h). */
struct ondemand_cfg {
	char		*ask;		/* the ask endpoint's URL; NULL: off */
	struct site_cfg	*site;		/* where on-demand names are served */
	double		 ask_timeout;
	double		 ask_cache_yes, ask_cache_no;	/* seconds */
	unsigned	 ask_per_client;	/* asks per minute per client address */
	unsigned	 orders_per_minute;
	unsigned	 max_concurrent_orders;
	unsigned	 max_certificates;	/* in the store, in all */
	unsigned	 cache_size;		/* certificates kept in memory */
	double		 renew_window;		/* renew while used within this */
	double		 sweep_interval;	/* seconds between sweeps */
	double		 handshake_wait;	/* a handshake waits this long */
	int		 allow_ip;		/* IP-address certificates */
};

struct limits {
	unsigned	max_connections;
	double		handshake_timeout, connect_timeout, idle_timeout, drain_timeout;
	/* Per client address (IPv6: per /64); 0 turns each off. */
	unsigned	max_connections_per_client;	/* LIMITS_AUTO: see worker.c */
	double		handshake_rate_per_client;	/* new connections per second */
	double		handshake_burst_per_client;	/* token bucket size */
	/* HTTP mode, per client connection. */
	double		header_timeout;		/* a started request head must be
						   complete within this */
	double		keepalive_timeout;	/* idle between requests */
	double		body_timeout;		/* request body silent this long: 408 */
	unsigned	max_header_size;	/* request head bytes; past it 431 */
	unsigned	max_headers;		/* header fields; past it 431 */
	unsigned	max_uri_length;		/* request-target bytes; past it 414 */
	unsigned	h2_max_streams;		/* SETTINGS_MAX_CONCURRENT_STREAMS */
};
#define LIMITS_AUTO	UINT_MAX

/* store: where the state lives (config_store.c, docs/cluster.md). */
enum store_backend { STORE_BACKEND_FILE, STORE_BACKEND_ETCD };
struct store_cfg {
	int	 backend;		/* enum store_backend */
	char	**endpoints;		/* etcd: "http(s)://host:port" */
	size_t	 nendpoints;
	char	*prefix, *enc_key_file, *ca_file, *cert_file, *key_file;
	char	*prev_key_file;		/* key rotation: opens, never seals */
	char	*user, *password_file;
	double	 timeout;		/* seconds per request */
};

struct config {
	char		*path;			/* NULL when built from flags */
	struct addr	*https, *http;
	size_t		 nhttps, nhttp;
	int		 workers;		/* 0: one per core */
	int		 log_level;
	int		 log_json;
	struct limits	 limits;
	unsigned	 ticket_rotation;	/* seconds */
	char		*tls_groups;		/* NULL: tlsnego_default_groups() */
	struct ech_cfg {			/* tls.ech: read at start only */
		int	 enabled;
		char	*public_name;		/* a site's name: it needs a certificate */
		unsigned rotation, grace;	/* seconds */
	} ech;
	struct site_cfg	*sites;
	size_t		 nsites;
	struct acme_global acme;
	char		*user, *group;		/* drop to these after binding */
	char		*admin;			/* admin endpoint address, or NULL */
	int		 expiry_days;		/* safety-net threshold */
	char		*alert_command;
	double		 expiry_check;		/* seconds between checks */
	int		 allow_root;		/* keep running as root */
	/* Peers whose X-Forwarded-* and Forwarded are kept (appended to);
	 * from anyone else they are removed. Match with cidr_match(). */
	struct cidr	*trusted_proxies;
	size_t		 ntrusted_proxies;
	int		 access_log;		/* one info line per HTTP request */
	struct ondemand_cfg on_demand;
	struct store_cfg store;
};

/* Whether any site uses ACME. */
int	config_uses_acme(const struct config *);
struct acme_issuer_cfg;
/* acme.issuers for acme_cfg (config_issuers.c): a new array borrowing c's
 * strings (issuer fields left out take acme.*'s), or NULL with *n 0 in the
 * single-CA form; and the list as text, new, to tell if a reload changed it. */
struct acme_issuer_cfg *config_acme_issuers(const struct config *c, size_t *n);
char	*config_acme_issuers_key(const struct config *c);

/* Error lines collected by the loaders; each is "where: key: message". */
struct config_errors {
	char	**msgs;
	size_t	  n;
};
void	config_errors_clear(struct config_errors *);

/* Parse and validate a JSON file. Returns a new config, or NULL with errs filled. */
struct config	*config_load_file(const char *path, struct config_errors *errs);
/* Parse the same from text (path is used in messages and for relative paths). */
struct config	*config_load_text(const char *path, const char *text, size_t len,
		    struct config_errors *errs);
/*
 * Build a config from flags (argv after "run"): --https, --site, --cert and
 * a flag for most keys (the schema's flag column, `tlsgate config-doc
 * flags`). Returns NULL with errs filled, each "FLAG: message".
 */
struct config	*config_from_args(int argc, char **argv, struct config_errors *errs);
void		 config_free(struct config *);

/*
 * Parse "host:port", "[v6]:port" or "*:port". With resolve, host may be a
 * name (getaddrinfo, blocking); otherwise it must be a literal. 0 or -1.
 */
int	config_parse_addr(const char *s, int resolve, struct addr *out, char *err,
	    size_t errlen);

#endif
