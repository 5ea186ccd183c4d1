/*
 * test_cidr.c - address ranges: what parses (and what is refused, with
 * which reason), and which peers match, across IPv4, IPv6 and IPv4-mapped
 * IPv6 peers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "cidr.h"

/* A sockaddr for a literal address, v4 or v6. */
static const struct sockaddr *
peer(struct sockaddr_storage *ss, const char *s)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(s, ':') != NULL) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &in6->sin6_addr), 1);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &in->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

/* 1 if address a is in range r (both literals). */
static int
in_range(const char *r, const char *a)
{
	struct cidr		c;
	struct sockaddr_storage	ss;

	assert_int_equal(cidr_parse(r, &c), 0);
	return cidr_match(&c, 1, peer(&ss, a));
}

static void
test_parse_valid(void **state)
{
	struct cidr c;

	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.bits, 8);
	assert_int_equal(c.addr[0], 10);

	assert_int_equal(cidr_parse("192.0.2.7", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.bits, 32);
	assert_int_equal(c.addr[3], 7);

	assert_int_equal(cidr_parse("::1/128", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.bits, 128);
	assert_int_equal(c.addr[15], 1);

	assert_int_equal(cidr_parse("2001:db8::", &c), 0);
	assert_int_equal(c.bits, 128);
	assert_int_equal(cidr_parse("2001:db8::/32", &c), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(c.bits, 0);
	assert_int_equal(cidr_parse("::/0", &c), 0);
	assert_int_equal(cidr_parse("::ffff:10.0.0.0/104", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(cidr_parse("10.1.2.3/32", &c), 0);
	assert_int_equal(cidr_parse("10.1.2.0/23", &c), 0);	/* .2 = 0b10: fits */
}

static void
test_parse_refused(void **state)
{
	static const struct { const char *s, *why; } bad[] = {
		{ "", "expected an address" },
		{ "/8", "expected an address" },
		{ "10.0.0.0/", "prefix must be 0-32" },
		{ "10.0.0.0/33", "prefix must be 0-32" },
		{ "10.0.0.0/-1", "prefix must be 0-32" },
		{ "10.0.0.0/+8", "prefix must be 0-32" },
		{ "10.0.0.0/8 ", "prefix must be 0-32" },
		{ "10.0.0.0/0008", "prefix must be 0-32" },
		{ "10.0.0.0/8/8", "prefix must be 0-32" },
		{ "::/129", "prefix must be 0-128" },
		{ "10.0.0.1/8", "address has bits set past the prefix" },
		{ "10.1.3.0/23", "address has bits set past the prefix" },
		{ "2001:db8::1/64", "address has bits set past the prefix" },
		{ "2001:db8:0:1::/63", "address has bits set past the prefix" },
		{ "10.1", "not an IPv4 address" },
		{ "010.0.0.1", "not an IPv4 address" },
		{ "256.0.0.0", "not an IPv4 address" },
		{ " 10.0.0.0", "not an IP address" },
		{ "localhost", "not an IP address" },
		{ "fe80::1%eth0", "not an IPv6 address" },
		{ "1:2:3:4:5:6:7:8:9", "not an IPv6 address" },
		{ "[::1]", "not an IPv6 address" },
		{ "0123456789012345678901234567890123456789012345678901",
		    "not an IP address" },
	};
	struct cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = cidr_parse_why(bad[i].s, &c);

		if (why == NULL || strcmp(why, bad[i].why) != 0)
			print_message("\"%s\": got %s\n", bad[i].s, why ? why : "NULL");
		assert_non_null(why);
		assert_string_equal(why, bad[i].why);
		assert_int_equal(cidr_parse(bad[i].s, &c), -1);
	}
}

static void
test_match_v4(void **state)
{
	assert_true(in_range("10.0.0.0/8", "10.255.1.2"));
	assert_false(in_range("10.0.0.0/8", "11.0.0.0"));
	assert_false(in_range("10.0.0.0/8", "9.255.255.255"));
	assert_true(in_range("192.0.2.7", "192.0.2.7"));
	assert_false(in_range("192.0.2.7", "192.0.2.6"));
	assert_true(in_range("10.1.2.0/23", "10.1.3.255"));
	assert_false(in_range("10.1.2.0/23", "10.1.4.0"));
	assert_true(in_range("0.0.0.0/0", "203.0.113.9"));
	/* IPv4 ranges do not match IPv6 peers that are not IPv4-mapped. */
	assert_false(in_range("0.0.0.0/0", "::1"));
	assert_false(in_range("0.0.0.0/0", "2001:db8::1"));
}

static void
test_match_v6(void **state)
{
	assert_true(in_range("::1/128", "::1"));
	assert_false(in_range("::1/128", "::2"));
	assert_true(in_range("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(in_range("2001:db8::/32", "2001:db9::1"));
	assert_true(in_range("2001:db8::/63", "2001:db8:0:1:ffff::"));
	assert_false(in_range("2001:db8:0:2::/63", "2001:db8:0:1::1"));
	/* An IPv6 range does not hold IPv4 peers unless it covers ::ffff:0:0/96. */
	assert_false(in_range("2001:db8::/32", "10.0.0.1"));
	assert_false(in_range("::1/128", "127.0.0.1"));
}

/* A peer matches the same ranges on IPv4 and on dual-stack sockets. */
static void
test_match_v4_mapped(void **state)
{
	assert_true(in_range("10.0.0.0/8", "::ffff:10.9.8.7"));
	assert_false(in_range("10.0.0.0/8", "::ffff:11.9.8.7"));
	assert_true(in_range("127.0.0.1", "::ffff:127.0.0.1"));
	assert_true(in_range("::ffff:10.0.0.0/104", "10.1.2.3"));
	assert_false(in_range("::ffff:10.0.0.0/104", "11.1.2.3"));
	assert_true(in_range("::ffff:0:0/96", "192.0.2.1"));
	assert_true(in_range("::/0", "192.0.2.1"));
	/* Not mapped: the IPv4-compatible form ::a.b.c.d is a plain IPv6 address. */
	assert_false(in_range("10.0.0.0/8", "::10.0.0.1"));
}

static void
test_match_list_and_odd_peers(void **state)
{
	struct cidr		v[3];
	struct sockaddr_storage	ss;
	struct sockaddr		un = { .sa_family = AF_UNIX };

	assert_int_equal(cidr_parse("10.0.0.0/8", &v[0]), 0);
	assert_int_equal(cidr_parse("::1", &v[1]), 0);
	assert_int_equal(cidr_parse("192.168.0.0/16", &v[2]), 0);
	assert_true(cidr_match(v, 3, peer(&ss, "192.168.7.7")));
	assert_true(cidr_match(v, 3, peer(&ss, "::1")));
	assert_true(cidr_match(v, 3, peer(&ss, "10.0.0.1")));
	assert_false(cidr_match(v, 3, peer(&ss, "172.16.0.1")));
	assert_false(cidr_match(v, 2, peer(&ss, "192.168.7.7")));	/* n honoured */
	assert_false(cidr_match(v, 0, peer(&ss, "10.0.0.1")));
	assert_false(cidr_match(NULL, 0, peer(&ss, "10.0.0.1")));
	assert_false(cidr_match(v, 3, NULL));
	assert_false(cidr_match(v, 3, &un));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_match_v4),
		cmocka_unit_test(test_match_v6),
		cmocka_unit_test(test_match_v4_mapped),
		cmocka_unit_test(test_match_list_and_odd_peers),
	};

	return cmocka_run_group_tests_name("cidr", tests, NULL, NULL);
}
