/*
 * hsess.c - the session of one HTTP-mode connection (hsess.h): the
 * protocol's dispatch, the deferred frontend hooks and the timer.
 */
#include "hsess_impl.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "sites.h"
#include "worker.h"
#include "xalloc.h"

static void
hsess_on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct hsess	*s = arg;
	struct hstream	*st, *next;

	(void)fd;
	(void)what;
	assert(s->magic == HSESS_MAGIC);
	s->defer_on = 0;
	s->in_defer = 1;
	for (st = s->streams; st != NULL; st = next) {
		unsigned pend = st->pend;
		next = st->next;
		if (pend == 0)
			continue;
		st->pend = 0;
		if (pend & HPEND_RELEASE)
			hproxy_release(st);
		/* A hook may free st (the exchange is over) but no other. */
		if (pend & HPEND_ABORT) {
			s->p->fe.on_abort(st);
			continue;
		}
		if (pend & HPEND_HEAD) {
			s->p->fe.on_head(st);
			if (st->pend & HPEND_ABORT)	/* the frontend gave up */
				continue;
		}
		if (pend & (HPEND_HEAD | HPEND_DATA))
			s->p->fe.on_data(st);
	}
	s->in_defer = 0;
	s->c.kick(s->c.arg);	/* last: it may free s */
}

/* Monotonic seconds: the lazy timer's deadlines must not move with the
 * wall clock. The coarse clock (a tick, a few ms) is enough for timeouts
 * of seconds and costs a memory read. */
static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
timer_arm(struct hsess *s, double secs, double due)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	evtimer_add(&s->timer, &tv);
	s->t_armed = due;
}

static void
hsess_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hsess	*s = arg;
	double		 left;

	(void)fd;
	(void)what;
	assert(s->magic == HSESS_MAGIC);
	s->t_armed = 0;
	if (s->t_due == 0)
		return;		/* disarmed since it was scheduled */
	if ((left = s->t_due - mono_now()) > 0.001) {
		/* Re-armed for later since: wait for what is left. */
		timer_arm(s, left, s->t_due);
		return;
	}
	s->t_due = 0;
	s->p->on_timer(s);
	s->c.kick(s->c.arg);
}

/* Activating an event that is active already changes nothing; the flag
 * spares the call (a lock, a queue check) for the second and third hook
 * of a response. */
static void
hsess_activate(struct hsess *s)
{
	if (s->defer_on)
		return;
	s->defer_on = 1;
	if (s->held) {
		s->held_pending = 1;	/* hsess_unhold() runs them */
		return;
	}
	event_active(&s->defer_ev, EV_TIMEOUT, 0);
}

struct hsess *
hsess_hold(struct hsess *s)
{
	assert(s->magic == HSESS_MAGIC);
	if (s->proto != HSESS_H1 || s->held)
		return NULL;
	s->held = 1;
	return s;
}

void
hsess_unhold(struct hsess *s)
{
	assert(s->magic == HSESS_MAGIC && s->held);
	s->held = 0;
	if (!s->held_pending)
		return;
	s->held_pending = 0;
	hsess_on_defer(-1, 0, s);	/* last: it may free s */
}

void
hsess_defer(struct hsess *s, struct hstream *st, unsigned pend)
{
	st->pend |= pend;
	hsess_activate(s);	/* st may be behind the running hook loop */
}

/* Inside hsess_on_defer() the kick that ends it does this already (an
 * HTTP/1.1 response just completed: that kick feeds the next request
 * in): no second turn of the loop for it. */
void
hsess_kick_later(struct hsess *s)
{
	if (s->in_defer)
		return;
	hsess_activate(s);
}

/*
 * Lazy: a keep-alive connection moves its deadline at every request (idle,
 * head, body, none, idle), and a timer-heap delete and insert each time
 * cost more than the rest of the bookkeeping. The event is rescheduled only
 * when it would fire later than the new deadline; firing early, it re-arms
 * for what is left; disarmed, it fires once and does nothing.
 */
void
hsess_timer(struct hsess *s, double secs)
{
	double due;

	if (secs <= 0) {
		s->t_due = 0;
		return;
	}
	due = mono_now() + secs;
	s->t_due = due;
	if (s->t_armed != 0 && s->t_armed <= due)
		return;
	timer_arm(s, secs, due);
}

double
hsess_now(const struct hsess *s)
{
	struct timeval tv;

	event_base_gettimeofday_cached(s->base, &tv);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

struct hsess *
hsess_new(enum hsess_proto proto, const struct hsess_conn *c)
{
	struct hsess	*s = xcalloc(1, sizeof(*s));
	const struct sockaddr_storage *ss = c->peer;

	s->magic = HSESS_MAGIC;
	s->proto = proto;
	s->p = proto == HSESS_H2 ? &h2_proto : &h1_proto;
	s->c = *c;
	s->base = c->w->base;
	s->out = evbuffer_new();
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, s->peer_ip, sizeof(s->peer_ip));
		snprintf(s->peer_port, sizeof(s->peer_port), "%u", ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, s->peer_ip, sizeof(s->peer_ip));
		snprintf(s->peer_port, sizeof(s->peer_port), "%u", ntohs(s6->sin6_port));
	} else
		snprintf(s->peer_ip, sizeof(s->peer_ip), "unknown");
	s->peer_ip_len = strlen(s->peer_ip);
	s->trusted = view_trusted_proxy(c->view, (const struct sockaddr *)ss);
	event_assign(&s->defer_ev, s->base, -1, 0, hsess_on_defer, s);
	evtimer_assign(&s->timer, s->base, hsess_on_timer, s);
	if (s->p->init(s) == -1) {
		hsess_free(s);
		return NULL;
	}
	return s;
}

void
hsess_free(struct hsess *s)
{
	if (s == NULL)
		return;
	assert(s->magic == HSESS_MAGIC);
	event_del(&s->defer_ev);
	s->defer_on = 0;
	evtimer_del(&s->timer);
	s->t_armed = s->t_due = 0;
	/* The protocol frees its streams (each through hstream_free). */
	s->p->free(s);
	while (s->streams != NULL)
		hstream_free(s->streams);
	if (s->out != NULL)
		evbuffer_free(s->out);
	s->magic = 0;
	free(s);
}

ssize_t
hsess_input(struct hsess *s, const uint8_t *p, size_t n)
{
	ssize_t r;

	if (s->state != HSESS_OPEN)
		return (ssize_t)n;	/* closing: the rest is not read */
	if ((r = s->p->input(s, p, n)) == -1)
		s->state = HSESS_ABORT;
	return s->state == HSESS_ABORT ? -1 : r;
}

int
hsess_wants_input(const struct hsess *s)
{
	return s->state == HSESS_OPEN && s->p->wants_input(s);
}

void
hsess_eof(struct hsess *s)
{
	s->p->eof(s);
}

struct evbuffer *
hsess_output(struct hsess *s)
{
	if (s->out == NULL && (s->out = evbuffer_new()) == NULL)
		abort();	/* as xmalloc does */
	s->p->fill(s);
	return s->out;
}

void
hsess_out_release(struct hsess *s)
{
	if (s->out != NULL && evbuffer_get_length(s->out) == 0) {
		evbuffer_free(s->out);
		s->out = NULL;
	}
}

void
hsess_drained(struct hsess *s)
{
	s->p->drained(s);
}

enum hsess_state
hsess_state(const struct hsess *s)
{
	return s->state;
}

void
hsess_shutdown(struct hsess *s)
{
	s->p->shutdown(s);
}

unsigned
hsess_requests(const struct hsess *s)
{
	return s->nreq;
}
