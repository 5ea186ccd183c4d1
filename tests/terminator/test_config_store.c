/*
 * test_config_store.c - the store section (config_schema_store.inc,
 * config_store.c): the file backend by default; an etcd section read into
 * its fields, relative paths against the config's folder; every refusal
 * (an unknown backend, a bad endpoint URL, etcd without endpoints or key
 * file, half a client certificate, a user without password, etcd keys with
 * the file backend) reported at its file:line:column; and a node whose
 * encryption key file is missing does not get a store, with a message that
 * says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_store.h"
#include "errbuf.h"
#include "store.h"

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

#define HEAD "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]},\n" \
	"\"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:8080\"], " \
	"\"acme\": true}],\n"

static struct config *
load(const char *text, struct config_errors *e)
{
	return config_load_text("/etc/tg/st.json", text, strlen(text), e);
}

static void
test_default_file(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	char			*id;

	(void)state;
	c = load(HEAD "\"acme\": {\"state_dir\": \"/var/lib/tg\"}}", &e);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->store.backend, STORE_BACKEND_FILE);
	assert_int_equal(c->store.nendpoints, 0);
	id = config_store_id(c, "https://ca.test/dir");
	assert_non_null(strstr(id, "file\n/var/lib/tg\nhttps://ca.test/dir"));
	free(id);
	config_free(c);
}

static void
test_etcd_parsed(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	char			*a, *b;

	(void)state;
	c = load(HEAD "\"store\": {\"backend\": \"etcd\", \"etcd\": {\n"
	    "  \"endpoints\": [\"http://127.0.0.1:2379\", \"https://10.0.0.2:2379/\"],\n"
	    "  \"prefix\": \"/fleet-a/\", \"key_file\": \"etcd.key\",\n"
	    "  \"ca_bundle\": \"/etc/ssl/etcd-ca.pem\", \"cert\": \"c.pem\", "
	    "\"key\": \"k.pem\",\n  \"user\": \"tg\", \"password_file\": \"pw\", "
	    "\"timeout\": 2.5}}}", &e);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->store.backend, STORE_BACKEND_ETCD);
	assert_int_equal(c->store.nendpoints, 2);
	assert_string_equal(c->store.endpoints[0], "http://127.0.0.1:2379");
	assert_string_equal(c->store.prefix, "/fleet-a/");
	assert_string_equal(c->store.enc_key_file, "/etc/tg/etcd.key");
	assert_string_equal(c->store.ca_file, "/etc/ssl/etcd-ca.pem");
	assert_string_equal(c->store.cert_file, "/etc/tg/c.pem");
	assert_string_equal(c->store.key_file, "/etc/tg/k.pem");
	assert_string_equal(c->store.user, "tg");
	assert_string_equal(c->store.password_file, "/etc/tg/pw");
	assert_true(c->store.timeout > 2.49 && c->store.timeout < 2.51);
	/* Another CA or another endpoint is another store. */
	a = config_store_id(c, "https://ca.test/dir");
	b = config_store_id(c, "https://other.test/dir");
	assert_string_not_equal(a, b);
	free(b);
	free(c->store.endpoints[1]);
	c->store.endpoints[1] = strdup("http://10.0.0.3:2379");
	b = config_store_id(c, "https://ca.test/dir");
	assert_string_not_equal(a, b);
	free(a);
	free(b);
	config_free(c);

	/* The default prefix and timeout. */
	c = load(HEAD "\"store\": {\"backend\": \"etcd\", \"etcd\": {\n"
	    "  \"endpoints\": [\"http://127.0.0.1:2379\"], \"key_file\": \"/k\"}}}",
	    &e);
	dump(&e);
	assert_non_null(c);
	assert_string_equal(c->store.prefix, "/tlsgate/");
	assert_true(c->store.timeout > 4.99 && c->store.timeout < 5.01);
	config_free(c);
}

static void
test_refused(void **state)
{
	struct config_errors e = { 0 };

	(void)state;
	assert_null(load(HEAD "\"store\": {\"backend\": \"consul\"}}", &e));
	dump(&e);
	assert_true(has_msg(&e, "st.json:3:11: store.backend: expected file or etcd "
	    "(got \"consul\")"));
	config_errors_clear(&e);

	assert_null(load(HEAD "\"store\": {\"backend\": \"etcd\", \"etcd\": {\n"
	    "  \"endpoints\": [\"127.0.0.1:2379\", \"http://h:1/v3\"], "
	    "\"key_file\": \"/k\"}}}", &e));
	dump(&e);
	assert_true(has_msg(&e, "st.json:4:17: store.etcd.endpoints[0]: expected an "
	    "http:// or https:// URL"));
	assert_true(has_msg(&e, "st.json:4:35: store.etcd.endpoints[1]: the URL "
	    "must be the member's address only"));
	config_errors_clear(&e);

	assert_null(load(HEAD "\"store\": {\"backend\": \"etcd\"}}", &e));
	dump(&e);
	assert_true(has_msg(&e, "st.json:3:1: store: backend etcd needs "
	    "store.etcd.endpoints"));
	assert_true(has_msg(&e, "backend etcd needs store.etcd.key_file"));
	config_errors_clear(&e);

	assert_null(load(HEAD "\"store\": {\"backend\": \"etcd\", \"etcd\": {\n"
	    "  \"endpoints\": [\"http://127.0.0.1:2379\"], \"key_file\": \"/k\",\n"
	    "  \"cert\": \"/c.pem\", \"user\": \"u\"}}}", &e));
	dump(&e);
	assert_true(has_msg(&e, "give both cert and key, or neither"));
	assert_true(has_msg(&e, "give both user and password_file, or neither"));
	config_errors_clear(&e);

	assert_null(load(HEAD "\"store\": {\"etcd\": {\"endpoints\": "
	    "[\"http://127.0.0.1:2379\"]}}}", &e));
	dump(&e);
	assert_true(has_msg(&e, "st.json:3:11: store.etcd: store.etcd is used only "
	    "with \"backend\": \"etcd\""));
	config_errors_clear(&e);

	assert_null(load(HEAD "\"store\": {\"backend\": \"etcd\", \"etcd\": {\n"
	    "  \"endpoints\": [\"http://127.0.0.1:2379\"], \"key_file\": \"/k\",\n"
	    "  \"colour\": 1}}}", &e));
	dump(&e);
	assert_true(has_msg(&e, "st.json:5:3: store.etcd.colour: unknown key"));
	config_errors_clear(&e);
}

/* No key file: no store, and the message names the file and the rule. No
 * etcd is needed: the key is read before any member is asked. */
static void
test_no_key_file(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	struct errbuf		 eb;

	(void)state;
	c = load(HEAD "\"store\": {\"backend\": \"etcd\", \"etcd\": {\n"
	    "  \"endpoints\": [\"http://127.0.0.1:9\"], "
	    "\"key_file\": \"/nonexistent/tg-etcd.key\"}}}", &e);
	dump(&e);
	assert_non_null(c);
	memset(&eb, 0, sizeof(eb));
	assert_null(config_store_open(c, "https://ca.test/dir", &eb));
	printf("  %s\n", eb.msg);
	assert_non_null(strstr(eb.msg, "/nonexistent/tg-etcd.key"));
	assert_non_null(strstr(eb.msg, "encryption key"));
	config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_file),
		cmocka_unit_test(test_etcd_parsed),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_no_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
