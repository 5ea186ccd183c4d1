/*
 * certfile.h - a certificate chain and its private key, parsed and checked.
 *
 * A certfile is immutable once loaded and reference-counted, so the terminator
 * can hand it to many handshakes on many threads while a newer one replaces it.
 * The chain is kept as CRYPTO_BUFFERs, which BoringSSL shares between SSL
 * objects without copying.
 */
#ifndef TLSGATE_CERTFILE_H
#define TLSGATE_CERTFILE_H

#include <stddef.h>
#include <time.h>

#include <openssl/base.h>

struct errbuf;
struct GENERAL_NAME_st;

enum certfile_keytype {
	CERTFILE_EC,
	CERTFILE_RSA,
	CERTFILE__MAX
};
extern const char *const certfile_keytype_names[CERTFILE__MAX];

struct certfile {
	int			 refs;		/* atomic */
	CRYPTO_BUFFER		**chain;	/* leaf first */
	size_t			 nchain;
	EVP_PKEY		*key;
	enum certfile_keytype	 keytype;
	time_t			 not_before, not_after;
	char			**names;	/* DNS SANs (or CN), lowercase, and
						 * IP SANs as ipname.h text */
	size_t			 nnames;
	char			 sha256[65];	/* hex fingerprint of the leaf */
	char			*subject;	/* one-line subject, for logs */
};

/*
 * Load a PEM chain (leaf first) and a PEM private key from files. The key must
 * match the leaf, be EC P-256/P-384 or RSA >= 2048. Returns a new certfile
 * (refs 1) or NULL with eb set.
 */
struct certfile	*certfile_load(const char *cert_path, const char *key_path,
		    struct errbuf *eb);
/* The same from memory. */
struct certfile	*certfile_load_mem(const char *cert_pem, size_t cert_len,
		    const char *key_pem, size_t key_len, struct errbuf *eb);
struct certfile	*certfile_ref(struct certfile *);
/* Drop one reference; NULL is a no-op. */
void		 certfile_unref(struct certfile *);
/* 1 if the certificate covers host (exact or one-label wildcard). */
int		 certfile_matches(const struct certfile *, const char *host);
/* An iPAddress SAN as ipname.h's canonical text (out: IPNAME_MAX bytes);
 * 0, or -1 if gn is not one of 4 or 16 bytes. */
int		 certfile_san_ip(const struct GENERAL_NAME_st *gn, char *out);

#endif
