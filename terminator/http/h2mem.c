/*
 * h2mem.c - nghttp2's allocator: slots of three fixed sizes in address
 * space reserved per thread, h2small.c's free lists for the rest (see h2mem.h).
 *
 * An arena reserves one PROT_NONE range, a part per size class, and makes
 * each part writable in steps as slots are first handed out: a few
 * mappings per class (the writable part, the reserved rest) whatever the
 * number of sessions, far from vm.max_map_count. Free slots are kept on a
 * stack of pointers held outside the slots, so that a free slot stays
 * untouched: a free page-sized slot is given back with MADV_DONTNEED and is
 * zero when taken again. A pointer belongs to a class when it lies in the
 * class's part; anything else (every pointer outside the one range: a
 * single comparison) came from h2small.c's free lists (malloc behind
 * them). Sizes below the smallest class go straight to h2small.c: most of
 * nghttp2's allocations, several per request.
 */
#include "h2mem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "h2small.h"
#include "xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define H2MEM_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define H2MEM_ASAN	1
#endif
#endif
#ifdef H2MEM_ASAN
#include <sanitizer/asan_interface.h>
#define H2MEM_POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define H2MEM_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define H2MEM_POISON(p, n)	((void)(p), (void)(n))
#define H2MEM_UNPOISON(p, n)	((void)(p), (void)(n))
#endif

enum h2mem_kind {
	H2MEM_K1,		/* the HPACK rings (1 KiB), 4 to a page */
	H2MEM_K4,		/* the stream map (4 KiB), one page */
	H2MEM_K20,		/* frame buffers (16 KiB + 10), five pages */
	H2MEM_K__MAX
};

/* Smaller sizes never take a slot (the smallest class's min). */
#define H2MEM_MIN		897

static const struct {
	size_t	min, slot;	/* sizes min..slot go in slots of this size */
	size_t	step;		/* slots made writable at a time */
	size_t	span;		/* address space reserved */
} h2mem_kinds[H2MEM_K__MAX] = {
	/* Enough for about 13,000 sessions per worker; past that, malloc.
	 * A slot wastes at most an eighth of itself (header values of
	 * other sizes go to malloc). */
	[H2MEM_K1] =	{ H2MEM_MIN, 1024, 1024, (size_t)32 << 20 },
	[H2MEM_K4] =	{ 3585, 4096, 256, (size_t)64 << 20 },
	[H2MEM_K20] =	{ 16385, 20480, 64, (size_t)256 << 20 },
};

struct h2mem_class {
	char		*base;		/* the reserved range */
	char		*top;		/* slots below were handed out once */
	char		*rw;		/* writable below */
	char		*end;
	void		**free;		/* free slots, a stack */
	size_t		 nfree, capfree;
};

struct h2mem_arena {
	char			*base;		/* the one reserved range */
	size_t			 span;		/* its length (0: no slots) */
	struct h2mem_class	 k[H2MEM_K__MAX];
	size_t			 live;		/* bytes in slots handed out */
	struct h2mem_arena	*next;		/* h2mem_arenas */
};

/* Every arena, so that they stay reachable (leak checkers) after their
 * threads end. */
static struct h2mem_arena	*h2mem_arenas;
static pthread_mutex_t		 h2mem_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct h2mem_arena	*h2mem_tl;

static struct h2mem_arena *
h2mem_arena_get(void)
{
	struct h2mem_arena	*a;
	char			*p;
	size_t			 span = 0;

	if (h2mem_tl != NULL)
		return h2mem_tl;
	a = xcalloc(1, sizeof(*a));
	for (int i = 0; i < H2MEM_K__MAX; i++)
		span += h2mem_kinds[i].span;
	p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE, -1, 0);
	if (p != MAP_FAILED) {		/* else no slots: malloc serves all */
		a->base = p;
		a->span = span;
		for (int i = 0; i < H2MEM_K__MAX; i++) {
			struct h2mem_class *k = &a->k[i];
			k->base = k->top = k->rw = p;
			k->end = k->base + h2mem_kinds[i].span;
			p = k->end;
		}
	}
	pthread_mutex_lock(&h2mem_lock);
	a->next = h2mem_arenas;
	h2mem_arenas = a;
	pthread_mutex_unlock(&h2mem_lock);
	h2mem_tl = a;
	return a;
}

static int
h2mem_kind_of_size(size_t n)
{
	for (int i = 0; i < H2MEM_K__MAX; i++)
		if (n >= h2mem_kinds[i].min && n <= h2mem_kinds[i].slot)
			return i;
	return -1;
}

/* Whether p lies in a's reserved range: one comparison. */
static inline int
h2mem_in_arena(const struct h2mem_arena *a, const void *p)
{
	return (uintptr_t)p - (uintptr_t)a->base < a->span;
}

static int
h2mem_kind_of_ptr(const struct h2mem_arena *a, const void *p)
{
	const char *c = p;

	if (!h2mem_in_arena(a, p))
		return -1;
	for (int i = 0; i < H2MEM_K__MAX; i++)
		if (c >= a->k[i].base && c < a->k[i].top)
			return i;
	return -1;
}

/* A slot of kind i, or NULL (the range is full). *zero: known zero. */
static void *
h2mem_slot_get(struct h2mem_arena *a, int i, int *zero)
{
	struct h2mem_class	*k = &a->k[i];
	size_t			 sz = h2mem_kinds[i].slot;
	char			*p;

	if (k->nfree > 0) {
		p = k->free[--k->nfree];
		/* Page-sized slots were given back; smaller ones were not. */
		*zero = i != H2MEM_K1;
	} else {
		if (k->base == NULL || (size_t)(k->end - k->top) < sz)
			return NULL;
		if (k->top + sz > k->rw) {
			size_t step = h2mem_kinds[i].step * sz;
			if ((size_t)(k->end - k->rw) < step)
				step = (size_t)(k->end - k->rw);
			if (mprotect(k->rw, step, PROT_READ | PROT_WRITE) != 0)
				return NULL;
			k->rw += step;
		}
		p = k->top;
		k->top += sz;
		*zero = 1;
	}
	H2MEM_UNPOISON(p, sz);
	a->live += sz;
	return p;
}

static void
h2mem_slot_put(struct h2mem_arena *a, int i, void *p)
{
	struct h2mem_class	*k = &a->k[i];
	size_t			 sz = h2mem_kinds[i].slot;

	if (i != H2MEM_K1)
		(void)madvise(p, sz, MADV_DONTNEED);
	H2MEM_POISON(p, sz);
	if (k->nfree == k->capfree) {
		k->capfree = k->capfree ? 2 * k->capfree : 64;
		k->free = xrealloc(k->free, k->capfree * sizeof(*k->free));
	}
	k->free[k->nfree++] = p;
	a->live -= sz;
}

static __attribute__((noinline)) void *
h2mem_alloc(struct h2mem *m, size_t n, int zeroed)
{
	int	 i, zero;
	void	*p;

	if (m->a == NULL || (i = h2mem_kind_of_size(n)) < 0 ||
	    (p = h2mem_slot_get(m->a, i, &zero)) == NULL) {
		if ((p = h2small_alloc(n)) != NULL && zeroed)
			memset(p, 0, n);
		return p;
	}
	if (zeroed && !zero)
		memset(p, 0, n);
	/* nghttp2 makes its frame buffer first of its big allocations, at
	 * session creation, and keeps it for the session's life. */
	if (i == H2MEM_K20 && !m->big_seen) {
		m->big_seen = 1;
		if (n == H2MEM_FRAMEBUF)
			m->framebuf = p;
	}
	/* Likewise its stream map (which h2mem_trim() only checks). */
	if (i == H2MEM_K4 && zeroed && !m->page_seen) {
		m->page_seen = 1;
		m->map = p;
	}
	return p;
}

static __attribute__((noinline)) void
h2mem_release(struct h2mem *m, void *p)
{
	int i;

	if (p == NULL)
		return;
	if (m->a == NULL || (i = h2mem_kind_of_ptr(m->a, p)) < 0) {
		h2small_free(p);
		return;
	}
	if (p == m->framebuf)
		m->framebuf = NULL;
	if (p == m->map)
		m->map = NULL;
	h2mem_slot_put(m->a, i, p);
}

/* --- nghttp2_mem ------------------------------------------------------- */

static void *
h2mem_ng_malloc(size_t n, void *ud)
{
	if (n < H2MEM_MIN)
		return h2small_alloc(n);
	return h2mem_alloc(ud, n, 0);
}

static void
h2mem_ng_free(void *p, void *ud)
{
	const struct h2mem *m = ud;

	if (p == NULL)			/* nghttp2 frees NULL often */
		return;
	/* Outside the arena's range (or none): h2small.c's. */
	if (m->a == NULL || !h2mem_in_arena(m->a, p)) {
		h2small_free(p);
		return;
	}
	h2mem_release(ud, p);
}

static void *
h2mem_ng_calloc(size_t nmemb, size_t size, void *ud)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	return h2mem_alloc(ud, nmemb * size, 1);
}

static void *
h2mem_ng_realloc(void *p, size_t n, void *ud)
{
	struct h2mem	*m = ud;
	void		*q;
	size_t		 old;
	int		 i;

	if (p == NULL)
		return h2mem_alloc(m, n, 0);
	i = m->a != NULL ? h2mem_kind_of_ptr(m->a, p) : -1;
	if (n == 0) {
		h2mem_release(m, p);
		return NULL;
	}
	if (i < 0) {
		old = h2small_usable(p);
		if (n <= old)
			return p;
	} else {
		if (h2mem_kind_of_size(n) == i)
			return p;
		old = h2mem_kinds[i].slot;
	}
	if ((q = h2mem_alloc(m, n, 0)) == NULL)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	h2mem_release(m, p);
	return q;
}

void
h2mem_init(struct h2mem *m, nghttp2_mem *mem)
{
	memset(m, 0, sizeof(*m));
	m->a = h2mem_arena_get();
	*mem = (nghttp2_mem){
		.mem_user_data = m,
		.malloc = h2mem_ng_malloc,
		.free = h2mem_ng_free,
		.calloc = h2mem_ng_calloc,
		.realloc = h2mem_ng_realloc,
	};
}

static int
h2mem_is_zero(const char *p, size_t n)
{
	static const char zero[256];

	for (size_t i = 0; i < n; i += sizeof(zero))
		if (memcmp(p + i, zero, sizeof(zero)) != 0)
			return 0;
	return 1;
}

void
h2mem_trim(struct h2mem *m, int sent_all)
{
	if (m->map != NULL && h2mem_is_zero(m->map, h2mem_kinds[H2MEM_K4].slot))
		(void)madvise(m->map, h2mem_kinds[H2MEM_K4].slot, MADV_DONTNEED);
	if (sent_all && m->framebuf != NULL)
		(void)madvise(m->framebuf, h2mem_kinds[H2MEM_K20].slot, MADV_DONTNEED);
}

size_t
h2mem_slot_bytes(void)
{
	return h2mem_tl != NULL ? h2mem_tl->live : 0;
}
