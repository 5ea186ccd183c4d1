/*
 * lpause.h - keeps a libevent listener (evconnlistener, as under evhttp)
 * from spinning when accept() fails for want of descriptors.
 *
 * libevent leaves the listener enabled after a failed accept(), and the
 * pending connection keeps it readable, so without this the loop calls
 * accept() again at once, for ever. Here the listener is disabled for a pause
 * that doubles while the failures last (10 ms to 1 s), each failure is
 * counted in tlsgate_accept_fd_exhausted_total, and the log gets one line per
 * interval. The worker listeners do the same by hand (worker.c).
 *
 * Main thread only (the registry of listeners is not locked).
 */
#ifndef TLSGATE_LPAUSE_H
#define TLSGATE_LPAUSE_H

struct event_base;
struct evconnlistener;
struct lpause;

/* Watch l; name (copied) goes in log lines. Free before l is freed. */
struct lpause	*lpause_new(struct event_base *base, struct evconnlistener *l,
		    const char *name);
void		 lpause_free(struct lpause *);	/* NULL is a no-op */

#endif
