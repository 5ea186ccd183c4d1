/*
 * store.h - tlsgate's durable state behind one interface: certificates with
 * their keys, the ACME account, each certificate's renewal state, locks,
 * challenges, session-ticket keys, ECH keys, renewal requests, and a change
 * feed.
 *
 * A backend is an ops table (struct store_ops). The file backend
 * (store_file.c) keeps everything under a state directory; a cluster backend
 * (etcd) implements the same table with keys under a prefix, leases for
 * locks and a watch for the feed. Nothing outside store/ builds a store path
 * or opens a store file.
 *
 * A store handle is bound to one ACME directory URL, its namespace: accounts,
 * certificates and renewal state of different CAs never mix. A handle opened
 * with no CA lists every namespace (store_list) and is read-only.
 *
 * Threads: every function may be called from any thread; the file backend
 * serialises what needs it. Change-feed callbacks run on the thread that
 * made the change (the file backend) or on the backend's watch thread, after
 * the change is durable; they must not call back into the store's writers.
 * Ownership: the caller owns what it opens; strings returned are new.
 */
#ifndef TLSGATE_STORE_H
#define TLSGATE_STORE_H

#include <stddef.h>
#include <time.h>

#include <openssl/base.h>

#include "certfile.h"

struct errbuf;
struct store;
struct store_lock;

/* Per (name, key type): what the ACME schedule needs to survive restarts. */
struct store_renewal {
	time_t	next_attempt;	/* no order before this; 0: by the schedule */
	int	failures;	/* failed attempts in a row */
	char	fail_class[24];	/* class of the last failure, "" if none */
	char	last_error[300];
	time_t	retry_until;	/* the CA's last Retry-After, absolute; 0 none */
	time_t	ari_start, ari_end;	/* ARI suggested window; 0 none */
	time_t	ari_next;	/* next ARI check */
	time_t	last_order;	/* last newOrder sent: floor between orders */
	time_t	last_success;
	char	replaces[256];	/* ARI certID of the certificate being replaced */
	char	profile[64];	/* ACME profile asked for, "" none */
	/* Fallback CAs (acme.issuers): the directory URL of the CA that issued
	 * the certificate in service ("" : this store's own CA), of the CA the
	 * orders go to now ("" : that one), and the failures in a row there. */
	char	issuer[256];
	char	order_issuer[256];
	int	issuer_failures;
	/* ... where the round of orders under way started ("" : none under
	 * way), and a CA that a rate limit made the certificate's fallback
	 * leave ("" : none) with that limit's end (acme_issuer.h). */
	char	round_issuer[256];
	char	rl_issuer[256];
	time_t	rl_until;
};

/* One certificate found by store_list (cf NULL if there is none yet or it
 * is unreadable; err says why when unreadable). */
struct store_entry {
	const char			*ca;	/* namespace (CA folder) */
	const char			*name;
	enum certfile_keytype		 kt;
	struct certfile			*cf;	/* borrowed */
	const char			*err;
	const struct store_renewal	*renewal;	/* NULL if none stored */
};
typedef void store_list_fn(const struct store_entry *, void *arg);

enum store_change {
	STORE_CHANGE_CERT,		/* a certificate was put */
	STORE_CHANGE_CHALLENGE_PUT,
	STORE_CHANGE_CHALLENGE_DEL,
	STORE_CHANGE_TICKETS,		/* session-ticket keys replaced */
	STORE_CHANGE_ECH,		/* ECH keys replaced */
	STORE_CHANGE_STICKY,		/* the sticky-session key replaced */
	STORE_CHANGE_RENEW_REQUEST	/* someone asked for a renewal */
};

/* One change: fields that do not apply to the kind are NULL. */
struct store_event {
	enum store_change	 kind;
	const char		*name;		/* certificate or renewal name */
	enum certfile_keytype	 kt;
	struct certfile		*cf;		/* borrowed: take a reference */
	const char		*key;		/* challenge key */
	const char		*value;		/* challenge value */
};
typedef void store_watch_fn(const struct store_event *, void *arg);

/* An on-demand name's record: its last use, and its certificate's validity
 * (0, 0: none yet), kept so that a sweep needs no certificate parsed. */
struct store_ondemand {
	time_t	last_used;
	time_t	not_before, not_after;
};
typedef void store_ondemand_fn(const char *name, const struct store_ondemand *,
    void *arg);
/* A challenge in flight (store_challenge_list). */
typedef void store_challenge_fn(const char *key, const char *value, void *arg);

/* Whether the store can be reached, for /healthz, /metrics and the ACME
 * client's order gate (store_status). */
struct store_status {
	const char	*backend;	/* "file", "etcd" */
	int		 up;		/* 1: reachable (the file backend: always) */
	time_t		 down_since;	/* 0 when up */
	unsigned long	 errors;	/* requests that failed */
	unsigned long	 outages;	/* times it became unreachable */
	char		 last_error[512];
	long		 local_certs;	/* in the node's local copy; -1: none kept */
	int		 from_copy;	/* opened from the local copy; not yet
					 * caught up with etcd */
};

/* The terminator's private blobs, opaque to the store: one of each per
 * store, shared by every process (and node) of it. */
enum store_blob {
	STORE_BLOB_TICKETS,	/* the session-ticket key ring (ticket.c) */
	STORE_BLOB_ECH,		/* the ECH key set (ech.c) */
	STORE_BLOB_STICKY,	/* the sticky-session cookie key (http/sticky.c) */
	STORE_BLOB__MAX
};
/* Its name: the file under STATE_DIR (file backend), the key under the
 * prefix (etcd). */
extern const char *const store_blob_names[STORE_BLOB__MAX];
extern const char *const store_blob_files[STORE_BLOB__MAX];

struct store_ops {
	const char	*kind;
	void		 (*close)(struct store *);
	/* Certificates: get (NULL, eb empty when none; errno EAGAIN when the
	 * store could not be asked, see store_cert_get), put. */
	struct certfile	*(*cert_get)(struct store *, const char *name,
			    enum certfile_keytype, struct errbuf *);
	/* cert_put writes cf (parsed and checked by store_cert_put) from its
	 * PEM texts: 0, or -1 with eb set and the old one untouched. */
	int		 (*cert_put)(struct store *, const char *name,
			    const struct certfile *cf, const char *chain_pem,
			    const char *key_pem, struct errbuf *);
	int		 (*list)(struct store *, store_list_fn *, void *);
	/* The account of this namespace. */
	EVP_PKEY	*(*account_key)(struct store *, struct errbuf *);
	char		*(*account_url)(struct store *);
	int		 (*account_url_put)(struct store *, const char *url,
			    struct errbuf *);
	/* Renewal state: get returns 0, or -1 when none is stored. */
	int		 (*renewal_get)(struct store *, const char *name,
			    enum certfile_keytype, struct store_renewal *);
	int		 (*renewal_put)(struct store *, const char *name,
			    enum certfile_keytype, const struct store_renewal *,
			    const struct certfile *current, struct errbuf *);
	/* Locks with lease semantics. */
	struct store_lock *(*lock_acquire)(struct store *, const char *name,
			    long ttl, struct errbuf *);
	int		 (*lock_keepalive)(struct store_lock *);
	/* Optional (NULL: locks live with the process, nothing to keep). */
	int		 (*lock_keep)(struct store_lock *, long ttl,
			    struct errbuf *);
	int		 (*lock_check)(struct store_lock *);	/* fencing */
	void		 (*lock_release)(struct store_lock *);
	/* Challenges: key "http-01/<token>" or "tls-alpn-01/<name>". */
	int		 (*challenge_put)(struct store *, const char *key,
			    const char *value, long ttl, struct errbuf *);
	char		*(*challenge_get)(struct store *, const char *key);
	void		 (*challenge_del)(struct store *, const char *key);
	int		 (*challenge_list)(struct store *, store_challenge_fn *,
			    void *);
	/* The private blobs (store_blob_get/put say how they behave). */
	int		 (*blob_get)(struct store *, enum store_blob, void *buf,
			    size_t cap, size_t *len, time_t *updated);
	int		 (*blob_put)(struct store *, enum store_blob, const void *buf,
			    size_t len, struct errbuf *);
	/* Renewal requests ("tlsgate renew NAME"): put, and take them all. */
	int		 (*renew_request)(struct store *, const char *name,
			    struct errbuf *);
	void		 (*renew_requests_take)(struct store *,
			    void (*fn)(const char *name, void *), void *arg);
	/* The on-demand index of this namespace (see store_ondemand_touch). */
	int		 (*ondemand_touch)(struct store *, const char *name,
			    const struct store_ondemand *, struct errbuf *);
	int		 (*ondemand_get)(struct store *, const char *name,
			    struct store_ondemand *);
	int		 (*ondemand_list)(struct store *, store_ondemand_fn *,
			    void *);
	int		 (*ondemand_remove)(struct store *, const char *name,
			    struct errbuf *);
	long		 (*ondemand_count)(struct store *);
	/* Optional: cert_put in one transaction with a check that lock is
	 * still ours (-1, errno ESTALE, when it is not). NULL: the caller
	 * checks the lock just before cert_put. */
	int		 (*cert_put_fenced)(struct store *, struct store_lock *,
			    const char *name, const struct certfile *cf,
			    const char *chain_pem, const char *key_pem,
			    struct errbuf *);
	/* The longest wait after challenge_put for every member sharing the
	 * store to acknowledge it (see store_challenge_acked); 0: at once. */
	unsigned	 challenge_settle_ms;
	/* Optional (NULL: one process, nobody to wait for). */
	int		 (*member_join)(struct store *, struct errbuf *);
	int		 (*challenge_ack)(struct store *, const char *key,
			    struct errbuf *);
	int		 (*challenge_acked)(struct store *, const char *key,
			    char *missing, size_t cap, struct errbuf *);
	/* Optional (NULL: always reachable): reachability, without waiting
	 * for a request in flight. */
	int		 (*available)(struct store *);
	void		 (*status)(struct store *, struct store_status *);
};

/* A lock remembers its store; backends embed this as their lock's first member. */
struct store_lock {
	struct store	*s;
};

/* The handle all backends share; a backend's own state follows it. */
struct store {
	const struct store_ops	*ops;
	char			*ca;		/* directory URL, or NULL */
	struct store_feed	*feed;
};

/* The file backend under state_dir, for the CA at directory_url (NULL: all,
 * read-only listing). NULL with eb set. */
struct store	*store_open_file(const char *state_dir, const char *directory_url,
		    struct errbuf *eb);
void		 store_close(struct store *);		/* NULL is a no-op */

/* Change feed. */
int		 store_watch(struct store *, store_watch_fn *fn, void *arg);
void		 store_unwatch(struct store *, store_watch_fn *fn, void *arg);
/* For backends: the on-demand record's text ("LAST_USED NOT_BEFORE
 * NOT_AFTER", no newline; its length, at most cap - 1), and back (an
 * unreadable text reads as never used, with no certificate). */
size_t		 store_ondemand_format(const struct store_ondemand *rec, char *buf,
		    size_t cap);
void		 store_ondemand_parse(const char *text, struct store_ondemand *rec);
/* For backends: deliver ev to every watcher. */
void		 store_notify(struct store *, const struct store_event *ev);

/* The operations, through the table. */
/* The certificate; NULL with eb empty when none is stored, or with eb set
 * and errno EAGAIN when the store could not be asked (etcd: no member
 * answered, or the request failed) or EBADMSG when what is stored does not
 * load. */
struct certfile	*store_cert_get(struct store *, const char *name,
		    enum certfile_keytype, struct errbuf *eb);
/*
 * Check that key_pem and chain_pem form a good certificate for every one of
 * names (the key matches, and everything certcheck.h checks), then replace
 * the stored one atomically and tell the watchers. A bad pair never replaces
 * a good one. A new reference, or NULL with eb set.
 */
struct certfile	*store_cert_put(struct store *, const char *name,
		    char *const *names, size_t nnames, const char *chain_pem,
		    const char *key_pem, struct errbuf *eb);
/*
 * store_cert_put, fenced by lock (NULL: none): nothing is written unless
 * the lock is still ours when the write happens (etcd: checked inside the
 * write's transaction; the file backend: just before). NULL with eb set,
 * errno ESTALE when the lock was lost.
 */
struct certfile	*store_cert_put_locked(struct store *, struct store_lock *lock,
		    const char *name, char *const *names, size_t nnames,
		    const char *chain_pem, const char *key_pem, struct errbuf *eb);
int		 store_list(struct store *, store_list_fn *fn, void *arg);
EVP_PKEY	*store_account_key(struct store *, struct errbuf *eb);
char		*store_account_url(struct store *);
int		 store_account_url_put(struct store *, const char *url,
		    struct errbuf *eb);
int		 store_renewal_get(struct store *, const char *name,
		    enum certfile_keytype, struct store_renewal *out);
int		 store_renewal_put(struct store *, const char *name,
		    enum certfile_keytype, const struct store_renewal *,
		    const struct certfile *current, struct errbuf *eb);
/*
 * A lock on name for ttl seconds, kept alive by store_lock_keepalive; NULL
 * if another holder has it (errno EWOULDBLOCK) or on error. check returns 1
 * while the lock is still ours (call it right before a write); release(NULL)
 * is a no-op.
 */
struct store_lock *store_lock_acquire(struct store *, const char *name, long ttl,
		    struct errbuf *eb);
int		 store_lock_keepalive(struct store_lock *);
/*
 * From now on the backend keeps the lock's lease alive by itself, on its
 * own thread and connection, until release: 0, or -1 (eb). After it,
 * store_lock_keepalive sends nothing: it returns -1 once a refresh found
 * the lease ended, else 0. A process that dies stops keeping its locks.
 */
int		 store_lock_keep(struct store_lock *, long ttl, struct errbuf *eb);
int		 store_lock_check(struct store_lock *);
void		 store_lock_release(struct store_lock *);
int		 store_challenge_put(struct store *, const char *key,
		    const char *value, long ttl, struct errbuf *eb);
char		*store_challenge_get(struct store *, const char *key);
/*
 * Members: the processes that answer challenges from a shared store. A
 * member joins once (store_member_join: it leaves when it closes the store
 * or dies) and acknowledges each challenge it has in its cache
 * (store_challenge_ack). store_challenge_acked says whether every member
 * has acknowledged key: 1 yes (or the store is not shared), 0 not yet
 * (missing: their ids, space separated, cut to cap), -1 error (eb). The
 * ACME client asks the CA to validate once it is 1, or after
 * store_challenge_settle_ms at the latest.
 */
int		 store_member_join(struct store *, struct errbuf *eb);
int		 store_challenge_ack(struct store *, const char *key,
		    struct errbuf *eb);
int		 store_challenge_acked(struct store *, const char *key,
		    char *missing, size_t cap, struct errbuf *eb);
/* The longest the ACME client waits after store_challenge_put for every
 * member's acknowledgement before it asks the CA to validate all the same.
 * 0 for a store of one machine. */
unsigned	 store_challenge_settle_ms(const struct store *);
void		 store_challenge_del(struct store *, const char *key);
/*
 * Every challenge in flight in the store, with its value: what a member
 * that joins answers from the start, since its feed tells only of later
 * changes (challenge_follow). 0, or -1 when the store did not answer.
 */
int		 store_challenge_list(struct store *, store_challenge_fn *fn,
		    void *arg);
/*
 * A private blob (enum store_blob). get: 0, or -1 when none is stored, it
 * is larger than cap, or (file backend) readable by others. put replaces
 * it atomically (file backend: mode 0600; etcd: sealed) and tells the
 * watchers (STORE_CHANGE_TICKETS, _ECH or _STICKY). The ticket and ECH
 * calls below are these for their blob.
 */
int		 store_blob_get(struct store *, enum store_blob, void *buf,
		    size_t cap, size_t *len, time_t *updated);
int		 store_blob_put(struct store *, enum store_blob, const void *buf,
		    size_t len, struct errbuf *eb);
int		 store_tickets_get(struct store *, void *buf, size_t cap, size_t *len,
		    time_t *updated);
int		 store_tickets_put(struct store *, const void *buf, size_t len,
		    struct errbuf *eb);
/* ECH keys (private keys and their ECHConfigs). */
int		 store_ech_get(struct store *, void *buf, size_t cap, size_t *len,
		    time_t *updated);
int		 store_ech_put(struct store *, const void *buf, size_t len,
		    struct errbuf *eb);
int		 store_renew_request(struct store *, const char *name,
		    struct errbuf *eb);
void		 store_renew_requests_take(struct store *,
		    void (*fn)(const char *name, void *), void *arg);
/*
 * On-demand names: the names this namespace holds (or is getting)
 * certificates for because a handshake asked (on-demand TLS), each with its
 * record, so that renewal follows use and an unused name can be dropped
 * without reading any certificate. touch writes name's record (new or
 * replaced); get: 0, or -1 when name is not on-demand; list walks the index
 * without parsing a certificate (the order is unspecified); remove deletes
 * the name from the index with its certificates and renewal state; count is
 * the index's size, or -1 on error.
 */
int		 store_ondemand_touch(struct store *, const char *name,
		    const struct store_ondemand *rec, struct errbuf *eb);
int		 store_ondemand_get(struct store *, const char *name,
		    struct store_ondemand *rec);
int		 store_ondemand_list(struct store *, store_ondemand_fn *fn, void *arg);
int		 store_ondemand_remove(struct store *, const char *name,
		    struct errbuf *eb);
long		 store_ondemand_count(struct store *);

/*
 * Reachability (any thread, never blocks on the backend): available is 1
 * unless the last request found the store unreachable (etcd: no member
 * answered); status fills st for /healthz and /metrics. The ACME client
 * places no order while it is 0 (docs/cluster.md).
 */
int		 store_available(struct store *);
void		 store_status(struct store *, struct store_status *st);

/* For the backends. A certificate, lock or on-demand name is one path
 * component: not empty, no "/", no leading dot, under 256 bytes. */
int		 store_name_ok(const char *name);
/* The CA's folder (file) or key segment (etcd) for a directory URL: what
 * follows "://", with anything but [A-Za-z0-9.-] made "_". Free it. */
char		*store_ca_slug(const char *directory_url);

/* The file backend's pid file, for "tlsgate renew" to signal the daemon. */
int		 store_file_pid_write(const char *state_dir, struct errbuf *eb);
long		 store_file_pid_read(const char *state_dir);
void		 store_file_pid_remove(const char *state_dir);

#endif
