/*
 * acme.c - the ACME client's lifecycle and schedule: one job per (site, key
 * type), each an explicit state machine (acme_int.h) over asynchronous HTTP
 * on the client's own thread and event_base.
 *
 * A job's schedule lives in the store (struct store_renewal): when it may
 * order next, its failures in a row, the CA's Retry-After, the ARI window
 * and the certificate it replaces. It is written before every order and
 * after every outcome, and read back when the job is made, so a reload or a
 * restart resumes exactly where the last run stopped. Three rules keep the
 * CA from being hammered: back-off after failures (acme_sched_backoff), the
 * CA's Retry-After, which even a forced renewal honours, and a floor of
 * retry_base between two orders for a name.
 *
 * A reload hands over the new site list (acme_update); jobs whose site did
 * not change keep running, in-flight orders included.
 */
#include "acme_int.h"
#include "acme_queue.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include "acme_sched.h"
#include "errbuf.h"
#include "jws.h"
#include "log.h"
#include "xalloc.h"

const char *const acme_fail_names[ACME_FAIL__MAX] = {
	"rate_limited", "server", "transport", "validation", "certificate", "other",
};

const char *const job_state_names[JOB__MAX] = {
	"idle", "account", "order", "authz", "hook", "challenge", "finalize",
	"download", "ari", "settle",
};

static void	job_destroy(struct job *);
static void	on_job_timer(evutil_socket_t, short, void *);

time_t
acme_now(const struct acme *a)
{
	return a->clock != NULL ? a->clock() : time(NULL);
}

const char *
job_name(const struct job *j)
{
	return j->site->label;
}

/* RFC 3339 UTC for logs. */
const char *
acme_iso(time_t t, char buf[24])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

double
acme_rnd(void)
{
	uint32_t r;

	RAND_bytes((uint8_t *)&r, sizeof(r));
	return (double)r / 4294967296.0;
}

void
job_timer_in(struct job *j, long secs)
{
	struct timeval tv = { secs < 0 ? 0 : secs, 0 };

	evtimer_add(j->timer, &tv);
}

/*
 * The next poll of an authorization or an order: when the CA's Retry-After
 * says (under a minute), else 125 ms after the step that started the wait
 * (polls 0, or 1 when the first answer already counted as a poll), then 125,
 * 250 and 500 ms, then once a second. A real CA's validation takes a second or more and sees
 * a poll or two more than with a flat second; a quick one (a local CA, a
 * reused authorization) is not kept waiting a whole second per step.
 */
void
job_poll_later(struct job *j)
{
	long		ms = j->polls >= 4 ? 1000 : 125L << (j->polls > 0 ? j->polls - 1 : 0);
	struct timeval	tv;

	if (j->last_retry_after > 0 && j->last_retry_after < 60)
		ms = j->last_retry_after * 1000;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(j->timer, &tv);
}

void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- sites --------------------------------------------------------------- */

void
site_copy(struct acme_site_cfg *d, const struct acme_site_cfg *s)
{
	d->label = xstrdup(s->label);
	d->names = xcalloc(s->nnames + 1, sizeof(char *));
	for (d->nnames = 0; d->nnames < s->nnames; d->nnames++)
		d->names[d->nnames] = xstrdup(s->names[d->nnames]);
	d->challenges = xcalloc(s->nchallenges + 1, sizeof(char *));
	for (d->nchallenges = 0; d->nchallenges < s->nchallenges; d->nchallenges++)
		d->challenges[d->nchallenges] = xstrdup(s->challenges[d->nchallenges]);
	d->rsa = s->rsa;
	d->profile = s->profile != NULL ? xstrdup(s->profile) : NULL;
}

void
site_clear(struct acme_site_cfg *s)
{
	free((char *)s->label);
	free_strv(s->names, s->nnames);
	free_strv(s->challenges, s->nchallenges);
	free((char *)s->profile);
}

static int
strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

/* Same names, challenges and profile: the job can go on (rsa is per job). */
static int
site_same(const struct acme_site_cfg *a, const struct acme_site_cfg *b)
{
	return strv_eq(a->names, a->nnames, b->names, b->nnames) &&
	    strv_eq(a->challenges, a->nchallenges, b->challenges, b->nchallenges) &&
	    strcmp(a->profile ? a->profile : "", b->profile ? b->profile : "") == 0;
}

/* ---- persistence and status ---------------------------------------------- */

static size_t
job_index(const struct job *j)
{
	if (j->idx < j->a->njobs && j->a->jobs[j->idx] == j)
		return j->idx;
	for (size_t i = 0; i < j->a->njobs; i++)
		if (j->a->jobs[i] == j)
			return i;
	return (size_t)-1;
}

static void
publish_one(struct acme_cert_status *p, const struct job *j)
{
	snprintf(p->label, sizeof(p->label), "%s", job_name(j));
	p->rsa = j->kt == CERTFILE_RSA;
	p->not_after = j->current ? j->current->not_after : 0;
	p->renew_at = j->renew_at;
	p->last_success = j->rs.last_success;
	p->attempts = j->rs.failures;
	p->on_demand = j->ondemand;
	snprintf(p->issuer, sizeof(p->issuer), "%s", j->rs.issuer[0] != '\0' ?
	    j->rs.issuer : j->current != NULL ? j->a->iss[0].directory : "");
	snprintf(p->ordering_from, sizeof(p->ordering_from), "%s",
	    job_iss(j)->directory);
	snprintf(p->rl_issuer, sizeof(p->rl_issuer), "%s", j->rs.rl_issuer);
	p->rl_until = j->rs.rl_issuer[0] != '\0' ? j->rs.rl_until : 0;
	snprintf(p->last_error, sizeof(p->last_error), "%s", j->rs.last_error);
}

/* The status table follows the job list (after a start or a reload). */
void
publish_all(struct acme *a)
{
	pthread_mutex_lock(&a->pub_mtx);
	free(a->pub);
	a->pub = xcalloc(a->njobs + 1, sizeof(*a->pub));
	a->npub = a->njobs;
	for (size_t i = 0; i < a->njobs; i++) {
		a->jobs[i]->idx = i;
		publish_one(&a->pub[i], a->jobs[i]);
	}
	pthread_mutex_unlock(&a->pub_mtx);
}

/* Write the job's schedule to the store and publish it for /status. */
void
job_save(struct job *j)
{
	struct errbuf	eb;
	size_t		i = job_index(j);

	j->rs.next_attempt = j->renew_at;
	/* Unchanged: no write. 1,000 jobs scheduled at start once took 10 s of
	 * writing the same state back before the first order. Unreachable
	 * store (acme_storegate.c): written at the next save after it is back. */
	if (!store_available(j->a->store))
		j->saved_ok = 0;
	else if (!j->saved_ok || j->saved_cur != j->current ||
	    memcmp(&j->saved, &j->rs, sizeof(j->rs)) != 0) {
		if (store_renewal_put(j->a->store, job_name(j), j->kt, &j->rs,
		    j->current, &eb) == -1) {
			log_warnx("acme %s: saving the renewal state: %s", job_name(j),
			    eb.msg);
			j->saved_ok = 0;
		} else {
			j->saved = j->rs;
			j->saved_cur = j->current;
			j->saved_ok = 1;
		}
	}
	if (i == (size_t)-1)
		return;
	pthread_mutex_lock(&j->a->pub_mtx);
	if (i < j->a->npub)
		publish_one(&j->a->pub[i], j);
	pthread_mutex_unlock(&j->a->pub_mtx);
}

static int
covers_site(const struct job *j)
{
	for (size_t i = 0; i < j->site->nnames; i++)
		if (!certfile_matches(j->current, j->site->names[i]))
			return 0;
	return 1;
}

struct job *
job_new(struct acme *a, const struct acme_site_cfg *sc, enum certfile_keytype kt)
{
	struct job	*j = xcalloc(1, sizeof(*j));
	struct errbuf	 eb;
	char		 b1[24];
	time_t		 now = acme_now(a);

	j->magic = JOB_MAGIC;
	j->a = a;
	j->site = xcalloc(1, sizeof(*j->site));
	site_copy(j->site, sc);
	j->kt = kt;
	j->timer = evtimer_new(a->base, on_job_timer, j);
	j->current = store_cert_get(a->store, sc->label, kt, &eb);
	if (j->current == NULL && eb.msg[0] != '\0') {
		if (errno == EAGAIN)
			log_warnx("acme %s: the store cannot be asked for the "
			    "stored certificate (%s); looked for again before "
			    "any order", sc->label, eb.msg);
		else
			log_err("acme %s: stored certificate unreadable (%s); "
			    "ordering a new one", sc->label, eb.msg);
	}
	if (store_renewal_get(a->store, sc->label, kt, &j->rs) == 0) {
		j->saved = j->rs;	/* what the store holds */
		j->saved_cur = j->current;
		j->saved_ok = 1;
		j->renew_at = j->rs.next_attempt;
		if (j->rs.failures > 0 || j->rs.retry_until > now)
			log_notice("acme %s: %s: %d failed attempt(s) in a row (%s); "
			    "next attempt at %s", sc->label, certfile_keytype_names[kt],
			    j->rs.failures, j->rs.last_error[0] ? j->rs.last_error : "-",
			    acme_iso(j->renew_at > j->rs.retry_until ? j->renew_at :
			    j->rs.retry_until, b1));
	} else if (j->current == NULL) {
		memset(&j->rs, 0, sizeof(j->rs));	/* nothing stored: nothing to write yet */
		j->saved = j->rs;
		j->saved_ok = 1;
	}
	if (j->current == NULL && j->rs.failures == 0)
		j->renew_at = 0;	/* nothing to serve: order now */
	if (j->current != NULL && !covers_site(j) && j->rs.failures == 0) {
		log_notice("acme %s: the stored certificate does not cover every "
		    "name of the site; ordering a new one", sc->label);
		j->renew_at = now;
	}
	issuer_job_init(j);
	return j;
}

/* ---- failure and success ------------------------------------------------- */

/* Forget the order in progress: its challenge, hook, key and URLs. */
void
job_reset_order(struct job *j)
{
	challenge_withdraw(j);
	if (j->hook_pid > 0) {
		hook_abandon(j->a, j->hook_pid);
		j->hook_pid = 0;
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
}

static void
job_idle(struct job *j)
{
	j->state = JOB_IDLE;
	j->chal_idx = 0;
	store_lock_release(j->lock);
	j->lock = NULL;
	if (job_iss(j)->acct_job == j) {
		job_iss(j)->acct_job = NULL;
		queue_kick(j->a);	/* jobs waiting for the account */
	}
	order_gate_leave(j);
	queue_release(j);
}

void
job_fail(struct job *j, enum acme_fail cls, const char *fmt, ...)
{
	va_list	ap;
	long	delay, jit, ra = j->last_retry_after, lifetime = j->current == NULL ? 0 :
		    (long)(j->current->not_after - j->current->not_before);
	time_t	now = acme_now(j->a);
	char	tb[24];

	va_start(ap, fmt);
	vsnprintf(j->rs.last_error, sizeof(j->rs.last_error), fmt, ap);
	va_end(ap);
	job_reset_order(j);
	j->rs.failures++;
	snprintf(j->rs.fail_class, sizeof(j->rs.fail_class), "%s", acme_fail_names[cls]);
	pthread_mutex_lock(&j->a->pub_mtx);
	j->a->counters.failures[cls]++;
	pthread_mutex_unlock(&j->a->pub_mtx);
	/* Expiry safety net: say it loudly on every failed attempt. */
	if (j->current != NULL) {
		time_t	life = j->current->not_after - j->current->not_before;
		time_t	thr = life < 42 * 86400 ? life / 3 : 14 * 86400;
		if (j->current->not_after - now < thr)
			log_err("acme %s: the certificate in service expires at %s and "
			    "could not be renewed", job_name(j),
			    acme_iso(j->current->not_after, tb));
	}
	if (ra > 0)
		j->rs.retry_until = now + (ra < 7 * 86400 ? ra : 7 * 86400);
	/* Spread out: many jobs failing together must not come back together.
	 * The CA's own Retry-After, when longer, is kept as given. */
	delay = acme_sched_backoff_life(j->rs.failures, ra, j->a->cfg.retry_base, lifetime);
	jit = acme_sched_jitter(acme_sched_backoff_life(j->rs.failures, -1,
	    j->a->cfg.retry_base, lifetime), acme_rnd());
	if (jit > delay)
		delay = jit;
	delay = issuer_after_fail(j, cls, ra, delay);	/* the next CA? */
	log_err("acme %s: attempt %d failed: %s (%s); next try in %lds%s", job_name(j),
	    j->rs.failures, j->rs.last_error, acme_fail_names[cls], delay,
	    j->current ? "; the current certificate keeps serving" : "");
	job_idle(j);
	j->renew_at = now + delay;
	job_save(j);
	evtimer_del(j->timer);
	job_timer_in(j, delay);
	demand_report(j, 0);
	j->urgent = 0;
}

/* The new certificate is in the store (and so on its way to service). */
void
job_installed(struct job *j, struct certfile *cf)
{
	time_t	now = acme_now(j->a), floor = j->a->cfg.retry_base;
	char	b1[24], b2[24];

	log_notice("acme %s: new %s certificate, valid until %s (%s)", job_name(j),
	    certfile_keytype_names[j->kt], acme_iso(cf->not_after, b1), cf->sha256);
	certfile_unref(j->current);
	j->current = certfile_ref(cf);
	j->rs.last_success = now;
	j->rs.last_error[0] = j->rs.fail_class[0] = j->rs.replaces[0] = '\0';
	j->rs.ari_start = j->rs.ari_end = j->rs.ari_next = 0;
	j->no_replaces = 0;
	j->rs.retry_until = 0;
	issuer_installed(j);
	j->renew_at = acme_sched_renew_at(cf->not_before, cf->not_after, 0, 0, acme_rnd());
	if (j->renew_at <= now + floor) {
		/*
		 * Due already (clock skew, or a lifetime too short for us): a
		 * success must not reset the back-off, or we would order again
		 * at once, and again.
		 */
		j->rs.failures++;
		j->renew_at = now + acme_sched_backoff(j->rs.failures, -1, floor);
		log_err("acme %s: the new certificate (valid %s to %s) is already due "
		    "for renewal; clock skew or a very short lifetime? Next order in "
		    "%lds", job_name(j), acme_iso(cf->not_before, b1),
		    acme_iso(cf->not_after, b2), (long)(j->renew_at - now));
	} else
		j->rs.failures = 0;
	pthread_mutex_lock(&j->a->pub_mtx);
	j->a->counters.successes++;
	j->a->counters.last_success = now;
	pthread_mutex_unlock(&j->a->pub_mtx);
	job_reset_order(j);
	job_idle(j);
	job_schedule(j);
	demand_report(j, 1);
	j->urgent = 0;
}

/* ---- the schedule -------------------------------------------------------- */

/* The earliest time the job may order: its schedule, the CA's Retry-After,
 * and, for a renewal, the floor after the last order (which an operator's
 * forced renewal skips; the CA's Retry-After it does not). A site with no
 * usable certificate is only held back by failures and Retry-After. */
time_t
job_due(const struct job *j)
{
	time_t t = j->renew_at;

	if (j->rs.retry_until > t)
		t = j->rs.retry_until;
	if (!j->forced && j->current != NULL && j->rs.last_order > 0 &&
	    j->rs.last_order + j->a->cfg.retry_base > t)
		t = j->rs.last_order + j->a->cfg.retry_base;
	return t;
}

/* Arm the job's timer for its next event: ARI check or order. */
void
job_schedule(struct job *j)
{
	time_t now = acme_now(j->a), next;

	if (j->state != JOB_IDLE || !j->a->dir_ok)
		return;
	profile_check(j);	/* logs an unknown profile once; job_start refuses */
	if (j->current != NULL && j->renew_at == 0)
		j->renew_at = acme_sched_renew_at(j->current->not_before,
		    j->current->not_after, j->rs.ari_start, j->rs.ari_end, acme_rnd());
	next = job_due(j);
	if (j->current != NULL && job_ari_url(j) != NULL && j->rs.ari_next < next &&
	    j->current->not_after > now)
		next = j->rs.ari_next;
	evtimer_del(j->timer);
	job_timer_in(j, next > now ? (long)(next - now) : 0);
	job_save(j);
}

static void
on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	struct job	*j = arg;
	time_t		 now = acme_now(j->a);

	switch (j->state) {
	case JOB_HOOK:
		hook_check(j);
		return;
	case JOB_SETTLE:
		challenge_settle(j);
		return;
	case JOB_CHALLENGE:
		poll_authz(j);
		return;
	case JOB_FINALIZE:
		poll_order(j);
		return;
	case JOB_ORDER:
		if (j->a->order_job == j && !j->inflight)
			step_order(j);	/* its newOrder turn came */
		return;
	case JOB_IDLE:
		break;
	default:
		return;		/* a request is out; its answer moves the job */
	}
	if (j->current != NULL && job_ari_url(j) != NULL && now >= j->rs.ari_next &&
	    now < j->renew_at && j->current->not_after > now) {
		step_ari(j);
		return;
	}
	if (now >= job_due(j))
		queue_submit(j);
	else
		job_schedule(j);
}

void
job_start(struct job *j)
{
	if (!j->a->dir_ok || j->state != JOB_IDLE)
		return;
	/*
	 * One order per site at a time: the ECDSA and RSA orders of a site
	 * validate the same names, and a name has one TLS-ALPN-01 certificate
	 * and one TXT record slot. The sibling waits for its turn.
	 */
	for (size_t i = 0; i < j->a->njobs; i++)
		if (j->a->jobs[i] != j && strcmp(job_name(j->a->jobs[i]), job_name(j)) == 0 &&
		    j->a->jobs[i]->state != JOB_IDLE) {
			job_timer_in(j, 2);
			return;
		}
	if (storegate_wait(j) || issuer_round_begin(j) == -1 ||
	    job_wait_for_account(j) || issuer_ready(j) == -1)
		return;
	if (profile_check(j) == -1) {
		char why[sizeof(j->rs.last_error)];

		snprintf(why, sizeof(why), "%s", j->rs.last_error);
		job_fail(j, ACME_FAIL_OTHER, "%s", why);
		return;
	}
	if (lock_take_or_wait(j) == -1)
		return;
	if (job_adopt_stored(j))
		return;
	evtimer_del(j->timer);
	queue_take(j);
	j->forced = 0;
	j->last_retry_after = -1;
	pthread_mutex_lock(&j->a->pub_mtx);
	j->a->counters.attempts++;
	pthread_mutex_unlock(&j->a->pub_mtx);
	/*
	 * "replaces" (ARI) names the certificate in service, unless the CA
	 * refused it for this certificate already (alreadyReplaced, or an
	 * account change: acme_post.c), or the certificate has expired: ARI
	 * schedules a replacement before expiry, and past it a CA may refuse
	 * or mishandle the certID (caddy#7843); the order goes out plainly.
	 */
	if (j->current != NULL && j->current->not_after <= acme_now(j->a))
		j->rs.replaces[0] = '\0';
	else if (j->current != NULL && job_ari_url(j) != NULL && !j->no_replaces &&
	    job_cert_iss(j) == job_iss(j) && j->rs.replaces[0] == '\0') {
		char *id = ari_cert_id(j->current);
		if (id != NULL)
			snprintf(j->rs.replaces, sizeof(j->rs.replaces), "%s", id);
		free(id);
	}
	log_notice("acme %s: %s %s certificate for %zu name(s) via %s%s%s",
	    job_name(j), j->current ? "renewing" : "ordering",
	    certfile_keytype_names[j->kt], j->site->nnames,
	    j->site->challenges[j->chal_idx], j->a->niss > 1 ? " from " : "",
	    j->a->niss > 1 ? job_iss(j)->directory : "");
	if (job_iss(j)->acct_url == NULL)
		step_account(j);
	else
		step_order(j);
}

/* ---- jobs come and go ------------------------------------------------------ */

static void
job_destroy(struct job *j)
{
	queue_drop(j);
	order_gate_leave(j);
	if (j->slot)
		j->a->nslots--;
	job_reset_order(j);
	store_lock_release(j->lock);
	certfile_unref(j->current);
	event_free(j->timer);
	site_clear(j->site);
	free(j->site);
	j->magic = 0;
	free(j);
}

/* Called by a response handler first: 1 if the job was dropped meanwhile. */
int
job_gone(struct job *j)
{
	struct acme *a = j->a;

	j->inflight = 0;
	if (!j->removed)
		return 0;
	for (size_t i = 0; i < a->nzombies; i++)
		if (a->zombies[i] == j) {
			a->zombies[i] = a->zombies[--a->nzombies];
			break;
		}
	job_destroy(j);
	return 1;
}

/* A reload dropped j: end it now, or when its request comes back. */
static void
job_remove(struct job *j)
{
	struct acme *a = j->a;

	evtimer_del(j->timer);
	queue_drop(j);
	if (j->state != JOB_IDLE)
		log_notice("acme %s: %s order abandoned (site removed or changed)",
		    job_name(j), certfile_keytype_names[j->kt]);
	job_reset_order(j);
	job_idle(j);
	if (job_iss(j)->acct_job == j)
		job_iss(j)->acct_job = NULL;
	if (j->inflight) {
		j->removed = 1;		/* job_gone frees it */
		a->zombies = xrealloc(a->zombies, (a->nzombies + 1) * sizeof(*a->zombies));
		a->zombies[a->nzombies++] = j;
	} else
		job_destroy(j);
}

void
job_add(struct acme *a, struct job *j)
{
	j->idx = a->njobs;
	a->jobs = xrealloc(a->jobs, (a->njobs + 1) * sizeof(*a->jobs));
	a->jobs[a->njobs++] = j;
}

static const struct acme_site_cfg *
find_site(const struct acme_site_cfg *sites, size_t n, const char *label)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(sites[i].label, label) == 0)
			return &sites[i];
	return NULL;
}

struct job *
find_job(struct acme *a, const char *label, enum certfile_keytype kt)
{
	for (size_t i = 0; i < a->njobs; i++)
		if (a->jobs[i]->kt == kt && strcmp(job_name(a->jobs[i]), label) == 0)
			return a->jobs[i];
	return NULL;
}

/* Take a->jobs[i] out of the list and end it (publish_all afterwards). */
void
job_remove_at(struct acme *a, size_t i)
{
	struct job *j = a->jobs[i];

	memmove(&a->jobs[i], &a->jobs[i + 1], (a->njobs - i - 1) * sizeof(*a->jobs));
	a->njobs--;
	job_remove(j);
}

/* Make the job list match sites: keep, drop, add. */
static void
apply_sites(struct acme *a, const struct acme_site_cfg *sites, size_t n)
{
	size_t kept = 0, added = 0, dropped = 0;

	for (size_t i = 0; i < a->njobs; ) {
		struct job			*j = a->jobs[i];
		const struct acme_site_cfg	*s = find_site(sites, n, job_name(j));

		/* On-demand jobs are not in the site list: they stay, unless a
		 * configured site takes their name over. */
		if (j->ondemand && s == NULL) {
			i++;
			continue;
		}
		if (j->ondemand) {	/* now configured: an ordinary job */
			if (j->queued || j->slot)
				atomic_fetch_sub(&a->demand_busy, 1);
			j->ondemand = 0;
		}
		if (s != NULL && site_same(s, j->site) && (j->kt == CERTFILE_EC || s->rsa)) {
			kept++;
			i++;
			continue;
		}
		job_remove_at(a, i);
		dropped++;
	}
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < (sites[i].rsa ? 2 : 1); k++) {
			enum certfile_keytype kt = k == 0 ? CERTFILE_EC : CERTFILE_RSA;
			struct job *j;

			if (find_job(a, sites[i].label, kt) != NULL)
				continue;
			j = job_new(a, &sites[i], kt);
			job_add(a, j);
			added++;
			job_schedule(j);	/* waits for the directory if need be */
		}
	publish_all(a);
	if (a->started)
		log_notice("acme: reload: %zu job(s) kept, %zu started, %zu ended",
		    kept, added, dropped);
}

static void
on_update(evutil_socket_t fd, short what, void *arg)
{
	struct acme		*a = arg;
	struct acme_site_cfg	*sites;
	size_t			 n;

	pthread_mutex_lock(&a->pub_mtx);
	sites = a->pending;
	n = a->npending;
	a->pending = NULL;
	a->npending = 0;
	a->has_pending = 0;
	pthread_mutex_unlock(&a->pub_mtx);
	if (sites == NULL)
		return;
	apply_sites(a, sites, n);
	for (size_t i = 0; i < n; i++)
		site_clear(&sites[i]);
	free(sites);
}

void
acme_update(struct acme *a, const struct acme_site_cfg *sites, size_t nsites)
{
	struct acme_site_cfg *copy = xcalloc(nsites + 1, sizeof(*copy));

	if (a == NULL) {
		free(copy);
		return;
	}
	for (size_t i = 0; i < nsites; i++)
		site_copy(&copy[i], &sites[i]);
	pthread_mutex_lock(&a->pub_mtx);
	if (a->pending != NULL) {
		for (size_t i = 0; i < a->npending; i++)
			site_clear(&a->pending[i]);
		free(a->pending);
	}
	a->pending = copy;
	a->npending = nsites;
	a->has_pending = 1;
	pthread_mutex_unlock(&a->pub_mtx);
	event_active(a->update_ev, EV_TIMEOUT, 0);
}

/* ---- commands ------------------------------------------------------------ */

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct acme	*a = arg;
	time_t		 now = acme_now(a);
	char		 tb[24], **req;
	size_t		 nreq;
	int		 all;

	pthread_mutex_lock(&a->pub_mtx);
	req = a->renew_req;
	nreq = a->nrenew_req;
	all = a->renew_all;
	a->renew_req = NULL;
	a->nrenew_req = 0;
	a->renew_all = 0;
	pthread_mutex_unlock(&a->pub_mtx);
	for (size_t i = 0; i < a->njobs; i++) {
		struct job	*j = a->jobs[i];
		int		 want = all;

		for (size_t k = 0; k < nreq && !want; k++)
			want = strcmp(req[k], job_name(j)) == 0;
		if (!want)
			continue;
		if (j->state != JOB_IDLE) {
			log_notice("acme %s: renewal requested; an order is already "
			    "running", job_name(j));
			continue;
		}
		j->rs.failures = 0;
		j->renew_at = now;
		j->forced = 1;
		if (j->rs.retry_until > now)
			log_warnx("acme %s: renewal forced, but the CA asked us to "
			    "wait until %s; ordering then", job_name(j),
			    acme_iso(j->rs.retry_until, tb));
		else
			log_notice("acme %s: renewal forced", job_name(j));
		job_schedule(j);
	}
	free_strv(req, nreq);
}

void
acme_renew(struct acme *a, const char *label)
{
	if (a == NULL)
		return;
	/* The job list belongs to the ACME thread: hand the request over. */
	pthread_mutex_lock(&a->pub_mtx);
	if (label == NULL)
		a->renew_all = 1;
	else {
		a->renew_req = xrealloc(a->renew_req, (a->nrenew_req + 1) * sizeof(char *));
		a->renew_req[a->nrenew_req++] = xstrdup(label);
	}
	pthread_mutex_unlock(&a->pub_mtx);
	event_active(a->kick, EV_TIMEOUT, 0);
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

	issuers_fetch(a);
	/* Kept running with no job at all: on-demand jobs may come later. */
	event_base_loop(a->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static char *
dupn(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct acme *
acme_start(const struct acme_cfg *cfg, struct store *store,
    const struct acme_site_cfg *sites, size_t nsites, struct errbuf *eb)
{
	struct acme *a = xcalloc(1, sizeof(*a));

	a->cfg.directory = a->s_dir = xstrdup(cfg->nissuers > 0 &&
	    cfg->issuers[0].directory != NULL ? cfg->issuers[0].directory :
	    cfg->directory ? cfg->directory : ACME_LETSENCRYPT);
	a->cfg.email = a->s_email = dupn(cfg->email);
	a->cfg.ca_file = a->s_ca = dupn(cfg->ca_file);
	a->cfg.eab_kid = a->s_kid = dupn(cfg->eab_kid);
	a->cfg.eab_hmac = a->s_hmac = dupn(cfg->eab_hmac);
	a->cfg.dns_hook = a->s_hook = dupn(cfg->dns_hook);
	a->cfg.preferred_chain = a->s_chain = dupn(cfg->preferred_chain);
	a->cfg.profile = a->s_profile = dupn(cfg->profile);
	a->cfg.retry_base = cfg->retry_base > 0 ? cfg->retry_base : 60;
	a->cfg.on_demand_result = cfg->on_demand_result;
	a->cfg.on_demand_arg = cfg->on_demand_arg;
	a->clock = cfg->clock;
	pthread_mutex_init(&a->pub_mtx, NULL);
	a->store = store;
	if ((a->base = event_base_new()) == NULL) {
		errbuf_set(eb, "event_base_new failed");
		goto fail;
	}
	a->tr = cfg->transport != NULL ? *cfg->transport : acme_curl_transport;
	if (issuers_init(a, cfg, eb) == -1)	/* each CA and its account */
		goto fail;
	a->kick = event_new(a->base, -1, 0, on_kick, a);
	a->stop_ev = event_new(a->base, -1, 0, on_stop, a);
	a->update_ev = event_new(a->base, -1, 0, on_update, a);
	a->reap_ev = evtimer_new(a->base, acme_on_reap, a);
	queue_init(a, cfg->max_concurrent_orders);
	demand_init(a);
	lockkeep_start(a);
	apply_sites(a, sites, nsites);
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
	for (size_t i = 0; i < a->njobs; i++)
		job_destroy(a->jobs[i]);
	free(a->jobs);
	/* Jobs dropped by a reload with a request still out. */
	for (size_t i = 0; i < a->nzombies; i++)
		job_destroy(a->zombies[i]);
	free(a->zombies);
	hook_reap_all(a);
	persist_free(a);
	demand_free(a);
	queue_free(a);
	lockkeep_stop(a);
	if (a->pending != NULL) {
		for (size_t i = 0; i < a->npending; i++)
			site_clear(&a->pending[i]);
		free(a->pending);
	}
	free_strv(a->renew_req, a->nrenew_req);
	free(a->pub);
	pthread_mutex_destroy(&a->pub_mtx);
	issuers_free(a);
	if (a->kick) event_free(a->kick);
	if (a->stop_ev) event_free(a->stop_ev);
	if (a->update_ev) event_free(a->update_ev);
	if (a->reap_ev) event_free(a->reap_ev);
	if (a->base) event_base_free(a->base);
	free(a->s_dir); free(a->s_email); free(a->s_ca);
	free(a->s_kid); free(a->s_hmac); free(a->s_hook); free(a->s_chain);
	free(a->s_profile);
	free(a);
}

size_t
acme_status(struct acme *a, struct acme_cert_status *out, size_t max)
{
	size_t n;

	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->pub_mtx);
	n = a->npub < max ? a->npub : max;
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
