/* testca.c - a test CA in memory (see testca.h). */
#include "testca.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64url.h"

static EVP_PKEY	*ca_key;
static X509	*ca_cert;

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) != NULL) {
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
}

static int
ca_init(void)
{
	EC_KEY *ec;

	if (ca_cert != NULL)
		return 0;
	ca_key = EVP_PKEY_new();
	ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	EC_KEY_generate_key(ec);
	EVP_PKEY_assign_EC_KEY(ca_key, ec);
	ca_cert = X509_new();
	X509_set_version(ca_cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(ca_cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(ca_cert), -86400);
	X509_gmtime_adj(X509_getm_notAfter(ca_cert), 365 * 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(ca_cert), "CN", MBSTRING_ASC,
	    (const uint8_t *)"tlsgate test CA", -1, -1, 0);
	X509_set_issuer_name(ca_cert, X509_get_subject_name(ca_cert));
	X509_set_pubkey(ca_cert, ca_key);
	add_ext(ca_cert, ca_cert, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(ca_cert, ca_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(ca_cert, ca_cert, NID_subject_key_identifier, "hash");
	return X509_sign(ca_cert, ca_key, EVP_sha256()) > 0 ? 0 : -1;
}

char *
testca_issue(const char *csr_b64url, time_t not_before, time_t not_after)
{
	size_t				 len;
	uint8_t				*der = b64url_decode(csr_b64url, &len);
	const uint8_t			*p = der;
	X509_REQ			*req = NULL;
	X509				*x = NULL;
	EVP_PKEY			*pk = NULL;
	STACK_OF(X509_EXTENSION)	*exts = NULL;
	BIO				*b = NULL;
	char				*out = NULL;
	const uint8_t			*d;
	size_t				 n;

	if (der == NULL || ca_init() == -1 ||
	    (req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL ||
	    (pk = X509_REQ_get_pubkey(req)) == NULL)
		goto out;
	x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff) + 2);
	ASN1_TIME_set(X509_getm_notBefore(x), not_before);
	ASN1_TIME_set(X509_getm_notAfter(x), not_after);
	X509_set_subject_name(x, X509_REQ_get_subject_name(req));
	X509_set_issuer_name(x, X509_get_subject_name(ca_cert));
	X509_set_pubkey(x, pk);
	/* The CSR's SAN extension, as requested. */
	if ((exts = X509_REQ_get_extensions(req)) != NULL)
		for (size_t i = 0; i < sk_X509_EXTENSION_num(exts); i++)
			X509_add_ext(x, sk_X509_EXTENSION_value(exts, i), -1);
	add_ext(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE");
	add_ext(x, ca_cert, NID_ext_key_usage, "serverAuth");
	add_ext(x, ca_cert, NID_subject_key_identifier, "hash");
	add_ext(x, ca_cert, NID_authority_key_identifier, "keyid:always");
	if (!X509_sign(x, ca_key, EVP_sha256()))
		goto out;
	b = BIO_new(BIO_s_mem());
	if (!PEM_write_bio_X509(b, x) || !PEM_write_bio_X509(b, ca_cert) ||
	    !BIO_mem_contents(b, &d, &n))
		goto out;
	out = malloc(n + 1);
	memcpy(out, d, n);
	out[n] = '\0';
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	BIO_free(b);
	EVP_PKEY_free(pk);
	X509_free(x);
	X509_REQ_free(req);
	free(der);
	return out;
}
