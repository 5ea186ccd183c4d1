/*
 * acme_issuer.h - the rule that moves a certificate from one CA of
 * acme.issuers to the next (Caddy's issuer fallback, made explicit).
 *
 * A job orders from one issuer at a time. Each failed attempt there counts;
 * at `failures` in a row (rate limits aside) the next issuer is tried. A
 * rate limit moves on at once when the CA's Retry-After is beyond
 * `retry_after` seconds (or missing: a limit with no end said may last
 * days); a shorter one is waited out at the same CA, as the CA asks. A
 * round goes round the list in order from its start; when the next issuer
 * would be the round's first again, every issuer has failed: back to the
 * first of the round, after the usual back-off (acme_sched_backoff), so no
 * CA is ever asked more often than without a fallback.
 *
 * Where a round starts (acme_issuer_round_start): at the issuer of the
 * certificate in service (none: the first), since refusals, failed
 * validations and CA errors tend to persist; but a rate limit is temporary,
 * so when that certificate came through a fallback that a rate limit caused
 * at an issuer earlier in the list, and that limit's retry time has passed,
 * the round starts there again: the list's preference. A CA is never asked
 * before its retry time. The renewal state remembers that issuer and time
 * (acme_issuer_note_move, acme_issuer_note_installed).
 *
 * Pure functions: any thread may call them.
 */
#ifndef TLSGATE_ACME_ISSUER_H
#define TLSGATE_ACME_ISSUER_H

#include <stddef.h>
#include <time.h>

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
 * Where a round of orders starts among n issuers: at cert, the issuer of
 * the certificate in service (n: none, or not listed: the first), unless a
 * rate limit at rl (n: none) made that certificate's fallback leave it, rl
 * comes before cert in the list, and its retry time rl_until is past at
 * now: then at rl.
 */
size_t	acme_issuer_round_start(size_t n, size_t cert, size_t rl, time_t rl_until,
	    time_t now);

/*
 * The rate limit to remember, (*rl, *rl_until) with *rl == n for none, after
 * the fallback moved on from issuer cur: for a rate limit (rate_limited,
 * ending at until), cur when it comes before the remembered one in the list
 * (or is it: its newer time); for any other failure, the memory of cur is
 * dropped (that CA fails for a reason that persists). Other moves keep it.
 */
void	acme_issuer_note_move(size_t n, size_t cur, int rate_limited, time_t until,
	    size_t *rl, time_t *rl_until);

/*
 * A certificate from issuer cert is in service: the memory (*rl, *rl_until)
 * stays only while it names an issuer before cert in the list (the
 * certificate came through a fallback that rate limit caused); else none
 * (*rl = n, *rl_until = 0).
 */
void	acme_issuer_note_installed(size_t n, size_t cert, size_t *rl,
	    time_t *rl_until);

/*
 * The index among dirs[0..n) of the directory URL url; "" or NULL means the
 * first (state written before acme.issuers existed belongs to the store's
 * own CA, the first); n (none) when url is not in the list.
 */
size_t	acme_issuer_find(const char *const *dirs, size_t n, const char *url);

#endif
