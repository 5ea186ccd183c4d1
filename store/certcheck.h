/*
 * certcheck.h - is a parsed certificate fit to serve for a site?
 *
 * certfile_load only proves that a chain parses and its key matches the leaf.
 * certcheck adds everything a client will hold against the certificate, so
 * that a bad one from the CA or from a configured file is refused before it
 * is stored or served, and the old one keeps serving:
 *   - each certificate of the chain is issued and signed by the next one (the
 *     last one need not be a root, and no trust store is consulted: trust is
 *     the client's business, internal consistency is ours);
 *   - the leaf is inside its validity dates (not-before with skew seconds of
 *     tolerance for a CA or host clock that runs a little ahead);
 *   - the leaf has a subjectAltName with DNS names covering every name of
 *     the site (exactly or by a one-label wildcard, as certfile_matches),
 *     and an iPAddress for each name that is an IP literal (RFC 8738);
 *   - its extended key usage, if any, includes serverAuth;
 *   - it is not a CA (basicConstraints CA:TRUE), except a lone self-signed
 *     certificate, which `openssl req -x509` marks CA:TRUE by default and
 *     which a client can only trust by pinning it.
 * Pure: no I/O, no logging, any thread.
 */
#ifndef TLSGATE_CERTCHECK_H
#define TLSGATE_CERTCHECK_H

#include <stddef.h>
#include <time.h>

struct certfile;
struct errbuf;

/* Default tolerance for a not-before date in the future, in seconds. */
#define CERTCHECK_SKEW	300

/*
 * 0 if cf passes every check above for names[0..nnames) at time now, or -1
 * with the first failed check, in words, in eb.
 */
int	certcheck(const struct certfile *cf, char *const *names, size_t nnames,
	    time_t now, long skew, struct errbuf *eb);
/*
 * certcheck's two halves, for one certificate served by many sites: the
 * certificate itself (its chain, dates, SAN, purpose: once per certificate),
 * and whether it covers one site's names. certcheck is the one, then the
 * other. 0, or -1 with eb.
 */
int	certcheck_cert(const struct certfile *cf, time_t now, long skew,
	    struct errbuf *eb);
int	certcheck_names(const struct certfile *cf, char *const *names,
	    size_t nnames, struct errbuf *eb);

#endif
