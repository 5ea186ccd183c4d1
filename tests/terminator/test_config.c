/*
 * test_config.c - flags and JSON agree: every key with a flag accepts and
 * refuses the same values through both, and stores the same thing; flag
 * errors name the flag and the value; ACME challenge checks look at every
 * name; duplicates are reported once per name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_schema.h"

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
	assert_true(has_msg(&e, "expected tls-alpn-01, http-01 or dns-01 (got \"smoke-01\")"));
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
		    "https://ca.test/d" : "/x/y");
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_errors_name_flag_and_value),
		cmocka_unit_test(test_acme_wildcard_on_every_name),
		cmocka_unit_test(test_every_flag_agrees_with_json),
		cmocka_unit_test(test_duplicates_once_per_name),
		cmocka_unit_test(test_config_doc_lists_every_key),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
