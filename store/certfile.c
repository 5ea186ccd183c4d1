/*
 * certfile.c - PEM parsing and sanity checks for certificates and keys.
 *
 * Everything that can be wrong with a certificate is caught here, before it
 * reaches a handshake: a key that does not match, an unsupported key type, an
 * empty or truncated chain. A broken file never replaces a served one because
 * the caller swaps only after this returns a complete object.
 */
#include "certfile.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "errbuf.h"
#include "ipname.h"
#include "log.h"
#include "xalloc.h"

#if !defined(OPENSSL_IS_BORINGSSL) && !defined(OPENSSL_IS_AWSLC)
#error "tlsgate is built against AWS-LC or BoringSSL only"
#endif

#define CERTFILE_MAX_BYTES	(1024 * 1024)
#define CERTFILE_MAX_CHAIN	10

const char *const certfile_keytype_names[CERTFILE__MAX] = { "ecdsa", "rsa" };

static void
certfile_free(struct certfile *cf)
{
	if (cf == NULL)
		return;
	for (size_t i = 0; i < cf->nchain; i++)
		CRYPTO_BUFFER_free(cf->chain[i]);
	free(cf->chain);
	EVP_PKEY_free(cf->key);
	for (size_t i = 0; i < cf->nnames; i++)
		free(cf->names[i]);
	free(cf->names);
	free(cf->subject);
	free(cf);
}

struct certfile *
certfile_ref(struct certfile *cf)
{
	atomic_fetch_add((atomic_int *)&cf->refs, 1);
	return cf;
}

void
certfile_unref(struct certfile *cf)
{
	if (cf != NULL && atomic_fetch_sub((atomic_int *)&cf->refs, 1) == 1)
		certfile_free(cf);
}

static time_t
asn1_to_time(const ASN1_TIME *t)
{
	ASN1_TIME	*epoch = ASN1_TIME_set(NULL, 0);
	int		 days, secs, ok;

	/* Measured from the epoch, not from now: exact to the second. */
	ok = epoch != NULL && ASN1_TIME_diff(&days, &secs, epoch, t);
	ASN1_TIME_free(epoch);
	return ok ? (time_t)days * 86400 + secs : 0;
}

static void
add_name(struct certfile *cf, const char *s, size_t n)
{
	char *p;

	/* Skip names with NULs or absurd lengths: they match nothing. */
	if (n == 0 || n > 253 || memchr(s, '\0', n) != NULL)
		return;
	p = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
	p[n] = '\0';
	cf->names = xrealloc(cf->names, (cf->nnames + 1) * sizeof(char *));
	cf->names[cf->nnames++] = p;
}

int
certfile_san_ip(const GENERAL_NAME *gn, char *out)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct ipname	 ip;
	const uint8_t	*p;
	int		 n;

	if (gn->type != GEN_IPADD)
		return -1;
	p = ASN1_STRING_get0_data(gn->d.iPAddress);
	if ((n = ASN1_STRING_length(gn->d.iPAddress)) != 4 && n != 16)
		return -1;
	if (n == 16 && memcmp(p, mapped, 12) == 0) {	/* ::ffff:a.b.c.d */
		p += 12;
		n = 4;
	}
	memset(&ip, 0, sizeof(ip));
	ip.family = n == 4 ? AF_INET : AF_INET6;
	memcpy(ip.addr, p, (size_t)n);
	ipname_format(&ip, out);
	return 0;
}

static void
collect_names(struct certfile *cf, X509 *leaf)
{
	GENERAL_NAMES	*sans;
	X509_NAME	*subj;
	char		 cn[256];
	int		 n;

	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	if (sans != NULL) {
		for (size_t i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
			const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
			char ip[IPNAME_MAX];

			/* An iPAddress SAN (RFC 8738) as ipname.h's text, the
			 * form IP site names take. */
			if (gn->type == GEN_IPADD && certfile_san_ip(gn, ip) == 0)
				add_name(cf, ip, strlen(ip));
			if (gn->type != GEN_DNS)
				continue;
			add_name(cf, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
			    (size_t)ASN1_STRING_length(gn->d.dNSName));
		}
		GENERAL_NAMES_free(sans);
	}
	if (cf->nnames > 0)
		return;
	subj = X509_get_subject_name(leaf);
	n = X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof(cn));
	if (n > 0)
		add_name(cf, cn, (size_t)n);
}

static int
check_key(struct certfile *cf, struct errbuf *eb)
{
	switch (EVP_PKEY_id(cf->key)) {
	case EVP_PKEY_EC: {
		const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(cf->key);
		int nid = EC_GROUP_get_curve_name(EC_KEY_get0_group(ec));
		if (nid != NID_X9_62_prime256v1 && nid != NID_secp384r1)
			return errbuf_set(eb, "unsupported EC curve %s (use P-256 or P-384)",
			    OBJ_nid2sn(nid));
		cf->keytype = CERTFILE_EC;
		return 0;
	}
	case EVP_PKEY_RSA:
		if (EVP_PKEY_bits(cf->key) < 2048)
			return errbuf_set(eb, "RSA key of %d bits is too small (minimum 2048)",
			    EVP_PKEY_bits(cf->key));
		cf->keytype = CERTFILE_RSA;
		return 0;
	default:
		return errbuf_set(eb, "unsupported private key type");
	}
}

struct certfile *
certfile_load_mem(const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, struct errbuf *eb)
{
	struct certfile	*cf;
	BIO		*bio = NULL;
	X509		*x = NULL, *leaf = NULL;
	uint8_t		*der = NULL, md[SHA256_DIGEST_LENGTH];
	int		 derlen;
	char		 subj[256];

	ERR_clear_error();
	if (cert_len > CERTFILE_MAX_BYTES || key_len > CERTFILE_MAX_BYTES) {
		errbuf_set(eb, "PEM data larger than %d bytes", CERTFILE_MAX_BYTES);
		return NULL;
	}
	cf = xcalloc(1, sizeof(*cf));
	cf->refs = 1;

	if ((bio = BIO_new_mem_buf(cert_pem, (int)cert_len)) == NULL)
		goto ssl_err;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (cf->nchain == CERTFILE_MAX_CHAIN) {
			errbuf_set(eb, "more than %d certificates in chain", CERTFILE_MAX_CHAIN);
			goto fail;
		}
		der = NULL;
		if ((derlen = i2d_X509(x, &der)) <= 0)
			goto ssl_err;
		cf->chain = xrealloc(cf->chain, (cf->nchain + 1) * sizeof(*cf->chain));
		cf->chain[cf->nchain] = CRYPTO_BUFFER_new(der, (size_t)derlen, NULL);
		OPENSSL_free(der);
		der = NULL;
		if (cf->chain[cf->nchain] == NULL)
			goto ssl_err;
		cf->nchain++;
		if (leaf == NULL)
			leaf = x;
		else
			X509_free(x);
		x = NULL;
	}
	/* The loop ends on EOF (PEM_R_NO_START_LINE) or on a broken block. */
	{
		uint32_t e = ERR_peek_last_error();
		if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
		    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
			errbuf_ssl(eb, "certificate PEM");
			goto fail;
		}
		ERR_clear_error();
	}
	if (leaf == NULL) {
		errbuf_set(eb, "no certificate found in PEM data");
		goto fail;
	}
	BIO_free(bio);
	if ((bio = BIO_new_mem_buf(key_pem, (int)key_len)) == NULL)
		goto ssl_err;
	if ((cf->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		errbuf_ssl(eb, "private key PEM");
		goto fail;
	}
	if (check_key(cf, eb) == -1)
		goto fail;
	if (!X509_check_private_key(leaf, cf->key)) {
		ERR_clear_error();
		errbuf_set(eb, "private key does not match the certificate");
		goto fail;
	}
	cf->not_before = asn1_to_time(X509_get0_notBefore(leaf));
	cf->not_after = asn1_to_time(X509_get0_notAfter(leaf));
	collect_names(cf, leaf);
	SHA256(CRYPTO_BUFFER_data(cf->chain[0]), CRYPTO_BUFFER_len(cf->chain[0]), md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(cf->sha256 + 2 * i, 3, "%02x", md[i]);
	X509_NAME_oneline(X509_get_subject_name(leaf), subj, sizeof(subj));
	cf->subject = xstrdup(subj);
	X509_free(leaf);
	BIO_free(bio);
	return cf;

ssl_err:
	errbuf_ssl(eb, "BoringSSL");
fail:
	ERR_clear_error();
	X509_free(x);
	X509_free(leaf);
	BIO_free(bio);
	certfile_free(cf);
	return NULL;
}

/* Read a whole file of bounded size. Returns a new buffer or NULL with eb set. */
static char *
slurp(const char *path, size_t *len, struct errbuf *eb)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return errbuf_set(eb, "%s: %m", path), NULL;
	buf = xmalloc(CERTFILE_MAX_BYTES + 1);
	n = fread(buf, 1, CERTFILE_MAX_BYTES + 1, f);
	if (ferror(f)) {
		errbuf_set(eb, "%s: read error", path);
		goto fail;
	}
	if (n > CERTFILE_MAX_BYTES) {
		errbuf_set(eb, "%s: larger than %d bytes", path, CERTFILE_MAX_BYTES);
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

struct certfile *
certfile_load(const char *cert_path, const char *key_path, struct errbuf *eb)
{
	struct certfile	*cf = NULL;
	struct stat	 st;
	char		*cert = NULL, *key = NULL;
	size_t		 clen = 0, klen = 0;

	if ((cert = slurp(cert_path, &clen, eb)) == NULL)
		goto out;
	if ((key = slurp(key_path, &klen, eb)) == NULL)
		goto out;
	if ((cf = certfile_load_mem(cert, clen, key, klen, eb)) == NULL) {
		errbuf_prefix(eb, "%s, %s", cert_path, key_path);
		goto out;
	}
	if (stat(key_path, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("%s: private key is readable by group or others (mode %03o); "
		    "chmod 600 it", key_path, (unsigned)(st.st_mode & 0777));
out:
	if (key != NULL)
		OPENSSL_cleanse(key, klen);
	free(key);
	free(cert);
	return cf;
}

int
certfile_matches(const struct certfile *cf, const char *host)
{
	const char *dot;

	for (size_t i = 0; i < cf->nnames; i++) {
		const char *n = cf->names[i];
		if (strcasecmp(n, host) == 0)
			return 1;
		/* "*.example.com" covers exactly one label. */
		if (n[0] == '*' && n[1] == '.' && (dot = strchr(host, '.')) != NULL &&
		    dot != host && strcasecmp(n + 1, dot) == 0)
			return 1;
	}
	return 0;
}
