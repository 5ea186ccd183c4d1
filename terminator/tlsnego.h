/*
 * tlsnego.h - the server's own choices in a handshake, where the TLS library
 * would otherwise follow the client's order or pay a round trip.
 *
 *  - The key-exchange group, in tls.groups' order (by default
 *    X25519MLKEM768, X25519, P-256 on AWS-LC; X25519, P-256 on BoringSSL),
 *    except that a group the client sent a key share for goes before one it
 *    did not: a client that offered the post-quantum hybrid but shared only
 *    an X25519 key gets X25519 at once, not a HelloRetryRequest.
 *  - The TLS 1.3 suite, by the server's preference: AES-128-GCM, then
 *    ChaCha20-Poly1305, then AES-256-GCM on CPUs with AES instructions;
 *    ChaCha20-Poly1305 first on others. (AWS-LC only: BoringSSL has no
 *    per-connection TLS 1.3 suite setting and follows the client.)
 *
 * tlsnego_groups_parse() runs on the main thread at start; the result is then
 * read-only. tlsnego_hello() runs in the select-certificate callback, on the
 * worker that owns the connection, and changes only that connection's SSL.
 */
#ifndef TLSGATE_TLSNEGO_H
#define TLSGATE_TLSNEGO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#define TLSNEGO_MAX_GROUPS	8

struct tlsnego_groups {
	uint16_t	 id[TLSNEGO_MAX_GROUPS];	/* TLS group ids, preferred first */
	size_t		 n;
};

/* The default tls.groups for this build's TLS library, colon-separated. */
const char	*tlsnego_default_groups(void);
/*
 * Parse a colon-separated list of group names (X25519MLKEM768,
 * SecP256r1MLKEM768, X25519, P-256, P-384, P-521; the library's aliases too).
 * NULL on success, else why (static text).
 */
const char	*tlsnego_groups_parse(const char *list, struct tlsnego_groups *out);
/* Apply g to ctx (server preference order). 0, or -1. */
int		 tlsnego_ctx_groups(SSL_CTX *ctx, const struct tlsnego_groups *g);
/*
 * From the ClientHello: reorder this connection's groups when the client's
 * key shares call for it, and choose the TLS 1.3 suite. 0, or -1 on an
 * allocation failure in the library.
 */
int		 tlsnego_hello(const SSL_CLIENT_HELLO *ch, const struct tlsnego_groups *g);
/* "X25519MLKEM768", "X25519", "P-256", ...; "-" for 0 (none, or unknown). */
const char	*tlsnego_group_name(uint16_t id);
/* The groups tlsnego knows, numbered 0..TLSNEGO_NKNOWN-1 (for counters):
 * id's number, or -1; and number i's id. */
#define TLSNEGO_NKNOWN	6
int		 tlsnego_group_index(uint16_t id);
uint16_t	 tlsnego_group_id(int i);
/* Whether a list of u16 (a ClientHello's suites, groups, ...) holds want. */
int		 tlsnego_has_u16(CBS list, uint16_t want);

#endif
