/*
 * ondemand_impl.h - the insides of on-demand TLS, shared by ondemand.c (the
 * table, waits, the worker's side), ondemand_thread.c (resolving names,
 * the store's feed, the sweep) and ondemand_ask.c (the ask endpoint and
 * the per-client limits). Fields of struct ondemand and of entries are
 * guarded by od_lock() unless marked "thread".
 */
#ifndef TLSGATE_ONDEMAND_IMPL_H
#define TLSGATE_ONDEMAND_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "ondemand.h"

struct acme_http;
struct event;
struct event_base;

enum od_state {
	ODS_LOADING,		/* queued for the thread: store, then ask */
	ODS_ASKING,		/* the ask call is in flight */
	ODS_ORDERING,		/* the ACME client has the order */
	ODS_READY,		/* cf serves */
	ODS_REFUSED,		/* until refused_until */
	ODS__MAX
};

struct od_wait {
	struct od_wait		*next;
	struct od_entry		*e;		/* while on its list */
	void			(*post)(void *, void (*)(void *), void *);
	void			*ctx;
	void			(*fn)(void *);
	void			*arg;
	unsigned		 fired:1, bound:1, cancelled:1;
};

struct od_entry {
	char			*name;
	uint32_t		 hash;
	struct od_entry		*hnext;
	struct od_entry		*newer, *older;		/* LRU list */
	enum od_state		 st;
	enum od_refusal		 refusal;
	struct certfile		*cf;
	time_t			 refused_until, yes_until;
	time_t			 last_used, persisted;	/* persisted: in the index */
	time_t			 idx_not_after;	/* what the index says */
	struct od_wait		*waiters;
	char			 client[46];	/* the address that caused the load */
	unsigned		 queued:1, logged:1, approved:1, indexed:1;
};

struct od_bucket;

struct ondemand {
	struct ondemand_cfg	 cfg;		/* ask owned; site NULL */
	char			**challenges;	/* of on_demand.site */
	size_t			  nchallenges;
	int			  rsa;
	char			 *profile;	/* of on_demand.site; NULL: acme.profile */
	struct store		*store;
	struct acme		*acme;
	struct od_entry		**tab;
	size_t			  tabcap, n;
	struct od_entry		*newest, *oldest;
	struct od_entry		**q;		/* for the thread */
	size_t			  nq, qcap;
	unsigned		  ordering;	/* orders in flight */
	double			  order_tokens;	/* orders_per_minute bucket */
	time_t			  order_t;
	long			  stored;	/* index size; -1 not counted yet */
	struct od_counters	  cnt;
	int			  stopping;
	/* Thread. */
	pthread_t		  thr;
	struct event_base	 *base;
	struct event		 *ev_kick, *ev_sweep, *ev_flush, *ev_stop;
	struct acme_http	 *http;		/* thread */
	struct od_bucket	 *buckets;	/* thread: per-client asks */
};

pthread_mutex_t	*od_lock(void);
/* The running instance (under the lock), or NULL. */
struct ondemand	*od_running(void);
struct od_entry	*od_find(struct ondemand *, const char *name);
/* State changes: they wake the waiters. */
void		 od_set_ready(struct ondemand *, struct od_entry *, struct certfile *);
void		 od_refuse(struct ondemand *, struct od_entry *, enum od_refusal,
		    time_t until, const char *detail);
void		 od_wake(struct od_entry *);
void		 od_free(struct ondemand *);

/* ondemand_thread.c */
int		 od_thread_start(struct ondemand *, struct errbuf *eb);
void		 od_thread_stop(struct ondemand *);
void		 od_site_from(struct ondemand *, const struct site_cfg *site);
void		 od_site_clear(struct ondemand *);
/* The ask said yes (or approval): order e if the limits allow; 1 if the
 * caller must now (after unlocking) call od_order_send. Under the lock. */
int		 od_order(struct ondemand *, struct od_entry *, time_t now);
void		 od_order_send(struct ondemand *, const char *name, time_t now);

/* ondemand_ask.c (thread) */
/* Whether client may cause one more ask now (and charge it). */
int		 od_ask_allowed(struct ondemand *, const char *client, time_t now);
/* Ask for e (state ASKING); the answer comes back on the thread. -1 if
 * the call could not start. Called without the lock. */
int		 od_ask_start(struct ondemand *, struct od_entry *, const char *url);
void		 od_ask_free(struct ondemand *);

#endif
