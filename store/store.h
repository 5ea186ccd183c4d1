/*
 * store.h - tlsgate's durable state: per ACME directory URL a folder with the
 * account (key and URL) and the certificates it obtained, each with its key
 * and JSON metadata.
 *
 *   STATE_DIR/<ca-slug>/account.key        ECDSA P-256, mode 0600
 *   STATE_DIR/<ca-slug>/account.json       {"url": ..., "directory": ...}
 *   STATE_DIR/<ca-slug>/certs/<name>/ecdsa.pem   key + chain in one file, 0600
 *   STATE_DIR/<ca-slug>/certs/<name>/rsa.pem
 *   STATE_DIR/<ca-slug>/certs/<name>/ecdsa.json  expiry, renewal time, errors
 *
 * A certificate and its key live in one file so that a single atomic rename
 * replaces both: after a crash the pair is the old one or the new one, never
 * a mix. Every write goes through atomicfile. Folders are 0700.
 * Not thread-safe: one thread (the ACME thread) writes; readers only read
 * files, which are always complete.
 */
#ifndef TLSGATE_STORE_H
#define TLSGATE_STORE_H

#include <stddef.h>

#include <openssl/base.h>

#include "certfile.h"

struct errbuf;
struct store;

/* Open (creating folders) the state for one ACME directory URL. */
struct store	*store_open(const char *state_dir, const char *directory_url,
		    struct errbuf *eb);
void		 store_free(struct store *);		/* NULL is a no-op */
const char	*store_dir(const struct store *);

/* The account key: loaded, or made and saved (0600) if there is none. */
EVP_PKEY	*store_account_key(struct store *, struct errbuf *eb);
/* The account URL saved by store_account_save_url, or NULL (new string). */
char		*store_account_url(struct store *);
int		 store_account_save_url(struct store *, const char *url,
		    struct errbuf *eb);

/*
 * The certificate of name with that key type, or NULL if there is none (eb
 * empty) or it is unreadable (eb set).
 */
struct certfile	*store_cert_load(struct store *, const char *name,
		    enum certfile_keytype kt, struct errbuf *eb);
/* Path of that file (new string), for config-free loading by the terminator. */
char		*store_cert_path(const char *state_dir, const char *directory_url,
		    const char *name, enum certfile_keytype kt);
/*
 * Check that key_pem and chain_pem form a good certificate for every one of
 * names[0..nnames) (certcheck.h: chain, dates, names, usage) now, then
 * replace the stored certificate of name atomically. A bad pair never
 * replaces a good one. Returns the new certfile (new reference) or NULL with
 * eb set to the reason.
 */
struct certfile	*store_cert_save(struct store *, const char *name,
		    char *const *names, size_t nnames, const char *chain_pem,
		    const char *key_pem, struct errbuf *eb);

/*
 * An exclusive, non-blocking flock on the site's lock file, so that two
 * tlsgate processes on one host never order the same name at once.
 * Returns the lock's fd, or -1 if another process holds it (errno
 * EWOULDBLOCK) or on error. store_unlock(-1) is a no-op.
 */
int		 store_lock(struct store *, const char *name);
void		 store_unlock(int fd);

/* Metadata of one certificate as a JSON text (new string) or NULL; save
 * replaces it atomically. */
char		*store_meta_load(struct store *, const char *name,
		    enum certfile_keytype kt);
int		 store_meta_save(struct store *, const char *name,
		    enum certfile_keytype kt, const char *json, struct errbuf *eb);

#endif
