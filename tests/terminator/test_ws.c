/*
 * test_ws.c - which requests become WebSocket tunnels (ws.h), how an RFC
 * 8441 extended CONNECT is rewritten into an HTTP/1.1 upgrade, and the
 * checks on the backend's 101 (Upgrade and Connection tokens, and for the
 * bridge the Sec-WebSocket-Accept of the key tlsgate made).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hstream.h"
#include "ws.h"

/* RFC 6455 1.3's example. */
#define KEY	"dGhlIHNhbXBsZSBub25jZQ=="
#define ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static void
add(struct hfields *h, const char *n, const char *v)
{
	hfields_add(h, n, strlen(n), v, strlen(v));
}

static void
st_init(struct hstream *st, enum hmethod m, int version)
{
	memset(st, 0, sizeof(*st));
	st->req.m = m;
	st->req.version = version;
	st->req.clen = -1;
}

static void
st_free(struct hstream *st)
{
	hfields_free(&st->req.h);
	hfields_free(&st->resp.h);
}

static void
test_h1_which(void **state)
{
	struct hstream st;

	(void)state;
	/* Tokens anywhere in the lists, any case, over several fields. */
	st_init(&st, HM_GET, 11);
	add(&st.req.h, "connection", "keep-alive, Upgrade");
	add(&st.req.h, "upgrade", "WebSocket");
	assert_int_equal(ws_h1_request(&st), 1);
	assert_true(st.upgrade);
	st_free(&st);
	st_init(&st, HM_GET, 11);
	add(&st.req.h, "connection", "keep-alive");
	add(&st.req.h, "connection", "upgrade");
	add(&st.req.h, "upgrade", "foo, websocket");
	assert_int_equal(ws_h1_request(&st), 1);
	st_free(&st);
	/* Not WebSocket, no Connection: upgrade, not a GET, HTTP/1.0, a body. */
	st_init(&st, HM_GET, 11);
	add(&st.req.h, "connection", "upgrade, http2-settings");
	add(&st.req.h, "upgrade", "h2c");
	assert_int_equal(ws_h1_request(&st), 0);
	assert_false(st.upgrade);
	st_free(&st);
	st_init(&st, HM_GET, 11);
	add(&st.req.h, "upgrade", "websocket");
	assert_int_equal(ws_h1_request(&st), 0);
	st_free(&st);
	st_init(&st, HM_POST, 11);
	add(&st.req.h, "connection", "upgrade");
	add(&st.req.h, "upgrade", "websocket");
	assert_int_equal(ws_h1_request(&st), 0);
	st_free(&st);
	st_init(&st, HM_GET, 10);
	add(&st.req.h, "connection", "upgrade");
	add(&st.req.h, "upgrade", "websocket");
	assert_int_equal(ws_h1_request(&st), 0);
	st_free(&st);
	st_init(&st, HM_GET, 11);
	st.req.body = 1;
	add(&st.req.h, "connection", "upgrade");
	add(&st.req.h, "upgrade", "websocket");
	assert_int_equal(ws_h1_request(&st), 0);
	st_free(&st);
}

static void
test_h1_101(void **state)
{
	struct hstream st;

	(void)state;
	st_init(&st, HM_GET, 11);
	assert_non_null(ws_check_101(&st));	/* no upgrade was asked */
	st.upgrade = 1;
	add(&st.resp.h, "upgrade", "websocket");
	assert_non_null(ws_check_101(&st));	/* no Connection: upgrade */
	add(&st.resp.h, "connection", "Upgrade");
	/* The HTTP/1.1 client checks the accept key itself. */
	assert_null(ws_check_101(&st));
	st_free(&st);
}

static void
test_h2_bridge(void **state)
{
	struct hstream		 st;
	const struct hfield	*k;

	(void)state;
	st_init(&st, HM_CONNECT, 20);
	st.req.body = 1;
	add(&st.req.h, "sec-websocket-protocol", "chat");
	add(&st.req.h, "sec-websocket-key", "from-the-client");
	ws_h2_request(&st);
	assert_true(st.upgrade && st.ws_h2);
	assert_string_equal(st.req.method, "GET");
	assert_int_equal(st.req.m, HM_GET);
	assert_int_equal(st.req.body, 0);
	assert_int_equal(hfields_count(&st.req.h, "sec-websocket-key"), 1);
	k = hfields_get(&st.req.h, "sec-websocket-key");
	assert_int_equal(k->vlen, 24);		/* 16 bytes in base64 */
	assert_string_not_equal(k->value, "from-the-client");
	assert_string_equal(hfields_get(&st.req.h, "sec-websocket-version")->value, "13");
	assert_string_equal(hfields_get(&st.req.h, "sec-websocket-protocol")->value, "chat");
	/* The backend's accept must match our key: RFC 6455's example. */
	hfields_del(&st.req.h, "sec-websocket-key");
	add(&st.req.h, "sec-websocket-key", KEY);
	add(&st.resp.h, "upgrade", "websocket");
	add(&st.resp.h, "connection", "upgrade");
	assert_non_null(ws_check_101(&st));	/* no accept at all */
	add(&st.resp.h, "sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOx=");
	assert_non_null(ws_check_101(&st));
	hfields_del(&st.resp.h, "sec-websocket-accept");
	add(&st.resp.h, "sec-websocket-accept", ACCEPT);
	assert_null(ws_check_101(&st));
	st_free(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h1_which),
		cmocka_unit_test(test_h1_101),
		cmocka_unit_test(test_h2_bridge),
	};

	return cmocka_run_group_tests_name("ws", tests, NULL, NULL);
}
