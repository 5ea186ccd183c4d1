/* test_climit.c - the per-client table: who counts as one client (IPv4
 * address, IPv6 /64), the connection cap, the token bucket, and that entries
 * go away once they hold nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "climit.h"

static struct sockaddr_storage
addr(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(s, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &s4->sin_addr), 1);
	}
	return ss;
}

#define SA(ss)	((const struct sockaddr *)&(ss))

static void
test_ipv6_counts_per_64(void **state)
{
	struct sockaddr_storage a = addr("2001:db8:0:1::1"), b = addr("2001:db8:0:1:ffff::2"),
	    c = addr("2001:db8:0:2::1"), m = addr("::ffff:192.0.2.1"), n = addr("::ffff:192.0.2.2");

	climit_configure(1, 0, 1);
	assert_int_equal(climit_acquire(SA(a)), CLIMIT_OK);
	/* Same /64: the same client. */
	assert_int_equal(climit_acquire(SA(b)), CLIMIT_CONNS);
	/* Next /64: another client. */
	assert_int_equal(climit_acquire(SA(c)), CLIMIT_OK);
	/* v4-mapped addresses are whole IPv4 clients, not one /64. */
	assert_int_equal(climit_acquire(SA(m)), CLIMIT_OK);
	assert_int_equal(climit_acquire(SA(n)), CLIMIT_OK);
	assert_int_equal(climit_entries(), 4);
	climit_release(SA(b));			/* b's /64 is a's */
	assert_int_equal(climit_acquire(SA(a)), CLIMIT_OK);
	climit_release(SA(a));
	climit_release(SA(c));
	climit_release(SA(m));
	climit_release(SA(n));
	assert_int_equal(climit_entries(), 0);
}

static void
test_ipv4_cap_and_off(void **state)
{
	struct sockaddr_storage a = addr("127.0.0.1"), b = addr("127.0.0.2");

	climit_configure(3, 0, 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(climit_acquire(SA(a)), CLIMIT_OK);
	assert_int_equal(climit_acquire(SA(a)), CLIMIT_CONNS);
	assert_int_equal(climit_acquire(SA(b)), CLIMIT_OK);
	/* A reload that turns the cap off keeps the counts. */
	climit_configure(0, 0, 1);
	assert_int_equal(climit_acquire(SA(a)), CLIMIT_OK);
	for (int i = 0; i < 4; i++)
		climit_release(SA(a));
	climit_release(SA(b));
	/* An unknown client's release is a no-op. */
	climit_release(SA(b));
	assert_int_equal(climit_entries(), 0);
}

static void
test_bucket(void **state)
{
	struct sockaddr_storage a = addr("192.0.2.7"), b = addr("192.0.2.8");

	/* 0.001/s: no refill worth a token during the test. */
	climit_configure(0, 0.001, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(climit_acquire(SA(a)), CLIMIT_OK);
		climit_release(SA(a));
	}
	assert_int_equal(climit_acquire(SA(a)), CLIMIT_RATE);
	assert_int_equal(climit_acquire(SA(b)), CLIMIT_OK);
	climit_release(SA(b));
	/* The entries stay while their buckets refill: a client cannot reset
	 * its bucket by closing its connections. */
	assert_int_equal(climit_entries(), 2);
	for (int i = 0; i < 64; i++)
		climit_sweep();
	assert_int_equal(climit_entries(), 2);
	/* With the rate off, buckets count as full: the sweep frees them. */
	climit_configure(0, 0, 1);
	for (int i = 0; i < 64; i++)
		climit_sweep();
	assert_int_equal(climit_entries(), 0);
}

#define NTHREADS	4
#define NROUNDS		20000

static void *
hammer(void *arg)
{
	char			 s[32];
	struct sockaddr_storage	 ss;

	for (int i = 0; i < NROUNDS; i++) {
		snprintf(s, sizeof(s), "10.0.%d.%d", (i / 250) % 4, i % 250);
		ss = addr(s);
		if (climit_acquire(SA(ss)) == CLIMIT_OK)
			climit_release(SA(ss));
		if (i % 1000 == 0)
			climit_sweep();
	}
	return arg;
}

/* Workers share the table: concurrent use leaves it consistent and empty. */
static void
test_threads(void **state)
{
	pthread_t t[NTHREADS];

	climit_configure(1000, 0, 1);
	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, hammer, NULL);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(climit_entries(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv6_counts_per_64),
		cmocka_unit_test(test_ipv4_cap_and_off),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
