/*
 * worker.c - worker threads. Each one runs its own event_base with its own
 * listening sockets; the kernel's SO_REUSEPORT hashing spreads new
 * connections across them, so no lock or hand-off sits on the accept path.
 *
 * The accept path is also where hostile clients are turned away, before any
 * TLS work: past a per-client limit (climit.h) or max_connections, a
 * connection is reset at once and counted, and the worker logs a summary now
 * and then rather than a line per refusal. Out of descriptors, accept()
 * fails with the listener still readable; retrying at once would spin, so
 * the worker takes its listeners off the loop for a growing pause instead.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "bufcache.h"
#include "climit.h"
#include "sites.h"
#include "upstream.h"
#include "config.h"
#include "conn.h"
#include "errbuf.h"
#include "log.h"
#include "xalloc.h"

#define WORKER_ACCEPT_BATCH	64
#define WORKER_PAUSE_MIN_MS	10	/* first pause when out of descriptors */
#define WORKER_PAUSE_MAX_MS	1000
#define WORKER_LOG_INTERVAL	10.0	/* seconds between summary lines */
/* Descriptors kept back from connections, besides listeners and loops:
 * ACME transfers, health checks, admin and port-80 clients, reloads. */
#define WORKER_FD_RESERVE	64

#define WORKER_FD_CEILING_SECS	10.0	/* how long a shortage lowers the ceiling */
#define WORKER_FD_MARGIN	8	/* connections below the shortage point */

static const char *const worker_refused_names[STATS_REFUSED__MAX] = {
	"max_connections", "max_connections_per_client", "handshake_rate_per_client",
	"descriptors",
};

static double
worker_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
worker_fds_init(struct shared *sh, const struct config *cfg, struct errbuf *eb)
{
	struct rlimit	 rl;
	rlim_t		 was;
	long		 n = cfg->workers > 0 ? cfg->workers : sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long	 reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return errbuf_set(eb, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warnx("cannot raise the descriptor limit from %llu to %llu: %s",
			    (unsigned long long)was, (unsigned long long)rl.rlim_max,
			    strerror(errno));
			rl.rlim_cur = was;
		}
	}
	/* RLIM_INFINITY is refused for RLIMIT_NOFILE, but stay safe. */
	sh->nofile = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1UL << 30 ?
	    1UL << 30 : (unsigned long)rl.rlim_cur;
	/* Each worker: its listeners, epoll, and libevent's wake-up pair. */
	reserve = 3 + WORKER_FD_RESERVE + cfg->nhttp + (unsigned long)(n < 1 ? 1 : n) *
	    (cfg->nhttps + 4);
	sh->fd_conns = sh->nofile > reserve ? (unsigned)((sh->nofile - reserve) / 2) : 0;
	if (sh->fd_conns < 16)
		return errbuf_set(eb, "the descriptor limit (RLIMIT_NOFILE) is %lu: "
		    "too low to serve; raise it (ulimit -n, or LimitNOFILE= under "
		    "systemd)", sh->nofile);
	if (was != rl.rlim_cur)
		log_notice("descriptor limit raised from %llu to %lu (the hard limit): "
		    "room for %u connections", (unsigned long long)was, sh->nofile,
		    sh->fd_conns);
	else
		log_info("descriptor limit %lu: room for %u connections", sh->nofile,
		    sh->fd_conns);
	return 0;
}

void
worker_set_limits(struct shared *sh, const struct limits *lim)
{
	unsigned max = lim->max_connections, per = lim->max_connections_per_client;

	if (sh->fd_conns > 0 && max > sh->fd_conns) {
		log_warnx("limits.max_connections %u does not fit the descriptor limit "
		    "%lu (each connection takes 2: client and backend): serving at most "
		    "%u; raise the limit (ulimit -n, or LimitNOFILE= under systemd)",
		    max, sh->nofile, sh->fd_conns);
		max = sh->fd_conns;
	}
	/* By default one client may hold a twentieth of the connections. */
	if (per == LIMITS_AUTO)
		per = max / 20 > 10 ? max / 20 : 10;
	atomic_store(&sh->max_conns, max);
	climit_configure(per, lim->handshake_rate_per_client,
	    lim->handshake_burst_per_client);
	stats_set_limits(max, sh->nofile);
	log_info("limits: %u connections, %u per client, %g new per client per "
	    "second (burst %g)", max, per, lim->handshake_rate_per_client,
	    lim->handshake_burst_per_client);
}

static void
worker_listeners(struct worker *w, int on)
{
	for (size_t i = 0; i < w->nlfds; i++)
		if (w->levs[i] != NULL) {
			if (on)
				event_add(w->levs[i], NULL);
			else
				event_del(w->levs[i]);
		}
}

/* One line per interval at most, with the count since the last one. */
static void
worker_log_fd_errors(struct worker *w, double now)
{
	struct rlimit rl;

	if (w->fd_errs == 0 || now - w->fd_logged < WORKER_LOG_INTERVAL)
		return;
	/* Read again: someone may have changed it (prlimit). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		rl.rlim_cur = w->sh->nofile;
	log_warnx("w%d: accept: %s (descriptor limit %llu, %u connections open): "
	    "%lu times since the last report; accepting pauses for up to %u ms at a "
	    "time", w->id, strerror(w->fd_errno), (unsigned long long)rl.rlim_cur,
	    atomic_load(&w->sh->nconns), w->fd_errs, WORKER_PAUSE_MAX_MS);
	w->fd_errs = 0;
	w->fd_logged = now;
}

static void
worker_log_refused(struct worker *w, double now)
{
	unsigned long n = 0;

	for (int i = 0; i < STATS_REFUSED__MAX; i++)
		n += w->refused[i];
	if (n == 0 || now - w->refused_logged < WORKER_LOG_INTERVAL)
		return;
	log_notice("w%d: refused %lu connections at accept since the last report "
	    "(%s %lu, %s %lu, %s %lu, %s %lu)", w->id, n,
	    worker_refused_names[0], w->refused[0], worker_refused_names[1],
	    w->refused[1], worker_refused_names[2], w->refused[2],
	    worker_refused_names[3], w->refused[3]);
	memset(w->refused, 0, sizeof(w->refused));
	w->refused_logged = now;
}

static void
worker_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	w->paused = 0;
	if (!w->stopping)
		worker_listeners(w, 1);
}

/*
 * Out of descriptors. Connections opened after this point would only fail
 * at their backend socket() after a whole handshake, and those already open
 * hold what is left: so until WORKER_FD_MARGIN connections have closed (or
 * WORKER_FD_CEILING_SECS have passed), new ones are reset at accept, which
 * also drains the listen queue instead of leaving clients hanging in it.
 */
void
worker_fd_shortage(struct worker *w, int err)
{
	unsigned n = atomic_load(&w->sh->nconns);

	stats_accept_fd_error();
	w->fd_errs++;
	w->fd_errno = err;
	atomic_store(&w->sh->fd_ceiling, n > 2 * WORKER_FD_MARGIN ?
	    n - WORKER_FD_MARGIN : WORKER_FD_MARGIN);
	atomic_store(&w->sh->fd_ceiling_until, worker_now() + WORKER_FD_CEILING_SECS);
	worker_log_fd_errors(w, worker_now());
}

/*
 * accept() itself failed: the pending connection stays queued in the kernel
 * and the listener stays readable, so take the listeners off the loop and
 * try again after a pause that doubles while the shortage lasts.
 */
static void
worker_pause_accept(struct worker *w, int err)
{
	struct timeval tv;

	worker_fd_shortage(w, err);
	w->pause_ms = w->pause_ms == 0 ? WORKER_PAUSE_MIN_MS :
	    w->pause_ms * 2 > WORKER_PAUSE_MAX_MS ? WORKER_PAUSE_MAX_MS : w->pause_ms * 2;
	if (w->paused)
		return;
	worker_listeners(w, 0);
	w->paused = 1;
	tv.tv_sec = w->pause_ms / 1000;
	tv.tv_usec = (w->pause_ms % 1000) * 1000;
	evtimer_add(w->resume_ev, &tv);
}

/* Whether a descriptor shortage still caps connections at n or more. */
static int
worker_fd_capped(struct worker *w, unsigned n)
{
	unsigned ceiling = atomic_load_explicit(&w->sh->fd_ceiling, memory_order_relaxed);

	if (ceiling == 0 || n < ceiling)
		return 0;
	if (worker_now() < atomic_load(&w->sh->fd_ceiling_until))
		return 1;
	atomic_store(&w->sh->fd_ceiling, 0);	/* expired: try again */
	return 0;
}

/* Reset, not close: no FIN handshake and no TIME_WAIT for a refusal. */
static void
worker_refuse(struct worker *w, int fd, enum stats_refused why)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	stats_refused(why);
	w->refused[why]++;
}

int
worker_listen_socket(const struct addr *a, int reuseport, struct errbuf *eb)
{
	int fd, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errbuf_set(eb, "%s: socket: %s", a->str, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto fail;
	/* "[::]:443" and "0.0.0.0:443" can both be listed. */
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(fd, 4096) == -1)
		goto fail;
	return fd;
fail:
	errbuf_set(eb, "%s: %s", a->str, strerror(errno));
	close(fd);
	return -1;
}

static void
worker_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct worker		*w = arg;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd;
	unsigned		 n;

	for (int i = 0; i < WORKER_ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE)
				worker_pause_accept(w, errno);
			else if (errno == ECONNABORTED || errno == EINTR)
				continue;
			return;
		}
		w->pause_ms = 0;
		/* Per client first: one client at its limit must not use up the
		 * global count that others need. */
		switch (climit_acquire((struct sockaddr *)&ss)) {
		case CLIMIT_OK:
			break;
		case CLIMIT_CONNS:
			worker_refuse(w, fd, STATS_REFUSED_CLIENT_CONNS);
			continue;
		default:
			worker_refuse(w, fd, STATS_REFUSED_CLIENT_RATE);
			continue;
		}
		/* Past the limit: refuse the new one, keep serving the others. */
		if ((n = atomic_fetch_add(&w->sh->nconns, 1)) >= atomic_load(&w->sh->max_conns) ||
		    worker_fd_capped(w, n)) {
			atomic_fetch_sub(&w->sh->nconns, 1);
			climit_release((struct sockaddr *)&ss);
			worker_refuse(w, fd, n >= atomic_load(&w->sh->max_conns) ?
			    STATS_REFUSED_MAX_CONNS : STATS_REFUSED_FDS);
			continue;
		}
		atomic_fetch_add(&w->sh->total_conns, 1);
		/* conn.c gives back both counts when the connection closes. */
		conn_accept(w, fd, (struct sockaddr *)&ss, len);
	}
}

static void
worker_stop_listening(struct worker *w)
{
	for (size_t i = 0; i < w->nlfds; i++) {
		if (w->levs[i] != NULL) {
			event_free(w->levs[i]);
			w->levs[i] = NULL;
		}
		if (w->lfds[i] != -1) {
			close(w->lfds[i]);
			w->lfds[i] = -1;
		}
	}
}

struct worker_post {
	struct worker_post	*next;
	void			(*fn)(void *);
	void			*arg;
};

void
worker_post(void *wp, void (*fn)(void *), void *arg)
{
	struct worker		*w = wp;
	struct worker_post	*p = xcalloc(1, sizeof(*p)), **pp;

	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&w->post_mtx);
	for (pp = &w->posts; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = p;
	pthread_mutex_unlock(&w->post_mtx);
	worker_command(w, WORKER_CMD_POST);
}

static void
worker_run_posts(struct worker *w)
{
	struct worker_post *p, *next;

	pthread_mutex_lock(&w->post_mtx);
	p = w->posts;
	w->posts = NULL;
	pthread_mutex_unlock(&w->post_mtx);
	for (; p != NULL; p = next) {
		next = p->next;
		p->fn(p->arg);
		free(p);
	}
}

static void
worker_on_cmd(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	uint64_t	 n;
	int		 cmd;

	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	cmd = atomic_exchange(&w->cmd, 0);

	if (cmd & WORKER_CMD_POST)
		worker_run_posts(w);
	if (cmd & WORKER_CMD_STOP) {
		w->stopping = 1;
		worker_stop_listening(w);
		conn_stop_http(w);
	}
	if (cmd & WORKER_CMD_CLOSE_ALL)
		conn_close_all(w);
	if (w->stopping && w->nconns == 0)
		event_base_loopbreak(w->base);
}

/* While stopping, check now and then whether the last connection is gone. */
static void
worker_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	if (w->stopping && w->nconns == 0)
		event_base_loopbreak(w->base);
	/* Once a second: connections to backends a reload removed. */
	if (++w->ticks % 10 == 0) {
		double now = worker_now();
		conn_close_removed(w, atomic_load(&w->drain_ms) / 1000.0);
		upstream_pool_sweep(w->upool);
		conn_http_retire(w, view_config_gen());
		worker_log_fd_errors(w, now);
		worker_log_refused(w, now);
	}
	climit_sweep();
}

struct worker *
worker_new(int id, struct shared *sh, const struct addr *addrs, size_t n,
    const int *fds, struct errbuf *eb)
{
	struct worker		*w = xcalloc(1, sizeof(*w));
	struct timeval		 tick = { 0, 100000 };
	struct event_config	*cfg;
	int			 one = 1, efd;

	w->id = id;
	pthread_mutex_init(&w->post_mtx, NULL);
	w->sh = sh;
	/*
	 * The changelist folds the event_del/event_add pairs a connection makes
	 * while it runs into at most one epoll_ctl per fd per loop iteration.
	 * (Its caveat, dup()ed fds in one base, does not arise: each worker has
	 * one copy of each listener.)
	 */
	/*
	 * No lock either: only the worker's thread touches its base once it
	 * runs (commands come through an eventfd, worker_command()), and an
	 * uncontended lock still cost about 600 instructions per HTTP/1.1
	 * request in libevent's event_add/del/active.
	 */
	if ((cfg = event_config_new()) != NULL) {
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	}
	w->base = cfg != NULL ? event_base_new_with_config(cfg) : NULL;
	if (cfg != NULL)
		event_config_free(cfg);
	if (w->base == NULL) {
		errbuf_set(eb, "event_base_new failed");
		free(w);
		return NULL;
	}
	w->lfds = xcalloc(n, sizeof(int));
	w->levs = xcalloc(n, sizeof(struct event *));
	for (size_t i = 0; i < n; i++)
		w->lfds[i] = -1;
	w->nlfds = n;
	for (size_t i = 0; i < n; i++) {
		if (fds != NULL && fds[i] >= 0) {
			if ((w->lfds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) == -1 ||
			    fcntl(w->lfds[i], F_SETFL, O_NONBLOCK) == -1) {
				errbuf_set(eb, "%s: inherited socket: %s", addrs[i].str,
				    strerror(errno));
				worker_free(w);
				return NULL;
			}
		} else if ((w->lfds[i] = worker_listen_socket(&addrs[i], 1, eb)) == -1) {
			worker_free(w);
			return NULL;
		}
		/* Accepted sockets inherit TCP_NODELAY: one system call less
		 * per connection. */
		setsockopt(w->lfds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		w->levs[i] = event_new(w->base, w->lfds[i], EV_READ | EV_PERSIST,
		    worker_on_accept, w);
		event_add(w->levs[i], NULL);
	}
	w->upool = upstream_pool_new(w->base);
	w->resume_ev = evtimer_new(w->base, worker_on_resume, w);
	if ((efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		errbuf_set(eb, "eventfd: %s", strerror(errno));
		worker_free(w);
		return NULL;
	}
	w->cmd_ev = event_new(w->base, efd, EV_READ | EV_PERSIST, worker_on_cmd, w);
	event_add(w->cmd_ev, NULL);
	w->tick_ev = event_new(w->base, -1, EV_PERSIST, worker_on_tick, w);
	event_add(w->tick_ev, &tick);
	return w;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
	bufcache_flush();
	/* For the main thread's check: the base has no lock to ask it. */
	atomic_store(&w->done, 1);
	return NULL;
}

int
worker_start(struct worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void
worker_command(struct worker *w, int cmd)
{
	uint64_t one = 1;

	atomic_fetch_or(&w->cmd, cmd);
	/* Any thread: the eventfd wakes the worker (its base has no lock). */
	while (write(event_get_fd(w->cmd_ev), &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

void
worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	conn_close_all(w);
	/* Calls still posted (on-demand wake-ups of connections just
	 * closed): they only free what they carry now. */
	worker_run_posts(w);
	pthread_mutex_destroy(&w->post_mtx);
	worker_stop_listening(w);
	if (w->upool != NULL)
		upstream_pool_free(w->upool);
	if (w->cmd_ev) {
		close(event_get_fd(w->cmd_ev));
		event_free(w->cmd_ev);
	}
	if (w->tick_ev)
		event_free(w->tick_ev);
	if (w->resume_ev)
		event_free(w->resume_ev);
	free(w->lfds);
	free(w->levs);
	event_base_free(w->base);
	free(w);
}
