/*
 * acme_issuer.h - the rule that moves a certificate from one CA of
 * acme.issuers to the next (Caddy's issuer fallback, made explicit).
 *
 * A job orders from one issuer at a time. Each failed attempt there counts;
 * at `failures` in a row (rate limits aside) the next issuer is tried. A
 * rate limit moves on at once when the CA's Retry-After is beyond
 * `retry_after` seconds (or missing: a limit with no end said may last
 * days); a shorter one is waited out at the same CA, as the CA asks. A
 * round starts at the issuer of the certificate in service (a renewal asks
 * its own CA first; none: the first issuer) and goes round the list in
 * order; when the next one would be the round's first again, every issuer
 * has failed: back to the first of the round, after the usual back-off
 * (acme_sched_backoff), so no CA is ever asked more often than without a
 * fallback.
 *
 * Pure functions: any thread may call them.
 */
#ifndef TLSGATE_ACME_ISSUER_H
#define TLSGATE_ACME_ISSUER_H

#include <stddef.h>

#include "acme.h"

#define ACME_FALLBACK_FAILURES		2
#define ACME_FALLBACK_RETRY_AFTER	3600L

struct acme_issuer_rule {
	int	failures;	/* failed attempts in a row at one issuer (>= 1) */
	long	retry_after;	/* seconds: a longer rate limit moves on at once */
};

enum acme_issuer_move {
	ACME_ISSUER_STAY,	/* retry the same issuer, after the back-off */
	ACME_ISSUER_NEXT,	/* try *next, the next issuer of the round */
	ACME_ISSUER_WRAP,	/* every issuer failed: *next is the round's
				 * first again, after the usual back-off */
	ACME_ISSUER__MAX
};
extern const char *const acme_issuer_move_names[ACME_ISSUER__MAX];

/*
 * After a failed attempt of class cls at issuer cur of n, in a round that
 * started at start, with fails failed attempts in a row at cur (this one
 * included) and the CA's Retry-After ra (seconds; -1: none): what next, and
 * in *next the issuer to use (cur when STAY). n < 2 always stays.
 */
enum acme_issuer_move acme_issuer_after_fail(size_t n, size_t start, size_t cur,
		    int fails, enum acme_fail cls, long ra,
		    const struct acme_issuer_rule *rule, size_t *next);

/*
 * The index among dirs[0..n) of the directory URL url; "" or NULL means the
 * first (state written before acme.issuers existed belongs to the store's
 * own CA, the first); n (none) when url is not in the list.
 */
size_t	acme_issuer_find(const char *const *dirs, size_t n, const char *url);

#endif
