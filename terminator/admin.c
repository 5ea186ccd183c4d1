/*
 * admin.c - the admin endpoint and the expiry safety net.
 *
 * Everything here reads shared state the way workers do: the serving view by
 * reference (view_current), counters by atomics (stats), the ACME client's
 * published snapshot (acme_status). Nothing here can stall a worker.
 */
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>

#include "acme.h"
#include "certfile.h"
#include "config.h"
#include "ech.h"
#include "errbuf.h"
#include "log.h"
#include "ondemand.h"
#include "lpause.h"
#include "pool.h"
#include "route.h"
#include "sites.h"
#include "stats.h"
#include "store.h"
#include "xalloc.h"

#define ADMIN_MAX_CERTS	4096

extern char **environ;

struct admin {
	struct evhttp		*http;
	struct evconnlistener	*unix_l;
	struct lpause		*lp;		/* on the one listener */
	char			*unix_path;
	admin_acme_fn		*acme;
	void			*arg;
};

static int	expiry_days = 14;
/* The store the daemon uses (server.c, main thread, as are the handlers). */
static struct store *admin_store;

void
admin_set_store(struct store *st)
{
	admin_store = st;
}

time_t
admin_expiry_threshold(const struct certfile *cf, int days)
{
	time_t life = cf->not_after - cf->not_before;

	/* "14 days, or a third of the lifetime for short certificates". */
	if (life > 0 && life / 3 < (time_t)days * 86400)
		return life / 3;
	return (time_t)days * 86400;
}

static int
cert_expiring(const struct certfile *cf, time_t now)
{
	return cf != NULL && cf->not_after - now < admin_expiry_threshold(cf, expiry_days);
}

/* Certificates already alerted on, by fingerprint (never alert twice). */
static char	**alerted;
static size_t	  nalerted;
/* Alert commands still running (reaped here only: the ACME thread waits
 * for its own DNS hooks). */
static pid_t	  alert_pids[16];

int
admin_check_expiry(int days, const char *command)
{
	struct view	*v = view_current();
	time_t		 now = time(NULL);
	int		 n = 0;

	expiry_days = days > 0 ? days : 14;
	if (v == NULL)
		return 0;
	for (size_t i = 0; i < 16; i++)
		if (alert_pids[i] > 0 && waitpid(alert_pids[i], NULL, WNOHANG) != 0)
			alert_pids[i] = 0;
	for (size_t i = 0; i < v->nsites; i++) {
		struct certfile *cfs[2] = { v->sites[i]->ec, v->sites[i]->rsa };
		for (int k = 0; k < 2; k++) {
			struct certfile	*cf = cfs[k];
			char		 when[32];
			struct tm	 tm;
			size_t		 j;

			if (!cert_expiring(cf, now))
				continue;
			n++;
			gmtime_r(&cf->not_after, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			log_err("certificate for %s (%s) expires at %s and has not been "
			    "renewed", v->sites[i]->names[0], certfile_keytype_names[cf->keytype],
			    when);
			for (j = 0; j < nalerted; j++)
				if (strcmp(alerted[j], cf->sha256) == 0)
					break;
			if (j < nalerted || command == NULL)
				continue;
			alerted = xrealloc(alerted, (nalerted + 1) * sizeof(char *));
			alerted[nalerted++] = xstrdup(cf->sha256);
			{
				char	*argv[] = { (char *)command, v->sites[i]->names[0],
					    when, NULL };
				pid_t	 pid;
				if (posix_spawn(&pid, command, NULL, NULL, argv, environ) != 0)
					log_err("alert command %s: %s", command, strerror(errno));
				else {
					log_notice("alert command run for %s", v->sites[i]->names[0]);
					for (size_t q = 0; q < 16; q++)
						if (alert_pids[q] == 0) {
							alert_pids[q] = pid;
							break;
						}
				}
			}
		}
	}
	view_unref(v);
	return n;
}

static void
reply(struct evhttp_request *req, int code, const char *reason, const char *type,
    const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

/* A pool and its series labels: site="NAME", and route="PATH" for a route's. */
struct lpool {
	char		*lbl;
	struct pool	*pool;
};

/* The pools of v's sites and of their routes; free with lpools_free. */
static struct lpool *
lpools(const struct view *v, size_t *n)
{
	size_t		 k = 0, cap = 1;
	struct lpool	*p;

	for (size_t i = 0; v != NULL && i < v->nsites; i++)
		cap += 1 + route_table_n(v->sites[i]->routes);
	p = xcalloc(cap, sizeof(*p));
	for (size_t i = 0; v != NULL && i < v->nsites; i++) {
		const struct route_table *t = v->sites[i]->routes;
		p[k].lbl = xasprintf("site=\"%s\"", v->sites[i]->names[0]);
		p[k++].pool = v->sites[i]->pool;
		for (size_t j = 0; j < route_table_n(t); j++) {
			const struct route *r = route_table_get(t, j);
			char *e = xcalloc(1, 2 * r->plen + 1), *q = e;
			for (size_t c = 0; c < r->plen; c++) {	/* exposition escapes */
				if (r->path[c] == '"' || r->path[c] == '\\')
					*q++ = '\\';
				*q++ = r->path[c];
			}
			p[k].lbl = xasprintf("site=\"%s\",route=\"%s\"",
			    v->sites[i]->names[0], e);
			p[k++].pool = r->pool;
			free(e);
		}
	}
	*n = k;
	return p;
}

static void
lpools_free(struct lpool *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].lbl);
	free(p);
}

static void
write_cert_metrics(FILE *f, struct admin *a)
{
	struct view		*v = view_current();
	struct acme		*ac = a->acme(a->arg);
	struct acme_cert_status	*st = xcalloc(ADMIN_MAX_CERTS, sizeof(*st));
	struct acme_counters	 ctr;
	size_t			 n = acme_status(ac, st, ADMIN_MAX_CERTS);
	time_t			 now = time(NULL);
	size_t			 np;
	struct lpool		*lp = lpools(v, &np);

	fprintf(f, "# HELP tlsgate_certificate_not_after Expiry of each certificate in "
	    "service (unix seconds).\n# TYPE tlsgate_certificate_not_after gauge\n");
	for (size_t i = 0; v && i < v->nsites; i++) {
		struct certfile *cfs[2] = { v->sites[i]->ec, v->sites[i]->rsa };
		for (int k = 0; k < 2; k++)
			if (cfs[k])
				fprintf(f, "tlsgate_certificate_not_after{site=\"%s\",key=\"%s\"} %ld\n",
				    v->sites[i]->names[0], certfile_keytype_names[k],
				    (long)cfs[k]->not_after);
	}
	fprintf(f, "# HELP tlsgate_certificate_expiring 1 if the certificate in service "
	    "is within its expiry threshold and not renewed.\n"
	    "# TYPE tlsgate_certificate_expiring gauge\n");
	for (size_t i = 0; v && i < v->nsites; i++) {
		struct certfile *cfs[2] = { v->sites[i]->ec, v->sites[i]->rsa };
		for (int k = 0; k < 2; k++)
			if (cfs[k])
				fprintf(f, "tlsgate_certificate_expiring{site=\"%s\",key=\"%s\"} %d\n",
				    v->sites[i]->names[0], certfile_keytype_names[k],
				    cert_expiring(cfs[k], now));
	}
	fprintf(f, "# HELP tlsgate_certificate_renewal_time Next renewal attempt "
	    "(unix seconds).\n# TYPE tlsgate_certificate_renewal_time gauge\n");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "tlsgate_certificate_renewal_time{site=\"%s\",key=\"%s\"} %ld\n",
		    st[i].label, st[i].rsa ? "rsa" : "ecdsa", (long)st[i].renew_at);
	fprintf(f, "# HELP tlsgate_backend_up Backend health: 1 up, 0 down.\n"
	    "# TYPE tlsgate_backend_up gauge\n");
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < lp[i].pool->n; j++)
			fprintf(f, "tlsgate_backend_up{%s,backend=\"%s\"} %d\n",
			    lp[i].lbl, lp[i].pool->b[j]->str,
			    atomic_load(&lp[i].pool->b[j]->up));
	fprintf(f, "# HELP tlsgate_backend_connections Open connections per backend.\n"
	    "# TYPE tlsgate_backend_connections gauge\n");
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < lp[i].pool->n; j++)
			fprintf(f, "tlsgate_backend_connections{%s,backend=\"%s\"} %d\n",
			    lp[i].lbl, lp[i].pool->b[j]->str,
			    atomic_load(&lp[i].pool->b[j]->active));
	fprintf(f, "# HELP tlsgate_backend_pool_connections HTTP mode's keep-alive "
	    "connections per backend, idle or active, over all workers.\n"
	    "# TYPE tlsgate_backend_pool_connections gauge\n");
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < lp[i].pool->n; j++) {
			struct backend *b = lp[i].pool->b[j];
			fprintf(f, "tlsgate_backend_pool_connections{%s,backend=\"%s\","
			    "state=\"idle\"} %d\n", lp[i].lbl, b->str,
			    atomic_load(&b->conns_idle));
			fprintf(f, "tlsgate_backend_pool_connections{%s,backend=\"%s\","
			    "state=\"active\"} %d\n", lp[i].lbl, b->str,
			    atomic_load(&b->conns_busy));
		}
	fprintf(f, "# HELP tlsgate_backend_pool_reuses_total Requests sent on a "
	    "reused keep-alive connection.\n"
	    "# TYPE tlsgate_backend_pool_reuses_total counter\n");
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < lp[i].pool->n; j++)
			fprintf(f, "tlsgate_backend_pool_reuses_total{%s,backend=\"%s\"} %lu\n",
			    lp[i].lbl, lp[i].pool->b[j]->str,
			    atomic_load(&lp[i].pool->b[j]->reuses));
	fprintf(f, "# HELP tlsgate_backend_connect_failures_total Failed connects.\n"
	    "# TYPE tlsgate_backend_connect_failures_total counter\n");
	for (size_t i = 0; i < np; i++)
		for (size_t j = 0; j < lp[i].pool->n; j++)
			fprintf(f, "tlsgate_backend_connect_failures_total{%s,"
			    "backend=\"%s\"} %lu\n", lp[i].lbl,
			    lp[i].pool->b[j]->str,
			    atomic_load(&lp[i].pool->b[j]->failures));
	acme_get_counters(ac, &ctr);
	fprintf(f, "# HELP tlsgate_acme_attempts_total Orders started.\n"
	    "# TYPE tlsgate_acme_attempts_total counter\n"
	    "tlsgate_acme_attempts_total %lu\n", ctr.attempts);
	fprintf(f, "# HELP tlsgate_acme_successes_total Certificates obtained.\n"
	    "# TYPE tlsgate_acme_successes_total counter\n"
	    "tlsgate_acme_successes_total %lu\n", ctr.successes);
	fprintf(f, "# HELP tlsgate_acme_failures_total Failed attempts by type.\n"
	    "# TYPE tlsgate_acme_failures_total counter\n");
	for (int k = 0; k < ACME_FAIL__MAX; k++)
		fprintf(f, "tlsgate_acme_failures_total{type=\"%s\"} %lu\n",
		    acme_fail_names[k], ctr.failures[k]);
	fprintf(f, "# HELP tlsgate_acme_last_success_time Last certificate obtained "
	    "(unix seconds, 0: never).\n# TYPE tlsgate_acme_last_success_time gauge\n"
	    "tlsgate_acme_last_success_time %ld\n", (long)ctr.last_success);
	free(st);
	lpools_free(lp, np);
	view_unref(v);
}

/* On-demand TLS (ondemand.h), when it runs. */
static void
write_ondemand_metrics(FILE *f)
{
	struct od_counters c;

	if (!ondemand_enabled())
		return;
	ondemand_counters(&c);
	fprintf(f, "# HELP tlsgate_on_demand_refusals_total On-demand handshakes "
	    "refused, by reason.\n# TYPE tlsgate_on_demand_refusals_total counter\n");
	for (int k = 0; k < ODR__MAX; k++)
		fprintf(f, "tlsgate_on_demand_refusals_total{reason=\"%s\"} %lu\n",
		    od_refusal_names[k], c.refusals[k]);
	fprintf(f, "# HELP tlsgate_on_demand_asks_total Calls to the ask endpoint.\n"
	    "# TYPE tlsgate_on_demand_asks_total counter\n"
	    "tlsgate_on_demand_asks_total %lu\n"
	    "# HELP tlsgate_on_demand_orders_total On-demand orders sent.\n"
	    "# TYPE tlsgate_on_demand_orders_total counter\n"
	    "tlsgate_on_demand_orders_total %lu\n"
	    "# HELP tlsgate_on_demand_issued_total On-demand certificates obtained.\n"
	    "# TYPE tlsgate_on_demand_issued_total counter\n"
	    "tlsgate_on_demand_issued_total %lu\n"
	    "# HELP tlsgate_on_demand_loads_total Certificates loaded from the store "
	    "at a handshake.\n# TYPE tlsgate_on_demand_loads_total counter\n"
	    "tlsgate_on_demand_loads_total %lu\n"
	    "# HELP tlsgate_on_demand_cached_names Names in memory.\n"
	    "# TYPE tlsgate_on_demand_cached_names gauge\n"
	    "tlsgate_on_demand_cached_names %lu\n"
	    "# HELP tlsgate_on_demand_stored_names Names in the store (-1: not "
	    "counted yet).\n# TYPE tlsgate_on_demand_stored_names gauge\n"
	    "tlsgate_on_demand_stored_names %ld\n"
	    "# HELP tlsgate_on_demand_orders_in_flight On-demand orders running.\n"
	    "# TYPE tlsgate_on_demand_orders_in_flight gauge\n"
	    "tlsgate_on_demand_orders_in_flight %u\n", c.asks, c.orders, c.issued,
	    c.loads, c.cached, c.stored, c.pending);
}

/* The store's reachability (docs/cluster.md): etcd lost shows here. */
static void
write_store_metrics(FILE *f)
{
	struct store_status st;

	if (admin_store == NULL)
		return;
	store_status(admin_store, &st);
	fprintf(f, "# HELP tlsgate_store_up 1 if the store answers (etcd: a member "
	    "answered the last request), 0 if not.\n# TYPE tlsgate_store_up gauge\n"
	    "tlsgate_store_up{backend=\"%s\"} %d\n", st.backend, st.up);
	fprintf(f, "# HELP tlsgate_store_errors_total Store requests that "
	    "failed.\n# TYPE tlsgate_store_errors_total counter\n"
	    "tlsgate_store_errors_total{backend=\"%s\"} %lu\n", st.backend,
	    st.errors);
	fprintf(f, "# HELP tlsgate_store_outages_total Times the store became "
	    "unreachable.\n# TYPE tlsgate_store_outages_total counter\n"
	    "tlsgate_store_outages_total{backend=\"%s\"} %lu\n", st.backend,
	    st.outages);
	fprintf(f, "# HELP tlsgate_store_down_since When the store became "
	    "unreachable (unix seconds, 0: it answers).\n"
	    "# TYPE tlsgate_store_down_since gauge\n"
	    "tlsgate_store_down_since{backend=\"%s\"} %lld\n", st.backend,
	    (long long)st.down_since);
	if (st.local_certs >= 0)
		fprintf(f, "# HELP tlsgate_store_local_copy_certificates "
		    "Certificates in the node's local copy of the store.\n"
		    "# TYPE tlsgate_store_local_copy_certificates gauge\n"
		    "tlsgate_store_local_copy_certificates{backend=\"%s\"} %ld\n",
		    st.backend, st.local_certs);
}

static void
on_metrics(struct evhttp_request *req, struct admin *a)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&buf, &len);

	stats_write(f);
	write_cert_metrics(f, a);
	write_ondemand_metrics(f);
	write_store_metrics(f);
	fclose(f);
	reply(req, 200, "OK", "text/plain; version=0.0.4", buf, len);
	free(buf);
}

static void
on_healthz(struct evhttp_request *req, struct admin *a)
{
	struct view		*v = view_current();
	struct store_status	 st;
	char			 body[4096] = "";
	size_t			 off = 0;
	time_t			 now = time(NULL);
	int			 bad = 0;

	for (size_t i = 0; v && i < v->nsites; i++) {
		struct certfile *cfs[2] = { v->sites[i]->ec, v->sites[i]->rsa };
		for (int k = 0; k < 2; k++)
			if (cert_expiring(cfs[k], now) && off + 300 < sizeof(body)) {
				off += (size_t)snprintf(body + off, sizeof(body) - off,
				    "certificate expiring: %s (%s)\n", v->sites[i]->names[0],
				    certfile_keytype_names[k]);
				bad++;
			}
	}
	view_unref(v);
	/*
	 * A lost store degrades the node but does not fail it: it serves on
	 * from memory and its local copy, and every node of a fleet loses the
	 * same etcd together, so a 503 would let a balancer drain them all.
	 * 200, with the loss in the body (and tlsgate_store_up for alerts).
	 */
	store_status(admin_store, &st);
	if (!st.up && off + 600 < sizeof(body))
		off += (size_t)snprintf(body + off, sizeof(body) - off,
		    "degraded: store %s unreachable for %lld s (%s); serving from "
		    "memory%s; no ACME order until it is back\n", st.backend,
		    (long long)(now - st.down_since), st.last_error,
		    st.local_certs >= 0 ? " and the local copy" : "");
	if (bad)
		reply(req, 503, "Service Unavailable", "text/plain", body, off);
	else if (off > 0)
		reply(req, 200, "OK", "text/plain", body, off);
	else
		reply(req, 200, "OK", "text/plain", "ok\n", 3);
}

/* On-demand names in memory, most recently used first (at most
 * ADMIN_MAX_CERTS), and the counters; NULL when it is off. */
static json_t *
ondemand_status_json(void)
{
	struct od_status	*st;
	struct od_counters	 c;
	json_t			*o, *names;
	size_t			 n;

	if (!ondemand_enabled())
		return NULL;
	names = json_array();
	ondemand_counters(&c);
	st = xcalloc(ADMIN_MAX_CERTS, sizeof(*st));
	n = ondemand_status(st, ADMIN_MAX_CERTS);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(names, json_pack("{s:s, s:s, s:I, s:I}",
		    "name", st[i].name, "state", st[i].state, "last_used",
		    (json_int_t)st[i].last_used, "not_after",
		    (json_int_t)st[i].not_after));
	free(st);
	o = json_pack("{s:I, s:I, s:i, s:I, s:I, s:o}", "stored",
	    (json_int_t)c.stored, "in_memory", (json_int_t)c.cached,
	    "orders_in_flight", (int)c.pending, "orders", (json_int_t)c.orders,
	    "issued", (json_int_t)c.issued, "names", names);
	return o;
}

/* Appends p's backends, with their health, to the JSON array a. */
static void
pool_backends_json(json_t *a, const struct pool *p)
{
	for (size_t j = 0; j < p->n; j++) {
		struct backend *b = p->b[j];
		json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:i, s:I}",
		    "address", b->str, "weight", p->weight[j],
		    "up", atomic_load(&b->up), "connections", atomic_load(&b->active),
		    "connect_failures", (json_int_t)atomic_load(&b->failures)));
	}
}

static void
on_status(struct evhttp_request *req, struct admin *a)
{
	struct view		*v = view_current();
	struct acme_cert_status	*st = xcalloc(ADMIN_MAX_CERTS, sizeof(*st));
	size_t			 n = acme_status(a->acme(a->arg), st, ADMIN_MAX_CERTS);
	json_t			*root = json_object(), *sites = json_array(), *e;
	char			*s;
	time_t			 now = time(NULL);

	for (size_t i = 0; v && i < v->nsites; i++) {
		struct site	*site = v->sites[i];
		json_t		*names = json_array(), *backends = json_array(), *certs = json_array();
		json_t		*routes = json_array();
		struct certfile	*cfs[2] = { site->ec, site->rsa };

		for (size_t j = 0; j < site->nnames; j++)
			json_array_append_new(names, json_string(site->names[j]));
		pool_backends_json(backends, site->pool);
		for (size_t j = 0; j < route_table_n(site->routes); j++) {
			const struct route *r = route_table_get(site->routes, j);
			json_t *rb = json_array();
			pool_backends_json(rb, r->pool);
			json_array_append_new(routes, json_pack("{s:s, s:o}", "path",
			    r->path, "backends", rb));
		}

		for (int k = 0; k < 2; k++) {
			json_t *c;
			if (cfs[k] == NULL)
				continue;
			c = json_pack("{s:s, s:I, s:s, s:b}", "key_type",
			    certfile_keytype_names[k], "not_after", (json_int_t)cfs[k]->not_after,
			    "sha256", cfs[k]->sha256, "expiring", cert_expiring(cfs[k], now));
			for (size_t j = 0; j < n; j++)
				if (strcmp(st[j].label, site->names[0]) == 0 && st[j].rsa == k) {
					json_object_set_new(c, "renew_at",
					    json_integer(st[j].renew_at));
					if (st[j].last_error[0])
						json_object_set_new(c, "last_error",
						    json_string(st[j].last_error));
					/* The CA's directory (acme.issuers). */
					if (st[j].issuer[0])
						json_object_set_new(c, "acme_issuer",
						    json_string(st[j].issuer));
					json_object_set_new(c, "acme_ordering_from",
					    json_string(st[j].ordering_from));
					/* A CA that rate-limited a round, which
					 * the next goes back to after until. */
					if (st[j].rl_issuer[0])
						json_object_set_new(c, "acme_rate_limit",
						    json_pack("{s:s, s:I}", "issuer",
						    st[j].rl_issuer, "until",
						    (json_int_t)st[j].rl_until));
				}
			json_array_append_new(certs, c);
		}
		json_array_append_new(sites, json_pack("{s:o, s:b, s:o, s:o, s:o, s:I}",
		    "names", names, "acme", site->acme, "backends", backends,
		    "routes", routes, "certificates", certs, "connections",
		    (json_int_t)atomic_load(&site->stats->conns_current)));
	}
	json_object_set_new(root, "sites", sites);
	if ((e = ondemand_status_json()) != NULL)
		json_object_set_new(root, "on_demand", e);
	if ((e = ech_status_json()) != NULL)
		json_object_set_new(root, "ech", e);
	s = json_dumps(root, JSON_INDENT(2));
	reply(req, 200, "OK", "application/json", s, strlen(s));
	free(s);
	json_decref(root);
	free(st);
	view_unref(v);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct admin	*a = arg;
	const char	*path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET || path == NULL) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (strcmp(path, "/metrics") == 0)
		on_metrics(req, a);
	else if (strcmp(path, "/healthz") == 0)
		on_healthz(req, a);
	else if (strcmp(path, "/status") == 0)
		on_status(req, a);
	else
		evhttp_send_error(req, 404, "Not Found");
}

static int
loopback(const struct addr *ad)
{
	if (ad->ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&ad->ss)->sin_addr.s_addr) >> 24) == 127;
	if (ad->ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)&ad->ss)->sin6_addr);
	return 0;
}

struct admin *
admin_new(struct event_base *base, const char *addr, admin_acme_fn *acme, void *arg,
    struct errbuf *eb)
{
	struct admin	*a = xcalloc(1, sizeof(*a));
	struct addr	 ad;
	char		 err[256];

	a->acme = acme;
	a->arg = arg;
	a->http = evhttp_new(base);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_gencb(a->http, on_request, a);
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un sun;
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof(sun.sun_path)) {
			errbuf_set(eb, "admin: socket path too long");
			goto fail;
		}
		strcpy(sun.sun_path, addr + 5);
		unlink(sun.sun_path);
		a->unix_l = evconnlistener_new_bind(base, NULL, NULL,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 64,
		    (struct sockaddr *)&sun, sizeof(sun));
		if (a->unix_l == NULL) {
			errbuf_set(eb, "admin: %s: %s", addr + 5, strerror(errno));
			goto fail;
		}
		chmod(sun.sun_path, 0600);
		a->unix_path = xstrdup(sun.sun_path);
		evhttp_bind_listener(a->http, a->unix_l);
		a->lp = lpause_new(base, a->unix_l, "admin");
		return a;
	}
	if (config_parse_addr(addr, 0, &ad, err, sizeof(err)) == -1) {
		errbuf_set(eb, "admin: %s", err);
		goto fail;
	}
	if (!loopback(&ad)) {
		free(ad.str);
		errbuf_set(eb, "admin: %s is not a loopback address (use 127.0.0.1, "
		    "[::1] or unix:/path)", addr);
		goto fail;
	}
	{
		char host[64];
		const char *h = ad.ss.ss_family == AF_INET6 ? "::1" : host;
		if (ad.ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ad.ss)->sin_addr, host,
			    sizeof(host));
		struct evhttp_bound_socket *bs;
		if ((bs = evhttp_bind_socket_with_handle(a->http, h,
		    ntohs(((struct sockaddr_in *)&ad.ss)->sin_port))) == NULL) {
			errbuf_set(eb, "admin: cannot listen on %s: %s", addr, strerror(errno));
			free(ad.str);
			goto fail;
		}
		a->lp = lpause_new(base, evhttp_bound_socket_get_listener(bs), "admin");
	}
	free(ad.str);
	return a;
fail:
	admin_free(a);
	return NULL;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	lpause_free(a->lp);
	if (a->http)
		evhttp_free(a->http);
	if (a->unix_path) {
		unlink(a->unix_path);
		free(a->unix_path);
	}
	free(a);
}
