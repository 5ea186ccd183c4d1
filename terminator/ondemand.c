/*
 * ondemand.c - on-demand TLS (ondemand.h): the table of names in memory,
 * the waits of paused handshakes, and the thread that resolves names.
 *
 * One mutex guards the table, the LRU list, every entry, every wait and the
 * counters. Workers hold it for a lookup; the thread holds it between its
 * steps but never across I/O (a store read, an ask call, an order).
 * An entry that is being resolved (loading, asking, ordering) or has
 * waiters is never evicted, so the thread may keep a pointer to it.
 */
#include "ondemand.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "acme.h"
#include "certfile.h"
#include "config.h"
#include "errbuf.h"
#include "fnv.h"
#include "log.h"
#include "ondemand_impl.h"
#include "store.h"
#include "xalloc.h"

const char *const od_refusal_names[ODR__MAX] = {
	"invalid_name", "ask_no", "ask_error", "ask_rate", "order_rate",
	"concurrent_orders", "certificate_cap", "order_failed",
};

static const char *const od_state_names[ODS__MAX] = {
	"loading", "asking", "ordering", "ready", "refused",
};

static pthread_mutex_t	 od_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct ondemand	*od_cur;		/* under od_mtx */

/* ---- the table --------------------------------------------------------- */

static uint32_t
od_hash(const char *s)
{
	return fnv1a32(s, strlen(s));
}

struct od_entry *
od_find(struct ondemand *od, const char *name)
{
	uint32_t	 h = od_hash(name);
	struct od_entry	*e;

	for (e = od->tab[h & (od->tabcap - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
lru_unlink(struct ondemand *od, struct od_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		od->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		od->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void
lru_front(struct ondemand *od, struct od_entry *e)
{
	if (od->newest == e)
		return;
	if (e->newer != NULL || e->older != NULL || od->oldest == e)
		lru_unlink(od, e);
	e->older = od->newest;
	if (od->newest != NULL)
		od->newest->newer = e;
	od->newest = e;
	if (od->oldest == NULL)
		od->oldest = e;
}

static void
tab_grow(struct ondemand *od)
{
	size_t		  cap = od->tabcap * 2;
	struct od_entry	**tab = xcalloc(cap, sizeof(*tab));

	for (size_t i = 0; i < od->tabcap; i++) {
		struct od_entry *e, *next;
		for (e = od->tab[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = tab[e->hash & (cap - 1)];
			tab[e->hash & (cap - 1)] = e;
		}
	}
	free(od->tab);
	od->tab = tab;
	od->tabcap = cap;
}

static void
entry_free(struct ondemand *od, struct od_entry *e)
{
	struct od_entry **pp = &od->tab[e->hash & (od->tabcap - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(od, e);
	certfile_unref(e->cf);
	free(e->name);
	free(e);
	od->n--;
}

/* Whether e may leave memory: settled, nobody waiting, not queued. */
static int
entry_idle(const struct od_entry *e)
{
	return (e->st == ODS_READY || e->st == ODS_REFUSED) && e->waiters == NULL &&
	    !e->queued;
}

/*
 * Keep the table within cache_size: the least recently used idle entries
 * go, refusals before certificates (among the oldest OD_EVICT_LOOK), so
 * that a flood of names nobody approved does not push the certificates in
 * use out of memory; a certificate pushed out is loaded again from the
 * store at its next handshake.
 */
#define OD_EVICT_LOOK	256	/* oldest entries searched for a refusal */

static void
evict(struct ondemand *od)
{
	/* The first pass looks at the oldest entries only, so that an
	 * insertion costs a bounded walk under the lock, not one of the
	 * whole cache; the second takes the oldest idle entry of any kind. */
	for (int pass = 0; pass < 2 && od->n > od->cfg.cache_size; pass++) {
		struct od_entry	*e = od->oldest, *newer;
		unsigned	 looked = 0;

		for (; od->n > od->cfg.cache_size && e != NULL; e = newer) {
			newer = e->newer;
			if (pass == 0 && looked++ == OD_EVICT_LOOK)
				break;
			if (entry_idle(e) && (pass == 1 || e->st == ODS_REFUSED))
				entry_free(od, e);
		}
	}
}

static struct od_entry *
entry_new(struct ondemand *od, const char *name)
{
	struct od_entry	*e = xcalloc(1, sizeof(*e));
	size_t		 b;

	if (od->n + 1 > od->tabcap)
		tab_grow(od);
	e->name = xstrdup(name);
	e->hash = od_hash(name);
	b = e->hash & (od->tabcap - 1);
	e->hnext = od->tab[b];
	od->tab[b] = e;
	od->n++;
	lru_front(od, e);
	return e;
}

/* ---- waits ------------------------------------------------------------- */

static void
od_trampoline(void *arg)
{
	struct od_wait	*w = arg;
	int		 cancelled;

	pthread_mutex_lock(&od_mtx);
	cancelled = w->cancelled;
	pthread_mutex_unlock(&od_mtx);
	if (!cancelled)
		w->fn(w->arg);
	free(w);
}

/* Under od_mtx: wake every handshake waiting for e. */
void
od_wake(struct od_entry *e)
{
	struct od_wait *w, *next;

	for (w = e->waiters; w != NULL; w = next) {
		next = w->next;
		w->e = NULL;
		w->next = NULL;
		w->fired = 1;
		if (w->bound)
			w->post(w->ctx, od_trampoline, w);
	}
	e->waiters = NULL;
}

void
od_wait_bind(struct od_wait *w, void (*post)(void *, void (*)(void *), void *),
    void *ctx, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&od_mtx);
	w->post = post;
	w->ctx = ctx;
	w->fn = fn;
	w->arg = arg;
	w->bound = 1;
	if (w->fired)
		post(ctx, od_trampoline, w);
	pthread_mutex_unlock(&od_mtx);
}

void
od_wait_cancel(struct od_wait *w)
{
	int do_free = 0;

	pthread_mutex_lock(&od_mtx);
	if (!w->fired) {
		struct od_wait **pp = &w->e->waiters;
		while (*pp != w)
			pp = &(*pp)->next;
		*pp = w->next;
		do_free = 1;
	} else if (w->bound)
		w->cancelled = 1;	/* the trampoline is queued: it frees */
	else
		do_free = 1;
	pthread_mutex_unlock(&od_mtx);
	if (do_free)
		free(w);
}

/* ---- state changes (under od_mtx) -------------------------------------- */

void
od_set_ready(struct ondemand *od, struct od_entry *e, struct certfile *cf)
{
	if (e->st == ODS_ORDERING && od->ordering > 0)
		od->ordering--;
	certfile_unref(e->cf);
	e->cf = certfile_ref(cf);
	e->st = ODS_READY;
	e->logged = 0;
	od_wake(e);
}

void
od_refuse(struct ondemand *od, struct od_entry *e, enum od_refusal why,
    time_t until, const char *detail)
{
	if (e->st == ODS_ORDERING && od->ordering > 0)
		od->ordering--;
	e->st = ODS_REFUSED;
	e->refusal = why;
	e->refused_until = until;
	od->cnt.refusals[why]++;
	if (!e->logged) {
		e->logged = 1;
		log_notice("on-demand: %s refused (%s)%s%s", e->name,
		    od_refusal_names[why], detail ? ": " : "", detail ? detail : "");
	}
	od_wake(e);
}

/* Queue e for the thread (state LOADING). */
static void
od_queue(struct ondemand *od, struct od_entry *e)
{
	e->st = ODS_LOADING;
	if (e->queued)
		return;
	e->queued = 1;
	if (od->nq == od->qcap) {
		od->qcap = od->qcap ? 2 * od->qcap : 64;
		od->q = xrealloc(od->q, od->qcap * sizeof(*od->q));
	}
	od->q[od->nq++] = e;
	event_active(od->ev_kick, EV_TIMEOUT, 0);
}

/* ---- the worker's side -------------------------------------------------- */

int
ondemand_enabled(void)
{
	int on;

	pthread_mutex_lock(&od_mtx);
	on = od_cur != NULL && !od_cur->stopping;
	pthread_mutex_unlock(&od_mtx);
	return on;
}

static void
peer_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	const void *a = sa->sa_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		snprintf(buf, cap, "-");
	else if (inet_ntop(sa->sa_family, a, buf, (socklen_t)cap) == NULL)
		snprintf(buf, cap, "-");
}

enum od_answer
ondemand_get(const char *sni, const struct sockaddr *peer, int woken,
    struct certfile **cf, struct od_wait **wait, const char **why)
{
	struct ondemand	*od;
	struct od_entry	*e;
	struct od_wait	*w;
	char		 name[256];
	size_t		 n = strlen(sni);
	time_t		 now = time(NULL);

	*why = NULL;
	if (n > 0 && sni[n - 1] == '.')
		n--;
	if (n >= sizeof(name)) {
		*why = "name too long";
		return OD_REFUSED;
	}
	for (size_t i = 0; i < n; i++)
		name[i] = (char)(sni[i] >= 'A' && sni[i] <= 'Z' ? sni[i] + 32 : sni[i]);
	name[n] = '\0';
	pthread_mutex_lock(&od_mtx);
	if ((od = od_cur) == NULL || od->stopping) {
		pthread_mutex_unlock(&od_mtx);
		*why = "on-demand TLS is off";
		return OD_REFUSED;
	}
	if ((e = od_find(od, name)) == NULL) {
		const char *bad = ondemand_name_check(name, od->cfg.allow_ip);

		if (bad != NULL) {
			od->cnt.refusals[ODR_INVALID]++;
			pthread_mutex_unlock(&od_mtx);
			*why = bad;
			return OD_REFUSED;
		}
		e = entry_new(od, name);
		peer_str(peer, e->client, sizeof(e->client));
		od_queue(od, e);
		evict(od);
	}
	lru_front(od, e);
	switch (e->st) {
	case ODS_READY:
		if (e->cf->not_after > now) {
			e->last_used = now;
			*cf = certfile_ref(e->cf);
			pthread_mutex_unlock(&od_mtx);
			return OD_READY;
		}
		/* Expired (left unused, or renewals failed): again. */
		peer_str(peer, e->client, sizeof(e->client));
		od_queue(od, e);
		break;
	case ODS_REFUSED:
		if (e->refused_until > now || woken) {
			od->cnt.refusals[e->refusal]++;
			*why = od_refusal_names[e->refusal];
			pthread_mutex_unlock(&od_mtx);
			return OD_REFUSED;
		}
		peer_str(peer, e->client, sizeof(e->client));
		od_queue(od, e);
		break;
	default:
		break;
	}
	e->last_used = now;
	w = xcalloc(1, sizeof(*w));
	w->e = e;
	w->next = e->waiters;
	e->waiters = w;
	*wait = w;
	pthread_mutex_unlock(&od_mtx);
	return OD_PENDING;
}

const char *
ondemand_name_check(const char *name, int allow_ip)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;
	size_t		 n = strlen(name), label = 0;
	int		 dots = 0;

	if (n == 0 || n > 253)
		return "not 1 to 253 bytes";
	if (inet_pton(AF_INET, name, &a4) == 1 || inet_pton(AF_INET6, name, &a6) == 1)
		return allow_ip ? NULL : "an IP address (on_demand.allow_ip is off)";
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (c == '.') {
			if (label == 0 || name[i - 1] == '-')
				return "an empty label or one ending in '-'";
			label = 0;
			dots++;
			continue;
		}
		if (c == '*')
			return "a wildcard";
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return "not a lowercase A-label name";
		if (label == 0 && c == '-')
			return "a label starting with '-'";
		if (++label > 63)
			return "a label longer than 63 bytes";
	}
	if (label == 0 || name[n - 1] == '-')
		return "an empty label or one ending in '-'";
	if (dots == 0)
		return "a single-label name";
	return NULL;
}

void
ondemand_approve(struct ondemand *od, const char *name)
{
	struct od_entry *e;

	if (ondemand_name_check(name, 1) != NULL) {
		log_warnx("approve: \"%s\" is not a name to order", name);
		return;
	}
	pthread_mutex_lock(&od_mtx);
	if ((e = od_find(od, name)) == NULL) {
		e = entry_new(od, name);
		snprintf(e->client, sizeof(e->client), "-");
		e->st = ODS_REFUSED;	/* queued below */
	}
	e->approved = 1;
	e->yes_until = time(NULL) + (time_t)od->cfg.ask_cache_yes;
	if (e->st == ODS_REFUSED)
		od_queue(od, e);
	log_notice("approve: %s approved; ordered unless the store has it", name);
	evict(od);
	pthread_mutex_unlock(&od_mtx);
}

/* ---- status ------------------------------------------------------------ */

void
ondemand_counters(struct od_counters *out)
{
	memset(out, 0, sizeof(*out));
	out->stored = -1;
	pthread_mutex_lock(&od_mtx);
	if (od_cur != NULL) {
		*out = od_cur->cnt;
		out->cached = od_cur->n;
		out->stored = od_cur->stored;
		out->pending = od_cur->ordering;
	}
	pthread_mutex_unlock(&od_mtx);
}

size_t
ondemand_status(struct od_status *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&od_mtx);
	if (od_cur != NULL)
		for (struct od_entry *e = od_cur->newest; e != NULL && n < max;
		    e = e->older, n++) {
			snprintf(out[n].name, sizeof(out[n].name), "%s", e->name);
			snprintf(out[n].state, sizeof(out[n].state), "%s",
			    od_state_names[e->st]);
			out[n].last_used = e->last_used;
			out[n].not_after = e->cf != NULL ? e->cf->not_after : 0;
		}
	pthread_mutex_unlock(&od_mtx);
	return n;
}

/* ---- life -------------------------------------------------------------- */

static void
cfg_copy(struct ondemand *od, const struct ondemand_cfg *cfg)
{
	free(od->cfg.ask);
	od->cfg = *cfg;
	od->cfg.ask = xstrdup(cfg->ask);
	od->cfg.site = NULL;
}

struct ondemand *
ondemand_start(const struct ondemand_cfg *cfg, struct store *store,
    struct acme *acme, struct errbuf *eb)
{
	struct ondemand *od = xcalloc(1, sizeof(*od));

	cfg_copy(od, cfg);
	od->store = store;
	od->acme = acme;
	od->stored = -1;
	od->tabcap = 1024;
	od->tab = xcalloc(od->tabcap, sizeof(*od->tab));
	od_site_from(od, cfg->site);
	if (od_thread_start(od, eb) == -1) {
		od_free(od);
		return NULL;
	}
	pthread_mutex_lock(&od_mtx);
	od_cur = od;
	pthread_mutex_unlock(&od_mtx);
	log_info("on-demand TLS on: asking %s", cfg->ask);
	return od;
}

void
ondemand_configure(struct ondemand *od, const struct ondemand_cfg *cfg)
{
	pthread_mutex_lock(&od_mtx);
	cfg_copy(od, cfg);
	od_site_from(od, cfg->site);
	evict(od);
	pthread_mutex_unlock(&od_mtx);
}

void
ondemand_stop(struct ondemand *od)
{
	if (od == NULL)
		return;
	pthread_mutex_lock(&od_mtx);
	od->stopping = 1;
	/* Paused handshakes fail now, not at their timeout. */
	for (size_t i = 0; i < od->tabcap; i++)
		for (struct od_entry *e = od->tab[i]; e != NULL; e = e->hnext)
			if (e->waiters != NULL) {
				e->logged = 1;
				od_refuse(od, e, ODR_ASK_ERROR, 0, NULL);
			}
	pthread_mutex_unlock(&od_mtx);
	od_thread_stop(od);
	pthread_mutex_lock(&od_mtx);
	od_cur = NULL;
	pthread_mutex_unlock(&od_mtx);
	od_free(od);
}

void
od_free(struct ondemand *od)
{
	for (size_t i = 0; i < od->tabcap; i++) {
		struct od_entry *e, *next;
		for (e = od->tab[i]; e != NULL; e = next) {
			next = e->hnext;
			certfile_unref(e->cf);
			free(e->name);
			free(e);
		}
	}
	free(od->tab);
	free(od->q);
	free(od->cfg.ask);
	od_site_clear(od);
	free(od);
}

struct ondemand *
od_running(void)
{
	return od_cur;
}

pthread_mutex_t *
od_lock(void)
{
	return &od_mtx;
}
