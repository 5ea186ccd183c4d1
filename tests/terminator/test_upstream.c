/*
 * test_upstream.c - the backend side of HTTP mode (upstream.h) over real
 * loopback sockets and a real libevent loop.
 *
 * The test plays the middle: it defines the hproxy_on_*() hooks that
 * upstream.c calls and records what they saw. A small backend runs in
 * threads of its own (blocking sockets, one thread per connection), parses
 * requests with llhttp, records them and answers each with a canned
 * response, or misbehaves as a test asks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <llhttp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "http/hstream.h"
#include "http/upstream.h"
#include "http/upstream_impl.h"
#include "log.h"
#include "pool.h"
#include "httpbe.h"
#include "testcert.h"

/* --- the middle, as the test plays it ---------------------------------- */

struct rec {
	int		 head, data, end, err, retry, up_was_null;
	enum hstream_err e;
	char		 why[128];
	size_t		 taken;
	int		 no_drain;	/* leave the body in st->resp_body */
	int		 keep_attached;	/* the test detaches, not on_resp_end */
	struct evbuffer	*got;
};

static int	n_finished;	/* streams that ended (end or error) */

void
hproxy_on_resp_head(struct hstream *st)
{
	struct rec *r = st->fe;

	r->head++;
}

static void
take_body(struct hstream *st)
{
	struct rec *r = st->fe;

	if (r->no_drain)
		return;
	evbuffer_remove_buffer(st->resp_body, r->got, evbuffer_get_length(st->resp_body));
	if (st->up != NULL)
		upstream_resume(st->up);
}

void
hproxy_on_resp_data(struct hstream *st)
{
	struct rec *r = st->fe;

	r->data++;
	take_body(st);
}

void
hproxy_on_resp_end(struct hstream *st)
{
	struct rec *r = st->fe;

	r->end++;
	take_body(st);
	n_finished++;
	/* As a middle may: let go from inside the hook. */
	if (!r->keep_attached)
		upstream_detach(st->up);
}

void
hproxy_on_error(struct hstream *st, enum hstream_err err, int retry, const char *why)
{
	struct rec *r = st->fe;

	r->err++;
	r->e = err;
	r->retry = retry;
	r->up_was_null = st->up == NULL;
	snprintf(r->why, sizeof(r->why), "%s", why);
	n_finished++;
}

/* No session to hold: the hooks above run as they are called. */
struct hsess *
hproxy_hold(struct hstream *st)
{
	(void)st;
	return NULL;
}

void
hproxy_unhold(struct hsess *held)
{
	(void)held;
}

void
hproxy_on_body_taken(struct hstream *st, size_t n)
{
	struct rec *r = st->fe;

	r->taken += n;
}

/* --- fixture ------------------------------------------------------------ */

struct fx {
	struct event_base	*base;
	struct event		*tick;
	struct upstream_pool	*up;
	struct httpbe		 be;
	int			 be_on;
	struct backend		 b;
	struct pool		 p;
	struct upstream_opts	 o;
	int			 loglines;
};

static void
log_sink(enum log_level lvl, const char *line, void *arg)
{
	struct fx *f = arg;

	(void)lvl;
	(void)line;
	f->loglines++;
	if (getenv("TEST_UPSTREAM_LOG") != NULL)
		fprintf(stderr, "%s\n", line);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void
backend_init(struct backend *b, int port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&b->ss;

	memset(b, 0, sizeof(*b));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->len = sizeof(*sin);
	b->str = malloc(32);
	snprintf(b->str, 32, "127.0.0.1:%d", port);
	b->site = strdup("app.test");
	atomic_store(&b->up, 1);
	pthread_mutex_init(&b->sess_mtx, NULL);
}

static void
backend_cleanup(struct backend *b)
{
	free(b->str);
	free(b->site);
	SSL_SESSION_free(b->session);
	pthread_mutex_destroy(&b->sess_mtx);
}

static int
setup(void **state)
{
	struct fx	*f = calloc(1, sizeof(*f));
	struct timeval	 tv = { 0, 2000 };

	f->base = event_base_new();
	/* A steady tick so that waiting on a condition never blocks for long. */
	f->tick = event_new(f->base, -1, EV_PERSIST, on_tick, NULL);
	event_add(f->tick, &tv);
	f->up = upstream_pool_new(f->base);
	f->p.site = (char *)"app.test";
	f->p.fall = 1000;
	f->o.connect_timeout = 5;
	f->o.response_timeout = 5;
	f->o.body_timeout = 5;
	f->o.max_idle = 4;
	f->o.idle_timeout = 30;
	log_set_sink(log_sink, f);
	log_set_level(LOG_LVL_DEBUG);
	n_finished = 0;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	upstream_pool_free(f->up);
	if (f->be_on)
		httpbe_stop(&f->be);
	backend_cleanup(&f->b);
	event_free(f->tick);
	event_base_free(f->base);
	if (f->p.tls_ctx != NULL)
		SSL_CTX_free(f->p.tls_ctx);
	free(f->p.tls_name);
	log_set_sink(NULL, NULL);
	log_set_level(LOG_LVL_INFO);
	free(f);
	return 0;
}

static void
fx_backend(struct fx *f, httpbe_fn *fn, const char *resp, SSL_CTX *sctx)
{
	httpbe_start(&f->be, fn, resp, sctx);
	f->be_on = 1;
	backend_init(&f->b, f->be.port);
}

static struct hstream *
mkstream(const char *method, enum hmethod m, const char *target, struct rec *r)
{
	struct hstream *st = calloc(1, sizeof(*st));

	memset(r, 0, sizeof(*r));
	r->got = evbuffer_new();
	st->req.method = strdup(method);
	st->req.m = m;
	st->req.target = strdup(target);
	st->req.authority = strdup("app.test");
	st->req.authority_len = strlen(st->req.authority);
	st->req.version = 11;
	st->req.clen = -1;
	st->resp.clen = -1;
	st->req_body = evbuffer_new();
	st->resp_body = evbuffer_new();
	st->fe = r;
	return st;
}

static void
freestream(struct hstream *st)
{
	struct rec *r = st->fe;

	if (st->up != NULL)
		upstream_detach(st->up);
	hfields_free(&st->req.h);
	hfields_free(&st->resp.h);
	free(st->req.method);
	free(st->req.target);
	free(st->req.authority);
	evbuffer_free(st->req_body);
	evbuffer_free(st->resp_body);
	evbuffer_free(r->got);
	free(st);
}

/* Run the loop until pred(arg) holds; fail after a generous hang guard. */
static void
run_until(struct fx *f, int (*pred)(struct fx *, void *), void *arg)
{
	time_t deadline = time(NULL) + 20;

	while (!pred(f, arg)) {
		assert_true(time(NULL) < deadline);
		event_base_loop(f->base, EVLOOP_ONCE);
	}
}

static int
rec_finished(struct fx *f, void *arg)
{
	struct rec *r = arg;

	(void)f;
	return r->end > 0 || r->err > 0;
}

static int
all_finished(struct fx *f, void *arg)
{
	(void)f;
	return n_finished >= *(int *)arg;
}

static int
be_has_req(struct fx *f, void *arg)
{
	int n;

	(void)arg;
	pthread_mutex_lock(&f->be.mtx);
	n = f->be.nreqs;
	pthread_mutex_unlock(&f->be.mtx);
	return n > 0;
}

static int
idle_is(struct fx *f, void *arg)
{
	return atomic_load(&f->b.conns_idle) == *(int *)arg;
}

/* The body the middle collected, as a new string. */
static char *
got(struct rec *r)
{
	size_t	 n = evbuffer_get_length(r->got);
	char	*s = malloc(n + 1);

	evbuffer_copyout(r->got, s, n);
	s[n] = '\0';
	return s;
}

static void
start(struct fx *f, struct hstream *st)
{
	assert_int_equal(upstream_start(f->up, st, &f->p, &f->b, &f->o), 0);
	assert_non_null(st->up);
}

/* One GET through the pool; returns the stream (finished). */
static struct hstream *
get(struct fx *f, const char *target, struct rec *r)
{
	struct hstream *st = mkstream("GET", HM_GET, target, r);

	start(f, st);
	run_until(f, rec_finished, r);
	return st;
}

#define OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-B: yes\r\n\r\nhello"

/* --- tests --------------------------------------------------------------- */

static void
test_get(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	struct httpbe_req	 q;
	char		*body;

	fx_backend(f, httpbe_canned, OK_HELLO, NULL);
	st = mkstream("GET", HM_GET, "/hello?x=1", &r);
	hfields_add(&st->req.h, "X-Test", 6, "one", 3);
	start(f, st);
	assert_int_equal(atomic_load(&f->b.active), 1);
	assert_int_equal(atomic_load(&f->b.conns_busy), 1);
	run_until(f, rec_finished, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.head, 1);
	assert_int_equal(r.end, 1);
	assert_int_equal(st->resp.status, 200);
	assert_int_equal(st->resp.clen, 5);
	assert_true(st->resp.body);
	assert_true(st->resp_done);
	assert_null(hfields_get(&st->resp.h, "content-length"));
	assert_string_equal(hfields_get(&st->resp.h, "x-b")->value, "yes");
	assert_string_equal(body = got(&r), "hello");
	free(body);
	assert_null(st->up);		/* detached in on_resp_end */
	assert_false(st->reused);
	q = httpbe_req_get(&f->be, 0);
	assert_string_equal(q.method, "GET");
	assert_string_equal(q.url, "/hello?x=1");
	assert_non_null(strstr(q.head, "host: app.test\n"));
	assert_non_null(strstr(q.head, "x-test: one\n"));
	assert_null(strstr(q.head, "content-length"));
	assert_null(strstr(q.head, "transfer-encoding"));
	free(q.body);
	assert_int_equal(atomic_load(&f->b.active), 0);
	assert_int_equal(atomic_load(&f->b.conns_busy), 0);
	assert_int_equal(atomic_load(&f->b.conns_idle), 1);
	assert_int_equal(atomic_load(&f->b.total), 1);
	assert_true(f->loglines > 0);	/* debug lines: opened, connected, idle */
	freestream(st);
}

static void
test_reuse_sequential(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	char		*body;

	fx_backend(f, httpbe_canned, OK_HELLO, NULL);
	for (int i = 0; i < 10; i++) {
		st = get(f, "/n", &r);
		assert_int_equal(r.end, 1);
		assert_int_equal(st->reused, i > 0);
		assert_string_equal(body = got(&r), "hello");
		free(body);
		freestream(st);
	}
	assert_int_equal(httpbe_accepts(&f->be), 1);
	assert_int_equal(atomic_load(&f->b.reuses), 9);
	assert_int_equal(atomic_load(&f->b.total), 10);
	assert_int_equal(atomic_load(&f->b.conns_idle), 1);
}

static void
test_chunked_response(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	char		*body;

	fx_backend(f, httpbe_canned, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Connection: keep-alive, x-hop\r\nX-Hop: 1\r\nX-Empty:\r\nX-End: 2 \r\n\r\n"
	    "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n", NULL);
	for (int i = 0; i < 2; i++) {
		st = get(f, "/c", &r);
		assert_int_equal(r.end, 1);
		assert_int_equal(st->resp.clen, -1);
		assert_true(st->resp.body);
		assert_string_equal(body = got(&r), "hello world!");
		free(body);
		/* Hop-by-hop fields, and those Connection names, are gone. */
		assert_null(hfields_get(&st->resp.h, "transfer-encoding"));
		assert_null(hfields_get(&st->resp.h, "connection"));
		assert_null(hfields_get(&st->resp.h, "x-hop"));
		assert_string_equal(hfields_get(&st->resp.h, "x-empty")->value, "");
		assert_string_equal(hfields_get(&st->resp.h, "x-end")->value, "2");
		assert_int_equal(st->resp.h.n, 2);
		freestream(st);
	}
	assert_int_equal(httpbe_accepts(&f->be), 1);
}

static int
be_then_close(struct httpbe_conn *c, const struct httpbe_req *r)
{
	httpbe_canned(c, r);
	return -1;
}

static void
test_close_delimited(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	char		*body;

	fx_backend(f, be_then_close, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
	    "until the end", NULL);
	st = get(f, "/eof", &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.end, 1);
	assert_int_equal(st->resp.clen, -1);
	assert_string_equal(body = got(&r), "until the end");
	free(body);
	assert_int_equal(atomic_load(&f->b.conns_idle), 0);	/* not pooled */
	freestream(st);
}

static void
test_head(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	char		*body;

	fx_backend(f, httpbe_canned, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", NULL);
	st = mkstream("HEAD", HM_HEAD, "/h", &r);
	start(f, st);
	run_until(f, rec_finished, &r);
	assert_int_equal(r.end, 1);
	assert_false(st->resp.body);
	assert_int_equal(st->resp.clen, 100);
	assert_int_equal(evbuffer_get_length(r.got), 0);
	freestream(st);
	/* A 304 may carry the representation's Content-Length: no body either. */
	httpbe_set_resp(&f->be, "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n"
	    "ETag: \"x\"\r\n\r\n");
	st = get(f, "/cached", &r);
	assert_int_equal(r.end, 1);
	assert_int_equal(st->resp.status, 304);
	assert_false(st->resp.body);
	assert_true(st->reused);
	freestream(st);
	/* Had the parser waited for 100 body bytes, this would not work. */
	httpbe_set_resp(&f->be, OK_HELLO);
	st = get(f, "/after-head", &r);
	assert_int_equal(r.end, 1);
	assert_true(st->reused);
	assert_string_equal(body = got(&r), "hello");
	free(body);
	freestream(st);
	assert_int_equal(httpbe_accepts(&f->be), 1);
}

static void
test_interim_100(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	char		*body;

	fx_backend(f, httpbe_canned, "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
	    "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", NULL);
	st = mkstream("PUT", HM_PUT, "/u", &r);
	hfields_add(&st->req.h, "expect", 6, "100-continue", 12);
	st->req.clen = 3;
	st->req.body = 1;
	evbuffer_add(st->req_body, "abc", 3);
	st->req_done = 1;
	start(f, st);
	run_until(f, rec_finished, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.head, 1);
	assert_int_equal(st->resp.status, 201);
	assert_null(hfields_get(&st->resp.h, "link"));	/* the 103's field */
	assert_string_equal(body = got(&r), "ok");
	free(body);
	freestream(st);
}

static void
test_request_body_clen(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	struct httpbe_req	 q;
	size_t		 big = 300000;
	char		*data = malloc(big);

	for (size_t i = 0; i < big; i++)
		data[i] = (char)('a' + i % 26);
	fx_backend(f, httpbe_canned, OK_HELLO, NULL);
	st = mkstream("POST", HM_POST, "/up", &r);
	st->req.clen = (int64_t)big;
	st->req.body = 1;
	evbuffer_add(st->req_body, data, 1000);	/* the first bytes with the head */
	start(f, st);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	evbuffer_add(st->req_body, data + 1000, big - 1000);
	st->req_done = 1;
	upstream_body(st->up);
	run_until(f, rec_finished, &r);
	assert_int_equal(r.end, 1);
	assert_int_equal(r.taken, big);
	assert_int_equal(st->req_body_sent, big);
	assert_int_equal(evbuffer_get_length(st->req_body), 0);
	q = httpbe_req_get(&f->be, 0);
	assert_string_equal(q.method, "POST");
	assert_non_null(strstr(q.head, "content-length: 300000\n"));
	assert_null(strstr(q.head, "transfer-encoding"));
	assert_non_null(q.body);
	assert_memory_equal(q.body, data, big);
	free(q.body);
	free(data);
	freestream(st);
}

static void
test_request_body_chunked(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	struct httpbe_req	 q;

	fx_backend(f, httpbe_canned, OK_HELLO, NULL);
	st = mkstream("POST", HM_POST, "/chunks", &r);
	st->req.body = 1;		/* length unknown: chunked */
	evbuffer_add(st->req_body, "abc", 3);
	start(f, st);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	evbuffer_add(st->req_body, "defgh", 5);
	upstream_body(st->up);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	evbuffer_add(st->req_body, "ij", 2);
	st->req_done = 1;
	upstream_body(st->up);
	run_until(f, rec_finished, &r);
	assert_int_equal(r.end, 1);
	assert_int_equal(r.taken, 10);
	q = httpbe_req_get(&f->be, 0);
	assert_non_null(strstr(q.head, "transfer-encoding: chunked\n"));
	assert_null(strstr(q.head, "content-length"));
	assert_string_equal(q.body, "abcdefghij");
	free(q.body);
	freestream(st);
	/* The connection is reusable after a chunked request. */
	st = get(f, "/next", &r);
	assert_true(st->reused);
	freestream(st);
	/* POST without a body: content-length 0. */
	st = mkstream("POST", HM_POST, "/empty", &r);
	start(f, st);
	run_until(f, rec_finished, &r);
	q = httpbe_req_get(&f->be, 2);
	assert_non_null(strstr(q.head, "content-length: 0\n"));
	free(q.body);
	freestream(st);
}

static void
test_idle_closed_by_backend(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;

	fx_backend(f, be_then_close, OK_HELLO, NULL);
	st = get(f, "/1", &r);
	assert_int_equal(r.end, 1);
	freestream(st);
	/* Pooled, then the backend closes it: the idle watch sees the EOF. */
	run_until(f, idle_is, &(int){ 0 });
	st = get(f, "/2", &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.end, 1);
	assert_false(st->reused);
	freestream(st);
	assert_int_equal(httpbe_accepts(&f->be), 2);
	assert_int_equal(atomic_load(&f->b.reuses), 0);
}

/* Answers a connection's first request; closes at the second, unanswered. */
static int
be_drop_second(struct httpbe_conn *c, const struct httpbe_req *r)
{
	if (r->reqno >= 1)
		return -1;
	return httpbe_canned(c, r);
}

static void
reused_closed(struct fx *f, const char *method, enum hmethod m, int want_retry)
{
	struct rec	 r;
	struct hstream	*st;

	fx_backend(f, be_drop_second, OK_HELLO, NULL);
	st = get(f, "/first", &r);
	assert_int_equal(r.end, 1);
	freestream(st);
	st = mkstream(method, m, "/second", &r);
	start(f, st);
	assert_true(st->reused);
	run_until(f, rec_finished, &r);
	assert_int_equal(r.err, 1);
	assert_int_equal(r.e, HSE_BACKEND);
	assert_int_equal(r.retry, want_retry);
	assert_true(r.up_was_null);
	assert_non_null(strstr(r.why, "before responding"));
	assert_null(st->up);
	assert_int_equal(atomic_load(&f->b.active), 0);
	assert_int_equal(atomic_load(&f->b.conns_busy), 0);
	freestream(st);
}

static void
test_reused_closed_get_retries(void **state)
{
	reused_closed(*state, "GET", HM_GET, 1);
}

static void
test_reused_closed_post_does_not(void **state)
{
	reused_closed(*state, "POST", HM_POST, 0);
}

static void
test_connect_refused(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	int		 port, fd = httpbe_listen_any(&port);

	close(fd);		/* nothing listens there now */
	backend_init(&f->b, port);
	st = mkstream("GET", HM_GET, "/", &r);
	start(f, st);
	run_until(f, rec_finished, &r);
	assert_int_equal(r.err, 1);
	assert_int_equal(r.e, HSE_CONNECT);
	assert_int_equal(r.retry, 1);
	assert_true(r.up_was_null);
	assert_int_equal(atomic_load(&f->b.failures), 1);
	assert_int_equal(atomic_load(&f->b.passive_fails), 1);
	assert_int_equal(atomic_load(&f->b.active), 0);
	freestream(st);
}

static int
be_silent(struct httpbe_conn *c, const struct httpbe_req *r)
{
	(void)c;
	(void)r;
	return 0;
}

static void
test_response_timeout(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;

	fx_backend(f, be_silent, NULL, NULL);
	f->o.response_timeout = 0.2;
	st = get(f, "/slow", &r);
	assert_int_equal(r.err, 1);
	assert_int_equal(r.e, HSE_TIMEOUT);
	assert_int_equal(r.retry, 0);
	assert_int_equal(r.head, 0);
	freestream(st);
}

static void
test_garbage(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;

	fx_backend(f, httpbe_canned, "HELLO THERE\r\n\r\n", NULL);
	st = get(f, "/g", &r);
	assert_int_equal(r.err, 1);
	assert_int_equal(r.e, HSE_BACKEND);
	assert_int_equal(r.retry, 0);
	assert_non_null(strstr(r.why, "bad response"));
	freestream(st);
}

static int
idle_at_most(struct fx *f, void *arg)
{
	return atomic_load(&f->b.conns_idle) <= *(int *)arg;
}

static void
test_max_idle(void **state)
{
	struct fx	*f = *state;
	struct rec	 r[4];
	struct hstream	*st[4];
	int		 four = 4;

	fx_backend(f, httpbe_canned, OK_HELLO, NULL);
	f->o.max_idle = 2;
	for (int i = 0; i < 4; i++) {
		st[i] = mkstream("GET", HM_GET, "/p", &r[i]);
		start(f, st[i]);
	}
	run_until(f, all_finished, &four);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].end, 1);
		freestream(st[i]);
	}
	assert_int_equal(httpbe_accepts(&f->be), 4);
	/* Right after the burst all four wait idle; the two past max_idle
	 * close a second later. */
	assert_int_equal(atomic_load(&f->b.conns_idle), 4);
	run_until(f, idle_at_most, &(int){ 2 });
	assert_int_equal(atomic_load(&f->b.conns_idle), 2);
	assert_int_equal(f->up->nconns, 2);
}

static int
be_big(struct httpbe_conn *c, const struct httpbe_req *r)
{
	char		chunk[8192];
	char		hdr[128];
	size_t		total = 1 << 20;

	(void)r;
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('A' + i % 26);
	snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", total);
	if (httpbe_write(c, hdr, strlen(hdr)) == -1)
		return -1;
	for (size_t sent = 0; sent < total; sent += sizeof(chunk))
		if (httpbe_write(c, chunk, sizeof(chunk)) == -1)
			return -1;
	return 0;
}

static int
paused(struct fx *f, void *arg)
{
	struct hstream *st = arg;

	(void)f;
	return st->up != NULL && st->up->paused;
}

static void
test_back_pressure(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	size_t		 held, total = 0;
	char		 buf[8192];

	fx_backend(f, be_big, NULL, NULL);
	st = mkstream("GET", HM_GET, "/big", &r);
	start(f, st);
	r.no_drain = 1;
	run_until(f, paused, st);
	held = evbuffer_get_length(st->resp_body);
	assert_true(held >= HSTREAM_RESP_HIGH);
	assert_true(held < HSTREAM_RESP_HIGH + 16384 + 1);
	/* Paused: the backend's fd is not watched for reading. */
	assert_int_equal(st->up->ev_on & EV_READ, 0);
	for (int i = 0; i < 50; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(evbuffer_get_length(st->resp_body), held);
	assert_int_equal(r.end, 0);
	/* Drain it all, resuming each time, as a frontend would. */
	while (r.end == 0) {
		assert_int_equal(r.err, 0);
		size_t n;
		while ((n = (size_t)evbuffer_remove(st->resp_body, buf, sizeof(buf))) > 0) {
			for (size_t i = 0; i < n; i++)
				assert_int_equal(buf[i], 'A' + (total + i) % 8192 % 26);
			total += n;
		}
		if (st->up != NULL)
			upstream_resume(st->up);
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	while (evbuffer_get_length(st->resp_body) > 0) {
		size_t n = (size_t)evbuffer_remove(st->resp_body, buf, sizeof(buf));
		for (size_t i = 0; i < n; i++)
			assert_int_equal(buf[i], 'A' + (total + i) % 8192 % 26);
		total += n;
	}
	assert_int_equal(total, 1 << 20);
	assert_int_equal(st->resp_body_bytes, 1 << 20);
	freestream(st);
}

static void
test_extra_bytes_not_reused(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	char		*body;

	/* A second, unasked-for response after the first. */
	fx_backend(f, httpbe_canned, OK_HELLO "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	    NULL);
	st = get(f, "/x", &r);
	assert_int_equal(r.end, 1);
	assert_string_equal(body = got(&r), "hello");
	free(body);
	freestream(st);
	assert_int_equal(atomic_load(&f->b.conns_idle), 0);
	assert_int_equal(f->up->nconns, 0);
}

static void
test_upgrade_refused(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;

	fx_backend(f, httpbe_canned, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n", NULL);
	st = get(f, "/ws", &r);
	assert_int_equal(r.err, 1);
	assert_int_equal(r.e, HSE_BACKEND);
	assert_int_equal(r.retry, 0);
	assert_int_equal(r.head, 0);
	freestream(st);
}

static int
be_half_body(struct httpbe_conn *c, const struct httpbe_req *r)
{
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";

	(void)r;
	return httpbe_write(c, s, strlen(s));
}

static void
test_body_timeout(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;

	fx_backend(f, be_half_body, NULL, NULL);
	f->o.body_timeout = 0.2;
	st = get(f, "/stall", &r);
	assert_int_equal(r.head, 1);
	assert_int_equal(r.err, 1);
	assert_int_equal(r.e, HSE_TIMEOUT);
	assert_int_equal(r.retry, 0);
	assert_int_equal(evbuffer_get_length(r.got), 3);
	assert_int_equal(f->up->nconns, 0);
	freestream(st);
}

static void
test_sweep_and_no_reuse(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;

	fx_backend(f, httpbe_canned, OK_HELLO, NULL);
	st = get(f, "/1", &r);
	freestream(st);
	assert_int_equal(atomic_load(&f->b.conns_idle), 1);
	upstream_pool_sweep(f->up);		/* not removed: kept */
	assert_int_equal(atomic_load(&f->b.conns_idle), 1);
	atomic_store(&f->b.removed_at, 1);
	upstream_pool_sweep(f->up);
	assert_int_equal(atomic_load(&f->b.conns_idle), 0);
	assert_int_equal(f->up->nconns, 0);
	atomic_store(&f->b.removed_at, 0);
	/* max_idle 0: no connection is kept. */
	f->o.max_idle = 0;
	st = get(f, "/2", &r);
	assert_int_equal(r.end, 1);
	freestream(st);
	assert_int_equal(atomic_load(&f->b.conns_idle), 0);
	assert_int_equal(f->up->nconns, 0);
	assert_int_equal(httpbe_accepts(&f->be), 2);
}

/* The middle lets go of a stream mid-exchange (the client went away). */
static void
test_detach_mid_exchange(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;

	fx_backend(f, be_silent, NULL, NULL);
	st = mkstream("GET", HM_GET, "/gone", &r);
	start(f, st);
	run_until(f, be_has_req, NULL);
	upstream_detach(st->up);
	assert_null(st->up);
	assert_int_equal(f->up->nconns, 0);
	assert_int_equal(atomic_load(&f->b.active), 0);
	assert_int_equal(atomic_load(&f->b.conns_busy), 0);
	assert_int_equal(r.err + r.end, 0);
	freestream(st);
}

/* --- re-encryption --------------------------------------------------------- */

static X509 *
pem_cert(const char *pem)
{
	BIO	*bio = BIO_new_mem_buf(pem, -1);
	X509	*x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	BIO_free(bio);
	return x;
}

/* A backend TLS context for backend.test, and a client context that
 * trusts its self-signed certificate. */
static void
tls_contexts(SSL_CTX **server, SSL_CTX **client)
{
	char		*cert, *key;
	X509		*x;
	EVP_PKEY	*pk;
	BIO		*bio;

	assert_int_equal(testcert_make("ec", "backend.test", 30, &cert, &key), 0);
	assert_non_null(*server = SSL_CTX_new(TLS_method()));
	assert_non_null(x = pem_cert(cert));
	assert_int_equal(SSL_CTX_use_certificate(*server, x), 1);
	bio = BIO_new_mem_buf(key, -1);
	assert_non_null(pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL));
	BIO_free(bio);
	assert_int_equal(SSL_CTX_use_PrivateKey(*server, pk), 1);
	EVP_PKEY_free(pk);
	assert_non_null(*client = SSL_CTX_new(TLS_method()));
	SSL_CTX_set_verify(*client, SSL_VERIFY_PEER, NULL);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(*client), x), 1);
	X509_free(x);
	free(cert);
	free(key);
}

static void
test_tls_backend(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	SSL_CTX		*sctx;
	char		*body;

	tls_contexts(&sctx, &f->p.tls_ctx);
	f->p.tls_name = strdup("backend.test");
	f->p.tls_verify = 1;
	fx_backend(f, httpbe_canned, OK_HELLO, sctx);
	for (int i = 0; i < 3; i++) {
		st = get(f, "/tls", &r);
		assert_int_equal(r.err, 0);
		assert_int_equal(r.end, 1);
		assert_int_equal(st->reused, i > 0);
		assert_string_equal(body = got(&r), "hello");
		free(body);
		freestream(st);
	}
	/* A body larger than many TLS records, chunked, on the same connection. */
	{
		size_t		 big = 200000;
		char		*data = malloc(big);
		struct httpbe_req	 q;

		for (size_t i = 0; i < big; i++)
			data[i] = (char)('a' + i % 23);
		st = mkstream("PUT", HM_PUT, "/tls-up", &r);
		st->req.body = 1;
		evbuffer_add(st->req_body, data, big);
		st->req_done = 1;
		start(f, st);
		run_until(f, rec_finished, &r);
		assert_int_equal(r.end, 1);
		assert_true(st->reused);
		assert_int_equal(r.taken, big);
		q = httpbe_req_get(&f->be, 3);
		assert_non_null(strstr(q.head, "transfer-encoding: chunked\n"));
		assert_non_null(q.body);
		assert_memory_equal(q.body, data, big);
		free(q.body);
		free(data);
		freestream(st);
	}
	assert_int_equal(httpbe_accepts(&f->be), 1);
	/* Stop the backend before its context goes. */
	upstream_pool_free(f->up);
	f->up = upstream_pool_new(f->base);
	httpbe_stop(&f->be);
	f->be_on = 0;
	SSL_CTX_free(sctx);
}

static void
test_tls_backend_bad_name(void **state)
{
	struct fx	*f = *state;
	struct rec	 r;
	struct hstream	*st;
	SSL_CTX		*sctx;

	tls_contexts(&sctx, &f->p.tls_ctx);
	f->p.tls_name = strdup("other.test");
	f->p.tls_verify = 1;
	fx_backend(f, httpbe_canned, OK_HELLO, sctx);
	st = get(f, "/tls", &r);
	assert_int_equal(r.err, 1);
	assert_int_equal(r.e, HSE_CONNECT);
	assert_int_equal(r.retry, 1);
	assert_non_null(strstr(r.why, "certificate verify failed"));
	assert_int_equal(atomic_load(&f->b.failures), 1);
	assert_int_equal(r.head, 0);
	freestream(st);
	httpbe_stop(&f->be);
	f->be_on = 0;
	SSL_CTX_free(sctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_sequential, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chunked_response, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_delimited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interim_100, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_body_clen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_body_chunked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_closed_by_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reused_closed_get_retries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reused_closed_post_does_not, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_response_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extra_bytes_not_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_and_no_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_mid_exchange, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_backend_bad_name, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
