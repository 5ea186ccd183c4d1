/*
 * osslclient.c - bench/run's second load client, on the system's OpenSSL 3
 * (Debian's libssl), so that the load costs per handshake what an OpenSSL
 * client such as s_client costs, not what tlsgate's own TLS library costs.
 * It is built only when CMake finds OpenSSL 3, never linked into tlsgate, and
 * used only by bench/run.
 *
 *  hs    full handshakes, each on a new connection with one HTTP/1.1 request
 *        ("Connection: close"), from --conns threads (one connection each at
 *        a time) for --seconds; no session is ever offered for resumption,
 *        and a resumed handshake is counted (bench/run fails on any).
 *  ka    keep-alive GET / over --conns connections for --seconds.
 *  bulk  GET /bytes/N (--bytes) over --conns keep-alive connections; MB/s.
 *  info  one handshake; prints version, suite, group and resumption.
 *
 * The client offers OpenSSL's defaults: TLS 1.3 suites in OpenSSL's order
 * (AES-256-GCM, ChaCha20-Poly1305, AES-128-GCM) and its groups (a key share
 * for X25519), so that each server picks its own suite. Every load line ends
 * with the suite and group of the connections (or "mixed" if they differed).
 * A response counts only if its status is 200 and its whole body arrived.
 *
 * Flags: --connect HOST:PORT --sni NAME --conns N --seconds S --bytes N
 *        --tls 1.2|1.3
 * Threads: each load thread owns its connection; counters are atomics.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "osslclient needs OpenSSL 3"
#endif

static const char	*opt_connect = "127.0.0.1:8443", *opt_sni = "localhost", *opt_tls;
static int		 opt_conns = 1;
static double		 opt_seconds = 5;
static long long	 opt_bytes = 10000000;
static struct sockaddr_storage target;
static socklen_t	 target_len;
static SSL_CTX		*ctx;

static atomic_long	 n_ok, n_fail, n_resumed, n_bytes;
static atomic_int	 stop_flag;

/* The suite and group seen first, and whether a later connection differed. */
static pthread_mutex_t	 seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char		 seen_suite[64], seen_group[64];
static int		 seen_mixed;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *m)
{
	fprintf(stderr, "osslclient: %s\n", m);
	exit(2);
}

static const char *
group_name(SSL *ssl)
{
	const char *g = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));

	return g != NULL ? g : "-";
}

static void
note_params(SSL *ssl)
{
	const char *s = SSL_CIPHER_standard_name(SSL_get_current_cipher(ssl));
	const char *g = group_name(ssl);

	if (s == NULL)
		s = "-";
	pthread_mutex_lock(&seen_mu);
	if (seen_suite[0] == '\0') {
		snprintf(seen_suite, sizeof(seen_suite), "%s", s);
		snprintf(seen_group, sizeof(seen_group), "%s", g);
	} else if (strcmp(seen_suite, s) != 0 || strcmp(seen_group, g) != 0)
		seen_mixed = 1;
	pthread_mutex_unlock(&seen_mu);
}

static void
setup(void)
{
	char		 host[256];
	const char	*colon = strrchr(opt_connect, ':');
	struct addrinfo	 hints = { 0 }, *res;

	if (colon == NULL)
		die("--connect HOST:PORT");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - opt_connect), opt_connect);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		die("cannot resolve --connect");
	memcpy(&target, res->ai_addr, res->ai_addrlen);
	target_len = res->ai_addrlen;
	freeaddrinfo(res);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new");
	if (opt_tls != NULL) {
		int v = strcmp(opt_tls, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
		SSL_CTX_set_min_proto_version(ctx, v);
		SSL_CTX_set_max_proto_version(ctx, v);
	}
	/*
	 * No client session cache, and no SSL_set_session() anywhere: every
	 * handshake is a full one. Tickets the server sends are still received
	 * and parsed, as by s_client or any OpenSSL client.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

static int
tcp_connect(void)
{
	int fd = socket(target.ss_family, SOCK_STREAM, 0), one = 1;

	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&target, target_len) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static SSL *
tls_new(int fd)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		die("SSL_new");
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, opt_sni);
	SSL_set_connect_state(ssl);
	return ssl;
}

/*
 * One GET on ssl; reads the head and Content-Length bytes of body. Returns 0
 * for a complete 200 response. Body bytes are added to n_bytes if count.
 */
static int
exchange(SSL *ssl, const char *path, int keepalive, int count)
{
	char		 req[256], buf[65536];
	int		 r, have = 0, status;
	long long	 clen = -1, body = -1;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, opt_sni,
	    keepalive ? "" : "Connection: close\r\n");
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		return -1;
	/* The head, into buf. */
	for (;;) {
		char *e, *cl;

		if (have >= (int)sizeof(buf) - 1)
			return -1;
		if ((r = SSL_read(ssl, buf + have, (int)sizeof(buf) - 1 - have)) <= 0)
			return -1;
		have += r;
		buf[have] = '\0';
		if ((e = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || status != 200)
			return -1;
		if ((cl = strcasestr(buf, "\r\ncontent-length:")) == NULL || cl > e)
			return -1;
		clen = strtoll(cl + 17, NULL, 10);
		body = have - (e + 4 - buf);
		break;
	}
	if (count)
		atomic_fetch_add(&n_bytes, (long)body);
	while (body < clen) {
		if ((r = SSL_read(ssl, buf, (int)sizeof(buf))) <= 0)
			return -1;
		body += r;
		if (count)
			atomic_fetch_add(&n_bytes, r);
	}
	return body == clen ? 0 : -1;
}

enum mode { M_HS, M_KA, M_BULK };

static void *
load_thread(void *arg)
{
	enum mode	 m = *(enum mode *)arg;
	char		 path[64];
	int		 fd;
	SSL		*ssl;

	snprintf(path, sizeof(path), m == M_BULK ? "/bytes/%lld" : "/", opt_bytes);
	while (!atomic_load(&stop_flag)) {
		if ((fd = tcp_connect()) == -1) {
			atomic_fetch_add(&n_fail, 1);
			usleep(1000);
			continue;
		}
		ssl = tls_new(fd);
		if (SSL_connect(ssl) != 1) {
			atomic_fetch_add(&n_fail, 1);
		} else {
			note_params(ssl);
			if (SSL_session_reused(ssl))
				atomic_fetch_add(&n_resumed, 1);
			if (m == M_HS) {
				if (exchange(ssl, path, 0, 0) == 0)
					atomic_fetch_add(&n_ok, 1);
				else
					atomic_fetch_add(&n_fail, 1);
			} else {
				while (!atomic_load(&stop_flag) &&
				    exchange(ssl, path, 1, m == M_BULK) == 0)
					atomic_fetch_add(&n_ok, 1);
			}
		}
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
	}
	ERR_clear_error();
	return NULL;
}

static int
cmd_load(enum mode m)
{
	pthread_t	*t = calloc((size_t)opt_conns, sizeof(pthread_t));
	double		 t0 = now(), el;
	long		 ok;

	if (t == NULL)
		die("out of memory");
	for (int i = 0; i < opt_conns; i++)
		if (pthread_create(&t[i], NULL, load_thread, &m) != 0)
			die("pthread_create");
	usleep((useconds_t)(opt_seconds * 1e6));
	atomic_store(&stop_flag, 1);
	for (int i = 0; i < opt_conns; i++)
		pthread_join(t[i], NULL);
	el = now() - t0;
	free(t);
	ok = atomic_load(&n_ok);
	printf("%s ok=%ld failed=%ld resumed=%ld seconds=%.2f rate=%.1f mbps=%.1f suite=%s "
	    "group=%s\n", m == M_BULK ? "bulk" : m == M_KA ? "requests" : "handshakes", ok,
	    atomic_load(&n_fail), atomic_load(&n_resumed), el, (double)ok / el,
	    (double)atomic_load(&n_bytes) / el / 1e6, seen_mixed ? "mixed" :
	    seen_suite[0] ? seen_suite : "-", seen_mixed ? "mixed" : seen_group[0] ? seen_group : "-");
	return atomic_load(&n_resumed) == 0 && ok > 0 && !seen_mixed ? 0 : 1;
}

static int
cmd_info(void)
{
	int	 fd;
	SSL	*ssl;

	if ((fd = tcp_connect()) == -1)
		die("connect");
	ssl = tls_new(fd);
	if (SSL_connect(ssl) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_free(ssl);
		close(fd);
		return 1;
	}
	printf("version=%s suite=%s group=%s resumed=%d\n", SSL_get_version(ssl),
	    SSL_CIPHER_standard_name(SSL_get_current_cipher(ssl)), group_name(ssl),
	    SSL_session_reused(ssl));
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*cmd;
	int		 rc;

	if (argc < 2 || argc % 2 != 0)
		die("usage: osslclient hs|ka|bulk|info [--flag value]...");
	cmd = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *f = argv[i], *v = argv[i + 1];
		if (!strcmp(f, "--connect")) opt_connect = v;
		else if (!strcmp(f, "--sni")) opt_sni = v;
		else if (!strcmp(f, "--conns")) opt_conns = atoi(v);
		else if (!strcmp(f, "--seconds")) opt_seconds = atof(v);
		else if (!strcmp(f, "--bytes")) opt_bytes = atoll(v);
		else if (!strcmp(f, "--tls")) opt_tls = v;
		else die("unknown flag");
	}
	if (opt_conns < 1 || opt_conns > 10000)
		die("--conns: 1 to 10000");
	signal(SIGPIPE, SIG_IGN);
	setup();
	if (!strcmp(cmd, "hs")) rc = cmd_load(M_HS);
	else if (!strcmp(cmd, "ka")) rc = cmd_load(M_KA);
	else if (!strcmp(cmd, "bulk")) rc = cmd_load(M_BULK);
	else if (!strcmp(cmd, "info")) rc = cmd_info();
	else die("unknown command");
	SSL_CTX_free(ctx);
	return rc;
}
