/*
 * server.c - the main thread. It owns the configuration, builds serving views
 * and publishes them, and tells workers when to stop.
 *
 * Reload is one transaction (hitch's reconfigure): the new config is parsed
 * and every certificate loaded to one side; only if all of that succeeds is
 * the new view published. Any error leaves the old view serving.
 *
 * The store is the one source of ACME certificates. Its change feed hands a
 * new certificate to this thread (a queue and an event), and reloads run on
 * this thread too, so a view is only ever built or changed here, one change
 * after the other: an install and a reload cannot lose each other. The ACME
 * client lives across reloads and is told what changed (acme_update).
 */
#include "server.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <ftw.h>
#include <stdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "acme.h"
#include "challenge.h"
#include "store.h"
#include "admin.h"
#include "certfile.h"
#include "config.h"
#include "config_store.h"
#include "ech.h"
#include "errbuf.h"
#include "health.h"
#include "http80.h"
#include "pool.h"
#include "log.h"
#include "route.h"
#include "ondemand.h"
#include "sdnotify.h"
#include "sites.h"
#include "storetask.h"
#include "ticket.h"
#include "tls.h"
#include "worker.h"
#include "xalloc.h"

struct server {
	struct event_base	*base;
	struct config		*cfg;
	struct shared		 sh;
	struct worker		**workers;
	int			  nworkers;
	struct http80		 *http;
	struct event		 *ev_hup, *ev_term, *ev_int, *ev_ticket, *ev_drain,
				 *ev_check, *ev_usr1, *ev_watchdog;
	struct acme		 *acme;
	struct ondemand		 *od;		/* on-demand TLS, or NULL */
	struct store		 *store;	/* NULL when no site uses ACME */
	char			 *store_key;	/* state_dir and directory it is for */
	char			 *acme_key;	/* the ACME settings it runs with */
	struct event		 *ev_store;
	pthread_mutex_t		  q_mtx;	/* guards q */
	struct store_cert	 *q;		/* certificates from the feed */
	size_t			  nq;
	atomic_int		  tickets_changed;	/* from the feed */
	atomic_int		  ech_changed;		/* from the feed */
	int			  renew_q;	/* a renewal request in the feed */
	struct admin		 *admin;
	struct health		 *health;
	struct storetask	 *tasks;	/* the store's work (storetask.h) */
	struct event		 *ev_expiry;
	char			 *pidfile;	/* the state_dir holding it */
	int			  stopping;
};

static int
addr_port(const struct addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

static void
apply_log(const struct config *c)
{
	log_set_level((enum log_level)c->log_level);
	log_set_json(c->log_json);
}

static int
same_addrs(const struct addr *a, size_t na, const struct addr *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (a[i].len != b[i].len || memcmp(&a[i].ss, &b[i].ss, a[i].len) != 0)
			return 0;
	return 1;
}

struct store_cert {
	char		*name;
	struct certfile	*cf;
};

/* The store's feed, on the thread that changed the store: queue it for the
 * main thread. */
static void
server_on_store_event(const struct store_event *ev, void *arg)
{
	struct server *s = arg;

	if (ev->kind == STORE_CHANGE_TICKETS || ev->kind == STORE_CHANGE_ECH) {
		atomic_store(ev->kind == STORE_CHANGE_TICKETS ? &s->tickets_changed :
		    &s->ech_changed, 1);
		event_active(s->ev_store, EV_TIMEOUT, 0);
		return;
	}
	if (ev->kind == STORE_CHANGE_RENEW_REQUEST) {
		/* A shared store (etcd): "tlsgate renew" on any node. */
		pthread_mutex_lock(&s->q_mtx);
		s->renew_q = 1;
		pthread_mutex_unlock(&s->q_mtx);
		event_active(s->ev_store, EV_TIMEOUT, 0);
		return;
	}
	if (ev->kind != STORE_CHANGE_CERT)
		return;
	pthread_mutex_lock(&s->q_mtx);
	s->q = xrealloc(s->q, (s->nq + 1) * sizeof(*s->q));
	s->q[s->nq].name = xstrdup(ev->name);
	s->q[s->nq].cf = certfile_ref(ev->cf);
	s->nq++;
	pthread_mutex_unlock(&s->q_mtx);
	event_active(s->ev_store, EV_TIMEOUT, 0);
}

static void	server_take_renew_requests(struct server *, int all_if_none);

/*
 * The store's work, on the task thread (storetask.h): what the main loop
 * would otherwise wait on etcd for while port 80, the admin endpoint and
 * the health checks wait on it.
 */
static void
task_tickets_adopt(void *arg)
{
	ticket_store_changed();
}

static void
task_tickets_rotate(void *arg)
{
	ticket_rotate();
}

static void
task_ech_adopt(void *arg)
{
	ech_store_changed();
}

static void
task_renew_requests(void *arg)
{
	server_take_renew_requests(arg, 0);
}

static void
task_renew_or_all(void *arg)
{
	server_take_renew_requests(arg, 1);
}

/* Main thread: put the queued certificates in service, oldest first. */
static void
server_on_store_cert(evutil_socket_t fd, short what, void *arg)
{
	struct server		*s = arg;
	struct store_cert	*q;
	struct errbuf		 eb;
	size_t			 n;
	int			 renew;

	if (atomic_exchange(&s->tickets_changed, 0))
		storetask_run(s->tasks, task_tickets_adopt, NULL);
	if (atomic_exchange(&s->ech_changed, 0))
		storetask_run(s->tasks, task_ech_adopt, NULL);
	pthread_mutex_lock(&s->q_mtx);
	q = s->q;
	n = s->nq;
	s->q = NULL;
	s->nq = 0;
	renew = s->renew_q;
	s->renew_q = 0;
	pthread_mutex_unlock(&s->q_mtx);
	/* One node of the fleet takes each request; the others find none. */
	if (renew && s->acme != NULL)
		storetask_run(s->tasks, task_renew_requests, s);
	for (size_t i = 0; i < n; i++) {
		struct view	*cur = view_current();
		int		 rc, ours;

		/* Names of no site are on-demand ones: ondemand.c has them. */
		ours = cur != NULL && view_site_named(cur, q[i].name) != NULL;
		view_unref(cur);
		if (!ours) {
			free(q[i].name);
			certfile_unref(q[i].cf);
			continue;
		}
		rc = view_apply_cert(q[i].name, q[i].cf, &eb);
		if (rc == -1)
			log_err("acme %s: cannot install the new certificate: %s",
			    q[i].name, eb.msg);
		else
			log_notice("acme %s: new certificate in service (%s)", q[i].name,
			    q[i].cf->sha256);
		free(q[i].name);
		certfile_unref(q[i].cf);
	}
	free(q);
}

static char *
store_key_of(const struct config *c)
{
	return config_store_id(c, c->acme.directory ? c->acme.directory :
	    ACME_LETSENCRYPT);
}

static char *
acme_key_of(const struct config *c)
{
	const struct acme_global *g = &c->acme;

	char *ik = config_acme_issuers_key(c), *k;

#define S(x) ((x) != NULL ? (x) : "")
	k = xasprintf("%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%ld\n%ld\n%s\n%s", S(g->directory),
	    S(g->email), S(g->ca_file), S(g->state_dir), S(g->eab_kid),
	    S(g->eab_hmac), S(g->dns_hook), S(g->preferred_chain), g->retry_base,
	    g->max_concurrent_orders, S(g->profile), ik);
#undef S
	free(ik);
	return k;
}

/* The store for c (NULL if no site uses ACME); s->store if it fits. */
static struct store *
server_store_for(struct server *s, const struct config *c, struct errbuf *eb)
{
	struct store	*st;
	char		*key;

	if (!config_uses_acme(c))
		return NULL;
	key = store_key_of(c);
	if (s->store != NULL && strcmp(key, s->store_key) == 0) {
		free(key);
		return s->store;
	}
	free(key);
	if ((st = config_store_open(c, c->acme.directory ?
	    c->acme.directory : ACME_LETSENCRYPT, eb)) == NULL)
		return NULL;
	return st;
}

/* Make st the store in use (following its feed), retiring the old one. */
static void
server_use_store(struct server *s, struct store *st, const struct config *c)
{
	if (st == s->store)
		return;
	storetask_drain(s->tasks);	/* none uses the store, acme or od */
	ondemand_stop(s->od);
	s->od = NULL;
	acme_stop(s->acme);
	s->acme = NULL;
	ticket_use_store(NULL, 0);
	if (s->store != NULL) {
		challenge_unfollow(s->store);
		store_unwatch(s->store, server_on_store_event, s);
		store_close(s->store);
	}
	free(s->store_key);
	s->store = st;
	s->store_key = st != NULL ? store_key_of(c) : NULL;
	if (st != NULL) {
		store_watch(st, server_on_store_event, s);
		challenge_follow(st);
		ticket_use_store(st, c->ticket_rotation);
	}
	admin_set_store(st);
}

/* The ACME sites of c, borrowing c's strings (free the array only). */
static struct acme_site_cfg *
acme_sites_of(const struct config *c, size_t *n)
{
	struct acme_site_cfg *sites = xcalloc(c->nsites + 1, sizeof(*sites));

	*n = 0;
	for (size_t i = 0; i < c->nsites; i++) {
		if (!c->sites[i].acme)
			continue;
		sites[*n].label = c->sites[i].names[0];
		sites[*n].names = c->sites[i].names;
		sites[*n].nnames = c->sites[i].nnames;
		sites[*n].challenges = c->sites[i].challenges;
		sites[*n].nchallenges = c->sites[i].nchallenges;
		sites[*n].rsa = c->sites[i].acme_rsa;
		sites[*n].profile = c->sites[i].acme_profile;
		(*n)++;
	}
	return sites;
}

/* acme_cfg.account_store: a fallback CA's account, in its own namespace. */
static struct store *
server_account_store(const char *directory, void *arg, struct errbuf *eb)
{
	return config_store_open(arg, directory, eb);
}

/*
 * Start the ACME client for s->cfg, or, when one runs with the same
 * settings, hand it the new site list: unchanged sites keep their jobs.
 */
static int
server_sync_acme(struct server *s, struct errbuf *eb)
{
	struct acme_site_cfg	*sites;
	struct acme_issuer_cfg	*iss;
	struct acme_cfg		 ac;
	size_t			 n;
	const struct config	*c = s->cfg;
	char			*key;

	if (!config_uses_acme(c) || s->store == NULL) {
		ondemand_stop(s->od);
		s->od = NULL;
		acme_stop(s->acme);
		s->acme = NULL;
		free(s->acme_key);
		s->acme_key = NULL;
		return 0;
	}
	sites = acme_sites_of(c, &n);
	key = acme_key_of(c);
	if (s->acme != NULL && strcmp(key, s->acme_key) == 0) {
		acme_update(s->acme, sites, n);
		free(key);
		free(sites);
		return 0;
	}
	if (s->acme != NULL)
		log_notice("acme: settings changed; restarting the client (its state "
		    "is in the store)");
	ondemand_stop(s->od);
	s->od = NULL;
	acme_stop(s->acme);
	free(s->acme_key);
	s->acme_key = key;
	memset(&ac, 0, sizeof(ac));
	ac.directory = c->acme.directory;
	ac.email = c->acme.email;
	ac.ca_file = c->acme.ca_file;
	ac.eab_kid = c->acme.eab_kid;
	ac.eab_hmac = c->acme.eab_hmac;
	ac.dns_hook = c->acme.dns_hook;
	ac.preferred_chain = c->acme.preferred_chain;
	ac.retry_base = c->acme.retry_base;
	ac.max_concurrent_orders = (unsigned)c->acme.max_concurrent_orders;
	ac.profile = c->acme.profile;
	ac.on_demand_result = ondemand_acme_result;
	ac.issuers = iss = config_acme_issuers(c, &ac.nissuers);
	ac.fallback_failures = (int)c->acme.fallback_failures;
	ac.fallback_retry_after = c->acme.fallback_retry_after;
	ac.account_store = server_account_store;
	ac.account_store_arg = (void *)c;
	s->acme = acme_start(&ac, s->store, sites, n, eb);
	free(iss);
	free(sites);
	return s->acme == NULL ? -1 : 0;
}

/* On-demand TLS follows the config, on the running ACME client and store. */
static int
server_sync_ondemand(struct server *s, struct errbuf *eb)
{
	const struct ondemand_cfg *oc = &s->cfg->on_demand;

	if (oc->ask == NULL || s->acme == NULL) {
		ondemand_stop(s->od);
		s->od = NULL;
		return 0;
	}
	if (s->od != NULL) {
		ondemand_configure(s->od, oc);
		return 0;
	}
	return (s->od = ondemand_start(oc, s->store, s->acme, eb)) == NULL ? -1 : 0;
}

struct renew_ctx {
	struct server	*s;
	struct acme	*acme;
	int		 named;
};

static void
renew_named(const char *name, void *arg)
{
	struct renew_ctx	*r = arg;
	struct store_ondemand	 rec;
	struct view		*cur;
	int			 configured;

	r->named++;
	/* "tlsgate approve NAME": an on-demand name no site has. */
	cur = view_current();
	configured = cur != NULL && view_site_named(cur, name) != NULL;
	view_unref(cur);
	if (!configured && r->s->od != NULL &&
	    store_ondemand_get(r->s->store, name, &rec) == 0) {
		ondemand_approve(r->s->od, name);
		return;
	}
	acme_renew(r->acme, name);
}

/* SIGUSR1: renew the sites asked for through the store, or all. */
static void
server_on_usr1(evutil_socket_t sig, short what, void *arg)
{
	struct server		*s = arg;

	if (s->acme == NULL) {
		log_warnx("SIGUSR1: no site uses ACME");
		return;
	}
	storetask_run(s->tasks, task_renew_or_all, s);
}

/* Take the renewal requests in the store; none: renew all if asked to.
 * The task thread. */
static void
server_take_renew_requests(struct server *s, int all_if_none)
{
	struct renew_ctx r = { s, s->acme, 0 };

	store_renew_requests_take(s->store, renew_named, &r);
	if (r.named == 0 && all_if_none)
		acme_renew(s->acme, NULL);
}

/* The pools of v's sites and of their routes (v may be NULL), *n of them. */
static struct pool **
view_pools(const struct view *v, size_t *n)
{
	size_t		 k = 0, cap = 1;
	struct pool	**p;

	for (size_t i = 0; v != NULL && i < v->nsites; i++)
		cap += 1 + route_table_n(v->sites[i]->routes);
	p = xcalloc(cap, sizeof(*p));
	for (size_t i = 0; v != NULL && i < v->nsites; i++) {
		p[k++] = v->sites[i]->pool;
		for (size_t j = 0; j < route_table_n(v->sites[i]->routes); j++)
			p[k++] = route_table_get(v->sites[i]->routes, j)->pool;
	}
	*n = k;
	return p;
}

static void
server_reload(struct server *s)
{
	struct config_errors	 errs = { 0 };
	struct config		*nc;
	const struct config	*want;
	struct view		*v;
	struct store		*st;
	struct errbuf		 eb;

	sdnotify_reloading();
	/* No task runs while the reload may replace what tasks use. */
	storetask_drain(s->tasks);
	log_notice("reload: reading %s", s->cfg->path ? s->cfg->path : "flags' files");
	if (s->cfg->path != NULL) {
		if ((nc = config_load_file(s->cfg->path, &errs)) == NULL) {
			for (size_t i = 0; i < errs.n; i++)
				log_err("reload failed: %s", errs.msgs[i]);
			log_err("reload failed: keeping the running configuration");
			config_errors_clear(&errs);
			sdnotify("READY=1\nSTATUS=reload failed; old configuration serving");
			return;
		}
	} else
		nc = NULL;
	want = nc ? nc : s->cfg;
	eb.msg[0] = '\0';
	if (((st = server_store_for(s, want, &eb)) == NULL && config_uses_acme(want)) ||
	    (v = view_build(want, st, &eb)) == NULL) {
		log_err("reload failed: %s; keeping the running configuration", eb.msg);
		if (st != s->store)
			store_close(st);
		config_free(nc);
		sdnotify("READY=1\nSTATUS=reload failed; old configuration serving");
		return;
	}
	if (nc != NULL) {
		if (!same_addrs(nc->https, nc->nhttps, s->cfg->https, s->cfg->nhttps) ||
		    !same_addrs(nc->http, nc->nhttp, s->cfg->http, s->cfg->nhttp) ||
		    nc->workers != s->cfg->workers)
			log_warnx("reload: listen addresses and workers change only on "
			    "restart; the running ones are kept");
		if ((nc->tls_groups == NULL) != (s->cfg->tls_groups == NULL) ||
		    (nc->tls_groups != NULL && strcmp(nc->tls_groups, s->cfg->tls_groups) != 0))
			log_warnx("reload: tls.groups changes only on restart; the "
			    "running list is kept");
		if (nc->ech.enabled != s->cfg->ech.enabled || (nc->ech.enabled &&
		    strcmp(nc->ech.public_name, s->cfg->ech.public_name) != 0))
			log_warnx("reload: tls.ech changes only on restart");
		apply_log(nc);
		config_free(s->cfg);
		s->cfg = nc;
	}
	worker_set_limits(&s->sh, &v->limits);
	{
		/* Backends this reload dropped drain for drain_timeout. */
		struct view	*old = view_current();
		size_t		 nop, nnp;
		struct pool	**op = view_pools(old, &nop);
		struct pool	**np = view_pools(v, &nnp);
		pool_mark_removed(op, nop, np, nnp);
		free(op);
		free(np);
		view_unref(old);
		for (int i = 0; i < s->nworkers; i++)
			atomic_store(&s->workers[i]->drain_ms,
			    (int)(v->limits.drain_timeout * 1000));
	}
	health_stop(s->health);
	s->health = health_start(s->base, v);
	server_use_store(s, st, s->cfg);
	view_publish(v);
	/* The running ACME client learns which sites came and went. */
	if (server_sync_acme(s, &eb) == -1)
		log_err("reload: ACME client: %s", eb.msg);
	else if (server_sync_ondemand(s, &eb) == -1)
		log_err("reload: on-demand TLS: %s", eb.msg);
	log_notice("reload: done, %zu sites", v->nsites);
	sdnotify("READY=1\nSTATUS=serving");
}

static void
server_on_hup(evutil_socket_t sig, short what, void *arg)
{
	server_reload(arg);
}

static void
server_on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	log_notice("drain timeout: closing remaining connections");
	for (int i = 0; i < s->nworkers; i++)
		worker_command(s->workers[i], WORKER_CMD_CLOSE_ALL);
}

static void
server_on_check(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	for (int i = 0; i < s->nworkers; i++)
		if (s->workers[i]->base != NULL && !atomic_load(&s->workers[i]->done))
			return;
	event_base_loopbreak(s->base);
}

static void
server_on_term(evutil_socket_t sig, short what, void *arg)
{
	struct server	*s = arg;
	struct timeval	 tv, tick = { 0, 50000 };
	double		 d = s->cfg->limits.drain_timeout;

	if (s->stopping++) {
		log_notice("second signal: closing all connections now");
		server_on_drain_timeout(-1, 0, s);
		return;
	}
	sdnotify("STOPPING=1");
	log_notice("signal %d: no new connections; draining %u for up to %gs",
	    (int)sig, atomic_load(&s->sh.nconns), d);
	http80_free(s->http);
	s->http = NULL;
	health_stop(s->health);
	s->health = NULL;
	for (int i = 0; i < s->nworkers; i++)
		worker_command(s->workers[i], WORKER_CMD_STOP);
	tv.tv_sec = (time_t)d;
	tv.tv_usec = (suseconds_t)((d - (double)tv.tv_sec) * 1e6);
	s->ev_drain = evtimer_new(s->base, server_on_drain_timeout, s);
	evtimer_add(s->ev_drain, &tv);
	s->ev_check = event_new(s->base, -1, EV_PERSIST, server_on_check, s);
	event_add(s->ev_check, &tick);
}

static struct acme *
server_get_acme(void *arg)
{
	return ((struct server *)arg)->acme;
}

static void
server_on_expiry(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	admin_check_expiry(s->cfg->expiry_days, s->cfg->alert_command);
}

static void
server_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sdnotify("WATCHDOG=1");
}

static int
sockaddr_is(const struct sockaddr_storage *ss, socklen_t len, const struct addr *a)
{
	if (ss->ss_family != a->ss.ss_family)
		return 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)ss, *y = (const void *)&a->ss;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)ss, *y = (const void *)&a->ss;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

/*
 * Give each inherited socket (fd 3 on) to the listen address it is bound to.
 * Addresses without one get -1 (tlsgate binds them itself). A socket that
 * matches no configured address is an error: it would be silently ignored.
 */
static int
match_inherited(const struct config *c, int *https_fds, int *http_fds,
    struct errbuf *eb)
{
	int n = sdnotify_listen_fds();

	for (size_t i = 0; i < c->nhttps; i++)
		https_fds[i] = -1;
	for (size_t i = 0; i < c->nhttp; i++)
		http_fds[i] = -1;
	for (int fd = 3; fd < 3 + n; fd++) {
		struct sockaddr_storage	ss;
		socklen_t		len = sizeof(ss);
		int			found = 0;

		if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
			return errbuf_set(eb, "fd %d: %s", fd, strerror(errno));
		for (size_t i = 0; i < c->nhttps && !found; i++)
			if (https_fds[i] < 0 && sockaddr_is(&ss, len, &c->https[i])) {
				https_fds[i] = fd;
				found = 1;
				log_notice("listening on %s: socket from systemd",
				    c->https[i].str);
			}
		for (size_t i = 0; i < c->nhttp && !found; i++)
			if (http_fds[i] < 0 && sockaddr_is(&ss, len, &c->http[i])) {
				http_fds[i] = fd;
				found = 1;
				log_notice("listening on %s: socket from systemd",
				    c->http[i].str);
			}
		if (!found)
			return errbuf_set(eb, "socket fd %d from systemd matches no "
			    "address in listen.https or listen.http", fd);
	}
	return 0;
}

static uid_t	chown_uid;
static gid_t	chown_gid;

static int
chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (lchown(path, chown_uid, chown_gid) == -1)
		log_warnx("chown %s: %s", path, strerror(errno));
	return 0;
}

/*
 * Started as root: switch to the configured user and group for good, after
 * handing the state directory to them. Without a user, refuse to go on as
 * root unless allow_root says so.
 */
static int
drop_privileges(const struct config *c, struct errbuf *eb)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (geteuid() != 0)
		return 0;
	if (c->user == NULL) {
		if (c->allow_root) {
			log_warnx("running as root (allow_root)");
			return 0;
		}
		return errbuf_set(eb, "refusing to run as root: set \"user\" (--user) "
		    "to drop privileges, or \"allow_root\": true (--allow-root)");
	}
	if ((pw = getpwnam(c->user)) == NULL)
		return errbuf_set(eb, "user \"%s\": no such user", c->user);
	gid = pw->pw_gid;
	if (c->group != NULL) {
		if ((gr = getgrnam(c->group)) == NULL)
			return errbuf_set(eb, "group \"%s\": no such group", c->group);
		gid = gr->gr_gid;
	}
	if (config_uses_acme(c) || c->ech.enabled) {
		/* The store must stay writable (and private) after the switch. */
		mkdir(c->acme.state_dir, 0700);
		chown_uid = pw->pw_uid;
		chown_gid = gid;
		nftw(c->acme.state_dir, chown_one, 16, FTW_PHYS);
	}
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 || setuid(pw->pw_uid) == -1)
		return errbuf_set(eb, "dropping privileges to %s: %s", c->user,
		    strerror(errno));
	if (setuid(0) != -1)
		return errbuf_set(eb, "dropping privileges: could regain root");
	log_notice("running as user %s (uid %ld, gid %ld)", c->user, (long)pw->pw_uid,
	    (long)gid);
	return 0;
}

static void
server_on_ticket(evutil_socket_t fd, short what, void *arg)
{
	storetask_run(((struct server *)arg)->tasks, task_tickets_rotate, NULL);
}

/* Refuse to share a port with another process through SO_REUSEPORT. */
static int
probe_free(const struct addr *a, struct errbuf *eb)
{
	int fd = worker_listen_socket(a, 0, eb);

	if (fd == -1)
		return -1;
	close(fd);
	return 0;
}

int
server_run(struct config *cfg)
{
	struct server	 s;
	struct errbuf	 eb;
	struct view	*v;
	struct store	*st;
	struct timeval	 rot;
	int		 rc = 1, n, *https_fds = NULL, *http_fds = NULL;
	long long	 wd;

	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.q_mtx, NULL);
	s.cfg = cfg;
	apply_log(cfg);
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() == -1) {
		log_err("libevent: no pthreads support");
		goto out;
	}
	if ((s.base = event_base_new()) == NULL)
		goto out;
	if ((s.sh.ctx = tls_server_ctx_new(cfg->tls_groups, &eb)) == NULL) {
		log_err("TLS: %s", eb.msg);
		goto out;
	}
	if (worker_fds_init(&s.sh, cfg, &eb) == -1) {
		log_err("%s", eb.msg);
		goto out;
	}
	if ((s.tasks = storetask_start(&eb)) == NULL) {
		log_err("%s", eb.msg);
		goto out;
	}
	s.ev_store = event_new(s.base, -1, 0, server_on_store_cert, &s);
	eb.msg[0] = '\0';
	if ((st = server_store_for(&s, cfg, &eb)) == NULL && config_uses_acme(cfg)) {
		log_err("store: %s", eb.msg);
		goto out;
	}
	server_use_store(&s, st, cfg);
	if ((v = view_build(cfg, s.store, &eb)) == NULL) {
		log_err("%s", eb.msg);
		goto out;
	}
	worker_set_limits(&s.sh, &v->limits);
	s.health = health_start(s.base, v);
	view_publish(v);

	/* Sockets from systemd (socket activation), matched by address. */
	https_fds = xcalloc(cfg->nhttps + 1, sizeof(int));
	http_fds = xcalloc(cfg->nhttp + 1, sizeof(int));
	if (match_inherited(cfg, https_fds, http_fds, &eb) == -1) {
		log_err("socket activation: %s", eb.msg);
		goto out;
	}
	for (size_t i = 0; i < cfg->nhttps; i++)
		if (https_fds[i] < 0 && probe_free(&cfg->https[i], &eb) == -1) {
			log_err("listen: %s", eb.msg);
			goto out;
		}
	n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	s.workers = xcalloc((size_t)n, sizeof(*s.workers));
	for (int i = 0; i < n; i++) {
		if ((s.workers[i] = worker_new(i, &s.sh, cfg->https, cfg->nhttps,
		    https_fds, &eb)) == NULL) {
			log_err("listen: %s", eb.msg);
			goto out;
		}
		s.nworkers++;
	}
	/* Workers hold dups of inherited HTTPS sockets; ours can go. */
	for (size_t i = 0; i < cfg->nhttps; i++)
		if (https_fds[i] >= 0)
			close(https_fds[i]);
	if (cfg->nhttp > 0 && (s.http = http80_new(s.base, cfg->http, cfg->nhttp,
	    http_fds, addr_port(&cfg->https[0]), &eb)) == NULL) {
		log_err("listen: %s", eb.msg);
		goto out;
	}
	if (cfg->admin != NULL &&
	    (s.admin = admin_new(s.base, cfg->admin, server_get_acme, &s, &eb)) == NULL) {
		log_err("%s", eb.msg);
		goto out;
	}
	/* Every port is bound: now give up root. */
	if (drop_privileges(cfg, &eb) == -1) {
		log_err("%s", eb.msg);
		goto out;
	}
	/* As the final user: the keys it writes stay its own. */
	if (ech_start(s.base, s.sh.ctx, cfg, s.tasks, &eb) == -1) {
		log_err("ech: %s", eb.msg);
		goto out;
	}
	if (config_uses_acme(cfg)) {
		if (server_sync_acme(&s, &eb) == -1) {
			log_err("acme: %s", eb.msg);
			goto out;
		}
		if (server_sync_ondemand(&s, &eb) == -1) {
			log_err("on-demand: %s", eb.msg);
			goto out;
		}
		if (store_file_pid_write(cfg->acme.state_dir, &eb) == -1)
			log_warnx("pid file: %s", eb.msg);
		else
			s.pidfile = xstrdup(cfg->acme.state_dir);
	}
	for (int i = 0; i < s.nworkers; i++)
		atomic_store(&s.workers[i]->drain_ms, (int)(cfg->limits.drain_timeout * 1000));
	for (int i = 0; i < s.nworkers; i++)
		if (worker_start(s.workers[i]) == -1) {
			log_err("cannot start worker %d", i);
			/* Workers already running must be stopped before freeing. */
			for (int j = 0; j < i; j++) {
				worker_command(s.workers[j], WORKER_CMD_STOP |
				    WORKER_CMD_CLOSE_ALL);
				worker_join(s.workers[j]);
			}
			goto out;
		}
	/* Every listener is bound and accepting: challenges can be answered. */
	challenge_listening(s.store);
	s.ev_hup = evsignal_new(s.base, SIGHUP, server_on_hup, &s);
	s.ev_term = evsignal_new(s.base, SIGTERM, server_on_term, &s);
	s.ev_int = evsignal_new(s.base, SIGINT, server_on_term, &s);
	s.ev_usr1 = evsignal_new(s.base, SIGUSR1, server_on_usr1, &s);
	event_add(s.ev_usr1, NULL);
	event_add(s.ev_hup, NULL);
	event_add(s.ev_term, NULL);
	event_add(s.ev_int, NULL);
	rot.tv_sec = cfg->ticket_rotation;
	rot.tv_usec = 0;
	s.ev_ticket = event_new(s.base, -1, EV_PERSIST, server_on_ticket, &s);
	event_add(s.ev_ticket, &rot);

	for (size_t i = 0; i < cfg->nhttps; i++)
		log_notice("listening on %s (https, %d workers)", cfg->https[i].str,
		    s.nworkers);
	for (size_t i = 0; i < cfg->nhttp; i++)
		log_notice("listening on %s (http redirect)", cfg->http[i].str);
	if ((wd = sdnotify_watchdog_usec()) > 0) {
		struct timeval tv = { (time_t)(wd / 2000000), (suseconds_t)(wd / 2 % 1000000) };
		s.ev_watchdog = event_new(s.base, -1, EV_PERSIST, server_on_watchdog, &s);
		event_add(s.ev_watchdog, &tv);
	}
	{
		double		d = cfg->expiry_check;
		struct timeval	tv = { (time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6) };
		s.ev_expiry = event_new(s.base, -1, EV_PERSIST, server_on_expiry, &s);
		event_add(s.ev_expiry, &tv);
		admin_check_expiry(cfg->expiry_days, cfg->alert_command);
	}
	if (cfg->admin != NULL)
		log_notice("admin endpoint on %s", cfg->admin);
	/* Listeners are bound and stored certificates loaded. */
	sdnotify("READY=1\nSTATUS=serving");
	event_base_dispatch(s.base);

	for (int i = 0; i < s.nworkers; i++)
		worker_join(s.workers[i]);
	log_notice("stopped");
	rc = 0;
out:
	free(https_fds);
	free(http_fds);
	if (s.ev_watchdog)
		event_free(s.ev_watchdog);
	if (s.ev_expiry)
		event_free(s.ev_expiry);
	health_stop(s.health);
	admin_free(s.admin);
	storetask_stop(s.tasks);	/* waits for the running task only */
	s.tasks = NULL;
	ech_stop();
	ondemand_stop(s.od);
	s.od = NULL;
	acme_stop(s.acme);
	s.acme = NULL;
	server_use_store(&s, NULL, NULL);
	free(s.acme_key);
	if (s.ev_store != NULL)
		event_free(s.ev_store);
	for (size_t i = 0; i < s.nq; i++) {
		free(s.q[i].name);
		certfile_unref(s.q[i].cf);
	}
	free(s.q);
	pthread_mutex_destroy(&s.q_mtx);
	if (s.pidfile != NULL) {
		store_file_pid_remove(s.pidfile);
		free(s.pidfile);
	}
	for (int i = 0; i < s.nworkers; i++)
		worker_free(s.workers[i]);
	free(s.workers);
	http80_free(s.http);
	if (s.ev_hup) {
		event_free(s.ev_hup);
		event_free(s.ev_term);
		event_free(s.ev_int);
		event_free(s.ev_ticket);
		event_free(s.ev_usr1);
	}
	if (s.ev_drain)
		event_free(s.ev_drain);
	if (s.ev_check)
		event_free(s.ev_check);
	if (s.base)
		event_base_free(s.base);
	view_publish_none();
	SSL_CTX_free(s.sh.ctx);
	config_free(s.cfg);
	return rc;
}
