/*
 * health_h2.c - an HTTP/2 health check's framing (health_h2.h), with
 * libnghttp2's client session: the preface and SETTINGS, one GET on stream
 * 1 without a body, and the :status of its final response (1xx skipped).
 * A reset stream, or a session error, fails the check.
 */
#include "health_h2.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>

#include "xalloc.h"

struct hchk_h2 {
	nghttp2_session	*ng;
	int32_t		 id;
	int		 status;	/* final status, or 0 */
	int		 failed;
};

static int
hchk_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *arg)
{
	struct hchk_h2	*h = arg;
	int		 st;

	(void)ng;
	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != h->id ||
	    nlen != 7 || memcmp(name, ":status", 7) != 0 || vlen != 3)
		return 0;
	st = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
	if (st >= 200 && h->status == 0)
		h->status = st;
	return 0;
}

static int
hchk_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *arg)
{
	struct hchk_h2 *h = arg;

	(void)ng;
	(void)code;
	if (id == h->id && h->status == 0)
		h->failed = 1;
	return 0;
}

struct hchk_h2 *
hchk_h2_new(const char *path, const char *host)
{
	nghttp2_session_callbacks	*cb;
	struct hchk_h2			*h = xcalloc(1, sizeof(*h));
	nghttp2_nv			 nv[5] = {
		{ (uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)":authority", (uint8_t *)host, 10, strlen(host),
		    NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)":path", (uint8_t *)path, 5, strlen(path),
		    NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"user-agent", (uint8_t *)"tlsgate-health", 10, 14,
		    NGHTTP2_NV_FLAG_NONE },
	};
	int				 rv;

	if (nghttp2_session_callbacks_new(&cb) != 0) {
		free(h);
		return NULL;
	}
	nghttp2_session_callbacks_set_on_header_callback(cb, hchk_on_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, hchk_on_close);
	rv = nghttp2_session_client_new(&h->ng, cb, h);
	nghttp2_session_callbacks_del(cb);
	if (rv != 0 || nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
	    (h->id = nghttp2_submit_request(h->ng, NULL, nv, 5, NULL, NULL)) < 0) {
		hchk_h2_free(h);
		return NULL;
	}
	return h;
}

void
hchk_h2_free(struct hchk_h2 *h)
{
	if (h == NULL)
		return;
	nghttp2_session_del(h->ng);
	free(h);
}

int
hchk_h2_send(struct hchk_h2 *h, int fd)
{
	const uint8_t	*data;
	ssize_t		 n;

	while ((n = nghttp2_session_mem_send(h->ng, &data)) > 0)
		if (send(fd, data, (size_t)n, MSG_NOSIGNAL) != n)
			return -1;
	return n < 0 ? -1 : 0;
}

int
hchk_h2_recv(struct hchk_h2 *h, const uint8_t *p, size_t n)
{
	if (nghttp2_session_mem_recv(h->ng, p, n) < 0)
		return -1;
	if (h->status > 0)
		return h->status;
	return h->failed ? -1 : 0;
}
