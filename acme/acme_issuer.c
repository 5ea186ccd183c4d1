/*
 * acme_issuer.c - the CAs of acme.issuers and the fallback from one to the
 * next (acme_issuer.h states the rule).
 *
 * Each CA has its own directory, account (key and registration, kept in the
 * store namespace of its directory URL), connections and nonces. The
 * certificates and their renewal state stay in the first CA's namespace,
 * the store the terminator serves from, whichever CA issued them: a
 * fallback never leaves two certificates for one name in two places, and
 * the renewal state says which CA issued the one in service (rs.issuer),
 * where the round of orders under way started (rs.round_issuer), which CA
 * the orders go to now (rs.order_issuer) and how often that one failed in
 * a row (rs.issuer_failures), so a restart resumes the fallback where it
 * stood; and which CA a rate limit made the fallback leave, until when
 * (rs.rl_issuer, rs.rl_until), so that the next renewal goes back there
 * once the limit has passed, and not before.
 *
 * ARI and "replaces" belong to the CA that issued the certificate: its
 * renewalInfo is asked, and "replaces" is sent only to that CA.
 *
 * ACME thread only, except issuers_init and issuers_free (acme_start and
 * acme_stop, before the thread runs and after it ended).
 */
#include "acme_int.h"
#include "acme_issuer.h"
#include "acme_queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "errbuf.h"
#include "jws.h"
#include "log.h"
#include "xalloc.h"

const char *const acme_issuer_move_names[ACME_ISSUER__MAX] = {
	"stay", "next", "wrap",
};

/* ---- the rule (pure) ------------------------------------------------------- */

enum acme_issuer_move
acme_issuer_after_fail(size_t n, size_t start, size_t cur, int fails,
    enum acme_fail cls, long ra, const struct acme_issuer_rule *rule,
    size_t *next)
{
	int	move;

	*next = cur;
	if (n < 2 || cur >= n)
		return ACME_ISSUER_STAY;
	if (start >= n)
		start = 0;
	if (cls == ACME_FAIL_RATE_LIMITED)
		/* The CA will take an order again when it said: wait for it
		 * there, unless that is far off (or unsaid). */
		move = ra < 0 || ra > rule->retry_after;
	else
		move = fails >= (rule->failures > 0 ? rule->failures : 1);
	if (!move)
		return ACME_ISSUER_STAY;
	*next = (cur + 1) % n;
	if (*next == start)
		return ACME_ISSUER_WRAP;
	return ACME_ISSUER_NEXT;
}

size_t
acme_issuer_round_start(size_t n, size_t cert, size_t rl, time_t rl_until,
    time_t now)
{
	/* cert == n (none, or not listed) counts as after every issuer. */
	if (rl < n && rl < cert && now >= rl_until)
		return rl;
	return cert < n ? cert : 0;
}

void
acme_issuer_note_move(size_t n, size_t cur, int rate_limited, time_t until,
    size_t *rl, time_t *rl_until)
{
	if (cur >= n)
		return;
	if (rate_limited) {
		/* The earliest in the list is the one to go back to. */
		if (*rl >= n || cur <= *rl) {
			*rl = cur;
			*rl_until = until;
		}
	} else if (*rl == cur) {
		*rl = n;
		*rl_until = 0;
	}
}

void
acme_issuer_note_installed(size_t n, size_t cert, size_t *rl, time_t *rl_until)
{
	if (*rl >= n || *rl >= cert) {
		*rl = n;
		*rl_until = 0;
	}
}

size_t
acme_issuer_find(const char *const *dirs, size_t n, const char *url)
{
	if (url == NULL || url[0] == '\0')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(dirs[i], url) == 0)
			return i;
	return n;
}

/* ---- the CAs ------------------------------------------------------------------ */

static char *
dupn(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* The index of url among a's CAs ("" : the first); a->niss if none. */
static size_t
iss_find(const struct acme *a, const char *url)
{
	const char *dirs[ACME_MAX_ISSUERS];

	for (size_t i = 0; i < a->niss; i++)
		dirs[i] = a->iss[i].directory;
	return acme_issuer_find(dirs, a->niss, url);
}

int
issuers_init(struct acme *a, const struct acme_cfg *cfg, struct errbuf *eb)
{
	struct acme_issuer_cfg		 one;
	const struct acme_issuer_cfg	*ic = cfg->issuers;
	size_t				 n = cfg->nissuers;

	if (n == 0) {
		/* The single-CA form: acme.directory and its keys. */
		memset(&one, 0, sizeof(one));
		one.directory = a->cfg.directory;
		one.email = cfg->email;
		one.ca_file = cfg->ca_file;
		one.eab_kid = cfg->eab_kid;
		one.eab_hmac = cfg->eab_hmac;
		ic = &one;
		n = 1;
	}
	if (n > ACME_MAX_ISSUERS)
		return errbuf_set(eb, "at most %d ACME issuers", ACME_MAX_ISSUERS);
	a->fb_failures = cfg->fallback_failures > 0 ? cfg->fallback_failures :
	    ACME_FALLBACK_FAILURES;
	a->fb_retry_after = cfg->fallback_retry_after > 0 ?
	    cfg->fallback_retry_after : ACME_FALLBACK_RETRY_AFTER;
	a->iss = xcalloc(n, sizeof(*a->iss));
	a->niss = n;
	for (size_t i = 0; i < n; i++) {
		struct acme_iss *s = &a->iss[i];

		s->a = a;
		s->idx = i;
		s->directory = xstrdup(ic[i].directory != NULL ? ic[i].directory :
		    ACME_LETSENCRYPT);
		s->email = dupn(ic[i].email);
		s->ca_file = dupn(ic[i].ca_file);
		s->eab_kid = dupn(ic[i].eab_kid);
		s->eab_hmac = dupn(ic[i].eab_hmac);
		s->profile = dupn(ic[i].profile);
		snprintf(s->dir_err, sizeof(s->dir_err), "not fetched yet");
		/* The first CA's account is where it always was: in the store
		 * the certificates live in. */
		if (i == 0 || cfg->account_store == NULL)
			s->acct_store = a->store;
		else if ((s->acct_store = cfg->account_store(s->directory,
		    cfg->account_store_arg, eb)) == NULL)
			return errbuf_prefix(eb, "issuer %zu (%s)", i + 1, s->directory);
		if ((s->acct_key = store_account_key(s->acct_store, eb)) == NULL ||
		    (s->thumbprint = jws_thumbprint(s->acct_key, eb)) == NULL)
			return errbuf_prefix(eb, "issuer %zu (%s)", i + 1, s->directory);
		s->acct_url = store_account_url(s->acct_store);
		s->http = a->tr.create(a->base, s->ca_file, a->tr.arg);
		s->dir_timer = evtimer_new(a->base, acme_on_dir_timer, s);
	}
	if (n > 1)
		log_info("acme: %zu issuers, in order: first %s; a certificate "
		    "moves to the next after %d failed attempts in a row there, or "
		    "a rate limit of more than %lds", n, a->iss[0].directory,
		    a->fb_failures, a->fb_retry_after);
	return 0;
}

void
issuers_free(struct acme *a)
{
	for (size_t i = 0; i < a->niss; i++) {
		struct acme_iss *s = &a->iss[i];

		if (s->http != NULL)
			a->tr.destroy(s->http);
		if (s->dir_timer != NULL)
			event_free(s->dir_timer);
		nonce_clear(s);
		EVP_PKEY_free(s->acct_key);
		free(s->thumbprint); free(s->acct_url);
		free(s->u_nonce); free(s->u_account); free(s->u_order); free(s->u_ari);
		json_decref(s->profiles);
		if (s->acct_store != NULL && s->acct_store != a->store)
			store_close(s->acct_store);
		free(s->directory); free(s->email); free(s->ca_file);
		free(s->eab_kid); free(s->eab_hmac); free(s->profile);
	}
	free(a->iss);
	a->iss = NULL;
	a->niss = 0;
}

void
issuers_fetch(struct acme *a)
{
	for (size_t i = 0; i < a->niss; i++)
		acme_fetch_directory(&a->iss[i]);
}

/* ---- a job's CA --------------------------------------------------------------- */

struct acme_iss *
job_iss(const struct job *j)
{
	return &j->a->iss[j->iss < j->a->niss ? j->iss : 0];
}

struct acme_iss *
job_cert_iss(const struct job *j)
{
	size_t i = iss_find(j->a, j->rs.issuer);

	return i < j->a->niss ? &j->a->iss[i] : NULL;
}

/* The CA of the certificate in service (rs.issuer "": the first; none
 * listed: a->niss). */
static size_t
cert_idx(const struct job *j)
{
	return iss_find(j->a, j->rs.issuer);
}

/* The CA a rate limit made the certificate's fallback leave, or a->niss. */
static size_t
rl_idx(const struct job *j)
{
	return j->rs.rl_issuer[0] != '\0' ? iss_find(j->a, j->rs.rl_issuer) :
	    j->a->niss;
}

/* Where a round would start now (acme_issuer_round_start). */
static size_t
fresh_start(const struct job *j)
{
	return acme_issuer_round_start(j->a->niss, cert_idx(j), rl_idx(j),
	    j->rs.rl_until, acme_now(j->a));
}

/* Where the round under way started; none under way (or state from before
 * rs.round_issuer, whose rounds started at the certificate's CA, which
 * fresh_start gives with no rate limit remembered): where one would now. */
static size_t
round_start(const struct job *j)
{
	size_t i = j->rs.round_issuer[0] != '\0' ?
	    iss_find(j->a, j->rs.round_issuer) : j->a->niss;

	return i < j->a->niss ? i : fresh_start(j);
}

/* rs.rl_issuer and rs.rl_until from an index and a time. */
static void
rl_set(struct job *j, size_t rl, time_t until)
{
	if (rl < j->a->niss) {
		snprintf(j->rs.rl_issuer, sizeof(j->rs.rl_issuer), "%s",
		    j->a->iss[rl].directory);
		j->rs.rl_until = until;
	} else {
		j->rs.rl_issuer[0] = '\0';
		j->rs.rl_until = 0;
	}
}

void
issuer_job_init(struct job *j)
{
	struct acme	*a = j->a;
	size_t		 o = j->rs.order_issuer[0] != '\0' ?
			    iss_find(a, j->rs.order_issuer) : a->niss;
	size_t		 r = j->rs.round_issuer[0] != '\0' ?
			    iss_find(a, j->rs.round_issuer) : a->niss;
	size_t		 rl = rl_idx(j);

	if (j->rs.issuer[0] != '\0' && cert_idx(j) == a->niss)
		log_notice("acme %s: the certificate in service came from %s, "
		    "which acme.issuers no longer lists; renewals start at %s",
		    job_name(j), j->rs.issuer, a->iss[0].directory);
	/* A remembered rate limit holds across restarts: that CA is not
	 * asked before its time, whatever the round. */
	if (rl < a->niss && j->rs.rl_until > j->iss_until[rl])
		j->iss_until[rl] = j->rs.rl_until;
	else if (rl == a->niss)
		rl_set(j, a->niss, 0);
	if (r == a->niss)
		j->rs.round_issuer[0] = '\0';
	if (o < a->niss)
		j->iss = o;
	else if (r < a->niss)
		j->iss = r;
	else {
		j->iss = round_start(j);
		j->rs.order_issuer[0] = '\0';
		j->rs.issuer_failures = 0;
	}
}

int
issuer_round_begin(struct job *j)
{
	struct acme	*a = j->a;
	size_t		 cert = cert_idx(j), rl = rl_idx(j), s;
	time_t		 now = acme_now(a);
	char		 tb[24];

	if (a->niss < 2)
		return 0;
	if (j->rs.round_issuer[0] == '\0' || iss_find(a, j->rs.round_issuer) ==
	    a->niss) {
		char from[300];

		if (cert < a->niss)
			snprintf(from, sizeof(from), "issuer %zu (%s)", cert + 1,
			    a->iss[cert].directory);
		else
			snprintf(from, sizeof(from), "%s", j->rs.issuer);
		s = fresh_start(j);
		if (j->rs.order_issuer[0] == '\0' && s != j->iss) {
			j->iss = s;
			j->rs.issuer_failures = 0;
		}
		snprintf(j->rs.round_issuer, sizeof(j->rs.round_issuer), "%s",
		    a->iss[s].directory);
		if (rl < a->niss && rl < cert && s == rl) {
			log_notice("acme %s: issuer %zu (%s) asked us to wait until "
			    "%s, which has passed; the certificate in service came "
			    "from %s because of that rate limit: this round asks "
			    "issuer %zu first again", job_name(j), rl + 1,
			    a->iss[rl].directory, acme_iso(j->rs.rl_until, tb), from,
			    rl + 1);
			/* A certID names a certificate of its own CA only. */
			j->rs.replaces[0] = '\0';
		} else if (rl < a->niss && rl < cert && cert < a->niss)
			log_info("acme %s: issuer %zu (%s) asked us to wait until %s: "
			    "this round starts at the certificate's own CA, issuer "
			    "%zu (%s)", job_name(j), rl + 1, a->iss[rl].directory,
			    acme_iso(j->rs.rl_until, tb), s + 1, a->iss[s].directory);
	}
	/* Never before a CA's Retry-After, even when a round starts there. */
	if (j->iss_until[j->iss] > now) {
		if (j->rs.retry_until < j->iss_until[j->iss]) {
			j->rs.retry_until = j->iss_until[j->iss];
			log_info("acme %s: issuer %zu (%s) asked us to wait until "
			    "%s; ordering then", job_name(j), j->iss + 1,
			    a->iss[j->iss].directory, acme_iso(j->rs.retry_until, tb));
		}
		job_schedule(j);
		return -1;
	}
	return 0;
}

int
issuer_ready(struct job *j)
{
	struct acme_iss *s = job_iss(j);

	if (s->dir_ok)
		return 0;
	if (s->dir_attempts == 0) {
		job_timer_in(j, 1);	/* its first answer is on its way */
		return -1;
	}
	/* A CA whose directory does not load is a failed attempt there like
	 * any other: it counts towards moving on. */
	job_fail(j, ACME_FAIL_TRANSPORT, "issuer %zu: the directory %s is not "
	    "loaded: %s", s->idx + 1, s->directory, s->dir_err);
	return -1;
}

long
issuer_after_fail(struct job *j, enum acme_fail cls, long ra, long delay)
{
	struct acme			*a = j->a;
	struct acme_issuer_rule		 rule = { a->fb_failures, a->fb_retry_after };
	size_t				 cur = j->iss, next;
	time_t				 now = acme_now(a);
	enum acme_issuer_move		 m;
	char				 why[120], tb[24];

	if (a->niss < 2)
		return delay;
	if (ra > 0)
		j->iss_until[cur] = now + (ra < 7 * 86400 ? ra : 7 * 86400);
	else if (cls == ACME_FAIL_RATE_LIMITED)
		/* No end said: it lasts at least acme.fallback_retry_after (a
		 * shorter one would have been waited out). */
		j->iss_until[cur] = now + a->fb_retry_after;
	j->rs.issuer_failures++;
	m = acme_issuer_after_fail(a->niss, round_start(j), cur,
	    j->rs.issuer_failures, cls, ra, &rule, &next);
	if (m == ACME_ISSUER_STAY) {
		log_info("acme %s: issuer %zu (%s): %d failed attempt(s) in a row; "
		    "staying with it for now", job_name(j), cur + 1,
		    a->iss[cur].directory, j->rs.issuer_failures);
		return delay;
	}
	if (cls == ACME_FAIL_RATE_LIMITED && ra < 0)
		snprintf(why, sizeof(why), "it rate-limited us with no Retry-After");
	else if (cls == ACME_FAIL_RATE_LIMITED)
		snprintf(why, sizeof(why), "it rate-limited us for %lds, beyond "
		    "acme.fallback_retry_after (%lds)", ra, a->fb_retry_after);
	else
		snprintf(why, sizeof(why), "%d failed attempts in a row there (%s)",
		    j->rs.issuer_failures, acme_fail_names[cls]);
	/* A rate limit passes: remember it, so the next renewal goes back. */
	{
		size_t	rl = rl_idx(j);
		time_t	until = rl < a->niss ? j->rs.rl_until : 0;

		acme_issuer_note_move(a->niss, cur, cls == ACME_FAIL_RATE_LIMITED,
		    j->iss_until[cur], &rl, &until);
		rl_set(j, rl, until);
		if (rl == cur)
			log_notice("acme %s: issuer %zu (%s) rate-limited us until "
			    "%s: a certificate from another issuer is renewed "
			    "there again after that", job_name(j), cur + 1,
			    a->iss[cur].directory, acme_iso(until, tb));
	}
	if (a->iss[cur].acct_job == j) {	/* job_idle looks at the new CA */
		a->iss[cur].acct_job = NULL;
		queue_kick(a);
	}
	j->iss = next;
	j->rs.issuer_failures = 0;
	snprintf(j->rs.order_issuer, sizeof(j->rs.order_issuer), "%s",
	    a->iss[next].directory);
	/* A certID names a certificate of its own CA only. */
	j->rs.replaces[0] = '\0';
	j->no_replaces = 0;
	/* The Retry-After was the CA left behind; the one ahead may have said
	 * its own earlier in this run. */
	j->rs.retry_until = j->iss_until[next] > now ? j->iss_until[next] : 0;
	if (m == ACME_ISSUER_NEXT)
		delay = a->cfg.retry_base;	/* a CA not asked yet this round */
	if (j->iss_until[next] > now + delay)
		delay = (long)(j->iss_until[next] - now);
	if (m == ACME_ISSUER_NEXT)
		log_warnx("acme %s: falling back from issuer %zu (%s) to issuer %zu "
		    "(%s): %s; ordering there in %lds", job_name(j), cur + 1,
		    a->iss[cur].directory, next + 1, a->iss[next].directory, why,
		    delay);
	else
		log_err("acme %s: every issuer failed in turn (%zu CAs; the last: "
		    "issuer %zu, %s: %s); back to issuer %zu (%s) after the usual "
		    "back-off, at %s", job_name(j), a->niss, cur + 1,
		    a->iss[cur].directory, why, next + 1, a->iss[next].directory,
		    acme_iso(now + delay, tb));
	return delay;
}

void
issuer_installed(struct job *j)
{
	struct acme	*a = j->a;
	struct acme_iss	*s = job_iss(j);
	size_t		 rl = rl_idx(j);
	time_t		 until = rl < a->niss ? j->rs.rl_until : 0;
	char		 tb[24];

	acme_issuer_note_installed(a->niss, s->idx, &rl, &until);
	if (a->niss > 1 && rl < a->niss)
		log_notice("acme %s: the certificate came from issuer %zu (%s) "
		    "because issuer %zu (%s) rate-limited us: its renewal asks "
		    "issuer %zu first again once that limit has passed (%s), "
		    "this CA until then", job_name(j), s->idx + 1, s->directory,
		    rl + 1, a->iss[rl].directory, rl + 1, acme_iso(until, tb));
	else if (a->niss > 1 && s->idx != round_start(j))
		log_notice("acme %s: the certificate came from issuer %zu (%s); "
		    "its renewals ask that CA first", job_name(j), s->idx + 1,
		    s->directory);
	rl_set(j, rl, until);
	snprintf(j->rs.issuer, sizeof(j->rs.issuer), "%s", s->directory);
	j->rs.order_issuer[0] = j->rs.round_issuer[0] = '\0';
	j->rs.issuer_failures = 0;
	/* j->iss_until stays: a CA's Retry-After holds for the next round. */
}

const char *
job_ari_url(const struct job *j)
{
	const struct acme_iss *s = job_cert_iss(j);

	return s != NULL && s->dir_ok ? s->u_ari : NULL;
}
