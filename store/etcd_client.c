/*
 * etcd_client.c - blocking POSTs to etcd's v3 JSON gateway (etcd_client.h).
 */
#include "etcd_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/base64.h>
#include <openssl/mem.h>

#include "errbuf.h"
#include "log.h"
#include "store.h"
#include "store_etcd.h"
#include "xalloc.h"

#define ETCD_MAX_RESPONSE	(64L * 1024 * 1024)
#define ETCD_ELECTION_PAUSE_MS	200	/* between passes while no leader */

struct etcd_client {
	pthread_mutex_t	 mtx;
	char		**ep;
	size_t		  nep, cur;
	char		*ca_file, *cert_file, *key_file;
	char		*user, *password;
	char		*token;		/* guarded by mtx */
	long		 timeout_ms;
	CURL		*curl;		/* guarded by mtx */
	int		 reached;	/* a member answered this call (mtx) */
	int		 noleader;	/* one answered 502/503 this pass (mtx) */
	/*
	 * Reachability, under hmtx (never held across a request, so that the
	 * admin endpoint reading it never waits for etcd): up until a call
	 * finds no member answering, up again at the next call one answers.
	 */
	pthread_mutex_t	 hmtx;
	int		 up;
	int		 quiet;		/* no logging of the changes */
	time_t		 since;		/* of the last change of up */
	unsigned long	 errors, outages;
	char		 last_error[512];
};

struct buf {
	char	*p;
	size_t	 n;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *
dup_opt(const char *s)
{
	return s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
}

struct etcd_client *
etcd_client_new(const struct store_etcd_cfg *cfg, struct errbuf *eb)
{
	struct etcd_client *c;

	if (cfg->nendpoints == 0)
		return (errbuf_set(eb, "etcd: no endpoint"), NULL);
	for (size_t i = 0; i < cfg->nendpoints; i++)
		if (strncmp(cfg->endpoints[i], "http://", 7) != 0 &&
		    strncmp(cfg->endpoints[i], "https://", 8) != 0)
			return (errbuf_set(eb, "etcd: endpoint \"%s\" is not an "
			    "http:// or https:// URL", cfg->endpoints[i]), NULL);
	if ((cfg->cert_file == NULL) != (cfg->key_file == NULL))
		return (errbuf_set(eb, "etcd: a client certificate needs its key "
		    "and a key its certificate"), NULL);
	if (cfg->user != NULL && cfg->password == NULL)
		return (errbuf_set(eb, "etcd: user %s has no password", cfg->user),
		    NULL);
	pthread_once(&curl_once, curl_init_once);
	c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mtx, NULL);
	pthread_mutex_init(&c->hmtx, NULL);
	c->up = 1;
	c->since = time(NULL);
	c->ep = xcalloc(cfg->nendpoints, sizeof(*c->ep));
	for (size_t i = 0; i < cfg->nendpoints; i++) {
		size_t n = strlen(cfg->endpoints[i]);
		c->ep[i] = xstrdup(cfg->endpoints[i]);
		while (n > 0 && c->ep[i][n - 1] == '/')
			c->ep[i][--n] = '\0';
	}
	c->nep = cfg->nendpoints;
	c->ca_file = dup_opt(cfg->ca_file);
	c->cert_file = dup_opt(cfg->cert_file);
	c->key_file = dup_opt(cfg->key_file);
	c->user = dup_opt(cfg->user);
	c->password = cfg->password != NULL ? xstrdup(cfg->password) : NULL;
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
	if ((c->curl = curl_easy_init()) == NULL) {
		etcd_client_free(c);
		return (errbuf_set(eb, "etcd: curl_easy_init failed"), NULL);
	}
	return c;
}

void
etcd_client_free(struct etcd_client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	for (size_t i = 0; i < c->nep; i++)
		free(c->ep[i]);
	free(c->ep);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->user);
	if (c->password != NULL) {
		OPENSSL_cleanse(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->token);
	pthread_mutex_destroy(&c->mtx);
	pthread_mutex_destroy(&c->hmtx);
	free(c);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	n *= size;
	if (b->n + n > (size_t)ETCD_MAX_RESPONSE)
		return 0;
	b->p = xrealloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* TLS, timeouts and headers common to calls and streams; token under mtx. */
static struct curl_slist *
setup(struct etcd_client *c, CURL *h, size_t i, const char *path,
    const char *body)
{
	struct curl_slist	*hdrs = NULL;
	char			*url = xasprintf("%s%s", c->ep[i % c->nep], path);

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
	if (c->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->cert_file != NULL) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (c->token != NULL) {
		char *a = xasprintf("Authorization: %s", c->token);
		hdrs = curl_slist_append(hdrs, a);
		free(a);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	return hdrs;
}

CURL *
etcd_client_easy(struct etcd_client *c, size_t i, const char *path,
    const char *body, struct curl_slist **hdrs)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	pthread_mutex_lock(&c->mtx);
	*hdrs = setup(c, h, i, path, body);
	pthread_mutex_unlock(&c->mtx);
	return h;
}

size_t
etcd_client_nendpoints(const struct etcd_client *c)
{
	return c->nep;
}

const char *
etcd_client_endpoint(const struct etcd_client *c, size_t i)
{
	return c->ep[i % c->nep];
}

size_t
etcd_client_current(struct etcd_client *c)
{
	size_t i;

	pthread_mutex_lock(&c->mtx);
	i = c->cur;
	pthread_mutex_unlock(&c->mtx);
	return i;
}

enum post_result {
	POST_OK,	/* 2xx, *resp set */
	POST_DOWN,	/* no connection: try the next endpoint */
	POST_AUTH,	/* the token was refused */
	POST_ERROR	/* etcd answered an error: eb set */
};

/* One POST on endpoint i; mtx held. */
static enum post_result
post(struct etcd_client *c, size_t i, const char *path, const char *body,
    json_t **resp, struct errbuf *eb)
{
	struct curl_slist	*hdrs = setup(c, c->curl, i, path, body);
	struct buf		 b = { NULL, 0 };
	CURLcode		 rc;
	long			 status = 0;
	json_t			*j;
	const char		*msg;

	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c->curl);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	/* An answer other than 502/503 (no leader) is a member reached. */
	if (rc == CURLE_OK && status != 502 && status != 503)
		c->reached = 1;
	else if (rc == CURLE_OK)
		c->noleader = 1;
	if (rc != CURLE_OK) {
		free(b.p);
		errbuf_set(eb, "etcd %s%s: %s", c->ep[i], path,
		    curl_easy_strerror(rc));
		return rc == CURLE_WRITE_ERROR ? POST_ERROR : POST_DOWN;
	}
	j = b.p != NULL ? json_loadb(b.p, b.n, 0, NULL) : NULL;
	free(b.p);
	if (status >= 200 && status < 300 && json_is_object(j)) {
		*resp = j;
		return POST_OK;
	}
	msg = json_string_value(json_object_get(j, "error"));
	if (msg == NULL)
		msg = json_string_value(json_object_get(j, "message"));
	errbuf_set(eb, "etcd %s%s: HTTP %ld: %s", c->ep[i], path, status,
	    msg != NULL ? msg : "no error message");
	/* gRPC code 16 is Unauthenticated; an expired token reads "invalid
	 * auth token". */
	if (c->user != NULL && (status == 401 ||
	    etcd_int(json_object_get(j, "code")) == 16 ||
	    (msg != NULL && strstr(msg, "auth token") != NULL))) {
		json_decref(j);
		return POST_AUTH;
	}
	json_decref(j);
	/* 503: this member has no leader; another may. */
	return status == 503 || status == 502 ? POST_DOWN : POST_ERROR;
}

/* A new token; mtx held. Walks the endpoints like a call. */
static int
authenticate(struct etcd_client *c, struct errbuf *eb)
{
	json_t		*req, *resp = NULL;
	char		*body;
	const char	*tok;

	free(c->token);
	c->token = NULL;
	req = json_pack("{s:s, s:s}", "name", c->user, "password", c->password);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	for (size_t k = 0; k < c->nep; k++) {
		size_t i = (c->cur + k) % c->nep;
		enum post_result r = post(c, i, "/v3/auth/authenticate", body,
		    &resp, eb);
		if (r == POST_DOWN)
			continue;
		if (r == POST_OK)
			c->cur = i;
		break;
	}
	OPENSSL_cleanse(body, strlen(body));
	free(body);
	if (resp == NULL)
		return errbuf_prefix(eb, "etcd: authentication as %s", c->user);
	tok = json_string_value(json_object_get(resp, "token"));
	if (tok != NULL)
		c->token = xstrdup(tok);
	json_decref(resp);
	return tok != NULL ? 0 : errbuf_set(eb, "etcd: authentication as %s "
	    "returned no token", c->user);
}

int
etcd_client_reauth(struct etcd_client *c, struct errbuf *eb)
{
	int rc;

	if (c->user == NULL)
		return 0;
	pthread_mutex_lock(&c->mtx);
	rc = authenticate(c, eb);
	pthread_mutex_unlock(&c->mtx);
	return rc;
}

/*
 * After each call: a member answered (reached) or none did. The changes are
 * logged once each way, not at every failed call.
 */
static void
health_note(struct etcd_client *c, int reached, int failed,
    const struct errbuf *eb)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&c->hmtx);
	if (failed) {
		c->errors++;
		snprintf(c->last_error, sizeof(c->last_error), "%s", eb->msg);
	}
	if (reached && !c->up) {
		if (!c->quiet)
			log_notice("etcd: a member answers again, after %lld s "
			    "unreachable", (long long)(now - c->since));
		c->up = 1;
		c->since = now;
	} else if (!reached && c->up) {
		if (!c->quiet)
			log_err("etcd: no member answers (%s); unreachable "
			    "until one does", eb->msg);
		c->up = 0;
		c->since = now;
		c->outages++;
	}
	pthread_mutex_unlock(&c->hmtx);
}

void
etcd_client_quiet(struct etcd_client *c)
{
	pthread_mutex_lock(&c->hmtx);
	c->quiet = 1;
	pthread_mutex_unlock(&c->hmtx);
}

int
etcd_client_up(struct etcd_client *c)
{
	int up;

	pthread_mutex_lock(&c->hmtx);
	up = c->up;
	pthread_mutex_unlock(&c->hmtx);
	return up;
}

void
etcd_client_health(struct etcd_client *c, struct store_status *st)
{
	pthread_mutex_lock(&c->hmtx);
	st->up = c->up;
	st->down_since = c->up ? 0 : c->since;
	st->errors = c->errors;
	st->outages = c->outages;
	snprintf(st->last_error, sizeof(st->last_error), "%s", c->last_error);
	pthread_mutex_unlock(&c->hmtx);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * Endpoints in turn from the last that answered. A pass where members
 * answered but none had a leader (an election, after the leader was lost
 * or at a cluster's start) is tried again after a short pause, for at most
 * one timeout: a member's loss with quorum kept is not an outage.
 */
int
etcd_call(struct etcd_client *c, const char *path, json_t *req, json_t **resp,
    struct errbuf *eb)
{
	char		*body = json_dumps(req, JSON_COMPACT);
	int		 rc = -1, reauthed = 0;
	struct timespec	 t0;

	json_decref(req);
	*resp = NULL;
	if (body == NULL)
		return errbuf_set(eb, "etcd: cannot encode a request to %s", path);
	pthread_mutex_lock(&c->mtx);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c->reached = 0;
again:
	c->noleader = 0;
	if (c->user != NULL && c->token == NULL && authenticate(c, eb) == -1)
		goto out;
	for (size_t k = 0; k < c->nep; k++) {
		size_t i = (c->cur + k) % c->nep;
		enum post_result r = post(c, i, path, body, resp, eb);

		if (r == POST_DOWN)
			continue;
		if (r == POST_AUTH && !reauthed) {
			reauthed = 1;
			if (authenticate(c, eb) == -1)
				break;
			k--;	/* the same endpoint again */
			continue;
		}
		if (r == POST_OK) {
			c->cur = i;
			rc = 0;
		}
		break;
	}
	if (rc == -1 && !c->reached && c->noleader &&
	    ms_since(&t0) + ETCD_ELECTION_PAUSE_MS < c->timeout_ms) {
		usleep(ETCD_ELECTION_PAUSE_MS * 1000);
		goto again;
	}
out:
	health_note(c, c->reached, rc == -1, eb);
	pthread_mutex_unlock(&c->mtx);
	free(body);
	return rc;
}

long
etcd_lease_keepalive(struct etcd_client *c, int64_t id)
{
	json_t		*resp;
	struct errbuf	 eb;
	long		 ttl;

	/* A stream in gRPC; through the gateway one request, one answer. */
	if (etcd_call(c, "/v3/lease/keepalive", json_pack("{s:I}", "ID",
	    (json_int_t)id), &resp, &eb) == -1)
		return -1;
	ttl = (long)etcd_int(json_object_get(json_object_get(resp, "result"),
	    "TTL"));
	json_decref(resp);
	return ttl > 0 ? ttl : 0;
}

char *
etcd_b64(const void *p, size_t n)
{
	size_t	 len;
	char	*s;

	if (!EVP_EncodedLength(&len, n))
		abort();
	s = xmalloc(len);
	EVP_EncodeBlock((uint8_t *)s, p, n);
	return s;
}

unsigned char *
etcd_unb64(const char *s, size_t *len)
{
	size_t		 cap, n = strlen(s);
	unsigned char	*out;

	if (!EVP_DecodedLength(&cap, n))
		return NULL;
	out = xmalloc(cap + 1);
	if (!EVP_DecodeBase64(out, len, cap, (const uint8_t *)s, n)) {
		free(out);
		return NULL;
	}
	out[*len] = '\0';
	return out;
}

int64_t
etcd_int(const json_t *v)
{
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

char *
etcd_prefix_end(const char *prefix)
{
	char	*e = xstrdup(prefix);
	size_t	 n = strlen(e);

	/* Prefixes here are printable ASCII: the last byte never is 0xff. */
	e[n - 1]++;
	return e;
}
