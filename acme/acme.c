/*
 * acme.c - the ACME client's driver: one job per (site, key type), each an
 * explicit state machine over asynchronous HTTP.
 *
 * A job runs: [account] -> newOrder -> for each authorization: pick the
 * configured challenge type, provision it (TLS-ALPN-01 certificate, HTTP-01
 * token, or the DNS hook), tell the CA, poll -> finalize with a CSR -> poll
 * the order -> download the chain (optionally an alternate chain by issuer)
 * -> store -> install -> schedule the renewal.
 *
 * Every POST goes through job_post(), which signs with the account key, takes
 * the nonce from the last response (or HEAD newNonce), retries badNonce at
 * once, and turns problem documents into one failure path: job_fail(), which
 * cleans up challenges and schedules the retry with back-off. Waits (polling,
 * retries, renewals) are evtimers on the ACME thread's own event_base; nothing
 * sleeps and nothing blocks.
 */
#include "acme.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/bytestring.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme_http.h"
#include "acme_sched.h"
#include "b64url.h"
#include "certfile.h"
#include "challenge.h"
#include "errbuf.h"
#include "jws.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

#define JOB_MAGIC		0x6a6f6221u
#define ACME_MAX_POLLS		120
#define ACME_MAX_BADNONCE	5
#define ACME_ARI_RECHECK	(6 * 3600)	/* "at least twice a day" */

extern char **environ;

struct acme;
struct job;
typedef void job_resp_fn(struct job *, const struct acme_http_resp *);

enum job_state { JOB_IDLE, JOB_BUSY };

struct job {
	uint32_t		 magic;
	struct acme		*a;
	const struct acme_site_cfg *site;
	enum certfile_keytype	 kt;
	enum job_state		 state;
	atomic_int		 force;
	struct event		*timer;
	int			 attempts;
	int			 chal_idx;	/* index into site->challenges */
	int			 polls, nonce_retries;
	enum { POLL_NONE, POLL_AUTHZ, POLL_ORDER } poll_what;	/* what the timer polls */
	/* the order in progress */
	char			*order_url, *finalize_url, *cert_url;
	char			**authz;
	size_t			 nauthz, authz_i;
	char			*chal_url, *chal_token, *chal_ident, *chal_type;
	char			*dns_value;
	pid_t			 hook_pid, clear_pid;
	int			 lock_fd;	/* store lock while ordering, or -1 */
	int			 hook_clear_after;
	time_t			 hook_deadline;
	EVP_PKEY		*key;
	char			*key_pem;
	char			*replaces;	/* ARI certID of the certificate being renewed */
	char			**alternates;
	size_t			 nalternates, alt_i;
	char			*best_chain;
	/* the pending request, for badNonce retries */
	char			*req_url, *req_payload;
	int			 req_jwk;
	job_resp_fn		*req_fn;
	/* the certificate in service and its schedule */
	struct certfile		*current;
	time_t			 renew_at, ari_start, ari_end, ari_next;
	long			 last_retry_after;
	char			 last_error[300];
	time_t			 last_success;
};

struct acme {
	pthread_mutex_t		 pub_mtx;	/* guards pub and counters */
	struct acme_cert_status	*pub;		/* one per job */
	struct acme_counters	 counters;
	struct event_base	*base;
	pthread_t		 thread;
	int			 started;
	struct acme_transport	 tr;
	void			*http;		/* the transport's instance */
	struct store		*store;
	struct acme_cfg		 cfg;		/* strings owned below */
	char			*s_dir, *s_email, *s_ca, *s_state, *s_kid, *s_hmac,
				*s_hook, *s_chain;
	EVP_PKEY		*acct_key;
	char			*thumbprint;
	char			*acct_url;
	struct job		*acct_job;	/* the one job registering, or NULL */
	char			*nonce;
	/* directory */
	int			 dir_ok;
	char			*u_nonce, *u_account, *u_order, *u_ari;
	struct event		*dir_timer, *kick, *stop_ev;
	int			 dir_attempts;
	struct job		**jobs;
	size_t			 njobs;
	struct acme_site_cfg	*sites;
	size_t			 nsites;
	acme_install_fn		*install;
	void			*install_arg;
};

static void *
curl_create(struct event_base *base, const char *ca_file, void *arg)
{
	return acme_http_new(base, ca_file);
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

static const struct acme_transport curl_transport = {
	curl_create, curl_request, curl_destroy, NULL
};

static void	job_start(struct job *);
static int	job_wait_for_account(struct job *);
static void	job_fail(struct job *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
static void	job_schedule(struct job *);
static void	step_account(struct job *);
static void	step_order(struct job *);
static void	on_order(struct job *, const struct acme_http_resp *);
static void	step_authz(struct job *);
static void	step_finalize(struct job *);
static void	step_download(struct job *);

const char *const acme_fail_names[ACME_FAIL__MAX] = {
	"rate_limited", "server", "transport", "validation", "other",
};

static size_t
job_index(const struct job *j)
{
	for (size_t i = 0; i < j->a->njobs; i++)
		if (j->a->jobs[i] == j)
			return i;
	return 0;
}

static const char *
job_name(const struct job *j)
{
	return j->site->label;
}

static time_t
now(void)
{
	return time(NULL);
}

/* RFC 3339 UTC for logs; buf must hold 21 bytes. */
static const char *
iso(time_t t, char *buf)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static double
rnd(void)
{
	uint32_t r;

	RAND_bytes((uint8_t *)&r, sizeof(r));
	return (double)r / 4294967296.0;
}

static void
timer_in(struct job *j, long secs)
{
	struct timeval tv = { secs < 0 ? 0 : secs, 0 };

	evtimer_add(j->timer, &tv);
}

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Forget everything about the order in progress and its challenges. */
static void
job_reset_order(struct job *j)
{
	if (j->chal_type != NULL && j->chal_ident != NULL) {
		if (strcmp(j->chal_type, "tls-alpn-01") == 0)
			challenge_tlsalpn_clear(j->chal_ident);
		else if (strcmp(j->chal_type, "http-01") == 0 && j->chal_token)
			challenge_http_clear(j->chal_token);
	}
	if (j->hook_pid > 0) {
		kill(j->hook_pid, SIGTERM);
		waitpid(j->hook_pid, NULL, 0);
		j->hook_pid = 0;
	}
	if (j->clear_pid > 0) {
		waitpid(j->clear_pid, NULL, 0);
		j->clear_pid = 0;
	}
	free(j->order_url); free(j->finalize_url); free(j->cert_url);
	j->order_url = j->finalize_url = j->cert_url = NULL;
	free_strv(j->authz, j->nauthz);
	j->authz = NULL;
	j->nauthz = j->authz_i = 0;
	free(j->chal_url); free(j->chal_token); free(j->chal_ident); free(j->chal_type);
	free(j->dns_value);
	j->chal_url = j->chal_token = j->chal_ident = j->chal_type = j->dns_value = NULL;
	EVP_PKEY_free(j->key);
	j->key = NULL;
	if (j->key_pem != NULL) {
		OPENSSL_cleanse(j->key_pem, strlen(j->key_pem));
		free(j->key_pem);
		j->key_pem = NULL;
	}
	free_strv(j->alternates, j->nalternates);
	j->alternates = NULL;
	j->nalternates = j->alt_i = 0;
	free(j->best_chain);
	j->best_chain = NULL;
	free(j->req_url); free(j->req_payload);
	j->req_url = j->req_payload = NULL;
	j->polls = 0;
	j->poll_what = POLL_NONE;
}

/* Save what a person (or `tlsgate status`) wants to know about this cert. */
static void
job_save_meta(struct job *j)
{
	json_t		*m;
	char		*s;
	struct errbuf	 eb;
	const char	*file = j->kt == CERTFILE_EC ? "ecdsa" : "rsa";

	m = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s?, s:i}",
	    "name", job_name(j), "key_type", file,
	    "not_before", (json_int_t)(j->current ? j->current->not_before : 0),
	    "not_after", (json_int_t)(j->current ? j->current->not_after : 0),
	    "renew_at", (json_int_t)j->renew_at,
	    "ari_window_start", (json_int_t)j->ari_start,
	    "ari_window_end", (json_int_t)j->ari_end,
	    "last_error", j->last_error[0] ? j->last_error : NULL,
	    "attempts", j->attempts);
	if (m == NULL)
		return;
	/* Publish for /metrics and /status (read from other threads). */
	pthread_mutex_lock(&j->a->pub_mtx);
	{
		struct acme_cert_status *p = &j->a->pub[job_index(j)];
		snprintf(p->label, sizeof(p->label), "%s", job_name(j));
		p->rsa = j->kt == CERTFILE_RSA;
		p->not_after = j->current ? j->current->not_after : 0;
		p->renew_at = j->renew_at;
		p->last_success = j->last_success;
		p->attempts = j->attempts;
		snprintf(p->last_error, sizeof(p->last_error), "%s", j->last_error);
	}
	pthread_mutex_unlock(&j->a->pub_mtx);
	if ((s = json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS)) != NULL) {
		/* One metadata file per key type, beside the certificates. */
		if (store_meta_save(j->a->store, job_name(j), j->kt, s, &eb) == -1)
			log_warnx("acme %s: saving metadata: %s", job_name(j), eb.msg);
		free(s);
	}
	json_decref(m);
}

/* ---- problem documents and the POST path -------------------------------- */

static const char *
problem_type(const struct acme_http_resp *r, json_t **out)
{
	json_t		*j;
	const char	*t = NULL;

	*out = NULL;
	if (r->body == NULL || r->len == 0)
		return NULL;
	if ((j = json_loadb(r->body, r->len, 0, NULL)) == NULL)
		return NULL;
	t = json_string_value(json_object_get(j, "type"));
	*out = j;
	return t;
}

static void	job_send(struct job *);

static void
on_nonce(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct job *j = arg;

	if (err != NULL || r->nonce == NULL) {
		job_fail(j, "newNonce: %s", err ? err : "no Replay-Nonce header");
		return;
	}
	free(j->a->nonce);
	j->a->nonce = xstrdup(r->nonce);
	job_send(j);
}

static void
on_post(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct job	*j = arg;
	json_t		*prob;
	const char	*type;
	long		 ra;

	if (err != NULL) {
		job_fail(j, "%s: %s", j->req_url, err);
		return;
	}
	if (r->nonce != NULL) {
		free(j->a->nonce);
		j->a->nonce = xstrdup(r->nonce);
	}
	ra = acme_sched_parse_retry_after(r->retry_after, now());
	j->last_retry_after = ra;
	if (r->status >= 400) {
		type = problem_type(r, &prob);
		if (type != NULL && strcmp(type, "urn:ietf:params:acme:error:badNonce") == 0 &&
		    j->nonce_retries++ < ACME_MAX_BADNONCE) {
			log_info("acme %s: badNonce, retrying with the fresh nonce",
			    job_name(j));
			json_decref(prob);
			job_send(j);
			return;
		}
		/* The CA forgot us (a test CA restarted, or a reset): register
		 * again, then redo what we were doing. */
		if (type != NULL && j->a->acct_url != NULL && !j->req_jwk &&
		    strcmp(type, "urn:ietf:params:acme:error:accountDoesNotExist") == 0) {
			log_notice("acme %s: the CA does not know account %s; "
			    "registering again", job_name(j), j->a->acct_url);
			json_decref(prob);
			free(j->a->acct_url);
			j->a->acct_url = NULL;
			step_account(j);
			return;
		}
		/*
		 * ARI: the certificate was already replaced (409
		 * alreadyReplaced), or the CA cannot place it (400, or a 500
		 * from a CA that lost track of the order): never let "replaces"
		 * block a renewal; order again at once without it
		 * (certmagic#361). Rate limits are the exception.
		 */
		if (j->replaces != NULL && j->req_fn == on_order && (type == NULL ||
		    strcmp(type, "urn:ietf:params:acme:error:rateLimited") != 0)) {
			log_notice("acme %s: CA refused \"replaces\" (%s); ordering "
			    "without it", job_name(j), type ? type : "no problem type");
			json_decref(prob);
			free(j->replaces);
			j->replaces = NULL;
			step_order(j);
			return;
		}
		job_fail(j, "%s: HTTP %ld %s: %s", j->req_url, r->status,
		    type ? type : "", prob ? json_string_value(json_object_get(prob,
		    "detail")) ? json_string_value(json_object_get(prob, "detail")) :
		    "" : r->len < 200 ? r->body : "(no problem document)");
		json_decref(prob);
		return;
	}
	j->nonce_retries = 0;
	j->req_fn(j, r);
}

static void
job_send(struct job *j)
{
	struct acme	*a = j->a;
	struct errbuf	 eb;
	char		*body;

	if (a->nonce == NULL) {
		if (a->tr.request(a->http, "HEAD", a->u_nonce, NULL, on_nonce, j) == -1)
			job_fail(j, "cannot start a request");
		return;
	}
	body = jws_sign(a->acct_key, j->req_jwk ? NULL : a->acct_url, a->nonce,
	    j->req_url, j->req_payload, &eb);
	/* A nonce is single-use: whatever happens, this one is spent. */
	free(a->nonce);
	a->nonce = NULL;
	if (body == NULL) {
		job_fail(j, "signing: %s", eb.msg);
		return;
	}
	if (a->tr.request(a->http, "POST", j->req_url, body, on_post, j) == -1)
		job_fail(j, "cannot start a request");
	free(body);
}

/* POST payload (NULL: POST-as-GET) to url; fn gets the 2xx response. */
static void
job_post(struct job *j, const char *url, const char *payload, int use_jwk,
    job_resp_fn *fn)
{
	char *u = xstrdup(url);

	free(j->req_url);
	free(j->req_payload);
	j->req_url = u;
	j->req_payload = payload ? xstrdup(payload) : NULL;
	j->req_jwk = use_jwk;
	j->req_fn = fn;
	j->nonce_retries = 0;
	job_send(j);
}

static json_t *
body_json(struct job *j, const struct acme_http_resp *r, const char *what)
{
	json_t		*o;
	json_error_t	 e;

	if ((o = json_loadb(r->body, r->len, 0, &e)) == NULL || !json_is_object(o)) {
		json_decref(o);
		job_fail(j, "%s: response is not a JSON object: %s", what, e.text);
		return NULL;
	}
	return o;
}

/* ---- account ------------------------------------------------------------ */

static void
on_account(struct job *j, const struct acme_http_resp *r)
{
	struct errbuf	 eb;
	json_t		*o;
	const char	*st;

	if (r->location == NULL) {
		job_fail(j, "newAccount: no Location header");
		return;
	}
	if ((o = body_json(j, r, "newAccount")) == NULL)
		return;
	st = json_string_value(json_object_get(o, "status"));
	if (st != NULL && strcmp(st, "valid") != 0) {
		job_fail(j, "newAccount: account status is %s", st);
		json_decref(o);
		return;
	}
	json_decref(o);
	free(j->a->acct_url);
	j->a->acct_url = xstrdup(r->location);
	j->a->acct_job = NULL;
	if (store_account_save_url(j->a->store, r->location, &eb) == -1)
		log_warnx("acme: saving account URL: %s", eb.msg);
	log_notice("acme: account %s", r->location);
	step_order(j);
}

static void
step_account(struct job *j)
{
	struct acme	*a = j->a;
	struct errbuf	 eb;
	json_t		*p;
	char		*s, *eab = NULL;

	a->acct_job = j;
	p = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (a->cfg.email != NULL && a->cfg.email[0] != '\0') {
		char *mailto = xasprintf("mailto:%s", a->cfg.email);
		json_object_set_new(p, "contact", json_pack("[s]", mailto));
		free(mailto);
	}
	if (a->cfg.eab_kid != NULL) {
		if ((eab = jws_eab(a->acct_key, a->cfg.eab_kid, a->cfg.eab_hmac,
		    a->u_account, &eb)) == NULL) {
			json_decref(p);
			job_fail(j, "external account binding: %s", eb.msg);
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

/* ---- order -------------------------------------------------------------- */

static int
parse_order(struct job *j, json_t *o, const char **status)
{
	json_t		*az, *v;
	size_t		 i;
	const char	*fin, *cert;

	*status = json_string_value(json_object_get(o, "status"));
	if (*status == NULL) {
		job_fail(j, "order: no status");
		return -1;
	}
	if ((fin = json_string_value(json_object_get(o, "finalize"))) != NULL) {
		free(j->finalize_url);
		j->finalize_url = xstrdup(fin);
	}
	if ((cert = json_string_value(json_object_get(o, "certificate"))) != NULL) {
		free(j->cert_url);
		j->cert_url = xstrdup(cert);
	}
	if ((az = json_object_get(o, "authorizations")) != NULL && j->authz == NULL) {
		if (!json_is_array(az) || json_array_size(az) > 100) {
			job_fail(j, "order: bad authorizations");
			return -1;
		}
		j->authz = xcalloc(json_array_size(az) + 1, sizeof(char *));
		json_array_foreach(az, i, v) {
			if (!json_is_string(v)) {
				job_fail(j, "order: bad authorization URL");
				return -1;
			}
			j->authz[j->nauthz++] = xstrdup(json_string_value(v));
		}
	}
	return 0;
}

static void
on_order(struct job *j, const struct acme_http_resp *r)
{
	json_t		*o;
	const char	*st;

	if (r->location == NULL) {
		job_fail(j, "newOrder: no Location header");
		return;
	}
	free(j->order_url);
	j->order_url = xstrdup(r->location);
	if ((o = body_json(j, r, "newOrder")) == NULL)
		return;
	if (parse_order(j, o, &st) == -1) {
		json_decref(o);
		return;
	}
	log_info("acme %s: order %s is %s (%zu authorizations)", job_name(j),
	    j->order_url, st, j->nauthz);
	if (strcmp(st, "valid") == 0 && j->cert_url != NULL)
		step_download(j);
	else if (strcmp(st, "ready") == 0)
		step_finalize(j);
	else if (strcmp(st, "pending") == 0) {
		j->authz_i = 0;
		step_authz(j);
	} else
		job_fail(j, "newOrder: order is %s", st);
	json_decref(o);
}

static void
step_order(struct job *j)
{
	json_t	*p = json_pack("{s:[]}", "identifiers"), *ids;
	char	*s;

	job_reset_order(j);
	ids = json_object_get(p, "identifiers");
	for (size_t i = 0; i < j->site->nnames; i++)
		json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns",
		    "value", j->site->names[i]));
	if (j->replaces != NULL) {
		json_object_set_new(p, "replaces", json_string(j->replaces));
		log_info("acme %s: new order replaces %s (ARI)", job_name(j), j->replaces);
	}
	s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	job_post(j, j->a->u_order, s, 0, on_order);
	free(s);
}

/* ---- authorizations and challenges -------------------------------------- */

static void	poll_authz(struct job *);

static void
on_challenge_posted(struct job *j, const struct acme_http_resp *r)
{
	j->polls = 0;
	j->poll_what = POLL_AUTHZ;
	timer_in(j, j->last_retry_after > 0 && j->last_retry_after < 60 ?
	    j->last_retry_after : 1);
}

/* The DNS hook: run "HOOK set|clear NAME VALUE", watched by a timer. */
static int
hook_spawn(struct job *j, const char *verb)
{
	pid_t	*pidp = strcmp(verb, "clear") == 0 ? &j->clear_pid : &j->hook_pid;
	char	*fqdn = xasprintf("_acme-challenge.%s", j->chal_ident);
	char	*argv[] = { (char *)j->a->cfg.dns_hook, (char *)verb, fqdn,
		    j->dns_value, NULL };
	int	 rc;

	if (*pidp > 0)
		waitpid(*pidp, NULL, 0);	/* a previous clear; it is quick */
	rc = posix_spawn(pidp, j->a->cfg.dns_hook, NULL, NULL, argv, environ);
	free(fqdn);
	if (rc != 0) {
		*pidp = 0;
		return -1;
	}
	j->hook_deadline = now() + 120;
	return 0;
}

static void
provision_and_answer(struct job *j)
{
	job_post(j, j->chal_url, "{}", 0, on_challenge_posted);
}

static void
on_authz(struct job *j, const struct acme_http_resp *r)
{
	json_t		*o, *chs, *c = NULL, *id;
	const char	*st, *want, *ident;
	size_t		 i;
	struct errbuf	 eb;
	char		*ka;

	if ((o = body_json(j, r, "authorization")) == NULL)
		return;
	st = json_string_value(json_object_get(o, "status"));
	id = json_object_get(o, "identifier");
	ident = json_string_value(json_object_get(id, "value"));
	if (st == NULL || ident == NULL) {
		json_decref(o);
		job_fail(j, "authorization: no status or identifier");
		return;
	}
	if (strcmp(st, "valid") == 0) {
		json_decref(o);
		j->authz_i++;
		step_authz(j);
		return;
	}
	if (strcmp(st, "pending") != 0) {
		/* ident and st are borrowed from o: report before freeing it. */
		job_fail(j, "authorization for %s is %s", ident, st);
		json_decref(o);
		return;
	}
	want = j->site->challenges[j->chal_idx];
	chs = json_object_get(o, "challenges");
	json_array_foreach(chs, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		if (t != NULL && strcmp(t, want) == 0)
			break;
	}
	if (!json_is_array(chs) || i >= json_array_size(chs)) {
		job_fail(j, "%s: the CA offers no %s challenge", ident, want);
		json_decref(o);
		return;
	}
	{
		const char *tok = json_string_value(json_object_get(c, "token"));
		const char *url = json_string_value(json_object_get(c, "url"));
		/* Tokens are base64url (RFC 8555 8.1): anything else is refused,
		 * as it would end up in a path and a file name. */
		if (tok == NULL || url == NULL || strlen(tok) < 16 || strlen(tok) > 256 ||
		    strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_") != strlen(tok)) {
			job_fail(j, "%s: malformed %s challenge", ident, want);
			json_decref(o);
			return;
		}
		free(j->chal_url); free(j->chal_token); free(j->chal_ident); free(j->chal_type);
		j->chal_url = xstrdup(url);
		j->chal_token = xstrdup(tok);
		j->chal_ident = xstrdup(ident);
		j->chal_type = xstrdup(want);
	}
	json_decref(o);
	ka = xasprintf("%s.%s", j->chal_token, j->a->thumbprint);
	log_info("acme %s: answering %s for %s", job_name(j), want, j->chal_ident);
	if (strcmp(want, "tls-alpn-01") == 0) {
		if (challenge_tlsalpn_set(j->chal_ident, ka, &eb) == -1) {
			free(ka);
			job_fail(j, "%s", eb.msg);
			return;
		}
	} else if (strcmp(want, "http-01") == 0)
		challenge_http_set(j->chal_token, ka);
	else {
		uint8_t md[SHA256_DIGEST_LENGTH];

		SHA256((const uint8_t *)ka, strlen(ka), md);
		free(j->dns_value);
		j->dns_value = b64url_encode(md, sizeof(md));
		if (j->a->cfg.dns_hook == NULL || hook_spawn(j, "set") == -1) {
			free(ka);
			job_fail(j, "dns-01: %s", j->a->cfg.dns_hook == NULL ?
			    "no dns_hook configured" : "cannot run the dns_hook");
			return;
		}
		free(ka);
		j->hook_clear_after = 0;
		timer_in(j, 0);		/* the timer watches the hook */
		return;
	}
	free(ka);
	provision_and_answer(j);
}

static void
on_authz_poll(struct job *j, const struct acme_http_resp *r)
{
	json_t		*o, *chs, *c, *err;
	const char	*st, *detail = NULL;
	size_t		 i;

	if ((o = body_json(j, r, "authorization")) == NULL)
		return;
	st = json_string_value(json_object_get(o, "status"));
	if (st != NULL && strcmp(st, "valid") == 0) {
		log_info("acme %s: %s valid for %s", job_name(j), j->chal_type,
		    j->chal_ident);
		json_decref(o);
		if (strcmp(j->chal_type, "tls-alpn-01") == 0)
			challenge_tlsalpn_clear(j->chal_ident);
		else if (strcmp(j->chal_type, "http-01") == 0)
			challenge_http_clear(j->chal_token);
		else if (j->a->cfg.dns_hook != NULL)
			(void)hook_spawn(j, "clear");	/* best effort */
		free(j->chal_type);
		j->chal_type = NULL;
		j->authz_i++;
		step_authz(j);
		return;
	}
	if (st != NULL && (strcmp(st, "pending") == 0 || strcmp(st, "processing") == 0)) {
		json_decref(o);
		if (++j->polls > ACME_MAX_POLLS) {
			job_fail(j, "%s: authorization still %s after %d polls",
			    j->chal_ident, st, ACME_MAX_POLLS);
			return;
		}
		j->poll_what = POLL_AUTHZ;
		timer_in(j, j->last_retry_after > 0 && j->last_retry_after < 60 ?
		    j->last_retry_after : 1);
		return;
	}
	chs = json_object_get(o, "challenges");
	json_array_foreach(chs, i, c)
		if ((err = json_object_get(c, "error")) != NULL)
			detail = json_string_value(json_object_get(err, "detail"));
	log_warnx("acme %s: %s failed for %s: %s", job_name(j), j->chal_type,
	    j->chal_ident, detail ? detail : st ? st : "?");
	/* The authorization is spent: the next challenge type needs a new order. */
	if ((size_t)j->chal_idx + 1 < j->site->nchallenges) {
		j->chal_idx++;
		log_notice("acme %s: trying %s next", job_name(j),
		    j->site->challenges[j->chal_idx]);
		json_decref(o);
		step_order(j);
		return;
	}
	job_fail(j, "%s: %s", j->chal_ident, detail ? detail : "authorization invalid");
	json_decref(o);
}

static void
poll_authz(struct job *j)
{
	job_post(j, j->authz[j->authz_i], NULL, 0, on_authz_poll);
}

static void
step_authz(struct job *j)
{
	if (j->authz_i >= j->nauthz) {
		step_finalize(j);
		return;
	}
	job_post(j, j->authz[j->authz_i], NULL, 0, on_authz);
}

/* ---- finalize ----------------------------------------------------------- */

static EVP_PKEY *
make_key(enum certfile_keytype kt)
{
	EVP_PKEY *pk = EVP_PKEY_new();

	if (pk == NULL)
		return NULL;
	if (kt == CERTFILE_EC) {
		EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
		if (ec == NULL || !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(pk, ec)) {
			EC_KEY_free(ec);
			EVP_PKEY_free(pk);
			return NULL;
		}
	} else {
		RSA	*rsa = RSA_new();
		BIGNUM	*e = BN_new();
		if (rsa == NULL || e == NULL || !BN_set_word(e, RSA_F4) ||
		    !RSA_generate_key_ex(rsa, 2048, e, NULL) ||
		    !EVP_PKEY_assign_RSA(pk, rsa)) {
			RSA_free(rsa);
			BN_free(e);
			EVP_PKEY_free(pk);
			return NULL;
		}
		BN_free(e);
	}
	return pk;
}

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

static void	poll_order(struct job *);

static void
on_order_state(struct job *j, const struct acme_http_resp *r)
{
	json_t		*o;
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
			job_fail(j, "order still %s after %d polls", st, ACME_MAX_POLLS);
			return;
		}
		j->poll_what = POLL_ORDER;
		timer_in(j, j->last_retry_after > 0 && j->last_retry_after < 60 ?
		    j->last_retry_after : 1);
	} else {
		json_t *err = json_object_get(o, "error");
		job_fail(j, "order is %s%s%s", st, err ? ": " : "",
		    err ? json_string_value(json_object_get(err, "detail")) : "");
		json_decref(o);
	}
}

static void
poll_order(struct job *j)
{
	job_post(j, j->order_url, NULL, 0, on_order_state);
}

static void
step_finalize(struct job *j)
{
	BIO	*b;
	char	*csr, *p;

	if (j->key == NULL) {
		if ((j->key = make_key(j->kt)) == NULL) {
			job_fail(j, "key generation failed");
			return;
		}
		b = BIO_new(BIO_s_mem());
		if (PEM_write_bio_PrivateKey(b, j->key, NULL, NULL, 0, NULL, NULL)) {
			const uint8_t	*d;
			size_t		 n;
			BIO_mem_contents(b, &d, &n);
			j->key_pem = strndup((const char *)d, n);
		}
		BIO_free(b);
	}
	if ((csr = make_csr(j)) == NULL || j->key_pem == NULL) {
		free(csr);
		job_fail(j, "CSR generation failed");
		return;
	}
	p = xasprintf("{\"csr\":\"%s\"}", csr);	/* base64url: no escaping needed */
	free(csr);
	j->polls = 0;
	log_info("acme %s: finalizing", job_name(j));
	job_post(j, j->finalize_url, p, 0, on_order_state);
	free(p);
}

/* ---- download, chains, install ------------------------------------------ */

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

static void	install_chain(struct job *, const char *pem);
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
		job_fail(j, "rel=\"up\" issuer: not a certificate");
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
		job_fail(j, "certificate download: not a PEM chain");
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

static void
step_download(struct job *j)
{
	job_post(j, j->cert_url, NULL, 0, on_certificate);
}

/* ARI certID: base64url(AKI keyIdentifier) "." base64url(serial DER value). */
static char *
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
install_chain(struct job *j, const char *pem)
{
	struct certfile	*cf;
	struct errbuf	 eb;
	char		 tb[24];

	/* The store checks the pair and the names before replacing anything. */
	if ((cf = store_cert_save(j->a->store, job_name(j), j->site->names,
	    j->site->nnames, pem, j->key_pem, &eb)) == NULL) {
		job_fail(j, "new certificate rejected: %s", eb.msg);
		return;
	}
	log_notice("acme %s: new %s certificate, valid until %s (%s)", job_name(j),
	    certfile_keytype_names[j->kt], iso(cf->not_after, tb), cf->sha256);
	certfile_unref(j->current);
	j->current = cf;
	j->attempts = 0;
	j->last_error[0] = '\0';
	free(j->replaces);
	j->replaces = NULL;
	j->ari_start = j->ari_end = 0;
	j->ari_next = 0;
	j->renew_at = 0;	/* recomputed for the new certificate */
	j->last_success = now();
	pthread_mutex_lock(&j->a->pub_mtx);
	j->a->counters.successes++;
	j->a->counters.last_success = j->last_success;
	pthread_mutex_unlock(&j->a->pub_mtx);
	j->a->install(job_name(j), cf, j->a->install_arg);
	job_reset_order(j);
	j->chal_idx = 0;
	j->state = JOB_IDLE;
	store_unlock(j->lock_fd);
	j->lock_fd = -1;
	job_schedule(j);
}

/* ---- scheduling ---------------------------------------------------------- */

static void
job_fail(struct job *j, const char *fmt, ...)
{
	va_list	ap;
	long	delay;

	va_start(ap, fmt);
	vsnprintf(j->last_error, sizeof(j->last_error), fmt, ap);
	va_end(ap);
	job_reset_order(j);
	j->attempts++;
	j->chal_idx = 0;
	if (j->a->acct_job == j)
		j->a->acct_job = NULL;
	{
		const char	*e = j->last_error;
		enum acme_fail	 k = ACME_FAIL_OTHER;

		if (strstr(e, "rateLimited") || strstr(e, "HTTP 429"))
			k = ACME_FAIL_RATE_LIMITED;
		else if (strstr(e, "serverInternal") || strstr(e, "HTTP 5"))
			k = ACME_FAIL_SERVER;
		else if (strstr(e, "connect") || strstr(e, "resolve") ||
		    strstr(e, "timed out") || strstr(e, "SSL") || strstr(e, "newNonce"))
			k = ACME_FAIL_TRANSPORT;
		else if (strstr(e, "challenge") || strstr(e, "authorization") ||
		    strstr(e, "dns_hook") || strstr(e, "incorrectResponse") ||
		    strstr(e, "unauthorized"))
			k = ACME_FAIL_VALIDATION;
		pthread_mutex_lock(&j->a->pub_mtx);
		j->a->counters.failures[k]++;
		pthread_mutex_unlock(&j->a->pub_mtx);
	}
	/* Expiry safety net: say it loudly on every failed attempt. */
	if (j->current != NULL) {
		time_t	life = j->current->not_after - j->current->not_before;
		time_t	thr = life < 42 * 86400 ? life / 3 : 14 * 86400;
		char	tb[24];
		if (j->current->not_after - now() < thr)
			log_err("acme %s: the certificate in service expires at %s and "
			    "could not be renewed", job_name(j), iso(j->current->not_after, tb));
	}
	delay = acme_sched_backoff(j->attempts, j->last_retry_after, j->a->cfg.retry_base);
	log_err("acme %s: attempt %d failed: %s; next try in %lds%s", job_name(j),
	    j->attempts, j->last_error, delay, j->current ?
	    "; the current certificate keeps serving" : "");
	j->state = JOB_IDLE;
	store_unlock(j->lock_fd);
	j->lock_fd = -1;
	j->renew_at = now() + delay;
	job_save_meta(j);
	evtimer_del(j->timer);
	timer_in(j, delay);
}

static void
on_ari(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct job	*j = arg;
	json_t		*o = NULL, *w;
	time_t		 s, e;
	long		 ra;

	j->state = JOB_IDLE;
	j->ari_next = now() + ACME_ARI_RECHECK;
	if (err == NULL && r->status == 200 &&
	    (o = json_loadb(r->body, r->len, 0, NULL)) != NULL &&
	    (w = json_object_get(o, "suggestedWindow")) != NULL &&
	    (s = acme_sched_parse_time(json_string_value(json_object_get(w, "start")))) > 0 &&
	    (e = acme_sched_parse_time(json_string_value(json_object_get(w, "end")))) >= s) {
		/* Keep our random pick while the window stays the same. */
		if (s != j->ari_start || e != j->ari_end) {
			j->ari_start = s;
			j->ari_end = e;
			j->renew_at = acme_sched_renew_at(j->current->not_before,
			    j->current->not_after, s, e, rnd());
			char b1[24], b2[24], b3[24];
			log_info("acme %s: ARI window %s..%s, renewing at %s",
			    job_name(j), iso(s, b1), iso(e, b2), iso(j->renew_at, b3));
		}
		ra = acme_sched_parse_retry_after(r->retry_after, now());
		if (ra > 0)
			j->ari_next = now() + (ra < 3600 ? 3600 : ra > 43200 ? 43200 : ra);
	} else
		log_warnx("acme %s: renewalInfo: %s", job_name(j), err ? err :
		    "no usable suggestedWindow");
	json_decref(o);
	job_save_meta(j);
	job_schedule(j);
}

/* Arm the job's timer for its next event: ARI check, renewal, or now. */
static void
job_schedule(struct job *j)
{
	time_t t = now(), next;

	if (j->state == JOB_BUSY)
		return;
	if (j->current == NULL) {
		timer_in(j, 0);
		return;
	}
	if (j->renew_at == 0)
		j->renew_at = acme_sched_renew_at(j->current->not_before,
		    j->current->not_after, 0, 0, rnd());
	next = j->renew_at;
	if (j->a->u_ari != NULL && j->ari_next < next)
		next = j->ari_next;
	evtimer_del(j->timer);
	timer_in(j, next > t ? (long)(next - t) : 0);
	job_save_meta(j);
}

static void
on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	struct job	*j = arg;
	int		 status;
	pid_t		 p;

	if (j->clear_pid > 0 && waitpid(j->clear_pid, NULL, WNOHANG) != 0)
		j->clear_pid = 0;
	if (j->hook_pid > 0) {
		/* The dns-01 hook runs: check on it every 100 ms. */
		p = waitpid(j->hook_pid, &status, WNOHANG);
		if (p == 0) {
			if (now() > j->hook_deadline) {
				job_fail(j, "dns_hook did not finish in 120 s");
				return;
			}
			struct timeval tv = { 0, 100000 };
			evtimer_add(j->timer, &tv);
			return;
		}
		j->hook_pid = 0;
		if (p < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			job_fail(j, "dns_hook set failed (status %d)", status);
			return;
		}
		provision_and_answer(j);
		return;
	}
	if (j->state == JOB_BUSY) {
		/* A poll is due: of what, the code that armed the timer said. */
		int due = j->poll_what;

		j->poll_what = POLL_NONE;
		if (due == POLL_ORDER)
			poll_order(j);
		else if (due == POLL_AUTHZ && j->chal_type != NULL)
			poll_authz(j);
		return;
	}
	if (j->current != NULL && j->a->u_ari != NULL && now() >= j->ari_next &&
	    now() < j->renew_at) {
		char *id = ari_cert_id(j->current), *url;
		if (id != NULL) {
			url = xasprintf("%s/%s", j->a->u_ari, id);
			free(id);
			j->state = JOB_BUSY;
			if (j->a->tr.request(j->a->http, "GET", url, NULL, on_ari, j) == 0) {
				free(url);
				return;
			}
			free(url);
			j->state = JOB_IDLE;
		}
		j->ari_next = now() + ACME_ARI_RECHECK;
	}
	if (j->current == NULL || now() >= j->renew_at)
		job_start(j);
	else
		job_schedule(j);
}

static void
job_start(struct job *j)
{
	if (!j->a->dir_ok || j->state == JOB_BUSY)
		return;
	/*
	 * One order per site at a time: the ECDSA and RSA orders of a site
	 * validate the same names, and a name has one TLS-ALPN-01 certificate
	 * and one TXT record slot. The sibling waits for its turn.
	 */
	for (size_t i = 0; i < j->a->njobs; i++)
		if (j->a->jobs[i] != j && j->a->jobs[i]->site == j->site &&
		    j->a->jobs[i]->state == JOB_BUSY) {
			timer_in(j, 2);
			return;
		}
	if (job_wait_for_account(j))
		return;
	if ((j->lock_fd = store_lock(j->a->store, job_name(j))) == -1) {
		log_notice("acme %s: another process holds the store lock for this "
		    "name; waiting", job_name(j));
		timer_in(j, j->a->cfg.retry_base);
		return;
	}
	j->state = JOB_BUSY;
	evtimer_del(j->timer);
	j->last_retry_after = -1;
	pthread_mutex_lock(&j->a->pub_mtx);
	j->a->counters.attempts++;
	pthread_mutex_unlock(&j->a->pub_mtx);
	if (j->current != NULL && j->a->u_ari != NULL && j->replaces == NULL)
		j->replaces = ari_cert_id(j->current);
	log_notice("acme %s: %s %s certificate for %zu name(s) via %s", job_name(j),
	    j->current ? "renewing" : "ordering", certfile_keytype_names[j->kt],
	    j->site->nnames, j->site->challenges[j->chal_idx]);
	if (j->a->acct_url == NULL)
		step_account(j);
	else
		step_order(j);
}

/*
 * Only one job registers the account; the others wait for it (two
 * concurrent newAccount requests for one key race inside some CAs).
 */
static int
job_wait_for_account(struct job *j)
{
	if (j->a->acct_url != NULL || j->a->acct_job == NULL || j->a->acct_job == j)
		return 0;
	timer_in(j, 1);
	return 1;
}

/* ---- directory and lifecycle --------------------------------------------- */

static void	fetch_directory(struct acme *);

static void
on_directory(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct acme	*a = arg;
	json_t		*o = NULL, *meta;
	const char	*n, *acct, *ord, *ari;
	struct timeval	 tv;

	if (err == NULL && r->status == 200 &&
	    (o = json_loadb(r->body, r->len, 0, NULL)) != NULL &&
	    (n = json_string_value(json_object_get(o, "newNonce"))) != NULL &&
	    (acct = json_string_value(json_object_get(o, "newAccount"))) != NULL &&
	    (ord = json_string_value(json_object_get(o, "newOrder"))) != NULL) {
		a->u_nonce = xstrdup(n);
		a->u_account = xstrdup(acct);
		a->u_order = xstrdup(ord);
		if ((ari = json_string_value(json_object_get(o, "renewalInfo"))) != NULL) {
			a->u_ari = xstrdup(ari);
			/* Drop a trailing slash: certIDs are appended after one. */
			if (a->u_ari[0] && a->u_ari[strlen(a->u_ari) - 1] == '/')
				a->u_ari[strlen(a->u_ari) - 1] = '\0';
		}
		meta = json_object_get(o, "meta");
		if (json_is_true(json_object_get(meta, "externalAccountRequired")) &&
		    a->cfg.eab_kid == NULL)
			log_err("acme: %s requires External Account Binding "
			    "(acme.eab_kid and acme.eab_hmac_key)", a->cfg.directory);
		json_decref(o);
		a->dir_ok = 1;
		log_info("acme: directory %s loaded%s", a->cfg.directory,
		    a->u_ari ? " (with ARI)" : "");
		for (size_t i = 0; i < a->njobs; i++)
			job_schedule(a->jobs[i]);
		return;
	}
	json_decref(o);
	a->dir_attempts++;
	tv.tv_sec = acme_sched_backoff(a->dir_attempts,
	    err ? -1 : acme_sched_parse_retry_after(r->retry_after, now()),
	    a->cfg.retry_base);
	tv.tv_usec = 0;
	log_err("acme: directory %s: %s; retrying in %lds", a->cfg.directory,
	    err ? err : "not a usable ACME directory", (long)tv.tv_sec);
	evtimer_add(a->dir_timer, &tv);
}

static void
fetch_directory(struct acme *a)
{
	if (a->tr.request(a->http, "GET", a->cfg.directory, NULL, on_directory, a) == -1)
		log_err("acme: cannot start the directory request");
}

static void
on_dir_timer(evutil_socket_t fd, short what, void *arg)
{
	fetch_directory(arg);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct acme *a = arg;

	for (size_t i = 0; i < a->njobs; i++) {
		struct job *j = a->jobs[i];
		if (atomic_exchange(&j->force, 0) && j->state != JOB_BUSY) {
			log_notice("acme %s: renewal forced", job_name(j));
			j->attempts = 0;
			job_start(j);
		}
	}
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(((struct acme *)arg)->base);
}

static void *
acme_main(void *arg)
{
	struct acme *a = arg;

	fetch_directory(a);
	event_base_dispatch(a->base);
	return NULL;
}

void
acme_renew(struct acme *a, const char *label)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->njobs; i++)
		if (label == NULL || strcmp(label, job_name(a->jobs[i])) == 0)
			atomic_store(&a->jobs[i]->force, 1);
	event_active(a->kick, EV_TIMEOUT, 0);
}

static char *
dupn(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct acme *
acme_start(const struct acme_cfg *cfg, const struct acme_site_cfg *sites,
    size_t nsites, acme_install_fn *install, void *arg, struct errbuf *eb)
{
	struct acme	*a = xcalloc(1, sizeof(*a));
	struct errbuf	 e2;

	a->cfg.directory = a->s_dir = xstrdup(cfg->directory ? cfg->directory :
	    ACME_LETSENCRYPT);
	a->cfg.email = a->s_email = dupn(cfg->email);
	a->cfg.ca_file = a->s_ca = dupn(cfg->ca_file);
	a->cfg.state_dir = a->s_state = xstrdup(cfg->state_dir);
	a->cfg.eab_kid = a->s_kid = dupn(cfg->eab_kid);
	a->cfg.eab_hmac = a->s_hmac = dupn(cfg->eab_hmac);
	a->cfg.dns_hook = a->s_hook = dupn(cfg->dns_hook);
	a->cfg.preferred_chain = a->s_chain = dupn(cfg->preferred_chain);
	a->cfg.retry_base = cfg->retry_base > 0 ? cfg->retry_base : 60;
	pthread_mutex_init(&a->pub_mtx, NULL);
	a->install = install;
	a->install_arg = arg;
	if ((a->store = store_open(a->cfg.state_dir, a->cfg.directory, eb)) == NULL)
		goto fail;
	if ((a->acct_key = store_account_key(a->store, eb)) == NULL)
		goto fail;
	if ((a->thumbprint = jws_thumbprint(a->acct_key, eb)) == NULL)
		goto fail;
	a->acct_url = store_account_url(a->store);
	if ((a->base = event_base_new()) == NULL) {
		errbuf_set(eb, "event_base_new failed");
		goto fail;
	}
	a->tr = cfg->transport != NULL ? *cfg->transport : curl_transport;
	a->http = a->tr.create(a->base, a->cfg.ca_file, a->tr.arg);
	a->dir_timer = evtimer_new(a->base, on_dir_timer, a);
	a->kick = event_new(a->base, -1, 0, on_kick, a);
	a->stop_ev = event_new(a->base, -1, 0, on_stop, a);

	/* Deep copies: the caller's config may be freed by a reload. */
	a->sites = xcalloc(nsites + 1, sizeof(*a->sites));
	a->nsites = nsites;
	for (size_t i = 0; i < nsites; i++) {
		struct acme_site_cfg *s = &a->sites[i];
		s->label = xstrdup(sites[i].label);
		s->names = xcalloc(sites[i].nnames, sizeof(char *));
		for (s->nnames = 0; s->nnames < sites[i].nnames; s->nnames++)
			s->names[s->nnames] = xstrdup(sites[i].names[s->nnames]);
		s->challenges = xcalloc(sites[i].nchallenges, sizeof(char *));
		for (s->nchallenges = 0; s->nchallenges < sites[i].nchallenges;
		    s->nchallenges++)
			s->challenges[s->nchallenges] =
			    xstrdup(sites[i].challenges[s->nchallenges]);
		s->rsa = sites[i].rsa;
	}
	for (size_t i = 0; i < nsites; i++)
		for (int k = 0; k < (a->sites[i].rsa ? 2 : 1); k++) {
			struct job *j = xcalloc(1, sizeof(*j));
			j->magic = JOB_MAGIC;
			j->a = a;
			j->site = &a->sites[i];
			j->kt = k == 0 ? CERTFILE_EC : CERTFILE_RSA;
			j->timer = evtimer_new(a->base, on_job_timer, j);
			j->lock_fd = -1;
			j->current = store_cert_load(a->store, a->sites[i].label, j->kt, &e2);
			if (j->current == NULL && e2.msg[0] != '\0')
				log_err("acme %s: stored certificate unreadable (%s); "
				    "ordering a new one", a->sites[i].label, e2.msg);
			a->jobs = xrealloc(a->jobs, (a->njobs + 1) * sizeof(*a->jobs));
			a->jobs[a->njobs++] = j;
		}
	a->pub = xcalloc(a->njobs + 1, sizeof(*a->pub));
	for (size_t i = 0; i < a->njobs; i++) {
		struct job *j = a->jobs[i];
		snprintf(a->pub[i].label, sizeof(a->pub[i].label), "%s", job_name(j));
		a->pub[i].rsa = j->kt == CERTFILE_RSA;
		a->pub[i].not_after = j->current ? j->current->not_after : 0;
	}
	if (pthread_create(&a->thread, NULL, acme_main, a) != 0) {
		errbuf_set(eb, "cannot start the ACME thread");
		goto fail;
	}
	a->started = 1;
	return a;
fail:
	acme_stop(a);
	return NULL;
}

void
acme_stop(struct acme *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		event_active(a->stop_ev, EV_TIMEOUT, 0);
		pthread_join(a->thread, NULL);
	}
	for (size_t i = 0; i < a->njobs; i++) {
		struct job *j = a->jobs[i];
		job_reset_order(j);
		store_unlock(j->lock_fd);
		free(j->replaces);
		certfile_unref(j->current);
		event_free(j->timer);
		j->magic = 0;
		free(j);
	}
	free(a->jobs);
	free(a->pub);
	pthread_mutex_destroy(&a->pub_mtx);
	for (size_t i = 0; i < a->nsites; i++) {
		free((char *)a->sites[i].label);
		free_strv(a->sites[i].names, a->sites[i].nnames);
		free_strv(a->sites[i].challenges, a->sites[i].nchallenges);
	}
	free(a->sites);
	if (a->http != NULL)
		a->tr.destroy(a->http);
	if (a->dir_timer) event_free(a->dir_timer);
	if (a->kick) event_free(a->kick);
	if (a->stop_ev) event_free(a->stop_ev);
	if (a->base) event_base_free(a->base);
	store_free(a->store);
	EVP_PKEY_free(a->acct_key);
	free(a->thumbprint); free(a->acct_url); free(a->nonce);
	free(a->u_nonce); free(a->u_account); free(a->u_order); free(a->u_ari);
	free(a->s_dir); free(a->s_email); free(a->s_ca); free(a->s_state);
	free(a->s_kid); free(a->s_hmac); free(a->s_hook); free(a->s_chain);
	free(a);
}

size_t
acme_status(struct acme *a, struct acme_cert_status *out, size_t max)
{
	size_t n;

	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->pub_mtx);
	n = a->njobs < max ? a->njobs : max;
	memcpy(out, a->pub, n * sizeof(*out));
	pthread_mutex_unlock(&a->pub_mtx);
	return n;
}

void
acme_get_counters(struct acme *a, struct acme_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->pub_mtx);
	*out = a->counters;
	pthread_mutex_unlock(&a->pub_mtx);
}
