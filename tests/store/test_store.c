/* test_store.c - certfile parsing and checks, atomic file writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "atomicfile.h"
#include "certfile.h"
#include "errbuf.h"
#include "testcert.h"

static char tmpdir[] = "/tmp/tlsgate-store-XXXXXX";

static void
test_load_ec_and_names(void **state)
{
	char		*cert, *key, *cp, *kp;
	struct certfile	*cf;
	struct errbuf	 eb;

	assert_int_equal(testcert_make("ec", "Example.test,*.wild.test", 30, &cert,
	    &key), 0);
	cp = testcert_write(tmpdir, "ec.pem", cert, 0644);
	kp = testcert_write(tmpdir, "ec.key", key, 0600);
	cf = certfile_load(cp, kp, &eb);
	assert_non_null(cf);
	assert_int_equal(cf->keytype, CERTFILE_EC);
	assert_int_equal(cf->nchain, 1);
	assert_int_equal(cf->nnames, 2);
	assert_string_equal(cf->names[0], "example.test");	/* lowercased */
	assert_true(certfile_matches(cf, "EXAMPLE.test"));
	assert_true(certfile_matches(cf, "a.wild.test"));
	assert_false(certfile_matches(cf, "a.b.wild.test"));
	assert_false(certfile_matches(cf, "wild.test"));
	assert_true(cf->not_after > time(NULL) + 29 * 86400);
	assert_int_equal(strlen(cf->sha256), 64);
	certfile_unref(cf);
	free(cert); free(key); free(cp); free(kp);
}

static void
test_rejects_mismatched_key(void **state)
{
	char		*c1, *k1, *c2, *k2;
	struct certfile	*cf;
	struct errbuf	 eb;

	testcert_make("ec", "a.test", 30, &c1, &k1);
	testcert_make("ec", "b.test", 30, &c2, &k2);
	cf = certfile_load_mem(c1, strlen(c1), k2, strlen(k2), &eb);
	assert_null(cf);
	assert_non_null(strstr(eb.msg, "does not match"));
	free(c1); free(k1); free(c2); free(k2);
}

static void
test_rejects_garbage(void **state)
{
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64!!\n"
	    "-----END CERTIFICATE-----\n";
	char		*c, *k;
	struct certfile	*cf;
	struct errbuf	 eb;

	testcert_make("rsa", "r.test", 30, &c, &k);
	assert_null(certfile_load_mem(junk, sizeof(junk) - 1, k, strlen(k), &eb));
	assert_null(certfile_load_mem("", 0, k, strlen(k), &eb));
	assert_non_null(strstr(eb.msg, "no certificate"));
	assert_null(certfile_load_mem(c, strlen(c), "nope", 4, &eb));
	assert_non_null(strstr(eb.msg, "private key"));
	/* Truncated certificate: the first half of the PEM. */
	assert_null(certfile_load_mem(c, strlen(c) / 2, k, strlen(k), &eb));
	cf = certfile_load_mem(c, strlen(c), k, strlen(k), &eb);
	assert_non_null(cf);
	assert_int_equal(cf->keytype, CERTFILE_RSA);
	certfile_unref(cf);
	assert_null(certfile_load("/nonexistent/c.pem", "/nonexistent/k.pem", &eb));
	assert_non_null(strstr(eb.msg, "/nonexistent/c.pem"));
	free(c); free(k);
}

static void
test_atomicfile(void **state)
{
	char		 path[256], buf[64];
	struct stat	 st;
	struct errbuf	 eb;
	FILE		*f;
	size_t		 n;

	snprintf(path, sizeof(path), "%s/key.pem", tmpdir);
	assert_int_equal(atomicfile_write(path, "first", 5, 0600, &eb), 0);
	assert_int_equal(atomicfile_write(path, "second", 6, 0600, &eb), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "second", 6);
	/* A write that cannot happen leaves the old file as it was. */
	assert_int_equal(atomicfile_write("/nonexistent-dir/x", "y", 1, 0600, &eb), -1);
	assert_non_null(strstr(eb.msg, "/nonexistent-dir/x"));
}

static int
setup(void **state)
{
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	return testcert_rmtree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_ec_and_names),
		cmocka_unit_test(test_rejects_mismatched_key),
		cmocka_unit_test(test_rejects_garbage),
		cmocka_unit_test(test_atomicfile),
	};
	return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
