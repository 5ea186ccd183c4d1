/*
 * lpause.c - pause an evconnlistener whose accept() fails, rather than let
 * libevent retry at once. See lpause.h.
 */
#include "lpause.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "stats.h"
#include "xalloc.h"

#define LPAUSE_MIN_MS		10
#define LPAUSE_MAX_MS		1000
#define LPAUSE_LOG_INTERVAL	10	/* seconds */

struct lpause {
	struct lpause		*next;
	struct evconnlistener	*l;
	struct event		*ev;
	char			*name;
	unsigned		 pause_ms;
	unsigned long		 errs;		/* since the last log line */
	double			 logged, last_err;	/* monotonic seconds */
};

/*
 * The error callback gets the listener's own argument (evhttp's), not ours,
 * so the callback finds its state here. A handful of entries, main thread.
 */
static struct lpause *lpause_all;

static double
lpause_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
lpause_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct lpause *p = arg;

	evconnlistener_enable(p->l);
}

static void
lpause_on_error(struct evconnlistener *l, void *unused)
{
	struct lpause	*p;
	int		 err = EVUTIL_SOCKET_ERROR();
	double		 now = lpause_now();
	struct timeval	 tv;

	for (p = lpause_all; p != NULL && p->l != l; p = p->next)
		;
	if (p == NULL)
		return;
	if (err == EMFILE || err == ENFILE)
		stats_accept_fd_error();
	p->errs++;
	if (now - p->logged >= LPAUSE_LOG_INTERVAL) {
		log_warnx("%s: accept: %s: %lu times since the last report; accepting "
		    "pauses for up to %u ms at a time", p->name, strerror(err), p->errs,
		    LPAUSE_MAX_MS);
		p->errs = 0;
		p->logged = now;
	}
	/* The pause doubles while retries keep failing, and starts small again
	 * after a quiet spell. */
	if (p->pause_ms == 0 || now - p->last_err > 2.0 * LPAUSE_MAX_MS / 1000)
		p->pause_ms = LPAUSE_MIN_MS;
	else if ((p->pause_ms *= 2) > LPAUSE_MAX_MS)
		p->pause_ms = LPAUSE_MAX_MS;
	p->last_err = now;
	evconnlistener_disable(l);
	tv.tv_sec = p->pause_ms / 1000;
	tv.tv_usec = (p->pause_ms % 1000) * 1000;
	evtimer_add(p->ev, &tv);
}

struct lpause *
lpause_new(struct event_base *base, struct evconnlistener *l, const char *name)
{
	struct lpause *p = xcalloc(1, sizeof(*p));

	p->l = l;
	p->name = xstrdup(name);
	p->ev = evtimer_new(base, lpause_on_timer, p);
	p->logged = -LPAUSE_LOG_INTERVAL;
	p->next = lpause_all;
	lpause_all = p;
	evconnlistener_set_error_cb(l, lpause_on_error);
	return p;
}

void
lpause_free(struct lpause *p)
{
	struct lpause **pp;

	if (p == NULL)
		return;
	for (pp = &lpause_all; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	evconnlistener_set_error_cb(p->l, NULL);
	event_free(p->ev);
	free(p->name);
	free(p);
}
