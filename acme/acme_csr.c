/*
 * acme_csr.c - the finalize CSR: one SAN per name (dNSName or iPAddress),
 * an optional CN (acme_csr.h says when), signed with SHA-256.
 */
#include "acme_csr.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64url.h"
#include "errbuf.h"
#include "ipname.h"

int
acme_csr_wants_cn(char *const *names, size_t nnames, const char *profile)
{
	/* Let's Encrypt's profiles that issue without a CN. */
	if (profile != NULL && (strcmp(profile, "tlsserver") == 0 ||
	    strcmp(profile, "shortlived") == 0))
		return 0;
	for (size_t i = 0; i < nnames; i++)
		if (strlen(names[i]) > ACME_CSR_CN_MAX || ipname_is(names[i]))
			return 0;
	return nnames > 0;
}

/* One subjectAltName entry for name; NULL on allocation failure. */
static GENERAL_NAME *
san_entry(const char *name)
{
	GENERAL_NAME	*gn = GENERAL_NAME_new();
	struct ipname	 ip;
	int		 ok;

	if (gn == NULL)
		return NULL;
	if (ipname_parse(name, &ip) == 0) {
		gn->type = GEN_IPADD;
		ok = (gn->d.iPAddress = ASN1_OCTET_STRING_new()) != NULL &&
		    ASN1_OCTET_STRING_set(gn->d.iPAddress, ip.addr,
		    ip.family == AF_INET ? 4 : 16);
	} else {
		gn->type = GEN_DNS;
		ok = (gn->d.dNSName = ASN1_IA5STRING_new()) != NULL &&
		    ASN1_STRING_set(gn->d.dNSName, name, (int)strlen(name));
	}
	if (!ok) {
		GENERAL_NAME_free(gn);
		return NULL;
	}
	return gn;
}

char *
acme_csr_make(char *const *names, size_t nnames, EVP_PKEY *key, int with_cn,
    struct errbuf *eb)
{
	X509_REQ		*req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES		*gens = sk_GENERAL_NAME_new_null();
	X509_EXTENSION		*san = NULL;
	uint8_t			*der = NULL;
	int			 len;
	char			*out = NULL;

	if (nnames == 0) {
		errbuf_set(eb, "CSR: no names");
		goto out;
	}
	if (req == NULL || exts == NULL || gens == NULL)
		goto ssl_err;
	for (size_t i = 0; i < nnames; i++) {
		GENERAL_NAME *gn = san_entry(names[i]);

		if (gn == NULL || !sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			goto ssl_err;
		}
	}
	if (!X509_REQ_set_version(req, 0) ||
	    (with_cn && !X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req),
	    "CN", MBSTRING_ASC, (const uint8_t *)names[0], -1, -1, 0)) ||
	    (san = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL ||
	    !sk_X509_EXTENSION_push(exts, san))
		goto ssl_err;
	san = NULL;		/* owned by exts now */
	if (!X509_REQ_add_extensions(req, exts) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    !X509_REQ_sign(req, key, EVP_sha256()) ||
	    (len = i2d_X509_REQ(req, &der)) <= 0)
		goto ssl_err;
	out = b64url_encode(der, (size_t)len);
	goto out;
ssl_err:
	errbuf_ssl(eb, "CSR");
out:
	ERR_clear_error();
	OPENSSL_free(der);
	X509_EXTENSION_free(san);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_REQ_free(req);
	return out;
}
