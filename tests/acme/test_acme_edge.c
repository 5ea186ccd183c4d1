/*
 * test_acme_edge.c - the ACME client against recorded responses, for what
 * changed in the ACME world in 2025-2026: certificate profiles (the order's
 * "profile", the renewal state, a profile the CA does not offer) and ARI's
 * edge cases (an expired certificate, "replaces" refused, a window that has
 * passed with short-lived certificates), under an injected clock; and a
 * shared store that cannot be read when the job holds the lock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/base64.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "acme.h"
#include "log.h"
#include "certfile.h"
#include "errbuf.h"
#include "replay.h"
#include "store.h"
#include "testcert.h"
#include "replay_fx.h"

/* ---- profiles ---------------------------------------------------------- */

#define DIR_PROFILES "{\"newNonce\": \"https://ca.test/nonce\", " \
    "\"newAccount\": \"https://ca.test/acct\", \"newOrder\": \"https://ca.test/order\", " \
    "\"renewalInfo\": \"https://ca.test/ari/\", \"meta\": {\"profiles\": " \
    "{\"classic\": \"90 days\", \"shortlived\": \"160 hours\"}}}"
#define RATE_LIMITED "{\"type\": \"urn:ietf:params:acme:error:rateLimited\", " \
    "\"detail\": \"too many certificates\"}"

static int
attempted(json_t *m)
{
	return json_integer_value(json_object_get(m, "attempts")) >= 1;
}

static int
attempted_twice(json_t *m)
{
	return json_integer_value(json_object_get(m, "attempts")) >= 2;
}

/* The site's profile goes into newOrder and into the renewal state. */
static void
test_profile_in_order_and_state(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_PROFILES },
		{ "HEAD", "/nonce", 200, NULL, NULL, "" },
		{ "POST", "/acct", 201, "https://ca.test/acct/1", NULL, "{\"status\": \"valid\"}" },
		{ "POST", "/order", 429, NULL, NULL, RATE_LIMITED, record_order },
	};
	struct replay	 r;
	json_t		*m;
	char		*p;

	site_profile = "shortlived";
	m = run(steps, 4, attempted, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), 4);
	assert_int_equal(atomic_load(&nseen_orders), 1);
	p = order_field(0, "profile");
	assert_non_null(p);
	assert_string_equal(p, "shortlived");
	free(p);
	assert_string_equal(str(m, "profile"), "shortlived");
	assert_non_null(strstr(err_of(m), "rateLimited"));
	json_decref(m);
}

/* A profile the CA does not list: no order at all, and an error that names
 * it and the CA's list. */
static void
test_profile_unknown_refused(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_PROFILES },
	};
	struct replay	 r;
	json_t		*m;

	site_profile = "tlsserver";
	m = run(steps, 1, attempted, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), 1);
	assert_int_equal(atomic_load(&nseen_orders), 0);
	assert_string_equal(err_of(m), "profile \"tlsserver\" is not offered by the "
	    "CA (it offers: classic, shortlived)");
	assert_string_equal(str(m, "fail_class"), "other");
	assert_int_equal(num(m, "attempts"), 1);
	json_decref(m);
}

/* A CA with no profiles at all: the same refusal, never a silent order
 * under the CA's default. */
static void
test_profile_ca_without_profiles(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_BODY },
	};
	struct replay	 r;
	json_t		*m;

	site_profile = "shortlived";
	m = run(steps, 1, attempted, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), 1);
	assert_string_equal(err_of(m), "profile \"shortlived\" is not offered by the "
	    "CA (it offers no profiles)");
	json_decref(m);
}

/* ---- ARI's edge cases, under an injected clock ---------------------------- */

static time_t	fake_base, real_base;

/* The injected time, moving with the real one (back-off timers run). */
static time_t
moving_clock(void)
{
	return fake_base + (time(NULL) - real_base);
}

/* A certificate for r.test valid for days from an hour ago, in the store. */
static void
store_cert(int days)
{
	struct errbuf	 eb;
	struct store	*st = store_open_file(statedir, DIR_URL, &eb);
	char		*cert, *key, *names[] = { "r.test" };
	struct certfile	*cf;

	assert_non_null(st);
	assert_int_equal(testcert_make("ec", "r.test", days, &cert, &key), 0);
	cf = store_cert_put(st, "r.test", names, 1, cert, key, &eb);
	assert_non_null(cf);
	certfile_unref(cf);
	store_close(st);
	free(cert);
	free(key);
}

/*
 * A certificate that expired while tlsgate was not running (the clock says
 * a day past its end): ordered at once, with no ARI request first and no
 * "replaces" naming the dead certificate (caddy#7843).
 */
static void
test_expired_orders_at_once_without_ari(void **state)
{
	static const struct replay_step steps[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_BODY },
		{ "HEAD", "/nonce", 200, NULL, NULL, "" },
		{ "POST", "/acct", 201, "https://ca.test/acct/1", NULL, "{\"status\": \"valid\"}" },
		{ "POST", "/order", 429, NULL, NULL, RATE_LIMITED, record_order },
	};
	struct replay	 r;
	json_t		*m;
	char		*rep;

	store_cert(30);
	real_base = time(NULL);
	fake_base = real_base + 31 * 86400;
	run_clock = moving_clock;
	m = run(steps, 4, attempted, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), 4);
	assert_int_equal(atomic_load(&nseen_orders), 1);
	rep = order_field(0, "replaces");
	assert_null(rep);
	assert_true(num(m, "last_order") >= fake_base && num(m, "last_order") <= fake_base + 5);
	json_decref(m);
}

/*
 * newOrder with "replaces" refused (status, problem): the same order again
 * at once without it, once; and the next attempt, after the back-off, does
 * not send it again for this certificate.
 */
static void
replaces_refused(long status, const char *problem, const char *detail)
{
	char			 body[300];
	struct replay_step	 steps[] = {
		{ "GET", "/dir", 200, NULL, NULL, DIR_BODY },
		{ "HEAD", "/nonce", 200, NULL, NULL, "" },
		{ "POST", "/acct", 201, "https://ca.test/acct/1", NULL, "{\"status\": \"valid\"}" },
		{ "POST", "/order", status, NULL, NULL, body, record_order },
		{ "POST", "/order", 429, NULL, NULL, RATE_LIMITED, record_order },
		/* The next attempt, a back-off step (1 s) later. */
		{ "POST", "/order", 429, NULL, NULL, RATE_LIMITED, record_order },
	};
	struct replay		 r;
	json_t			*m;
	char			*rep;

	snprintf(body, sizeof(body), "{\"type\": \"urn:ietf:params:acme:error:%s\", "
	    "\"detail\": \"%s\"}", problem, detail);
	/* Valid 30 days; 25 days on, it is due (a third left, less jitter). */
	store_cert(30);
	real_base = time(NULL);
	fake_base = real_base + 25 * 86400;
	run_clock = moving_clock;
	run_retry_base = 1;
	m = run(steps, 6, attempted_twice, &r);
	assert_non_null(m);
	assert_int_equal(atomic_load(&r.i), 6);
	assert_int_equal(atomic_load(&nseen_orders), 3);
	rep = order_field(0, "replaces");
	assert_non_null(rep);
	assert_non_null(strchr(rep, '.'));	/* an ARI certID: AKI.serial */
	free(rep);
	assert_null(order_field(1, "replaces"));
	assert_null(order_field(2, "replaces"));
	assert_int_equal(num(m, "attempts"), 2);
	assert_non_null(strstr(err_of(m), "rateLimited"));
	json_decref(m);
}

/* After an account change, the CA says the account may not replace it. */
static void
test_replaces_unauthorized(void **state)
{
	replaces_refused(403, "unauthorized", "account is not authorized to "
	    "replace this certificate");
}

static void
test_replaces_malformed(void **state)
{
	replaces_refused(400, "malformed", "invalid replaces: certificate not found");
}

/* Kept from the start (certmagic#361): a 409 alreadyReplaced. */
static void
test_replaces_already_replaced(void **state)
{
	replaces_refused(409, "alreadyReplaced", "certificate already replaced");
}

/* Phase two of the stale-window test: its state, when the second ARI came. */
static time_t	stale_now;

static int
renewed_and_checked(json_t *m)
{
	return num(m, "last_success") == stale_now && num(m, "ari_next") > stale_now;
}

/*
 * Short-lived certificates (160 hours) and a window that has passed: one
 * order for it, and no more. The window opened after the certificate was
 * obtained, so it is the CA's word: renewed at once. The CA then gives the
 * same (stale) window for the new certificate: spent, no second order; the
 * renewal goes back to the lifetime schedule (half of it, under 10 days).
 */
static void
test_passed_window_one_order(void **state)
{
	static const struct replay_step order_tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/2", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/2\"], "
		  "\"finalize\": \"https://ca.test/finalize/2\"}" },
		{ "POST", "/authz/2", 200, NULL, NULL,
		  "{\"status\": \"pending\", \"identifier\": {\"type\": \"dns\", \"value\": \"r.test\"}, "
		  "\"challenges\": [{\"type\": \"tls-alpn-01\", \"url\": \"https://ca.test/ch/2\", "
		  "\"token\": \"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\"}]}" },
		{ "POST", "/ch/2", 200, NULL, NULL, "{\"status\": \"processing\"}" },
		{ "POST", "/authz/2", 200, NULL, NULL,
		  "{\"status\": \"valid\", \"identifier\": {\"type\": \"dns\", \"value\": \"r.test\"}}" },
		{ "POST", "/finalize/2", 200, NULL, NULL, NULL, take_csr },
		{ "POST", "/order/2", 200, NULL, NULL,
		  "{\"status\": \"valid\", \"certificate\": \"https://ca.test/cert/2\"}" },
		{ "POST", "/cert/2", 200, NULL, NULL, NULL, on_download },
	};
	const time_t		 life = 160 * 3600;
	struct store_renewal	 rs;
	struct seen		 w;
	struct replay_step	 steps[12];
	struct replay		 r;
	size_t			 n = 0, nsteps, answered;
	char			 win[200], s1[32], e1[32];
	time_t			 t1, ws, we;
	json_t			*m;

	/* Phase one: a shortlived certificate obtained 60 hours ago. */
	t1 = time(NULL) / 3600 * 3600 - 60 * 3600;
	fake_now = t1;
	cert_life = life;
	issue_once(&rs, &w, &nsteps, &answered);
	assert_int_equal(answered, nsteps);
	assert_int_equal(rs.last_success, t1);
	assert_true(rs.next_attempt > t1 + 60 * 3600);	/* not due by lifetime */

	/* Phase two, 60 hours on: the window [50 h, 55 h) has passed. */
	ws = t1 + 50 * 3600;
	we = t1 + 55 * 3600;
	strftime(s1, sizeof(s1), "%Y-%m-%dT%H:%M:%SZ", gmtime(&ws));
	strftime(e1, sizeof(e1), "%Y-%m-%dT%H:%M:%SZ", gmtime(&we));
	snprintf(win, sizeof(win), "{\"suggestedWindow\": {\"start\": \"%s\", "
	    "\"end\": \"%s\"}}", s1, e1);
	steps[n++] = (struct replay_step){ "GET", "/dir", 200, NULL, NULL, DIR_BODY };
	steps[n++] = (struct replay_step){ "GET", "/ari/", 200, NULL, NULL, win };
	steps[n++] = (struct replay_step){ "HEAD", "/nonce", 200, NULL, NULL, "" };
	memcpy(&steps[n], order_tail, sizeof(order_tail));
	n += sizeof(order_tail) / sizeof(order_tail[0]);
	/* The new certificate's first ARI answer: the same, stale window. */
	steps[n++] = (struct replay_step){ "GET", "/ari/", 200, NULL, NULL, win };
	fake_now = stale_now = t1 + 60 * 3600;
	memset(&happy, 0, sizeof(happy));
	happy.names = "r.test";
	happy.not_before = stale_now - 3600;
	happy.not_after = stale_now - 3600 + life;
	run_user = &happy;
	run_clock = fake_clock;
	m = run(steps, n, renewed_and_checked, &r);
	run_user = NULL;
	free(happy.pubkey);
	assert_non_null(m);
	/* Every step answered, nothing more asked: one order for the window. */
	assert_int_equal(atomic_load(&r.i), n);
	assert_int_equal(num(m, "last_success"), stale_now);
	assert_int_equal(num(m, "not_after"), happy.not_after);
	assert_null(err_of(m));
	/* The stale window was not adopted; renewal at half the life, less up
	 * to 5% of it as jitter. */
	assert_int_equal(num(m, "ari_window_start"), 0);
	assert_true(num(m, "renew_at") >= happy.not_before + life / 2 - life / 20 - 1);
	assert_true(num(m, "renew_at") <= happy.not_before + life / 2);
	json_decref(m);
}

/* A store whose certificates cannot be read (etcd going down between the
 * lock and the read): every read fails, and is counted. */
static atomic_int		 reads;
static struct store_ops		 unreadable_ops;

static struct certfile *
unreadable_cert_get(struct store *s, const char *name, enum certfile_keytype kt,
    struct errbuf *eb)
{
	(void)s, (void)name, (void)kt;
	atomic_fetch_add(&reads, 1);
	errbuf_set(eb, "etcd: no member answers (test)");
	errno = EAGAIN;		/* not asked (store.h) */
	return NULL;
}

/* run() over the file backend's ops, whose reads fail as above; a retry
 * after 1 s. */
static void
use_unreadable_store(void)
{
	struct store	*st;
	struct errbuf	 eb;

	atomic_store(&reads, 0);
	run_retry_base = 1;
	st = store_open_file(statedir, DIR_URL, &eb);
	assert_non_null(st);
	unreadable_ops = *st->ops;
	store_close(st);
	unreadable_ops.cert_get = unreadable_cert_get;
	run_ops = &unreadable_ops;
}

static int
read_thrice(void)
{
	return atomic_load(&reads) >= 3;
}

static int
never(json_t *m)
{
	(void)m;
	return 0;
}

/*
 * Under the lock, the job asks the store whether another node put a
 * certificate meanwhile; a store that cannot be asked is no "none" (and no
 * unreadable certificate, which is ordered again: 50-acme): no order
 * (not even the account's creation), the lock goes, and the job asks again
 * after retry_base (the first read is the job's start, the next two its
 * attempts). Before the fix it ordered (78-cluster-etcd-down, once).
 */
static void
test_store_unreadable_under_lock(void **state)
{
	static const struct replay_step none[1];
	struct replay		 r;
	struct replay_step	*steps;
	size_t			 n;
	json_t			*m;

	(void)state;
	steps = script(none, 0, &n);
	use_unreadable_store();
	run_until = read_thrice;
	m = run(steps, n, never, &r);
	json_decref(m);
	assert_true(atomic_load(&reads) >= 3);
	/* Only the directory was asked for. */
	assert_int_equal(atomic_load(&r.i), 1);
	free(steps);
}

/* A store whose name lock another node holds for the first two takes (its
 * reads fail as above, so that no order follows the take); the wait's log
 * lines are counted by level. */
static atomic_int	 takes, wait_notice, wait_debug, wait_end, wait_other;
static struct store_ops	 held_ops;

static struct store_lock *
held_twice_acquire(struct store *s, const char *name, long ttl, struct errbuf *eb)
{
	if (atomic_fetch_add(&takes, 1) < 2) {
		errbuf_set(eb, "lock %s: held by another process", name);
		return NULL;
	}
	return unreadable_ops.lock_acquire(s, name, ttl, eb);
}

static void
wait_sink(enum log_level lvl, const char *line, void *arg)
{
	(void)arg;
	if (strstr(line, "held by another process; waiting") != NULL)
		atomic_fetch_add(lvl == LOG_LVL_NOTICE ? &wait_notice : &wait_other, 1);
	else if (strstr(line, "held by another process; still waiting") != NULL)
		atomic_fetch_add(lvl == LOG_LVL_DEBUG ? &wait_debug : &wait_other, 1);
	else if (strstr(line, "store lock taken after") != NULL)
		atomic_fetch_add(lvl == LOG_LVL_INFO ? &wait_end : &wait_other, 1);
}

static int
read_under_lock(void)
{
	return atomic_load(&reads) >= 2;	/* the job's start, then under it */
}

/*
 * While another node holds a name's lock, the job looks again every
 * retry_base: the wait is told once at notice, its repeat at debug, and its
 * end at info (before, a notice line at every look: thousands a minute for
 * a fleet issuing thousands of names).
 */
static void
test_lock_wait_logged_once(void **state)
{
	static const struct replay_step none[1];
	struct replay		 r;
	struct replay_step	*steps;
	size_t			 n;
	json_t			*m;

	(void)state;
	atomic_store(&takes, 0);
	atomic_store(&wait_notice, 0);
	atomic_store(&wait_debug, 0);
	atomic_store(&wait_end, 0);
	atomic_store(&wait_other, 0);
	steps = script(none, 0, &n);
	use_unreadable_store();
	held_ops = unreadable_ops;
	held_ops.lock_acquire = held_twice_acquire;
	run_ops = &held_ops;
	run_until = read_under_lock;
	log_set_level(LOG_LVL_DEBUG);
	log_set_sink(wait_sink, NULL);
	m = run(steps, n, never, &r);
	log_set_sink(NULL, NULL);
	log_set_level(LOG_LVL_INFO);
	json_decref(m);
	assert_true(atomic_load(&takes) >= 3);
	assert_int_equal(atomic_load(&wait_notice), 1);
	assert_int_equal(atomic_load(&wait_debug), 1);
	assert_int_equal(atomic_load(&wait_end), 1);
	assert_int_equal(atomic_load(&wait_other), 0);
	assert_int_equal(atomic_load(&r.i), 1);		/* no order */
	free(steps);
}

static int
setup_each(void **state)
{
	seen_orders_clear();
	return replay_fx_setup_each(state);
}

static int
teardown(void **state)
{
	seen_orders_clear();
	return replay_fx_teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_profile_in_order_and_state, setup_each),
		cmocka_unit_test_setup(test_profile_unknown_refused, setup_each),
		cmocka_unit_test_setup(test_profile_ca_without_profiles, setup_each),
		cmocka_unit_test_setup(test_expired_orders_at_once_without_ari, setup_each),
		cmocka_unit_test_setup(test_replaces_unauthorized, setup_each),
		cmocka_unit_test_setup(test_replaces_malformed, setup_each),
		cmocka_unit_test_setup(test_replaces_already_replaced, setup_each),
		cmocka_unit_test_setup(test_passed_window_one_order, setup_each),
		cmocka_unit_test_setup(test_store_unreadable_under_lock, setup_each),
		cmocka_unit_test_setup(test_lock_wait_logged_once, setup_each),
	};
	return cmocka_run_group_tests_name("acme_edge", tests, replay_fx_setup, teardown);
}
