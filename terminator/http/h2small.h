/*
 * h2small.h - what h2mem.c's slots do not hold: blocks from per-thread free
 * lists by size class (32 to 1024 bytes), larger ones from malloc.
 *
 * A session allocates and frees several small objects per request (stream,
 * outbound items, header copies); through malloc those were a fifth of an
 * HTTP/2 request's instructions. Threads: any thread may call; each thread
 * keeps its own lists (at most 1,024 blocks a class, about 1.1 MB in all,
 * freed when the thread exits), and a block may be freed on another thread
 * than the one that allocated it. Under AddressSanitizer the lists keep
 * nothing, so that a use after free is still caught.
 */
#ifndef TLSGATE_H2SMALL_H
#define TLSGATE_H2SMALL_H

#include <stddef.h>

/* A block of at least n bytes, or NULL. */
void	*h2small_alloc(size_t n);
/* p from h2small_alloc() (or NULL). */
void	 h2small_free(void *p);
/* The bytes p can hold (at least what was asked). */
size_t	 h2small_usable(const void *p);

#endif
