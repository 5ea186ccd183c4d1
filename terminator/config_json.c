/*
 * config_json.c - the configuration file: parse it with jansson (duplicate
 * keys rejected), then walk it once against the key tables of
 * config_schema.c. Each problem is recorded with its JSON path; the paths are
 * located in the text together at the end, so `tlsgate check` prints every
 * error at once, compiler style. Unknown keys are errors: a typo must not
 * silently fall back to a default.
 *
 * The flag translator (config_flags.c) builds a document of the same shape
 * and walks it here too.
 */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_impl.h"
#include "ipname.h"
#include "config_schema.h"
#include "xalloc.h"

/* Large enough for 200,000 backends; memory is taken by the file's size. */
#define CONFIG_MAX_BYTES	(64 * 1024 * 1024)

void
cfg_walk_object(struct cfg_walk *w, const struct cfg_key *table,
    const char *prefix, const char *path, json_t *obj, void *base)
{
	const char	*k;
	json_t		*v;
	char		 full[256], sub[600];

	if (!json_is_object(obj)) {
		cfg_err(w, path, "expected an object");
		return;
	}
	json_object_foreach(obj, k, v) {
		const struct cfg_key *row;

		snprintf(full, sizeof(full), "%s%s%s", prefix, prefix[0] ? "." : "", k);
		snprintf(sub, sizeof(sub), "%s/%s", path, k);
		if ((row = cfg_key_find(table, full)) != NULL)
			cfg_apply(w, row, sub, v, base);
		else if (cfg_key_is_object(table, full))
			cfg_walk_object(w, table, full, sub, v, base);
		else
			cfg_err(w, sub, "unknown key");
	}
}

void
cfg_site_names(struct cfg_walk *w, const struct cfg_key *k, const char *path,
    json_t *v, void *base)
{
	struct site_cfg	*s = base;
	json_t		*e;
	size_t		 i;
	char		 sub[600];

	if (!json_is_array(v) || json_array_size(v) == 0) {
		cfg_err(w, path, "expected a non-empty array of DNS names");
		return;
	}
	s->names = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, e) {
		snprintf(sub, sizeof(sub), "%s/%zu", path, i);
		if (!json_is_string(e)) {
			cfg_err(w, sub, "expected a string");
			continue;
		}
		s->names[s->nnames] = cfg_name_dup(json_string_value(e));
		if (!cfg_valid_name(s->names[s->nnames]) &&
		    !ipname_is(s->names[s->nnames])) {
			cfg_err(w, sub, "\"%s\" is not a valid DNS name or IP address",
			    json_string_value(e));
			free(s->names[s->nnames]);
			continue;
		}
		s->nnames++;
	}
}

void
cfg_site_backends(struct cfg_walk *w, const struct cfg_key *k, const char *path,
    json_t *v, void *base)
{
	static const char *const bk[] = { "address", "weight", NULL };
	struct site_cfg	*s = base;
	json_t		*e;
	size_t		 i;
	char		 sub[600], err[256];

	if (!json_is_array(v) || json_array_size(v) == 0) {
		cfg_err(w, path, "expected a non-empty array of \"host:port\" or "
		    "{\"address\", \"weight\"}");
		return;
	}
	s->backends = xcalloc(json_array_size(v) + 1, sizeof(struct addr));
	s->weights = xcalloc(json_array_size(v) + 1, sizeof(int));
	json_array_foreach(v, i, e) {
		const char	*as = json_string_value(e), *key;
		json_t		*wv;
		int		 wt = 1, bad = 0;

		snprintf(sub, sizeof(sub), "%s/%zu", path, i);
		if (json_is_object(e)) {
			json_object_foreach(e, key, wv) {
				int known = 0;
				for (const char *const *b = bk; *b; b++)
					known |= strcmp(*b, key) == 0;
				if (!known) {
					char sub2[700];
					snprintf(sub2, sizeof(sub2), "%s/%s", sub, key);
					cfg_err(w, sub2, "unknown key");
				}
			}
			as = json_string_value(json_object_get(e, "address"));
			if ((wv = json_object_get(e, "weight")) != NULL) {
				if (!json_is_integer(wv) || json_integer_value(wv) < 1 ||
				    json_integer_value(wv) > 256) {
					cfg_err(w, sub, "weight must be an integer 1-256");
					bad = 1;
				} else
					wt = (int)json_integer_value(wv);
			}
		}
		if (as == NULL) {
			cfg_err(w, sub, "expected \"host:port\" or an object with "
			    "\"address\"");
			continue;
		}
		if (bad)
			continue;
		if (config_parse_addr(as, 1, &s->backends[s->nbackends], err,
		    sizeof(err)) == -1) {
			cfg_err(w, sub, "%s", err);
			continue;
		}
		s->weights[s->nbackends++] = wt;
	}
}

void
cfg_site_certs(struct cfg_walk *w, const struct cfg_key *k, const char *path,
    json_t *v, void *base)
{
	static const char *const ckeys[] = { "cert", "key", NULL };
	struct site_cfg	*s = base;
	json_t		*c;
	size_t		 i;
	char		 sub[600];

	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 2) {
		cfg_err(w, path, "expected an array of one or two {\"cert\", \"key\"} "
		    "objects");
		return;
	}
	s->certs = xcalloc(json_array_size(v), sizeof(struct cert_cfg));
	json_array_foreach(v, i, c) {
		const char	*key;
		json_t		*cp, *kp, *x;

		snprintf(sub, sizeof(sub), "%s/%zu", path, i);
		if (!json_is_object(c)) {
			cfg_err(w, sub, "expected an object with \"cert\" and \"key\"");
			continue;
		}
		json_object_foreach(c, key, x) {
			if (strcmp(key, ckeys[0]) != 0 && strcmp(key, ckeys[1]) != 0) {
				char sub2[700];
				snprintf(sub2, sizeof(sub2), "%s/%s", sub, key);
				cfg_err(w, sub2, "unknown key");
			}
		}
		cp = json_object_get(c, "cert");
		kp = json_object_get(c, "key");
		if (!json_is_string(cp) || !json_is_string(kp) ||
		    json_string_length(cp) == 0 || json_string_length(kp) == 0) {
			cfg_err(w, sub, "\"cert\" and \"key\" must both be file paths");
			continue;
		}
		s->certs[s->ncerts].cert = cfg_abs_path(w, json_string_value(cp));
		s->certs[s->ncerts].key = cfg_abs_path(w, json_string_value(kp));
		s->ncerts++;
	}
}

/* "acme": true, false, or {"challenges": [...], "rsa": bool}. */
void
cfg_site_acme(struct cfg_walk *w, const struct cfg_key *k, const char *path,
    json_t *v, void *base)
{
	struct site_cfg *s = base;

	if (json_is_boolean(v))
		s->acme = json_is_true(v);
	else if (json_is_object(v)) {
		s->acme = 1;
		cfg_walk_object(w, cfg_site_keys, "acme", path, v, base);
	} else
		cfg_err(w, path, "expected true, false or an object");
}

/*
 * Whether every default of table is a plain value (no string to own), so
 * that one defaulted struct can be copied into each site: parsing the
 * defaults once, not once per site, matters with 100,000 sites.
 */
static int
defaults_plain(const struct cfg_key *t)
{
	for (; t->key != NULL; t++)
		if (t->def != NULL && t->type != CFG_BOOL && t->type != CFG_INT &&
		    t->type != CFG_SECONDS && t->type != CFG_ENUM)
			return 0;
	return 1;
}

/* What a site and a route check once their keys are read: a health check
 * has a type (and an HTTP one a path), backend_tls has both or neither of
 * cert and key. */
void
cfg_pool_finish(struct cfg_walk *w, const char *path, json_t *js, struct site_cfg *s)
{
	json_t	*h;
	char	 sub[700];

	if ((h = json_object_get(js, "health")) != NULL && json_is_object(h)) {
		if (json_object_get(h, "type") == NULL) {
			snprintf(sub, sizeof(sub), "%s/health", path);
			cfg_err(w, sub, "expected \"type\": \"tcp\" or \"http\"");
		}
		if (s->health.type == 2 && s->health.path == NULL)
			s->health.path = xstrdup("/");
	}
	if ((h = json_object_get(js, "backend_tls")) != NULL && json_is_object(h)) {
		s->btls.on = 1;
		if ((s->btls.cert == NULL) != (s->btls.key == NULL)) {
			snprintf(sub, sizeof(sub), "%s/backend_tls", path);
			cfg_err(w, sub, "give both cert and key, or neither");
		}
	}
}

void
cfg_walk_site(struct cfg_walk *w, const char *path, json_t *js, struct site_cfg *s,
    const struct site_cfg *tmpl, int ondemand)
{
	char	 sub[600];

	if (tmpl != NULL)
		*s = *tmpl;
	else
		cfg_defaults(w, cfg_site_keys, s);
	if (!json_is_object(js)) {
		cfg_err(w, path, "expected an object");
		return;
	}
	cfg_walk_object(w, cfg_site_keys, "", path, js, s);
	if (ondemand) {
		static const char *const no[] = { "names", "certificates",
		    "default", NULL };

		for (size_t i = 0; no[i] != NULL; i++)
			if (json_object_get(js, no[i]) != NULL) {
				snprintf(sub, sizeof(sub), "%s/%s", path, no[i]);
				cfg_err(w, sub, "not for on_demand.site: its names "
				    "come from handshakes, its certificates from ACME");
			}
		s->acme = 1;
	} else if (json_object_get(js, "names") == NULL)
		cfg_err(w, path, "missing key \"names\"");
	if (json_object_get(js, "backends") == NULL)
		cfg_err(w, path, "missing key \"backends\"");
	cfg_site_http(w, path, js, s);
	cfg_site_routes_walk(w, path, js, s);
	if (json_object_get(js, "certificates") == NULL && !s->acme && !ondemand)
		cfg_err(w, path, w->from_flags ? "no --cert (or --acme) given for it" :
		    "missing key \"certificates\" (or \"acme\": true)");
	cfg_pool_finish(w, path, js, s);
	if (s->acme && s->challenges == NULL) {
		/* Any wildcard name (not only the first) needs DNS validation. */
		int wild = 0;

		for (size_t i = 0; i < s->nnames; i++)
			wild |= s->names[i][0] == '*';
		s->challenges = xcalloc(3, sizeof(char *));
		if (wild)
			s->challenges[s->nchallenges++] = xstrdup("dns-01");
		else {
			s->challenges[s->nchallenges++] = xstrdup("tls-alpn-01");
			s->challenges[s->nchallenges++] = xstrdup("http-01");
		}
	}
}

void
cfg_walk_root(struct cfg_walk *w, json_t *root, struct config *c)
{
	json_t		*sites, *o;
	size_t		 i;
	char		 p[64];
	struct site_cfg	 tmpl = { 0 };
	int		 plain = defaults_plain(cfg_site_keys);

	cfg_defaults(w, cfg_keys, c);
	/* No JSON literal says "work it out from the limits in force". */
	c->limits.max_connections_per_client = LIMITS_AUTO;
	if (!json_is_object(root)) {
		cfg_err(w, "", "the configuration must be a JSON object");
		return;
	}
	cfg_walk_object(w, cfg_keys, "", "", root, c);
	if ((sites = json_object_get(root, "sites")) != NULL) {
		if (!json_is_array(sites))
			cfg_err(w, "/sites", "expected an array of site objects");
		else {
			if (plain)
				cfg_defaults(w, cfg_site_keys, &tmpl);
			c->sites = xcalloc(json_array_size(sites) + 1,
			    sizeof(struct site_cfg));
			json_array_foreach(sites, i, o) {
				snprintf(p, sizeof(p), "/sites/%zu", i);
				cfg_walk_site(w, p, o, &c->sites[c->nsites++],
				    plain ? &tmpl : NULL, 0);
			}
		}
	}
	cfg_validate(w, c);
}

struct config *
config_load_text(const char *path, const char *text, size_t len,
    struct config_errors *errs)
{
	struct config	*c;
	struct cfg_walk	 w = { .file = path, .text = text, .len = len, .errs = errs };
	json_error_t	 jerr;
	json_t		*root;
	const char	*slash;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		cfg_errs_add(errs, xasprintf("%s:%d:%d: %s", path, jerr.line,
		    jerr.column, jerr.text));
		return NULL;
	}
	if ((slash = strrchr(path, '/')) != NULL)
		w.dir = slash == path ? xstrdup("/") :
		    strndup(path, (size_t)(slash - path));
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	cfg_walk_root(&w, root, c);
	cfg_errs_flush(&w);
	json_decref(root);
	free(w.dir);
	if (errs->n > 0) {
		config_free(c);
		return NULL;
	}
	return c;
}

struct config *
config_load_file(const char *path, struct config_errors *errs)
{
	struct config	*c;
	struct stat	 st;
	FILE		*f;
	char		*buf;
	size_t		 n, cap;

	if ((f = fopen(path, "rb")) == NULL) {
		cfg_errs_add(errs, xasprintf("%s: %s", path, strerror(errno)));
		return NULL;
	}
	/* The size is a hint (the file may change under us); the cap holds. */
	cap = fstat(fileno(f), &st) == 0 && st.st_size >= 0 &&
	    st.st_size < CONFIG_MAX_BYTES ? (size_t)st.st_size + 1 : CONFIG_MAX_BYTES + 1;
	buf = xmalloc(cap + 1);
	n = fread(buf, 1, cap, f);
	if (n == cap && cap <= CONFIG_MAX_BYTES) {
		/* Grew since fstat: read on, up to the cap. */
		buf = xrealloc(buf, CONFIG_MAX_BYTES + 2);
		n += fread(buf + n, 1, CONFIG_MAX_BYTES + 1 - n, f);
	}
	fclose(f);
	if (n > CONFIG_MAX_BYTES) {
		free(buf);
		cfg_errs_add(errs, xasprintf("%s: larger than %d bytes", path,
		    CONFIG_MAX_BYTES));
		return NULL;
	}
	buf[n] = '\0';
	c = config_load_text(path, buf, n, errs);
	free(buf);
	return c;
}
