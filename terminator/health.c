/*
 * health.c - one small non-blocking state machine per checked backend (of
 * a site's pool or of one of its routes' pools):
 * IDLE -(interval)-> CONNECTING -(writable)-> [HTTP: READING] -> result.
 * An `http` check of an HTTP/2 cleartext pool speaks HTTP/2 (health_h2.h).
 * Each wait has the check's timeout; a timeout is a failed check.
 */
#include "health.h"
#include "health_h2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "pool.h"
#include "route.h"
#include "sites.h"
#include "xalloc.h"

enum chk_state { CHK_IDLE, CHK_CONNECTING, CHK_READING };

struct check {
	struct health	*h;
	struct pool	*pool;
	struct backend	*b;
	const char	*host;		/* Host header: health.host, or the
					   site's first name */
	enum chk_state	 st;
	int		 fd;
	struct event	*ev, *timer;
	char		 buf[256];
	size_t		 got;
	struct hchk_h2	*h2;		/* an HTTP/2 check's session, or NULL */
};

struct health {
	struct event_base	*base;
	struct view		*view;
	struct check		**c;
	size_t			  n;
};

static void	chk_begin(evutil_socket_t, short, void *);

static struct timeval
secs(double d)
{
	struct timeval tv = { (time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6) };
	return tv;
}

static void
chk_done(struct check *k, int ok, const char *why)
{
	struct backend		*b = k->b;
	const struct health_cfg	*hc = &k->pool->hc;
	struct timeval		 tv = secs(hc->interval);

	hchk_h2_free(k->h2);
	k->h2 = NULL;
	if (k->fd != -1) {
		event_del(k->ev);
		event_free(k->ev);
		k->ev = NULL;
		close(k->fd);
		k->fd = -1;
	}
	k->st = CHK_IDLE;
	if (ok) {
		b->fall_cnt = 0;
		if (!atomic_load(&b->up) && ++b->rise_cnt >= hc->rise) {
			atomic_store(&b->passive_fails, 0);
			atomic_store(&b->up, 1);
			b->rise_cnt = 0;
			log_notice("backend %s of %s is UP (%d good checks)", b->str,
			    k->pool->site, hc->rise);
		}
	} else {
		b->rise_cnt = 0;
		if (atomic_load(&b->up) && ++b->fall_cnt >= hc->fall) {
			atomic_store(&b->up, 0);
			b->fall_cnt = 0;
			log_warnx("backend %s of %s is DOWN: %s (%d failed checks)", b->str,
			    k->pool->site, why, hc->fall);
		} else
			log_debug("backend %s of %s: check failed: %s", b->str,
			    k->pool->site, why);
	}
	evtimer_add(k->timer, &tv);
}

static void
chk_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct check	*k = arg;
	struct timeval	 tv = secs(k->pool->hc.timeout);
	socklen_t	 len = sizeof(int);
	int		 err = 0, code;
	ssize_t		 n;
	char		 req[512];

	if (what & EV_TIMEOUT) {
		chk_done(k, 0, k->st == CHK_CONNECTING ? "connect timeout" : "no answer");
		return;
	}
	if (k->st == CHK_CONNECTING) {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			chk_done(k, 0, strerror(err));
			return;
		}
		if (k->pool->hc.type == 1) {
			chk_done(k, 1, NULL);
			return;
		}
		/* An HTTP/2 cleartext pool is checked in HTTP/2 (health_h2.h). */
		if (k->pool->h2 && k->pool->tls_ctx == NULL) {
			if ((k->h2 = hchk_h2_new(k->pool->hc.path, k->host)) == NULL ||
			    hchk_h2_send(k->h2, fd) == -1) {
				chk_done(k, 0, "HTTP/2 request not sent");
				return;
			}
			req[0] = '\0';
		} else
			snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
			    "User-Agent: tlsgate-health\r\nConnection: close\r\n\r\n",
			    k->pool->hc.path, k->host);
		if (k->h2 == NULL &&
		    send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
			chk_done(k, 0, "send failed");
			return;
		}
		k->st = CHK_READING;
		k->got = 0;
		event_del(k->ev);
		event_assign(k->ev, k->h->base, fd, EV_READ, chk_on_io, k);
		event_add(k->ev, &tv);
		return;
	}
	if (k->h2 != NULL) {
		uint8_t b[2048];

		if ((n = recv(fd, b, sizeof(b), 0)) <= 0) {
			chk_done(k, 0, n == 0 ? "closed before a response" : strerror(errno));
			return;
		}
		code = hchk_h2_recv(k->h2, b, (size_t)n);
		(void)hchk_h2_send(k->h2, fd);	/* acknowledgements */
		if (code == 0) {
			event_add(k->ev, &tv);
			return;
		}
		if (code < 0) {
			chk_done(k, 0, "HTTP/2 stream reset or session error");
			return;
		}
		goto status;
	}
	n = recv(fd, k->buf + k->got, sizeof(k->buf) - 1 - k->got, 0);
	if (n <= 0) {
		chk_done(k, 0, n == 0 ? "closed before a status line" : strerror(errno));
		return;
	}
	k->got += (size_t)n;
	k->buf[k->got] = '\0';
	if (strstr(k->buf, "\r\n") == NULL && k->got < sizeof(k->buf) - 1) {
		event_add(k->ev, &tv);
		return;
	}
	if (sscanf(k->buf, "HTTP/1.%*d %d", &code) != 1) {
		chk_done(k, 0, "not an HTTP response");
		return;
	}
status:
	if (k->pool->hc.status_min > 0 ? code >= k->pool->hc.status_min &&
	    code <= k->pool->hc.status_max : code >= 200 && code < 400)
		chk_done(k, 1, NULL);
	else {
		char why[32];
		snprintf(why, sizeof(why), "HTTP %d", code);
		chk_done(k, 0, why);
	}
}

static void
chk_begin(evutil_socket_t fd_unused, short what, void *arg)
{
	struct check	*k = arg;
	struct timeval	 tv = secs(k->pool->hc.timeout);
	int		 fd;

	fd = socket(k->b->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		chk_done(k, 0, strerror(errno));
		return;
	}
	k->fd = fd;
	if (connect(fd, (struct sockaddr *)&k->b->ss, k->b->len) == -1 &&
	    errno != EINPROGRESS) {
		chk_done(k, 0, strerror(errno));
		return;
	}
	k->st = CHK_CONNECTING;
	k->ev = event_new(k->h->base, fd, EV_WRITE, chk_on_io, k);
	event_add(k->ev, &tv);
}

/* Checks for every backend of p, if p asks for them. */
static void
health_add(struct health *h, struct pool *p, const char *site_host)
{
	if (!p->checked)
		return;
	for (size_t j = 0; j < p->n; j++) {
		struct check	*k = xcalloc(1, sizeof(*k));
		struct timeval	 now = { 0, 1000 * (long)(j * 7 % 100) };

		k->h = h;
		k->pool = p;
		k->b = p->b[j];
		k->host = p->hc.host != NULL ? p->hc.host : site_host;
		k->fd = -1;
		k->timer = evtimer_new(h->base, chk_begin, k);
		evtimer_add(k->timer, &now);	/* first check right away */
		h->c = xrealloc(h->c, (h->n + 1) * sizeof(*h->c));
		h->c[h->n++] = k;
	}
}

struct health *
health_start(struct event_base *base, struct view *v)
{
	struct health *h = xcalloc(1, sizeof(*h));

	h->base = base;
	h->view = view_ref(v);
	for (size_t i = 0; i < v->nsites; i++) {
		struct site *s = v->sites[i];

		health_add(h, s->pool, s->names[0]);
		/* Each route's pool has its own backends and health state. */
		for (size_t r = 0; r < route_table_n(s->routes); r++)
			health_add(h, route_table_get(s->routes, r)->pool,
			    s->names[0]);
	}
	return h;
}

void
health_stop(struct health *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++) {
		struct check *k = h->c[i];
		if (k->ev) {
			event_del(k->ev);
			event_free(k->ev);
		}
		if (k->fd != -1)
			close(k->fd);
		hchk_h2_free(k->h2);
		event_free(k->timer);
		free(k);
	}
	free(h->c);
	view_unref(h->view);
	free(h);
}
