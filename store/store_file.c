/*
 * store_file.c - the file backend of the store: everything under one state
 * directory, for one machine.
 *
 *   STATE_DIR/<ca-slug>/account.key             ECDSA P-256, 0600
 *   STATE_DIR/<ca-slug>/account.url
 *   STATE_DIR/<ca-slug>/certs/<name>/ecdsa.pem  key + chain in one file, 0600
 *   STATE_DIR/<ca-slug>/certs/<name>/ecdsa.json renewal state (and rsa.*)
 *   STATE_DIR/<ca-slug>/certs/<name>/.lock      flock while ordering
 *   STATE_DIR/tickets.key                       session-ticket keys, 0600
 *   STATE_DIR/ech.json                          ECH keys and configs, 0600
 *   STATE_DIR/renew-requests/<name>             "tlsgate renew NAME"
 *   STATE_DIR/tlsgate.pid
 *
 * The CA folder is named after its directory URL made safe for a file name
 * ("https://acme-v02.api.letsencrypt.org/directory" becomes
 * "acme-v02.api.letsencrypt.org_directory"), so staging and production never
 * mix. A certificate and its key share one file so that one atomic rename
 * replaces both. Every write goes through atomicfile; folders are 0700.
 *
 * Challenges live in memory: one process answers them, told by the feed.
 * Locks are flocks: the lease lasts as long as the process holds the fd, so
 * keep-alive has nothing to do and the fencing check is that the fd is open.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/pem.h>

#include "atomicfile.h"
#include "store_file_impl.h"
#include "errbuf.h"
#include "keygen.h"
#include "renewal_json.h"
#include "xalloc.h"

#define STORE_MAX_CHAL	1024

struct file_lock {
	struct store_lock	 base;
	int			 fd;
};

static const struct store_ops file_ops;

struct store_file *
F(struct store *s)
{
	return (struct store_file *)s;
}

/* mkdir -p with mode 0700 for the folders we create. */
int
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

/*
 * Temporary files left in dir, a name's folder, by a write a crash
 * interrupted (atomicfile's "*.tmp.XXXXXX"): removed when a certificate is
 * next written there (file_cert_put), not at open, which would read every
 * name's folder at every start (100,000 on-demand names: seconds before
 * the first handshake). Removing a name removes its folder whole. A file
 * younger than a minute may be another process's write in progress: kept.
 */
static void
sweep_tmp(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	struct stat	 st;
	time_t		 old = time(NULL) - 60;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".tmp.") != NULL &&
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime < old)
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

struct store *
store_open_file(const char *state_dir, const char *directory_url, struct errbuf *eb)
{
	struct store_file	*f = xcalloc(1, sizeof(*f));
	char			*slug, *certs;

	f->base.ops = &file_ops;
	f->root = xstrdup(state_dir);
	pthread_mutex_init(&f->mtx, NULL);
	if (directory_url == NULL)
		return &f->base;
	f->base.ca = xstrdup(directory_url);
	slug = store_ca_slug(directory_url);
	f->dir = xasprintf("%s/%s", state_dir, slug);
	free(slug);
	certs = xasprintf("%s/certs", f->dir);
	if (mkdirs(certs, eb) == -1) {
		free(certs);
		store_close(&f->base);
		return NULL;
	}
	free(certs);
	return &f->base;
}

static void
file_close(struct store *s)
{
	struct store_file *f = F(s);

	for (size_t i = 0; i < f->nchal; i++) {
		free(f->chal[i].key);
		free(f->chal[i].value);
	}
	free(f->chal);
	pthread_mutex_destroy(&f->mtx);
	free(f->root);
	free(f->dir);
	free(s->ca);
	free(f);
}

char *
slurp(const char *path, size_t *len)
{
	FILE	*fp = fopen(path, "rb");
	char	*buf;
	size_t	 n;

	if (fp == NULL)
		return NULL;
	buf = xmalloc(STORE_MAX_FILE + 1);
	n = fread(buf, 1, STORE_MAX_FILE, fp);
	fclose(fp);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

static char *
cert_path(const char *dir, const char *name, enum certfile_keytype kt,
    const char *ext)
{
	return xasprintf("%s/certs/%s/%s.%s", dir, name, certfile_keytype_names[kt], ext);
}

/* ---- certificates -------------------------------------------------------- */

/* The certificate of name in the CA folder dir, or NULL (eb says why). */
static struct certfile *
cert_read(const char *dir, const char *name, enum certfile_keytype kt,
    struct errbuf *eb)
{
	struct certfile	*cf = NULL;
	char		*path;

	if (dir == NULL || !store_name_ok(name))
		return NULL;
	path = cert_path(dir, name, kt, "pem");
	if (access(path, F_OK) == 0)
		cf = certfile_load(path, path, eb);
	free(path);
	return cf;
}

static struct certfile *
file_cert_get(struct store *s, const char *name, enum certfile_keytype kt,
    struct errbuf *eb)
{
	return cert_read(F(s)->dir, name, kt, eb);
}

static int
file_cert_put(struct store *s, const char *name, const struct certfile *cf,
    const char *chain_pem, const char *key_pem, struct errbuf *eb)
{
	struct store_file	*f = F(s);
	char			*dir, *path, *bundle;
	int			 rc;

	if (f->dir == NULL || !store_name_ok(name))
		return errbuf_set(eb, "store: bad certificate name \"%s\"", name);
	dir = xasprintf("%s/certs/%s", f->dir, name);
	if (mkdirs(dir, eb) == -1) {
		free(dir);
		return -1;
	}
	sweep_tmp(dir);
	path = cert_path(f->dir, name, cf->keytype, "pem");
	bundle = xasprintf("%s%s", key_pem, chain_pem);
	rc = atomicfile_write(path, bundle, strlen(bundle), 0600, eb);
	OPENSSL_cleanse(bundle, strlen(bundle));
	free(bundle);
	free(path);
	free(dir);
	return rc;
}

/* ---- renewal state --------------------------------------------------------- */

/* The renewal state of name in the CA folder dir: 0, or -1 if none. */
static int
renewal_read(const char *dir, const char *name, enum certfile_keytype kt,
    struct store_renewal *r)
{
	char	*path, *text;
	int	 rc;

	if (dir == NULL || !store_name_ok(name))
		return -1;
	path = cert_path(dir, name, kt, "json");
	text = slurp(path, NULL);
	free(path);
	if (text == NULL)
		return -1;
	rc = renewal_json_decode(text, strlen(text), r);
	free(text);
	return rc;
}

static int
file_renewal_get(struct store *s, const char *name, enum certfile_keytype kt,
    struct store_renewal *r)
{
	return renewal_read(F(s)->dir, name, kt, r);
}

static int
file_renewal_put(struct store *s, const char *name, enum certfile_keytype kt,
    const struct store_renewal *r, const struct certfile *cur, struct errbuf *eb)
{
	struct store_file	*f = F(s);
	char			*dir, *path, *text;
	int			 rc = -1;

	if (f->dir == NULL || !store_name_ok(name))
		return errbuf_set(eb, "store: bad name \"%s\"", name);
	if ((text = renewal_json_encode(name, kt, r, cur, 1)) == NULL)
		return errbuf_set(eb, "store: cannot encode the renewal state");
	dir = xasprintf("%s/certs/%s", f->dir, name);
	if (mkdirs(dir, eb) == 0) {
		path = cert_path(f->dir, name, kt, "json");
		rc = atomicfile_write(path, text, strlen(text), 0600, eb);
		free(path);
	}
	free(dir);
	free(text);
	return rc;
}

/* ---- listing --------------------------------------------------------------- */

static void
list_ca(const char *ca, const char *cadir, store_list_fn *fn,
    void *arg, int *n)
{
	char		*certs = xasprintf("%s/certs", cadir);
	DIR		*d;
	struct dirent	*e;

	if ((d = opendir(certs)) == NULL) {
		free(certs);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!store_name_ok(e->d_name))
			continue;
		for (int k = 0; k < CERTFILE__MAX; k++) {
			struct store_entry	 en;
			struct store_renewal	 r;
			struct errbuf		 eb;
			char			*pem = cert_path(cadir, e->d_name, k, "pem");
			int			 has_pem = access(pem, F_OK) == 0;

			free(pem);
			memset(&en, 0, sizeof(en));
			eb.msg[0] = '\0';
			en.ca = ca;
			en.name = e->d_name;
			en.kt = (enum certfile_keytype)k;
			en.cf = has_pem ? cert_read(cadir, e->d_name, k, &eb) : NULL;
			en.err = has_pem && en.cf == NULL ? eb.msg : NULL;
			memset(&r, 0, sizeof(r));
			en.renewal = renewal_read(cadir, e->d_name, k, &r) == 0 ? &r : NULL;
			if (has_pem || en.renewal != NULL) {
				fn(&en, arg);
				(*n)++;
			}
			certfile_unref(en.cf);
		}
	}
	closedir(d);
	free(certs);
}

static int
file_list(struct store *s, store_list_fn *fn, void *arg)
{
	struct store_file	*f = F(s);
	DIR			*d;
	struct dirent		*e;
	int			 n = 0;

	if (f->dir != NULL) {
		const char *slash = strrchr(f->dir, '/');
		list_ca(slash ? slash + 1 : f->dir, f->dir, fn, arg, &n);
		return n;
	}
	if ((d = opendir(f->root)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *cadir;
		if (!store_name_ok(e->d_name) || strcmp(e->d_name, "renew-requests") == 0)
			continue;
		cadir = xasprintf("%s/%s", f->root, e->d_name);
		list_ca(e->d_name, cadir, fn, arg, &n);
		free(cadir);
	}
	closedir(d);
	return n;
}

/* ---- account --------------------------------------------------------------- */

static EVP_PKEY *
file_account_key(struct store *s, struct errbuf *eb)
{
	struct store_file	*f = F(s);
	char			*path, *pem;
	EVP_PKEY		*pk = NULL;
	BIO			*b;
	size_t			 len;

	if (f->dir == NULL) {
		errbuf_set(eb, "store: no CA namespace");
		return NULL;
	}
	path = xasprintf("%s/account.key", f->dir);
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
	/* No account key yet: make one and keep it. */
	if ((pk = keygen(CERTFILE_EC, eb)) != NULL) {
		char *out = keygen_pem(pk);
		if (out == NULL || atomicfile_write(path, out, strlen(out), 0600, eb) == -1) {
			if (out == NULL)
				errbuf_set(eb, "account key: PEM encoding failed");
			EVP_PKEY_free(pk);
			pk = NULL;
		}
		if (out != NULL) {
			OPENSSL_cleanse(out, strlen(out));
			free(out);
		}
	}
	free(path);
	return pk;
}

static char *
file_account_url(struct store *s)
{
	struct store_file	*f = F(s);
	char			*path, *url;
	size_t			 n;

	if (f->dir == NULL)
		return NULL;
	path = xasprintf("%s/account.url", f->dir);
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

static int
file_account_url_put(struct store *s, const char *url, struct errbuf *eb)
{
	struct store_file	*f = F(s);
	char			*path, *data;
	int			 rc;

	if (f->dir == NULL)
		return errbuf_set(eb, "store: no CA namespace");
	path = xasprintf("%s/account.url", f->dir);
	data = xasprintf("%s\n", url);
	rc = atomicfile_write(path, data, strlen(data), 0600, eb);
	free(data);
	free(path);
	return rc;
}

/* ---- locks ----------------------------------------------------------------- */

static struct store_lock *
file_lock_acquire(struct store *s, const char *name, long ttl, struct errbuf *eb)
{
	struct store_file	*f = F(s);
	struct file_lock	*l;
	char			*dir, *path;
	int			 fd;

	(void)ttl;
	if (f->dir == NULL || !store_name_ok(name)) {
		errbuf_set(eb, "store: bad lock name \"%s\"", name);
		errno = EINVAL;
		return NULL;
	}
	dir = xasprintf("%s/certs/%s", f->dir, name);
	if (mkdirs(dir, eb) == -1) {
		free(dir);
		return NULL;
	}
	path = xasprintf("%s/.lock", dir);
	free(dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd == -1) {
		errbuf_set(eb, "lock %s: %s", name, strerror(errno));
		return NULL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;
		errbuf_set(eb, "lock %s: %s", name, e == EWOULDBLOCK ?
		    "held by another process" : strerror(e));
		close(fd);
		errno = e;
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->base.s = s;
	l->fd = fd;
	return &l->base;
}

static int
file_lock_keepalive(struct store_lock *l)
{
	return ((struct file_lock *)l)->fd >= 0 ? 0 : -1;
}

static int
file_lock_check(struct store_lock *l)
{
	return ((struct file_lock *)l)->fd >= 0;
}

static void
file_lock_release(struct store_lock *l)
{
	struct file_lock *fl = (struct file_lock *)l;

	if (fl->fd >= 0)
		close(fl->fd);	/* closing releases the flock */
	free(fl);
}

/* ---- challenges (in memory) --------------------------------------------- */

static void
chal_expire(struct store_file *f, time_t now)
{
	for (size_t i = 0; i < f->nchal; ) {
		if (f->chal[i].expires > 0 && f->chal[i].expires <= now) {
			free(f->chal[i].key);
			free(f->chal[i].value);
			f->chal[i] = f->chal[--f->nchal];
		} else
			i++;
	}
}

static int
file_challenge_put(struct store *s, const char *key, const char *value, long ttl,
    struct errbuf *eb)
{
	struct store_file	*f = F(s);
	time_t			 now = time(NULL);
	size_t			 i;

	pthread_mutex_lock(&f->mtx);
	chal_expire(f, now);
	for (i = 0; i < f->nchal; i++)
		if (strcmp(f->chal[i].key, key) == 0)
			break;
	if (i == f->nchal) {
		if (f->nchal >= STORE_MAX_CHAL) {
			pthread_mutex_unlock(&f->mtx);
			return errbuf_set(eb, "store: too many challenges in flight");
		}
		f->chal = xrealloc(f->chal, (f->nchal + 1) * sizeof(*f->chal));
		f->chal[f->nchal].key = xstrdup(key);
		f->chal[f->nchal].value = NULL;
		f->nchal++;
	}
	free(f->chal[i].value);
	f->chal[i].value = xstrdup(value);
	f->chal[i].expires = ttl > 0 ? now + ttl : 0;
	pthread_mutex_unlock(&f->mtx);
	return 0;
}

static char *
file_challenge_get(struct store *s, const char *key)
{
	struct store_file	*f = F(s);
	char			*v = NULL;

	pthread_mutex_lock(&f->mtx);
	chal_expire(f, time(NULL));
	for (size_t i = 0; i < f->nchal; i++)
		if (strcmp(f->chal[i].key, key) == 0) {
			v = xstrdup(f->chal[i].value);
			break;
		}
	pthread_mutex_unlock(&f->mtx);
	return v;
}

static void
file_challenge_del(struct store *s, const char *key)
{
	struct store_file *f = F(s);

	pthread_mutex_lock(&f->mtx);
	for (size_t i = 0; i < f->nchal; i++)
		if (strcmp(f->chal[i].key, key) == 0) {
			free(f->chal[i].key);
			free(f->chal[i].value);
			f->chal[i] = f->chal[--f->nchal];
			break;
		}
	pthread_mutex_unlock(&f->mtx);
}

/* Copied out under the lock: fn may call into the store. */
static int
file_challenge_list(struct store *s, store_challenge_fn *fn, void *arg)
{
	struct store_file	*f = F(s);
	char			**kv;
	size_t			 n;

	pthread_mutex_lock(&f->mtx);
	chal_expire(f, time(NULL));
	n = f->nchal;
	kv = xcalloc(2 * n + 1, sizeof(*kv));
	for (size_t i = 0; i < n; i++) {
		kv[2 * i] = xstrdup(f->chal[i].key);
		kv[2 * i + 1] = xstrdup(f->chal[i].value);
	}
	pthread_mutex_unlock(&f->mtx);
	for (size_t i = 0; i < n; i++) {
		fn(kv[2 * i], kv[2 * i + 1], arg);
		free(kv[2 * i]);
		free(kv[2 * i + 1]);
	}
	free(kv);
	return 0;
}

/* ---- private blobs (ticket, ECH and sticky keys) --------------------------- */

/*
 * A private blob at STATE_DIR/file: refused when others may read it (a key
 * file someone widened is not trusted), or when it does not fit cap.
 */
static int
file_blob_get(struct store *s, enum store_blob b, void *buf, size_t cap,
    size_t *len, time_t *updated)
{
	char		*path = xasprintf("%s/%s", F(s)->root, store_blob_files[b]);
	struct stat	 st;
	int		 fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t		 n;

	free(path);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || (st.st_mode & 077) != 0 || (size_t)st.st_size > cap ||
	    (n = read(fd, buf, cap)) != st.st_size) {
		close(fd);
		return -1;
	}
	close(fd);
	*len = (size_t)n;
	if (updated != NULL)
		*updated = st.st_mtime;
	return 0;
}

static int
file_blob_put(struct store *s, enum store_blob b, const void *buf, size_t len,
    struct errbuf *eb)
{
	char	*path = xasprintf("%s/%s", F(s)->root, store_blob_files[b]);
	int	 rc;

	if ((rc = mkdirs(F(s)->root, eb)) == 0)
		rc = atomicfile_write(path, buf, len, 0600, eb);
	free(path);
	return rc;
}

/* ---- renewal requests -------------------------------------------------- */

static int
file_renew_request(struct store *s, const char *name, struct errbuf *eb)
{
	char	*dir = xasprintf("%s/renew-requests", F(s)->root), *path;
	int	 rc = -1;

	if (!store_name_ok(name)) {
		free(dir);
		return errbuf_set(eb, "bad name \"%s\"", name);
	}
	path = xasprintf("%s/%s", dir, name);
	if (mkdirs(dir, eb) == 0)
		rc = atomicfile_write(path, "", 0, 0600, eb);
	free(path);
	free(dir);
	return rc;
}

static void
file_renew_requests_take(struct store *s, void (*fn)(const char *, void *), void *arg)
{
	char		*dir = xasprintf("%s/renew-requests", F(s)->root);
	DIR		*d;
	struct dirent	*e;

	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			char *p;
			if (!store_name_ok(e->d_name) || strstr(e->d_name, ".tmp.") != NULL)
				continue;
			p = xasprintf("%s/%s", dir, e->d_name);
			if (unlink(p) == 0)
				fn(e->d_name, arg);
			free(p);
		}
		closedir(d);
	}
	free(dir);
}

/* ---- pid file ------------------------------------------------------------ */

int
store_file_pid_write(const char *state_dir, struct errbuf *eb)
{
	char	*path = xasprintf("%s/tlsgate.pid", state_dir);
	char	*data = xasprintf("%ld\n", (long)getpid());
	int	 rc;

	if ((rc = mkdirs(state_dir, eb)) == 0)
		rc = atomicfile_write(path, data, strlen(data), 0644, eb);
	free(data);
	free(path);
	return rc;
}

long
store_file_pid_read(const char *state_dir)
{
	char	*path = xasprintf("%s/tlsgate.pid", state_dir);
	char	*text = slurp(path, NULL);
	long	 pid = 0;

	free(path);
	if (text != NULL && sscanf(text, "%ld", &pid) != 1)
		pid = 0;
	free(text);
	return pid > 1 ? pid : 0;
}

void
store_file_pid_remove(const char *state_dir)
{
	char *path = xasprintf("%s/tlsgate.pid", state_dir);

	unlink(path);
	free(path);
}

static const struct store_ops file_ops = {
	.kind = "file",
	.close = file_close,
	.cert_get = file_cert_get,
	.cert_put = file_cert_put,
	.list = file_list,
	.account_key = file_account_key,
	.account_url = file_account_url,
	.account_url_put = file_account_url_put,
	.renewal_get = file_renewal_get,
	.renewal_put = file_renewal_put,
	.lock_acquire = file_lock_acquire,
	.lock_keepalive = file_lock_keepalive,
	.lock_check = file_lock_check,
	.lock_release = file_lock_release,
	.challenge_put = file_challenge_put,
	.challenge_get = file_challenge_get,
	.challenge_del = file_challenge_del,
	.challenge_list = file_challenge_list,
	.blob_get = file_blob_get,
	.blob_put = file_blob_put,
	.renew_request = file_renew_request,
	.renew_requests_take = file_renew_requests_take,
	.ondemand_touch = file_ondemand_touch,
	.ondemand_get = file_ondemand_get,
	.ondemand_list = file_ondemand_list,
	.ondemand_remove = file_ondemand_remove,
	.ondemand_count = file_ondemand_count,
};
