/*
 * test_etcd_copy.c - the etcd backend's local copy and its reachability
 * (etcd_copy.h, store_available, store_status), against a real etcd started
 * here on 127.0.0.1 (Debian's etcd-server), stopped and started again:
 *  - what a handle writes or reads goes to the copy: files mode 0600, no
 *    private key in clear;
 *  - a broken pair in etcd (a chain with a key that does not match) never
 *    replaces the copy's good certificate;
 *  - etcd down: a copy never in step with etcd does not open; one that was
 *    opens, serves its certificate and the account key, and reports the
 *    loss (available 0, status down, errors counted);
 *  - etcd back: the handle catches up by itself (a certificate written while
 *    it could not watch is notified), and reports itself reachable;
 *  - key rotation: the new key alone opens nothing the old one sealed; with
 *    the old one as previous_key_file everything opens, and etcd's values
 *    and the copy's files are sealed again under the new key, so that the
 *    old key can go.
 *
 * Skips (77) when etcd is not installed, except under CI=true.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "certfile.h"
#include "errbuf.h"
#include "etcd_copy.h"
#include "etcd_harness.h"
#include "etcd_seal.h"
#include "store.h"
#include "store_etcd.h"
#include "testcert.h"

#define CA		"https://ca.test/directory"
#define NS		"/tg-copy/ca/ca.test_directory/"
#define WAIT_SECS	30	/* hang guard for conditions */

static char	 tmpl[] = "/tmp/tlsgate-etcdcopy-XXXXXX";
static char	*dir, *keyfile, endpoint[64];
static pid_t	 etcd_pid;
static int	 cport, pport;

struct feed {
	pthread_mutex_t	mtx;
	int		certs;
	char		last_name[64];
};

static void
on_event(const struct store_event *ev, void *arg)
{
	struct feed *f = arg;

	if (ev->kind != STORE_CHANGE_CERT)
		return;
	pthread_mutex_lock(&f->mtx);
	f->certs++;
	snprintf(f->last_name, sizeof(f->last_name), "%s", ev->name);
	pthread_mutex_unlock(&f->mtx);
}

static int
etcd_start(void)
{
	time_t deadline = time(NULL) + WAIT_SECS;

	if ((etcd_pid = etcdh_spawn(dir, "c", "http", NULL, cport, pport,
	    endpoint, sizeof(endpoint))) == -1)
		return -1;
	while (time(NULL) < deadline) {
		json_t *r = etcdh_gw(endpoint, NULL, "/v3/kv/range",
		    json_pack("{s:s}", "key", "eA=="));
		int ok = json_object_get(r, "header") != NULL;

		json_decref(r);
		if (ok)
			return 0;
		usleep(50 * 1000);	/* polling a port, not a timed wait */
	}
	return -1;
}

static void
etcd_stop(void)
{
	kill(etcd_pid, SIGTERM);
	assert_int_equal(waitpid(etcd_pid, NULL, 0), etcd_pid);
	etcd_pid = 0;
}

static struct store_etcd_cfg
cfg_with(const char *copy_dir)
{
	static const char	*eps[1];
	struct store_etcd_cfg	 c;

	eps[0] = endpoint;
	memset(&c, 0, sizeof(c));
	c.endpoints = eps;
	c.nendpoints = 1;
	c.prefix = "/tg-copy/";
	c.enc_key_file = keyfile;
	c.timeout_ms = 5000;
	c.copy_dir = copy_dir;
	return c;
}

/* The whole file (new, NUL-terminated), or NULL. */
static char *
slurp(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	char	*b;

	if (f == NULL)
		return NULL;
	b = calloc(1, 1 << 20);
	*len = fread(b, 1, (1 << 20) - 1, f);
	fclose(f);
	return b;
}

/* Wait (hang guard) until the handle says it caught up with etcd. */
static int
wait_caught_up(struct store *s)
{
	time_t			deadline = time(NULL) + WAIT_SECS;
	struct store_status	st;

	for (;;) {
		store_status(s, &st);
		if (st.up && !st.from_copy)
			return 0;
		if (time(NULL) >= deadline)
			return -1;
		usleep(20 * 1000);	/* polling a flag, not a timed wait */
	}
}

static void
test_copy(void **state)
{
	struct errbuf		 eb;
	struct store_etcd_cfg	 c, fresh;
	struct store		*s, *w;
	struct store_status	 st;
	struct certfile		*cf, *d, *got;
	struct etcd_seal	*seal;
	struct stat		 sb;
	struct feed		 fb;
	EVP_PKEY		*acct, *acct2;
	unsigned char		*env;
	char			*cert, *key, *cert2, *key2, *dcert, *dkey, *buf;
	char			 copy[300], copy2[300], file[400];
	char			*cn[] = { "c.test" }, *dn[] = { "d.test" };
	size_t			 n;

	(void)state;
	snprintf(copy, sizeof(copy), "%s/copy", dir);
	snprintf(copy2, sizeof(copy2), "%s/never", dir);
	c = cfg_with(copy);
	s = store_open_etcd(&c, CA, &eb);
	assert_non_null(s);
	store_status(s, &st);
	assert_string_equal(st.backend, "etcd");
	assert_int_equal(st.up, 1);
	assert_int_equal(st.local_certs, 0);
	assert_int_equal(store_available(s), 1);
	assert_int_equal(testcert_make("ec", "c.test", 30, &cert, &key), 0);
	cf = store_cert_put(s, "c.test", cn, 1, cert, key, &eb);
	assert_non_null(cf);
	acct = store_account_key(s, &eb);
	assert_non_null(acct);
	store_status(s, &st);
	assert_int_equal(st.local_certs, 1);

	/* The copy's file: 0600, the chain readable, the key sealed. */
	snprintf(file, sizeof(file), "%s/ca.test_directory/cert/c.test.ecdsa", copy);
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);
	buf = slurp(file, &n);
	assert_non_null(buf);
	assert_non_null(memmem(buf, n, "BEGIN CERTIFICATE", 17));
	assert_null(memmem(buf, n, "PRIVATE KEY", 11));
	free(buf);
	snprintf(file, sizeof(file), "%s/ca.test_directory/account-key", copy);
	buf = slurp(file, &n);
	assert_non_null(buf);
	assert_null(memmem(buf, n, "PRIVATE KEY", 11));
	free(buf);

	/* A broken pair in etcd: another writer's chain, with the old key. It
	 * is not served, and it does not reach the copy. */
	assert_non_null(seal = etcd_seal_load(keyfile, &eb));
	assert_int_equal(testcert_make("ec", "c.test", 30, &cert2, &key2), 0);
	env = etcd_seal_wrap(seal, NS "cert/c.test/ecdsa/chain", 1, 0, cert2,
	    strlen(cert2), &n);
	assert_int_equal(etcdh_raw_put(endpoint, NS "cert/c.test/ecdsa/chain",
	    env, n), 0);
	free(env);
	etcd_seal_free(seal);
	assert_null(store_cert_get(s, "c.test", CERTFILE_EC, &eb));
	assert_string_not_equal(eb.msg, "");
	store_close(s);

	/* Written while that node is away: another handle, no copy. */
	c = cfg_with(NULL);
	w = store_open_etcd(&c, CA, &eb);
	assert_non_null(w);
	assert_int_equal(testcert_make("ec", "d.test", 30, &dcert, &dkey), 0);
	d = store_cert_put(w, "d.test", dn, 1, dcert, dkey, &eb);
	assert_non_null(d);
	store_close(w);

	/* etcd down. A copy that never was in step does not open. */
	etcd_stop();
	fresh = cfg_with(copy2);
	assert_null(store_open_etcd(&fresh, CA, &eb));
	assert_non_null(strstr(eb.msg, "no local copy"));
	/* Ours opens, serves the good certificate and the account, and says
	 * it cannot reach etcd. */
	c = cfg_with(copy);
	s = store_open_etcd(&c, CA, &eb);
	assert_non_null(s);
	assert_int_equal(store_available(s), 0);
	store_status(s, &st);
	assert_int_equal(st.up, 0);
	assert_int_equal(st.from_copy, 1);
	assert_true(st.down_since > 0);
	assert_true(st.errors > 0);
	assert_non_null(strstr(st.last_error, "127.0.0.1"));
	got = store_cert_get(s, "c.test", CERTFILE_EC, &eb);
	assert_non_null(got);
	assert_string_equal(got->sha256, cf->sha256);
	certfile_unref(got);
	assert_null(store_cert_get(s, "d.test", CERTFILE_EC, &eb));
	acct2 = store_account_key(s, &eb);
	assert_non_null(acct2);
	assert_int_equal(EVP_PKEY_cmp(acct, acct2), 1);
	EVP_PKEY_free(acct2);

	/* etcd back: the handle catches up by itself; d.test, written while
	 * it could not watch, is notified and kept. */
	memset(&fb, 0, sizeof(fb));
	pthread_mutex_init(&fb.mtx, NULL);
	store_watch(s, on_event, &fb);
	assert_int_equal(etcd_start(), 0);
	assert_int_equal(wait_caught_up(s), 0);
	assert_int_equal(store_available(s), 1);
	pthread_mutex_lock(&fb.mtx);
	assert_int_equal(fb.certs, 1);
	assert_string_equal(fb.last_name, "d.test");
	pthread_mutex_unlock(&fb.mtx);
	store_status(s, &st);
	assert_int_equal(st.up, 1);
	assert_int_equal(st.down_since, 0);
	assert_int_equal(st.outages, 1);
	assert_int_equal(st.local_certs, 2);
	store_unwatch(s, on_event, &fb);
	pthread_mutex_destroy(&fb.mtx);
	store_close(s);

	certfile_unref(cf);
	certfile_unref(d);
	EVP_PKEY_free(acct);
	free(cert); free(key); free(cert2); free(key2); free(dcert); free(dkey);
}

/* Wait (hang guard) until the raw value at key opens under seal (the new
 * key alone). */
static int
wait_sealed_by(const struct etcd_seal *seal, const char *key)
{
	time_t deadline = time(NULL) + WAIT_SECS;

	for (;;) {
		struct etcd_value	 v;
		struct errbuf		 eb;
		size_t			 n = 0;
		unsigned char		*raw = etcdh_raw_get(endpoint, key, &n);
		int			 ok;

		memset(&v, 0, sizeof(v));
		ok = raw != NULL && etcd_seal_open(seal, key, raw, n, &v, &eb) == 0;
		free(v.data);
		free(raw);
		if (ok)
			return 0;
		if (time(NULL) >= deadline)
			return -1;
		usleep(20 * 1000);	/* polling a value, not a timed wait */
	}
}

static void
test_rotation(void **state)
{
	struct errbuf		 eb;
	struct store_etcd_cfg	 c;
	struct store		*s;
	struct certfile		*cf, *got;
	struct etcd_seal	*seal2;
	struct etcd_copy	*cp;
	EVP_PKEY		*acct, *acct2;
	unsigned char		 k2[32];
	char			*cert, *key, *key2, copy[300], *names[] = { "r.test" };

	(void)state;
	snprintf(copy, sizeof(copy), "%s/rot-copy", dir);
	c = cfg_with(copy);
	c.prefix = "/tg-rot/";
	assert_non_null(s = store_open_etcd(&c, CA, &eb));
	assert_int_equal(testcert_make("ec", "r.test", 30, &cert, &key), 0);
	assert_non_null(cf = store_cert_put(s, "r.test", names, 1, cert, key, &eb));
	assert_non_null(acct = store_account_key(s, &eb));
	store_close(s);

	/* A new key: alone, it opens nothing the old one sealed. */
	for (size_t i = 0; i < sizeof(k2); i++)
		k2[i] = (unsigned char)(i * 13 + 99);
	key2 = testcert_write(dir, "etcd2.key", "", 0600);
	{
		FILE *f = fopen(key2, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(k2, 1, sizeof(k2), f), sizeof(k2));
		fclose(f);
	}
	c.enc_key_file = key2;
	c.copy_dir = NULL;
	assert_non_null(s = store_open_etcd(&c, CA, &eb));
	assert_null(store_cert_get(s, "r.test", CERTFILE_EC, &eb));
	assert_non_null(strstr(eb.msg, "does not open"));
	store_close(s);

	/* The new key, the old one as previous: everything opens, and etcd's
	 * values and the copy's files are sealed again under the new key. */
	c.prev_key_file = keyfile;
	c.copy_dir = copy;
	assert_non_null(s = store_open_etcd(&c, CA, &eb));
	assert_non_null(got = store_cert_get(s, "r.test", CERTFILE_EC, &eb));
	assert_string_equal(got->sha256, cf->sha256);
	certfile_unref(got);
	assert_non_null(seal2 = etcd_seal_load(key2, &eb));
	assert_int_equal(wait_sealed_by(seal2,
	    "/tg-rot/ca/ca.test_directory/cert/r.test/ecdsa/key"), 0);
	assert_int_equal(wait_sealed_by(seal2,
	    "/tg-rot/ca/ca.test_directory/account/key"), 0);
	store_close(s);
	assert_non_null(cp = etcd_copy_open(copy, "ca.test_directory", seal2, &eb));
	assert_int_equal(etcd_copy_count(cp), 1);
	assert_non_null(got = etcd_copy_cert_get(cp, "r.test", CERTFILE_EC, &eb));
	assert_string_equal(got->sha256, cf->sha256);
	certfile_unref(got);
	etcd_copy_free(cp);

	/* The old key gone: all of it opens under the new key alone. */
	c.prev_key_file = NULL;
	assert_non_null(s = store_open_etcd(&c, CA, &eb));
	assert_non_null(got = store_cert_get(s, "r.test", CERTFILE_EC, &eb));
	assert_string_equal(got->sha256, cf->sha256);
	certfile_unref(got);
	assert_non_null(acct2 = store_account_key(s, &eb));
	assert_int_equal(EVP_PKEY_cmp(acct, acct2), 1);
	store_close(s);

	etcd_seal_free(seal2);
	EVP_PKEY_free(acct);
	EVP_PKEY_free(acct2);
	certfile_unref(cf);
	free(cert); free(key); free(key2);
}

static int
setup(void **state)
{
	unsigned char k[32];

	(void)state;
	if ((dir = mkdtemp(tmpl)) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (unsigned char)(i * 41 + 7);
	keyfile = malloc(strlen(dir) + 16);
	sprintf(keyfile, "%s/etcd.key", dir);
	{
		int fd = open(keyfile, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd == -1 || write(fd, k, sizeof(k)) != sizeof(k))
			return -1;
		close(fd);
	}
	cport = etcdh_free_port();
	pport = etcdh_free_port();
	if (etcd_start() == -1) {
		fprintf(stderr, "etcd did not start; see %s/c.log\n", dir);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (etcd_pid > 0) {
		kill(etcd_pid, SIGTERM);
		waitpid(etcd_pid, NULL, 0);
	}
	free(keyfile);
	return testcert_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_rotation),
	};
	const char *ci = getenv("CI");

	if (!etcdh_have()) {
		if (ci != NULL && strcmp(ci, "true") == 0) {
			fprintf(stderr, "FAIL: missing tool under CI: etcd\n");
			return 1;
		}
		printf("skip: etcd not installed (Debian: etcd-server)\n");
		return 77;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests_name("etcd_copy", tests, setup, teardown);
}
