/*
 * etcd_seal.h - the envelope of every value the etcd backend writes, and the
 * encryption at rest of private ones.
 *
 *   "TG1" | kind ('P' plain, 'E' sealed) | writer id (8) | written at (8, BE)
 *   | payload                      (plain)
 *   | nonce (12) | AES-256-GCM ciphertext and tag (16)   (sealed)
 *
 * Sealed values use a random 96-bit nonce each and the value's etcd key as
 * additional data, so a sealed value moved to another key does not open.
 * The writer id tells the watch thread which changes its own handle made.
 *
 * Threads: any; a seal is immutable once loaded.
 */
#ifndef TLSGATE_ETCD_SEAL_H
#define TLSGATE_ETCD_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct errbuf;
struct etcd_seal;

/* The 32-byte key in path (raw, or 64 hex digits and an optional newline).
 * Refused (NULL, eb set) if missing, readable or writable by group or
 * others, or of another size. */
struct etcd_seal *etcd_seal_load(const char *path, struct errbuf *eb);
void		 etcd_seal_free(struct etcd_seal *);	/* NULL: no-op */
/*
 * Key rotation: a second key, read as etcd_seal_load reads the first, that
 * opens values but never seals them (the fleet's previous key while it
 * moves to the new one). 0, or -1 with eb set.
 */
int		 etcd_seal_add_previous(struct etcd_seal *, const char *path,
		    struct errbuf *eb);
int		 etcd_seal_has_previous(const struct etcd_seal *);

/* The envelope of n bytes at p for etcd key, sealed if private: a new
 * buffer of *outlen bytes. */
unsigned char	*etcd_seal_wrap(const struct etcd_seal *, const char *key,
		    uint64_t writer, int private, const void *p, size_t n,
		    size_t *outlen);

/* What an envelope holds. */
struct etcd_value {
	unsigned char	*data;		/* new, NUL-terminated beyond len */
	size_t		 len;
	uint64_t	 writer;
	time_t		 written;
	int		 stale;		/* opened with the previous key only */
};
/*
 * Open the envelope v (n bytes) read from key: 0, or -1 with eb naming the
 * key when it is not an envelope or a sealed value does not open (wrong
 * encryption key, or altered).
 */
int		 etcd_seal_open(const struct etcd_seal *, const char *key,
		    const unsigned char *v, size_t n, struct etcd_value *out,
		    struct errbuf *eb);
/* Just the writer of an envelope (0 if it is not one). */
uint64_t	 etcd_seal_writer(const unsigned char *v, size_t n);

#endif
