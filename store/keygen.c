/*
 * keygen.c - private keys, made with BoringSSL's defaults: P-256 for ECDSA,
 * 2048 bits and e = 65537 for RSA.
 */
#include "keygen.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "errbuf.h"
#include "xalloc.h"

EVP_PKEY *
keygen(enum certfile_keytype kt, struct errbuf *eb)
{
	EVP_PKEY	*pk = EVP_PKEY_new();
	EC_KEY		*ec = NULL;
	RSA		*rsa = NULL;
	BIGNUM		*e = NULL;

	if (pk == NULL)
		goto fail;
	if (kt == CERTFILE_EC) {
		if ((ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1)) == NULL ||
		    !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(pk, ec))
			goto fail;
		return pk;
	}
	if ((rsa = RSA_new()) == NULL || (e = BN_new()) == NULL ||
	    !BN_set_word(e, RSA_F4) || !RSA_generate_key_ex(rsa, 2048, e, NULL) ||
	    !EVP_PKEY_assign_RSA(pk, rsa))
		goto fail;
	BN_free(e);
	return pk;
fail:
	errbuf_ssl(eb, kt == CERTFILE_EC ? "ECDSA key generation" :
	    "RSA key generation");
	EC_KEY_free(ec);
	RSA_free(rsa);
	BN_free(e);
	EVP_PKEY_free(pk);
	return NULL;
}

char *
keygen_pem(EVP_PKEY *pk)
{
	BIO		*b = BIO_new(BIO_s_mem());
	const uint8_t	*d;
	size_t		 n;
	char		*out = NULL;

	if (b != NULL && PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) &&
	    BIO_mem_contents(b, &d, &n)) {
		out = xmalloc(n + 1);
		memcpy(out, d, n);
		out[n] = '\0';
	}
	ERR_clear_error();
	BIO_free(b);
	return out;
}
