/*
 * test_certcheck.c - every fault of issue 17's finding 3, built in memory
 * with BoringSSL, must be refused with its exact reason; good chains (a CA
 * chain, a wildcard, a hand-made self-signed certificate) must pass. Then the
 * store: a bad certificate never replaces the stored one.
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

#include "certcheck.h"
#include "certfile.h"
#include "errbuf.h"
#include "store.h"
#include "testcert.h"

static char *site[] = { "acme.test", "www.acme.test" };

static time_t	 t0;			/* "now" for every check */
static char	*ca_cert, *ca_key;	/* "Test CA" */
static char	*other_cert, *other_key;	/* "Other CA", unrelated */

static const char *
iso(time_t t, char *buf, size_t len)
{
	struct tm tm;

	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	return buf;
}

/* A leaf for the site issued by Test CA, with o's faults; o may be changed. */
static void
leaf(struct testcert_opts *o, char **cert, char **key)
{
	if (o->names == NULL && o->cn == NULL)
		o->names = "acme.test,www.acme.test";
	if (o->issuer_cert == NULL) {
		o->issuer_cert = ca_cert;
		o->issuer_key = ca_key;
	}
	if (o->not_before == 0)
		o->not_before = t0 - 3600;
	if (o->not_after == 0)
		o->not_after = t0 + 30 * 86400;
	assert_int_equal(testcert_issue(o, cert, key), 0);
}

/*
 * certcheck of cert (followed by the PEM chain certificates in rest, NULL
 * ended) with key for the site at t0. Returns its result, reason in eb.
 */
static int
check(const char *cert, const char *key, const char *const *rest, struct errbuf *eb)
{
	struct certfile	*cf;
	char		 chain[32768];
	int		 rc;

	snprintf(chain, sizeof(chain), "%s", cert);
	for (; rest != NULL && *rest != NULL; rest++)
		snprintf(chain + strlen(chain), sizeof(chain) - strlen(chain), "%s", *rest);
	cf = certfile_load_mem(chain, strlen(chain), key, strlen(key), eb);
	if (cf == NULL)
		fail_msg("certfile_load_mem: %s", eb->msg);
	eb->msg[0] = '\0';
	rc = certcheck(cf, site, 2, t0, CERTCHECK_SKEW, eb);
	certfile_unref(cf);
	return rc;
}

/* Issue a leaf with o, check it with Test CA behind it, expect reason. */
static void
expect(struct testcert_opts *o, const char *reason)
{
	const char	*rest[] = { ca_cert, NULL };
	char		*cert, *key;
	struct errbuf	 eb;

	leaf(o, &cert, &key);
	if (reason == NULL) {
		if (check(cert, key, rest, &eb) != 0)
			fail_msg("refused: %s", eb.msg);
	} else {
		assert_int_equal(check(cert, key, rest, &eb), -1);
		assert_string_equal(eb.msg, reason);
	}
	free(cert);
	free(key);
}

static void
test_good_chain(void **state)
{
	struct testcert_opts o = { .eku = "serverAuth" };

	expect(&o, NULL);
}

static void
test_good_wildcard_no_eku(void **state)
{
	struct testcert_opts o = { .names = "acme.test,*.acme.test" };

	expect(&o, NULL);
}

static void
test_good_not_before_within_skew(void **state)
{
	struct testcert_opts o = { .not_before = t0 + CERTCHECK_SKEW - 10 };

	expect(&o, NULL);
}

/* What `openssl req -x509` makes: self-signed, CA:TRUE, alone. */
static void
test_good_self_signed_ca_alone(void **state)
{
	struct testcert_opts	 o = { .names = "acme.test,www.acme.test", .ca = 1,
				    .not_before = t0 - 60, .not_after = t0 + 86400 };
	char			*cert, *key;
	struct errbuf		 eb;

	assert_int_equal(testcert_issue(&o, &cert, &key), 0);
	if (check(cert, key, NULL, &eb) != 0)
		fail_msg("refused: %s", eb.msg);
	free(cert);
	free(key);
}

static void
test_second_name_missing(void **state)
{
	struct testcert_opts o = { .names = "acme.test" };

	expect(&o, "the certificate does not cover www.acme.test (it names acme.test)");
}

static void
test_not_yet_valid(void **state)
{
	struct testcert_opts	o = { .not_before = t0 + 3600 };
	char			want[200], a[32], b[32];

	snprintf(want, sizeof(want), "the certificate is not valid before %s (now %s)",
	    iso(t0 + 3600, a, sizeof(a)), iso(t0, b, sizeof(b)));
	expect(&o, want);
}

static void
test_expired(void **state)
{
	struct testcert_opts	o = { .not_before = t0 - 10 * 86400, .not_after = t0 - 60 };
	char			want[200], a[32], b[32];

	snprintf(want, sizeof(want), "the certificate expired at %s (now %s)",
	    iso(t0 - 60, a, sizeof(a)), iso(t0, b, sizeof(b)));
	expect(&o, want);
}

static void
test_bad_signature(void **state)
{
	struct testcert_opts o = { .bad_signature = 1 };

	expect(&o, "chain: the signature of certificate 1 (/CN=acme.test) does not "
	    "verify under certificate 2 (/CN=Test CA)");
}

/* The right chain with an unrelated CA after it. */
static void
test_unrelated_appended(void **state)
{
	struct testcert_opts	 o = { 0 };
	const char		*rest[] = { ca_cert, other_cert, NULL };
	char			*cert, *key;
	struct errbuf		 eb;

	leaf(&o, &cert, &key);
	assert_int_equal(check(cert, key, rest, &eb), -1);
	assert_string_equal(eb.msg, "chain: certificate 3 (/CN=Other CA) did not issue "
	    "certificate 2 (/CN=Test CA): subject issuer mismatch");
	free(cert);
	free(key);
}

/* An unrelated CA in place of the issuer. */
static void
test_unrelated_issuer(void **state)
{
	struct testcert_opts	 o = { 0 };
	const char		*rest[] = { other_cert, NULL };
	char			*cert, *key;
	struct errbuf		 eb;

	leaf(&o, &cert, &key);
	assert_int_equal(check(cert, key, rest, &eb), -1);
	assert_string_equal(eb.msg, "chain: certificate 2 (/CN=Other CA) did not issue "
	    "certificate 1 (/CN=acme.test): subject issuer mismatch");
	free(cert);
	free(key);
}

/* Signed by a certificate that may not issue (no CA:TRUE). */
static void
test_issuer_not_ca(void **state)
{
	struct testcert_opts	 io = { .cn = "Not A CA", .names = "x.test" };
	struct testcert_opts	 o = { 0 };
	const char		*rest[2] = { NULL, NULL };
	char			*icert, *ikey, *cert, *key;
	struct errbuf		 eb;

	assert_int_equal(testcert_issue(&io, &icert, &ikey), 0);
	o.issuer_cert = icert;
	o.issuer_key = ikey;
	leaf(&o, &cert, &key);
	rest[0] = icert;
	assert_int_equal(check(cert, key, rest, &eb), -1);
	assert_string_equal(eb.msg, "chain: certificate 2 (/CN=Not A CA) is not a CA "
	    "but issued certificate 1");
	free(cert);
	free(key);
	free(icert);
	free(ikey);
}

static void
test_leaf_is_ca(void **state)
{
	struct testcert_opts o = { .ca = 1 };

	expect(&o, "the certificate is a CA certificate (basicConstraints CA:TRUE)");
}

static void
test_client_auth_only(void **state)
{
	struct testcert_opts o = { .eku = "clientAuth" };

	expect(&o, "the certificate's extended key usage lacks serverAuth (it has clientAuth)");
}

static void
test_no_san(void **state)
{
	struct testcert_opts o = { .cn = "acme.test" };

	expect(&o, "the certificate has no subjectAltName");
}

/*
 * RFC 8738 certificates: IP names need iPAddress SANs (a dNSName spelling
 * the address does not do), and the certificate's names list them in the
 * canonical text, so the serving view finds the site by them.
 */
static void
test_ip_names(void **state)
{
	static char		*ips[] = { "127.0.0.1", "::1", "acme.test" };
	struct testcert_opts	 good = { .names = "IP:127.0.0.1,IP:0:0::1,acme.test" };
	struct testcert_opts	 dns = { .names = "127.0.0.1,IP:::1,acme.test" };
	struct testcert_opts	 ipsonly = { .cn = "x", .names = "IP:127.0.0.1" };
	char			*c, *k;
	struct certfile		*cf;
	struct errbuf		 eb;

	leaf(&good, &c, &k);
	assert_non_null(cf = certfile_load_mem(c, strlen(c), k, strlen(k), &eb));
	if (certcheck(cf, ips, 3, t0, CERTCHECK_SKEW, &eb) == -1)
		fail_msg("IP certificate refused: %s", eb.msg);
	assert_true(certfile_matches(cf, "::1"));
	assert_true(certfile_matches(cf, "127.0.0.1"));
	assert_false(certfile_matches(cf, "127.0.0.2"));
	certfile_unref(cf);
	free(c);
	free(k);

	leaf(&dns, &c, &k);
	assert_non_null(cf = certfile_load_mem(c, strlen(c), k, strlen(k), &eb));
	assert_int_equal(certcheck(cf, ips, 3, t0, CERTCHECK_SKEW, &eb), -1);
	assert_string_equal(eb.msg, "the certificate does not cover 127.0.0.1 (it "
	    "names 127.0.0.1, ::1, acme.test)");
	certfile_unref(cf);
	free(c);
	free(k);

	/* No dNSName at all is fine when the site is an address. */
	leaf(&ipsonly, &c, &k);
	assert_non_null(cf = certfile_load_mem(c, strlen(c), k, strlen(k), &eb));
	if (certcheck(cf, ips, 1, t0, CERTCHECK_SKEW, &eb) == -1)
		fail_msg("IP-only certificate refused: %s", eb.msg);
	certfile_unref(cf);
	free(c);
	free(k);
}

/* The store: a failing certificate is refused, the stored one stays. */
static void
test_store_keeps_old(void **state)
{
	char			 tmpl[] = "/tmp/tlsgate-certcheck-XXXXXX", *dir;
	struct testcert_opts	 good = { 0 }, bad = { .names = "acme.test" };
	char			*gc, *gk, *bc, *bk, chain[16384];
	struct store		*st;
	struct certfile		*cf, *again;
	struct errbuf		 eb;

	assert_non_null(dir = mkdtemp(tmpl));
	assert_non_null(st = store_open_file(dir, "https://ca.test/dir", &eb));
	/* The store checks against the real clock. */
	t0 = time(NULL);
	leaf(&good, &gc, &gk);
	snprintf(chain, sizeof(chain), "%s%s", gc, ca_cert);
	cf = store_cert_put(st, "acme.test", site, 2, chain, gk, &eb);
	if (cf == NULL)
		fail_msg("good certificate refused: %s", eb.msg);

	leaf(&bad, &bc, &bk);
	snprintf(chain, sizeof(chain), "%s%s", bc, ca_cert);
	assert_null(store_cert_put(st, "acme.test", site, 2, chain, bk, &eb));
	assert_string_equal(eb.msg,
	    "the certificate does not cover www.acme.test (it names acme.test)");
	again = store_cert_get(st, "acme.test", CERTFILE_EC, &eb);
	assert_non_null(again);
	assert_string_equal(again->sha256, cf->sha256);

	certfile_unref(again);
	certfile_unref(cf);
	store_close(st);
	free(gc);
	free(gk);
	free(bc);
	free(bk);
	assert_int_equal(testcert_rmtree(dir), 0);
}

static int
setup(void **state)
{
	struct testcert_opts ca = { .cn = "Test CA", .ca = 1 };
	struct testcert_opts other = { .cn = "Other CA", .ca = 1 };

	t0 = time(NULL);
	if (testcert_issue(&ca, &ca_cert, &ca_key) == -1 ||
	    testcert_issue(&other, &other_cert, &other_key) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	free(ca_cert);
	free(ca_key);
	free(other_cert);
	free(other_key);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_chain),
		cmocka_unit_test(test_good_wildcard_no_eku),
		cmocka_unit_test(test_good_not_before_within_skew),
		cmocka_unit_test(test_good_self_signed_ca_alone),
		cmocka_unit_test(test_second_name_missing),
		cmocka_unit_test(test_not_yet_valid),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_unrelated_appended),
		cmocka_unit_test(test_unrelated_issuer),
		cmocka_unit_test(test_issuer_not_ca),
		cmocka_unit_test(test_leaf_is_ca),
		cmocka_unit_test(test_client_auth_only),
		cmocka_unit_test(test_no_san),
		cmocka_unit_test(test_ip_names),
		cmocka_unit_test(test_store_keeps_old),
	};
	return cmocka_run_group_tests_name("certcheck", tests, setup, teardown);
}
