/*
 * health_h2.h - the HTTP/2 form of an `http` health check, for a pool with
 * http.backend_protocol "h2" in cleartext (prior knowledge): one GET over a
 * throwaway nghttp2 client session on the check's own connection. health.c
 * owns the socket, the timeout and the verdict; this only frames.
 *
 * Threads: the main thread's, as health.c.
 */
#ifndef TLSGATE_HEALTH_H2_H
#define TLSGATE_HEALTH_H2_H

#include <stddef.h>
#include <stdint.h>

struct hchk_h2;

/* A session with "GET path" (Host: host) queued. NULL on failure. */
struct hchk_h2	*hchk_h2_new(const char *path, const char *host);
void		 hchk_h2_free(struct hchk_h2 *);	/* NULL is a no-op */
/* Send what the session has queued on fd (a few hundred bytes at most: the
 * preface, SETTINGS, the request, acknowledgements). 0, or -1 if it could
 * not all go at once. */
int		 hchk_h2_send(struct hchk_h2 *, int fd);
/* n bytes from the backend: the final status once its head came (200 or
 * more), 0 while more is needed, -1 when the stream or session failed. */
int		 hchk_h2_recv(struct hchk_h2 *, const uint8_t *p, size_t n);

#endif
