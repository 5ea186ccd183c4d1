/*
 * b64url.h - base64url without padding (RFC 4648 section 5), as JOSE uses it.
 * No state: any thread; the caller frees what is returned.
 */
#ifndef TLSGATE_B64URL_H
#define TLSGATE_B64URL_H

#include <stddef.h>
#include <stdint.h>

/* Returns a new NUL-terminated string. */
char	*b64url_encode(const uint8_t *in, size_t len);
/* Decode s into a new buffer, *outlen set; NULL if s is not valid base64url. */
uint8_t	*b64url_decode(const char *s, size_t *outlen);

#endif
