/*
 * acme_lockkeep.c - keeps the store locks of running orders alive.
 *
 * A job takes its name's store lock for ACME_LOCK_TTL seconds before it
 * orders (acme.c, job_start). With a shared store (etcd) the lock is a
 * lease: this timer refreshes every held lock each ACME_LOCK_TTL / 3
 * seconds, so a lock lives as long as its order while the node lives, and
 * a node that dies (kill -9, power) stops refreshing: its lease ends within
 * ACME_LOCK_TTL seconds and another node takes the name over. A refresh
 * that finds the lease gone is logged; the fenced write of the certificate
 * (store_cert_put_locked) then refuses, and the order fails and retries.
 * The file backend's locks live with the process and need no refresh.
 *
 * ACME thread only (the timer runs on the ACME event base).
 */
#include "acme_int.h"

#include <event2/event.h>

#include "log.h"

static void
on_lockkeep(evutil_socket_t fd, short what, void *arg)
{
	struct acme *a = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < a->njobs; i++) {
		struct job *j = a->jobs[i];

		if (j->lock == NULL)
			continue;
		if (store_lock_keepalive(j->lock) == -1) {
			log_warnx("acme %s: the store lock's lease could not be "
			    "refreshed (etcd unreachable, or it ended); the "
			    "certificate will be written only if the lock is still "
			    "ours then", job_name(j));
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
