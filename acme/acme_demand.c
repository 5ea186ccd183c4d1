/*
 * acme_demand.c - on-demand jobs: names no configured site lists, asked for
 * by the terminator when a handshake needs a certificate (acme_demand) and
 * dropped when the name is left unused (acme_forget). Requests from other
 * threads are handed over under pub_mtx and applied on the ACME thread, in
 * order. An on-demand job is an ordinary job (one name, stored state,
 * back-off, ARI) that reloads leave alone, and that reports each attempt's
 * outcome through acme_cfg.on_demand_result.
 */
#include "acme_int.h"
#include "acme_queue.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "xalloc.h"

struct demand_op {
	int			forget;
	struct acme_site_cfg	site;	/* forget: only label */
};

static void	on_demand(evutil_socket_t, short, void *);

void
demand_init(struct acme *a)
{
	a->demand_ev = event_new(a->base, -1, 0, on_demand, a);
}

static void
ops_free(struct demand_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		site_clear(&ops[i].site);
	free(ops);
}

void
demand_free(struct acme *a)
{
	ops_free(a->dem_req, a->ndem_req);
	a->dem_req = NULL;
	a->ndem_req = 0;
	if (a->demand_ev != NULL)
		event_free(a->demand_ev);
	a->demand_ev = NULL;
}

int
job_has_valid_cert(const struct job *j)
{
	return j->current != NULL && j->current->not_after > acme_now(j->a);
}

void
demand_report(struct job *j, int ok)
{
	const struct acme_cfg *c = &j->a->cfg;

	if ((!j->ondemand && !j->urgent) || j->kt != CERTFILE_EC ||
	    c->on_demand_result == NULL)
		return;
	c->on_demand_result(job_name(j), ok, ok ? NULL : j->rs.last_error[0] ?
	    j->rs.last_error : "waiting for the back-off to pass", ok ? 0 : job_due(j),
	    c->on_demand_arg);
}

static void
push(struct acme *a, int forget, const struct acme_site_cfg *site)
{
	struct demand_op	*ops;

	pthread_mutex_lock(&a->pub_mtx);
	ops = xrealloc(a->dem_req, (a->ndem_req + 1) * sizeof(*ops));
	memset(&ops[a->ndem_req], 0, sizeof(*ops));
	ops[a->ndem_req].forget = forget;
	site_copy(&ops[a->ndem_req].site, site);
	a->dem_req = ops;
	a->ndem_req++;
	pthread_mutex_unlock(&a->pub_mtx);
	event_active(a->demand_ev, EV_TIMEOUT, 0);
}

int
acme_demand(struct acme *a, const struct acme_site_cfg *site)
{
	struct acme_site_cfg	 one;
	char			*names[1];

	if (a == NULL || site == NULL || site->label == NULL || site->label[0] == '\0' ||
	    site->nchallenges == 0)
		return -1;
	one = *site;
	names[0] = (char *)site->label;
	one.names = names;
	one.nnames = 1;
	push(a, 0, &one);
	return 0;
}

void
acme_forget(struct acme *a, const char *label)
{
	struct acme_site_cfg one;

	if (a == NULL || label == NULL)
		return;
	memset(&one, 0, sizeof(one));
	one.label = label;
	push(a, 1, &one);
}

unsigned
acme_demand_pending(struct acme *a)
{
	unsigned n = 0;

	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->pub_mtx);
	for (size_t i = 0; i < a->ndem_req; i++)
		n += !a->dem_req[i].forget;
	pthread_mutex_unlock(&a->pub_mtx);
	return n + atomic_load(&a->demand_busy);
}

/* A new on-demand job for site, from its stored state. */
static struct job *
demand_new(struct acme *a, const struct acme_site_cfg *site, enum certfile_keytype kt)
{
	struct job	*j = job_new(a, site, kt);
	time_t		 now = acme_now(a);

	j->ondemand = 1;
	job_add(a, j);
	job_schedule(j);	/* sets renew_at from a stored certificate */
	j->urgent = !job_has_valid_cert(j) || (a->dir_ok && job_due(j) <= now);
	if (j->urgent && j->queued)
		queue_submit(j);	/* ahead of renewals */
	return j;
}

static int
demand_apply(struct acme *a, const struct acme_site_cfg *site)
{
	struct job	*j = find_job(a, site->label, CERTFILE_EC);
	time_t		 now = acme_now(a);

	if (j == NULL) {
		j = demand_new(a, site, CERTFILE_EC);
		if (site->rsa && find_job(a, site->label, CERTFILE_RSA) == NULL)
			demand_new(a, site, CERTFILE_RSA);
		if (job_has_valid_cert(j))
			log_info("acme %s: on-demand job, stored certificate kept",
			    site->label);
		else if (job_due(j) > now) {
			log_info("acme %s: on-demand job in back-off (stored state)",
			    site->label);
			demand_report(j, 0);
		} else
			log_info("acme %s: on-demand job ordering", site->label);
		return 1;
	}
	if (job_has_valid_cert(j))
		return 0;
	if (j->state == JOB_IDLE && job_due(j) > now) {
		j->urgent = 1;
		demand_report(j, 0);
		return 0;
	}
	if (!j->urgent) {
		j->urgent = 1;
		if (j->queued)
			queue_submit(j);	/* moves it ahead of renewals */
	}
	return 0;
}

static int
forget_apply(struct acme *a, const char *label)
{
	int n = 0;

	for (size_t i = 0; i < a->njobs; ) {
		struct job *j = a->jobs[i];

		if (j->ondemand && strcmp(job_name(j), label) == 0) {
			log_info("acme %s: on-demand %s job dropped", label,
			    certfile_keytype_names[j->kt]);
			job_remove_at(a, i);
			n++;
		} else
			i++;
	}
	return n;
}

static void
on_demand(evutil_socket_t fd, short what, void *arg)
{
	struct acme		*a = arg;
	struct demand_op	*ops;
	size_t			 n;
	int			 changed = 0;

	pthread_mutex_lock(&a->pub_mtx);
	ops = a->dem_req;
	n = a->ndem_req;
	a->dem_req = NULL;
	a->ndem_req = 0;
	pthread_mutex_unlock(&a->pub_mtx);
	for (size_t i = 0; i < n; i++)
		changed |= ops[i].forget ? forget_apply(a, ops[i].site.label) :
		    demand_apply(a, &ops[i].site);
	if (changed)
		publish_all(a);
	ops_free(ops, n);
}
