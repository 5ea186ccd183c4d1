/*
 * test_route.c - routes and sticky cookies without sockets: the segment
 * rule of path prefixes, longest match and method filters through a table
 * built from a real config, route config errors with their positions, and
 * sticky cookies (a good one names its backend; a tampered, foreign,
 * expired-format or down one is ignored; the key survives a "restart").
 */
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

#include "config.h"
#include "errbuf.h"
#include "hfield.h"
#include "pool.h"
#include "route.h"
#include "sticky.h"
#include "store.h"

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
test_path_rule(void **state)
{
	(void)state;
#define M(p, q)	route_path_match(p, strlen(p), q, strlen(q))
	assert_true(M("/api", "/api"));
	assert_true(M("/api", "/api/"));
	assert_true(M("/api", "/api/users"));
	assert_false(M("/api", "/apiary"));
	assert_true(M("/api/", "/api/users"));
	assert_true(M("/api/", "/api/"));
	assert_false(M("/api/", "/api"));
	assert_false(M("/api/", "/Api/x"));
	assert_true(M("/", "/anything"));
	assert_false(M("/a/b", "/a"));
#undef M
}

static void
test_match(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	struct route_table	*t;
	struct errbuf		 eb;
	const struct route	*r;
	char			 dir[] = "/tmp/test_route.XXXXXX", key[64];

	(void)state;
	/* Route 3 is sticky: its pool needs the key. */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sticky_key_load(dir, NULL, &eb), 0);
	snprintf(key, sizeof(key), "%s/sticky.key", dir);
	c = load(&e, ", \"routes\": ["
	    "{\"path\": \"/api/\", \"backends\": [\"127.0.0.1:9001\"]},"
	    "{\"path\": \"/api/v2/\", \"backends\": [\"127.0.0.1:9002\"], "
	    "\"http\": {\"backend_timeout\": 7}},"
	    "{\"path\": \"/up\", \"methods\": [\"POST\", \"PUT\"], "
	    "\"backends\": [\"127.0.0.1:9003\"]},"
	    "{\"path\": \"/up\", \"backends\": [\"127.0.0.1:9004\"], "
	    "\"sticky\": {\"ttl\": 60}}]");
	assert_non_null(c);
	assert_int_equal(c->sites[0].nroutes, 4);
	/* Any sticky key turns it on, with the default cookie name. */
	assert_string_equal(c->sites[0].routes[3].s.sticky.cookie, "tlsgate_srv");
	assert_int_equal(c->sites[0].routes[3].s.sticky.ttl, 60);
	assert_null(c->sites[0].routes[2].s.sticky.cookie);
	assert_true(c->sites[0].routes[1].s.backend_timeout == 7);
	/* Not given on the route: the site's. */
	assert_true(c->sites[0].routes[0].s.backend_timeout ==
	    c->sites[0].backend_timeout);
	t = route_table_new("a.test", &c->sites[0], &eb);
	assert_non_null(t);
	assert_null(route_match(t, "/", "GET"));
	assert_null(route_match(t, "/apix", "GET"));
	assert_null(route_match(t, "*", "OPTIONS"));
	r = route_match(t, "/api/x?y=/api/v2/", "GET");
	assert_string_equal(r->path, "/api/");
	assert_string_equal(route_match(t, "/api/v2/z", "GET")->path, "/api/v2/");
	assert_true(route_match(t, "/api/v2/z", "GET")->http.backend_timeout == 7);
	assert_string_equal(route_match(t, "/api/v2", "GET")->path, "/api/");
	/* Equal paths: the first whose methods match. */
	assert_string_equal(route_match(t, "/up/1", "POST")->pool->b[0]->str,
	    "127.0.0.1:9003");
	assert_string_equal(route_match(t, "/up/1", "GET")->pool->b[0]->str,
	    "127.0.0.1:9004");
	assert_string_equal(route_match(t, "/up", "post")->pool->b[0]->str,
	    "127.0.0.1:9004");
	/* A route's backend is not the site's, even at the same address. */
	assert_string_equal(route_match(t, "/api/", "GET")->pool->site,
	    "a.test /api/");
	assert_non_null(route_match(t, "/up", "GET")->pool->sticky);
	assert_null(route_match(t, "/api/", "GET")->pool->sticky);
	route_table_unref(t);
	config_free(c);
	unlink(key);
	rmdir(dir);
}

static void
test_config_errors(void **state)
{
	struct config_errors e = { 0 };

	(void)state;
	assert_null(load(&e, ", \"routes\": [{\"backends\": [\"127.0.0.1:1\"]},\n"
	    "{\"path\": \"api\", \"backends\": [\"127.0.0.1:1\"]},\n"
	    "{\"path\": \"/x\", \"names\": [\"b.test\"], \"backends\": [\"127.0.0.1:1\"], "
	    "\"http\": {\"h2\": false, \"nope\": 1}, \"methods\": [\"G ET\"]},\n"
	    "{\"path\": \"/y\", \"backends\": [\"127.0.0.1:1\"], \"sticky\": {\"ttl\": 5}},\n"
	    "{\"path\": \"/y\", \"backends\": [\"127.0.0.1:1\"], "
	    "\"health\": {\"type\": \"http\", \"status\": \"600\"}}]"));
	assert_true(has_msg(&e, "sites[0].routes[0]: missing key \"path\""));
	/* file:line:column of the value at fault. */
	assert_true(has_msg(&e, "t.json:4:2: sites[0].routes[1].path"));
	assert_true(has_msg(&e, "sites[0].routes[1].path: expected a path starting "
	    "with /"));
	assert_true(has_msg(&e, "sites[0].routes[2].names: not a route key"));
	assert_true(has_msg(&e, "sites[0].routes[2].http.h2: not per route"));
	assert_true(has_msg(&e, "sites[0].routes[2].http.nope: unknown key"));
	assert_true(has_msg(&e, "sites[0].routes[2].methods[0]: expected a method"));
	assert_true(has_msg(&e, "sites[0].routes[4].path: the same path as an earlier"));
	assert_true(has_msg(&e, "sites[0].routes[4].health.status: expected a status"));
	config_errors_clear(&e);
	assert_null(load(&e, ", \"mode\": \"tcp\", \"routes\": [], \"sticky\": "
	    "{\"cookie\": \"s\"}"));
	assert_true(has_msg(&e, "sites[0].routes: only for mode \"http\""));
	assert_true(has_msg(&e, "sites[0].sticky: only for mode \"http\""));
	config_errors_clear(&e);
	assert_null(load(&e, ", \"sticky\": {\"cookie\": \"a=b\"}"));
	assert_true(has_msg(&e, "sites[0].sticky.cookie: expected a cookie name"));
	config_errors_clear(&e);
}

/* One Cookie field "NAME=VALUE" from a Set-Cookie in h. */
static void
cookie_from(const struct hfields *set, struct hfields *req, const char *pre)
{
	const struct hfield	*f = hfields_get(set, "set-cookie");
	char			 v[256];
	size_t			 n;

	assert_non_null(f);
	n = strcspn(f->value, ";");
	snprintf(v, sizeof(v), "%s%.*s", pre, (int)n, f->value);
	hfields_add(req, "cookie", 6, v, strlen(v));
}

static void
test_sticky(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	struct pool		*p, *q;
	struct errbuf		 eb;
	struct hfields		 set = { 0 }, req = { 0 }, bad = { 0 };
	struct sticky_cfg	 sc = { .cookie = "SRV", .ttl = 0 };
	char			 dir[] = "/tmp/test_route.XXXXXX", path[64], v[256];
	const struct hfield	*f;
	struct stat		 st, st2;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sticky_key_load(dir, NULL, &eb), 0);
	snprintf(path, sizeof(path), "%s/sticky.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	c = load(&e, "");
	assert_non_null(c);
	p = pool_new("s.test", &c->sites[0], &eb);
	q = pool_new("other.test", &c->sites[0], &eb);
	assert_non_null(p);
	assert_non_null(p->sticky = sticky_new(&sc, p, "/", &eb));
	assert_non_null(q->sticky = sticky_new(&sc, q, "/", &eb));

	sticky_set_cookie(p->sticky, p->b[0], &set);
	f = hfields_get(&set, "set-cookie");
	assert_non_null(strstr(f->value, "; Path=/; Secure; HttpOnly"));
	assert_null(strstr(f->value, "127.0.0.1"));	/* opaque */
	cookie_from(&set, &req, "a=1; ");
	assert_ptr_equal(sticky_find(p->sticky, &req), p->b[0]);
	/* Another pool's cookie (same address, same name) is not obeyed. */
	assert_null(sticky_find(q->sticky, &req));
	/* A down backend is not returned. */
	atomic_store(&p->b[0]->up, 0);
	assert_null(sticky_find(p->sticky, &req));
	atomic_store(&p->b[0]->up, 1);
	/* Tampered: one character changed. */
	f = hfields_get(&req, "cookie");
	snprintf(v, sizeof(v), "%s", f->value);
	v[strlen(v) - 3] = v[strlen(v) - 3] == 'A' ? 'B' : 'A';
	hfields_add(&bad, "cookie", 6, v, strlen(v));
	assert_null(sticky_find(p->sticky, &bad));
	hfields_free(&bad);
	hfields_add(&bad, "cookie", 6, "SRV=x", 5);
	assert_null(sticky_find(p->sticky, &bad));
	hfields_free(&bad);
	/* The key file is reused: a cookie still verifies after a reload from it
	 * (a second load of the same folder keeps the key). */
	assert_int_equal(sticky_key_load(dir, NULL, &eb), 0);
	assert_ptr_equal(sticky_find(p->sticky, &req), p->b[0]);
	/* Through the (file) store: the same file, so the same key; a cookie
	 * made before still verifies. */
	{
		struct store *fs = store_open_file(dir, NULL, &eb);

		assert_non_null(fs);
		assert_int_equal(sticky_key_load(dir, fs, &eb), 0);
		assert_ptr_equal(sticky_find(p->sticky, &req), p->b[0]);
		store_close(fs);
	}
	/* A store without a key gets one made, mode 0600; cookies signed
	 * with the old key are then ignored. */
	{
		char other[] = "/tmp/test_route3.XXXXXX", p3[64], cmd[64];
		struct store *fs;

		assert_non_null(mkdtemp(other));
		assert_non_null(fs = store_open_file(other, "https://ca.test/dir", &eb));
		assert_int_equal(sticky_key_load(other, fs, &eb), 0);
		snprintf(p3, sizeof(p3), "%s/sticky.key", other);
		assert_int_equal(stat(p3, &st2), 0);
		assert_int_equal(st2.st_mode & 0777, 0600);
		assert_null(sticky_find(p->sticky, &req));
		store_close(fs);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", other);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(sticky_key_load(dir, NULL, &eb), 0);
		assert_ptr_equal(sticky_find(p->sticky, &req), p->b[0]);
	}
	/* A key readable by others is refused. */
	chmod(path, 0644);
	{
		char other[] = "/tmp/test_route2.XXXXXX", p2[64];
		assert_non_null(mkdtemp(other));
		snprintf(p2, sizeof(p2), "%s/sticky.key", other);
		assert_int_equal(link(path, p2), 0);
		assert_int_equal(sticky_key_load(other, NULL, &eb), -1);
		assert_non_null(strstr(eb.msg, "readable by others"));
		unlink(p2);
		rmdir(other);
	}
	unlink(path);
	rmdir(dir);
	hfields_free(&set);
	hfields_free(&req);
	pool_unref(p);
	pool_unref(q);
	config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_rule),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_sticky),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
