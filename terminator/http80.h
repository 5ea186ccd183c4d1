/*
 * http80.h - the plain-HTTP listener (libevent's evhttp). Every request gets a
 * 308 redirect to the same host and path over HTTPS, or an HTTP-01 answer
 * from the challenge cache. It runs on the main thread's event_base.
 */
#ifndef TLSGATE_HTTP80_H
#define TLSGATE_HTTP80_H

#include <stddef.h>

struct addr;
struct errbuf;
struct event_base;
struct http80;

/*
 * Listen on addrs (or on fds[i] >= 0, sockets passed in by systemd);
 * redirects name https_port unless it is 443. Returns NULL
 * with eb set (for example when a port is taken).
 */
struct http80	*http80_new(struct event_base *base, const struct addr *addrs,
		    size_t n, const int *fds, int https_port, struct errbuf *eb);
void		 http80_free(struct http80 *);		/* NULL is a no-op */

/*
 * The redirect target for a request: "https://" + the Host header's host
 * (checked: a DNS name or an IP literal, optional numeric port, dropped) +
 * ":https_port" unless 443 + the path and query of uri. Returns a new string,
 * or NULL if the Host header is missing or not acceptable (answer 400). Pure;
 * any thread.
 */
char		*http80_redirect_url(const char *host_header, const char *uri,
		    int https_port);

#endif
