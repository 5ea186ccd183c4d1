/*
 * hlog.h - the access log of HTTP mode: one line per request, text or
 * JSON as log.format says, and the request metrics.
 *
 * Worker threads; the line is formatted only when log.access is on and the
 * level lets info lines through.
 */
#ifndef TLSGATE_HLOG_H
#define TLSGATE_HLOG_H

struct hstream;

/* The exchange st is over: count it, and log it. */
void		 hlog_request(const struct hstream *st);
/* "Bad Gateway" for 502, and so on ("Unknown" otherwise). */
const char	*hlog_status_text(int status);

#endif
