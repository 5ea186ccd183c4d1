/*
 * proxyhdr.c - PROXY protocol v1 and v2 headers, built from plain values so
 * that the byte layout can be tested and fuzzed without a connection.
 *
 * Every length that reaches a one-byte or two-byte length field is checked
 * against that field here; the callers' buffers are sized by PROXYHDR_MAX.
 */
#include "proxyhdr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

size_t
proxyhdr_build(uint8_t *b, int version, const struct sockaddr *src,
    const struct sockaddr *dst, const uint8_t *alpn, size_t alpn_len,
    const char *sni, const char *tls_version)
{
	static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
	    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)src;
	const struct sockaddr_in *d4 = (const struct sockaddr_in *)dst;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)src;
	const struct sockaddr_in6 *d6 = (const struct sockaddr_in6 *)dst;
	size_t		 sl, vl, len;
	uint8_t		*p;
	int		 v4, n;

	if (src->sa_family != dst->sa_family ||
	    (src->sa_family != AF_INET && src->sa_family != AF_INET6))
		return 0;
	v4 = src->sa_family == AF_INET;
	if (version == 1) {
		char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];

		inet_ntop(src->sa_family, v4 ? (const void *)&s4->sin_addr :
		    (const void *)&s6->sin6_addr, sa, sizeof(sa));
		inet_ntop(dst->sa_family, v4 ? (const void *)&d4->sin_addr :
		    (const void *)&d6->sin6_addr, da, sizeof(da));
		/* 107 bytes and a NUL: the protocol's own limit for v1. */
		n = snprintf((char *)b, 108, "PROXY %s %s %s %u %u\r\n",
		    v4 ? "TCP4" : "TCP6", sa, da,
		    ntohs(v4 ? s4->sin_port : s6->sin6_port),
		    ntohs(v4 ? d4->sin_port : d6->sin6_port));
		return n > 0 && n < 108 ? (size_t)n : 0;
	}
	if (version != 2)
		return 0;
	sl = strlen(sni);
	vl = strlen(tls_version);
	if (alpn_len > 255 || sl > 255 || vl > 64)
		return 0;
	memcpy(b, sig, 12);
	b[12] = 0x21;				/* v2, PROXY */
	b[13] = v4 ? 0x11 : 0x21;		/* TCP over IPv4 / IPv6 */
	p = b + 16;
	if (v4) {
		memcpy(p, &s4->sin_addr, 4);
		memcpy(p + 4, &d4->sin_addr, 4);
		memcpy(p + 8, &s4->sin_port, 2);
		memcpy(p + 10, &d4->sin_port, 2);
		p += 12;
	} else {
		memcpy(p, &s6->sin6_addr, 16);
		memcpy(p + 16, &d6->sin6_addr, 16);
		memcpy(p + 32, &s6->sin6_port, 2);
		memcpy(p + 34, &d6->sin6_port, 2);
		p += 36;
	}
	if (alpn_len > 0) {			/* PP2_TYPE_ALPN */
		*p++ = 0x01; *p++ = 0; *p++ = (uint8_t)alpn_len;
		memcpy(p, alpn, alpn_len);
		p += alpn_len;
	}
	if (sl > 0) {				/* PP2_TYPE_AUTHORITY: the SNI */
		*p++ = 0x02; *p++ = (uint8_t)(sl >> 8); *p++ = (uint8_t)sl;
		memcpy(p, sni, sl);
		p += sl;
	}
	/* PP2_TYPE_SSL: client used TLS, verify 0, then the version. */
	*p++ = 0x20; *p++ = 0; *p++ = (uint8_t)(1 + 4 + 3 + vl);
	*p++ = 0x01;				/* PP2_CLIENT_SSL */
	memset(p, 0, 4);
	p += 4;
	*p++ = 0x21; *p++ = 0; *p++ = (uint8_t)vl;	/* PP2_SUBTYPE_SSL_VERSION */
	memcpy(p, tls_version, vl);
	p += vl;
	len = (size_t)(p - b);
	b[14] = (uint8_t)((len - 16) >> 8);
	b[15] = (uint8_t)(len - 16);
	return len;
}
