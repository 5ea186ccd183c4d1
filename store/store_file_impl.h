/*
 * store_file_impl.h - the file backend's insides, shared by store_file.c
 * (certificates, accounts, locks, challenges, keys) and store_file_od.c
 * (the on-demand index). Not for use outside store/.
 */
#ifndef TLSGATE_STORE_FILE_IMPL_H
#define TLSGATE_STORE_FILE_IMPL_H

#include <pthread.h>
#include <time.h>

#include "store.h"

#define STORE_MAX_FILE	(1024 * 1024)

struct chal {
	char	*key, *value;
	time_t	 expires;
};

struct store_file {
	struct store	 base;
	char		*root;		/* STATE_DIR */
	char		*dir;		/* STATE_DIR/<ca-slug>, or NULL */
	pthread_mutex_t	 mtx;		/* guards chal */
	struct chal	*chal;
	size_t		  nchal;
};

struct store_file *F(struct store *s);
/* A name is one path component: no "/", no leading dot, not empty. */
/* mkdir -p, mode 0700: 0, or -1 with eb set. */
int	 mkdirs(const char *path, struct errbuf *eb);
/* A whole file (up to STORE_MAX_FILE), NUL-terminated, or NULL. */
char	*slurp(const char *path, size_t *len);

/* store_file_od.c */
int	 file_ondemand_touch(struct store *, const char *name,
	    const struct store_ondemand *rec, struct errbuf *eb);
int	 file_ondemand_get(struct store *, const char *name,
	    struct store_ondemand *rec);
int	 file_ondemand_list(struct store *, store_ondemand_fn *fn, void *arg);
int	 file_ondemand_remove(struct store *, const char *name, struct errbuf *eb);
long	 file_ondemand_count(struct store *);

#endif
