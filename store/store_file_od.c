/*
 * store_file_od.c - the file backend's on-demand index: one small file per
 * name, holding its last use and its certificate's validity,
 *
 *   STATE_DIR/<ca-slug>/on-demand/<name>   "LAST_USED NOT_BEFORE NOT_AFTER\n"
 *
 * so that listing and counting the names reads a directory and tiny files,
 * never a certificate: 100,000 names cost a readdir, not 100,000 parses.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "errbuf.h"
#include "store_file_impl.h"
#include "xalloc.h"

static char *
od_dir(struct store *s)
{
	return F(s)->dir != NULL ? xasprintf("%s/on-demand", F(s)->dir) : NULL;
}

int
file_ondemand_touch(struct store *s, const char *name,
    const struct store_ondemand *rec, struct errbuf *eb)
{
	char	*dir, *path, text[80];
	int	 n, rc = -1;

	if ((dir = od_dir(s)) == NULL || !store_name_ok(name)) {
		free(dir);
		return errbuf_set(eb, "store: bad on-demand name \"%s\"", name);
	}
	path = xasprintf("%s/%s", dir, name);
	n = (int)store_ondemand_format(rec, text, sizeof(text) - 1);
	text[n++] = '\n';
	if (mkdirs(dir, eb) == 0)
		rc = atomicfile_write(path, text, (size_t)n, 0600, eb);
	free(path);
	free(dir);
	return rc;
}

static int
od_read(const char *path, struct store_ondemand *rec)
{
	char		 text[80];
	FILE		*fp;
	size_t		 n;

	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	store_ondemand_parse(text, rec);
	return 0;
}

int
file_ondemand_get(struct store *s, const char *name, struct store_ondemand *rec)
{
	char	*dir, *path;
	int	 rc;

	if ((dir = od_dir(s)) == NULL || !store_name_ok(name)) {
		free(dir);
		return -1;
	}
	path = xasprintf("%s/%s", dir, name);
	rc = od_read(path, rec);
	free(path);
	free(dir);
	return rc;
}

/* Index entries are names; atomicfile's leftovers ("x.tmp.XXXXXX") are not. */
static int
od_entry(const struct dirent *e)
{
	return store_name_ok(e->d_name) && strstr(e->d_name, ".tmp.") == NULL;
}

int
file_ondemand_list(struct store *s, store_ondemand_fn *fn, void *arg)
{
	char		*dir, *path;
	DIR		*d;
	struct dirent	*e;
	struct store_ondemand rec;

	if ((dir = od_dir(s)) == NULL)
		return -1;
	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return errno == ENOENT ? 0 : -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!od_entry(e))
			continue;
		path = xasprintf("%s/%s", dir, e->d_name);
		if (od_read(path, &rec) == 0)
			fn(e->d_name, &rec, arg);
		free(path);
	}
	closedir(d);
	free(dir);
	return 0;
}

long
file_ondemand_count(struct store *s)
{
	char		*dir;
	DIR		*d;
	struct dirent	*e;
	long		 n = 0;

	if ((dir = od_dir(s)) == NULL)
		return -1;
	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return errno == ENOENT ? 0 : -1;
	}
	while ((e = readdir(d)) != NULL)
		n += od_entry(e);
	closedir(d);
	free(dir);
	return n;
}

/* Everything in the name's certificate folder, then the folder. */
static int
rm_certs(const char *cdir, struct errbuf *eb)
{
	DIR		*d;
	struct dirent	*e;
	char		*p;
	int		 rc = 0;

	if ((d = opendir(cdir)) == NULL)
		return errno == ENOENT ? 0 : errbuf_set(eb, "%s: %s", cdir,
		    strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", cdir, e->d_name);
		if (unlink(p) == -1 && errno != ENOENT)
			rc = errbuf_set(eb, "unlink %s: %s", p, strerror(errno));
		free(p);
	}
	closedir(d);
	if (rc == 0 && rmdir(cdir) == -1 && errno != ENOENT)
		rc = errbuf_set(eb, "rmdir %s: %s", cdir, strerror(errno));
	return rc;
}

int
file_ondemand_remove(struct store *s, const char *name, struct errbuf *eb)
{
	char	*dir, *path, *cdir;
	int	 rc;

	if ((dir = od_dir(s)) == NULL || !store_name_ok(name)) {
		free(dir);
		return errbuf_set(eb, "store: bad on-demand name \"%s\"", name);
	}
	/* The certificate first: a crash in between leaves an index entry
	 * without one (ordered again on use), never a certificate nobody
	 * lists. */
	cdir = xasprintf("%s/certs/%s", F(s)->dir, name);
	rc = rm_certs(cdir, eb);
	free(cdir);
	if (rc == 0) {
		path = xasprintf("%s/%s", dir, name);
		if (unlink(path) == -1 && errno != ENOENT)
			rc = errbuf_set(eb, "unlink %s: %s", path, strerror(errno));
		free(path);
	}
	free(dir);
	return rc;
}
