/*
 * h2mem.c - per-thread size-class free lists for libnghttp2 (h2mem.h).
 *
 * Every block carries a 16-byte header with its class (or, for a large
 * block, its size), so free and realloc need no lookup. A class's list
 * holds at most H2MEM_KEEP blocks per thread: beyond that, blocks go back
 * to malloc.
 */
#include "h2mem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define H2MEM_CLASSES	6	/* 32, 64, 128, 256, 512, 1024 bytes */
#define H2MEM_MIN_SHIFT	5
#define H2MEM_LARGE	UINT32_MAX
#define H2MEM_KEEP	256

struct h2mem_hdr {
	uint32_t	cls;		/* class, or H2MEM_LARGE */
	uint32_t	pad;
	uint64_t	size;		/* a large block's size */
};

struct h2mem_free {
	struct h2mem_free	*next;
};

struct h2mem_lists {
	struct h2mem_free	*head[H2MEM_CLASSES];
	unsigned		 n[H2MEM_CLASSES];
};

static __thread struct h2mem_lists *h2mem_tl;
static pthread_key_t	h2mem_key;
static pthread_once_t	h2mem_once = PTHREAD_ONCE_INIT;
static int		h2mem_key_ok;

static void
h2mem_lists_free(void *arg)
{
	struct h2mem_lists *l = arg;

	for (int c = 0; c < H2MEM_CLASSES; c++)
		while (l->head[c] != NULL) {
			struct h2mem_free *f = l->head[c];
			l->head[c] = f->next;
			free((struct h2mem_hdr *)(void *)f - 1);
		}
	free(l);
	h2mem_tl = NULL;
}

static void
h2mem_key_init(void)
{
	h2mem_key_ok = pthread_key_create(&h2mem_key, h2mem_lists_free) == 0;
}

/* This thread's lists, or NULL (then every block goes through malloc). */
static struct h2mem_lists *
h2mem_lists(void)
{
	if (h2mem_tl == NULL) {
		pthread_once(&h2mem_once, h2mem_key_init);
		if (!h2mem_key_ok || (h2mem_tl = calloc(1, sizeof(*h2mem_tl))) == NULL)
			return NULL;
		if (pthread_setspecific(h2mem_key, h2mem_tl) != 0) {
			free(h2mem_tl);
			h2mem_tl = NULL;
		}
	}
	return h2mem_tl;
}

static size_t
h2mem_class_size(uint32_t c)
{
	return (size_t)1 << (c + H2MEM_MIN_SHIFT);
}

static uint32_t
h2mem_class(size_t size)
{
	uint32_t c = 0;

	while (c < H2MEM_CLASSES && h2mem_class_size(c) < size)
		c++;
	return c < H2MEM_CLASSES ? c : H2MEM_LARGE;
}

static void *
h2mem_malloc(size_t size, void *arg)
{
	struct h2mem_lists	*l;
	struct h2mem_hdr	*h;
	uint32_t		 c = h2mem_class(size);

	(void)arg;
	if (c != H2MEM_LARGE && (l = h2mem_tl) != NULL && l->head[c] != NULL) {
		struct h2mem_free *f = l->head[c];
		l->head[c] = f->next;
		l->n[c]--;
		return f;
	}
	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	if ((h = malloc(sizeof(*h) + (c == H2MEM_LARGE ? size : h2mem_class_size(c)))) == NULL)
		return NULL;
	h->cls = c;
	h->pad = 0;
	h->size = size;
	return h + 1;
}

static void
h2mem_free(void *p, void *arg)
{
	struct h2mem_hdr	*h;
	struct h2mem_lists	*l;
	struct h2mem_free	*f = p;

	(void)arg;
	if (p == NULL)
		return;
	h = (struct h2mem_hdr *)p - 1;
	if (h->cls == H2MEM_LARGE || (l = h2mem_lists()) == NULL ||
	    l->n[h->cls] >= H2MEM_KEEP) {
		free(h);
		return;
	}
	f->next = l->head[h->cls];
	l->head[h->cls] = f;
	l->n[h->cls]++;
}

static void *
h2mem_calloc(size_t nmemb, size_t size, void *arg)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	if ((p = h2mem_malloc(nmemb * size, arg)) != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

static void *
h2mem_realloc(void *p, size_t size, void *arg)
{
	struct h2mem_hdr	*h;
	size_t			 have;
	void			*q;

	if (p == NULL)
		return h2mem_malloc(size, arg);
	if (size == 0) {
		h2mem_free(p, arg);
		return NULL;
	}
	h = (struct h2mem_hdr *)p - 1;
	have = h->cls == H2MEM_LARGE ? h->size : h2mem_class_size(h->cls);
	if (h->cls != H2MEM_LARGE && size <= have)
		return p;
	if ((q = h2mem_malloc(size, arg)) == NULL)
		return NULL;
	memcpy(q, p, have < size ? have : size);
	h2mem_free(p, arg);
	return q;
}

static nghttp2_mem h2mem = {
	.mem_user_data = NULL,
	.malloc = h2mem_malloc,
	.free = h2mem_free,
	.calloc = h2mem_calloc,
	.realloc = h2mem_realloc,
};

nghttp2_mem *
h2mem_get(void)
{
	return &h2mem;
}
