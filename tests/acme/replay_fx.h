/*
 * replay_fx.h - the fixture shared by the ACME client's replay tests
 * (test_acme_replay.c, test_acme_edge.c): a store in a temporary folder
 * (statedir, emptied before each test), the client run over scripted
 * responses (replay.h) for one site, r.test, and a replayed CA that issues
 * for the CSR the client sends. The client runs on its own thread; what it
 * writes to the store is read back here, never asserted on its thread.
 */
#ifndef TLSGATE_REPLAY_FX_H
#define TLSGATE_REPLAY_FX_H

#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "replay.h"
#include "store.h"

#define DIR_URL "https://ca.test/dir"
#define DIR_BODY "{\"newNonce\": \"https://ca.test/nonce\", " \
    "\"newAccount\": \"https://ca.test/acct\", \"newOrder\": \"https://ca.test/order\", " \
    "\"renewalInfo\": \"https://ca.test/ari/\"}"

/* What run() orders for, and with what; replay_fx_setup_each resets them. */
extern char		*statedir;
extern char		*one_name[];
extern char		**site_names;		/* default one_name */
extern size_t		 site_nnames;
extern const char	*site_profile;		/* the site's acme profile */
extern time_t		 (*run_clock)(void);	/* acme_cfg.clock */
extern long		 run_retry_base;	/* acme_cfg.retry_base */
extern const struct acme_issuer_cfg *run_issuers;	/* acme_cfg.issuers; */
extern size_t		 run_nissuers;		/* accounts: one folder each */
extern void		*run_user;		/* replay.user for make() */
extern char		*ca_cert, *ca_key;	/* the replayed CA's issuer */
/* run(): the store's ops when set (a test's wrapper around the file
 * backend's), and a condition that ends the run besides fn. */
extern const struct store_ops *run_ops;
extern int		 (*run_until)(void);

/*
 * Run the client over steps until fn accepts r.test's ECDSA renewal state
 * (read from the store's file), or 5 s pass; the last state read (new) or
 * NULL. Fails the test if a request did not match its step.
 */
json_t	*run(const struct replay_step *steps, size_t n, int (*fn)(json_t *),
	    struct replay *r);
/* The prelude (directory, nonce, new account) then tail, as a new array. */
struct replay_step *script(const struct replay_step *tail, size_t ntail, size_t *n);
int	 has_error(json_t *m);
const char *err_of(json_t *m);		/* last_error, or NULL */
time_t	 num(json_t *m, const char *k);
const char *str(json_t *o, const char *key);	/* "" if absent */

/* What the replayed CA issues, and the CSR key it saw at finalize. */
struct issue {
	const char	*names;
	time_t		 not_before, not_after;
	char		*pubkey;	/* PEM, from the finalize request */
};
/* make() steps: finalize (keeps the CSR's key, answers valid), download (a
 * chain for that key, as r->user, a struct issue, says), and finalize that
 * answers "processing" (for the injected-clock flows, with happy). */
char	*on_finalize(struct replay *r, const char *req);
char	*on_download(struct replay *r, const char *req);
char	*take_csr(struct replay *r, const char *jws);

/* newOrder steps' make(): record_order keeps each payload (up to four, in
 * seen_orders, written on the ACME thread, read after the run) and answers
 * the step's own body. order_field: a string member of the i-th payload,
 * new, or NULL; order_has: whether it has member key. Both fail the test
 * on a payload without identifiers. */
extern char		*seen_orders[4];
extern atomic_int	 nseen_orders;
void	 seen_orders_clear(void);
char	*record_order(struct replay *r, const char *req);
char	*order_field(int i, const char *key);
int	 order_has(int i, const char *key);

/* The injected clock of the whole-issuance flows, and what they issue. */
extern time_t		 fake_now;
extern long		 cert_life;
extern struct issue	 happy;
time_t	fake_clock(void);

/* What the store's feed announced during an issuance. */
struct seen {
	int		 chal_put, chal_del, certs;
	char		 chal_key[128];
	char		 fp[65];
};
/* What on_demand_result reported (the ACME thread writes, the test reads
 * after acme_stop, or polls the count). */
struct demand_seen {
	atomic_int	 calls;
	int		 ok;
	char		 name[64], err[300];
	time_t		 retry_at;
};
extern struct demand_seen dres;
void	on_demand_result(const char *name, int ok, const char *err,
	    time_t retry_at, void *arg);

/*
 * A whole issuance for r.test under fake_now (certificates of cert_life),
 * ending with the new certificate's first ARI check (no window); rs gets
 * the stored state. With demand, the name comes from acme_demand.
 */
void	issue_once_as(int demand, struct store_renewal *rs, struct seen *w,
	    size_t *nsteps, size_t *answered);
void	issue_once(struct store_renewal *rs, struct seen *w, size_t *nsteps,
	    size_t *answered);

/* cmocka group setup and teardown, and the per-test setup. */
int	replay_fx_setup(void **state);
int	replay_fx_teardown(void **state);
int	replay_fx_setup_each(void **state);

#endif
