/*
 * challenge.c - the challenge maps. Few entries are ever in flight, so each
 * map is a short list under a mutex; lookups copy or reference what they
 * return, so no caller holds the lock.
 */
#include "challenge.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certfile.h"
#include "errbuf.h"
#include "ipname.h"
#include "keygen.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

struct chal {
	struct chal	*next;
	char		*key;		/* token or name */
	char		*value;		/* key authorization (HTTP-01) */
	struct certfile	*cert;		/* TLS-ALPN-01 */
};

static pthread_mutex_t	 chal_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct chal	*chal_http, *chal_alpn;
/* The listeners are up (challenge_listening): what is in the cache can be
 * answered, so it is acknowledged. Never unset. */
static atomic_int	 answering;

static void
chal_free(struct chal *c)
{
	free(c->key);
	free(c->value);
	certfile_unref(c->cert);
	free(c);
}

/* Unlink and free the entry for key in *list (lock held). */
static void
chal_remove(struct chal **list, const char *key)
{
	for (struct chal **pp = list; *pp != NULL; pp = &(*pp)->next)
		if (strcasecmp((*pp)->key, key) == 0) {
			struct chal *c = *pp;
			*pp = c->next;
			chal_free(c);
			return;
		}
}

void
challenge_http_set(const char *token, const char *key_auth)
{
	struct chal *c = xcalloc(1, sizeof(*c));

	c->key = xstrdup(token);
	c->value = xstrdup(key_auth);
	pthread_mutex_lock(&chal_mtx);
	chal_remove(&chal_http, token);
	c->next = chal_http;
	chal_http = c;
	pthread_mutex_unlock(&chal_mtx);
}

void
challenge_http_clear(const char *token)
{
	pthread_mutex_lock(&chal_mtx);
	chal_remove(&chal_http, token);
	pthread_mutex_unlock(&chal_mtx);
}

char *
challenge_http_get(const char *token)
{
	char *v = NULL;

	pthread_mutex_lock(&chal_mtx);
	for (struct chal *c = chal_http; c != NULL; c = c->next)
		if (strcmp(c->key, token) == 0) {	/* tokens are case-sensitive */
			v = xstrdup(c->value);
			break;
		}
	pthread_mutex_unlock(&chal_mtx);
	return v;
}

static char *
bio_string(BIO *b)
{
	const uint8_t	*p;
	size_t		 n;

	BIO_mem_contents(b, &p, &n);
	return strndup((const char *)p, n);
}

int
challenge_tlsalpn_set(const char *name, const char *key_auth, struct errbuf *eb)
{
	EVP_PKEY	*pk = keygen(CERTFILE_EC, eb);
	X509		*x = X509_new();
	ASN1_OBJECT	*oid = NULL;
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION	*ext = NULL;
	GENERAL_NAMES	*gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME	*gn = GENERAL_NAME_new();
	BIO		*cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
	uint8_t		 der[2 + SHA256_DIGEST_LENGTH], serial[16];
	char		*cpem = NULL, *kpem = NULL;
	struct certfile	*cf = NULL;
	struct chal	*c;
	BIGNUM		*sn = NULL;
	struct ipname	 ip;
	int		 rc = -1, is_ip;

	/* extnValue = DER(OCTET STRING(SHA-256(keyAuthorization))) */
	der[0] = 0x04;
	der[1] = SHA256_DIGEST_LENGTH;
	SHA256((const uint8_t *)key_auth, strlen(key_auth), der + 2);
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	if (pk == NULL)
		goto out;
	if (x == NULL || os == NULL || gens == NULL || gn == NULL)
		goto ssl_err;
	if ((oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1)) == NULL ||
	    !ASN1_OCTET_STRING_set(os, der, sizeof(der)) ||
	    (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, os)) == NULL)
		goto ssl_err;
	if ((is_ip = ipname_from_reverse(name, &ip) == 0)) {
		/* RFC 8738 section 6: an IP identifier's challenge is asked
		 * for by its reverse-DNS name and carries the address. */
		gn->type = GEN_IPADD;
		if ((gn->d.iPAddress = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(gn->d.iPAddress, ip.addr,
		    ip.family == AF_INET ? 4 : 16))
			goto ssl_err;
	} else {
		gn->type = GEN_DNS;
		if ((gn->d.dNSName = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(gn->d.dNSName, name, (int)strlen(name)))
			goto ssl_err;
	}
	if (!sk_GENERAL_NAME_push(gens, gn))
		goto ssl_err;
	gn = NULL;
	sn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!X509_set_version(x, X509_VERSION_3) ||
	    BN_to_ASN1_INTEGER(sn, X509_get_serialNumber(x)) == NULL ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400) ||
	    (!is_ip && !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const uint8_t *)name, -1, -1, 0)) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !X509_set_pubkey(x, pk) ||
	    !X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) ||
	    !X509_add_ext(x, ext, -1) ||
	    !X509_sign(x, pk, EVP_sha256()) ||
	    !PEM_write_bio_X509(cb, x) ||
	    !PEM_write_bio_PrivateKey(kb, pk, NULL, NULL, 0, NULL, NULL))
		goto ssl_err;
	cpem = bio_string(cb);
	kpem = bio_string(kb);
	if ((cf = certfile_load_mem(cpem, strlen(cpem), kpem, strlen(kpem), eb)) == NULL)
		goto out;
	c = xcalloc(1, sizeof(*c));
	c->key = xstrdup(name);
	c->cert = cf;
	pthread_mutex_lock(&chal_mtx);
	chal_remove(&chal_alpn, name);
	c->next = chal_alpn;
	chal_alpn = c;
	pthread_mutex_unlock(&chal_mtx);
	rc = 0;
	goto out;
ssl_err:
	errbuf_ssl(eb, "tls-alpn-01 certificate");
out:
	if (kpem != NULL)
		OPENSSL_cleanse(kpem, strlen(kpem));
	free(kpem);
	free(cpem);
	BN_free(sn);
	BIO_free(cb);
	BIO_free(kb);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
	X509_free(x);
	EVP_PKEY_free(pk);
	return rc;
}

void
challenge_tlsalpn_clear(const char *name)
{
	pthread_mutex_lock(&chal_mtx);
	chal_remove(&chal_alpn, name);
	pthread_mutex_unlock(&chal_mtx);
}

struct certfile *
challenge_tlsalpn_get(const char *name)
{
	struct certfile *cf = NULL;

	pthread_mutex_lock(&chal_mtx);
	for (struct chal *c = chal_alpn; c != NULL; c = c->next)
		if (strcasecmp(c->key, name) == 0) {
			cf = certfile_ref(c->cert);
			break;
		}
	pthread_mutex_unlock(&chal_mtx);
	return cf;
}

static void
ack(struct store *s, const char *k)
{
	struct errbuf eb;

	if (store_challenge_ack(s, k, &eb) == -1)
		log_warnx("challenge %s: cannot acknowledge it in the store: %s",
		    k, eb.msg);
}

/*
 * The store's feed: challenges published by any ACME client (this process's
 * or, with a shared store, another node's) become answers here.
 */
static void
on_store_event(const struct store_event *ev, void *arg)
{
	struct store	*s = arg;
	struct errbuf	 eb;
	const char	*k = ev->key;
	int		 ok = 0;

	if (k == NULL || (ev->kind != STORE_CHANGE_CHALLENGE_PUT &&
	    ev->kind != STORE_CHANGE_CHALLENGE_DEL))
		return;
	if (strncmp(k, "http-01/", 8) == 0) {
		if (ev->kind == STORE_CHANGE_CHALLENGE_PUT) {
			challenge_http_set(k + 8, ev->value);
			ok = 1;
		} else
			challenge_http_clear(k + 8);
	} else if (strncmp(k, "tls-alpn-01/", 12) == 0) {
		if (ev->kind == STORE_CHANGE_CHALLENGE_DEL)
			challenge_tlsalpn_clear(k + 12);
		else if (challenge_tlsalpn_set(k + 12, ev->value, &eb) == -1)
			log_err("tls-alpn-01 for %s: %s", k + 12, eb.msg);
		else
			ok = 1;
	}
	/* In the cache, and the listeners up: the node that ordered may
	 * ask the CA now, as far as this node goes. */
	if (ok && atomic_load(&answering))
		ack(s, k);
}

/* A challenge already in flight when this node joined: as if put now. */
static void
on_listed(const char *key, const char *value, void *arg)
{
	struct store_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = STORE_CHANGE_CHALLENGE_PUT;
	ev.key = key;
	ev.value = value;
	on_store_event(&ev, arg);
}

/*
 * In this order, so that no challenge is missed: the feed first (what is put
 * from now on), then the membership (a node that orders from now on waits
 * for this one's acknowledgement), then what is already in flight, written
 * before this node could hear of it: another node may have ordered while
 * this one was not yet a member, and the CA may reach this one first. The
 * terminator calls this before its workers listen, and acknowledgements
 * wait for challenge_listening.
 */
void
challenge_follow(struct store *s)
{
	struct errbuf eb;

	store_watch(s, on_store_event, s);
	if (store_member_join(s, &eb) == -1)
		log_warnx("the store's member list: cannot join it (%s); nodes "
		    "that order will not wait for this one's challenge cache",
		    eb.msg);
	if (store_challenge_list(s, on_listed, s) == -1)
		log_warnx("challenges: cannot read those in flight from the "
		    "store; answering those put from now on");
}

void
challenge_unfollow(struct store *s)
{
	if (s != NULL)
		store_unwatch(s, on_store_event, s);
}

void
challenge_listening(struct store *s)
{
	char	**keys = NULL;
	size_t	  n = 0;

	/* Set before the copy: a challenge the feed adds meanwhile is
	 * acknowledged by the copy, by its event, or by both (harmless). */
	atomic_store(&answering, 1);
	if (s == NULL)
		return;
	pthread_mutex_lock(&chal_mtx);
	for (int alpn = 0; alpn < 2; alpn++)
		for (struct chal *c = alpn ? chal_alpn : chal_http; c != NULL;
		    c = c->next) {
			keys = xrealloc(keys, (n + 1) * sizeof(*keys));
			keys[n++] = xasprintf("%s/%s", alpn ? "tls-alpn-01" :
			    "http-01", c->key);
		}
	pthread_mutex_unlock(&chal_mtx);
	for (size_t i = 0; i < n; i++) {
		ack(s, keys[i]);
		free(keys[i]);
	}
	free(keys);
}
