/*
 * bufcache.h - per-thread caches of the buffers connections take and give
 * back within a request.
 *
 * The I/O buffers: an idle connection holds no buffer, so every request on
 * a keep-alive connection takes one or two 16.5 KiB buffers and returns
 * them. Through malloc that is a large allocation and free per read, which
 * also makes glibc consolidate its fast bins; the cache keeps up to
 * BUFCACHE_DEPTH buffers per thread instead (at most about half a MiB per
 * worker).
 *
 * libevent's memory (bufcache_ev_*, given to event_set_mem_functions()
 * by main() when BUFCACHE_EV_HOOKS): an evbuffer chain is 1, 2
 * or 4 KiB, just past glibc's per-thread cache (1032 bytes), so each of the
 * chains a request's buffers take and drain cost malloc's slow path twice.
 * Freed blocks of those three sizes are kept per thread (BUFCACHE_EV_DEPTH
 * of 2 and 4 KiB, BUFCACHE_EV_DEPTH_1K of 1 KiB: at most 448 KiB per
 * thread); every other size goes to malloc
 * unchanged, and every cached block is a malloc block, so realloc and free
 * need no bookkeeping (blocks malloc'd before the hooks were set may be
 * freed through them).
 *
 * AWS-LC's record buffers (bufcache_tls_*): cmake/awslc.cmake renames
 * malloc and free to these in the one AWS-LC file that takes those buffers
 * (ssl/ssl_buffer.cc, which calls malloc and free directly). With the
 * read-ahead sockbio_ctx_read_ahead() sets, its read buffer is BUFCACHE_SIZE
 * bytes and comes from, and goes back to, the I/O buffer cache: otherwise a
 * large malloc and free for every record read, about 250 instructions of an
 * HTTP/1.1 request. Its write buffer, sized for each record (about 200
 * bytes for a small response), is a 1, 2 or 4 KiB block of the libevent
 * classes: asked of glibc at the record's own size, one chunk a little
 * larger than asked (split from a free one) could send every later request
 * through malloc's and free's slow paths (the exact size's per-thread bin
 * stays empty while the larger one's fills: about 260 instructions per
 * HTTP/1.1 request, in about one bench/http-instr run of three). Larger
 * sizes go to malloc and free unchanged. Not in AddressSanitizer or fuzz
 * builds (cmake/awslc.cmake), where AWS-LC keeps its own malloc.
 *
 * Threads: each thread has its own caches and touches only them; a block
 * may be freed on another thread than the one that took it. A thread that
 * used the caches calls bufcache_flush() before it exits (libevent blocks
 * are also freed at any thread's exit). Under AddressSanitizer
 * BUFCACHE_EV_HOOKS is 0, so that a use after free stays visible.
 */
#ifndef TLSGATE_BUFCACHE_H
#define TLSGATE_BUFCACHE_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define BUFCACHE_EV_HOOKS	0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUFCACHE_EV_HOOKS	0
#endif
#endif
#ifndef BUFCACHE_EV_HOOKS
#define BUFCACHE_EV_HOOKS	1
#endif

#define BUFCACHE_SIZE	(16384 + 512)	/* bytes in every buffer */
#define BUFCACHE_DEPTH	32
#define BUFCACHE_EV_DEPTH	32
/* 1 KiB blocks, the one class an HTTP/2 connection takes per stream in
 * flight (a response body's chain): as many as a session's streams. */
#define BUFCACHE_EV_DEPTH_1K	256

/* A buffer of BUFCACHE_SIZE bytes, or NULL if out of memory. */
void	*bufcache_get(void);
/* Give a buffer from bufcache_get() back (NULL is a no-op). */
void	 bufcache_put(void *p);
/* Free this thread's cached buffers and libevent blocks. */
void	 bufcache_flush(void);
/* libevent's allocator (event_set_mem_functions()), any thread. */
void	*bufcache_ev_malloc(size_t n);
void	*bufcache_ev_realloc(void *p, size_t n);
void	 bufcache_ev_free(void *p);
/* AWS-LC's record buffers' malloc and free (above), any thread. */
void	*bufcache_tls_malloc(size_t n);
void	 bufcache_tls_free(void *p);

#endif
