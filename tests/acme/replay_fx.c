/*
 * replay_fx.c - the fixture of the ACME client's replay tests
 * (replay_fx.h): a store in a temporary folder, a client run over scripted
 * responses, and a replayed CA that issues for the client's CSR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/base64.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "acme.h"
#include "certfile.h"
#include "errbuf.h"
#include "replay.h"
#include "store.h"
#include "b64url.h"
#include "testcert.h"
#include "replay_fx.h"

static char	 tmpl[] = "/tmp/tlsgate-replay-XXXXXX";
char	*statedir;
char	*one_name[] = { "r.test" };
char	**site_names = one_name;	/* the site run() orders for */
size_t	 site_nnames = 1;
char	*ca_cert, *ca_key;		/* the replayed CA's issuer */
void	*run_user;			/* replay.user for make() */
const char *site_profile;		/* the site's acme profile */
time_t	(*run_clock)(void);		/* acme_cfg.clock for run() */
long	 run_retry_base;		/* acme_cfg.retry_base for run() */
const struct acme_issuer_cfg *run_issuers;	/* acme_cfg.issuers for run() */
size_t	 run_nissuers;
const struct store_ops *run_ops;
int	(*run_until)(void);

/* acme_cfg.account_store: each CA's account in its own folder. */
static struct store *
fx_account_store(const char *directory, void *arg, struct errbuf *eb)
{
	return store_open_file(statedir, directory, eb);
}

static const struct replay_step prelude[] = {
	{ "GET", "/dir", 200, NULL, NULL, DIR_BODY },
	{ "HEAD", "/nonce", 200, NULL, NULL, "" },
	{ "POST", "/acct", 201, "https://ca.test/acct/1", NULL, "{\"status\": \"valid\"}" },
};

/* Run the client over steps until fn accepts the metadata, or 5 s pass. */
json_t *
run(const struct replay_step *steps, size_t n, int (*fn)(json_t *),
    struct replay *r)
{
	struct acme_site_cfg	 site;
	struct acme_cfg		 cfg;
	char			*ch[] = { "tls-alpn-01" };
	char			*path;
	struct errbuf		 eb;
	struct acme		*a;
	struct store		*st;
	json_t			*m = NULL;

	replay_init(r, steps, n);
	r->user = run_user;
	memset(&cfg, 0, sizeof(cfg));
	cfg.directory = DIR_URL;
	cfg.transport = &r->tr;
	cfg.clock = run_clock;
	cfg.retry_base = run_retry_base;
	cfg.issuers = run_issuers;
	cfg.nissuers = run_nissuers;
	cfg.account_store = fx_account_store;
	st = store_open_file(statedir, DIR_URL, &eb);
	assert_non_null(st);
	if (run_ops != NULL)
		st->ops = run_ops;
	memset(&site, 0, sizeof(site));
	site.label = "r.test";
	site.names = site_names;
	site.nnames = site_nnames;
	site.challenges = ch;
	site.nchallenges = 1;
	site.profile = site_profile;
	a = acme_start(&cfg, st, &site, 1, &eb);
	assert_non_null(a);
	if (asprintf(&path, "%s/ca.test_dir/certs/r.test/ecdsa.json", statedir) < 0)
		fail();
	for (int i = 0; i < 250; i++) {
		json_decref(m);
		m = NULL;
		if (run_until != NULL && run_until())
			break;
		if ((m = json_load_file(path, 0, NULL)) != NULL && fn(m))
			break;
		usleep(20000);
	}
	acme_stop(a);
	store_close(st);
	free(path);
	if (atomic_load(&r->mismatch))
		fail_msg("%s", r->why);
	return m;
}

int
has_error(json_t *m)
{
	return json_string_value(json_object_get(m, "last_error")) != NULL;
}

const char *
err_of(json_t *m)
{
	return json_string_value(json_object_get(m, "last_error"));
}

time_t
num(json_t *m, const char *k)
{
	return (time_t)json_integer_value(json_object_get(m, k));
}

struct replay_step *
script(const struct replay_step *tail, size_t ntail, size_t *n)
{
	size_t			 np = sizeof(prelude) / sizeof(prelude[0]);
	struct replay_step	*s = calloc(np + ntail, sizeof(*s));

	memcpy(s, prelude, sizeof(prelude));
	memcpy(s + np, tail, ntail * sizeof(*s));
	*n = np + ntail;
	return s;
}


/* ---- a replayed CA that issues for the client's CSR ------------------ */

const char *
str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

/*
 * Finalize: keep the CSR's public key, answer with a valid order. This runs
 * on the ACME thread, where cmocka cannot fail a test: a bad request leaves
 * is->pubkey NULL and an empty answer, and the test asserts afterwards.
 */
char *
on_finalize(struct replay *r, const char *req)
{
	struct issue	*is = r->user;
	json_t		*jws = json_loads(req, 0, NULL), *pay = NULL;
	uint8_t		*p = NULL, *der = NULL;
	size_t		 plen, dlen, pemlen;
	const uint8_t	*dp, *pem;
	X509_REQ	*csr = NULL;
	EVP_PKEY	*pk = NULL;
	BIO		*b;

	if (jws != NULL && (p = b64url_decode(str(jws, "payload"), &plen)) != NULL &&
	    (pay = json_loadb((const char *)p, plen, 0, NULL)) != NULL &&
	    (der = b64url_decode(str(pay, "csr"), &dlen)) != NULL) {
		dp = der;
		if ((csr = d2i_X509_REQ(NULL, &dp, (long)dlen)) != NULL &&
		    (pk = X509_REQ_get_pubkey(csr)) != NULL) {
			b = BIO_new(BIO_s_mem());
			PEM_write_bio_PUBKEY(b, pk);
			BIO_mem_contents(b, &pem, &pemlen);
			is->pubkey = strndup((const char *)pem, pemlen);
			BIO_free(b);
		}
	}
	EVP_PKEY_free(pk);
	X509_REQ_free(csr);
	free(der);
	json_decref(pay);
	free(p);
	json_decref(jws);
	if (is->pubkey == NULL)
		return strdup("");
	return strdup("{\"status\": \"valid\", \"certificate\": \"https://ca.test/cert/1\"}");
}

/* Download: a chain for that key, with the scenario's fault. */
char *
on_download(struct replay *r, const char *req)
{
	struct issue		*is = r->user;
	struct testcert_opts	 o;
	char			*cert, *chain;

	memset(&o, 0, sizeof(o));
	o.names = is->names;
	o.not_before = is->not_before;
	o.not_after = is->not_after;
	o.eku = "serverAuth";
	o.issuer_cert = ca_cert;
	o.issuer_key = ca_key;
	o.pubkey = is->pubkey;
	if (is->pubkey == NULL || testcert_issue(&o, &cert, NULL) == -1)
		return strdup("");
	if (asprintf(&chain, "%s%s", cert, ca_cert) < 0)
		chain = strdup("");
	free(cert);
	return chain;
}

/* ---- the whole happy path, with an injected clock ------------------------- */

time_t	fake_now;
long	cert_life = 90 * 86400;	/* of the certificates issue() makes */

time_t
fake_clock(void)
{
	return fake_now;
}

struct issue happy;

/* finalize: keep the CSR's key; the order is still processing. */
char *
take_csr(struct replay *r, const char *jws)
{
	free(on_finalize(r, jws));
	return strdup("{\"status\": \"processing\", \"finalize\": "
	    "\"https://ca.test/finalize/1\"}");
}

static void
watch(const struct store_event *ev, void *arg)
{
	struct seen *w = arg;

	if (ev->kind == STORE_CHANGE_CHALLENGE_PUT) {
		w->chal_put++;
		snprintf(w->chal_key, sizeof(w->chal_key), "%s", ev->key);
	} else if (ev->kind == STORE_CHANGE_CHALLENGE_DEL)
		w->chal_del++;
	else if (ev->kind == STORE_CHANGE_CERT) {
		w->certs++;
		snprintf(w->fp, sizeof(w->fp), "%s", ev->cf->sha256);
	}
}

static int
installed_meta(json_t *m)
{
	return num(m, "not_after") > 0;
}

struct demand_seen dres;

void
on_demand_result(const char *name, int ok, const char *err, time_t retry_at, void *arg)
{
	snprintf(dres.name, sizeof(dres.name), "%s", name);
	snprintf(dres.err, sizeof(dres.err), "%s", err ? err : "");
	dres.ok = ok;
	dres.retry_at = retry_at;
	atomic_fetch_add(&dres.calls, 1);
}

/*
 * Drive the client through a whole issuance; returns the stored state. With
 * demand, the client starts with no site and the name comes from
 * acme_demand, as on-demand TLS asks for it.
 */
void
issue_once_as(int demand, struct store_renewal *rs, struct seen *w, size_t *nsteps,
    size_t *answered)
{
	static const struct replay_step tail[] = {
		{ "POST", "/order", 201, "https://ca.test/order/1", NULL,
		  "{\"status\": \"pending\", \"authorizations\": [\"https://ca.test/authz/1\"], "
		  "\"finalize\": \"https://ca.test/finalize/1\"}" },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  "{\"status\": \"pending\", \"identifier\": {\"type\": \"dns\", \"value\": \"r.test\"}, "
		  "\"challenges\": [{\"type\": \"tls-alpn-01\", \"url\": \"https://ca.test/ch/1\", "
		  "\"token\": \"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\"}]}" },
		{ "POST", "/ch/1", 200, NULL, NULL, "{\"status\": \"processing\"}" },
		{ "POST", "/authz/1", 200, NULL, NULL,
		  "{\"status\": \"valid\", \"identifier\": {\"type\": \"dns\", \"value\": \"r.test\"}}" },
		{ "POST", "/finalize/1", 200, NULL, NULL, NULL, take_csr },
		{ "POST", "/order/1", 200, NULL, NULL,
		  "{\"status\": \"valid\", \"certificate\": \"https://ca.test/cert/1\"}" },
		{ "POST", "/cert/1", 200, NULL, NULL, NULL, on_download },
		/* The new certificate's first ARI check: no window offered. */
		{ "GET", "/ari/", 404, NULL, NULL, "" },
	};
	struct acme_site_cfg	 site;
	struct acme_cfg		 cfg;
	char			*names[] = { "r.test" }, *ch[] = { "tls-alpn-01" };
	struct errbuf		 eb;
	struct replay		 r;
	struct store		*st;
	struct certfile		*cf;
	struct acme		*a;
	size_t			 n;
	struct replay_step	*steps = script(tail, sizeof(tail) / sizeof(tail[0]), &n);
	char			*path;
	json_t			*m = NULL;

	memset(w, 0, sizeof(*w));
	replay_init(&r, steps, n);
	memset(&happy, 0, sizeof(happy));
	happy.names = "r.test";
	happy.not_before = fake_now - 3600;
	happy.not_after = fake_now + cert_life;
	r.user = &happy;
	memset(&cfg, 0, sizeof(cfg));
	cfg.directory = DIR_URL;
	cfg.transport = &r.tr;
	cfg.clock = fake_clock;
	cfg.on_demand_result = on_demand_result;
	memset(&dres, 0, sizeof(dres));
	memset(&site, 0, sizeof(site));
	site.label = "r.test";
	site.names = names;
	site.nnames = 1;
	site.challenges = ch;
	site.nchallenges = 1;
	st = store_open_file(statedir, DIR_URL, &eb);
	assert_non_null(st);
	store_watch(st, watch, w);
	a = acme_start(&cfg, st, &site, demand ? 0 : 1, &eb);
	assert_non_null(a);
	if (demand) {
		struct acme_cert_status cs[4];

		assert_int_equal(acme_demand(a, &site), 0);
		assert_true(acme_demand_pending(a) >= 1);
		/* A reload without the name keeps the on-demand job. */
		acme_update(a, NULL, 0);
		for (int i = 0; i < 250 && acme_status(a, cs, 4) == 0; i++)
			usleep(20000);
		assert_int_equal(acme_status(a, cs, 4), 1);
		assert_string_equal(cs[0].label, "r.test");
		assert_int_equal(cs[0].on_demand, 1);
	}
	assert_true(asprintf(&path, "%s/ca.test_dir/certs/r.test/ecdsa.json", statedir) > 0);
	for (int i = 0; i < 500 && !(m != NULL && installed_meta(m) &&
	    num(m, "ari_next") > 0); i++) {
		json_decref(m);
		m = json_load_file(path, 0, NULL);
		usleep(20000);
	}
	if (demand) {
		for (int i = 0; i < 250 && atomic_load(&dres.calls) == 0; i++)
			usleep(20000);
		assert_int_equal(acme_demand_pending(a), 0);
	}
	acme_stop(a);
	if (atomic_load(&r.mismatch))
		fail_msg("%s", r.why);
	/* Only on-demand jobs report, once per attempt. */
	assert_int_equal(atomic_load(&dres.calls), demand ? 1 : 0);
	if (demand) {
		assert_int_equal(dres.ok, 1);
		assert_string_equal(dres.name, "r.test");
	}
	*nsteps = n;
	*answered = atomic_load(&r.i);
	/* The certificate is in the store, and the feed announced it. */
	cf = store_cert_get(st, "r.test", CERTFILE_EC, &eb);
	assert_non_null(cf);
	assert_int_equal(w->certs, 1);
	assert_string_equal(w->fp, cf->sha256);
	assert_int_equal(cf->not_after, fake_now + cert_life);
	assert_int_equal(store_renewal_get(st, "r.test", CERTFILE_EC, rs), 0);
	assert_non_null(m);
	assert_int_equal(num(m, "not_after"), fake_now + cert_life);
	certfile_unref(cf);
	store_unwatch(st, watch, w);
	store_close(st);
	json_decref(m);
	free(path);
	free(happy.pubkey);
	free(steps);
}

void
issue_once(struct store_renewal *rs, struct seen *w, size_t *nsteps, size_t *answered)
{
	issue_once_as(0, rs, w, nsteps, answered);
}

/* acme_demand for a name with nothing stored: ordered, installed, reported. */

int
replay_fx_setup_each(void **state)
{
	char	path[600];

	site_profile = NULL;
	run_clock = NULL;
	run_retry_base = 0;
	run_user = NULL;
	run_issuers = NULL;
	run_nissuers = 0;
	run_ops = NULL;
	run_until = NULL;
	/* Each test starts with no state for the CA. */
	snprintf(path, sizeof(path), "%s/ca.test_dir", statedir);
	return testcert_rmtree(path) == 0 || access(path, F_OK) != 0 ? 0 : -1;
}

int
replay_fx_setup(void **state)
{
	struct testcert_opts ca = { .cn = "Replay CA", .ca = 1 };

	evthread_use_pthreads();
	if (testcert_issue(&ca, &ca_cert, &ca_key) == -1)
		return -1;
	statedir = mkdtemp(tmpl);
	return statedir == NULL ? -1 : 0;
}

int
replay_fx_teardown(void **state)
{
	free(ca_cert);
	free(ca_key);
	return testcert_rmtree(statedir);
}

/* ---- the newOrder payloads (replay_fx.h) ---------------------------------- */

/* The newOrder payloads the replayed CA saw, in order (written on the ACME
 * thread; read after acme_stop). */
char		*seen_orders[4];
atomic_int	 nseen_orders;

void
seen_orders_clear(void)
{
	for (int i = 0; i < 4; i++) {
		free(seen_orders[i]);
		seen_orders[i] = NULL;
	}
	atomic_store(&nseen_orders, 0);
}

/* newOrder: keep the payload; the answer is the step's own body. */
char *
record_order(struct replay *r, const char *req)
{
	json_t	*jws = json_loads(req, 0, NULL);
	uint8_t	*p = NULL;
	size_t	 plen;
	int	 i = atomic_load(&nseen_orders);

	if (jws != NULL && i < 4 &&
	    (p = b64url_decode(str(jws, "payload"), &plen)) != NULL) {
		seen_orders[i] = strndup((const char *)p, plen);
		atomic_store(&nseen_orders, i + 1);
	}
	free(p);
	json_decref(jws);
	/* Inside make(), r->i is still the index of this step. */
	return strdup(r->steps[atomic_load(&r->i)].body);
}

/* A string member of the i-th newOrder payload, new, or NULL if absent. */
char *
order_field(int i, const char *key)
{
	json_t	*o;
	char	*v = NULL;

	assert_true(i < atomic_load(&nseen_orders));
	o = json_loads(seen_orders[i], 0, NULL);
	assert_non_null(o);
	assert_non_null(json_object_get(o, "identifiers"));
	if (json_string_value(json_object_get(o, key)) != NULL)
		v = strdup(json_string_value(json_object_get(o, key)));
	json_decref(o);
	return v;
}

/* Whether the i-th newOrder payload has member key (it must have its
 * identifiers: a payload that did not parse fails the test). */
int
order_has(int i, const char *key)
{
	json_t	*o;
	int	 has;

	assert_true(i < atomic_load(&nseen_orders));
	o = json_loads(seen_orders[i], 0, NULL);
	assert_non_null(o);
	assert_non_null(json_object_get(o, "identifiers"));
	has = json_object_get(o, key) != NULL;
	json_decref(o);
	return has;
}
