/*
 * store_etcd.c - the etcd backend's ops table (store_etcd.h): certificates,
 * listing, the account, renewal state, locks, challenges, ticket and ECH
 * keys, renewal requests, and the watch events turned into store_notify.
 * The key layout is in etcd_impl.h.
 *
 * A certificate's chain and sealed key are written in one txn, so a reader
 * sees both or neither. A lock is a key attached to a lease and created by
 * a put-if-absent txn; its create revision is the fencing token.
 *
 * With a local copy (etcd_copy.h), every certificate of the namespace read
 * or written here, and the account, go to the copy as well; when no member
 * answers, certificates and the account are read from it instead.
 */
#include "store_etcd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "errbuf.h"
#include "etcd_copy.h"
#include "etcd_impl.h"
#include "etcd_keeper.h"
#include "keygen.h"
#include "log.h"
#include "renewal_json.h"
#include "xalloc.h"

#define ETCD_MAX_DELS	256

struct etcd_lock {
	struct store_lock	 base;
	char			*key;
	int64_t			 lease;
	int64_t			 created;	/* create revision: the fence */
	int			 kept;		/* by e->keeper (store_lock_keep) */
};

static const struct store_ops etcd_ops;

struct store_etcd *
E(struct store *s)
{
	return (struct store_etcd *)s;
}

static int
prefix_ok(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || p[n - 1] != '/')
		return 0;
	for (; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

struct store *
store_open_etcd(const struct store_etcd_cfg *cfg, const char *directory_url,
    struct errbuf *eb)
{
	struct store_etcd	*e;
	const char		*prefix = cfg->prefix != NULL ? cfg->prefix :
				    "/tlsgate/";
	struct etcd_client	*kc = NULL;
	int64_t			 rev;

	if (!prefix_ok(prefix))
		return (errbuf_set(eb, "etcd: prefix \"%s\" must be printable "
		    "ASCII ending in /", prefix), NULL);
	e = xcalloc(1, sizeof(*e));
	e->base.ops = &etcd_ops;
	pthread_mutex_init(&e->mtx, NULL);
	e->prefix = xstrdup(prefix);
	RAND_bytes((uint8_t *)&e->writer, sizeof(e->writer));
	atomic_init(&e->from_copy, 0);
	if ((e->seal = etcd_seal_load(cfg->enc_key_file, eb)) == NULL ||
	    (cfg->prev_key_file != NULL && etcd_seal_add_previous(e->seal,
	    cfg->prev_key_file, eb) == -1) ||
	    (e->c = etcd_client_new(cfg, eb)) == NULL ||
	    (kc = etcd_client_new(cfg, eb)) == NULL ||
	    (e->keeper = etcd_keeper_new(kc, eb)) == NULL) {
		etcd_client_free(kc);
		goto fail;
	}
	etcd_client_quiet(kc);	/* e->c tells of etcd's reachability */
	if (directory_url != NULL) {
		e->base.ca = xstrdup(directory_url);
		e->slug = store_ca_slug(directory_url);
		e->ns = xasprintf("%sca/%s/", e->prefix, e->slug);
		if (cfg->copy_dir != NULL && (e->copy = etcd_copy_open(cfg->copy_dir,
		    e->slug, e->seal, eb)) == NULL)
			log_warnx("%s; no local copy: restarted while etcd is down, "
			    "this node would have nothing to serve", eb->msg);
	}
	/* Reach etcd now: a node that cannot is told at start, unless its
	 * local copy lets it serve meanwhile. */
	if ((rev = ekv_revision(e, eb)) == -1) {
		char why[sizeof(eb->msg)];

		if (e->copy == NULL)
			goto fail;
		if (!etcd_copy_synced(e->copy)) {
			snprintf(why, sizeof(why), "%s", eb->msg);
			errbuf_set(eb, "%s; and no local copy to start from (%s was "
			    "never in step with etcd)", why, etcd_copy_dir(e->copy));
			goto fail;
		}
		log_warnx("etcd: starting from the local copy in %s (%ld "
		    "certificate(s)), as no member answers: serving them, no ACME "
		    "order until etcd is back", etcd_copy_dir(e->copy),
		    etcd_copy_count(e->copy));
		atomic_store(&e->from_copy, 1);
		rev = -1;	/* the watch resynchronises first */
	} else if (e->copy != NULL && etcd_copy_mark_synced(e->copy, eb) == -1)
		log_warnx("%s", eb->msg);
	if (directory_url == NULL)
		return &e->base;
	if ((e->watch = etcd_watch_start(e, rev + 1, eb)) == NULL)
		goto fail;
	return &e->base;
fail:
	store_close(&e->base);
	return NULL;
}

static void
etcd_close(struct store *s)
{
	struct store_etcd *e = E(s);

	etcd_watch_stop(e->watch);
	if (e->keeper != NULL)
		etcd_member_leave(e);
	etcd_keeper_free(e->keeper);
	etcd_copy_free(e->copy);
	etcd_client_free(e->c);
	etcd_seal_free(e->seal);
	for (size_t i = 0; i < e->ndels; i++)
		free(e->dels[i]);
	free(e->dels);
	pthread_mutex_destroy(&e->mtx);
	free(e->prefix);
	free(e->slug);
	free(e->ns);
	free(s->ca);
	free(e);
}

static void
value_free(struct etcd_value *v)
{
	if (v->data != NULL) {
		OPENSSL_cleanse(v->data, v->len);
		free(v->data);
	}
	v->data = NULL;
}

/* ---- certificates -------------------------------------------------------- */

static char *
cert_key(const char *ns, const char *name, enum certfile_keytype kt,
    const char *what)
{
	return xasprintf("%scert/%s/%s/%s", ns, name, certfile_keytype_names[kt],
	    what);
}

struct certfile *
etcd_cert_read(struct store_etcd *e, const char *ns, const char *name,
    enum certfile_keytype kt, int64_t rev, int *fresh, struct errbuf *eb)
{
	struct etcd_value	 v[2];
	struct certfile		*cf = NULL;
	struct errbuf		 e2;
	char			*ck, *kk;
	int			 found[2], asked = 1;

	if (fresh != NULL)
		*fresh = 0;
	if (ns == NULL || !store_name_ok(name))
		return NULL;
	ck = cert_key(ns, name, kt, "chain");
	kk = cert_key(ns, name, kt, "key");
	if (ekv_get2(e, ck, kk, rev, v, found, eb) == -1)
		asked = 0;
	else {
		if (found[0] && found[1])
			cf = certfile_load_mem((char *)v[0].data, v[0].len,
			    (char *)v[1].data, v[1].len, eb);
		else if (found[0] != found[1])
			errbuf_set(eb, "etcd: %s: a chain without its key, or a "
			    "key without its chain", ck);
		if (cf == NULL && found[0] && found[1])
			errbuf_prefix(eb, "%s", ck);
		/* Only a pair that loads reaches the copy. */
		if (cf != NULL && e->copy != NULL && e->ns != NULL &&
		    strcmp(ns, e->ns) == 0) {
			int r = etcd_copy_cert_put(e->copy, name, kt, cf,
			    (char *)v[0].data, v[0].len, (char *)v[1].data, v[1].len,
			    &e2);
			if (r == -1)
				log_warnx("%s", e2.msg);
			if (fresh != NULL)
				*fresh = r == 1;
		}
		for (int i = 0; i < 2; i++)
			if (found[i])
				value_free(&v[i]);
	}
	free(ck);
	free(kk);
	errno = asked ? EBADMSG : EAGAIN;	/* when cf is NULL (store.h) */
	return cf;
}

/* etcd's, or the local copy's when no member answers. */
static struct certfile *
etcd_cert_get(struct store *s, const char *name, enum certfile_keytype kt,
    struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	struct certfile		*cf;
	struct errbuf		 e2;
	int			 err;

	cf = etcd_cert_read(e, e->ns, name, kt, 0, NULL, eb);
	err = errno;
	if (cf != NULL || e->copy == NULL || etcd_client_up(e->c)) {
		errno = err;
		return cf;
	}
	if ((cf = etcd_copy_cert_get(e->copy, name, kt, &e2)) != NULL) {
		log_info("store %s: %s certificate from the local copy (etcd "
		    "unreachable): %s", name, certfile_keytype_names[kt],
		    cf->sha256);
		if (eb != NULL)
			eb->msg[0] = '\0';
	} else if (eb != NULL)
		/* The copy's error, or none: not "unreadable" for want of etcd
		 * (no order is placed meanwhile anyway). */
		snprintf(eb->msg, sizeof(eb->msg), "%s", e2.msg);
	errno = EAGAIN;		/* etcd could not be asked */
	return cf;
}

/*
 * The chain and its key in one transaction; with a lock, the same
 * transaction first compares the lock key's create revision with the one
 * our acquire made (the fence): a lease that ended, or another node's lock
 * since, fails the compare and nothing is written.
 */
static int
etcd_cert_put_fenced(struct store *s, struct store_lock *lock, const char *name,
    const struct certfile *cf, const char *chain_pem, const char *key_pem,
    struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	struct etcd_lock	*el = (struct etcd_lock *)lock;
	char			*ck, *kk;
	json_t			*ops, *cmp;
	int			 rc;

	if (e->ns == NULL || !store_name_ok(name))
		return errbuf_set(eb, "store: bad certificate name \"%s\"", name);
	if (el != NULL && lock->s != s)
		return errbuf_set(eb, "store: the lock of %s is another handle's",
		    name);
	ck = cert_key(e->ns, name, cf->keytype, "chain");
	kk = cert_key(e->ns, name, cf->keytype, "key");
	ops = json_pack("[{s:o}, {s:o}]",
	    "request_put", ekv_txn_put(e, ck, chain_pem, strlen(chain_pem), 0, 0),
	    "request_put", ekv_txn_put(e, kk, key_pem, strlen(key_pem), 1, 0));
	cmp = el != NULL ? json_pack("[o]", ekv_cmp_created(el->key,
	    el->created)) : json_array();
	rc = ekv_txn(e, cmp, ops, NULL, eb);
	if (rc == 0) {
		errbuf_set(eb, "lock %s: no longer ours (its lease ended or another "
		    "node took it); certificate not written", name);
		errno = ESTALE;
	}
	if (rc == 1 && e->copy != NULL) {
		struct errbuf e2;

		if (etcd_copy_cert_put(e->copy, name, cf->keytype, cf, chain_pem,
		    strlen(chain_pem), key_pem, strlen(key_pem), &e2) == -1)
			log_warnx("%s", e2.msg);
	}
	free(ck);
	free(kk);
	return rc == 1 ? 0 : -1;
}

static int
etcd_cert_put(struct store *s, const char *name, const struct certfile *cf,
    const char *chain_pem, const char *key_pem, struct errbuf *eb)
{
	return etcd_cert_put_fenced(s, NULL, name, cf, chain_pem, key_pem, eb);
}

/* ---- renewal state (the file backend's JSON) ------------------------------ */

static int
renewal_read(struct store_etcd *e, const char *ns, const char *name,
    enum certfile_keytype kt, struct store_renewal *r)
{
	struct etcd_value	 v;
	struct errbuf		 eb;
	char			*k;
	int			 got, rc;

	if (ns == NULL || !store_name_ok(name))
		return -1;
	k = cert_key(ns, name, kt, "renewal");
	got = ekv_get(e, k, 0, &v, &eb);
	free(k);
	if (got != 1)
		return -1;
	rc = renewal_json_decode((const char *)v.data, v.len, r);
	value_free(&v);
	return rc;
}

static int
etcd_renewal_get(struct store *s, const char *name, enum certfile_keytype kt,
    struct store_renewal *r)
{
	return renewal_read(E(s), E(s)->ns, name, kt, r);
}

static int
etcd_renewal_put(struct store *s, const char *name, enum certfile_keytype kt,
    const struct store_renewal *r, const struct certfile *cur, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	char			*k, *text;
	int			 rc;

	if (e->ns == NULL || !store_name_ok(name))
		return errbuf_set(eb, "store: bad name \"%s\"", name);
	if ((text = renewal_json_encode(name, kt, r, cur, 0)) == NULL)
		return errbuf_set(eb, "store: cannot encode the renewal state");
	k = cert_key(e->ns, name, kt, "renewal");
	rc = ekv_put(e, k, text, strlen(text), 0, 0, eb);
	free(k);
	free(text);
	return rc;
}

/* ---- listing --------------------------------------------------------------- */

int
etcd_parse_cert_key(const char *rel, char *slug, size_t scap, char *name,
    size_t ncap, enum certfile_keytype *kt)
{
	const char	*p = strchr(rel, '/'), *q, *r;

	if (p == NULL || (size_t)(p - rel) >= scap || strncmp(p, "/cert/", 6) != 0)
		return -1;
	snprintf(slug, scap, "%.*s", (int)(p - rel), rel);
	p += 6;
	if ((q = strchr(p, '/')) == NULL || (size_t)(q - p) >= ncap)
		return -1;
	snprintf(name, ncap, "%.*s", (int)(q - p), p);
	q++;
	if ((r = strchr(q, '/')) == NULL)
		return -1;
	for (int k = 0; k < CERTFILE__MAX; k++)
		if (strlen(certfile_keytype_names[k]) == (size_t)(r - q) &&
		    strncmp(q, certfile_keytype_names[k], (size_t)(r - q)) == 0) {
			*kt = (enum certfile_keytype)k;
			return store_name_ok(name) ? 0 : -1;
		}
	return -1;
}

static int
etcd_list(struct store *s, store_list_fn *fn, void *arg)
{
	struct store_etcd	*e = E(s);
	char			*all = xasprintf("%sca/", e->prefix);
	char			 last[600] = "";
	json_t			*kvs, *kv;
	size_t			 i;
	int			 n = 0;

	kvs = ekv_range(e, e->ns != NULL ? e->ns : all, 1, NULL);
	if (kvs == NULL) {
		free(all);
		return -1;
	}
	/* Keys come sorted: a (slug, name, kt) group is contiguous. */
	json_array_foreach(kvs, i, kv) {
		char			*k = ekv_key(kv), slug[300], name[256], id[600];
		char			*ns;
		enum certfile_keytype	 kt;
		struct store_entry	 en;
		struct store_renewal	 r;
		struct errbuf		 eb;

		if (k == NULL || strncmp(k, all, strlen(all)) != 0 ||
		    etcd_parse_cert_key(k + strlen(all), slug, sizeof(slug), name,
		    sizeof(name), &kt) == -1) {
			free(k);
			continue;
		}
		free(k);
		snprintf(id, sizeof(id), "%s/%s/%d", slug, name, (int)kt);
		if (strcmp(id, last) == 0)
			continue;
		snprintf(last, sizeof(last), "%s", id);
		ns = xasprintf("%s%s/", all, slug);
		memset(&en, 0, sizeof(en));
		eb.msg[0] = '\0';
		en.ca = slug;
		en.name = name;
		en.kt = kt;
		en.cf = etcd_cert_read(e, ns, name, kt, 0, NULL, &eb);
		en.err = en.cf == NULL && eb.msg[0] != '\0' ? eb.msg : NULL;
		memset(&r, 0, sizeof(r));
		en.renewal = renewal_read(e, ns, name, kt, &r) == 0 ? &r : NULL;
		free(ns);
		if (en.cf != NULL || en.err != NULL || en.renewal != NULL) {
			fn(&en, arg);
			n++;
		}
		certfile_unref(en.cf);
	}
	json_decref(kvs);
	free(all);
	return n;
}

/* ---- account --------------------------------------------------------------- */

static EVP_PKEY *
pem_key(const struct etcd_value *v, const char *what, struct errbuf *eb)
{
	BIO		*b = BIO_new_mem_buf(v->data, (int)v->len);
	EVP_PKEY	*pk = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);

	BIO_free(b);
	if (pk == NULL)
		errbuf_ssl(eb, what);
	return pk;
}

static EVP_PKEY *
etcd_account_key(struct store *s, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	struct etcd_value	 v;
	EVP_PKEY		*pk = NULL;
	char			*k, *out;
	json_t			*cmp;
	int			 got;

	if (e->ns == NULL)
		return (errbuf_set(eb, "store: no CA namespace"), NULL);
	k = xasprintf("%saccount/key", e->ns);
	if ((got = ekv_get(e, k, 0, &v, eb)) == -1 && e->copy != NULL &&
	    !etcd_client_up(e->c)) {
		/* No member answers: the account as the copy has it. */
		struct errbuf e2;

		if ((got = etcd_copy_value_get(e->copy, "account-key", &v,
		    &e2)) == 1) {
			log_notice("store: the ACME account key from the local copy "
			    "(etcd unreachable)");
			pk = pem_key(&v, k, eb);
			value_free(&v);
			free(k);
			return pk;
		}
		if (got == -1)
			snprintf(eb->msg, sizeof(eb->msg), "%s", e2.msg);
		got = -1;
	} else if (got == 0) {
		/* None yet: make one; the first node to create it wins. */
		if ((pk = keygen(CERTFILE_EC, eb)) == NULL) {
			free(k);
			return NULL;
		}
		if ((out = keygen_pem(pk)) == NULL) {
			errbuf_set(eb, "account key: PEM encoding failed");
			got = -1;
		} else {
			cmp = json_pack("[o]", ekv_cmp_created(k, 0));
			got = ekv_txn(e, cmp, json_pack("[{s:o}]", "request_put",
			    ekv_txn_put(e, k, out, strlen(out), 1, 0)), NULL, eb);
			OPENSSL_cleanse(out, strlen(out));
			free(out);
		}
		EVP_PKEY_free(pk);
		pk = NULL;
		/* Ours or another node's: read what is stored. */
		if (got != -1)
			got = ekv_get(e, k, 0, &v, eb);
	}
	if (got == 1) {
		struct errbuf e2;

		if ((pk = pem_key(&v, k, eb)) != NULL && e->copy != NULL &&
		    etcd_copy_value_put(e->copy, "account-key", v.data, v.len, 1,
		    &e2) == -1)
			log_warnx("%s", e2.msg);
		value_free(&v);
	} else if (got == 0)
		errbuf_set(eb, "etcd: %s vanished after it was created", k);
	free(k);
	return pk;
}

static char *
etcd_account_url(struct store *s)
{
	struct store_etcd	*e = E(s);
	struct etcd_value	 v;
	struct errbuf		 eb;
	char			*k, *url = NULL;
	int			 got;

	if (e->ns == NULL)
		return NULL;
	k = xasprintf("%saccount/url", e->ns);
	if ((got = ekv_get(e, k, 0, &v, &eb)) == 1) {
		if (v.len > 0)
			url = xstrdup((char *)v.data);
		if (e->copy != NULL && etcd_copy_value_put(e->copy, "account-url",
		    v.data, v.len, 0, &eb) == -1)
			log_warnx("%s", eb.msg);
		value_free(&v);
	} else if (got == -1 && e->copy != NULL && !etcd_client_up(e->c) &&
	    etcd_copy_value_get(e->copy, "account-url", &v, &eb) == 1) {
		if (v.len > 0)
			url = xstrdup((char *)v.data);
		value_free(&v);
	}
	free(k);
	return url;
}

static int
etcd_account_url_put(struct store *s, const char *url, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	char			*k;
	int			 rc;

	if (e->ns == NULL)
		return errbuf_set(eb, "store: no CA namespace");
	k = xasprintf("%saccount/url", e->ns);
	rc = ekv_put(e, k, url, strlen(url), 0, 0, eb);
	free(k);
	if (rc == 0 && e->copy != NULL) {
		struct errbuf e2;

		if (etcd_copy_value_put(e->copy, "account-url", url, strlen(url), 0,
		    &e2) == -1)
			log_warnx("%s", e2.msg);
	}
	return rc;
}

/* ---- locks ----------------------------------------------------------------- */

static struct store_lock *
etcd_lock_acquire(struct store *s, const char *name, long ttl, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	struct etcd_lock	*l;
	char			*k, holder[32];
	int64_t			 lease, rev;
	int			 r;

	if (e->ns == NULL || !store_name_ok(name)) {
		errbuf_set(eb, "store: bad lock name \"%s\"", name);
		errno = EINVAL;
		return NULL;
	}
	if ((lease = ekv_lease_grant(e, ttl > 0 ? ttl : 60, eb)) == -1) {
		errno = EIO;
		return NULL;
	}
	k = xasprintf("%slock/%s", e->ns, name);
	snprintf(holder, sizeof(holder), "%016llx",
	    (unsigned long long)e->writer);
	r = ekv_txn(e, json_pack("[o]", ekv_cmp_created(k, 0)),
	    json_pack("[{s:o}]", "request_put", ekv_txn_put(e, k, holder,
	    strlen(holder), 0, lease)), &rev, eb);
	if (r != 1) {
		ekv_lease_revoke(e, lease);
		if (r == 0)
			errbuf_set(eb, "lock %s: held by another process", name);
		free(k);
		errno = r == 0 ? EWOULDBLOCK : EIO;
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->base.s = s;
	l->key = k;
	l->lease = lease;
	l->created = rev;	/* the txn's revision is the key's creation */
	return &l->base;
}

/* A kept lock: what the keeper's last refresh found (no network here). */
static int
etcd_lock_keepalive(struct store_lock *l)
{
	struct etcd_lock *el = (struct etcd_lock *)l;

	if (el->kept)
		return etcd_keeper_alive(E(l->s)->keeper, el->lease) == 0 ? -1 : 0;
	return ekv_lease_keepalive(E(l->s), el->lease) > 0 ? 0 : -1;
}

static int
etcd_lock_keep(struct store_lock *l, long ttl, struct errbuf *eb)
{
	struct etcd_lock *el = (struct etcd_lock *)l;

	if (el->kept)
		return 0;
	if (etcd_keeper_add(E(l->s)->keeper, el->lease, ttl, eb) == -1)
		return -1;
	el->kept = 1;
	return 0;
}

/* Still ours: the key exists, was created by our txn, on our lease. */
static int
etcd_lock_check(struct store_lock *l)
{
	struct etcd_lock	*el = (struct etcd_lock *)l;
	struct store_etcd	*e = E(l->s);
	json_t			*kvs, *kv;
	struct errbuf		 eb;
	size_t			 i;
	int			 ok = 0;

	if ((kvs = ekv_range(e, el->key, 1, &eb)) == NULL)
		return 0;
	json_array_foreach(kvs, i, kv) {
		char *k = ekv_key(kv);
		if (k != NULL && strcmp(k, el->key) == 0 &&
		    etcd_int(json_object_get(kv, "create_revision")) == el->created &&
		    etcd_int(json_object_get(kv, "lease")) == el->lease)
			ok = 1;
		free(k);
	}
	json_decref(kvs);
	return ok;
}

static void
etcd_lock_release(struct store_lock *l)
{
	struct etcd_lock *el = (struct etcd_lock *)l;

	if (el->kept)
		etcd_keeper_remove(E(l->s)->keeper, el->lease);
	/* Revoking the lease deletes the key with it. */
	ekv_lease_revoke(E(l->s), el->lease);
	free(el->key);
	free(el);
}

/* ---- challenges ------------------------------------------------------------ */

static int
chal_key_ok(const char *key)
{
	return key != NULL && key[0] != '\0' && strlen(key) < 512 &&
	    strstr(key, "..") == NULL;
}

static int
etcd_challenge_put(struct store *s, const char *key, const char *value, long ttl,
    struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	char			*k;
	int64_t			 lease = 0;
	int			 rc;

	if (!chal_key_ok(key))
		return errbuf_set(eb, "store: bad challenge key");
	if (ttl > 0 && (lease = ekv_lease_grant(e, ttl, eb)) == -1)
		return -1;
	k = xasprintf("%schallenge/%s", e->prefix, key);
	rc = ekv_put(e, k, value, strlen(value), 0, lease, eb);
	free(k);
	return rc;
}

static char *
etcd_challenge_get(struct store *s, const char *key)
{
	struct store_etcd	*e = E(s);
	struct etcd_value	 v;
	struct errbuf		 eb;
	char			*k;

	if (!chal_key_ok(key))
		return NULL;
	k = xasprintf("%schallenge/%s", e->prefix, key);
	if (ekv_get(e, k, 0, &v, &eb) != 1)
		v.data = NULL;
	free(k);
	return (char *)v.data;
}

/* Our own deletes are notified by store.c: the watch skips them. */
static void
dels_add(struct store_etcd *e, const char *k)
{
	pthread_mutex_lock(&e->mtx);
	if (e->ndels == ETCD_MAX_DELS) {
		free(e->dels[0]);
		memmove(e->dels, e->dels + 1, --e->ndels * sizeof(*e->dels));
	}
	e->dels = xrealloc(e->dels, (e->ndels + 1) * sizeof(*e->dels));
	e->dels[e->ndels++] = xstrdup(k);
	pthread_mutex_unlock(&e->mtx);
}

/* 1 if k was ours (and forget it). */
static int
dels_take(struct store_etcd *e, const char *k)
{
	int found = 0;

	pthread_mutex_lock(&e->mtx);
	for (size_t i = 0; i < e->ndels; i++)
		if (strcmp(e->dels[i], k) == 0) {
			free(e->dels[i]);
			memmove(e->dels + i, e->dels + i + 1,
			    (e->ndels - i - 1) * sizeof(*e->dels));
			e->ndels--;
			found = 1;
			break;
		}
	pthread_mutex_unlock(&e->mtx);
	return found;
}

static void
etcd_challenge_del(struct store *s, const char *key)
{
	struct store_etcd	*e = E(s);
	struct errbuf		 eb;
	char			*k;

	if (!chal_key_ok(key))
		return;
	k = xasprintf("%schallenge/%s", e->prefix, key);
	dels_add(e, k);
	if (ekv_del(e, k, 0, &eb) != 1)
		dels_take(e, k);	/* nothing deleted: no event comes */
	free(k);
	/* Its acknowledgements (etcd_member.c). */
	k = xasprintf("%schallenge-ack/%s/", e->prefix, key);
	ekv_del(e, k, 1, &eb);
	free(k);
}

/* ---- ticket, ECH and sticky keys: sealed blobs -------------------------------------- */

static int
etcd_blob_get(struct store *s, enum store_blob b, void *buf, size_t cap,
    size_t *len, time_t *updated)
{
	struct store_etcd	*e = E(s);
	struct etcd_value	 v;
	struct errbuf		 eb;
	char			*k = xasprintf("%s%s", e->prefix, store_blob_names[b]);
	int			 rc = -1;

	if (ekv_get(e, k, 0, &v, &eb) == 1) {
		if (v.len <= cap) {
			memcpy(buf, v.data, v.len);
			*len = v.len;
			if (updated != NULL)
				*updated = v.written;
			rc = 0;
		}
		value_free(&v);
	}
	free(k);
	return rc;
}

static int
etcd_blob_put(struct store *s, enum store_blob b, const void *buf, size_t len,
    struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	char			*k = xasprintf("%s%s", e->prefix, store_blob_names[b]);
	int			 rc;

	rc = ekv_put(e, k, buf, len, 1, 0, eb);
	free(k);
	return rc;
}

/* ---- renewal requests ------------------------------------------------------ */

static int
etcd_renew_request(struct store *s, const char *name, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	char			*k;
	int			 rc;

	if (!store_name_ok(name))
		return errbuf_set(eb, "bad name \"%s\"", name);
	k = xasprintf("%srenew/%s", e->prefix, name);
	rc = ekv_put(e, k, "", 0, 0, 0, eb);
	free(k);
	return rc;
}

/* Each request goes to the one taker whose delete removed it. */
static void
etcd_renew_requests_take(struct store *s, void (*fn)(const char *, void *),
    void *arg)
{
	struct store_etcd	*e = E(s);
	char			*pre = xasprintf("%srenew/", e->prefix);
	json_t			*kvs, *kv;
	struct errbuf		 eb;
	size_t			 i;

	if ((kvs = ekv_range(e, pre, 1, &eb)) != NULL) {
		json_array_foreach(kvs, i, kv) {
			char *k = ekv_key(kv);
			if (k != NULL && strncmp(k, pre, strlen(pre)) == 0 &&
			    store_name_ok(k + strlen(pre)) &&
			    ekv_del(e, k, 0, &eb) == 1)
				fn(k + strlen(pre), arg);
			free(k);
		}
		json_decref(kvs);
	}
	free(pre);
}

/* The blob a key under the prefix names, or STORE_BLOB__MAX. */
static enum store_blob
blob_of(const char *rel)
{
	for (int b = 0; b < STORE_BLOB__MAX; b++)
		if (strcmp(rel, store_blob_names[b]) == 0)
			return (enum store_blob)b;
	return STORE_BLOB__MAX;
}

/* ---- the watch's events ---------------------------------------------------- */

void
etcd_on_event(struct store_etcd *e, int put, const char *key,
    const unsigned char *v, size_t n, int64_t rev)
{
	struct store_event	 ev;
	struct etcd_value	 val;
	struct errbuf		 eb;
	const char		*rel;
	char			 slug[300], name[256];
	enum certfile_keytype	 kt;
	int			 own;

	if (strncmp(key, e->prefix, strlen(e->prefix)) != 0)
		return;
	rel = key + strlen(e->prefix);
	own = put && etcd_seal_writer(v, n) == e->writer;
	memset(&ev, 0, sizeof(ev));
	if (strncmp(rel, "challenge/", 10) == 0) {
		ev.key = rel + 10;
		if (!put) {
			if (dels_take(e, key))
				return;
			ev.kind = STORE_CHANGE_CHALLENGE_DEL;
			store_notify(&e->base, &ev);
			return;
		}
		if (own || etcd_seal_open(e->seal, key, v, n, &val, &eb) == -1)
			return;
		ev.kind = STORE_CHANGE_CHALLENGE_PUT;
		ev.value = (char *)val.data;
		store_notify(&e->base, &ev);
		value_free(&val);
	} else if (blob_of(rel) != STORE_BLOB__MAX) {
		static const enum store_change kinds[STORE_BLOB__MAX] = {
			[STORE_BLOB_TICKETS] = STORE_CHANGE_TICKETS,
			[STORE_BLOB_ECH] = STORE_CHANGE_ECH,
			[STORE_BLOB_STICKY] = STORE_CHANGE_STICKY,
		};

		if (!put || own)
			return;
		ev.kind = kinds[blob_of(rel)];
		store_notify(&e->base, &ev);
	} else if (strncmp(rel, "renew/", 6) == 0) {
		/* store.c notifies no request: every one comes from here. */
		if (!put || !store_name_ok(rel + 6))
			return;
		ev.kind = STORE_CHANGE_RENEW_REQUEST;
		ev.name = rel + 6;
		store_notify(&e->base, &ev);
	} else if (put && !own && strncmp(rel, "ca/", 3) == 0 &&
	    etcd_parse_cert_key(rel + 3, slug, sizeof(slug), name, sizeof(name),
	    &kt) == 0 && strcmp(slug, e->slug) == 0 &&
	    strlen(key) > 6 && strcmp(key + strlen(key) - 6, "/chain") == 0) {
		/* The chain and its key, as that txn wrote them. */
		eb.msg[0] = '\0';
		ev.cf = etcd_cert_read(e, e->ns, name, kt, rev, NULL, &eb);
		/* Compacted past rev since: the latest is as good. */
		if (ev.cf == NULL && strstr(eb.msg, "compacted") != NULL)
			ev.cf = etcd_cert_read(e, e->ns, name, kt, 0, NULL, &eb);
		if (ev.cf == NULL)
			return;
		ev.kind = STORE_CHANGE_CERT;
		ev.name = name;
		ev.kt = kt;
		store_notify(&e->base, &ev);
		certfile_unref(ev.cf);
	}
}

/* ---- reachability ---------------------------------------------------------- */

static int
etcd_available(struct store *s)
{
	return etcd_client_up(E(s)->c);
}

static void
etcd_status(struct store *s, struct store_status *st)
{
	struct store_etcd *e = E(s);

	etcd_client_health(e->c, st);
	st->local_certs = e->copy != NULL ? etcd_copy_count(e->copy) : -1;
	st->from_copy = atomic_load(&e->from_copy);
}

static const struct store_ops etcd_ops = {
	.kind = "etcd",
	.close = etcd_close,
	.cert_get = etcd_cert_get,
	.cert_put = etcd_cert_put,
	.cert_put_fenced = etcd_cert_put_fenced,
	/* A watch delivers in milliseconds; a second covers a busy node. */
	.challenge_settle_ms = 5000,
	.member_join = etcd_member_join,
	.challenge_ack = etcd_challenge_ack,
	.challenge_acked = etcd_challenge_acked,
	.list = etcd_list,
	.account_key = etcd_account_key,
	.account_url = etcd_account_url,
	.account_url_put = etcd_account_url_put,
	.renewal_get = etcd_renewal_get,
	.renewal_put = etcd_renewal_put,
	.lock_acquire = etcd_lock_acquire,
	.lock_keepalive = etcd_lock_keepalive,
	.lock_keep = etcd_lock_keep,
	.lock_check = etcd_lock_check,
	.lock_release = etcd_lock_release,
	.challenge_put = etcd_challenge_put,
	.challenge_get = etcd_challenge_get,
	.challenge_del = etcd_challenge_del,
	.challenge_list = etcd_challenge_list,
	.blob_get = etcd_blob_get,
	.blob_put = etcd_blob_put,
	.renew_request = etcd_renew_request,
	.renew_requests_take = etcd_renew_requests_take,
	.ondemand_touch = etcd_ondemand_touch,
	.ondemand_get = etcd_ondemand_get,
	.ondemand_list = etcd_ondemand_list,
	.ondemand_remove = etcd_ondemand_remove,
	.ondemand_count = etcd_ondemand_count,
	.available = etcd_available,
	.status = etcd_status,
};
