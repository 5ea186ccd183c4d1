/*
 * config_http.c - the rules of one site that span its HTTP-mode keys,
 * checked once the site's object has been walked (so every key is stored):
 *
 * - `mode` defaults to "http", but a site with `proxy_protocol` and no
 *   `mode` is "tcp": a PROXY header describes one client connection, and in
 *   HTTP mode backend connections are pooled and carry many clients'
 *   requests. An explicit "http" with proxy_protocol is an error.
 * - `alpn` is mode "tcp" only: in HTTP mode tlsgate itself speaks what it
 *   offers (h2, http/1.1), so a list naming other protocols means nothing.
 * - every `http.*` and `hsts.*` key is mode "http" only; set on a "tcp" site
 *   it would be silently ignored, so it is an error naming the key.
 * - `hsts.preload` needs max_age >= one year and include_subdomains, which
 *   is what the preload list (hstspreload.org) checks before accepting.
 *
 * Whether a key was given is read from the site's JSON object; the flags
 * build the same object, so both sources get the same verdicts.
 */
#include "config.h"

#include <stdio.h>
#include <strings.h>

#include <jansson.h>

#include "config_impl.h"

#define HSTS_PRELOAD_MIN_AGE	31536000L	/* one year, hstspreload.org */
#define PP_WHY	"\"http\" cannot send the PROXY protocol (a PROXY header " \
	"describes one client connection; HTTP mode pools backend connections " \
	"across clients): use \"tcp\""

/* Report each key of the object js[obj] (if an object) as HTTP-mode only. */
static void
refuse_keys(struct cfg_walk *w, const char *path, json_t *js, const char *obj,
    int implicit)
{
	json_t		*o = json_object_get(js, obj), *v;
	const char	*k;
	char		 sub[700];

	if (!json_is_object(o))
		return;		/* the walker has reported it */
	json_object_foreach(o, k, v) {
		snprintf(sub, sizeof(sub), "%s/%s/%s", path, obj, k);
		cfg_err(w, sub, "only for mode \"http\", and this site's mode is "
		    "\"tcp\"%s", implicit ? " (because proxy_protocol is set)" : "");
	}
}

void
cfg_site_http(struct cfg_walk *w, const char *path, json_t *js,
    struct site_cfg *s)
{
	json_t		*mode = json_object_get(js, "mode");
	const char	*ms = json_string_value(mode);
	char		 sub[640], ref[640];
	int		 implicit = 0;

	if (mode == NULL && s->proxy_protocol > 0) {
		s->mode = SITE_MODE_TCP;
		implicit = 1;
	}
	/* A mode that is no string or unknown: the walker has reported it. */
	if (mode != NULL && (ms == NULL || (strcasecmp(ms, "http") != 0 &&
	    strcasecmp(ms, "tcp") != 0)))
		return;
	if (mode != NULL && s->mode == SITE_MODE_HTTP && s->proxy_protocol > 0) {
		snprintf(sub, sizeof(sub), "%s/mode", path);
		snprintf(ref, sizeof(ref), "%s/proxy_protocol", path);
		if (w->from_flags)
			cfg_err(w, sub, "%s, or drop --proxy-protocol", PP_WHY);
		else
			cfg_err_ref(w, sub, ref, "%s, or remove", PP_WHY);
		return;
	}
	if (s->mode == SITE_MODE_HTTP) {
		if (json_object_get(js, "alpn") != NULL) {
			snprintf(sub, sizeof(sub), "%s/alpn", path);
			cfg_err(w, sub, "not with mode \"http\": tlsgate then offers h2 "
			    "and http/1.1 itself (http.h2 turns h2 off); for other "
			    "protocols use %s", w->from_flags ? "--mode NAME=tcp" :
			    "\"mode\": \"tcp\"");
		}
		if (s->hsts_preload && (s->hsts_max_age < HSTS_PRELOAD_MIN_AGE ||
		    !s->hsts_subdomains)) {
			snprintf(sub, sizeof(sub), "%s/hsts/preload", path);
			cfg_err(w, sub, "preload needs max_age of at least %ld (a year) "
			    "and include_subdomains: true, as hstspreload.org requires "
			    "(max_age is %ld, include_subdomains %s)",
			    HSTS_PRELOAD_MIN_AGE, s->hsts_max_age,
			    s->hsts_subdomains ? "true" : "false");
		}
		return;
	}
	refuse_keys(w, path, js, "http", implicit);
	refuse_keys(w, path, js, "hsts", implicit);
}
