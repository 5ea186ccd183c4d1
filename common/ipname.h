/*
 * ipname.h - IP-address literals used as names: a site named "127.0.0.1" or
 * "2001:db8::1" gets an ACME "ip" identifier and an iPAddress SAN (RFC 8738),
 * is validated with the reverse-DNS name as SNI (RFC 8738 section 6), and is
 * served to clients that connect to that address without SNI.
 *
 * One text form per address, so that names compare as strings: IPv4 as
 * dotted quad, IPv6 as RFC 5952 (lowercase, no leading zeros, the longest
 * run of two or more zero fields as "::", the first on a tie), and an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is.
 * Pure functions on caller-owned data; any thread may call.
 */
#ifndef TLSGATE_IPNAME_H
#define TLSGATE_IPNAME_H

#include <stdint.h>

struct sockaddr;

#define IPNAME_MAX		46	/* text form with its NUL (INET6_ADDRSTRLEN) */
#define IPNAME_REVERSE_MAX	74	/* 32 nibbles, "ip6.arpa", NUL */

struct ipname {
	int	family;		/* AF_INET (addr[0..3]) or AF_INET6 */
	uint8_t	addr[16];	/* network order */
};

/*
 * Parse an IPv4 dotted quad or an IPv6 literal (no brackets, no zone, no
 * prefix). 0, or -1 if s is not one. IPv4-mapped IPv6 becomes AF_INET.
 */
int	ipname_parse(const char *s, struct ipname *out);
/* Whether s is an IP literal (ipname_parse would take it). */
int	ipname_is(const char *s);
/* The canonical text of ip into out (IPNAME_MAX bytes). */
void	ipname_format(const struct ipname *ip, char *out);
/* The canonical text of the literal s into out (IPNAME_MAX); 0, or -1 if s
 * is not an IP literal (out untouched). */
int	ipname_canon(const char *s, char *out);
/*
 * The reverse-DNS name (RFC 8738 section 6, no trailing dot) into out
 * (IPNAME_REVERSE_MAX): "4.3.2.1.in-addr.arpa" for 1.2.3.4, 32 nibbles
 * then "ip6.arpa" for IPv6.
 */
void	ipname_reverse(const struct ipname *ip, char *out);
/*
 * The address a reverse-DNS name stands for: exactly 4 decimal labels
 * before in-addr.arpa or 32 hex nibbles before ip6.arpa (any case, one
 * trailing dot allowed). 0, or -1 if name is not one.
 */
int	ipname_from_reverse(const char *name, struct ipname *out);
/* The address of sa (AF_INET or AF_INET6, mapped IPv4 unwrapped); 0 or -1. */
int	ipname_from_sockaddr(const struct sockaddr *sa, struct ipname *out);

#endif
