/*
 * etcd_seal.c - value envelopes and AES-256-GCM at rest (etcd_seal.h).
 */
#include "etcd_seal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/aead.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "xalloc.h"

#define SEAL_HDR	20	/* magic 3, kind 1, writer 8, time 8 */
#define SEAL_NONCE	12
#define SEAL_KEY	32

struct etcd_seal {
	EVP_AEAD_CTX	ctx;
	EVP_AEAD_CTX	prev;		/* opens only: the previous key */
	int		has_prev;
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The 32 bytes of the key file at path into key: 0, or -1 with eb set. */
static int
key_read(const char *path, unsigned char key[SEAL_KEY], struct errbuf *eb)
{
	struct stat		 st;
	unsigned char		 buf[80];
	ssize_t			 n;
	int			 fd;

	if (path == NULL || path[0] == '\0')
		return errbuf_set(eb, "etcd: no encryption key file (a node "
		    "without the cluster's key cannot start)");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errbuf_set(eb, "etcd: encryption key %s: %s (a node "
		    "without the cluster's key cannot start)", path,
		    strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return errbuf_set(eb, "etcd: encryption key %s is not a "
		    "regular file", path);
	}
	if ((st.st_mode & 077) != 0) {
		close(fd);
		return errbuf_set(eb, "etcd: encryption key %s has mode %04o: "
		    "group and others must have no access (chmod 600)", path,
		    (unsigned)(st.st_mode & 07777));
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n == SEAL_KEY)
		memcpy(key, buf, SEAL_KEY);
	else if (n == 2 * SEAL_KEY || (n == 2 * SEAL_KEY + 1 &&
	    buf[2 * SEAL_KEY] == '\n')) {
		for (int i = 0; i < SEAL_KEY; i++) {
			int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				OPENSSL_cleanse(buf, sizeof(buf));
				return errbuf_set(eb, "etcd: encryption key %s: "
				    "not 64 hex digits", path);
			}
			key[i] = (unsigned char)(hi << 4 | lo);
		}
	} else {
		OPENSSL_cleanse(buf, sizeof(buf));
		return errbuf_set(eb, "etcd: encryption key %s: %zd bytes, "
		    "want 32 raw bytes or 64 hex digits", path, n);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

struct etcd_seal *
etcd_seal_load(const char *path, struct errbuf *eb)
{
	struct etcd_seal	*s;
	unsigned char		 key[SEAL_KEY];

	if (key_read(path, key, eb) == -1)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	if (!EVP_AEAD_CTX_init(&s->ctx, EVP_aead_aes_256_gcm(), key, SEAL_KEY,
	    EVP_AEAD_DEFAULT_TAG_LENGTH, NULL)) {
		OPENSSL_cleanse(key, sizeof(key));
		free(s);
		return (errbuf_set(eb, "etcd: AES-256-GCM setup failed"), NULL);
	}
	OPENSSL_cleanse(key, sizeof(key));
	return s;
}

int
etcd_seal_add_previous(struct etcd_seal *s, const char *path, struct errbuf *eb)
{
	unsigned char key[SEAL_KEY];

	if (s->has_prev)
		return errbuf_set(eb, "etcd: a previous key is set already");
	if (key_read(path, key, eb) == -1)
		return -1;
	if (!EVP_AEAD_CTX_init(&s->prev, EVP_aead_aes_256_gcm(), key, SEAL_KEY,
	    EVP_AEAD_DEFAULT_TAG_LENGTH, NULL)) {
		OPENSSL_cleanse(key, sizeof(key));
		return errbuf_set(eb, "etcd: AES-256-GCM setup failed");
	}
	OPENSSL_cleanse(key, sizeof(key));
	s->has_prev = 1;
	return 0;
}

int
etcd_seal_has_previous(const struct etcd_seal *s)
{
	return s->has_prev;
}

void
etcd_seal_free(struct etcd_seal *s)
{
	if (s == NULL)
		return;
	EVP_AEAD_CTX_cleanup(&s->ctx);
	if (s->has_prev)
		EVP_AEAD_CTX_cleanup(&s->prev);
	free(s);
}

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

unsigned char *
etcd_seal_wrap(const struct etcd_seal *s, const char *key, uint64_t writer,
    int private, const void *p, size_t n, size_t *outlen)
{
	size_t		 over = EVP_AEAD_max_overhead(EVP_aead_aes_256_gcm());
	size_t		 cap = SEAL_HDR + SEAL_NONCE + n + over, clen;
	unsigned char	*out = xmalloc(cap);

	memcpy(out, "TG1", 3);
	out[3] = private ? 'E' : 'P';
	put64(out + 4, writer);
	put64(out + 12, (uint64_t)time(NULL));
	if (!private) {
		memcpy(out + SEAL_HDR, p, n);
		*outlen = SEAL_HDR + n;
		return out;
	}
	RAND_bytes(out + SEAL_HDR, SEAL_NONCE);
	if (!EVP_AEAD_CTX_seal(&s->ctx, out + SEAL_HDR + SEAL_NONCE, &clen,
	    cap - SEAL_HDR - SEAL_NONCE, out + SEAL_HDR, SEAL_NONCE, p, n,
	    (const uint8_t *)key, strlen(key)))
		abort();	/* only on a programming error (sizes) */
	*outlen = SEAL_HDR + SEAL_NONCE + clen;
	return out;
}

int
etcd_seal_open(const struct etcd_seal *s, const char *key,
    const unsigned char *v, size_t n, struct etcd_value *out,
    struct errbuf *eb)
{
	size_t plen;

	memset(out, 0, sizeof(*out));
	if (n < SEAL_HDR || memcmp(v, "TG1", 3) != 0 ||
	    (v[3] != 'P' && v[3] != 'E'))
		return errbuf_set(eb, "etcd: %s: not a value tlsgate wrote", key);
	out->writer = get64(v + 4);
	out->written = (time_t)get64(v + 12);
	if (v[3] == 'P') {
		out->len = n - SEAL_HDR;
		out->data = xmalloc(out->len + 1);
		memcpy(out->data, v + SEAL_HDR, out->len);
		out->data[out->len] = '\0';
		return 0;
	}
	if (n < SEAL_HDR + SEAL_NONCE)
		return errbuf_set(eb, "etcd: %s: sealed value too short", key);
	out->data = xmalloc(n + 1);
	if (!EVP_AEAD_CTX_open(&s->ctx, out->data, &plen, n, v + SEAL_HDR,
	    SEAL_NONCE, v + SEAL_HDR + SEAL_NONCE, n - SEAL_HDR - SEAL_NONCE,
	    (const uint8_t *)key, strlen(key)) && (!s->has_prev ||
	    !(out->stale = EVP_AEAD_CTX_open(&s->prev, out->data, &plen, n,
	    v + SEAL_HDR, SEAL_NONCE, v + SEAL_HDR + SEAL_NONCE,
	    n - SEAL_HDR - SEAL_NONCE, (const uint8_t *)key, strlen(key))))) {
		free(out->data);
		out->data = NULL;
		return errbuf_set(eb, "etcd: %s: the sealed value does not open "
		    "(another encryption key, or altered); not used", key);
	}
	out->len = plen;
	out->data[plen] = '\0';
	return 0;
}

uint64_t
etcd_seal_writer(const unsigned char *v, size_t n)
{
	if (n < SEAL_HDR || memcmp(v, "TG1", 3) != 0)
		return 0;
	return get64(v + 4);
}
