/* test_common.c - jsonpos, errbuf and log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include "bufcache.h"
#include "errbuf.h"
#include "jsonpos.h"
#include "log.h"

static const char doc[] =
    "{\n"
    "  \"a\": 1,\n"
    "  \"sites\": [\n"
    "    { \"names\": [\"x\", \"y\"] },\n"
    "    { \"names\": \"bad\", \"b\": {\"c\": true} }\n"
    "  ]\n"
    "}\n";

static void
test_jsonpos_values(void **state)
{
	int line, col;

	assert_int_equal(jsonpos_find(doc, strlen(doc), "/a", &line, &col), 0);
	assert_int_equal(line, 2);
	assert_int_equal(col, 3);	/* members: at the key */
	assert_int_equal(jsonpos_find(doc, strlen(doc), "/sites/0/names/1", &line,
	    &col), 0);
	assert_int_equal(line, 4);
	assert_int_equal(col, 22);	/* elements: at the value */
	assert_int_equal(jsonpos_find(doc, strlen(doc), "/sites/1/names", &line,
	    &col), 0);
	assert_int_equal(line, 5);
	assert_int_equal(col, 7);
	assert_int_equal(jsonpos_find(doc, strlen(doc), "/sites/1/b/c", &line,
	    &col), 0);
	assert_int_equal(line, 5);
	assert_int_equal(col, 29);
}

/* One scan answers many paths exactly as one call per path would. */
static void
test_jsonpos_find_many_agrees(void **state)
{
	static const char *const paths[] = { "/a", "/sites/0/names/1",
	    "/sites/1/names", "/sites/1/b/c", "/sites/1/zzz", "/sites/9/x", "",
	    "/sites", "/a" };
	struct jsonpos_query	q[sizeof(paths) / sizeof(paths[0])];
	size_t			n = sizeof(paths) / sizeof(paths[0]);

	for (size_t i = 0; i < n; i++)
		q[i].path = paths[i];
	assert_int_equal(jsonpos_find_many(doc, strlen(doc), q, n), 0);
	for (size_t i = 0; i < n; i++) {
		int line = 0, col = 0, rc;

		rc = jsonpos_find(doc, strlen(doc), paths[i], &line, &col);
		assert_int_equal(q[i].found, rc == 0 ? 1 : rc == 1 ? 2 : 0);
		assert_int_equal(q[i].line, line);
		assert_int_equal(q[i].col, col);
	}
	q[0].path = "/a/5";
	assert_int_equal(jsonpos_find_many("{\"a\": [1, ", 10, q, 1), 0);
	assert_int_equal(q[0].found, 2);
	assert_int_equal(q[0].col, 7);
}

static void
test_jsonpos_missing_gives_parent(void **state)
{
	int line, col;

	/* An absent key points at its nearest existing parent. */
	assert_int_equal(jsonpos_find(doc, strlen(doc), "/sites/1/zzz", &line,
	    &col), 1);
	assert_int_equal(line, 5);
	assert_int_equal(col, 5);
	/* Truncated text: the best known position is the top level. */
	assert_int_equal(jsonpos_find("{\"a\": [1, ", 10, "/a/5", &line, &col), 1);
	assert_int_equal(line, 1);
	assert_int_equal(col, 7);
}

static void
test_errbuf(void **state)
{
	struct errbuf eb;

	assert_int_equal(errbuf_set(&eb, "x=%d", 5), -1);
	assert_string_equal(eb.msg, "x=5");
	assert_int_equal(errbuf_prefix(&eb, "ctx %s", "a"), -1);
	assert_string_equal(eb.msg, "ctx a: x=5");
	assert_int_equal(errbuf_set(NULL, "ignored"), -1);
}

static char captured[512];

static void
sink(enum log_level lvl, const char *line, void *arg)
{
	snprintf(captured, sizeof(captured), "%d %s", (int)lvl, line);
}

static void
test_log_levels_and_sanitising(void **state)
{
	log_set_sink(sink, NULL);
	log_set_level(LOG_LVL_INFO);
	captured[0] = '\0';
	log_debug("hidden %d", 1);
	assert_string_equal(captured, "");
	log_info("sni=%s", "evil\nforged line");
	/* Control characters from peers cannot forge a second log line. */
	assert_string_equal(captured, "6 sni=evil?forged line");
	assert_int_equal(log_level_parse("warning"), LOG_LVL_WARN);
	assert_int_equal(log_level_parse("nope"), -1);
	log_set_sink(NULL, NULL);
}

static void
test_log_field_escape(void **state)
{
	char out[LOG_FIELD_CAP(32)], small[8];

	assert_string_equal(log_field_escape(out, sizeof(out), "a.test", 6), "a.test");
	/* Field separators, quotes, the escape character, DEL, high bytes. */
	assert_string_equal(log_field_escape(out, sizeof(out), "a b=c\"d\\e\x7f\x80\xff", 12),
	    "a\\x20b\\x3dc\\x22d\\x5ce\\x7f\\x80\\xff");
	/* Control bytes and an embedded NUL: len counts, not the NUL. */
	assert_string_equal(log_field_escape(out, sizeof(out), "\n\r\0x", 4),
	    "\\x0a\\x0d\\x00x");
	/* Cut only between whole escapes. */
	assert_string_equal(log_field_escape(small, 6, "ab cd", 5), "ab");
	assert_string_equal(log_field_escape(small, sizeof(small), "ab cd", 5), "ab\\x20c");
	assert_string_equal(log_field_escape(small, sizeof(small), "abc", 3), "abc");
	assert_string_equal(log_field_escape(small, 1, "abc", 3), "");
}

/* libevent's blocks: a freed 1, 2 or 4 KiB block comes back for the next
 * allocation of its class on the same thread, with the room asked for;
 * plain malloc blocks may be freed through the hooks; at most
 * BUFCACHE_EV_DEPTH are kept a class (BUFCACHE_EV_DEPTH_1K of 1 KiB), and
 * flushing empties the cache. */
static void
test_bufcache_ev(void **state)
{
	void	*p, *q, *v[BUFCACHE_EV_DEPTH + 8], *w[BUFCACHE_EV_DEPTH_1K + 8];

	(void)state;
	p = bufcache_ev_malloc(1024);
	memset(p, 1, 1024);
	bufcache_ev_free(p);
	q = bufcache_ev_malloc(1024);
	assert_ptr_equal(q, p);
	bufcache_ev_free(q);
	q = bufcache_ev_malloc(4096);	/* another class: not that block */
	assert_ptr_not_equal(q, p);
	memset(q, 2, 4096);
	bufcache_ev_free(q);
	bufcache_ev_free(bufcache_ev_malloc(1024));	/* p, again */

	p = malloc(1030);	/* 1032 usable: class 1024 */
	bufcache_ev_free(p);
	q = bufcache_ev_malloc(1024);
	assert_true(q == p || malloc_usable_size(q) >= 1024);
	memset(q, 3, 1024);
	bufcache_ev_free(q);

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		v[i] = bufcache_ev_malloc(2048);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		bufcache_ev_free(v[i]);
	/* The last 8 freed went back to malloc: the cache hands out the
	 * first ones, newest first. */
	assert_ptr_equal(bufcache_ev_malloc(2048), v[BUFCACHE_EV_DEPTH - 1]);
	bufcache_ev_free(v[BUFCACHE_EV_DEPTH - 1]);
	/* The 1 KiB class keeps BUFCACHE_EV_DEPTH_1K. */
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		w[i] = bufcache_ev_malloc(1024);
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		bufcache_ev_free(w[i]);
	assert_ptr_equal(bufcache_ev_malloc(1024), w[BUFCACHE_EV_DEPTH_1K - 1]);
	bufcache_ev_free(w[BUFCACHE_EV_DEPTH_1K - 1]);
	p = bufcache_ev_realloc(bufcache_ev_malloc(100), 3000);
	memset(p, 4, 3000);
	bufcache_ev_free(p);
	bufcache_flush();
}

/* A thread that kept libevent blocks frees them when it exits, without a
 * bufcache_flush() (LeakSanitizer would report them otherwise). */
static void *
keeper(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++)
		bufcache_ev_free(bufcache_ev_malloc(1024 << (i % 3)));
	bufcache_ev_free(malloc(2048));
	return NULL;
}

static void
test_bufcache_ev_thread_exit(void **state)
{
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, keeper, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonpos_values),
		cmocka_unit_test(test_jsonpos_missing_gives_parent),
		cmocka_unit_test(test_jsonpos_find_many_agrees),
		cmocka_unit_test(test_errbuf),
		cmocka_unit_test(test_log_levels_and_sanitising),
		cmocka_unit_test(test_log_field_escape),
		cmocka_unit_test(test_bufcache_ev),
		cmocka_unit_test(test_bufcache_ev_thread_exit),
	};
	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
