/* test_terminator.c - config errors with positions, flags, site lookup and
 * copy-on-write certificate swaps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "certfile.h"
#include "config.h"
#include "errbuf.h"
#include "sites.h"
#include "testcert.h"

static char tmpdir[] = "/tmp/tlsgate-term-XXXXXX";

static int
has_msg(const struct config_errors *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle) != NULL)
			return 1;
	return 0;
}

static void
test_syntax_error_position(void **state)
{
	static const char t[] = "{\n  \"workers\": 2,\n  \"sites\": [,]\n}\n";
	struct config_errors e = { 0 };

	assert_null(config_load_text("t.json", t, strlen(t), &e));
	assert_int_equal(e.n, 1);
	assert_non_null(strstr(e.msgs[0], "t.json:3:"));
	config_errors_clear(&e);
}

static void
test_every_semantic_error_reported(void **state)
{
	static const char t[] =
	    "{\n"
	    "  \"listen\": {\"https\": [\"127.0.0.1:99999\"]},\n"
	    "  \"workerz\": 2,\n"
	    "  \"limits\": {\"idle_timeout\": -1},\n"
	    "  \"sites\": [\n"
	    "    {\"names\": [\"ok.test\", \"bad name\"],\n"
	    "     \"backends\": [\"127.0.0.1:80\"],\n"
	    "     \"certificates\": [{\"cert\": \"c.pem\", \"key\": \"k.pem\"}],"
	    " \"mode\": \"tcp\"},\n"
	    "    {\"names\": [\"ok.test\"], \"backends\": [],\n"
	    "     \"certificates\": [{\"cert\": 5}], \"mode\": \"tcp\"}\n"
	    "  ]\n"
	    "}\n";
	struct config_errors e = { 0 };

	assert_null(config_load_text("/etc/t.json", t, strlen(t), &e));
	for (size_t i = 0; i < e.n; i++)
		printf("  %s\n", e.msgs[i]);
	assert_true(has_msg(&e, "/etc/t.json:2:24: listen.https[0]: \"127.0.0.1:99999\": port"));
	assert_true(has_msg(&e, "/etc/t.json:3:3: workerz: unknown key"));
	assert_true(has_msg(&e, "/etc/t.json:4:14: limits.idle_timeout: must be between"));
	assert_true(has_msg(&e, "/etc/t.json:6:27: sites[0].names[1]: \"bad name\" is not"));
	assert_true(has_msg(&e, "/etc/t.json:9:16: sites[1].names[0]: \"ok.test\" is already named"));
	assert_true(has_msg(&e, "sites[1].backends: expected a non-empty array"));
	assert_true(has_msg(&e, "sites[1].certificates[0]: \"cert\" and \"key\""));
	config_errors_clear(&e);
}

static void
test_valid_config_and_relative_paths(void **state)
{
	static const char t[] =
	    "{\"listen\": {\"https\": [\"[::1]:8443\", \"127.0.0.1:8443\"],"
	    " \"http\": [\"*:8080\"]},"
	    " \"limits\": {\"max_connections\": 5, \"handshake_timeout\": 2.5},"
	    " \"sites\": [{\"names\": [\"A.Test\", \"*.b.test\"], \"default\": true,"
	    " \"alpn\": [\"h2\", \"http/1.1\"], \"backends\": [\"localhost:9000\"],"
	    " \"certificates\": [{\"cert\": \"c.pem\", \"key\": \"/abs/k.pem\"}],"
	    " \"mode\": \"tcp\"}]}";
	struct config_errors	 e = { 0 };
	struct config		*c = config_load_text("/etc/tlsgate/x.json", t,
				    strlen(t), &e);

	assert_non_null(c);
	assert_int_equal(c->nhttps, 2);
	assert_int_equal(c->https[0].ss.ss_family, AF_INET6);
	assert_int_equal(c->limits.max_connections, 5);
	assert_true(c->limits.handshake_timeout == 2.5);
	assert_string_equal(c->sites[0].names[0], "a.test");
	assert_string_equal(c->sites[0].certs[0].cert, "/etc/tlsgate/c.pem");
	assert_string_equal(c->sites[0].certs[0].key, "/abs/k.pem");
	assert_int_equal(c->sites[0].nalpn, 2);
	assert_true(c->sites[0].is_default);
	config_free(c);
}

static void
test_flags(void **state)
{
	char *argv[] = { "--https", "127.0.0.1:8443", "--site",
	    "a.test,www.a.test=127.0.0.1:8080", "--cert", "a.test=c.pem,k.pem",
	    "--http", "127.0.0.1:8081", "--default", "a.test", "--mode",
	    "a.test=tcp" };
	char *bad[] = { "--site", "a.test=127.0.0.1:8080", "--mode", "a.test=tcp",
	    "--bogus", "1" };
	struct config_errors	 e = { 0 };
	struct config		*c = config_from_args(12, argv, &e);

	assert_non_null(c);
	assert_int_equal(c->nsites, 1);
	assert_int_equal(c->sites[0].nnames, 2);
	assert_string_equal(c->sites[0].certs[0].key, "k.pem");
	assert_true(c->sites[0].is_default);
	config_free(c);
	assert_null(config_from_args(6, bad, &e));
	assert_true(has_msg(&e, "--bogus: unknown flag"));
	assert_true(has_msg(&e, "no --cert (or --acme) given"));
	assert_true(has_msg(&e, "--https"));
	config_errors_clear(&e);
}

/* Three sites, one a wildcard, plus a default; EC and RSA on one of them. */
static struct config *
three_sites(void)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	char			*cp, *kp, *t, *cert, *key;
	const char		*specs[][3] = {
		{ "a", "ec", "a.test" }, { "r", "rsa", "a.test" },
		{ "w", "ec", "*.w.test" }, { "d", "ec", "default.test" },
	};
	char	 paths[4][2][300];

	for (int i = 0; i < 4; i++) {
		char n1[16], n2[16];
		testcert_make(specs[i][1], specs[i][2], 30, &cert, &key);
		snprintf(n1, sizeof(n1), "%s.pem", specs[i][0]);
		snprintf(n2, sizeof(n2), "%s.key", specs[i][0]);
		cp = testcert_write(tmpdir, n1, cert, 0644);
		kp = testcert_write(tmpdir, n2, key, 0600);
		snprintf(paths[i][0], 300, "%s", cp);
		snprintf(paths[i][1], 300, "%s", kp);
		free(cp); free(kp); free(cert); free(key);
	}
	asprintf(&t, "{\"listen\": {\"https\": [\"127.0.0.1:1\"]}, \"sites\": ["
	    "{\"names\": [\"a.test\"], \"mode\": \"tcp\", \"backends\": "
	    "[\"127.0.0.1:1\"], \"certificates\":"
	    " [{\"cert\": \"%s\", \"key\": \"%s\"}, {\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"*.w.test\"], \"mode\": \"tcp\", \"backends\": "
	    "[\"127.0.0.1:2\"], \"certificates\":"
	    " [{\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"default.test\"], \"mode\": \"tcp\", \"default\": true,"
	    " \"backends\": [\"127.0.0.1:3\"], \"certificates\": [{\"cert\": \"%s\","
	    " \"key\": \"%s\"}]}]}",
	    paths[0][0], paths[0][1], paths[1][0], paths[1][1], paths[2][0],
	    paths[2][1], paths[3][0], paths[3][1]);
	c = config_load_text("t.json", t, strlen(t), &e);
	for (size_t i = 0; i < e.n; i++)
		printf("  %s\n", e.msgs[i]);
	free(t);
	return c;
}

static void
test_lookup_order(void **state)
{
	struct config	*c = three_sites();
	struct errbuf	 eb;
	struct view	*v;
	struct site	*def;

	assert_non_null(c);
	v = view_build(c, NULL, &eb);
	assert_non_null(v);
	def = view_lookup(v, NULL);
	assert_non_null(def);
	assert_string_equal(def->names[0], "default.test");
	assert_string_equal(view_lookup(v, "a.test")->names[0], "a.test");
	assert_string_equal(view_lookup(v, "A.TEST.")->names[0], "a.test");
	assert_non_null(view_lookup(v, "a.test")->ec);
	assert_non_null(view_lookup(v, "a.test")->rsa);
	assert_string_equal(view_lookup(v, "x.w.test")->names[0], "*.w.test");
	/* A wildcard covers one label only; the rest fall to the default. */
	assert_ptr_equal(view_lookup(v, "y.x.w.test"), def);
	assert_ptr_equal(view_lookup(v, "w.test"), def);
	assert_ptr_equal(view_lookup(v, "unknown.example"), def);
	view_unref(v);
	config_free(c);
}

static void
test_swap_is_copy_on_write(void **state)
{
	struct config	*c = three_sites();
	struct errbuf	 eb;
	struct view	*v, *v2;
	struct certfile	*cf, *other;
	char		*cert, *key;

	v = view_build(c, NULL, &eb);
	testcert_make("ec", "a.test", 60, &cert, &key);
	cf = certfile_load_mem(cert, strlen(cert), key, strlen(key), &eb);
	assert_non_null(cf);
	v2 = view_with_cert(v, "a.test", cf, &eb);
	assert_non_null(v2);
	/* New view: new ECDSA cert, same RSA one; old view untouched. */
	assert_ptr_equal(view_lookup(v2, "a.test")->ec, cf);
	assert_ptr_equal(view_lookup(v2, "a.test")->rsa, view_lookup(v, "a.test")->rsa);
	assert_ptr_not_equal(view_lookup(v, "a.test")->ec, cf);
	assert_ptr_equal(view_lookup(v2, "x.w.test"), view_lookup(v, "x.w.test"));
	/* A certificate that does not cover the name is refused. */
	assert_null(view_with_cert(v, "default.test", cf, &eb));
	assert_non_null(strstr(eb.msg, "does not cover"));
	free(cert); free(key);
	testcert_make("ec", "zzz.test", 60, &cert, &key);
	other = certfile_load_mem(cert, strlen(cert), key, strlen(key), &eb);
	assert_null(view_with_cert(v, "zzz.test", other, &eb));
	assert_non_null(strstr(eb.msg, "no site serves"));
	certfile_unref(other);
	certfile_unref(cf);
	view_unref(v);
	/* v2 still holds its certificates after v and cf are gone. */
	assert_non_null(view_lookup(v2, "a.test")->ec->chain[0]);
	view_unref(v2);
	config_free(c);
	free(cert); free(key);
}

/*
 * Sites that name one certificate file share one loaded certificate (it is
 * read and checked once per build: 100,000 sites on one wildcard took 21 s
 * before), each site still checked for its own names; a reload reads the
 * file again. A site the shared file does not cover is refused, naming it.
 */
static void
test_shared_file_loaded_once(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	struct errbuf		 eb;
	struct view		*v, *v2;
	char			*cert, *key, *cp, *kp, *t;

	(void)state;
	testcert_make("ec", "*.s.test", 30, &cert, &key);
	cp = testcert_write(tmpdir, "s.pem", cert, 0644);
	kp = testcert_write(tmpdir, "s.key", key, 0600);
	asprintf(&t, "{\"listen\": {\"https\": [\"127.0.0.1:1\"]}, \"sites\": ["
	    "{\"names\": [\"a.s.test\"], \"mode\": \"tcp\", \"backends\": "
	    "[\"127.0.0.1:1\"], \"certificates\": [{\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"b.s.test\", \"c.s.test\"], \"mode\": \"tcp\", \"backends\": "
	    "[\"127.0.0.1:2\"], \"certificates\": [{\"cert\": \"%s\", \"key\": \"%s\"}]}"
	    "]}", cp, kp, cp, kp);
	c = config_load_text("t.json", t, strlen(t), &e);
	assert_non_null(c);
	v = view_build(c, NULL, &eb);
	assert_non_null(v);
	assert_non_null(view_lookup(v, "a.s.test")->ec);
	assert_ptr_equal(view_lookup(v, "a.s.test")->ec, view_lookup(v, "c.s.test")->ec);
	assert_ptr_not_equal(view_lookup(v, "a.s.test"), view_lookup(v, "c.s.test"));
	/* Another build (a reload) loads the file again. */
	v2 = view_build(c, NULL, &eb);
	assert_non_null(v2);
	assert_ptr_not_equal(view_lookup(v2, "a.s.test")->ec, view_lookup(v, "a.s.test")->ec);
	view_unref(v2);
	view_unref(v);
	config_free(c);
	free(t);
	/* A third site whose name the wildcard does not cover. */
	asprintf(&t, "{\"listen\": {\"https\": [\"127.0.0.1:1\"]}, \"sites\": ["
	    "{\"names\": [\"a.s.test\"], \"mode\": \"tcp\", \"backends\": "
	    "[\"127.0.0.1:1\"], \"certificates\": [{\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"x.other.test\"], \"mode\": \"tcp\", \"backends\": "
	    "[\"127.0.0.1:2\"], \"certificates\": [{\"cert\": \"%s\", \"key\": \"%s\"}]}]}",
	    cp, kp, cp, kp);
	c = config_load_text("t.json", t, strlen(t), &e);
	assert_non_null(c);
	assert_null(view_build(c, NULL, &eb));
	assert_non_null(strstr(eb.msg, "site x.other.test: "));
	assert_non_null(strstr(eb.msg, "s.pem: the certificate does not cover x.other.test"));
	config_free(c);
	free(t); free(cp); free(kp); free(cert); free(key);
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
		cmocka_unit_test(test_syntax_error_position),
		cmocka_unit_test(test_every_semantic_error_reported),
		cmocka_unit_test(test_valid_config_and_relative_paths),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_lookup_order),
		cmocka_unit_test(test_swap_is_copy_on_write),
		cmocka_unit_test(test_shared_file_loaded_once),
	};
	return cmocka_run_group_tests_name("terminator", tests, setup, teardown);
}
