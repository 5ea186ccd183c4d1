/*
 * ondemand.h - on-demand TLS: a certificate for a name at its first
 * handshake, for platforms that serve their customers' own domains.
 *
 * A handshake whose server name no configured site has asks ondemand_get().
 * The answer is a certificate (from memory, an LRU of on_demand.cache_size
 * names), a refusal, or "pending": then the handshake pauses (the TLS
 * library's select-certificate retry) and nothing else on the worker waits.
 * A pending name is resolved on the on-demand thread, in this order:
 *   1. the store: a valid stored certificate is loaded and served;
 *   2. the limits: the certificate cap, the ask calls per client address;
 *   3. the ask endpoint, GET ASK?domain=NAME&client_ip=ADDR (2xx is yes),
 *      its answer cached (yes and no each for their own time);
 *   4. the limits on orders (per minute, in flight), then an ACME order
 *      (acme_demand); the certificate reaches us through the store's feed.
 * Every handshake for one name shares that one load, ask and order. Each
 * refusal is logged once per name and counted (ondemand_counters).
 *
 * Names used lately are renewed (the ACME client's job for the name, ARI as
 * usual); the index in the store (store_ondemand_*) remembers each name's
 * last use, so a sweep can hand names due for renewal to the ACME client
 * after a restart, and drop names left unused once their certificate has
 * expired, without parsing any certificate. Startup reads nothing.
 *
 * Threads: ondemand_start, ondemand_configure and ondemand_stop run on the
 * main thread. ondemand_get and the od_wait calls run on workers (any
 * number); ondemand_status and ondemand_counters on any thread. The
 * instance is a process-wide singleton, like the serving view.
 */
#ifndef TLSGATE_ONDEMAND_H
#define TLSGATE_ONDEMAND_H

#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

struct acme;
struct certfile;
struct errbuf;
struct ondemand_cfg;
struct store;
struct od_wait;

enum od_answer {
	OD_READY,		/* *cf: a new reference to serve */
	OD_PENDING,		/* *wait: bind it, then retry the handshake */
	OD_REFUSED		/* *why: a static reason for the log line */
};

enum od_refusal {
	ODR_INVALID,		/* not a name a CA would issue for */
	ODR_ASK_NO,		/* the ask endpoint said no (or said so lately) */
	ODR_ASK_ERROR,		/* the ask endpoint failed or timed out */
	ODR_ASK_RATE,		/* this client caused too many asks */
	ODR_ORDER_RATE,		/* on_demand.orders_per_minute */
	ODR_CONCURRENT,		/* on_demand.max_concurrent_orders */
	ODR_CAP,		/* on_demand.max_certificates */
	ODR_ORDER_FAILED,	/* the order failed; in back-off */
	ODR__MAX
};
extern const char *const od_refusal_names[ODR__MAX];

struct od_counters {
	unsigned long	refusals[ODR__MAX];
	unsigned long	asks, orders, issued, loads;	/* loads: from the store */
	unsigned long	cached;		/* names in memory now */
	long		stored;		/* names in the store's index, -1 unknown */
	unsigned	pending;	/* orders in flight */
};

/* One name in memory, for /status. */
struct od_status {
	char	name[256];
	char	state[12];		/* "ready", "loading", "asking", ... */
	time_t	last_used;
	time_t	not_after;		/* 0: no certificate */
};

/*
 * Start on-demand TLS with cfg (cfg->ask set), the store, and the running
 * ACME client that orders (both outlive the instance). Starts its thread.
 * NULL with eb set.
 */
struct ondemand	*ondemand_start(const struct ondemand_cfg *cfg, struct store *store,
		    struct acme *acme, struct errbuf *eb);
/* A reload: new limits, ask URL and times (cfg->ask set). */
void		 ondemand_configure(struct ondemand *, const struct ondemand_cfg *cfg);
/* The ACME client's on_demand_result (acme.h), for the running instance
 * (arg unused): it may be set before the instance starts. */
void		 ondemand_acme_result(const char *name, int ok, const char *err,
		    time_t retry_at, void *arg);
/* Stop the thread; waiting handshakes are woken and refused. NULL: no-op. */
void		 ondemand_stop(struct ondemand *);
/* Pre-order name as if the ask endpoint had said yes ("tlsgate approve"). */
void		 ondemand_approve(struct ondemand *, const char *name);

/*
 * Worker, in the select-certificate callback: the certificate for sni
 * (which no configured site has) for the client at peer. Returns OD_READY
 * with *cf, OD_PENDING with *wait, or OD_REFUSED with *why. woken: this
 * handshake waited and was woken: a refusal applies to it even when it is
 * not remembered for later handshakes. Without a running instance,
 * OD_REFUSED.
 */
enum od_answer	 ondemand_get(const char *sni, const struct sockaddr *peer,
		    int woken, struct certfile **cf, struct od_wait **wait,
		    const char **why);
/* Whether on-demand TLS is running (any thread). */
int		 ondemand_enabled(void);
/*
 * After OD_PENDING: once the name is resolved (at once if it already is),
 * post(ctx, ...) is called from any thread to run fn(arg) on the waiting
 * thread (worker_post), unless the wait is cancelled first. post must run
 * the call it is given exactly once, even at exit (it then frees the
 * wait). The wait is freed after fn returns.
 */
void		 od_wait_bind(struct od_wait *,
		    void (*post)(void *ctx, void (*run)(void *), void *run_arg),
		    void *ctx, void (*fn)(void *), void *arg);
/* The handshake gave up (timeout, close): fn will not be called. Same
 * thread as bind. */
void		 od_wait_cancel(struct od_wait *);

void		 ondemand_counters(struct od_counters *out);
/* Up to max names in memory, most recently used first; returns how many. */
size_t		 ondemand_status(struct od_status *out, size_t max);

/* The name check of step 0: lowercase A-labels, 1 to 253 bytes, no
 * wildcard, an IP literal only with allow_ip. NULL if fine, else why. */
const char	*ondemand_name_check(const char *name, int allow_ip);

#endif
