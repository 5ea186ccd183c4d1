/*
 * gen_h2_seeds.c - writes the seeds of fuzz_h2 (tests/fuzz/corpus/fuzz_h2)
 * with nghttp2's client API: real HEADERS (HPACK, with and without
 * indexing), DATA, RST_STREAM, SETTINGS, PING, WINDOW_UPDATE, PRIORITY and
 * GOAWAY frames, plus a few written by hand (CONTINUATION, PUSH_PROMISE
 * from a client). Not built by default:
 *   cc -o gen_h2_seeds tests/fuzz/gen_h2_seeds.c $(pkg-config --cflags --libs libnghttp2)
 *   ./gen_h2_seeds tests/fuzz/corpus/fuzz_h2
 * Each seed is fuzz_h2's input: 4 option bytes (hsess_fuzz.h), then the
 * frames that follow the preface and SETTINGS that the target sends itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

static unsigned char	 out[1 << 16];
static size_t		 outn;
static nghttp2_session	*cl;

static ssize_t
on_send(nghttp2_session *s, const uint8_t *p, size_t n, int flags, void *arg)
{
	(void)s; (void)flags; (void)arg;
	if (outn + n > sizeof(out))
		abort();
	memcpy(out + outn, p, n);
	outn += n;
	return (ssize_t)n;
}

static ssize_t
body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	const char	*b = src->ptr;
	size_t		 n = strlen(b);

	(void)s; (void)id; (void)arg;
	if (n > len)
		abort();
	memcpy(buf, b, n);
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static void
start(void)
{
	nghttp2_session_callbacks *cb;

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	if (nghttp2_session_client_new(&cl, cb, NULL) != 0)
		abort();
	nghttp2_session_callbacks_del(cb);
	/* The target already sent the preface and SETTINGS: drop ours. */
	nghttp2_submit_settings(cl, NGHTTP2_FLAG_NONE, NULL, 0);
	nghttp2_session_send(cl);
	outn = 0;
}

static void
finish(const char *dir, const char *name, const char *opts)
{
	char	 path[512];
	FILE	*f;

	nghttp2_session_send(cl);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		abort();
	fwrite(opts, 1, 4, f);
	fwrite(out, 1, outn, f);
	fclose(f);
	nghttp2_session_del(cl);
	cl = NULL;
	outn = 0;
}

#define NV(a, b) { (uint8_t *)(a), (uint8_t *)(b), sizeof(a) - 1, sizeof(b) - 1, \
	NGHTTP2_NV_FLAG_NONE }
#define NVX(a, b) { (uint8_t *)(a), (uint8_t *)(b), sizeof(a) - 1, sizeof(b) - 1, \
	NGHTTP2_NV_FLAG_NO_INDEX }

static int32_t
get(const char *authority_a)
{
	nghttp2_nv nv[] = { NV(":method", "GET"), NV(":scheme", "https"),
	    NV(":path", "/index.html?q=1"), NV(":authority", "a.test"),
	    NV("user-agent", "nghttp2"), NVX("x-request-id", "abc-123"),
	    NV("x-forwarded-for", "1.2.3.4"), NV("forwarded", "for=1.2.3.4"),
	    NV("te", "trailers"), NV("cookie", "a=1"), NV("cookie", "b=2") };

	if (authority_a == NULL)
		nv[3].value = (uint8_t *)"b.test", nv[3].valuelen = 6;
	return nghttp2_submit_request(cl, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL,
	    NULL);
}

static int32_t
post(const char *body, int with_clen)
{
	nghttp2_data_provider	dp;
	nghttp2_nv		nv[] = { NV(":method", "POST"), NV(":scheme", "https"),
	    NV(":path", "/form"), NV(":authority", "a.test"),
	    NV("content-type", "text/plain"), NV("content-length", "11") };

	dp.source.ptr = (void *)body;
	dp.read_callback = body_read;
	return nghttp2_submit_request(cl, NULL, nv, with_clen ? 6 : 5, &dp, NULL);
}

/* A raw frame header. */
static void
frame(uint32_t len, uint8_t type, uint8_t flags, uint32_t id, const void *p)
{
	unsigned char h[9] = { len >> 16, len >> 8, len, type, flags,
	    (id >> 24) & 0x7f, id >> 16, id >> 8, id };

	memcpy(out + outn, h, 9);
	memcpy(out + outn + 9, p, len);
	outn += 9 + len;
}

int
main(int argc, char **argv)
{
	const char		*d = argc > 1 ? argv[1] : ".";
	nghttp2_settings_entry	 se[] = { { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 0 },
	    { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 },
	    { NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 16384 },
	    { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 } };
	static const uint8_t	 ping[8] = "pingpong";
	/* HPACK: :method GET, :scheme https, :path /, :authority a.test
	 * (literal without indexing, name indexed 1). */
	static const uint8_t	 hp[] = { 0x82, 0x87, 0x84, 0x01, 0x06,
	    'a', '.', 't', 'e', 's', 't' };

	start(); get("a"); finish(d, "get", "\x01\x40\x80\xc0");
	start(); get(NULL); finish(d, "get-b-nosni", "\x40\x40\x80\xc0");
	start(); get(NULL); finish(d, "get-misdirected", "\x01\x40\x80\xc0");
	start(); get("a"); finish(d, "get-trusted-json", "\x07\x10\x20\x30");
	start(); for (int i = 0; i < 5; i++) get("a");
	finish(d, "get-many", "\x01\x20\x60\xa0");
	start(); for (int i = 0; i < 5; i++) get("a");
	finish(d, "get-many-nodrain", "\x21\x20\x60\xa0");
	start(); get("a"); get("a"); finish(d, "shutdown", "\x11\x20\x60\xa0");
	start(); post("a=1&b=2&c=3", 1); finish(d, "post-clen", "\x01\x50\xa0\xf0");
	start(); post("a=1&b=2&c=3", 0); finish(d, "post", "\x09\x50\xa0\xf0");
	start(); post("short", 1); finish(d, "post-clen-mismatch", "\x01\x50\xa0\xf0");
	start(); {
		int32_t id = get("a");
		nghttp2_session_send(cl);
		nghttp2_submit_rst_stream(cl, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
	} finish(d, "rst", "\x01\x40\x80\xc0");
	start(); for (int i = 0; i < 20; i++) {
		int32_t id = get("a");
		nghttp2_session_send(cl);
		nghttp2_submit_rst_stream(cl, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
	} finish(d, "rapid-reset", "\x01\x40\x80\xc0");
	start(); nghttp2_submit_settings(cl, NGHTTP2_FLAG_NONE, se, 4);
	get("a"); finish(d, "settings", "\x01\x40\x80\xc0");
	start(); for (int i = 0; i < 10; i++)
		nghttp2_submit_ping(cl, NGHTTP2_FLAG_NONE, ping);
	finish(d, "ping", "\x01\x40\x80\xc0");
	start(); nghttp2_submit_window_update(cl, NGHTTP2_FLAG_NONE, 0, 1 << 20);
	get("a"); nghttp2_submit_window_update(cl, NGHTTP2_FLAG_NONE, 1, 1000);
	finish(d, "window-update", "\x01\x40\x80\xc0");
	start(); {
		nghttp2_priority_spec ps;
		nghttp2_priority_spec_init(&ps, 0, 200, 1);
		nghttp2_submit_priority(cl, NGHTTP2_FLAG_NONE, 3, &ps);
		get("a");
	} finish(d, "priority", "\x01\x40\x80\xc0");
	start(); get("a"); nghttp2_submit_goaway(cl, NGHTTP2_FLAG_NONE, 0,
	    NGHTTP2_NO_ERROR, NULL, 0); finish(d, "goaway", "\x09\x40\x80\xc0");
	/* By hand: HEADERS without END_HEADERS, then CONTINUATION. */
	start();
	frame(3, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, hp);
	frame(sizeof(hp) - 3, NGHTTP2_CONTINUATION, NGHTTP2_FLAG_END_HEADERS, 1, hp + 3);
	finish(d, "continuation", "\x01\x40\x80\xc0");
	start();
	frame(3, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, hp);
	for (int i = 0; i < 30; i++)
		frame(0, NGHTTP2_CONTINUATION, 0, 1, hp);
	finish(d, "continuation-flood", "\x01\x40\x80\xc0");
	start();
	frame(sizeof(hp), NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, hp);
	frame(5, NGHTTP2_DATA, 0, 1, "hello");
	frame(0, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, "");
	finish(d, "headers-data", "\x01\x40\x80\xc0");
	start();
	frame(sizeof(hp), NGHTTP2_PUSH_PROMISE, NGHTTP2_FLAG_END_HEADERS, 1, hp);
	finish(d, "push-promise", "\x01\x40\x80\xc0");
	start();
	for (int i = 0; i < 200; i++)
		frame(0, NGHTTP2_SETTINGS, 0, 0, "");
	finish(d, "settings-flood", "\x01\x40\x80\xc0");
	return 0;
}
