/*
 * etcd_reseal.c - moving the fleet's sealed values to a new encryption key
 * (docs/cluster.md, "Rotating the encryption key").
 *
 * With store.etcd.previous_key_file, a handle opens values sealed under
 * either key (etcd_seal_add_previous) and seals new ones under key_file
 * only. Once its watch thread reaches etcd, it calls etcd_reseal once:
 * every value under the prefix that opens only under the previous key is
 * written back sealed under the current one, in a txn that compares the
 * value's mod revision, so a value another node changed meanwhile keeps
 * that node's write (already under the new key). Several nodes resealing
 * together is harmless: the second finds nothing stale. The local copy
 * reseals its own files when it reads them (etcd_copy.c).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

#include "errbuf.h"
#include "etcd_impl.h"
#include "xalloc.h"

long
etcd_reseal(struct store_etcd *e, long *left, struct errbuf *eb)
{
	json_t	*kvs, *kv;
	size_t	 i;
	long	 n = 0;

	*left = 0;
	if ((kvs = ekv_range(e, e->prefix, 0, eb)) == NULL)
		return -1;
	json_array_foreach(kvs, i, kv) {
		char			*k = ekv_key(kv);
		unsigned char		*raw = NULL;
		size_t			 len = 0;
		struct etcd_value	 v;
		struct errbuf		 e2;
		json_t			*put;
		int			 r;

		memset(&v, 0, sizeof(v));
		/* Only sealed envelopes ('E' after "TG1") can be stale. */
		if (k == NULL || (raw = ekv_raw(kv, &len)) == NULL || len < 4 ||
		    raw[3] != 'E' ||
		    etcd_seal_open(e->seal, k, raw, len, &v, &e2) == -1 ||
		    !v.stale)
			goto next;
		put = ekv_txn_put(e, k, v.data, v.len, 1,
		    etcd_int(json_object_get(kv, "lease")));
		r = ekv_txn(e, json_pack("[o]", ekv_cmp_mod(k,
		    etcd_int(json_object_get(kv, "mod_revision")))),
		    json_pack("[{s:o}]", "request_put", put), NULL, &e2);
		if (r == 1)
			n++;
		else
			(*left)++;
next:
		if (v.data != NULL) {
			OPENSSL_cleanse(v.data, v.len);
			free(v.data);
		}
		if (raw != NULL) {
			OPENSSL_cleanse(raw, len);
			free(raw);
		}
		free(k);
	}
	json_decref(kvs);
	return n;
}
