/*
 * worker.h - a worker thread: its own event_base, its own SO_REUSEPORT
 * listening sockets (so the kernel spreads handshakes across cores), and the
 * connections it accepted.
 *
 * Control calls (stop, close_all) are safe from any thread: they set a flag
 * and wake the worker's loop with event_active().
 */
#ifndef TLSGATE_WORKER_H
#define TLSGATE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <openssl/base.h>

#include "stats.h"

struct addr;
struct conn;
struct errbuf;
struct event;
struct event_base;

struct limits;
struct config;
struct upstream_pool;

/* State every worker shares, owned by the server. */
struct shared {
	SSL_CTX		*ctx;
	atomic_uint	 nconns;		/* all workers */
	atomic_ulong	 total_conns;
	atomic_uint	 max_conns;		/* from the current view's limits */
	unsigned long	 nofile;		/* RLIMIT_NOFILE; set before workers start */
	unsigned	 fd_conns;		/* connections nofile holds */
	/* After a descriptor shortage: the connection count it happened at,
	 * less a margin, is a ceiling until fd_ceiling_until (CLOCK_MONOTONIC
	 * seconds); 0 when none. */
	atomic_uint	 fd_ceiling;
	_Atomic double	 fd_ceiling_until;
};

struct worker {
	int		 id;
	pthread_t	 thread;
	struct event_base *base;
	struct shared	*sh;
	int		*lfds;
	struct event	**levs;
	size_t		 nlfds;
	struct event	*cmd_ev, *tick_ev;
	atomic_int	 cmd;			/* WORKER_CMD_* bits */
	pthread_mutex_t	 post_mtx;		/* guards posts */
	struct worker_post *posts;		/* worker_post(), oldest first */
	struct conn	*conns;			/* doubly linked via conn->next */
	struct upstream_pool *upool;		/* HTTP mode's idle backend connections */
	unsigned	 nconns;
	int		 stopping;
	unsigned	 ticks;
	atomic_int	 drain_ms;		/* drain timeout for removed backends */
	atomic_int	 done;			/* its loop has ended (any thread reads) */
	/* Out of descriptors: listeners off until resume_ev fires. */
	struct event	*resume_ev;
	int		 paused;
	unsigned	 pause_ms;		/* back-off; 0 after a good accept */
	int		 fd_errno;		/* EMFILE or ENFILE, for the log */
	unsigned long	 fd_errs;		/* since the last log line */
	double		 fd_logged;		/* monotonic seconds */
	/* Connections refused at accept since the last summary line. */
	unsigned long	 refused[STATS_REFUSED__MAX];
	double		 refused_logged;
};

#define WORKER_CMD_STOP		1	/* stop accepting; exit when idle */
#define WORKER_CMD_CLOSE_ALL	2	/* close every connection now */
#define WORKER_CMD_POST		4	/* run the posted calls */

/*
 * Create a worker listening on each of the n addresses: a new SO_REUSEPORT
 * socket per address, or a dup() of fds[i] when fds is non-NULL and
 * fds[i] >= 0 (a socket passed in by systemd, shared by all workers).
 * Returns NULL with eb set.
 */
struct worker	*worker_new(int id, struct shared *sh, const struct addr *addrs,
		    size_t n, const int *fds, struct errbuf *eb);
int		 worker_start(struct worker *w);
void		 worker_command(struct worker *w, int cmd);
/*
 * Any thread: run fn(arg) on w's thread, soon, in the order posted. A call
 * posted to a worker that is freed first is dropped (not run). ctx is the
 * worker: the signature fits callers that must not know struct worker.
 */
void		 worker_post(void *w, void (*fn)(void *), void *arg);
void		 worker_join(struct worker *w);
void		 worker_free(struct worker *w);

/*
 * At start, before any worker: raise the soft RLIMIT_NOFILE to the hard
 * limit, log it, and work out how many connections it holds (sh->fd_conns),
 * keeping a reserve for listeners, event loops, ACME, health checks and the
 * admin endpoint. -1 with eb set if it holds almost none. Main thread.
 */
int		 worker_fds_init(struct shared *sh, const struct config *cfg,
		    struct errbuf *eb);
/*
 * Apply a view's limits: max_connections, lowered (with a warning) to what
 * the descriptors hold, and the per-client limits. Main thread, at start and
 * on each reload.
 */
void		 worker_set_limits(struct shared *sh, const struct limits *lim);

/*
 * Out of descriptors (err is EMFILE or ENFILE) in w's thread: count it, log
 * it at most once per interval, and turn new connections away until enough
 * close. Worker thread only.
 */
void		 worker_fd_shortage(struct worker *w, int err);

/* A listening socket for addr, optionally SO_REUSEPORT (IPv6 only for v6). -1 on error. */
int		 worker_listen_socket(const struct addr *a, int reuseport,
		    struct errbuf *eb);

#endif
