/*
 * config_store.h - the store a configuration asks for (the store section:
 * file or etcd), opened the same way by the daemon and by the commands that
 * write to a running daemon's store (tlsgate renew).
 *
 * Threads: the main thread (or a command); opening blocks on etcd.
 */
#ifndef TLSGATE_CONFIG_STORE_H
#define TLSGATE_CONFIG_STORE_H

struct config;
struct errbuf;
struct store;

/* The store of c for the CA at directory_url (NULL: every namespace,
 * read-only listing, no watch). NULL with eb set: an etcd node without its
 * encryption key, or no etcd member answering, does not get a store. */
struct store	*config_store_open(const struct config *c,
		    const char *directory_url, struct errbuf *eb);
/* A new string naming the store c opens (backend, where, which CA), so that
 * a reload can tell whether the open one still fits. */
char		*config_store_id(const struct config *c, const char *directory_url);

#endif
