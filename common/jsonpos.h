/*
 * jsonpos.h - where in a JSON text a value sits.
 *
 * jansson reports line and column for syntax errors but keeps no positions for
 * the values it parses. Config validation errors need them ("file:12:7: key
 * sites[1].backends: ..."), so this module re-scans the (already valid) text
 * and finds the value at a JSON-pointer-like path such as "/sites/1/backends".
 */
#ifndef TLSGATE_JSONPOS_H
#define TLSGATE_JSONPOS_H

#include <stddef.h>

/*
 * Find the value at path in text (len bytes). On success set *line and *col
 * (1-based; the column counts bytes) and return 0. An object member is
 * located at its key, an array element at its value. If the path is absent, the
 * position of its deepest existing parent is given and 1 is returned (also
 * when the text ends early). "" is the top level; -1 if a non-empty path
 * does not start with "/".
 */
int	jsonpos_find(const char *text, size_t len, const char *path, int *line,
	    int *col);

/* One question of jsonpos_find_many(): path in, the answer out. */
struct jsonpos_query {
	const char	*path;		/* borrowed */
	int		 line, col;	/* set when found != 0 */
	int		 found;		/* 0 not found, 1 exact, 2 deepest parent */
};
/*
 * Answer every query of q[0..n) as jsonpos_find() would, in one scan of the
 * text: O(len + total path length), however many queries. 0, or -1 when out
 * of memory for the index.
 */
int	jsonpos_find_many(const char *text, size_t len, struct jsonpos_query *q,
	    size_t n);

#endif
