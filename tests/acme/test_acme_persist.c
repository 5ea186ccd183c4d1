/*
 * test_acme_persist.c - the ACME client's dns-persist-01 answers against
 * recorded responses (replay_fx.h): a challenge with no token is answered
 * with "{}" and nothing else when there is no hook; with acme.dns_hook, one
 * "set-persist" for a name covers its wildcard's authorization too (one
 * record with policy=wildcard); a malformed issuer list is refused before
 * anything is answered; a failed validation is a failed attempt with the
 * CA's reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "acme.h"
#include "b64url.h"
#include "errbuf.h"
#include "replay.h"
#include "store.h"
#include "replay_fx.h"

/* The payloads POSTed to challenge URLs (ACME thread writes; read after
 * acme_stop). */
static char		*chal_payload[4];
static atomic_int	 nchal;

static char *
on_chal(struct replay *r, const char *req)
{
	json_t	*jws = json_loads(req, 0, NULL);
	uint8_t	*p = NULL;
	size_t	 n;
	int	 i = atomic_fetch_add(&nchal, 1);

	if (jws != NULL && i < 4 && (p = b64url_decode(str(jws, "payload"), &n)) != NULL)
		chal_payload[i] = strndup((const char *)p, n);
	free(p);
	json_decref(jws);
	return strdup("{\"status\": \"processing\"}");
}

static void
chal_clear(void)
{
	for (int i = 0; i < 4; i++) {
		free(chal_payload[i]);
		chal_payload[i] = NULL;
	}
	atomic_store(&nchal, 0);
}

/* Installed, and the new certificate's first ARI check (the last step) done. */
static int
installed(json_t *m)
{
	return num(m, "not_after") > 0 && num(m, "ari_next") > 0;
}

static int
attempted(json_t *m)
{
	return has_error(m);
}

/* Run the client for site_names with challenges dns-persist-01 over the
 * prelude and tail, hook as acme.dns_hook, until fn accepts r.test's state. */
static json_t *
run_persist(const struct replay_step *tail, size_t ntail, const char *hook,
    int (*fn)(json_t *), size_t *answered, size_t *nsteps)
{
	struct replay_step	*steps = script(tail, ntail, nsteps);
	struct acme_site_cfg	 site;
	struct acme_cfg		 cfg;
	char			*ch[] = { "dns-persist-01" }, *path;
	struct errbuf		 eb;
	struct replay		 r;
	struct store		*st;
	struct acme		*a;
	json_t			*m = NULL;

	replay_init(&r, steps, *nsteps);
	memset(&happy, 0, sizeof(happy));
	happy.names = "r.test,*.r.test";
	happy.not_before = time(NULL) - 3600;
	happy.not_after = time(NULL) + 90 * 86400;
	r.user = &happy;
	memset(&cfg, 0, sizeof(cfg));
	cfg.directory = DIR_URL;
	cfg.transport = &r.tr;
	cfg.dns_hook = hook;
	st = store_open_file(statedir, DIR_URL, &eb);
	assert_non_null(st);
	memset(&site, 0, sizeof(site));
	site.label = "r.test";
	site.names = site_names;
	site.nnames = site_nnames;
	site.challenges = ch;
	site.nchallenges = 1;
	a = acme_start(&cfg, st, &site, 1, &eb);
	assert_non_null(a);
	assert_true(asprintf(&path, "%s/ca.test_dir/certs/r.test/ecdsa.json", statedir) > 0);
	for (int i = 0; i < 500; i++) {
		json_decref(m);
		if ((m = json_load_file(path, 0, NULL)) != NULL && fn(m))
			break;
		usleep(20000);
	}
	acme_stop(a);
	store_close(st);
	free(path);
	free(happy.pubkey);
	happy.pubkey = NULL;
	*answered = atomic_load(&r.i);
	if (atomic_load(&r.mismatch))
		fail_msg("%s", r.why);
	free(steps);
	return m;
}

#define AUTHZ(n, wild, chal) "{\"status\": \"pending\", \"identifier\": " \
    "{\"type\": \"dns\", \"value\": \"r.test\"}" wild ", \"challenges\": [" \
    "{\"type\": \"http-01\", \"url\": \"https://ca.test/ch/h" n "\", " \
    "\"token\": \"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\"}, " chal "]}"
#define PERSIST(n, issuers) "{\"type\": \"dns-persist-01\", \"url\": " \
    "\"https://ca.test/ch/" n "\", \"status\": \"pending\", " \
    "\"issuer-domain-names\": " issuers "}"
#define VALID "{\"status\": \"valid\", \"identifier\": {\"type\": \"dns\", \"value\": \"r.test\"}}"

/* No hook: the challenge is answered with "{}" at once; issued. */
static void
test_no_hook_answers_at_once(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/1\"], "
		  "\"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  AUTHZ("1", "", PERSIST("1", "[\"Not.Fit\", \"ca.test\"]")) },
		{ "POST", "/ch/1", 200, NULL, NULL, NULL, on_chal },
		{ "POST", "/authz/1", 200, NULL, NULL, VALID },
		{ "POST", "/finalize/1", 200, NULL, NULL, NULL, on_finalize },
		{ "POST", "/cert/1", 200, NULL, NULL, NULL, on_download },
		{ "GET", "/ari/", 404, NULL, NULL, "" },
	};
	size_t	 answered, n;
	json_t	*m;

	m = run_persist(tail, sizeof(tail) / sizeof(tail[0]), NULL, installed,
	    &answered, &n);
	assert_non_null(m);
	assert_true(installed(m));
	assert_int_equal(answered, n);
	assert_int_equal(atomic_load(&nchal), 1);
	assert_string_equal(chal_payload[0], "{}");
	json_decref(m);
}

/* With a hook: one set-persist for r.test, with policy=wildcard, covers
 * both authorizations (r.test and *.r.test); never a clear. */
static void
test_hook_once_for_name_and_wildcard(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/1\", "
		  "\"https://ca.test/authz/2\"], \"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  AUTHZ("1", "", PERSIST("1", "[\"ca.test\"]")) },
		{ "POST", "/ch/1", 200, NULL, NULL, NULL, on_chal },
		{ "POST", "/authz/1", 200, NULL, NULL, VALID },
		{ "POST", "/authz/2", 200, NULL, NULL,
		  AUTHZ("2", ", \"wildcard\": true", PERSIST("2", "[\"ca.test\"]")) },
		{ "POST", "/ch/2", 200, NULL, NULL, NULL, on_chal },
		{ "POST", "/authz/2", 200, NULL, NULL, VALID },
		{ "POST", "/finalize/1", 200, NULL, NULL, NULL, on_finalize },
		{ "POST", "/cert/1", 200, NULL, NULL, NULL, on_download },
		{ "GET", "/ari/", 404, NULL, NULL, "" },
	};
	static char	*two[] = { "r.test", "*.r.test" };
	char		 hook[300], calls[300], line[600];
	size_t		 answered, n;
	json_t		*m;
	FILE		*f;
	int		 lines = 0;

	snprintf(hook, sizeof(hook), "%s/hook.sh", statedir);
	snprintf(calls, sizeof(calls), "%s/hook.calls", statedir);
	unlink(calls);
	f = fopen(hook, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\nprintf '%%s|%%s|%%s\\n' \"$1\" \"$2\" \"$3\" >>%s\n", calls);
	fclose(f);
	assert_int_equal(chmod(hook, 0700), 0);
	site_names = two;
	site_nnames = 2;
	m = run_persist(tail, sizeof(tail) / sizeof(tail[0]), hook, installed,
	    &answered, &n);
	assert_non_null(m);
	assert_true(installed(m));
	assert_int_equal(answered, n);
	assert_int_equal(atomic_load(&nchal), 2);
	assert_string_equal(chal_payload[0], "{}");
	assert_string_equal(chal_payload[1], "{}");
	f = fopen(calls, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		assert_string_equal(line, "set-persist|_validation-persist.r.test|"
		    "ca.test; accounturi=https://ca.test/acct/1; policy=wildcard\n");
	}
	fclose(f);
	assert_int_equal(lines, 1);
	json_decref(m);
}

/* More than 10 issuer domain names: malformed, nothing is answered. */
static void
test_malformed_issuers_refused(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/1\"], "
		  "\"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  AUTHZ("1", "", PERSIST("1", "[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", "
		  "\"g\", \"h\", \"i\", \"j\", \"k\"]")) },
	};
	size_t	 answered, n;
	json_t	*m;

	m = run_persist(tail, sizeof(tail) / sizeof(tail[0]), NULL, attempted,
	    &answered, &n);
	assert_non_null(m);
	assert_non_null(strstr(err_of(m), "malformed dns-persist-01 challenge"));
	assert_non_null(strstr(err_of(m), "more than 10"));
	assert_int_equal(atomic_load(&nchal), 0);
	assert_int_equal(answered, n);
	json_decref(m);
}

/* The CA finds no fit record: a failed attempt with the CA's reason. */
static void
test_invalid_is_failed_attempt(void **state)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/1\"], "
		  "\"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  AUTHZ("1", "", PERSIST("1", "[\"ca.test\"]")) },
		{ "POST", "/ch/1", 200, NULL, NULL, NULL, on_chal },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  "{\"status\": \"invalid\", \"identifier\": {\"type\": \"dns\", \"value\": "
		  "\"r.test\"}, \"challenges\": [{\"type\": \"dns-persist-01\", \"url\": "
		  "\"https://ca.test/ch/1\", \"status\": \"invalid\", \"error\": {\"type\": "
		  "\"urn:ietf:params:acme:error:unauthorized\", \"detail\": \"accounturi "
		  "mismatch\"}}]}" },
	};
	size_t	 answered, n;
	json_t	*m;

	m = run_persist(tail, sizeof(tail) / sizeof(tail[0]), NULL, attempted,
	    &answered, &n);
	assert_non_null(m);
	assert_non_null(strstr(err_of(m), "accounturi mismatch"));
	assert_int_equal(num(m, "attempts"), 1);
	assert_string_equal(str(m, "fail_class"), "validation");
	assert_int_equal(atomic_load(&nchal), 1);
	assert_int_equal(answered, n);
	json_decref(m);
}

static int
setup_each(void **state)
{
	chal_clear();
	site_names = one_name;
	site_nnames = 1;
	return replay_fx_setup_each(state);
}

static int
teardown(void **state)
{
	chal_clear();
	return replay_fx_teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_no_hook_answers_at_once, setup_each),
		cmocka_unit_test_setup(test_hook_once_for_name_and_wildcard, setup_each),
		cmocka_unit_test_setup(test_malformed_issuers_refused, setup_each),
		cmocka_unit_test_setup(test_invalid_is_failed_attempt, setup_each),
	};
	return cmocka_run_group_tests_name("acme_persist", tests, replay_fx_setup,
	    teardown);
}
