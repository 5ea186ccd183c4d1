/*
 * hfield.c - ordered lists of HTTP header fields (hfield.h).
 *
 * Each field is one allocation: the lowercase name, a NUL, the value, a NUL.
 * The list is a plain growing array: requests carry tens of fields at most,
 * so lookups are linear scans, which beat any hashing at that size. The
 * callers bound the number and size of fields before adding them (header
 * limits are the parsers' job).
 */
#include "hfield.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

static void
lower(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
}

void
hfields_add(struct hfields *hs, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	struct hfield	*f;
	char		*p;

	if (hs->n == hs->cap) {
		hs->cap = hs->cap ? hs->cap * 2 : 16;
		hs->v = xrealloc(hs->v, hs->cap * sizeof(*hs->v));
	}
	p = xmalloc(nlen + vlen + 2);
	lower(p, name, nlen);
	p[nlen] = '\0';
	if (vlen > 0)
		memcpy(p + nlen + 1, value, vlen);
	p[nlen + 1 + vlen] = '\0';
	f = &hs->v[hs->n++];
	f->name = p;
	f->value = p + nlen + 1;
	f->nlen = (uint32_t)nlen;
	f->vlen = (uint32_t)vlen;
	hs->bytes += nlen + vlen;
}

void
hfields_extend_last(struct hfields *hs, int is_value, const char *s, size_t n)
{
	struct hfield	*f;
	char		*p;

	if (hs->n == 0 || n == 0)
		return;
	f = &hs->v[hs->n - 1];
	p = xrealloc(f->name, (size_t)f->nlen + f->vlen + n + 2);
	if (is_value) {
		memcpy(p + f->nlen + 1 + f->vlen, s, n);
		f->vlen += (uint32_t)n;
	} else {
		/* The value (and its NUL) moves up to make room for the name. */
		memmove(p + f->nlen + n + 1, p + f->nlen + 1, (size_t)f->vlen + 1);
		lower(p + f->nlen, s, n);
		f->nlen += (uint32_t)n;
		p[f->nlen] = '\0';
	}
	p[f->nlen + 1 + f->vlen] = '\0';
	f->name = p;
	f->value = p + f->nlen + 1;
	hs->bytes += n;
}

const struct hfield *
hfields_get(const struct hfields *hs, const char *lname)
{
	for (uint32_t i = 0; i < hs->n; i++)
		if (strcmp(hs->v[i].name, lname) == 0)
			return &hs->v[i];
	return NULL;
}

unsigned
hfields_count(const struct hfields *hs, const char *lname)
{
	unsigned c = 0;

	for (uint32_t i = 0; i < hs->n; i++)
		if (strcmp(hs->v[i].name, lname) == 0)
			c++;
	return c;
}

unsigned
hfields_del(struct hfields *hs, const char *lname)
{
	uint32_t	i, j = 0;
	unsigned	gone = 0;

	for (i = 0; i < hs->n; i++) {
		struct hfield *f = &hs->v[i];
		if (strcmp(f->name, lname) == 0) {
			hs->bytes -= (size_t)f->nlen + f->vlen;
			free(f->name);
			gone++;
			continue;
		}
		if (j != i)
			hs->v[j] = *f;
		j++;
	}
	hs->n = j;
	return gone;
}

/* RFC 9110 7.6.1, plus the obsolete Keep-Alive and Proxy-Connection. */
static const char *const hop_names[] = {
	"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding",
	"upgrade", "proxy-authenticate", "proxy-authorization", "trailer",
};

static int
is_hop(const struct hfields *hs, const struct hfield *f)
{
	for (size_t i = 0; i < sizeof(hop_names) / sizeof(hop_names[0]); i++)
		if (strcmp(f->name, hop_names[i]) == 0)
			return 1;
	/* A field the sender named in Connection is hop-by-hop too, but
	 * Connection cannot take away the message's framing. */
	if (strcmp(f->name, "content-length") == 0)
		return 0;
	for (uint32_t i = 0; i < hs->n; i++)
		if (strcmp(hs->v[i].name, "connection") == 0 &&
		    hfield_has_token(hs->v[i].value, f->name))
			return 1;
	return 0;
}

void
hfields_strip_hop(struct hfields *hs)
{
	uint32_t	 i, j = 0;
	unsigned char	*drop;

	if (hs->n == 0)
		return;
	/* Decide for every field first: Connection itself goes too, and its
	 * value names the others. */
	drop = xcalloc(hs->n, 1);
	for (i = 0; i < hs->n; i++)
		drop[i] = (unsigned char)is_hop(hs, &hs->v[i]);
	for (i = 0; i < hs->n; i++) {
		struct hfield *f = &hs->v[i];
		if (drop[i]) {
			hs->bytes -= (size_t)f->nlen + f->vlen;
			free(f->name);
			continue;
		}
		if (j != i)
			hs->v[j] = *f;
		j++;
	}
	hs->n = j;
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

void
hfields_free(struct hfields *hs)
{
	for (uint32_t i = 0; i < hs->n; i++)
		free(hs->v[i].name);
	free(hs->v);
	hs->v = NULL;
	hs->n = hs->cap = 0;
	hs->bytes = 0;
}
