/*
 * bench_crypto.c - crypto throughput of the linked TLS library (AWS-LC or
 * BoringSSL): the operations a server's handshakes and records are made of.
 * One line per operation, "NAME  RATE UNIT", so that bench/compare-crypto
 * can set two builds side by side. ML-KEM-768 only on AWS-LC.
 * Rates are per CPU-second of the calling thread (CLOCK_THREAD_CPUTIME_ID),
 * so that other load on a shared machine changes them little.
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
#include <openssl/rsa.h>

#include "errbuf.h"
#include "keygen.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
bench_crypto_run(double secs)
{
	static uint8_t	 buf[16384 + 16];
	uint8_t		 digest[32], sig[512];
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

	/* RSA-2048 PKCS#1 v1.5 over SHA-256, as a TLS 1.2 server signs. */
	if ((pk = keygen(CERTFILE_RSA, &eb)) == NULL)
		return 1;
	{
		RSA	*rsa = EVP_PKEY_get1_RSA(pk);

		for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++)
			if (rsa == NULL || !RSA_sign(NID_sha256, digest, sizeof(digest),
			    sig, &siglen, rsa))
				return 1;
		RSA_free(rsa);
	}
	printf("rsa-2048-sign    %10.0f ops/s\n", (double)n / (t - t0));
	EVP_PKEY_free(pk);

	/* What a server does per X25519 handshake: a key pair and a shared secret. */
	X25519_keypair(peer, out);
	for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++) {
		X25519_keypair(pub, priv);
		if (!X25519(out, priv, peer))
			return 1;
	}
	printf("x25519-handshake %10.0f ops/s (key pair + shared secret)\n",
	    (double)n / (t - t0));
#ifdef OPENSSL_IS_AWSLC
	/* The server's ML-KEM-768 half of X25519MLKEM768: one encapsulation. */
	{
		EVP_PKEY_CTX	*kc = EVP_PKEY_CTX_new_id(EVP_PKEY_KEM, NULL);
		EVP_PKEY	*kp = NULL;
		uint8_t		 ct[1088], ss[32];
		size_t		 ctlen, sslen;

		if (kc == NULL || !EVP_PKEY_CTX_kem_set_params(kc, NID_MLKEM768) ||
		    !EVP_PKEY_keygen_init(kc) || !EVP_PKEY_keygen(kc, &kp))
			return 1;
		EVP_PKEY_CTX_free(kc);
		if ((kc = EVP_PKEY_CTX_new(kp, NULL)) == NULL)
			return 1;
		for (n = 0, t0 = now(); (t = now()) - t0 < secs; n++) {
			ctlen = sizeof(ct);
			sslen = sizeof(ss);
			if (!EVP_PKEY_encapsulate(kc, ct, &ctlen, ss, &sslen))
				return 1;
		}
		printf("mlkem768-encap   %10.0f ops/s\n", (double)n / (t - t0));
		EVP_PKEY_CTX_free(kc);
		EVP_PKEY_free(kp);
	}
#endif

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
