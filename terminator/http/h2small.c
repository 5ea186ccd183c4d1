/*
 * h2small.c - per-thread size-class free lists for libnghttp2 (h2small.h).
 *
 * Every block carries a 16-byte header with its class (or, for a large
 * block, its size), so free and realloc need no lookup. A class's list
 * holds at most HS_KEEP blocks per thread: beyond that, blocks go back
 * to malloc.
 */
#include "h2small.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HS_CLASSES	6	/* 32, 64, 128, 256, 512, 1024 bytes */
#define HS_MIN_SHIFT	5
#define HS_LARGE	UINT32_MAX
#define HS_KEEP	256
/* ASan: every block goes back to free(), so a use after free is caught. */
#if defined(__SANITIZE_ADDRESS__)
#define HS_NOCACHE	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HS_NOCACHE	1
#endif
#endif
#ifndef HS_NOCACHE
#define HS_NOCACHE	0
#endif

struct hs_hdr {
	uint32_t	cls;		/* class, or HS_LARGE */
	uint32_t	pad;
	uint64_t	size;		/* a large block's size */
};

struct hs_free {
	struct hs_free	*next;
};

struct hs_lists {
	struct hs_free	*head[HS_CLASSES];
	unsigned		 n[HS_CLASSES];
};

static __thread struct hs_lists *hs_tl;
static pthread_key_t	hs_key;
static pthread_once_t	hs_once = PTHREAD_ONCE_INIT;
static int		hs_key_ok;

static void
hs_lists_free(void *arg)
{
	struct hs_lists *l = arg;

	for (int c = 0; c < HS_CLASSES; c++)
		while (l->head[c] != NULL) {
			struct hs_free *f = l->head[c];
			l->head[c] = f->next;
			free((struct hs_hdr *)(void *)f - 1);
		}
	free(l);
	hs_tl = NULL;
}

static void
hs_key_init(void)
{
	hs_key_ok = pthread_key_create(&hs_key, hs_lists_free) == 0;
}

/* This thread's lists, or NULL (then every block goes through malloc). */
static struct hs_lists *
hs_lists(void)
{
	if (hs_tl == NULL) {
		pthread_once(&hs_once, hs_key_init);
		if (!hs_key_ok || (hs_tl = calloc(1, sizeof(*hs_tl))) == NULL)
			return NULL;
		if (pthread_setspecific(hs_key, hs_tl) != 0) {
			free(hs_tl);
			hs_tl = NULL;
		}
	}
	return hs_tl;
}

static size_t
hs_class_size(uint32_t c)
{
	return (size_t)1 << (c + HS_MIN_SHIFT);
}

static uint32_t
hs_class(size_t size)
{
	uint32_t c = 0;

	while (c < HS_CLASSES && hs_class_size(c) < size)
		c++;
	return c < HS_CLASSES ? c : HS_LARGE;
}

static void *
hs_malloc(size_t size, void *arg)
{
	struct hs_lists	*l;
	struct hs_hdr	*h;
	uint32_t		 c = hs_class(size);

	(void)arg;
	if (c != HS_LARGE && (l = hs_tl) != NULL && l->head[c] != NULL) {
		struct hs_free *f = l->head[c];
		l->head[c] = f->next;
		l->n[c]--;
		return f;
	}
	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	if ((h = malloc(sizeof(*h) + (c == HS_LARGE ? size : hs_class_size(c)))) == NULL)
		return NULL;
	h->cls = c;
	h->pad = 0;
	h->size = size;
	return h + 1;
}

static void
hs_free(void *p, void *arg)
{
	struct hs_hdr	*h;
	struct hs_lists	*l;
	struct hs_free	*f = p;

	(void)arg;
	if (p == NULL)
		return;
	h = (struct hs_hdr *)p - 1;
	if (HS_NOCACHE || h->cls == HS_LARGE || (l = hs_lists()) == NULL ||
	    l->n[h->cls] >= HS_KEEP) {
		free(h);
		return;
	}
	f->next = l->head[h->cls];
	l->head[h->cls] = f;
	l->n[h->cls]++;
}

size_t
h2small_usable(const void *p)
{
	const struct hs_hdr *h = (const struct hs_hdr *)p - 1;

	return h->cls == HS_LARGE ? h->size : hs_class_size(h->cls);
}

void *
h2small_alloc(size_t size)
{
	return hs_malloc(size, NULL);
}

void
h2small_free(void *p)
{
	hs_free(p, NULL);
}
