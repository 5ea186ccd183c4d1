/*
 * cidr.c - address ranges (cidr.h).
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int
cidr_parse(const char *s, struct cidr *out)
{
	char		 buf[64], *slash, *end;
	long		 bits;
	int		 max;

	if (strlen(s) >= sizeof(buf))
		return -1;
	memset(out, 0, sizeof(*out));
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6, max = 128;
	else
		return -1;
	bits = max;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9')
			return -1;
		bits = strtol(slash, &end, 10);
		if (*end != '\0' || bits < 0 || bits > max)
			return -1;
	}
	out->bits = (int)bits;
	for (int i = 0; i < max / 8; i++) {
		int keep = out->bits - i * 8;
		if (keep <= 0)
			out->addr[i] = 0;
		else if (keep < 8)
			out->addr[i] &= (uint8_t)(0xff << (8 - keep));
	}
	return 0;
}

static int
prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

int
cidr_match(const struct cidr *v, size_t n, const struct sockaddr *sa)
{
	uint8_t	 a4[4], a6[16];
	int	 have4 = 0, have6 = 0;

	if (sa->sa_family == AF_INET) {
		memcpy(a4, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		have4 = 1;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *x = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		memcpy(a6, x, 16);
		have6 = 1;
		if (IN6_IS_ADDR_V4MAPPED(x)) {
			memcpy(a4, a6 + 12, 4);
			have4 = 1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].family == AF_INET && have4 && prefix_eq(a4, v[i].addr, v[i].bits))
			return 1;
		if (v[i].family == AF_INET6 && have6 && prefix_eq(a6, v[i].addr, v[i].bits))
			return 1;
	}
	return 0;
}
