/*
 * sockbio.c - a read-ahead socket BIO for BoringSSL (see sockbio.h).
 */
#include "sockbio.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <openssl/bio.h>

static BIO_METHOD	*sockbio_method;
static pthread_once_t	 sockbio_once = PTHREAD_ONCE_INIT;

static int
sockbio_read(BIO *bio, char *out, int outl)
{
	struct sockbio_buf	*rb = BIO_get_data(bio);
	ssize_t			 n;
	uint32_t		 k;

	BIO_clear_retry_flags(bio);
	if (outl <= 0)
		return 0;
	if (rb->len == 0) {
		if (rb->drained) {
			BIO_set_retry_read(bio);
			errno = EAGAIN;
			return -1;
		}
		if ((size_t)outl >= SOCKBIO_LIB_AHEAD) {
			/* A big read gains nothing from the buffer. */
			n = recv(rb->fd, out, (size_t)outl, 0);
			if (n > 0 && n < outl)
				rb->drained = 1;
			goto result;
		}
		if (rb->data == NULL && (rb->data = bufcache_get()) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		rb->off = 0;
		n = recv(rb->fd, rb->data, SOCKBIO_AHEAD, 0);
		if (n <= 0) {
			int e = errno;
			sockbio_release(rb);
			errno = e;
			goto result;
		}
		rb->len = (uint32_t)n;
		if (n < SOCKBIO_AHEAD)
			rb->drained = 1;
	}
	k = rb->len < (uint32_t)outl ? rb->len : (uint32_t)outl;
	memcpy(out, rb->data + rb->off, k);
	rb->off += k;
	rb->len -= k;
	if (rb->len == 0)
		sockbio_release(rb);
	return (int)k;
result:
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		BIO_set_retry_read(bio);
	else if (n == 0)
		errno = 0;	/* EOF: SSL_ERROR_SYSCALL with errno 0 */
	return (int)n;
}

/* The first n bytes of the pending buffer were sent. */
static void
sockbio_sent(struct sockbio_buf *rb, size_t n)
{
	if (n >= rb->wlen) {
		free(rb->wdata);
		rb->wdata = NULL;
		rb->wlen = 0;
		return;
	}
	memmove(rb->wdata, rb->wdata + n, rb->wlen - n);
	rb->wlen -= (uint32_t)n;
}

static int
sockbio_write(BIO *bio, const char *in, int inl)
{
	struct sockbio_buf	*rb = BIO_get_data(bio);
	struct iovec		 iov[2];
	struct msghdr		 msg = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t			 n;
	char			*p;

	BIO_clear_retry_flags(bio);
	if (inl <= 0)
		return 0;
	if (rb->cork) {
		if ((p = realloc(rb->wdata, rb->wlen + (size_t)inl)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		memcpy(p + rb->wlen, in, (size_t)inl);
		rb->wdata = p;
		rb->wlen += (uint32_t)inl;
		return inl;
	}
	if (rb->wlen == 0) {
		n = send(rb->fd, in, (size_t)inl, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			BIO_set_retry_write(bio);
		return (int)n;
	}
	/* Pending bytes first, then these, in one system call. */
	iov[0].iov_base = rb->wdata;
	iov[0].iov_len = rb->wlen;
	iov[1].iov_base = (void *)in;
	iov[1].iov_len = (size_t)inl;
	n = sendmsg(rb->fd, &msg, MSG_NOSIGNAL);
	if (n == -1) {
		if (errno == EAGAIN || errno == EINTR)
			BIO_set_retry_write(bio);
		return -1;
	}
	if ((size_t)n <= rb->wlen) {
		/* None of the caller's bytes went: it will try again. */
		sockbio_sent(rb, (size_t)n);
		BIO_set_retry_write(bio);
		errno = EAGAIN;
		return -1;
	}
	n -= (ssize_t)rb->wlen;
	sockbio_sent(rb, rb->wlen);
	return (int)n;
}

int
sockbio_flush(struct sockbio_buf *rb)
{
	ssize_t n;

	if (rb->wlen == 0)
		return 0;
	n = send(rb->fd, rb->wdata, rb->wlen, MSG_NOSIGNAL);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 1 : -1;
	sockbio_sent(rb, (size_t)n);
	return rb->wlen == 0 ? 0 : 1;
}

static long
sockbio_ctrl(BIO *bio, int cmd, long larg, void *parg)
{
	(void)bio; (void)larg; (void)parg;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static void
sockbio_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "tlsgate read-ahead socket");

	if (m == NULL || !BIO_meth_set_read(m, sockbio_read) ||
	    !BIO_meth_set_write(m, sockbio_write) || !BIO_meth_set_ctrl(m, sockbio_ctrl)) {
		BIO_meth_free(m);
		return;
	}
	sockbio_method = m;
}

void
sockbio_ctx_read_ahead(SSL_CTX *ctx)
{
#ifdef OPENSSL_IS_AWSLC
	/* Then a read asks for at least SOCKBIO_LIB_AHEAD bytes: sockbio_read's
	 * "big read" recv()s straight into the library's buffer. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, SOCKBIO_LIB_AHEAD);
#else
	(void)ctx;
#endif
}

int
sockbio_attach(SSL *ssl, int fd, struct sockbio_buf *rb)
{
	BIO *bio;

	pthread_once(&sockbio_once, sockbio_init);
	if (sockbio_method == NULL || (bio = BIO_new(sockbio_method)) == NULL)
		return -1;
	rb->fd = fd;
	rb->drained = rb->cork = 0;
	BIO_set_data(bio, rb);
	BIO_set_init(bio, 1);
	SSL_set_bio(ssl, bio, bio);
	return 0;
}

void
sockbio_release(struct sockbio_buf *rb)
{
	bufcache_put(rb->data);
	rb->data = NULL;
	rb->off = rb->len = 0;
}

void
sockbio_free(struct sockbio_buf *rb)
{
	sockbio_release(rb);
	free(rb->wdata);
	rb->wdata = NULL;
	rb->wlen = 0;
}
