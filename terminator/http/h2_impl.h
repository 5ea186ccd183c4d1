/*
 * h2_impl.h - what the two halves of the HTTP/2 client side share: h2.c
 * (the session, responses, timers) and h2_recv.c (the request side: the
 * nghttp2 callbacks that turn frames into streams, and the rapid-reset
 * count). Only these two files include it.
 */
#ifndef TLSGATE_H2_IMPL_H
#define TLSGATE_H2_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#include "h2mem.h"

struct hsess;
struct hstream;

/* Rapid reset: client resets per window, and per connection (then only
 * when resets are more than half the requests). */
#define H2_RST_WINDOW_SECS	10.0
#define H2_RST_WINDOW_MIN	100
#define H2_RST_CONN_MAX		1000
/* Decoded header bytes, as a multiple of max_header_size, past which a
 * header block ends the connection (HPACK bomb). */
#define H2_HDR_KILL		4

enum h2_state {
	H2_OPEN,		/* taking new streams */
	H2_DRAINING,		/* GOAWAY sent: finish the streams, then close */
	H2_DONE,		/* closing */
	H2__MAX
};

struct h2 {
	nghttp2_session		*ng;
	struct h2mem		 mem;		/* ng's allocator */
	struct hsess		*s;
	enum h2_state		 state;
	unsigned		 eof:1;		/* the client closed its side */
	unsigned		 sent_all:1;	/* the last mem_send returned 0 */
	unsigned		 trimmed:1;	/* h2mem_trim since the last I/O */
	/* h2_send_data returned NGHTTP2_ERR_PAUSE: mem_send's 0 is no end. */
	unsigned		 paused:1;
	/* Dormant (h2.c, "dormancy"): ng is NULL until input comes. */
	unsigned		 dormant:1;
	/* What the client sent while no stream was ever opened, to replay
	 * into a new session; NULL once a stream began or it grew too long. */
	uint8_t			*log;
	uint16_t		 loglen, logcap;
	/* The header block in progress (nothing else may interleave), and
	 * its stream's hstream (NULL: none, or not looked up yet). */
	int32_t			 hdr_stream;
	struct hstream		*hdr_st;
	double			 hdr_t0;
	double			 idle_since;	/* when the last stream ended */
	/* Response fields of streams let go while nghttp2 may still have to
	 * pack their HEADERS (h2_on_head passes them uncopied): freed once
	 * its queue is empty. */
	struct hfields		*graves;
	unsigned		 ngraves;
	/* While h2_fill runs: space reserved at the end of s->out, which the
	 * frames are packed into (wp, of wcap bytes, wlen used), and the
	 * bytes s->out held before. */
	uint8_t			*wp;
	size_t			 wlen, wcap, wbase;
	/* Rapid reset accounting. */
	double			 rst_t0;
	unsigned		 rst_window, rst_total;
	/* Effective limits. */
	unsigned		 max_streams, max_header_size, max_headers, max_uri;
	double			 keepalive, header_timeout;
};

/* A stream's frontend data (st->fe, which points into st->fe_buf). */
struct h2st {
	size_t			 hdr_bytes;	/* decoded name and value bytes */
	size_t			 unconsumed;	/* DATA bytes not yet given back */
	int			 refuse;	/* status to answer with, or 0 */
	const char		*refuse_why;
	unsigned		 eof_sent:1;
	/* h2_read_body deferred the DATA: h2_on_data resumes it. */
	unsigned		 deferred:1;
	/* RFC 8441 :protocol: 0 none, 1 websocket, 2 another (ws.h). */
	unsigned		 xproto:2;
};

/* The hstream of stream id, or NULL. */
struct hstream	*h2_stream(struct h2 *h, int32_t id);
/* Give n bytes of stream st's window back to the client. */
void		 h2_consume(struct h2 *h, struct hstream *st, size_t n);
/* GOAWAY(code), then close once it is sent; why goes to the log. */
void		 h2_terminate(struct h2 *h, uint32_t code, const char *why);
/* Client resets allowed per H2_RST_WINDOW_SECS. */
unsigned	 h2_rst_limit(const struct h2 *h);
/* Set the request side's callbacks (h2_recv.c) into cb. */
void		 h2_recv_callbacks(nghttp2_session_callbacks *cb);

#endif
