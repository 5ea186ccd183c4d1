/*
 * etcd_od.c - the etcd backend's on-demand index: one small key per name,
 *
 *   P ca/<ca-slug>/ondemand/<name>   "LAST_USED NOT_BEFORE NOT_AFTER"
 *
 * listed and counted with ranges that read no certificate (count with
 * count_only). remove deletes the name's certificates and renewal state
 * and its index entry in one txn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "etcd_impl.h"
#include "xalloc.h"

static char *
od_key(struct store_etcd *e, const char *name)
{
	return xasprintf("%sondemand/%s", e->ns, name != NULL ? name : "");
}

int
etcd_ondemand_touch(struct store *s, const char *name,
    const struct store_ondemand *rec, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	char			*k, text[80];
	int			 n, rc;

	if (e->ns == NULL || !store_name_ok(name))
		return errbuf_set(eb, "store: bad on-demand name \"%s\"", name);
	n = (int)store_ondemand_format(rec, text, sizeof(text));
	k = od_key(e, name);
	rc = ekv_put(e, k, text, (size_t)n, 0, 0, eb);
	free(k);
	return rc;
}

/* Unreadable: as if never used, with no certificate (as the file backend). */
static void
od_parse(const struct etcd_value *v, struct store_ondemand *rec)
{
	store_ondemand_parse((const char *)v->data, rec);
}

int
etcd_ondemand_get(struct store *s, const char *name, struct store_ondemand *rec)
{
	struct store_etcd	*e = E(s);
	struct etcd_value	 v;
	struct errbuf		 eb;
	char			*k;
	int			 got;

	if (e->ns == NULL || !store_name_ok(name))
		return -1;
	k = od_key(e, name);
	got = ekv_get(e, k, 0, &v, &eb);
	free(k);
	if (got != 1)
		return -1;
	od_parse(&v, rec);
	free(v.data);
	return 0;
}

struct od_listing {
	store_ondemand_fn	*fn;
	void			*arg;
};

static void
on_record(const char *name, const struct etcd_value *v, void *arg)
{
	struct od_listing	*l = arg;
	struct store_ondemand	 rec;

	if (!store_name_ok(name))
		return;
	od_parse(v, &rec);
	l->fn(name, &rec, l->arg);
}

int
etcd_ondemand_list(struct store *s, store_ondemand_fn *fn, void *arg)
{
	struct store_etcd	*e = E(s);
	struct od_listing	 l = { fn, arg };
	char			*pre;
	int			 rc;

	if (e->ns == NULL)
		return -1;
	pre = od_key(e, NULL);
	rc = ekv_range_each(e, pre, on_record, &l);
	free(pre);
	return rc;
}

long
etcd_ondemand_count(struct store *s)
{
	struct store_etcd	*e = E(s);
	char			*pre, *end, *b1, *b2;
	json_t			*resp;
	struct errbuf		 eb;
	long			 n;

	if (e->ns == NULL)
		return -1;
	pre = od_key(e, NULL);
	end = etcd_prefix_end(pre);
	b1 = etcd_b64(pre, strlen(pre));
	b2 = etcd_b64(end, strlen(end));
	n = etcd_call(e->c, "/v3/kv/range", json_pack("{s:s, s:s, s:b}",
	    "key", b1, "range_end", b2, "count_only", 1), &resp, &eb);
	free(pre);
	free(end);
	free(b1);
	free(b2);
	if (n == -1)
		return -1;
	n = (long)etcd_int(json_object_get(resp, "count"));
	json_decref(resp);
	return n;
}

int
etcd_ondemand_remove(struct store *s, const char *name, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	char			*certs, *cend, *k, *b[3];
	json_t			*ops;
	int			 rc;

	if (e->ns == NULL || !store_name_ok(name))
		return errbuf_set(eb, "store: bad on-demand name \"%s\"", name);
	certs = xasprintf("%scert/%s/", e->ns, name);
	cend = etcd_prefix_end(certs);
	k = od_key(e, name);
	b[0] = etcd_b64(certs, strlen(certs));
	b[1] = etcd_b64(cend, strlen(cend));
	b[2] = etcd_b64(k, strlen(k));
	ops = json_pack("[{s:{s:s, s:s}}, {s:{s:s}}]",
	    "request_delete_range", "key", b[0], "range_end", b[1],
	    "request_delete_range", "key", b[2]);
	rc = ekv_txn(e, json_array(), ops, NULL, eb) == 1 ? 0 : -1;
	for (int i = 0; i < 3; i++)
		free(b[i]);
	free(certs);
	free(cend);
	free(k);
	return rc;
}
