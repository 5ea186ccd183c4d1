/*
 * hfield.h - a list of HTTP header fields, in order, names lowercase.
 *
 * The one representation both the client side (HTTP/1.1 or HTTP/2) and the
 * backend side use. Names and values live in the list's own arena (a few
 * chunks, freed together by hfields_free()), NUL-terminated, so both can be
 * passed to C string functions; the lengths are kept too. A field's name
 * and value pointers stay valid until the field is removed or the list is
 * freed (hfields_extend_last() may move the last field). A list belongs to
 * one stream and so to one worker thread. A zeroed struct is an empty list.
 */
#ifndef TLSGATE_HFIELD_H
#define TLSGATE_HFIELD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct hfield {
	char		*name;		/* lowercase */
	char		*value;		/* points into the same allocation */
	uint32_t	 nlen, vlen;
};

struct hfield_chunk;

struct hfields {
	struct hfield	*v;
	uint32_t	 n, cap;
	size_t		 bytes;		/* sum of name and value lengths */
	struct hfield_chunk *arena;	/* newest chunk first */
};

/* Append a copy (the name is lowercased). */
void		 hfields_add(struct hfields *, const char *name, size_t nlen,
		    const char *value, size_t vlen);
/* Append to the last field's value (an HTTP/1.1 parser delivers fields in
 * pieces): which part grows is given by is_value. */
void		 hfields_extend_last(struct hfields *, int is_value,
		    const char *p, size_t n);
/* The first field called lname (lowercase, len bytes), or NULL. */
const struct hfield *hfields_getn(const struct hfields *, const char *lname,
		    size_t len);
/* How many fields are called lname. */
unsigned	 hfields_countn(const struct hfields *, const char *lname, size_t len);
/* Remove every field called lname; returns how many. */
unsigned	 hfields_deln(struct hfields *, const char *lname, size_t len);
/* Remove every field whose name is one of names (lowercase, NULL-ended)
 * in one pass; returns how many. */
unsigned	 hfields_del_any(struct hfields *, const char *const *names);
/* The same with a NUL-terminated name (a literal's length is folded). */
static inline const struct hfield *
hfields_get(const struct hfields *hs, const char *lname)
{
	return hfields_getn(hs, lname, strlen(lname));
}
static inline unsigned
hfields_count(const struct hfields *hs, const char *lname)
{
	return hfields_countn(hs, lname, strlen(lname));
}
static inline unsigned
hfields_del(struct hfields *hs, const char *lname)
{
	return hfields_deln(hs, lname, strlen(lname));
}
/*
 * Remove the hop-by-hop fields (RFC 9110 7.6.1): Connection and every field
 * it names, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade,
 * Proxy-Authenticate, Proxy-Authorization, Trailer. Content-Length stays.
 */
void		 hfields_strip_hop(struct hfields *);
/* Whether the comma-separated value of a field holds token (case-insensitive). */
int		 hfield_has_token(const char *value, const char *token);
/* A NUL-terminated copy of the n bytes at p (room for at least room bytes
 * with the NUL, so a caller may rewrite it in place), in the list's arena:
 * valid until hfields_free() or hfields_reset(), and never moved. For the
 * request line's strings, which then cost no malloc of their own. */
char		*hfields_strdup(struct hfields *, const char *p, size_t n,
		    size_t room);
void		 hfields_free(struct hfields *);
/* Empty the list but keep its array and first chunk for the next use. */
void		 hfields_reset(struct hfields *);

#endif
