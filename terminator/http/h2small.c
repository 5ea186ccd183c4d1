/*
 * h2small.c - per-thread size-class free lists for libnghttp2 (h2small.h).
 *
 * Every block carries a 16-byte header with its class (or, for a large
 * block, its size), so free and realloc need no lookup. A class's list
 * holds at most hs_keep[class] blocks per thread: beyond that, blocks go
 * back to malloc. A worker with 400 streams in flight (4 connections of
 * 100) holds about 1,200 blocks of 256 bytes (nghttp2's streams and
 * outbound items): 1,024 of them are kept, so that such a load does not go
 * through malloc; at most about 1.1 MB stays on a thread's lists.
 */
#include "h2small.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HS_CLASSES	6	/* 32, 64, 128, 256, 512, 1024 bytes */
#define HS_MIN_SHIFT	5
#define HS_LARGE	UINT32_MAX
/* Blocks kept per class: 1,024 up to 256 bytes, 256 KiB of the larger. */
static const unsigned hs_keep[HS_CLASSES] = { 1024, 1024, 1024, 1024, 512, 256 };
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
	if (size <= hs_class_size(0))
		return 0;
	if (size > hs_class_size(HS_CLASSES - 1))
		return HS_LARGE;
	/* The bits of size - 1: 33..64 bytes is class 1, and so on. */
	return (uint32_t)(64 - __builtin_clzll((unsigned long long)size - 1)) -
	    HS_MIN_SHIFT;
}

/* A block of class c (or HS_LARGE) from malloc. */
static __attribute__((noinline)) void *
hs_malloc(size_t size, uint32_t c)
{
	struct hs_hdr	*h;

	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	if ((h = malloc(sizeof(*h) + (c == HS_LARGE ? size : hs_class_size(c)))) == NULL)
		return NULL;
	h->cls = c;
	h->pad = 0;
	h->size = size;
	return h + 1;
}

/* Back to malloc, or onto this thread's list once it has one. */
static __attribute__((noinline)) void
hs_free_slow(struct hs_hdr *h)
{
	struct hs_lists	*l;
	struct hs_free	*f = (struct hs_free *)(void *)(h + 1);

	if (HS_NOCACHE || h->cls == HS_LARGE || (l = hs_lists()) == NULL ||
	    l->n[h->cls] >= hs_keep[h->cls]) {
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

/* The fast paths take no stack frame: what is not a list's head or top
 * goes to hs_malloc() or hs_free_slow(). */
void *
h2small_alloc(size_t size)
{
	struct hs_lists	*l = hs_tl;
	struct hs_free	*f;
	uint32_t	 c = hs_class(size);

	if (c == HS_LARGE || l == NULL || (f = l->head[c]) == NULL)
		return hs_malloc(size, c);
	l->head[c] = f->next;
	l->n[c]--;
	return f;
}

void
h2small_free(void *p)
{
	struct hs_hdr	*h = (struct hs_hdr *)p - 1;
	struct hs_lists	*l = hs_tl;
	struct hs_free	*f = p;

	if (p == NULL)
		return;
	if (HS_NOCACHE || h->cls == HS_LARGE || l == NULL ||
	    l->n[h->cls] >= hs_keep[h->cls]) {
		hs_free_slow(h);
		return;
	}
	f->next = l->head[h->cls];
	l->head[h->cls] = f;
	l->n[h->cls]++;
}
