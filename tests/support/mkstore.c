/*
 * mkstore.c - tg_mkstore: a state directory holding N on-demand names with
 * their certificates, for the scale test and bench of on-demand TLS
 * (issue 14: "100,000 stored certificates, made with a test CA").
 *
 *   tg_mkstore --state DIR --directory URL --count N --ca-out FILE
 *              [--suffix .scale.test] [--threads T] [--days D]
 *
 * Makes one test CA (written to FILE, for clients to verify against), then
 * for i in 1..N a P-256 key and a certificate for c<i><suffix> issued by
 * that CA, valid from an hour ago for D days (default 90). Each goes
 * through the store's own door: store_cert_put (parsed and checked like a
 * certificate from a CA; the chain is the leaf then the CA) into the
 * namespace of URL under DIR, then store_ondemand_touch records the name in
 * the on-demand index with last_used = now and the certificate's dates.
 * Nothing is written around the store.
 *
 * The work is spread over T threads (default: twice the CPUs): the store's
 * functions may be called from any thread. The CA's certificate and key are
 * made once and shared (read only); every leaf has its own key.
 * Prints "mkstore names=N seconds=S" at the end; exits 1 at the first
 * failure, with the store's reason.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certfile.h"
#include "errbuf.h"
#include "store.h"
#include "testcert.h"

static const char	*opt_state, *opt_dir, *opt_ca_out, *opt_suffix = ".scale.test";
static long		 opt_count, opt_days = 90;
static int		 opt_threads;
static char		*ca_pem, *ca_key;
static struct store	*st;
static atomic_long	 next_i, done_n;
static atomic_int	 failed;
static time_t		 t_now;

static void
die(const char *m)
{
	fprintf(stderr, "mkstore: %s\n", m);
	exit(1);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One name: issue, store, index. 0 or -1 (reason printed). */
static int
make_one(long i)
{
	struct testcert_opts	 o;
	struct store_ondemand	 rec;
	struct certfile		*cf;
	struct errbuf		 eb;
	char			 name[256], *names[1], *leaf = NULL, *key = NULL, *chain;
	size_t			 nl, nc;

	snprintf(name, sizeof(name), "c%ld%s", i, opt_suffix);
	memset(&o, 0, sizeof(o));
	o.type = "ec";
	o.names = name;
	o.eku = "serverAuth";
	o.not_before = t_now - 3600;
	o.not_after = t_now + opt_days * 86400;
	o.issuer_cert = ca_pem;
	o.issuer_key = ca_key;
	if (testcert_issue(&o, &leaf, &key) == -1) {
		fprintf(stderr, "mkstore: %s: cannot issue\n", name);
		free(leaf);
		free(key);
		return -1;
	}
	nl = strlen(leaf);
	nc = strlen(ca_pem);
	if ((chain = malloc(nl + nc + 1)) == NULL)
		die("out of memory");
	memcpy(chain, leaf, nl);
	memcpy(chain + nl, ca_pem, nc + 1);
	names[0] = name;
	eb.msg[0] = '\0';
	cf = store_cert_put(st, name, names, 1, chain, key, &eb);
	free(chain);
	free(leaf);
	free(key);
	if (cf == NULL) {
		fprintf(stderr, "mkstore: %s: store_cert_put: %s\n", name, eb.msg);
		return -1;
	}
	rec.last_used = t_now;
	rec.not_before = cf->not_before;
	rec.not_after = cf->not_after;
	certfile_unref(cf);
	if (store_ondemand_touch(st, name, &rec, &eb) == -1) {
		fprintf(stderr, "mkstore: %s: store_ondemand_touch: %s\n", name, eb.msg);
		return -1;
	}
	return 0;
}

static void *
worker(void *arg)
{
	long i;

	(void)arg;
	while (!atomic_load(&failed) && (i = atomic_fetch_add(&next_i, 1)) <= opt_count) {
		if (make_one(i) == -1) {
			atomic_store(&failed, 1);
			break;
		}
		atomic_fetch_add(&done_n, 1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct testcert_opts	 o;
	struct errbuf		 eb;
	pthread_t		*t;
	double			 t0 = mono();
	FILE			*f;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (strcmp(k, "--state") == 0)
			opt_state = v;
		else if (strcmp(k, "--directory") == 0)
			opt_dir = v;
		else if (strcmp(k, "--count") == 0)
			opt_count = atol(v);
		else if (strcmp(k, "--ca-out") == 0)
			opt_ca_out = v;
		else if (strcmp(k, "--suffix") == 0)
			opt_suffix = v;
		else if (strcmp(k, "--threads") == 0)
			opt_threads = atoi(v);
		else if (strcmp(k, "--days") == 0)
			opt_days = atol(v);
		else
			die("unknown flag");
	}
	if (opt_state == NULL || opt_dir == NULL || opt_ca_out == NULL || opt_count < 1 ||
	    opt_days < 1)
		die("usage: tg_mkstore --state DIR --directory URL --count N --ca-out FILE "
		    "[--suffix S] [--threads T] [--days D]");
	if (opt_threads < 1)
		opt_threads = 2 * (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (opt_threads < 1)
		opt_threads = 1;
	t_now = time(NULL);

	memset(&o, 0, sizeof(o));
	o.type = "ec";
	o.cn = "tlsgate on-demand scale test CA";
	o.ca = 1;
	o.not_before = t_now - 7200;
	o.not_after = t_now + (opt_days + 30) * 86400;
	if (testcert_issue(&o, &ca_pem, &ca_key) == -1)
		die("cannot make the CA");
	if ((f = fopen(opt_ca_out, "w")) == NULL || fputs(ca_pem, f) < 0 || fclose(f) != 0)
		die("cannot write --ca-out");
	if ((st = store_open_file(opt_state, opt_dir, &eb)) == NULL) {
		fprintf(stderr, "mkstore: %s\n", eb.msg);
		return 1;
	}
	atomic_store(&next_i, 1);
	if ((t = calloc((size_t)opt_threads, sizeof(*t))) == NULL)
		die("out of memory");
	for (int i = 0; i < opt_threads; i++)
		if (pthread_create(&t[i], NULL, worker, NULL) != 0)
			die("pthread_create");
	for (int i = 0; i < opt_threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	store_close(st);
	free(ca_pem);
	free(ca_key);
	if (atomic_load(&failed))
		return 1;
	printf("mkstore names=%ld seconds=%.1f\n", atomic_load(&done_n), mono() - t0);
	return 0;
}
