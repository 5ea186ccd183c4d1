/* test_sched.c - renewal times, back-off and time parsing, with no clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "acme_sched.h"

#define DAY 86400

static void
test_third_of_lifetime(void **state)
{
	time_t nb = 1000000, na = nb + 90 * DAY;

	/* 90 days: renew with 30 days left; jitter moves it earlier by <= 4.5 d. */
	assert_int_equal(acme_sched_renew_at(nb, na, 0, 0, 0.0), na - 30 * DAY);
	assert_true(acme_sched_renew_at(nb, na, 0, 0, 0.999) >= na - 30 * DAY - 9 * DAY / 2);
	assert_true(acme_sched_renew_at(nb, na, 0, 0, 0.999) < na - 30 * DAY);
}

static void
test_half_for_short_lived(void **state)
{
	time_t nb = 1000000, na = nb + 6 * DAY;

	assert_int_equal(acme_sched_renew_at(nb, na, 0, 0, 0.0), nb + 3 * DAY);
	/* Pebble's one-hour certificates: half-way. */
	assert_int_equal(acme_sched_renew_at(nb, nb + 3600, 0, 0, 0.0), nb + 1800);
}

static void
test_ari_window_wins(void **state)
{
	time_t nb = 1000000, na = nb + 90 * DAY;
	time_t s = nb + 10 * DAY, e = nb + 11 * DAY;

	for (double r = 0; r < 1; r += 0.125) {
		time_t t = acme_sched_renew_at(nb, na, s, e, r);
		assert_true(t >= s && t < e);
	}
	assert_int_equal(acme_sched_renew_at(nb, na, s, e, 0.5), s + DAY / 2);
	/* An empty window (end <= start) is ignored. */
	assert_int_equal(acme_sched_renew_at(nb, na, e, s, 0.0), na - 30 * DAY);
}

static void
test_ari_window_clipped_to_lifetime(void **state)
{
	/* A 30-second certificate with a two-day window around it. */
	time_t nb = 1000000, na = nb + 30;

	for (double r = 0; r < 1; r += 0.1) {
		time_t t = acme_sched_renew_at(nb, na, nb - DAY, nb + DAY, r);
		assert_true(t >= nb && t < na - 3);
	}
	/* A window entirely after expiry falls back to the default schedule. */
	assert_int_equal(acme_sched_renew_at(nb, na, na + 10, na + DAY, 0.0), nb + 15);
}

/*
 * An ARI window that opened before the certificate in service was obtained
 * cannot ask for it "now" again (one order per window): it starts a third
 * into the lifetime at the earliest, so a stale one that ends before is
 * spent. One that opened after is the CA's word, even if it has passed.
 */
static void
test_ari_window_before_certificate(void **state)
{
	time_t got = 1000000, life = 160 * 3600;

	assert_int_equal(acme_sched_ari_start(got + 10, got, life), got + 10);
	assert_int_equal(acme_sched_ari_start(got - 3600, got, life), got + life / 3);
	assert_int_equal(acme_sched_ari_start(got, got, life), got + life / 3);
	/* Not known when the certificate came: as the CA says. */
	assert_int_equal(acme_sched_ari_start(got - 10, 0, life), got - 10);
	/* A stale window of 2% of the life around half-life, for the
	 * certificate before (Let's Encrypt's shortlived): spent. */
	{
		time_t s = got - 2 * 3600, e = got + 2 * 3600;
		assert_true(acme_sched_ari_start(s, got, life) >= e);
	}
}

/* Jitter only ever adds: never sooner than the back-off schedule. */
static void
test_jitter(void **state)
{
	long	 lo = 1000000, hi = 0;

	assert_int_equal(acme_sched_jitter(60, 0.0), 60);
	assert_int_equal(acme_sched_jitter(60, 0.999), 89);
	assert_int_equal(acme_sched_jitter(600, 0.5), 750);
	assert_int_equal(acme_sched_jitter(DAY, 0.5), DAY + 1800);	/* capped */
	assert_int_equal(acme_sched_jitter(1, 0.9), 1);
	assert_int_equal(acme_sched_jitter(0, 0.5), 0);
	for (int i = 0; i < 1000; i++) {
		long d = acme_sched_jitter(acme_sched_backoff(2, -1, 60), i / 1000.0);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	/* 1,000 jobs failing at once come back over 600..899 s, not at +600. */
	assert_int_equal(lo, 600);
	assert_int_equal(hi, 899);
}

static void
test_backoff(void **state)
{
	assert_int_equal(acme_sched_backoff(1, -1, 60), 60);
	assert_int_equal(acme_sched_backoff(2, -1, 60), 600);
	assert_int_equal(acme_sched_backoff(3, -1, 60), 6000);
	assert_int_equal(acme_sched_backoff(4, -1, 60), DAY);
	assert_int_equal(acme_sched_backoff(40, -1, 60), DAY);
	/* Retry-After can only lengthen the wait, and is capped at a week. */
	assert_int_equal(acme_sched_backoff(1, 5, 60), 60);
	assert_int_equal(acme_sched_backoff(1, 3 * 3600, 60), 3 * 3600);
	assert_int_equal(acme_sched_backoff(1, 30 * DAY, 60), 7 * DAY);
	/* A smaller base scales the whole ladder (tests use 1 s). */
	assert_int_equal(acme_sched_backoff(3, -1, 1), 100);
}

/*
 * Attempts a certificate valid [nb, na) gets between its renewal time and
 * its expiry when every order fails, on a simulated clock: the renewal as
 * late as its jitter allows, every retry as late as its own jitter allows
 * (the worst case), as job_fail schedules them.
 */
static int
attempts_before_expiry(time_t nb, time_t na, long life)
{
	time_t	t = acme_sched_renew_at(nb, na, 0, 0, 0.0);
	int	n = 0;

	while (t < na && n < 1000) {
		long d, jit;

		n++;
		d = acme_sched_backoff_life(n, -1, 60, life);
		jit = acme_sched_jitter(d, 0.999);
		t += jit > d ? jit : d;
	}
	return n;
}

/* The back-off's steps scale with short lifetimes, and only with those. */
static void
test_backoff_short_lived(void **state)
{
	const long	 sl = 160 * 3600;	/* Let's Encrypt's "shortlived" */
	time_t		 nb = 1767225600;	/* 2026-01-01 */

	/*
	 * Before: the three quick steps (1, 10, 100 min), then only three
	 * daily tries in the 80 hours a 160-hour certificate has left.
	 */
	assert_int_equal(attempts_before_expiry(nb, nb + sl, 0), 7);
	/* Now: a step is at most a twentieth of the lifetime (8 h). */
	assert_true(attempts_before_expiry(nb, nb + sl, sl) >= 10);
	assert_int_equal(acme_sched_backoff_life(4, -1, 60, sl), sl / 20);
	assert_int_equal(acme_sched_backoff_life(40, -1, 60, sl), sl / 20);
	/* The short steps stay as they are. */
	assert_int_equal(acme_sched_backoff_life(1, -1, 60, sl), 60);
	assert_int_equal(acme_sched_backoff_life(2, -1, 60, sl), 600);
	assert_int_equal(acme_sched_backoff_life(3, -1, 60, sl), 6000);
	/* Retry-After is honoured always, beyond the cap (up to a week). */
	assert_int_equal(acme_sched_backoff_life(5, 2 * DAY, 60, sl), 2 * DAY);
	assert_int_equal(acme_sched_backoff_life(5, 30 * DAY, 60, sl), 7 * DAY);
	/* A sane minimum: never capped below an hour, nor below base. */
	assert_int_equal(acme_sched_backoff_life(4, -1, 60, 60), 3600);
	assert_int_equal(acme_sched_backoff_life(4, -1, 60, 6 * DAY), 6 * DAY / 20);
	assert_int_equal(acme_sched_backoff_life(2, -1, 7200, 60), 7200);
	assert_int_equal(acme_sched_backoff_life(1, -1, 60, 60), 60);
	/* 90-day, 45-day and unknown lifetimes: the steps are unchanged. */
	for (int n = 1; n <= 40; n++) {
		long old = acme_sched_backoff(n, -1, 60);
		assert_int_equal(acme_sched_backoff_life(n, -1, 60, 90 * DAY), old);
		assert_int_equal(acme_sched_backoff_life(n, -1, 60, 45 * DAY), old);
		assert_int_equal(acme_sched_backoff_life(n, -1, 60, 0), old);
		assert_int_equal(acme_sched_backoff_life(n, 3 * 3600, 60, 90 * DAY),
		    acme_sched_backoff(n, 3 * 3600, 60));
	}
}

static void
test_retry_after(void **state)
{
	time_t now = 1735689600;	/* 2025-01-01T00:00:00Z */

	assert_int_equal(acme_sched_parse_retry_after("120", now), 120);
	assert_int_equal(acme_sched_parse_retry_after("Wed, 01 Jan 2025 00:10:00 GMT", now), 600);
	assert_int_equal(acme_sched_parse_retry_after("Tue, 31 Dec 2024 00:00:00 GMT", now), 0);
	assert_int_equal(acme_sched_parse_retry_after("soon", now), -1);
	assert_int_equal(acme_sched_parse_retry_after("-5", now), -1);
	assert_int_equal(acme_sched_parse_retry_after(NULL, now), -1);
}

static void
test_rfc3339(void **state)
{
	assert_int_equal(acme_sched_parse_time("2025-01-01T00:00:00Z"), 1735689600);
	assert_int_equal(acme_sched_parse_time("2025-01-01T00:00:00.123456Z"), 1735689600);
	assert_int_equal(acme_sched_parse_time("2025-01-01T02:00:00+02:00"), 1735689600);
	assert_int_equal(acme_sched_parse_time("2025-01-01"), -1);
	assert_int_equal(acme_sched_parse_time("2025-01-01T00:00:00"), -1);
	assert_int_equal(acme_sched_parse_time(NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_third_of_lifetime),
		cmocka_unit_test(test_half_for_short_lived),
		cmocka_unit_test(test_ari_window_wins),
		cmocka_unit_test(test_ari_window_clipped_to_lifetime),
		cmocka_unit_test(test_ari_window_before_certificate),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_backoff_short_lived),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_rfc3339),
	};
	return cmocka_run_group_tests_name("acme_sched", tests, NULL, NULL);
}
