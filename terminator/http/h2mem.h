/*
 * h2mem.h - the allocator libnghttp2 uses for HTTP/2 sessions: small blocks
 * come from per-thread free lists by size class, larger ones from malloc.
 *
 * A session allocates and frees several small objects per request (stream,
 * outbound items, header copies); through malloc those were a fifth of an
 * HTTP/2 request's instructions. Threads: any thread may call; each thread
 * keeps its own lists (bounded, freed when the thread exits), and a block
 * may be freed on another thread than the one that allocated it.
 */
#ifndef TLSGATE_H2MEM_H
#define TLSGATE_H2MEM_H

#include <nghttp2/nghttp2.h>

/* The allocator, for nghttp2_session_server_new3(). Never NULL. */
nghttp2_mem	*h2mem_get(void);

#endif
