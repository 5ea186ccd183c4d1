/*
 * bufcache.c - per-thread I/O buffer cache (bufcache.h).
 */
#include "bufcache.h"

#include <stdlib.h>

static __thread void	*bufcache_v[BUFCACHE_DEPTH];
static __thread int	 bufcache_n;

void *
bufcache_get(void)
{
	if (bufcache_n > 0)
		return bufcache_v[--bufcache_n];
	return malloc(BUFCACHE_SIZE);
}

void
bufcache_put(void *p)
{
	if (p == NULL)
		return;
	if (bufcache_n < BUFCACHE_DEPTH)
		bufcache_v[bufcache_n++] = p;
	else
		free(p);
}

void
bufcache_flush(void)
{
	while (bufcache_n > 0)
		free(bufcache_v[--bufcache_n]);
}
