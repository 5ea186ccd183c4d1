/*
 * test_config_issuers.c - acme.issuers (config_issuers.c): the list's two
 * item forms, what each issuer takes from acme.* (config_acme_issuers), the
 * first issuer as acme.directory, and the errors: an empty list, a missing
 * directory, an unknown key, a half External Account Binding, the same CA
 * twice, plain http, and acme.directory or acme.eab_* next to the list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acme.h"
#include "config.h"

static int
has_msg(const struct config_errors *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle) != NULL)
			return 1;
	return 0;
}

static void
dump(const struct config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		printf("  %s\n", e->msgs[i]);
}

/* A config with one ACME site and this text inside "acme". */
static struct config *
load_acme(const char *acme, struct config_errors *e)
{
	char text[2048];

	snprintf(text, sizeof(text), "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]},"
	    " \"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:8080\"],"
	    " \"acme\": true}], \"acme\": {%s}}", acme);
	return config_load_text("/etc/tg/t.json", text, strlen(text), e);
}

static void
test_single_form_unchanged(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c = load_acme("\"directory\": \"https://one.test/dir\"", &e);
	size_t			 n = 9;

	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->acme.nissuers, 0);
	assert_string_equal(c->acme.directory, "https://one.test/dir");
	assert_null(config_acme_issuers(c, &n));
	assert_int_equal(n, 0);
	config_free(c);
}

static void
test_list_and_inheritance(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	struct acme_issuer_cfg	*v;
	char			*k1, *k2;
	size_t			 n;

	c = load_acme("\"email\": \"ops@a.test\", \"ca_bundle\": \"ca.pem\","
	    " \"profile\": \"classic\", \"fallback_failures\": 3,"
	    " \"fallback_retry_after\": 600, \"issuers\": ["
	    "{\"directory\": \"https://one.test/dir\"},"
	    " {\"directory\": \"https://two.test/dir\", \"email\": \"x@two.test\","
	    " \"ca_bundle\": \"/etc/two.pem\", \"eab_kid\": \"kid\","
	    " \"eab_hmac_key\": \"aGVsbG8\", \"profile\": \"shortlived\"},"
	    " \"staging\"]", &e);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->acme.nissuers, 3);
	assert_int_equal(c->acme.fallback_failures, 3);
	assert_int_equal(c->acme.fallback_retry_after, 600);
	/* The first issuer is the primary CA: the store's. */
	assert_string_equal(c->acme.directory, "https://one.test/dir");
	v = config_acme_issuers(c, &n);
	assert_non_null(v);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].directory, "https://one.test/dir");
	assert_string_equal(v[0].email, "ops@a.test");
	assert_string_equal(v[0].ca_file, "/etc/tg/ca.pem");
	assert_null(v[0].eab_kid);
	assert_null(v[0].profile);	/* acme.profile, at run time */
	assert_string_equal(v[1].email, "x@two.test");
	assert_string_equal(v[1].ca_file, "/etc/two.pem");
	assert_string_equal(v[1].eab_kid, "kid");
	assert_string_equal(v[1].eab_hmac, "aGVsbG8");
	assert_string_equal(v[1].profile, "shortlived");
	assert_string_equal(v[2].directory, ACME_LETSENCRYPT_STAGING);
	free(v);
	/* The list is part of what a reload compares. */
	k1 = config_acme_issuers_key(c);
	free(c->acme.issuers[1].profile);
	c->acme.issuers[1].profile = strdup("tlsserver");
	k2 = config_acme_issuers_key(c);
	assert_string_not_equal(k1, k2);
	free(k1);
	free(k2);
	config_free(c);
}

static void
expect_error(const char *acme, const char *msg)
{
	struct config_errors	 e = { 0 };
	struct config		*c = load_acme(acme, &e);

	dump(&e);
	if (c != NULL || !has_msg(&e, msg))
		print_message("wanted an error with: %s\n", msg);
	assert_null(c);
	assert_true(has_msg(&e, msg));
	config_errors_clear(&e);
}

static void
test_errors(void **state)
{
	expect_error("\"issuers\": []", "acme.issuers: expected an array of 1 to");
	expect_error("\"issuers\": {}", "acme.issuers: expected an array of 1 to");
	expect_error("\"issuers\": [1]", "expected an issuer object or a directory URL");
	expect_error("\"issuers\": [{\"email\": \"a@b.test\"}]",
	    "an issuer needs a \"directory\"");
	expect_error("\"issuers\": [{\"directory\": \"https://a.test/d\", \"bogus\": 1}]",
	    "unknown key");
	expect_error("\"issuers\": [{\"directory\": \"https://a.test/d\", "
	    "\"eab_kid\": \"k\"}]", "give both eab_kid and eab_hmac_key");
	expect_error("\"issuers\": [\"https://a.test/d\", \"https://a.test/d\"]",
	    "the same CA as issuer 1");
	expect_error("\"issuers\": [\"http://a.test/d\"]", "is not an https:// URL");
	expect_error("\"directory\": \"https://b.test/d\", "
	    "\"issuers\": [\"https://a.test/d\"]", "give acme.directory or acme.issuers");
	expect_error("\"eab_kid\": \"k\", \"eab_hmac_key\": \"aGVsbG8\", "
	    "\"issuers\": [\"https://a.test/d\"]", "External Account Binding goes in "
	    "each issuer");
	expect_error("\"issuers\": [{\"directory\": \"https://a.test/d\", "
	    "\"profile\": \"no way\"}]", "expected a profile name");
	expect_error("\"fallback_failures\": 0", "must be between 1 and 100");
	{
		char big[1024] = "\"issuers\": [";

		for (int i = 0; i <= ACME_MAX_ISSUERS; i++)
			snprintf(big + strlen(big), sizeof(big) - strlen(big),
			    "%s\"https://c%d.test/d\"", i ? ", " : "", i);
		strcat(big, "]");
		expect_error(big, "acme.issuers: expected an array of 1 to 8");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_form_unchanged),
		cmocka_unit_test(test_list_and_inheritance),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests_name("config_issuers", tests, NULL, NULL);
}
