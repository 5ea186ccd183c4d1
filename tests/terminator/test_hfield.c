/*
 * test_hfield.c - header field lists: names are lowercased, values kept
 * byte for byte, pieces joined, and the hop-by-hop fields (with every field
 * Connection names, but never Content-Length) removed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hfield.h"

static void
add(struct hfields *h, const char *n, const char *v)
{
	hfields_add(h, n, strlen(n), v, strlen(v));
}

static void
test_add_get_del(void **state)
{
	struct hfields h = { 0 };

	(void)state;
	add(&h, "Content-Type", "text/HTML");
	add(&h, "X-A", "1");
	add(&h, "x-a", "2");
	assert_string_equal(hfields_get(&h, "content-type")->value, "text/HTML");
	assert_int_equal(hfields_get(&h, "content-type")->nlen, 12);
	assert_null(hfields_get(&h, "Content-Type"));	/* lookups are lowercase */
	assert_int_equal(hfields_count(&h, "x-a"), 2);
	assert_string_equal(hfields_get(&h, "x-a")->value, "1");
	assert_int_equal(hfields_del(&h, "x-a"), 2);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.bytes, strlen("content-type") + strlen("text/HTML"));
	hfields_free(&h);
	assert_int_equal(h.n, 0);
}

static void
test_extend(void **state)
{
	struct hfields h = { 0 };

	(void)state;
	hfields_add(&h, "X-Lo", 4, "", 0);
	hfields_extend_last(&h, 0, "ng-Name", 7);
	hfields_extend_last(&h, 1, "ab", 2);
	hfields_extend_last(&h, 1, " c", 2);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.v[0].name, "x-long-name");
	assert_string_equal(h.v[0].value, "ab c");
	assert_int_equal(h.v[0].vlen, 4);
	hfields_free(&h);
}

static void
test_tokens(void **state)
{
	(void)state;
	assert_true(hfield_has_token("close", "close"));
	assert_true(hfield_has_token("keep-alive, Close", "close"));
	assert_true(hfield_has_token(" a ,\tUpgrade ", "upgrade"));
	assert_false(hfield_has_token("closed", "close"));
	assert_false(hfield_has_token("", "close"));
	assert_false(hfield_has_token("x-close", "close"));
}

static void
test_strip_hop(void **state)
{
	struct hfields h = { 0 };

	(void)state;
	add(&h, "Connection", "keep-alive, X-Secret, Content-Length");
	add(&h, "Connection", "x-other");
	add(&h, "X-Secret", "s");
	add(&h, "X-Other", "o");
	add(&h, "Keep-Alive", "timeout=5");
	add(&h, "Proxy-Connection", "keep-alive");
	add(&h, "TE", "trailers");
	add(&h, "Transfer-Encoding", "chunked");
	add(&h, "Upgrade", "websocket");
	add(&h, "Proxy-Authorization", "Basic eA==");
	add(&h, "Proxy-Authenticate", "Basic");
	add(&h, "Trailer", "X-T");
	add(&h, "Content-Length", "5");
	add(&h, "X-Kept", "yes");
	hfields_strip_hop(&h);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.v[0].name, "content-length");
	assert_string_equal(h.v[1].name, "x-kept");
	hfields_free(&h);
}

/* Fields spread over several arena chunks keep their bytes; a field
 * extended when its chunk is full moves whole; a reset list is empty and
 * takes new fields. */
static void
test_arena_reset(void **state)
{
	struct hfields	h = { 0 };
	char		n[32], v[600];

	(void)state;
	memset(v, 'v', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	for (int i = 0; i < 40; i++) {
		snprintf(n, sizeof(n), "X-F%d", i);
		add(&h, n, v);
	}
	hfields_extend_last(&h, 1, "tail", 4);
	hfields_extend_last(&h, 0, "-more", 5);
	for (int i = 0; i < 40; i++) {
		snprintf(n, sizeof(n), "x-f%d%s", i, i == 39 ? "-more" : "");
		assert_non_null(hfields_get(&h, n));
		assert_int_equal(hfields_get(&h, n)->vlen, sizeof(v) - 1 + (i == 39 ? 4 : 0));
		assert_memory_equal(hfields_get(&h, n)->value, v, sizeof(v) - 1);
	}
	assert_string_equal(h.v[39].value + sizeof(v) - 1, "tail");
	hfields_reset(&h);
	assert_int_equal(h.n, 0);
	assert_int_equal(h.bytes, 0);
	assert_null(hfields_get(&h, "x-f0"));
	add(&h, "A", "1");
	hfields_extend_last(&h, 1, "2", 1);
	assert_string_equal(hfields_get(&h, "a")->value, "12");
	assert_int_equal(h.bytes, 3);
	hfields_free(&h);
}

/* Strings kept in the arena: copied whole, NUL-terminated, with the room
 * asked for, unmoved by fields added later, and not counted as fields. */
static void
test_strdup(void **state)
{
	struct hfields	h = { 0 };
	char		v[700], *e, *t, *m;

	(void)state;
	memset(v, 'v', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	m = hfields_strdup(&h, "GETX", 3, 0);
	e = hfields_strdup(&h, "", 0, 2);
	t = hfields_strdup(&h, "/a?b", 4, 0);
	for (int i = 0; i < 10; i++)
		add(&h, "x-big", v);	/* new chunks: earlier strings stay */
	hfields_extend_last(&h, 1, "z", 1);
	assert_string_equal(m, "GET");
	assert_string_equal(t, "/a?b");
	assert_string_equal(e, "");
	memcpy(e, "/", 2);	/* the room asked for */
	assert_string_equal(e, "/");
	assert_string_equal(t, "/a?b");	/* not overwritten by it */
	assert_string_equal(m, "GET");
	assert_int_equal(h.n, 10);
	assert_int_equal(h.bytes, 10 * (5 + sizeof(v) - 1) + 1);
	/* A lowercase copy: ASCII capitals only, whatever the length. */
	assert_string_equal(hfields_strdup_lower(&h, "Bench.TEST:19543x", 16),
	    "bench.test:19543");
	assert_string_equal(hfields_strdup_lower(&h, "\xC3\x89" "A[::1]", 8), "\xC3\x89" "a[::1]");
	assert_string_equal(hfields_strdup_lower(&h, "", 0), "");
	assert_int_equal(h.n, 10);
	hfields_free(&h);
}

/* Long names are lowercased eight bytes at a time: every ASCII capital,
 * nothing else (the bytes around 'A' and 'Z', and those of 0x80 and up). */
static void
test_lower_long(void **state)
{
	struct hfields	h = { 0 };
	char		in[300], want[300];
	size_t		n = 0;

	(void)state;
	for (int c = 1; c < 256; c++) {
		in[n] = (char)c;
		want[n] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		n++;
	}
	for (size_t len = 0; len <= n; len += len < 20 ? 1 : 37) {
		hfields_add(&h, in, len, "v", 1);
		assert_int_equal(h.v[h.n - 1].nlen, len);
		assert_memory_equal(h.v[h.n - 1].name, want, len);
		assert_int_equal(h.v[h.n - 1].name[len], '\0');
	}
	/* Short names too (four bytes at a time, or one), from every start
	 * around the capitals and 0x80. */
	for (size_t off = 0x3c; off < 0x84; off++)
		for (size_t len = 0; len <= 17 && off + len <= n; len++) {
			hfields_add(&h, in + off, len, "v", 1);
			assert_int_equal(h.v[h.n - 1].nlen, len);
			assert_memory_equal(h.v[h.n - 1].name, want + off, len);
			assert_int_equal(h.v[h.n - 1].name[len], '\0');
		}
	hfields_add(&h, "X-FORWARDED-FOR", 15, "a", 1);
	hfields_add_lc(&h, "x-request-id", 12, "b", 1);
	assert_string_equal(hfields_get(&h, "x-forwarded-for")->value, "a");
	assert_string_equal(hfields_get(&h, "x-request-id")->value, "b");
	hfields_free(&h);
}

/* The bits of the well-known names: set by adds (whole or in pieces),
 * cleared when the last field of the name goes, and never hiding one. */
static void
test_known(void **state)
{
	static const struct hname fwd[] = { HNAME("x-forwarded-for"),
	    HNAME("forwarded"), { NULL, 0 } };
	struct hfields h = { 0 };

	(void)state;
	assert_int_equal(hfield_known("host", 4), HFK_HOST);
	assert_int_equal(hfield_known("hosts", 5), -1);
	assert_int_equal(hfield_known("x-forwarded-proto", 17), HFK_X_FORWARDED_PROTO);
	assert_null(hfields_get(&h, "host"));
	add(&h, "Accept", "*/*");
	assert_null(hfields_get(&h, "host"));
	assert_int_equal(hfields_count(&h, "host"), 0);
	assert_int_equal(hfields_del(&h, "host"), 0);
	/* A name in pieces, as llhttp delivers it. */
	hfields_add(&h, "Ho", 2, "", 0);
	hfields_extend_last(&h, 0, "ST", 2);
	hfields_extend_last(&h, 1, "a.test", 6);
	add(&h, "host", "b.test");
	assert_string_equal(hfields_get(&h, "host")->value, "a.test");
	assert_int_equal(hfields_count(&h, "host"), 2);
	assert_int_equal(hfields_del(&h, "host"), 2);
	assert_null(hfields_get(&h, "host"));
	add(&h, "Host", "c.test");	/* back after a delete */
	assert_string_equal(hfields_get(&h, "host")->value, "c.test");
	/* del_any clears what it removed, and only that. */
	add(&h, "Forwarded", "for=1");
	add(&h, "X-Request-ID", "r");
	assert_int_equal(hfields_del_any(&h, fwd), 1);
	assert_int_equal(hfields_del_any(&h, fwd), 0);
	assert_null(hfields_get(&h, "forwarded"));
	assert_string_equal(hfields_get(&h, "x-request-id")->value, "r");
	/* strip_hop: nothing to do without a hop-by-hop name; a field that
	 * Connection names goes even when it is a well-known one. */
	hfields_strip_hop(&h);
	assert_int_equal(h.n, 3);
	add(&h, "Connection", "X-Request-ID");
	add(&h, "TE", "trailers");
	hfields_strip_hop(&h);
	assert_int_equal(h.n, 2);
	assert_null(hfields_get(&h, "x-request-id"));
	assert_null(hfields_get(&h, "te"));
	assert_null(hfields_get(&h, "connection"));
	add(&h, "te", "trailers");
	assert_non_null(hfields_get(&h, "te"));
	hfields_reset(&h);
	assert_int_equal(h.known, 0);
	assert_null(hfields_get(&h, "te"));
	hfields_free(&h);
}

/* pop: every copy goes in one pass, the first is handed back (still
 * readable: its bytes stay in the arena), the others keep their order. */
static void
test_pop(void **state)
{
	struct hfields	h = { 0 };
	struct hfield	f = { 0 };

	(void)state;
	add(&h, "Accept", "*/*");
	assert_int_equal(hfields_pop(&h, "host", 4, &f), 0);
	assert_null(f.name);
	add(&h, "Host", "a.test");
	add(&h, "User-Agent", "u");
	add(&h, "HOST", "b.test");
	assert_int_equal(hfields_pop(&h, "host", 4, &f), 2);
	assert_string_equal(f.name, "host");
	assert_string_equal(f.value, "a.test");
	assert_int_equal(f.vlen, 6);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.v[0].name, "accept");
	assert_string_equal(h.v[1].name, "user-agent");
	assert_int_equal(h.bytes, 6 + 3 + 10 + 1);
	assert_null(hfields_get(&h, "host"));
	assert_false(hfields_may_have(&h, "host", 4));
	hfields_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_get_del),
		cmocka_unit_test(test_extend),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_strip_hop),
		cmocka_unit_test(test_arena_reset),
		cmocka_unit_test(test_strdup),
		cmocka_unit_test(test_lower_long),
		cmocka_unit_test(test_known),
		cmocka_unit_test(test_pop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
