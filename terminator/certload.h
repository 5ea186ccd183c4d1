/*
 * certload.h - the certificate files of one view build (sites.c, view_build).
 *
 * A file that many sites name (a wildcard shared by thousands of sites, say)
 * is read, parsed and checked once (certfile_load, certcheck_cert), and each
 * site only has its names checked against it (certcheck_names); the sites
 * then share one struct certfile. A set lives for one build, so a reload
 * reads every file again.
 *
 * One thread (the one that builds the view).
 */
#ifndef TLSGATE_CERTLOAD_H
#define TLSGATE_CERTLOAD_H

#include <stddef.h>
#include <time.h>

struct certfile;
struct certload;
struct errbuf;

/* An empty set, checking certificates against the time now. */
struct certload	*certload_new(time_t now);
void		 certload_free(struct certload *);

/*
 * The certificate of the files cert and key, for a site with these names: a
 * new reference, or NULL with eb ("PATH: why" when the certificate does not
 * pass certcheck; certfile_load's words when the files do not load).
 */
struct certfile	*certload_get(struct certload *, const char *cert, const char *key,
		    char *const *names, size_t nnames, struct errbuf *eb);

#endif
