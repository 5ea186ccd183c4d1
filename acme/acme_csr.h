/*
 * acme_csr.h - the certificate signing request sent at finalize (RFC 8555
 * 7.4): the site's names as subjectAltNames, dNSName for DNS names and
 * iPAddress for IP literals (RFC 8738), signed with the certificate's key.
 *
 * The subject's Common Name is a leftover the CA may copy into the
 * certificate. It is left out when it could only be wrong or refused:
 *   - the profile drops it from certificates anyway (Let's Encrypt's
 *     "tlsserver" and "shortlived");
 *   - a name is longer than 64 bytes (the X.520 upper bound of a CN);
 *   - a name is an IP address (a CN holds a host name; CAs refuse or
 *     ignore an address there).
 * Otherwise the first name goes in the CN, as older CAs expect one.
 * Pure: no I/O, no logging, any thread.
 */
#ifndef TLSGATE_ACME_CSR_H
#define TLSGATE_ACME_CSR_H

#include <stddef.h>

#include <openssl/base.h>

struct errbuf;

#define ACME_CSR_CN_MAX	64	/* ub-common-name (RFC 5280 appendix A) */

/* 1 if the request should carry names[0] as its CN (the rule above). */
int	 acme_csr_wants_cn(char *const *names, size_t nnames, const char *profile);
/*
 * A DER CSR for names[0..nnames) under key, with names[0] as CN if with_cn,
 * base64url-encoded (new string); NULL with eb set. IP literals must be in
 * the form ipname.h parses.
 */
char	*acme_csr_make(char *const *names, size_t nnames, EVP_PKEY *key,
	    int with_cn, struct errbuf *eb);

#endif
