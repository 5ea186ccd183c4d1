/*
 * acme_lockkeep.c - the store locks of running orders.
 *
 * A job takes its name's store lock for ACME_LOCK_TTL seconds before it
 * orders (acme.c, job_start) and hands it to the store to keep
 * (store_lock_keep): with etcd the lock is a lease, refreshed by the
 * store's own thread on its own connection, so a lock lives as long as its
 * order while the process lives, however long the ACME thread's store
 * requests queue; a process that dies (kill -9, power) stops refreshing,
 * its lease ends within ACME_LOCK_TTL seconds and another node takes the
 * name over. The file backend's locks live with the process.
 *
 * If a lease ended all the same (etcd unreachable for longer than the TTL,
 * say), the certificate the CA has just issued is not thrown away: the job
 * takes the lock again if nobody holds it (lock_retake), and writes under
 * it. Only when another node holds the name by then is the certificate
 * dropped: that node is ordering its own.
 *
 * Under a fresh lock, before the order, the job first looks in the store
 * for a certificate another node put meanwhile (job_adopt_stored).
 *
 * ACME thread only (the timer runs on the ACME event base).
 */
#include "acme_int.h"

#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include "acme_sched.h"
#include "certfile.h"
#include "errbuf.h"
#include "log.h"
#include "store.h"

/* Says once per job when the store found the lease ended. */
static void
on_lockkeep(evutil_socket_t fd, short what, void *arg)
{
	struct acme *a = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < a->njobs; i++) {
		struct job *j = a->jobs[i];

		if (j->lock == NULL || j->lock_lost)
			continue;
		if (store_lock_keepalive(j->lock) == -1) {
			j->lock_lost = 1;
			log_warnx("acme %s: the store lock's lease ended (etcd "
			    "unreachable for longer than it, or revoked); the "
			    "certificate will be written only if the lock can be "
			    "taken again then", job_name(j));
		}
	}
}

void
lockkeep_start(struct acme *a)
{
	struct timeval tv = { ACME_LOCK_TTL / 3, 0 };

	a->lockkeep_ev = event_new(a->base, -1, EV_PERSIST, on_lockkeep, a);
	event_add(a->lockkeep_ev, &tv);
}

void
lockkeep_stop(struct acme *a)
{
	if (a->lockkeep_ev != NULL)
		event_free(a->lockkeep_ev);
	a->lockkeep_ev = NULL;
}

int
lock_take(struct job *j, struct errbuf *eb)
{
	struct errbuf e2;

	j->lock_lost = 0;
	if ((j->lock = store_lock_acquire(j->a->store, job_name(j),
	    ACME_LOCK_TTL, eb)) == NULL)
		return -1;
	if (store_lock_keep(j->lock, ACME_LOCK_TTL, &e2) == -1) {
		/* Held, but nobody refreshes it: give it back rather than
		 * lose it in the middle of an order. */
		store_lock_release(j->lock);
		j->lock = NULL;
		errbuf_set(eb, "%s", e2.msg);
		return -1;
	}
	return 0;
}

/*
 * While another node orders a name, each node that waits for its lock looks
 * again every retry_base. The wait is told once at notice, its repeats at
 * debug and its end at info: a fleet that issues 1,000 names at once would
 * otherwise log every name, on every waiting node, every retry_base.
 */
int
lock_take_or_wait(struct job *j)
{
	struct errbuf	 eb;
	time_t		 now = acme_now(j->a);

	if (lock_take(j, &eb) == -1) {
		if (!j->lock_waiting) {
			j->lock_waiting = 1;
			j->lock_wait_t0 = now;
			log_notice("acme %s: %s; waiting (looking again every %lds; "
			    "logged again when taken)", job_name(j), eb.msg,
			    j->a->cfg.retry_base);
		} else
			log_debug("acme %s: %s; still waiting", job_name(j), eb.msg);
		job_timer_in(j, j->a->cfg.retry_base);
		return -1;
	}
	if (j->lock_waiting) {
		j->lock_waiting = 0;
		log_info("acme %s: store lock taken after %llds of waiting",
		    job_name(j), (long long)(now - j->lock_wait_t0));
	}
	return 0;
}

int
lock_retake(struct job *j)
{
	struct errbuf eb;

	store_lock_release(j->lock);	/* its lease is gone: nothing to undo */
	j->lock = NULL;
	if (lock_take(j, &eb) == -1) {
		log_warnx("acme %s: the store lock's lease ended during the order "
		    "and the lock cannot be taken again (%s)", job_name(j), eb.msg);
		return -1;
	}
	log_notice("acme %s: the store lock's lease ended during the order; "
	    "nobody held it, taken again: writing the issued certificate",
	    job_name(j));
	return 0;
}

/*
 * Under the lock, before ordering: in a shared store (etcd) another node may
 * have put a certificate for this name while this job waited for the lock.
 * One that is not ours, covers the site and is not due is adopted instead
 * of ordering (one order per name across the fleet), with the renewal state
 * that node left. An operator's forced renewal orders anyway. A store that
 * cannot be asked (etcd going down) cannot tell: no order, the lock goes
 * and the job tries again later. 1: adopted or put off.
 */
int
job_adopt_stored(struct job *j)
{
	struct certfile	*cf;
	struct errbuf	 eb;
	time_t		 now = acme_now(j->a), at;

	if (j->forced)
		return 0;
	if ((cf = store_cert_get(j->a->store, job_name(j), j->kt, &eb)) == NULL) {
		if (eb.msg[0] == '\0' || errno != EAGAIN)
			return 0;	/* none stored, or unreadable: ordered */
		log_warnx("acme %s: the store cannot be asked under the lock "
		    "(%s); not ordering, trying again later", job_name(j), eb.msg);
		store_lock_release(j->lock);
		j->lock = NULL;
		job_timer_in(j, j->a->cfg.retry_base);
		return 1;
	}
	at = acme_sched_renew_at(cf->not_before, cf->not_after, 0, 0, acme_rnd());
	for (size_t i = 0; i < j->site->nnames; i++)
		if (!certfile_matches(cf, j->site->names[i]))
			at = 0;
	if ((j->current != NULL && strcmp(cf->sha256, j->current->sha256) == 0) ||
	    at <= now) {
		certfile_unref(cf);
		return 0;
	}
	log_notice("acme %s: another node put a new %s certificate (%s); not "
	    "ordering", job_name(j), certfile_keytype_names[j->kt], cf->sha256);
	certfile_unref(j->current);
	j->current = cf;
	if (store_renewal_get(j->a->store, job_name(j), j->kt, &j->rs) == -1)
		memset(&j->rs, 0, sizeof(j->rs));
	issuer_job_init(j);
	j->renew_at = at;
	store_lock_release(j->lock);
	j->lock = NULL;
	job_schedule(j);
	demand_report(j, 1);
	j->urgent = 0;
	return 1;
}
