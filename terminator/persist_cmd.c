/*
 * persist_cmd.c - `tlsgate persist-record NAME` (persist_cmd.h).
 */
#include "persist_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "acme.h"
#include "acme_http.h"
#include "acme_persist.h"
#include "config.h"
#include "config_store.h"
#include "errbuf.h"
#include "store.h"
#include "xalloc.h"

struct dir_fetch {
	struct event_base	*base;
	json_t			*dir;
	int			 done;
	char			 err[256];
};

static void
on_dir(const struct acme_http_resp *r, const char *err, void *arg)
{
	struct dir_fetch *f = arg;
	json_error_t	 je;

	if (err != NULL)
		snprintf(f->err, sizeof(f->err), "%s", err);
	else if (r->status != 200)
		snprintf(f->err, sizeof(f->err), "HTTP status %ld", r->status);
	else if ((f->dir = json_loadb(r->body, r->len, 0, &je)) == NULL)
		snprintf(f->err, sizeof(f->err), "not JSON: %s", je.text);
	f->done = 1;
	event_base_loopbreak(f->base);	/* an idle connection may stay */
}

/* The issuer domain name the CA's directory names first (new string), or
 * NULL with eb set. */
static char *
issuer_from_directory(const char *url, const char *ca_file, struct errbuf *eb)
{
	struct event_base	*base = event_base_new();
	struct acme_http	*h = NULL;
	struct dir_fetch	 f = { base, NULL, 0, "" };
	const char		*iss = NULL, *why = "";
	char			*out = NULL;

	if (base != NULL && (h = acme_http_new(base, ca_file)) != NULL)
		acme_http_set_options(h, 0, 20000);
	if (h == NULL || acme_http_request(h, "GET", url, NULL, on_dir, &f) == -1)
		errbuf_set(eb, "cannot ask %s", url);
	else {
		event_base_dispatch(base);
		if (!f.done)
			errbuf_set(eb, "directory %s: no answer", url);
		else if (f.dir == NULL)
			errbuf_set(eb, "directory %s: %s", url, f.err);
		else if ((iss = persist_pick_issuer(json_object_get(f.dir, "meta"),
		    &why)) == NULL)
			errbuf_set(eb, "directory %s names no issuer domain name "
			    "(meta: %s); give --issuer", url, why);
		else
			out = xstrdup(iss);
	}
	json_decref(f.dir);
	acme_http_free(h);
	if (base != NULL)
		event_base_free(base);
	return out;
}

/* 1 if a site of c names "*.name": its record carries policy=wildcard. */
static int
config_wildcard(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nsites; i++)
		for (size_t k = 0; k < c->sites[i].nnames; k++)
			if (strncmp(c->sites[i].names[k], "*.", 2) == 0 &&
			    strcmp(c->sites[i].names[k] + 2, name) == 0)
				return 1;
	return 0;
}

int
persist_cmd(int argc, char **argv)
{
	const char		*name, *cfile = NULL, *dir;
	char			*issuer = NULL, *acct = NULL, *value = NULL;
	struct config_errors	 errs = { 0 };
	struct config		*c = NULL;
	struct store		*st = NULL;
	struct errbuf		 eb;
	int			 only_value = 0, wild = 0, rc = 1;

	if (argc < 1)
		goto usage;
	name = argv[0];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			cfile = argv[++i];
		else if (strcmp(argv[i], "--issuer") == 0 && i + 1 < argc &&
		    issuer == NULL)
			issuer = xstrdup(argv[++i]);
		else if (strcmp(argv[i], "--value") == 0)
			only_value = 1;
		else
			goto usage;
	}
	if (cfile == NULL)
		goto usage;
	if (strncmp(name, "*.", 2) == 0) {
		name += 2;
		wild = 1;
	}
	if (!persist_issuer_ok(name)) {
		fprintf(stderr, "tlsgate persist-record: \"%s\" is not a lowercase "
		    "DNS name\n", argv[0]);
		free(issuer);
		return 2;
	}
	if ((c = config_load_file(cfile, &errs)) == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		config_errors_clear(&errs);
		goto out;
	}
	wild |= config_wildcard(c, name);
	dir = c->acme.directory != NULL ? c->acme.directory : ACME_LETSENCRYPT;
	if ((st = config_store_open(c, dir, &eb)) == NULL) {
		fprintf(stderr, "tlsgate persist-record: %s\n", eb.msg);
		goto out;
	}
	if ((acct = store_account_url(st)) == NULL) {
		fprintf(stderr, "tlsgate persist-record: no ACME account at %s yet: "
		    "start tlsgate once (it registers one), then ask again\n", dir);
		goto out;
	}
	if (issuer == NULL &&
	    (issuer = issuer_from_directory(dir, c->acme.ca_file, &eb)) == NULL) {
		fprintf(stderr, "tlsgate persist-record: %s\n", eb.msg);
		goto out;
	}
	if ((value = persist_record_value(issuer, acct, wild)) == NULL) {
		fprintf(stderr, "tlsgate persist-record: \"%s\" is not an issuer "
		    "domain name, or the account URL %s cannot go in a record\n",
		    issuer, acct);
		goto out;
	}
	if (only_value)
		printf("%s\n", value);
	else {
		/* A TXT string holds 255 octets: a longer value is several
		 * strings, which the CA joins. */
		printf("%s%s. IN TXT", PERSIST_LABEL, name);
		for (size_t off = 0, len = strlen(value); off < len; off += 255)
			printf(" \"%.*s\"", (int)(len - off < 255 ? len - off : 255),
			    value + off);
		printf("\n");
	}
	rc = 0;
out:
	free(value);
	free(acct);
	free(issuer);
	store_close(st);
	config_free(c);
	return rc;
usage:
	free(issuer);
	fprintf(stderr, "usage: tlsgate persist-record NAME --config FILE "
	    "[--issuer DOMAIN] [--value]\n");
	return 2;
}
