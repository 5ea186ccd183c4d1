/*
 * test_h2mem.c - nghttp2's allocator (terminator/http/h2mem.c): which sizes
 * go to slots, that calloc'd and reused slots are zero, that realloc keeps
 * the bytes across classes, and, with real nghttp2 sessions talking in
 * memory, that an idle session's frame buffer and empty stream map leave
 * memory (mincore), that a map holding a stream stays, and that the session
 * keeps working after each trim.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <nghttp2/nghttp2.h>

#include "h2mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_ASAN 1
#endif
#endif
#ifdef T_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Resident pages of [p, p + n). */
static size_t
resident(const void *p, size_t n)
{
	long		 pg = sysconf(_SC_PAGESIZE);
	uintptr_t	 a = (uintptr_t)p & ~((uintptr_t)pg - 1);
	size_t		 np = ((uintptr_t)p + n - a + (size_t)pg - 1) / (size_t)pg, r = 0;
	unsigned char	 v[64];

	assert_true(np <= sizeof(v));
	assert_int_equal(mincore((void *)a, np * (size_t)pg, v), 0);
	for (size_t i = 0; i < np; i++)
		r += v[i] & 1;
	return r;
}

static int
all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

static void
test_sizes(void **state)
{
	struct h2mem	 m;
	nghttp2_mem	 mem;
	size_t		 base;
	unsigned char	*small, *k1, *k4, *fb, *big;

	(void)state;
	h2mem_init(&m, &mem);
	base = h2mem_slot_bytes();
	small = mem.malloc(100, mem.mem_user_data);
	assert_int_equal(h2mem_slot_bytes(), base);
	k1 = mem.malloc(1000, mem.mem_user_data);
	assert_int_equal(h2mem_slot_bytes(), base + 1024);
	k4 = mem.calloc(1, 4096, mem.mem_user_data);
	assert_int_equal(h2mem_slot_bytes(), base + 1024 + 4096);
	assert_true(all_zero(k4, 4096));
	/* nghttp2 makes its frame buffer with realloc(NULL). */
	fb = mem.realloc(NULL, H2MEM_FRAMEBUF, mem.mem_user_data);
	assert_ptr_equal(m.framebuf, fb);
	assert_int_equal(h2mem_slot_bytes(), base + 1024 + 4096 + 20480);
	/* A size between the classes, and one above them: malloc. */
	big = mem.malloc(8192, mem.mem_user_data);
	mem.free(mem.malloc(65536, mem.mem_user_data), mem.mem_user_data);
	assert_int_equal(h2mem_slot_bytes(), base + 1024 + 4096 + 20480);
	memset(small, 1, 100);
	memset(k1, 1, 1000);
	memset(k4, 1, 4096);
	memset(fb, 1, H2MEM_FRAMEBUF);
	memset(big, 1, 8192);
	mem.free(fb, mem.mem_user_data);
	assert_null(m.framebuf);
	mem.free(k4, mem.mem_user_data);
	mem.free(k1, mem.mem_user_data);
	mem.free(small, mem.mem_user_data);
	mem.free(big, mem.mem_user_data);
	mem.free(NULL, mem.mem_user_data);
	assert_int_equal(h2mem_slot_bytes(), base);
}

static void
test_reuse_zero(void **state)
{
	struct h2mem	 m;
	nghttp2_mem	 mem;
	unsigned char	*p, *q;
	static const size_t sizes[] = { 1000, 4096, 20000 };

	(void)state;
	h2mem_init(&m, &mem);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = mem.malloc(sizes[i], mem.mem_user_data);
		memset(p, 0xa5, sizes[i]);
#ifdef T_ASAN
		mem.free(p, mem.mem_user_data);
		/* A free slot is poisoned. */
		assert_true(__asan_address_is_poisoned(p));
#else
		mem.free(p, mem.mem_user_data);
		/* A free page-sized slot left memory. */
		if (sizes[i] >= 4096)
			assert_int_equal(resident(p, sizes[i]), 0);
#endif
		/* The slot comes back (last freed, first taken), zeroed. */
		q = mem.calloc(sizes[i], 1, mem.mem_user_data);
		assert_ptr_equal(q, p);
		assert_true(all_zero(q, sizes[i]));
		mem.free(q, mem.mem_user_data);
	}
}

static void
test_grow_shrink(void **state)
{
	struct h2mem	 m;
	nghttp2_mem	 mem;
	unsigned char	*p;
	size_t		 base;

	(void)state;
	h2mem_init(&m, &mem);
	base = h2mem_slot_bytes();
	p = mem.malloc(400, mem.mem_user_data);		/* malloc */
	for (int i = 0; i < 400; i++)
		p[i] = (unsigned char)i;
	p = mem.realloc(p, 900, mem.mem_user_data);		/* to a 1 KiB slot */
	assert_int_equal(h2mem_slot_bytes(), base + 1024);
	for (int i = 400; i < 900; i++)
		p[i] = (unsigned char)i;
	p = mem.realloc(p, 1024, mem.mem_user_data);		/* same slot */
	p = mem.realloc(p, 4000, mem.mem_user_data);		/* to a page */
	assert_int_equal(h2mem_slot_bytes(), base + 4096);
	p = mem.realloc(p, 300, mem.mem_user_data);		/* back to malloc */
	assert_int_equal(h2mem_slot_bytes(), base);
	for (int i = 0; i < 300; i++)
		assert_int_equal(p[i], (unsigned char)i);
	mem.free(p, mem.mem_user_data);
}

/* --- two real sessions ------------------------------------------------ */

#define BODY_LEN	40000

struct peer {
	nghttp2_session	*ng;
	int32_t		 stream;	/* server: the request to answer */
	size_t		 body_sent;
	size_t		 got;		/* client: body bytes, checked */
	int		 status;
	int		 closed;
};

static unsigned char
body_byte(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static ssize_t
srv_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct peer *p = arg;

	(void)ng;
	(void)id;
	(void)src;
	if (len > BODY_LEN - p->body_sent)
		len = BODY_LEN - p->body_sent;
	for (size_t i = 0; i < len; i++)
		buf[i] = body_byte(p->body_sent + i);
	p->body_sent += len;
	if (p->body_sent == BODY_LEN)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)len;
}

static int
srv_on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *arg)
{
	struct peer		*p = arg;
	nghttp2_data_provider	 dp = { .read_callback = srv_read };
	nghttp2_nv		 nv[] = { { (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 },
	    { (uint8_t *)"x-test", (uint8_t *)"h2mem", 6, 5, 0 } };

	if (f->hd.type == NGHTTP2_HEADERS && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		p->stream = f->hd.stream_id;
		p->body_sent = 0;
		assert_int_equal(nghttp2_submit_response(ng, f->hd.stream_id, nv, 2, &dp), 0);
	}
	return 0;
}

static int
cl_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct peer *p = arg;

	(void)ng;
	(void)f;
	(void)flags;
	if (nlen == 7 && memcmp(name, ":status", 7) == 0)
		p->status = atoi((const char *)value);
	(void)vlen;
	return 0;
}

static int
cl_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
    size_t len, void *arg)
{
	struct peer *p = arg;

	(void)ng;
	(void)flags;
	(void)id;
	for (size_t i = 0; i < len; i++)
		assert_int_equal(data[i], body_byte(p->got + i));
	p->got += len;
	return 0;
}

static int
cl_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct peer *p = arg;

	(void)ng;
	(void)id;
	assert_int_equal(code, 0);
	p->closed = 1;
	return 0;
}

/* Move bytes both ways until neither side has anything to send; returns
 * whether the server sent anything. */
static int
pump(struct peer *srv, struct peer *cl)
{
	const uint8_t	*d;
	ssize_t		 n;
	int		 more, srv_sent = 0;

	for (int round = 0; round < 1000; round++) {
		more = 0;
		while ((n = nghttp2_session_mem_send(cl->ng, &d)) > 0) {
			assert_int_equal(nghttp2_session_mem_recv(srv->ng, d, (size_t)n), n);
			more = 1;
		}
		assert_int_equal(n, 0);
		while ((n = nghttp2_session_mem_send(srv->ng, &d)) > 0) {
			assert_int_equal(nghttp2_session_mem_recv(cl->ng, d, (size_t)n), n);
			more = srv_sent = 1;
		}
		assert_int_equal(n, 0);
		if (!more)
			return srv_sent;
	}
	fail_msg("the sessions never went quiet");
	return 0;
}

static void
request(struct peer *srv, struct peer *cl)
{
	nghttp2_nv nv[] = {
		{ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 },
		{ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 },
		{ (uint8_t *)":authority", (uint8_t *)"a.test", 10, 6, 0 },
		{ (uint8_t *)":path", (uint8_t *)"/", 5, 1, 0 },
	};

	cl->got = 0;
	cl->status = 0;
	cl->closed = 0;
	assert_true(nghttp2_submit_request(cl->ng, NULL, nv, 4, NULL, NULL) > 0);
	assert_true(pump(srv, cl));
	assert_int_equal(cl->status, 200);
	assert_int_equal(cl->got, BODY_LEN);
	assert_true(cl->closed);
}

/* Client bytes to the server, without the server answering. */
static void
client_to_server(struct peer *srv, struct peer *cl)
{
	const uint8_t	*d;
	ssize_t		 n;

	while ((n = nghttp2_session_mem_send(cl->ng, &d)) > 0)
		assert_int_equal(nghttp2_session_mem_recv(srv->ng, d, (size_t)n), n);
	assert_int_equal(n, 0);
}

static void
test_session_idle(void **state)
{
	struct h2mem			 m;
	nghttp2_mem			 mem;
	nghttp2_session_callbacks	*scb, *ccb;
	nghttp2_option			*opt;
	nghttp2_settings_entry		 set[] = { { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
	    { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65536 } };
	nghttp2_nv			 nv[] = {
		{ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 },
		{ (uint8_t *)":scheme", (uint8_t *)"https", 7, 5, 0 },
		{ (uint8_t *)":authority", (uint8_t *)"a.test", 10, 6, 0 },
		{ (uint8_t *)":path", (uint8_t *)"/", 5, 1, 0 },
	};
	struct peer			 srv = { 0 }, cl = { 0 };
	size_t				 base;

	(void)state;
	assert_int_equal(nghttp2_session_callbacks_new(&scb), 0);
	nghttp2_session_callbacks_set_on_frame_recv_callback(scb, srv_on_frame);
	assert_int_equal(nghttp2_session_callbacks_new(&ccb), 0);
	nghttp2_session_callbacks_set_on_header_callback(ccb, cl_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(ccb, cl_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(ccb, cl_on_close);
	/* As h2.c has it: a closed stream leaves the map at once. */
	assert_int_equal(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_no_closed_streams(opt, 1);

	base = h2mem_slot_bytes();
	h2mem_init(&m, &mem);
	assert_int_equal(nghttp2_session_server_new3(&srv.ng, scb, &srv, opt, &mem), 0);
	/* The frame buffer, the stream map and the HPACK rings are in
	 * slots, and no page of the first two was touched yet. */
	assert_non_null(m.framebuf);
	assert_non_null(m.map);
	assert_true(h2mem_slot_bytes() >= base + 20480 + 4096 + 2 * 1024);
	assert_int_equal(resident(m.framebuf, H2MEM_FRAMEBUF), 0);
	assert_int_equal(resident(m.map, 4096), 0);
	assert_int_equal(nghttp2_session_client_new(&cl.ng, ccb, &cl), 0);
	assert_int_equal(nghttp2_submit_settings(srv.ng, NGHTTP2_FLAG_NONE, set, 2), 0);
	assert_int_equal(nghttp2_submit_settings(cl.ng, NGHTTP2_FLAG_NONE, NULL, 0), 0);

	/* SETTINGS both ways: the server's went through its frame buffer. */
	assert_true(pump(&srv, &cl));
	assert_true(resident(m.framebuf, H2MEM_FRAMEBUF) >= 1);
	/* Not everything sent: the frame buffer stays. */
	h2mem_trim(&m, 0);
	assert_true(resident(m.framebuf, H2MEM_FRAMEBUF) >= 1);
	h2mem_trim(&m, 1);
	assert_int_equal(resident(m.framebuf, H2MEM_FRAMEBUF), 0);
	assert_int_equal(resident(m.map, 4096), 0);

	/* The session works on: frames are packed into a buffer whose pages
	 * were given back (a 40000-byte body is three DATA frames), streams
	 * go into a map whose page was. */
	for (int i = 0; i < 3; i++) {
		request(&srv, &cl);
		assert_true(resident(m.framebuf, H2MEM_FRAMEBUF) >= 1);
		h2mem_trim(&m, 1);
		assert_int_equal(resident(m.framebuf, H2MEM_FRAMEBUF), 0);
		assert_int_equal(resident(m.map, 4096), 0);
	}
	/* A map holding a stream keeps its page: the request is in, its
	 * answer not yet sent. */
	cl.got = 0;
	cl.closed = 0;
	assert_true(nghttp2_submit_request(cl.ng, NULL, nv, 4, NULL, NULL) > 0);
	client_to_server(&srv, &cl);
	h2mem_trim(&m, 1);
	assert_int_equal(resident(m.map, 4096), 1);
	assert_true(pump(&srv, &cl));
	assert_int_equal(cl.got, BODY_LEN);
	assert_true(cl.closed);
	/* Trimming twice in a row is harmless. */
	h2mem_trim(&m, 1);
	h2mem_trim(&m, 1);
	request(&srv, &cl);

	nghttp2_session_del(cl.ng);
	nghttp2_session_del(srv.ng);
	assert_null(m.framebuf);
	assert_null(m.map);
	assert_int_equal(h2mem_slot_bytes(), base);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(scb);
	nghttp2_session_callbacks_del(ccb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_reuse_zero),
		cmocka_unit_test(test_grow_shrink),
		cmocka_unit_test(test_session_idle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
