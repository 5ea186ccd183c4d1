/*
 * test_store_etcd.c - the store interface over its etcd backend, against a
 * real etcd (Debian's etcd-server) started here on 127.0.0.1 with random
 * ports and a temporary data folder: refusals at open, certificates (a bad
 * pair never replaces a good one), listing, the account, renewal state,
 * locks (refused while the lease lives, taken over once it expires, the
 * fence), challenges and the change feed through the watch of a second
 * handle, ticket/ECH keys, renewal requests, the on-demand index,
 * encryption at rest (the raw values read through the gateway), TLS with
 * client certificates (a second etcd), etcd restarted under a live watch,
 * and user/password authentication (last: it stays on).
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
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "certfile.h"
#include "challenge.h"
#include "etcd_harness.h"
#include "errbuf.h"
#include "store.h"
#include "store_etcd.h"
#include "testcert.h"

#define CA		"https://ca.test/directory"
#define CA_SLUG		"ca.test_directory"
#define PREFIX		"/tg-test/"
#define WAIT_SECS	30	/* hang guard for conditions */

static char	 tmpl[] = "/tmp/tlsgate-etcd-XXXXXX";
static char	*dir, *keyfile, endpoint[64];
static char	 gw_token[256];	/* Authorization for gw(), once auth is on */
static pid_t	 etcd_pid;

/* ---- a feed that a test can wait on ------------------------------------- */

struct feed {
	pthread_mutex_t	mtx;
	pthread_cond_t	cond;
	int		certs, puts, dels, tickets, ech, sticky, renews;
	char		last_name[64], last_key[64], last_value[64], cert_sha[65];
};

static void
feed_init(struct feed *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mtx, NULL);
	pthread_cond_init(&f->cond, NULL);
}

static void
feed_cleanup(struct feed *f)
{
	pthread_mutex_destroy(&f->mtx);
	pthread_cond_destroy(&f->cond);
}

static void
on_event(const struct store_event *ev, void *arg)
{
	struct feed *f = arg;

	pthread_mutex_lock(&f->mtx);
	switch (ev->kind) {
	case STORE_CHANGE_CERT:
		f->certs++;
		snprintf(f->last_name, sizeof(f->last_name), "%s", ev->name);
		snprintf(f->cert_sha, sizeof(f->cert_sha), "%s",
		    ev->cf != NULL ? ev->cf->sha256 : "");
		break;
	case STORE_CHANGE_CHALLENGE_PUT:
		f->puts++;
		snprintf(f->last_key, sizeof(f->last_key), "%s", ev->key);
		snprintf(f->last_value, sizeof(f->last_value), "%s", ev->value);
		break;
	case STORE_CHANGE_CHALLENGE_DEL:
		f->dels++;
		snprintf(f->last_key, sizeof(f->last_key), "%s", ev->key);
		break;
	case STORE_CHANGE_TICKETS:
		f->tickets++;
		break;
	case STORE_CHANGE_ECH:
		f->ech++;
		break;
	case STORE_CHANGE_STICKY:
		f->sticky++;
		break;
	case STORE_CHANGE_RENEW_REQUEST:
		f->renews++;
		snprintf(f->last_name, sizeof(f->last_name), "%s", ev->name);
		break;
	}
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->mtx);
}

/* Wait until *counter reaches want (hang guard WAIT_SECS): 0 or -1. */
static int
feed_wait(struct feed *f, int *counter, int want)
{
	struct timespec	 ts;
	int		 rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_SECS;
	pthread_mutex_lock(&f->mtx);
	while (*counter < want && rc == 0)
		rc = pthread_cond_timedwait(&f->cond, &f->mtx, &ts);
	rc = *counter >= want ? 0 : -1;
	pthread_mutex_unlock(&f->mtx);
	return rc;
}

static int
feed_get(struct feed *f, int *counter)
{
	int v;

	pthread_mutex_lock(&f->mtx);
	v = *counter;
	pthread_mutex_unlock(&f->mtx);
	return v;
}

/* ---- raw access to the gateway (what an attacker with etcd reads) ------- */

static json_t *
gw(const char *path, json_t *req)
{
	return etcdh_gw(endpoint, gw_token, path, req);
}

static unsigned char *
raw_get(const char *key, size_t *len)
{
	return etcdh_raw_get(endpoint, key, len);
}

static void
raw_put(const char *key, const void *p, size_t n)
{
	assert_int_equal(etcdh_raw_put(endpoint, key, p, n), 0);
}

static int
contains(const unsigned char *hay, size_t n, const void *needle, size_t m)
{
	return m <= n && memmem(hay, n, needle, m) != NULL;
}

/* ---- etcd itself ---------------------------------------------------------- */

static int	 etcd_cport, etcd_pport;

/* The main etcd, on its ports (chosen once: a restart keeps them). */
static int
etcd_start(void)
{
	time_t deadline;

	if (etcd_cport == 0) {
		etcd_cport = etcdh_free_port();
		etcd_pport = etcdh_free_port();
	}
	if ((etcd_pid = etcdh_spawn(dir, "t", "http", NULL, etcd_cport, etcd_pport,
	    endpoint, sizeof(endpoint))) == -1)
		return -1;
	/* Ready when the gateway answers a range (hang guard). */
	deadline = time(NULL) + WAIT_SECS;
	while (time(NULL) < deadline) {
		json_t *r = gw("/v3/kv/range", json_pack("{s:s}", "key", "eA=="));
		int ok = json_object_get(r, "header") != NULL;
		json_decref(r);
		if (ok)
			return 0;
		if (waitpid(etcd_pid, NULL, WNOHANG) == etcd_pid) {
			etcd_pid = 0;
			return -1;
		}
		usleep(50 * 1000);	/* polling a port, not a timed wait */
	}
	return -1;
}

static struct store_etcd_cfg
cfg_for(const char *kf)
{
	static const char	*eps[2];
	struct store_etcd_cfg	 c;

	/* A dead endpoint first: the client moves on to the live one. */
	eps[0] = "http://127.0.0.1:1";
	eps[1] = endpoint;
	memset(&c, 0, sizeof(c));
	c.endpoints = eps;
	c.nendpoints = 2;
	c.prefix = PREFIX;
	c.enc_key_file = kf;
	c.timeout_ms = 5000;
	return c;
}

static struct store *
open_ca(const char *ca)
{
	struct errbuf		eb;
	struct store_etcd_cfg	c = cfg_for(keyfile);
	struct store		*s = store_open_etcd(&c, ca, &eb);

	if (s == NULL)
		print_error("store_open_etcd: %s\n", eb.msg);
	assert_non_null(s);
	return s;
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_open_refusals(void **state)
{
	struct errbuf		 eb;
	struct store_etcd_cfg	 c;
	char			*p;
	const char		*dead[] = { "http://127.0.0.1:1" };

	(void)state;
	/* No key file, a key file others can read, a key of the wrong size. */
	c = cfg_for("/nonexistent/etcd.key");
	assert_null(store_open_etcd(&c, CA, &eb));
	assert_non_null(strstr(eb.msg, "encryption key"));
	p = testcert_write(dir, "wide.key", "0123456789abcdef0123456789abcdef", 0644);
	c = cfg_for(p);
	assert_null(store_open_etcd(&c, CA, &eb));
	assert_non_null(strstr(eb.msg, "mode 0644"));
	free(p);
	p = testcert_write(dir, "short.key", "0123456789", 0600);
	c = cfg_for(p);
	assert_null(store_open_etcd(&c, CA, &eb));
	assert_non_null(strstr(eb.msg, "want 32 raw bytes"));
	free(p);
	/* No endpoint answers. */
	c = cfg_for(keyfile);
	c.endpoints = dead;
	c.nendpoints = 1;
	assert_null(store_open_etcd(&c, CA, &eb));
	assert_non_null(strstr(eb.msg, "127.0.0.1:1"));
}

static void
test_certificates(void **state)
{
	struct errbuf	 eb;
	struct store	*s = open_ca(CA), *other = open_ca("https://other.test/dir");
	struct certfile	*cf, *got;
	char		*cert, *key, *cert2, *key2, *names[] = { "a.test", "www.a.test" };

	(void)state;
	assert_null(store_cert_get(s, "a.test", CERTFILE_EC, &eb));
	assert_string_equal(eb.msg, "");		/* none yet: not an error */
	assert_int_equal(testcert_make("ec", "a.test,www.a.test", 30, &cert, &key), 0);
	cf = store_cert_put(s, "a.test", names, 2, cert, key, &eb);
	assert_non_null(cf);
	got = store_cert_get(s, "a.test", CERTFILE_EC, &eb);
	assert_non_null(got);
	assert_string_equal(got->sha256, cf->sha256);
	assert_int_equal(EVP_PKEY_cmp(got->key, cf->key), 1);
	certfile_unref(got);
	/* A key that does not match, or a chain that misses a name, replaces
	 * nothing. */
	assert_int_equal(testcert_make("ec", "a.test", 30, &cert2, &key2), 0);
	assert_null(store_cert_put(s, "a.test", names, 2, cert, key2, &eb));
	assert_null(store_cert_put(s, "a.test", names, 2, cert2, key2, &eb));
	assert_non_null(strstr(eb.msg, "www.a.test"));
	got = store_cert_get(s, "a.test", CERTFILE_EC, &eb);
	assert_non_null(got);
	assert_string_equal(got->sha256, cf->sha256);
	certfile_unref(got);
	assert_null(store_cert_put(s, "../x", names, 0, cert, key, &eb));
	/* Another CA's namespace does not see it. */
	assert_null(store_cert_get(other, "a.test", CERTFILE_EC, &eb));
	certfile_unref(cf);
	store_close(other);
	store_close(s);
	free(cert); free(key); free(cert2); free(key2);
}

struct listed {
	int	n, a_test;
	char	ca[64];
};

static void
on_list(const struct store_entry *en, void *arg)
{
	struct listed *l = arg;

	l->n++;
	if (strcmp(en->name, "a.test") == 0 && en->cf != NULL &&
	    en->kt == CERTFILE_EC) {
		l->a_test++;
		snprintf(l->ca, sizeof(l->ca), "%s", en->ca);
	}
}

static void
test_list(void **state)
{
	struct store	*s = open_ca(CA), *all = open_ca(NULL);
	struct listed	 l;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_true(store_list(s, on_list, &l) >= 1);
	assert_int_equal(l.a_test, 1);
	assert_string_equal(l.ca, CA_SLUG);
	memset(&l, 0, sizeof(l));
	assert_true(store_list(all, on_list, &l) >= 1);
	assert_int_equal(l.a_test, 1);
	assert_string_equal(l.ca, CA_SLUG);
	store_close(all);
	store_close(s);
}

static void
test_account(void **state)
{
	struct errbuf	 eb;
	struct store	*s = open_ca(CA), *t = open_ca(CA);
	EVP_PKEY	*k1, *k2;
	char		*url;

	(void)state;
	assert_null(store_account_url(s));
	k1 = store_account_key(s, &eb);
	assert_non_null(k1);
	/* Every node of the namespace gets the same account. */
	k2 = store_account_key(t, &eb);
	assert_non_null(k2);
	assert_int_equal(EVP_PKEY_cmp(k1, k2), 1);
	assert_int_equal(store_account_url_put(s, "https://ca.test/acct/1", &eb), 0);
	url = store_account_url(t);
	assert_string_equal(url, "https://ca.test/acct/1");
	free(url);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	store_close(t);
	store_close(s);
}

static void
test_renewal_state(void **state)
{
	struct errbuf		 eb;
	struct store		*s = open_ca(CA), *t;
	struct store_renewal	 r, back;

	(void)state;
	assert_int_equal(store_renewal_get(s, "b.test", CERTFILE_RSA, &back), -1);
	memset(&r, 0, sizeof(r));
	r.next_attempt = 1900000000;
	r.failures = 3;
	snprintf(r.fail_class, sizeof(r.fail_class), "rate_limited");
	snprintf(r.last_error, sizeof(r.last_error), "too \"many\" orders");
	r.retry_until = 1900003600;
	r.ari_start = 1800000000;
	r.ari_end = 1800086400;
	r.ari_next = 1800001000;
	r.last_order = 1799999999;
	r.last_success = 1700000000;
	snprintf(r.replaces, sizeof(r.replaces), "aki.serial");
	snprintf(r.profile, sizeof(r.profile), "tlsserver");
	assert_int_equal(store_renewal_put(s, "b.test", CERTFILE_RSA, &r, NULL, &eb), 0);
	store_close(s);
	/* Another handle (another node, or after a restart) reads it back. */
	s = open_ca(CA);
	assert_int_equal(store_renewal_get(s, "b.test", CERTFILE_RSA, &back), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	t = open_ca("https://other.test/dir");
	assert_int_equal(store_renewal_get(t, "b.test", CERTFILE_RSA, &back), -1);
	store_close(t);
	store_close(s);
}

static void
test_locks(void **state)
{
	struct errbuf		 eb;
	struct store		*a = open_ca(CA), *b = open_ca(CA);
	struct store_lock	*l1, *l2 = NULL;
	time_t			 deadline;

	(void)state;
	/* A short lease (etcd's minimum is about 1.5 s), not so short that a
	 * loaded machine loses it between two calls. */
	l1 = store_lock_acquire(a, "c.test", 4, &eb);
	assert_non_null(l1);
	assert_int_equal(store_lock_check(l1), 1);
	assert_int_equal(store_lock_keepalive(l1), 0);
	/* Another node is refused while the lease lives. */
	assert_null(store_lock_acquire(b, "c.test", 4, &eb));
	assert_int_equal(errno, EWOULDBLOCK);
	assert_non_null(strstr(eb.msg, "held by another"));
	/* The holder stops its keep-alive (as a dead node): once the lease
	 * expires, the other node takes the lock over. */
	deadline = time(NULL) + WAIT_SECS;
	while (l2 == NULL && time(NULL) < deadline) {
		l2 = store_lock_acquire(b, "c.test", 30, &eb);
		if (l2 == NULL) {
			assert_int_equal(errno, EWOULDBLOCK);
			usleep(100 * 1000);	/* polling the condition */
		}
	}
	assert_non_null(l2);
	/* The fence: the first holder learns it is no longer the holder. */
	assert_int_equal(store_lock_check(l1), 0);
	assert_int_equal(store_lock_keepalive(l1), -1);
	assert_int_equal(store_lock_check(l2), 1);
	store_lock_release(l1);		/* an expired lease: nothing to undo */
	assert_int_equal(store_lock_check(l2), 1);
	store_lock_release(l2);
	/* Released: free at once. */
	l1 = store_lock_acquire(a, "c.test", 30, &eb);
	assert_non_null(l1);
	store_lock_release(l1);
	store_lock_release(NULL);
	store_close(b);
	store_close(a);
}

/*
 * A kept lock (store_lock_keep) outlives its lease's TTL with no call from
 * its holder: the store's own thread refreshes it. Over twice the TTL the
 * lock stays ours and another node is refused; released, it is free.
 */
static void
test_lock_kept(void **state)
{
	struct errbuf		 eb;
	struct store		*a = open_ca(CA), *b = open_ca(CA);
	struct store_lock	*l1, *l2;
	time_t			 until;
	int			 polls = 0;

	(void)state;
	l1 = store_lock_acquire(a, "k.test", 3, &eb);
	assert_non_null(l1);
	assert_int_equal(store_lock_keep(l1, 3, &eb), 0);
	until = time(NULL) + 2 * 3 + 1;
	while (time(NULL) < until) {
		assert_int_equal(store_lock_check(l1), 1);
		assert_int_equal(store_lock_keepalive(l1), 0);
		assert_null(store_lock_acquire(b, "k.test", 3, &eb));
		assert_int_equal(errno, EWOULDBLOCK);
		polls++;
		usleep(250 * 1000);	/* polling the condition over the span */
	}
	assert_true(polls > 4);
	store_lock_release(l1);
	l2 = store_lock_acquire(b, "k.test", 3, &eb);
	assert_non_null(l2);
	store_lock_release(l2);
	/* No lock to keep is an error, not a crash. */
	assert_int_equal(store_lock_keep(NULL, 3, &eb), -1);
	store_close(b);
	store_close(a);
}

/*
 * Members acknowledge challenges: acked says 1 only once every member that
 * joined has acknowledged the key, names the ones missing, forgets a member
 * that left (closed its store: its lease is revoked), and the challenge's
 * deletion takes its acknowledgements with it.
 */
static void
test_challenge_acks(void **state)
{
	struct errbuf	 eb;
	struct store	*a = open_ca(CA), *b = open_ca(CA);
	char		 missing[128];

	(void)state;
	/* Nobody joined: nobody to wait for. */
	assert_int_equal(store_challenge_acked(a, "http-01/ack", missing,
	    sizeof(missing), &eb), 1);
	assert_int_equal(store_member_join(a, &eb), 0);
	assert_int_equal(store_member_join(b, &eb), 0);
	assert_int_equal(store_challenge_put(a, "http-01/ack", "v", 60, &eb), 0);
	assert_int_equal(store_challenge_acked(a, "http-01/ack", missing,
	    sizeof(missing), &eb), 0);
	assert_int_equal(strlen(missing), 16 + 1 + 16);	/* both ids */
	assert_int_equal(store_challenge_ack(a, "http-01/ack", &eb), 0);
	assert_int_equal(store_challenge_acked(a, "http-01/ack", missing,
	    sizeof(missing), &eb), 0);
	assert_int_equal(strlen(missing), 16);		/* b's */
	assert_int_equal(store_challenge_ack(b, "http-01/ack", &eb), 0);
	assert_int_equal(store_challenge_acked(a, "http-01/ack", missing,
	    sizeof(missing), &eb), 1);
	assert_string_equal(missing, "");
	/* Another key: b has not acknowledged it; b leaves, a alone counts. */
	assert_int_equal(store_challenge_ack(a, "tls-alpn-01/k.test", &eb), 0);
	assert_int_equal(store_challenge_acked(a, "tls-alpn-01/k.test", missing,
	    sizeof(missing), &eb), 0);
	store_close(b);
	assert_int_equal(store_challenge_acked(a, "tls-alpn-01/k.test", missing,
	    sizeof(missing), &eb), 1);
	/* Deleting the challenge deletes its acknowledgements. */
	store_challenge_del(a, "http-01/ack");
	b = open_ca(CA);
	assert_int_equal(store_member_join(b, &eb), 0);
	assert_int_equal(store_challenge_acked(a, "http-01/ack", missing,
	    sizeof(missing), &eb), 0);
	store_close(b);
	store_close(a);
}

/*
 * A node that joins while another node's challenge is in flight answers it:
 * challenge_follow reads the challenges already in the store into the
 * node's cache and acknowledges them, since its watch starts after they
 * were written (79-cluster-shared once ordered again when the CA reached
 * such a node first). It acknowledges them once it listens.
 */
static void
test_challenge_late_join(void **state)
{
	struct errbuf	 eb;
	struct store	*a = open_ca(CA), *b;
	struct certfile	*cf;
	char		 missing[128], *v;

	(void)state;
	assert_int_equal(store_challenge_put(a, "http-01/late", "late.thumb", 60,
	    &eb), 0);
	assert_int_equal(store_challenge_put(a, "tls-alpn-01/late.test",
	    "late.keyauth", 60, &eb), 0);
	b = open_ca(CA);	/* its watch starts after both puts */
	challenge_follow(b);
	v = challenge_http_get("late");
	assert_non_null(v);
	assert_string_equal(v, "late.thumb");
	free(v);
	cf = challenge_tlsalpn_get("late.test");
	assert_non_null(cf);
	certfile_unref(cf);
	/* b joined the members, and acknowledges what it can answer once
	 * its listeners are up. */
	assert_int_equal(store_challenge_acked(a, "http-01/late", missing,
	    sizeof(missing), &eb), 0);
	challenge_listening(b);
	assert_int_equal(store_challenge_acked(a, "http-01/late", missing,
	    sizeof(missing), &eb), 1);
	assert_int_equal(store_challenge_acked(a, "tls-alpn-01/late.test",
	    missing, sizeof(missing), &eb), 1);
	/* Still in step with the feed afterwards: a's delete reaches it. */
	store_challenge_del(a, "http-01/late");
	for (time_t end = time(NULL) + WAIT_SECS;
	    (v = challenge_http_get("late")) != NULL && time(NULL) < end; )
		free(v), usleep(20 * 1000);	/* polling a condition */
	assert_null(v);
	store_challenge_del(a, "tls-alpn-01/late.test");
	challenge_unfollow(b);
	challenge_tlsalpn_clear("late.test");
	store_close(b);
	store_close(a);
}

static void
test_challenges_and_feed(void **state)
{
	struct errbuf	 eb;
	struct store	*a = open_ca(CA), *b = open_ca(CA);
	struct feed	 fa, fb;
	struct certfile	*cf;
	char		*v, *cert, *key, *names[] = { "feed.test" };
	uint8_t		 blob[48];

	(void)state;
	feed_init(&fa);
	feed_init(&fb);
	store_watch(a, on_event, &fa);
	store_watch(b, on_event, &fb);
	/* A challenge put on node a reaches node b through its watch. */
	assert_int_equal(store_challenge_put(a, "http-01/tok", "tok.thumb", 60, &eb), 0);
	assert_int_equal(feed_get(&fa, &fa.puts), 1);	/* store.c, at once */
	assert_int_equal(feed_wait(&fb, &fb.puts, 1), 0);
	assert_string_equal(fb.last_key, "http-01/tok");
	assert_string_equal(fb.last_value, "tok.thumb");
	v = store_challenge_get(b, "http-01/tok");
	assert_string_equal(v, "tok.thumb");
	free(v);
	store_challenge_del(a, "http-01/tok");
	assert_int_equal(feed_wait(&fb, &fb.dels, 1), 0);
	assert_null(store_challenge_get(b, "http-01/tok"));
	/* A challenge's lease ends it: every node is told. */
	assert_int_equal(store_challenge_put(a, "tls-alpn-01/x.test", "digest", 2, &eb), 0);
	assert_int_equal(feed_wait(&fb, &fb.puts, 2), 0);
	assert_int_equal(feed_wait(&fb, &fb.dels, 2), 0);
	assert_string_equal(fb.last_key, "tls-alpn-01/x.test");
	assert_null(store_challenge_get(a, "tls-alpn-01/x.test"));
	/* Ticket and ECH keys, and certificates with their parsed certfile. */
	memset(blob, 7, sizeof(blob));
	assert_int_equal(store_tickets_put(a, blob, sizeof(blob), &eb), 0);
	assert_int_equal(feed_wait(&fb, &fb.tickets, 1), 0);
	assert_int_equal(store_ech_put(a, blob, sizeof(blob), &eb), 0);
	assert_int_equal(feed_wait(&fb, &fb.ech, 1), 0);
	assert_int_equal(store_blob_put(a, STORE_BLOB_STICKY, blob, 32, &eb), 0);
	assert_int_equal(feed_wait(&fb, &fb.sticky, 1), 0);
	assert_int_equal(fb.tickets, 1);	/* each blob its own event */
	assert_int_equal(testcert_make("ec", "feed.test", 30, &cert, &key), 0);
	cf = store_cert_put(a, "feed.test", names, 1, cert, key, &eb);
	assert_non_null(cf);
	assert_int_equal(feed_wait(&fb, &fb.certs, 1), 0);
	assert_string_equal(fb.last_name, "feed.test");
	assert_string_equal(fb.cert_sha, cf->sha256);
	/* A renewal request reaches every node, its maker included. */
	assert_int_equal(store_renew_request(b, "feed.test", &eb), 0);
	assert_int_equal(feed_wait(&fa, &fa.renews, 1), 0);
	assert_int_equal(feed_wait(&fb, &fb.renews, 1), 0);
	assert_string_equal(fa.last_name, "feed.test");
	/* a's watch has passed every revision above: its own changes were
	 * told once (by store.c), never again through the watch; the lease's
	 * delete came from etcd, not from a. */
	assert_int_equal(feed_get(&fa, &fa.puts), 2);
	assert_int_equal(feed_get(&fa, &fa.dels), 2);
	assert_int_equal(feed_get(&fa, &fa.tickets), 1);
	assert_int_equal(feed_get(&fa, &fa.ech), 1);
	assert_int_equal(feed_get(&fa, &fa.certs), 1);
	store_unwatch(a, on_event, &fa);
	store_unwatch(b, on_event, &fb);
	certfile_unref(cf);
	store_close(b);
	store_close(a);
	feed_cleanup(&fa);
	feed_cleanup(&fb);
	free(cert);
	free(key);
}

struct taken {
	int	n, x, y;
};

static void
on_take(const char *name, void *arg)
{
	struct taken *t = arg;

	t->n++;
	t->x += strcmp(name, "x.test") == 0;
	t->y += strcmp(name, "y.test") == 0;
}

static void
test_blobs_and_requests(void **state)
{
	struct errbuf	 eb;
	struct store	*a = open_ca(CA), *b = open_ca(CA);
	uint8_t		 keys[80], back[160];
	size_t		 len = 0;
	time_t		 updated = 0, before = time(NULL);
	struct taken	 t;

	(void)state;
	for (size_t i = 0; i < sizeof(keys); i++)
		keys[i] = (uint8_t)(i * 7);
	assert_int_equal(store_tickets_put(a, keys, sizeof(keys), &eb), 0);
	assert_int_equal(store_tickets_get(b, back, sizeof(back), &len, &updated), 0);
	assert_int_equal(len, sizeof(keys));
	assert_memory_equal(back, keys, sizeof(keys));
	assert_true(updated >= before);
	assert_int_equal(store_tickets_get(b, back, 10, &len, NULL), -1); /* cap */
	keys[0] ^= 1;
	assert_int_equal(store_ech_put(a, keys, 33, &eb), 0);
	assert_int_equal(store_ech_get(b, back, sizeof(back), &len, NULL), 0);
	assert_int_equal(len, 33);
	assert_memory_equal(back, keys, 33);
	keys[0] ^= 2;
	assert_int_equal(store_blob_put(a, STORE_BLOB_STICKY, keys, 32, &eb), 0);
	assert_int_equal(store_blob_get(b, STORE_BLOB_STICKY, back, sizeof(back), &len,
	    NULL), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(back, keys, 32);
	/* Renewal requests: each is taken once, by one node. */
	assert_int_equal(store_renew_request(a, "x.test", &eb), 0);
	assert_int_equal(store_renew_request(a, "y.test", &eb), 0);
	assert_int_equal(store_renew_request(a, "../z", &eb), -1);
	memset(&t, 0, sizeof(t));
	store_renew_requests_take(b, on_take, &t);
	assert_true(t.x == 1 && t.y == 1);
	memset(&t, 0, sizeof(t));
	store_renew_requests_take(a, on_take, &t);
	assert_int_equal(t.n, 0);
	store_close(b);
	store_close(a);
}

struct odl {
	int	n, a;
	time_t	a_used;
};

static void
on_od(const char *name, const struct store_ondemand *rec, void *arg)
{
	struct odl *l = arg;

	l->n++;
	if (strcmp(name, "a.od.test") == 0) {
		l->a++;
		l->a_used = rec->last_used;
	}
}

static void
test_ondemand_index(void **state)
{
	struct errbuf		 eb;
	struct store		*s = open_ca(CA), *other = open_ca("https://other.test/dir");
	struct store_ondemand	 rec, got;
	struct certfile		*cf;
	struct odl		 l;
	char			*cert, *key, *names[] = { "c.od.test" };

	(void)state;
	assert_int_equal(store_ondemand_count(s), 0);
	assert_int_equal(store_ondemand_get(s, "a.od.test", &got), -1);
	rec.last_used = 1800000000;
	rec.not_before = 1799000000;
	rec.not_after = 1807000000;
	assert_int_equal(store_ondemand_touch(s, "a.od.test", &rec, &eb), 0);
	rec.last_used++;
	assert_int_equal(store_ondemand_touch(s, "a.od.test", &rec, &eb), 0);
	assert_int_equal(store_ondemand_touch(s, "c.od.test", &rec, &eb), 0);
	assert_int_equal(store_ondemand_touch(s, "../bad", &rec, &eb), -1);
	assert_int_equal(store_ondemand_get(s, "a.od.test", &got), 0);
	assert_memory_equal(&got, &rec, sizeof(rec));
	assert_int_equal(store_ondemand_count(s), 2);
	assert_int_equal(store_ondemand_count(other), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_ondemand_list(s, on_od, &l), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.a, 1);
	assert_int_equal(l.a_used, 1800000001);
	/* remove takes the certificate and renewal state with the entry. */
	assert_int_equal(testcert_make("ec", "c.od.test", 30, &cert, &key), 0);
	cf = store_cert_put(s, "c.od.test", names, 1, cert, key, &eb);
	assert_non_null(cf);
	certfile_unref(cf);
	assert_int_equal(store_renewal_put(s, "c.od.test", CERTFILE_EC, &(struct
	    store_renewal){ .failures = 1 }, NULL, &eb), 0);
	assert_int_equal(store_ondemand_remove(s, "c.od.test", &eb), 0);
	assert_null(store_cert_get(s, "c.od.test", CERTFILE_EC, &eb));
	assert_int_equal(store_renewal_get(s, "c.od.test", CERTFILE_EC, &(struct
	    store_renewal){ 0 }), -1);
	assert_int_equal(store_ondemand_get(s, "c.od.test", &got), -1);
	assert_int_equal(store_ondemand_count(s), 1);
	store_close(other);
	store_close(s);
	free(cert);
	free(key);
}

static void
test_encryption_at_rest(void **state)
{
	struct errbuf		 eb;
	struct store		*s = open_ca(CA), *wrong;
	struct store_etcd_cfg	 c;
	struct certfile		*cf;
	char			*cert, *key, *names[] = { "enc.test" }, *k2;
	unsigned char		*raw, *der = NULL, tk[64];
	size_t			 n, tn;
	int			 dlen;
	EVP_PKEY		*pk;
	BIO			*bio;

	(void)state;
	assert_int_equal(testcert_make("ec", "enc.test", 30, &cert, &key), 0);
	cf = store_cert_put(s, "enc.test", names, 1, cert, key, &eb);
	assert_non_null(cf);
	certfile_unref(cf);
	/* The chain is public and readable as such: the raw read works. */
	raw = raw_get(PREFIX "ca/" CA_SLUG "/cert/enc.test/ecdsa/chain", &n);
	assert_non_null(raw);
	assert_true(contains(raw, n, "BEGIN CERTIFICATE", 17));
	free(raw);
	/* The key: neither its PEM nor its DER bytes are stored in clear. */
	bio = BIO_new_mem_buf(key, -1);
	pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(pk);
	dlen = i2d_PrivateKey(pk, &der);
	assert_true(dlen > 48);
	raw = raw_get(PREFIX "ca/" CA_SLUG "/cert/enc.test/ecdsa/key", &n);
	assert_non_null(raw);
	assert_false(contains(raw, n, "PRIVATE KEY", 11));
	assert_false(contains(raw, n, der + dlen - 32, 16));	/* public part */
	assert_false(contains(raw, n, der + 7, 16));		/* the scalar */
	assert_false(contains(raw, n, key + 40, 32));		/* its base64 */
	/* Ticket keys likewise. */
	memset(tk, 0x5a, sizeof(tk));
	assert_int_equal(store_tickets_put(s, tk, sizeof(tk), &eb), 0);
	free(raw);
	raw = raw_get(PREFIX "tickets", &n);
	assert_non_null(raw);
	assert_false(contains(raw, n, tk, 16));
	free(raw);
	/* A node with another encryption key opens nothing, and says which. */
	k2 = testcert_write(dir, "other.key",
	    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\n",
	    0600);
	c = cfg_for(k2);
	wrong = store_open_etcd(&c, CA, &eb);
	assert_non_null(wrong);
	assert_null(store_cert_get(wrong, "enc.test", CERTFILE_EC, &eb));
	assert_non_null(strstr(eb.msg, "cert/enc.test/ecdsa/key"));
	assert_non_null(strstr(eb.msg, "does not open"));
	assert_int_equal(store_tickets_get(wrong, tk, sizeof(tk), &tn, NULL), -1);
	store_close(wrong);
	/* A sealed value moved to another key does not open either. */
	raw = raw_get(PREFIX "ca/" CA_SLUG "/cert/enc.test/ecdsa/key", &n);
	raw_put(PREFIX "ca/" CA_SLUG "/cert/moved.test/ecdsa/key", raw, n);
	free(raw);
	raw = raw_get(PREFIX "ca/" CA_SLUG "/cert/enc.test/ecdsa/chain", &n);
	raw_put(PREFIX "ca/" CA_SLUG "/cert/moved.test/ecdsa/chain", raw, n);
	free(raw);
	assert_null(store_cert_get(s, "moved.test", CERTFILE_EC, &eb));
	assert_non_null(strstr(eb.msg, "moved.test/ecdsa/key"));
	/* An altered value is an error naming the key, never served. */
	raw = raw_get(PREFIX "ca/" CA_SLUG "/cert/enc.test/ecdsa/key", &n);
	raw[n - 1] ^= 1;
	raw_put(PREFIX "ca/" CA_SLUG "/cert/enc.test/ecdsa/key", raw, n);
	free(raw);
	assert_null(store_cert_get(s, "enc.test", CERTFILE_EC, &eb));
	assert_non_null(strstr(eb.msg, "enc.test/ecdsa/key"));
	EVP_PKEY_free(pk);
	OPENSSL_free(der);
	free(k2);
	store_close(s);
	free(cert);
	free(key);
}

static void
gw_ok(const char *path, json_t *req)
{
	json_t *r = gw(path, req);

	if (json_object_get(r, "header") == NULL) {
		char *t = r != NULL ? json_dumps(r, 0) : NULL;
		print_error("%s: %s\n", path, t != NULL ? t : "no answer");
		free(t);
	}
	assert_non_null(json_object_get(r, "header"));
	json_decref(r);
}

static char *
pem_file(const char *name, const char *pem)
{
	char *p = testcert_write(dir, name, pem, 0600);

	assert_non_null(p);
	return p;
}

/*
 * TLS to etcd, with client certificates: a second etcd that wants both.
 * The server's certificate is for "localhost" (the test's certificates have
 * DNS names only); etcd listens on 127.0.0.1 alone.
 */
static void
test_tls(void **state)
{
	struct testcert_opts	 o;
	struct errbuf		 eb;
	struct store_etcd_cfg	 c = cfg_for(keyfile);
	struct store		*a = NULL, *b;
	struct feed		 fb;
	char			*ca, *cak, *srv, *srvk, *cli, *clik, url[64], host[80];
	char			*f_ca, *f_srv, *f_srvk, *f_cli, *f_clik;
	const char		*eps[1] = { host };
	const char		*tls[12];
	pid_t			 pid;
	time_t			 deadline;
	int			 port;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.cn = "tlsgate test CA";
	o.ca = 1;
	assert_int_equal(testcert_issue(&o, &ca, &cak), 0);
	memset(&o, 0, sizeof(o));
	o.names = "localhost";
	o.eku = "serverAuth,clientAuth";	/* etcd's gateway dials with it */
	o.issuer_cert = ca;
	o.issuer_key = cak;
	assert_int_equal(testcert_issue(&o, &srv, &srvk), 0);
	o.names = "node1.test";
	o.eku = "clientAuth";
	assert_int_equal(testcert_issue(&o, &cli, &clik), 0);
	f_ca = pem_file("tls-ca.pem", ca);
	f_srv = pem_file("tls-srv.pem", srv);
	f_srvk = pem_file("tls-srv.key", srvk);
	f_cli = pem_file("tls-cli.pem", cli);
	f_clik = pem_file("tls-cli.key", clik);
	tls[0] = "--cert-file"; tls[1] = f_srv;
	tls[2] = "--key-file"; tls[3] = f_srvk;
	tls[4] = "--trusted-ca-file"; tls[5] = f_ca;
	tls[6] = "--client-cert-auth";
	tls[7] = NULL;
	pid = etcdh_spawn(dir, "tls", "https", tls, etcdh_free_port(),
	    etcdh_free_port(), url, sizeof(url));
	assert_true(pid > 0);
	assert_int_equal(sscanf(url, "https://127.0.0.1:%d", &port), 1);
	snprintf(host, sizeof(host), "https://localhost:%d", port);
	c.endpoints = eps;
	c.nendpoints = 1;
	c.ca_file = f_ca;
	c.cert_file = f_cli;
	c.key_file = f_clik;
	deadline = time(NULL) + WAIT_SECS;
	while (a == NULL && time(NULL) < deadline) {
		if ((a = store_open_etcd(&c, CA, &eb)) == NULL)
			usleep(100 * 1000);	/* polling the port */
		assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
	}
	if (a == NULL)
		print_error("TLS etcd: %s\n", eb.msg);
	assert_non_null(a);
	b = store_open_etcd(&c, CA, &eb);
	assert_non_null(b);
	feed_init(&fb);
	store_watch(b, on_event, &fb);
	assert_int_equal(store_challenge_put(a, "http-01/tls", "over tls", 60, &eb), 0);
	assert_int_equal(feed_wait(&fb, &fb.puts, 1), 0);
	assert_string_equal(fb.last_value, "over tls");
	store_unwatch(b, on_event, &fb);
	feed_cleanup(&fb);
	store_close(b);
	store_close(a);
	/* Without a client certificate, or without the CA, it does not open. */
	c.cert_file = c.key_file = NULL;
	assert_null(store_open_etcd(&c, CA, &eb));
	c.cert_file = f_cli;
	c.key_file = f_clik;
	c.ca_file = NULL;
	assert_null(store_open_etcd(&c, CA, &eb));
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	free(ca); free(cak); free(srv); free(srvk); free(cli); free(clik);
	free(f_ca); free(f_srv); free(f_srvk); free(f_cli); free(f_clik);
}

/* etcd stops and comes back: the watch and the calls resume by themselves. */
static void
test_etcd_restart(void **state)
{
	struct errbuf	 eb;
	struct store	*a = open_ca(CA), *b = open_ca(CA);
	struct feed	 fb;
	char		*v;

	(void)state;
	feed_init(&fb);
	store_watch(b, on_event, &fb);
	assert_int_equal(store_challenge_put(a, "http-01/r1", "before", 60, &eb), 0);
	assert_int_equal(feed_wait(&fb, &fb.puts, 1), 0);
	kill(etcd_pid, SIGTERM);
	assert_int_equal(waitpid(etcd_pid, NULL, 0), etcd_pid);
	etcd_pid = 0;
	/* Down: calls fail, and say where. */
	assert_int_equal(store_challenge_put(a, "http-01/r2", "down", 60, &eb), -1);
	assert_non_null(strstr(eb.msg, "127.0.0.1"));
	assert_int_equal(etcd_start(), 0);
	assert_int_equal(store_challenge_put(a, "http-01/r3", "after", 60, &eb), 0);
	assert_int_equal(feed_wait(&fb, &fb.puts, 2), 0);
	assert_string_equal(fb.last_key, "http-01/r3");
	v = store_challenge_get(b, "http-01/r1");
	assert_string_equal(v, "before");
	free(v);
	store_unwatch(b, on_event, &fb);
	feed_cleanup(&fb);
	store_close(b);
	store_close(a);
}

/* Last: it turns etcd's authentication on for good. */
static void
test_auth(void **state)
{
	struct errbuf		 eb;
	struct store_etcd_cfg	 c = cfg_for(keyfile);
	struct store		*a, *b;
	struct feed		 fb;
	json_t			*r;
	uint8_t			 blob[16] = { 1, 2, 3 }, back[16];
	size_t			 len;
	char			*v;

	(void)state;
	gw_ok("/v3/auth/user/add", json_pack("{s:s, s:s}", "name", "root",
	    "password", "rootpw"));
	json_decref(gw("/v3/auth/role/add", json_pack("{s:s}", "name", "root")));
	gw_ok("/v3/auth/user/grant", json_pack("{s:s, s:s}", "user", "root",
	    "role", "root"));
	gw_ok("/v3/auth/enable", json_object());
	/* Without a user, or with a wrong password, nothing opens. */
	assert_null(store_open_etcd(&c, CA, &eb));
	c.user = "root";
	c.password = "wrong";
	assert_null(store_open_etcd(&c, CA, &eb));
	assert_non_null(strstr(eb.msg, "authentication as root"));
	c.password = "rootpw";
	a = store_open_etcd(&c, CA, &eb);
	assert_non_null(a);
	b = store_open_etcd(&c, CA, &eb);
	assert_non_null(b);
	feed_init(&fb);
	store_watch(b, on_event, &fb);
	/* The watch stream carries the token too. */
	assert_int_equal(store_challenge_put(a, "http-01/auth", "v", 60, &eb), 0);
	assert_int_equal(feed_wait(&fb, &fb.puts, 1), 0);
	assert_string_equal(fb.last_key, "http-01/auth");
	/* etcd drops root's tokens when its password is set (here to the same
	 * one): the store's next call is refused once, gets a new token and
	 * goes on. */
	r = gw("/v3/auth/authenticate", json_pack("{s:s, s:s}", "name", "root",
	    "password", "rootpw"));
	assert_non_null(json_string_value(json_object_get(r, "token")));
	snprintf(gw_token, sizeof(gw_token), "%s",
	    json_string_value(json_object_get(r, "token")));
	json_decref(r);
	gw_ok("/v3/kv/range", json_pack("{s:s}", "key", "eA=="));
	gw_ok("/v3/auth/user/changepw", json_pack("{s:s, s:s}", "name", "root",
	    "password", "rootpw"));
	r = gw("/v3/kv/range", json_pack("{s:s}", "key", "eA=="));
	assert_null(json_object_get(r, "header"));	/* the old token is dead */
	json_decref(r);
	assert_int_equal(store_tickets_put(a, blob, sizeof(blob), &eb), 0);
	assert_int_equal(store_tickets_get(a, back, sizeof(back), &len, NULL), 0);
	assert_memory_equal(back, blob, sizeof(blob));
	v = store_challenge_get(a, "http-01/auth");
	assert_string_equal(v, "v");
	free(v);
	store_unwatch(b, on_event, &fb);
	feed_cleanup(&fb);
	store_close(b);
	store_close(a);
}

static int
setup(void **state)
{
	unsigned char k[32];

	(void)state;
	if ((dir = mkdtemp(tmpl)) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (unsigned char)(i * 37 + 11);
	keyfile = malloc(strlen(dir) + 16);
	sprintf(keyfile, "%s/etcd.key", dir);
	{
		int fd = open(keyfile, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd == -1 || write(fd, k, sizeof(k)) != sizeof(k))
			return -1;
		close(fd);
	}
	if (etcd_start() == -1) {
		fprintf(stderr, "etcd did not start; see %s/etcd.log\n", dir);
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
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_certificates),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_account),
		cmocka_unit_test(test_renewal_state),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_lock_kept),
		cmocka_unit_test(test_challenge_acks),
		cmocka_unit_test(test_challenge_late_join),
		cmocka_unit_test(test_challenges_and_feed),
		cmocka_unit_test(test_blobs_and_requests),
		cmocka_unit_test(test_ondemand_index),
		cmocka_unit_test(test_encryption_at_rest),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_etcd_restart),
		cmocka_unit_test(test_auth),
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
	return cmocka_run_group_tests_name("store_etcd", tests, setup, teardown);
}
