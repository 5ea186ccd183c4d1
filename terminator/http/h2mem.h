/*
 * h2mem.h - the allocator of libnghttp2's sessions (an nghttp2_mem), made
 * so that an idle HTTP/2 connection keeps few resident pages.
 *
 * nghttp2 allocates at session creation a 16 KiB outbound frame buffer, a
 * 4 KiB stream map and two 1 KiB HPACK rings, whether or not they are used.
 * Here the allocations of those sizes come from fixed-size slots in a
 * region of address space reserved per thread (its pages are committed by
 * the kernel only when touched): a slot no one wrote to costs no memory, a
 * page-sized slot is zero without a memset, and a freed page-sized slot is
 * given back to the kernel (MADV_DONTNEED). Every other size, and any size
 * once a region is full, comes from malloc.
 *
 * h2mem_trim() gives back, on an idle session, the pages of what holds
 * nothing: the stream map when it is empty (all zero: giving back a page
 * of zeros changes nothing, whatever the map's layout), and the frame
 * buffer, into which nghttp2 (1.52) packs each outgoing frame and of which
 * it reads nothing once nghttp2_session_mem_send() returned 0. (nghttp2
 * reads the whole map when SETTINGS change a window size; where the kernel
 * backs a read fault with a real page rather than the shared zero page, as
 * on the bench machine, that alone made the map resident.)
 *
 * Threads: the slots of a session come from the arena of the thread that
 * called h2mem_init(); that thread (the connection's worker) makes every
 * call for the session. Arenas live for the process.
 * Under AddressSanitizer free slots are poisoned.
 */
#ifndef TLSGATE_H2MEM_H
#define TLSGATE_H2MEM_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

struct h2mem_arena;

/* One session's allocator state; embedded in the session's owner. Fields
 * are h2mem.c's. */
struct h2mem {
	struct h2mem_arena	*a;		/* NULL: malloc only */
	void			*framebuf;	/* the session's frame buffer */
	void			*map;		/* its stream map */
	unsigned		 big_seen:1;	/* the session had a 20 KiB slot */
	unsigned		 page_seen:1;	/* ... and a calloc'd 4 KiB one */
};

/* nghttp2's frame buffer: NGHTTP2_FRAMEBUF_CHUNKLEN in nghttp2_frame.h
 * (a frame header, a pad length byte and the largest default payload). */
#define H2MEM_FRAMEBUF		(9 + 1 + 16384)

/* Set m up for one session, on the calling thread's arena, and fill *mem
 * for nghttp2_session_server_new3() (nghttp2 copies it; m must stay put
 * until nghttp2_session_del() returned). */
void	h2mem_init(struct h2mem *m, nghttp2_mem *mem);
/* The session has been idle for a while: give back the stream map's page
 * if the map is empty, and the frame buffer's pages if sent_all (the last
 * nghttp2_session_mem_send() returned 0). At most two madvise calls; the
 * next frame faults the pages it touches in again. */
void	h2mem_trim(struct h2mem *m, int sent_all);

/* For tests: bytes in slots handed out and not freed, on this thread's
 * arena (0 without one). */
size_t	h2mem_slot_bytes(void);

#endif
