/*
 * etcd_client.h - a blocking client of etcd's v3 JSON gateway: one POST per
 * call, JSON in and out, keys and values base64 as the gateway wants them.
 *
 * Endpoints are tried in turn from the last one that answered: a connection
 * failure or timeout moves to the next. With a user, the client gets a token
 * from /v3/auth/authenticate, sends it as the Authorization header, and gets
 * a new one once when etcd refuses it. TLS to etcd: CA file, client
 * certificate and key.
 *
 * Threads: any; a mutex serialises the calls of one client (they block for
 * at most timeout_ms per endpoint). etcd_client_easy gives the watch thread
 * its own handle configured the same way.
 */
#ifndef TLSGATE_ETCD_CLIENT_H
#define TLSGATE_ETCD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

struct errbuf;
struct store_etcd_cfg;
struct store_status;
struct etcd_client;

/* A client for cfg (copied). NULL with eb set on a bad configuration. */
struct etcd_client *etcd_client_new(const struct store_etcd_cfg *cfg,
		    struct errbuf *eb);
void		 etcd_client_free(struct etcd_client *);	/* NULL: no-op */

/*
 * POST req (taken, whatever happens) to path ("/v3/kv/range"). 0 with *resp
 * the decoded answer (new reference), or -1 with eb set: no endpoint
 * answered, or etcd answered an error (its message).
 */
int		 etcd_call(struct etcd_client *, const char *path, json_t *req,
		    json_t **resp, struct errbuf *eb);

/*
 * A new easy handle for a streaming POST of body to path on endpoint
 * number i (modulo their number), with TLS and the current token set; the
 * caller sets the write callback, performs, and frees it and *hdrs.
 */
CURL		*etcd_client_easy(struct etcd_client *, size_t i, const char *path,
		    const char *body, struct curl_slist **hdrs);
size_t		 etcd_client_nendpoints(const struct etcd_client *);
/* Endpoint i's URL (i modulo their number), for logs. */
const char	*etcd_client_endpoint(const struct etcd_client *, size_t i);
/* The endpoint that answered last (where a stream should start). */
size_t		 etcd_client_current(struct etcd_client *);
/*
 * Reachability: up (1) from the start and after any call a member answered
 * (etcd errors included: a member answered them), down (0) after a call no
 * member answered (refused, timed out, or no leader). Each change is logged
 * once. health fills up, down_since, errors (failed calls), outages and
 * last_error. Any thread; never waits for a request in flight.
 */
int		 etcd_client_up(struct etcd_client *);
/* Stop logging the changes (a second client of the same cluster). */
void		 etcd_client_quiet(struct etcd_client *);
void		 etcd_client_health(struct etcd_client *, struct store_status *);
/* Get a new token (after the stream was refused): 0 or -1. */
int		 etcd_client_reauth(struct etcd_client *, struct errbuf *eb);

/* Refresh lease id once: its remaining TTL (> 0), 0 when it is gone, -1
 * when no member answered. */
long		 etcd_lease_keepalive(struct etcd_client *, int64_t id);

/* Base64 of n bytes (new string), and back (new buffer, NUL-terminated
 * beyond *len; NULL if not base64). */
char		*etcd_b64(const void *p, size_t n);
unsigned char	*etcd_unb64(const char *s, size_t *len);
/* A gateway int64 (a JSON string or integer); 0 if absent. */
int64_t		 etcd_int(const json_t *v);
/* The first key after every key that starts with prefix (a range_end). */
char		*etcd_prefix_end(const char *prefix);

#endif
