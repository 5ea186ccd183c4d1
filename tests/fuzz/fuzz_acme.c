/*
 * fuzz_acme - the ACME client's response handling, driven through acme.h
 * only: acme_start() with a transport that answers every request with the
 * next response taken from the fuzz input (directory, nonce, account, order,
 * authorization, challenge, finalize, certificate, alternates, ARI, problem
 * documents), in order, whatever the URL.
 *
 * Input: one mode byte, then responses separated by NUL bytes. A response is
 *     STATUS "\n" { NAME ": " VALUE "\n" } "\n" BODY
 * with headers Location, Retry-After, Content-Type, Replay-Nonce and Link
 * (repeatable). A response without Replay-Nonce gets a fresh one, so that
 * mutations are not all stopped by the nonce. A body of exactly "@CERT@"
 * becomes a PEM chain made here for the last CSR the client sent (signed by
 * a throwaway CA), so that a run can reach the install; "@CERT@" followed by
 * more text keeps that text after the chain.
 * Mode bits: 1 = restart the client once on the same state (a second
 * acme_start, which then renews: ARI and "replaces"); 2 = External Account
 * Binding; 4 = a preferred chain ("Fuzz Alt Root").
 *
 * One input is bounded: it ends when the responses run out, when the job has
 * failed or succeeded (acme_status), when the client has been idle (waiting
 * on a poll or retry timer) for 50 ms, or after 3 s in all.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "store.h"
#include "store.h"
#include "acme_http.h"
#include "b64url.h"
#include "errbuf.h"
#include "log.h"
#include "testcert.h"

struct fz {
	const uint8_t		*data;
	size_t			 size, off;
	struct event_base	*base;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	int			 exhausted;
	struct timespec		 last;		/* last request, CLOCK_MONOTONIC */
	int			 nonce;
	EVP_PKEY		*csr_key;	/* public key of the last CSR */
	char			*csr_names;	/* its SANs, "DNS:a,DNS:b" */
	struct pending		*pending;	/* answers not yet delivered */
};

struct pending {
	struct pending		*next;
	struct fz		*f;
	struct acme_http_resp	 resp;
	char			*links[8];
	char			 nonce[32];
	const char		*err;
	acme_transport_done	*done;
	void			*arg;
};

static EVP_PKEY	*ca_key;
static X509	*ca_cert;

static void
pending_free(struct pending *p)
{
	free(p->resp.body);
	free(p->resp.location);
	free(p->resp.retry_after);
	free(p->resp.content_type);
	for (size_t i = 0; i < p->resp.nlinks; i++)
		free(p->links[i]);
	free(p);
}

static void
fire(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg, **pp;

	pthread_mutex_lock(&p->f->mtx);
	for (pp = &p->f->pending; *pp != p; pp = &(*pp)->next)
		;
	*pp = p->next;
	pthread_mutex_unlock(&p->f->mtx);
	p->done(p->err ? NULL : &p->resp, p->err, p->arg);
	pending_free(p);
}

static void *
fz_create(struct event_base *base, const char *ca_file, void *arg)
{
	struct fz *f = arg;

	f->base = base;
	return f;
}

static void
fz_destroy(void *impl)
{
}

/* Remember the public key and names of the CSR inside a finalize body. */
static void
note_csr(struct fz *f, const char *body)
{
	json_t		*jws = NULL, *pl = NULL;
	const char	*p64, *c64;
	uint8_t		*payload = NULL, *der = NULL;
	const uint8_t	*q;
	size_t		 n;
	X509_REQ	*req = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;

	if (body == NULL || (jws = json_loads(body, 0, NULL)) == NULL ||
	    (p64 = json_string_value(json_object_get(jws, "payload"))) == NULL ||
	    (payload = b64url_decode(p64, &n)) == NULL ||
	    (pl = json_loadb((const char *)payload, n, 0, NULL)) == NULL ||
	    (c64 = json_string_value(json_object_get(pl, "csr"))) == NULL ||
	    (der = b64url_decode(c64, &n)) == NULL)
		goto out;
	q = der;
	if ((req = d2i_X509_REQ(NULL, &q, (long)n)) == NULL)
		goto out;
	EVP_PKEY_free(f->csr_key);
	f->csr_key = X509_REQ_get_pubkey(req);
	free(f->csr_names);
	f->csr_names = NULL;
	if ((exts = X509_REQ_get_extensions(req)) != NULL) {
		GENERAL_NAMES *g = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
		for (size_t i = 0; g != NULL && i < sk_GENERAL_NAME_num(g); i++) {
			const GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, i);
			char *s;
			if (gn->type != GEN_DNS)
				continue;
			if (asprintf(&s, "%s%sDNS:%.*s", f->csr_names ? f->csr_names : "",
			    f->csr_names ? "," : "", ASN1_STRING_length(gn->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(gn->d.dNSName)) < 0)
				abort();
			free(f->csr_names);
			f->csr_names = s;
		}
		GENERAL_NAMES_free(g);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
out:
	X509_REQ_free(req);
	free(der);
	json_decref(pl);
	free(payload);
	json_decref(jws);
}

static char *
pem_of(X509 *x)
{
	BIO	*b = BIO_new(BIO_s_mem());
	const uint8_t *d;
	size_t	 n;
	char	*s;

	PEM_write_bio_X509(b, x);
	BIO_mem_contents(b, &d, &n);
	s = strndup((const char *)d, n);
	BIO_free(b);
	return s;
}

/* A leaf for the last CSR, signed by the throwaway CA, then the CA: PEM. */
static char *
issue(struct fz *f)
{
	X509		*x;
	X509_EXTENSION	*ext;
	char		*leaf, *ca, *out;

	if (f->csr_key == NULL || f->csr_names == NULL)
		return strdup("");
	x = X509_new();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ++f->nonce);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400);
	X509_set_issuer_name(x, X509_get_subject_name(ca_cert));
	X509_set_subject_name(x, X509_get_subject_name(ca_cert));
	X509_set_pubkey(x, f->csr_key);
	if ((ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name,
	    f->csr_names)) != NULL) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, ca_key, EVP_sha256());
	leaf = pem_of(x);
	ca = pem_of(ca_cert);
	if (asprintf(&out, "%s%s", leaf, ca) < 0)
		abort();
	free(leaf);
	free(ca);
	X509_free(x);
	return out;
}

/* Parse the next response record into p. 0, or -1 when none is left. */
static int
next_response(struct fz *f, struct pending *p)
{
	const char	*rec, *end, *line, *nl, *body;
	char		*b;
	size_t		 len;

	if (f->off >= f->size)
		return -1;
	rec = (const char *)f->data + f->off;
	end = memchr(rec, '\0', f->size - f->off);
	len = end ? (size_t)(end - rec) : f->size - f->off;
	f->off += len + 1;
	/* The input is not NUL-terminated: parse the status within the record. */
	p->resp.status = 0;
	for (size_t i = 0; i < len && i < 4 && rec[i] >= '0' && rec[i] <= '9'; i++)
		p->resp.status = p->resp.status * 10 + (rec[i] - '0');
	line = memchr(rec, '\n', len);
	body = rec + len;
	while (line != NULL && line < rec + len) {
		line++;
		nl = memchr(line, '\n', (size_t)(rec + len - line));
		if (nl == NULL)
			nl = rec + len;
		if (nl == line) {			/* the empty line: body next */
			body = nl + 1 <= rec + len ? nl + 1 : rec + len;
			break;
		}
		{
			const char *colon = memchr(line, ':', (size_t)(nl - line));
			char *v;
			if (colon != NULL) {
				const char *vs = colon + 1;
				while (vs < nl && *vs == ' ')
					vs++;
				v = strndup(vs, (size_t)(nl - vs));
				if (strncasecmp(line, "location:", 9) == 0 && !p->resp.location)
					p->resp.location = v;
				else if (strncasecmp(line, "retry-after:", 12) == 0 &&
				    !p->resp.retry_after)
					p->resp.retry_after = v;
				else if (strncasecmp(line, "content-type:", 13) == 0 &&
				    !p->resp.content_type)
					p->resp.content_type = v;
				else if (strncasecmp(line, "replay-nonce:", 13) == 0) {
					snprintf(p->nonce, sizeof(p->nonce), "%s", v);
					free(v);
				} else if (strncasecmp(line, "link:", 5) == 0 &&
				    p->resp.nlinks < 8)
					p->links[p->resp.nlinks++] = v;
				else
					free(v);
			}
		}
		line = nl;
	}
	len = (size_t)(rec + len - body);
	if (len >= 6 && memcmp(body, "@CERT@", 6) == 0) {
		char *chain = issue(f);
		if (asprintf(&b, "%s%.*s", chain, (int)(len - 6), body + 6) < 0)
			abort();
		free(chain);
	} else
		b = strndup(body, len);
	p->resp.body = b;
	p->resp.len = strlen(b);
	if (p->nonce[0] == '\0')
		snprintf(p->nonce, sizeof(p->nonce), "fuzz-nonce-%d", ++f->nonce);
	p->resp.nonce = p->nonce;
	p->resp.links = p->links;
	return 0;
}

static int
fz_request(void *impl, const char *method, const char *url, const char *body,
    acme_transport_done *done, void *arg)
{
	struct fz	*f = impl;
	struct pending	*p = calloc(1, sizeof(*p));
	struct timeval	 zero = { 0, 0 };

	p->done = done;
	p->arg = arg;
	p->f = f;
	note_csr(f, body);
	pthread_mutex_lock(&f->mtx);
	p->next = f->pending;
	f->pending = p;
	if (next_response(f, p) == -1) {
		p->err = "fuzz: no more responses";
		f->exhausted = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &f->last);
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mtx);
	event_base_once(f->base, -1, EV_TIMEOUT, fire, p, &zero);
	return 0;
}

static double
since(const struct timespec *t)
{
	struct timespec n;

	clock_gettime(CLOCK_MONOTONIC, &n);
	return (double)(n.tv_sec - t->tv_sec) + (double)(n.tv_nsec - t->tv_nsec) / 1e9;
}

/* Run one client until the input is used up, the job is done, or it idles. */
static void
run_client(struct fz *f, const char *statedir, int mode)
{
	static const struct acme_transport tmpl = { NULL, fz_request, fz_destroy, NULL };
	struct acme_transport	 tr = tmpl;
	char			*names[] = { "a.fuzz.test", "b.fuzz.test" };
	char			*ch[] = { "tls-alpn-01", "http-01" };
	struct acme_site_cfg	 site;
	struct acme_cfg		 cfg;
	struct acme_counters	 ctr;
	struct timespec		 start;
	struct errbuf		 eb;
	struct acme		*a;
	struct store		*st;
	unsigned long		 ended0 = 0, ended;

	tr.create = fz_create;
	tr.arg = f;
	memset(&cfg, 0, sizeof(cfg));
	cfg.directory = "https://ca.fuzz.test/dir";
	cfg.transport = &tr;
	cfg.retry_base = 3600;
	if (mode & 2) {
		cfg.eab_kid = "kid-1";
		cfg.eab_hmac = "c2VjcmV0LWhtYWMta2V5LWZvci1mdXp6aW5nLW9ubHk";
	}
	if (mode & 4)
		cfg.preferred_chain = "Fuzz Alt Root";
	memset(&site, 0, sizeof(site));
	site.label = names[0];
	site.names = names;
	site.nnames = 2;
	site.challenges = ch;
	site.nchallenges = 2;
	clock_gettime(CLOCK_MONOTONIC, &start);
	f->last = start;
	if ((st = store_open_file(statedir, cfg.directory, &eb)) == NULL)
		return;
	if ((a = acme_start(&cfg, st, &site, 1, &eb)) == NULL) {
		store_close(st);
		return;
	}
	pthread_mutex_lock(&f->mtx);
	for (;;) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += 2000000;
		if (dl.tv_nsec >= 1000000000) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000;
		}
		if (f->exhausted || since(&start) > 3.0 || since(&f->last) > 0.05)
			break;
		pthread_mutex_unlock(&f->mtx);
		/* An attempt that ended, either way, ends the run. */
		acme_get_counters(a, &ctr);
		ended = ctr.successes;
		for (int k = 0; k < ACME_FAIL__MAX; k++)
			ended += ctr.failures[k];
		pthread_mutex_lock(&f->mtx);
		if (ended > ended0)
			break;
		(void)pthread_cond_timedwait(&f->cv, &f->mtx, &dl);
	}
	pthread_mutex_unlock(&f->mtx);
	acme_stop(a);
	store_close(st);
	/* Answers the stopped loop never delivered. */
	while (f->pending != NULL) {
		struct pending *p = f->pending;
		f->pending = p->next;
		pending_free(p);
	}
}

static void
discard(enum log_level lvl, const char *line, void *arg)
{
}

static void
setup(void)
{
	char		*cpem, *kpem;
	BIO		*b;

	evthread_use_pthreads();
	log_set_sink(discard, NULL);	/* "attempt N failed" on nearly every input */
	if (testcert_make("ec", "fuzz-ca.test", 30, &cpem, &kpem) == -1)
		abort();
	b = BIO_new_mem_buf(cpem, -1);
	ca_cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	b = BIO_new_mem_buf(kpem, -1);
	ca_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	free(cpem);
	free(kpem);
	if (ca_cert == NULL || ca_key == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 dir[] = "/tmp/fuzz-acme-XXXXXX";
	struct fz f;

	if (ca_key == NULL)
		setup();
	if (size < 1 || mkdtemp(dir) == NULL)
		return 0;
	memset(&f, 0, sizeof(f));
	f.data = data + 1;
	f.size = size - 1;
	pthread_mutex_init(&f.mtx, NULL);
	pthread_cond_init(&f.cv, NULL);
	run_client(&f, dir, data[0]);
	if ((data[0] & 1) && !f.exhausted) {
		f.exhausted = 0;
		run_client(&f, dir, data[0]);
	}
	pthread_cond_destroy(&f.cv);
	pthread_mutex_destroy(&f.mtx);
	EVP_PKEY_free(f.csr_key);
	free(f.csr_names);
	testcert_rmtree(dir);
	return 0;
}
