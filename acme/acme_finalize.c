/*
 * acme_finalize.c - every authorization is valid: make the certificate's
 * key (keygen.h), send a CSR for the site's names (acme_csr.h: IP SANs, and
 * no CN where the profile or the names rule it out), and poll the order
 * until the CA has issued.
 */
#include "acme_int.h"

#include <stdlib.h>
#include <string.h>

#include "acme_csr.h"
#include "errbuf.h"
#include "keygen.h"
#include "log.h"
#include "xalloc.h"

static void
on_order_state(struct job *j, const struct acme_http_resp *r)
{
	json_t		*o, *err;
	const char	*st;

	if ((o = body_json(j, r, "order")) == NULL)
		return;
	if (parse_order(j, o, &st) == -1) {
		json_decref(o);
		return;
	}
	if (strcmp(st, "valid") == 0 && j->cert_url != NULL) {
		json_decref(o);
		step_download(j);
	} else if (strcmp(st, "processing") == 0 || strcmp(st, "ready") == 0) {
		json_decref(o);
		if (++j->polls > ACME_MAX_POLLS) {
			job_fail(j, ACME_FAIL_SERVER, "order still %s after %d polls", st,
			    ACME_MAX_POLLS);
			return;
		}
		j->state = JOB_FINALIZE;
		job_poll_later(j);
	} else {
		err = json_object_get(o, "error");
		job_fail(j, ACME_FAIL_OTHER, "order is %s%s%s", st, err ? ": " : "",
		    err ? json_string_value(json_object_get(err, "detail")) : "");
		json_decref(o);
	}
}

void
poll_order(struct job *j)
{
	j->state = JOB_FINALIZE;
	job_post(j, j->order_url, NULL, 0, on_order_state);
}

void
step_finalize(struct job *j)
{
	struct errbuf	 eb;
	char		*csr, *p;
	int		 with_cn;

	j->state = JOB_FINALIZE;
	if (j->finalize_url == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "order: no finalize URL");
		return;
	}
	if (j->key == NULL) {
		if ((j->key = keygen(j->kt, &eb)) == NULL) {
			job_fail(j, ACME_FAIL_OTHER, "%s", eb.msg);
			return;
		}
		j->key_pem = keygen_pem(j->key);
	}
	with_cn = acme_csr_wants_cn(j->site->names, j->site->nnames, job_profile(j));
	if (j->key_pem == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "CSR: the key cannot be written");
		return;
	}
	if ((csr = acme_csr_make(j->site->names, j->site->nnames, j->key, with_cn,
	    &eb)) == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "%s", eb.msg);
		return;
	}
	p = xasprintf("{\"csr\":\"%s\"}", csr);	/* base64url: no escaping needed */
	free(csr);
	j->polls = 0;
	log_info("acme %s: finalizing (CSR %s a Common Name)", job_name(j),
	    with_cn ? "with" : "without");
	job_post(j, j->finalize_url, p, 0, on_order_state);
	free(p);
}
