/*
 * acme_finalize.c - every authorization is valid: make the certificate's
 * key (keygen.h), send a CSR for the site's names, and poll the order until
 * the CA has issued.
 */
#include "acme_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64url.h"
#include "errbuf.h"
#include "keygen.h"
#include "log.h"
#include "xalloc.h"

/* A DER CSR for the site's names, base64url (new string) or NULL. */
static char *
make_csr(struct job *j)
{
	X509_REQ		*req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	GENERAL_NAMES		*gens = sk_GENERAL_NAME_new_null();
	X509_EXTENSION		*san = NULL;
	uint8_t			*der = NULL;
	int			 len;
	char			*out = NULL;

	if (req == NULL || exts == NULL || gens == NULL)
		goto out;
	for (size_t i = 0; i < j->site->nnames; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		gn->type = GEN_DNS;
		gn->d.dNSName = ASN1_IA5STRING_new();
		ASN1_STRING_set(gn->d.dNSName, j->site->names[i],
		    (int)strlen(j->site->names[i]));
		sk_GENERAL_NAME_push(gens, gn);
	}
	if (!X509_REQ_set_version(req, 0) ||
	    !X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	    MBSTRING_ASC, (const uint8_t *)j->site->names[0], -1, -1, 0) ||
	    (san = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL ||
	    !sk_X509_EXTENSION_push(exts, san) ||
	    !X509_REQ_add_extensions(req, exts) ||
	    !X509_REQ_set_pubkey(req, j->key) ||
	    !X509_REQ_sign(req, j->key, EVP_sha256()) ||
	    (len = i2d_X509_REQ(req, &der)) <= 0)
		goto out;
	out = b64url_encode(der, (size_t)len);
out:
	ERR_clear_error();
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_REQ_free(req);
	return out;
}

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
	if ((csr = make_csr(j)) == NULL || j->key_pem == NULL) {
		free(csr);
		job_fail(j, ACME_FAIL_OTHER, "CSR generation failed");
		return;
	}
	p = xasprintf("{\"csr\":\"%s\"}", csr);	/* base64url: no escaping needed */
	free(csr);
	j->polls = 0;
	log_info("acme %s: finalizing", job_name(j));
	job_post(j, j->finalize_url, p, 0, on_order_state);
	free(p);
}
