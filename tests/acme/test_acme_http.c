/*
 * test_acme_http.c - the ACME transport against a hostile stub CA on
 * loopback (tests/support/stubca.c, plain HTTP reached with the test-only
 * switch): a 302 to a POST and a 301 to a GET are not followed, fail with
 * the status and the Location, and the target receives nothing; without the
 * switch a plain http:// URL (say, one a directory listed) is refused before
 * any byte is sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "acme_http.h"
#include "stubca.h"

struct fx {
	struct event_base	*base;
	struct stubca		*ca;
	struct acme_http	*http;
};

struct result {
	int	 done;
	long	 status;
	char	 err[400];
	char	 body[64];
};

static void
on_done(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct result *res = arg;

	res->done = 1;
	if (err != NULL)
		snprintf(res->err, sizeof(res->err), "%s", err);
	else {
		res->status = r->status;
		snprintf(res->body, sizeof(res->body), "%s", r->body);
	}
}

static void
on_guard(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* One request, run to completion (a 30 s guard against a hang). */
static void
request(struct fx *fx, const char *method, const char *path, struct result *res)
{
	struct timeval	 guard = { 30, 0 }, tick = { 0, 10000 };
	struct event	*ev = evtimer_new(fx->base, on_guard, fx->base);
	char		 url[128];

	memset(res, 0, sizeof(*res));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", stubca_port(fx->ca), path);
	assert_int_equal(acme_http_request(fx->http, method, url,
	    strcmp(method, "POST") == 0 ? "{\"payload\": \"signed\"}" : NULL,
	    on_done, res), 0);
	evtimer_add(ev, &guard);
	while (!res->done && event_pending(ev, EV_TIMEOUT, NULL)) {
		event_base_loopexit(fx->base, &tick);
		event_base_dispatch(fx->base);
	}
	event_free(ev);
	assert_true(res->done);
}

static void
test_switch(void **state)
{
	unsetenv("TLSGATE_ACME_ALLOW_HTTP");
	assert_int_equal(acme_http_allow_plain(), 0);
	setenv("TLSGATE_ACME_ALLOW_HTTP", "yes", 1);
	assert_int_equal(acme_http_allow_plain(), 0);
	setenv("TLSGATE_ACME_ALLOW_HTTP", "1", 1);
	assert_int_equal(acme_http_allow_plain(), 1);
}

/* Control: with the switch the stub is reachable, so refusals below mean it. */
static void
test_plain_ok_with_switch(void **state)
{
	struct fx	*fx = *state;
	struct result	 res;

	setenv("TLSGATE_ACME_ALLOW_HTTP", "1", 1);
	request(fx, "POST", "/ok", &res);
	assert_string_equal(res.err, "");
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "ok");
	assert_int_equal(stubca_count(fx->ca, "/ok"), 1);
}

static void
test_post_302_not_followed(void **state)
{
	struct fx	*fx = *state;
	struct result	 res;
	char		 want[200];

	setenv("TLSGATE_ACME_ALLOW_HTTP", "1", 1);
	request(fx, "POST", "/redirect", &res);
	snprintf(want, sizeof(want), "HTTP 302 redirect to http://127.0.0.2:%d/target "
	    "refused", stubca_port(fx->ca));
	assert_string_equal(res.err, want);
	assert_int_equal(stubca_count(fx->ca, "/redirect"), 1);
	assert_int_equal(stubca_count(fx->ca, "/target"), 0);
}

static void
test_get_301_not_followed(void **state)
{
	struct fx	*fx = *state;
	struct result	 res;
	char		 want[200];

	setenv("TLSGATE_ACME_ALLOW_HTTP", "1", 1);
	request(fx, "GET", "/moved", &res);
	snprintf(want, sizeof(want), "HTTP 301 redirect to http://127.0.0.2:%d/target "
	    "refused", stubca_port(fx->ca));
	assert_string_equal(res.err, want);
	assert_int_equal(stubca_count(fx->ca, "/moved"), 1);
	assert_int_equal(stubca_count(fx->ca, "/target"), 0);
}

/* As when an https directory lists an http:// URL: nothing is sent. */
static void
test_plain_refused_without_switch(void **state)
{
	struct fx	*fx = *state;
	struct result	 res;
	unsigned	 before = stubca_count(fx->ca, NULL);

	unsetenv("TLSGATE_ACME_ALLOW_HTTP");
	request(fx, "POST", "/ok", &res);
	assert_string_equal(res.err, "not an https:// URL: refused (ACME is https only)");
	request(fx, "GET", "/dir", &res);
	assert_string_equal(res.err, "not an https:// URL: refused (ACME is https only)");
	assert_int_equal(stubca_count(fx->ca, NULL), before);
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	curl_global_init(CURL_GLOBAL_DEFAULT);
	fx->base = event_base_new();
	if ((fx->ca = stubca_new(fx->base, 0)) == NULL)
		return -1;
	fx->http = acme_http_new(fx->base, NULL);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	acme_http_free(fx->http);
	stubca_free(fx->ca);
	event_base_free(fx->base);
	free(fx);
	curl_global_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_switch),
		cmocka_unit_test(test_plain_ok_with_switch),
		cmocka_unit_test(test_post_302_not_followed),
		cmocka_unit_test(test_get_301_not_followed),
		cmocka_unit_test(test_plain_refused_without_switch),
	};
	return cmocka_run_group_tests_name("acme_http", tests, setup, teardown);
}
