/*
 * worker.c - worker threads. Each one runs its own event_base with its own
 * listening sockets; the kernel's SO_REUSEPORT hashing spreads new
 * connections across them, so no lock or hand-off sits on the accept path.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "config.h"
#include "conn.h"
#include "errbuf.h"
#include "log.h"
#include "xalloc.h"

#define WORKER_ACCEPT_BATCH	64

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

	for (int i = 0; i < WORKER_ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE)
				log_warnx("w%d: accept: %s", w->id, strerror(errno));
			return;
		}
		/* Past the limit: refuse the new one, keep serving the others. */
		if (atomic_fetch_add(&w->sh->nconns, 1) >= atomic_load(&w->sh->max_conns)) {
			atomic_fetch_sub(&w->sh->nconns, 1);
			close(fd);
			log_debug("w%d: connection refused: max_connections reached", w->id);
			continue;
		}
		atomic_fetch_add(&w->sh->total_conns, 1);
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

static void
worker_on_cmd(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	int		 cmd = atomic_exchange(&w->cmd, 0);

	if (cmd & WORKER_CMD_STOP) {
		w->stopping = 1;
		worker_stop_listening(w);
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
	if (++w->ticks % 10 == 0)
		conn_close_removed(w, atomic_load(&w->drain_ms) / 1000.0);
}

struct worker *
worker_new(int id, struct shared *sh, const struct addr *addrs, size_t n,
    const int *fds, struct errbuf *eb)
{
	struct worker		*w = xcalloc(1, sizeof(*w));
	struct timeval		 tick = { 0, 100000 };
	struct event_config	*cfg;
	int			 one = 1;

	w->id = id;
	w->sh = sh;
	/*
	 * The changelist folds the event_del/event_add pairs a connection makes
	 * while it runs into at most one epoll_ctl per fd per loop iteration.
	 * (Its caveat, dup()ed fds in one base, does not arise: each worker has
	 * one copy of each listener.)
	 */
	if ((cfg = event_config_new()) != NULL)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
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
	w->cmd_ev = event_new(w->base, -1, 0, worker_on_cmd, w);
	w->tick_ev = event_new(w->base, -1, EV_PERSIST, worker_on_tick, w);
	event_add(w->tick_ev, &tick);
	return w;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_dispatch(w->base);
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
	atomic_fetch_or(&w->cmd, cmd);
	event_active(w->cmd_ev, EV_TIMEOUT, 0);
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
	worker_stop_listening(w);
	if (w->cmd_ev)
		event_free(w->cmd_ev);
	if (w->tick_ev)
		event_free(w->tick_ev);
	free(w->lfds);
	free(w->levs);
	event_base_free(w->base);
	free(w);
}
