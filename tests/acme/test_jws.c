/* test_jws.c - base64url and ES256 JWS, checked against BoringSSL's verify. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "errbuf.h"
#include "jws.h"

static void
test_b64url_vectors(void **state)
{
	/* RFC 4648 section 10, unpadded, plus the two URL-safe characters. */
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
		{ "\xfb\xff", "-_8" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char	*e = b64url_encode((const uint8_t *)v[i].in, strlen(v[i].in));
		uint8_t	*d;
		size_t	 n;
		assert_string_equal(e, v[i].out);
		d = b64url_decode(e, &n);
		assert_non_null(d);
		assert_int_equal(n, strlen(v[i].in));
		assert_memory_equal(d, v[i].in, n);
		free(e);
		free(d);
	}
	{
		size_t n;
		assert_null(b64url_decode("Zm9v=", &n));	/* padding */
		assert_null(b64url_decode("Zm+v", &n));		/* not URL-safe */
		assert_null(b64url_decode("Z", &n));		/* impossible length */
		assert_null(b64url_decode("Zh", &n));		/* non-zero spare bits */
	}
}

static EVP_PKEY *
p256(void)
{
	EVP_PKEY	*pk = EVP_PKEY_new();
	EC_KEY		*ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);

	EC_KEY_generate_key(ec);
	EVP_PKEY_assign_EC_KEY(pk, ec);
	return pk;
}

static void
test_thumbprint_is_rfc7638(void **state)
{
	EVP_PKEY	*pk = p256();
	struct errbuf	 eb;
	char		*jwk = jws_jwk_json(pk, &eb), *tp = jws_thumbprint(pk, &eb), *want;
	uint8_t		 md[32];
	json_t		*j;

	/* Members in lexicographic order, no whitespace (RFC 7638 3.3). */
	assert_non_null(jwk);
	assert_int_equal(strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 31), 0);
	assert_null(strchr(jwk, ' '));
	j = json_loads(jwk, 0, NULL);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "x"))), 43);
	SHA256((const uint8_t *)jwk, strlen(jwk), md);
	want = b64url_encode(md, sizeof(md));
	assert_string_equal(tp, want);
	json_decref(j);
	free(jwk); free(tp); free(want);
	EVP_PKEY_free(pk);
}

static void
test_jws_verifies(void **state)
{
	EVP_PKEY	*pk = p256();
	struct errbuf	 eb;
	char		*jws = jws_sign(pk, NULL, "nonce-1", "https://ca/new-acct",
			    "{\"termsOfServiceAgreed\":true}", &eb);
	json_t		*j, *prot;
	const char	*p, *pl, *s;
	char		*input;
	uint8_t		*sig, *hdr, md[32];
	size_t		 siglen, hlen;
	ECDSA_SIG	*es = ECDSA_SIG_new();
	BIGNUM		*r = BN_new(), *ss = BN_new();

	assert_non_null(jws);
	j = json_loads(jws, 0, NULL);
	assert_int_equal(json_unpack(j, "{s:s, s:s, s:s}", "protected", &p, "payload",
	    &pl, "signature", &s), 0);
	hdr = b64url_decode(p, &hlen);
	prot = json_loadb((const char *)hdr, hlen, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(prot, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(prot, "nonce")), "nonce-1");
	assert_non_null(json_object_get(prot, "jwk"));
	assert_null(json_object_get(prot, "kid"));
	/* Raw r||s, 64 bytes, verifying over "protected.payload". */
	sig = b64url_decode(s, &siglen);
	assert_int_equal(siglen, 64);
	asprintf(&input, "%s.%s", p, pl);
	SHA256((const uint8_t *)input, strlen(input), md);
	BN_bin2bn(sig, 32, r);
	BN_bin2bn(sig + 32, 32, ss);
	ECDSA_SIG_set0(es, r, ss);
	assert_int_equal(ECDSA_do_verify(md, sizeof(md), es,
	    EVP_PKEY_get0_EC_KEY(pk)), 1);
	/* A flipped payload byte no longer verifies. */
	input[strlen(input) - 1] ^= 1;
	SHA256((const uint8_t *)input, strlen(input), md);
	assert_int_equal(ECDSA_do_verify(md, sizeof(md), es,
	    EVP_PKEY_get0_EC_KEY(pk)), 0);
	ECDSA_SIG_free(es);
	json_decref(prot);
	json_decref(j);
	free(hdr); free(sig); free(input); free(jws);

	/* POST-as-GET with kid: empty payload, kid instead of jwk. */
	jws = jws_sign(pk, "https://ca/acct/1", "n2", "https://ca/order/1", NULL, &eb);
	j = json_loads(jws, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "payload")), "");
	json_decref(j);
	free(jws);
	EVP_PKEY_free(pk);
}

static void
test_rejects_non_p256(void **state)
{
	EVP_PKEY	*pk = EVP_PKEY_new();
	EC_KEY		*ec = EC_KEY_new_by_curve_name(NID_secp384r1);
	struct errbuf	 eb;

	EC_KEY_generate_key(ec);
	EVP_PKEY_assign_EC_KEY(pk, ec);
	assert_null(jws_thumbprint(pk, &eb));
	assert_non_null(strstr(eb.msg, "P-256"));
	EVP_PKEY_free(pk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_thumbprint_is_rfc7638),
		cmocka_unit_test(test_jws_verifies),
		cmocka_unit_test(test_rejects_non_p256),
	};
	return cmocka_run_group_tests_name("acme", tests, NULL, NULL);
}
