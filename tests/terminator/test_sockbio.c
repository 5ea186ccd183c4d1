/* test_sockbio.c - the read-ahead, drained and corked socket BIO, over a
 * real socket pair. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "sockbio.h"

struct fixture {
	int			 sv[2];	/* [0] under the BIO, [1] the peer */
	SSL_CTX			*ctx;
	SSL			*ssl;
	BIO			*bio;
	struct sockbio_buf	 rb;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f->sv), 0);
	assert_non_null(f->ctx = SSL_CTX_new(TLS_method()));
	assert_non_null(f->ssl = SSL_new(f->ctx));
	assert_int_equal(sockbio_attach(f->ssl, f->sv[0], &f->rb), 0);
	f->bio = SSL_get_rbio(f->ssl);
	assert_ptr_equal(f->bio, SSL_get_wbio(f->ssl));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	SSL_free(f->ssl);
	SSL_CTX_free(f->ctx);
	sockbio_free(&f->rb);
	close(f->sv[0]);
	if (f->sv[1] != -1)
		close(f->sv[1]);
	free(f);
	return 0;
}

static void
peer_send(struct fixture *f, const char *s)
{
	assert_int_equal(send(f->sv[1], s, strlen(s), 0), (ssize_t)strlen(s));
}

/* What the peer has received so far, as a string. */
static char *
peer_recv(struct fixture *f)
{
	static char	buf[4096];
	ssize_t		n = recv(f->sv[1], buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void
test_read_ahead_then_drained(void **state)
{
	struct fixture	*f = *state;
	char		 buf[64];

	peer_send(f, "hdr01record-one|hdr02rec2");
	/* BoringSSL asks for five bytes: one recv takes everything there. */
	assert_int_equal(BIO_read(f->bio, buf, 5), 5);
	assert_memory_equal(buf, "hdr01", 5);
	assert_int_equal(f->rb.len, 20);
	assert_int_equal(f->rb.drained, 1);
	/* New bytes arrive; the buffer still serves the old ones first. */
	peer_send(f, "LATER");
	assert_int_equal(BIO_read(f->bio, buf, 11), 11);
	assert_memory_equal(buf, "record-one|", 11);
	assert_int_equal(BIO_read(f->bio, buf, sizeof(buf)), 9);
	assert_memory_equal(buf, "hdr02rec2", 9);
	assert_null(f->rb.data);	/* empty: freed */
	/* Drained: "retry" at once, without asking the socket (which has
	 * LATER), until the owner saw the fd readable. */
	assert_int_equal(BIO_read(f->bio, buf, sizeof(buf)), -1);
	assert_true(BIO_should_retry(f->bio) && BIO_should_read(f->bio));
	f->rb.drained = 0;
	assert_int_equal(BIO_read(f->bio, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "LATER", 5);
	/* Nothing there: a real EAGAIN, reported as retry. */
	f->rb.drained = 0;
	assert_int_equal(BIO_read(f->bio, buf, sizeof(buf)), -1);
	assert_true(BIO_should_retry(f->bio));
	/* The peer closes: end of file, errno 0. */
	close(f->sv[1]);
	f->sv[1] = -1;
	f->rb.drained = 0;
	assert_int_equal(BIO_read(f->bio, buf, sizeof(buf)), 0);
	assert_false(BIO_should_retry(f->bio));
	assert_int_equal(errno, 0);
}

static void
test_cork_then_one_write(void **state)
{
	struct fixture *f = *state;

	f->rb.cork = 1;
	assert_int_equal(BIO_write(f->bio, "tick", 4), 4);
	assert_int_equal(BIO_write(f->bio, "ets|", 4), 4);
	f->rb.cork = 0;
	assert_string_equal(peer_recv(f), "");		/* held back */
	assert_int_equal(f->rb.wlen, 8);
	/* The next write carries the pending bytes in front. */
	assert_int_equal(BIO_write(f->bio, "response", 8), 8);
	assert_int_equal(f->rb.wlen, 0);
	assert_null(f->rb.wdata);
	assert_string_equal(peer_recv(f), "tickets|response");
	/* Or a flush sends them on their own. */
	f->rb.cork = 1;
	assert_int_equal(BIO_write(f->bio, "alone", 5), 5);
	f->rb.cork = 0;
	assert_int_equal(sockbio_flush(&f->rb), 0);
	assert_string_equal(peer_recv(f), "alone");
	assert_int_equal(sockbio_flush(&f->rb), 0);	/* nothing left */
}

static void
test_cork_with_a_full_socket(void **state)
{
	struct fixture	*f = *state;
	char		 fill[4096], buf[65536];
	size_t		 filled = 0, got = 0;
	ssize_t		 n;
	int		 r;
	char		*all;

	memset(fill, 'f', sizeof(fill));
	f->rb.cork = 1;
	assert_int_equal(BIO_write(f->bio, "P", 1), 1);
	f->rb.cork = 0;
	/* Fill the socket past the point where sends would block. */
	while ((n = send(f->sv[0], fill, sizeof(fill), MSG_DONTWAIT)) > 0)
		filled += (size_t)n;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(sockbio_flush(&f->rb), 1);	/* would block: kept */
	assert_int_equal(f->rb.wlen, 1);
	assert_int_equal(BIO_write(f->bio, "Q", 1), -1);
	assert_true(BIO_should_retry(f->bio) && BIO_should_write(f->bio));
	/* The peer reads everything; then P and Q go, in that order. */
	all = malloc(filled + 16);
	assert_non_null(all);
	for (r = 0; r < 1000 && got < filled; r++) {
		if ((n = recv(f->sv[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
			memcpy(all + got, buf, (size_t)n);
			got += (size_t)n;
		}
	}
	assert_int_equal(got, filled);
	assert_int_equal(BIO_write(f->bio, "Q", 1), 1);
	assert_int_equal(f->rb.wlen, 0);
	assert_string_equal(peer_recv(f), "PQ");
	free(all);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_ahead_then_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cork_then_one_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cork_with_a_full_socket, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
