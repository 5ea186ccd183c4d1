/*
 * certload.c - one view build's certificate files (certload.h): an
 * open-addressing hash of (certificate path, key path), doubled at half
 * full, each entry holding the loaded and checked certificate.
 */
#include "certload.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certcheck.h"
#include "certfile.h"
#include "errbuf.h"
#include "fnv.h"
#include "xalloc.h"

struct cl_entry {
	char		*cert, *key;	/* NULL: a free slot */
	struct certfile	*cf;
};

struct certload {
	struct cl_entry	*tab;
	size_t		 mask, n;
	time_t		 now;
};

struct certload *
certload_new(time_t now)
{
	struct certload *cl = xcalloc(1, sizeof(*cl));

	cl->mask = 15;
	cl->tab = xcalloc(cl->mask + 1, sizeof(*cl->tab));
	cl->now = now;
	return cl;
}

void
certload_free(struct certload *cl)
{
	if (cl == NULL)
		return;
	for (size_t i = 0; i <= cl->mask; i++)
		if (cl->tab[i].cert != NULL) {
			free(cl->tab[i].cert);
			free(cl->tab[i].key);
			certfile_unref(cl->tab[i].cf);
		}
	free(cl->tab);
	free(cl);
}

static size_t
slot_hash(const char *cert, const char *key)
{
	return (size_t)(fnv1a64(cert, strlen(cert)) * 31 + fnv1a64(key, strlen(key)));
}

/* The slot of (cert, key), or the free slot where it would go. */
static struct cl_entry *
slot(struct cl_entry *tab, size_t mask, const char *cert, const char *key)
{
	for (size_t i = slot_hash(cert, key) & mask;; i = (i + 1) & mask)
		if (tab[i].cert == NULL || (strcmp(tab[i].cert, cert) == 0 &&
		    strcmp(tab[i].key, key) == 0))
			return &tab[i];
}

static void
grow(struct certload *cl)
{
	size_t		 mask = cl->mask * 2 + 1;
	struct cl_entry	*tab = xcalloc(mask + 1, sizeof(*tab));

	for (size_t i = 0; i <= cl->mask; i++)
		if (cl->tab[i].cert != NULL)
			*slot(tab, mask, cl->tab[i].cert, cl->tab[i].key) = cl->tab[i];
	free(cl->tab);
	cl->tab = tab;
	cl->mask = mask;
}

struct certfile *
certload_get(struct certload *cl, const char *cert, const char *key,
    char *const *names, size_t nnames, struct errbuf *eb)
{
	struct cl_entry	*e = slot(cl->tab, cl->mask, cert, key);
	struct certfile	*cf;

	if (e->cert == NULL) {
		if ((cf = certfile_load(cert, key, eb)) == NULL)
			return NULL;
		if (certcheck_cert(cf, cl->now, CERTCHECK_SKEW, eb) == -1) {
			errbuf_prefix(eb, "%s", cert);
			certfile_unref(cf);
			return NULL;
		}
		e->cert = xstrdup(cert);
		e->key = xstrdup(key);
		e->cf = cf;
		if (++cl->n * 2 > cl->mask + 1) {
			grow(cl);
			e = slot(cl->tab, cl->mask, cert, key);
		}
	}
	if (certcheck_names(e->cf, names, nnames, eb) == -1) {
		errbuf_prefix(eb, "%s", cert);
		return NULL;
	}
	return certfile_ref(e->cf);
}
