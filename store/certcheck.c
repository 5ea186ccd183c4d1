/*
 * certcheck.c - full validation of a certificate chain before it is stored
 * or served (issue 17, finding 3).
 *
 * The checks run in the order a reader would debug a certificate: is the
 * chain one chain, is the leaf current, may it serve, does it name the site
 * (the last apart, certcheck_names, for a certificate that many sites
 * share: the rest is checked once).
 * The first failure is reported with the certificate's position in the chain
 * (1 is the leaf) and its subject, so a log line says which file to fix.
 *
 * We deliberately stop short of path building to a trust anchor: a CA may
 * send a chain that ends below a root, a configured file may be self-signed,
 * and the client decides what it trusts. What we refuse is what no client
 * should ever be shown: pieces of two chains, a forged or corrupted
 * signature, a leaf outside its dates or for other names, a client-only or
 * CA certificate.
 */
#include "certcheck.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certfile.h"
#include "errbuf.h"
#include "ipname.h"

static const char *
iso(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "@%lld", (long long)t);
	return buf;
}

static const char *
subject(X509 *x, char *buf, size_t len)
{
	X509_NAME_oneline(X509_get_subject_name(x), buf, (int)len);
	return buf;
}

/* Certificate i (0-based, leaf first) must be issued and signed by i + 1. */
static int
check_link(X509 *child, X509 *issuer, size_t i, struct errbuf *eb)
{
	char		 cs[256], is[256];
	EVP_PKEY	*pk;
	int		 rc, ok;

	rc = X509_check_issued(issuer, child);
	if (rc != X509_V_OK)
		return errbuf_set(eb, "chain: certificate %zu (%s) did not issue "
		    "certificate %zu (%s): %s", i + 2, subject(issuer, is, sizeof(is)),
		    i + 1, subject(child, cs, sizeof(cs)), X509_verify_cert_error_string(rc));
	if (X509_check_ca(issuer) == 0)
		return errbuf_set(eb, "chain: certificate %zu (%s) is not a CA but "
		    "issued certificate %zu", i + 2, subject(issuer, is, sizeof(is)), i + 1);
	if ((pk = X509_get_pubkey(issuer)) == NULL)
		return errbuf_set(eb, "chain: certificate %zu (%s) has an unusable "
		    "public key", i + 2, subject(issuer, is, sizeof(is)));
	ok = X509_verify(child, pk) == 1;
	EVP_PKEY_free(pk);
	if (!ok)
		return errbuf_set(eb, "chain: the signature of certificate %zu (%s) does "
		    "not verify under certificate %zu (%s)", i + 1,
		    subject(child, cs, sizeof(cs)), i + 2, subject(issuer, is, sizeof(is)));
	return 0;
}

/* A lone certificate that issued itself: the usual hand-made one. */
static int
self_signed_alone(const struct certfile *cf, X509 *leaf)
{
	EVP_PKEY	*pk;
	int		 ok;

	if (cf->nchain != 1 || X509_NAME_cmp(X509_get_subject_name(leaf),
	    X509_get_issuer_name(leaf)) != 0)
		return 0;
	if ((pk = X509_get_pubkey(leaf)) == NULL)
		return 0;
	ok = X509_verify(leaf, pk) == 1;
	EVP_PKEY_free(pk);
	return ok;
}

/* The short names of the leaf's EKU purposes, for the error message. */
static void
eku_names(X509 *leaf, char *buf, size_t len)
{
	EXTENDED_KEY_USAGE	*eku;
	size_t			 off = 0;

	buf[0] = '\0';
	if ((eku = X509_get_ext_d2i(leaf, NID_ext_key_usage, NULL, NULL)) == NULL)
		return;
	for (size_t i = 0; i < sk_ASN1_OBJECT_num(eku) && off + 1 < len; i++) {
		char	 txt[80];
		int	 nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i));

		if (nid != NID_undef)
			snprintf(txt, sizeof(txt), "%s", OBJ_nid2sn(nid));
		else
			OBJ_obj2txt(txt, sizeof(txt), sk_ASN1_OBJECT_value(eku, i), 1);
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", txt);
	}
	EXTENDED_KEY_USAGE_free(eku);
}

/* Whether sans has the iPAddress whose canonical text is ip. */
static int
has_ip(const GENERAL_NAMES *sans, const char *ip)
{
	char t[IPNAME_MAX];

	for (size_t i = 0; i < sk_GENERAL_NAME_num(sans); i++)
		if (certfile_san_ip(sk_GENERAL_NAME_value(sans, i), t) == 0 &&
		    strcmp(t, ip) == 0)
			return 1;
	return 0;
}

/* The leaf itself: inside its dates, with a SAN, fit to serve. */
static int
check_leaf(const struct certfile *cf, X509 *leaf, time_t now, long skew,
    struct errbuf *eb)
{
	GENERAL_NAMES	*sans;
	size_t		 ndns = 0;
	char		 t1[32], t2[32], buf[256];
	uint32_t	 xku;

	if (cf->not_before > now + skew)
		return errbuf_set(eb, "the certificate is not valid before %s (now %s)",
		    iso(cf->not_before, t1, sizeof(t1)), iso(now, t2, sizeof(t2)));
	if (cf->not_after <= now)
		return errbuf_set(eb, "the certificate expired at %s (now %s)",
		    iso(cf->not_after, t1, sizeof(t1)), iso(now, t2, sizeof(t2)));

	/* certfile falls back to the CN without DNS SANs; clients do not. */
	if ((sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL)) == NULL)
		return errbuf_set(eb, "the certificate has no subjectAltName");
	for (size_t i = 0; i < sk_GENERAL_NAME_num(sans); i++)
		if (sk_GENERAL_NAME_value(sans, i)->type == GEN_DNS ||
		    sk_GENERAL_NAME_value(sans, i)->type == GEN_IPADD)
			ndns++;
	GENERAL_NAMES_free(sans);
	if (ndns == 0)
		return errbuf_set(eb, "the certificate's subjectAltName has no DNS "
		    "name or IP address");

	/* UINT32_MAX means no EKU extension: any purpose. */
	xku = X509_get_extended_key_usage(leaf);
	if ((xku & XKU_SSL_SERVER) == 0) {
		eku_names(leaf, buf, sizeof(buf));
		return errbuf_set(eb, "the certificate's extended key usage lacks "
		    "serverAuth (it has %s)", buf[0] ? buf : "none");
	}
	if (X509_check_ca(leaf) == 1 && !self_signed_alone(cf, leaf))
		return errbuf_set(eb, "the certificate is a CA certificate "
		    "(basicConstraints CA:TRUE)");
	return 0;
}

int
certcheck(const struct certfile *cf, char *const *names, size_t nnames,
    time_t now, long skew, struct errbuf *eb)
{
	if (certcheck_cert(cf, now, skew, eb) == -1)
		return -1;
	return certcheck_names(cf, names, nnames, eb);
}

/*
 * Each name is covered: a DNS name as certfile_matches says (the names
 * certfile_load took from the SANs), an IP literal by an iPAddress SAN,
 * for which alone the leaf is parsed again.
 */
int
certcheck_names(const struct certfile *cf, char *const *names, size_t nnames,
    struct errbuf *eb)
{
	GENERAL_NAMES	*sans = NULL;
	X509		*leaf = NULL;
	char		 buf[256], ip[IPNAME_MAX];
	size_t		 off = 0, i;

	for (i = 0; i < nnames; i++) {
		/* An IP name needs an iPAddress SAN: a dNSName spelling the
		 * address is not one to clients (RFC 6125 3.1.3.2). */
		if (ipname_canon(names[i], ip) != 0) {
			if (!certfile_matches(cf, names[i]))
				break;
			continue;
		}
		if (leaf == NULL && cf->nchain > 0 &&
		    (leaf = X509_parse_from_buffer(cf->chain[0])) != NULL)
			sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
		if (sans == NULL || !has_ip(sans, ip))
			break;
	}
	GENERAL_NAMES_free(sans);
	X509_free(leaf);
	ERR_clear_error();
	if (i == nnames)
		return 0;
	buf[0] = '\0';
	for (size_t k = 0; k < cf->nnames && off + 1 < sizeof(buf); k++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
		    k ? ", " : "", cf->names[k]);
	return errbuf_set(eb, "the certificate does not cover %s (it names %s)",
	    names[i], buf);
}

int
certcheck_cert(const struct certfile *cf, time_t now, long skew,
    struct errbuf *eb)
{
	X509	*leaf = NULL, *child, *up = NULL, *next;
	int	 rc = -1, bad;

	if (cf->nchain == 0)
		return errbuf_set(eb, "empty chain");
	if ((leaf = X509_parse_from_buffer(cf->chain[0])) == NULL) {
		errbuf_ssl(eb, "leaf certificate");
		goto out;
	}
	/* Each link, holding at most two parsed certificates at a time. */
	child = leaf;
	for (size_t i = 0; i + 1 < cf->nchain; i++) {
		if ((next = X509_parse_from_buffer(cf->chain[i + 1])) == NULL) {
			errbuf_ssl(eb, "chain certificate");
			goto out;
		}
		bad = check_link(child, next, i, eb) == -1;
		X509_free(up);		/* the previous issuer: child until now */
		child = up = next;
		if (bad)
			goto out;
	}
	rc = check_leaf(cf, leaf, now, skew, eb);
out:
	ERR_clear_error();
	X509_free(up);
	X509_free(leaf);
	return rc;
}
