/* b64url.c - base64url encode and strict decode. */
#include "b64url.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static const char b64url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
b64url_encode(const uint8_t *in, size_t len)
{
	char	*out = xmalloc(len / 3 * 4 + 5), *p = out;
	size_t	 i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*p++ = b64url_alpha[v >> 18];
		*p++ = b64url_alpha[(v >> 12) & 63];
		*p++ = b64url_alpha[(v >> 6) & 63];
		*p++ = b64url_alpha[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		*p++ = b64url_alpha[v >> 18];
		*p++ = b64url_alpha[(v >> 12) & 63];
		if (i + 1 < len)
			*p++ = b64url_alpha[(v >> 6) & 63];
	}
	*p = '\0';
	return out;
}

static int
b64url_val(char c)
{
	const char *p;

	if (c == '\0' || (p = strchr(b64url_alpha, c)) == NULL)
		return -1;
	return (int)(p - b64url_alpha);
}

uint8_t *
b64url_decode(const char *s, size_t *outlen)
{
	size_t	 len = strlen(s), n = 0;
	uint8_t	*out;
	uint32_t acc = 0;
	int	 bits = 0, v;

	if (len % 4 == 1)
		return NULL;
	out = xmalloc(len * 3 / 4 + 1);
	for (size_t i = 0; i < len; i++) {
		if ((v = b64url_val(s[i])) == -1) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Leftover bits must be zero (canonical encoding). */
	if ((acc & ((1u << bits) - 1)) != 0) {
		free(out);
		return NULL;
	}
	*outlen = n;
	return out;
}
