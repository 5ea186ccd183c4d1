/*
 * acme_int.h - the ACME client's insides, shared by its files (one per
 * step). Everything here runs on the ACME thread, except what acme.h says
 * is thread-safe.
 *
 *   acme.c          lifecycle, jobs, reload diff, schedule, persistence
 *   acme_post.c     directory, nonces, signed POSTs, problem documents
 *   acme_account.c  the account
 *   acme_order.c    newOrder, authorizations, challenges, polling
 *   acme_hook.c     the dns-01 hook's processes, never waited for
 *   acme_finalize.c key, CSR, finalize, order polling
 *   acme_chain.c    download, issuers (rel="up"), alternate chains, install
 *   acme_ari.c      ARI certID and renewalInfo
 *   acme_queue.c    the cap on concurrent orders and the queue of due jobs
 *   acme_demand.c   on-demand jobs (acme_demand, acme_forget)
 *   acme_profile.c  ACME profiles: the directory's list, the order's choice
 *   acme_lockkeep.c keeps the store locks of running orders alive
 *   acme_issuer.c   the CAs of acme.issuers, each with its account, and
 *                   the fallback from one to the next
 *   acme_storegate.c no order while the store is unreachable
 *   acme_persist.c  dns-persist-01: the standing record and its answer
 */
#ifndef TLSGATE_ACME_INT_H
#define TLSGATE_ACME_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include <event2/util.h>
#include <jansson.h>
#include <openssl/base.h>

#include "acme.h"
#include "acme_http.h"
#include "certfile.h"
#include "store.h"

#define JOB_MAGIC		0x6a6f6221u
#define ACME_MAX_POLLS		120
#define ACME_MAX_BADNONCE	10
#define ACME_ARI_RECHECK	(6 * 3600)	/* "at least twice a day" */
#define ACME_LOCK_TTL		30	/* refreshed every third (acme_lockkeep.c) */
#define ACME_NONCE_POOL		16	/* spare nonces kept, newest first */
#define ACME_STORE_WAIT		2	/* s between looks at an unreachable store */

struct job;
struct demand_op;
struct persist_pub;

/*
 * One CA of acme.issuers (acme_issuer.c): its directory, its account (kept
 * in acct_store) and its own connections and nonces. a->iss[0] is the CA
 * of the store the certificates live in.
 */
struct acme_iss {
	struct acme		*a;
	size_t			 idx;
	char			*directory, *email, *ca_file, *eab_kid, *eab_hmac,
				*profile;
	struct store		*acct_store;	/* owned unless it is a->store */
	void			*http;		/* a->tr's, for this CA */
	EVP_PKEY		*acct_key;
	char			*thumbprint, *acct_url;
	struct job		*acct_job;	/* the one job registering, or NULL */
	char			*nonces[ACME_NONCE_POOL];	/* newest last */
	size_t			 nnonces;
	int			 dir_ok, dir_attempts;
	char			*u_nonce, *u_account, *u_order, *u_ari;
	json_t			*profiles;	/* meta.profiles; NULL: none */
	struct event		*dir_timer;
	char			 dir_err[160];	/* why the directory is not loaded */
};
typedef void job_resp_fn(struct job *, const struct acme_http_resp *);

/* Where a job is; every state but IDLE has a request, a poll or a hook out. */
enum job_state {
	JOB_IDLE,		/* waiting for its timer: renewal, retry, ARI */
	JOB_ACCOUNT,		/* newAccount */
	JOB_ORDER,		/* newOrder */
	JOB_AUTHZ,		/* fetching an authorization */
	JOB_HOOK,		/* the dns-01 hook sets the TXT record */
	JOB_CHALLENGE,		/* challenge answered: polling the authorization */
	JOB_FINALIZE,		/* finalize sent: polling the order */
	JOB_DOWNLOAD,		/* chain, issuers, alternates */
	JOB_ARI,		/* renewalInfo */
	JOB_SETTLE,		/* challenge published: waiting for every member's
				   acknowledgement (acme_order.c) */
	JOB__MAX
};
extern const char *const job_state_names[JOB__MAX];

struct job {
	uint32_t		 magic;
	struct acme		*a;
	struct acme_site_cfg	*site;		/* owned: a deep copy */
	enum certfile_keytype	 kt;
	enum job_state		 state;
	int			 removed;	/* dropped by a reload: free when idle */
	int			 inflight;	/* an HTTP request is out */
	int			 forced;	/* by the operator: no floor */
	int			 ondemand;	/* made by acme_demand */
	int			 urgent;	/* a handshake waits: queue first */
	int			 queued;	/* on a->q_urgent or a->q_renew */
	int			 slot;		/* holds an order slot */
	size_t			 idx;		/* in a->jobs (a hint) */
	TAILQ_ENTRY(job)	 qentry;
	int			 gated;		/* waiting for its newOrder turn */
	TAILQ_ENTRY(job)	 gentry;
	struct event		*timer;
	int			 chal_idx;	/* index into site->challenges */
	int			 polls, nonce_retries;
	/* the order in progress */
	char			*order_url, *finalize_url, *cert_url;
	char			**authz;
	size_t			 nauthz, authz_i;
	char			*chal_url, *chal_token, *chal_ident, *chal_type;
	char			*chal_key;	/* the store key of the challenge */
	char			*dns_value;
	pid_t			 hook_pid;
	time_t			 hook_deadline;
	struct store_lock	*lock;		/* while ordering */
	int			 lock_lost;	/* told once (acme_lockkeep.c) */
	int			 lock_waiting;	/* another holds the lock: since */
	time_t			 lock_wait_t0;
	long long		 settle_from_ms;	/* JOB_SETTLE's start */
	EVP_PKEY		*key;
	char			*key_pem;
	char			**alternates;
	size_t			 nalternates, alt_i;
	char			*best_chain;
	/* the pending request, for badNonce retries */
	char			*req_url, *req_payload;
	int			 req_jwk;
	job_resp_fn		*req_fn;
	long			 last_retry_after;	/* of the last response */
	/* the certificate in service and its persistent schedule */
	struct certfile		*current;
	time_t			 renew_at;	/* = store_renewal.next_attempt */
	struct store_renewal	 rs;		/* the rest, as stored */
	struct store_renewal	 saved;		/* what the store has (if saved_ok) */
	const struct certfile	*saved_cur;	/* ... with this certificate */
	int			 saved_ok;
	int			 no_replaces;	/* the CA refused "replaces" for
						 * the certificate in service */
	int			 profile_bad;	/* its profile is not offered:
						 * no order (logged once) */
	size_t			 iss;		/* a->iss[] the orders go to */
	time_t			 iss_until[ACME_MAX_ISSUERS];	/* each CA's
						 * Retry-After (this run; the
						 * one of rs.rl_issuer is kept
						 * in rs.rl_until) */
};

struct acme {
	pthread_mutex_t		 pub_mtx;	/* guards pub, npub, counters */
	struct acme_cert_status	*pub;
	size_t			 npub;
	struct acme_counters	 counters;
	struct event_base	*base;
	pthread_t		 thread;
	int			 started;
	struct acme_transport	 tr;
	struct store		*store;		/* borrowed from the caller */
	struct acme_cfg		 cfg;		/* strings owned below */
	char			*s_dir, *s_email, *s_ca, *s_kid, *s_hmac,
				*s_hook, *s_chain, *s_profile;
	time_t			 (*clock)(void);
	/* the CAs (acme_issuer.c) */
	struct acme_iss		*iss;
	size_t			 niss;
	int			 fb_failures;	/* acme_issuer_rule */
	long			 fb_retry_after;
	int			 dir_ok;	/* jobs may start: a directory
						 * loaded (or, with fallback CAs,
						 * one was tried) */
	struct event		*kick, *stop_ev, *update_ev, *reap_ev;
	struct event		*lockkeep_ev;	/* acme_lockkeep.c */
	int			 store_waiting;	/* acme_storegate.c: said so */
	struct job		**jobs;
	size_t			 njobs;
	/* a reload's new site list, handed over under pub_mtx */
	struct acme_site_cfg	*pending;
	size_t			 npending;
	int			 has_pending;
	/* renewals asked for from other threads, under pub_mtx */
	char			**renew_req;
	size_t			  nrenew_req;
	int			  renew_all;
	/* jobs a reload dropped while a request was out */
	struct job		**zombies;
	size_t			  nzombies;
	/* the order cap and queue (acme_queue.c) */
	unsigned		 max_orders, nslots;
	TAILQ_HEAD(, job)	 q_urgent, q_renew;
	size_t			 nqueued;
	struct event		*queue_ev;
	struct job		*order_job;	/* the one newOrder out */
	TAILQ_HEAD(, job)	 order_wait;	/* jobs waiting to send theirs */
	atomic_uint		 demand_busy;	/* on-demand jobs queued or ordering */
	/* on-demand requests from other threads, under pub_mtx */
	struct demand_op	*dem_req;
	size_t			 ndem_req;
	struct event		*demand_ev;
	/* hook processes being reaped */
	pid_t			*reap;
	time_t			*reap_kill;
	size_t			 nreap;
	struct persist_pub	*persist;	/* dns-persist-01 records the
						 * hook published (acme_persist.c) */
};

/* acme.c */
time_t	acme_now(const struct acme *);
double	acme_rnd(void);		/* uniform in [0, 1) */
const char *job_name(const struct job *);
void	job_fail(struct job *, enum acme_fail, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	job_schedule(struct job *);
void	job_save(struct job *);
void	job_timer_in(struct job *, long secs);
void	job_poll_later(struct job *);
void	job_reset_order(struct job *);
void	job_installed(struct job *, struct certfile *);
void	job_start(struct job *);
time_t	job_due(const struct job *);
void	job_add(struct acme *, struct job *);
struct job *job_new(struct acme *, const struct acme_site_cfg *, enum certfile_keytype);
struct job *find_job(struct acme *, const char *label, enum certfile_keytype);
void	job_remove_at(struct acme *, size_t i);
void	publish_all(struct acme *);
void	site_copy(struct acme_site_cfg *, const struct acme_site_cfg *);
void	site_clear(struct acme_site_cfg *);
int	job_has_valid_cert(const struct job *);
const char *acme_iso(time_t, char buf[24]);
void	free_strv(char **, size_t);
int	job_gone(struct job *);

/* acme_post.c */
extern const struct acme_transport acme_curl_transport;
void	nonce_put(struct acme_iss *, const char *);
char	*nonce_take(struct acme_iss *);	/* the newest spare nonce, or NULL */
void	nonce_clear(struct acme_iss *);
void	acme_fetch_directory(struct acme_iss *);
void	acme_on_dir_timer(evutil_socket_t, short, void *);
void	job_post(struct job *, const char *url, const char *payload, int use_jwk,
	    job_resp_fn *fn);
int	job_get(struct job *, const char *url, acme_transport_done *fn);
json_t	*body_json(struct job *, const struct acme_http_resp *, const char *what);

/* acme_account.c */
void	step_account(struct job *);
int	job_wait_for_account(struct job *);

/* acme_order.c */
int	parse_order(struct job *, json_t *, const char **status);
void	step_order(struct job *);
void	step_authz(struct job *);
void	poll_authz(struct job *);
void	on_order(struct job *, const struct acme_http_resp *);
void	challenge_answer(struct job *);
void	challenge_settle(struct job *);
void	challenge_withdraw(struct job *);

/* acme_hook.c */
int	hook_spawn(struct job *, const char *verb);
void	hook_check(struct job *);
void	hook_abandon(struct acme *, pid_t);
void	acme_on_reap(evutil_socket_t, short, void *);
void	hook_reap_all(struct acme *);

/* acme_finalize.c */
void	step_finalize(struct job *);
void	poll_order(struct job *);

/* acme_chain.c */
void	step_download(struct job *);

/* acme_demand.c */
void	demand_init(struct acme *);
/* acme_lockkeep.c: refresh held store locks (ACME thread's base). */
void	lockkeep_start(struct acme *);
void	lockkeep_stop(struct acme *);
/* acme_lockkeep.c: take the name's store lock and have the store keep it
 * (NULL j->lock and eb set when another holder has it or on error); take
 * it again after its lease lapsed: 0 when it is ours again, else -1. */
int	lock_take(struct job *, struct errbuf *eb);
/* job_start's take: 0 when taken; -1 when not, and the job looks again
 * after retry_base (a wait logged at notice once, then at debug, and its
 * end at info). */
int	lock_take_or_wait(struct job *);
/* Under the lock, before ordering: 1 if a certificate another node stored
 * was adopted, or the store could not be asked (the job waits); 0: order. */
int	job_adopt_stored(struct job *);
int	lock_retake(struct job *);
/* acme_storegate.c: 1 if the store is unreachable (j waits; logged once). */
int	storegate_wait(struct job *);
void	demand_free(struct acme *);
void	demand_report(struct job *, int ok);	/* on_demand_result for j */

/* acme_profile.c */
const char *job_profile(const struct job *);	/* NULL: the CA's default */
void	profile_directory(struct acme_iss *, json_t *meta);
int	profile_check(struct job *);	/* 0 ok; -1 not offered (logged) */
void	profile_order(struct job *, json_t *payload);

/* acme_issuer.c */
int	issuers_init(struct acme *, const struct acme_cfg *, struct errbuf *);
void	issuers_free(struct acme *);
void	issuers_fetch(struct acme *);	/* every CA's directory */
struct acme_iss *job_iss(const struct job *);	/* where orders go */
struct acme_iss *job_cert_iss(const struct job *);	/* the CA of j->current,
							 * or NULL: not listed */
const char *job_ari_url(const struct job *);	/* its CA's renewalInfo, or NULL */
void	issuer_job_init(struct job *);	/* j->iss from j->rs */
/* Before an order: a round begins where acme_issuer_round_start says (once
 * per round, kept in rs.round_issuer); 0, or -1: that CA's Retry-After has
 * not passed (rescheduled). */
int	issuer_round_begin(struct job *);
int	issuer_ready(struct job *);	/* 0, or -1: not now (handled) */
long	issuer_after_fail(struct job *, enum acme_fail, long ra, long delay);
void	issuer_installed(struct job *);

/* acme_persist.c (acme_persist.h has the record itself) */
int	persist_is(const struct job *);	/* its challenge is dns-persist-01 */
void	persist_answer(struct job *, json_t *chal, const char *ident);
void	persist_hook_done(struct job *, int ok);	/* the set-persist hook */
void	persist_failed(struct job *);	/* the CA found no fit record */
void	persist_free(struct acme *);

/* acme_ari.c */
char	*ari_cert_id(const struct certfile *);
void	step_ari(struct job *);

#endif
