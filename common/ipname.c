/*
 * ipname.c - IP literals as names. Parsing goes through inet_pton, which
 * takes only dotted-quad IPv4 (no "127.1", no octal) and plain IPv6. The
 * text form is our own rather than inet_ntop's, because RFC 5952 is what
 * CAs and Go's net package (Pebble, Boulder) print, and glibc's inet_ntop
 * also writes "::1.2.3.4" for IPv4-compatible addresses, which RFC 5952
 * does not: a name must have exactly one spelling to be found in tables.
 */
#include "ipname.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* An IPv4-mapped IPv6 address is the IPv4 address (RFC 4291 2.5.5.2). */
static void
unmap(struct ipname *ip)
{
	if (ip->family == AF_INET6 && memcmp(ip->addr, v4mapped, 12) == 0) {
		memmove(ip->addr, ip->addr + 12, 4);
		memset(ip->addr + 4, 0, 12);
		ip->family = AF_INET;
	}
}

int
ipname_parse(const char *s, struct ipname *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->addr) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (strchr(s, ':') != NULL && inet_pton(AF_INET6, s, out->addr) == 1) {
		out->family = AF_INET6;
		unmap(out);
		return 0;
	}
	return -1;
}

int
ipname_is(const char *s)
{
	struct ipname ip;

	return ipname_parse(s, &ip) == 0;
}

void
ipname_format(const struct ipname *ip, char *out)
{
	uint16_t	w[8];
	int		best = -1, bestlen = 0, n = 0;

	if (ip->family == AF_INET) {
		snprintf(out, IPNAME_MAX, "%u.%u.%u.%u", ip->addr[0], ip->addr[1],
		    ip->addr[2], ip->addr[3]);
		return;
	}
	for (int i = 0; i < 8; i++)
		w[i] = (uint16_t)(ip->addr[2 * i] << 8 | ip->addr[2 * i + 1]);
	/* RFC 5952 4.2: the longest run of 2+ zero fields, the first on a tie. */
	for (int i = 0; i < 8; i++) {
		int len = 0;

		while (i + len < 8 && w[i + len] == 0)
			len++;
		if (len > bestlen && len >= 2) {
			best = i;
			bestlen = len;
		}
		if (len > 0)
			i += len - 1;
	}
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			n += snprintf(out + n, (size_t)(IPNAME_MAX - n), "::");
			i += bestlen - 1;
			continue;
		}
		n += snprintf(out + n, (size_t)(IPNAME_MAX - n), "%s%x",
		    n > 0 && out[n - 1] != ':' ? ":" : "", w[i]);
	}
}

int
ipname_canon(const char *s, char *out)
{
	struct ipname ip;

	if (ipname_parse(s, &ip) == -1)
		return -1;
	ipname_format(&ip, out);
	return 0;
}

void
ipname_reverse(const struct ipname *ip, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (ip->family == AF_INET) {
		snprintf(out, IPNAME_REVERSE_MAX, "%u.%u.%u.%u.in-addr.arpa",
		    ip->addr[3], ip->addr[2], ip->addr[1], ip->addr[0]);
		return;
	}
	/* Least significant nibble first (RFC 3596 2.5). */
	for (int i = 15; i >= 0; i--) {
		out[n++] = hex[ip->addr[i] & 0x0f];
		out[n++] = '.';
		out[n++] = hex[ip->addr[i] >> 4];
		out[n++] = '.';
	}
	memcpy(out + n, "ip6.arpa", sizeof("ip6.arpa"));
}

static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
ipname_from_reverse(const char *name, struct ipname *out)
{
	size_t	n = strlen(name);

	memset(out, 0, sizeof(*out));
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 64 + 8 && strncasecmp(name + 64, "ip6.arpa", 8) == 0) {
		for (int i = 0; i < 32; i++) {
			int v = nibble(name[2 * i]);

			if (v < 0 || name[2 * i + 1] != '.')
				return -1;
			/* Label i is nibble 31 - i of the address. */
			out->addr[15 - i / 2] |= (uint8_t)(i % 2 == 0 ? v : v << 4);
		}
		out->family = AF_INET6;
		unmap(out);
		return 0;
	}
	if (n > 13 && strncasecmp(name + n - 13, ".in-addr.arpa", 13) == 0) {
		const char	*p = name;
		unsigned	 v[4];

		for (int i = 0; i < 4; i++) {
			size_t	d = strspn(p, "0123456789");

			/* 1-3 digits, no leading zero (one spelling per address). */
			if (d == 0 || d > 3 || (d > 1 && p[0] == '0') || p[d] != '.')
				return -1;
			sscanf(p, "%u", &v[i]);
			if (v[i] > 255)
				return -1;
			p += d + 1;
		}
		if ((size_t)(p - name) != n - 12)	/* "in-addr.arpa" follows */
			return -1;
		for (int i = 0; i < 4; i++)
			out->addr[i] = (uint8_t)v[3 - i];
		out->family = AF_INET;
		return 0;
	}
	return -1;
}

int
ipname_from_sockaddr(const struct sockaddr *sa, struct ipname *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		memcpy(out->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		out->family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(out->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		out->family = AF_INET6;
		unmap(out);
		return 0;
	}
	return -1;
}
