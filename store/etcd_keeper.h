/*
 * etcd_keeper.h - keeps leases alive from a thread and a connection of its
 * own (store_lock_keep).
 *
 * A lock's lease must outlive its holder's slowest step. Refreshed on the
 * holder's thread, through the client every other store request of the
 * process queues on, a refresh waits behind them: under load (a thousand
 * orders on three nodes, etcd using a core) the lease ran out while its
 * order was still alive, and the issued certificate was discarded. The
 * keeper refreshes each lease it is given every ttl / 3 seconds (one
 * second after a failed refresh), on its own client, until it is taken
 * back. A process that dies stops refreshing: its leases end within their
 * TTL, as before.
 *
 * Threads: any; the keeper's own thread does the network. alive never
 * waits for the network.
 */
#ifndef TLSGATE_ETCD_KEEPER_H
#define TLSGATE_ETCD_KEEPER_H

#include <stdint.h>

struct errbuf;
struct etcd_client;
struct etcd_keeper;

/* A keeper on client (taken: freed with the keeper); the thread starts
 * with the first lease. NULL with eb set if it cannot. */
struct etcd_keeper *etcd_keeper_new(struct etcd_client *, struct errbuf *eb);
void		 etcd_keeper_free(struct etcd_keeper *);	/* NULL: no-op */

/* Refresh lease every ttl / 3 seconds from now on: 0, or -1 (eb). */
int		 etcd_keeper_add(struct etcd_keeper *, int64_t lease, long ttl,
		    struct errbuf *eb);
/* Stop refreshing lease (unknown: no-op). */
void		 etcd_keeper_remove(struct etcd_keeper *, int64_t lease);
/*
 * What the last refresh of lease found: 1 alive (or not refreshed yet), 0
 * ended (etcd said so: another holder may have the lock now), -1 the last
 * refresh reached no member (alive or not, unknown), -2 not kept here.
 */
int		 etcd_keeper_alive(struct etcd_keeper *, int64_t lease);
/* Refreshes sent and failed since the start (for tests and metrics). */
void		 etcd_keeper_counts(struct etcd_keeper *, unsigned long *sent,
		    unsigned long *failed);

#endif
