/*
 * ws.h - WebSockets through HTTP mode: which requests become tunnels, and
 * the RFC 8441 bridge from HTTP/2 to an HTTP/1.1 upgrade.
 *
 * A WebSocket request (HTTP/1.1 "GET" with "Connection: upgrade" and
 * "Upgrade: websocket", RFC 6455 4.1; or HTTP/2 extended CONNECT with
 * ":protocol websocket", RFC 8441 4) is marked st->upgrade. It goes to the
 * backend as an HTTP/1.1 upgrade (upstream_req.c adds the two hop-by-hop
 * fields back) on a connection of its own, never one from the idle pool
 * and never returned to it. When the backend answers 101 (checked by
 * ws_check_101()), st->tunnel is set and the stream's two bodies carry the
 * raw bytes both ways (upstream.c), until either side ends or nothing moves
 * for the site's http.tunnel_idle_timeout. Any other answer is passed back
 * as a normal response. Other upgrades (h2c, ...) are not made: their
 * Upgrade field is removed as hop-by-hop and the request answered as HTTP.
 *
 * The frontends show the tunnel their own way: h1.c answers the client's
 * upgrade with the 101; h2.c answers the CONNECT stream with 200 and moves
 * the bytes in DATA frames, flow-controlled like a request body.
 *
 * Threads: a stream's worker thread, as the stream (hstream.h).
 */
#ifndef TLSGATE_WS_H
#define TLSGATE_WS_H

struct hstream;

/* HTTP/1.1: call with the request head parsed, before the hop-by-hop
 * fields are stripped. Marks st->upgrade and returns 1 for a WebSocket
 * upgrade; 0 for anything else (any other upgrade is then dropped). */
int		 ws_h1_request(struct hstream *st);
/*
 * HTTP/2: an extended CONNECT whose :protocol is websocket becomes the
 * request an HTTP/1.1 client would have sent: GET of :path, a fresh
 * Sec-WebSocket-Key and Sec-WebSocket-Version 13; the client's
 * Sec-WebSocket-Protocol and -Extensions stay. Marks st->upgrade and
 * st->ws_h2.
 */
void		 ws_h2_request(struct hstream *st);
/* The backend answered st's upgrade with 101 and these fields (st->resp.h,
 * hop-by-hop still in): NULL when it may become a tunnel, else why not (a
 * static string). */
const char	*ws_check_101(const struct hstream *st);

#endif
