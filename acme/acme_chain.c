/*
 * acme_chain.c - the certificate is issued: download the chain, complete it
 * by following rel="up" when the CA sends the leaf alone, pick an alternate
 * chain by its top issuer when one is preferred, and put the result into the
 * store, which checks it before it replaces anything and tells the
 * terminator through its feed.
 */
#include "acme_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "errbuf.h"
#include "log.h"
#include "xalloc.h"

/* The issuer CN of the last certificate in a PEM chain (new string) or NULL. */
static char *
top_issuer_cn(const char *pem)
{
	BIO	*b = BIO_new_mem_buf(pem, (int)strlen(pem));
	X509	*x, *last = NULL;
	char	 cn[256];
	char	*out = NULL;

	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_free(last);
		last = x;
	}
	ERR_clear_error();
	if (last != NULL && X509_NAME_get_text_by_NID(X509_get_issuer_name(last),
	    NID_commonName, cn, sizeof(cn)) > 0)
		out = xstrdup(cn);
	X509_free(last);
	BIO_free(b);
	return out;
}

/*
 * The URL of the n-th Link header with relation rel (RFC 8288: "<URL>;
 * rel=\"rel\""), as a new string, or NULL when there are fewer.
 */
static char *
link_rel(const struct acme_http_resp *r, const char *rel, size_t n)
{
	char	want[32];

	snprintf(want, sizeof(want), "rel=\"%s\"", rel);
	for (size_t i = 0; i < r->nlinks; i++) {
		const char *l = r->links[i], *lt, *gt;
		if (strstr(l, want) == NULL || (lt = strchr(l, '<')) == NULL ||
		    (gt = strchr(lt, '>')) == NULL)
			continue;
		if (n-- == 0)
			return strndup(lt + 1, (size_t)(gt - lt - 1));
	}
	return NULL;
}

/* Alternate chains (RFC 8555 7.4.2), at most eight. */
static void
collect_alternates(struct job *j, const struct acme_http_resp *r)
{
	char *u;

	while (j->nalternates < 8 && (u = link_rel(r, "alternate", j->nalternates)) != NULL) {
		j->alternates = xrealloc(j->alternates, (j->nalternates + 1) * sizeof(char *));
		j->alternates[j->nalternates++] = u;
	}
}

/* The store checks the pair and the names before replacing anything. */
static void
install_chain(struct job *j, const char *pem)
{
	struct certfile	*cf;
	struct errbuf	 eb;
	int		 tries = 0;

	/* Fenced: written only while the lock is still ours (etcd: in the
	 * write's own transaction; the file backend checks it just before).
	 * A lock whose lease ended is taken again once, if nobody holds it. */
	for (;;) {
		errno = 0;
		if ((cf = store_cert_put_locked(j->a->store, j->lock, job_name(j),
		    j->site->names, j->site->nnames, pem, j->key_pem, &eb)) != NULL)
			break;
		if (errno != ESTALE || j->lock == NULL) {
			job_fail(j, ACME_FAIL_CERTIFICATE, "new certificate "
			    "rejected: %s", eb.msg);
			return;
		}
		if (tries++ > 0 || lock_retake(j) == -1) {
			job_fail(j, ACME_FAIL_OTHER, "lost the store lock for %s "
			    "before writing the certificate", job_name(j));
			return;
		}
	}
	job_installed(j, cf);
	certfile_unref(cf);
}

static void	chain_done(struct job *, const char *pem);

static int
pem_count(const char *pem)
{
	int n = 0;

	for (const char *p = pem; (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++)
		n++;
	return n;
}

/* An issuer certificate fetched by following rel="up" (DER or PEM). */
static void
on_up(struct job *j, const struct acme_http_resp *r)
{
	char	*pem = NULL, *next, *all;
	int	 depth = pem_count(j->best_chain);

	if (strstr(r->body, "-----BEGIN CERTIFICATE-----") != NULL)
		pem = xstrdup(r->body);
	else {
		/* application/pkix-cert: DER. */
		const uint8_t	*p = (const uint8_t *)r->body;
		X509		*x = d2i_X509(NULL, &p, (long)r->len);
		BIO		*b = BIO_new(BIO_s_mem());
		if (x != NULL && PEM_write_bio_X509(b, x)) {
			const uint8_t	*d;
			size_t		 n;
			BIO_mem_contents(b, &d, &n);
			pem = strndup((const char *)d, n);
		}
		X509_free(x);
		BIO_free(b);
		ERR_clear_error();
	}
	if (pem == NULL) {
		job_fail(j, ACME_FAIL_CERTIFICATE, "rel=\"up\" issuer: not a certificate");
		return;
	}
	all = xasprintf("%s%s%s", j->best_chain,
	    j->best_chain[strlen(j->best_chain) - 1] == '\n' ? "" : "\n", pem);
	free(pem);
	free(j->best_chain);
	j->best_chain = all;
	/* Up to four intermediates; a self-signed root is not sent. */
	if (depth < 4 && (next = link_rel(r, "up", 0)) != NULL) {
		job_post(j, next, NULL, 0, on_up);
		free(next);
		return;
	}
	chain_done(j, NULL);
}

static void
on_alternate(struct job *j, const struct acme_http_resp *r)
{
	char *cn = top_issuer_cn(r->body);

	if (cn != NULL && strcmp(cn, j->a->cfg.preferred_chain) == 0) {
		free(cn);
		install_chain(j, r->body);
		return;
	}
	free(cn);
	if (++j->alt_i < j->nalternates) {
		job_post(j, j->alternates[j->alt_i], NULL, 0, on_alternate);
		return;
	}
	log_notice("acme %s: no chain ends at \"%s\"; using the default chain",
	    job_name(j), j->a->cfg.preferred_chain);
	install_chain(j, j->best_chain);
}

/* The default chain is complete in j->best_chain: pick a preferred one. */
static void
chain_done(struct job *j, const char *unused)
{
	char *cn;

	if (j->a->cfg.preferred_chain != NULL && j->nalternates > 0) {
		cn = top_issuer_cn(j->best_chain);
		if (cn == NULL || strcmp(cn, j->a->cfg.preferred_chain) != 0) {
			free(cn);
			j->alt_i = 0;
			job_post(j, j->alternates[0], NULL, 0, on_alternate);
			return;
		}
		free(cn);
	}
	install_chain(j, j->best_chain);
}

static void
on_certificate(struct job *j, const struct acme_http_resp *r)
{
	char *up;

	if (r->len == 0 || strstr(r->body, "-----BEGIN CERTIFICATE-----") == NULL) {
		job_fail(j, ACME_FAIL_CERTIFICATE, "certificate download: not a PEM chain");
		return;
	}
	free(j->best_chain);
	j->best_chain = xstrdup(r->body);
	collect_alternates(j, r);
	/* A CA that sends the leaf alone links its issuer with rel="up". */
	if (pem_count(r->body) == 1 && (up = link_rel(r, "up", 0)) != NULL) {
		job_post(j, up, NULL, 0, on_up);
		free(up);
		return;
	}
	chain_done(j, NULL);
}

void
step_download(struct job *j)
{
	j->state = JOB_DOWNLOAD;
	if (j->cert_url == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "order: no certificate URL");
		return;
	}
	job_post(j, j->cert_url, NULL, 0, on_certificate);
}

