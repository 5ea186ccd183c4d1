/*
 * jws.h - JSON Web Signatures for ACME (RFC 7515, RFC 8555 section 6.2).
 *
 * Accounts use ECDSA P-256 keys and the ES256 algorithm. Signatures are the
 * raw 64-byte r||s form JOSE requires, not DER. No state: any thread (the
 * ACME thread in practice); the caller frees what is returned.
 */
#ifndef TLSGATE_JWS_H
#define TLSGATE_JWS_H

#include <openssl/base.h>

struct errbuf;

/* The public JWK of a P-256 key as compact JSON with sorted keys (new string). */
char	*jws_jwk_json(const EVP_PKEY *key, struct errbuf *eb);
/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)) (new string). */
char	*jws_thumbprint(const EVP_PKEY *key, struct errbuf *eb);
/*
 * A flattened JWS for an ACME POST. kid NULL embeds the JWK (newAccount);
 * payload NULL gives POST-as-GET (empty payload). Returns a new string or NULL.
 */
char	*jws_sign(const EVP_PKEY *key, const char *kid, const char *nonce,
	    const char *url, const char *payload, struct errbuf *eb);

/*
 * External Account Binding (RFC 8555 7.3.4): an HS256 JWS over the account's
 * JWK, keyed by the CA-issued kid and base64url HMAC key. New JSON string.
 */
char	*jws_eab(const EVP_PKEY *account_key, const char *kid, const char *hmac_b64,
	    const char *url, struct errbuf *eb);

#endif
