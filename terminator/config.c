/*
 * config.c - the core of tlsgate's configuration: errors with positions,
 * the checks that span keys (shared by the file and the flags), and freeing.
 *
 * Parsing lives beside it: config_schema.c (the key tables and per-type
 * checks), config_json.c (the file), config_flags.c (the command line).
 *
 * Everything here is linear in the size of the config, because a reload on
 * SIGHUP runs it too: errors are collected with their JSON path and located
 * together in one scan of the text (jsonpos_find_many), and duplicate names
 * are found with a hash map and reported once per name.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme_http.h"
#include "config_impl.h"
#include "ipname.h"
#include "fnv.h"
#include "config_schema.h"
#include "ech.h"
#include "jsonpos.h"
#include "xalloc.h"

void
config_errors_clear(struct config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->n = 0;
}

void
cfg_errs_add(struct config_errors *e, char *msg)
{
	/* Doubling: a config with 100,000 errors must not copy quadratically. */
	if ((e->n & (e->n - 1)) == 0)
		e->msgs = xrealloc(e->msgs, (e->n ? 2 * e->n : 1) * sizeof(char *));
	e->msgs[e->n++] = msg;
}

static uint64_t
map_hash(const char *s)
{
	return fnv1a64(s, strlen(s));
}

struct cfg_map_ent *
cfg_map_get(struct cfg_map *m, const char *key, int create)
{
	size_t i;

	if (create && 2 * (m->n + 1) > (m->tab ? m->mask + 1 : 0)) {
		struct cfg_map	old = *m;
		size_t		cap = old.tab ? 2 * (old.mask + 1) : 64;

		m->tab = xcalloc(cap, sizeof(*m->tab));
		m->mask = cap - 1;
		for (size_t j = 0; old.tab && j <= old.mask; j++) {
			if (old.tab[j].key == NULL)
				continue;
			for (i = map_hash(old.tab[j].key) & m->mask; m->tab[i].key;
			    i = (i + 1) & m->mask)
				;
			m->tab[i] = old.tab[j];
		}
		free(old.tab);
	}
	if (m->tab == NULL)
		return NULL;
	for (i = map_hash(key) & m->mask; m->tab[i].key != NULL; i = (i + 1) & m->mask)
		if (strcmp(m->tab[i].key, key) == 0)
			return &m->tab[i];
	if (!create)
		return NULL;
	m->tab[i].key = key;
	m->n++;
	return &m->tab[i];
}

void
cfg_map_free(struct cfg_map *m)
{
	free(m->tab);
	m->tab = NULL;
	m->mask = m->n = 0;
}

/* JSON path "/sites/1/names" shown to people as "sites[1].names". */
static void
path_human(const char *path, char *out, size_t cap)
{
	size_t		 n = 0;
	const char	*seg = path;

	out[0] = '\0';
	while (*seg == '/' && n < cap) {
		const char	*end;
		size_t		 sl;
		int		 isnum;

		seg++;
		end = strchr(seg, '/');
		sl = end != NULL ? (size_t)(end - seg) : strlen(seg);
		isnum = sl > 0 && strspn(seg, "0123456789") >= sl;
		if (isnum)
			n += (size_t)snprintf(out + n, cap - n, "[%.*s]", (int)sl, seg);
		else
			n += (size_t)snprintf(out + n, cap - n, "%s%.*s",
			    n > 0 ? "." : "", (int)sl, seg);
		seg += sl;
	}
}

static void __attribute__((format(printf, 4, 0)))
pend_add(struct cfg_walk *w, const char *path, const char *ref, const char *fmt,
    va_list ap)
{
	char msg[768];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (w->npend == w->cappend) {
		w->cappend = w->cappend ? 2 * w->cappend : 16;
		w->pend = xrealloc(w->pend, w->cappend * sizeof(*w->pend));
	}
	w->pend[w->npend].path = xstrdup(path);
	w->pend[w->npend].msg = xstrdup(msg);
	w->pend[w->npend].ref = ref ? xstrdup(ref) : NULL;
	w->npend++;
}

void
cfg_err(struct cfg_walk *w, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pend_add(w, path, NULL, fmt, ap);
	va_end(ap);
}

void
cfg_err_ref(struct cfg_walk *w, const char *path, const char *ref,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pend_add(w, path, ref, fmt, ap);
	va_end(ap);
}

/* Flags: the flag (with its value) that put path into the document. */
static const char *
flag_origin(const struct cfg_walk *w, const char *path)
{
	char			 p[512], key[256];
	struct cfg_map_ent	*e;
	const struct cfg_key	*k;
	char			*slash;

	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		if (w->origin != NULL &&
		    (e = cfg_map_get((struct cfg_map *)w->origin, p, 0)) != NULL)
			return w->origins[e->val];
		if ((slash = strrchr(p, '/')) == NULL)
			break;
		*slash = '\0';
	}
	/* Nothing set it: name the flag of the key, if it has one. */
	path_human(path, key, sizeof(key));
	if ((k = cfg_key_find(cfg_keys, key)) != NULL && k->flag != NULL)
		return k->flag;
	return NULL;
}

void
cfg_errs_flush(struct cfg_walk *w)
{
	struct jsonpos_query	*q = NULL;
	char			 key[256], rkey[256], refpart[400];

	if (w->npend == 0)
		return;
	if (w->text != NULL) {
		q = xcalloc(2 * w->npend, sizeof(*q));
		for (size_t i = 0; i < w->npend; i++) {
			q[2 * i].path = w->pend[i].path;
			q[2 * i + 1].path = w->pend[i].ref ? w->pend[i].ref : "";
		}
		if (jsonpos_find_many(w->text, w->len, q, 2 * w->npend) == -1) {
			free(q);
			q = NULL;
		}
	}
	for (size_t i = 0; i < w->npend; i++) {
		struct cfg_err	*e = &w->pend[i];
		const char	*origin;

		path_human(e->path, key, sizeof(key));
		refpart[0] = '\0';
		if (e->ref != NULL) {
			path_human(e->ref, rkey, sizeof(rkey));
			if (q != NULL && q[2 * i + 1].found == 1)
				snprintf(refpart, sizeof(refpart), " %s at %s:%d:%d", rkey,
				    w->file, q[2 * i + 1].line, q[2 * i + 1].col);
			else
				snprintf(refpart, sizeof(refpart), " %s", rkey);
		}
		if (q != NULL && q[2 * i].found != 0)
			cfg_errs_add(w->errs, xasprintf("%s:%d:%d: %s: %s%s", w->file,
			    q[2 * i].line, q[2 * i].col, key[0] ? key : "(top level)",
			    e->msg, refpart));
		else if (w->from_flags && (origin = flag_origin(w, e->path)) != NULL) {
			/* "--site a.test=...: sites[0].names[1]: ...": a flag that
			 * sets a whole site says which key of it is wrong. */
			int deep = strchr(origin, ' ') != NULL && e->path[0] != '\0' &&
			    strchr(e->path + 1, '/') != NULL;
			cfg_errs_add(w->errs, xasprintf("%s: %s%s%s%s", origin,
			    deep ? key : "", deep ? ": " : "", e->msg, refpart));
		}
		else
			cfg_errs_add(w->errs, xasprintf("%s: %s: %s%s", w->file,
			    key[0] ? key : "(top level)", e->msg, refpart));
		free(e->path);
		free(e->msg);
		free(e->ref);
	}
	free(q);
	free(w->pend);
	w->pend = NULL;
	w->npend = w->cappend = 0;
}

int
config_parse_addr(const char *s, int resolve, struct addr *out, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256], *end;
	const char	*colon, *port;
	long		 pnum;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':') {
			snprintf(err, errlen, "\"%s\": expected [IPv6]:port", s);
			return -1;
		}
		if ((size_t)(rb - s - 1) >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": host too long", s);
			return -1;
		}
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		port = rb + 2;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			snprintf(err, errlen, "\"%s\": expected host:port", s);
			return -1;
		}
		if ((size_t)(colon - s) >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": host too long", s);
			return -1;
		}
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	errno = 0;
	pnum = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno != 0 || pnum < 1 || pnum > 65535) {
		snprintf(err, errlen, "\"%s\": port must be 1-65535", s);
		return -1;
	}
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		strcpy(host, "0.0.0.0");
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (resolve ? 0 : AI_NUMERICHOST);
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "\"%s\": %s", s, resolve ? gai_strerror(rc) :
		    "expected an IP address literal");
		return -1;
	}
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	out->str = xstrdup(s);
	freeaddrinfo(res);
	return 0;
}

/* A DNS name as a site name: lowercase letters, digits, '-', '.', and an
 * optional leading "*." wildcard label. */
int
cfg_valid_name(const char *s)
{
	size_t	 len = strlen(s), lab = 0;

	if (len == 0 || len > 253)
		return 0;
	if (s[0] == '*') {
		if (s[1] != '.' || s[2] == '\0')
			return 0;
		s += 2;
	}
	for (; *s; s++) {
		if (*s == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0;
}

char *
cfg_name_dup(const char *s)
{
	char ip[IPNAME_MAX];

	/* One spelling per address: "::0:1" and "::1" are one site name. */
	return ipname_canon(s, ip) == 0 ? xstrdup(ip) : cfg_lowercase_dup(s);
}

char *
cfg_lowercase_dup(const char *s)
{
	char *p = xstrdup(s);

	for (char *q = p; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q + 32);
	return p;
}

char *
cfg_abs_path(const struct cfg_walk *w, const char *p)
{
	if (p[0] == '/' || w->dir == NULL)
		return xstrdup(p);
	return xasprintf("%s/%s", w->dir, p);
}

char *
cfg_acme_directory(const char *v)
{
	if (strcmp(v, "production") == 0 || strcmp(v, "letsencrypt") == 0)
		return xstrdup("https://acme-v02.api.letsencrypt.org/directory");
	if (strcmp(v, "staging") == 0)
		return xstrdup("https://acme-staging-v02.api.letsencrypt.org/directory");
	return xstrdup(v);
}

void
cfg_free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
config_uses_acme(const struct config *c)
{
	if (c->on_demand.ask != NULL)
		return 1;
	for (size_t i = 0; i < c->nsites; i++)
		if (c->sites[i].acme)
			return 1;
	return 0;
}

/* Where a name was seen: the first time, the second time, how often. */
struct seen {
	size_t	first_i, first_j, second_i, second_j;
};

/*
 * Each name may appear once in the whole config. One pass counts the names
 * in a hash map; a second reports each repeated name once, at its second
 * appearance, pointing at the first, so 36,000 repeats make 36,000 lines in
 * linear time rather than every pair.
 */
static void
check_names(struct cfg_walk *w, const struct config *c)
{
	struct cfg_map	 m = { 0 };
	struct seen	*seen = NULL;
	size_t		 nseen = 0, cap = 0;
	char		 p[96], ref[96];

	for (size_t i = 0; i < c->nsites; i++)
		for (size_t j = 0; j < c->sites[i].nnames; j++) {
			struct cfg_map_ent *e = cfg_map_get(&m, c->sites[i].names[j], 1);
			if (e->count++ == 0) {
				if (nseen == cap) {
					cap = cap ? 2 * cap : 64;
					seen = xrealloc(seen, cap * sizeof(*seen));
				}
				e->val = nseen;
				seen[nseen].first_i = i;
				seen[nseen].first_j = j;
				nseen++;
			} else if (e->count == 2) {
				seen[e->val].second_i = i;
				seen[e->val].second_j = j;
			}
		}
	for (size_t i = 0; i < c->nsites; i++)
		for (size_t j = 0; j < c->sites[i].nnames; j++) {
			struct cfg_map_ent	*e = cfg_map_get(&m, c->sites[i].names[j], 0);
			struct seen		*s = &seen[e->val];
			char			 times[48] = "";

			if (e->count < 2 || s->second_i != i || s->second_j != j)
				continue;
			if (e->count > 2)
				snprintf(times, sizeof(times), " (named %zu times in all)",
				    e->count);
			snprintf(p, sizeof(p), "/sites/%zu/names/%zu", i, j);
			snprintf(ref, sizeof(ref), "/sites/%zu/names/%zu", s->first_i,
			    s->first_j);
			cfg_err_ref(w, p, ref, "\"%s\"%s is already named by",
			    c->sites[i].names[j], times);
		}
	free(seen);
	cfg_map_free(&m);
}

static int
has_str(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* Whether name is served by some site: exactly, or by a "*." name one
 * label above it. */
static int
site_names(const struct config *c, const char *name)
{
	const char *dot = strchr(name, '.');

	for (size_t i = 0; i < c->nsites; i++)
		for (size_t j = 0; j < c->sites[i].nnames; j++) {
			const char *n = c->sites[i].names[j];
			if (strcmp(n, name) == 0 || (n[0] == '*' && dot != NULL &&
			    strcmp(n + 1, dot) == 0))
				return 1;
		}
	return 0;
}

/*
 * tls.ech: the build must have it, and the public name must have a
 * certificate, for clients authenticate it when they fall back (RFC 9849
 * section 6.1.6): a site must carry the name.
 */
static void
check_ech(struct cfg_walk *w, const struct config *c)
{
	const char *why;

	if (!c->ech.enabled)
		return;
	if ((why = ech_unsupported()) != NULL)
		cfg_err(w, "/tls/ech/enabled", "%s", why);
	if (c->ech.public_name == NULL)
		cfg_err(w, "/tls/ech", "tls.ech.public_name (flag --ech-public-name) is "
		    "needed with tls.ech.enabled");
	else if (!site_names(c, c->ech.public_name))
		cfg_err(w, "/tls/ech/public_name", "\"%s\" is not a name of any site: "
		    "the public name needs a certificate (clients whose ECH config is "
		    "stale authenticate it), so add it to a site's names",
		    c->ech.public_name);
}

/* Checks that span keys, shared by the JSON and flag paths. */
void
cfg_validate(struct cfg_walk *w, struct config *c)
{
	size_t	ndefault = 0;
	char	p[64];

	if (c->nhttps == 0)
		cfg_err(w, "/listen/https", "at least one HTTPS listen address is needed");
	if (c->nsites == 0 && c->on_demand.ask == NULL)
		cfg_err(w, "/sites", "at least one site is needed");
	check_names(w, c);
	if ((c->acme.eab_kid == NULL) != (c->acme.eab_hmac == NULL))
		cfg_err(w, "/acme", "give both eab_kid and eab_hmac_key, or neither");
	for (size_t i = 0; i < c->nsites; i++) {
		const struct site_cfg *s = &c->sites[i];

		ndefault += s->is_default != 0;
		if (!s->acme)
			continue;
		/* Every name, not only the first: a wildcard anywhere needs DNS.
		 * (The default challenges already do; this is about given ones.) */
		for (size_t j = 0; j < s->nnames; j++)
			if (s->names[j][0] == '*' &&
			    !has_str(s->challenges, s->nchallenges, "dns-01") &&
			    !has_str(s->challenges, s->nchallenges, "dns-persist-01")) {
				snprintf(p, sizeof(p), "/sites/%zu/acme/challenges", i);
				cfg_err(w, p, "\"%s\" is a wildcard name: it can only be "
				    "validated with dns-01 or dns-persist-01, which "
				    "acme.challenges lacks", s->names[j]);
				break;
			}
		/* RFC 8738 section 7: no dns-01 for an address. */
		for (size_t j = 0; j < s->nnames; j++)
			if (ipname_is(s->names[j]) &&
			    (has_str(s->challenges, s->nchallenges, "dns-01") ||
			    has_str(s->challenges, s->nchallenges, "dns-persist-01"))) {
				snprintf(p, sizeof(p), "/sites/%zu/acme/challenges", i);
				cfg_err(w, p, "\"%s\" is an IP address: it can only be "
				    "validated with http-01 or tls-alpn-01, not dns-01 "
				    "or dns-persist-01 "
				    "(a site with a wildcard name and an IP address "
				    "needs to be two sites)", s->names[j]);
				break;
			}
		snprintf(p, sizeof(p), "/sites/%zu/acme", i);
		if (has_str(s->challenges, s->nchallenges, "dns-01") &&
		    c->acme.dns_hook == NULL)
			cfg_err(w, p, "dns-01 needs acme.dns_hook (flag --acme-dns-hook)");
	}
	if (ndefault > 1)
		cfg_err(w, "/sites", "more than one site has \"default\": true");
	check_ech(w, c);
	cfg_ondemand_validate(w, c);
	cfg_store_validate(w, c);
	/* ACME is https only; the switch exists for stub CAs in tests. */
	if (c->acme.directory != NULL &&
	    strncasecmp(c->acme.directory, "https://", 8) != 0 &&
	    !acme_http_allow_plain())
		cfg_err(w, "/acme/directory", "\"%s\" is not an https:// URL (plain "
		    "http is allowed only for tests, with TLSGATE_ACME_ALLOW_HTTP=1)",
		    c->acme.directory);
	cfg_issuers_validate(w, c);
}

void
cfg_site_free(struct site_cfg *s)
{
	cfg_free_fields(cfg_site_keys, s);
	cfg_free_strs(s->names, s->nnames);
	for (size_t j = 0; j < s->nbackends; j++)
		free(s->backends[j].str);
	free(s->backends);
	for (size_t j = 0; j < s->ncerts; j++) {
		free(s->certs[j].cert);
		free(s->certs[j].key);
	}
	free(s->certs);
	free(s->weights);
	cfg_routes_free(s);
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nsites; i++)
		cfg_site_free(&c->sites[i]);
	if (c->on_demand.site != NULL) {
		cfg_site_free(c->on_demand.site);
		free(c->on_demand.site);
	}
	cfg_free_fields(cfg_keys, c);
	cfg_issuers_free(c);
	free(c->sites);
	free(c->path);
	free(c);
}
