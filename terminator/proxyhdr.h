/*
 * proxyhdr.h - the PROXY protocol header (haproxy's proxy-protocol.txt) that
 * goes to a backend before the client's bytes: v1 text, or v2 binary with the
 * ALPN, authority (SNI) and SSL TLVs.
 *
 * Pure: no I/O, no state; any thread.
 */
#ifndef TLSGATE_PROXYHDR_H
#define TLSGATE_PROXYHDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* v1 is at most 107 bytes; v2 with a 255-byte SNI and ALPN and a TLS version
 * name stays under 600. */
#define PROXYHDR_MAX	1024

/*
 * Build the header for a TCP connection from src to dst (both AF_INET or both
 * AF_INET6) into out, which has room for PROXYHDR_MAX bytes. version is 1 or
 * 2; v2 adds alpn (alpn_len bytes, 0 for none), sni (NUL-terminated, "" for
 * none, at most 255 bytes) and tls_version (e.g. "TLSv1.3", at most 64 bytes).
 * Returns the header's length, or 0 if the arguments do not fit (mixed or
 * unknown families, too long a TLV).
 */
size_t	proxyhdr_build(uint8_t *out, int version, const struct sockaddr *src,
	    const struct sockaddr *dst, const uint8_t *alpn, size_t alpn_len,
	    const char *sni, const char *tls_version);

#endif
