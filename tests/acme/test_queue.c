/*
 * test_queue.c - the order cap and its queue (acme_queue.c) on their own:
 * jobs are bare structs, and the few acme.c functions the queue calls are
 * stubs here that record what happened. Checks the cap, first come first
 * served, urgent (on-demand) jobs ahead of renewals, waiting for the
 * account, the on-demand count, and one newOrder at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "acme_int.h"
#include "acme_queue.h"

/* ---- stubs for what acme_queue.c calls in acme.c --------------------------- */

static struct job	*started[64];
static size_t		 nstarted;
static int		 timers_armed, scheduled;

void
job_start(struct job *j)
{
	if (!j->a->dir_ok || j->state != JOB_IDLE)
		return;
	j->state = JOB_ORDER;
	queue_take(j);
	started[nstarted++] = j;
}

time_t
job_due(const struct job *j)
{
	return j->renew_at;
}

void
job_schedule(struct job *j)
{
	scheduled++;
}

void
job_timer_in(struct job *j, long secs)
{
	timers_armed++;
}

time_t
acme_now(const struct acme *a)
{
	return 1000;
}

/* One CA (acme_issuer.c): the account every job waits for. */
struct acme_iss *
job_iss(const struct job *j)
{
	return &j->a->iss[0];
}

/* ---- helpers ---------------------------------------------------------------- */

static struct acme *
new_acme(unsigned max)
{
	struct acme *a = calloc(1, sizeof(*a));

	a->base = event_base_new();
	a->dir_ok = 1;
	a->iss = calloc(1, sizeof(*a->iss));
	a->niss = 1;
	a->iss[0].a = a;
	a->iss[0].acct_url = "https://ca.test/acct/1";
	queue_init(a, max);
	nstarted = 0;
	timers_armed = scheduled = 0;
	return a;
}

static void
free_acme(struct acme *a)
{
	queue_free(a);
	event_base_free(a->base);
	free(a->iss);
	free(a);
}

static struct job *
new_job(struct acme *a, int urgent, int ondemand)
{
	struct job *j = calloc(1, sizeof(*j));

	j->magic = JOB_MAGIC;
	j->a = a;
	j->state = JOB_IDLE;
	j->renew_at = 0;	/* due */
	j->urgent = urgent;
	j->ondemand = ondemand;
	return j;
}

/* The order of j ends (success or failure): idle, its slot back. */
static void
finish(struct job *j)
{
	j->state = JOB_IDLE;
	order_gate_leave(j);
	queue_release(j);
}

static void
run_loop(struct acme *a)
{
	event_base_loop(a->base, EVLOOP_NONBLOCK);
}

/* ---- tests ------------------------------------------------------------------- */

static void
test_cap_and_fifo(void **state)
{
	struct acme	*a = new_acme(2);
	struct job	*j[5];

	for (int i = 0; i < 5; i++) {
		j[i] = new_job(a, 0, 0);
		queue_submit(j[i]);
	}
	run_loop(a);
	assert_int_equal(nstarted, 2);
	assert_ptr_equal(started[0], j[0]);
	assert_ptr_equal(started[1], j[1]);
	assert_int_equal(a->nslots, 2);
	assert_int_equal(a->nqueued, 3);
	/* A second submit of a queued job does not queue it twice. */
	queue_submit(j[3]);
	assert_int_equal(a->nqueued, 3);
	finish(j[0]);
	run_loop(a);
	assert_int_equal(nstarted, 3);
	assert_ptr_equal(started[2], j[2]);	/* first come, first served */
	assert_int_equal(a->nslots, 2);
	finish(j[1]);
	finish(j[2]);
	run_loop(a);
	assert_int_equal(nstarted, 5);
	assert_int_equal(a->nqueued, 0);
	assert_true(a->nslots <= a->max_orders);
	for (int i = 0; i < 5; i++) {
		finish(j[i]);
		free(j[i]);
	}
	assert_int_equal(a->nslots, 0);
	free_acme(a);
}

static void
test_urgent_first(void **state)
{
	struct acme	*a = new_acme(1);
	struct job	*r1 = new_job(a, 0, 0), *r2 = new_job(a, 0, 0), *r3 = new_job(a, 0, 0);
	struct job	*u1 = new_job(a, 1, 1), *u2 = new_job(a, 1, 1);

	queue_submit(r1);		/* takes the one slot */
	queue_submit(r2);
	queue_submit(r3);
	queue_submit(u1);		/* after two renewals, but urgent */
	run_loop(a);
	assert_int_equal(nstarted, 1);
	assert_int_equal(atomic_load(&a->demand_busy), 1);	/* u1 queued */
	finish(r1);
	run_loop(a);
	assert_int_equal(nstarted, 2);
	assert_ptr_equal(started[1], u1);
	assert_int_equal(atomic_load(&a->demand_busy), 1);	/* u1 ordering */
	/* A renewal already queued that a handshake now waits for moves up. */
	r3->urgent = 1;
	queue_submit(r3);
	queue_submit(u2);
	finish(u1);
	assert_int_equal(atomic_load(&a->demand_busy), 1);	/* u2 queued */
	run_loop(a);
	assert_ptr_equal(started[2], r3);
	finish(r3);
	run_loop(a);
	assert_ptr_equal(started[3], u2);
	finish(u2);
	run_loop(a);
	assert_ptr_equal(started[4], r2);	/* renewals last */
	finish(r2);
	assert_int_equal(atomic_load(&a->demand_busy), 0);
	assert_int_equal(a->nslots, 0);
	free(r1); free(r2); free(r3); free(u1); free(u2);
	free_acme(a);
}

static void
test_not_due_is_rescheduled(void **state)
{
	struct acme	*a = new_acme(1);
	struct job	*j1 = new_job(a, 0, 0), *j2 = new_job(a, 0, 0);

	queue_submit(j1);
	queue_submit(j2);
	j2->renew_at = 5000;	/* no longer due when its turn comes */
	finish(j1);
	run_loop(a);
	assert_int_equal(nstarted, 1);
	assert_int_equal(scheduled, 1);
	assert_int_equal(a->nqueued, 0);
	free(j1); free(j2);
	free_acme(a);
}

static void
test_wait_for_account(void **state)
{
	struct acme	*a = new_acme(4);
	struct job	*reg = new_job(a, 0, 0), *j2 = new_job(a, 0, 0), *j3 = new_job(a, 1, 1);

	a->iss[0].acct_url = NULL;
	queue_submit(reg);
	a->iss[0].acct_job = reg;	/* reg registers the account */
	queue_submit(j2);
	queue_submit(j3);
	run_loop(a);
	assert_int_equal(nstarted, 1);	/* slots are free, but they wait */
	assert_int_equal(a->nqueued, 2);
	a->iss[0].acct_url = "https://ca.test/acct/1";
	a->iss[0].acct_job = NULL;
	queue_kick(a);
	run_loop(a);
	assert_int_equal(nstarted, 3);
	assert_ptr_equal(started[1], j3);	/* urgent first */
	finish(reg); finish(j2); finish(j3);
	free(reg); free(j2); free(j3);
	free_acme(a);
}

static void
test_drop_queued(void **state)
{
	struct acme	*a = new_acme(1);
	struct job	*j1 = new_job(a, 0, 0), *j2 = new_job(a, 1, 1), *j3 = new_job(a, 0, 0);

	queue_submit(j1);
	queue_submit(j2);
	queue_submit(j3);
	assert_int_equal(atomic_load(&a->demand_busy), 1);
	queue_drop(j2);		/* forgotten while queued */
	assert_int_equal(atomic_load(&a->demand_busy), 0);
	assert_int_equal(a->nqueued, 1);
	finish(j1);
	run_loop(a);
	assert_ptr_equal(started[1], j3);
	finish(j3);
	free(j1); free(j2); free(j3);
	free_acme(a);
}

static void
test_one_new_order_at_a_time(void **state)
{
	struct acme	*a = new_acme(8);
	struct job	*j1 = new_job(a, 0, 0), *j2 = new_job(a, 0, 0), *j3 = new_job(a, 0, 0);

	assert_int_equal(order_gate_enter(j1), 1);
	assert_int_equal(order_gate_enter(j1), 1);	/* again (a retry): still its turn */
	assert_int_equal(order_gate_enter(j2), 0);
	assert_int_equal(order_gate_enter(j3), 0);
	assert_int_equal(order_gate_enter(j2), 0);	/* not queued twice */
	assert_true(j2->gated && j3->gated);
	order_gate_leave(j3);		/* j3 gave up (removed) */
	assert_false(j3->gated);
	order_gate_leave(j1);		/* answered: j2's turn, by its timer */
	assert_ptr_equal(a->order_job, j2);
	assert_int_equal(timers_armed, 1);
	assert_false(j2->gated);
	order_gate_leave(j2);
	assert_null(a->order_job);
	assert_int_equal(timers_armed, 1);
	free(j1); free(j2); free(j3);
	free_acme(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_and_fifo),
		cmocka_unit_test(test_urgent_first),
		cmocka_unit_test(test_not_due_is_rescheduled),
		cmocka_unit_test(test_wait_for_account),
		cmocka_unit_test(test_drop_queued),
		cmocka_unit_test(test_one_new_order_at_a_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
