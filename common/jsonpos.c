/*
 * jsonpos.c - a position-tracking JSON scanner that does no allocation. It
 * walks the text once, keeping the current path as a string, and stops at the
 * value whose path equals the one asked for. Keys containing '/' or '~' are
 * compared literally (config keys never contain them).
 *
 * jsonpos_find_many() answers many paths in the same single walk: the paths
 * and all their parents go into a hash index, and every value the walk meets
 * is looked up there. A config with thousands of errors is then located in
 * one pass, not one pass per error.
 */
#include "jsonpos.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* An index entry: a wanted path (or a parent of one) and where it was seen. */
struct ix_ent {
	const char	*p;		/* borrowed from a query; NULL: empty slot */
	size_t		 len;
	int		 seen;
	int		 kline, kcol;	/* at its key for a member, else its value */
	int		 vline, vcol;	/* at its value */
};

struct ix {
	struct ix_ent	*tab;
	size_t		 mask;
};

#define JSONPOS_DEPTH_MAX 64

struct scan {
	const char	*s;
	size_t		 len, off;
	int		 line, col;
	const char	*want;
	size_t		 wantlen;
	char		 path[1024];
	size_t		 pathlen;
	int		 found;		/* 1 exact, 2 parent only */
	int		 fline, fcol;
	struct ix	*ix;		/* jsonpos_find_many: record, never stop */
};

static uint64_t
ix_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
	return h;
}

static struct ix_ent *
ix_slot(struct ix *ix, const char *p, size_t n)
{
	size_t i = (size_t)ix_hash(p, n) & ix->mask;

	for (;; i = (i + 1) & ix->mask) {
		struct ix_ent *e = &ix->tab[i];
		if (e->p == NULL || (e->len == n && memcmp(e->p, p, n) == 0))
			return e;
	}
}

/* The walk is at the current path: note where, the first time. */
static void
ix_note(struct scan *sc, int kline, int kcol)
{
	struct ix_ent *e = ix_slot(sc->ix, sc->path, sc->pathlen);

	if (e->p == NULL || e->seen)
		return;
	e->seen = 1;
	e->kline = kline;
	e->kcol = kcol;
	e->vline = sc->line;
	e->vcol = sc->col;
}

static int	scan_value(struct scan *, int depth, int kline, int kcol);

static int
peek(struct scan *sc)
{
	return sc->off < sc->len ? (unsigned char)sc->s[sc->off] : -1;
}

static void
adv(struct scan *sc)
{
	if (sc->off >= sc->len)
		return;
	if (sc->s[sc->off] == '\n') {
		sc->line++;
		sc->col = 1;
	} else
		sc->col++;
	sc->off++;
}

static void
skip_ws(struct scan *sc)
{
	int c;

	while ((c = peek(sc)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		adv(sc);
}

/* Scan a string; copy its raw bytes (escapes kept as-is) to out if non-NULL. */
static int
scan_string(struct scan *sc, char *out, size_t outcap, size_t *outlen)
{
	size_t	n = 0;
	int	c;

	if (peek(sc) != '"')
		return -1;
	adv(sc);
	while ((c = peek(sc)) != '"') {
		if (c == -1)
			return -1;
		if (c == '\\') {
			adv(sc);
			if (peek(sc) == -1)
				return -1;
		}
		if (out != NULL && n + 1 < outcap)
			out[n++] = (char)peek(sc);
		adv(sc);
	}
	adv(sc);
	if (outlen != NULL)
		*outlen = n;
	return 0;
}

/* Record the current position if the current path is (a prefix of) want. */
static void
check_path(struct scan *sc, int kline, int kcol)
{
	if (sc->ix != NULL) {
		ix_note(sc, kline, kcol);
		return;
	}
	if (sc->found == 1)
		return;
	if (sc->pathlen == sc->wantlen &&
	    memcmp(sc->path, sc->want, sc->pathlen) == 0) {
		sc->found = 1;
		sc->fline = sc->line;
		sc->fcol = sc->col;
	} else if (sc->pathlen < sc->wantlen &&
	    memcmp(sc->path, sc->want, sc->pathlen) == 0 &&
	    sc->want[sc->pathlen] == '/') {
		sc->found = 2;
		sc->fline = sc->line;
		sc->fcol = sc->col;
	}
}

static int
push(struct scan *sc, const char *seg, size_t n)
{
	if (sc->pathlen + 1 + n >= sizeof(sc->path))
		return -1;
	sc->path[sc->pathlen++] = '/';
	memcpy(sc->path + sc->pathlen, seg, n);
	sc->pathlen += n;
	return 0;
}

static int
scan_object(struct scan *sc, int depth)
{
	size_t	saved = sc->pathlen, klen;
	char	key[256];

	adv(sc);			/* '{' */
	skip_ws(sc);
	if (peek(sc) == '}') {
		adv(sc);
		return 0;
	}
	for (;;) {
		int kline, kcol;

		skip_ws(sc);
		kline = sc->line;
		kcol = sc->col;
		if (scan_string(sc, key, sizeof(key), &klen) == -1)
			return -1;
		skip_ws(sc);
		if (peek(sc) != ':')
			return -1;
		adv(sc);
		skip_ws(sc);
		if (push(sc, key, klen) == -1)
			return -1;
		/* An object member is located by its key, as compilers do. */
		if (sc->ix == NULL && sc->found != 1 && sc->pathlen == sc->wantlen &&
		    memcmp(sc->path, sc->want, sc->pathlen) == 0) {
			sc->found = 1;
			sc->fline = kline;
			sc->fcol = kcol;
			return 0;
		}
		if (scan_value(sc, depth + 1, kline, kcol) == -1)
			return -1;
		sc->pathlen = saved;
		if (sc->found == 1)
			return 0;
		skip_ws(sc);
		if (peek(sc) == ',') {
			adv(sc);
			continue;
		}
		if (peek(sc) != '}')
			return -1;
		adv(sc);
		return 0;
	}
}

static int
scan_array(struct scan *sc, int depth)
{
	size_t	saved = sc->pathlen;
	char	idx[24];
	int	i = 0, n;

	adv(sc);			/* '[' */
	skip_ws(sc);
	if (peek(sc) == ']') {
		adv(sc);
		return 0;
	}
	for (;; i++) {
		skip_ws(sc);
		n = 0;
		{
			/* Decimal index without stdio. */
			char	tmp[24];
			int	v = i, k = 0;
			do {
				tmp[k++] = (char)('0' + v % 10);
				v /= 10;
			} while (v > 0);
			while (k > 0)
				idx[n++] = tmp[--k];
		}
		if (push(sc, idx, (size_t)n) == -1)
			return -1;
		if (scan_value(sc, depth + 1, 0, 0) == -1)
			return -1;
		sc->pathlen = saved;
		if (sc->found == 1)
			return 0;
		skip_ws(sc);
		if (peek(sc) == ',') {
			adv(sc);
			continue;
		}
		if (peek(sc) != ']')
			return -1;
		adv(sc);
		return 0;
	}
}

/* kline, kcol: where the value's key is, or 0 for an array element. */
static int
scan_value(struct scan *sc, int depth, int kline, int kcol)
{
	int c;

	if (depth > JSONPOS_DEPTH_MAX)
		return -1;
	skip_ws(sc);
	if (kline == 0) {
		kline = sc->line;
		kcol = sc->col;
	}
	check_path(sc, kline, kcol);
	if (sc->found == 1)
		return 0;
	switch ((c = peek(sc))) {
	case '{':
		return scan_object(sc, depth);
	case '[':
		return scan_array(sc, depth);
	case '"':
		return scan_string(sc, NULL, 0, NULL);
	case -1:
		return -1;
	default:
		/* number, true, false, null: scan to a delimiter */
		while ((c = peek(sc)) != -1 && c != ',' && c != '}' && c != ']' &&
		    c != ' ' && c != '\t' && c != '\n' && c != '\r')
			adv(sc);
		return 0;
	}
}

int
jsonpos_find(const char *text, size_t len, const char *path, int *line, int *col)
{
	struct scan sc;

	memset(&sc, 0, sizeof(sc));
	sc.s = text;
	sc.len = len;
	sc.line = sc.col = 1;
	sc.want = path;
	sc.wantlen = strlen(path);
	if (scan_value(&sc, 0, 0, 0) == -1 && sc.found == 0)
		return -1;
	if (sc.found == 0)
		return -1;
	*line = sc.fline;
	*col = sc.fcol;
	return sc.found == 1 ? 0 : 1;
}

int
jsonpos_find_many(const char *text, size_t len, struct jsonpos_query *q,
    size_t n)
{
	struct scan	*sc;
	struct ix	 ix;
	size_t		 want = 1, cap = 16;

	/* Each path and each of its parents ("/a/b": "/a/b", "/a", ""). */
	for (size_t i = 0; i < n; i++) {
		want++;
		for (const char *p = q[i].path; *p; p++)
			want += *p == '/';
	}
	while (cap < 2 * want)
		cap <<= 1;
	if ((ix.tab = calloc(cap, sizeof(*ix.tab))) == NULL)
		return -1;
	ix.mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(q[i].path);
		for (;;) {
			struct ix_ent *e = ix_slot(&ix, q[i].path, l);
			if (e->p != NULL)
				break;		/* so are its parents */
			e->p = q[i].path;
			e->len = l;
			if (l == 0)
				break;
			while (l > 0 && q[i].path[--l] != '/')
				;
		}
	}
	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		free(ix.tab);
		return -1;
	}
	sc->s = text;
	sc->len = len;
	sc->line = sc->col = 1;
	sc->ix = &ix;
	(void)scan_value(sc, 0, 0, 0);	/* a parse error ends it: keep what was seen */
	for (size_t i = 0; i < n; i++) {
		size_t		 l = strlen(q[i].path);
		struct ix_ent	*e = ix_slot(&ix, q[i].path, l);

		q[i].found = 0;
		if (e->seen) {
			q[i].found = 1;
			q[i].line = e->kline;
			q[i].col = e->kcol;
			continue;
		}
		while (l > 0) {
			while (l > 0 && q[i].path[--l] != '/')
				;
			e = ix_slot(&ix, q[i].path, l);
			if (e->seen) {
				q[i].found = 2;
				q[i].line = e->vline;
				q[i].col = e->vcol;
				break;
			}
		}
	}
	free(sc);
	free(ix.tab);
	return 0;
}
