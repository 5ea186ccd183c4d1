/*
 * wsh2.c - a WebSocket client over HTTP/2 (RFC 8441 extended CONNECT) for
 * tests, with nghttp2 over BoringSSL. One TLS connection (ALPN h2); it
 * waits for the server's SETTINGS and needs SETTINGS_ENABLE_CONNECT_PROTOCOL
 * = 1 there, then opens one stream:
 *     :method CONNECT  :protocol websocket  :scheme https  :path PATH
 *     sec-websocket-version: 13  [sec-websocket-protocol: PROTO]
 * and needs :status 200. It then sends --count WebSocket messages (RFC 6455
 * frames, masked as a client's must be, binary, of sizes from 1 byte to 70
 * KB, pseudo-random contents) in DATA frames, one at a time, and checks
 * that each comes back whole and equal. Then a close frame, whose echo
 * must come back, and END_STREAM; the stream must end from the server side.
 *
 *   --connect HOST:PORT  --sni NAME  --authority NAME (default the SNI)
 *   --ca FILE (verify the server)  --path PATH (default /ws)
 *   --protocol P    send Sec-WebSocket-Protocol: P and need it back
 *   --xprotocol P   the :protocol value (default websocket)
 *   --count N       messages (default 1000)
 *   --pause-at K --paused-file F --resume-file G: after K messages, create
 *                   F and wait (at most 60 s) until G exists, then go on:
 *                   a test reloads the server meanwhile
 *   --expect-status S: only open the stream; exit 0 when :status is S
 *   --timeout S     for the whole run (default 120)
 * Prints "ok messages=N goaway=G" (G: whether a GOAWAY came meanwhile, as
 * a reload sends; the stream must outlive it), or "status=S", and exits 0;
 * prints "FAIL: ..."
 * and exits 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static const char *opt_connect = "127.0.0.1:8443", *opt_sni, *opt_ca, *opt_authority;
static const char *opt_path = "/ws", *opt_protocol, *opt_xprotocol = "websocket";
static const char *opt_paused_file, *opt_resume_file;
static long	 opt_count = 1000, opt_pause_at = -1, opt_expect = -1;
static double	 opt_timeout = 120;

static int		 fd = -1;
static SSL		*ssl;
static nghttp2_session	*ng;
static double		 deadline;
static int32_t		 sid = -1;

/* What the session has seen. */
static int	 got_settings, got_status = -1, headers_done, stream_closed, got_goaway;
static uint32_t	 close_code;
static char	 got_proto[128];

/* Bytes to send in DATA (a growing buffer), and received from DATA. */
static uint8_t	*tx, *rx;
static size_t	 txlen, txcap, txoff, rxlen, rxcap;
static int	 tx_eof;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
grow(uint8_t **b, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	*cap = need * 2;
	if ((*b = realloc(*b, *cap)) == NULL)
		fail("out of memory");
}

/* --- TLS ------------------------------------------------------------- */

static void
connect_tls(void)
{
	char		 host[256], *colon;
	struct addrinfo	 hints = { .ai_socktype = SOCK_STREAM }, *ai;
	SSL_CTX		*ctx;
	const uint8_t	 alpn[] = "\x02h2";
	const uint8_t	*p;
	unsigned	 l;
	int		 r, one = 1;

	snprintf(host, sizeof(host), "%s", opt_connect);
	if ((colon = strrchr(host, ':')) == NULL)
		fail("--connect wants HOST:PORT");
	*colon = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		fail("cannot resolve %s", opt_connect);
	if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		fail("connect %s: %s", opt_connect, strerror(errno));
	freeaddrinfo(ai);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ctx = SSL_CTX_new(TLS_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_alpn_protos(ctx, alpn, 3) != 0)
		fail("alpn");
	if (opt_ca != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, opt_ca, NULL))
			fail("cannot load --ca %s", opt_ca);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (opt_sni != NULL) {
		SSL_set_tlsext_host_name(ssl, opt_sni);
		if (opt_ca != NULL)
			X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), opt_sni, 0);
	}
	SSL_set_connect_state(ssl);
	while ((r = SSL_do_handshake(ssl)) != 1) {
		struct pollfd pf = { .fd = fd };
		int e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			fail("TLS handshake failed");
		pf.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		if (now() > deadline || poll(&pf, 1, 1000) < 0)
			fail("TLS handshake timed out");
	}
	SSL_get0_alpn_selected(ssl, &p, &l);
	if (l != 2 || memcmp(p, "h2", 2) != 0)
		fail("h2 not negotiated");
	SSL_CTX_free(ctx);
}

/* --- the HTTP/2 session ---------------------------------------------- */

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
	(void)s;
	(void)arg;
	if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK))
		got_settings = 1;
	if (f->hd.type == NGHTTP2_GOAWAY)
		got_goaway = 1;
	if (f->hd.type == NGHTTP2_HEADERS && f->hd.stream_id == sid)
		headers_done = 1;
	return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	(void)s;
	(void)flags;
	(void)arg;
	if (f->hd.stream_id != sid)
		return 0;
	if (nlen == 7 && memcmp(name, ":status", 7) == 0)
		got_status = atoi((const char *)value);
	else if (nlen == 22 && memcmp(name, "sec-websocket-protocol", 22) == 0)
		snprintf(got_proto, sizeof(got_proto), "%.*s", (int)vlen, value);
	return 0;
}

static int
on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *p, size_t n,
    void *arg)
{
	(void)s;
	(void)flags;
	(void)arg;
	if (id != sid)
		return 0;
	grow(&rx, &rxcap, rxlen + n);
	memcpy(rx + rxlen, p, n);
	rxlen += n;
	return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *arg)
{
	(void)s;
	(void)arg;
	if (id == sid) {
		stream_closed = 1;
		close_code = code;
	}
	return 0;
}

static ssize_t
read_tx(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
    nghttp2_data_source *src, void *arg)
{
	size_t n = txlen - txoff;

	(void)s;
	(void)id;
	(void)src;
	(void)arg;
	if (n > len)
		n = len;
	if (n > 0)	/* tx is NULL before the first message */
		memcpy(buf, tx + txoff, n);
	txoff += n;
	if (txoff == txlen)
		txoff = txlen = 0;
	if (txlen == 0 && tx_eof) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		return (ssize_t)n;
	}
	return n > 0 ? (ssize_t)n : NGHTTP2_ERR_DEFERRED;
}

/* Move bytes until done() says so; fails past the deadline or when the
 * connection ends first. */
static void
pump(int (*done)(void))
{
	static uint8_t	 obuf[65536], ibuf[32768];
	static size_t	 olen;
	const uint8_t	*d;
	ssize_t		 n;
	int		 r, progress;

	while (!done()) {
		if (now() > deadline)
			fail("timed out (status %d, %zu bytes received)", got_status, rxlen);
		progress = 0;
		while (olen < sizeof(obuf) / 2 && (n = nghttp2_session_mem_send(ng, &d)) != 0) {
			if (n < 0)
				fail("nghttp2 send: %s", nghttp2_strerror((int)n));
			/* mem_send's chunks are at most a frame (16 KB + 9). */
			if (olen + (size_t)n > sizeof(obuf))
				fail("send buffer");
			memcpy(obuf + olen, d, (size_t)n);
			olen += (size_t)n;
		}
		if (olen > 0) {
			if ((r = SSL_write(ssl, obuf, (int)olen)) > 0) {
				memmove(obuf, obuf + r, olen - (size_t)r);
				olen -= (size_t)r;
				progress = 1;
			} else if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE &&
			    SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
				fail("TLS write failed");
		}
		if ((r = SSL_read(ssl, ibuf, sizeof(ibuf))) > 0) {
			if ((n = nghttp2_session_mem_recv(ng, ibuf, (size_t)r)) < 0)
				fail("nghttp2 recv: %s", nghttp2_strerror((int)n));
			progress = 1;
		} else {
			int e = SSL_get_error(ssl, r);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
				if (done())
					return;
				fail("connection closed by the server (status %d)", got_status);
			}
		}
		if (!progress) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			if (olen > 0)
				pf.events |= POLLOUT;
			(void)poll(&pf, 1, 100);
		}
	}
}

static int done_settings(void) { return got_settings; }
static int done_headers(void) { return headers_done || stream_closed; }
static int done_closed(void) { return stream_closed; }

/* --- WebSocket frames -------------------------------------------------- */

static uint64_t	 rng = 0x9e3779b97f4a7c15ull;

static uint8_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint8_t)rng;
}

/* One client frame (FIN, opcode op, masked) of payload p into tx. */
static void
send_frame(int op, const uint8_t *p, size_t n)
{
	uint8_t	h[14], mask[4];
	size_t	hl = 2;

	h[0] = (uint8_t)(0x80 | op);
	if (n < 126)
		h[1] = (uint8_t)(0x80 | n);
	else if (n < 65536) {
		h[1] = 0x80 | 126;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	} else {
		h[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	for (int i = 0; i < 4; i++)
		mask[i] = h[hl + (size_t)i] = rnd();
	hl += 4;
	grow(&tx, &txcap, txlen + hl + n);
	memcpy(tx + txlen, h, hl);
	for (size_t i = 0; i < n; i++)
		tx[txlen + hl + i] = p[i] ^ mask[i % 4];
	txlen += hl + n;
	nghttp2_session_resume_data(ng, sid);
}

/* A whole server frame at the head of rx: its opcode, payload offset and
 * length; 0 when more bytes are needed. */
static int	 want_op;
static size_t	 f_off, f_len;

static int
frame_ready(void)
{
	size_t	 hl = 2;
	uint64_t n;

	if (rxlen < 2)
		return stream_closed;
	if (rx[1] & 0x80)
		fail("a server frame is masked");
	n = rx[1] & 0x7f;
	if (n == 126) {
		if (rxlen < 4)
			return 0;
		n = (uint64_t)rx[2] << 8 | rx[3];
		hl = 4;
	} else if (n == 127) {
		if (rxlen < 10)
			return 0;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | rx[2 + i];
		hl = 10;
	}
	if (rxlen < hl + n)
		return 0;
	want_op = rx[0] & 0x0f;
	f_off = hl;
	f_len = (size_t)n;
	return 1;
}

static void
rx_drop(size_t n)
{
	memmove(rx, rx + n, rxlen - n);
	rxlen -= n;
}

static void
pause_here(void)
{
	FILE	*f = fopen(opt_paused_file, "w");
	double	 until = now() + 60;

	if (f == NULL)
		fail("cannot create %s", opt_paused_file);
	fclose(f);
	while (access(opt_resume_file, F_OK) != 0) {
		if (now() > until)
			fail("no %s within 60 s", opt_resume_file);
		usleep(20000);
	}
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 1, 17, 125, 126, 1000, 4096, 16384, 65535,
	    65536, 70000 };
	nghttp2_session_callbacks	*cb;
	nghttp2_data_provider		 dp = { .read_callback = read_tx };
	nghttp2_nv			 nv[8];
	size_t				 nnv = 0;
	uint8_t				*msg;
	char				 auth[300];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			fail("%s needs a value", a);
		i++;
		if (strcmp(a, "--connect") == 0) opt_connect = v;
		else if (strcmp(a, "--sni") == 0) opt_sni = v;
		else if (strcmp(a, "--authority") == 0) opt_authority = v;
		else if (strcmp(a, "--ca") == 0) opt_ca = v;
		else if (strcmp(a, "--path") == 0) opt_path = v;
		else if (strcmp(a, "--protocol") == 0) opt_protocol = v;
		else if (strcmp(a, "--xprotocol") == 0) opt_xprotocol = v;
		else if (strcmp(a, "--count") == 0) opt_count = atol(v);
		else if (strcmp(a, "--pause-at") == 0) opt_pause_at = atol(v);
		else if (strcmp(a, "--paused-file") == 0) opt_paused_file = v;
		else if (strcmp(a, "--resume-file") == 0) opt_resume_file = v;
		else if (strcmp(a, "--expect-status") == 0) opt_expect = atol(v);
		else if (strcmp(a, "--timeout") == 0) opt_timeout = atof(v);
		else
			fail("unknown option %s", a);
	}
	if (opt_pause_at >= 0 && (opt_paused_file == NULL || opt_resume_file == NULL))
		fail("--pause-at needs --paused-file and --resume-file");
	deadline = now() + opt_timeout;
	snprintf(auth, sizeof(auth), "%s", opt_authority ? opt_authority :
	    opt_sni ? opt_sni : "localhost");
	connect_tls();

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	if (nghttp2_session_client_new(&ng, cb, NULL) != 0)
		fail("nghttp2 session");
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, NULL, 0);
	/* RFC 8441 3: no extended CONNECT before the server allowed it. */
	pump(done_settings);
	if (nghttp2_session_get_remote_settings(ng,
	    NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) != 1)
		fail("the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1");

#define NV(n, v) nv[nnv++] = (nghttp2_nv){ (uint8_t *)(n), (uint8_t *)(v), \
	strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }
	NV(":method", "CONNECT");
	NV(":protocol", opt_xprotocol);
	NV(":scheme", "https");
	NV(":path", opt_path);
	NV(":authority", auth);
	NV("sec-websocket-version", "13");
	if (opt_protocol != NULL)
		NV("sec-websocket-protocol", opt_protocol);
	if ((sid = nghttp2_submit_request(ng, NULL, nv, nnv, &dp, NULL)) < 0)
		fail("submit: %s", nghttp2_strerror(sid));
	pump(done_headers);
	if (opt_expect >= 0) {
		if (got_status != opt_expect)
			fail("status %d, expected %ld", got_status, opt_expect);
		printf("status=%d\n", got_status);
		return 0;
	}
	if (got_status != 200)
		fail("status %d to the extended CONNECT", got_status);
	if (opt_protocol != NULL && strcmp(got_proto, opt_protocol) != 0)
		fail("sec-websocket-protocol \"%s\", expected \"%s\"", got_proto,
		    opt_protocol);

	if ((msg = malloc(70000)) == NULL)
		fail("out of memory");
	for (long i = 0; i < opt_count; i++) {
		size_t n = sizes[i % (long)(sizeof(sizes) / sizeof(sizes[0]))];
		if (i == opt_pause_at)
			pause_here();
		for (size_t k = 0; k < n; k++)
			msg[k] = rnd();
		send_frame(2, msg, n);
		pump(frame_ready);
		if (rxlen < 2)
			fail("message %ld: the stream ended", i);
		if (want_op != 2 || f_len != n || memcmp(rx + f_off, msg, n) != 0)
			fail("message %ld: echo differs (opcode %d, %zu bytes, sent %zu)",
			    i, want_op, f_len, n);
		rx_drop(f_off + f_len);
	}
	/* Close (1000), its echo, then our END_STREAM; the server's ends it. */
	send_frame(8, (const uint8_t *)"\x03\xe8", 2);
	pump(frame_ready);
	if (rxlen < 2 || want_op != 8)
		fail("no close frame back");
	rx_drop(f_off + f_len);
	tx_eof = 1;
	nghttp2_session_resume_data(ng, sid);
	pump(done_closed);
	if (close_code != NGHTTP2_NO_ERROR)
		fail("the stream ended with %s", nghttp2_http2_strerror(close_code));
	printf("ok messages=%ld goaway=%d\n", opt_count, got_goaway);
	free(msg);
	nghttp2_session_del(ng);
	SSL_free(ssl);
	close(fd);
	return 0;
}
