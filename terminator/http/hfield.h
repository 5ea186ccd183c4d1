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
	uint32_t	 known;		/* HFK_* bits: such a field may be here */
	size_t		 bytes;		/* sum of name and value lengths */
	struct hfield_chunk *arena;	/* newest chunk first */
};

/*
 * The names that every request or response is searched for. A list keeps
 * one bit per such name that it may hold (set when a field of that name is
 * added, cleared when every field of that name is removed), so that a
 * search for one that is absent, the usual case, costs no scan. Lookups of
 * other names scan as before.
 */
enum hfield_known {
	HFK_TE, HFK_HOST, HFK_EXPECT, HFK_COOKIE, HFK_UPGRADE, HFK_TRAILER,
	HFK_FORWARDED, HFK_CONNECTION, HFK_KEEP_ALIVE, HFK_X_REQUEST_ID,
	HFK_CONTENT_LENGTH, HFK_X_FORWARDED_FOR, HFK_PROXY_CONNECTION,
	HFK_X_FORWARDED_HOST, HFK_TRANSFER_ENCODING, HFK_X_FORWARDED_PROTO,
	HFK_SEC_WEBSOCKET_KEY, HFK_PROXY_AUTHENTICATE, HFK_PROXY_AUTHORIZATION,
	HFK_SEC_WEBSOCKET_ACCEPT, HFK_SEC_WEBSOCKET_VERSION,
	HFK_STRICT_TRANSPORT_SECURITY,
	HFK__MAX
};

/* The HFK_* of the lowercase name n (len bytes), or -1. Inline, so that a
 * literal's class is folded at compile time. */
static inline int
hfield_known(const char *n, size_t len)
{
#define HFK_IS(lit, k) if (memcmp(n, lit, len) == 0) return (k)
	switch (len) {
	case 2:	HFK_IS("te", HFK_TE); break;
	case 4:	HFK_IS("host", HFK_HOST); break;
	case 6:	HFK_IS("expect", HFK_EXPECT); HFK_IS("cookie", HFK_COOKIE); break;
	case 7:	HFK_IS("upgrade", HFK_UPGRADE); HFK_IS("trailer", HFK_TRAILER); break;
	case 9:	HFK_IS("forwarded", HFK_FORWARDED); break;
	case 10:
		HFK_IS("connection", HFK_CONNECTION);
		HFK_IS("keep-alive", HFK_KEEP_ALIVE);
		break;
	case 12: HFK_IS("x-request-id", HFK_X_REQUEST_ID); break;
	case 14: HFK_IS("content-length", HFK_CONTENT_LENGTH); break;
	case 15: HFK_IS("x-forwarded-for", HFK_X_FORWARDED_FOR); break;
	case 16:
		HFK_IS("proxy-connection", HFK_PROXY_CONNECTION);
		HFK_IS("x-forwarded-host", HFK_X_FORWARDED_HOST);
		break;
	case 17:
		HFK_IS("transfer-encoding", HFK_TRANSFER_ENCODING);
		HFK_IS("x-forwarded-proto", HFK_X_FORWARDED_PROTO);
		HFK_IS("sec-websocket-key", HFK_SEC_WEBSOCKET_KEY);
		break;
	case 18: HFK_IS("proxy-authenticate", HFK_PROXY_AUTHENTICATE); break;
	case 19: HFK_IS("proxy-authorization", HFK_PROXY_AUTHORIZATION); break;
	case 20: HFK_IS("sec-websocket-accept", HFK_SEC_WEBSOCKET_ACCEPT); break;
	case 21: HFK_IS("sec-websocket-version", HFK_SEC_WEBSOCKET_VERSION); break;
	case 25: HFK_IS("strict-transport-security", HFK_STRICT_TRANSPORT_SECURITY); break;
	}
	return -1;
#undef HFK_IS
}

/* Whether a field called lname (len bytes) may be in the list: 0 means
 * certainly not. */
static inline int
hfields_may_have(const struct hfields *hs, const char *lname, size_t len)
{
	int k = hfield_known(lname, len);

	return k < 0 || (hs->known & (uint32_t)1 << k) != 0;
}

/*
 * Copy n bytes to p and return p + n: for the short strings of a head
 * (names, values, a method), inline moves of overlapping words instead of
 * a call into the C library; longer ones go to memcpy().
 */
static inline char *
hf_put(char *p, const char *s, size_t n)
{
	uint64_t a, b;
	uint32_t c, d;

	if (n >= 8 && n <= 16) {
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(p, &a, 8);
		memcpy(p + n - 8, &b, 8);
	} else if (n >= 4 && n < 8) {
		memcpy(&c, s, 4);
		memcpy(&d, s + n - 4, 4);
		memcpy(p, &c, 4);
		memcpy(p + n - 4, &d, 4);
	} else if (n < 4) {
		for (size_t i = 0; i < n; i++)
			p[i] = s[i];
	} else
		memcpy(p, s, n);
	return p + n;
}

/* Append a copy (the name is lowercased). */
void		 hfields_add(struct hfields *, const char *name, size_t nlen,
		    const char *value, size_t vlen);
/* The same for a name that is lowercase already (HTTP/2's, which nghttp2
 * checked, or a literal of ours): copied as it is. */
void		 hfields_add_lck(struct hfields *, const char *name, size_t nlen,
		    const char *value, size_t vlen, int k);
static inline void
hfields_add_lc(struct hfields *hs, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	/* A literal's class is folded here, at compile time. */
	hfields_add_lck(hs, name, nlen, value, vlen, hfield_known(name, nlen));
}
/* Append to the last field's value (an HTTP/1.1 parser delivers fields in
 * pieces): which part grows is given by is_value. */
void		 hfields_extend_last(struct hfields *, int is_value,
		    const char *p, size_t n);
/*
 * A field's name held until its value comes, for an HTTP/1.1 parser that
 * delivers names and values in pieces: one add with both, not an add and
 * an extend. name points into the parser's input: hfields_hold_flush()
 * before that input goes (the end of each llhttp_execute(), the head's
 * end). The caller starts a hold (name = at, len = n) at a field's first
 * piece, after its own limits.
 */
struct hfield_hold {
	const char	*name;
	size_t		 len;
};
/* A held name goes in alone, with an empty value (more may follow). */
static inline void
hfields_hold_flush(struct hfields *hs, struct hfield_hold *hd)
{
	if (hd->name != NULL)
		hfields_add(hs, hd->name, hd->len, "", 0);
	hd->name = NULL;
}
/* More of the last field's name: right behind a held one (llhttp ends a
 * name's span where its matcher of special names gives up: "content-"
 * then "type") it just lengthens it. */
static inline void
hfields_hold_name(struct hfields *hs, struct hfield_hold *hd, const char *at,
    size_t n)
{
	if (hd->name != NULL && at == hd->name + hd->len) {
		hd->len += n;
		return;
	}
	hfields_hold_flush(hs, hd);
	hfields_extend_last(hs, 0, at, n);
}
/* A piece of the last field's value. */
static inline void
hfields_hold_value(struct hfields *hs, struct hfield_hold *hd, const char *at,
    size_t n)
{
	if (hd->name != NULL) {
		hfields_add(hs, hd->name, hd->len, at, n);
		hd->name = NULL;
	} else
		hfields_extend_last(hs, 1, at, n);
}
/* The first field called lname (lowercase, len bytes), or NULL. */
const struct hfield *hfields_getn(const struct hfields *, const char *lname,
		    size_t len);
/* How many fields are called lname. */
unsigned	 hfields_countn(const struct hfields *, const char *lname, size_t len);
/* Remove every field called lname; returns how many. */
unsigned	 hfields_deln(struct hfields *, const char *lname, size_t len);
/* Remove every field called lname and return how many; *first (unless
 * NULL) gets a copy of the first (untouched when none), whose name and
 * value stay readable until hfields_free() or hfields_reset(): removed
 * fields leave their bytes in the arena. One pass for what get, count and
 * del do. */
unsigned	 hfields_pop(struct hfields *, const char *lname, size_t len,
		    struct hfield *first);
/* A lowercase name and its length, for hfields_del_any(): HNAME("x"). */
struct hname {
	const char	*name;
	size_t		 len;
};
#define HNAME(lit)	{ (lit), sizeof(lit) - 1 }
/* Remove every field whose name is one of names (ended by a NULL name) in
 * one pass; returns how many. The pass is made whatever the
 * well-known-name bits say: a caller with literal names asks
 * hfields_may_have() first, which then costs a bit test each. */
unsigned	 hfields_del_any(struct hfields *, const struct hname *names);
/* The same with a NUL-terminated name (a literal's length is folded). */
static inline const struct hfield *
hfields_get(const struct hfields *hs, const char *lname)
{
	size_t len = strlen(lname);

	return hfields_may_have(hs, lname, len) ? hfields_getn(hs, lname, len) : NULL;
}
static inline unsigned
hfields_count(const struct hfields *hs, const char *lname)
{
	size_t len = strlen(lname);

	return hfields_may_have(hs, lname, len) ? hfields_countn(hs, lname, len) : 0;
}
static inline unsigned
hfields_del(struct hfields *hs, const char *lname)
{
	size_t len = strlen(lname);

	return hfields_may_have(hs, lname, len) ? hfields_deln(hs, lname, len) : 0;
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
/* The same, ASCII-lowercased (an authority). */
char		*hfields_strdup_lower(struct hfields *, const char *p, size_t n);
void		 hfields_free(struct hfields *);
/* Empty the list but keep its array and first chunk for the next use. */
void		 hfields_reset(struct hfields *);

#endif
