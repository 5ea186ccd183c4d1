/*
 * acme_persist.c - dns-persist-01: the record's value (pure, acme_persist.h)
 * and the challenge's answer (acme_int.h, ACME thread). No DNS is touched
 * when the record is there: the CA is told to look. With acme.dns_hook,
 * the first answer for a name runs "HOOK set-persist _validation-persist.NAME
 * VALUE" once (never "clear": the record is meant to stay), and this process
 * remembers that it did; a validation that fails anyway forgets it, so the
 * next attempt publishes again. Without a hook, or when the CA finds no
 * fit record, the exact record to publish is logged at notice level.
 */
#include "acme_int.h"
#include "acme_persist.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

/* ---- the record (pure) ----------------------------------------------------- */

int
persist_issuer_ok(const char *s)
{
	size_t	n = 0, lab = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (const char *p = s; *p != '\0'; p++, n++) {
		if (*p == '.') {
			if (lab == 0 || p[-1] == '-')
				return 0;
			lab = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    (*p == '-' && lab > 0)))
			return 0;
		if (++lab > 63)
			return 0;
	}
	return n <= 253 && lab > 0 && s[n - 1] != '-';
}

/* RFC 8659 section 4.2: a parameter's value is 1*(%x21-3A / %x3C-7E). */
static int
issue_value_ok(const char *v)
{
	if (v == NULL || *v == '\0')
		return 0;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x21 || (unsigned char)*v > 0x7e || *v == ';')
			return 0;
	return 1;
}

char *
persist_record_value(const char *issuer, const char *account_url, int wildcard)
{
	if (!persist_issuer_ok(issuer) || !issue_value_ok(account_url))
		return NULL;
	return xasprintf("%s; accounturi=%s%s", issuer, account_url,
	    wildcard ? "; policy=wildcard" : "");
}

const char *
persist_pick_issuer(json_t *o, const char **why)
{
	static const char *const keys[] = { "issuer-domain-names",
	    "issuerDomainNames", "caaIdentities", NULL };
	json_t	*a = NULL, *v;
	size_t	 i;

	for (i = 0; keys[i] != NULL && a == NULL; i++)
		a = json_object_get(o, keys[i]);
	if (!json_is_array(a)) {
		*why = "no issuer-domain-names";
		return NULL;
	}
	if (json_array_size(a) == 0 || json_array_size(a) > PERSIST_MAX_ISSUERS) {
		*why = "issuer-domain-names is empty or has more than 10 names";
		return NULL;
	}
	json_array_foreach(a, i, v)
		if (persist_issuer_ok(json_string_value(v)))
			return json_string_value(v);
	*why = "no issuer-domain-name is a lowercase domain name";
	return NULL;
}

/* ---- the records this process published ------------------------------------ */

struct persist_pub {
	struct persist_pub	*next;
	char			*name, *value;
};

static struct persist_pub **
pub_find(struct acme *a, const char *name, const char *value)
{
	struct persist_pub **pp;

	for (pp = &a->persist; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0 &&
		    (value == NULL || strcmp((*pp)->value, value) == 0))
			break;
	return pp;
}

static void
pub_forget(struct acme *a, const char *name)
{
	struct persist_pub **pp, *p;

	while (*(pp = pub_find(a, name, NULL)) != NULL) {
		p = *pp;
		*pp = p->next;
		free(p->name);
		free(p->value);
		free(p);
	}
}

void
persist_free(struct acme *a)
{
	struct persist_pub *p;

	while ((p = a->persist) != NULL) {
		a->persist = p->next;
		free(p->name);
		free(p->value);
		free(p);
	}
}

/* ---- the challenge ----------------------------------------------------------- */

int
persist_is(const struct job *j)
{
	return j->chal_type != NULL && strcmp(j->chal_type, "dns-persist-01") == 0;
}

/* policy=wildcard when the site also names *.ident: the record then covers
 * both of its authorizations, with one value. */
static int
site_wildcard(const struct job *j, const char *ident)
{
	for (size_t i = 0; i < j->site->nnames; i++)
		if (strncmp(j->site->names[i], "*.", 2) == 0 &&
		    strcmp(j->site->names[i] + 2, ident) == 0)
			return 1;
	return 0;
}

void
persist_answer(struct job *j, json_t *chal, const char *ident)
{
	const char	*url = json_string_value(json_object_get(chal, "url"));
	const char	*issuer, *why, *acct = job_iss(j)->acct_url;
	char		*value;

	if (url == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "%s: malformed dns-persist-01 challenge "
		    "(no url)", ident);
		return;
	}
	if ((issuer = persist_pick_issuer(chal, &why)) == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "%s: malformed dns-persist-01 challenge "
		    "(%s)", ident, why);
		return;
	}
	if ((value = persist_record_value(issuer, acct, site_wildcard(j, ident))) == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "%s: the account URL cannot go in a "
		    "dns-persist-01 record", ident);
		return;
	}
	free(j->chal_url); free(j->chal_token); free(j->chal_ident); free(j->chal_type);
	free(j->dns_value);
	j->chal_url = xstrdup(url);
	j->chal_token = NULL;
	j->chal_ident = xstrdup(ident);
	j->chal_type = xstrdup("dns-persist-01");
	j->dns_value = value;
	log_info("acme %s: answering dns-persist-01 for %s (TXT %s%s \"%s\")",
	    job_name(j), ident, PERSIST_LABEL, ident, value);
	if (j->a->cfg.dns_hook != NULL && *pub_find(j->a, ident, value) == NULL) {
		if (hook_spawn(j, "set-persist") == 0) {
			j->state = JOB_HOOK;
			job_timer_in(j, 0);	/* the timer watches the hook */
			return;
		}
		log_warnx("acme %s: dns_hook set-persist could not run; asking the "
		    "CA anyway (the record may be published already)", job_name(j));
	}
	challenge_answer(j);
}

void
persist_hook_done(struct job *j, int ok)
{
	struct persist_pub *p;

	if (ok) {
		pub_forget(j->a, j->chal_ident);
		p = xcalloc(1, sizeof(*p));
		p->name = xstrdup(j->chal_ident);
		p->value = xstrdup(j->dns_value);
		p->next = j->a->persist;
		j->a->persist = p;
		log_info("acme %s: dns_hook published TXT %s%s", job_name(j),
		    PERSIST_LABEL, j->chal_ident);
	} else
		log_warnx("acme %s: dns_hook set-persist failed; asking the CA "
		    "anyway (the record may be published already)", job_name(j));
	challenge_answer(j);
}

void
persist_failed(struct job *j)
{
	pub_forget(j->a, j->chal_ident);
	if (j->dns_value == NULL)
		return;
	log_notice("acme %s: dns-persist-01 needs the TXT record %s%s with the "
	    "value \"%s\" (publish it once: it stays valid for every order of "
	    "this account; `tlsgate persist-record %s` prints it)", job_name(j),
	    PERSIST_LABEL, j->chal_ident, j->dns_value, j->chal_ident);
}
