/*
 * etcd_kv.c - the etcd backend's key-value, txn and lease calls, in
 * envelopes (etcd_impl.h). Blocking; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

#include "errbuf.h"
#include "etcd_impl.h"
#include "log.h"
#include "xalloc.h"

static json_t *
jb64(const void *p, size_t n)
{
	char	*s = etcd_b64(p, n);
	json_t	*j = json_string(s);

	free(s);
	return j;
}

static json_t *
jkey(const char *key)
{
	return jb64(key, strlen(key));
}

char *
ekv_key(const json_t *kv)
{
	const char	*k = json_string_value(json_object_get(kv, "key"));
	size_t		 n;

	return k != NULL ? (char *)etcd_unb64(k, &n) : NULL;
}

unsigned char *
ekv_raw(const json_t *kv, size_t *len)
{
	const char *v = json_string_value(json_object_get(kv, "value"));

	if (v == NULL) {	/* the gateway leaves an empty value out */
		*len = 0;
		return xcalloc(1, 1);
	}
	return etcd_unb64(v, len);
}

int
ekv_get(struct store_etcd *e, const char *key, int64_t rev,
    struct etcd_value *out, struct errbuf *eb)
{
	json_t		*req = json_object(), *resp, *kv;
	unsigned char	*raw;
	size_t		 n;
	int		 rc;

	json_object_set_new(req, "key", jkey(key));
	if (rev > 0)
		json_object_set_new(req, "revision", json_integer(rev));
	if (etcd_call(e->c, "/v3/kv/range", req, &resp, eb) == -1)
		return -1;
	kv = json_array_get(json_object_get(resp, "kvs"), 0);
	if (kv == NULL) {
		json_decref(resp);
		return 0;
	}
	if ((raw = ekv_raw(kv, &n)) == NULL) {
		json_decref(resp);
		return errbuf_set(eb, "etcd: %s: bad base64 from the gateway", key);
	}
	rc = etcd_seal_open(e->seal, key, raw, n, out, eb);
	OPENSSL_cleanse(raw, n);
	free(raw);
	json_decref(resp);
	return rc == 0 ? 1 : -1;
}

json_t *
ekv_txn_put(struct store_etcd *e, const char *key, const void *p, size_t n,
    int private, int64_t lease)
{
	size_t		 len;
	unsigned char	*v = etcd_seal_wrap(e->seal, key, e->writer, private, p, n,
			    &len);
	json_t		*put = json_object();

	json_object_set_new(put, "key", jkey(key));
	json_object_set_new(put, "value", jb64(v, len));
	if (lease > 0)
		json_object_set_new(put, "lease", json_integer(lease));
	free(v);
	return put;
}

int
ekv_put(struct store_etcd *e, const char *key, const void *p, size_t n,
    int private, int64_t lease, struct errbuf *eb)
{
	json_t *resp;

	if (etcd_call(e->c, "/v3/kv/put", ekv_txn_put(e, key, p, n, private,
	    lease), &resp, eb) == -1)
		return -1;
	json_decref(resp);
	return 0;
}

long
ekv_del(struct store_etcd *e, const char *key, int prefix, struct errbuf *eb)
{
	json_t	*req = json_object(), *resp;
	long	 n;

	json_object_set_new(req, "key", jkey(key));
	if (prefix) {
		char *end = etcd_prefix_end(key);
		json_object_set_new(req, "range_end", jkey(end));
		free(end);
	}
	if (etcd_call(e->c, "/v3/kv/deleterange", req, &resp, eb) == -1)
		return -1;
	n = (long)etcd_int(json_object_get(resp, "deleted"));
	json_decref(resp);
	return n;
}

static json_t *
range(struct store_etcd *e, const char *prefix, int keys_only, int local,
    struct errbuf *eb)
{
	json_t	*req = json_object(), *resp, *kvs;
	char	*end = etcd_prefix_end(prefix);

	json_object_set_new(req, "key", jkey(prefix));
	json_object_set_new(req, "range_end", jkey(end));
	free(end);
	if (keys_only)
		json_object_set_new(req, "keys_only", json_true());
	if (local)
		json_object_set_new(req, "serializable", json_true());
	if (etcd_call(e->c, "/v3/kv/range", req, &resp, eb) == -1)
		return NULL;
	kvs = json_object_get(resp, "kvs");
	kvs = json_is_array(kvs) ? json_incref(kvs) : json_array();
	json_decref(resp);
	return kvs;
}

json_t *
ekv_range(struct store_etcd *e, const char *prefix, int keys_only,
    struct errbuf *eb)
{
	return range(e, prefix, keys_only, 0, eb);
}

json_t *
ekv_range_local(struct store_etcd *e, const char *prefix, int keys_only,
    struct errbuf *eb)
{
	return range(e, prefix, keys_only, 1, eb);
}

int
ekv_txn(struct store_etcd *e, json_t *compare, json_t *success, int64_t *rev,
    struct errbuf *eb)
{
	json_t	*req = json_object(), *resp;
	int	 ok;

	json_object_set_new(req, "compare", compare);
	json_object_set_new(req, "success", success);
	if (etcd_call(e->c, "/v3/kv/txn", req, &resp, eb) == -1)
		return -1;
	ok = json_is_true(json_object_get(resp, "succeeded"));
	if (rev != NULL)
		*rev = etcd_int(json_object_get(json_object_get(resp, "header"),
		    "revision"));
	json_decref(resp);
	return ok;
}

int64_t
ekv_lease_grant(struct store_etcd *e, long ttl, struct errbuf *eb)
{
	json_t	*resp;
	int64_t	 id;

	if (etcd_call(e->c, "/v3/lease/grant", json_pack("{s:I}", "TTL",
	    (json_int_t)ttl), &resp, eb) == -1)
		return -1;
	id = etcd_int(json_object_get(resp, "ID"));
	json_decref(resp);
	if (id <= 0)
		return errbuf_set(eb, "etcd: lease grant returned no ID");
	return id;
}

long
ekv_lease_keepalive(struct store_etcd *e, int64_t id)
{
	return etcd_lease_keepalive(e->c, id);
}

void
ekv_lease_revoke(struct store_etcd *e, int64_t id)
{
	json_t		*resp;
	struct errbuf	 eb;

	if (etcd_call(e->c, "/v3/lease/revoke", json_pack("{s:I}", "ID",
	    (json_int_t)id), &resp, &eb) == 0)
		json_decref(resp);
}

int64_t
ekv_revision(struct store_etcd *e, struct errbuf *eb)
{
	json_t	*req = json_object(), *resp;
	int64_t	 rev;

	json_object_set_new(req, "key", jkey(e->prefix));
	json_object_set_new(req, "count_only", json_true());
	if (etcd_call(e->c, "/v3/kv/range", req, &resp, eb) == -1)
		return -1;
	rev = etcd_int(json_object_get(json_object_get(resp, "header"),
	    "revision"));
	json_decref(resp);
	return rev;
}

json_t *
ekv_cmp_created(const char *key, int64_t rev)
{
	return json_pack("{s:o, s:s, s:s, s:I}", "key", jkey(key),
	    "target", "CREATE", "result", "EQUAL", "create_revision",
	    (json_int_t)rev);
}

json_t *
ekv_cmp_mod(const char *key, int64_t rev)
{
	return json_pack("{s:o, s:s, s:s, s:I}", "key", jkey(key),
	    "target", "MOD", "result", "EQUAL", "mod_revision", (json_int_t)rev);
}

int
ekv_get2(struct store_etcd *e, const char *k1, const char *k2, int64_t rev,
    struct etcd_value out[2], int found[2], struct errbuf *eb)
{
	const char	*keys[2] = { k1, k2 };
	json_t		*ops = json_array(), *req = json_object(), *resp;
	int		 rc = 0;

	for (int i = 0; i < 2; i++) {
		json_t *r = json_object();
		json_object_set_new(r, "key", jkey(keys[i]));
		if (rev > 0)
			json_object_set_new(r, "revision", json_integer(rev));
		json_array_append_new(ops, json_pack("{s:o}", "request_range", r));
		found[i] = 0;
	}
	/* One txn: both values from one revision. */
	json_object_set_new(req, "success", ops);
	if (etcd_call(e->c, "/v3/kv/txn", req, &resp, eb) == -1)
		return -1;
	for (int i = 0; i < 2 && rc == 0; i++) {
		json_t		*kv = json_array_get(json_object_get(json_object_get(
				    json_array_get(json_object_get(resp, "responses"), i),
				    "response_range"), "kvs"), 0);
		unsigned char	*raw;
		size_t		 n;

		if (kv == NULL)
			continue;
		if ((raw = ekv_raw(kv, &n)) == NULL) {
			rc = errbuf_set(eb, "etcd: %s: bad base64 from the gateway",
			    keys[i]);
			break;
		}
		if (etcd_seal_open(e->seal, keys[i], raw, n, &out[i], eb) == 0)
			found[i] = 1;
		else
			rc = -1;
		OPENSSL_cleanse(raw, n);
		free(raw);
	}
	if (rc == -1)
		for (int i = 0; i < 2; i++)
			if (found[i]) {
				OPENSSL_cleanse(out[i].data, out[i].len);
				free(out[i].data);
				found[i] = 0;
			}
	json_decref(resp);
	return rc;
}

int
ekv_range_each(struct store_etcd *e, const char *prefix,
    void (*fn)(const char *rest, const struct etcd_value *, void *), void *arg)
{
	struct errbuf	 eb;
	json_t		*kvs, *kv;
	size_t		 i, plen = strlen(prefix);

	if ((kvs = ekv_range(e, prefix, 0, &eb)) == NULL)
		return -1;
	json_array_foreach(kvs, i, kv) {
		char			*k = ekv_key(kv);
		unsigned char		*raw;
		size_t			 n;
		struct etcd_value	 v;

		if (k != NULL && strncmp(k, prefix, plen) == 0 &&
		    (raw = ekv_raw(kv, &n)) != NULL) {
			if (etcd_seal_open(e->seal, k, raw, n, &v, &eb) == 0) {
				fn(k + plen, &v, arg);
				OPENSSL_cleanse(v.data, v.len);
				free(v.data);
			} else
				log_warnx("%s", eb.msg);
			free(raw);
		}
		free(k);
	}
	json_decref(kvs);
	return 0;
}
