/*
 * cidr.h - IPv4/IPv6 address ranges ("10.0.0.0/8", "::1/128", "192.0.2.7").
 * Pure functions; any thread.
 */
#ifndef TLSGATE_CIDR_H
#define TLSGATE_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int	family;		/* AF_INET or AF_INET6 */
	uint8_t	addr[16];
	int	bits;
};

/* Parse s; host bits past the prefix are cleared. 0, or -1 if malformed. */
int	cidr_parse(const char *s, struct cidr *out);
/* 1 if sa is in any of v[0..n) (an IPv4-mapped IPv6 address matches IPv4
 * ranges), else 0. */
int	cidr_match(const struct cidr *v, size_t n, const struct sockaddr *sa);

#endif
