/*
 * etcd_impl.h - the etcd backend's insides, shared by store_etcd.c (the
 * ops), etcd_kv.c (key-value calls), etcd_watch.c (the change feed and
 * its catching up), etcd_od.c (the on-demand index) and etcd_reseal.c (key
 * rotation); the local copy is etcd_copy.h. Not for use outside store/.
 *
 * Keys, under the prefix P:
 *   P ca/<ca-slug>/account/key            ECDSA P-256 PEM, sealed
 *   P ca/<ca-slug>/account/url
 *   P ca/<ca-slug>/cert/<name>/<kt>/chain  written with .../key in one txn
 *   P ca/<ca-slug>/cert/<name>/<kt>/key    sealed
 *   P ca/<ca-slug>/cert/<name>/<kt>/renewal  JSON, as the file backend's
 *   P ca/<ca-slug>/lock/<name>            attached to the holder's lease
 *   P ca/<ca-slug>/ondemand/<name>        "LAST_USED NOT_BEFORE NOT_AFTER"
 *   P challenge/<key>                      attached to a lease for its TTL
 *   P tickets, P ech                       sealed blobs
 *   P renew/<name>                         "tlsgate renew NAME"
 *   P member/<id>, P challenge-ack/<key>/<id>   etcd_member.c (not sealed)
 * Every value is an etcd_seal envelope.
 */
#ifndef TLSGATE_ETCD_IMPL_H
#define TLSGATE_ETCD_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "etcd_client.h"
#include "etcd_seal.h"
#include "store.h"

struct etcd_copy;
struct etcd_keeper;
struct etcd_watch;

struct store_etcd {
	struct store		 base;
	struct etcd_client	*c;
	struct etcd_seal	*seal;
	char			*prefix;	/* P */
	char			*slug;		/* CA folder name, or NULL */
	char			*ns;		/* P ca/<slug>/, or NULL */
	uint64_t		 writer;	/* random id of this handle */
	struct etcd_watch	*watch;
	pthread_mutex_t		 mtx;		/* guards dels, member_lease */
	char			**dels;		/* our challenge deletes in flight */
	size_t			  ndels;
	struct etcd_copy	*copy;		/* the local copy, or NULL */
	struct etcd_keeper	*keeper;	/* kept locks' leases */
	int64_t			 member_lease;	/* etcd_member.c; 0: none */
	int			 member_want;	/* joined, or tried to */
	atomic_int		 from_copy;	/* opened offline, not resynced */
};

struct store_etcd *E(struct store *s);

/* etcd_kv.c: one value. get: 1 found (out set), 0 absent, -1 error (eb);
 * rev > 0 reads at that revision. */
int	 ekv_get(struct store_etcd *, const char *key, int64_t rev,
	    struct etcd_value *out, struct errbuf *eb);
/* Two values read in one txn (one revision; rev > 0: that one): 0 with
 * found[i] telling which are set, or -1 (eb) with none set. */
int	 ekv_get2(struct store_etcd *, const char *k1, const char *k2,
	    int64_t rev, struct etcd_value out[2], int found[2],
	    struct errbuf *eb);
/* put: 0 or -1; lease 0 for none. */
int	 ekv_put(struct store_etcd *, const char *key, const void *p, size_t n,
	    int private, int64_t lease, struct errbuf *eb);
/* Delete key (or every key under it if prefix): the number deleted, -1. */
long	 ekv_del(struct store_etcd *, const char *key, int prefix,
	    struct errbuf *eb);
/* The kvs under prefix (keys_only: no values): a new array, or NULL.
 * local: a serializable read, from the member asked, with no round to the
 * leader (cheaper, possibly a little behind: for polls). */
json_t	*ekv_range(struct store_etcd *, const char *prefix, int keys_only,
	    struct errbuf *eb);
json_t	*ekv_range_local(struct store_etcd *, const char *prefix,
	    int keys_only, struct errbuf *eb);
/* Every value under prefix, opened: fn(what follows prefix in its key, the
 * value, arg) for each one that opens (one that does not is logged). 0, or
 * -1 when etcd did not answer. */
int	 ekv_range_each(struct store_etcd *, const char *prefix,
	    void (*fn)(const char *rest, const struct etcd_value *, void *),
	    void *arg);
/* The request_put of a txn for key (a new object). */
json_t	*ekv_txn_put(struct store_etcd *, const char *key, const void *p,
	    size_t n, int private, int64_t lease);
/* A txn compare: key's create revision is rev (0: key absent); cmp_mod:
 * its last change was at rev. */
json_t	*ekv_cmp_created(const char *key, int64_t rev);
json_t	*ekv_cmp_mod(const char *key, int64_t rev);
/* A txn: 1 succeeded, 0 compare failed, -1 error; *rev the revision. */
int	 ekv_txn(struct store_etcd *, json_t *compare, json_t *success,
	    int64_t *rev, struct errbuf *eb);
/* Leases: grant (the id, or -1), keepalive (remaining TTL, 0 expired, -1
 * error), revoke. */
int64_t	 ekv_lease_grant(struct store_etcd *, long ttl, struct errbuf *eb);
long	 ekv_lease_keepalive(struct store_etcd *, int64_t id);
void	 ekv_lease_revoke(struct store_etcd *, int64_t id);
/* The current revision of the cluster, or -1. */
int64_t	 ekv_revision(struct store_etcd *, struct errbuf *eb);
/* The key of a kv from a range or an event (new string), and its value. */
char	*ekv_key(const json_t *kv);
unsigned char *ekv_raw(const json_t *kv, size_t *len);

/* store_etcd.c: a certificate read at rev (0: latest); the watch calls it.
 * Read in this handle's namespace, it goes to the local copy too; *fresh
 * (if not NULL) is 1 when the copy did not have it yet. */
struct certfile *etcd_cert_read(struct store_etcd *, const char *ns,
	    const char *name, enum certfile_keytype, int64_t rev, int *fresh,
	    struct errbuf *eb);
/* store_etcd.c: "<slug>/cert/<name>/<kt>/<what>" (relative to P ca/): 0
 * and its parts, or -1. */
int	 etcd_parse_cert_key(const char *rel, char *slug, size_t scap,
	    char *name, size_t ncap, enum certfile_keytype *kt);
/* store_etcd.c: one watch event; put is 0 for a delete. */
void	 etcd_on_event(struct store_etcd *, int put, const char *key,
	    const unsigned char *v, size_t n, int64_t rev);

/* etcd_watch.c: the watch thread on the prefix from revision rev; rev 0:
 * resynchronise first (after an offline open). */
struct etcd_watch *etcd_watch_start(struct store_etcd *, int64_t rev,
	    struct errbuf *eb);
void	 etcd_watch_stop(struct etcd_watch *);		/* NULL: no-op */

/* etcd_reseal.c: every value under the prefix that opens only under the
 * previous key, sealed again under the current one: how many were (*left:
 * how many another writer changed first, or failed), or -1 (eb). */
long	 etcd_reseal(struct store_etcd *, long *left, struct errbuf *eb);

/* etcd_member.c: the challenge-answering members and their
 * acknowledgements (the ops of store.h); leave revokes the membership. */
int	 etcd_member_join(struct store *, struct errbuf *eb);
void	 etcd_member_leave(struct store_etcd *);
/* Join again if this handle joined (or tried to) and its membership lease
 * is gone or was never granted; the watch calls it at each (re)connection. */
void	 etcd_member_renew(struct store_etcd *);
int	 etcd_challenge_ack(struct store *, const char *key, struct errbuf *eb);
int	 etcd_challenge_acked(struct store *, const char *key, char *missing,
	    size_t cap, struct errbuf *eb);
/* The challenges in flight, for a member that joins (store_challenge_list). */
int	 etcd_challenge_list(struct store *, store_challenge_fn *fn, void *arg);

/* etcd_od.c: the on-demand index ops. */
int	 etcd_ondemand_touch(struct store *, const char *name,
	    const struct store_ondemand *rec, struct errbuf *eb);
int	 etcd_ondemand_get(struct store *, const char *name,
	    struct store_ondemand *rec);
int	 etcd_ondemand_list(struct store *, store_ondemand_fn *fn, void *arg);
int	 etcd_ondemand_remove(struct store *, const char *name,
	    struct errbuf *eb);
long	 etcd_ondemand_count(struct store *);

#endif
