/*
 * ticket.c - the RFC 5077-style ticket key callback (AES-128-CBC and
 * HMAC-SHA256, as BoringSSL's built-in keys use) over a two-key ring guarded
 * by a read-write lock. Handshakes only read; rotation, every few hours, writes.
 */
#include "ticket.h"

#include <pthread.h>
#include <string.h>

#include <openssl/cipher.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "log.h"

struct ticket_key {
	uint8_t	name[16];
	uint8_t	aes[16];
	uint8_t	hmac[32];
	int	set;
};

static pthread_rwlock_t	 ticket_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct ticket_key ticket_cur, ticket_prev;

static void
ticket_new_key(struct ticket_key *k)
{
	RAND_bytes(k->name, sizeof(k->name));
	RAND_bytes(k->aes, sizeof(k->aes));
	RAND_bytes(k->hmac, sizeof(k->hmac));
	k->set = 1;
}

void
ticket_rotate(void)
{
	struct ticket_key k;

	ticket_new_key(&k);
	pthread_rwlock_wrlock(&ticket_lock);
	ticket_prev = ticket_cur;
	ticket_cur = k;
	pthread_rwlock_unlock(&ticket_lock);
	OPENSSL_cleanse(&k, sizeof(k));
	log_info("session ticket keys rotated");
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
