/*
 * config_issuers.c - acme.issuers, the ordered list of CAs (fallback
 * issuers; docs/acme.md "Fallback issuers"): the keys of one issuer, the
 * list's parser, the checks that span it and acme.*, and freeing.
 *
 * The single-CA form (acme.directory with acme.eab_*) stays as it was: no
 * acme.issuers means one issuer, acme.directory. With acme.issuers, the
 * first entry is the primary CA: acme.directory is set to it, so the store
 * (certificates, renewal state, the first account) stays in that CA's
 * folder as before. Single-threaded, like every config loader.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "acme.h"
#include "acme_http.h"
#include "config_impl.h"
#include "config_schema.h"
#include "xalloc.h"

/* An ACME profile name (as config_schema.c's check). */
static const char *
check_profile(const char *s)
{
	size_t n = strlen(s);

	return n == 0 || n > 63 || strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n ?
	    "expected a profile name (1-63 letters, digits, '.', '-' or '_')" : NULL;
}

#define I(f)	offsetof(struct acme_issuer_entry, f), \
		sizeof(((struct acme_issuer_entry *)0)->f)

const struct cfg_key cfg_issuer_keys[] = {
	{ .key = "directory", .type = CFG_STRING, I(directory),
	  .conv = cfg_acme_directory, .def_doc = "required",
	  .doc = "The CA's directory URL (`production` and `staging` name Let's "
	  "Encrypt's); https only, as `acme.directory`. Each issuer's account "
	  "lives in the store folder of this URL." },
	{ .key = "email", .type = CFG_STRING, I(email), .def_doc = "`acme.email`",
	  .doc = "Contact address for this CA's account." },
	{ .key = "ca_bundle", .type = CFG_PATH, I(ca_file),
	  .def_doc = "`acme.ca_bundle`",
	  .doc = "Extra PEM CA bundle to trust this CA's server." },
	{ .key = "eab_kid", .type = CFG_STRING, I(eab_kid),
	  .doc = "External Account Binding key id for this CA (e.g. ZeroSSL, "
	  "Google Trust Services). Give both `eab_kid` and `eab_hmac_key`, or "
	  "neither." },
	{ .key = "eab_hmac_key", .type = CFG_STRING, I(eab_hmac),
	  .doc = "External Account Binding HMAC key, base64url." },
	{ .key = "profile", .type = CFG_STRING, I(profile), .check = check_profile,
	  .def_doc = "`acme.profile`",
	  .doc = "ACME profile for orders at this CA, for sites that name none. "
	  "A site's own `acme.profile` wins at every CA." },
	{ .key = NULL }
};

void
cfg_issuers_free(struct config *c)
{
	for (size_t i = 0; i < c->acme.nissuers; i++)
		cfg_free_fields(cfg_issuer_keys, &c->acme.issuers[i]);
	free(c->acme.issuers);
	c->acme.issuers = NULL;
	c->acme.nissuers = 0;
}

/* acme.issuers: an array of issuer objects, or of directory strings. */
void
cfg_acme_issuers(struct cfg_walk *w, const struct cfg_key *k, const char *path,
    json_t *v, void *base)
{
	struct config	*c = base;
	json_t		*e;
	size_t		 i;
	char		 sub[600];

	(void)k;
	cfg_issuers_free(c);
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > ACME_MAX_ISSUERS) {
		cfg_err(w, path, "expected an array of 1 to %d issuers (objects "
		    "with a \"directory\", or directory URLs)", ACME_MAX_ISSUERS);
		return;
	}
	c->acme.issuers = xcalloc(json_array_size(v), sizeof(*c->acme.issuers));
	json_array_foreach(v, i, e) {
		struct acme_issuer_entry *ie = &c->acme.issuers[c->acme.nissuers++];

		snprintf(sub, sizeof(sub), "%s/%zu", path, i);
		if (json_is_string(e) && json_string_length(e) > 0)
			ie->directory = cfg_acme_directory(json_string_value(e));
		else if (json_is_object(e)) {
			cfg_walk_object(w, cfg_issuer_keys, "", sub, e, ie);
			if (ie->directory == NULL &&
			    json_object_get(e, "directory") == NULL)
				cfg_err(w, sub, "an issuer needs a \"directory\"");
		} else
			cfg_err(w, sub, "expected an issuer object or a directory URL");
	}
}

void
cfg_issuers_validate(struct cfg_walk *w, struct config *c)
{
	struct acme_global	*g = &c->acme;
	char			 p[64], pd[80];

	if (g->nissuers == 0)
		return;
	/* acme.directory defaults to Let's Encrypt: only another value given
	 * next to the list is a contradiction. */
	if (g->directory != NULL && strcmp(g->directory, ACME_LETSENCRYPT) != 0 &&
	    (g->issuers[0].directory == NULL ||
	    strcmp(g->directory, g->issuers[0].directory) != 0))
		cfg_err(w, "/acme/directory", "give acme.directory or acme.issuers, "
		    "not both (the first issuer is the primary CA)");
	if (g->eab_kid != NULL || g->eab_hmac != NULL)
		cfg_err(w, "/acme", "with acme.issuers, External Account Binding "
		    "goes in each issuer that needs it (eab_kid, eab_hmac_key)");
	for (size_t i = 0; i < g->nissuers; i++) {
		const struct acme_issuer_entry *e = &g->issuers[i];

		snprintf(p, sizeof(p), "/acme/issuers/%zu", i);
		snprintf(pd, sizeof(pd), "%s/directory", p);
		if (e->directory == NULL)
			continue;	/* said already */
		if ((e->eab_kid == NULL) != (e->eab_hmac == NULL))
			cfg_err(w, p, "give both eab_kid and eab_hmac_key, or neither");
		if (strncasecmp(e->directory, "https://", 8) != 0 &&
		    !acme_http_allow_plain())
			cfg_err(w, pd, "\"%s\" is not an https:// URL (plain http is "
			    "allowed only for tests, with TLSGATE_ACME_ALLOW_HTTP=1)",
			    e->directory);
		for (size_t k = 0; k < i; k++)
			if (g->issuers[k].directory != NULL &&
			    strcmp(g->issuers[k].directory, e->directory) == 0)
				cfg_err(w, pd, "the same CA as issuer %zu: each issuer "
				    "must have its own directory", k + 1);
	}
	if (g->issuers[0].directory != NULL) {
		free(g->directory);
		g->directory = xstrdup(g->issuers[0].directory);
	}
}

struct acme_issuer_cfg *
config_acme_issuers(const struct config *c, size_t *n)
{
	const struct acme_global	*g = &c->acme;
	struct acme_issuer_cfg		*v;

	*n = 0;
	if (g->nissuers == 0)
		return NULL;
	v = xcalloc(g->nissuers, sizeof(*v));
	for (size_t i = 0; i < g->nissuers; i++) {
		const struct acme_issuer_entry *e = &g->issuers[i];

		v[i].directory = e->directory;
		v[i].email = e->email != NULL ? e->email : g->email;
		v[i].ca_file = e->ca_file != NULL ? e->ca_file : g->ca_file;
		v[i].eab_kid = e->eab_kid;
		v[i].eab_hmac = e->eab_hmac;
		v[i].profile = e->profile;
	}
	*n = g->nissuers;
	return v;
}

char *
config_acme_issuers_key(const struct config *c)
{
	const struct acme_global	*g = &c->acme;
	char				*k = xasprintf("%zu\n%ld\n%ld", g->nissuers,
					    g->fallback_failures,
					    g->fallback_retry_after), *t;

#define S(x) ((x) != NULL ? (x) : "")
	for (size_t i = 0; i < g->nissuers; i++) {
		const struct acme_issuer_entry *e = &g->issuers[i];

		t = xasprintf("%s\n%s\n%s\n%s\n%s\n%s\n%s", k, S(e->directory),
		    S(e->email), S(e->ca_file), S(e->eab_kid), S(e->eab_hmac),
		    S(e->profile));
		free(k);
		k = t;
	}
#undef S
	return k;
}
