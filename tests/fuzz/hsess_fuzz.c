/*
 * hsess_fuzz.c - the shared harness of the HTTP-mode fuzz targets
 * (hsess_fuzz.h).
 */
#include "hsess_fuzz.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>

#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "pool.h"
#include "sites.h"
#include "testcert.h"
#include "upstream.h"
#include "worker.h"

/* Reads, loop turns and output drains per input are bounded. */
#define ROUNDS	64

static struct event_base	*base;
static struct worker		 w;
static struct view		*view;
static struct site		*site_a, *site_b;

static void
sink(enum log_level lvl, const char *line, void *arg)
{
	(void)lvl;
	if (arg != NULL)
		fprintf(stderr, "%s\n", line);
	/* Whatever the client sent, a log line stays one line. */
	if (strpbrk(line, "\r\n") != NULL) {
		fprintf(stderr, "log line with CR or LF: %s\n", line);
		abort();
	}
}

static char *
cert_files(const char *dir, const char *base_name, const char *names, char **key)
{
	char *cpem, *kpem, *cpath, name[64];

	if (testcert_make("ec", names, 30, &cpem, &kpem) == -1)
		abort();
	snprintf(name, sizeof(name), "%s.key", base_name);
	*key = testcert_write(dir, name, kpem, 0600);
	snprintf(name, sizeof(name), "%s.pem", base_name);
	cpath = testcert_write(dir, name, cpem, 0644);
	free(cpem);
	free(kpem);
	return cpath;
}

static void
setup(void)
{
	char			 dir[] = "/tmp/fuzz-hsess-XXXXXX", *text, *c1, *k1, *c2, *k2;
	struct config_errors	 errs = { NULL, 0 };
	struct config		*c;
	struct errbuf		 eb;

	log_set_level(LOG_LVL_INFO);
	/* HSESS_FUZZ_LOG=1 prints the lines, to see what a replayed input does. */
	log_set_sink(sink, getenv("HSESS_FUZZ_LOG"));
	if (mkdtemp(dir) == NULL)
		abort();
	c1 = cert_files(dir, "a", "a.test,www.a.test", &k1);
	c2 = cert_files(dir, "b", "b.test", &k2);
	if (asprintf(&text,
	    "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},"
	    " \"http\": {\"trusted_proxies\": [\"127.0.0.2\"]},"
	    " \"sites\": ["
	    "{\"names\": [\"a.test\", \"www.a.test\"], \"mode\": \"http\","
	    " \"backends\": [\"127.0.0.1:1\"],"
	    " \"http\": {\"forwarded\": \"both\", \"max_body_size\": 1000},"
	    " \"hsts\": {\"max_age\": 31536000, \"include_subdomains\": true,"
	    " \"preload\": true},"
	    " \"certificates\": [{\"cert\": \"%s\", \"key\": \"%s\"}]},"
	    "{\"names\": [\"b.test\"], \"mode\": \"http\", \"default\": true,"
	    " \"backends\": [\"127.0.0.1:1\"],"
	    " \"certificates\": [{\"cert\": \"%s\", \"key\": \"%s\"}]}]}",
	    c1, k1, c2, k2) < 0)
		abort();
	if ((c = config_load_text("/fuzz/tlsgate.json", text, strlen(text), &errs)) == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "config: %s\n", errs.msgs[i]);
		abort();
	}
	if ((view = view_build(c, NULL, &eb)) == NULL) {
		fprintf(stderr, "setup: %s\n", eb.msg);
		abort();
	}
	config_free(c);
	free(text);
	free(c1); free(k1); free(c2); free(k2);
	testcert_rmtree(dir);
	site_a = view_lookup(view, "a.test");
	site_b = view_lookup(view, "b.test");
	if (site_a == NULL || site_b == NULL || site_a == site_b)
		abort();
	base = event_base_new();
	w.base = base;
	w.upool = upstream_pool_new(base);
}

/* Backends as each input expects them: a.test's down, b.test's up. */
static void
backends_reset(void)
{
	for (size_t i = 0; i < site_a->pool->n; i++) {
		atomic_store(&site_a->pool->b[i]->up, 0);
		atomic_store(&site_a->pool->b[i]->down_until, (long)time(NULL) + 3600);
	}
	for (size_t i = 0; i < site_b->pool->n; i++) {
		atomic_store(&site_b->pool->b[i]->up, 1);
		atomic_store(&site_b->pool->b[i]->down_until, 0);
	}
}

static void
kick(void *arg)
{
	(void)arg;
}

/* Turn the loop and drain the output; 0 once the connection would close
 * (conn.c sends what is left of a closing session, then closes). */
static int
turn(struct hsess *s, int drain)
{
	struct evbuffer *out;

	event_base_loop(base, EVLOOP_NONBLOCK);
	if (hsess_state(s) == HSESS_ABORT)
		return 0;
	out = hsess_output(s);
	if (drain && evbuffer_get_length(out) > 0) {
		evbuffer_drain(out, evbuffer_get_length(out));
		hsess_drained(s);
	}
	return hsess_state(s) == HSESS_OPEN;
}

void
hsess_fuzz_run(enum hsess_proto proto, const uint8_t *prefix, size_t plen,
    const uint8_t *data, size_t size)
{
	struct sockaddr_storage	 peer;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&peer;
	struct hsess_conn	 hc;
	struct hsess		*s;
	uint8_t			*buf;
	size_t			 n, off = 0, cut[4];
	uint8_t			 opt;
	int			 open = 1;

	if (view == NULL)
		setup();
	if (size < HSESS_FUZZ_OPTS)
		return;
	opt = data[0];
	n = plen + size - HSESS_FUZZ_OPTS;
	if ((buf = malloc(n + 1)) == NULL)
		return;
	if (plen > 0)
		memcpy(buf, prefix, plen);
	memcpy(buf + plen, data + HSESS_FUZZ_OPTS, size - HSESS_FUZZ_OPTS);
	/* Split points, in order, then the end. */
	for (int i = 0; i < 3; i++)
		cut[i] = n * data[1 + i] / 256;
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (cut[j] < cut[i]) {
				size_t t = cut[i];
				cut[i] = cut[j];
				cut[j] = t;
			}
	cut[3] = n;

	backends_reset();
	log_set_json(opt & 4);
	memset(&peer, 0, sizeof(peer));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	sin->sin_addr.s_addr = htonl(opt & 2 ? 0x7f000002 : 0x7f000001);
	memset(&hc, 0, sizeof(hc));
	hc.w = &w;
	hc.view = view;
	hc.site = opt & 64 ? site_b : site_a;
	hc.sni_matched = opt & 1;
	hc.peer = &peer;
	hc.conn_id = 1;
	hc.kick = kick;
	if ((s = hsess_new(proto, &hc)) == NULL)
		abort();

	for (int i = 0, rounds = 0; i < 4 && open && rounds < ROUNDS; rounds++) {
		/* One read: what is left of this piece, as conn.c offers it. */
		if (off < cut[i] && hsess_wants_input(s)) {
			ssize_t r = hsess_input(s, buf + off, cut[i] - off);
			if (r < 0)
				break;
			if ((size_t)r > cut[i] - off)
				abort();
			off += (size_t)r;
		}
		if (off >= cut[i]) {
			i++;
			if (i == 1 && (opt & 16))
				hsess_shutdown(s);
		}
		open = turn(s, !(opt & 32));
	}
	if (open && (opt & 8)) {
		hsess_eof(s);
		for (int rounds = 0; rounds < 4 && open; rounds++)
			open = turn(s, 1);
	}
	if (open)
		(void)turn(s, 1);
	hsess_free(s);
	/* What the session left on the loop (closed backend connections). */
	event_base_loop(base, EVLOOP_NONBLOCK);
	free(buf);
}
