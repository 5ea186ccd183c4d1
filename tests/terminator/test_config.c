/*
 * test_config.c - flags and JSON agree: every key with a flag accepts and
 * refuses the same values through both, and stores the same thing; flag
 * errors name the flag and the value; ACME challenge checks look at every
 * name; duplicates are reported once per name. HTTP mode: the defaults,
 * every bound, mode against proxy_protocol and alpn, http./hsts. keys only
 * in mode http, the HSTS preload rule, and http.trusted_proxies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "cidr.h"
#include "config.h"
#include "config_schema.h"
#include "ech.h"
#include "ondemand.h"

static int
has_msg(const struct config_errors *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle) != NULL)
			return 1;
	return 0;
}

static void
dump(const struct config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		printf("  %s\n", e->msgs[i]);
}

#define BASE_FLAGS "--https", "127.0.0.1:8443", "--site", \
	"a.test=127.0.0.1:8080", "--cert", "a.test=/c.pem,/k.pem"

/* Run config_from_args on BASE_FLAGS plus extra (NULL-ended). */
static struct config *
from_flags(struct config_errors *e, const char *extra0, ...)
{
	char		*argv[32] = { BASE_FLAGS };
	int		 argc = 6;
	va_list		 ap;
	const char	*a;

	va_start(ap, extra0);
	for (a = extra0; a != NULL && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	return config_from_args(argc, argv, e);
}

static void
test_flag_errors_name_flag_and_value(void **state)
{
	struct config_errors e = { 0 };

	assert_null(from_flags(&e, "--idle-timeout", "x", NULL));
	assert_true(has_msg(&e, "--idle-timeout: not a number: x"));
	config_errors_clear(&e);

	assert_null(from_flags(&e, "--idle-timeout", "0", NULL));
	assert_true(has_msg(&e, "--idle-timeout: must be between 0.01 and 86400"));
	config_errors_clear(&e);

	assert_null(from_flags(&e, "--log-format", "xml", NULL));
	dump(&e);
	assert_true(has_msg(&e, "--log-format: expected text or json (got \"xml\")"));
	config_errors_clear(&e);

	assert_null(from_flags(&e, "--workers", "2x", NULL));
	assert_true(has_msg(&e, "--workers: not a number: 2x"));
	config_errors_clear(&e);

	assert_null(from_flags(&e, "--max-connections", "0", NULL));
	assert_true(has_msg(&e, "--max-connections: must be between 1 and 10000000 (got 0)"));
	config_errors_clear(&e);

	assert_null(from_flags(&e, "--acme", "a.test", "--acme-challenges",
	    "a.test=tls-alpn-01,smoke-01", NULL));
	dump(&e);
	assert_true(has_msg(&e, "--acme-challenges a.test=tls-alpn-01,smoke-01: "));
	assert_true(has_msg(&e, "expected tls-alpn-01, http-01, dns-01 or dns-persist-01 "
	    "(got \"smoke-01\")"));
	config_errors_clear(&e);

	assert_null(from_flags(&e, "--balance", "a.test=fastest", NULL));
	assert_true(has_msg(&e, "--balance a.test=fastest: "));
	assert_true(has_msg(&e, "(got \"fastest\")"));
	config_errors_clear(&e);

	assert_null(from_flags(&e, "--default", "nope.test", NULL));
	assert_true(has_msg(&e, "--default nope.test: no --site names \"nope.test\""));
	config_errors_clear(&e);

	assert_null(from_flags(&e, "--workers", NULL));
	assert_true(has_msg(&e, "--workers: missing value"));
	config_errors_clear(&e);
}

/* A wildcard on any name of an ACME site needs dns-01, and dns-01 a hook. */
static void
test_acme_wildcard_on_every_name(void **state)
{
	char *site[] = { "--https", "127.0.0.1:8443", "--site",
	    "a.test,*.b.test=127.0.0.1:8080", "--acme", "a.test,*.b.test", NULL,
	    NULL, NULL, NULL };
	struct config_errors	 e = { 0 };
	struct config		*c;

	/* Default challenges: dns-01 (from the second name), so a hook is needed. */
	assert_null(config_from_args(6, site, &e));
	dump(&e);
	assert_true(has_msg(&e, "--acme a.test,*.b.test: sites[0].acme: dns-01 needs "
	    "acme.dns_hook"));
	config_errors_clear(&e);

	/* Given challenges without dns-01: refused, naming the wildcard. */
	site[6] = "--acme-challenges";
	site[7] = "a.test=tls-alpn-01,http-01";
	assert_null(config_from_args(8, site, &e));
	dump(&e);
	assert_true(has_msg(&e, "--acme-challenges a.test=tls-alpn-01,http-01: "
	    "sites[0].acme.challenges: \"*.b.test\" is a wildcard name"));
	config_errors_clear(&e);

	/* With a hook, the defaults work. */
	site[6] = "--acme-dns-hook";
	site[7] = "/bin/true";
	c = config_from_args(8, site, &e);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].nchallenges, 1);
	assert_string_equal(c->sites[0].challenges[0], "dns-01");
	config_free(c);

	/* The JSON path says the same. */
	{
		static const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},"
		    " \"sites\": [{\"names\": [\"a.test\", \"*.b.test\"],"
		    " \"backends\": [\"127.0.0.1:2\"],"
		    " \"acme\": {\"challenges\": [\"http-01\"]}}]}";
		assert_null(config_load_text("t.json", t, strlen(t), &e));
		dump(&e);
		assert_true(has_msg(&e, "t.json:1:122: sites[0].acme.challenges: "
		    "\"*.b.test\" is a wildcard name"));
		config_errors_clear(&e);
	}
}

/*
 * dns-persist-01: it validates a wildcard without acme.dns_hook (the record
 * may be published by hand), is never a default, and cannot validate an IP
 * address.
 */
static void
test_dns_persist_challenges(void **state)
{
	static const char wild[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},"
	    " \"sites\": [{\"names\": [\"a.test\", \"*.a.test\"], \"backends\":"
	    " [\"127.0.0.1:2\"], \"acme\": {\"challenges\": [\"dns-persist-01\"]}},"
	    " {\"names\": [\"b.test\"], \"backends\": [\"127.0.0.1:2\"], \"acme\": true}]}";
	static const char ip[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},"
	    " \"sites\": [{\"names\": [\"127.0.0.1\"], \"backends\": [\"127.0.0.1:2\"],"
	    " \"acme\": {\"challenges\": [\"http-01\", \"dns-persist-01\"]}}]}";
	struct config_errors	 e = { 0 };
	struct config		*c;

	(void)state;
	c = config_load_text("t.json", wild, strlen(wild), &e);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].nchallenges, 1);
	assert_string_equal(c->sites[0].challenges[0], "dns-persist-01");
	for (size_t i = 0; i < c->sites[1].nchallenges; i++)
		assert_string_not_equal(c->sites[1].challenges[i], "dns-persist-01");
	config_free(c);

	assert_null(config_load_text("t.json", ip, strlen(ip), &e));
	dump(&e);
	assert_true(has_msg(&e, "sites[0].acme.challenges: \"127.0.0.1\" is an IP "
	    "address: it can only be validated with http-01 or tls-alpn-01, not dns-01 "
	    "or dns-persist-01"));
	config_errors_clear(&e);

	c = from_flags(&e, "--acme", "a.test", "--acme-challenges",
	    "a.test=dns-persist-01,http-01", NULL);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].nchallenges, 2);
	assert_string_equal(c->sites[0].challenges[0], "dns-persist-01");
	config_free(c);
}

/*
 * IP addresses as site names (RFC 8738): accepted in one spelling (RFC 5952,
 * mapped IPv4 unwrapped), also through flags that name the site; refused with
 * dns-01 and as ECH's public name; a malformed one is named as such.
 */
static void
test_ip_names(void **state)
{
	static const char ok[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},"
	    " \"sites\": [{\"names\": [\"2001:DB8:0:0::1\", \"::ffff:192.0.2.1\","
	    " \"a.test\"], \"backends\": [\"127.0.0.1:2\"], \"acme\": true}]}";
	static const char dns[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},"
	    " \"acme\": {\"dns_hook\": \"/bin/true\"},"
	    " \"sites\": [{\"names\": [\"127.0.0.1\"], \"backends\": [\"127.0.0.1:2\"],"
	    " \"acme\": {\"challenges\": [\"http-01\", \"dns-01\"]}}]}";
	static const char bad[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},"
	    " \"sites\": [{\"names\": [\"fe80::1%lo\", \"[::1]\"],"
	    " \"backends\": [\"127.0.0.1:2\"], \"acme\": true}]}";
	char *flags[] = { "--https", "127.0.0.1:8443", "--site",
	    "0:0::1=127.0.0.1:8080", "--acme", "::1", NULL };
	struct config_errors	 e = { 0 };
	struct config		*c;

	(void)state;
	c = config_load_text("t.json", ok, strlen(ok), &e);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].nnames, 3);
	assert_string_equal(c->sites[0].names[0], "2001:db8::1");
	assert_string_equal(c->sites[0].names[1], "192.0.2.1");
	/* The default challenges fit addresses: no dns-01. */
	assert_int_equal(c->sites[0].nchallenges, 2);
	assert_string_equal(c->sites[0].challenges[0], "tls-alpn-01");
	config_free(c);

	assert_null(config_load_text("t.json", dns, strlen(dns), &e));
	dump(&e);
	assert_true(has_msg(&e, "sites[0].acme.challenges: \"127.0.0.1\" is an IP "
	    "address: it can only be validated with http-01 or tls-alpn-01, not dns-01"));
	config_errors_clear(&e);

	assert_null(config_load_text("t.json", bad, strlen(bad), &e));
	dump(&e);
	assert_true(has_msg(&e, "\"fe80::1%lo\" is not a valid DNS name or IP address"));
	assert_true(has_msg(&e, "\"[::1]\" is not a valid DNS name or IP address"));
	config_errors_clear(&e);

	/* --acme names the site by another spelling of its address. */
	c = config_from_args(6, flags, &e);
	dump(&e);
	assert_non_null(c);
	assert_string_equal(c->sites[0].names[0], "::1");
	assert_int_equal(c->sites[0].acme, 1);
	config_free(c);

	c = from_flags(&e, "--ech-public-name", "192.0.2.1", NULL);
	assert_null(c);
	dump(&e);
	assert_true(has_msg(&e, "no IP address"));
	config_errors_clear(&e);
}

/* A valid and an invalid value for row k, as flag text and as JSON text. */
static int
samples(const struct cfg_key *k, char ok_flag[32], char ok_json[64],
    char bad_flag[32], char bad_json[64])
{
	const size_t cap = 32;

	switch (k->type) {
	case CFG_INT:
		snprintf(ok_flag, cap, "%.0f", k->max);
		snprintf(bad_flag, cap, "%.0f", k->max + 1);
		break;
	case CFG_SECONDS:
		snprintf(ok_flag, cap, "%g", k->min * 1.5);
		snprintf(bad_flag, cap, "%g", k->max * 2);
		break;
	case CFG_ENUM: {
		const char *v = k->values[1] ? k->values[1] : k->values[0];
		snprintf(ok_flag, cap, "%.*s", (int)strcspn(v, "|"), v);
		snprintf(bad_flag, cap, "bogus");
		snprintf(ok_json, 64, "\"%.30s\"", ok_flag);
		snprintf(bad_json, 64, "\"bogus\"");
		return 0;
	}
	case CFG_STRING:
	case CFG_PATH:
		snprintf(ok_flag, cap, "%s", strcmp(k->key, "admin.listen") == 0 ?
		    "127.0.0.1:9" : strcmp(k->key, "acme.directory") == 0 ?
		    "https://ca.test/d" : strcmp(k->key, "tls.groups") == 0 ?
		    "P-256:X25519" : strcmp(k->key, "acme.profile") == 0 ?
		    "shortlived" : "/x/y");
		snprintf(ok_json, 64, "\"%.30s\"", ok_flag);
		snprintf(bad_flag, cap, "%s", "");
		snprintf(bad_json, 64, "\"\"");
		return 0;
	default:
		return -1;
	}
	snprintf(ok_json, 64, "%.31s", ok_flag);
	snprintf(bad_json, 64, "%.31s", bad_flag);
	return 0;
}

/* {"a": {"b": V}} for key "a.b". */
static void
nest(char *out, size_t cap, const char *key, const char *val)
{
	const char	*dot = strchr(key, '.');

	if (dot == NULL)
		snprintf(out, cap, "\"%s\": %s", key, val);
	else
		snprintf(out, cap, "\"%.*s\": {\"%s\": %s}", (int)(dot - key), key,
		    dot + 1, val);
}

/* Every scalar key that has a flag: same verdict, same stored bytes. */
static void
test_every_flag_agrees_with_json(void **state)
{
	int checked = 0;

	for (int site = 0; site < 2; site++)
	for (const struct cfg_key *k = site ? cfg_site_keys : cfg_keys; k->key; k++) {
		char			 okf[32], okj[64], badf[32], badj[64], kv[200];
		char			 text[1024], fv[128];
		struct config_errors	 e = { 0 };
		struct config		*cj, *cf;
		const void		*a, *b;

		if (k->flag == NULL || samples(k, okf, okj, badf, badj) == -1)
			continue;
		if (strcmp(k->key, "tls.ech.public_name") == 0) {
			snprintf(okf, sizeof(okf), "a.test");	/* the site's name */
			snprintf(okj, sizeof(okj), "\"a.test\"");
		}
		if ((strncmp(k->key, "acme.", 5) == 0 && site) ||
		    strncmp(k->key, "acme.eab_", 9) == 0)
			continue;	/* need --acme first, or come in a pair */
		/* Valid: both accept and store the same. */
		nest(kv, sizeof(kv), k->key, okj);
		if (site)
			snprintf(text, sizeof(text), "{\"listen\": {\"https\": "
			    "[\"127.0.0.1:8443\"]}, \"sites\": [{\"names\": [\"a.test\"],"
			    " \"backends\": [\"127.0.0.1:8080\"], \"certificates\": "
			    "[{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}], %s}]}", kv);
		else
			snprintf(text, sizeof(text), "{\"listen\": {\"https\": "
			    "[\"127.0.0.1:8443\"]}, \"sites\": [{\"names\": [\"a.test\"],"
			    " \"backends\": [\"127.0.0.1:8080\"], \"certificates\": "
			    "[{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}]}], %s}", kv);
		snprintf(fv, sizeof(fv), "%s%s", site ? "a.test=" : "", okf);
		cj = config_load_text("/t.json", text, strlen(text), &e);
		dump(&e);
		cf = from_flags(&e, k->flag, fv, NULL);
		dump(&e);
		if (cj == NULL || cf == NULL)
			print_message("key %s flag %s %s\n", k->key, k->flag, fv);
		assert_non_null(cj);
		assert_non_null(cf);
		a = site ? (const void *)cj->sites : (const void *)cj;
		b = site ? (const void *)cf->sites : (const void *)cf;
		if (k->type == CFG_STRING || k->type == CFG_PATH)
			assert_string_equal(*(char *const *)((const char *)a + k->off),
			    *(char *const *)((const char *)b + k->off));
		else
			assert_memory_equal((const char *)a + k->off,
			    (const char *)b + k->off, k->size);
		config_free(cj);
		config_free(cf);

		/* Invalid: both refuse, and the flag's error names it. */
		nest(kv, sizeof(kv), k->key, badj);
		if (site)
			snprintf(text, sizeof(text), "{\"listen\": {\"https\": "
			    "[\"127.0.0.1:8443\"]}, \"sites\": [{\"names\": [\"a.test\"],"
			    " \"backends\": [\"127.0.0.1:8080\"], \"certificates\": "
			    "[{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}], %s}]}", kv);
		else
			snprintf(text, sizeof(text), "{\"listen\": {\"https\": "
			    "[\"127.0.0.1:8443\"]}, \"sites\": [{\"names\": [\"a.test\"],"
			    " \"backends\": [\"127.0.0.1:8080\"], \"certificates\": "
			    "[{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}]}], %s}", kv);
		snprintf(fv, sizeof(fv), "%s%s", site ? "a.test=" : "", badf);
		assert_null(config_load_text("/t.json", text, strlen(text), &e));
		assert_true(e.n > 0);
		config_errors_clear(&e);
		assert_null(from_flags(&e, k->flag, fv, NULL));
		dump(&e);
		assert_int_equal(e.n, 1);
		assert_int_equal(strncmp(e.msgs[0], k->flag, strlen(k->flag)), 0);
		config_errors_clear(&e);
		checked++;
	}
	/* Guard against a table walk that silently tests nothing. */
	assert_true(checked >= 20);
}

/* Duplicates: once per name, at its second appearance, from either source. */
/*
 * tls.ech: the public name must be a site's name (exactly or under a
 * wildcard), is required, and the whole thing needs the AWS-LC build.
 */
static void
test_ech(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;
	const char		*unsupported = ech_unsupported();

	c = from_flags(&e, "--ech", "--ech-public-name", "a.test", NULL);
	dump(&e);
	if (unsupported != NULL) {
		assert_null(c);
		assert_true(has_msg(&e, "needs the AWS-LC build"));
		config_errors_clear(&e);
		return;
	}
	assert_non_null(c);
	assert_true(c->ech.enabled);
	assert_string_equal(c->ech.public_name, "a.test");
	assert_int_equal(c->ech.rotation, 30 * 86400);
	assert_int_equal(c->ech.grace, 7 * 86400);
	config_free(c);

	c = from_flags(&e, "--ech", "--ech-public-name", "b.test", NULL);
	dump(&e);
	assert_null(c);
	assert_true(has_msg(&e, "--ech-public-name: \"b.test\" is not a name of "
	    "any site: the public name needs a certificate"));
	config_errors_clear(&e);

	c = from_flags(&e, "--ech", NULL);
	assert_null(c);
	assert_true(has_msg(&e, "tls.ech.public_name (flag --ech-public-name) is "
	    "needed"));
	config_errors_clear(&e);

	/* Off: a public name alone is only stored. */
	c = from_flags(&e, "--ech-public-name", "b.test", NULL);
	assert_non_null(c);
	assert_false(c->ech.enabled);
	config_free(c);

	{
		const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]}, "
		    "\"tls\": {\"ech\": {\"enabled\": true, \"public_name\": "
		    "\"Pub.W.test\", \"rotation\": 2, \"grace\": 3}}, \"sites\": "
		    "[{\"names\": [\"*.w.test\"], \"backends\": [\"127.0.0.1:8080\"], "
		    "\"certificates\": [{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}]}]}";
		c = config_load_text("t.json", t, strlen(t), &e);
		dump(&e);
		assert_non_null(c);
		assert_string_equal(c->ech.public_name, "pub.w.test");
		assert_int_equal(c->ech.rotation, 2);
		assert_int_equal(c->ech.grace, 3);
		config_free(c);
	}
	{
		const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]}, "
		    "\"tls\": {\"ech\": {\"enabled\": true, \"public_name\": "
		    "\"x.y.w.test\"}}, \"sites\": [{\"names\": [\"*.w.test\"], "
		    "\"backends\": [\"127.0.0.1:8080\"], \"certificates\": "
		    "[{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}]}]}";
		assert_null(config_load_text("t.json", t, strlen(t), &e));
		dump(&e);
		assert_true(has_msg(&e, "t.json:1:76: tls.ech.public_name: "
		    "\"x.y.w.test\" is not a name of any site"));
		config_errors_clear(&e);
	}
}

static void
test_duplicates_once_per_name(void **state)
{
	static const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},\n"
	    "\"sites\": [{\"names\": [\"a.test\", \"a.test\", \"a.test\"],\n"
	    " \"backends\": [\"127.0.0.1:2\"], \"certificates\": [{\"cert\": \"c\","
	    " \"key\": \"k\"}]},\n"
	    " {\"names\": [\"b.test\", \"a.test\"], \"backends\": [\"127.0.0.1:2\"],"
	    " \"certificates\": [{\"cert\": \"c\", \"key\": \"k\"}]}]}\n";
	struct config_errors	 e = { 0 };
	char			*argv[] = { BASE_FLAGS, "--site", "b.test,A.test=127.0.0.1:9" };

	assert_null(config_load_text("t.json", t, strlen(t), &e));
	dump(&e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msgs[0], "t.json:2:32: sites[0].names[1]: \"a.test\" "
	    "(named 4 times in all) is already named by sites[0].names[0] at t.json:2:22");
	config_errors_clear(&e);

	assert_null(config_from_args(8, argv, &e));
	dump(&e);
	assert_int_equal(e.n, 2);	/* the duplicate, and no --cert for site 2 */
	assert_true(has_msg(&e, "--site b.test,A.test=127.0.0.1:9: sites[1].names[1]: "
	    "\"a.test\" is already named by sites[0].names[0]"));
	config_errors_clear(&e);
}

/* The doc tables come from the schema: every key and flag is in them. */
static void
test_config_doc_lists_every_key(void **state)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&buf, &len);

	assert_int_equal(config_schema_doc(f, "keys"), 0);
	assert_int_equal(config_schema_doc(f, "flags"), 0);
	assert_int_equal(config_schema_doc(f, "nope"), -1);
	fclose(f);
	for (int site = 0; site < 2; site++)
		for (const struct cfg_key *k = site ? cfg_site_keys : cfg_keys; k->key;
		    k++) {
			char cellk[128];
			snprintf(cellk, sizeof(cellk), "| `%s` |", k->key);
			assert_non_null(strstr(buf, cellk));
			if (k->flag != NULL) {
				snprintf(cellk, sizeof(cellk), "| `%s", k->flag);
				assert_non_null(strstr(buf, cellk));
			}
		}
	free(buf);
}

/* ---- HTTP mode (issue 12) ---- */

/* One site a.test, plus site_extra inside it and top_extra at the top level
 * (each "" or ", KEY: VALUE..."). */
static struct config *
load_one(struct config_errors *e, const char *site_extra, const char *top_extra)
{
	char text[2048];

	snprintf(text, sizeof(text), "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]}, "
	    "\"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:8080\"], "
	    "\"certificates\": [{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}]%s}]%s}",
	    site_extra, top_extra);
	return config_load_text("t.json", text, strlen(text), e);
}

static void
assert_http_defaults(const struct config *c)
{
	const struct site_cfg *s = &c->sites[0];

	assert_int_equal(s->mode, SITE_MODE_HTTP);
	assert_int_equal(s->forwarded, FWD_XFF);
	assert_int_equal(s->h2, 1);
	assert_true(s->max_body_size == 0);
	assert_int_equal(s->backend_max_idle, 32);
	assert_true(s->backend_idle_timeout == 60);
	assert_true(s->backend_timeout == 60);
	assert_int_equal(s->hsts_max_age, 0);
	assert_int_equal(s->hsts_subdomains, 0);
	assert_int_equal(s->hsts_preload, 0);
	assert_null(c->trusted_proxies);
	assert_int_equal(c->ntrusted_proxies, 0);
	assert_int_equal(c->access_log, 1);
	assert_true(c->limits.header_timeout == 10);
	assert_true(c->limits.keepalive_timeout == 60);
	assert_true(c->limits.body_timeout == 60);
	assert_int_equal(c->limits.max_header_size, 65536);
	assert_int_equal(c->limits.max_headers, 100);
	assert_int_equal(c->limits.max_uri_length, 8192);
	assert_int_equal(c->limits.h2_max_streams, 100);
}

/* A site is HTTP by default, from a file and from flags, with every default. */
static void
test_http_defaults(void **state)
{
	struct config_errors	 e = { 0 };
	struct config		*c;

	c = load_one(&e, "", "");
	dump(&e);
	assert_non_null(c);
	assert_http_defaults(c);
	config_free(c);

	c = from_flags(&e, NULL);
	dump(&e);
	assert_non_null(c);
	assert_http_defaults(c);
	config_free(c);
}

/* k = val (a JSON literal) in a file, at the top or in the one site. */
static struct config *
load_key(struct config_errors *e, int site, const struct cfg_key *k,
    const char *val)
{
	const char	*dot = strchr(k->key, '.');
	char		 kv[300];

	if (dot == NULL)
		snprintf(kv, sizeof(kv), ", \"%s\": %s", k->key, val);
	else	/* health.* need the object's required "type" */
		snprintf(kv, sizeof(kv), ", \"%.*s\": {\"%s\": %s%s}",
		    (int)(dot - k->key), k->key, dot + 1, val,
		    site && strncmp(k->key, "health.", 7) == 0 ?
		    ", \"type\": \"tcp\"" : "");
	return site ? load_one(e, kv, "") : load_one(e, "", kv);
}

/* The number stored for row k in c (integer and seconds rows). */
static double
stored(const struct config *c, int site, const struct cfg_key *k)
{
	const char *f = (const char *)(site ? (const void *)c->sites :
	    (const void *)c) + k->off;

	if (k->type == CFG_SECONDS)
		return k->size == sizeof(double) ? *(const double *)f :
		    (double)*(const unsigned *)f;
	if (k->size == sizeof(long long)) {
		long long ll;
		memcpy(&ll, f, sizeof(ll));
		return (double)ll;
	}
	return (double)*(const int *)f;
}

/* Every integer and seconds key, with or without a flag: both bounds are
 * accepted and stored exactly, one step past either is refused. */
static void
test_every_bound(void **state)
{
	int checked = 0;

	for (int site = 0; site < 2; site++)
	for (const struct cfg_key *k = site ? cfg_site_keys : cfg_keys; k->key; k++) {
		const double		 ok[2] = { k->min, k->max };
		double			 bad[2];
		struct config_errors	 e = { 0 };
		struct config		*c;
		char			 v[64];

		if (k->type != CFG_INT && k->type != CFG_SECONDS)
			continue;
		bad[0] = k->type == CFG_INT || k->min == 0 ? k->min - 1 : k->min / 2;
		bad[1] = k->type == CFG_INT ? k->max + 1 : k->max * 2;
		for (int i = 0; i < 2; i++) {
			snprintf(v, sizeof(v), k->type == CFG_INT ? "%.0f" : "%.17g",
			    ok[i]);
			c = load_key(&e, site, k, v);
			dump(&e);
			if (c == NULL)
				print_message("%s = %s refused\n", k->key, v);
			assert_non_null(c);
			if (stored(c, site, k) != ok[i])
				print_message("%s = %s stored as %.17g\n", k->key, v,
				    stored(c, site, k));
			assert_true(stored(c, site, k) == ok[i]);
			config_free(c);

			snprintf(v, sizeof(v), k->type == CFG_INT ? "%.0f" : "%.17g",
			    bad[i]);
			assert_null(load_key(&e, site, k, v));
			if (e.n != 1 || !has_msg(&e, "must be between")) {
				print_message("%s = %s:\n", k->key, v);
				dump(&e);
			}
			assert_int_equal(e.n, 1);
			assert_true(has_msg(&e, "must be between"));
			config_errors_clear(&e);
		}
		checked++;
	}
	assert_true(checked >= 30);
}

static void
test_proxy_protocol_means_tcp(void **state)
{
	static const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},\n"
	    " \"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:2\"],\n"
	    "  \"certificates\": [{\"cert\": \"/c\", \"key\": \"/k\"}],\n"
	    "  \"mode\": \"http\", \"proxy_protocol\": 1}]}\n";
	struct config_errors	 e = { 0 };
	struct config		*c;

	/* proxy_protocol without mode: tcp. */
	c = load_one(&e, ", \"proxy_protocol\": 1", "");
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].mode, SITE_MODE_TCP);
	config_free(c);
	c = load_one(&e, ", \"proxy_protocol\": 2, \"mode\": \"tcp\"", "");
	assert_non_null(c);
	assert_int_equal(c->sites[0].mode, SITE_MODE_TCP);
	config_free(c);
	c = load_one(&e, ", \"proxy_protocol\": 0", "");
	assert_non_null(c);
	assert_int_equal(c->sites[0].mode, SITE_MODE_HTTP);
	config_free(c);
	c = load_one(&e, ", \"mode\": \"tcp\"", "");
	assert_non_null(c);
	assert_int_equal(c->sites[0].mode, SITE_MODE_TCP);
	config_free(c);

	/* An explicit "http" with it: refused, pointing at both keys. */
	assert_null(config_load_text("t.json", t, strlen(t), &e));
	dump(&e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msgs[0], "t.json:4:3: sites[0].mode: \"http\" cannot "
	    "send the PROXY protocol (a PROXY header describes one client "
	    "connection; HTTP mode pools backend connections across clients): use "
	    "\"tcp\", or remove sites[0].proxy_protocol at t.json:4:19");
	config_errors_clear(&e);

	/* The same from flags. */
	c = from_flags(&e, "--proxy-protocol", "a.test=1", NULL);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].mode, SITE_MODE_TCP);
	config_free(c);
	assert_null(from_flags(&e, "--proxy-protocol", "a.test=1", "--mode",
	    "a.test=http", NULL));
	dump(&e);
	assert_int_equal(e.n, 1);
	assert_true(has_msg(&e, "--mode a.test=http: sites[0].mode: \"http\" cannot "
	    "send the PROXY protocol"));
	assert_true(has_msg(&e, "use \"tcp\", or drop --proxy-protocol"));
	config_errors_clear(&e);
}

static void
test_alpn_is_tcp_only(void **state)
{
	static const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},\n"
	    " \"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:2\"],\n"
	    "  \"certificates\": [{\"cert\": \"/c\", \"key\": \"/k\"}],\n"
	    "  \"alpn\": [\"h2\"]}]}\n";
	struct config_errors	 e = { 0 };
	struct config		*c;

	assert_null(config_load_text("t.json", t, strlen(t), &e));
	dump(&e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msgs[0], "t.json:4:3: sites[0].alpn: not with mode "
	    "\"http\": tlsgate then offers h2 and http/1.1 itself (http.h2 turns h2 "
	    "off); for other protocols use \"mode\": \"tcp\"");
	config_errors_clear(&e);

	c = load_one(&e, ", \"alpn\": [\"h2\", \"http/1.1\"], \"mode\": \"tcp\"", "");
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].nalpn, 2);
	config_free(c);
	c = load_one(&e, ", \"alpn\": [\"x\"], \"proxy_protocol\": 2", "");
	assert_non_null(c);	/* tcp through proxy_protocol */
	config_free(c);

	assert_null(from_flags(&e, "--alpn", "a.test=h2", NULL));
	dump(&e);
	assert_int_equal(e.n, 1);
	assert_true(has_msg(&e, "--alpn a.test=h2: sites[0].alpn: not with mode "
	    "\"http\""));
	assert_true(has_msg(&e, "use --mode NAME=tcp"));
	config_errors_clear(&e);
	c = from_flags(&e, "--alpn", "a.test=h2", "--mode", "a.test=tcp", NULL);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].mode, SITE_MODE_TCP);
	config_free(c);
}

/* Every http.* and hsts.* key of a site, set on a tcp site: refused, named. */
static void
test_http_keys_refused_on_tcp(void **state)
{
	int checked = 0;

	for (const struct cfg_key *k = cfg_site_keys; k->key; k++) {
		const char		*dot = strchr(k->key, '.');
		struct config_errors	 e = { 0 };
		struct config		*c;
		char			 kv[300], want[200];

		if (strncmp(k->key, "http.", 5) != 0 && strncmp(k->key, "hsts.", 5) != 0)
			continue;
		assert_non_null(k->def);
		snprintf(kv, sizeof(kv), ", \"%.*s\": {\"%s\": %s}",
		    (int)(dot - k->key), k->key, dot + 1, k->def);
		/* Accepted in mode http (explicit or by default). */
		c = load_one(&e, kv, "");
		dump(&e);
		assert_non_null(c);
		config_free(c);
		strcat(kv, ", \"mode\": \"http\"");
		c = load_one(&e, kv, "");
		assert_non_null(c);
		config_free(c);
		/* Refused in mode tcp, naming the key. */
		snprintf(kv, sizeof(kv), ", \"mode\": \"tcp\", \"%.*s\": {\"%s\": %s}",
		    (int)(dot - k->key), k->key, dot + 1, k->def);
		assert_null(load_one(&e, kv, ""));
		dump(&e);
		snprintf(want, sizeof(want), ": sites[0].%s: only for mode \"http\", "
		    "and this site's mode is \"tcp\"", k->key);
		assert_int_equal(e.n, 1);
		assert_true(has_msg(&e, want));
		config_errors_clear(&e);
		/* And in a site that is tcp through proxy_protocol. */
		snprintf(kv, sizeof(kv), ", \"proxy_protocol\": 1, \"%.*s\": {\"%s\": %s}",
		    (int)(dot - k->key), k->key, dot + 1, k->def);
		assert_null(load_one(&e, kv, ""));
		assert_int_equal(e.n, 1);
		assert_true(has_msg(&e, "(because proxy_protocol is set)"));
		config_errors_clear(&e);
		checked++;
	}
	assert_int_equal(checked, 11);	/* with http.backend_protocol */

	/* Flags name the flag. */
	{
		struct config_errors e = { 0 };

		assert_null(from_flags(&e, "--mode", "a.test=tcp", "--forwarded",
		    "a.test=both", "--hsts", "a.test=60", NULL));
		dump(&e);
		assert_int_equal(e.n, 2);
		assert_true(has_msg(&e, "--forwarded a.test=both: sites[0].http.forwarded: "
		    "only for mode \"http\""));
		assert_true(has_msg(&e, "--hsts a.test=60: sites[0].hsts.max_age: only "
		    "for mode \"http\""));
		config_errors_clear(&e);
	}
}

static void
test_hsts_preload_rule(void **state)
{
	static const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},\n"
	    " \"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:2\"],\n"
	    "  \"certificates\": [{\"cert\": \"/c\", \"key\": \"/k\"}],\n"
	    "  \"hsts\": {\"max_age\": 31535999, \"include_subdomains\": true,\n"
	    "           \"preload\": true}}]}\n";
	struct config_errors	 e = { 0 };
	struct config		*c;

	c = load_one(&e, ", \"hsts\": {\"max_age\": 31536000, "
	    "\"include_subdomains\": true, \"preload\": true}", "");
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].hsts_max_age, 31536000);
	assert_int_equal(c->sites[0].hsts_subdomains, 1);
	assert_int_equal(c->sites[0].hsts_preload, 1);
	config_free(c);

	/* One second short of a year. */
	assert_null(config_load_text("t.json", t, strlen(t), &e));
	dump(&e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msgs[0], "t.json:5:12: sites[0].hsts.preload: preload "
	    "needs max_age of at least 31536000 (a year) and include_subdomains: "
	    "true, as hstspreload.org requires (max_age is 31535999, "
	    "include_subdomains true)");
	config_errors_clear(&e);

	/* Without include_subdomains. */
	assert_null(load_one(&e, ", \"hsts\": {\"max_age\": 63072000, \"preload\": "
	    "true}", ""));
	assert_int_equal(e.n, 1);
	assert_true(has_msg(&e, "(max_age is 63072000, include_subdomains false)"));
	config_errors_clear(&e);

	/* Without preload, any max_age and include_subdomains are fine. */
	c = load_one(&e, ", \"hsts\": {\"max_age\": 300, \"include_subdomains\": "
	    "true}", "");
	assert_non_null(c);
	assert_int_equal(c->sites[0].hsts_max_age, 300);
	config_free(c);
	c = from_flags(&e, "--hsts", "a.test=2147483647", NULL);
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->sites[0].hsts_max_age, 2147483647L);
	config_free(c);
}

static void
test_trusted_proxies(void **state)
{
	static const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:1\"]},\n"
	    " \"http\": {\"trusted_proxies\": [\"10.0.0.0/8\", \"::1\",\n"
	    "   \"10.0.0.1/8\", \"fe80::1%eth0\",\n"
	    "   \"192.0.2.0/33\", 7, \"proxy.test\"]},\n"
	    " \"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:2\"],\n"
	    "  \"certificates\": [{\"cert\": \"/c\", \"key\": \"/k\"}]}]}\n";
	char *argv[] = { BASE_FLAGS, "--trusted-proxy", "10.0.0.0/8",
	    "--trusted-proxy", "::1,192.0.2.7" };
	struct config_errors	 e = { 0 };
	struct config		*c, *cf;
	struct sockaddr_in6	 in6 = { .sin6_family = AF_INET6 };

	assert_null(config_load_text("t.json", t, strlen(t), &e));
	dump(&e);
	assert_int_equal(e.n, 5);
	assert_string_equal(e.msgs[0], "t.json:3:4: http.trusted_proxies[2]: address "
	    "has bits set past the prefix (got \"10.0.0.1/8\")");
	assert_string_equal(e.msgs[1], "t.json:3:18: http.trusted_proxies[3]: not an "
	    "IPv6 address (got \"fe80::1%eth0\")");
	assert_string_equal(e.msgs[2], "t.json:4:4: http.trusted_proxies[4]: prefix "
	    "must be 0-32 (got \"192.0.2.0/33\")");
	assert_string_equal(e.msgs[3], "t.json:4:20: http.trusted_proxies[5]: "
	    "expected a string");
	assert_string_equal(e.msgs[4], "t.json:4:23: http.trusted_proxies[6]: not an "
	    "IP address (got \"proxy.test\")");
	config_errors_clear(&e);

	assert_null(load_one(&e, "", ", \"http\": {\"trusted_proxies\": \"10.0.0.0/8\"}"));
	assert_true(has_msg(&e, "http.trusted_proxies: expected an array of strings"));
	config_errors_clear(&e);

	c = load_one(&e, "", ", \"http\": {\"trusted_proxies\": [\"10.0.0.0/8\", "
	    "\"::1\", \"192.0.2.7\"]}");
	dump(&e);
	assert_non_null(c);
	assert_int_equal(c->ntrusted_proxies, 3);
	assert_int_equal(c->trusted_proxies[0].family, AF_INET);
	assert_int_equal(c->trusted_proxies[0].bits, 8);
	assert_int_equal(c->trusted_proxies[1].family, AF_INET6);
	assert_int_equal(c->trusted_proxies[1].bits, 128);
	assert_int_equal(c->trusted_proxies[2].bits, 32);
	/* The stored ranges work with cidr_match: ::ffff:10.1.1.1 is in 10/8. */
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.1.1", &in6.sin6_addr), 1);
	assert_true(cidr_match(c->trusted_proxies, c->ntrusted_proxies,
	    (struct sockaddr *)&in6));
	assert_int_equal(inet_pton(AF_INET6, "::2", &in6.sin6_addr), 1);
	assert_false(cidr_match(c->trusted_proxies, c->ntrusted_proxies,
	    (struct sockaddr *)&in6));

	/* The flag, repeated and comma-separated, stores the same. */
	cf = config_from_args(10, argv, &e);
	dump(&e);
	assert_non_null(cf);
	assert_int_equal(cf->ntrusted_proxies, 3);
	assert_memory_equal(cf->trusted_proxies, c->trusted_proxies,
	    3 * sizeof(struct cidr));
	config_free(cf);
	config_free(c);

	assert_null(from_flags(&e, "--trusted-proxy", "10.0.0.1/8", NULL));
	dump(&e);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msgs[0], "--trusted-proxy: address has bits set past "
	    "the prefix (got \"10.0.0.1/8\")");
	config_errors_clear(&e);
}

/* All the HTTP flags at once store what the equivalent file stores. */
static void
test_http_flags_match_file(void **state)
{
	static const char t[] = "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]},"
	    " \"limits\": {\"header_timeout\": 3, \"keepalive_timeout\": 4.5,"
	    " \"body_timeout\": 5, \"max_header_size\": 2048, \"max_headers\": 50,"
	    " \"max_uri_length\": 1024, \"h2_max_concurrent_streams\": 10},"
	    " \"http\": {\"trusted_proxies\": [\"10.0.0.0/8\"]},"
	    " \"sites\": [{\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:8080\"],"
	    " \"certificates\": [{\"cert\": \"/c.pem\", \"key\": \"/k.pem\"}],"
	    " \"mode\": \"http\", \"http\": {\"forwarded\": \"both\","
	    " \"max_body_size\": 1099511627776, \"backend_timeout\": 2.5},"
	    " \"hsts\": {\"max_age\": 31536000}}]}";
	char *argv[] = { BASE_FLAGS, "--mode", "a.test=http", "--forwarded",
	    "a.test=both", "--max-body-size", "a.test=1099511627776",
	    "--backend-timeout", "a.test=2.5", "--hsts", "a.test=31536000",
	    "--header-timeout", "3", "--keepalive-timeout", "4.5", "--body-timeout",
	    "5", "--max-header-size", "2048", "--max-headers", "50",
	    "--max-uri-length", "1024", "--h2-max-concurrent-streams", "10",
	    "--trusted-proxy", "10.0.0.0/8" };
	struct config_errors	 e = { 0 };
	struct config		*cj, *cf;

	cj = config_load_text("/t.json", t, strlen(t), &e);
	dump(&e);
	cf = config_from_args((int)(sizeof(argv) / sizeof(argv[0])), argv, &e);
	dump(&e);
	assert_non_null(cj);
	assert_non_null(cf);
	assert_int_equal(cf->sites[0].mode, SITE_MODE_HTTP);
	assert_int_equal(cf->sites[0].forwarded, FWD_BOTH);
	assert_true(cf->sites[0].max_body_size == 1099511627776LL);
	assert_true(cf->sites[0].backend_timeout == 2.5);
	assert_int_equal(cf->sites[0].hsts_max_age, 31536000);
	assert_true(cf->limits.keepalive_timeout == 4.5);
	assert_int_equal(cf->limits.h2_max_streams, 10);
	assert_memory_equal(&cj->limits, &cf->limits, sizeof(cj->limits));
	assert_int_equal(cj->sites[0].mode, cf->sites[0].mode);
	assert_int_equal(cj->sites[0].forwarded, cf->sites[0].forwarded);
	assert_true(cj->sites[0].max_body_size == cf->sites[0].max_body_size);
	assert_true(cj->sites[0].backend_timeout == cf->sites[0].backend_timeout);
	assert_int_equal(cj->sites[0].hsts_max_age, cf->sites[0].hsts_max_age);
	assert_int_equal(cj->ntrusted_proxies, 1);
	assert_int_equal(cf->ntrusted_proxies, 1);
	assert_memory_equal(cj->trusted_proxies, cf->trusted_proxies,
	    sizeof(struct cidr));
	config_free(cj);
	config_free(cf);

	/* Values the engine reads as enums, by name. */
	{
		static const struct { const char *v; int want; } fw[] = {
			{ "x-forwarded", FWD_XFF }, { "forwarded", FWD_FORWARDED },
			{ "both", FWD_BOTH }, { "none", FWD_NONE },
		};
		for (size_t i = 0; i < 4; i++) {
			char a[64];
			snprintf(a, sizeof(a), "a.test=%s", fw[i].v);
			cf = from_flags(&e, "--forwarded", a, NULL);
			dump(&e);
			assert_non_null(cf);
			assert_int_equal(cf->sites[0].forwarded, fw[i].want);
			config_free(cf);
		}
	}
	/* log.access and http.h2 have no flag; the file turns them off. */
	cj = load_one(&e, ", \"http\": {\"h2\": false}", ", \"log\": {\"access\": false}");
	dump(&e);
	assert_non_null(cj);
	assert_int_equal(cj->sites[0].h2, 0);
	assert_int_equal(cj->access_log, 0);
	config_free(cj);
}

/* on_demand: the section parses with its site, refuses a site with names,
 * an ask without a site, and a bad URL, each at its position; the name
 * check refuses what a CA would not issue for. */
static void
test_on_demand(void **state)
{
	static const char good[] = "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]},\n"
	    "\"on_demand\": {\"ask\": \"http://127.0.0.1:5555/check?k=1\",\n"
	    "  \"cache_size\": 500, \"site\": {\"backends\": [\"127.0.0.1:8080\"],\n"
	    "  \"mode\": \"tcp\"}}}";
	static const char bad[] = "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]},\n"
	    "\"on_demand\": {\"ask\": \"ftp://x\",\n"
	    "  \"site\": {\"names\": [\"a.test\"], \"backends\": [\"127.0.0.1:8080\"]}}}";
	static const char nosite[] = "{\"listen\": {\"https\": [\"127.0.0.1:8443\"]},\n"
	    "\"on_demand\": {\"ask\": \"http://127.0.0.1:1/\"}}";
	struct config_errors	 e = { 0 };
	struct config		*c;

	c = config_load_text("od.json", good, sizeof(good) - 1, &e);
	dump(&e);
	assert_non_null(c);
	assert_string_equal(c->on_demand.ask, "http://127.0.0.1:5555/check?k=1");
	assert_int_equal(c->on_demand.cache_size, 500);
	assert_int_equal(c->on_demand.ask_per_client, 10);
	assert_non_null(c->on_demand.site);
	assert_int_equal(c->on_demand.site->mode, SITE_MODE_TCP);
	assert_int_equal(c->on_demand.site->nchallenges, 2);
	assert_string_equal(c->on_demand.site->challenges[0], "tls-alpn-01");
	assert_true(config_uses_acme(c));
	config_free(c);

	assert_null(config_load_text("od.json", bad, sizeof(bad) - 1, &e));
	dump(&e);
	assert_true(has_msg(&e, "od.json:2:15: on_demand.ask: expected an http:// or "
	    "https:// URL"));
	assert_true(has_msg(&e, "on_demand.site.names: not for on_demand.site"));
	/* The refused URL is not reported a second time as a missing one. */
	assert_false(has_msg(&e, "on_demand.site is set but on_demand.ask is not"));
	config_errors_clear(&e);
	assert_null(config_load_text("od.json", nosite, sizeof(nosite) - 1, &e));
	dump(&e);
	assert_true(has_msg(&e, "on_demand.ask needs on_demand.site"));
	config_errors_clear(&e);

	assert_null(ondemand_name_check("status.customer.com", 0));
	assert_null(ondemand_name_check("xn--bcher-kva.example", 0));
	assert_non_null(ondemand_name_check("Status.customer.com", 0));
	assert_non_null(ondemand_name_check("*.customer.com", 0));
	assert_non_null(ondemand_name_check("localhost", 0));
	assert_non_null(ondemand_name_check("a..b", 0));
	assert_non_null(ondemand_name_check("-a.b", 0));
	assert_non_null(ondemand_name_check("a-.b", 0));
	assert_non_null(ondemand_name_check("a_b.c", 0));
	assert_non_null(ondemand_name_check("b\xc3\xbc" "cher.example", 0));
	assert_non_null(ondemand_name_check("192.0.2.1", 0));
	assert_null(ondemand_name_check("192.0.2.1", 1));
	assert_null(ondemand_name_check("2001:db8::1", 1));
	{
		char long_label[80], long_name[300];

		memset(long_label, 'a', 64);
		strcpy(long_label + 64, ".test");
		assert_non_null(ondemand_name_check(long_label, 0));
		memset(long_name, 0, sizeof(long_name));
		for (int i = 0; i < 254; i += 2)
			memcpy(long_name + i, "a.", 2);
		long_name[253] = 'a';
		assert_non_null(ondemand_name_check(long_name, 0));	/* 254 bytes */
		long_name[252] = '\0';
		long_name[251] = 'a';
		assert_null(ondemand_name_check(long_name, 0));		/* 252 bytes */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_errors_name_flag_and_value),
		cmocka_unit_test(test_acme_wildcard_on_every_name),
		cmocka_unit_test(test_ip_names),
		cmocka_unit_test(test_dns_persist_challenges),
		cmocka_unit_test(test_every_flag_agrees_with_json),
		cmocka_unit_test(test_on_demand),
		cmocka_unit_test(test_duplicates_once_per_name),
		cmocka_unit_test(test_ech),
		cmocka_unit_test(test_config_doc_lists_every_key),
		cmocka_unit_test(test_http_defaults),
		cmocka_unit_test(test_every_bound),
		cmocka_unit_test(test_proxy_protocol_means_tcp),
		cmocka_unit_test(test_alpn_is_tcp_only),
		cmocka_unit_test(test_http_keys_refused_on_tcp),
		cmocka_unit_test(test_hsts_preload_rule),
		cmocka_unit_test(test_trusted_proxies),
		cmocka_unit_test(test_http_flags_match_file),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
