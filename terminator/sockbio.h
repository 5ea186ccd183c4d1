/*
 * sockbio.h - a socket BIO that reads ahead.
 *
 * BoringSSL asks its BIO for exactly what it needs next: five bytes of record
 * header, then the record body. Over a plain socket BIO that is two read(2)
 * calls per record, and more for a handshake. This BIO reads up to
 * SOCKBIO_AHEAD bytes per recv(2) into a per-connection buffer and serves
 * BoringSSL's reads from it. The buffer is allocated when a recv is due and
 * freed as soon as it is empty, so an idle connection holds none.
 * AWS-LC can read ahead itself (sockbio_ctx_read_ahead): it then asks for a
 * whole buffer at a time, which this BIO receives straight into the
 * library's record buffer, one BIO read and no copy per record. AWS-LC frees
 * that buffer when it is empty too.
 *
 * Invariant the event code relies on: a read through this BIO only reports
 * "retry" (WANT_READ) when the buffer is empty, so waiting for the fd to
 * become readable never strands buffered bytes.
 *
 * A recv(2) that returns less than it asked for means the socket was empty
 * at that moment: the BIO marks itself drained and answers the next read
 * with "retry" at once, instead of a recv(2) that would say EAGAIN. The owner
 * must clear `drained` whenever the fd is reported readable (level-triggered
 * readiness then covers anything that arrived in between).
 * Writes go straight to send(2) with MSG_NOSIGNAL, except while `cork` is
 * set: then they are kept in a small pending buffer, which goes out in front
 * of the next write, in the same system call, or by sockbio_flush(). The
 * terminator corks the TLS 1.3 session tickets, so that they travel with the
 * first response instead of costing a send and a wake-up of the client each.
 * A BIO belongs to one connection and so to the worker thread that owns it.
 */
#ifndef TLSGATE_SOCKBIO_H
#define TLSGATE_SOCKBIO_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "bufcache.h"

#define SOCKBIO_AHEAD	BUFCACHE_SIZE	/* 16.5 KiB, from bufcache.h */
/* AWS-LC's read-ahead: its buffer adds SSL3_ALIGN_PAYLOAD - 1 bytes of
 * slack, so that it asks malloc for BUFCACHE_SIZE (bufcache_tls_malloc). */
#define SOCKBIO_LIB_AHEAD	(BUFCACHE_SIZE - (SSL3_ALIGN_PAYLOAD - 1))

struct sockbio_buf {
	char		*data;
	uint32_t	 off, len;
	int		 fd;
	int		 drained;	/* the last recv came back short */
	int		 cork;		/* hold writes back (see above) */
	char		*wdata;		/* pending corked bytes */
	uint32_t	 wlen;
};

/* Make the SSLs of ctx ask for SOCKBIO_LIB_AHEAD bytes per read (AWS-LC's
 * read-ahead; BoringSSL has none, and keeps this BIO's buffer). Call before
 * SSL_new: AWS-LC reads the setting from both the context and the SSL. */
void	sockbio_ctx_read_ahead(SSL_CTX *);
/* Attach a new BIO over fd, reading ahead into rb (owned by the caller,
 * which must outlive the SSL). Returns 0, or -1 on allocation failure. */
int	sockbio_attach(SSL *, int fd, struct sockbio_buf *rb);
/* Send the pending corked bytes. 0 when none is left, 1 when the socket
 * would block (they stay pending), -1 on an error (errno set). */
int	sockbio_flush(struct sockbio_buf *);
/* Free the read-ahead buffer (when empty, and at connection close). */
void	sockbio_release(struct sockbio_buf *);
/* Free everything, pending writes included (at connection close). */
void	sockbio_free(struct sockbio_buf *);

#endif
