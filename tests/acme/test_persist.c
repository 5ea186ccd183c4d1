/* test_persist.c - dns-persist-01's record (acme_persist.h): the value,
 * which issuer domain names are fit, which one a challenge yields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "acme_persist.h"

static void
test_record_value(void **state)
{
	char *v;

	v = persist_record_value("pebble.letsencrypt.org",
	    "https://127.0.0.1:14000/my-account/1a2b", 0);
	assert_string_equal(v, "pebble.letsencrypt.org; "
	    "accounturi=https://127.0.0.1:14000/my-account/1a2b");
	free(v);
	v = persist_record_value("letsencrypt.org",
	    "https://acme-v02.api.letsencrypt.org/acme/acct/12345", 1);
	assert_string_equal(v, "letsencrypt.org; "
	    "accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/12345; "
	    "policy=wildcard");
	free(v);
	/* What an issue-value cannot carry is refused, not quoted. */
	assert_null(persist_record_value("ca.example", "https://x/a b", 0));
	assert_null(persist_record_value("ca.example", "https://x/a;policy=wildcard", 0));
	assert_null(persist_record_value("ca.example", "https://x/\x7f", 0));
	assert_null(persist_record_value("ca.example", "https://x/\xc3\xa9", 0));
	assert_null(persist_record_value("ca.example", "", 0));
	assert_null(persist_record_value("ca.example", NULL, 0));
	assert_null(persist_record_value("CA.example", "https://x/1", 0));
	assert_null(persist_record_value(NULL, "https://x/1", 0));
}

static void
test_issuer_ok(void **state)
{
	static const char *const good[] = { "ca.example", "letsencrypt.org",
	    "a", "x-1.y2.z", "xn--bcher-kva.example", NULL };
	static const char *const bad[] = { "", "Ca.example", "ca.example.",
	    ".ca.example", "ca..example", "-ca.example", "ca-.example",
	    "ca.example-", "ca_x.example", "ca example", "ca;example", NULL };
	char	 label64[80], long254[300];

	for (size_t i = 0; good[i] != NULL; i++)
		assert_true(persist_issuer_ok(good[i]));
	for (size_t i = 0; bad[i] != NULL; i++)
		assert_false(persist_issuer_ok(bad[i]));
	assert_false(persist_issuer_ok(NULL));
	/* A label of 63 octets is fine, 64 is not; 253 octets in all. */
	memset(label64, 'a', 63);
	strcpy(label64 + 63, ".x");
	assert_true(persist_issuer_ok(label64));
	memset(label64, 'a', 64);
	strcpy(label64 + 64, ".x");
	assert_false(persist_issuer_ok(label64));
	for (size_t i = 0; i < 253; i++)
		long254[i] = i % 2 ? '.' : 'a';
	long254[253] = '\0';
	assert_true(persist_issuer_ok(long254));	/* "a.a. ... .a" */
	long254[253] = '.';
	long254[254] = 'a';
	long254[255] = '\0';
	assert_false(persist_issuer_ok(long254));	/* 255 octets */
}

static json_t *picked;	/* the object pick's answer is borrowed from */

static const char *
pick(const char *json, const char **why)
{
	json_decref(picked);
	picked = json_loads(json, 0, NULL);
	assert_non_null(picked);
	*why = NULL;
	return persist_pick_issuer(picked, why);
}

static void
test_pick_issuer(void **state)
{
	const char *why, *s;

	/* Pebble 2.10's challenge (and Let's Encrypt's). */
	s = pick("{\"type\":\"dns-persist-01\",\"url\":\"u\",\"status\":\"pending\","
	    "\"issuer-domain-names\":[\"pebble.letsencrypt.org\"]}", &why);
	assert_string_equal(s, "pebble.letsencrypt.org");
	/* The first fit one; the later drafts' spelling too. */
	s = pick("{\"issuerDomainNames\":[\"Bad.Example\",\"ca.example\",\"b.example\"]}", &why);
	assert_string_equal(s, "ca.example");
	/* A directory's meta: issuerDomainNames before caaIdentities. */
	s = pick("{\"caaIdentities\":[\"caa.example\"]}", &why);
	assert_string_equal(s, "caa.example");
	s = pick("{\"issuerDomainNames\":[\"idn.example\"],"
	    "\"caaIdentities\":[\"caa.example\"]}", &why);
	assert_string_equal(s, "idn.example");
	/* Malformed: missing, empty, more than 10, none fit. */
	assert_null(pick("{\"type\":\"dns-persist-01\"}", &why));
	assert_non_null(strstr(why, "no issuer-domain-names"));
	assert_null(pick("{\"issuer-domain-names\":[]}", &why));
	assert_non_null(strstr(why, "empty"));
	assert_null(pick("{\"issuer-domain-names\":[\"a\",\"b\",\"c\",\"d\",\"e\","
	    "\"f\",\"g\",\"h\",\"i\",\"j\",\"k\"]}", &why));
	assert_non_null(strstr(why, "more than 10"));
	assert_non_null(pick("{\"issuer-domain-names\":[\"a\",\"b\",\"c\",\"d\","
	    "\"e\",\"f\",\"g\",\"h\",\"i\",\"j\"]}", &why));
	assert_null(pick("{\"issuer-domain-names\":[\"x.example.\",7,\"A.B\"]}", &why));
	assert_non_null(strstr(why, "lowercase"));
	assert_null(pick("{\"issuer-domain-names\":\"ca.example\"}", &why));
	json_decref(picked);
	picked = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_value),
		cmocka_unit_test(test_issuer_ok),
		cmocka_unit_test(test_pick_issuer),
	};
	return cmocka_run_group_tests_name("persist", tests, NULL, NULL);
}
