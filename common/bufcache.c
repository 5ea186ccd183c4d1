/*
 * bufcache.c - per-thread I/O buffer and libevent block caches (bufcache.h).
 */
#include "bufcache.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>


static __thread void	*bufcache_v[BUFCACHE_DEPTH];
static __thread int	 bufcache_n;

/* libevent blocks of 1024, 2048 and 4096 bytes. */
#define EV_CLASSES	3
static __thread void	*ev_v0[BUFCACHE_EV_DEPTH_1K];
static __thread void	*ev_v1[BUFCACHE_EV_DEPTH], *ev_v2[BUFCACHE_EV_DEPTH];
static const int ev_depth[EV_CLASSES] = { BUFCACHE_EV_DEPTH_1K, BUFCACHE_EV_DEPTH,
    BUFCACHE_EV_DEPTH };
static __thread int	 ev_n[EV_CLASSES];

/* Class c's blocks. */
static inline void **
ev_v(int c)
{
	return c == 0 ? ev_v0 : c == 1 ? ev_v1 : ev_v2;
}

/* The thread's libevent blocks are freed when it exits, whether or not it
 * calls bufcache_flush(): any thread may free a libevent block. */
static __thread int	 ev_keyed;
static pthread_key_t	 ev_key;
static pthread_once_t	 ev_once = PTHREAD_ONCE_INIT;
static int		 ev_key_ok;

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
	for (int c = 0; c < EV_CLASSES; c++)
		while (ev_n[c] > 0)
			free(ev_v(c)[--ev_n[c]]);
}

static void
ev_flush_at_exit(void *arg)
{
	(void)arg;
	bufcache_flush();
}

static void
ev_key_init(void)
{
	ev_key_ok = pthread_key_create(&ev_key, ev_flush_at_exit) == 0;
}

/* Whether this thread may keep blocks (its exit will free them). */
static int
ev_thread_ok(void)
{
	if (!ev_keyed) {
		pthread_once(&ev_once, ev_key_init);
		if (!ev_key_ok || pthread_setspecific(ev_key, &ev_keyed) != 0)
			return 0;
		ev_keyed = 1;
	}
	return 1;
}

/* Whether a block of u usable bytes serves an allocation of size bytes
 * and can be kept for one: a block asked for as size bytes has at least
 * that much usable, and not much more. */
static inline int
fits(size_t u, size_t size)
{
	return u >= size && u < size + 64;
}

/* The class of an allocation of n bytes, or -1. */
static int
ev_class(size_t n)
{
	switch (n) {
	case 1024:
		return 0;
	case 2048:
		return 1;
	case 4096:
		return 2;
	}
	return -1;
}

void *
bufcache_ev_malloc(size_t n)
{
	int c = ev_class(n);

	if (c >= 0 && ev_n[c] > 0)
		return ev_v(c)[--ev_n[c]];
	return malloc(n);
}

void *
bufcache_ev_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

void
bufcache_ev_free(void *p)
{
	size_t	u;
	int	c;

	if (p == NULL)
		return;
	u = malloc_usable_size(p);
	c = fits(u, 4096) ? 2 : fits(u, 2048) ? 1 : fits(u, 1024) ? 0 : -1;
	if (c >= 0 && ev_n[c] < ev_depth[c] && ev_thread_ok()) {
		ev_v(c)[ev_n[c]++] = p;
		return;
	}
	free(p);
}

void *
bufcache_tls_malloc(size_t n)
{
	if (n == BUFCACHE_SIZE)
		return bufcache_get();
	/* A write buffer (a record's size, different each time) as a block
	 * of a libevent class: one glibc size for all of them (bufcache.h). */
	if (n <= 4096)
		return bufcache_ev_malloc(n <= 1024 ? 1024 : n <= 2048 ? 2048 :
		    4096);
	return malloc(n);
}

void
bufcache_tls_free(void *p)
{
	/* Cached only where the thread's exit will free the cache. */
	if (p != NULL && fits(malloc_usable_size(p), BUFCACHE_SIZE) &&
	    ev_thread_ok())
		bufcache_put(p);
	else
		bufcache_ev_free(p);	/* a class's block kept, others freed */
}
