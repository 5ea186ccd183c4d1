/*
 * test_store_ops.c - the store interface over its file backend: certificates
 * (a bad pair never replaces a good one), renewal state, locks, challenges,
 * session-ticket keys, renewal requests, listing, and the change feed.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "certfile.h"
#include "errbuf.h"
#include "store.h"
#include "testcert.h"

#define CA	"https://ca.test/directory"

static char	 tmpl[] = "/tmp/tlsgate-storeops-XXXXXX";
static char	*dir;

struct feed {
	int	certs, puts, dels, tickets, ech;
	char	last_name[64], last_key[64];
};

static void
on_event(const struct store_event *ev, void *arg)
{
	struct feed *f = arg;

	switch (ev->kind) {
	case STORE_CHANGE_CERT:
		f->certs++;
		snprintf(f->last_name, sizeof(f->last_name), "%s", ev->name);
		break;
	case STORE_CHANGE_CHALLENGE_PUT:
		f->puts++;
		snprintf(f->last_key, sizeof(f->last_key), "%s", ev->key);
		break;
	case STORE_CHANGE_CHALLENGE_DEL:
		f->dels++;
		break;
	case STORE_CHANGE_TICKETS:
		f->tickets++;
		break;
	case STORE_CHANGE_ECH:
		f->ech++;
		break;
	default:
		break;
	}
}

static void
test_certificates(void **state)
{
	struct errbuf	 eb;
	struct store	*s = store_open_file(dir, CA, &eb);
	struct certfile	*cf, *got;
	struct feed	 f;
	char		*cert, *key, *cert2, *key2, *names[] = { "a.test", "www.a.test" };
	char		*path;
	struct stat	 st;

	assert_non_null(s);
	memset(&f, 0, sizeof(f));
	store_watch(s, on_event, &f);
	assert_null(store_cert_get(s, "a.test", CERTFILE_EC, &eb));
	assert_string_equal(eb.msg, "");		/* none yet: not an error */
	assert_int_equal(testcert_make("ec", "a.test,www.a.test", 30, &cert, &key), 0);
	cf = store_cert_put(s, "a.test", names, 2, cert, key, &eb);
	assert_non_null(cf);
	assert_int_equal(f.certs, 1);
	assert_string_equal(f.last_name, "a.test");
	got = store_cert_get(s, "a.test", CERTFILE_EC, &eb);
	assert_non_null(got);
	assert_string_equal(got->sha256, cf->sha256);
	certfile_unref(got);
	/* The key is never readable by others. */
	assert_true(asprintf(&path, "%s/ca.test_directory/certs/a.test/ecdsa.pem", dir) > 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	/* A key that does not match, or a chain that misses a name, replaces
	 * nothing and tells no watcher. */
	assert_int_equal(testcert_make("ec", "a.test", 30, &cert2, &key2), 0);
	assert_null(store_cert_put(s, "a.test", names, 2, cert, key2, &eb));
	assert_null(store_cert_put(s, "a.test", names, 2, cert2, key2, &eb));
	assert_non_null(strstr(eb.msg, "www.a.test"));
	assert_int_equal(f.certs, 1);
	got = store_cert_get(s, "a.test", CERTFILE_EC, &eb);
	assert_string_equal(got->sha256, cf->sha256);
	certfile_unref(got);
	/* Names that would leave the store's folder are refused. */
	assert_null(store_cert_put(s, "../x", names, 0, cert, key, &eb));
	certfile_unref(cf);
	store_unwatch(s, on_event, &f);
	store_close(s);
	free(path);
	free(cert); free(key); free(cert2); free(key2);
}

static void
test_renewal_state(void **state)
{
	struct errbuf		 eb;
	struct store		*s = store_open_file(dir, CA, &eb);
	struct store_renewal	 r, back;

	assert_non_null(s);
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
	snprintf(r.issuer, sizeof(r.issuer), "https://b.test/dir");
	snprintf(r.order_issuer, sizeof(r.order_issuer), "https://c.test/dir");
	r.issuer_failures = 1;
	snprintf(r.round_issuer, sizeof(r.round_issuer), "https://b.test/dir");
	snprintf(r.rl_issuer, sizeof(r.rl_issuer), "%s", CA);
	r.rl_until = 1900007200;
	assert_int_equal(store_renewal_put(s, "b.test", CERTFILE_RSA, &r, NULL, &eb), 0);
	store_close(s);
	/* Another handle, as after a restart, reads it all back. */
	s = store_open_file(dir, CA, &eb);
	assert_int_equal(store_renewal_get(s, "b.test", CERTFILE_RSA, &back), 0);
	assert_memory_equal(&r, &back, sizeof(r));
	/* Another CA's namespace does not see it. */
	store_close(s);
	s = store_open_file(dir, "https://other.test/dir", &eb);
	assert_int_equal(store_renewal_get(s, "b.test", CERTFILE_RSA, &back), -1);
	store_close(s);
}

static void
test_locks(void **state)
{
	struct errbuf		 eb;
	struct store		*s = store_open_file(dir, CA, &eb);
	struct store_lock	*l1, *l2;

	l1 = store_lock_acquire(s, "c.test", 60, &eb);
	assert_non_null(l1);
	assert_int_equal(store_lock_check(l1), 1);
	assert_int_equal(store_lock_keepalive(l1), 0);
	/* A second holder is refused while the first holds it. */
	l2 = store_lock_acquire(s, "c.test", 60, &eb);
	assert_null(l2);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_non_null(strstr(eb.msg, "held by another"));
	store_lock_release(l1);
	l2 = store_lock_acquire(s, "c.test", 60, &eb);
	assert_non_null(l2);
	store_lock_release(l2);
	store_lock_release(NULL);
	store_close(s);
}

struct listed {
	int	n;
	char	text[256];
};

static void
on_listed(const char *key, const char *value, void *arg)
{
	struct listed	*l = arg;
	size_t		 len = strlen(l->text);

	l->n++;
	snprintf(l->text + len, sizeof(l->text) - len, "%s=%s ", key, value);
}

static void
test_challenges_and_feed(void **state)
{
	struct listed	 listed;
	struct errbuf	 eb;
	struct store	*s = store_open_file(dir, CA, &eb);
	struct feed	 f;
	char		*v;

	memset(&f, 0, sizeof(f));
	store_watch(s, on_event, &f);
	assert_int_equal(store_challenge_put(s, "http-01/tok", "tok.thumb", 60, &eb), 0);
	assert_int_equal(f.puts, 1);
	assert_string_equal(f.last_key, "http-01/tok");
	v = store_challenge_get(s, "http-01/tok");
	assert_string_equal(v, "tok.thumb");
	free(v);
	store_challenge_del(s, "http-01/tok");
	assert_int_equal(f.dels, 1);
	assert_null(store_challenge_get(s, "http-01/tok"));
	store_unwatch(s, on_event, &f);
	assert_int_equal(store_challenge_put(s, "http-01/late", "y", 60, &eb), 0);
	assert_int_equal(f.puts, 1);		/* unwatched: not told */
	/* The listing: what is in flight, an expired one gone. */
	assert_int_equal(store_challenge_put(s, "tls-alpn-01/x.test", "z", 60,
	    &eb), 0);
	assert_int_equal(store_challenge_put(s, "http-01/old", "o", 1, &eb), 0);
	memset(&listed, 0, sizeof(listed));
	assert_int_equal(store_challenge_list(s, on_listed, &listed), 0);
	assert_int_equal(listed.n, 3);
	assert_string_equal(listed.text, "http-01/late=y tls-alpn-01/x.test=z "
	    "http-01/old=o ");
	/* Its one-second lease over (a wait on the clock the store reads). */
	for (time_t t = time(NULL) + 1; time(NULL) <= t; )
		usleep(50 * 1000);
	memset(&listed, 0, sizeof(listed));
	assert_int_equal(store_challenge_list(s, on_listed, &listed), 0);
	assert_int_equal(listed.n, 2);
	assert_null(strstr(listed.text, "old"));
	store_close(s);
}

static void
test_tickets_and_requests(void **state)
{
	struct errbuf	 eb;
	struct store	*s = store_open_file(dir, NULL, &eb);
	uint8_t		 keys[80], back[160];
	size_t		 len;
	time_t		 when;
	char		*path;
	struct stat	 st;

	memset(keys, 0xab, sizeof(keys));
	assert_int_equal(store_tickets_put(s, keys, sizeof(keys), &eb), 0);
	assert_int_equal(store_tickets_get(s, back, sizeof(back), &len, &when), 0);
	assert_int_equal(len, sizeof(keys));
	assert_memory_equal(keys, back, len);
	assert_true(when > 0);
	assert_true(asprintf(&path, "%s/tickets.key", dir) > 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	free(path);
	assert_int_equal(store_renew_request(s, "d.test", &eb), 0);
	assert_int_equal(store_renew_request(s, "../etc", &eb), -1);
	store_close(s);
}

static void
count_name(const char *name, void *arg)
{
	if (strcmp(name, "e.test") == 0)
		(*(int *)arg)++;
}

/*
 * ECH keys: the blob round-trips, a second put replaces it (one file, 0600,
 * no temporary left), the feed hears each put, a blob larger than the
 * caller's buffer or readable by others is refused, and a second handle on
 * the same folder (a restart) reads what the first wrote.
 */
static void
test_ech_keys(void **state)
{
	struct errbuf	 eb;
	struct store	*s = store_open_file(dir, NULL, &eb), *s2;
	struct feed	 f;
	const char	 one[] = "{\"keys\":[1]}", two[] = "{\"keys\":[2, 3]}";
	char		 back[64], *path;
	size_t		 len;
	time_t		 when = 0;
	struct stat	 st;
	DIR		*d;
	struct dirent	*e;

	memset(&f, 0, sizeof(f));
	assert_non_null(s);
	assert_int_equal(store_ech_get(s, back, sizeof(back), &len, &when), -1);
	assert_int_equal(store_watch(s, on_event, &f), 0);
	assert_int_equal(store_ech_put(s, one, strlen(one), &eb), 0);
	assert_int_equal(store_ech_put(s, two, strlen(two), &eb), 0);
	assert_int_equal(f.ech, 2);
	assert_int_equal(f.tickets, 0);
	assert_int_equal(store_ech_get(s, back, sizeof(back), &len, &when), 0);
	assert_int_equal(len, strlen(two));
	assert_memory_equal(back, two, len);
	assert_true(when > 0);
	assert_int_equal(store_ech_get(s, back, 4, &len, NULL), -1);
	assert_true(asprintf(&path, "%s/ech.json", dir) > 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(d = opendir(dir));
	while ((e = readdir(d)) != NULL)
		assert_null(strstr(e->d_name, ".tmp"));
	closedir(d);
	s2 = store_open_file(dir, NULL, &eb);
	assert_non_null(s2);
	assert_int_equal(store_ech_get(s2, back, sizeof(back), &len, NULL), 0);
	assert_int_equal(len, strlen(two));
	assert_memory_equal(back, two, len);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(store_ech_get(s2, back, sizeof(back), &len, NULL), -1);
	free(path);
	store_close(s2);
	store_unwatch(s, on_event, &f);
	store_close(s);
}

static void
test_requests_taken_once(void **state)
{
	struct errbuf	 eb;
	struct store	*s = store_open_file(dir, NULL, &eb);
	int		 n = 0;

	assert_int_equal(store_renew_request(s, "e.test", &eb), 0);
	store_renew_requests_take(s, count_name, &n);
	assert_int_equal(n, 1);
	store_renew_requests_take(s, count_name, &n);
	assert_int_equal(n, 1);			/* taken: gone */
	store_close(s);
}

static void
count_entry(const struct store_entry *e, void *arg)
{
	if (strcmp(e->name, "a.test") == 0 && e->cf != NULL)
		(*(int *)arg)++;
}

static void
test_list(void **state)
{
	struct errbuf	 eb;
	struct store	*all = store_open_file(dir, NULL, &eb);
	int		 n = 0;

	/* a.test (ecdsa, with a certificate) and b.test (rsa, state only). */
	assert_true(store_list(all, count_entry, &n) >= 2);
	assert_int_equal(n, 1);
	store_close(all);
}

struct od_seen {
	int	n, saw_c;
	time_t	c_used;
};

static void
od_one(const char *name, const struct store_ondemand *rec, void *arg)
{
	struct od_seen *o = arg;

	o->n++;
	if (strcmp(name, "c.od.test") == 0) {
		o->saw_c = 1;
		o->c_used = rec->last_used;
	}
}

/* The on-demand index: records, listing without certificates, counting,
 * and removal with the name's certificate; a torn record reads as unused. */
static void
test_ondemand_index(void **state)
{
	struct errbuf		 eb;
	struct store		*s = store_open_file(dir, CA, &eb);
	struct store_ondemand	 rec = { 1000, 500, 9000 }, got;
	struct od_seen		 o = { 0 };
	struct certfile		*cf;
	char			*cert, *key, *names[] = { "c.od.test" }, *path;
	FILE			*fp;

	assert_non_null(s);
	assert_int_equal(store_ondemand_count(s), 0);
	assert_int_equal(store_ondemand_get(s, "c.od.test", &got), -1);
	assert_int_equal(store_ondemand_touch(s, "c.od.test", &rec, &eb), 0);
	rec.last_used = 2000;
	assert_int_equal(store_ondemand_touch(s, "d.od.test", &rec, &eb), 0);
	assert_int_equal(store_ondemand_get(s, "c.od.test", &got), 0);
	assert_int_equal(got.last_used, 1000);
	assert_int_equal(got.not_before, 500);
	assert_int_equal(got.not_after, 9000);
	assert_int_equal(store_ondemand_count(s), 2);
	assert_int_equal(store_ondemand_list(s, od_one, &o), 0);
	assert_int_equal(o.n, 2);
	assert_true(o.saw_c);
	assert_int_equal(o.c_used, 1000);
	/* Names that would leave the folder are refused. */
	assert_int_equal(store_ondemand_touch(s, "../x", &rec, &eb), -1);
	/* A torn record: as if never used, with no certificate. */
	assert_true(asprintf(&path, "%s/ca.test_directory/on-demand/d.od.test", dir) > 0);
	assert_non_null(fp = fopen(path, "w"));
	fputs("12", fp);
	fclose(fp);
	assert_int_equal(store_ondemand_get(s, "d.od.test", &got), 0);
	assert_int_equal(got.last_used, 0);
	assert_int_equal(got.not_after, 0);
	free(path);
	/* Removal takes the certificate with it. */
	assert_int_equal(testcert_make("ec", "c.od.test", 30, &cert, &key), 0);
	cf = store_cert_put(s, "c.od.test", names, 1, cert, key, &eb);
	assert_non_null(cf);
	certfile_unref(cf);
	assert_int_equal(store_ondemand_remove(s, "c.od.test", &eb), 0);
	assert_null(store_cert_get(s, "c.od.test", CERTFILE_EC, &eb));
	assert_int_equal(store_ondemand_get(s, "c.od.test", &got), -1);
	assert_int_equal(store_ondemand_count(s), 1);
	store_close(s);
	free(cert);
	free(key);
}

static int
setup(void **state)
{
	dir = mkdtemp(tmpl);
	return dir == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	return testcert_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_certificates),
		cmocka_unit_test(test_renewal_state),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_challenges_and_feed),
		cmocka_unit_test(test_tickets_and_requests),
		cmocka_unit_test(test_ech_keys),
		cmocka_unit_test(test_requests_taken_once),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_ondemand_index),
	};
	return cmocka_run_group_tests_name("store_ops", tests, setup, teardown);
}
