/* testcert.c - self-signed certificates made with BoringSSL, for unit tests. */
#include "testcert.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
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

int
testcert_make(const char *type, const char *names, int days, char **cert_pem,
    char **key_pem)
{
	EVP_PKEY	*pk = EVP_PKEY_new();
	X509		*x = X509_new();
	X509_EXTENSION	*ext;
	BIO		*b;
	char		 san[2048] = "", *copy = strdup(names), *tok, *save;
	char		 first[256] = "";

	if (strcmp(type, "rsa") == 0) {
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
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (first[0] == '\0')
			snprintf(first, sizeof(first), "%s", tok);
		snprintf(san + strlen(san), sizeof(san) - strlen(san), "%sDNS:%s",
		    san[0] ? "," : "", tok);
	}
	free(copy);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), rand() & 0x7fffffff);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const uint8_t *)first, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, pk);
	ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, san);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	{
		/* Key identifiers, as CA-issued certificates have (ARI needs AKI). */
		X509V3_CTX v3;
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_authority_key_identifier,
		    "keyid:always");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, pk, EVP_sha256());

	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	*cert_pem = bio_str(b);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
	*key_pem = bio_str(b);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(pk);
	return 0;
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
