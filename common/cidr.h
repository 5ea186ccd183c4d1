/*
 * cidr.h - IPv4 and IPv6 address ranges: parse "10.0.0.0/8", "::1/128" or a
 * bare address, and test whether a peer's sockaddr lies in any of a list.
 * Pure functions on caller-owned data; any thread may call.
 *
 * A range whose address has bits set past its prefix ("10.0.0.1/8") is
 * refused rather than masked: for a list of trusted peers a typo must not
 * silently widen (or narrow) what is trusted.
 */
#ifndef TLSGATE_CIDR_H
#define TLSGATE_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int	family;		/* AF_INET (addr[0..3]) or AF_INET6 */
	uint8_t	addr[16];	/* network order; bits past the prefix are 0 */
	int	bits;		/* prefix length: 0-32 or 0-128 */
};

/*
 * Parse "ADDR" (a /32 or /128) or "ADDR/PREFIX" into out. 0, or -1 if s is
 * not one (out is then unspecified).
 */
int		 cidr_parse(const char *s, struct cidr *out);
/* The same, returning NULL or a short reason ("prefix must be 0-32"). */
const char	*cidr_parse_why(const char *s, struct cidr *out);
/*
 * 1 if sa (AF_INET or AF_INET6; anything else never matches) lies in any of
 * v[0..n), else 0. IPv4 is compared as its IPv4-mapped IPv6 form
 * (::ffff:a.b.c.d), so a peer matches the same ranges whether it reached an
 * IPv4 or a dual-stack socket: ::ffff:10.1.2.3 is in 10.0.0.0/8, and
 * 10.1.2.3 is in ::ffff:10.0.0.0/104 (and in ::/0).
 */
int		 cidr_match(const struct cidr *v, size_t n, const struct sockaddr *sa);

#endif
