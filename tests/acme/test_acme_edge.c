/*
 * test_acme_edge.c - the ACME client against recorded responses, for what
 * changed in the ACME world in 2025-2026: certificate profiles (the order's
 * "profile", the renewal state, a profile the CA does not offer).
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

/* ---- profiles ---------------------------------------------------------- */

#define DIR_PROFILES "{\"newNonce\": \"https://ca.test/nonce\", " \
    "\"newAccount\": \"https://ca.test/acct\", \"newOrder\": \"https://ca.test/order\", " \
    "\"renewalInfo\": \"https://ca.test/ari/\", \"meta\": {\"profiles\": " \
    "{\"classic\": \"90 days\", \"shortlived\": \"160 hours\"}}}"
#define RATE_LIMITED "{\"type\": \"urn:ietf:params:acme:error:rateLimited\", " \
    "\"detail\": \"too many certificates\"}"

/* The newOrder payloads the replayed CA saw, in order (written on the ACME
 * thread; read after acme_stop). */
static char		*seen_orders[4];
static atomic_int	 nseen_orders;

static void
seen_orders_clear(void)
{
	for (int i = 0; i < 4; i++) {
		free(seen_orders[i]);
		seen_orders[i] = NULL;
	}
	atomic_store(&nseen_orders, 0);
}

/* newOrder: keep the payload; the answer is the step's own body. */
static char *
record_order(struct replay *r, const char *req)
{
	json_t	*jws = json_loads(req, 0, NULL);
	uint8_t	*p = NULL;
	size_t	 plen;
	int	 i = atomic_load(&nseen_orders);

	if (jws != NULL && i < 4 &&
	    (p = b64url_decode(str(jws, "payload"), &plen)) != NULL) {
		seen_orders[i] = strndup((const char *)p, plen);
		atomic_store(&nseen_orders, i + 1);
	}
	free(p);
	json_decref(jws);
	/* Inside make(), r->i is still the index of this step. */
	return strdup(r->steps[atomic_load(&r->i)].body);
}

/* A string member of the i-th newOrder payload, new, or NULL if absent. */
static char *
order_field(int i, const char *key)
{
	json_t	*o;
	char	*v = NULL;

	assert_true(i < atomic_load(&nseen_orders));
	o = json_loads(seen_orders[i], 0, NULL);
	assert_non_null(o);
	assert_non_null(json_object_get(o, "identifiers"));
	if (json_string_value(json_object_get(o, key)) != NULL)
		v = strdup(json_string_value(json_object_get(o, key)));
	json_decref(o);
	return v;
}

static int
attempted(json_t *m)
{
	return json_integer_value(json_object_get(m, "attempts")) >= 1;
}

/* The site's profile goes into newOrder and into the renewal state. */
static void
test_profile_in_order_and_state(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_PROFILES },
		{ "HEAD", "/nonce", 200, NULL, NULL, "" },
		{ "POST", "/acct", 201, "https://ca.test/acct/1", NULL, "{\"status\": \"valid\"}" },
		{ "POST", "/order", 429, NULL, NULL, RATE_LIMITED, record_order },
	};
	struct replay	 r;
	json_t		*m;
	char		*p;

	site_profile = "shortlived";
	m = run(steps, 4, attempted, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), 4);
	assert_int_equal(atomic_load(&nseen_orders), 1);
	p = order_field(0, "profile");
	assert_non_null(p);
	assert_string_equal(p, "shortlived");
	free(p);
	assert_string_equal(str(m, "profile"), "shortlived");
	assert_non_null(strstr(err_of(m), "rateLimited"));
	json_decref(m);
}

/* A profile the CA does not list: no order at all, and an error that names
 * it and the CA's list. */
static void
test_profile_unknown_refused(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_PROFILES },
	};
	struct replay	 r;
	json_t		*m;

	site_profile = "tlsserver";
	m = run(steps, 1, attempted, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), 1);
	assert_int_equal(atomic_load(&nseen_orders), 0);
	assert_string_equal(err_of(m), "profile \"tlsserver\" is not offered by the "
	    "CA (it offers: classic, shortlived)");
	assert_string_equal(str(m, "fail_class"), "other");
	assert_int_equal(num(m, "attempts"), 1);
	json_decref(m);
}

/* A CA with no profiles at all: the same refusal, never a silent order
 * under the CA's default. */
static void
test_profile_ca_without_profiles(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_BODY },
	};
	struct replay	 r;
	json_t		*m;

	site_profile = "shortlived";
	m = run(steps, 1, attempted, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), 1);
	assert_string_equal(err_of(m), "profile \"shortlived\" is not offered by the "
	    "CA (it offers no profiles)");
	json_decref(m);
}

static int
setup_each(void **state)
{
	seen_orders_clear();
	return replay_fx_setup_each(state);
}

static int
teardown(void **state)
{
	seen_orders_clear();
	return replay_fx_teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_profile_in_order_and_state, setup_each),
		cmocka_unit_test_setup(test_profile_unknown_refused, setup_each),
		cmocka_unit_test_setup(test_profile_ca_without_profiles, setup_each),
	};
	return cmocka_run_group_tests_name("acme_edge", tests, replay_fx_setup, teardown);
}
