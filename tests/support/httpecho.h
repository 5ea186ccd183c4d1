/*
 * httpecho.h - tg_backend's "httpecho" mode: an HTTP/1.1 server (llhttp,
 * strict) that answers each request with a JSON description of what it
 * received, plus a few special paths for error and pool tests. The paths
 * and the JSON fields are listed at the top of httpecho.c.
 *
 * Single-threaded: everything runs on the event_base given to
 * httpecho_accept, which must be the same for every call.
 */
#ifndef HTTPECHO_H
#define HTTPECHO_H

#include <sys/socket.h>

#include <event2/event.h>
#include <event2/util.h>

struct httpecho_cfg {
	const char	*name;		/* borrowed for the process's life */
	unsigned	 idle_close_ms;	/* 0: keep idle connections open */
};

/* Serve the accepted socket fd (takes ownership: closed when done). */
void	httpecho_accept(struct event_base *, const struct httpecho_cfg *,
	    evutil_socket_t fd, const struct sockaddr *, int salen);

#endif
