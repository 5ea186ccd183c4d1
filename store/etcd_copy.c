/*
 * etcd_copy.c - the node's local copy of what it serves from etcd
 * (etcd_copy.h).
 *
 * The etcd backend writes here what it reads from etcd or writes to it:
 * every certificate of its CA namespace (at a read, from the watch, after
 * its own write) and the account. When no etcd member answers, it reads
 * here instead, so that a node restarted in an etcd outage serves the
 * certificates it served before. The copy is never the truth: whenever
 * etcd answers, etcd's value wins and the copy follows it.
 *
 * A certificate's file is "TGC1", then the chain's envelope and the key's,
 * each after its length (4 bytes, big-endian). The index in memory (name,
 * key type, fingerprint, notBefore) decides whether a certificate is new to
 * the copy without reading its file again.
 */
#include "etcd_copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/mem.h>

#include "atomicfile.h"
#include "errbuf.h"
#include "etcd_seal.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#define COPY_MAGIC	"TGC1"
#define COPY_MAX_FILE	(1L << 20)

struct copy_ent {
	char		*name;
	int		 kt;
	char		 sha256[65];
	time_t		 not_before;
};

struct etcd_copy {
	pthread_mutex_t		 mtx;
	const struct etcd_seal	*seal;		/* borrowed */
	char			*dir;		/* <copy dir>/<slug> */
	struct copy_ent		*ents;
	size_t			 nents;
};

/* Each missing folder of path, mode 0700. */
static int
mkdirs(const char *path, struct errbuf *eb)
{
	char *p = xstrdup(path);

	for (char *q = p + 1; ; q++) {
		int end = *q == '\0';

		if (*q != '/' && !end)
			continue;
		*q = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST) {
			errbuf_set(eb, "local copy: mkdir %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		if (end)
			break;
		*q = '/';
	}
	free(p);
	return 0;
}

static char *
cert_path(const struct etcd_copy *c, const char *name, int kt)
{
	return xasprintf("%s/cert/%s.%s", c->dir, name, certfile_keytype_names[kt]);
}

/* What each envelope of a certificate's file is sealed for (its place). */
static char *
cert_ad(const char *name, int kt, const char *what)
{
	return xasprintf("copy/cert/%s/%s/%s", name, certfile_keytype_names[kt],
	    what);
}

/* A whole file (at most COPY_MAX_FILE): a new buffer, or NULL (errno). */
static unsigned char *
read_all(const char *path, size_t *len)
{
	struct stat	 st;
	unsigned char	*buf;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > COPY_MAX_FILE) {
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size &&
	    (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	*len = got;
	return buf;
}

static void
value_clear(struct etcd_value *v)
{
	if (v->data != NULL) {
		OPENSSL_cleanse(v->data, v->len);
		free(v->data);
	}
	v->data = NULL;
}

/* Append a length and an envelope to *buf. */
static void
append_env(unsigned char **buf, size_t *len, const unsigned char *env, size_t n)
{
	*buf = xrealloc(*buf, *len + 4 + n);
	(*buf)[*len] = (unsigned char)(n >> 24);
	(*buf)[*len + 1] = (unsigned char)(n >> 16);
	(*buf)[*len + 2] = (unsigned char)(n >> 8);
	(*buf)[*len + 3] = (unsigned char)n;
	memcpy(*buf + *len + 4, env, n);
	*len += 4 + n;
}

/* A certificate's file, from its PEM texts, sealed under the current key. */
static int
cert_write(const struct etcd_copy *c, const char *name, int kt,
    const char *chain_pem, size_t chain_len, const char *key_pem,
    size_t key_len, struct errbuf *eb)
{
	unsigned char	*buf = xmalloc(4), *env;
	size_t		 len = 4, n;
	char		*path, *ad;
	int		 rc;

	memcpy(buf, COPY_MAGIC, 4);
	ad = cert_ad(name, kt, "chain");
	env = etcd_seal_wrap(c->seal, ad, 0, 0, chain_pem, chain_len, &n);
	append_env(&buf, &len, env, n);
	free(env);
	free(ad);
	ad = cert_ad(name, kt, "key");
	env = etcd_seal_wrap(c->seal, ad, 0, 1, key_pem, key_len, &n);
	append_env(&buf, &len, env, n);
	free(env);
	free(ad);
	path = cert_path(c, name, kt);
	rc = atomicfile_write(path, buf, len, 0600, eb);
	free(path);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/* The certificate in one file of the copy: new, or NULL with eb set. */
static struct certfile *
cert_read(const struct etcd_copy *c, const char *name, int kt, struct errbuf *eb)
{
	char			*path = cert_path(c, name, kt), *ad[2];
	unsigned char		*buf;
	size_t			 len, off = 4;
	struct etcd_value	 v[2];
	struct certfile		*cf = NULL;

	memset(v, 0, sizeof(v));
	if ((buf = read_all(path, &len)) == NULL) {
		if (errno != ENOENT)
			errbuf_set(eb, "local copy %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	ad[0] = cert_ad(name, kt, "chain");
	ad[1] = cert_ad(name, kt, "key");
	if (len < 4 || memcmp(buf, COPY_MAGIC, 4) != 0)
		errbuf_set(eb, "local copy %s: not a copy's file", path);
	else
		for (int i = 0; i < 2; i++) {
			uint32_t n;

			if (len - off < 4) {
				errbuf_set(eb, "local copy %s: truncated", path);
				break;
			}
			n = (uint32_t)buf[off] << 24 | (uint32_t)buf[off + 1] << 16 |
			    (uint32_t)buf[off + 2] << 8 | buf[off + 3];
			off += 4;
			if (n > len - off) {
				errbuf_set(eb, "local copy %s: truncated", path);
				break;
			}
			if (etcd_seal_open(c->seal, ad[i], buf + off, n, &v[i],
			    eb) == -1)
				break;
			off += n;
		}
	if (v[0].data != NULL && v[1].data != NULL &&
	    (cf = certfile_load_mem((char *)v[0].data, v[0].len,
	    (char *)v[1].data, v[1].len, eb)) == NULL)
		errbuf_prefix(eb, "local copy %s", path);
	/* Key rotation: sealed under the previous key, sealed again now. */
	if (cf != NULL && (v[0].stale || v[1].stale)) {
		struct errbuf e2;

		if (cert_write(c, name, kt, (char *)v[0].data, v[0].len,
		    (char *)v[1].data, v[1].len, &e2) == -1)
			log_warnx("%s", e2.msg);
	}
	value_clear(&v[0]);
	value_clear(&v[1]);
	OPENSSL_cleanse(buf, len);
	free(buf);
	free(ad[0]);
	free(ad[1]);
	free(path);
	return cf;
}

static struct copy_ent *
ent_find(struct etcd_copy *c, const char *name, int kt)
{
	for (size_t i = 0; i < c->nents; i++)
		if (c->ents[i].kt == kt && strcmp(c->ents[i].name, name) == 0)
			return &c->ents[i];
	return NULL;
}

static void
ent_set(struct etcd_copy *c, const char *name, int kt, const struct certfile *cf)
{
	struct copy_ent *e = ent_find(c, name, kt);

	if (e == NULL) {
		c->ents = xrealloc(c->ents, (c->nents + 1) * sizeof(*c->ents));
		e = &c->ents[c->nents++];
		e->name = xstrdup(name);
		e->kt = kt;
	}
	memcpy(e->sha256, cf->sha256, sizeof(e->sha256));
	e->not_before = cf->not_before;
}

/* The index from the files: "<name>.<ecdsa|rsa>" under cert/. A file that
 * does not open is left out (and said). */
static void
index_load(struct etcd_copy *c)
{
	char		*cd = xasprintf("%s/cert", c->dir);
	DIR		*d = opendir(cd);
	struct dirent	*de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char		*dot = strrchr(de->d_name, '.'), name[256];
		struct errbuf	 eb;
		struct certfile	*cf;
		int		 kt = -1;

		if (dot == NULL || de->d_name[0] == '.' ||
		    (size_t)(dot - de->d_name) >= sizeof(name))
			continue;
		for (int k = 0; k < CERTFILE__MAX; k++)
			if (strcmp(dot + 1, certfile_keytype_names[k]) == 0)
				kt = k;
		snprintf(name, sizeof(name), "%.*s", (int)(dot - de->d_name),
		    de->d_name);
		if (kt == -1 || !store_name_ok(name))
			continue;
		eb.msg[0] = '\0';
		if ((cf = cert_read(c, name, kt, &eb)) == NULL) {
			log_warnx("%s; it is not served from the copy", eb.msg);
			continue;
		}
		ent_set(c, name, kt, cf);
		certfile_unref(cf);
	}
	if (d != NULL)
		closedir(d);
	free(cd);
}

struct etcd_copy *
etcd_copy_open(const char *dir, const char *slug, const struct etcd_seal *seal,
    struct errbuf *eb)
{
	struct etcd_copy	*c = xcalloc(1, sizeof(*c));
	char			*cd;
	int			 rc;

	pthread_mutex_init(&c->mtx, NULL);
	c->seal = seal;
	c->dir = xasprintf("%s/%s", dir, slug);
	cd = xasprintf("%s/cert", c->dir);
	rc = mkdirs(cd, eb);
	free(cd);
	if (rc == -1) {
		etcd_copy_free(c);
		return NULL;
	}
	index_load(c);
	return c;
}

void
etcd_copy_free(struct etcd_copy *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nents; i++)
		free(c->ents[i].name);
	free(c->ents);
	free(c->dir);
	pthread_mutex_destroy(&c->mtx);
	free(c);
}

const char *
etcd_copy_dir(const struct etcd_copy *c)
{
	return c->dir;
}

int
etcd_copy_synced(const struct etcd_copy *c)
{
	char	*p = xasprintf("%s/synced", c->dir);
	int	 ok = access(p, F_OK) == 0;

	free(p);
	return ok;
}

int
etcd_copy_mark_synced(struct etcd_copy *c, struct errbuf *eb)
{
	char	*p;
	int	 rc;

	if (etcd_copy_synced(c))
		return 0;
	p = xasprintf("%s/synced", c->dir);
	rc = atomicfile_write(p, "", 0, 0600, eb);
	free(p);
	return rc;
}

int
etcd_copy_cert_put(struct etcd_copy *c, const char *name, enum certfile_keytype kt,
    const struct certfile *cf, const char *chain_pem, size_t chain_len,
    const char *key_pem, size_t key_len, struct errbuf *eb)
{
	struct copy_ent	*e;
	int		 rc;

	if (!store_name_ok(name))
		return errbuf_set(eb, "local copy: bad name \"%s\"", name);
	pthread_mutex_lock(&c->mtx);
	e = ent_find(c, name, (int)kt);
	/* The same, or older than what is kept (a late event): kept as is. */
	if (e != NULL && (strcmp(e->sha256, cf->sha256) == 0 ||
	    e->not_before > cf->not_before)) {
		pthread_mutex_unlock(&c->mtx);
		return 0;
	}
	rc = cert_write(c, name, (int)kt, chain_pem, chain_len, key_pem, key_len,
	    eb);
	if (rc == 0)
		ent_set(c, name, (int)kt, cf);
	pthread_mutex_unlock(&c->mtx);
	return rc == 0 ? 1 : -1;
}

struct certfile *
etcd_copy_cert_get(struct etcd_copy *c, const char *name, enum certfile_keytype kt,
    struct errbuf *eb)
{
	struct certfile *cf;

	if (eb != NULL)
		eb->msg[0] = '\0';
	if (!store_name_ok(name))
		return NULL;
	pthread_mutex_lock(&c->mtx);
	cf = cert_read(c, name, (int)kt, eb);
	pthread_mutex_unlock(&c->mtx);
	return cf;
}

long
etcd_copy_count(struct etcd_copy *c)
{
	long n;

	pthread_mutex_lock(&c->mtx);
	n = (long)c->nents;
	pthread_mutex_unlock(&c->mtx);
	return n;
}

static int
value_ok(const char *what)
{
	return strcmp(what, "account-key") == 0 || strcmp(what, "account-url") == 0;
}

/* A value's file, sealed (if private) under the current key. */
static int
value_write(struct etcd_copy *c, const char *what, const void *p, size_t n,
    int private, struct errbuf *eb)
{
	char		*ad = xasprintf("copy/%s", what);
	char		*path = xasprintf("%s/%s", c->dir, what);
	unsigned char	*env;
	size_t		 len;
	int		 rc;

	env = etcd_seal_wrap(c->seal, ad, 0, private, p, n, &len);
	rc = atomicfile_write(path, env, len, 0600, eb);
	OPENSSL_cleanse(env, len);
	free(env);
	free(path);
	free(ad);
	return rc;
}

/* mtx held. */
static int
value_read(struct etcd_copy *c, const char *what, struct etcd_value *out,
    struct errbuf *eb)
{
	char		*path = xasprintf("%s/%s", c->dir, what), *ad;
	unsigned char	*buf;
	size_t		 len;
	int		 rc;

	if ((buf = read_all(path, &len)) == NULL) {
		rc = errno == ENOENT ? 0 : errbuf_set(eb, "local copy %s: %s", path,
		    strerror(errno));
		free(path);
		return rc;
	}
	ad = xasprintf("copy/%s", what);
	rc = etcd_seal_open(c->seal, ad, buf, len, out, eb) == 0 ? 1 : -1;
	/* Key rotation: sealed under the previous key, sealed again now. */
	if (rc == 1 && out->stale) {
		struct errbuf e2;

		if (value_write(c, what, out->data, out->len, 1, &e2) == -1)
			log_warnx("%s", e2.msg);
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	free(ad);
	free(path);
	return rc;
}

int
etcd_copy_value_put(struct etcd_copy *c, const char *what, const void *p,
    size_t n, int private, struct errbuf *eb)
{
	struct etcd_value	 old;
	struct errbuf		 e2;
	int			 same;

	if (!value_ok(what))
		return errbuf_set(eb, "local copy: no value \"%s\"", what);
	memset(&old, 0, sizeof(old));
	pthread_mutex_lock(&c->mtx);
	same = value_read(c, what, &old, &e2) == 1 && old.len == n &&
	    memcmp(old.data, p, n) == 0;
	value_clear(&old);
	if (same) {
		pthread_mutex_unlock(&c->mtx);
		return 0;
	}
	same = value_write(c, what, p, n, private, eb);
	pthread_mutex_unlock(&c->mtx);
	return same;
}

int
etcd_copy_value_get(struct etcd_copy *c, const char *what,
    struct etcd_value *out, struct errbuf *eb)
{
	int rc;

	if (!value_ok(what))
		return errbuf_set(eb, "local copy: no value \"%s\"", what);
	pthread_mutex_lock(&c->mtx);
	rc = value_read(c, what, out, eb);
	pthread_mutex_unlock(&c->mtx);
	return rc;
}
