/*
 * ws.c - WebSocket requests and the checks on their 101 (ws.h). The tunnel
 * itself is the stream's two bodies carried raw by upstream.c, h1.c and
 * h2.c; this file decides which requests may become one, rewrites an
 * RFC 8441 extended CONNECT into the HTTP/1.1 upgrade the backend expects,
 * and checks the backend's 101 before bytes flow.
 */
#include "ws.h"

#include <stdint.h>
#include <string.h>

#include <openssl/base64.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "hfield.h"
#include "hstream.h"

/* RFC 6455 1.3: appended to the key before hashing. */
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_B64	24	/* 16 random bytes in base64 */
#define WS_ACCEPT_B64	28	/* a SHA-1 in base64 */

/* Whether any field called name holds token (comma-separated lists, and
 * a list may be split over several fields). */
static int
any_token(const struct hfields *h, const char *name, const char *token)
{
	if (!hfields_may_have(h, name, strlen(name)))
		return 0;
	for (uint32_t i = 0; i < h->n; i++)
		if (strcmp(h->v[i].name, name) == 0 &&
		    hfield_has_token(h->v[i].value, token))
			return 1;
	return 0;
}

int
ws_h1_request(struct hstream *st)
{
	const struct hreq *r = &st->req;

	/* RFC 6455 4.1: a GET of HTTP/1.1 or later, with no body. */
	if (r->m != HM_GET || r->version != 11 || r->body ||
	    !any_token(&r->h, "upgrade", "websocket") ||
	    !any_token(&r->h, "connection", "upgrade"))
		return 0;
	st->upgrade = 1;
	return 1;
}

void
ws_h2_request(struct hstream *st)
{
	struct hreq	*r = &st->req;
	uint8_t		 key[16];
	char		 b64[WS_KEY_B64 + 1];

	r->method = hfields_strdup(&r->h, "GET", 3, 0);
	r->m = HM_GET;
	r->body = 0;		/* the DATA that follows is the tunnel's */
	r->clen = -1;
	/* RFC 8441 4: the key and accept of RFC 6455 are not used over
	 * HTTP/2; the HTTP/1.1 hop gets a key of ours. */
	hfields_del(&r->h, "sec-websocket-key");
	hfields_del(&r->h, "sec-websocket-accept");
	RAND_bytes(key, sizeof(key));
	EVP_EncodeBlock((uint8_t *)b64, key, sizeof(key));
	hfields_add_lc(&r->h, "sec-websocket-key", 17, b64, WS_KEY_B64);
	if (hfields_get(&r->h, "sec-websocket-version") == NULL)
		hfields_add_lc(&r->h, "sec-websocket-version", 21, "13", 2);
	st->upgrade = 1;
	st->ws_h2 = 1;
}

/* RFC 6455 4.2.2: base64(SHA-1(key GUID)) into out (29 bytes). */
static void
ws_accept(const char *key, size_t klen, char *out)
{
	SHA_CTX		c;
	uint8_t		md[SHA_DIGEST_LENGTH];

	SHA1_Init(&c);
	SHA1_Update(&c, key, klen);
	SHA1_Update(&c, WS_GUID, sizeof(WS_GUID) - 1);
	SHA1_Final(md, &c);
	EVP_EncodeBlock((uint8_t *)out, md, sizeof(md));
}

const char *
ws_check_101(const struct hstream *st)
{
	const struct hfield	*k, *a;
	char			 want[WS_ACCEPT_B64 + 1];

	if (!st->upgrade)
		return "101 Switching Protocols to a request that asked for no upgrade";
	if (!any_token(&st->resp.h, "upgrade", "websocket") ||
	    !any_token(&st->resp.h, "connection", "upgrade"))
		return "101 without Upgrade: websocket and Connection: upgrade";
	if (!st->ws_h2)
		return NULL;	/* the client checks the accept key itself */
	/* Our key: the client of the bridge cannot check, so we do. */
	k = hfields_get(&st->req.h, "sec-websocket-key");
	a = hfields_get(&st->resp.h, "sec-websocket-accept");
	if (k == NULL || a == NULL)
		return "101 without Sec-WebSocket-Accept";
	ws_accept(k->value, k->vlen, want);
	if (a->vlen != WS_ACCEPT_B64 || memcmp(a->value, want, WS_ACCEPT_B64) != 0)
		return "101 with a wrong Sec-WebSocket-Accept";
	return NULL;
}
