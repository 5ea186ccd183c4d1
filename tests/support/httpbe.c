/* httpbe.c - the unit tests' small HTTP/1.1 backend (httpbe.h). */
#include "httpbe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>

int
httpbe_write(struct httpbe_conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)n) :
		    send(c->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
httpbe_canned(struct httpbe_conn *c, const struct httpbe_req *r)
{
	const char *resp;

	(void)r;
	pthread_mutex_lock(&c->be->mtx);
	resp = c->be->resp;
	pthread_mutex_unlock(&c->be->mtx);
	return httpbe_write(c, resp, strlen(resp));
}

/* Change the canned answer (the backend's threads read it). */
void
httpbe_set_resp(struct httpbe *be, const char *resp)
{
	pthread_mutex_lock(&be->mtx);
	be->resp = resp;
	pthread_mutex_unlock(&be->mtx);
}

static int
httpbe_on_url(llhttp_t *ps, const char *at, size_t n)
{
	struct httpbe_conn *c = ps->data;
	size_t l = strlen(c->cur.url);

	if (l + n < sizeof(c->cur.url))
		memcpy(c->cur.url + l, at, n), c->cur.url[l + n] = '\0';
	return 0;
}

static void
httpbe_head_add(struct httpbe_conn *c, const char *s, size_t n)
{
	size_t l = strlen(c->cur.head);

	if (l + n < sizeof(c->cur.head))
		memcpy(c->cur.head + l, s, n), c->cur.head[l + n] = '\0';
}

static int
httpbe_on_field(llhttp_t *ps, const char *at, size_t n)
{
	struct httpbe_conn *c = ps->data;

	if (c->in_value)
		httpbe_head_add(c, "\n", 1);
	c->in_value = 0;
	httpbe_head_add(c, at, n);
	return 0;
}

static int
httpbe_on_value(llhttp_t *ps, const char *at, size_t n)
{
	struct httpbe_conn *c = ps->data;

	if (!c->in_value)
		httpbe_head_add(c, ": ", 2);
	c->in_value = 1;
	httpbe_head_add(c, at, n);
	return 0;
}

static int
httpbe_on_headers(llhttp_t *ps)
{
	struct httpbe_conn *c = ps->data;

	if (c->in_value)
		httpbe_head_add(c, "\n", 1);
	snprintf(c->cur.method, sizeof(c->cur.method), "%s",
	    llhttp_method_name((llhttp_method_t)ps->method));
	return 0;
}

static int
httpbe_on_body(llhttp_t *ps, const char *at, size_t n)
{
	struct httpbe_conn *c = ps->data;

	c->cur.body = realloc(c->cur.body, c->cur.blen + n + 1);
	memcpy(c->cur.body + c->cur.blen, at, n);
	c->cur.blen += n;
	c->cur.body[c->cur.blen] = '\0';
	return 0;
}

static int
httpbe_on_complete(llhttp_t *ps)
{
	struct httpbe_conn *c = ps->data;

	c->complete = 1;
	return HPE_PAUSED;
}

static const llhttp_settings_t httpbe_settings = {
	.on_url = httpbe_on_url,
	.on_header_field = httpbe_on_field,
	.on_header_value = httpbe_on_value,
	.on_headers_complete = httpbe_on_headers,
	.on_body = httpbe_on_body,
	.on_message_complete = httpbe_on_complete,
};

static void *
httpbe_conn_main(void *arg)
{
	struct httpbe_conn	*c = arg;
	struct httpbe	*be = c->be;
	char		 buf[16384];
	const char	*p;
	ssize_t		 n;

	if (c->ssl != NULL && SSL_accept(c->ssl) != 1)
		goto out;
	llhttp_init(&c->ps, HTTP_REQUEST, &httpbe_settings);
	c->ps.data = c;
	for (;;) {
		n = c->ssl ? SSL_read(c->ssl, buf, sizeof(buf)) : recv(c->fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		p = buf;
		while (n > 0) {
			llhttp_errno_t e = llhttp_execute(&c->ps, p, (size_t)n);
			size_t used = (size_t)n;
			if (e == HPE_PAUSED) {
				used = (size_t)(llhttp_get_error_pos(&c->ps) - p);
				llhttp_resume(&c->ps);
			} else if (e != HPE_OK)
				goto out;
			p += used;
			n -= (ssize_t)used;
			if (!c->complete)
				continue;
			c->complete = 0;
			c->cur.conn = c->idx;
			c->cur.reqno = c->reqno++;
			pthread_mutex_lock(&be->mtx);
			if (be->nreqs < HTTPBE_MAXREQ)
				be->reqs[be->nreqs++] = c->cur;
			else
				free(c->cur.body);
			pthread_mutex_unlock(&be->mtx);
			struct httpbe_req r = c->cur;
			memset(&c->cur, 0, sizeof(c->cur));
			c->in_value = 0;
			if (be->fn(c, &r) == -1)
				goto out;
		}
	}
out:
	free(c->cur.body);
	c->cur.body = NULL;
	/* Not close(): the fd number must stay ours until the test joins. */
	if (c->ssl != NULL)
		(void)SSL_shutdown(c->ssl);
	shutdown(c->fd, SHUT_RDWR);
	ERR_clear_error();
	return NULL;
}

static void *
httpbe_accept_main(void *arg)
{
	struct httpbe *be = arg;

	for (;;) {
		int fd = accept(be->lfd, NULL, NULL);
		if (fd == -1)
			return NULL;
		pthread_mutex_lock(&be->mtx);
		if (be->stop || be->accepts >= HTTPBE_MAXCONN) {
			pthread_mutex_unlock(&be->mtx);
			close(fd);
			return NULL;
		}
		struct httpbe_conn *c = calloc(1, sizeof(*c));
		c->be = be;
		c->fd = fd;
		c->idx = be->accepts;
		if (be->sctx != NULL) {
			c->ssl = SSL_new(be->sctx);
			SSL_set_fd(c->ssl, fd);
		}
		be->conns[be->accepts++] = c;
		pthread_create(&c->thr, NULL, httpbe_conn_main, c);
		pthread_mutex_unlock(&be->mtx);
	}
}

int
httpbe_listen_any(int *port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);
	int			fd, one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_not_equal(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

void
httpbe_start(struct httpbe *be, httpbe_fn *fn, const char *resp, SSL_CTX *sctx)
{
	memset(be, 0, sizeof(*be));
	pthread_mutex_init(&be->mtx, NULL);
	be->fn = fn;
	be->resp = resp;
	be->sctx = sctx;
	be->lfd = httpbe_listen_any(&be->port);
	assert_int_equal(pthread_create(&be->thr, NULL, httpbe_accept_main, be), 0);
}

void
httpbe_stop(struct httpbe *be)
{
	pthread_mutex_lock(&be->mtx);
	be->stop = 1;
	pthread_mutex_unlock(&be->mtx);
	shutdown(be->lfd, SHUT_RDWR);	/* wakes accept() */
	pthread_join(be->thr, NULL);
	close(be->lfd);
	for (int i = 0; i < be->accepts; i++) {
		struct httpbe_conn *c = be->conns[i];
		shutdown(c->fd, SHUT_RDWR);
		pthread_join(c->thr, NULL);
		SSL_free(c->ssl);
		close(c->fd);
		free(c->cur.body);
		free(c);
	}
	for (int i = 0; i < be->nreqs; i++)
		free(be->reqs[i].body);
	pthread_mutex_destroy(&be->mtx);
}

int
httpbe_accepts(struct httpbe *be)
{
	int n;

	pthread_mutex_lock(&be->mtx);
	n = be->accepts;
	pthread_mutex_unlock(&be->mtx);
	return n;
}

/* A copy of request i, or a zeroed one if there is none yet. */
struct httpbe_req
httpbe_req_get(struct httpbe *be, int i)
{
	struct httpbe_req r;

	memset(&r, 0, sizeof(r));
	pthread_mutex_lock(&be->mtx);
	if (i < be->nreqs) {
		r = be->reqs[i];
		r.body = NULL;
		if (be->reqs[i].body != NULL)
			r.body = strdup(be->reqs[i].body);
	}
	pthread_mutex_unlock(&be->mtx);
	return r;
}

