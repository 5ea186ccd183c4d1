/*
 * etcd_copy.h - a node's local copy of what it serves from etcd, so that a
 * node restarted while every etcd member is down still serves (issue 15,
 * docs/cluster.md "What happens in each failure").
 *
 * The copy lives in a folder of the node (acme.state_dir/etcd-copy/<ca>/,
 * mode 0700): one file per certificate (its chain and its private key),
 * the ACME account's key and URL, and a "synced" mark once the handle has
 * reached etcd. Every file is mode 0600 and holds etcd_seal envelopes:
 * private keys are sealed with the fleet's encryption key (AES-256-GCM),
 * with the file's place as additional data, as in etcd itself. A file is
 * replaced atomically (atomicfile.h), and only by a certificate that parsed
 * with its key and is not older than the one kept: a broken or older
 * certificate never replaces a good one.
 *
 * Threads: any; a mutex serialises the writers of one copy.
 */
#ifndef TLSGATE_ETCD_COPY_H
#define TLSGATE_ETCD_COPY_H

#include <stddef.h>

#include "certfile.h"

struct errbuf;
struct etcd_copy;
struct etcd_seal;
struct etcd_value;

/* The copy in dir/slug/ (folders made 0700 as needed), with the index of
 * the certificates it holds. seal is borrowed for the copy's lifetime.
 * NULL with eb set. */
struct etcd_copy *etcd_copy_open(const char *dir, const char *slug,
		    const struct etcd_seal *seal, struct errbuf *eb);
void		 etcd_copy_free(struct etcd_copy *);	/* NULL: no-op */
const char	*etcd_copy_dir(const struct etcd_copy *);

/* The "synced" mark: set once the handle reached etcd; a copy without it
 * never was in step with the fleet, and a node does not start from it. */
int		 etcd_copy_synced(const struct etcd_copy *);
int		 etcd_copy_mark_synced(struct etcd_copy *, struct errbuf *eb);

/*
 * Keep cf, parsed from these PEM texts, for name and kt: 1 written, 0 the
 * copy has it already (or a newer one: not written), -1 error (eb; the old
 * file untouched).
 */
int		 etcd_copy_cert_put(struct etcd_copy *, const char *name,
		    enum certfile_keytype kt, const struct certfile *cf,
		    const char *chain_pem, size_t chain_len, const char *key_pem,
		    size_t key_len, struct errbuf *eb);
/* The kept certificate (new reference), or NULL (eb empty when none). */
struct certfile	*etcd_copy_cert_get(struct etcd_copy *, const char *name,
		    enum certfile_keytype kt, struct errbuf *eb);
long		 etcd_copy_count(struct etcd_copy *);

/* Small values ("account-key" sealed, "account-url"): put is a no-op when
 * the copy holds the same bytes; get: 1 found (out set), 0 none, -1 error. */
int		 etcd_copy_value_put(struct etcd_copy *, const char *what,
		    const void *p, size_t n, int private, struct errbuf *eb);
int		 etcd_copy_value_get(struct etcd_copy *, const char *what,
		    struct etcd_value *out, struct errbuf *eb);

#endif
