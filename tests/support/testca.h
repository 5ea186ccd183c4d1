/* testca.h - a test CA in memory that issues for a CSR, as a CA would. */
#ifndef TLSGATE_TESTCA_H
#define TLSGATE_TESTCA_H

#include <time.h>

/*
 * The chain (leaf, then the CA's certificate) for the base64url DER CSR,
 * valid [not_before, not_after): the CSR's key and SAN names, serverAuth,
 * not a CA. A new PEM string, or NULL if the CSR is unusable.
 */
char	*testca_issue(const char *csr_b64url, time_t not_before, time_t not_after);

#endif
