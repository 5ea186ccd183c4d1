/*
 * test_acme_issuer.c - fallback CAs (acme.issuers): the switching rule
 * (acme_issuer.h, pure), then the client against two replayed CAs, ca.test
 * and cb.test: a rate limit with a long Retry-After moves the order to the
 * second CA at once and the certificate comes from there; failures of
 * another class move it after acme.fallback_failures in a row; a short
 * rate limit is waited out at the same CA; a renewal starts at the CA of the
 * certificate in service, and a restart resumes where the fallback stood;
 * but a certificate that a rate limit sent to the second CA is renewed at
 * the first again once that limit has passed (and not before), without
 * "replaces", which names a certificate of the second.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "acme.h"
#include "acme_issuer.h"
#include "certfile.h"
#include "errbuf.h"
#include "replay.h"
#include "store.h"
#include "replay_fx.h"
#include "testcert.h"

/* ---- the rule ----------------------------------------------------------- */

static const struct acme_issuer_rule rule = { 2, 3600 };

static void
test_rule_single_issuer_stays(void **state)
{
	size_t next = 7;

	assert_int_equal(acme_issuer_after_fail(1, 0, 0, 50, ACME_FAIL_SERVER, -1,
	    &rule, &next), ACME_ISSUER_STAY);
	assert_int_equal(next, 0);
	assert_int_equal(acme_issuer_after_fail(1, 0, 0, 1, ACME_FAIL_RATE_LIMITED,
	    -1, &rule, &next), ACME_ISSUER_STAY);
}

/* Other classes: the threshold, counted at the current CA. */
static void
test_rule_threshold(void **state)
{
	size_t next;

	for (int cls = 0; cls < ACME_FAIL__MAX; cls++) {
		if (cls == ACME_FAIL_RATE_LIMITED)
			continue;
		assert_int_equal(acme_issuer_after_fail(3, 0, 0, 1, cls, -1, &rule,
		    &next), ACME_ISSUER_STAY);
		assert_int_equal(next, 0);
		assert_int_equal(acme_issuer_after_fail(3, 0, 0, 2, cls, -1, &rule,
		    &next), ACME_ISSUER_NEXT);
		assert_int_equal(next, 1);
		assert_int_equal(acme_issuer_after_fail(3, 0, 1, 2, cls, 30, &rule,
		    &next), ACME_ISSUER_NEXT);
		assert_int_equal(next, 2);
	}
	/* A threshold of 1 (or a nonsense 0) moves on the first failure. */
	{
		struct acme_issuer_rule one = { 1, 3600 }, zero = { 0, 3600 };

		assert_int_equal(acme_issuer_after_fail(2, 0, 0, 1, ACME_FAIL_SERVER,
		    -1, &one, &next), ACME_ISSUER_NEXT);
		assert_int_equal(acme_issuer_after_fail(2, 0, 0, 1, ACME_FAIL_SERVER,
		    -1, &zero, &next), ACME_ISSUER_NEXT);
	}
}

/* Rate limits: a short Retry-After is waited out however often it comes;
 * a long one, or none, moves on at once. */
static void
test_rule_rate_limits(void **state)
{
	size_t next;

	assert_int_equal(acme_issuer_after_fail(2, 0, 0, 9, ACME_FAIL_RATE_LIMITED,
	    60, &rule, &next), ACME_ISSUER_STAY);
	assert_int_equal(acme_issuer_after_fail(2, 0, 0, 1, ACME_FAIL_RATE_LIMITED,
	    3600, &rule, &next), ACME_ISSUER_STAY);
	assert_int_equal(acme_issuer_after_fail(2, 0, 0, 1, ACME_FAIL_RATE_LIMITED,
	    3601, &rule, &next), ACME_ISSUER_NEXT);
	assert_int_equal(next, 1);
	assert_int_equal(acme_issuer_after_fail(2, 0, 0, 1, ACME_FAIL_RATE_LIMITED,
	    -1, &rule, &next), ACME_ISSUER_NEXT);
	assert_int_equal(next, 1);
}

/* A round starts at the certificate's CA and goes round the list; back at
 * its start, every CA has failed: WRAP, to the round's first. */
static void
test_rule_round(void **state)
{
	size_t next;

	/* Round from the first of two. */
	assert_int_equal(acme_issuer_after_fail(2, 0, 1, 2, ACME_FAIL_SERVER, -1,
	    &rule, &next), ACME_ISSUER_WRAP);
	assert_int_equal(next, 0);
	/* Round from the second of three (its certificate came from there):
	 * 1 -> 2 -> 0 -> wrap to 1. */
	assert_int_equal(acme_issuer_after_fail(3, 1, 1, 2, ACME_FAIL_OTHER, -1,
	    &rule, &next), ACME_ISSUER_NEXT);
	assert_int_equal(next, 2);
	assert_int_equal(acme_issuer_after_fail(3, 1, 2, 2, ACME_FAIL_OTHER, -1,
	    &rule, &next), ACME_ISSUER_NEXT);
	assert_int_equal(next, 0);
	assert_int_equal(acme_issuer_after_fail(3, 1, 0, 2, ACME_FAIL_OTHER, -1,
	    &rule, &next), ACME_ISSUER_WRAP);
	assert_int_equal(next, 1);
	/* A start outside the list counts as the first. */
	assert_int_equal(acme_issuer_after_fail(2, 9, 1, 2, ACME_FAIL_OTHER, -1,
	    &rule, &next), ACME_ISSUER_WRAP);
	assert_int_equal(next, 0);
}

/* Where a round starts: the certificate's CA, or an earlier one that only
 * a rate limit made it leave, once that limit has passed. */
static void
test_rule_round_start(void **state)
{
	/* No rate limit remembered: the certificate's own CA. */
	assert_int_equal(acme_issuer_round_start(2, 1, 2, 0, 1000), 1);
	assert_int_equal(acme_issuer_round_start(2, 0, 2, 0, 1000), 0);
	/* The first rate-limited us until 1000: not before, then there. */
	assert_int_equal(acme_issuer_round_start(2, 1, 0, 1000, 999), 1);
	assert_int_equal(acme_issuer_round_start(2, 1, 0, 1000, 1000), 0);
	assert_int_equal(acme_issuer_round_start(2, 1, 0, 1000, 5000), 0);
	/* A CA later in the list than the certificate's is no way back. */
	assert_int_equal(acme_issuer_round_start(2, 0, 1, 1000, 5000), 0);
	assert_int_equal(acme_issuer_round_start(3, 1, 2, 1000, 5000), 1);
	assert_int_equal(acme_issuer_round_start(3, 1, 1, 1000, 5000), 1);
	/* Of three: back to the second, not past it to the first. */
	assert_int_equal(acme_issuer_round_start(3, 2, 1, 1000, 5000), 1);
	/* No certificate (or its CA no longer listed): the first, or the
	 * rate-limited one once its limit has passed. */
	assert_int_equal(acme_issuer_round_start(3, 3, 3, 0, 5000), 0);
	assert_int_equal(acme_issuer_round_start(3, 3, 1, 1000, 5000), 1);
	assert_int_equal(acme_issuer_round_start(3, 3, 1, 1000, 999), 0);
	assert_int_equal(acme_issuer_round_start(3, 7, 9, 1000, 5000), 0);
}

/* What is remembered when the fallback moves on from cur. */
static void
test_rule_note_move(void **state)
{
	size_t	rl = 3;
	time_t	until = 0;

	/* A rate limit at the first: remembered. */
	acme_issuer_note_move(3, 0, 1, 500, &rl, &until);
	assert_int_equal(rl, 0);
	assert_int_equal(until, 500);
	/* Then one at the second: the first stays the way back. */
	acme_issuer_note_move(3, 1, 1, 900, &rl, &until);
	assert_int_equal(rl, 0);
	assert_int_equal(until, 500);
	/* The first again (a later round): its newer time. */
	acme_issuer_note_move(3, 0, 1, 700, &rl, &until);
	assert_int_equal(rl, 0);
	assert_int_equal(until, 700);
	/* Another CA failing otherwise changes nothing... */
	acme_issuer_note_move(3, 1, 0, 0, &rl, &until);
	assert_int_equal(rl, 0);
	assert_int_equal(until, 700);
	/* ... the remembered one failing otherwise is no way back. */
	acme_issuer_note_move(3, 0, 0, 0, &rl, &until);
	assert_int_equal(rl, 3);
	assert_int_equal(until, 0);
	/* The third, then the second: the earlier in the list wins. */
	acme_issuer_note_move(3, 2, 1, 10, &rl, &until);
	assert_int_equal(rl, 2);
	acme_issuer_note_move(3, 1, 1, 20, &rl, &until);
	assert_int_equal(rl, 1);
	assert_int_equal(until, 20);
	/* An index outside the list changes nothing. */
	acme_issuer_note_move(3, 5, 1, 30, &rl, &until);
	assert_int_equal(rl, 1);
	assert_int_equal(until, 20);
}

/* What stays remembered once a certificate is in service. */
static void
test_rule_note_installed(void **state)
{
	size_t	rl;
	time_t	until;

	rl = 0; until = 500;		/* from the second because of the first */
	acme_issuer_note_installed(2, 1, &rl, &until);
	assert_int_equal(rl, 0);
	assert_int_equal(until, 500);
	rl = 0; until = 500;		/* the first itself issued */
	acme_issuer_note_installed(2, 0, &rl, &until);
	assert_int_equal(rl, 2);
	assert_int_equal(until, 0);
	rl = 1; until = 500;		/* a later CA's limit: no way back */
	acme_issuer_note_installed(2, 0, &rl, &until);
	assert_int_equal(rl, 2);
	assert_int_equal(until, 0);
	rl = 3; until = 0;		/* none */
	acme_issuer_note_installed(3, 2, &rl, &until);
	assert_int_equal(rl, 3);
	assert_int_equal(until, 0);
}

/*
 * The rules together, as the client applies them, over two issuers: a
 * certificate that a long rate limit at the first sent to the second goes
 * back when the limit has passed; if the first rate-limits again, the
 * certificate comes from the second again and the newer limit counts; a
 * refusal at the first then ends the way back.
 */
static void
test_rule_story(void **state)
{
	size_t	rl = 2, next, start, cert;
	time_t	until = 0;

	/* First order: no certificate, no memory: the first. */
	start = acme_issuer_round_start(2, 2, rl, until, 100);
	assert_int_equal(start, 0);
	/* A rate limit of a day there: on to the second, remembered. */
	assert_int_equal(acme_issuer_after_fail(2, start, 0, 1,
	    ACME_FAIL_RATE_LIMITED, 86400, &rule, &next), ACME_ISSUER_NEXT);
	assert_int_equal(next, 1);
	acme_issuer_note_move(2, 0, 1, 100 + 86400, &rl, &until);
	cert = 1;
	acme_issuer_note_installed(2, cert, &rl, &until);
	assert_int_equal(rl, 0);
	/* A renewal within the day: the second; after it: the first. */
	assert_int_equal(acme_issuer_round_start(2, cert, rl, until, 50000), 1);
	start = acme_issuer_round_start(2, cert, rl, until, 100 + 86400);
	assert_int_equal(start, 0);
	/* The first rate-limits again: the second, and the newer limit. */
	assert_int_equal(acme_issuer_after_fail(2, start, 0, 1,
	    ACME_FAIL_RATE_LIMITED, -1, &rule, &next), ACME_ISSUER_NEXT);
	acme_issuer_note_move(2, 0, 1, 200000, &rl, &until);
	acme_issuer_note_installed(2, 1, &rl, &until);
	assert_int_equal(rl, 0);
	assert_int_equal(until, 200000);
	assert_int_equal(acme_issuer_round_start(2, 1, rl, until, 199999), 1);
	/* Then it refuses the order twice (other): the second issues; no
	 * way back any more. */
	start = acme_issuer_round_start(2, 1, rl, until, 200000);
	assert_int_equal(start, 0);
	assert_int_equal(acme_issuer_after_fail(2, start, 0, 1,
	    ACME_FAIL_OTHER, -1, &rule, &next), ACME_ISSUER_STAY);
	assert_int_equal(acme_issuer_after_fail(2, start, 0, 2,
	    ACME_FAIL_OTHER, -1, &rule, &next), ACME_ISSUER_NEXT);
	acme_issuer_note_move(2, 0, 0, 0, &rl, &until);
	acme_issuer_note_installed(2, 1, &rl, &until);
	assert_int_equal(rl, 2);
	assert_int_equal(acme_issuer_round_start(2, 1, rl, until, 999999), 1);
}

static void
test_rule_find(void **state)
{
	const char *dirs[] = { "https://a.test/dir", "https://b.test/dir" };

	assert_int_equal(acme_issuer_find(dirs, 2, NULL), 0);
	assert_int_equal(acme_issuer_find(dirs, 2, ""), 0);
	assert_int_equal(acme_issuer_find(dirs, 2, "https://a.test/dir"), 0);
	assert_int_equal(acme_issuer_find(dirs, 2, "https://b.test/dir"), 1);
	assert_int_equal(acme_issuer_find(dirs, 2, "https://c.test/dir"), 2);
	assert_int_equal(acme_issuer_find(dirs, 2, "https://b.test/dir/"), 2);
}

/* ---- two replayed CAs --------------------------------------------------- */

#define DIR2_URL "https://cb.test/dir"
#define DIR2_BODY "{\"newNonce\": \"https://cb.test/nonce\", " \
    "\"newAccount\": \"https://cb.test/acct\", \"newOrder\": \"https://cb.test/order\", " \
    "\"renewalInfo\": \"https://cb.test/ari/\"}"
#define RATE_LIMITED "{\"type\": \"urn:ietf:params:acme:error:rateLimited\", " \
    "\"detail\": \"too many new orders\"}"
#define SERVER_ERROR "{\"type\": \"urn:ietf:params:acme:error:serverInternal\", " \
    "\"detail\": \"down for maintenance\"}"

static const struct acme_issuer_cfg two[] = {
	{ DIR_URL, NULL, NULL, NULL, NULL, NULL },
	{ DIR2_URL, NULL, NULL, NULL, NULL, NULL },
};

/* No state for either CA: the second's account folder goes too. */
static int
setup_each(void **state)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/cb.test_dir", statedir);
	if (testcert_rmtree(path) != 0 && access(path, F_OK) == 0)
		return -1;
	return replay_fx_setup_each(state);
}

static void
use_two_issuers(void)
{
	run_issuers = two;
	run_nissuers = 2;
	run_retry_base = 1;
}

static int
installed(json_t *m)
{
	return num(m, "not_after") > 0;
}

static int
attempted_thrice(json_t *m)
{
	return num(m, "attempts") >= 3;
}

static int
attempted_twice(json_t *m)
{
	return num(m, "attempts") >= 2;
}

/* The second CA's order, from newOrder to the certificate. */
#define CB_ISSUANCE \
	{ "POST", "cb.test/order", 201, "https://cb.test/order/1", NULL, \
	  "{\"status\": \"pending\", \"authorizations\": [\"https://cb.test/authz/1\"], " \
	  "\"finalize\": \"https://cb.test/finalize/1\"}" }, \
	{ "POST", "cb.test/authz/1", 200, NULL, NULL, \
	  "{\"status\": \"pending\", \"identifier\": {\"type\": \"dns\", \"value\": \"r.test\"}, " \
	  "\"challenges\": [{\"type\": \"tls-alpn-01\", \"url\": \"https://cb.test/ch/1\", " \
	  "\"token\": \"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\"}]}" }, \
	{ "POST", "cb.test/ch/1", 200, NULL, NULL, "{\"status\": \"processing\"}" }, \
	{ "POST", "cb.test/authz/1", 200, NULL, NULL, \
	  "{\"status\": \"valid\", \"identifier\": {\"type\": \"dns\", \"value\": \"r.test\"}}" }, \
	{ "POST", "cb.test/finalize/1", 200, NULL, NULL, NULL, on_finalize }, \
	{ "POST", "/cert/1", 200, NULL, NULL, NULL, on_download }, \
	/* The new certificate's first ARI check, at its own CA. */ \
	{ "GET", "cb.test/ari/", 404, NULL, NULL, "" }

/*
 * The first CA rate-limits the order for a day: the next CA is asked at
 * once (a day is beyond acme.fallback_retry_after), with its own account,
 * and the certificate comes from there; the state names it as the issuer.
 */
static void
test_rate_limited_moves_to_second(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "ca.test/dir", 200, NULL, NULL, DIR_BODY },
		{ "GET", "cb.test/dir", 200, NULL, NULL, DIR2_BODY },
		{ "HEAD", "ca.test/nonce", 200, NULL, NULL, "" },
		{ "POST", "ca.test/acct", 201, "https://ca.test/acct/1", NULL,
		  "{\"status\": \"valid\"}" },
		{ "POST", "ca.test/order", 429, NULL, "86400", RATE_LIMITED },
		{ "HEAD", "cb.test/nonce", 200, NULL, NULL, "" },
		{ "POST", "cb.test/acct", 201, "https://cb.test/acct/7", NULL,
		  "{\"status\": \"valid\"}" },
		CB_ISSUANCE,
	};
	struct issue	 is = { "r.test", 0, 0, NULL };
	struct replay	 r;
	struct store	*st2;
	struct errbuf	 eb;
	char		*url;
	json_t		*m;

	is.not_before = time(NULL) - 60;
	is.not_after = time(NULL) + 90 * 86400;
	run_user = &is;
	use_two_issuers();
	m = run(steps, sizeof(steps) / sizeof(steps[0]), installed, &r);
	assert_non_null(m);
	assert_true(installed(m));
	assert_string_equal(str(m, "issuer"), DIR2_URL);
	assert_string_equal(str(m, "order_issuer"), "");
	assert_string_equal(str(m, "round_issuer"), "");
	assert_int_equal(num(m, "attempts"), 0);
	assert_null(err_of(m));
	/* The rate limit that sent it there is remembered, with its end. */
	assert_string_equal(str(m, "rate_limit_issuer"), DIR_URL);
	assert_true(num(m, "rate_limit_until") >= time(NULL) + 86400 - 60);
	assert_true(num(m, "rate_limit_until") <= time(NULL) + 86400);
	/* Each CA's account is kept in its own folder. */
	st2 = store_open_file(statedir, DIR2_URL, &eb);
	assert_non_null(st2);
	url = store_account_url(st2);
	assert_non_null(url);
	assert_string_equal(url, "https://cb.test/acct/7");
	free(url);
	store_close(st2);
	free(is.pubkey);
	json_decref(m);
}

/*
 * Server errors: the first stays for one failure, moves after the second
 * (acme.fallback_failures, 2); a short rate limit at the second is waited
 * out there. The state says where the orders go and how often they failed.
 */
static void
test_failures_move_after_threshold(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "ca.test/dir", 200, NULL, NULL, DIR_BODY },
		{ "GET", "cb.test/dir", 200, NULL, NULL, DIR2_BODY },
		{ "HEAD", "ca.test/nonce", 200, NULL, NULL, "" },
		{ "POST", "ca.test/acct", 201, "https://ca.test/acct/1", NULL,
		  "{\"status\": \"valid\"}" },
		{ "POST", "ca.test/order", 500, NULL, NULL, SERVER_ERROR },
		{ "POST", "ca.test/order", 500, NULL, NULL, SERVER_ERROR },
		{ "HEAD", "cb.test/nonce", 200, NULL, NULL, "" },
		{ "POST", "cb.test/acct", 201, "https://cb.test/acct/7", NULL,
		  "{\"status\": \"valid\"}" },
		{ "POST", "cb.test/order", 429, NULL, "600", RATE_LIMITED },
	};
	struct replay	 r;
	json_t		*m;

	use_two_issuers();
	m = run(steps, sizeof(steps) / sizeof(steps[0]), attempted_thrice, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), sizeof(steps) / sizeof(steps[0]));
	assert_int_equal(num(m, "attempts"), 3);
	assert_string_equal(str(m, "order_issuer"), DIR2_URL);
	assert_int_equal(num(m, "issuer_attempts"), 1);
	assert_string_equal(str(m, "fail_class"), "rate_limited");
	/* The short rate limit is honoured at that CA: no order before it. */
	assert_true(num(m, "retry_until") >= time(NULL) + 500);
	json_decref(m);
}

/*
 * A restart in the middle of a fallback (the state says the orders go to
 * the second CA) resumes there: the first CA is not asked. And a renewal
 * of a certificate the second CA issued starts there too.
 */
static void
test_state_resumes_at_second(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "ca.test/dir", 200, NULL, NULL, DIR_BODY },
		{ "GET", "cb.test/dir", 200, NULL, NULL, DIR2_BODY },
		{ "HEAD", "cb.test/nonce", 200, NULL, NULL, "" },
		{ "POST", "cb.test/acct", 201, "https://cb.test/acct/7", NULL,
		  "{\"status\": \"valid\"}" },
		{ "POST", "cb.test/order", 429, NULL, "600", RATE_LIMITED },
	};
	struct store_renewal	 rs;
	struct errbuf		 eb;
	struct store		*st;
	struct replay		 r;
	json_t			*m;

	for (int k = 0; k < 2; k++) {
		memset(&rs, 0, sizeof(rs));
		if (k == 0) {
			/* Mid-fallback: no certificate yet, orders go to cb. */
			snprintf(rs.order_issuer, sizeof(rs.order_issuer), "%s",
			    DIR2_URL);
			rs.issuer_failures = 1;
		} else
			/* The (lost) certificate came from cb. */
			snprintf(rs.issuer, sizeof(rs.issuer), "%s", DIR2_URL);
		rs.failures = 1;
		st = store_open_file(statedir, DIR_URL, &eb);
		assert_non_null(st);
		assert_int_equal(store_renewal_put(st, "r.test", CERTFILE_EC, &rs,
		    NULL, &eb), 0);
		store_close(st);
		use_two_issuers();
		m = run(steps, sizeof(steps) / sizeof(steps[0]), attempted_twice, &r);
		assert_non_null(m);
		assert_int_equal(atomic_load(&r.i), sizeof(steps) / sizeof(steps[0]));
		assert_string_equal(str(m, "order_issuer"), k == 0 ? DIR2_URL : "");
		assert_int_equal(num(m, "issuer_attempts"), k == 0 ? 2 : 1);
		json_decref(m);
		assert_int_equal(setup_each(state), 0);
	}
}

/*
 * State written before round_issuer and the rate-limit memory existed (an
 * old tlsgate, mid-fallback: orders go to cb) reads as no round under way
 * and nothing remembered: the orders resume at cb, and the round counts as
 * started at the certificate's CA, the first, as the old rule had it.
 */
static void
test_old_state_resumes(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "ca.test/dir", 200, NULL, NULL, DIR_BODY },
		{ "GET", "cb.test/dir", 200, NULL, NULL, DIR2_BODY },
		{ "HEAD", "cb.test/nonce", 200, NULL, NULL, "" },
		{ "POST", "cb.test/acct", 201, "https://cb.test/acct/7", NULL,
		  "{\"status\": \"valid\"}" },
		{ "POST", "cb.test/order", 429, NULL, "600", RATE_LIMITED },
	};
	struct store_renewal	 rs;
	struct errbuf		 eb;
	struct store		*st;
	struct replay		 r;
	char			 path[600];
	FILE			*f;
	json_t			*m;

	/* The store makes the folders; the file is then what an old one wrote. */
	memset(&rs, 0, sizeof(rs));
	st = store_open_file(statedir, DIR_URL, &eb);
	assert_non_null(st);
	assert_int_equal(store_renewal_put(st, "r.test", CERTFILE_EC, &rs, NULL,
	    &eb), 0);
	store_close(st);
	snprintf(path, sizeof(path), "%s/ca.test_dir/certs/r.test/ecdsa.json",
	    statedir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "{\"attempts\": 1, \"fail_class\": \"server\", "
	    "\"issuer\": null, \"issuer_attempts\": 1, \"key_type\": \"ecdsa\", "
	    "\"name\": \"r.test\", \"not_after\": 0, \"not_before\": 0, "
	    "\"order_issuer\": \"%s\", \"renew_at\": 0, \"retry_until\": 0}\n",
	    DIR2_URL);
	assert_int_equal(fclose(f), 0);
	use_two_issuers();
	m = run(steps, sizeof(steps) / sizeof(steps[0]), attempted_twice, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), sizeof(steps) / sizeof(steps[0]));
	assert_string_equal(str(m, "order_issuer"), DIR2_URL);
	assert_int_equal(num(m, "issuer_attempts"), 2);
	assert_string_equal(str(m, "round_issuer"), DIR_URL);
	assert_string_equal(str(m, "rate_limit_issuer"), "");
	assert_int_equal(num(m, "rate_limit_until"), 0);
	json_decref(m);
}

/* ---- back to the first CA once its rate limit has passed ----------------- */

/*
 * r.test's certificate in service (CA-like: it has an AKI, so ARI has a
 * certID for it), issued by the CA whose directory is issuer, due for
 * renewal now; the state says a rate limit at the first CA made its
 * fallback leave that CA, until rl_until.
 */
static void
cert_in_service(const char *issuer, time_t rl_until)
{
	struct store_renewal	 rs;
	struct errbuf		 eb;
	struct store		*st = store_open_file(statedir, DIR_URL, &eb);
	char			*cert, *key, *names[] = { "r.test" };
	struct certfile		*cf;

	assert_non_null(st);
	assert_int_equal(testcert_make("ec", "r.test", 30, &cert, &key), 0);
	cf = store_cert_put(st, "r.test", names, 1, cert, key, &eb);
	assert_non_null(cf);
	memset(&rs, 0, sizeof(rs));
	rs.next_attempt = time(NULL) - 10;
	snprintf(rs.issuer, sizeof(rs.issuer), "%s", issuer);
	snprintf(rs.rl_issuer, sizeof(rs.rl_issuer), "%s", DIR_URL);
	rs.rl_until = rl_until;
	assert_int_equal(store_renewal_put(st, "r.test", CERTFILE_EC, &rs, cf,
	    &eb), 0);
	certfile_unref(cf);
	store_close(st);
	free(cert);
	free(key);
}

static int
attempted_once(json_t *m)
{
	return num(m, "attempts") >= 1;
}

static int
renewed(json_t *m)
{
	return num(m, "last_success") > 0;
}

/*
 * The limit has not passed yet: the renewal asks the certificate's own CA,
 * the second, with "replaces" (its ARI certID); the first is not asked at
 * all (the replay would fail on any request to it). The memory stays.
 */
static void
test_renewal_waits_out_first_limit(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "ca.test/dir", 200, NULL, NULL, DIR_BODY },
		{ "GET", "cb.test/dir", 200, NULL, NULL, DIR2_BODY },
		{ "HEAD", "cb.test/nonce", 200, NULL, NULL, "" },
		{ "POST", "cb.test/acct", 201, "https://cb.test/acct/7", NULL,
		  "{\"status\": \"valid\"}" },
		{ "POST", "cb.test/order", 429, NULL, "600", RATE_LIMITED,
		  record_order },
	};
	time_t		 until = time(NULL) + 3600;
	struct replay	 r;
	json_t		*m;

	cert_in_service(DIR2_URL, until);
	seen_orders_clear();
	use_two_issuers();
	m = run(steps, sizeof(steps) / sizeof(steps[0]), attempted_once, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), sizeof(steps) / sizeof(steps[0]));
	assert_int_equal(atomic_load(&nseen_orders), 1);
	assert_true(order_has(0, "replaces"));
	assert_string_equal(str(m, "round_issuer"), DIR2_URL);
	assert_string_equal(str(m, "order_issuer"), "");
	assert_string_equal(str(m, "issuer"), DIR2_URL);
	assert_string_equal(str(m, "rate_limit_issuer"), DIR_URL);
	assert_int_equal(num(m, "rate_limit_until"), until);
	json_decref(m);
	seen_orders_clear();
}

/*
 * The limit has passed: the renewal asks the first CA again (its account
 * there is registered now), without "replaces" (a certID of the second
 * CA's certificate), and gets the certificate there; with it in service,
 * nothing is remembered any more.
 */
static void
test_renewal_returns_to_first(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "ca.test/dir", 200, NULL, NULL, DIR_BODY },
		{ "GET", "cb.test/dir", 200, NULL, NULL, DIR2_BODY },
		{ "HEAD", "ca.test/nonce", 200, NULL, NULL, "" },
		{ "POST", "ca.test/acct", 201, "https://ca.test/acct/1", NULL,
		  "{\"status\": \"valid\"}" },
		{ "POST", "ca.test/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": "
		  "[\"https://ca.test/authz/1\"], "
		  "\"finalize\": \"https://ca.test/finalize/1\"}", record_order },
		{ "POST", "ca.test/authz/1", 200, NULL, NULL,
		  "{\"status\": \"pending\", \"identifier\": {\"type\": \"dns\", "
		  "\"value\": \"r.test\"}, \"challenges\": [{\"type\": "
		  "\"tls-alpn-01\", \"url\": \"https://ca.test/ch/1\", \"token\": "
		  "\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\"}]}" },
		{ "POST", "ca.test/ch/1", 200, NULL, NULL, "{\"status\": \"processing\"}" },
		{ "POST", "ca.test/authz/1", 200, NULL, NULL,
		  "{\"status\": \"valid\", \"identifier\": {\"type\": \"dns\", "
		  "\"value\": \"r.test\"}}" },
		{ "POST", "ca.test/finalize/1", 200, NULL, NULL, NULL, on_finalize },
		{ "POST", "/cert/1", 200, NULL, NULL, NULL, on_download },
		{ "GET", "ca.test/ari/", 404, NULL, NULL, "" },
	};
	struct issue	 is = { "r.test", 0, 0, NULL };
	struct replay	 r;
	json_t		*m;

	is.not_before = time(NULL) - 60;
	is.not_after = time(NULL) + 90 * 86400;
	run_user = &is;
	cert_in_service(DIR2_URL, time(NULL) - 1);
	seen_orders_clear();
	use_two_issuers();
	m = run(steps, sizeof(steps) / sizeof(steps[0]), renewed, &r);
	assert_non_null(m);
	assert_true(renewed(m));
	assert_non_null(is.pubkey);
	assert_int_equal(atomic_load(&nseen_orders), 1);
	assert_false(order_has(0, "replaces"));
	assert_string_equal(str(m, "issuer"), DIR_URL);
	assert_string_equal(str(m, "round_issuer"), "");
	assert_string_equal(str(m, "rate_limit_issuer"), "");
	assert_int_equal(num(m, "rate_limit_until"), 0);
	assert_null(err_of(m));
	free(is.pubkey);
	json_decref(m);
	seen_orders_clear();
}

/*
 * The remembered limit holds across a restart even where a round would
 * start at that CA (the certificate's CA is no longer listed, so the round
 * starts at the first): no request to it before its time; the job waits,
 * and the state says until when.
 */
static time_t limit_until;

static int
waits_until_limit(json_t *m)
{
	return num(m, "retry_until") >= limit_until;
}

static void
test_limit_kept_across_restart(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "ca.test/dir", 200, NULL, NULL, DIR_BODY },
		{ "GET", "cb.test/dir", 200, NULL, NULL, DIR2_BODY },
	};
	time_t		 until = time(NULL) + 3600;
	struct replay	 r;
	json_t		*m;

	limit_until = until;
	cert_in_service("https://gone.test/dir", until);
	use_two_issuers();
	m = run(steps, sizeof(steps) / sizeof(steps[0]), waits_until_limit, &r);
	assert_non_null(m);
	assert_int_equal(num(m, "retry_until"), until);
	assert_int_equal(atomic_load(&r.i), 2);
	assert_string_equal(str(m, "round_issuer"), DIR_URL);
	assert_int_equal(num(m, "attempts"), 0);
	json_decref(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_single_issuer_stays),
		cmocka_unit_test(test_rule_threshold),
		cmocka_unit_test(test_rule_rate_limits),
		cmocka_unit_test(test_rule_round),
		cmocka_unit_test(test_rule_round_start),
		cmocka_unit_test(test_rule_note_move),
		cmocka_unit_test(test_rule_note_installed),
		cmocka_unit_test(test_rule_story),
		cmocka_unit_test(test_rule_find),
		cmocka_unit_test_setup(test_rate_limited_moves_to_second,
		    setup_each),
		cmocka_unit_test_setup(test_failures_move_after_threshold,
		    setup_each),
		cmocka_unit_test_setup(test_state_resumes_at_second,
		    setup_each),
		cmocka_unit_test_setup(test_old_state_resumes, setup_each),
		cmocka_unit_test_setup(test_renewal_waits_out_first_limit,
		    setup_each),
		cmocka_unit_test_setup(test_renewal_returns_to_first,
		    setup_each),
		cmocka_unit_test_setup(test_limit_kept_across_restart,
		    setup_each),
	};

	return cmocka_run_group_tests_name("acme_issuer", tests, replay_fx_setup,
	    replay_fx_teardown);
}
