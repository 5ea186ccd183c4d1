/*
 * jsonpos.c - a position-tracking JSON scanner that does no allocation. It
 * walks the text once, keeping the current path as a string, and stops at the
 * value whose path equals the one asked for. Keys containing '/' or '~' are
 * compared literally (config keys never contain them).
 */
#include "jsonpos.h"

#include <string.h>

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
};

static int	scan_value(struct scan *, int depth);

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
check_path(struct scan *sc)
{
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
		if (sc->found != 1 && sc->pathlen == sc->wantlen &&
		    memcmp(sc->path, sc->want, sc->pathlen) == 0) {
			sc->found = 1;
			sc->fline = kline;
			sc->fcol = kcol;
			return 0;
		}
		if (scan_value(sc, depth + 1) == -1)
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
		if (scan_value(sc, depth + 1) == -1)
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

static int
scan_value(struct scan *sc, int depth)
{
	int c;

	if (depth > JSONPOS_DEPTH_MAX)
		return -1;
	skip_ws(sc);
	check_path(sc);
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
	if (scan_value(&sc, 0) == -1 && sc.found == 0)
		return -1;
	if (sc.found == 0)
		return -1;
	*line = sc.fline;
	*col = sc.fcol;
	return sc.found == 1 ? 0 : 1;
}
