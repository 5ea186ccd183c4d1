/*
 * config_store.c - the store section: its checks that span keys, and
 * opening the store it describes (config_store.h). The rows are in
 * config_schema_store.inc.
 */
#include "config_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/mem.h>

#include "config.h"
#include "config_impl.h"
#include "errbuf.h"
#include "store.h"
#include "store_etcd.h"
#include "xalloc.h"

/* "http://host:port" or "https://host:port", nothing after the port. */
const char *
cfg_check_etcd_url(const char *s)
{
	const char *host, *why;

	if ((why = cfg_check_http_url(s, &host)) != NULL)
		return why;
	if (host[0] == ':')
		return "the URL has no host";
	if (strchr(host, '/') != NULL && strcmp(strchr(host, '/'), "/") != 0)
		return "the URL must be the member's address only, with no path";
	return NULL;
}

void
cfg_store_validate(struct cfg_walk *w, struct config *c)
{
	const struct store_cfg *sc = &c->store;

	if (sc->backend != STORE_BACKEND_ETCD) {
		if (sc->nendpoints > 0 || sc->enc_key_file != NULL ||
		    sc->prev_key_file != NULL ||
		    sc->ca_file != NULL || sc->cert_file != NULL ||
		    sc->key_file != NULL || sc->user != NULL ||
		    sc->password_file != NULL)
			cfg_err(w, "/store/etcd", "store.etcd is used only with "
			    "\"backend\": \"etcd\"");
		return;
	}
	if (sc->nendpoints == 0)
		cfg_err(w, "/store", "backend etcd needs store.etcd.endpoints (the "
		    "etcd members' URLs)");
	if (sc->enc_key_file == NULL)
		cfg_err(w, "/store", "backend etcd needs store.etcd.key_file (the "
		    "32-byte encryption key shared by every node)");
	if ((sc->cert_file == NULL) != (sc->key_file == NULL))
		cfg_err(w, "/store/etcd", "give both cert and key, or neither");
	if ((sc->user == NULL) != (sc->password_file == NULL))
		cfg_err(w, "/store/etcd", "give both user and password_file, or "
		    "neither");
}

/* The password file's first line (new string), or NULL with eb set. */
static char *
read_password(const char *path, struct errbuf *eb)
{
	char	buf[1024];
	size_t	n;
	FILE	*f;

	if ((f = fopen(path, "r")) == NULL) {
		errbuf_set(eb, "etcd: password file %s: %s", path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		errbuf_set(eb, "etcd: password file %s is empty", path);
		return NULL;
	}
	return xstrdup(buf);
}

struct store *
config_store_open(const struct config *c, const char *directory_url,
    struct errbuf *eb)
{
	const struct store_cfg	*sc = &c->store;
	struct store_etcd_cfg	 ec;
	struct store		*st;
	char			*pw = NULL, *copy = NULL;

	if (sc->backend != STORE_BACKEND_ETCD)
		return store_open_file(c->acme.state_dir, directory_url, eb);
	memset(&ec, 0, sizeof(ec));
	ec.endpoints = (const char *const *)sc->endpoints;
	ec.nendpoints = sc->nendpoints;
	ec.prefix = sc->prefix;
	ec.ca_file = sc->ca_file;
	ec.cert_file = sc->cert_file;
	ec.key_file = sc->key_file;
	ec.user = sc->user;
	ec.enc_key_file = sc->enc_key_file;
	ec.prev_key_file = sc->prev_key_file;
	ec.timeout_ms = (long)(sc->timeout * 1000);
	if (sc->password_file != NULL &&
	    (pw = read_password(sc->password_file, eb)) == NULL)
		return NULL;
	ec.password = pw;
	/* The node's local copy of what it serves (docs/cluster.md). */
	if (c->acme.state_dir != NULL)
		ec.copy_dir = copy = xasprintf("%s/etcd-copy", c->acme.state_dir);
	st = store_open_etcd(&ec, directory_url, eb);
	free(copy);
	if (pw != NULL) {
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
	return st;
}

char *
config_store_id(const struct config *c, const char *directory_url)
{
	const struct store_cfg	*sc = &c->store;
	char			*id, *t;

#define S(x) ((x) != NULL ? (x) : "")
	if (sc->backend != STORE_BACKEND_ETCD)
		return xasprintf("file\n%s\n%s", c->acme.state_dir,
		    S(directory_url));
	id = xasprintf("etcd\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%g\n%s\n%s",
	    S(sc->prefix), S(sc->enc_key_file), S(sc->ca_file),
	    S(sc->cert_file), S(sc->key_file), S(sc->user), S(sc->password_file),
	    sc->timeout, S(directory_url), S(sc->prev_key_file));
	for (size_t i = 0; i < sc->nendpoints; i++) {
		t = xasprintf("%s\n%s", id, sc->endpoints[i]);
		free(id);
		id = t;
	}
#undef S
	return id;
}
