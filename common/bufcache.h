/*
 * bufcache.h - a per-thread cache of the I/O buffers connections take for
 * a read and give back as soon as it is consumed.
 *
 * An idle connection holds no buffer, so every request on a keep-alive
 * connection takes one or two 16.5 KiB buffers and returns them. Through
 * malloc that is a large allocation and free per read, which also makes
 * glibc consolidate its fast bins; the cache keeps up to BUFCACHE_DEPTH
 * buffers per thread instead (at most about half a MiB per worker).
 *
 * Threads: each thread has its own cache and touches only it; a thread
 * that used the cache calls bufcache_flush() before it exits.
 */
#ifndef TLSGATE_BUFCACHE_H
#define TLSGATE_BUFCACHE_H

#include <stddef.h>

#define BUFCACHE_SIZE	(16384 + 512)	/* bytes in every buffer */
#define BUFCACHE_DEPTH	32

/* A buffer of BUFCACHE_SIZE bytes, or NULL if out of memory. */
void	*bufcache_get(void);
/* Give a buffer from bufcache_get() back (NULL is a no-op). */
void	 bufcache_put(void *p);
/* Free this thread's cached buffers. */
void	 bufcache_flush(void);

#endif
