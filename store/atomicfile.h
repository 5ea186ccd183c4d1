/*
 * atomicfile.h - crash-safe file replacement.
 *
 * The data goes to a temporary file in the same directory, which is fsynced,
 * renamed over the target, and then the directory is fsynced. After kill -9 or
 * a power cut the target holds either the old or the new content, never a mix.
 * Any thread; two writers of one path must be serialised by their caller.
 */
#ifndef TLSGATE_ATOMICFILE_H
#define TLSGATE_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

struct errbuf;

/*
 * Replace path with len bytes of data, created with the given mode (e.g. 0600
 * for keys; the mode is set before any byte is written). Returns 0, or -1 with
 * eb set and the old file untouched (a full disk included).
 */
int	atomicfile_write(const char *path, const void *data, size_t len, mode_t mode,
	    struct errbuf *eb);

#endif
