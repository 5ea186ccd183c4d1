/*
 * sites.c - building, looking up and publishing serving views.
 *
 * Lookups happen inside BoringSSL's select-certificate callback, once per
 * handshake, so the table is a flat open-addressing hash of lowercase names
 * (wildcards stored as "*.example.com") and a lookup costs one or two probes.
 */
#include "sites.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "certload.h"
#include "cidr.h"
#include "certfile.h"
#include "pool.h"
#include "route.h"
#include "sticky.h"
#include "stats.h"
#include "store.h"
#include "errbuf.h"
#include "ipname.h"
#include "log.h"
#include "xalloc.h"

static pthread_mutex_t	 view_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct view	*view_cur;
static atomic_uint view_config_counter;
static unsigned		 view_gen;

static uint32_t
name_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c += 32;
		h = (h ^ c) * 16777619u;
	}
	return h;
}

static struct site *
tab_get(const struct view *v, const char *name, size_t n)
{
	size_t i = name_hash(name, n) & v->tabmask;

	for (;; i = (i + 1) & v->tabmask) {
		const char *k = v->tab[i].name;
		if (k == NULL)
			return NULL;
		if (strncasecmp(k, name, n) == 0 && k[n] == '\0')
			return v->tab[i].site;
	}
}

static void
tab_put(struct view *v, const char *name, struct site *s)
{
	size_t i = name_hash(name, strlen(name)) & v->tabmask;

	while (v->tab[i].name != NULL)
		i = (i + 1) & v->tabmask;
	v->tab[i].name = name;
	v->tab[i].site = s;
}

static void
site_unref(struct site *s)
{
	if (s == NULL || atomic_fetch_sub((atomic_int *)&s->refs, 1) != 1)
		return;
	for (size_t i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
	for (size_t i = 0; i < s->nbackends; i++)
		free(s->backends[i].str);
	free(s->backends);
	free(s->alpn);
	free(s->http.hsts);
	pool_unref(s->pool);
	route_table_unref(s->routes);
	certfile_unref(s->ec);
	certfile_unref(s->rsa);
	free(s);
}

/* A view shell with a table sized for the names of sites[0..n). */
static struct view *
view_assemble(struct site **sites, size_t n, const struct limits *lim,
    const struct view_http *vh)
{
	struct view	*v = xcalloc(1, sizeof(*v));
	size_t		 names = 0, cap = 16;

	v->refs = 1;
	v->sites = sites;
	v->nsites = n;
	v->limits = *lim;
	v->http = *vh;
	if (vh->ntrusted > 0) {
		v->http.trusted = xcalloc(vh->ntrusted, sizeof(*vh->trusted));
		memcpy(v->http.trusted, vh->trusted, vh->ntrusted * sizeof(*vh->trusted));
	}
	for (size_t i = 0; i < n; i++)
		names += sites[i]->nnames;
	while (cap < names * 2)
		cap <<= 1;
	v->tab = xcalloc(cap, sizeof(*v->tab));
	v->tabmask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < sites[i]->nnames; j++) {
			tab_put(v, sites[i]->names[j], sites[i]);
			v->nipnames += ipname_is(sites[i]->names[j]);
		}
		if (sites[i]->is_default)
			v->def = sites[i];
	}
	return v;
}

/* Give s its own copies of the names and backend addresses. */
static void
site_copy_lists(struct site *s, char *const *names, size_t nnames,
    const struct addr *backends, size_t nbackends)
{
	s->names = xcalloc(nnames + 1, sizeof(char *));
	for (s->nnames = 0; s->nnames < nnames; s->nnames++)
		s->names[s->nnames] = xstrdup(names[s->nnames]);
	s->backends = xcalloc(nbackends + 1, sizeof(struct addr));
	for (s->nbackends = 0; s->nbackends < nbackends; s->nbackends++) {
		s->backends[s->nbackends] = backends[s->nbackends];
		s->backends[s->nbackends].str = xstrdup(backends[s->nbackends].str);
	}
}

static int
site_add_cert(struct site *s, struct certfile *cf, struct errbuf *eb)
{
	struct certfile **slot = cf->keytype == CERTFILE_EC ? &s->ec : &s->rsa;

	for (size_t i = 0; i < s->nnames; i++)
		if (!certfile_matches(cf, s->names[i]))
			log_warnx("site %s: certificate %s does not cover \"%s\"",
			    s->names[0], cf->subject, s->names[i]);
	certfile_unref(*slot);
	*slot = certfile_ref(cf);
	(void)eb;
	return 0;
}

void
site_http_init(struct site_http *h, const struct site_cfg *sc)
{
	h->mode = sc->mode;
	h->forwarded = sc->forwarded;
	h->max_body = sc->max_body_size;
	h->backend_max_idle = sc->backend_max_idle;
	h->backend_idle_timeout = sc->backend_idle_timeout;
	h->backend_timeout = sc->backend_timeout;
	h->tunnel_idle_timeout = sc->tunnel_idle_timeout;
	if (sc->hsts_max_age > 0)
		h->hsts = xasprintf("max-age=%ld%s%s", sc->hsts_max_age,
		    sc->hsts_subdomains ? "; includeSubDomains" : "",
		    sc->hsts_preload ? "; preload" : "");
}

static void
view_http_from(struct view_http *vh, const struct config *c)
{
	vh->trusted = c->trusted_proxies;
	vh->ntrusted = c->ntrusted_proxies;
	vh->access_log = c->access_log;
	vh->header_timeout = c->limits.header_timeout;
	vh->keepalive_timeout = c->limits.keepalive_timeout;
	vh->body_timeout = c->limits.body_timeout;
	vh->max_header_size = c->limits.max_header_size;
	vh->max_headers = c->limits.max_headers;
	vh->max_uri = c->limits.max_uri_length;
	vh->h2_max_streams = c->limits.h2_max_streams;
}

/* The ALPN list of an HTTP-mode site. */
static void
site_http_alpn(struct site *s, int h2)
{
	static const uint8_t both[] = "\x02h2\x08http/1.1", h1[] = "\x08http/1.1";

	s->alpn_len = h2 ? sizeof(both) - 1 : sizeof(h1) - 1;
	s->alpn = xmalloc(s->alpn_len);
	memcpy(s->alpn, h2 ? both : h1, s->alpn_len);
}

int
site_has_name(const struct site *site, const char *name)
{
	size_t n = strlen(name);

	if (n > 1 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < site->nnames; i++) {
		const char *s = site->names[i], *dot;
		if (strlen(s) == n && strncasecmp(s, name, n) == 0)
			return 1;
		if (s[0] == '*' && s[1] == '.' && (dot = memchr(name, '.', n)) != NULL &&
		    dot != name && strlen(s + 1) == n - (size_t)(dot - name) &&
		    strncasecmp(s + 1, dot, strlen(s + 1)) == 0)
			return 1;
	}
	return 0;
}

int
view_trusted_proxy(const struct view *v, const struct sockaddr *sa)
{
	return v->http.ntrusted > 0 && cidr_match(v->http.trusted, v->http.ntrusted, sa);
}

/* One site from its config; label names it in stats and logs. NULL with
 * eb set. */
static struct site *
site_build(const struct site_cfg *sc, const char *label, struct store *store,
    struct certload *cl, struct errbuf *eb)
{
	struct site	*s = xcalloc(1, sizeof(*s));
	size_t		 wire = 0;

	s->refs = 1;
	s->is_default = sc->is_default;
	s->acme = sc->acme;
	s->stats = stats_site(label);
	if ((s->pool = pool_new(label, sc, eb)) == NULL)
		goto fail;
	site_copy_lists(s, sc->names, sc->nnames, sc->backends, sc->nbackends);
	site_http_init(&s->http, sc);
	if (sc->sticky.cookie != NULL && sc->mode == SITE_MODE_HTTP &&
	    (s->pool->sticky = sticky_new(&sc->sticky, s->pool, "/", eb)) == NULL)
		goto fail;
	if (sc->nroutes > 0 && sc->mode == SITE_MODE_HTTP &&
	    (s->routes = route_table_new(label, sc, eb)) == NULL) {
		errbuf_prefix(eb, "site %s", label);
		goto fail;
	}
	if (sc->mode == SITE_MODE_HTTP)
		site_http_alpn(s, sc->h2);
	for (size_t j = 0; j < sc->nalpn && sc->mode == SITE_MODE_TCP; j++)
		wire += 1 + strlen(sc->alpn[j]);
	if (wire > 0) {
		s->alpn = xmalloc(wire);
		for (size_t j = 0; j < sc->nalpn; j++) {
			size_t l = strlen(sc->alpn[j]);
			s->alpn[s->alpn_len++] = (uint8_t)l;
			memcpy(s->alpn + s->alpn_len, sc->alpn[j], l);
			s->alpn_len += l;
		}
	}
	for (size_t j = 0; j < sc->ncerts; j++) {
		struct certfile *cf = certload_get(cl, sc->certs[j].cert,
		    sc->certs[j].key, sc->names, sc->nnames, eb);
		if (cf == NULL) {
			errbuf_prefix(eb, "site %s", label);
			goto fail;
		}
		if ((cf->keytype == CERTFILE_EC && s->ec != NULL) ||
		    (cf->keytype == CERTFILE_RSA && s->rsa != NULL)) {
			errbuf_set(eb, "site %s: two %s certificates; give one "
			    "ECDSA and one RSA", label,
			    certfile_keytype_names[cf->keytype]);
			certfile_unref(cf);
			goto fail;
		}
		site_add_cert(s, cf, eb);
		certfile_unref(cf);
	}
	if (sc->acme && store != NULL && sc->nnames > 0) {
		/* Certificates the ACME client stored; none yet is fine. */
		for (int k = 0; k < CERTFILE__MAX; k++) {
			struct certfile	*cf;
			struct errbuf	 e2;

			cf = store_cert_get(store, sc->names[0],
			    (enum certfile_keytype)k, &e2);
			if (cf != NULL) {
				site_add_cert(s, cf, eb);
				certfile_unref(cf);
			} else if (e2.msg[0] != '\0')
				log_err("site %s: stored certificate %s; it "
				    "will be ordered again", label, e2.msg);
		}
	}
	if (s->ec == NULL && s->rsa == NULL && !sc->acme) {
		errbuf_set(eb, "site %s: no certificate", label);
		goto fail;
	}
	return s;
fail:
	site_unref(s);
	return NULL;
}

/* Whether a site, a route or the on-demand site asks for sticky cookies. */
static int
uses_sticky(const struct config *c)
{
	for (size_t i = 0; i <= c->nsites; i++) {
		const struct site_cfg *sc = i < c->nsites ? &c->sites[i] :
		    c->on_demand.site;
		if (sc == NULL)
			continue;
		if (sc->sticky.cookie != NULL)
			return 1;
		for (size_t j = 0; j < sc->nroutes; j++)
			if (sc->routes[j].s.sticky.cookie != NULL)
				return 1;
	}
	return 0;
}

struct view *
view_build(const struct config *c, struct store *store, struct errbuf *eb)
{
	struct view_http vh;
	struct site	**sites = xcalloc(c->nsites + 1, sizeof(*sites));
	struct site	 *od = NULL;
	struct view	 *v;
	struct certload	 *cl = certload_new(time(NULL));
	size_t		  i = 0;

	if (uses_sticky(c) && sticky_key_load(c->acme.state_dir, store, eb) == -1)
		goto fail;
	for (i = 0; i < c->nsites; i++)
		if ((sites[i] = site_build(&c->sites[i], c->sites[i].names[0], store,
		    cl, eb)) == NULL)
			goto fail;
	if (c->on_demand.ask != NULL && c->on_demand.site != NULL) {
		if ((od = site_build(c->on_demand.site, "on-demand", store, cl,
		    eb)) == NULL)
			goto fail;
		od->ondemand = 1;
	}
	certload_free(cl);
	cl = NULL;
	view_http_from(&vh, c);
	v = view_assemble(sites, c->nsites, &c->limits, &vh);
	v->ondemand = od;
	v->od_wait = c->on_demand.handshake_wait;
	v->config_gen = atomic_fetch_add(&view_config_counter, 1) + 1;
	return v;
fail:
	certload_free(cl);
	for (size_t k = 0; k < i && k < c->nsites; k++)
		site_unref(sites[k]);
	free(sites);
	return NULL;
}

struct view *
view_with_cert(const struct view *old, const char *name, struct certfile *cf,
    struct errbuf *eb)
{
	struct site	**sites, *s, *ns;
	struct view	 *v;

	if ((s = tab_get(old, name, strlen(name))) == NULL)
		return errbuf_set(eb, "no site serves \"%s\"", name), NULL;
	if (!certfile_matches(cf, name))
		return errbuf_set(eb, "certificate %s does not cover \"%s\"",
		    cf->subject, name), NULL;
	/* Copy-on-write: only the changed site is new, the others are shared. */
	ns = xcalloc(1, sizeof(*ns));
	ns->refs = 1;
	ns->is_default = s->is_default;
	ns->acme = s->acme;
	ns->stats = s->stats;
	ns->pool = pool_ref(s->pool);
	ns->routes = route_table_ref(s->routes);
	site_copy_lists(ns, s->names, s->nnames, s->backends, s->nbackends);
	if (s->alpn_len > 0) {
		ns->alpn = xmalloc(s->alpn_len);
		memcpy(ns->alpn, s->alpn, s->alpn_len);
		ns->alpn_len = s->alpn_len;
	}
	ns->http = s->http;
	if (s->http.hsts != NULL)
		ns->http.hsts = xstrdup(s->http.hsts);
	ns->ec = s->ec != NULL ? certfile_ref(s->ec) : NULL;
	ns->rsa = s->rsa != NULL ? certfile_ref(s->rsa) : NULL;
	site_add_cert(ns, cf, eb);

	sites = xcalloc(old->nsites + 1, sizeof(*sites));
	for (size_t i = 0; i < old->nsites; i++) {
		if (old->sites[i] == s)
			sites[i] = ns;
		else {
			sites[i] = old->sites[i];
			atomic_fetch_add((atomic_int *)&sites[i]->refs, 1);
		}
	}
	v = view_assemble(sites, old->nsites, &old->limits, &old->http);
	v->config_gen = old->config_gen;
	v->od_wait = old->od_wait;
	if ((v->ondemand = old->ondemand) != NULL)
		atomic_fetch_add((atomic_int *)&v->ondemand->refs, 1);
	return v;
}

struct site *
view_site_named(const struct view *v, const char *name)
{
	return tab_get(v, name, strlen(name));
}

struct site *
view_lookup(const struct view *v, const char *sni)
{
	struct site	*s;
	const char	*dot;
	char		 wild[256];
	size_t		 n;

	if (sni == NULL || sni[0] == '\0')
		return v->def;
	n = strlen(sni);
	if (n > 0 && sni[n - 1] == '.')		/* "example.com." */
		n--;
	if ((s = tab_get(v, sni, n)) != NULL)
		return s;
	/* "*.example.com" covers "a.example.com", not "a.b.example.com". */
	if ((dot = memchr(sni, '.', n)) != NULL && dot != sni &&
	    n - (size_t)(dot - sni) + 1 < sizeof(wild)) {
		wild[0] = '*';
		memcpy(wild + 1, dot, n - (size_t)(dot - sni));
		if ((s = tab_get(v, wild, n - (size_t)(dot - sni) + 1)) != NULL)
			return s;
	}
	return v->def;
}

struct site *
view_lookup_ip(const struct view *v, const struct ipname *ip)
{
	char text[IPNAME_MAX];

	if (v->nipnames == 0)
		return NULL;
	/* Site names are stored in the same canonical text (config.c). */
	ipname_format(ip, text);
	return tab_get(v, text, strlen(text));
}

struct view *
view_ref(struct view *v)
{
	atomic_fetch_add((atomic_int *)&v->refs, 1);
	return v;
}

void
view_unref(struct view *v)
{
	if (v == NULL || atomic_fetch_sub((atomic_int *)&v->refs, 1) != 1)
		return;
	for (size_t i = 0; i < v->nsites; i++)
		site_unref(v->sites[i]);
	site_unref(v->ondemand);
	free(v->sites);
	free(v->tab);
	free(v->http.trusted);
	free(v);
}

unsigned
view_config_gen(void)
{
	unsigned g;

	pthread_mutex_lock(&view_mtx);
	g = view_cur != NULL ? view_cur->config_gen : 0;
	pthread_mutex_unlock(&view_mtx);
	return g;
}

void
view_publish(struct view *v)
{
	struct view *old;

	pthread_mutex_lock(&view_mtx);
	v->generation = ++view_gen;
	old = view_cur;
	view_cur = v;
	pthread_mutex_unlock(&view_mtx);
	view_unref(old);
}

int
view_apply_cert(const char *name, struct certfile *cf, struct errbuf *eb)
{
	struct view	*cur = view_current(), *nv;
	struct site	*site;
	struct certfile	*have;

	if (cur == NULL)
		return errbuf_set(eb, "no view yet");
	site = tab_get(cur, name, strlen(name));
	have = site == NULL ? NULL : cf->keytype == CERTFILE_EC ? site->ec : site->rsa;
	if (have != NULL && (strcmp(have->sha256, cf->sha256) == 0 ||
	    have->not_before > cf->not_before)) {
		/* The view already has it, or something newer (a reload read
		 * the store after this change was made). */
		view_unref(cur);
		return 1;
	}
	nv = view_with_cert(cur, name, cf, eb);
	view_unref(cur);
	if (nv == NULL)
		return -1;
	view_publish(nv);
	return 0;
}

void
view_publish_none(void)
{
	struct view *old;

	pthread_mutex_lock(&view_mtx);
	old = view_cur;
	view_cur = NULL;
	pthread_mutex_unlock(&view_mtx);
	view_unref(old);
}

struct view *
view_current(void)
{
	struct view *v;

	pthread_mutex_lock(&view_mtx);
	if ((v = view_cur) != NULL)
		atomic_fetch_add((atomic_int *)&v->refs, 1);
	pthread_mutex_unlock(&view_mtx);
	return v;
}
