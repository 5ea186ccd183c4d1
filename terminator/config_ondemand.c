/*
 * config_ondemand.c - the on_demand section's special parts: its site
 * object, the ask URL, and the checks that span its keys.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "config_impl.h"
#include "config_schema.h"
#include "xalloc.h"

void
cfg_ondemand_site(struct cfg_walk *w, const struct cfg_key *k, const char *path,
    json_t *v, void *base)
{
	struct config *c = base;

	(void)k;
	if (c->on_demand.site != NULL) {
		cfg_site_free(c->on_demand.site);
		free(c->on_demand.site);
	}
	c->on_demand.site = xcalloc(1, sizeof(*c->on_demand.site));
	cfg_walk_site(w, path, v, c->on_demand.site, NULL, 1);
}

/*
 * An http:// or https:// URL with a host, and no space or control
 * character: NULL with *host at what follows the scheme, or why not.
 */
const char *
cfg_check_http_url(const char *s, const char **host)
{
	if (strncasecmp(s, "http://", 7) == 0)
		*host = s + 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		*host = s + 8;
	else
		return "expected an http:// or https:// URL";
	if ((*host)[0] == '\0' || (*host)[0] == '/')
		return "the URL has no host";
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "the URL has a space or a control character";
	return NULL;
}

/* http:// or https://, a host, no fragment; tlsgate appends the query. */
const char *
cfg_check_ask_url(const char *s)
{
	const char *host, *why;

	if ((why = cfg_check_http_url(s, &host)) != NULL)
		return why;
	if (strchr(s, '#') != NULL)
		return "the URL must not have a fragment";
	return NULL;
}

/* Whether an error was already recorded at PATH (a value refused there is
 * left unset: a check on what is unset would only repeat it, wrongly). */
static int
cfg_erred_at(const struct cfg_walk *w, const char *path)
{
	for (size_t i = 0; i < w->npend; i++)
		if (strcmp(w->pend[i].path, path) == 0)
			return 1;
	return 0;
}

void
cfg_ondemand_validate(struct cfg_walk *w, struct config *c)
{
	struct ondemand_cfg *od = &c->on_demand;

	if (od->ask == NULL && od->site != NULL &&
	    !cfg_erred_at(w, "/on_demand/ask"))
		cfg_err(w, "/on_demand", "on_demand.site is set but on_demand.ask "
		    "is not: every on-demand name must be approved by an ask "
		    "endpoint");
	if (od->ask != NULL && od->site == NULL)
		cfg_err(w, "/on_demand", "on_demand.ask needs on_demand.site: "
		    "where on-demand names are served");
	if (od->site != NULL)
		for (size_t i = 0; i < od->site->nchallenges; i++)
			if (strcmp(od->site->challenges[i], "dns-01") == 0 &&
			    c->acme.dns_hook == NULL)
				cfg_err(w, "/on_demand/site/acme", "dns-01 needs "
				    "acme.dns_hook (flag --acme-dns-hook)");
}
