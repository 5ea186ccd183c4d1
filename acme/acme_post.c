/*
 * acme_post.c - talking to the CA: the directory, nonces, and every signed
 * POST. job_post() signs with the account key, takes a nonce from the pool
 * that every response refills (or HEAD newNonce when it is empty), retries
 * badNonce at once with the nonce that came with the refusal, and turns
 * anything but a 2xx into one failure path, job_fail(), with the failure's
 * class decided here, where the status and the problem type are known.
 */
#include "acme_int.h"
#include "acme_queue.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "acme_sched.h"
#include "errbuf.h"
#include "jws.h"
#include "log.h"
#include "xalloc.h"

#define PROBLEM	"urn:ietf:params:acme:error:"

/* ---- the libcurl transport ------------------------------------------------- */

#define ACME_CONNS_PER_HOST	2	/* to the CA's host */
#define ACME_CONNS_TOTAL	4	/* a CA may serve certificates elsewhere */

static void *
curl_create(struct event_base *base, const char *ca_file, void *arg)
{
	struct acme_http *h = acme_http_new(base, ca_file);

	acme_http_limit(h, ACME_CONNS_PER_HOST, ACME_CONNS_TOTAL);
	return h;
}

static int
curl_request(void *impl, const char *method, const char *url, const char *body,
    acme_transport_done *done, void *arg)
{
	return acme_http_request(impl, method, url, body, done, arg);
}

static void
curl_destroy(void *impl)
{
	acme_http_free(impl);
}

const struct acme_transport acme_curl_transport = {
	curl_create, curl_request, curl_destroy, NULL
};

/* ---- nonces -------------------------------------------------------------------- */

/*
 * Every response carries a fresh nonce and every POST spends one. With many
 * orders in flight, one slot would throw most of them away and send a HEAD
 * newNonce before nearly every POST; the pool keeps the spares, newest
 * first (a CA may expire old ones), and drops the oldest when full.
 */
void
nonce_put(struct acme_iss *a, const char *n)
{
	if (n == NULL || *n == '\0')
		return;
	if (a->nnonces == ACME_NONCE_POOL) {
		free(a->nonces[0]);
		memmove(&a->nonces[0], &a->nonces[1], (ACME_NONCE_POOL - 1) *
		    sizeof(a->nonces[0]));
		a->nnonces--;
	}
	a->nonces[a->nnonces++] = xstrdup(n);
}

char *
nonce_take(struct acme_iss *a)
{
	return a->nnonces > 0 ? a->nonces[--a->nnonces] : NULL;
}

void
nonce_clear(struct acme_iss *a)
{
	while (a->nnonces > 0)
		free(a->nonces[--a->nnonces]);
}

/* ---- the directory ----------------------------------------------------------- */

/* Every CA's directory is fetched at start, each on its own; a job orders
 * from its CA once that one has loaded (acme_issuer.c). */
static void
on_directory(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct acme_iss	*s = arg;
	struct acme	*a = s->a;
	json_t		*o = NULL, *meta;
	const char	*n, *acct, *ord, *ari;
	struct timeval	 tv;

	if (err == NULL && r->status == 200 &&
	    (o = json_loadb(r->body, r->len, 0, NULL)) != NULL &&
	    (n = json_string_value(json_object_get(o, "newNonce"))) != NULL &&
	    (acct = json_string_value(json_object_get(o, "newAccount"))) != NULL &&
	    (ord = json_string_value(json_object_get(o, "newOrder"))) != NULL) {
		s->u_nonce = xstrdup(n);
		s->u_account = xstrdup(acct);
		s->u_order = xstrdup(ord);
		if ((ari = json_string_value(json_object_get(o, "renewalInfo"))) != NULL) {
			s->u_ari = xstrdup(ari);
			/* Drop a trailing slash: certIDs are appended after one. */
			if (s->u_ari[0] && s->u_ari[strlen(s->u_ari) - 1] == '/')
				s->u_ari[strlen(s->u_ari) - 1] = '\0';
		}
		meta = json_object_get(o, "meta");
		profile_directory(s, meta);
		if (json_is_true(json_object_get(meta, "externalAccountRequired")) &&
		    s->eab_kid == NULL)
			log_err("acme: %s requires External Account Binding "
			    "(eab_kid and eab_hmac_key)", s->directory);
		json_decref(o);
		s->dir_ok = 1;
		s->dir_err[0] = '\0';
		a->dir_ok = 1;
		log_info("acme: directory %s loaded%s", s->directory,
		    s->u_ari ? " (with ARI)" : "");
		for (size_t i = 0; i < a->njobs; i++)
			job_schedule(a->jobs[i]);
		return;
	}
	json_decref(o);
	s->dir_attempts++;
	snprintf(s->dir_err, sizeof(s->dir_err), "%s", err ? err :
	    "not a usable ACME directory");
	tv.tv_sec = acme_sched_backoff(s->dir_attempts,
	    err ? -1 : acme_sched_parse_retry_after(r->retry_after, acme_now(a)),
	    a->cfg.retry_base);
	tv.tv_usec = 0;
	log_err("acme: directory %s: %s; retrying in %lds", s->directory,
	    s->dir_err, (long)tv.tv_sec);
	evtimer_add(s->dir_timer, &tv);
	/* With fallback CAs, jobs need not wait for this one: those bound to
	 * it fail over (issuer_ready). */
	if (a->niss > 1 && !a->dir_ok) {
		a->dir_ok = 1;
		for (size_t i = 0; i < a->njobs; i++)
			job_schedule(a->jobs[i]);
		queue_kick(a);
	}
}

void
acme_fetch_directory(struct acme_iss *s)
{
	if (s->a->tr.request(s->http, "GET", s->directory, NULL, on_directory,
	    s) == -1)
		log_err("acme: cannot start the directory request");
}

void
acme_on_dir_timer(evutil_socket_t fd, short what, void *arg)
{
	acme_fetch_directory(arg);
}

/* ---- problem documents ------------------------------------------------------- */

static const char *
problem_type(const struct acme_http_resp *r, json_t **out)
{
	json_t *j;

	*out = NULL;
	if (r->body == NULL || r->len == 0)
		return NULL;
	if ((j = json_loadb(r->body, r->len, 0, NULL)) == NULL)
		return NULL;
	*out = j;
	return json_string_value(json_object_get(j, "type"));
}

static int
is_problem(const char *type, const char *what)
{
	return type != NULL && strncmp(type, PROBLEM, strlen(PROBLEM)) == 0 &&
	    strcmp(type + strlen(PROBLEM), what) == 0;
}

/* The class of a refusal, from its status and problem type (RFC 8555 6.7). */
static enum acme_fail
refusal_class(const struct job *j, long status, const char *type)
{
	if (status == 429 || is_problem(type, "rateLimited"))
		return ACME_FAIL_RATE_LIMITED;
	if (status >= 500 || is_problem(type, "serverInternal"))
		return ACME_FAIL_SERVER;
	if (is_problem(type, "unauthorized") || is_problem(type, "incorrectResponse") ||
	    is_problem(type, "connection") || is_problem(type, "dns") ||
	    is_problem(type, "caa") || is_problem(type, "tls") ||
	    j->state == JOB_AUTHZ || j->state == JOB_CHALLENGE)
		return ACME_FAIL_VALIDATION;
	return ACME_FAIL_OTHER;
}

/* ---- the POST path ---------------------------------------------------------- */

static void	job_send(struct job *, char *nonce);

static void
on_nonce(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct job *j = arg;

	if (job_gone(j))
		return;
	if (err != NULL || r->nonce == NULL) {
		job_fail(j, ACME_FAIL_TRANSPORT, "newNonce: %s",
		    err ? err : "no Replay-Nonce header");
		return;
	}
	job_send(j, xstrdup(r->nonce));
}

static void
on_post(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct job	*j = arg;
	json_t		*prob;
	const char	*type, *detail;

	if (job_gone(j))
		return;
	if (err != NULL) {
		job_fail(j, ACME_FAIL_TRANSPORT, "%s: %s", j->req_url, err);
		return;
	}
	j->last_retry_after = acme_sched_parse_retry_after(r->retry_after,
	    acme_now(j->a));
	type = r->status >= 400 ? problem_type(r, &prob) : (prob = NULL, NULL);
	if (is_problem(type, "badNonce") && j->nonce_retries < ACME_MAX_BADNONCE) {
		/* The refusal's own nonce is the freshest there is. */
		j->nonce_retries++;
		log_info("acme %s: badNonce, retrying with the fresh nonce", job_name(j));
		json_decref(prob);
		job_send(j, r->nonce != NULL ? xstrdup(r->nonce) : nonce_take(job_iss(j)));
		return;
	}
	nonce_put(job_iss(j), r->nonce);
	if (r->status >= 200 && r->status < 300) {
		j->nonce_retries = 0;
		j->req_fn(j, r);
		return;
	}
	if (r->status >= 300 && r->status < 400) {
		/* A CA never redirects a POST; following would leak it. The
		 * Location is the CA's text: escaped before it is logged. */
		char loc[LOG_FIELD_CAP(200)];

		log_field_escape(loc, sizeof(loc), r->location ? r->location : "",
		    r->location ? strnlen(r->location, 200) : 0);
		job_fail(j, ACME_FAIL_OTHER, "%s: HTTP %ld redirect%s%s refused",
		    j->req_url, r->status, r->location ? " to " : "", loc);
		return;
	}
	/* The CA forgot us (a test CA restarted, or a reset): register again,
	 * then redo what we were doing. */
	if (is_problem(type, "accountDoesNotExist") && job_iss(j)->acct_url != NULL &&
	    !j->req_jwk) {
		log_notice("acme %s: the CA does not know account %s; registering "
		    "again", job_name(j), job_iss(j)->acct_url);
		json_decref(prob);
		free(job_iss(j)->acct_url);
		job_iss(j)->acct_url = NULL;
		step_account(j);
		return;
	}
	/*
	 * ARI: the certificate was already replaced (409 alreadyReplaced), or
	 * the CA cannot place it (400, or a 500 from a CA that lost track of
	 * the order; or 403 unauthorized after an account change: the
	 * certificate was issued to another account): never let "replaces"
	 * block a renewal; order again at once without it (certmagic#361),
	 * once, and not with it again for this certificate. Rate limits and
	 * refusals of the order itself (its profile or identifiers) are the
	 * exception: the same order without "replaces" would fail the same.
	 */
	if (j->rs.replaces[0] != '\0' && j->state == JOB_ORDER &&
	    refusal_class(j, r->status, type) != ACME_FAIL_RATE_LIMITED &&
	    !is_problem(type, "invalidProfile") &&
	    !is_problem(type, "rejectedIdentifier") &&
	    !is_problem(type, "unsupportedIdentifier")) {
		log_notice("acme %s: CA refused \"replaces\" (%s); ordering without it",
		    job_name(j), type ? type : "no problem type");
		json_decref(prob);
		j->rs.replaces[0] = '\0';
		j->no_replaces = 1;
		step_order(j);
		return;
	}
	detail = prob != NULL ? json_string_value(json_object_get(prob, "detail")) : NULL;
	/* Nonces refused again and again are the CA's trouble, never a
	 * failed validation, even while an authorization is fetched. */
	job_fail(j, is_problem(type, "badNonce") ? ACME_FAIL_SERVER :
	    refusal_class(j, r->status, type), "%s: HTTP %ld %s: %s",
	    j->req_url, r->status, type ? type : "", detail ? detail :
	    r->len < 200 && r->body ? r->body : "(no problem document)");
	json_decref(prob);
}

/* Sign and send j's request with nonce (owned; NULL: fetch one first). */
static void
job_send(struct job *j, char *nonce)
{
	struct acme_iss	*a = job_iss(j);
	struct errbuf	 eb;
	char		*body;

	if (nonce == NULL) {
		if (j->a->tr.request(a->http, "HEAD", a->u_nonce, NULL, on_nonce, j) == -1)
			job_fail(j, ACME_FAIL_TRANSPORT, "cannot start a request");
		else
			j->inflight = 1;
		return;
	}
	body = jws_sign(a->acct_key, j->req_jwk ? NULL : a->acct_url, nonce,
	    j->req_url, j->req_payload, &eb);
	/* A nonce is single-use: whatever happens, this one is spent. */
	free(nonce);
	if (body == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "signing: %s", eb.msg);
		return;
	}
	if (j->a->tr.request(a->http, "POST", j->req_url, body, on_post, j) == -1)
		job_fail(j, ACME_FAIL_TRANSPORT, "cannot start a request");
	else
		j->inflight = 1;
	free(body);
}

/* POST payload (NULL: POST-as-GET) to url; fn gets the 2xx response. */
void
job_post(struct job *j, const char *url, const char *payload, int use_jwk,
    job_resp_fn *fn)
{
	char *u;

	if (url == NULL) {	/* the CA left out a URL we need */
		job_fail(j, ACME_FAIL_OTHER, "the CA's answer lacks a URL for the "
		    "next step (%s)", job_state_names[j->state]);
		return;
	}
	u = xstrdup(url);

	free(j->req_url);
	free(j->req_payload);
	j->req_url = u;
	j->req_payload = payload ? xstrdup(payload) : NULL;
	j->req_jwk = use_jwk;
	j->req_fn = fn;
	j->nonce_retries = 0;
	job_send(j, nonce_take(job_iss(j)));
}

/* An unsigned GET (ARI: to the CA of the certificate in service); 0, or -1
 * if it could not start. */
int
job_get(struct job *j, const char *url, acme_transport_done *fn)
{
	struct acme_iss *s = job_cert_iss(j);

	if (s == NULL || j->a->tr.request(s->http, "GET", url, NULL, fn, j) == -1)
		return -1;
	j->inflight = 1;
	return 0;
}

json_t *
body_json(struct job *j, const struct acme_http_resp *r, const char *what)
{
	json_t		*o;
	json_error_t	 e;

	e.text[0] = '\0';
	if ((o = json_loadb(r->body, r->len, 0, &e)) == NULL || !json_is_object(o)) {
		json_decref(o);
		job_fail(j, ACME_FAIL_OTHER, "%s: response is not a JSON object: %s",
		    what, e.text);
		return NULL;
	}
	return o;
}
