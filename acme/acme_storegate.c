/*
 * acme_storegate.c - no order while the store is unreachable (issue 15,
 * docs/cluster.md "What happens in each failure").
 *
 * With a shared store (etcd), a node that cannot reach it cannot take a
 * name's lock, cannot see whether another node already renewed, and could
 * not write the certificate it ordered: an order would only spend the CA's
 * rate limits. So job_start asks this gate first. While the store reports
 * itself unreachable (store_available, which never waits for etcd), a due
 * job takes no lock, places no order and looks again in ACME_STORE_WAIT
 * seconds; it keeps its place and its forced flag, so that when etcd comes
 * back the orders resume by themselves, within a few seconds, with no
 * operator action. The outage is logged once by the gate (and once by the
 * store), not at every look.
 *
 * ACME thread only.
 */
#include "acme_int.h"

#include <event2/event.h>

#include "log.h"

int
storegate_wait(struct job *j)
{
	struct acme *a = j->a;

	if (store_available(a->store)) {
		if (a->store_waiting) {
			log_notice("acme: the store answers again; orders resume");
			a->store_waiting = 0;
		}
		return 0;
	}
	if (!a->store_waiting) {
		log_warnx("acme %s: the store is unreachable; no order until it is "
		    "back (due renewals wait, and resume by themselves)",
		    job_name(j));
		a->store_waiting = 1;
	}
	evtimer_del(j->timer);
	job_timer_in(j, ACME_STORE_WAIT);
	return 1;
}
