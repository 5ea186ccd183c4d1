/*
 * bench_crypto.c - crypto throughput of the linked BoringSSL.
 *
 * This file uses only BoringSSL's public API and libc, so bench/compare-crypto
 * compiles the very same code against Debian's shared android-libboringssl to
 * compare the two builds side by side.
 */
#include "bench_crypto.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/aead.h>
#include <openssl/curve25519.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "keygen.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
bench_crypto_run(double secs)
{
	static uint8_t	 buf[16384 + 16];
	uint8_t		 digest[32], sig[160];
	uint8_t		 priv[32], pub[32], peer[32], out[32], key[16], nonce[12];
	unsigned	 siglen;
	EVP_PKEY	*pk;
	const EC_KEY	*ec;
	EVP_AEAD_CTX	*aead;
	size_t		 outlen;
	double		 t0, t;
	long		 n;
	struct errbuf	 eb;

	RAND_bytes(digest, sizeof(digest));
	if ((pk = keygen(CERTFILE_EC, &eb)) == NULL ||
	    (ec = EVP_PKEY_get0_EC_KEY(pk)) == NULL)
		return 1;
	for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++)
		if (!ECDSA_sign(0, digest, sizeof(digest), sig, &siglen, ec))
			return 1;
	printf("ecdsa-p256-sign  %10.0f ops/s\n", (double)n / (t - t0));
	EVP_PKEY_free(pk);

	X25519_keypair(pub, priv);
	X25519_keypair(peer, out);
	for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++)
		if (!X25519(out, priv, peer))
			return 1;
	printf("x25519           %10.0f ops/s\n", (double)n / (t - t0));

	RAND_bytes(key, sizeof(key));
	memset(nonce, 0, sizeof(nonce));
	aead = EVP_AEAD_CTX_new(EVP_aead_aes_128_gcm(), key, sizeof(key), 16);
	if (aead == NULL)
		return 1;
	for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++) {
		nonce[0] = (uint8_t)n;
		if (!EVP_AEAD_CTX_seal(aead, buf, &outlen, sizeof(buf), nonce,
		    sizeof(nonce), buf, 16384, NULL, 0))
			return 1;
	}
	printf("aes-128-gcm      %10.1f MB/s (16 KiB records)\n",
	    (double)n * 16384 / (t - t0) / 1e6);
	EVP_AEAD_CTX_free(aead);
	return 0;
}
