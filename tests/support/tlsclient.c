/*
 * tlsclient.c - a BoringSSL test and load client.
 *
 *  stream   N connections to an echo backend, each writing a pattern and
 *           checking every byte that comes back, all held open for S seconds.
 *           Reports how many survived and the certificates they saw.
 *  slowread one connection reading GET /bytes/N at a limited rate.
 *  hs       full handshakes (no session reuse) with one HTTP request each,
 *           from T threads for S seconds; checks that none was resumed.
 *  ka       keep-alive HTTP requests over T connections for S seconds.
 *  bulk     GET /bytes/N repeatedly over T keep-alive connections; MB/s.
 *  info     one handshake; prints version, ALPN, leaf SHA-256, resumption.
 *  hold     N connections, handshaken and then idle, held for S seconds. All
 *           are opened at once and handshaken in parallel; those refused or
 *           not handshaken within --deadline seconds count as failed (the
 *           unanswered ones stay open too). Prints held=, then failed= and
 *           pending= on their own lines, once the handshakes are settled.
 *           With --plain 1, TCP only: connected and silent, no ClientHello.
 *  snis     --count handshakes over --conns threads, each with a new random
 *           server name under --sni (r<random>.NAME), stopping after
 *           --seconds at most; prints "snis ok=N failed=N" (on-demand
 *           floods: a refused name fails its handshake).
 *  lat      full handshakes at a fixed rate (--rate per second, spread over
 *           --conns threads) for S seconds; prints the p50/p99/max time from
 *           connect() to the finished handshake, and checks none resumed.
 *  names    one full handshake per name of the file --names (one a line),
 *           the name as SNI, over --conns threads, stopping after --seconds
 *           at most; with --ca the chain and the name are verified. Prints
 *           "names ok=N failed=N p50_ms= p99_ms= max_ms=" (connect() to the
 *           finished handshake) and the first failed names on stderr; exits
 *           0 only if every name handshook.
 *
 * Common flags: --connect HOST:PORT --sni NAME --ca FILE --alpn PROTO
 *               --conns N --seconds S --rate BYTES/S --bytes N --tls 1.2|1.3
 *               --bind ADDR (source address, e.g. 127.0.0.2) --deadline S
 *               --sni-hex HEX (the SNI as raw bytes, e.g. "612e74657374",
 *               any byte but 00: for tests of how odd names are handled)
 *               --groups LIST (key-exchange groups, colon-separated, the
 *               first one gets a key share) --suites LIST (TLS 1.3 suites
 *               offered, in order; AWS-LC builds only)
 * info also prints the group, the suite and whether a HelloRetryRequest came.
 * info --ech BASE64 (AWS-LC builds) offers ECH with that ECHConfigList and
 *           adds ech=1|0 (accepted or not) to the line; when the server
 *           rejects it (a stale config), prints "ech=rejected retry=BASE64"
 *           (the server's retry configs, "-" if none) and exits 3.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static const char	*opt_connect = "127.0.0.1:8443", *opt_sni, *opt_ca, *opt_alpn;
static int		 opt_conns = 1;
static double		 opt_seconds = 5;
static long		 opt_rate = 100000;
static long long	 opt_bytes = 100000000;
static const char	*opt_tls, *opt_bind;
static double		 opt_deadline = 10;
static int		 opt_plain;
static const char	*opt_groups, *opt_suites, *opt_ech;
static struct sockaddr_storage target;
static socklen_t	 target_len;
static SSL_CTX		*ctx;

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
	fprintf(stderr, "tlsclient: %s\n", m);
	exit(2);
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
	ctx = SSL_CTX_new(TLS_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (opt_tls != NULL) {
		uint16_t v = strcmp(opt_tls, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
		SSL_CTX_set_min_proto_version(ctx, v);
		SSL_CTX_set_max_proto_version(ctx, v);
	}
	/* No session cache: every "hs" handshake must be a full one. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (opt_ca != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, opt_ca, NULL))
			die("cannot load --ca");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (opt_groups != NULL && !SSL_CTX_set1_curves_list(ctx, opt_groups))
		die("bad --groups");
	if (opt_suites != NULL) {
#ifdef OPENSSL_IS_AWSLC
		if (!SSL_CTX_set_ciphersuites(ctx, opt_suites))
			die("bad --suites");
#else
		die("--suites needs an AWS-LC build");
#endif
	}
	if (opt_alpn != NULL) {
		uint8_t w[256];
		size_t l = strlen(opt_alpn);
		w[0] = (uint8_t)l;
		memcpy(w + 1, opt_alpn, l);
		SSL_CTX_set_alpn_protos(ctx, w, (unsigned)l + 1);
	}
}

/* Bind fd to --bind (any port), same family as the target. */
static int
bind_source(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;

	memset(&ss, 0, sizeof(ss));
	if (target.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		len = sizeof(*s6);
		if (inet_pton(AF_INET6, opt_bind, &s6->sin6_addr) != 1)
			die("--bind: not an IPv6 address");
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		len = sizeof(*s4);
		if (inet_pton(AF_INET, opt_bind, &s4->sin_addr) != 1)
			die("--bind: not an IPv4 address");
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

static int
tcp_connect(int nonblock)
{
	int fd = socket(target.ss_family, SOCK_STREAM, 0), one = 1;

	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (opt_bind != NULL && bind_source(fd) == -1) {
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&target, target_len) == -1) {
		close(fd);
		return -1;
	}
	if (nonblock)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static SSL *
tls_new(int fd)
{
	SSL *ssl = SSL_new(ctx);

	SSL_set_fd(ssl, fd);
	if (opt_sni != NULL) {
		SSL_set_tlsext_host_name(ssl, opt_sni);
		if (opt_ca != NULL)
			X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), opt_sni, 0);
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

static void
leaf_fp(SSL *ssl, char out[17])
{
	X509	*x = SSL_get_peer_certificate(ssl);
	uint8_t	*der = NULL, md[32];
	int	 n;

	strcpy(out, "none");
	if (x == NULL)
		return;
	n = i2d_X509(x, &der);
	SHA256(der, (size_t)n, md);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	OPENSSL_free(der);
	X509_free(x);
}

/* ---- stream ---------------------------------------------------------- */

struct sconn {
	int		 fd;
	SSL		*ssl;
	int		 hs_done, dead;
	uint64_t	 sent, recvd;
	char		 fp[17];
};

static uint8_t
pattern(int id, uint64_t off)
{
	return (uint8_t)(off * 7 + (uint64_t)id * 13);
}

static int
cmd_stream(void)
{
	struct sconn	*c = calloc((size_t)opt_conns, sizeof(*c));
	struct pollfd	*p = calloc((size_t)opt_conns, sizeof(*p));
	uint8_t		 buf[8192];
	double		 end;
	int		 alive = 0, verified = 0;
	uint64_t	 total = 0;

	for (int i = 0; i < opt_conns; i++) {
		if ((c[i].fd = tcp_connect(1)) == -1) {
			fprintf(stderr, "conn %d: connect: %s\n", i, strerror(errno));
			c[i].dead = 1;
			continue;
		}
		c[i].ssl = tls_new(c[i].fd);
	}
	end = now() + opt_seconds;
	while (now() < end) {
		for (int i = 0; i < opt_conns; i++) {
			struct sconn *s = &c[i];
			int r;

			p[i].fd = s->dead ? -1 : s->fd;
			p[i].events = POLLIN;
			if (s->dead)
				continue;
			if (!s->hs_done) {
				r = SSL_do_handshake(s->ssl);
				if (r == 1) {
					s->hs_done = 1;
					leaf_fp(s->ssl, s->fp);
				} else {
					int e = SSL_get_error(s->ssl, r);
					if (e == SSL_ERROR_WANT_WRITE)
						p[i].events = POLLOUT;
					else if (e != SSL_ERROR_WANT_READ) {
						fprintf(stderr, "conn %d: handshake failed\n", i);
						ERR_print_errors_fp(stderr);
						s->dead = 1;
					}
					continue;
				}
			}
			/* Keep at most 32 KiB in flight so neither side deadlocks. */
			while (s->sent - s->recvd < 32768) {
				size_t n = sizeof(buf);
				for (size_t k = 0; k < n; k++)
					buf[k] = pattern(i, s->sent + k);
				r = SSL_write(s->ssl, buf, (int)n);
				if (r <= 0) {
					int e = SSL_get_error(s->ssl, r);
					if (e == SSL_ERROR_WANT_WRITE)
						p[i].events |= POLLOUT;
					else if (e != SSL_ERROR_WANT_READ) {
						fprintf(stderr, "conn %d: write failed after %llu\n",
						    i, (unsigned long long)s->sent);
						s->dead = 1;
					}
					break;
				}
				s->sent += (uint64_t)r;
			}
			while (!s->dead) {
				r = SSL_read(s->ssl, buf, sizeof(buf));
				if (r <= 0) {
					int e = SSL_get_error(s->ssl, r);
					if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
						fprintf(stderr, "conn %d: closed by peer after %llu "
						    "bytes (error %d)\n", i,
						    (unsigned long long)s->recvd, e);
						s->dead = 1;
					}
					break;
				}
				for (int k = 0; k < r; k++)
					if (buf[k] != pattern(i, s->recvd + (uint64_t)k)) {
						fprintf(stderr, "conn %d: corrupt byte at %llu\n", i,
						    (unsigned long long)(s->recvd + (uint64_t)k));
						s->dead = 1;
						break;
					}
				s->recvd += (uint64_t)r;
			}
		}
		poll(p, (nfds_t)opt_conns, 50);
	}
	printf("fingerprints:");
	for (int i = 0; i < opt_conns; i++) {
		int seen = 0;
		for (int j = 0; j < i; j++)
			if (c[j].hs_done && strcmp(c[j].fp, c[i].fp) == 0)
				seen = 1;
		if (c[i].hs_done && !seen)
			printf(" %s", c[i].fp);
	}
	printf("\n");
	for (int i = 0; i < opt_conns; i++) {
		if (!c[i].dead && c[i].hs_done) {
			alive++;
			if (c[i].recvd > 0)
				verified++;
		}
		total += c[i].recvd;
	}
	printf("conns=%d alive=%d verified=%d bytes=%llu\n", opt_conns, alive,
	    verified, (unsigned long long)total);
	for (int i = 0; i < opt_conns; i++) {
		SSL_free(c[i].ssl);
		if (c[i].fd > 0)
			close(c[i].fd);
	}
	free(c);
	free(p);
	return alive == opt_conns && verified == opt_conns ? 0 : 1;
}

/* ---- hold ------------------------------------------------------------ */

static int
cmd_hold(void)
{
	int		 n = opt_conns, ok = 0, failed = 0, pending = 0;
	int		*fds = calloc((size_t)n, sizeof(int));
	SSL		**ssl = calloc((size_t)n, sizeof(SSL *));
	struct pollfd	*p = calloc((size_t)n, sizeof(*p));
	double		 end;

	if (fds == NULL || ssl == NULL || p == NULL)
		die("out of memory");
	/* Connect all without waiting; each handshake starts once writable. */
	for (int i = 0; i < n; i++) {
		p[i].fd = -1;
		if ((fds[i] = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
		    (opt_bind != NULL && bind_source(fds[i]) == -1) ||
		    (connect(fds[i], (struct sockaddr *)&target, target_len) == -1 &&
		    errno != EINPROGRESS)) {
			failed++;
			continue;
		}
		ssl[i] = tls_new(fds[i]);
		p[i].fd = fds[i];
		p[i].events = POLLOUT;
		pending++;
	}
	end = now() + opt_deadline;
	while (pending > 0 && now() < end) {
		if (poll(p, (nfds_t)n, 100) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			int r;
			if (p[i].fd == -1 || p[i].revents == 0)
				continue;
			if (opt_plain) {
				int e = 0;
				socklen_t el = sizeof(e);
				getsockopt(fds[i], SOL_SOCKET, SO_ERROR, &e, &el);
				if (e == 0)
					ok++;
				else
					failed++;
			} else if ((r = SSL_do_handshake(ssl[i])) == 1) {
				ok++;
			} else if ((r = SSL_get_error(ssl[i], r)) == SSL_ERROR_WANT_READ ||
			    r == SSL_ERROR_WANT_WRITE) {
				p[i].events = r == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
				continue;
			} else
				failed++;
			ERR_clear_error();
			p[i].fd = -1;
			pending--;
		}
	}
	printf("held=%d\nfailed=%d\npending=%d\n", ok, failed, pending);
	fflush(stdout);
	usleep((useconds_t)(opt_seconds * 1e6));
	for (int i = 0; i < n; i++) {
		SSL_free(ssl[i]);
		if (fds[i] > 0)
			close(fds[i]);
	}
	free(fds);
	free(ssl);
	free(p);
	return ok == n ? 0 : 1;
}

/* ---- slowread -------------------------------------------------------- */

static int
cmd_slowread(void)
{
	char		 req[256], buf[4096];
	int		 fd, r;
	SSL		*ssl;
	double		 start, end;
	long long	 got = 0;

	if ((fd = tcp_connect(0)) == -1)
		die("connect");
	ssl = tls_new(fd);
	if (SSL_do_handshake(ssl) != 1)
		die("handshake");
	snprintf(req, sizeof(req), "GET /bytes/%lld HTTP/1.1\r\nHost: %s\r\n\r\n",
	    opt_bytes, opt_sni ? opt_sni : "x");
	SSL_write(ssl, req, (int)strlen(req));
	start = now();
	end = start + opt_seconds;
	while (now() < end) {
		if ((r = SSL_read(ssl, buf, sizeof(buf))) <= 0)
			break;
		got += r;
		/* Sleep so that the average stays at opt_rate. */
		double ahead = (double)got / (double)opt_rate - (now() - start);
		if (ahead > 0)
			usleep((useconds_t)(ahead * 1e6));
	}
	printf("slowread bytes=%lld seconds=%.1f\n", got, now() - start);
	SSL_free(ssl);
	close(fd);
	return got > 0 ? 0 : 1;
}

/* ---- hs / ka --------------------------------------------------------- */

static atomic_long	 n_ok, n_fail, n_resumed, n_bytes;
static volatile int	 stop_flag;

static int
http_exchange(SSL *ssl, int keepalive)
{
	char	 req[256], buf[16384];
	int	 r, hl = -1;
	long	 have = 0, clen = -1;

	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n%s\r\n",
	    opt_sni ? opt_sni : "x", keepalive ? "" : "Connection: close\r\n");
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		return -1;
	for (;;) {
		if ((r = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - (size_t)have))) <= 0)
			return -1;
		have += r;
		buf[have] = '\0';
		if (hl < 0) {
			char *e = strstr(buf, "\r\n\r\n"), *cl;
			if (e == NULL)
				continue;
			hl = (int)(e - buf) + 4;
			if ((cl = strcasestr(buf, "content-length:")) != NULL)
				clen = strtol(cl + 15, NULL, 10);
		}
		if (clen >= 0 && have >= hl + clen)
			return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
	}
}

/* One GET /bytes/N on a keep-alive connection; counts body bytes. */
static int
bulk_exchange(SSL *ssl)
{
	char		 req[256], buf[65536];
	int		 r, have = 0;
	long long	 body = -1, want = opt_bytes;

	snprintf(req, sizeof(req), "GET /bytes/%lld HTTP/1.1\r\nHost: %s\r\n\r\n",
	    want, opt_sni ? opt_sni : "x");
	if (SSL_write(ssl, req, (int)strlen(req)) <= 0)
		return -1;
	while (body < want) {
		if ((r = SSL_read(ssl, buf + (body < 0 ? have : 0),
		    (int)sizeof(buf) - 1 - (body < 0 ? have : 0))) <= 0)
			return -1;
		if (body >= 0) {
			body += r;
			atomic_fetch_add(&n_bytes, r);
			continue;
		}
		have += r;
		buf[have] = '\0';
		char *e = strstr(buf, "\r\n\r\n");
		if (e == NULL)
			continue;
		body = have - (e + 4 - buf);
		atomic_fetch_add(&n_bytes, body);
	}
	return 0;
}

/* After a full handshake: count a resumption, then one request. */
static void
one_request(SSL *ssl)
{
	if (SSL_session_reused(ssl))
		atomic_fetch_add(&n_resumed, 1);
	if (http_exchange(ssl, 0) == 0)
		atomic_fetch_add(&n_ok, 1);
	else
		atomic_fetch_add(&n_fail, 1);
}

static void *
hs_thread(void *arg)
{
	int	 ka = *(int *)arg, fd;
	SSL	*ssl;

	while (!stop_flag) {
		if ((fd = tcp_connect(0)) == -1) {
			atomic_fetch_add(&n_fail, 1);
			usleep(1000);
			continue;
		}
		ssl = tls_new(fd);
		if (SSL_do_handshake(ssl) != 1) {
			atomic_fetch_add(&n_fail, 1);
			ERR_clear_error();
		} else if (ka == 2) {
			while (!stop_flag && bulk_exchange(ssl) == 0)
				atomic_fetch_add(&n_ok, 1);
		} else if (ka) {
			while (!stop_flag && http_exchange(ssl, 1) == 0)
				atomic_fetch_add(&n_ok, 1);
		} else
			one_request(ssl);
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
	}
	return NULL;
}

static int
cmd_load(int ka)
{
	pthread_t	*t = calloc((size_t)opt_conns, sizeof(pthread_t));
	double		 t0 = now(), el;

	for (int i = 0; i < opt_conns; i++)
		pthread_create(&t[i], NULL, hs_thread, &ka);
	usleep((useconds_t)(opt_seconds * 1e6));
	stop_flag = 1;
	for (int i = 0; i < opt_conns; i++)
		pthread_join(t[i], NULL);
	el = now() - t0;
	free(t);
	printf("%s ok=%ld failed=%ld resumed=%ld seconds=%.2f rate=%.1f mbps=%.1f\n",
	    ka == 2 ? "bulk" : ka ? "requests" : "handshakes", atomic_load(&n_ok),
	    atomic_load(&n_fail), atomic_load(&n_resumed), el,
	    (double)atomic_load(&n_ok) / el, (double)atomic_load(&n_bytes) / el / 1e6);
	return atomic_load(&n_resumed) == 0 && atomic_load(&n_ok) > 0 ? 0 : 1;
}

/* ---- lat ------------------------------------------------------------- */

struct lat_arg {
	int	 idx;
	double	 t0;
	double	*ms;
	long	 n, cap;
};

static void *
lat_thread(void *argp)
{
	struct lat_arg	*a = argp;
	double		 interval = (double)opt_conns / (double)opt_rate;

	for (long k = 0;; k++) {
		double due = a->t0 + (double)a->idx / (double)opt_rate + (double)k * interval;
		double t, t1, t2;
		int fd;
		SSL *ssl;

		if (due > a->t0 + opt_seconds)
			break;
		if ((t = due - now()) > 0)
			usleep((useconds_t)(t * 1e6));
		t1 = now();
		if ((fd = tcp_connect(0)) == -1) {
			atomic_fetch_add(&n_fail, 1);
			continue;
		}
		ssl = tls_new(fd);
		if (SSL_do_handshake(ssl) != 1) {
			atomic_fetch_add(&n_fail, 1);
			ERR_clear_error();
		} else {
			t2 = now();
			if (a->n == a->cap) {
				a->cap = a->cap ? a->cap * 2 : 1024;
				if ((a->ms = realloc(a->ms, (size_t)a->cap * sizeof(double))) == NULL)
					die("out of memory");
			}
			a->ms[a->n++] = (t2 - t1) * 1e3;
			one_request(ssl);
		}
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
cmd_lat(void)
{
	pthread_t	*t = calloc((size_t)opt_conns, sizeof(pthread_t));
	struct lat_arg	*a = calloc((size_t)opt_conns, sizeof(*a));
	double		*all, t0 = now() + 0.05;
	long		 n = 0;

	for (int i = 0; i < opt_conns; i++) {
		a[i].idx = i;
		a[i].t0 = t0;
		pthread_create(&t[i], NULL, lat_thread, &a[i]);
	}
	for (int i = 0; i < opt_conns; i++) {
		pthread_join(t[i], NULL);
		n += a[i].n;
	}
	if ((all = malloc((size_t)(n ? n : 1) * sizeof(double))) == NULL)
		die("out of memory");
	n = 0;
	for (int i = 0; i < opt_conns; i++) {
		memcpy(all + n, a[i].ms, (size_t)a[i].n * sizeof(double));
		n += a[i].n;
		free(a[i].ms);
	}
	qsort(all, (size_t)n, sizeof(double), cmp_double);
	printf("latency ok=%ld failed=%ld resumed=%ld handshakes=%ld p50_ms=%.3f "
	    "p99_ms=%.3f max_ms=%.3f\n", atomic_load(&n_ok), atomic_load(&n_fail),
	    atomic_load(&n_resumed), n, n ? all[n / 2] : 0.0,
	    n ? all[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0.0, n ? all[n - 1] : 0.0);
	free(all);
	free(a);
	free(t);
	return atomic_load(&n_resumed) == 0 && n > 0 && atomic_load(&n_fail) == 0 ? 0 : 1;
}

/* ---- snis ------------------------------------------------------------ */

/* One full handshake with server name name (verified against --ca when
 * given); 1 if it completed. */
static int
handshake_as(const char *name)
{
	int	 fd, ok;
	SSL	*ssl;

	if ((fd = tcp_connect(0)) == -1)
		return 0;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, name);
	if (opt_ca != NULL)
		X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), name, 0);
	SSL_set_connect_state(ssl);
	ok = SSL_do_handshake(ssl) == 1 && (opt_ca == NULL ||
	    SSL_get_verify_result(ssl) == X509_V_OK);
	SSL_free(ssl);
	close(fd);
	ERR_clear_error();
	return ok;
}

static long		opt_count = 1000;
static atomic_long	snis_next;

static void *
snis_thread(void *argp)
{
	unsigned	 seed = (unsigned)(uintptr_t)argp ^ (unsigned)time(NULL);
	double		 end = now() + opt_seconds;
	char		 name[300];

	while (atomic_fetch_add(&snis_next, 1) < opt_count && now() < end) {
		snprintf(name, sizeof(name), "r%08x%08x.%s", (unsigned)rand_r(&seed),
		    (unsigned)rand_r(&seed), opt_sni);
		if (handshake_as(name))
			atomic_fetch_add(&n_ok, 1);
		else
			atomic_fetch_add(&n_fail, 1);
	}
	return NULL;
}

static int
cmd_snis(void)
{
	pthread_t *t = calloc((size_t)opt_conns, sizeof(pthread_t));

	if (opt_sni == NULL)
		die("snis needs --sni SUFFIX");
	for (int i = 0; i < opt_conns; i++)
		pthread_create(&t[i], NULL, snis_thread, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < opt_conns; i++)
		pthread_join(t[i], NULL);
	free(t);
	printf("snis ok=%ld failed=%ld\n", atomic_load(&n_ok), atomic_load(&n_fail));
	return 0;
}

/* ---- names ----------------------------------------------------------- */

static const char	*opt_names;
static char		**nm_list;
static long		 nm_n;
static atomic_long	 nm_next;
static double		*nm_ms;		/* per name; < 0: failed or not tried */

static void *
names_thread(void *argp)
{
	double	end = now() + opt_seconds;
	long	i;

	(void)argp;
	while ((i = atomic_fetch_add(&nm_next, 1)) < nm_n && now() < end) {
		double t1 = now();

		if (handshake_as(nm_list[i])) {
			nm_ms[i] = (now() - t1) * 1e3;
			atomic_fetch_add(&n_ok, 1);
		} else
			atomic_fetch_add(&n_fail, 1);
	}
	return NULL;
}

static int
cmd_names(void)
{
	pthread_t	*t = calloc((size_t)opt_conns, sizeof(pthread_t));
	FILE		*f;
	char		 line[300];
	long		 cap = 0, n = 0, shown = 0;
	double		*all;

	if (opt_names == NULL || (f = fopen(opt_names, "r")) == NULL)
		die("names needs --names FILE");
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (nm_n == cap) {
			cap = cap ? 2 * cap : 1024;
			if ((nm_list = realloc(nm_list, (size_t)cap * sizeof(char *))) == NULL)
				die("out of memory");
		}
		if ((nm_list[nm_n++] = strdup(line)) == NULL)
			die("out of memory");
	}
	fclose(f);
	if ((nm_ms = malloc((size_t)(nm_n ? nm_n : 1) * sizeof(double))) == NULL ||
	    (all = malloc((size_t)(nm_n ? nm_n : 1) * sizeof(double))) == NULL)
		die("out of memory");
	for (long i = 0; i < nm_n; i++)
		nm_ms[i] = -1;
	for (int i = 0; i < opt_conns; i++)
		pthread_create(&t[i], NULL, names_thread, NULL);
	for (int i = 0; i < opt_conns; i++)
		pthread_join(t[i], NULL);
	for (long i = 0; i < nm_n; i++) {
		if (nm_ms[i] >= 0)
			all[n++] = nm_ms[i];
		else if (shown++ < 5)
			fprintf(stderr, "names: %s: no verified handshake\n", nm_list[i]);
		free(nm_list[i]);
	}
	qsort(all, (size_t)n, sizeof(double), cmp_double);
	printf("names ok=%ld failed=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", n,
	    nm_n - n, n ? all[n / 2] : 0.0,
	    n ? all[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0.0, n ? all[n - 1] : 0.0);
	free(all);
	free(nm_ms);
	free(nm_list);
	free(t);
	return n == nm_n && n > 0 ? 0 : 1;
}

#ifdef OPENSSL_IS_AWSLC
#include <openssl/base64.h>

/* Offer ECH with --ech's base64 ECHConfigList; 0 or -1. */
static int
ech_offer(SSL *ssl)
{
	uint8_t	list[8192];
	size_t	n;

	if (!EVP_DecodeBase64(list, &n, sizeof(list), (const uint8_t *)opt_ech,
	    strlen(opt_ech)) || !SSL_set1_ech_config_list(ssl, list, n))
		return -1;
	return 0;
}

static int
ech_accepted(SSL *ssl)
{
	return SSL_ech_accepted(ssl);
}

/* A failed handshake: if ECH was rejected, print the retry configs; 1. */
static int
ech_rejected(SSL *ssl)
{
	const uint8_t	*rc;
	size_t		 n, cap;
	uint32_t	 e = ERR_peek_error();
	char		*b;

	if (ERR_GET_LIB(e) != ERR_LIB_SSL || ERR_GET_REASON(e) != SSL_R_ECH_REJECTED)
		return 0;
	SSL_get0_ech_retry_configs(ssl, &rc, &n);
	if (n == 0) {
		printf("ech=rejected retry=-\n");
		return 1;
	}
	EVP_EncodedLength(&cap, n);
	if ((b = malloc(cap)) == NULL)
		die("out of memory");
	EVP_EncodeBlock((uint8_t *)b, rc, n);
	printf("ech=rejected retry=%s\n", b);
	free(b);
	return 1;
}
#else
static int ech_offer(SSL *ssl) { die("--ech needs an AWS-LC build"); return -1; }
static int ech_accepted(SSL *ssl) { return 0; }
static int ech_rejected(SSL *ssl) { return 0; }
#endif

static int
cmd_info(void)
{
	int		 fd;
	SSL		*ssl;
	char		 fp[17], alpn[64] = "-";
	const uint8_t	*a;
	unsigned	 al;

	if ((fd = tcp_connect(0)) == -1)
		die("connect");
	ssl = tls_new(fd);
	if (opt_ech != NULL && ech_offer(ssl) == -1)
		die("bad --ech");
	if (SSL_do_handshake(ssl) != 1) {
		if (opt_ech != NULL && ech_rejected(ssl)) {
			SSL_free(ssl);
			close(fd);
			return 3;
		}
		ERR_print_errors_fp(stderr);
		SSL_free(ssl);
		close(fd);
		return 1;
	}
	leaf_fp(ssl, fp);
	SSL_get0_alpn_selected(ssl, &a, &al);
	if (al > 0 && al < sizeof(alpn))
		snprintf(alpn, sizeof(alpn), "%.*s", (int)al, a);
	printf("version=%s alpn=%s fp=%s resumed=%d group=%s suite=%s hrr=%d",
	    SSL_get_version(ssl), alpn, fp, SSL_session_reused(ssl),
	    SSL_get_curve_name(SSL_get_curve_id(ssl)) ? SSL_get_curve_name(SSL_get_curve_id(ssl)) : "-",
	    SSL_CIPHER_standard_name(SSL_get_current_cipher(ssl)),
	    SSL_used_hello_retry_request(ssl));
	if (opt_ech != NULL)
		printf(" ech=%d", ech_accepted(ssl));
	printf("\n");
	SSL_free(ssl);
	close(fd);
	return 0;
}

/* "612e74" -> "a.t" (new string); dies on odd length, bad digits or 00. */
static char *
hex_decode(const char *h)
{
	size_t	 n = strlen(h) / 2;
	char	*s = malloc(n + 1);

	if (s == NULL || strlen(h) % 2 != 0)
		die("--sni-hex: expected an even number of hex digits");
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1 || v == 0 ||
		    strspn(h + 2 * i, "0123456789abcdefABCDEF") < 2)
			die("--sni-hex: bad hex digits, or a 00 byte");
		s[i] = (char)v;
	}
	s[n] = '\0';
	return s;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2)
		die("usage: tlsclient stream|slowread|hs|ka|bulk|info|hold|lat [flags]");
	cmd = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *f = argv[i], *v = argv[i + 1];
		if (!strcmp(f, "--connect")) opt_connect = v;
		else if (!strcmp(f, "--sni")) opt_sni = v;
		else if (!strcmp(f, "--sni-hex")) opt_sni = hex_decode(v);
		else if (!strcmp(f, "--ca")) opt_ca = v;
		else if (!strcmp(f, "--alpn")) opt_alpn = v;
		else if (!strcmp(f, "--conns")) opt_conns = atoi(v);
		else if (!strcmp(f, "--seconds")) opt_seconds = atof(v);
		else if (!strcmp(f, "--rate")) opt_rate = atol(v);
		else if (!strcmp(f, "--bytes")) opt_bytes = atoll(v);
		else if (!strcmp(f, "--tls")) opt_tls = v;
		else if (!strcmp(f, "--bind")) opt_bind = v;
		else if (!strcmp(f, "--deadline")) opt_deadline = atof(v);
		else if (!strcmp(f, "--plain")) opt_plain = atoi(v);
		else if (!strcmp(f, "--groups")) opt_groups = v;
		else if (!strcmp(f, "--suites")) opt_suites = v;
		else if (!strcmp(f, "--ech")) opt_ech = v;
		else if (!strcmp(f, "--count")) opt_count = atol(v);
		else if (!strcmp(f, "--names")) opt_names = v;
		else die("unknown flag");
	}
	signal(SIGPIPE, SIG_IGN);
	setup();
	{
		int rc = 2;
		if (!strcmp(cmd, "stream")) rc = cmd_stream();
		else if (!strcmp(cmd, "slowread")) rc = cmd_slowread();
		else if (!strcmp(cmd, "hs")) rc = cmd_load(0);
		else if (!strcmp(cmd, "ka")) rc = cmd_load(1);
		else if (!strcmp(cmd, "bulk")) rc = cmd_load(2);
		else if (!strcmp(cmd, "info")) rc = cmd_info();
		else if (!strcmp(cmd, "hold")) rc = cmd_hold();
		else if (!strcmp(cmd, "lat")) rc = cmd_lat();
		else if (!strcmp(cmd, "snis")) rc = cmd_snis();
		else if (!strcmp(cmd, "names")) rc = cmd_names();
		else die("unknown command");
		SSL_CTX_free(ctx);
		return rc;
	}
}
