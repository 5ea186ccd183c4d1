/*
 * pool.c - balancing policies over a registry of backends.
 *
 * Source hashing is weighted rendezvous (highest random weight) hashing: each
 * backend scores hash(client, backend) shaped by its weight and the highest
 * score wins. Adding or removing a backend moves only the clients whose top
 * score belongs to it, about 1/n of them, with no ring to rebuild.
 */
#include "pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <openssl/rand.h>

#include <openssl/ssl.h>

#include "errbuf.h"
#include "log.h"
#include "sockbio.h"
#include "sticky.h"
#include "xalloc.h"

const char *const lb_kind_names[LB__MAX] = {
	"round_robin", "least_conn", "source_hash", "p2c",
};

static pthread_mutex_t	 registry_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct backend	*registry;

static uint64_t
fnv64(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* splitmix64: a good 64-bit mix of a combined hash. */
static uint64_t
mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * The registry is also indexed by a hash of (site, address), so that a pool
 * of 200,000 backends is built in linear time, not by a list walk per backend.
 */
static struct backend	**registry_tab;
static size_t		  registry_mask, registry_n;

static uint64_t
registry_hash(const char *site, const char *str)
{
	return fnv64(str, strlen(str), fnv64(site, strlen(site) + 1,
	    14695981039346656037ull));
}

static void
registry_index(struct backend *b)
{
	size_t i;

	if (2 * (registry_n + 1) > (registry_tab ? registry_mask + 1 : 0)) {
		size_t		  cap = registry_tab ? 2 * (registry_mask + 1) : 256;
		struct backend	**old = registry_tab;
		size_t		  oldcap = old ? registry_mask + 1 : 0;

		registry_tab = xcalloc(cap, sizeof(*registry_tab));
		registry_mask = cap - 1;
		registry_n = 0;
		for (size_t j = 0; j < oldcap; j++)
			if (old[j] != NULL)
				registry_index(old[j]);
		free(old);
	}
	for (i = registry_hash(b->site, b->str) & registry_mask; registry_tab[i];
	    i = (i + 1) & registry_mask)
		;
	registry_tab[i] = b;
	registry_n++;
}

static struct backend *
registry_get(const char *site, const struct addr *a)
{
	struct backend	*b = NULL;
	size_t		 i;

	pthread_mutex_lock(&registry_mtx);
	for (i = registry_tab ? registry_hash(site, a->str) & registry_mask : 0;
	    registry_tab != NULL && (b = registry_tab[i]) != NULL;
	    i = (i + 1) & registry_mask)
		if (strcmp(b->site, site) == 0 && strcmp(b->str, a->str) == 0 &&
		    b->len == a->len && memcmp(&b->ss, &a->ss, a->len) == 0)
			break;
	if (b == NULL) {
		b = xcalloc(1, sizeof(*b));
		b->site = xstrdup(site);
		b->str = xstrdup(a->str);
		b->ss = a->ss;
		b->len = a->len;
		b->hash = fnv64(a->str, strlen(a->str), 14695981039346656037ull);
		pthread_mutex_init(&b->sess_mtx, NULL);
		atomic_store(&b->up, 1);
		b->next = registry;
		registry = b;
		registry_index(b);
	}
	pthread_mutex_unlock(&registry_mtx);
	return b;
}

/* A new session from a backend: keep the latest one for resumption. */
static int
pool_on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct backend *b = SSL_get_app_data(ssl);

	if (b == NULL)
		return 0;
	pthread_mutex_lock(&b->sess_mtx);
	SSL_SESSION_free(b->session);
	b->session = sess;		/* returning 1: we own the reference */
	pthread_mutex_unlock(&b->sess_mtx);
	return 1;
}

void
pool_tls_prepare(SSL *ssl, struct backend *b)
{
	SSL_set_app_data(ssl, b);
	pthread_mutex_lock(&b->sess_mtx);
	if (b->session != NULL)
		SSL_set_session(ssl, b->session);
	pthread_mutex_unlock(&b->sess_mtx);
}

/* A client context for re-encryption: TLS 1.2+, verification on by default. */
static SSL_CTX *
pool_tls_ctx(const struct backend_tls_cfg *t, struct errbuf *eb)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		errbuf_ssl(eb, "backend TLS");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (t->verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (t->ca != NULL ? !SSL_CTX_load_verify_locations(ctx, t->ca, NULL) :
		    !SSL_CTX_set_default_verify_paths(ctx)) {
			errbuf_ssl(eb, t->ca ? t->ca : "system CA store");
			SSL_CTX_free(ctx);
			return NULL;
		}
	}
	if (t->cert != NULL &&
	    (!SSL_CTX_use_certificate_chain_file(ctx, t->cert) ||
	    !SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) ||
	    !SSL_CTX_check_private_key(ctx))) {
		errbuf_ssl(eb, t->cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Resume backend sessions: re-encryption costs a full handshake only
	 * now and then. The session is verified when first made. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_sess_set_new_cb(ctx, pool_on_new_session);
	sockbio_ctx_read_ahead(ctx);
	return ctx;
}

struct pool *
pool_new(const char *site, const struct site_cfg *sc, struct errbuf *eb)
{
	SSL_CTX		*tctx = NULL;
	struct pool	*p;

	if (sc->btls.on && (tctx = pool_tls_ctx(&sc->btls, eb)) == NULL) {
		errbuf_prefix(eb, "site %s: backend_tls", site);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->tls_ctx = tctx;
	p->tls_verify = sc->btls.verify;
	p->tls_name = sc->btls.server_name ? xstrdup(sc->btls.server_name) : NULL;

	atomic_store(&p->refs, 1);
	p->site = xstrdup(site);
	p->checked = sc->health.type != 0;
	p->n = sc->nbackends;
	p->b = xcalloc(p->n + 1, sizeof(*p->b));
	p->weight = xcalloc(p->n + 1, sizeof(int));
	p->cur = xcalloc(p->n + 1, sizeof(int));
	for (size_t i = 0; i < p->n; i++) {
		p->b[i] = registry_get(site, &sc->backends[i]);
		/* Sessions made under the previous config are not resumed: the
		 * CA, name or client certificate may have changed. */
		pthread_mutex_lock(&p->b[i]->sess_mtx);
		SSL_SESSION_free(p->b[i]->session);
		p->b[i]->session = NULL;
		pthread_mutex_unlock(&p->b[i]->sess_mtx);
		p->weight[i] = sc->weights != NULL && sc->weights[i] > 0 ? sc->weights[i] : 1;
	}
	p->lb = (enum lb_kind)sc->balance;
	p->retries = sc->retries;
	p->fall = sc->health.fall > 0 ? sc->health.fall : 1;
	p->proxy_protocol = sc->proxy_protocol;
	p->h2 = sc->backend_proto == BACKEND_PROTO_H2;
	p->hc = sc->health;
	p->hc.path = sc->health.path ? xstrdup(sc->health.path) : NULL;
	p->hc.host = sc->health.host ? xstrdup(sc->health.host) : NULL;
	pthread_mutex_init(&p->mtx, NULL);
	return p;
}

struct pool *
pool_ref(struct pool *p)
{
	atomic_fetch_add(&p->refs, 1);
	return p;
}

void
pool_unref(struct pool *p)
{
	if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&p->mtx);
	free(p->hc.path);
	free(p->hc.host);
	sticky_free(p->sticky);
	SSL_CTX_free(p->tls_ctx);
	free(p->tls_name);
	free(p->site);
	free(p->b);
	free(p->weight);
	free(p->cur);
	free(p);
}

static int
usable(struct pool *p, size_t i, struct backend *const *tried, size_t ntried)
{
	struct backend *b = p->b[i];

	if (!atomic_load_explicit(&b->up, memory_order_relaxed)) {
		/* Without active checks, a passively downed backend is tried
		 * again after a hold time; with them, only a check brings it up. */
		long du = atomic_load(&b->down_until);
		if (p->checked || du == 0 || time(NULL) < du)
			return 0;
		atomic_store(&b->down_until, 0);
		atomic_store(&b->passive_fails, 0);
		atomic_store(&b->up, 1);
		log_notice("backend %s of %s: hold time over, trying it again",
		    b->str, p->site);
	}
	for (size_t k = 0; k < ntried; k++)
		if (tried[k] == p->b[i])
			return 0;
	return 1;
}

int
pool_usable(struct pool *p, size_t i)
{
	return usable(p, i, NULL, 0);
}

static uint64_t
src_hash(const struct sockaddr *src)
{
	if (src == NULL)
		return 0;
	if (src->sa_family == AF_INET)
		return fnv64(&((const struct sockaddr_in *)src)->sin_addr, 4,
		    14695981039346656037ull);
	if (src->sa_family == AF_INET6)
		return fnv64(&((const struct sockaddr_in6 *)src)->sin6_addr, 16,
		    14695981039346656037ull);
	return 0;
}

struct backend *
pool_pick(struct pool *p, const struct sockaddr *src, struct backend *const *tried,
    size_t ntried)
{
	ssize_t	best = -1;
	size_t	i;

	switch (p->lb) {
	case LB_ROUND_ROBIN: {
		/* nginx's smooth weighted round robin: exact proportions, spread. */
		int total = 0;
		pthread_mutex_lock(&p->mtx);
		for (i = 0; i < p->n; i++) {
			if (!usable(p, i, tried, ntried))
				continue;
			p->cur[i] += p->weight[i];
			total += p->weight[i];
			if (best < 0 || p->cur[i] > p->cur[best])
				best = (ssize_t)i;
		}
		if (best >= 0)
			p->cur[best] -= total;
		pthread_mutex_unlock(&p->mtx);
		break;
	}
	case LB_LEAST_CONN: {
		double bs = 0;
		for (i = 0; i < p->n; i++) {
			double s;
			if (!usable(p, i, tried, ntried))
				continue;
			s = (double)atomic_load(&p->b[i]->active) / p->weight[i];
			if (best < 0 || s < bs) {
				best = (ssize_t)i;
				bs = s;
			}
		}
		break;
	}
	case LB_SOURCE_HASH: {
		uint64_t	h = src_hash(src);
		double		bs = 0;
		for (i = 0; i < p->n; i++) {
			uint64_t	x;
			double		u, s;
			if (!usable(p, i, tried, ntried))
				continue;
			x = mix(h ^ p->b[i]->hash);
			u = ((double)(x >> 11) + 0.5) / 9007199254740992.0;	/* (0,1) */
			s = -(double)p->weight[i] / log(u);
			if (best < 0 || s > bs) {
				best = (ssize_t)i;
				bs = s;
			}
		}
		break;
	}
	case LB_P2C:
	default: {
		size_t	 cand[64], nc = 0;
		uint32_t r[2];
		for (i = 0; i < p->n && nc < 64; i++)
			if (usable(p, i, tried, ntried))
				cand[nc++] = i;
		if (nc == 0)
			break;
		RAND_bytes((uint8_t *)r, sizeof(r));
		{
			size_t a = cand[r[0] % nc], b = cand[r[1] % nc];
			double sa = (double)atomic_load(&p->b[a]->active) / p->weight[a];
			double sb = (double)atomic_load(&p->b[b]->active) / p->weight[b];
			best = (ssize_t)(sb < sa ? b : a);
		}
		break;
	}
	}
	return best < 0 ? NULL : p->b[best];
}

void
pool_connect_result(struct pool *p, struct backend *b, int ok)
{
	if (ok) {
		atomic_store(&b->passive_fails, 0);
		return;
	}
	atomic_fetch_add(&b->failures, 1);
	if (atomic_fetch_add(&b->passive_fails, 1) + 1 >= p->fall &&
	    atomic_exchange(&b->up, 0) == 1) {
		if (!p->checked)
			atomic_store(&b->down_until, (long)time(NULL) + 10);
		log_warnx("backend %s of %s is DOWN: %d connect failures in a row",
		    b->str, p->site, atomic_load(&b->passive_fails));
	}
}

/* A set of backend pointers, to ask "is b still in use" in O(1). */
struct bset {
	const struct backend	**tab;
	size_t			  mask;
};

static size_t
bset_slot(const struct bset *s, const struct backend *b)
{
	size_t i = (size_t)mix((uint64_t)(uintptr_t)b) & s->mask;

	while (s->tab[i] != NULL && s->tab[i] != b)
		i = (i + 1) & s->mask;
	return i;
}

void
pool_mark_removed(struct pool *const *old, size_t nold, struct pool *const *new,
    size_t nnew)
{
	struct bset	keep;
	size_t		n = 0, cap = 16;

	for (size_t i = 0; i < nnew; i++)
		n += new[i]->n;
	while (cap < 2 * n)
		cap <<= 1;
	keep.tab = xcalloc(cap, sizeof(*keep.tab));
	keep.mask = cap - 1;
	for (size_t i = 0; i < nnew; i++)
		for (size_t j = 0; j < new[i]->n; j++) {
			atomic_store(&new[i]->b[j]->removed_at, 0);
			keep.tab[bset_slot(&keep, new[i]->b[j])] = new[i]->b[j];
		}
	for (size_t i = 0; i < nold; i++)
		for (size_t j = 0; j < old[i]->n; j++) {
			struct backend *b = old[i]->b[j];
			if (keep.tab[bset_slot(&keep, b)] == NULL &&
			    atomic_load(&b->removed_at) == 0) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				atomic_store(&b->removed_at,
				    (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
				log_notice("backend %s of %s removed: draining its %d "
				    "connections", b->str, b->site, atomic_load(&b->active));
			}
		}
	free(keep.tab);
}
