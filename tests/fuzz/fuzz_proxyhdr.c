/*
 * fuzz_proxyhdr - the PROXY protocol header builder (terminator/proxyhdr.h).
 *
 * Input: version byte, family byte, 36 address bytes (source and destination
 * addresses and ports), an ALPN length byte, then "ALPN SNI \0 TLSVERSION".
 * Checked beyond memory safety: the header fits PROXYHDR_MAX; a v1 header is
 * one CRLF-terminated line of at most 107 bytes; a v2 header's length field
 * matches and its TLVs parse back to the ALPN and SNI given.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyhdr.h"

static void
check_v2(const uint8_t *b, size_t n, const uint8_t *alpn, size_t alen,
    const char *sni)
{
	size_t off, tlen;
	int seen_alpn = 0, seen_sni = 0;

	if (n < 16 || (size_t)(b[14] << 8 | b[15]) != n - 16)
		abort();
	off = 16 + (b[13] == 0x11 ? 12 : 36);
	while (off < n) {
		if (off + 3 > n)
			abort();
		tlen = (size_t)(b[off + 1] << 8 | b[off + 2]);
		if (off + 3 + tlen > n)
			abort();
		if (b[off] == 0x01) {
			seen_alpn = 1;
			if (tlen != alen || memcmp(b + off + 3, alpn, alen) != 0)
				abort();
		} else if (b[off] == 0x02) {
			seen_sni = 1;
			if (tlen != strlen(sni) || memcmp(b + off + 3, sni, tlen) != 0)
				abort();
		}
		off += 3 + tlen;
	}
	if (seen_alpn != (alen > 0) || seen_sni != (sni[0] != '\0'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t			 out[PROXYHDR_MAX], *rest;
	struct sockaddr_storage	 src, dst;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&src, *d4 = (struct sockaddr_in *)&dst;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&src, *d6 = (struct sockaddr_in6 *)&dst;
	size_t			 alen, n, rlen;
	const char		*sni, *ver;
	int			 version, fam;

	if (size < 2 + 36 + 1)
		return 0;
	version = data[0] % 4;
	fam = data[1] % 3 == 0 ? AF_INET : data[1] % 3 == 1 ? AF_INET6 : AF_UNIX;
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	src.ss_family = dst.ss_family = (sa_family_t)fam;
	if (data[1] & 0x80)
		dst.ss_family = fam == AF_INET ? AF_INET6 : AF_INET;
	if (fam == AF_INET) {
		memcpy(&s4->sin_addr, data + 2, 4);
		memcpy(&d4->sin_addr, data + 6, 4);
		memcpy(&s4->sin_port, data + 10, 2);
		memcpy(&d4->sin_port, data + 12, 2);
	} else if (fam == AF_INET6) {
		memcpy(&s6->sin6_addr, data + 2, 16);
		memcpy(&d6->sin6_addr, data + 18, 16);
		memcpy(&s6->sin6_port, data + 34, 2);
		memcpy(&d6->sin6_port, data + 36, 2);
	}
	alen = data[38];
	rlen = size - 39;
	/* A private NUL-terminated copy of the rest: ALPN, SNI \0 version. */
	if ((rest = malloc(rlen + 2)) == NULL)
		return 0;
	memcpy(rest, data + 39, rlen);
	rest[rlen] = rest[rlen + 1] = '\0';
	if (alen > rlen)
		alen = rlen;
	sni = (const char *)rest + alen;
	ver = sni + strlen(sni) + 1;
	if ((const uint8_t *)ver > rest + rlen + 1)
		ver = "";
	n = proxyhdr_build(out, version, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, rest, alen, sni, ver);
	if (n > PROXYHDR_MAX)
		abort();
	if (n > 0 && version == 1 && (n > 107 || out[n - 2] != '\r' ||
	    out[n - 1] != '\n' || memchr(out, '\n', n - 1) != NULL))
		abort();
	if (n > 0 && version == 2)
		check_v2(out, n, rest, alen, sni);
	if (n > 0 && (version == 0 || version == 3 || src.ss_family != dst.ss_family))
		abort();
	free(rest);
	return 0;
}
