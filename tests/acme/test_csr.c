/*
 * test_csr.c - the finalize CSR (acme_csr.h): which requests carry a Common
 * Name (the profile, long names, IP addresses), and the shape of what is
 * sent, parsed back: subject, SAN types and bytes, and a signature that
 * verifies under the certificate's key. Also the TLS-ALPN-01 certificate of
 * an IP identifier (challenge.h), asked for by its reverse-DNS name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/obj.h>
#include <openssl/pool.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme_csr.h"
#include "b64url.h"
#include "certfile.h"
#include "challenge.h"
#include "errbuf.h"
#include "keygen.h"

static void
test_wants_cn(void **state)
{
	char	*dns[] = { "a.example", "b.example" };
	char	*mixed[] = { "a.example", "192.0.2.1" };
	char	*v6[] = { "::1" };
	char	 longname[80];
	char	*lng[] = { "a.example", longname };

	(void)state;
	memset(longname, 'x', 65);
	strcpy(longname + 65, ".example");	/* a 65-byte first label */
	assert_int_equal(acme_csr_wants_cn(dns, 2, NULL), 1);
	assert_int_equal(acme_csr_wants_cn(dns, 2, "classic"), 1);
	/* Let's Encrypt's profiles that drop the CN. */
	assert_int_equal(acme_csr_wants_cn(dns, 2, "tlsserver"), 0);
	assert_int_equal(acme_csr_wants_cn(dns, 2, "shortlived"), 0);
	/* Any name that cannot be a CN, not only the first. */
	assert_int_equal(acme_csr_wants_cn(mixed, 2, NULL), 0);
	assert_int_equal(acme_csr_wants_cn(v6, 1, "classic"), 0);
	assert_int_equal(acme_csr_wants_cn(lng, 2, NULL), 0);
	longname[64] = '\0';			/* exactly 64 bytes: fits */
	assert_int_equal(acme_csr_wants_cn(lng, 2, NULL), 1);
}

/* Parse the base64url DER CSR b64; checks its signature under key. */
static X509_REQ *
parse(const char *b64, EVP_PKEY *key)
{
	size_t		 len;
	uint8_t		*der = b64url_decode(b64, &len);
	const uint8_t	*p = der;
	X509_REQ	*req;

	assert_non_null(der);
	req = d2i_X509_REQ(NULL, &p, (long)len);
	assert_non_null(req);
	assert_true(p == der + len);
	assert_int_equal(X509_REQ_verify(req, key), 1);
	free(der);
	return req;
}

static GENERAL_NAMES *
sans_of(X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *g;

	assert_non_null(exts);
	g = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	assert_non_null(g);
	return g;
}

static void
test_ip_csr_has_ip_sans_and_no_cn(void **state)
{
	static const uint8_t	 v4[4] = { 127, 0, 0, 1 };
	static const uint8_t	 v6[16] = { [15] = 1 };
	char			*names[] = { "127.0.0.1", "::1" };
	struct errbuf		 eb;
	EVP_PKEY		*key = keygen(CERTFILE_EC, &eb);
	char			*b64;
	X509_REQ		*req;
	GENERAL_NAMES		*g;
	const GENERAL_NAME	*gn;

	(void)state;
	assert_non_null(key);
	b64 = acme_csr_make(names, 2, key, acme_csr_wants_cn(names, 2, "shortlived"), &eb);
	assert_non_null(b64);
	req = parse(b64, key);
	assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
	g = sans_of(req);
	assert_int_equal(sk_GENERAL_NAME_num(g), 2);
	gn = sk_GENERAL_NAME_value(g, 0);
	assert_int_equal(gn->type, GEN_IPADD);
	assert_int_equal(ASN1_STRING_length(gn->d.iPAddress), 4);
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.iPAddress), v4, 4);
	gn = sk_GENERAL_NAME_value(g, 1);
	assert_int_equal(gn->type, GEN_IPADD);
	assert_int_equal(ASN1_STRING_length(gn->d.iPAddress), 16);
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.iPAddress), v6, 16);
	GENERAL_NAMES_free(g);
	X509_REQ_free(req);
	free(b64);
	EVP_PKEY_free(key);
}

static void
test_dns_csr_cn_by_profile(void **state)
{
	char			*names[] = { "www.example.com", "example.com" };
	const char		*profiles[] = { "classic", "tlsserver" };
	struct errbuf		 eb;
	EVP_PKEY		*key = keygen(CERTFILE_RSA, &eb);

	(void)state;
	assert_non_null(key);
	for (int k = 0; k < 2; k++) {
		char		*b64 = acme_csr_make(names, 2, key,
				    acme_csr_wants_cn(names, 2, profiles[k]), &eb);
		X509_REQ	*req = parse(b64, key);
		X509_NAME	*subj = X509_REQ_get_subject_name(req);
		GENERAL_NAMES	*g = sans_of(req);
		char		 cn[256];

		if (k == 0) {
			/* classic: the first name as CN, and nothing else. */
			assert_int_equal(X509_NAME_entry_count(subj), 1);
			assert_int_equal(X509_NAME_get_text_by_NID(subj, NID_commonName,
			    cn, sizeof(cn)), 15);
			assert_string_equal(cn, "www.example.com");
		} else
			assert_int_equal(X509_NAME_entry_count(subj), 0);
		assert_int_equal(sk_GENERAL_NAME_num(g), 2);
		for (int i = 0; i < 2; i++) {
			const GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, (size_t)i);

			assert_int_equal(gn->type, GEN_DNS);
			assert_int_equal(ASN1_STRING_length(gn->d.dNSName),
			    (int)strlen(names[i]));
			assert_memory_equal(ASN1_STRING_get0_data(gn->d.dNSName),
			    names[i], strlen(names[i]));
		}
		GENERAL_NAMES_free(g);
		X509_REQ_free(req);
		free(b64);
	}
	EVP_PKEY_free(key);
}

static void
test_mixed_csr(void **state)
{
	char			*names[] = { "example.com", "2001:db8::1" };
	struct errbuf		 eb;
	EVP_PKEY		*key = keygen(CERTFILE_EC, &eb);
	char			*b64;
	X509_REQ		*req;
	GENERAL_NAMES		*g;

	(void)state;
	b64 = acme_csr_make(names, 2, key, acme_csr_wants_cn(names, 2, NULL), &eb);
	req = parse(b64, key);
	/* An address among the names: no CN, even under no profile. */
	assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
	g = sans_of(req);
	assert_int_equal(sk_GENERAL_NAME_num(g), 2);
	assert_int_equal(sk_GENERAL_NAME_value(g, 0)->type, GEN_DNS);
	assert_int_equal(sk_GENERAL_NAME_value(g, 1)->type, GEN_IPADD);
	assert_int_equal(ASN1_STRING_length(sk_GENERAL_NAME_value(g, 1)->d.iPAddress), 16);
	GENERAL_NAMES_free(g);
	X509_REQ_free(req);
	free(b64);
	EVP_PKEY_free(key);
	assert_null(acme_csr_make(names, 0, NULL, 0, &eb));
	assert_string_equal(eb.msg, "CSR: no names");
}

/* The challenge certificate for the reverse name of addr: one iPAddress
 * SAN of len bytes, no dNSName, no CN, the critical acmeIdentifier. */
static void
check_alpn_cert(const char *rev, const char *addr, int len)
{
	struct errbuf		 eb;
	struct certfile		*cf;
	const uint8_t		*p;
	X509			*x;
	GENERAL_NAMES		*g;
	int			 crit = 0, idx;
	ASN1_OBJECT		*oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);

	if (challenge_tlsalpn_set(rev, "token.thumbprint", &eb) == -1)
		fail_msg("challenge_tlsalpn_set: %s", eb.msg);
	/* Looked up as the CA's SNI names it, in any case. */
	assert_non_null(cf = challenge_tlsalpn_get(rev));
	assert_int_equal(cf->nnames, 1);
	assert_string_equal(cf->names[0], addr);
	p = CRYPTO_BUFFER_data(cf->chain[0]);
	assert_non_null(x = d2i_X509(NULL, &p, (long)CRYPTO_BUFFER_len(cf->chain[0])));
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
	assert_non_null(g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL));
	assert_int_equal(sk_GENERAL_NAME_num(g), 1);
	assert_int_equal(sk_GENERAL_NAME_value(g, 0)->type, GEN_IPADD);
	assert_int_equal(ASN1_STRING_length(sk_GENERAL_NAME_value(g, 0)->d.iPAddress), len);
	idx = X509_get_ext_by_OBJ(x, oid, -1);
	assert_true(idx >= 0);
	crit = X509_EXTENSION_get_critical(X509_get_ext(x, idx));
	assert_int_equal(crit, 1);
	GENERAL_NAMES_free(g);
	ASN1_OBJECT_free(oid);
	X509_free(x);
	certfile_unref(cf);
	challenge_tlsalpn_clear(rev);
	assert_null(challenge_tlsalpn_get(rev));
}

static void
test_tlsalpn_ip_certificate(void **state)
{
	struct errbuf	 eb;
	struct certfile	*cf;

	(void)state;
	check_alpn_cert("1.0.0.127.in-addr.arpa", "127.0.0.1", 4);
	check_alpn_cert("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "ip6.arpa", "::1", 16);
	/* A DNS identifier keeps its dNSName (and its CN). */
	assert_int_equal(challenge_tlsalpn_set("r.test", "token.thumbprint", &eb), 0);
	assert_non_null(cf = challenge_tlsalpn_get("R.TEST"));
	assert_int_equal(cf->nnames, 1);
	assert_string_equal(cf->names[0], "r.test");
	certfile_unref(cf);
	challenge_tlsalpn_clear("r.test");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wants_cn),
		cmocka_unit_test(test_ip_csr_has_ip_sans_and_no_cn),
		cmocka_unit_test(test_dns_csr_cn_by_profile),
		cmocka_unit_test(test_mixed_csr),
		cmocka_unit_test(test_tlsalpn_ip_certificate),
	};

	return cmocka_run_group_tests_name("acme_csr", tests, NULL, NULL);
}
