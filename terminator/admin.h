/*
 * admin.h - the admin endpoint (off by default; loopback or a unix socket
 * only): /metrics in the Prometheus text format, /healthz, and /status as
 * JSON, which `tlsgate status` prints for a person. Also the expiry safety
 * net: certificates in service that are close to expiry and not renewed.
 * Runs on the main thread's event loop.
 */
#ifndef TLSGATE_ADMIN_H
#define TLSGATE_ADMIN_H

#include <stddef.h>
#include <time.h>

struct acme;
struct admin;
struct errbuf;
struct event_base;
struct certfile;
struct store;

typedef struct acme *admin_acme_fn(void *arg);

/*
 * Listen on addr ("127.0.0.1:PORT", "[::1]:PORT" or "unix:/path"); anything
 * not loopback is refused. acme() returns the running ACME client or NULL.
 */
struct admin	*admin_new(struct event_base *base, const char *addr,
		    admin_acme_fn *acme, void *arg, struct errbuf *eb);
void		 admin_free(struct admin *);		/* NULL is a no-op */

/* The store whose reachability /healthz and /metrics show (NULL: none);
 * main thread. */
void		 admin_set_store(struct store *);

/* The expiry threshold for a certificate: days, or a third of its lifetime
 * for short certificates. */
time_t		 admin_expiry_threshold(const struct certfile *cf, int days);
/*
 * Check every certificate in service: each one within its threshold is
 * logged at error level, and command (if set) runs once per certificate as
 * "COMMAND NAME NOT_AFTER". Returns how many are expiring.
 */
int		 admin_check_expiry(int days, const char *command);

#endif
