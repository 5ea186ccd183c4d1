/*
 * ondemand_thread.c - the on-demand thread: it resolves queued names (the
 * store, then the limits and the ask endpoint, then an order), takes
 * certificates from the store's feed and results from the ACME client,
 * writes the index of last uses, and sweeps: names used lately and due
 * for renewal go to the ACME client, names left unused are dropped once
 * their certificate has expired.
 *
 * Nothing here blocks a worker: workers only queue names and wait.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "acme.h"
#include "acme_http.h"
#include "certfile.h"
#include "errbuf.h"
#include "log.h"
#include "ondemand_impl.h"
#include "store.h"
#include "xalloc.h"

#define OD_SWEEP_FIRST	60		/* seconds after start, at most */
#define OD_FLUSH_EVERY	60
#define OD_TOUCH_EVERY	3600		/* a last use older than this is rewritten
					 * (or a quarter of the renewal window) */
#define OD_VALID_MARGIN	60		/* a certificate this close to expiry is not served */

static void
od_challenges_free(struct ondemand *od)
{
	for (size_t i = 0; i < od->nchallenges; i++)
		free(od->challenges[i]);
	free(od->challenges);
	od->challenges = NULL;
	od->nchallenges = 0;
	free(od->profile);
	od->profile = NULL;
}

void
od_site_from(struct ondemand *od, const struct site_cfg *site)
{
	od_challenges_free(od);
	if (site == NULL)
		return;
	od->challenges = xcalloc(site->nchallenges + 1, sizeof(char *));
	for (; od->nchallenges < site->nchallenges; od->nchallenges++)
		od->challenges[od->nchallenges] = xstrdup(site->challenges[od->nchallenges]);
	od->rsa = site->acme_rsa;
	od->profile = site->acme_profile != NULL ? xstrdup(site->acme_profile) : NULL;
}

void
od_site_clear(struct ondemand *od)
{
	od_challenges_free(od);
}

/* The ACME client gets a job for name (an order now, or a renewal later). */
static void
od_demand(struct ondemand *od, const char *name)
{
	struct acme_site_cfg	 sc;
	char			*names[1];

	memset(&sc, 0, sizeof(sc));
	names[0] = (char *)name;
	sc.label = name;
	sc.names = names;
	sc.nnames = 1;
	pthread_mutex_lock(od_lock());
	sc.challenges = od->challenges;
	sc.nchallenges = od->nchallenges;
	sc.rsa = od->rsa;
	sc.profile = od->profile;
	/* acme_demand copies sc and never calls back from inside. */
	if (acme_demand(od->acme, &sc) == -1)
		log_err("on-demand: the ACME client refused a job for %s", name);
	pthread_mutex_unlock(od_lock());
}

/* The usual rule (a third of the lifetime left), for loads and sweeps; the
 * ACME client then decides when exactly (ARI). */
static int
od_renewal_due(time_t not_before, time_t not_after, time_t now)
{
	time_t life = not_after - not_before;

	return not_after > 0 && life > 0 && now >= not_after - life / 3;
}

static void
od_index_put(struct ondemand *od, const char *name, const struct store_ondemand *rec)
{
	struct errbuf eb;

	if (store_ondemand_touch(od->store, name, rec, &eb) == -1)
		log_err("on-demand: index %s: %s", name, eb.msg);
}

int
od_order(struct ondemand *od, struct od_entry *e, time_t now)
{
	double per_sec = od->cfg.orders_per_minute / 60.0;

	if (!e->indexed && od->stored >= 0 &&
	    od->stored >= (long)od->cfg.max_certificates) {
		od_refuse(od, e, ODR_CAP, now, NULL);
		return 0;
	}
	od->order_tokens += (double)(now - od->order_t) * per_sec;
	if (od->order_t == 0 || od->order_tokens > od->cfg.orders_per_minute)
		od->order_tokens = od->cfg.orders_per_minute;
	od->order_t = now;
	if (od->ordering >= od->cfg.max_concurrent_orders) {
		od_refuse(od, e, ODR_CONCURRENT, now, NULL);
		return 0;
	}
	if (od->order_tokens < 1) {
		od_refuse(od, e, ODR_ORDER_RATE, now, NULL);
		return 0;
	}
	od->order_tokens -= 1;
	od->ordering++;
	od->cnt.orders++;
	e->st = ODS_ORDERING;
	if (!e->indexed) {
		e->indexed = 1;
		if (od->stored >= 0)
			od->stored++;
	}
	return 1;
}

/* After od_order said so, without the lock: record the name in the index
 * (it counts toward the cap and survives a restart), then order. */
void
od_order_send(struct ondemand *od, const char *name, time_t now)
{
	struct store_ondemand rec = { now, 0, 0 };

	od_index_put(od, name, &rec);
	log_info("on-demand: ordering a certificate for %s", name);
	od_demand(od, name);
}

/* ---- resolving queued names -------------------------------------------- */

static void
od_resolve(struct ondemand *od, struct od_entry *e, const char *name)
{
	struct store_ondemand	 rec;
	struct certfile		*cf;
	struct errbuf		 eb;
	int			 indexed, ask = 0, order = 0;
	time_t			 now = time(NULL);
	char			*url = NULL;

	/* Without the lock: the store. */
	eb.msg[0] = '\0';
	cf = store_cert_get(od->store, name, CERTFILE_EC, &eb);
	if (cf == NULL && eb.msg[0] != '\0')
		log_err("on-demand: stored certificate of %s: %s", name, eb.msg);
	indexed = store_ondemand_get(od->store, name, &rec) == 0;
	pthread_mutex_lock(od_lock());
	e->indexed = indexed;
	if (indexed) {
		e->persisted = rec.last_used;
		e->idx_not_after = rec.not_after;
	}
	if (cf != NULL && cf->not_after > now + OD_VALID_MARGIN) {
		struct store_ondemand nrec = { now, cf->not_before, cf->not_after };
		int add = !e->indexed;
		int due = od_renewal_due(cf->not_before, cf->not_after, now);

		od->cnt.loads++;
		od_set_ready(od, e, cf);
		if (add) {
			/* Stored but not indexed (a site's name once): from
			 * now on it is on-demand, counted and swept. */
			e->indexed = 1;
			e->persisted = now;
			e->idx_not_after = cf->not_after;
			if (od->stored >= 0)
				od->stored++;
		}
		pthread_mutex_unlock(od_lock());
		certfile_unref(cf);
		if (add)
			od_index_put(od, name, &nrec);
		/*
		 * Renewals follow use: a certificate due for renewal goes to
		 * the ACME client now, the others when the sweep finds them
		 * used lately and due. Handing every load over would have the
		 * ACME client keep a job (and the certificate) for every name
		 * ever loaded, whatever cache_size says, and look each new one
		 * up among them all: a sweep over 100,000 stored names grew
		 * by ~6 KiB a name and spent a core on that search.
		 */
		if (due)
			od_demand(od, name);
		return;
	}
	certfile_unref(cf);
	if (e->approved || e->yes_until > now)
		order = od_order(od, e, now);
	else if (!e->indexed && od->stored >= 0 &&
	    od->stored >= (long)od->cfg.max_certificates)
		od_refuse(od, e, ODR_CAP, now, NULL);
	else if (!od_ask_allowed(od, e->client, now))
		od_refuse(od, e, ODR_ASK_RATE, now, e->client);
	else {
		e->st = ODS_ASKING;
		od->cnt.asks++;
		url = xasprintf("%s%cdomain=%s&client_ip=%s", od->cfg.ask,
		    strchr(od->cfg.ask, '?') != NULL ? '&' : '?', name, e->client);
		ask = 1;
	}
	pthread_mutex_unlock(od_lock());
	if (order)
		od_order_send(od, name, now);
	if (ask && od_ask_start(od, e, url) == -1) {
		pthread_mutex_lock(od_lock());
		od_refuse(od, e, ODR_ASK_ERROR, now, "the call could not start");
		pthread_mutex_unlock(od_lock());
	}
	free(url);
}

static void
od_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct ondemand	*od = arg;
	struct od_entry	*e;
	char		*name;

	(void)fd;
	(void)what;
	for (;;) {
		pthread_mutex_lock(od_lock());
		if (od->nq == 0 || od->stopping) {
			pthread_mutex_unlock(od_lock());
			return;
		}
		e = od->q[0];
		memmove(od->q, od->q + 1, --od->nq * sizeof(*od->q));
		e->queued = 0;
		if (e->st != ODS_LOADING) {
			pthread_mutex_unlock(od_lock());
			continue;
		}
		name = xstrdup(e->name);
		/* Loading, not queued: still not evictable (entry_idle). */
		pthread_mutex_unlock(od_lock());
		od_resolve(od, e, name);
		free(name);
	}
}

/* ---- from the ACME client and the store -------------------------------- */

void
ondemand_acme_result(const char *name, int ok, const char *err, time_t retry_at,
    void *arg)
{
	struct ondemand	*od;
	struct od_entry	*e;
	time_t		 now = time(NULL);

	(void)arg;
	if (ok)
		return;		/* the certificate comes through the feed */
	pthread_mutex_lock(od_lock());
	if ((od = od_running()) != NULL && (e = od_find(od, name)) != NULL &&
	    e->st == ODS_ORDERING)
		od_refuse(od, e, ODR_ORDER_FAILED, retry_at > now ? retry_at :
		    now + 60, err);
	pthread_mutex_unlock(od_lock());
}

/* The store's feed (any thread): a new certificate for a name in memory
 * serves at once, and wakes whoever waits for it. */
static void
od_on_store(const struct store_event *ev, void *arg)
{
	struct ondemand	*od = arg;
	struct od_entry	*e;

	if (ev->kind != STORE_CHANGE_CERT || ev->kt != CERTFILE_EC)
		return;
	pthread_mutex_lock(od_lock());
	if ((e = od_find(od, ev->name)) != NULL && e->st != ODS_ASKING &&
	    e->st != ODS_LOADING) {
		if (e->st == ODS_ORDERING) {
			od->cnt.issued++;
			log_notice("on-demand: %s has its certificate", e->name);
		}
		od_set_ready(od, e, ev->cf);
	}
	pthread_mutex_unlock(od_lock());
}

/* ---- the index of last uses --------------------------------------------- */

struct od_put {
	char			*name;
	struct store_ondemand	 rec;
};

/* Write the records that changed: a use newer than the index's by an hour,
 * or a new certificate. */
static void
od_flush(struct ondemand *od)
{
	struct od_put	*v = NULL;
	size_t		 n = 0, cap = 0;
	time_t		 touch;

	pthread_mutex_lock(od_lock());
	touch = (time_t)(od->cfg.renew_window / 4) < OD_TOUCH_EVERY ?
	    (time_t)(od->cfg.renew_window / 4) : OD_TOUCH_EVERY;
	for (struct od_entry *e = od->newest; e != NULL; e = e->older) {
		if (e->st != ODS_READY || e->cf == NULL || !e->indexed)
			continue;
		if (e->last_used < e->persisted + touch &&
		    e->idx_not_after == e->cf->not_after)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n].name = xstrdup(e->name);
		v[n].rec.last_used = e->last_used > e->persisted ? e->last_used :
		    e->persisted;
		v[n].rec.not_before = e->cf->not_before;
		v[n].rec.not_after = e->cf->not_after;
		e->persisted = v[n].rec.last_used;
		e->idx_not_after = e->cf->not_after;
		n++;
	}
	pthread_mutex_unlock(od_lock());
	for (size_t i = 0; i < n; i++) {
		od_index_put(od, v[i].name, &v[i].rec);
		free(v[i].name);
	}
	free(v);
}

static void
od_on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	od_flush(arg);
}

/* ---- the sweep ---------------------------------------------------------- */

struct od_swept {
	char			**renew, **unused;
	size_t			  nrenew, nunused, caprenew, capunused;
	long			  total;
	time_t			  now, window;
};

static void
push(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*v = xrealloc(*v, *cap * sizeof(char *));
	}
	(*v)[(*n)++] = xstrdup(s);
}

static void
od_sweep_one(const char *name, const struct store_ondemand *rec, void *arg)
{
	struct od_swept	*sw = arg;

	sw->total++;
	if (rec->last_used + sw->window >= sw->now) {
		/* Used lately: due for renewal? */
		if (od_renewal_due(rec->not_before, rec->not_after, sw->now))
			push(&sw->renew, &sw->nrenew, &sw->caprenew, name);
	} else
		push(&sw->unused, &sw->nunused, &sw->capunused, name);
}

static void
od_sweep(struct ondemand *od)
{
	struct od_swept	 sw;
	struct errbuf	 eb;
	size_t		 dropped = 0, forgotten = 0;

	od_flush(od);
	memset(&sw, 0, sizeof(sw));
	sw.now = time(NULL);
	pthread_mutex_lock(od_lock());
	sw.window = (time_t)od->cfg.renew_window;
	pthread_mutex_unlock(od_lock());
	if (store_ondemand_list(od->store, od_sweep_one, &sw) == -1) {
		log_err("on-demand: cannot list the store's on-demand names");
		return;
	}
	for (size_t i = 0; i < sw.nrenew; i++) {
		od_demand(od, sw.renew[i]);
		free(sw.renew[i]);
	}
	/* Unused: no more renewals; once expired, out of the store. */
	for (size_t i = 0; i < sw.nunused; i++) {
		struct store_ondemand	 rec;
		struct od_entry		*e;
		int			 busy;
		char			*name = sw.unused[i];

		pthread_mutex_lock(od_lock());
		/* In memory and used since the index was written: keep. */
		busy = (e = od_find(od, name)) != NULL &&
		    (e->last_used + (time_t)od->cfg.renew_window >= sw.now ||
		    e->st == ODS_ORDERING || e->st == ODS_ASKING || e->st == ODS_LOADING);
		pthread_mutex_unlock(od_lock());
		if (!busy) {
			acme_forget(od->acme, name);
			forgotten++;
			/* The record may have changed since the listing. */
			if (store_ondemand_get(od->store, name, &rec) == 0 &&
			    rec.not_after <= sw.now && rec.last_used + sw.window < sw.now) {
				if (store_ondemand_remove(od->store, name, &eb) == -1)
					log_err("on-demand: drop %s: %s", name, eb.msg);
				else {
					log_info("on-demand: %s unused and expired: "
					    "deleted", name);
					dropped++;
					sw.total--;
				}
			}
		}
		free(name);
	}
	pthread_mutex_lock(od_lock());
	od->stored = sw.total;
	pthread_mutex_unlock(od_lock());
	if (sw.nrenew > 0 || dropped > 0)
		log_info("on-demand sweep: %zu names due for renewal, %zu unused "
		    "(%zu expired and deleted), %ld stored", sw.nrenew, forgotten,
		    dropped, sw.total);
	free(sw.renew);
	free(sw.unused);
}

static void
od_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct ondemand	*od = arg;
	struct timeval	 tv;
	double		 every;

	(void)fd;
	(void)what;
	od_sweep(od);
	pthread_mutex_lock(od_lock());
	every = od->cfg.sweep_interval;
	pthread_mutex_unlock(od_lock());
	tv.tv_sec = (time_t)every;
	tv.tv_usec = (suseconds_t)((every - (double)tv.tv_sec) * 1e6);
	evtimer_add(od->ev_sweep, &tv);
}

/* ---- the thread ---------------------------------------------------------- */

static void
od_on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(((struct ondemand *)arg)->base);
}

static void *
od_main(void *arg)
{
	struct ondemand	*od = arg;
	long		 n;

	/* A readdir, no certificate parsed: the cap needs the count. */
	n = store_ondemand_count(od->store);
	pthread_mutex_lock(od_lock());
	od->stored = n;
	pthread_mutex_unlock(od_lock());
	if (n < 0)
		log_err("on-demand: cannot count the stored on-demand names");
	event_base_loop(od->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
od_thread_start(struct ondemand *od, struct errbuf *eb)
{
	struct timeval tv = { OD_SWEEP_FIRST, 0 }, fl = { OD_FLUSH_EVERY, 0 };

	if (od->cfg.sweep_interval < OD_SWEEP_FIRST)
		tv.tv_sec = (time_t)od->cfg.sweep_interval;

	if ((od->base = event_base_new()) == NULL)
		return errbuf_set(eb, "on-demand: event_base_new failed");
	od->http = acme_http_new(od->base, NULL);
	acme_http_set_options(od->http, 1, (long)(od->cfg.ask_timeout * 1000));
	od->ev_kick = event_new(od->base, -1, 0, od_on_kick, od);
	od->ev_stop = event_new(od->base, -1, 0, od_on_stop, od);
	od->ev_sweep = evtimer_new(od->base, od_on_sweep, od);
	od->ev_flush = event_new(od->base, -1, EV_PERSIST, od_on_flush, od);
	evtimer_add(od->ev_sweep, &tv);
	evtimer_add(od->ev_flush, &fl);
	store_watch(od->store, od_on_store, od);
	if (pthread_create(&od->thr, NULL, od_main, od) != 0) {
		store_unwatch(od->store, od_on_store, od);
		return errbuf_set(eb, "on-demand: cannot start its thread");
	}
	return 0;
}

void
od_thread_stop(struct ondemand *od)
{
	if (od->base == NULL)
		return;
	store_unwatch(od->store, od_on_store, od);
	event_active(od->ev_stop, EV_TIMEOUT, 0);
	pthread_join(od->thr, NULL);
	od_flush(od);
	acme_http_free(od->http);
	od_ask_free(od);
	event_free(od->ev_kick);
	event_free(od->ev_stop);
	event_free(od->ev_sweep);
	event_free(od->ev_flush);
	event_base_free(od->base);
	od->base = NULL;
}
