/*
 * config_flags.c - the command line as a configuration: each flag is turned
 * into the JSON value it stands for, at the key the schema gives it, and the
 * resulting document goes through the same walker and checks as a file. So
 * a flag accepts exactly what its key accepts, with the same bounds.
 *
 * Errors name the flag and the value: "--idle-timeout: not a number: x". A
 * value that parses but fails a check is traced back to its flag through
 * the origin map (JSON path -> "--flag value").
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config_impl.h"
#include "config_schema.h"
#include "xalloc.h"

struct flags {
	struct config_errors	*errs;
	json_t			*root, *sites;
	struct cfg_map		 names;		/* site name -> index in sites */
	char			**name_keys;	/* owned keys of names */
	size_t			  nname_keys;
	struct cfg_map		 origin;	/* path -> index in origins */
	char			**paths, **origins;
	size_t			  norigins;
};

static void __attribute__((format(printf, 2, 3)))
ferr(struct flags *f, const char *fmt, ...)
{
	va_list	ap;
	char	msg[768];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_errs_add(f->errs, xstrdup(msg));
}

/* Remember that path came from "flag value". */
static void
origin(struct flags *f, const char *path, const char *flag, const char *val)
{
	struct cfg_map_ent *e;

	if ((f->norigins & (f->norigins - 1)) == 0) {
		size_t cap = f->norigins ? 2 * f->norigins : 1;
		f->paths = xrealloc(f->paths, cap * sizeof(char *));
		f->origins = xrealloc(f->origins, cap * sizeof(char *));
	}
	f->paths[f->norigins] = xstrdup(path);
	f->origins[f->norigins] = val ? xasprintf("%s %s", flag, val) : xstrdup(flag);
	e = cfg_map_get(&f->origin, f->paths[f->norigins], 1);
	e->val = f->norigins++;
}

/* The object at dotted key "a.b" under obj, made if absent (NULL: not one). */
static json_t *
parent_of(json_t *obj, const char *key, const char **last)
{
	const char *dot;

	while ((dot = strchr(key, '.')) != NULL) {
		char	 seg[64];
		json_t	*n;

		snprintf(seg, sizeof(seg), "%.*s", (int)(dot - key), key);
		if ((n = json_object_get(obj, seg)) == NULL) {
			n = json_object();
			json_object_set_new(obj, seg, n);
		}
		if (!json_is_object(n))
			return NULL;
		obj = n;
		key = dot + 1;
	}
	*last = key;
	return obj;
}

/* "/a/b" from "a.b", under prefix. */
static void
json_path(char *out, size_t cap, const char *prefix, const char *key)
{
	size_t n = (size_t)snprintf(out, cap, "%s/", prefix);

	for (; *key && n + 1 < cap; key++)
		out[n++] = *key == '.' ? '/' : *key;
	out[n] = '\0';
}

/* A top-level key's flag: its value (already typed) goes to its key. */
static void
flag_global(struct flags *f, const struct cfg_key *k, const char *flag,
    const char *val)
{
	char		 err[300], path[300];
	json_t		*v, *obj, *arr;
	const char	*last = k->key;

	if ((v = cfg_from_text(k, val, err, sizeof(err))) == NULL) {
		ferr(f, "%s: %s", flag, err);
		return;
	}
	if ((obj = parent_of(f->root, k->key, &last)) == NULL) {
		json_decref(v);
		return;
	}
	json_path(path, sizeof(path), "", k->key);
	if (k->flags & CFG_F_REPEAT) {
		/* --https A --https B: one array; a flag's value may list several. */
		size_t	 i;
		json_t	*e;

		if ((arr = json_object_get(obj, last)) == NULL) {
			arr = json_array();
			json_object_set_new(obj, last, arr);
		}
		json_array_foreach(v, i, e) {
			char sub[340];
			snprintf(sub, sizeof(sub), "%s/%zu", path, json_array_size(arr));
			origin(f, sub, flag, NULL);	/* messages quote the value */
			json_array_append(arr, e);
		}
		json_decref(v);
		return;
	}
	origin(f, path, flag, NULL);
	json_object_set_new(obj, last, v);
}

/* --site NAME[,NAME...]=HOST:PORT[,HOST:PORT...] */
static void
flag_site(struct flags *f, const char *val)
{
	const char		*eq = strchr(val, '=');
	char			*names, path[64];
	json_t			*site, *nv, *bv, *e;
	size_t			 idx = json_array_size(f->sites), i;

	if (eq == NULL) {
		ferr(f, "--site %s: expected NAME[,NAME...]=HOST:PORT[,HOST:PORT...]",
		    val);
		return;
	}
	names = strndup(val, (size_t)(eq - val));
	nv = cfg_list_from_text(names);
	bv = cfg_list_from_text(eq + 1);
	free(names);
	site = json_pack("{s:o, s:o}", "names", nv, "backends", bv);
	json_array_append_new(f->sites, site);
	snprintf(path, sizeof(path), "/sites/%zu", idx);
	origin(f, path, "--site", val);
	/* Later flags name the site by any of its names; the first site wins
	 * and a repeated name is reported by the common checks. */
	json_array_foreach(nv, i, e) {
		struct cfg_map_ent	*m;
		char			*key = cfg_name_dup(json_string_value(e));

		if ((m = cfg_map_get(&f->names, key, 0)) != NULL) {
			free(key);
			continue;
		}
		if ((f->nname_keys & (f->nname_keys - 1)) == 0)
			f->name_keys = xrealloc(f->name_keys, (f->nname_keys ?
			    2 * f->nname_keys : 1) * sizeof(char *));
		f->name_keys[f->nname_keys++] = key;
		m = cfg_map_get(&f->names, key, 1);
		m->val = idx;
	}
}

/* The site named name, or NULL with an error for flag. */
static json_t *
site_named(struct flags *f, const char *flag, const char *val, const char *name,
    size_t *idx)
{
	struct cfg_map_ent	*m;
	char			*low = cfg_name_dup(name);

	m = cfg_map_get(&f->names, low, 0);
	free(low);
	if (m == NULL) {
		ferr(f, "%s %s: no --site names \"%s\" (give --site first)", flag, val,
		    name);
		return NULL;
	}
	*idx = m->val;
	return json_array_get(f->sites, m->val);
}

/* --cert NAME=CERT.pem,KEY.pem */
static void
flag_cert(struct flags *f, const char *flag, const char *val)
{
	const char	*eq = strchr(val, '='), *comma;
	char		*name, path[96];
	json_t		*site, *certs;
	size_t		 idx;

	if (eq == NULL || (comma = strchr(eq, ',')) == NULL || comma == eq + 1 ||
	    comma[1] == '\0') {
		ferr(f, "%s %s: expected NAME=CERT.pem,KEY.pem", flag, val);
		return;
	}
	name = strndup(val, (size_t)(eq - val));
	site = site_named(f, flag, val, name, &idx);
	free(name);
	if (site == NULL)
		return;
	if ((certs = json_object_get(site, "certificates")) == NULL) {
		certs = json_array();
		json_object_set_new(site, "certificates", certs);
	}
	snprintf(path, sizeof(path), "/sites/%zu/certificates/%zu", idx,
	    json_array_size(certs));
	origin(f, path, flag, val);
	json_array_append_new(certs, json_pack("{s:s%, s:s}", "cert", eq + 1,
	    (size_t)(comma - eq - 1), "key", comma + 1));
}

/* A per-site key: NAME[,NAME...] for booleans and --acme, else NAME=VALUE. */
static void
flag_site_key(struct flags *f, const struct cfg_key *k, const char *flag,
    const char *val)
{
	char		 err[300], path[300], jp[340], *name, *copy, *tok, *save = NULL;
	const char	*eq, *last = k->key;
	json_t		*site, *v, *obj, *acme;
	size_t		 idx;

	if (k->type == CFG_BOOL || k->type == CFG_SPECIAL) {
		copy = xstrdup(val);
		for (tok = strtok_r(copy, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			if ((site = site_named(f, flag, val, tok, &idx)) == NULL)
				continue;
			json_path(path, sizeof(path), "", k->key);
			snprintf(jp, sizeof(jp), "/sites/%zu%s", idx, path);
			if (strncmp(k->key, "acme.", 5) == 0 &&
			    json_object_get(site, "acme") == NULL) {
				ferr(f, "%s %s: give --acme %s first", flag, val, tok);
				continue;
			}
			origin(f, jp, flag, val);
			if (strcmp(k->key, "acme") == 0 &&
			    json_is_object(json_object_get(site, "acme")))
				continue;
			if (strncmp(k->key, "acme.", 5) == 0 &&
			    !json_is_object(json_object_get(site, "acme")))
				json_object_set_new(site, "acme", json_object());
			if ((obj = parent_of(site, k->key, &last)) != NULL)
				json_object_set_new(obj, last, json_true());
		}
		free(copy);
		return;
	}
	if ((eq = strchr(val, '=')) == NULL) {
		ferr(f, "%s %s: expected %s", flag, val, k->flag_arg);
		return;
	}
	name = strndup(val, (size_t)(eq - val));
	site = site_named(f, flag, val, name, &idx);
	if (site == NULL) {
		free(name);
		return;
	}
	if (strncmp(k->key, "acme.", 5) == 0) {
		/* Settings of ACME need ACME on: --acme NAME first. */
		if ((acme = json_object_get(site, "acme")) == NULL ||
		    json_is_false(acme)) {
			ferr(f, "%s %s: give --acme %s first", flag, val, name);
			free(name);
			return;
		}
		if (!json_is_object(acme))
			json_object_set_new(site, "acme", json_object());
	}
	free(name);
	if ((v = cfg_from_text(k, eq + 1, err, sizeof(err))) == NULL) {
		ferr(f, "%s %s: %s", flag, val, err);
		return;
	}
	json_path(path, sizeof(path), "", k->key);
	snprintf(jp, sizeof(jp), "/sites/%zu%s", idx, path);
	origin(f, jp, flag, val);
	if ((obj = parent_of(site, k->key, &last)) != NULL)
		json_object_set_new(obj, last, v);
	else
		json_decref(v);
}

/* Flags: the common case without a file. */
struct config *
config_from_args(int argc, char **argv, struct config_errors *errs)
{
	struct flags	 f = { .errs = errs };
	struct cfg_walk	 w = { .file = "command line", .errs = errs, .from_flags = 1 };
	struct config	*c;

	f.root = json_object();
	f.sites = json_array();
	for (int i = 0; i < argc; i++) {
		const char		*flag = argv[i], *val = NULL;
		const struct cfg_key	*k, *ks = NULL;

		if ((k = cfg_flag_find(cfg_keys, flag)) == NULL &&
		    (ks = cfg_flag_find(cfg_site_keys, flag)) == NULL) {
			ferr(&f, "%s: %s", flag, strncmp(flag, "--", 2) == 0 ?
			    "unknown flag" : "unknown argument (flags start with --)");
			continue;
		}
		if (!(k != NULL && k->type == CFG_BOOL)) {
			if (i + 1 >= argc) {
				ferr(&f, "%s: missing value (%s %s)", flag, flag,
				    (k ? k : ks)->flag_arg);
				continue;
			}
			val = argv[++i];
		}
		if (k != NULL && strcmp(k->key, "sites") == 0)
			flag_site(&f, val);
		else if (k != NULL)
			flag_global(&f, k, flag, val);
		else if (strcmp(ks->key, "certificates") == 0)
			flag_cert(&f, flag, val);
		else
			flag_site_key(&f, ks, flag, val);
	}
	if (json_array_size(f.sites) > 0)
		json_object_set(f.root, "sites", f.sites);
	w.origin = &f.origin;
	w.origins = f.origins;
	c = xcalloc(1, sizeof(*c));
	cfg_walk_root(&w, f.root, c);
	cfg_errs_flush(&w);
	json_decref(f.root);
	json_decref(f.sites);
	cfg_map_free(&f.names);
	cfg_map_free(&f.origin);
	cfg_free_strs(f.name_keys, f.nname_keys);
	cfg_free_strs(f.paths, f.norigins);
	cfg_free_strs(f.origins, f.norigins);
	if (errs->n > 0) {
		config_free(c);
		return NULL;
	}
	return c;
}
