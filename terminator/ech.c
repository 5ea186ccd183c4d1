/*
 * ech.c - the server's ECH keys: a small list, newest first. The first key
 * is current: its ECHConfig is the one published and the only retry config
 * a client that failed to decrypt is sent. Older keys were current before a
 * rotation; they still decrypt (as non-retry configs) until their grace
 * period ends, so that clients holding a cached HTTPS record keep working
 * while DNS catches up.
 *
 * The list lives in the store as one JSON blob (store_ech_get/put), so a
 * restart keeps the keys (and what was published stays valid), and a
 * cluster can share them later. Each timer tick re-reads the store first, so
 * a key another process wrote is adopted rather than overwritten.
 *
 * The outer ClientHello is seen by a message callback (the TLS library
 * reports each handshake message before it decrypts the inner one); its SNI
 * is kept on the SSL for the connection's log line, which is how an
 * operator (and the test) sees that only the public name went in clear.
 */
#include "ech.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/base64.h>
#include <openssl/bytestring.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "acme.h"		/* ACME_LETSENCRYPT: the store's default CA */
#include "config.h"
#include "config_store.h"
#include "errbuf.h"
#include "log.h"
#include "store.h"
#include "storetask.h"
#include "xalloc.h"

#ifdef OPENSSL_IS_AWSLC

#include <openssl/hpke.h>

#define ECH_MAX_KEYS	16		/* current + rotated-out in grace */
#define ECH_BLOB_MAX	(64 * 1024)

struct ech_key {
	uint8_t	 config_id;
	time_t	 created;
	time_t	 retired;		/* when it stopped being current; 0: current */
	uint8_t	 priv[32];		/* X25519 private key */
	uint8_t	*config;		/* the ECHConfig (its own public name) */
	size_t	 config_len;
};

/*
 * From ech_start to ech_stop. Once the main loop serves, everything here is
 * the store task thread's (the timer hands its tick there, and so does the
 * feed: storetask.h), except that /status reads the key list on the main
 * thread: the task thread changes the list under ech_mtx, and never holds it
 * across a store call.
 */
static pthread_mutex_t ech_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int		 on;
	SSL_CTX		*ctx;
	struct store	*store;
	struct storetask *tasks;
	struct event	*timer;
	char		*public_name;
	size_t		 max_name_len;
	time_t		 rotation, grace;
	struct ech_key	 keys[ECH_MAX_KEYS];
	size_t		 nkeys;
} ech;

/* SSL ex_data: the outer ClientHello's SNI (a string), freed with the SSL. */
static int ech_ex_idx = -1;

static void
key_clear(struct ech_key *k)
{
	OPENSSL_cleanse(k->priv, sizeof(k->priv));
	free(k->config);
	memset(k, 0, sizeof(*k));
}

static void
keys_clear(struct ech_key *keys, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		key_clear(&keys[i]);
	*n = 0;
}

static char *
b64(const uint8_t *p, size_t n)
{
	size_t	 cap;
	char	*out;

	if (!EVP_EncodedLength(&cap, n))
		abort();
	out = xmalloc(cap);
	EVP_EncodeBlock((uint8_t *)out, p, n);
	return out;
}

/* Decode s into a new buffer; NULL if it is not base64. */
static uint8_t *
unb64(const char *s, size_t *n)
{
	size_t	 cap;
	uint8_t	*out;

	if (s == NULL || !EVP_DecodedLength(&cap, strlen(s)))
		return NULL;
	out = xmalloc(cap + 1);
	if (!EVP_DecodeBase64(out, n, cap, (const uint8_t *)s, strlen(s))) {
		free(out);
		return NULL;
	}
	return out;
}

/* An HPKE key from k's private key; 0 or -1. */
static int
key_hpke(const struct ech_key *k, EVP_HPKE_KEY *hk)
{
	EVP_HPKE_KEY_zero(hk);
	return EVP_HPKE_KEY_init(hk, EVP_hpke_x25519_hkdf_sha256(), k->priv,
	    sizeof(k->priv)) ? 0 : -1;
}

/* Parse a stored blob into keys (newest first); 0, or -1 if malformed. */
static int
keys_parse(const char *text, size_t len, struct ech_key *keys, size_t *n)
{
	json_t		*root, *arr, *e;
	json_error_t	 je;
	size_t		 i;
	int		 rc = -1;

	*n = 0;
	if ((root = json_loadb(text, len, 0, &je)) == NULL)
		return -1;
	if ((arr = json_object_get(root, "keys")) == NULL || !json_is_array(arr))
		goto out;
	json_array_foreach(arr, i, e) {
		const char	*priv = NULL, *conf = NULL;
		json_int_t	 id = 0, created = 0, retired = 0;
		uint8_t		*p;
		size_t		 pl;
		struct ech_key	*k;

		if (*n == ECH_MAX_KEYS)
			break;
		if (json_unpack(e, "{s:I, s:I, s:I, s:s, s:s}", "config_id", &id,
		    "created", &created, "retired", &retired, "key", &priv,
		    "config", &conf) == -1 || id < 0 || id > 255)
			goto out;
		k = &keys[*n];
		if ((p = unb64(priv, &pl)) == NULL || pl != sizeof(k->priv)) {
			free(p);
			goto out;
		}
		memcpy(k->priv, p, pl);
		OPENSSL_cleanse(p, pl);
		free(p);
		if ((k->config = unb64(conf, &k->config_len)) == NULL) {
			key_clear(k);
			goto out;
		}
		k->config_id = (uint8_t)id;
		k->created = (time_t)created;
		k->retired = (time_t)retired;
		(*n)++;
	}
	rc = *n > 0 ? 0 : -1;
out:
	if (rc == -1)
		keys_clear(keys, n);
	json_decref(root);
	return rc;
}

static char *
keys_dump(const struct ech_key *keys, size_t n)
{
	json_t	*arr = json_array(), *root;
	char	*s;

	for (size_t i = 0; i < n; i++) {
		char *priv = b64(keys[i].priv, sizeof(keys[i].priv));
		char *conf = b64(keys[i].config, keys[i].config_len);
		json_array_append_new(arr, json_pack("{s:i, s:I, s:I, s:s, s:s}",
		    "config_id", (int)keys[i].config_id, "created",
		    (json_int_t)keys[i].created, "retired", (json_int_t)keys[i].retired,
		    "key", priv, "config", conf));
		OPENSSL_cleanse(priv, strlen(priv));
		free(priv);
		free(conf);
	}
	root = json_pack("{s:i, s:o}", "version", 1, "keys", arr);
	s = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	return s;
}

/* The stored keys into keys; 0, -1 when none (or unreadable), -2 when what
 * is stored does not parse. */
static int
keys_load(struct store *st, struct ech_key *keys, size_t *n)
{
	char	*buf = xmalloc(ECH_BLOB_MAX);
	size_t	 len;
	int	 rc = -1;

	*n = 0;
	if (store_ech_get(st, buf, ECH_BLOB_MAX, &len, NULL) == 0)
		rc = keys_parse(buf, len, keys, n) == 0 ? 0 : -2;
	OPENSSL_cleanse(buf, ECH_BLOB_MAX);
	free(buf);
	return rc;
}

static int
keys_save(struct errbuf *eb)
{
	char	*s = keys_dump(ech.keys, ech.nkeys);
	int	 rc = store_ech_put(ech.store, s, strlen(s), eb);

	OPENSSL_cleanse(s, strlen(s));
	free(s);
	return rc;
}

/* The public name written in an ECHConfig; 0 on a parse failure. */
static int
config_public_name(const uint8_t *p, size_t n, char *out, size_t cap)
{
	CBS	c, contents, key, suites, name;
	uint16_t version, kem;
	uint8_t	id, max_len;

	CBS_init(&c, p, n);
	if (!CBS_get_u16(&c, &version) || !CBS_get_u16_length_prefixed(&c, &contents) ||
	    !CBS_get_u8(&contents, &id) || !CBS_get_u16(&contents, &kem) ||
	    !CBS_get_u16_length_prefixed(&contents, &key) ||
	    !CBS_get_u16_length_prefixed(&contents, &suites) ||
	    !CBS_get_u8(&contents, &max_len) ||
	    !CBS_get_u8_length_prefixed(&contents, &name) ||
	    CBS_len(&name) >= cap)
		return 0;
	memcpy(out, CBS_data(&name), CBS_len(&name));
	out[CBS_len(&name)] = '\0';
	return 1;
}

/* A new current key at the front; the old current one starts its grace. */
static int
ech_rotate(time_t now, struct errbuf *eb)
{
	struct ech_key	 k;
	EVP_HPKE_KEY	 hk;
	size_t		 plen;
	int		 used;

	memset(&k, 0, sizeof(k));
	/* A config id no live key has, so a client's choice is unambiguous. */
	do {
		RAND_bytes(&k.config_id, 1);
		used = 0;
		for (size_t i = 0; i < ech.nkeys; i++)
			used |= ech.keys[i].config_id == k.config_id;
	} while (used);
	EVP_HPKE_KEY_zero(&hk);
	if (!EVP_HPKE_KEY_generate(&hk, EVP_hpke_x25519_hkdf_sha256()) ||
	    !EVP_HPKE_KEY_private_key(&hk, k.priv, &plen, sizeof(k.priv)) ||
	    plen != sizeof(k.priv) ||
	    !SSL_marshal_ech_config(&k.config, &k.config_len, k.config_id, &hk,
	    ech.public_name, ech.max_name_len)) {
		EVP_HPKE_KEY_cleanup(&hk);
		key_clear(&k);
		return errbuf_ssl(eb, "ECH key");
	}
	EVP_HPKE_KEY_cleanup(&hk);
	/* SSL_marshal_ech_config's buffer is OPENSSL_malloc'd: keep ours. */
	{
		uint8_t *c = xmalloc(k.config_len);
		memcpy(c, k.config, k.config_len);
		OPENSSL_free(k.config);
		k.config = c;
	}
	k.created = now;
	pthread_mutex_lock(&ech_mtx);
	if (ech.nkeys == ECH_MAX_KEYS)
		key_clear(&ech.keys[--ech.nkeys]);
	if (ech.nkeys > 0)
		ech.keys[0].retired = now;
	memmove(&ech.keys[1], &ech.keys[0], ech.nkeys * sizeof(ech.keys[0]));
	ech.keys[0] = k;
	ech.nkeys++;
	pthread_mutex_unlock(&ech_mtx);
	return 0;
}

/* Install the keys on the context: the current one as the retry config. */
static int
ech_install(struct errbuf *eb)
{
	SSL_ECH_KEYS	*set = SSL_ECH_KEYS_new();
	int		 rc = -1;

	if (set == NULL)
		return errbuf_ssl(eb, "SSL_ECH_KEYS_new");
	for (size_t i = 0; i < ech.nkeys; i++) {
		EVP_HPKE_KEY hk;
		int added;

		if (key_hpke(&ech.keys[i], &hk) == -1) {
			errbuf_ssl(eb, "ECH key");
			goto out;
		}
		added = SSL_ECH_KEYS_add(set, i == 0, ech.keys[i].config,
		    ech.keys[i].config_len, &hk);
		EVP_HPKE_KEY_cleanup(&hk);
		if (!added) {
			errbuf_ssl(eb, "SSL_ECH_KEYS_add");
			goto out;
		}
	}
	if (!SSL_CTX_set1_ech_keys(ech.ctx, set)) {
		errbuf_ssl(eb, "SSL_CTX_set1_ech_keys");
		goto out;
	}
	rc = 0;
out:
	SSL_ECH_KEYS_free(set);
	return rc;
}

/* Is the current key due for a new one at now (or for another public
 * name)? */
static int
ech_due(time_t now)
{
	char pn[256];

	return ech.nkeys == 0 || ech.keys[0].created + ech.rotation <= now ||
	    !config_public_name(ech.keys[0].config, ech.keys[0].config_len, pn,
	    sizeof(pn)) || strcmp(pn, ech.public_name) != 0;
}

/* Adopt the stored keys (when readable): 0, -1 none, -2 unparsable. */
static int
ech_adopt(void)
{
	struct ech_key	 loaded[ECH_MAX_KEYS];
	size_t		 nloaded;
	int		 rc = keys_load(ech.store, loaded, &nloaded);

	if (rc == 0) {
		pthread_mutex_lock(&ech_mtx);
		keys_clear(ech.keys, &ech.nkeys);
		memcpy(ech.keys, loaded, nloaded * sizeof(loaded[0]));
		ech.nkeys = nloaded;
		pthread_mutex_unlock(&ech_mtx);
	}
	return rc;
}

/*
 * Bring the keys up to date at now: adopt the store's, drop keys past their
 * grace, rotate when the current one is due (or names another public name),
 * write the store if anything changed, install. 0 or -1.
 *
 * A shared store (etcd) serves a fleet: the rotation is made under the
 * store's ECH_LOCK, by whichever node takes it, after reading the keys
 * again; a node that finds the lock taken adopts what the holder writes
 * (through the store's feed, ech_store_changed). With no keys at all it
 * waits a few seconds for them rather than publish a list of its own.
 */
#define ECH_LOCK	"_ech"

static int
ech_sync(time_t now, struct errbuf *eb)
{
	struct store_lock	*lk = NULL;
	struct errbuf		 leb;
	uint8_t			 gone[ECH_MAX_KEYS];
	size_t			 j = 0, ngone = 0;
	int			 changed = 0, rotated = 0;

	if (ech_adopt() == -2) {
		log_warnx("ech: the stored keys do not parse; %s",
		    ech.nkeys > 0 ? "writing the ones in use" : "making new ones");
		changed = 1;
	}
	if (ech_due(now)) {
		leb.msg[0] = '\0';
		lk = store_lock_acquire(ech.store, ECH_LOCK, 30, &leb);
		if (lk == NULL && errno == EWOULDBLOCK) {
			/* Another node rotates: its keys come through the
			 * feed; the first ones are worth a short wait. */
			for (int i = 0; ech.nkeys == 0 && i < 50; i++) {
				struct timespec ts = { 0, 100 * 1000 * 1000 };

				nanosleep(&ts, NULL);
				(void)ech_adopt();
			}
			if (ech.nkeys == 0) {
				errbuf_set(eb, "another node holds the ECH keys' lock and "
				    "stored none within 5 s");
				return -1;
			}
			return ech_install(eb);
		}
		if (lk == NULL)
			log_warnx("ech: the store's lock: %s; rotating without it",
			    leb.msg);
		else if (ech_adopt() == 0 && !ech_due(now)) {
			/* Rotated by another node between the read and the lock. */
			store_lock_release(lk);
			return ech_install(eb);
		}
	}
	pthread_mutex_lock(&ech_mtx);
	for (size_t i = 0; i < ech.nkeys; i++) {
		if (i > 0 && ech.keys[i].retired != 0 &&
		    ech.keys[i].retired + ech.grace <= now) {
			gone[ngone++] = ech.keys[i].config_id;
			key_clear(&ech.keys[i]);
			changed = 1;
			continue;
		}
		ech.keys[j++] = ech.keys[i];
	}
	ech.nkeys = j;
	pthread_mutex_unlock(&ech_mtx);
	if (ech_due(now)) {
		if (ech_rotate(now, eb) == -1) {
			store_lock_release(lk);
			return -1;
		}
		changed = rotated = 1;
	}
	if (changed && lk != NULL && store_lock_check(lk) != 1) {
		store_lock_release(lk);
		errbuf_set(eb, "the store's lock for the ECH keys was lost");
		return -1;
	}
	if (changed && keys_save(eb) == -1) {
		store_lock_release(lk);
		return errbuf_prefix(eb, "ECH keys not stored");
	}
	store_lock_release(lk);
	if (ech_install(eb) == -1)
		return -1;
	/* Said once it is so: stored, and what handshakes decrypt with. */
	for (size_t i = 0; i < ngone; i++)
		log_info("ech: key with config id %u left its grace period", gone[i]);
	if (rotated)
		log_notice("ech: new key, config id %u, public name %s; publish the "
		    "new ECHConfigList (tlsgate ech)", ech.keys[0].config_id,
		    ech.public_name);
	return 0;
}

/* Arm the timer for the next rotation or end of a grace period. */
static void
ech_arm(time_t now)
{
	time_t		next = ech.keys[0].created + ech.rotation;
	struct timeval	tv = { 0, 0 };

	for (size_t i = 1; i < ech.nkeys; i++)
		if (ech.keys[i].retired + ech.grace < next)
			next = ech.keys[i].retired + ech.grace;
	tv.tv_sec = next > now ? next - now : 1;
	evtimer_add(ech.timer, &tv);
}

/* The task thread: the timer's tick, or the feed's news. */
static void
ech_tick(void *arg)
{
	struct errbuf	eb;
	time_t		now = time(NULL);

	if (!ech.on)
		return;
	if (ech_sync(now, &eb) == -1)
		log_err("ech: %s; the installed keys stay in use", eb.msg);
	ech_arm(now);	/* event_add from another thread: libevent locks */
}

/* The main thread: the store's work goes to the task thread. */
static void
ech_on_timer(evutil_socket_t fd, short what, void *arg)
{
	storetask_run(ech.tasks, ech_tick, NULL);
}

void
ech_store_changed(void)
{
	ech_tick(NULL);
}

static void
ech_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int index, long argl,
    void *argp)
{
	free(ptr);
}

/* The host_name of a server_name extension, or 0. */
static int
sni_of(const uint8_t *data, size_t len, char *out, size_t cap)
{
	CBS	ext, list, name;
	uint8_t	type;

	CBS_init(&ext, data, len);
	if (!CBS_get_u16_length_prefixed(&ext, &list))
		return 0;
	while (CBS_get_u8(&list, &type) && CBS_get_u16_length_prefixed(&list, &name)) {
		if (type != TLSEXT_NAMETYPE_host_name)
			continue;
		if (CBS_len(&name) == 0 || CBS_len(&name) >= cap)
			return 0;
		memcpy(out, CBS_data(&name), CBS_len(&name));
		out[CBS_len(&name)] = '\0';
		return 1;
	}
	return 0;
}

/*
 * Every handshake message passes here, on the worker; a ClientHello that
 * carries an outer ECH extension gets its SNI noted on the SSL. This runs
 * before the library decrypts the inner hello, so it sees what went in clear.
 */
static void
ech_on_msg(int is_write, int version, int content_type, const void *buf, size_t len,
    SSL *ssl, void *arg)
{
	const uint8_t	*p = buf, *data;
	size_t		 dlen;
	SSL_CLIENT_HELLO ch;
	CBS		 msg, skip, exts;
	uint16_t	 v;
	char		 sni[256] = "";

	if (is_write || content_type != SSL3_RT_HANDSHAKE || len < 4 ||
	    p[0] != SSL3_MT_CLIENT_HELLO)
		return;
	CBS_init(&msg, p + 4, len - 4);
	if (!CBS_get_u16(&msg, &v) || !CBS_skip(&msg, 32) ||
	    !CBS_get_u8_length_prefixed(&msg, &skip) ||
	    !CBS_get_u16_length_prefixed(&msg, &skip) ||
	    !CBS_get_u8_length_prefixed(&msg, &skip) ||
	    !CBS_get_u16_length_prefixed(&msg, &exts))
		return;
	/* The library walks the extensions; we only hand it the block. */
	memset(&ch, 0, sizeof(ch));
	ch.ssl = ssl;
	ch.extensions = CBS_data(&exts);
	ch.extensions_len = CBS_len(&exts);
	if (!SSL_early_callback_ctx_extension_get(&ch, TLSEXT_TYPE_encrypted_client_hello,
	    &data, &dlen) || dlen < 1 || data[0] != 0 /* outer */)
		return;
	if (SSL_early_callback_ctx_extension_get(&ch, TLSEXT_TYPE_server_name, &data,
	    &dlen))
		(void)sni_of(data, dlen, sni, sizeof(sni));
	/* A second ClientHello (after HelloRetryRequest) replaces the first. */
	free(SSL_get_ex_data(ssl, ech_ex_idx));
	SSL_set_ex_data(ssl, ech_ex_idx, xstrdup(sni[0] ? sni : "-"));
}

const char *
ech_unsupported(void)
{
	return NULL;
}

int
ech_start(struct event_base *base, SSL_CTX *ctx, const struct config *c,
    struct storetask *tasks, struct errbuf *eb)
{
	time_t now = time(NULL);

	if (!c->ech.enabled)
		return 0;
	memset(&ech, 0, sizeof(ech));
	ech.ctx = ctx;
	ech.tasks = tasks;
	ech.public_name = xstrdup(c->ech.public_name);
	ech.rotation = (time_t)c->ech.rotation;
	ech.grace = (time_t)c->ech.grace;
	/* The longest name it hides: clients pad the inner name to it. */
	ech.max_name_len = strlen(c->ech.public_name);
	for (size_t i = 0; i < c->nsites; i++)
		for (size_t j = 0; j < c->sites[i].nnames; j++)
			if (strlen(c->sites[i].names[j]) > ech.max_name_len)
				ech.max_name_len = strlen(c->sites[i].names[j]);
	if (ech.max_name_len > 255)
		ech.max_name_len = 255;
	if ((ech.store = config_store_open(c, c->acme.directory != NULL ?
	    c->acme.directory : ACME_LETSENCRYPT, eb)) == NULL ||
	    ech_sync(now, eb) == -1) {
		ech_stop();
		return -1;
	}
	if (ech_ex_idx == -1)
		ech_ex_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ech_ex_free);
	SSL_CTX_set_msg_callback(ctx, ech_on_msg);
	ech.timer = evtimer_new(base, ech_on_timer, NULL);
	ech_arm(now);
	ech.on = 1;
	log_notice("ech: on, public name %s, config id %u, %zu key(s) in use",
	    ech.public_name, ech.keys[0].config_id, ech.nkeys);
	return 0;
}

void
ech_stop(void)
{
	if (ech.timer != NULL)
		event_free(ech.timer);
	store_close(ech.store);
	free(ech.public_name);
	keys_clear(ech.keys, &ech.nkeys);
	memset(&ech, 0, sizeof(ech));
}

/* The ECHConfigList of one config (what DNS carries), base64. */
static char *
config_list_b64(const uint8_t *conf, size_t n)
{
	uint8_t	*list = xmalloc(n + 2);
	char	*s;

	list[0] = (uint8_t)(n >> 8);
	list[1] = (uint8_t)n;
	memcpy(list + 2, conf, n);
	s = b64(list, n + 2);
	free(list);
	return s;
}

struct json_t *
ech_status_json(void)
{
	json_t	*keys, *root;
	char	*list;

	if (!ech.on)
		return NULL;
	keys = json_array();
	pthread_mutex_lock(&ech_mtx);
	for (size_t i = 0; i < ech.nkeys; i++)
		json_array_append_new(keys, json_pack("{s:i, s:I, s:I, s:I}",
		    "config_id", (int)ech.keys[i].config_id, "created",
		    (json_int_t)ech.keys[i].created, "retired",
		    (json_int_t)ech.keys[i].retired, "decrypts_until", (json_int_t)
		    (i == 0 ? 0 : ech.keys[i].retired + ech.grace)));
	list = config_list_b64(ech.keys[0].config, ech.keys[0].config_len);
	root = json_pack("{s:s, s:s, s:i, s:I, s:o}", "public_name", ech.public_name,
	    "config_list", list, "config_id", (int)ech.keys[0].config_id,
	    "next_rotation", (json_int_t)(ech.keys[0].created + ech.rotation),
	    "keys", keys);
	pthread_mutex_unlock(&ech_mtx);
	free(list);
	return root;
}

const char *
ech_conn_note(const SSL *ssl, char *buf, size_t cap)
{
	const char	*outer = ech_ex_idx == -1 || ssl == NULL ? NULL :
			    SSL_get_ex_data(ssl, ech_ex_idx);
	char		 esc[LOG_FIELD_CAP(255)];

	if (cap > 0)
		buf[0] = '\0';
	if (outer == NULL)
		return buf;
	snprintf(buf, cap, " ech=%d outer_sni=%s", SSL_ech_accepted(ssl),
	    log_field_escape(esc, sizeof(esc), outer, strlen(outer)));
	return buf;
}

char *
ech_published(const struct config *c, struct errbuf *eb)
{
	struct ech_key	 keys[ECH_MAX_KEYS];
	size_t		 n;
	struct store	*st;
	char		*s;

	if ((st = config_store_open(c, NULL, eb)) == NULL)
		return NULL;
	if (keys_load(st, keys, &n) != 0) {
		store_close(st);
		errbuf_set(eb, "no ECH keys in the store (%s) yet (tlsgate makes them "
		    "when it starts with tls.ech.enabled), or they are unreadable",
		    c->store.backend == STORE_BACKEND_ETCD ? "etcd" : c->acme.state_dir);
		return NULL;
	}
	store_close(st);
	s = config_list_b64(keys[0].config, keys[0].config_len);
	keys_clear(keys, &n);
	return s;
}

#else	/* !OPENSSL_IS_AWSLC */

const char *
ech_unsupported(void)
{
	return "Encrypted Client Hello needs the AWS-LC build of tlsgate "
	    "(this one uses BoringSSL)";
}

int
ech_start(struct event_base *base, SSL_CTX *ctx, const struct config *c,
    struct storetask *tasks, struct errbuf *eb)
{
	return c->ech.enabled ? errbuf_set(eb, "%s", ech_unsupported()) : 0;
}

void
ech_stop(void)
{
}

struct json_t *
ech_status_json(void)
{
	return NULL;
}

const char *
ech_conn_note(const SSL *ssl, char *buf, size_t cap)
{
	if (cap > 0)
		buf[0] = '\0';
	return buf;
}

char *
ech_published(const struct config *c, struct errbuf *eb)
{
	(void)c;
	errbuf_set(eb, "%s", ech_unsupported());
	return NULL;
}

void
ech_store_changed(void)
{
}

#endif
