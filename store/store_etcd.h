/*
 * store_etcd.h - the etcd backend of the store (store.h), for a fleet of
 * tlsgate nodes sharing one etcd cluster (issue 15).
 *
 * It speaks to etcd 3.4's v3 JSON gateway (/v3/kv/..., /v3/lease/...,
 * /v3/watch) with libcurl and jansson. Every key lives under cfg->prefix;
 * each ACME directory URL has its own namespace below it, as in the file
 * backend. Private keys (certificate keys, the account key, ticket and ECH
 * keys) are sealed with AES-256-GCM under a 32-byte key read from
 * cfg->enc_key_file; a value that does not open is an error naming its key.
 *
 * Threads: the store functions block on HTTP requests with short timeouts.
 * They run on the main, ACME and on-demand threads, never on a worker; one
 * mutex serialises the requests of a handle. A watch thread per handle
 * (directory_url given) reads the change feed and calls store_notify for the
 * changes other handles make (this handle's own changes are notified by
 * store.c, once).
 */
#ifndef TLSGATE_STORE_ETCD_H
#define TLSGATE_STORE_ETCD_H

#include <stddef.h>

struct errbuf;
struct store;

struct store_etcd_cfg {
	const char *const	*endpoints;	/* "http(s)://host:port", tried in turn */
	size_t			 nendpoints;
	const char		*prefix;	/* e.g. "/tlsgate/"; NULL: that */
	const char		*ca_file;	/* TLS to etcd: CA bundle, or NULL */
	const char		*cert_file;	/* client certificate, or NULL */
	const char		*key_file;	/* its key, or NULL */
	const char		*user;		/* auth, or NULL */
	const char		*password;
	const char		*enc_key_file;	/* 32 bytes (raw or 64 hex), 0600 */
	const char		*prev_key_file;	/* the previous key: opens, never
						 * seals (key rotation), or NULL */
	long			 timeout_ms;	/* per request; 0: 5000 */
	const char		*copy_dir;	/* the local copy (etcd_copy.h), or
						 * NULL: none */
};

/*
 * A store on etcd for the CA at directory_url (NULL: every namespace,
 * read-only listing, no watch). Fails (NULL, eb set) when the key file is
 * missing, readable by others or not 32 bytes, or no endpoint answers.
 *
 * With prev_key_file, values sealed under it still open, and the watch
 * thread seals them again under enc_key_file once (etcd_reseal.c).
 *
 * With copy_dir and directory_url, the handle keeps a local copy of the
 * namespace's certificates and account under copy_dir/<ca>/ and reads it
 * while no member answers. A handle whose copy was in step with etcd once
 * then opens even when no endpoint answers (logged): it serves from the
 * copy, reports itself unreachable (store_available), and catches up with
 * etcd by itself when a member answers (the watch resynchronises).
 */
struct store	*store_open_etcd(const struct store_etcd_cfg *cfg,
		    const char *directory_url, struct errbuf *eb);

#endif
