/*
 * test_h2up.c - http.backend_protocol (http/h2up.h) from a real config:
 * the default is HTTP/1.1, "h2" on a site marks its pool HTTP/2, a route
 * inherits the site's value or sets its own, a bad value and the key on a
 * TCP-mode site are errors naming the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "errbuf.h"
#include "pool.h"

static struct config *
load(struct config_errors *e, const char *site_extra)
{
	char text[4096];

	snprintf(text, sizeof(text), "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]},\n"
	    "\"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:8080\"],\n"
	    "\"certificates\": [{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}]%s}]}",
	    site_extra);
	return config_load_text("t.json", text, strlen(text), e);
}

static int
has_msg(const struct config_errors *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle) != NULL)
			return 1;
	for (size_t i = 0; i < e->n; i++)
		fprintf(stderr, "  %s\n", e->msgs[i]);
	return 0;
}

static void
test_protocol(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	struct pool		*p;
	struct errbuf		 eb;

	(void)state;
	c = load(&e, "");
	assert_non_null(c);
	assert_int_equal(c->sites[0].backend_proto, BACKEND_PROTO_H1);
	p = pool_new("a.test", &c->sites[0], &eb);
	assert_non_null(p);
	assert_false(p->h2);
	pool_unref(p);
	config_free(c);

	c = load(&e, ", \"http\": {\"backend_protocol\": \"h2\"}, \"routes\": [\n"
	    "{\"path\": \"/a\", \"backends\": [\"127.0.0.1:1\"]},\n"
	    "{\"path\": \"/b\", \"backends\": [\"127.0.0.1:2\"],"
	    " \"http\": {\"backend_protocol\": \"http/1.1\"}}]");
	assert_non_null(c);
	assert_int_equal(c->sites[0].backend_proto, BACKEND_PROTO_H2);
	assert_int_equal(c->sites[0].routes[0].s.backend_proto, BACKEND_PROTO_H2);
	assert_int_equal(c->sites[0].routes[1].s.backend_proto, BACKEND_PROTO_H1);
	p = pool_new("a.test", &c->sites[0], &eb);
	assert_non_null(p);
	assert_true(p->h2);
	pool_unref(p);
	config_free(c);

	assert_null(load(&e, ", \"http\": {\"backend_protocol\": \"h3\"}"));
	assert_true(has_msg(&e, "sites[0].http.backend_protocol"));
	config_errors_clear(&e);
	assert_null(load(&e, ", \"mode\": \"tcp\", \"http\": {\"backend_protocol\": \"h2\"}"));
	assert_true(has_msg(&e, "sites[0].http.backend_protocol: only for mode \"http\""));
	config_errors_clear(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_protocol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
