/*
 * acme_ari.c - ACME Renewal Information (RFC 9773): the certID of the
 * certificate in service, and the renewalInfo check that moves the renewal
 * time into the CA's suggested window.
 */
#include "acme_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme_sched.h"
#include "b64url.h"
#include "log.h"
#include "xalloc.h"

/* ARI certID: base64url(AKI keyIdentifier) "." base64url(serial DER value). */
char *
ari_cert_id(const struct certfile *cf)
{
	X509			*x;
	const ASN1_OCTET_STRING	*aki;
	const ASN1_INTEGER	*sn;
	BIGNUM			*bn;
	uint8_t			 buf[64];
	size_t			 n;
	char			*a, *s, *out = NULL;

	if ((x = X509_parse_from_buffer(cf->chain[0])) == NULL)
		return NULL;
	aki = X509_get0_authority_key_id(x);
	sn = X509_get0_serialNumber(x);
	if (aki != NULL && sn != NULL && (bn = ASN1_INTEGER_to_BN(sn, NULL)) != NULL) {
		n = BN_num_bytes(bn);
		if (n > 0 && n < sizeof(buf) - 1) {
			/* DER INTEGER content: a leading zero keeps it positive. */
			size_t off = BN_num_bits(bn) % 8 == 0 ? 1 : 0;
			buf[0] = 0;
			BN_bn2bin(bn, buf + off);
			a = b64url_encode(ASN1_STRING_get0_data(aki),
			    (size_t)ASN1_STRING_length(aki));
			s = b64url_encode(buf, n + off);
			out = xasprintf("%s.%s", a, s);
			free(a);
			free(s);
		}
		BN_free(bn);
	}
	ERR_clear_error();
	X509_free(x);
	return out;
}


static void
on_ari(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct job	*j = arg;
	json_t		*o = NULL, *w;
	time_t		 s, e, now, got, s_eff;
	long		 ra;
	char		 b1[24], b2[24], b3[24];

	if (job_gone(j))
		return;
	now = acme_now(j->a);
	j->state = JOB_IDLE;
	j->rs.ari_next = now + ACME_ARI_RECHECK;
	if (err == NULL && r->status == 200 &&
	    (o = json_loadb(r->body, r->len, 0, NULL)) != NULL &&
	    (w = json_object_get(o, "suggestedWindow")) != NULL &&
	    (s = acme_sched_parse_time(json_string_value(json_object_get(w, "start")))) > 0 &&
	    (e = acme_sched_parse_time(json_string_value(json_object_get(w, "end")))) >= s) {
		/* When the certificate in service was obtained: by us (the
		 * last success), or by whoever stored it (its notBefore). */
		got = j->current->not_before;
		if (j->rs.last_success > got && j->rs.last_success < j->current->not_after)
			got = j->rs.last_success;
		s_eff = acme_sched_ari_start(s, got, j->current->not_after -
		    j->current->not_before);
		if (s_eff >= e) {
			/* Not adopted: the schedule by lifetime (or an earlier,
			 * good window) stands. */
			log_notice("acme %s: ARI window %s..%s ended before a third "
			    "of the life of the certificate in service, which was "
			    "obtained inside it or after it (%s): spent, not a reason "
			    "to order again", job_name(j), acme_iso(s, b1),
			    acme_iso(e, b2), acme_iso(got, b3));
		} else if (s != j->rs.ari_start || e != j->rs.ari_end) {
			/* Keep our random pick while the window stays the same. */
			j->rs.ari_start = s;
			j->rs.ari_end = e;
			j->renew_at = acme_sched_renew_at(j->current->not_before,
			    j->current->not_after, s_eff, e, acme_rnd());
			log_info("acme %s: ARI window %s..%s, renewing at %s",
			    job_name(j), acme_iso(s, b1), acme_iso(e, b2),
			    acme_iso(j->renew_at, b3));
		}
		ra = acme_sched_parse_retry_after(r->retry_after, now);
		if (ra > 0)
			j->rs.ari_next = now + (ra < 3600 ? 3600 : ra > 43200 ? 43200 : ra);
	} else
		log_warnx("acme %s: renewalInfo: %s", job_name(j), err ? err :
		    "no usable suggestedWindow");
	json_decref(o);
	job_schedule(j);
}

/* Ask the CA when to renew the certificate in service. */
void
step_ari(struct job *j)
{
	char *id = ari_cert_id(j->current), *url;

	if (id != NULL) {
		url = xasprintf("%s/%s", job_ari_url(j), id);
		free(id);
		j->state = JOB_ARI;
		if (job_get(j, url, on_ari) == 0) {
			free(url);
			return;
		}
		free(url);
		j->state = JOB_IDLE;
	}
	j->rs.ari_next = acme_now(j->a) + ACME_ARI_RECHECK;
	job_schedule(j);
}
