/*
 * hfield.c - ordered lists of HTTP header fields (hfield.h).
 *
 * Each field is the lowercase name, a NUL, the value, a NUL, placed in the
 * list's arena: a chain of chunks, bump-allocated, freed all at once. A
 * request or response head adds its fields in order, so the last field is
 * almost always at the end of the newest chunk, and extending it (an
 * HTTP/1.1 parser delivers fields in pieces) happens in place. Removed
 * fields leave their bytes behind until the list is freed: the callers
 * bound the number and size of fields they add (header limits are the
 * parsers' job), and the arena holds at most about twice what was added.
 * The list is a plain growing array: requests carry tens of fields at most,
 * so lookups are linear scans, which beat any hashing at that size; they
 * compare lengths before bytes.
 */
#include "hfield.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

struct hfield_chunk {
	struct hfield_chunk	*next;
	size_t			 used, cap;
	char			 data[];
};

/* The first chunk's allocation stays within glibc's per-thread cache
 * (requests of up to 1032 bytes). */
#define HFIELD_CHUNK_FIRST	(1024 - sizeof(struct hfield_chunk))
#define HFIELD_CHUNK_MAX	(64 * 1024)

/* ASCII lowercase, eight (or four) bytes at a time: in each byte, bit 7 of b + 0x3f
 * says b >= 'A', bit 7 of b + 0x25 says b > 'Z' (b < 0x80: no carry
 * between bytes), and bytes of 0x80 and above are left alone. */
static inline uint32_t
lower4(uint32_t w)
{
	const uint32_t lo7 = 0x7f7f7f7fU, hi = 0x80808080U;
	uint32_t a = (w & lo7) + 0x3f3f3f3fU, z = (w & lo7) + 0x25252525U;

	return w | (a & ~z & ~w & hi) >> 2;
}

/* One word of lower(). */
static inline uint64_t
lower8(uint64_t w)
{
	const uint64_t	 lo7 = 0x7f7f7f7f7f7f7f7fULL, hi = 0x8080808080808080ULL;
	uint64_t	 a = (w & lo7) + 0x3f3f3f3f3f3f3f3fULL;
	uint64_t	 z = (w & lo7) + 0x2525252525252525ULL;

	return w | (a & ~z & ~w & hi) >> 2;
}

static void
lower(char *dst, const char *src, size_t n)
{
	uint64_t	w;
	uint32_t	a4, b4;
	size_t		i;

	if (n >= 8) {
		for (i = 0; i + 8 < n; i += 8) {
			memcpy(&w, src + i, 8);
			w = lower8(w);
			memcpy(dst + i, &w, 8);
		}
		/* The last word (again, overlapping, when n is no multiple
		 * of 8): lowering is idempotent, and dst's overlap holds what
		 * it would compute anyway. */
		memcpy(&w, src + n - 8, 8);
		w = lower8(w);
		memcpy(dst + n - 8, &w, 8);
	} else if (n >= 4) {
		/* Two overlapping 4-byte words (host, accept, cookie...). */
		memcpy(&a4, src, 4);
		memcpy(&b4, src + n - 4, 4);
		a4 = lower4(a4);
		b4 = lower4(b4);
		memcpy(dst, &a4, 4);
		memcpy(dst + n - 4, &b4, 4);
	} else {
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)src[i];
			dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
		}
	}
}

/* Note that a field called name (lowercase, nlen bytes) is in the list. */
static inline void
known_add(struct hfields *hs, const char *name, size_t nlen)
{
	int k = hfield_known(name, nlen);

	if (k >= 0)
		hs->known |= (uint32_t)1 << k;
}

/* Every field called name is gone. */
static inline void
known_del(struct hfields *hs, const char *name, size_t nlen)
{
	int k = hfield_known(name, nlen);

	if (k >= 0)
		hs->known &= ~((uint32_t)1 << k);
}

/* The hop-by-hop names of is_hop_name(). */
#define HFK_HOP_MASK	((uint32_t)1 << HFK_TE | (uint32_t)1 << HFK_UPGRADE | \
    (uint32_t)1 << HFK_TRAILER | (uint32_t)1 << HFK_CONNECTION | \
    (uint32_t)1 << HFK_KEEP_ALIVE | (uint32_t)1 << HFK_PROXY_CONNECTION | \
    (uint32_t)1 << HFK_TRANSFER_ENCODING | (uint32_t)1 << HFK_PROXY_AUTHENTICATE | \
    (uint32_t)1 << HFK_PROXY_AUTHORIZATION)

/* n bytes at the end of the newest chunk (a new one when it lacks room). */
static char *
arena_alloc(struct hfields *hs, size_t n)
{
	struct hfield_chunk	*c = hs->arena;
	size_t			 cap;
	char			*p;

	if (c == NULL || c->cap - c->used < n) {
		cap = c == NULL ? HFIELD_CHUNK_FIRST : c->cap * 2;
		if (cap > HFIELD_CHUNK_MAX)
			cap = HFIELD_CHUNK_MAX;
		if (cap < n)
			cap = n;
		c = xmalloc(sizeof(*c) + cap);
		c->next = hs->arena;
		c->used = 0;
		c->cap = cap;
		hs->arena = c;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

/* Room for the last field f (at p, size old) to grow to size new: in place
 * when it is the newest allocation and the chunk has room, else a copy. */
static char *
arena_grow(struct hfields *hs, char *p, size_t old, size_t new)
{
	struct hfield_chunk	*c = hs->arena;
	char			*q;

	if (c != NULL && p + old == c->data + c->used && c->cap - c->used >= new - old) {
		c->used += new - old;
		return p;
	}
	q = arena_alloc(hs, new);
	memcpy(q, p, old);
	return q;
}

/* k: the name's HFK_* (or -1), or -2 to find it here. */
static void
add_field(struct hfields *hs, const char *name, size_t nlen, const char *value,
    size_t vlen, int lc, int k)
{
	struct hfield	*f;
	char		*p;

	if (hs->n == hs->cap) {
		hs->cap = hs->cap ? hs->cap * 2 : 16;
		hs->v = xrealloc(hs->v, hs->cap * sizeof(*hs->v));
	}
	p = arena_alloc(hs, nlen + vlen + 2);
	if (lc)
		hf_put(p, name, nlen);
	else
		lower(p, name, nlen);
	p[nlen] = '\0';
	if (k == -2)
		known_add(hs, p, nlen);
	else if (k >= 0)
		hs->known |= (uint32_t)1 << k;
	hf_put(p + nlen + 1, value, vlen);
	p[nlen + 1 + vlen] = '\0';
	f = &hs->v[hs->n++];
	f->name = p;
	f->value = p + nlen + 1;
	f->nlen = (uint32_t)nlen;
	f->vlen = (uint32_t)vlen;
	hs->bytes += nlen + vlen;
}

void
hfields_add(struct hfields *hs, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	add_field(hs, name, nlen, value, vlen, 0, -2);
}

void
hfields_add_lck(struct hfields *hs, const char *name, size_t nlen, const char *value,
    size_t vlen, int k)
{
	assert(k == hfield_known(name, nlen));
	add_field(hs, name, nlen, value, vlen, 1, k);
}

void
hfields_extend_last(struct hfields *hs, int is_value, const char *s, size_t n)
{
	struct hfield	*f;
	char		*p;
	size_t		 old;

	if (hs->n == 0 || n == 0)
		return;
	f = &hs->v[hs->n - 1];
	old = (size_t)f->nlen + f->vlen + 2;
	p = arena_grow(hs, f->name, old, old + n);
	if (is_value) {
		hf_put(p + f->nlen + 1 + f->vlen, s, n);
		f->vlen += (uint32_t)n;
	} else {
		/* The value (and its NUL) moves up to make room for the name. */
		memmove(p + f->nlen + n + 1, p + f->nlen + 1, (size_t)f->vlen + 1);
		lower(p + f->nlen, s, n);
		f->nlen += (uint32_t)n;
		p[f->nlen] = '\0';
		/* The shorter name's bit stays: a bit only says "may". */
		known_add(hs, p, f->nlen);
	}
	p[f->nlen + 1 + f->vlen] = '\0';
	f->name = p;
	f->value = p + f->nlen + 1;
	hs->bytes += n;
}

static inline int
name_is(const struct hfield *f, const char *lname, size_t len)
{
	return f->nlen == len && (len == 0 || (f->name[0] == lname[0] &&
	    memcmp(f->name, lname, len) == 0));
}

const struct hfield *
hfields_getn(const struct hfields *hs, const char *lname, size_t len)
{
	for (uint32_t i = 0; i < hs->n; i++)
		if (name_is(&hs->v[i], lname, len))
			return &hs->v[i];
	return NULL;
}

unsigned
hfields_countn(const struct hfields *hs, const char *lname, size_t len)
{
	unsigned	c = 0;

	for (uint32_t i = 0; i < hs->n; i++)
		if (name_is(&hs->v[i], lname, len))
			c++;
	return c;
}

unsigned
hfields_deln(struct hfields *hs, const char *lname, size_t len)
{
	return hfields_pop(hs, lname, len, NULL);
}

unsigned
hfields_pop(struct hfields *hs, const char *lname, size_t len,
    struct hfield *first)
{
	uint32_t	i, j = 0;
	unsigned	gone = 0;

	for (i = 0; i < hs->n; i++) {
		struct hfield *f = &hs->v[i];
		if (name_is(f, lname, len)) {
			if (gone++ == 0 && first != NULL)
				*first = *f;
			hs->bytes -= (size_t)f->nlen + f->vlen;
			continue;
		}
		if (j != i)
			hs->v[j] = *f;
		j++;
	}
	hs->n = j;
	known_del(hs, lname, len);
	return gone;
}

unsigned
hfields_del_any(struct hfields *hs, const struct hname *names)
{
	uint32_t	i, j = 0;
	unsigned	gone = 0;
	size_t		k, nn = 0;

	while (names[nn].name != NULL)
		nn++;
	for (i = 0; i < hs->n; i++) {
		struct hfield	*f = &hs->v[i];

		for (k = 0; k < nn; k++)
			if (name_is(f, names[k].name, names[k].len))
				break;
		if (k < nn) {
			hs->bytes -= (size_t)f->nlen + f->vlen;
			gone++;
			continue;
		}
		if (j != i)
			hs->v[j] = *f;
		j++;
	}
	hs->n = j;
	for (k = 0; k < nn; k++)
		known_del(hs, names[k].name, names[k].len);
	return gone;
}

/* RFC 9110 7.6.1, plus the obsolete Keep-Alive and Proxy-Connection. */
static int
is_hop_name(const struct hfield *f)
{
	const char *n = f->name;

	switch (f->nlen) {
	case 2:
		return memcmp(n, "te", 2) == 0;
	case 7:
		return memcmp(n, "upgrade", 7) == 0 || memcmp(n, "trailer", 7) == 0;
	case 10:
		return memcmp(n, "connection", 10) == 0 ||
		    memcmp(n, "keep-alive", 10) == 0;
	case 16:
		return memcmp(n, "proxy-connection", 16) == 0;
	case 17:
		return memcmp(n, "transfer-encoding", 17) == 0;
	case 18:
		return memcmp(n, "proxy-authenticate", 18) == 0;
	case 19:
		return memcmp(n, "proxy-authorization", 19) == 0;
	}
	return 0;
}

static int
is_hop(const struct hfields *hs, const struct hfield *f, int has_conn)
{
	if (is_hop_name(f))
		return 1;
	/* A field the sender named in Connection is hop-by-hop too, but
	 * Connection cannot take away the message's framing. */
	if (!has_conn || name_is(f, "content-length", 14))
		return 0;
	for (uint32_t i = 0; i < hs->n; i++)
		if (name_is(&hs->v[i], "connection", 10) &&
		    hfield_has_token(hs->v[i].value, f->name))
			return 1;
	return 0;
}

void
hfields_strip_hop(struct hfields *hs)
{
	uint32_t	 i, j = 0;
	unsigned char	 small[64], *drop;
	int		 has_conn = 0, any = 0;

	/* No hop-by-hop name, and so no Connection to name others either. */
	if (hs->n == 0 || (hs->known & HFK_HOP_MASK) == 0)
		return;
	for (i = 0; i < hs->n; i++)
		if (name_is(&hs->v[i], "connection", 10))
			has_conn = 1;
	/* Decide for every field first: Connection itself goes too, and its
	 * value names the others. */
	drop = hs->n <= sizeof(small) ? small : xcalloc(hs->n, 1);
	for (i = 0; i < hs->n; i++)
		any |= drop[i] = (unsigned char)is_hop(hs, &hs->v[i], has_conn);
	if (any) {
		for (i = 0; i < hs->n; i++) {
			struct hfield *f = &hs->v[i];
			if (drop[i]) {
				hs->bytes -= (size_t)f->nlen + f->vlen;
				continue;
			}
			if (j != i)
				hs->v[j] = *f;
			j++;
		}
		hs->n = j;
	}
	hs->known &= ~HFK_HOP_MASK;
	if (drop != small)
		free(drop);
}

int
hfield_has_token(const char *value, const char *token)
{
	size_t		 tl = strlen(token);
	const char	*p = value, *e;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ','; e++)
			;
		/* Trim trailing whitespace of this element. */
		const char *t = e;
		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - p) == tl && strncasecmp(p, token, tl) == 0)
			return 1;
		p = e;
	}
	return 0;
}

char *
hfields_strdup(struct hfields *hs, const char *p, size_t n, size_t room)
{
	char *q = arena_alloc(hs, room > n + 1 ? room : n + 1);

	hf_put(q, p, n);
	q[n] = '\0';
	return q;
}

char *
hfields_strdup_lower(struct hfields *hs, const char *p, size_t n)
{
	char *q = arena_alloc(hs, n + 1);

	lower(q, p, n);
	q[n] = '\0';
	return q;
}

void
hfields_free(struct hfields *hs)
{
	struct hfield_chunk *c, *next;

	for (c = hs->arena; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	hs->arena = NULL;
	free(hs->v);
	hs->v = NULL;
	hs->n = hs->cap = 0;
	hs->known = 0;
	hs->bytes = 0;
}

void
hfields_reset(struct hfields *hs)
{
	struct hfield_chunk *c, *next;

	/* Chunks are newest first: keep the last, the first one made. */
	for (c = hs->arena; c != NULL && c->next != NULL; c = next) {
		next = c->next;
		free(c);
	}
	hs->arena = c;
	if (c != NULL)
		c->used = 0;
	hs->n = 0;
	hs->known = 0;
	hs->bytes = 0;
}
