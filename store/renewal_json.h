/*
 * renewal_json.h - a certificate's renewal state (store.h's struct
 * store_renewal) as the JSON text every store backend keeps, so the file
 * and etcd backends write and read one format. Pure functions; any thread.
 * For store backends only.
 */
#ifndef TLSGATE_RENEWAL_JSON_H
#define TLSGATE_RENEWAL_JSON_H

#include <stddef.h>

#include "store.h"

/* The state of name (key type kt; cur: the certificate in service, or
 * NULL) as a new JSON string, indented when pretty; NULL if it cannot be
 * encoded. */
char	*renewal_json_encode(const char *name, enum certfile_keytype kt,
	    const struct store_renewal *r, const struct certfile *cur, int pretty);
/* Parse len bytes of text into r: 0, or -1 if it is not a JSON object. */
int	 renewal_json_decode(const char *text, size_t len, struct store_renewal *r);

#endif
