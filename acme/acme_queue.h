/*
 * acme_queue.h - the cap on concurrent orders (acme.max_concurrent_orders)
 * and the queue of due jobs waiting for a slot: jobs a handshake waits for
 * (job->urgent) first, then renewals, each first come, first served. A job
 * holds a slot from the start of its order (job_start) until it is idle
 * again, whatever the outcome. While the account is being registered, every
 * other due job waits in the queue.
 *
 * ACME thread only.
 */
#ifndef TLSGATE_ACME_QUEUE_H
#define TLSGATE_ACME_QUEUE_H

struct acme;
struct job;

/* Set up the (empty) queue with max slots (0: ACME_MAX_ORDERS_DEFAULT). */
void	queue_init(struct acme *, unsigned max);
void	queue_free(struct acme *);
/* j is due: start it now if a slot is free, else queue it (once; an urgent
 * job already queued as a renewal moves ahead). */
void	queue_submit(struct job *);
/* The job's order begins: it takes a slot. */
void	queue_take(struct job *);
/* The job is idle again (or gone): give its slot back, start the next. */
void	queue_release(struct job *);
/* Take j off the queue (it is being removed or changed); no-op if not on it. */
void	queue_drop(struct job *);
/* Start queued jobs while slots are free (soon, from the loop). */
void	queue_kick(struct acme *);

/*
 * One newOrder at a time per CA. 1 if j may send its newOrder now (it holds
 * the turn until order_gate_leave); 0 if it must wait: its timer fires in
 * state JOB_ORDER when its turn comes, and it calls step_order again.
 */
int	order_gate_enter(struct job *);
/* j's newOrder was answered, or j is idle or gone: the next one goes. */
void	order_gate_leave(struct job *);

#endif
