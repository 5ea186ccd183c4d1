/*
 * test_ipname.c - IP literals as names: which strings are addresses, their
 * one canonical spelling (RFC 5952 for IPv6, mapped IPv4 unwrapped), the
 * reverse-DNS names of RFC 8738 section 6 (both ways, against names worked
 * out by hand), and a socket address's name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "ipname.h"

/* canon(s): the canonical text of s, or "-" if s is not an address. */
static const char *
canon(const char *s)
{
	static char out[IPNAME_MAX];

	if (ipname_canon(s, out) == -1)
		return "-";
	return out;
}

static void
test_parse_and_canon(void **state)
{
	(void)state;
	assert_string_equal(canon("127.0.0.1"), "127.0.0.1");
	assert_string_equal(canon("::1"), "::1");
	assert_string_equal(canon("0:0:0:0:0:0:0:1"), "::1");
	assert_string_equal(canon("::0:1"), "::1");
	assert_string_equal(canon("::"), "::");
	/* RFC 5952 4.1-4.3: lowercase, no leading zeros, longest run. */
	assert_string_equal(canon("2001:0DB8:0000:0000:0001:0000:0000:0001"),
	    "2001:db8::1:0:0:1");
	/* A tie: the first run. */
	assert_string_equal(canon("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
	/* A single zero field is not compressed (4.2.2). */
	assert_string_equal(canon("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
	/* Longest run wins over the first. */
	assert_string_equal(canon("1:0:0:2:0:0:0:3"), "1:0:0:2::3");
	assert_string_equal(canon("fe80::"), "fe80::");
	/* IPv4-compatible is not printed dotted (glibc's inet_ntop would). */
	assert_string_equal(canon("::102:304"), "::102:304");
	/* IPv4-mapped is the IPv4 address. */
	assert_string_equal(canon("::ffff:192.0.2.1"), "192.0.2.1");
	assert_string_equal(canon("::FFFF:c000:0201"), "192.0.2.1");
	/* Not addresses: DNS names, shorthand IPv4, zones, brackets, prefixes. */
	assert_string_equal(canon("example.com"), "-");
	assert_string_equal(canon("127.1"), "-");
	assert_string_equal(canon("0127.0.0.1"), "-");
	assert_string_equal(canon("1.2.3.4.5"), "-");
	assert_string_equal(canon("256.0.0.1"), "-");
	assert_string_equal(canon("fe80::1%lo"), "-");
	assert_string_equal(canon("[::1]"), "-");
	assert_string_equal(canon("::1/128"), "-");
	assert_string_equal(canon(""), "-");
	assert_true(ipname_is("10.0.0.1"));
	assert_false(ipname_is("10.0.0.1.example"));
}

/* rev(s): the reverse name of address s. */
static const char *
rev(const char *s)
{
	static char out[IPNAME_REVERSE_MAX];
	struct ipname ip;

	assert_int_equal(ipname_parse(s, &ip), 0);
	ipname_reverse(&ip, out);
	return out;
}

static void
test_reverse(void **state)
{
	struct ipname	ip;
	char		back[IPNAME_MAX];

	(void)state;
	/* RFC 8738 section 6's own example form. */
	assert_string_equal(rev("1.2.3.4"), "4.3.2.1.in-addr.arpa");
	assert_string_equal(rev("127.0.0.1"), "1.0.0.127.in-addr.arpa");
	assert_string_equal(rev("::1"),
	    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
	/* RFC 3596 section 2.5's example address. */
	assert_string_equal(rev("4321:0:1:2:3:4:567:89ab"),
	    "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa");
	assert_true(strlen(rev("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")) <
	    IPNAME_REVERSE_MAX);

	/* And back, with a trailing dot and any case (Go's VA sends one). */
	assert_int_equal(ipname_from_reverse("1.0.0.127.in-addr.arpa.", &ip), 0);
	ipname_format(&ip, back);
	assert_string_equal(back, "127.0.0.1");
	assert_int_equal(ipname_from_reverse(
	    "B.A.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.IP6.ARPA", &ip), 0);
	ipname_format(&ip, back);
	assert_string_equal(back, "4321:0:1:2:3:4:567:89ab");
	assert_int_equal(ipname_from_reverse(rev("::1"), &ip), 0);
	ipname_format(&ip, back);
	assert_string_equal(back, "::1");
	/* Not reverse names of one address. */
	assert_int_equal(ipname_from_reverse("example.com", &ip), -1);
	assert_int_equal(ipname_from_reverse("2.1.in-addr.arpa", &ip), -1);
	assert_int_equal(ipname_from_reverse("5.4.3.2.1.in-addr.arpa", &ip), -1);
	assert_int_equal(ipname_from_reverse("256.0.0.1.in-addr.arpa", &ip), -1);
	assert_int_equal(ipname_from_reverse("01.0.0.1.in-addr.arpa", &ip), -1);
	assert_int_equal(ipname_from_reverse("in-addr.arpa", &ip), -1);
	assert_int_equal(ipname_from_reverse(
	    "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", &ip), -1);
	assert_int_equal(ipname_from_reverse("1.0.ip6.arpa", &ip), -1);
}

static void
test_sockaddr(void **state)
{
	struct sockaddr_in	in = { .sin_family = AF_INET };
	struct sockaddr_in6	in6 = { .sin6_family = AF_INET6 };
	struct sockaddr		un = { .sa_family = AF_UNIX };
	struct ipname		ip;
	char			t[IPNAME_MAX];

	(void)state;
	inet_pton(AF_INET, "127.0.0.2", &in.sin_addr);
	assert_int_equal(ipname_from_sockaddr((struct sockaddr *)&in, &ip), 0);
	ipname_format(&ip, t);
	assert_string_equal(t, "127.0.0.2");
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	assert_int_equal(ipname_from_sockaddr((struct sockaddr *)&in6, &ip), 0);
	ipname_format(&ip, t);
	assert_string_equal(t, "::1");
	/* A dual-stack socket reached over IPv4. */
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
	assert_int_equal(ipname_from_sockaddr((struct sockaddr *)&in6, &ip), 0);
	assert_int_equal(ip.family, AF_INET);
	ipname_format(&ip, t);
	assert_string_equal(t, "127.0.0.1");
	assert_int_equal(ipname_from_sockaddr(&un, &ip), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_canon),
		cmocka_unit_test(test_reverse),
		cmocka_unit_test(test_sockaddr),
	};

	return cmocka_run_group_tests_name("ipname", tests, NULL, NULL);
}
