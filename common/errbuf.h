/*
 * errbuf.h - a caller-owned error message. Lower layers fill it and return -1;
 * the layer that knows the context (file, SNI, URL) logs it once.
 */
#ifndef TLSGATE_ERRBUF_H
#define TLSGATE_ERRBUF_H

struct errbuf {
	char msg[512];
};

/* Format into eb (which may be NULL). Always returns -1. */
int	errbuf_set(struct errbuf *eb, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Prefix the current message: "prefix: old message". Returns -1. */
int	errbuf_prefix(struct errbuf *eb, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Append BoringSSL's queued errors, if any, and clear the queue. Returns -1. */
int	errbuf_ssl(struct errbuf *eb, const char *what);

#endif
