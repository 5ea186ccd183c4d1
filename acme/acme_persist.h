/*
 * acme_persist.h - dns-persist-01 (draft-ietf-acme-dns-persist), as Pebble
 * 2.10 and Let's Encrypt speak it: the challenge has no token but an
 * "issuer-domain-names" array; the CA looks up the TXT record
 * _validation-persist.NAME and accepts a value
 *   ISSUER-DOMAIN-NAME; accounturi=ACCOUNT-URL[; policy=wildcard]
 * (RFC 8659 issue-value syntax) naming one of those issuers and the
 * requesting account's URL, as is. The record is standing: published once,
 * it validates every later order of that account for NAME (and, with
 * policy=wildcard, for *.NAME). The later drafts' hashed account URIs
 * (accountHashPrefix) are not spoken: no CA the tests can run does.
 *
 * These functions are pure and thread-safe; the ACME client's use of them
 * (acme_persist.c's persist_* in acme_int.h) runs on the ACME thread.
 */
#ifndef TLSGATE_ACME_PERSIST_H
#define TLSGATE_ACME_PERSIST_H

#include <jansson.h>

#define PERSIST_LABEL		"_validation-persist."
#define PERSIST_MAX_ISSUERS	10	/* more: the challenge is malformed */

/* 1 if s is an issuer domain name fit for a record: lowercase letters,
 * digits and hyphens in dot-separated labels of 1-63 octets, no trailing
 * dot, at most 253 octets. */
int	 persist_issuer_ok(const char *s);

/*
 * The TXT value for issuer and account_url: "ISSUER; accounturi=URL", then
 * "; policy=wildcard" if wildcard. New string, or NULL if issuer is not fit
 * (persist_issuer_ok) or account_url is empty or has a character an
 * issue-value cannot carry (space, control, non-ASCII, ';').
 */
char	*persist_record_value(const char *issuer, const char *account_url,
	    int wildcard);

/*
 * The issuer domain name to use, from a challenge object (its
 * "issuer-domain-names", or the later drafts' "issuerDomainNames") or a
 * directory's meta (its "issuerDomainNames", else its "caaIdentities"):
 * the first fit entry, borrowed from o. NULL with *why set (a static
 * string) if the array is missing, empty, longer than PERSIST_MAX_ISSUERS,
 * or has no fit entry.
 */
const char *persist_pick_issuer(json_t *o, const char **why);

#endif
