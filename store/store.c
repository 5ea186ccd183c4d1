/*
 * store.c - folders and files of the state directory.
 *
 * The folder for a CA is named after its directory URL made safe for a file
 * name ("https://acme-v02.api.letsencrypt.org/directory" becomes
 * "acme-v02.api.letsencrypt.org_directory"), so switching from staging to
 * production never mixes accounts or certificates.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>

#include "atomicfile.h"
#include "certcheck.h"
#include "errbuf.h"
#include "xalloc.h"

#define STORE_MAX_FILE	(1024 * 1024)

struct store {
	char	*dir;		/* STATE_DIR/<ca-slug> */
};

static char *
ca_slug(const char *url)
{
	const char	*p = strstr(url, "://");
	char		*s, *q;

	s = xstrdup(p != NULL ? p + 3 : url);
	for (q = s; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		    (*q >= '0' && *q <= '9') || *q == '.' || *q == '-'))
			*q = '_';
	return s;
}

/* mkdir -p with mode 0700 for the folders we create. */
static int
mkdirs(const char *path, struct errbuf *eb)
{
	char *p = xstrdup(path), *s;

	for (s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) == -1 && errno != EEXIST) {
				errbuf_set(eb, "mkdir %s: %s", p, strerror(errno));
				free(p);
				return -1;
			}
			if (c == '\0')
				break;
			*s = c;
		}
	}
	free(p);
	return 0;
}

/* Temporary files left by a crash mid-write (atomicfile's "*.tmp.XXXXXX"). */
static void
sweep_tmp(const char *dir)
{
	DIR		*d, *sd;
	struct dirent	*e, *f;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *sub;
		if (e->d_name[0] == '.')
			continue;
		sub = xasprintf("%s/%s", dir, e->d_name);
		if ((sd = opendir(sub)) != NULL) {
			while ((f = readdir(sd)) != NULL)
				if (strstr(f->d_name, ".tmp.") != NULL) {
					char *p = xasprintf("%s/%s", sub, f->d_name);
					unlink(p);
					free(p);
				}
			closedir(sd);
		}
		free(sub);
	}
	closedir(d);
}

struct store *
store_open(const char *state_dir, const char *directory_url, struct errbuf *eb)
{
	struct store	*s;
	char		*slug = ca_slug(directory_url), *certs;

	s = xcalloc(1, sizeof(*s));
	s->dir = xasprintf("%s/%s", state_dir, slug);
	free(slug);
	certs = xasprintf("%s/certs", s->dir);
	if (mkdirs(certs, eb) == -1) {
		free(certs);
		store_free(s);
		return NULL;
	}
	sweep_tmp(certs);
	free(certs);
	return s;
}

void
store_free(struct store *s)
{
	if (s == NULL)
		return;
	free(s->dir);
	free(s);
}

const char *
store_dir(const struct store *s)
{
	return s->dir;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	char	*buf;
	size_t	 n;

	if (f == NULL)
		return NULL;
	buf = xmalloc(STORE_MAX_FILE + 1);
	n = fread(buf, 1, STORE_MAX_FILE, f);
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

EVP_PKEY *
store_account_key(struct store *s, struct errbuf *eb)
{
	char		*path = xasprintf("%s/account.key", s->dir), *pem;
	EVP_PKEY	*pk = NULL;
	EC_KEY		*ec;
	BIO		*b;
	size_t		 len;

	if ((pem = slurp(path, &len)) != NULL) {
		b = BIO_new_mem_buf(pem, (int)len);
		pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		OPENSSL_cleanse(pem, len);
		free(pem);
		if (pk == NULL)
			errbuf_ssl(eb, path);
		free(path);
		return pk;
	}
	/* No account key yet: make one. */
	ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	pk = EVP_PKEY_new();
	if (ec == NULL || pk == NULL || !EC_KEY_generate_key(ec) ||
	    !EVP_PKEY_assign_EC_KEY(pk, ec)) {
		errbuf_ssl(eb, "account key generation");
		EC_KEY_free(ec);
		EVP_PKEY_free(pk);
		free(path);
		return NULL;
	}
	b = BIO_new(BIO_s_mem());
	if (PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL)) {
		const uint8_t	*data;
		size_t		 n;
		BIO_mem_contents(b, &data, &n);
		if (atomicfile_write(path, data, n, 0600, eb) == -1) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
	}
	BIO_free(b);
	free(path);
	return pk;
}

char *
store_account_url(struct store *s)
{
	char	*path = xasprintf("%s/account.url", s->dir), *url;
	size_t	 n;

	url = slurp(path, &n);
	free(path);
	if (url != NULL) {
		while (n > 0 && (url[n - 1] == '\n' || url[n - 1] == '\r'))
			url[--n] = '\0';
		if (n == 0) {
			free(url);
			url = NULL;
		}
	}
	return url;
}

int
store_account_save_url(struct store *s, const char *url, struct errbuf *eb)
{
	char	*path = xasprintf("%s/account.url", s->dir), *data;
	int	 rc;

	data = xasprintf("%s\n", url);
	rc = atomicfile_write(path, data, strlen(data), 0600, eb);
	free(data);
	free(path);
	return rc;
}

static char *
cert_file(const char *dir, const char *name, enum certfile_keytype kt)
{
	return xasprintf("%s/certs/%s/%s.pem", dir, name, certfile_keytype_names[kt]);
}

char *
store_cert_path(const char *state_dir, const char *directory_url, const char *name,
    enum certfile_keytype kt)
{
	char *slug = ca_slug(directory_url), *dir, *p;

	dir = xasprintf("%s/%s", state_dir, slug);
	p = cert_file(dir, name, kt);
	free(dir);
	free(slug);
	return p;
}

struct certfile *
store_cert_load(struct store *s, const char *name, enum certfile_keytype kt,
    struct errbuf *eb)
{
	char		*path = cert_file(s->dir, name, kt);
	struct certfile	*cf = NULL;

	if (eb != NULL)
		eb->msg[0] = '\0';
	if (access(path, F_OK) == 0)
		cf = certfile_load(path, path, eb);
	free(path);
	return cf;
}

struct certfile *
store_cert_save(struct store *s, const char *name, char *const *names,
    size_t nnames, const char *chain_pem, const char *key_pem, struct errbuf *eb)
{
	struct certfile	*cf;
	char		*dir, *path, *bundle;

	if ((cf = certfile_load_mem(chain_pem, strlen(chain_pem), key_pem,
	    strlen(key_pem), eb)) == NULL)
		return NULL;
	if (certcheck(cf, names, nnames, time(NULL), CERTCHECK_SKEW, eb) == -1) {
		certfile_unref(cf);
		return NULL;
	}
	dir = xasprintf("%s/certs/%s", s->dir, name);
	if (mkdirs(dir, eb) == -1) {
		free(dir);
		certfile_unref(cf);
		return NULL;
	}
	path = cert_file(s->dir, name, cf->keytype);
	bundle = xasprintf("%s%s", key_pem, chain_pem);
	if (atomicfile_write(path, bundle, strlen(bundle), 0600, eb) == -1) {
		certfile_unref(cf);
		cf = NULL;
	}
	OPENSSL_cleanse(bundle, strlen(bundle));
	free(bundle);
	free(path);
	free(dir);
	return cf;
}

char *
store_meta_load(struct store *s, const char *name, enum certfile_keytype kt)
{
	char *path = xasprintf("%s/certs/%s/%s.json", s->dir, name,
	    certfile_keytype_names[kt]), *j;

	j = slurp(path, NULL);
	free(path);
	return j;
}

int
store_meta_save(struct store *s, const char *name, enum certfile_keytype kt,
    const char *json, struct errbuf *eb)
{
	char	*dir = xasprintf("%s/certs/%s", s->dir, name), *path;
	int	 rc;

	if (mkdirs(dir, eb) == -1) {
		free(dir);
		return -1;
	}
	path = xasprintf("%s/%s.json", dir, certfile_keytype_names[kt]);
	rc = atomicfile_write(path, json, strlen(json), 0600, eb);
	free(path);
	free(dir);
	return rc;
}

int
store_lock(struct store *s, const char *name)
{
	char		*dir = xasprintf("%s/certs/%s", s->dir, name), *path;
	struct errbuf	 eb;
	int		 fd;

	if (mkdirs(dir, &eb) == -1) {
		free(dir);
		return -1;
	}
	path = xasprintf("%s/.lock", dir);
	free(dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* closing releases the flock */
}
