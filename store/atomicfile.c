/* atomicfile.c - temp file, fsync, rename, fsync of the directory. */
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errbuf.h"
#include "xalloc.h"

int
atomicfile_write(const char *path, const void *data, size_t len, mode_t mode,
    struct errbuf *eb)
{
	const char	*p = data;
	char		*tmp, *dcopy;
	int		 fd, dfd, rc = -1;
	ssize_t		 n;

	tmp = xasprintf("%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1) {
		errbuf_set(eb, "%s: create temporary file: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	/* mkstemp makes 0600; widen only if asked, never narrow by umask. */
	if (fchmod(fd, mode) == -1) {
		errbuf_set(eb, "%s: chmod: %s", tmp, strerror(errno));
		goto fail;
	}
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			errbuf_set(eb, "%s: write: %s", tmp, strerror(errno));
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1) {
		errbuf_set(eb, "%s: fsync: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		errbuf_set(eb, "%s: close: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		errbuf_set(eb, "%s: rename: %s", path, strerror(errno));
		goto fail;
	}
	/* The rename is durable only once the directory entry is on disk. */
	dcopy = xstrdup(path);
	if ((dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(dcopy);
	rc = 0;
	goto out;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
out:
	free(tmp);
	return rc;
}
