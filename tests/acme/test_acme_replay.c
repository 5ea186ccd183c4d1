/*
 * test_acme_replay.c - the ACME client against recorded responses, with no
 * network: error documents (rateLimited, badNonce, serverInternal, malformed
 * JSON) and ARI window handling, checked through what the client writes to
 * the store's metadata.
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
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/base64.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "acme.h"
#include "certfile.h"
#include "errbuf.h"
#include "replay.h"
#include "store.h"
#include "b64url.h"
#include "testcert.h"
#include "replay_fx.h"

static void
test_rate_limited_honours_retry_after(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 429, NULL, "7200",
		  "{\"type\": \"urn:ietf:params:acme:error:rateLimited\", "
		  "\"detail\": \"too many certificates for r.test\"}" },
	};
	struct replay		 r;
	size_t			 n;
	struct replay_step	*s = script(tail, 1, &n);
	json_t			*m = run(s, n, has_error, &r);
	time_t			 t = time(NULL);

	assert_non_null(m);
	assert_non_null(strstr(err_of(m), "rateLimited"));
	assert_non_null(strstr(err_of(m), "too many certificates"));
	assert_int_equal(json_integer_value(json_object_get(m, "attempts")), 1);
	/* 7200 s from the CA beats the 60 s first step. */
	assert_true(num(m, "renew_at") >= t + 7200 - 10 && num(m, "renew_at") <= t + 7200 + 5);
	assert_int_equal(atomic_load(&r.i), n);
	json_decref(m);
	free(s);
}

static void
test_bad_nonce_is_retried(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 400, NULL, NULL,
		  "{\"type\": \"urn:ietf:params:acme:error:badNonce\", \"detail\": \"stale\"}" },
		/* The same request again, with the fresh nonce, now succeeds. */
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/1\"], "
		  "\"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  "{\"status\": \"invalid\", \"identifier\": {\"type\": \"dns\", "
		  "\"value\": \"r.test\"}}" },
	};
	struct replay		 r;
	size_t			 n;
	struct replay_step	*s = script(tail, 3, &n);
	json_t			*m = run(s, n, has_error, &r);

	assert_non_null(m);
	/* The failure is the authorization's, not the nonce's. */
	assert_string_equal(err_of(m), "authorization for r.test is invalid");
	assert_int_equal(atomic_load(&r.i), n);
	json_decref(m);
	free(s);
}

/* Nonces refused more times than the client retries: a failure of the
 * CA's (class "server", the usual back-off), not of the validation, though
 * it happens while the authorization is fetched; 1 + 10 tries, no more. */
static void
test_bad_nonce_exhausted_is_the_cas(void **state)
{
	static const struct replay_step head[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/1\"], "
		  "\"finalize\": \"https://ca.test/finalize/1\"}" },
	};
	static const struct replay_step bad = { "POST", "/authz/1", 400, NULL, NULL,
	    "{\"type\": \"urn:ietf:params:acme:error:badNonce\", \"detail\": \"stale\"}" };
	struct replay_step	 tail[12];
	struct replay		 r;
	size_t			 n, i;
	struct replay_step	*s;
	json_t			*m;

	tail[0] = head[0];
	for (i = 1; i < 12; i++)
		tail[i] = bad;
	s = script(tail, 12, &n);
	m = run(s, n, has_error, &r);
	assert_non_null(m);
	assert_non_null(strstr(err_of(m), "badNonce"));
	assert_string_equal(str(m, "fail_class"), "server");
	assert_int_equal(atomic_load(&r.i), n);
	json_decref(m);
	free(s);
}

static void
test_server_internal_backs_off(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 500, NULL, NULL,
		  "{\"type\": \"urn:ietf:params:acme:error:serverInternal\", \"detail\": \"boom\"}" },
	};
	struct replay		 r;
	size_t			 n;
	struct replay_step	*s = script(tail, 1, &n);
	json_t			*m = run(s, n, has_error, &r);
	time_t			 t = time(NULL);

	assert_non_null(m);
	assert_non_null(strstr(err_of(m), "HTTP 500 urn:ietf:params:acme:error:serverInternal: boom"));
	/* The first back-off step, spread by up to half of it, never less. */
	assert_true(num(m, "renew_at") >= t + 60 - 10 && num(m, "renew_at") <= t + 90 + 5);
	json_decref(m);
	free(s);
}

static void
test_malformed_json(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL, "{\"status\": pending" },
	};
	struct replay		 r;
	size_t			 n;
	struct replay_step	*s = script(tail, 1, &n);
	json_t			*m = run(s, n, has_error, &r);

	assert_non_null(m);
	assert_non_null(strstr(err_of(m), "newOrder: response is not a JSON object"));
	json_decref(m);
	free(s);
}

static void
test_hostile_token_refused(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/1\"], "
		  "\"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  "{\"status\": \"pending\", \"identifier\": {\"type\": \"dns\", \"value\": \"r.test\"}, "
		  "\"challenges\": [{\"type\": \"tls-alpn-01\", \"url\": \"https://ca.test/ch/1\", "
		  "\"token\": \"../../../etc/passwd/aaaaaaaaaaaaaaaa\"}]}" },
	};
	struct replay		 r;
	size_t			 n;
	struct replay_step	*s = script(tail, 2, &n);
	json_t			*m = run(s, n, has_error, &r);

	assert_non_null(m);
	assert_non_null(strstr(err_of(m), "malformed tls-alpn-01 challenge"));
	json_decref(m);
	free(s);
}

static int
has_window(json_t *m)
{
	return num(m, "ari_window_end") > 0;
}

static void
test_ari_window_sets_renewal(void **state)
{
	char			*cert, *key, start[32], end[32];
	struct errbuf		 eb;
	struct store		*st = store_open_file(statedir, DIR_URL, &eb);
	char			*names[] = { "r.test" };
	struct certfile		*cf;
	time_t			 t = time(NULL), s = t + 86400, e = t + 2 * 86400;
	char			 body[256];
	struct replay		 r;
	json_t			*m;

	/* A certificate already in the store, valid 30 days. */
	assert_non_null(st);
	testcert_make("ec", "r.test", 30, &cert, &key);
	cf = store_cert_put(st, "r.test", names, 1, cert, key, &eb);
	assert_non_null(cf);
	certfile_unref(cf);
	store_close(st);
	strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", gmtime(&s));
	strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%SZ", gmtime(&e));
	snprintf(body, sizeof(body), "{\"suggestedWindow\": {\"start\": \"%s\", \"end\": \"%s\"}}",
	    start, end);
	{
		const struct replay_step steps[] = {
			{ "GET", "/dir", 200, NULL, NULL, DIR_BODY },
			{ "GET", "/ari/", 200, NULL, "21600", body },
		};
		m = run(steps, 2, has_window, &r);
	}
	assert_non_null(m);
	assert_int_equal(num(m, "ari_window_start"), s);
	assert_int_equal(num(m, "ari_window_end"), e);
	assert_true(num(m, "renew_at") >= s && num(m, "renew_at") < e);
	assert_null(err_of(m));
	json_decref(m);
	free(cert);
	free(key);
}


static void
test_demand_orders_and_reports(void **state)
{
	struct store_renewal	rs;
	struct seen		w;
	size_t			n, answered;

	fake_now = time(NULL) / 3600 * 3600;
	cert_life = 90 * 86400;
	issue_once_as(1, &rs, &w, &n, &answered);
	assert_int_equal(answered, n);
	assert_int_equal(w.certs, 1);
	assert_int_equal(rs.failures, 0);
}

/*
 * acme_demand for a name whose stored state is in back-off (the CA said
 * 7200 s): no request goes out after the directory, and the result says
 * why and until when.
 */
static void
test_demand_in_backoff_reports(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 429, NULL, "7200",
		  "{\"type\": \"urn:ietf:params:acme:error:rateLimited\", "
		  "\"detail\": \"too many certificates for r.test\"}" },
	};
	static const struct replay_step dir_only[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_BODY },
	};
	struct replay		 r, r2;
	size_t			 n;
	struct replay_step	*s = script(tail, 1, &n);
	json_t			*m = run(s, n, has_error, &r);
	struct acme_site_cfg	 site;
	struct acme_cfg		 cfg;
	char			*ch[] = { "tls-alpn-01" };
	struct errbuf		 eb;
	struct store		*st;
	struct acme		*a;
	time_t			 t = time(NULL);

	assert_non_null(m);
	json_decref(m);
	free(s);
	replay_init(&r2, dir_only, 1);
	memset(&cfg, 0, sizeof(cfg));
	cfg.directory = DIR_URL;
	cfg.transport = &r2.tr;
	cfg.on_demand_result = on_demand_result;
	memset(&dres, 0, sizeof(dres));
	memset(&site, 0, sizeof(site));
	site.label = "r.test";
	site.challenges = ch;
	site.nchallenges = 1;
	st = store_open_file(statedir, DIR_URL, &eb);
	assert_non_null(st);
	a = acme_start(&cfg, st, NULL, 0, &eb);
	assert_non_null(a);
	assert_int_equal(acme_demand(a, &site), 0);
	for (int i = 0; i < 250 && atomic_load(&dres.calls) == 0; i++)
		usleep(20000);
	/* Nothing else is due: give a stray order time to show, then stop. */
	usleep(200000);
	acme_stop(a);
	store_close(st);
	if (atomic_load(&r2.mismatch))
		fail_msg("%s", r2.why);
	assert_true(atomic_load(&r2.i) <= 1);
	assert_int_equal(atomic_load(&dres.calls), 1);
	assert_int_equal(dres.ok, 0);
	assert_string_equal(dres.name, "r.test");
	assert_non_null(strstr(dres.err, "rateLimited"));
	assert_true(dres.retry_at >= t + 7200 - 10 && dres.retry_at <= t + 7200 + 5);
}

static void
test_happy_path_installs(void **state)
{
	struct store_renewal	rs;
	struct seen		w;
	size_t			n, answered;

	fake_now = time(NULL) / 3600 * 3600;	/* a round hour: not the real time */
	cert_life = 90 * 86400;
	issue_once(&rs, &w, &n, &answered);
	assert_int_equal(answered, n);
	/* The challenge went out through the store and was withdrawn. */
	assert_int_equal(w.chal_put, 1);
	assert_string_equal(w.chal_key, "tls-alpn-01/r.test");
	assert_int_equal(w.chal_del, 1);
	/* The schedule follows the injected clock. */
	assert_int_equal(rs.last_order, fake_now);
	assert_int_equal(rs.last_success, fake_now);
	assert_int_equal(rs.failures, 0);
	assert_string_equal(rs.last_error, "");
	assert_int_equal(rs.ari_next, fake_now + 6 * 3600);
	/* Renewal with a third of the life (90 days and the hour before
	 * fake_now) left, less up to 5% of it as jitter. */
	{
		time_t life = cert_life + 3600, due = fake_now + cert_life - life / 3;
		assert_true(rs.next_attempt <= due);
		assert_true(rs.next_attempt >= due - life / 20 - 1);
	}
}

/*
 * A fresh certificate that is already due (its life is mostly behind it, as
 * with clock skew): the success does not reset the back-off, so no new order
 * goes out at once; the next one waits for the first back-off step.
 */
static void
test_fresh_certificate_already_due(void **state)
{
	struct store_renewal	rs;
	struct seen		w;
	size_t			n, answered;

	fake_now = time(NULL);	/* the store checks dates with the real clock */
	cert_life = 120;	/* valid from an hour ago to two minutes from now */
	issue_once(&rs, &w, &n, &answered);
	assert_int_equal(rs.failures, 1);
	assert_int_equal(rs.next_attempt, fake_now + 60);	/* retry_base */
	assert_int_equal(rs.last_success, fake_now);
	/* An ARI check, but no second order (the script has none). */
	assert_int_equal(answered, n);
}

/* Order, finalize and download with is's certificate; the metadata. */
static json_t *
run_issue(struct issue *is, struct replay *r, size_t *nsteps)
{
	const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"ready\", \"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/finalize/1", 200, NULL, NULL, NULL, on_finalize },
		{ "POST", "/cert/1", 200, NULL, NULL, NULL, on_download },
	};
	struct replay_step	*s = script(tail, 3, nsteps);
	json_t			*m;

	run_user = is;
	m = run(s, *nsteps, has_error, r);
	run_user = NULL;
	free(s);
	return m;
}

static void
assert_not_stored(void)
{
	char *path;

	if (asprintf(&path, "%s/ca.test_dir/certs/r.test/ecdsa.pem", statedir) < 0)
		fail();
	assert_int_not_equal(access(path, F_OK), 0);
	free(path);
}

static void
test_issued_expired_refused(void **state)
{
	time_t		 t = time(NULL);
	struct issue	 is = { "r.test", t - 10 * 86400, t - 3600, NULL };
	struct replay	 r;
	size_t		 n;
	json_t		*m = run_issue(&is, &r, &n);
	char		 want[200], ts[32];
	struct tm	 tm;

	assert_non_null(m);
	assert_non_null(is.pubkey);	/* the replayed CA saw a CSR */
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&is.not_after, &tm));
	snprintf(want, sizeof(want), "new certificate rejected: the certificate "
	    "expired at %s (now ", ts);
	if (strncmp(err_of(m), want, strlen(want)) != 0)
		fail_msg("last_error: %s", err_of(m));
	assert_int_equal(json_integer_value(json_object_get(m, "attempts")), 1);
	/* A failed attempt backs off (60 s first step); nothing was stored. */
	assert_true(num(m, "renew_at") >= t + 60 - 10);
	assert_not_stored();
	assert_int_equal(atomic_load(&r.i), n);
	json_decref(m);
	free(is.pubkey);
}

static void
test_issued_missing_name_refused(void **state)
{
	char		*two[] = { "r.test", "www.r.test" };
	time_t		 t = time(NULL);
	struct issue	 is = { "r.test", t - 60, t + 30 * 86400, NULL };
	struct replay	 r;
	size_t		 n;
	json_t		*m;

	site_names = two;
	site_nnames = 2;
	m = run_issue(&is, &r, &n);
	site_names = one_name;
	site_nnames = 1;
	assert_non_null(m);
	assert_non_null(is.pubkey);
	assert_string_equal(err_of(m), "new certificate rejected: the certificate "
	    "does not cover www.r.test (it names r.test)");
	assert_int_equal(json_integer_value(json_object_get(m, "attempts")), 1);
	assert_not_stored();
	assert_int_equal(atomic_load(&r.i), n);
	json_decref(m);
	free(is.pubkey);
}

/* Control: the same flow with a good certificate installs it. */
static int
has_cert(json_t *m)
{
	return num(m, "not_after") > 0 || has_error(m);
}

static void
test_issued_good_installed(void **state)
{
	time_t			 t = time(NULL);
	struct issue		 is = { "r.test", t - 60, t + 30 * 86400, NULL };
	const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"ready\", \"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/finalize/1", 200, NULL, NULL, NULL, on_finalize },
		{ "POST", "/cert/1", 200, NULL, NULL, NULL, on_download },
		/* The installed certificate's ARI window, if asked before the stop. */
		{ "GET", "/ari/", 200, NULL, "21600",
		  "{\"suggestedWindow\": {\"start\": \"2099-01-01T00:00:00Z\", "
		  "\"end\": \"2099-01-02T00:00:00Z\"}}" },
	};
	struct replay		 r;
	size_t			 n;
	struct replay_step	*s = script(tail, 4, &n);
	json_t			*m;
	char			*path;

	run_user = &is;
	m = run(s, n, has_cert, &r);
	run_user = NULL;
	assert_non_null(m);
	if (err_of(m) != NULL)
		fail_msg("last_error: %s", err_of(m));
	assert_int_equal(num(m, "not_after"), is.not_after);
	if (asprintf(&path, "%s/ca.test_dir/certs/r.test/ecdsa.pem", statedir) < 0)
		fail();
	assert_int_equal(access(path, F_OK), 0);
	free(path);
	json_decref(m);
	free(s);
	free(is.pubkey);
}



int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_rate_limited_honours_retry_after, replay_fx_setup_each),
		cmocka_unit_test_setup(test_bad_nonce_is_retried, replay_fx_setup_each),
		cmocka_unit_test_setup(test_bad_nonce_exhausted_is_the_cas, replay_fx_setup_each),
		cmocka_unit_test_setup(test_server_internal_backs_off, replay_fx_setup_each),
		cmocka_unit_test_setup(test_malformed_json, replay_fx_setup_each),
		cmocka_unit_test_setup(test_hostile_token_refused, replay_fx_setup_each),
		cmocka_unit_test_setup(test_ari_window_sets_renewal, replay_fx_setup_each),
		cmocka_unit_test_setup(test_happy_path_installs, replay_fx_setup_each),
		cmocka_unit_test_setup(test_demand_orders_and_reports, replay_fx_setup_each),
		cmocka_unit_test_setup(test_demand_in_backoff_reports, replay_fx_setup_each),
		cmocka_unit_test_setup(test_fresh_certificate_already_due, replay_fx_setup_each),
		cmocka_unit_test_setup(test_issued_good_installed, replay_fx_setup_each),
		cmocka_unit_test_setup(test_issued_expired_refused, replay_fx_setup_each),
		cmocka_unit_test_setup(test_issued_missing_name_refused, replay_fx_setup_each),
	};
	return cmocka_run_group_tests_name("acme_replay", tests, replay_fx_setup,
	    replay_fx_teardown);
}
