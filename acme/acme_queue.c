/*
 * acme_queue.c - at most max_orders orders at a time. A CA sees a handful
 * of orders in flight, however many names are due together: 500 orders at
 * once over hundreds of connections deadlocked Pebble, and a real CA would
 * rate-limit or drop such a burst (issue 14). Due jobs beyond the cap wait
 * here; a freed slot goes to the oldest urgent job (a handshake waits for
 * it), else to the oldest renewal.
 *
 * newOrder requests also go one at a time: Pebble 2.4 and 2.6 deadlock
 * when several run together (their NewOrder handlers take the store's locks
 * in different orders; seen in a goroutine dump at 32 orders in flight), and
 * a newOrder is the costly request at any CA. It costs one round trip per
 * order, while the rest of each order (authorizations, polls, finalize,
 * download) still overlaps.
 */
#include "acme_int.h"
#include "acme_queue.h"

#include <event2/event.h>

#include "log.h"

static void	on_queue(evutil_socket_t, short, void *);

void
queue_init(struct acme *a, unsigned max)
{
	a->max_orders = max > 0 ? max : ACME_MAX_ORDERS_DEFAULT;
	TAILQ_INIT(&a->q_urgent);
	TAILQ_INIT(&a->q_renew);
	TAILQ_INIT(&a->order_wait);
	a->queue_ev = event_new(a->base, -1, 0, on_queue, a);
}

void
queue_free(struct acme *a)
{
	if (a->queue_ev != NULL)
		event_free(a->queue_ev);
	a->queue_ev = NULL;
}

static void
busy_add(struct job *j, int d)
{
	if (j->ondemand)
		atomic_fetch_add(&j->a->demand_busy, (unsigned)d);
}

void
queue_drop(struct job *j)
{
	struct acme *a = j->a;

	if (!j->queued)
		return;
	TAILQ_REMOVE(j->queued == 1 ? &a->q_urgent : &a->q_renew, j, qentry);
	j->queued = 0;
	a->nqueued--;
	if (!j->slot)
		busy_add(j, -1);
}

static int
account_pending(const struct acme *a, const struct job *j)
{
	const struct acme_iss *s = job_iss(j);	/* the CA j orders from */

	return s->acct_url == NULL && s->acct_job != NULL && s->acct_job != j;
}

static void
enqueue(struct job *j)
{
	struct acme *a = j->a;

	if (j->queued) {
		/* Became urgent while waiting as a renewal: move ahead. */
		if (j->queued == 1 || !j->urgent)
			return;
		queue_drop(j);
	}
	if (a->nqueued == 0)
		log_info("acme: %u order(s) running (acme.max_concurrent_orders); "
		    "due jobs wait their turn", a->nslots);
	TAILQ_INSERT_TAIL(j->urgent ? &a->q_urgent : &a->q_renew, j, qentry);
	j->queued = j->urgent ? 1 : 2;
	a->nqueued++;
	busy_add(j, 1);
}

void
queue_submit(struct job *j)
{
	struct acme *a = j->a;

	if (j->slot || j->state != JOB_IDLE)
		return;
	/* Someone is ahead: wait behind them, even with a slot free. */
	if (a->nslots >= a->max_orders || account_pending(a, j) ||
	    (j->queued == 0 && (!TAILQ_EMPTY(&a->q_urgent) ||
	    (!j->urgent && !TAILQ_EMPTY(&a->q_renew))))) {
		enqueue(j);
		queue_kick(a);
		return;
	}
	queue_drop(j);
	job_start(j);
}

void
queue_take(struct job *j)
{
	queue_drop(j);
	if (j->slot)
		return;
	j->slot = 1;
	j->a->nslots++;
	busy_add(j, 1);
}

void
queue_release(struct job *j)
{
	if (!j->slot)
		return;
	j->slot = 0;
	j->a->nslots--;
	busy_add(j, -1);
	queue_kick(j->a);
}

void
queue_kick(struct acme *a)
{
	if (a->queue_ev != NULL && a->nqueued > 0)
		event_active(a->queue_ev, EV_TIMEOUT, 0);
}

static void
on_queue(evutil_socket_t fd, short what, void *arg)
{
	struct acme	*a = arg;
	struct job	*j;
	time_t		 now = acme_now(a);
	size_t		 tries = a->nqueued;

	/* Bounded by the queue's length: a job that cannot start now (its
	 * sibling orders, the lock is held) arms its own timer instead. */
	while (a->nslots < a->max_orders && tries-- > 0 && a->dir_ok) {
		if ((j = TAILQ_FIRST(&a->q_urgent)) == NULL &&
		    (j = TAILQ_FIRST(&a->q_renew)) == NULL)
			break;
		if (account_pending(a, j))
			break;		/* on_account or the failure kicks us */
		queue_drop(j);
		if (j->state != JOB_IDLE)
			continue;
		if (now < job_due(j))
			job_schedule(j);
		else
			job_start(j);
	}
}

int
order_gate_enter(struct job *j)
{
	struct acme *a = j->a;

	if (a->order_job == NULL || a->order_job == j) {
		a->order_job = j;
		return 1;
	}
	if (!j->gated) {
		TAILQ_INSERT_TAIL(&a->order_wait, j, gentry);
		j->gated = 1;
	}
	return 0;
}

void
order_gate_leave(struct job *j)
{
	struct acme	*a = j->a;
	struct job	*next;

	if (j->gated) {
		TAILQ_REMOVE(&a->order_wait, j, gentry);
		j->gated = 0;
	}
	if (a->order_job != j)
		return;
	a->order_job = NULL;
	if ((next = TAILQ_FIRST(&a->order_wait)) != NULL) {
		TAILQ_REMOVE(&a->order_wait, next, gentry);
		next->gated = 0;
		a->order_job = next;
		job_timer_in(next, 0);	/* on_job_timer: step_order */
	}
}
