/*
 * jws.c - ES256 JWS construction. JSON is built with jansson (never with
 * format strings), and the JWK's canonical form for thumbprints relies on
 * JSON_SORT_KEYS|JSON_COMPACT, which gives exactly RFC 7638's member order for
 * EC keys (crv, kty, x, y).
 */
#include "jws.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/digest.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "errbuf.h"
#include "xalloc.h"

static json_t *
jwk_object(const EVP_PKEY *key, struct errbuf *eb)
{
	const EC_KEY	*ec;
	BIGNUM		*x = NULL, *y = NULL;
	uint8_t		 xb[32], yb[32];
	char		*xs = NULL, *ys = NULL;
	json_t		*jwk = NULL;

	if (EVP_PKEY_id(key) != EVP_PKEY_EC ||
	    (ec = EVP_PKEY_get0_EC_KEY(key)) == NULL ||
	    EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) != NID_X9_62_prime256v1) {
		errbuf_set(eb, "account key is not ECDSA P-256");
		return NULL;
	}
	x = BN_new();
	y = BN_new();
	if (x == NULL || y == NULL ||
	    !EC_POINT_get_affine_coordinates_GFp(EC_KEY_get0_group(ec),
	    EC_KEY_get0_public_key(ec), x, y, NULL) ||
	    !BN_bn2bin_padded(xb, sizeof(xb), x) ||
	    !BN_bn2bin_padded(yb, sizeof(yb), y)) {
		errbuf_ssl(eb, "JWK coordinates");
		goto out;
	}
	xs = b64url_encode(xb, sizeof(xb));
	ys = b64url_encode(yb, sizeof(yb));
	jwk = json_pack("{s:s, s:s, s:s, s:s}", "crv", "P-256", "kty", "EC",
	    "x", xs, "y", ys);
	if (jwk == NULL)
		errbuf_set(eb, "JWK: out of memory");
out:
	BN_free(x);
	BN_free(y);
	free(xs);
	free(ys);
	return jwk;
}

char *
jws_jwk_json(const EVP_PKEY *key, struct errbuf *eb)
{
	json_t	*jwk;
	char	*s;

	if ((jwk = jwk_object(key, eb)) == NULL)
		return NULL;
	s = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(jwk);
	if (s == NULL)
		errbuf_set(eb, "JWK: out of memory");
	return s;
}

char *
jws_thumbprint(const EVP_PKEY *key, struct errbuf *eb)
{
	uint8_t	 md[SHA256_DIGEST_LENGTH];
	char	*s;

	if ((s = jws_jwk_json(key, eb)) == NULL)
		return NULL;
	SHA256((const uint8_t *)s, strlen(s), md);
	free(s);
	return b64url_encode(md, sizeof(md));
}

/* ES256 over msg: raw r||s, each left-padded to 32 bytes. */
static char *
es256(const EVP_PKEY *key, const char *msg, struct errbuf *eb)
{
	uint8_t		 md[SHA256_DIGEST_LENGTH], sig[64];
	ECDSA_SIG	*s;
	const BIGNUM	*r, *ss;

	SHA256((const uint8_t *)msg, strlen(msg), md);
	s = ECDSA_do_sign(md, sizeof(md), EVP_PKEY_get0_EC_KEY(key));
	if (s == NULL) {
		errbuf_ssl(eb, "ES256 sign");
		return NULL;
	}
	ECDSA_SIG_get0(s, &r, &ss);
	if (!BN_bn2bin_padded(sig, 32, r) || !BN_bn2bin_padded(sig + 32, 32, ss)) {
		ECDSA_SIG_free(s);
		errbuf_ssl(eb, "ES256 encode");
		return NULL;
	}
	ECDSA_SIG_free(s);
	return b64url_encode(sig, sizeof(sig));
}

char *
jws_sign(const EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
    const char *payload, struct errbuf *eb)
{
	json_t	*prot = NULL, *jwk = NULL, *out = NULL;
	char	*prot_s = NULL, *prot_b = NULL, *pay_b = NULL, *input = NULL;
	char	*sig = NULL, *res = NULL;

	if (kid != NULL)
		prot = json_pack("{s:s, s:s, s:s, s:s}", "alg", "ES256", "kid", kid,
		    "nonce", nonce, "url", url);
	else {
		if ((jwk = jwk_object(key, eb)) == NULL)
			goto out;
		prot = json_pack("{s:s, s:O, s:s, s:s}", "alg", "ES256", "jwk", jwk,
		    "nonce", nonce, "url", url);
	}
	if (prot == NULL || (prot_s = json_dumps(prot, JSON_COMPACT)) == NULL) {
		errbuf_set(eb, "JWS header: out of memory");
		goto out;
	}
	prot_b = b64url_encode((const uint8_t *)prot_s, strlen(prot_s));
	pay_b = payload == NULL ? xstrdup("") :
	    b64url_encode((const uint8_t *)payload, strlen(payload));
	input = xasprintf("%s.%s", prot_b, pay_b);
	if ((sig = es256(key, input, eb)) == NULL)
		goto out;
	out = json_pack("{s:s, s:s, s:s}", "protected", prot_b, "payload", pay_b,
	    "signature", sig);
	if (out == NULL || (res = json_dumps(out, JSON_COMPACT)) == NULL)
		errbuf_set(eb, "JWS: out of memory");
out:
	json_decref(prot);
	json_decref(jwk);
	json_decref(out);
	free(prot_s);
	free(prot_b);
	free(pay_b);
	free(input);
	free(sig);
	return res;
}

char *
jws_eab(const EVP_PKEY *account_key, const char *kid, const char *hmac_b64,
    const char *url, struct errbuf *eb)
{
	json_t		*prot = NULL, *out = NULL;
	char		*prot_s = NULL, *prot_b = NULL, *jwk = NULL, *pay_b = NULL;
	char		*input = NULL, *sig_b = NULL, *res = NULL;
	uint8_t		*mac_key = NULL, sig[EVP_MAX_MD_SIZE];
	size_t		 keylen;
	unsigned	 siglen = 0;

	if ((mac_key = b64url_decode(hmac_b64, &keylen)) == NULL || keylen == 0) {
		errbuf_set(eb, "EAB HMAC key is not base64url");
		goto out;
	}
	if ((jwk = jws_jwk_json(account_key, eb)) == NULL)
		goto out;
	prot = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "url", url);
	if (prot == NULL || (prot_s = json_dumps(prot, JSON_COMPACT)) == NULL) {
		errbuf_set(eb, "EAB: out of memory");
		goto out;
	}
	prot_b = b64url_encode((const uint8_t *)prot_s, strlen(prot_s));
	pay_b = b64url_encode((const uint8_t *)jwk, strlen(jwk));
	input = xasprintf("%s.%s", prot_b, pay_b);
	if (HMAC(EVP_sha256(), mac_key, keylen, (const uint8_t *)input, strlen(input),
	    sig, &siglen) == NULL) {
		errbuf_ssl(eb, "EAB HMAC");
		goto out;
	}
	sig_b = b64url_encode(sig, siglen);
	out = json_pack("{s:s, s:s, s:s}", "protected", prot_b, "payload", pay_b,
	    "signature", sig_b);
	if (out == NULL || (res = json_dumps(out, JSON_COMPACT)) == NULL)
		errbuf_set(eb, "EAB: out of memory");
out:
	json_decref(prot);
	json_decref(out);
	free(mac_key);
	free(prot_s);
	free(prot_b);
	free(jwk);
	free(pay_b);
	free(input);
	free(sig_b);
	return res;
}
