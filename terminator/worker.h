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

struct addr;
struct conn;
struct errbuf;
struct event;
struct event_base;

/* State every worker shares, owned by the server. */
struct shared {
	SSL_CTX		*ctx;
	atomic_uint	 nconns;		/* all workers */
	atomic_ulong	 total_conns;
	atomic_uint	 max_conns;		/* from the current view's limits */
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
	struct conn	*conns;			/* doubly linked via conn->next */
	unsigned	 nconns;
	int		 stopping;
	unsigned	 ticks;
	atomic_int	 drain_ms;		/* drain timeout for removed backends */
};

#define WORKER_CMD_STOP		1	/* stop accepting; exit when idle */
#define WORKER_CMD_CLOSE_ALL	2	/* close every connection now */

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
void		 worker_join(struct worker *w);
void		 worker_free(struct worker *w);

/* A listening socket for addr, optionally SO_REUSEPORT (IPv6 only for v6). -1 on error. */
int		 worker_listen_socket(const struct addr *a, int reuseport,
		    struct errbuf *eb);

#endif
