/*
 * acme.h - the ACME client (RFC 8555, RFC 8737 TLS-ALPN-01, ACME Renewal
 * Information): obtains and renews each site's certificates by itself, on a
 * thread of its own with its own event loop, so issuance never blocks a
 * handshake or a proxied byte.
 *
 * The store is the one source of truth: new certificates go into it (and
 * reach the terminator through the store's change feed), challenges are
 * published through it, and every job's renewal state (back-off, the CA's
 * Retry-After, ARI window, the certificate being replaced) is written to it
 * and read back at start, so a reload or a restart never re-orders early.
 * A failed attempt backs off (1 min, 10 min, 100 min, then daily, or longer
 * if the CA says so) and the current certificate keeps serving.
 *
 * Orders run at most acme_cfg.max_concurrent_orders at a time; due jobs
 * beyond that wait in a queue, those a handshake waits for (acme_demand)
 * ahead of renewals. All requests to the CA share a few connections
 * (HTTP/2 multiplexed when the CA speaks it).
 *
 * Threads: acme_start, acme_update and acme_stop are called from the
 * owner's thread (the server's main thread); acme_renew, acme_status,
 * acme_get_counters, acme_demand, acme_forget and acme_demand_pending from
 * any thread. The client runs on a thread of its own.
 */
#ifndef TLSGATE_ACME_H
#define TLSGATE_ACME_H

#include <stddef.h>
#include <time.h>

struct certfile;
struct errbuf;
struct event_base;
struct acme;
struct acme_http_resp;
struct store;

/*
 * The HTTP transport, replaceable for tests (a replay of recorded responses).
 * create() runs on the caller of acme_start with the client's event_base;
 * request() must never call done from inside itself.
 */
typedef void acme_transport_done(const struct acme_http_resp *, const char *err,
    void *arg);
struct acme_transport {
	void	*(*create)(struct event_base *base, const char *ca_file, void *arg);
	int	 (*request)(void *impl, const char *method, const char *url,
		    const char *body, acme_transport_done *done, void *arg);
	void	 (*destroy)(void *impl);
	void	 *arg;
};

#define ACME_LETSENCRYPT	"https://acme-v02.api.letsencrypt.org/directory"

/*
 * One CA of an ordered list (acme.issuers; acme_issuer.h has the rule that
 * moves a certificate from one to the next). Each has its own account.
 */
struct acme_issuer_cfg {
	const char	*directory;
	const char	*email;		/* optional contact */
	const char	*ca_file;	/* extra CA bundle to trust it */
	const char	*eab_kid, *eab_hmac;	/* External Account Binding */
	const char	*profile;	/* NULL: acme_cfg.profile */
};
#define ACME_MAX_ISSUERS	8
#define ACME_LETSENCRYPT_STAGING "https://acme-staging-v02.api.letsencrypt.org/directory"

struct acme_cfg {
	const char	*directory;	/* default: Let's Encrypt production */
	const char	*email;		/* optional contact */
	const char	*ca_file;	/* extra CA bundle to trust the ACME server */
	const char	*eab_kid, *eab_hmac;	/* External Account Binding, optional */
	const char	*dns_hook;	/* "HOOK set|clear NAME VALUE" for dns-01 */
	const char	*preferred_chain;	/* issuer CN of the chain's top */
	long		 retry_base;	/* first back-off step, seconds (default 60);
					 * also the floor between two orders for a name */
	unsigned	 max_concurrent_orders;	/* 0: ACME_MAX_ORDERS_DEFAULT */
	/*
	 * ACME profile (draft-aaron-acme-profiles) for sites that name none,
	 * on-demand jobs included; NULL or "": the CA's default. Checked
	 * against the directory's meta.profiles when it loads (acme_profile.c).
	 */
	const char	*profile;
	/*
	 * Fallback CAs: issuers[0..nissuers), in order of preference (at most
	 * ACME_MAX_ISSUERS). 0: one issuer, made of directory, email, ca_file
	 * and eab_*. The store given to acme_start belongs to issuers[0]: every
	 * certificate and renewal state is kept there, whichever CA issued it.
	 * Issuer i >= 1 keeps its account in account_store(its directory),
	 * a new store that acme_stop closes (NULL callback: in that store).
	 */
	const struct acme_issuer_cfg *issuers;
	size_t		 nissuers;
	int		 fallback_failures;	/* in a row at one CA; 0: 2 */
	long		 fallback_retry_after;	/* a longer rate limit moves on
						 * at once (seconds); 0: 3600 */
	struct store	*(*account_store)(const char *directory, void *arg,
			    struct errbuf *eb);
	void		 *account_store_arg;
	time_t		 (*clock)(void);	/* NULL: time(NULL); tests inject one */
	const struct acme_transport *transport;	/* NULL: libcurl */
	/*
	 * Called on the ACME thread after each attempt of an on-demand job
	 * (acme_demand): ok 1 when a certificate was installed (it also
	 * reaches the store's feed), 0 with err when the attempt failed or the
	 * job is in back-off and will not order before retry_at. Only the
	 * ECDSA job reports. Must not block. NULL: not called.
	 */
	void		 (*on_demand_result)(const char *name, int ok,
			    const char *err, time_t retry_at, void *arg);
	void		 *on_demand_arg;
};

#define ACME_MAX_ORDERS_DEFAULT	8

struct acme_site_cfg {
	const char	 *label;	/* the site's first name: store folder */
	char		**names;
	size_t		  nnames;
	char		**challenges;	/* "tls-alpn-01", "http-01", "dns-01" in order */
	size_t		  nchallenges;
	int		  rsa;		/* also an RSA-2048 certificate */
	const char	 *profile;	/* NULL: acme_cfg.profile */
};

enum acme_fail {
	ACME_FAIL_RATE_LIMITED,
	ACME_FAIL_SERVER,		/* 5xx, serverInternal */
	ACME_FAIL_TRANSPORT,		/* could not reach the CA */
	ACME_FAIL_VALIDATION,		/* a challenge or authorization failed */
	ACME_FAIL_CERTIFICATE,		/* the CA's certificate failed our checks */
	ACME_FAIL_OTHER,
	ACME_FAIL__MAX
};
extern const char *const acme_fail_names[ACME_FAIL__MAX];

/* One certificate's state, as last published by the ACME thread. */
struct acme_cert_status {
	char	 label[256];
	int	 rsa;			/* 0 ECDSA, 1 RSA */
	time_t	 not_after;		/* 0: none yet */
	time_t	 renew_at;
	time_t	 last_success;
	int	 attempts;		/* failures since the last success */
	int	 on_demand;		/* made by acme_demand, not by a site */
	char	 issuer[256];		/* directory URL of the CA that issued
					 * the certificate in service, "" none */
	char	 ordering_from[256];	/* of the CA the next order goes to */
	char	 rl_issuer[256];	/* a CA that rate-limited the last round
					 * and that the next goes back to, "" */
	time_t	 rl_until;		/* the end of that limit */
	char	 last_error[300];
};

struct acme_counters {
	unsigned long	attempts, successes;
	unsigned long	failures[ACME_FAIL__MAX];
	time_t		last_success;
};

/* Copy up to max certificate states into out; returns how many. Thread-safe. */
size_t		 acme_status(struct acme *, struct acme_cert_status *out, size_t max);
void		 acme_get_counters(struct acme *, struct acme_counters *out);

/*
 * Start the client thread for these sites, with store (which must outlive
 * the client) bound to cfg->directory. NULL with eb set.
 */
struct acme	*acme_start(const struct acme_cfg *cfg, struct store *store,
		    const struct acme_site_cfg *sites, size_t nsites,
		    struct errbuf *eb);
/*
 * A reload: the new list of sites. Jobs of unchanged sites keep running
 * (in-flight orders included); removed sites' jobs end, added sites' jobs
 * start from their stored state, changed sites' jobs restart. Copies sites.
 */
void		 acme_update(struct acme *, const struct acme_site_cfg *sites,
		    size_t nsites);
/* Force a renewal of label (NULL: every site) now. Thread-safe. */
void		 acme_renew(struct acme *, const char *label);
/*
 * On-demand TLS: make sure a job exists for the single name site->label
 * (names = {label}; site->challenges as given; ECDSA only unless site->rsa).
 * A new job starts from its stored state: a stored, valid certificate that
 * is not due is only scheduled for renewal (ARI as usual); none, or one that
 * is due, is ordered now, ahead of the queue of renewals (still under
 * acme.max_concurrent_orders and the back-off floor). If the job exists (or
 * its stored state says so) and is in back-off with no valid certificate,
 * on_demand_result(name, 0, why, retry_at) is called soon (never from inside
 * this call). On-demand jobs outlive reloads (acme_update) unless a
 * configured site takes the label over. 0, or -1 if a or site is unusable.
 * Thread-safe; copies site.
 */
int		 acme_demand(struct acme *, const struct acme_site_cfg *site);
/* Drop an on-demand job (the name was left unused); no-op if none. Thread-safe. */
void		 acme_forget(struct acme *, const char *label);
/* How many on-demand orders are in flight or queued now. Thread-safe. */
unsigned	 acme_demand_pending(struct acme *);
/* Stop the thread, clear challenges and free everything. NULL is a no-op. */
void		 acme_stop(struct acme *);

#endif
