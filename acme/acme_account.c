/*
 * acme_account.c - the account (RFC 8555 7.3): registered once per CA and
 * kept in the store. Only one job registers at a time; the others wait for
 * it, since two concurrent newAccount requests for one key race inside some
 * CAs.
 */
#include "acme_int.h"
#include "acme_queue.h"

#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "jws.h"
#include "log.h"
#include "xalloc.h"

static void
on_account(struct job *j, const struct acme_http_resp *r)
{
	struct acme_iss	*s = job_iss(j);
	struct errbuf	 eb;
	json_t		*o;
	const char	*st;

	if (r->location == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "newAccount: no Location header");
		return;
	}
	if ((o = body_json(j, r, "newAccount")) == NULL)
		return;
	st = json_string_value(json_object_get(o, "status"));
	if (st != NULL && strcmp(st, "valid") != 0) {
		job_fail(j, ACME_FAIL_OTHER, "newAccount: account status is %s", st);
		json_decref(o);
		return;
	}
	json_decref(o);
	free(s->acct_url);
	s->acct_url = xstrdup(r->location);
	s->acct_job = NULL;
	if (store_account_url_put(s->acct_store, r->location, &eb) == -1)
		log_warnx("acme: saving account URL: %s", eb.msg);
	log_notice("acme: account %s at %s", r->location, s->directory);
	queue_kick(j->a);	/* the jobs queued behind the registration */
	step_order(j);
}

void
step_account(struct job *j)
{
	struct acme_iss	*a = job_iss(j);	/* each CA has its own account */
	struct errbuf	 eb;
	json_t		*p;
	char		*s, *eab = NULL;

	j->state = JOB_ACCOUNT;
	a->acct_job = j;
	p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (a->email != NULL && a->email[0] != '\0') {
		char *mailto = xasprintf("mailto:%s", a->email);
		json_object_set_new(p, "contact", json_pack("[s]", mailto));
		free(mailto);
	}
	if (a->eab_kid != NULL) {
		if ((eab = jws_eab(a->acct_key, a->eab_kid, a->eab_hmac,
		    a->u_account, &eb)) == NULL) {
			json_decref(p);
			job_fail(j, ACME_FAIL_OTHER, "external account binding: %s", eb.msg);
			return;
		}
		json_object_set_new(p, "externalAccountBinding", json_loads(eab, 0, NULL));
		free(eab);
	}
	s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	job_post(j, a->u_account, s, 1, on_account);
	free(s);
}

/* 1 if another job is registering the account: j tries again shortly. */
int
job_wait_for_account(struct job *j)
{
	const struct acme_iss *s = job_iss(j);

	if (s->acct_url != NULL || s->acct_job == NULL || s->acct_job == j)
		return 0;
	job_timer_in(j, 1);
	return 1;
}
