/*
 * health.h - active health checks of every backend of every pool that asks
 * for them (sites' and routes' pools): a TCP connect, or an HTTP GET (Host:
 * health.host or the site's first name) whose status must be in
 * health.status (default 200-399), every interval, each with a timeout
 * (in HTTP/2 for a cleartext pool with http.backend_protocol "h2").
 * rise good checks in a row bring a backend up, fall bad ones take it down;
 * transitions are logged. Runs on the main thread's event loop; the checks
 * of one view are replaced on reload.
 */
#ifndef TLSGATE_HEALTH_H
#define TLSGATE_HEALTH_H

struct event_base;
struct health;
struct view;

/* Start checking the pools of v (takes a reference on v). */
struct health	*health_start(struct event_base *base, struct view *v);
void		 health_stop(struct health *);		/* NULL is a no-op */

#endif
