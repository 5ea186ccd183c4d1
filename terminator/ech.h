/*
 * ech.h - Encrypted Client Hello (RFC 9849) on the server side: X25519 HPKE
 * keys made for tls.ech.public_name, kept in the store, rotated on a timer,
 * and installed on the shared SSL_CTX; the ECHConfigList to publish in DNS.
 *
 * Ownership: the module owns its key set (one per process, like ticket.c's
 * ring). Each install hands the SSL_CTX a new SSL_ECH_KEYS; the TLS library
 * keeps the set a handshake started with for that handshake, so a rotation
 * never disturbs one in flight.
 * Threads: ech_start, ech_stop and ech_status_json run on the main thread;
 * the rotation timer fires there and hands its work (store calls, which
 * may wait on etcd) to the store task thread (storetask.h), where
 * ech_store_changed runs too. Workers never call in, except ech_conn_note,
 * which reads only its own connection's SSL; the message callback that
 * ech_start installs runs on the connection's worker and writes only that
 * SSL's ex_data.
 * AWS-LC builds only: elsewhere ech_unsupported() says why, and the rest
 * fails.
 */
#ifndef TLSGATE_ECH_H
#define TLSGATE_ECH_H

#include <stddef.h>

#include <openssl/base.h>

struct config;
struct errbuf;
struct event_base;
struct json_t;
struct storetask;

/* NULL when this build can do ECH, else why not (a config error message). */
const char	*ech_unsupported(void);
/*
 * With c->ech.enabled: load the keys from c's store (the state directory,
 * or etcd: one key list for the fleet), make or rotate them as due (under
 * the store's lock, writing the store), install them on ctx and arm the
 * rotation timer on base, whose ticks run on tasks. Without it, nothing.
 * 0, or -1 with eb set (nothing installed). Call once, before workers
 * start.
 */
int		 ech_start(struct event_base *base, SSL_CTX *ctx,
		    const struct config *c, struct storetask *tasks,
		    struct errbuf *eb);
/* Frees the keys and the timer; after storetask_stop. */
void		 ech_stop(void);
/* The store's feed said the keys changed (another node rotated them): adopt
 * and install them. The store task thread. */
void		 ech_store_changed(void);
/* /status's "ech" object (new), or NULL when ECH is off. */
struct json_t	*ech_status_json(void);
/*
 * For the connection log line: " ech=1 outer_sni=NAME" (accepted) or
 * " ech=0 outer_sni=NAME" (offered, not accepted) into buf, or "" when the
 * client sent no ECH. The outer name is escaped. Returns buf.
 */
const char	*ech_conn_note(const SSL *ssl, char *buf, size_t cap);
/*
 * `tlsgate ech`: the current ECHConfigList in c's store, in base64 (new
 * string), or NULL with eb set (none yet, unreadable, or no ECH in this
 * build).
 */
char		*ech_published(const struct config *c, struct errbuf *eb);

#endif
