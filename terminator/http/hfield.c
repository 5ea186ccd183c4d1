/*
 * hfield.c - header field lists (hfield.h).
 */
#include "hfield.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

static void
field_set(struct hfield *f, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	f->name = xmalloc(nlen + vlen + 2);
	for (size_t i = 0; i < nlen; i++)
		f->name[i] = (char)tolower((unsigned char)name[i]);
	f->name[nlen] = '\0';
	f->value = f->name + nlen + 1;
	memcpy(f->value, value, vlen);
	f->value[vlen] = '\0';
	f->nlen = (uint32_t)nlen;
	f->vlen = (uint32_t)vlen;
}

void
hfields_add(struct hfields *h, const char *name, size_t nlen, const char *value,
    size_t vlen)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 16;
		h->v = xrealloc(h->v, (size_t)h->cap * sizeof(*h->v));
	}
	field_set(&h->v[h->n++], name, nlen, value, vlen);
	h->bytes += nlen + vlen;
}

void
hfields_extend_last(struct hfields *h, int is_value, const char *p, size_t n)
{
	struct hfield	*f, old;

	if (h->n == 0 || n == 0)
		return;
	f = &h->v[h->n - 1];
	old = *f;
	if (is_value) {
		char *v = xmalloc(old.vlen + n);
		memcpy(v, old.value, old.vlen);
		memcpy(v + old.vlen, p, n);
		field_set(f, old.name, old.nlen, v, old.vlen + n);
		free(v);
	} else {
		char *nm = xmalloc(old.nlen + n);
		memcpy(nm, old.name, old.nlen);
		memcpy(nm + old.nlen, p, n);
		field_set(f, nm, old.nlen + n, old.value, old.vlen);
		free(nm);
	}
	free(old.name);
	h->bytes += n;
}

const struct hfield *
hfields_get(const struct hfields *h, const char *lname)
{
	for (uint32_t i = 0; i < h->n; i++)
		if (strcmp(h->v[i].name, lname) == 0)
			return &h->v[i];
	return NULL;
}

unsigned
hfields_count(const struct hfields *h, const char *lname)
{
	unsigned c = 0;

	for (uint32_t i = 0; i < h->n; i++)
		if (strcmp(h->v[i].name, lname) == 0)
			c++;
	return c;
}

unsigned
hfields_del(struct hfields *h, const char *lname)
{
	uint32_t	i, j;
	unsigned	c = 0;

	for (i = j = 0; i < h->n; i++) {
		if (strcmp(h->v[i].name, lname) == 0) {
			h->bytes -= h->v[i].nlen + h->v[i].vlen;
			free(h->v[i].name);
			c++;
		} else
			h->v[j++] = h->v[i];
	}
	h->n = j;
	return c;
}

int
hfield_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);

	for (const char *p = value; *p != '\0';) {
		size_t n;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == tl && strncasecmp(p, token, tl) == 0)
			return 1;
		p += strcspn(p, ",");
	}
	return 0;
}

void
hfields_strip_hop(struct hfields *h)
{
	static const char *const hop[] = { "connection", "keep-alive",
	    "proxy-connection", "te", "transfer-encoding", "upgrade",
	    "proxy-authenticate", "proxy-authorization", "trailer", NULL };
	const struct hfield *f;

	/* Fields named in Connection go first, while Connection is there. */
	while ((f = hfields_get(h, "connection")) != NULL) {
		char *v = xstrdup(f->value), *save = NULL, *tok;
		hfields_del(h, "connection");
		for (tok = strtok_r(v, ", \t", &save); tok != NULL;
		    tok = strtok_r(NULL, ", \t", &save)) {
			for (char *q = tok; *q; q++)
				*q = (char)tolower((unsigned char)*q);
			/* Connection cannot take away the message's framing. */
			if (strcmp(tok, "content-length") != 0)
				hfields_del(h, tok);
		}
		free(v);
	}
	for (size_t i = 0; hop[i] != NULL; i++)
		hfields_del(h, hop[i]);
}

void
hfields_free(struct hfields *h)
{
	for (uint32_t i = 0; i < h->n; i++)
		free(h->v[i].name);
	free(h->v);
	memset(h, 0, sizeof(*h));
}
