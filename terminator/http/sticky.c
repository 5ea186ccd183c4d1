/*
 * sticky.c - sticky-session cookies (sticky.h): the key file, the value's
 * encoding and tag, and the backend lookup by id (an open-addressing table
 * built once per pool, so a request costs a hash probe, not a walk of the
 * pool).
 */
#include "sticky.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "hfield.h"
#include "pool.h"
#include "store.h"
#include "xalloc.h"

#define STICKY_VERSION	1
#define STICKY_KEY_LEN	32
#define STICKY_TAG_LEN	16
/* version, expiry (8, big-endian seconds), backend id (8), tag */
#define STICKY_PAYLOAD	(1 + 8 + 8)
#define STICKY_RAW	(STICKY_PAYLOAD + STICKY_TAG_LEN)
#define STICKY_B64	((STICKY_RAW * 4 + 2) / 3)

struct sticky {
	char		*cookie, *path, *scope;
	long		 ttl;
	struct pool	*p;
	uint32_t	*tab;		/* index + 1 into p->b; 0: empty */
	size_t		 mask;
};

static pthread_rwlock_t	key_lock = PTHREAD_RWLOCK_INITIALIZER;
static uint8_t		key[STICKY_KEY_LEN];
static char		*key_dir;	/* main thread only */
static int		key_set;

/* --- the key file ------------------------------------------------------ */

static int
unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < 2 * n; i++) {
		int c = s[i], v = c >= '0' && c <= '9' ? c - '0' :
		    c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return 0;
}

/* The key's text: STICKY_KEY_LEN bytes in hex, and a newline. */
static int
key_parse(const char *buf, ssize_t n, uint8_t *out)
{
	if (n < STICKY_KEY_LEN * 2 || unhex(buf, out, STICKY_KEY_LEN) == -1 ||
	    (n > STICKY_KEY_LEN * 2 && buf[STICKY_KEY_LEN * 2] != '\n'))
		return -1;
	return 0;
}

static void
key_new_text(char text[STICKY_KEY_LEN * 2 + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t	k[STICKY_KEY_LEN];

	RAND_bytes(k, sizeof(k));
	for (size_t i = 0; i < sizeof(k); i++) {
		text[2 * i] = hex[k[i] >> 4];
		text[2 * i + 1] = hex[k[i] & 15];
	}
	text[STICKY_KEY_LEN * 2] = '\n';
	OPENSSL_cleanse(k, sizeof(k));
}

/* 0 with the key in out; 1 if the file does not exist; -1 with eb set. */
static int
key_read(const char *path, uint8_t *out, struct errbuf *eb)
{
	char		buf[STICKY_KEY_LEN * 2 + 8];
	struct stat	st;
	ssize_t		n;
	int		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1)
		return errno == ENOENT ? 1 : errbuf_set(eb, "%s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) == -1 || (st.st_mode & 077) != 0) {
		close(fd);
		return errbuf_set(eb, "%s: readable by others; chmod 600 it (or "
		    "remove it: sticky cookies issued with it become invalid)", path);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (key_parse(buf, n, out) == -1) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return errbuf_set(eb, "%s: not %d hex digits; remove it to make a "
		    "new key", path, STICKY_KEY_LEN * 2);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

/* Make path with a new key, unless another process made it first (link()
 * never replaces). 0 or -1 with eb set. */
static int
key_create(const char *dir, const char *path, struct errbuf *eb)
{
	char	 text[STICKY_KEY_LEN * 2 + 1], *tmp;
	int	 fd, rc = 0;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return errbuf_set(eb, "%s: %s", dir, strerror(errno));
	key_new_text(text);
	tmp = xasprintf("%s/.sticky.key.%ld", dir, (long)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, text, sizeof(text)) != (ssize_t)sizeof(text) ||
	    fsync(fd) == -1)
		rc = errbuf_set(eb, "%s: %s", tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	if (rc == 0 && link(tmp, path) == -1 && errno != EEXIST)
		rc = errbuf_set(eb, "%s: %s", path, strerror(errno));
	unlink(tmp);
	free(tmp);
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

/* From the store: 0 with the key in out; 1 if none is stored (or the file
 * backend refused it: readable by others); -1 with eb set. */
static int
key_get_store(struct store *st, uint8_t *out, struct errbuf *eb)
{
	char	buf[STICKY_KEY_LEN * 2 + 8];
	size_t	n = 0;
	int	rc = 0;

	if (store_blob_get(st, STORE_BLOB_STICKY, buf, sizeof(buf), &n, NULL) == -1)
		return 1;
	if (key_parse(buf, (ssize_t)n, out) == -1)
		rc = errbuf_set(eb, "the store's key is not %d hex digits",
		    STICKY_KEY_LEN * 2);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/*
 * The store's key, made under its "_sticky" lock when there is none, so
 * that every process and node of the store signs with the same one. A
 * process that finds another making it waits for it (3 s at most).
 */
static int
key_load_store(struct store *st, uint8_t *out, struct errbuf *eb)
{
	struct store_lock	*lk;
	char			 text[STICKY_KEY_LEN * 2 + 1];
	int			 rc;

	if ((rc = key_get_store(st, out, eb)) != 1)
		return rc;
	if ((lk = store_lock_acquire(st, "_sticky", 30, eb)) == NULL) {
		if (errno != EWOULDBLOCK)
			return -1;
		for (int i = 0; i < 30 && rc == 1; i++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			rc = key_get_store(st, out, eb);
		}
		return rc != 1 ? rc : errbuf_set(eb, "another process is making "
		    "it in the store, and has not within 3 s");
	}
	if ((rc = key_get_store(st, out, eb)) == 1) {
		key_new_text(text);
		if (store_lock_check(lk) != 1)
			rc = errbuf_set(eb, "the store's lock was lost");
		else if (store_blob_put(st, STORE_BLOB_STICKY, text, sizeof(text),
		    eb) == 0 && (rc = key_get_store(st, out, eb)) == 1)
			rc = errbuf_set(eb, "the store lost it as it was made");
		else if (rc == 1)
			rc = -1;
		OPENSSL_cleanse(text, sizeof(text));
	}
	store_lock_release(lk);
	return rc;
}

int
sticky_key_load(const char *state_dir, struct store *st, struct errbuf *eb)
{
	uint8_t	 k[STICKY_KEY_LEN];
	char	*path;
	int	 rc;

	if (st != NULL)
		rc = key_load_store(st, k, eb);
	else {
		if (key_set && key_dir != NULL && strcmp(key_dir, state_dir) == 0)
			return 0;
		path = xasprintf("%s/sticky.key", state_dir);
		if ((rc = key_read(path, k, eb)) == 1 &&
		    (rc = key_create(state_dir, path, eb)) == 0)
			rc = key_read(path, k, eb);	/* whoever linked first */
		if (rc == 1)
			rc = errbuf_set(eb, "%s: vanished after it was made", path);
		free(path);
	}
	if (rc != 0) {
		errbuf_prefix(eb, "sticky sessions' key");
		return -1;
	}
	pthread_rwlock_wrlock(&key_lock);
	memcpy(key, k, sizeof(key));
	key_set = 1;
	pthread_rwlock_unlock(&key_lock);
	OPENSSL_cleanse(k, sizeof(k));
	free(key_dir);
	key_dir = st != NULL ? NULL : xstrdup(state_dir);
	return 0;
}

/* --- values ------------------------------------------------------------ */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding; out has room for ((n * 4 + 2) / 3) + 1. */
static void
b64url(const uint8_t *in, size_t n, char *out)
{
	size_t	o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 |
		    (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
		    (i + 2 < n ? in[i + 2] : 0);
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = b64[v & 63];
	}
	out[o] = '\0';
}

/* Exactly STICKY_RAW bytes from n characters, or -1. */
static int
unb64url(const char *s, size_t n, uint8_t *out)
{
	uint32_t v = 0;
	size_t	 bits = 0, o = 0;

	if (n != STICKY_B64)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *p = s[i] != '\0' ? strchr(b64, s[i]) : NULL;
		if (p == NULL)
			return -1;
		v = v << 6 | (uint32_t)(p - b64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (o == STICKY_RAW)
				return -1;
			out[o++] = (uint8_t)(v >> bits);
		}
	}
	return o == STICKY_RAW ? 0 : -1;
}

static void
tag(const struct sticky *sk, const uint8_t *payload, uint8_t *out)
{
	static const char	 ctx[] = "tlsgate-sticky";
	uint8_t			 k[STICKY_KEY_LEN], md[EVP_MAX_MD_SIZE];
	unsigned		 mdlen = 0;
	HMAC_CTX		 h;

	pthread_rwlock_rdlock(&key_lock);
	memcpy(k, key, sizeof(k));
	pthread_rwlock_unlock(&key_lock);
	HMAC_CTX_init(&h);
	if (!HMAC_Init_ex(&h, k, sizeof(k), EVP_sha256(), NULL) ||
	    !HMAC_Update(&h, (const uint8_t *)ctx, sizeof(ctx)) ||
	    !HMAC_Update(&h, (const uint8_t *)sk->cookie, strlen(sk->cookie) + 1) ||
	    !HMAC_Update(&h, (const uint8_t *)sk->scope, strlen(sk->scope) + 1) ||
	    !HMAC_Update(&h, payload, STICKY_PAYLOAD) ||
	    !HMAC_Final(&h, md, &mdlen) || mdlen < STICKY_TAG_LEN)
		RAND_bytes(md, STICKY_TAG_LEN);		/* matches nothing */
	HMAC_CTX_cleanup(&h);
	memcpy(out, md, STICKY_TAG_LEN);
	OPENSSL_cleanse(k, sizeof(k));
}

static size_t
slot(const struct sticky *sk, uint64_t id)
{
	return (size_t)(id ^ id >> 29) & sk->mask;
}

struct sticky *
sticky_new(const struct sticky_cfg *cfg, struct pool *p, const char *path,
    struct errbuf *eb)
{
	struct sticky	*sk;
	size_t		 cap = 16;

	if (!key_set)
		return errbuf_set(eb, "sticky: no key loaded"), NULL;
	sk = xcalloc(1, sizeof(*sk));
	sk->cookie = xstrdup(cfg->cookie);
	sk->ttl = cfg->ttl;
	sk->path = xstrdup(path);
	sk->scope = xstrdup(p->site);
	sk->p = p;
	while (cap < 2 * p->n)
		cap <<= 1;
	sk->tab = xcalloc(cap, sizeof(*sk->tab));
	sk->mask = cap - 1;
	for (size_t i = 0; i < p->n; i++) {
		size_t j = slot(sk, p->b[i]->hash);

		while (sk->tab[j] != 0)
			j = (j + 1) & sk->mask;
		sk->tab[j] = (uint32_t)i + 1;
	}
	return sk;
}

void
sticky_free(struct sticky *sk)
{
	if (sk == NULL)
		return;
	free(sk->cookie);
	free(sk->path);
	free(sk->scope);
	free(sk->tab);
	free(sk);
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* The backend a value names, if the value is genuine, unexpired, and the
 * backend usable; else NULL. */
static struct backend *
sticky_check(const struct sticky *sk, const char *v, size_t n)
{
	uint8_t		raw[STICKY_RAW], want[STICKY_TAG_LEN];
	uint64_t	exp, id;

	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {	/* RFC 6265 allows */
		v++;
		n -= 2;
	}
	if (unb64url(v, n, raw) == -1 || raw[0] != STICKY_VERSION)
		return NULL;
	tag(sk, raw, want);
	if (CRYPTO_memcmp(want, raw + STICKY_PAYLOAD, STICKY_TAG_LEN) != 0)
		return NULL;
	exp = get64(raw + 1);
	if (exp != 0 && (uint64_t)time(NULL) >= exp)
		return NULL;
	id = get64(raw + 9);
	for (size_t j = slot(sk, id); sk->tab[j] != 0; j = (j + 1) & sk->mask) {
		size_t i = sk->tab[j] - 1;
		if (sk->p->b[i]->hash == id)
			return pool_usable(sk->p, i) ? sk->p->b[i] : NULL;
	}
	return NULL;		/* removed from the pool */
}

struct backend *
sticky_find(const struct sticky *sk, const struct hfields *h)
{
	size_t cl = strlen(sk->cookie);

	for (uint32_t i = 0; i < h->n; i++) {
		const char *p, *e;

		if (h->v[i].nlen != 6 || memcmp(h->v[i].name, "cookie", 6) != 0)
			continue;
		/* "a=1; b=2": each pair, spaces around it skipped. */
		for (p = h->v[i].value; *p != '\0'; p = *e ? e + 1 : e) {
			const char *eq, *ve;
			struct backend *b;

			while (*p == ' ' || *p == '\t')
				p++;
			e = p + strcspn(p, ";");
			eq = memchr(p, '=', (size_t)(e - p));
			if (eq == NULL || (size_t)(eq - p) != cl ||
			    memcmp(p, sk->cookie, cl) != 0)
				continue;
			for (ve = e; ve > eq + 1 && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
				;
			if ((b = sticky_check(sk, eq + 1, (size_t)(ve - eq - 1))) != NULL)
				return b;
		}
	}
	return NULL;
}

void
sticky_set_cookie(const struct sticky *sk, const struct backend *b,
    struct hfields *h)
{
	uint8_t	raw[STICKY_RAW];
	char	val[STICKY_B64 + 1], *f;

	raw[0] = STICKY_VERSION;
	put64(raw + 1, sk->ttl > 0 ? (uint64_t)time(NULL) + (uint64_t)sk->ttl : 0);
	put64(raw + 9, b->hash);
	tag(sk, raw, raw + STICKY_PAYLOAD);
	b64url(raw, sizeof(raw), val);
	if (sk->ttl > 0)
		f = xasprintf("%s=%s; Path=%s; Max-Age=%ld; Secure; HttpOnly",
		    sk->cookie, val, sk->path, sk->ttl);
	else
		f = xasprintf("%s=%s; Path=%s; Secure; HttpOnly", sk->cookie,
		    val, sk->path);
	hfields_add(h, "set-cookie", 10, f, strlen(f));
	free(f);
}
