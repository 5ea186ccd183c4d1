/*
 * fuzz_http80 - port 80's Host handling: http80_redirect_url() turns a Host
 * header and a request URI into the Location of the redirect, or refuses.
 *
 * Input: two bytes of HTTPS port (big-endian), then "Host \0 URI".
 * Checked beyond memory safety: a redirect always goes to https://, to the
 * Host's own host (letters, digits, '.', '-', or a bracketed IPv6 literal),
 * followed by ":port" (port != 443) and a path starting with '/', and never
 * carries CR, LF or other control characters into the header.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http80.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*buf, *host, *uri, *loc;
	const char	*p;
	size_t		 hlen;
	int		 port;

	if (size < 2)
		return 0;
	port = data[0] << 8 | data[1];
	if ((buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	host = buf;
	uri = strlen(buf) < size - 2 ? buf + strlen(buf) + 1 : NULL;
	/* evhttp refuses control characters in the request line and headers. */
	for (p = uri; p != NULL && *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			goto out;
	if ((loc = http80_redirect_url(host, uri, port)) == NULL)
		goto out;
	if (strncmp(loc, "https://", 8) != 0)
		abort();
	p = loc + 8;
	if (*p == '[')
		hlen = strcspn(p, "]") + 1;
	else
		hlen = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.-");
	if (hlen == 0 || strncmp(p, host, hlen) != 0)
		abort();
	p += hlen;
	if (port != 443) {
		if (*p++ != ':')
			abort();
		p += strspn(p, "0123456789");
	}
	if (*p != '/')
		abort();
	for (; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			abort();
	free(loc);
out:
	free(buf);
	return 0;
}
