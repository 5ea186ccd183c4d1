/*
 * cidr.c - address ranges for trust decisions (which peers may send
 * X-Forwarded-For). Parsing is strict: inet_pton for the address (no zone
 * ids, no shorthand IPv4 like "10.1"), a decimal prefix with no sign or
 * spaces, and no bits set past the prefix. Matching compares everything in
 * the 16-byte IPv6 space, IPv4 as ::ffff:a.b.c.d, so one rule serves IPv4
 * sockets, IPv6 sockets and dual-stack ones.
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
    0xff };

/* Whether a (len bytes) has any bit set past its first bits. */
static int
host_bits(const uint8_t *a, size_t len, int bits)
{
	for (size_t i = 0; i < len; i++) {
		int	keep = bits - 8 * (int)i;	/* prefix bits in this byte */
		uint8_t	mask = keep >= 8 ? 0xff : keep <= 0 ? 0 :
			    (uint8_t)(0xff << (8 - keep));

		if (a[i] & (uint8_t)~mask)
			return 1;
	}
	return 0;
}

const char *
cidr_parse_why(const char *s, struct cidr *out)
{
	char		 buf[INET6_ADDRSTRLEN + 1];
	const char	*slash = strchr(s, '/');
	size_t		 alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	int		 max;

	memset(out, 0, sizeof(*out));
	if (alen == 0)
		return "expected an address";
	if (alen >= sizeof(buf))
		return "not an IP address";
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (memchr(buf, ':', alen) != NULL) {
		if (inet_pton(AF_INET6, buf, out->addr) != 1)
			return "not an IPv6 address";
		out->family = AF_INET6;
		max = 128;
	} else {
		/* "10.1" is a bad IPv4 address; "localhost" is no address. */
		if (inet_pton(AF_INET, buf, out->addr) != 1)
			return strspn(buf, "0123456789.") == alen ?
			    "not an IPv4 address" : "not an IP address";
		out->family = AF_INET;
		max = 32;
	}
	out->bits = max;
	if (slash != NULL) {
		const char	*p = slash + 1;
		size_t		 nd = strspn(p, "0123456789");
		int		 b = 0;

		/* Up to three digits and nothing after them: "/8", "/128". */
		if (nd == 0 || nd > 3 || p[nd] != '\0')
			return max == 32 ? "prefix must be 0-32" : "prefix must be 0-128";
		for (size_t i = 0; i < nd; i++)
			b = b * 10 + (p[i] - '0');
		if (b > max)
			return max == 32 ? "prefix must be 0-32" : "prefix must be 0-128";
		out->bits = b;
	}
	if (host_bits(out->addr, (size_t)max / 8, out->bits))
		return "address has bits set past the prefix";
	return NULL;
}

int
cidr_parse(const char *s, struct cidr *out)
{
	return cidr_parse_why(s, out) == NULL ? 0 : -1;
}

/* The first bits of a and b are equal (both 16 bytes). */
static int
prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	size_t	full = (size_t)bits / 8;
	int	rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int
cidr_match(const struct cidr *v, size_t n, const struct sockaddr *sa)
{
	uint8_t	a[16];

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(a, v4mapped, 12);
		memcpy(a + 12, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6)
		memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	else
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t	r[16];
		int	bits = v[i].bits;

		if (v[i].family == AF_INET) {
			memcpy(r, v4mapped, 12);
			memcpy(r + 12, v[i].addr, 4);
			bits += 96;
		} else if (v[i].family == AF_INET6)
			memcpy(r, v[i].addr, 16);
		else
			continue;
		if (prefix_eq(a, r, bits))
			return 1;
	}
	return 0;
}
