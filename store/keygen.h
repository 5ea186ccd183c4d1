/*
 * keygen.h - the one place where tlsgate makes private keys: the ACME
 * account key, certificate keys, TLS-ALPN-01 challenge keys.
 * Thread-safe; callers own what is returned.
 */
#ifndef TLSGATE_KEYGEN_H
#define TLSGATE_KEYGEN_H

#include <openssl/base.h>

#include "certfile.h"

/* A new key: ECDSA P-256 (CERTFILE_EC) or RSA-2048. NULL with eb set. */
EVP_PKEY	*keygen(enum certfile_keytype kt, struct errbuf *eb);
/* PKCS#8 PEM of pk (new string, cleanse before freeing) or NULL. */
char		*keygen_pem(EVP_PKEY *pk);

#endif
