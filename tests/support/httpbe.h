/*
 * httpbe.h - a small HTTP/1.1 backend for unit tests: a listening socket on
 * 127.0.0.1, one thread per accepted connection with blocking I/O (TLS when
 * given a server context), requests parsed with llhttp and recorded, each
 * answered by a function the test chooses. Everything shared with the test's
 * thread is under be->mtx.
 */
#ifndef TLSGATE_HTTPBE_H
#define TLSGATE_HTTPBE_H

#include <pthread.h>
#include <stddef.h>

#include <llhttp.h>
#include <openssl/ssl.h>

#define HTTPBE_MAXREQ	64
#define HTTPBE_MAXCONN	32

struct httpbe_req {
	char		 method[16];
	char		 url[256];
	char		 head[4096];	/* "name: value\n" lines as received */
	char		*body;
	size_t		 blen;
	int		 conn, reqno;	/* which accepted connection, which request on it */
};

struct httpbe;
struct httpbe_conn;
/* What the backend does with a complete request: 0 to go on reading,
 * -1 to close the connection. */
typedef int httpbe_fn(struct httpbe_conn *, const struct httpbe_req *);

struct httpbe {
	int		 lfd, port;
	pthread_t	 thr;
	SSL_CTX		*sctx;		/* a TLS backend, or NULL */
	httpbe_fn	*fn;
	const char	*resp;		/* the canned answer of httpbe_canned() */
	pthread_mutex_t	 mtx;
	int		 stop;
	int		 accepts;
	struct httpbe_conn *conns[HTTPBE_MAXCONN];
	struct httpbe_req reqs[HTTPBE_MAXREQ];
	int		 nreqs;
};

struct httpbe_conn {
	struct httpbe	*be;
	int		 fd, idx;
	SSL		*ssl;
	pthread_t	 thr;
	llhttp_t	 ps;
	struct httpbe_req cur;
	int		 in_value, complete, reqno;
};

/* A socket listening on 127.0.0.1 at a free port (set in *port). */
int	httpbe_listen_any(int *port);
/* Start be: fn answers each request; resp is httpbe_canned()'s answer;
 * sctx (borrowed, may be NULL) makes it a TLS backend. */
void	httpbe_start(struct httpbe *be, httpbe_fn *fn, const char *resp, SSL_CTX *sctx);
/* Stop accepting, end every connection, join the threads, free. */
void	httpbe_stop(struct httpbe *be);
/* Write all of p on c. 0 or -1. */
int	httpbe_write(struct httpbe_conn *c, const char *p, size_t n);
/* An httpbe_fn: answers with be->resp. */
int	httpbe_canned(struct httpbe_conn *c, const struct httpbe_req *r);
void	httpbe_set_resp(struct httpbe *be, const char *resp);
int	httpbe_accepts(struct httpbe *be);
/* A copy of request i (its body new, free()), zeroed if none yet. */
struct httpbe_req httpbe_req_get(struct httpbe *be, int i);

#endif
