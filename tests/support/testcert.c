/* testcert.c - self-signed certificates made with BoringSSL, for unit tests. */
#include "testcert.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static char *
bio_str(BIO *b)
{
	const uint8_t	*p;
	size_t		 n;
	char		*s;

	BIO_mem_contents(b, &p, &n);
	s = malloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static EVP_PKEY *
new_key(const char *type)
{
	EVP_PKEY *pk = EVP_PKEY_new();

	if (type != NULL && strcmp(type, "rsa") == 0) {
		RSA *rsa = RSA_new();
		BIGNUM *e = BN_new();
		BN_set_word(e, RSA_F4);
		RSA_generate_key_ex(rsa, 2048, e, NULL);
		EVP_PKEY_assign_RSA(pk, rsa);
		BN_free(e);
	} else {
		EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
		EC_KEY_generate_key(ec);
		EVP_PKEY_assign_EC_KEY(pk, ec);
	}
	return pk;
}

static EVP_PKEY *
pem_key(const char *pem, int public_only)
{
	BIO		*b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY	*pk = public_only ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) :
			    PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);

	BIO_free(b);
	return pk;
}

static X509 *
pem_cert(const char *pem)
{
	BIO	*b = BIO_new_mem_buf(pem, -1);
	X509	*x = PEM_read_bio_X509(b, NULL, NULL, NULL);

	BIO_free(b);
	return x;
}

static void
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, v3, nid, value);

	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
}

int
testcert_issue(const struct testcert_opts *o, char **cert_pem, char **key_pem)
{
	time_t		 now = time(NULL);
	EVP_PKEY	*pk = NULL, *signer = NULL;
	X509		*x = X509_new(), *ix = NULL;
	X509V3_CTX	 v3;
	BIO		*b;
	char		 san[2048] = "", first[256] = "testcert", *copy, *tok, *save;
	int		 rc = -1;

	*cert_pem = NULL;
	if (key_pem != NULL)
		*key_pem = NULL;
	pk = o->pubkey != NULL ? pem_key(o->pubkey, 1) : new_key(o->type);
	if (o->issuer_cert != NULL) {
		ix = pem_cert(o->issuer_cert);
		signer = pem_key(o->issuer_key, 0);
	} else if (o->pubkey == NULL)
		signer = EVP_PKEY_up_ref(pk) ? pk : NULL;
	if (pk == NULL || signer == NULL || (o->issuer_cert != NULL && ix == NULL))
		goto out;
	if (o->names != NULL) {
		copy = strdup(o->names);
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (san[0] == '\0')
				snprintf(first, sizeof(first), "%s", tok);
			/* "IP:addr" is an iPAddress SAN; anything else a dNSName. */
			snprintf(san + strlen(san), sizeof(san) - strlen(san), "%s%s%s",
			    san[0] ? "," : "", strncmp(tok, "IP:", 3) == 0 ? "" : "DNS:",
			    tok);
		}
		free(copy);
	}
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), rand() & 0x7fffffff);
	ASN1_TIME_set(X509_getm_notBefore(x), o->not_before ? o->not_before : now - 3600);
	ASN1_TIME_set(X509_getm_notAfter(x), o->not_after ? o->not_after : now + 30 * 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const uint8_t *)(o->cn ? o->cn : first), -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(ix != NULL ? ix : x));
	X509_set_pubkey(x, pk);
	X509V3_set_ctx(&v3, ix != NULL ? ix : x, x, NULL, NULL, 0);
	if (san[0] != '\0')
		add_ext(x, NULL, NID_subject_alt_name, san);
	if (o->ca) {
		add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
	}
	if (o->eku != NULL)
		add_ext(x, NULL, NID_ext_key_usage, o->eku);
	/* Key identifiers, as CA-issued certificates have (ARI needs AKI). */
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
	if (!X509_sign(x, signer, EVP_sha256()))
		goto out;
	if (o->bad_signature) {
		/* The last DER byte belongs to the signature value. */
		uint8_t		*der = NULL;
		const uint8_t	*p;
		int		 n = i2d_X509(x, &der);

		der[n - 1] ^= 0x01;
		p = der;
		X509_free(x);
		x = d2i_X509(NULL, &p, n);
		OPENSSL_free(der);
		if (x == NULL)
			goto out;
	}
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	*cert_pem = bio_str(b);
	BIO_free(b);
	if (key_pem != NULL && o->pubkey == NULL) {
		b = BIO_new(BIO_s_mem());
		PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
		*key_pem = bio_str(b);
		BIO_free(b);
	}
	rc = 0;
out:
	X509_free(x);
	X509_free(ix);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(signer);
	return rc;
}

int
testcert_make(const char *type, const char *names, int days, char **cert_pem,
    char **key_pem)
{
	struct testcert_opts o;

	memset(&o, 0, sizeof(o));
	o.type = type;
	o.names = names;
	o.not_after = time(NULL) + (time_t)days * 86400;
	return testcert_issue(&o, cert_pem, key_pem);
}

char *
testcert_write(const char *dir, const char *name, const char *s, int mode)
{
	char	*path;
	int	 fd;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd == -1 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) {
		free(path);
		return NULL;
	}
	close(fd);
	return path;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int
testcert_rmtree(const char *path)
{
	return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}
