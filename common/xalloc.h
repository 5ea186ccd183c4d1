/*
 * xalloc.h - allocation that aborts on failure, for small fixed-size objects.
 * Sizes that come from peers or config are bounded by the caller first.
 */
#ifndef TLSGATE_XALLOC_H
#define TLSGATE_XALLOC_H

#include <stddef.h>

void	*xmalloc(size_t n);
void	*xcalloc(size_t nmemb, size_t size);
void	*xrealloc(void *p, size_t n);
char	*xstrdup(const char *s);
char	*xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
