/*
 * test_h2.c - HTTP/2 client side (terminator/http/h2.c), driven in memory:
 * a real hsess on a real event base, fed by a real nghttp2 client session,
 * or by frames written by hand for the floods. No sockets: bytes go from
 * the client to hsess_input() and from hsess_output() to the client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "config.h"
#include "errbuf.h"
#include "h2_impl.h"
#include "h2mem.h"
#include "hsess.h"
#include "hsess_impl.h"
#include "pool.h"
#include "sites.h"
#include "testcert.h"
#include "upstream.h"
#include "worker.h"

static char tmpdir[] = "/tmp/tlsgate-h2-XXXXXX";

struct fx {
	struct event_base	*base;
	struct worker		 w;
	struct config		*cfg;
	struct view		*view;
	struct site		*a, *b;
	struct sockaddr_storage	 peer;
	struct hsess		*s;
	int			 kicks;
	/* The nghttp2 client, when used. */
	nghttp2_session		*cl;
	struct evbuffer		*c2s;		/* client bytes not yet fed */
	int			 status[2048];	/* by stream id */
	int			 closed[2048];
	size_t			 body[2048];
	unsigned		 nclosed;
	int			 goaway;	/* error code + 1 */
	int			 refused;	/* RST_STREAM(REFUSED_STREAM) seen */
	unsigned		 max_open;	/* server streams seen at once */
	unsigned		 ping_acks;	/* PING acknowledgements received */
	char			 ctype[64];	/* the last content-type received */
};

static void
kick(void *arg)
{
	struct fx *fx = arg;

	fx->kicks++;
}

static struct config *
two_sites(void)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	char			*t, *cert, *key, *p[2][2];
	const char		*names[2] = { "a.test", "b.test" };

	for (int i = 0; i < 2; i++) {
		char n1[16], n2[16];
		testcert_make("ec", names[i], 30, &cert, &key);
		snprintf(n1, sizeof(n1), "%d.pem", i);
		snprintf(n2, sizeof(n2), "%d.key", i);
		p[i][0] = testcert_write(tmpdir, n1, cert, 0644);
		p[i][1] = testcert_write(tmpdir, n2, key, 0600);
		free(cert);
		free(key);
	}
	if (asprintf(&t, "{\"listen\": {\"https\": [\"127.0.0.1:1\"]}, \"sites\": ["
	    "{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:1\"], \"certificates\":"
	    " [{\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"b.test\"], \"backends\": [\"127.0.0.1:2\"], \"certificates\":"
	    " [{\"cert\": \"%s\", \"key\": \"%s\"}]}]}",
	    p[0][0], p[0][1], p[1][0], p[1][1]) < 0)
		return NULL;
	c = config_load_text("t.json", t, strlen(t), &e);
	for (size_t i = 0; i < e.n; i++)
		printf("  %s\n", e.msgs[i]);
	config_errors_clear(&e);
	free(t);
	for (int i = 0; i < 2; i++) {
		free(p[i][0]);
		free(p[i][1]);
	}
	return c;
}

/* Every backend of site down, held down: requests get 503. */
static void
all_down(struct site *site)
{
	for (size_t i = 0; i < site->pool->n; i++) {
		atomic_store(&site->pool->b[i]->up, 0);
		atomic_store(&site->pool->b[i]->down_until, (long)time(NULL) + 3600);
	}
}

static int
setup(void **state)
{
	struct fx		*fx = calloc(1, sizeof(*fx));
	struct sockaddr_in	*sin = (struct sockaddr_in *)&fx->peer;
	struct errbuf		 eb;

	fx->base = event_base_new();
	fx->w.base = fx->base;
	fx->w.upool = upstream_pool_new(fx->base);
	fx->cfg = two_sites();
	assert_non_null(fx->cfg);
	fx->view = view_build(fx->cfg, NULL, &eb);
	assert_non_null(fx->view);
	fx->view->http.h2_max_streams = 100;
	fx->view->http.max_header_size = 16384;
	fx->view->http.max_headers = 50;
	fx->view->http.max_uri = 1024;
	fx->view->http.keepalive_timeout = 60;
	fx->view->http.header_timeout = 10;
	fx->a = view_lookup(fx->view, "a.test");
	fx->b = view_lookup(fx->view, "b.test");
	assert_string_equal(fx->a->names[0], "a.test");
	assert_string_equal(fx->b->names[0], "b.test");
	all_down(fx->a);
	all_down(fx->b);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	sin->sin_addr.s_addr = htonl(0x7f000001);
	fx->c2s = evbuffer_new();
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	hsess_free(fx->s);
	nghttp2_session_del(fx->cl);
	evbuffer_free(fx->c2s);
	upstream_pool_free(fx->w.upool);
	view_unref(fx->view);
	config_free(fx->cfg);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

/* The session of a connection whose SNI named site a.test. */
static void
start_session(struct fx *fx)
{
	struct hsess_conn hc = { 0 };

	hc.w = &fx->w;
	hc.view = fx->view;
	hc.site = fx->a;
	hc.sni_matched = 1;
	hc.peer = &fx->peer;
	hc.conn_id = 1;
	hc.kick = kick;
	hc.arg = fx;
	fx->s = hsess_new(HSESS_H2, &hc);
	assert_non_null(fx->s);
}

/* --- the nghttp2 client ---------------------------------------------- */

static ssize_t
cl_send(nghttp2_session *ng, const uint8_t *p, size_t n, int flags, void *arg)
{
	struct fx *fx = arg;

	(void)ng;
	(void)flags;
	evbuffer_add(fx->c2s, p, n);
	return (ssize_t)n;
}

static int
cl_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct fx *fx = arg;

	(void)ng;
	(void)flags;
	if (f->hd.type == NGHTTP2_HEADERS && nlen == 7 && memcmp(name, ":status", 7) == 0 &&
	    f->hd.stream_id < 2048)
		fx->status[f->hd.stream_id] = atoi((const char *)value) + 0 * (int)vlen;
	if (f->hd.type == NGHTTP2_HEADERS && nlen == 12 &&
	    memcmp(name, "content-type", 12) == 0)
		snprintf(fx->ctype, sizeof(fx->ctype), "%.*s", (int)vlen, value);
	return 0;
}

static int
cl_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *p, size_t n,
    void *arg)
{
	struct fx *fx = arg;

	(void)ng;
	(void)flags;
	(void)p;
	if (id < 2048)
		fx->body[id] += n;
	return 0;
}

static int
cl_on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct fx *fx = arg;

	(void)ng;
	if (f->hd.type == NGHTTP2_GOAWAY)
		fx->goaway = (int)f->goaway.error_code + 1;
	if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK))
		fx->ping_acks++;
	if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code ==
	    NGHTTP2_REFUSED_STREAM)
		fx->refused++;
	return 0;
}

static int
cl_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct fx *fx = arg;

	(void)ng;
	(void)code;
	if (id < 2048)
		fx->closed[id] = 1;
	fx->nclosed++;
	return 0;
}

static void
client_new(struct fx *fx)
{
	nghttp2_session_callbacks	*cb;

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, cl_send);
	nghttp2_session_callbacks_set_on_header_callback(cb, cl_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cl_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cl_on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, cl_on_close);
	assert_int_equal(nghttp2_session_client_new(&fx->cl, cb, fx), 0);
	nghttp2_session_callbacks_del(cb);
	assert_int_equal(nghttp2_submit_settings(fx->cl, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

/*
 * Move bytes both ways and run the loop until nothing moves (bounded).
 * Returns the last hsess_input() result that failed (-1), or 0.
 */
static int
pump(struct fx *fx)
{
	int rc = 0;

	for (int round = 0; round < 10000; round++) {
		int		 moved = 0;
		size_t		 n;
		struct evbuffer	*out;

		if (fx->cl != NULL && nghttp2_session_want_write(fx->cl))
			assert_true(nghttp2_session_send(fx->cl) == 0);
		if ((n = evbuffer_get_length(fx->c2s)) > 0 &&
		    hsess_state(fx->s) == HSESS_OPEN && hsess_wants_input(fx->s)) {
			ssize_t r = hsess_input(fx->s, evbuffer_pullup(fx->c2s, -1), n);
			if (r < 0) {
				rc = -1;
				evbuffer_drain(fx->c2s, n);
			} else
				evbuffer_drain(fx->c2s, (size_t)r);
			moved = 1;
		}
		if (fx->s->nstreams > fx->max_open)
			fx->max_open = fx->s->nstreams;
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		if (hsess_state(fx->s) == HSESS_ABORT)
			return -1;
		out = hsess_output(fx->s);
		if ((n = evbuffer_get_length(out)) > 0) {
			if (fx->cl != NULL) {
				ssize_t r = nghttp2_session_mem_recv(fx->cl,
				    evbuffer_pullup(out, -1), n);
				if (r < 0)
					printf("  client: %s\n", nghttp2_strerror((int)r));
			}
			evbuffer_drain(out, n);
			hsess_drained(fx->s);
			moved = 1;
		}
		if (!moved && (fx->cl == NULL || !nghttp2_session_want_write(fx->cl)))
			break;
	}
	return rc;
}

static int32_t
get(struct fx *fx, const char *authority, const char *host, const char *path)
{
	nghttp2_nv	nv[5];
	size_t		n = 0;

#define NV(a, b) (nghttp2_nv){ (uint8_t *)(a), (uint8_t *)(b), strlen(a), strlen(b), 0 }
	nv[n++] = NV(":method", "GET");
	nv[n++] = NV(":scheme", "https");
	nv[n++] = NV(":path", path);
	if (authority != NULL)
		nv[n++] = NV(":authority", authority);
	if (host != NULL)
		nv[n++] = NV("host", host);
	return nghttp2_submit_request(fx->cl, NULL, nv, n, NULL, NULL);
}

/* --- hand-made frames ------------------------------------------------ */

static void
frame(struct evbuffer *b, uint8_t type, uint8_t flags, uint32_t id, const void *p,
    size_t n)
{
	uint8_t h[9] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
	    (uint8_t)(id >> 24) & 0x7f, (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id };

	evbuffer_add(b, h, 9);
	if (n > 0)
		evbuffer_add(b, p, n);
}

static void
preface(struct evbuffer *b, int ack)
{
	evbuffer_add(b, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN);
	frame(b, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	if (ack)
		frame(b, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
}

/* A header block for GET https://a.test/ plus extra fields. */
static size_t
block(nghttp2_hd_deflater *d, uint8_t *out, size_t cap, unsigned extra,
    size_t extra_len)
{
	nghttp2_nv	*nv = calloc(4 + extra, sizeof(*nv));
	char		*val = malloc(extra_len + 1);
	char		 (*names)[16] = calloc(extra + 1, 16);
	ssize_t		 r;

	memset(val, 'v', extra_len);
	val[extra_len] = '\0';
	nv[0] = NV(":method", "GET");
	nv[1] = NV(":scheme", "https");
	nv[2] = NV(":path", "/");
	nv[3] = NV(":authority", "a.test");
	for (unsigned i = 0; i < extra; i++) {
		snprintf(names[i], 16, "x-f%u", i);
		nv[4 + i] = NV(names[i], val);
		nv[4 + i].flags = NGHTTP2_NV_FLAG_NO_INDEX;
	}
	r = nghttp2_hd_deflate_hd(d, out, cap, nv, 4 + extra);
	assert_true(r > 0);
	free(nv);
	free(val);
	free(names);
	return (size_t)r;
}

/* Frames in the server's output: counts by type, last GOAWAY code,
 * RST_STREAM codes. */
struct seen {
	unsigned	 types[16];
	int		 goaway;	/* code + 1 */
	unsigned	 refused;
};

static void
parse_out(struct fx *fx, struct seen *sn)
{
	struct evbuffer	*out = hsess_output(fx->s);
	size_t		 n = evbuffer_get_length(out);
	const uint8_t	*p = evbuffer_pullup(out, -1);

	for (size_t off = 0; off + 9 <= n;) {
		size_t len = (size_t)p[off] << 16 | (size_t)p[off + 1] << 8 | p[off + 2];
		uint8_t type = p[off + 3];
		const uint8_t *pl = p + off + 9;
		if (off + 9 + len > n)
			break;
		if (type < 16)
			sn->types[type]++;
		if (type == NGHTTP2_GOAWAY && len >= 8)
			sn->goaway = (int)((uint32_t)pl[4] << 24 | (uint32_t)pl[5] << 16 |
			    (uint32_t)pl[6] << 8 | pl[7]) + 1;
		if (type == NGHTTP2_RST_STREAM && len == 4 && pl[3] == NGHTTP2_REFUSED_STREAM)
			sn->refused++;
		off += 9 + len;
	}
	evbuffer_drain(out, n);
	hsess_drained(fx->s);
}

/* --- tests ----------------------------------------------------------- */

static void
test_503_no_backend(void **state)
{
	struct fx	*fx = *state;
	int32_t		 id;

	start_session(fx);
	client_new(fx);
	id = get(fx, "a.test", NULL, "/x");
	assert_true(id > 0);
	assert_int_equal(pump(fx), 0);
	assert_int_equal(fx->status[id], 503);
	assert_int_equal(fx->body[id], strlen("503 Service Unavailable\n"));
	assert_true(fx->closed[id]);
	assert_int_equal(fx->s->nstreams, 0);
	assert_int_equal(hsess_requests(fx->s), 1);
	assert_int_equal(hsess_state(fx->s), HSESS_OPEN);
	/* Our SETTINGS reached the client. */
	assert_int_equal(nghttp2_session_get_remote_settings(fx->cl,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 100);
	assert_int_equal(nghttp2_session_get_remote_settings(fx->cl,
	    NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE), 16384);
}

static void
test_421_misdirected(void **state)
{
	struct fx	*fx = *state;
	int32_t		 a, b, h, ok;

	start_session(fx);
	client_new(fx);
	a = get(fx, "b.test", NULL, "/");		/* another site's name */
	b = get(fx, "B.Test:443", NULL, "/");	/* same, other spelling */
	h = get(fx, NULL, "b.test", "/");		/* Host stands in for :authority */
	ok = get(fx, NULL, "a.test", "/");
	assert_int_equal(pump(fx), 0);
	assert_int_equal(fx->status[a], 421);
	assert_int_equal(fx->status[b], 421);
	assert_int_equal(fx->status[h], 421);
	assert_int_equal(fx->status[ok], 503);
	assert_int_equal(hsess_state(fx->s), HSESS_OPEN);
}

static void
test_431_414_405(void **state)
{
	struct fx	*fx = *state;
	nghttp2_nv	 nv[80];
	char		 names[80][16], longpath[1100];
	int32_t		 many, lp, con;

	start_session(fx);
	client_new(fx);
	nv[0] = NV(":method", "GET");
	nv[1] = NV(":scheme", "https");
	nv[2] = NV(":path", "/");
	nv[3] = NV(":authority", "a.test");
	for (int i = 0; i < 60; i++) {
		snprintf(names[i], sizeof(names[i]), "x-h%d", i);
		nv[4 + i] = NV(names[i], "1");
	}
	many = nghttp2_submit_request(fx->cl, NULL, nv, 64, NULL, NULL);
	longpath[0] = '/';
	memset(longpath + 1, 'p', sizeof(longpath) - 2);
	longpath[sizeof(longpath) - 1] = '\0';
	lp = get(fx, "a.test", NULL, longpath);
	nv[0] = NV(":method", "CONNECT");
	nv[1] = NV(":authority", "a.test:443");
	con = nghttp2_submit_request(fx->cl, NULL, nv, 2, NULL, NULL);
	assert_int_equal(pump(fx), 0);
	assert_int_equal(fx->status[many], 431);
	assert_int_equal(fx->status[lp], 414);
	assert_int_equal(fx->status[con], 405);
	assert_int_equal(hsess_state(fx->s), HSESS_OPEN);
}

static void
test_100_streams(void **state)
{
	struct fx	*fx = *state;
	int32_t		 ids[100];

	start_session(fx);
	client_new(fx);
	/* Let the client learn our SETTINGS first. */
	assert_int_equal(pump(fx), 0);
	for (int i = 0; i < 100; i++)
		ids[i] = get(fx, "a.test", NULL, "/");
	assert_int_equal(pump(fx), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(fx->status[ids[i]], 503);
		assert_true(fx->closed[ids[i]]);
	}
	assert_int_equal(hsess_requests(fx->s), 100);
	assert_true(fx->max_open >= 50);	/* they were in flight together */
	assert_int_equal(fx->s->nstreams, 0);
	assert_int_equal(hsess_state(fx->s), HSESS_OPEN);
}

static void
test_max_streams_client_respects(void **state)
{
	struct fx	*fx = *state;
	unsigned	 ok = 0;

	fx->view->http.h2_max_streams = 10;
	start_session(fx);
	client_new(fx);
	assert_int_equal(pump(fx), 0);
	for (int i = 0; i < 40; i++)
		get(fx, "a.test", NULL, "/");
	assert_int_equal(pump(fx), 0);
	for (int i = 1; i < 2048; i += 2)
		ok += fx->status[i] == 503;
	assert_int_equal(ok, 40);
	assert_true(fx->max_open <= 10);
	assert_int_equal(fx->refused, 0);
}

/* Streams past the limit from a client that ignores it: refused before our
 * SETTINGS are acknowledged, a connection error after. */
static void
test_max_streams_enforced(void **state)
{
	struct fx		*fx = *state;
	nghttp2_hd_deflater	*d;
	uint8_t			 hb[256];
	struct seen		 sn = { 0 };

	for (int ack = 0; ack < 2; ack++) {
		struct evbuffer *b = evbuffer_new();
		hsess_free(fx->s);
		memset(&sn, 0, sizeof(sn));
		fx->view->http.h2_max_streams = 10;
		start_session(fx);
		nghttp2_hd_deflate_new(&d, 4096);
		preface(b, ack);
		for (uint32_t i = 0; i < 11; i++) {
			size_t n = block(d, hb, sizeof(hb), 0, 0);
			/* No END_STREAM: each stream stays open. */
			frame(b, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1 + 2 * i, hb, n);
		}
		hsess_input(fx->s, evbuffer_pullup(b, -1), evbuffer_get_length(b));
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		parse_out(fx, &sn);
		if (!ack) {
			assert_int_equal(sn.refused, 1);
			assert_int_equal(fx->s->nstreams, 10);
			assert_int_equal(hsess_state(fx->s), HSESS_OPEN);
		} else {
			assert_int_equal(sn.goaway, NGHTTP2_PROTOCOL_ERROR + 1);
			assert_int_not_equal(hsess_state(fx->s), HSESS_OPEN);
		}
		nghttp2_hd_deflate_del(d);
		evbuffer_free(b);
	}
}

static void
test_rapid_reset(void **state)
{
	struct fx	*fx = *state;
	int		 sent = 0;

	start_session(fx);
	client_new(fx);
	assert_int_equal(pump(fx), 0);
	/* HEADERS then RST_STREAM, again and again, never reading. */
	for (int i = 0; i < 1000 && hsess_state(fx->s) == HSESS_OPEN; i++) {
		int32_t id = get(fx, "a.test", NULL, "/");
		assert_int_equal(nghttp2_session_send(fx->cl), 0);
		nghttp2_submit_rst_stream(fx->cl, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
		assert_int_equal(nghttp2_session_send(fx->cl), 0);
		if (evbuffer_get_length(fx->c2s) > 0) {
			size_t n = evbuffer_get_length(fx->c2s);
			ssize_t r = hsess_input(fx->s, evbuffer_pullup(fx->c2s, -1), n);
			assert_true(r >= 0);
			evbuffer_drain(fx->c2s, n);
		}
		event_base_loop(fx->base, EVLOOP_NONBLOCK);
		sent++;
	}
	/* The server stopped it well before the end of the burst. */
	assert_true(sent <= 210);
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
	pump(fx);
	assert_int_equal(fx->goaway, NGHTTP2_ENHANCE_YOUR_CALM + 1);
	assert_true(hsess_requests(fx->s) <= 210);
}

static void
test_continuation_flood(void **state)
{
	struct fx		*fx = *state;
	nghttp2_hd_deflater	*d;
	struct evbuffer		*b = evbuffer_new();
	size_t			 bl = 1024 * 1024, n, off, chunk = 4096;
	uint8_t			*hb = malloc(bl);
	ssize_t			 r = 0;
	unsigned		 frames = 0;

	start_session(fx);
	nghttp2_hd_deflate_new(&d, 4096);
	preface(b, 1);
	hsess_input(fx->s, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	evbuffer_drain(b, evbuffer_get_length(b));
	/* 500 fields of 1000 bytes, never an END_HEADERS. */
	n = block(d, hb, bl, 500, 1000);
	frame(b, NGHTTP2_HEADERS, 0, 1, hb, chunk);
	for (off = chunk; off < n; off += chunk)
		frame(b, NGHTTP2_CONTINUATION, 0, 1, hb + off, n - off < chunk ? n - off : chunk);
	/* Fed frame by frame, as a network would. */
	while (evbuffer_get_length(b) > 0) {
		size_t len = 9 + chunk < evbuffer_get_length(b) ? 9 + chunk :
		    evbuffer_get_length(b);
		r = hsess_input(fx->s, evbuffer_pullup(b, (ssize_t)len), len);
		evbuffer_drain(b, len);
		frames++;
		if (r < 0 || hsess_state(fx->s) != HSESS_OPEN)
			break;
	}
	assert_true(evbuffer_get_length(b) > 0);	/* stopped early */
	assert_true(frames <= 20);
	assert_int_not_equal(hsess_state(fx->s), HSESS_OPEN);
	/* What was stored stayed within the limit. */
	for (struct hstream *st = fx->s->streams; st != NULL; st = st->next)
		assert_true(st->req.h.bytes <= fx->view->http.max_header_size);
	nghttp2_hd_deflate_del(d);

	/* Empty CONTINUATION frames carry no bytes to count: only the
	 * frame limit stops them. */
	hsess_free(fx->s);
	start_session(fx);
	nghttp2_hd_deflate_new(&d, 4096);
	evbuffer_drain(b, evbuffer_get_length(b));
	preface(b, 1);
	n = block(d, hb, bl, 0, 0);
	frame(b, NGHTTP2_HEADERS, 0, 1, hb, n);
	r = hsess_input(fx->s, evbuffer_pullup(b, -1), evbuffer_get_length(b));
	assert_true(r > 0);
	evbuffer_drain(b, evbuffer_get_length(b));
	for (frames = 0; frames < 10000; frames++) {
		uint8_t h9[9];
		frame(b, NGHTTP2_CONTINUATION, 0, 1, NULL, 0);
		evbuffer_remove(b, h9, 9);
		if (hsess_input(fx->s, h9, 9) < 0 || hsess_state(fx->s) != HSESS_OPEN)
			break;
	}
	assert_true(frames <= 64);
	assert_int_not_equal(hsess_state(fx->s), HSESS_OPEN);
	nghttp2_hd_deflate_del(d);
	evbuffer_free(b);
	free(hb);
}

static void
test_ping_and_settings_flood(void **state)
{
	struct fx	*fx = *state;
	uint8_t		 ping[8] = { 0 };
	uint8_t		 set[6] = { 0, NGHTTP2_SETTINGS_ENABLE_PUSH, 0, 0, 0, 0 };

	for (int kind = 0; kind < 2; kind++) {
		int	 failed = 0;
		unsigned sent = 0;

		hsess_free(fx->s);
		start_session(fx);
		{
			struct evbuffer *b = evbuffer_new();
			preface(b, 1);
			assert_true(hsess_input(fx->s, evbuffer_pullup(b, -1),
			    evbuffer_get_length(b)) > 0);
			evbuffer_free(b);
		}
		/* A client that never reads: acknowledgements pile up. */
		for (int i = 0; i < 100 && !failed; i++) {
			struct evbuffer *b = evbuffer_new();
			for (int k = 0; k < 100; k++) {
				if (kind == 0)
					frame(b, NGHTTP2_PING, 0, 0, ping, 8);
				else
					frame(b, NGHTTP2_SETTINGS, 0, 0, set, 6);
				sent++;
			}
			if (hsess_input(fx->s, evbuffer_pullup(b, -1),
			    evbuffer_get_length(b)) < 0)
				failed = 1;
			evbuffer_free(b);
		}
		assert_true(failed);
		assert_true(sent <= 300);
		assert_int_equal(hsess_state(fx->s), HSESS_ABORT);
	}
}

static void
test_idle_goaway(void **state)
{
	struct fx	*fx = *state;
	int32_t		 id;

	fx->view->http.keepalive_timeout = 0.05;
	start_session(fx);
	client_new(fx);
	id = get(fx, "a.test", NULL, "/");
	assert_int_equal(pump(fx), 0);
	assert_int_equal(fx->status[id], 503);
	/* Wait for the timer (bounded by the loop count, not by time). */
	for (int i = 0; i < 100 && hsess_state(fx->s) == HSESS_OPEN; i++)
		event_base_loop(fx->base, EVLOOP_ONCE);
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
	pump(fx);
	assert_int_equal(fx->goaway, NGHTTP2_NO_ERROR + 1);
}

/* Run the loop until the session is dormant (bounded by the loop count:
 * each turn waits for the session's next timer). */
static int
wait_dormant(struct fx *fx)
{
	const struct h2 *h = fx->s->ps;

	for (int i = 0; i < 50 && !h->dormant && hsess_state(fx->s) == HSESS_OPEN; i++)
		event_base_loop(fx->base, EVLOOP_ONCE);
	return h->dormant;
}

/*
 * A connection that never opened a stream goes dormant once idle: its
 * nghttp2 session is gone (no h2mem slot in use). A PING wakes it and is
 * answered; it sleeps again; a request then works on the rebuilt session,
 * with the client's SETTINGS and connection window as they were, and no
 * protocol error on either side.
 */
static void
test_dormant(void **state)
{
	struct fx		*fx = *state;
	const struct h2		*h;
	nghttp2_settings_entry	 set = { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1000 };
	int32_t			 id;

	start_session(fx);
	h = fx->s->ps;
	client_new(fx);
	assert_int_equal(nghttp2_submit_settings(fx->cl, NGHTTP2_FLAG_NONE, &set, 1), 0);
	assert_int_equal(nghttp2_session_set_local_window_size(fx->cl, NGHTTP2_FLAG_NONE,
	    0, 1 << 20), 0);
	assert_int_equal(pump(fx), 0);
	assert_false(h->dormant);
	assert_true(h2mem_slot_bytes() > 0);
	assert_true(wait_dormant(fx));
	assert_null(h->ng);
	assert_null(fx->s->out);	/* the empty output buffer went too */
	assert_int_equal(h2mem_slot_bytes(), 0);
	assert_true(hsess_wants_input(fx->s));

	assert_int_equal(nghttp2_submit_ping(fx->cl, NGHTTP2_FLAG_NONE, NULL), 0);
	assert_int_equal(pump(fx), 0);
	assert_int_equal(fx->ping_acks, 1);
	assert_false(h->dormant);
	assert_true(wait_dormant(fx));

	id = get(fx, "a.test", NULL, "/");
	assert_int_equal(pump(fx), 0);
	assert_int_equal(fx->status[id], 503);
	assert_true(fx->closed[id]);
	assert_int_equal(fx->goaway, 0);
	assert_int_equal(hsess_state(fx->s), HSESS_OPEN);
	/* The rebuilt session knows the client's SETTINGS: the server's
	 * stream window is what the client set. */
	assert_int_equal(nghttp2_session_get_remote_settings(h->ng,
	    NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE), 1000);
	/* Once a stream was opened, the session stays: nothing is kept to
	 * replay, so it can never be rebuilt. */
	assert_null(h->log);
}

/* A dormant session still ends with a GOAWAY: at a graceful stop, and
 * when the keep-alive timeout passes. */
static void
test_dormant_goaway(void **state)
{
	struct fx *fx = *state;

	start_session(fx);
	client_new(fx);
	assert_int_equal(pump(fx), 0);
	assert_true(wait_dormant(fx));
	hsess_shutdown(fx->s);
	pump(fx);
	assert_int_equal(fx->goaway, NGHTTP2_NO_ERROR + 1);
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
	hsess_free(fx->s);
	fx->s = NULL;
	nghttp2_session_del(fx->cl);
	fx->cl = NULL;
	fx->goaway = 0;

	fx->view->http.keepalive_timeout = 1.0;
	start_session(fx);
	client_new(fx);
	assert_int_equal(pump(fx), 0);
	assert_true(wait_dormant(fx));
	for (int i = 0; i < 100 && hsess_state(fx->s) == HSESS_OPEN; i++)
		event_base_loop(fx->base, EVLOOP_ONCE);
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
	pump(fx);
	assert_int_equal(fx->goaway, NGHTTP2_NO_ERROR + 1);
}

static void
test_header_timeout(void **state)
{
	struct fx		*fx = *state;
	nghttp2_hd_deflater	*d;
	struct evbuffer		*b = evbuffer_new();
	uint8_t			 hb[256];
	struct seen		 sn = { 0 };
	size_t			 n;

	fx->view->http.header_timeout = 0.05;
	start_session(fx);
	nghttp2_hd_deflate_new(&d, 4096);
	preface(b, 1);
	n = block(d, hb, sizeof(hb), 0, 0);
	/* A header block that never ends (slowloris). */
	frame(b, NGHTTP2_HEADERS, 0, 1, hb, n);
	assert_true(hsess_input(fx->s, evbuffer_pullup(b, -1), evbuffer_get_length(b)) > 0);
	for (int i = 0; i < 100 && hsess_state(fx->s) == HSESS_OPEN; i++)
		event_base_loop(fx->base, EVLOOP_ONCE);
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
	parse_out(fx, &sn);
	assert_int_equal(sn.goaway, NGHTTP2_NO_ERROR + 1);
	nghttp2_hd_deflate_del(d);
	evbuffer_free(b);
}

static ssize_t
cl_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	size_t *left = src->ptr;

	(void)ng;
	(void)id;
	(void)arg;
	if (len > *left)
		len = *left;
	memset(buf, 'b', len);
	*left -= len;
	if (*left == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)len;
}

/* Request bodies answered locally still get their window back: three
 * 300 KB uploads (past the stream and near the connection window) end, and
 * a client reset mid-body frees its stream. */
static void
test_body_window_and_reset(void **state)
{
	struct fx		*fx = *state;
	nghttp2_data_provider	 dp = { .read_callback = cl_read_body };
	nghttp2_nv		 nv[4];
	size_t			 left[4] = { 300000, 300000, 300000, 300000 };
	int32_t			 id[4];

	start_session(fx);
	client_new(fx);
	assert_int_equal(pump(fx), 0);
	nv[0] = NV(":method", "POST");
	nv[1] = NV(":scheme", "https");
	nv[2] = NV(":path", "/up");
	nv[3] = NV(":authority", "a.test");
	for (int i = 0; i < 4; i++) {
		dp.source.ptr = &left[i];
		id[i] = nghttp2_submit_request(fx->cl, NULL, nv, 4, &dp, NULL);
	}
	/* The last one is reset after its first bytes. */
	assert_int_equal(nghttp2_session_send(fx->cl), 0);
	nghttp2_submit_rst_stream(fx->cl, NGHTTP2_FLAG_NONE, id[3], NGHTTP2_CANCEL);
	assert_int_equal(pump(fx), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fx->status[id[i]], 503);
		assert_true(fx->closed[id[i]]);
	}
	assert_int_equal(fx->s->nstreams, 0);
	/* The connection still takes requests. */
	id[0] = get(fx, "a.test", NULL, "/after");
	assert_int_equal(pump(fx), 0);
	assert_int_equal(fx->status[id[0]], 503);
	assert_int_equal(hsess_state(fx->s), HSESS_OPEN);
}

static void
test_shutdown_finishes_streams(void **state)
{
	struct fx	*fx = *state;
	int32_t		 id;

	start_session(fx);
	client_new(fx);
	assert_int_equal(pump(fx), 0);
	id = get(fx, "a.test", NULL, "/");
	assert_int_equal(nghttp2_session_send(fx->cl), 0);
	assert_true(hsess_input(fx->s, evbuffer_pullup(fx->c2s, -1),
	    evbuffer_get_length(fx->c2s)) > 0);
	evbuffer_drain(fx->c2s, evbuffer_get_length(fx->c2s));
	hsess_shutdown(fx->s);
	pump(fx);
	assert_int_equal(fx->status[id], 503);	/* the stream in flight finished */
	assert_int_equal(fx->goaway, NGHTTP2_NO_ERROR + 1);
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
}

static void
test_client_eof(void **state)
{
	struct fx *fx = *state;

	start_session(fx);
	client_new(fx);
	assert_int_equal(pump(fx), 0);
	hsess_eof(fx->s);
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
}

/* The client closes with a request body half sent: that stream can never
 * complete and goes at once, and the session closes. */
static void
test_client_eof_mid_body(void **state)
{
	struct fx		*fx = *state;
	nghttp2_hd_deflater	*d;
	struct evbuffer		*b = evbuffer_new();
	uint8_t			 hb[256], data[100] = { 0 };
	size_t			 n;

	start_session(fx);
	nghttp2_hd_deflate_new(&d, 4096);
	preface(b, 1);
	n = block(d, hb, sizeof(hb), 0, 0);
	frame(b, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, hb, n);
	frame(b, NGHTTP2_DATA, 0, 1, data, sizeof(data));
	assert_true(hsess_input(fx->s, evbuffer_pullup(b, -1), evbuffer_get_length(b)) > 0);
	assert_int_equal(fx->s->nstreams, 1);
	hsess_eof(fx->s);
	assert_int_equal(fx->s->nstreams, 0);
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
	event_base_loop(fx->base, EVLOOP_NONBLOCK);	/* deferred hooks: none left */
	nghttp2_hd_deflate_del(d);
	evbuffer_free(b);
}

/*
 * The client closes mid-body after its stream's response HEADERS was
 * queued but before it was packed. h2_on_head passes the stream's fields to
 * nghttp2 uncopied: whatever becomes of that HEADERS (nghttp2 1.52 drops it
 * once the RST_STREAM is queued; h2.c keeps the fields until the queue is
 * empty in case it is packed), it never carries the bytes of a stream that
 * reused the shell.
 */
static void
test_client_eof_head_queued(void **state)
{
	struct fx	*fx = *state;
	nghttp2_nv	 nv[4];
	struct hstream	*st;
	struct evbuffer	*out;
	int32_t		 id;

	start_session(fx);
	client_new(fx);
	assert_int_equal(pump(fx), 0);
	nv[0] = NV(":method", "POST");
	nv[1] = NV(":scheme", "https");
	nv[2] = NV(":path", "/up");
	nv[3] = NV(":authority", "a.test");
	id = nghttp2_submit_headers(fx->cl, NGHTTP2_FLAG_NONE, -1, NULL, nv, 4, NULL);
	assert_true(id > 0);
	assert_int_equal(nghttp2_session_send(fx->cl), 0);
	assert_true(hsess_input(fx->s, evbuffer_pullup(fx->c2s, -1),
	    evbuffer_get_length(fx->c2s)) > 0);
	evbuffer_drain(fx->c2s, evbuffer_get_length(fx->c2s));
	event_base_loop(fx->base, EVLOOP_NONBLOCK);	/* the 503's head: queued */
	assert_int_equal(fx->s->nstreams, 1);
	assert_true(fx->s->streams->head_sent);
	hsess_eof(fx->s);
	assert_int_equal(fx->s->nstreams, 0);
	/* The freed stream's shell, reused and written over. */
	st = hstream_new(fx->s, 999);
	for (int i = 0; i < 8; i++)
		hfields_add(&st->resp.h, "content-type", 12, "XXXXXXXXXXXXXXXXXXXXXXXXX", 25);
	hstream_free(st);
	out = hsess_output(fx->s);
	assert_true(nghttp2_session_mem_recv(fx->cl, evbuffer_pullup(out, -1),
	    evbuffer_get_length(out)) >= 0);
	evbuffer_drain(out, evbuffer_get_length(out));
	hsess_drained(fx->s);
	assert_true(fx->closed[id]);	/* RST_STREAM(CANCEL) */
	if (fx->status[id] != 0) {
		assert_int_equal(fx->status[id], 503);
		assert_string_equal(fx->ctype, "text/plain; charset=utf-8");
	} else
		assert_string_equal(fx->ctype, "");
	assert_int_equal(hsess_state(fx->s), HSESS_CLOSING);
}

static int
group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	return testcert_rmtree(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_503_no_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_421_misdirected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_431_414_405, setup, teardown),
		cmocka_unit_test_setup_teardown(test_100_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_streams_client_respects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_streams_enforced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rapid_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_continuation_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_and_settings_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_goaway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dormant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dormant_goaway, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_window_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_finishes_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_eof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_eof_mid_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_eof_head_queued, setup, teardown),
	};

	return cmocka_run_group_tests_name("h2", tests, group_setup, group_teardown);
}
