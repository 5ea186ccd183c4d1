/*
 * ticket.c - the RFC 5077-style ticket key callback (AES-128-CBC and
 * HMAC-SHA256, as BoringSSL's built-in keys use) over a two-key ring guarded
 * by a read-write lock. Handshakes only read; rotation, every few hours, writes.
 * The ring can be shared through the store (ticket.h says how): its blob is
 * "TGTK1" and two keys (current, previous), each a creation time in
 * milliseconds (big-endian, 0 for none) then name, AES and HMAC keys.
 */
#include "ticket.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/cipher.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "errbuf.h"
#include "log.h"
#include "store.h"

struct ticket_key {
	uint8_t	name[16];
	uint8_t	aes[16];
	uint8_t	hmac[32];
	int	set;
	int64_t	created;	/* ms since the epoch; for the store's ring */
};

#define TICKET_MAGIC	"TGTK1"
#define TICKET_KEYLEN	(8 + 16 + 16 + 32)
#define TICKET_BLOBLEN	(sizeof(TICKET_MAGIC) - 1 + 2 * TICKET_KEYLEN)
#define TICKET_LOCK	"_tickets"

static pthread_rwlock_t	 ticket_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct ticket_key ticket_cur, ticket_prev;
/* Set by ticket_use_store (main thread, no store task running), used by
 * the store task thread (ticket_rotate, ticket_store_changed). */
static struct store	*ticket_st;
static long		 ticket_interval;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ticket_new_key(struct ticket_key *k)
{
	RAND_bytes(k->name, sizeof(k->name));
	RAND_bytes(k->aes, sizeof(k->aes));
	RAND_bytes(k->hmac, sizeof(k->hmac));
	k->set = 1;
	k->created = now_ms();
}

/* Make cur and prev the ring; logs why when the current key changed. */
static void
ticket_install(const struct ticket_key *cur, const struct ticket_key *prev,
    const char *why)
{
	int changed;

	pthread_rwlock_wrlock(&ticket_lock);
	changed = !ticket_cur.set || memcmp(ticket_cur.name, cur->name, 16) != 0;
	ticket_cur = *cur;
	ticket_prev = *prev;
	pthread_rwlock_unlock(&ticket_lock);
	if (changed)
		log_info("session ticket keys %s", why);
}

static void
key_pack(uint8_t *p, const struct ticket_key *k)
{
	uint64_t c = k->set ? (uint64_t)k->created : 0;

	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(c >> (56 - 8 * i));
	if (k->set) {
		memcpy(p + 8, k->name, 16);
		memcpy(p + 24, k->aes, 16);
		memcpy(p + 40, k->hmac, 32);
	} else
		memset(p + 8, 0, TICKET_KEYLEN - 8);
}

static void
key_unpack(const uint8_t *p, struct ticket_key *k)
{
	uint64_t c = 0;

	for (int i = 0; i < 8; i++)
		c = c << 8 | p[i];
	memset(k, 0, sizeof(*k));
	if (c == 0)
		return;
	k->created = (int64_t)c;
	memcpy(k->name, p + 8, 16);
	memcpy(k->aes, p + 24, 16);
	memcpy(k->hmac, p + 40, 32);
	k->set = 1;
}

/* The stored ring: 0, or -1 when none can be read (none, or not ours). */
static int
ring_get(struct ticket_key *cur, struct ticket_key *prev)
{
	uint8_t	buf[TICKET_BLOBLEN + 1];
	size_t	len = 0;
	int	rc = -1;

	if (store_tickets_get(ticket_st, buf, sizeof(buf), &len, NULL) == 0) {
		if (len == TICKET_BLOBLEN &&
		    memcmp(buf, TICKET_MAGIC, sizeof(TICKET_MAGIC) - 1) == 0) {
			key_unpack(buf + sizeof(TICKET_MAGIC) - 1, cur);
			key_unpack(buf + sizeof(TICKET_MAGIC) - 1 + TICKET_KEYLEN, prev);
			rc = cur->set ? 0 : -1;
		}
		if (rc == -1)
			log_warnx("session ticket keys in the store are not a key "
			    "ring this version reads (%zu bytes): replacing them", len);
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static int
ring_put(const struct ticket_key *cur, const struct ticket_key *prev,
    struct errbuf *eb)
{
	uint8_t	buf[TICKET_BLOBLEN];
	size_t	m = sizeof(TICKET_MAGIC) - 1;
	int	rc;

	memcpy(buf, TICKET_MAGIC, m);
	key_pack(buf + m, cur);
	key_pack(buf + m + TICKET_KEYLEN, prev);
	rc = store_tickets_put(ticket_st, buf, sizeof(buf), eb);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* A stored key made 90% of an interval ago or more is due for rotation. */
static int
ring_due(const struct ticket_key *cur)
{
	int64_t age = now_ms() - cur->created;

	return age >= ticket_interval * 900 || age < -ticket_interval * 1000;
}

/* Rotate without a store, or when the store fails: keys of our own. */
static void
rotate_local(const char *why)
{
	struct ticket_key k, prev;

	ticket_new_key(&k);
	pthread_rwlock_rdlock(&ticket_lock);
	prev = ticket_cur;
	pthread_rwlock_unlock(&ticket_lock);
	ticket_install(&k, &prev, why);
	OPENSSL_cleanse(&k, sizeof(k));
	OPENSSL_cleanse(&prev, sizeof(prev));
}

/*
 * Adopt the stored ring, or, when there is none or it is due and rotate is
 * set, make the next one under the store's lock and store it. Whoever holds
 * the lock rotates; a process that cannot get it adopts what is stored (the
 * holder's new ring reaches it through the feed or its next timer).
 */
static void
ticket_sync(int rotate)
{
	struct ticket_key	 cur, prev, k;
	struct store_lock	*lk;
	struct errbuf		 eb;
	int			 have;

	have = ring_get(&cur, &prev) == 0;
	if (have && (!rotate || !ring_due(&cur))) {
		ticket_install(&cur, &prev, "taken from the store");
		goto out;
	}
	eb.msg[0] = '\0';
	if ((lk = store_lock_acquire(ticket_st, TICKET_LOCK, 30, &eb)) == NULL) {
		/* Another process is making the first ring (nodes started
		 * together): it is stored within moments; wait for it rather
		 * than serve on keys of our own until the next rotation. */
		for (int i = 0; !have && errno == EWOULDBLOCK && i < 30; i++) {
			struct timespec ts = { 0, 100 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			have = ring_get(&cur, &prev) == 0;
			errno = EWOULDBLOCK;
		}
		if (have)
			ticket_install(&cur, &prev, "taken from the store");
		else if (errno != EWOULDBLOCK) {
			log_warnx("session ticket keys: the store's lock: %s; "
			    "rotating keys of this process only", eb.msg);
			rotate_local("rotated (this process only)");
		}
		goto out;
	}
	/* Another process may have rotated between the read and the lock. */
	have = ring_get(&cur, &prev) == 0;
	if (have && !ring_due(&cur)) {
		ticket_install(&cur, &prev, "taken from the store");
		store_lock_release(lk);
		goto out;
	}
	ticket_new_key(&k);
	if (!have) {
		pthread_rwlock_rdlock(&ticket_lock);
		cur = ticket_cur;
		pthread_rwlock_unlock(&ticket_lock);
	}
	if (store_lock_check(lk) != 1)
		errbuf_set(&eb, "the store's lock was lost");
	else if (ring_put(&k, &cur, &eb) == 0) {
		ticket_install(&k, &cur, "rotated (shared through the store)");
		store_lock_release(lk);
		goto out;
	}
	store_lock_release(lk);
	log_warnx("session ticket keys: cannot store them: %s; rotating keys of "
	    "this process only", eb.msg);
	ticket_install(&k, &cur, "rotated (this process only)");
out:
	OPENSSL_cleanse(&cur, sizeof(cur));
	OPENSSL_cleanse(&prev, sizeof(prev));
	OPENSSL_cleanse(&k, sizeof(k));
}

void
ticket_rotate(void)
{
	if (ticket_st == NULL)
		rotate_local("rotated");
	else
		ticket_sync(1);
}

void
ticket_use_store(struct store *st, long interval)
{
	ticket_st = st;
	ticket_interval = interval > 0 ? interval : 1;
	if (st != NULL)
		ticket_sync(1);
}

void
ticket_store_changed(void)
{
	if (ticket_st != NULL)
		ticket_sync(0);
}

/* Returns 1 to use the key, 2 to use it and renew the ticket, 0 for no key. */
static int
ticket_cb(SSL *ssl, uint8_t *key_name, uint8_t *iv, EVP_CIPHER_CTX *ectx,
    HMAC_CTX *hctx, int encrypt)
{
	struct ticket_key	 k;
	int			 rc = 1;

	pthread_rwlock_rdlock(&ticket_lock);
	if (encrypt)
		k = ticket_cur;
	else if (ticket_cur.set && memcmp(key_name, ticket_cur.name, 16) == 0)
		k = ticket_cur;
	else if (ticket_prev.set && memcmp(key_name, ticket_prev.name, 16) == 0) {
		k = ticket_prev;
		rc = 2;
	} else
		k.set = 0;
	pthread_rwlock_unlock(&ticket_lock);
	if (!k.set)
		return 0;
	if (encrypt) {
		RAND_bytes(iv, EVP_MAX_IV_LENGTH);
		memcpy(key_name, k.name, 16);
		if (!EVP_EncryptInit_ex(ectx, EVP_aes_128_cbc(), NULL, k.aes, iv))
			rc = -1;
	} else if (!EVP_DecryptInit_ex(ectx, EVP_aes_128_cbc(), NULL, k.aes, iv))
		rc = -1;
	if (rc != -1 && !HMAC_Init_ex(hctx, k.hmac, sizeof(k.hmac), EVP_sha256(), NULL))
		rc = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

int
ticket_init(SSL_CTX *ctx)
{
	pthread_rwlock_wrlock(&ticket_lock);
	if (!ticket_cur.set)
		ticket_new_key(&ticket_cur);
	pthread_rwlock_unlock(&ticket_lock);
	return SSL_CTX_set_tlsext_ticket_key_cb(ctx, ticket_cb) ? 0 : -1;
}
