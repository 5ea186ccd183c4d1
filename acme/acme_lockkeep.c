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
 * ACME thread only (the timer runs on the ACME event base).
 */
#include "acme_int.h"

#include <event2/event.h>

#include "errbuf.h"
#include "log.h"

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
