/*
 * hproxy.c - the middle of HTTP mode (hstream.h): a parsed request is
 * checked against the site, gets its forwarding fields and request id, and
 * goes to a backend chosen by the site's pool; failures become 502, 503 or
 * 504, and every exchange ends in one access-log line.
 */
#include "hsess_impl.h"

#include <arpa/inet.h>
#include <assert.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <openssl/rand.h>

#include "hlog.h"
#include "ipname.h"
#include "log.h"
#include "pool.h"
#include "route.h"
#include "sites.h"
#include "stats.h"
#include "sticky.h"
#include "upstream.h"
#include "worker.h"
#include "xalloc.h"

/* Extra attempts on a fresh connection after reused ones failed. */
#define HPROXY_REUSE_RETRIES	4

const char *const hstream_err_names[HSE__MAX] = {
	"-", "bad-request", "misdirected", "no-backend", "connect-failed",
	"backend-error", "backend-timeout", "client-gone",
};

void
hreq_set_authority(struct hreq *r, const char *p, size_t n)
{
	/* ASCII only, whatever the locale. */
	r->authority = hfields_strdup_lower(&r->h, p, n);
	r->authority_len = n;
}

/*
 * A per-thread cache of freed streams, with their two body buffers and two
 * field lists (array and first chunk) kept: a keep-alive connection or an
 * HTTP/2 session makes and frees one stream per request, and these were
 * seven allocations and frees each time. Bounded (HSTREAM_CACHE per
 * thread, about 4 KiB each: HTTP/2 sessions free streams in bursts as
 * large as their concurrency); a thread's cache is freed when it exits.
 */
#define HSTREAM_CACHE	256

struct hstream_cache {
	unsigned	 n;
	struct hstream	*v[HSTREAM_CACHE];
};
static __thread struct hstream_cache *st_cache;
static pthread_key_t	st_cache_key;
static pthread_once_t	st_cache_once = PTHREAD_ONCE_INIT;

static void
hstream_shell_free(struct hstream *st)
{
	hfields_free(&st->req.h);
	hfields_free(&st->resp.h);
	evbuffer_free(st->req_body);
	evbuffer_free(st->resp_body);
	free(st);
}

static void
st_cache_free(void *arg)
{
	struct hstream_cache *c = arg;

	while (c->n > 0)
		hstream_shell_free(c->v[--c->n]);
	free(c);
}

static void
st_cache_init(void)
{
	if (pthread_key_create(&st_cache_key, st_cache_free) != 0)
		abort();
}

/* This thread's cache, made on first use (NULL if it cannot be). */
static struct hstream_cache *
st_cache_get(void)
{
	if (st_cache == NULL) {
		pthread_once(&st_cache_once, st_cache_init);
		st_cache = xcalloc(1, sizeof(*st_cache));
		if (pthread_setspecific(st_cache_key, st_cache) != 0) {
			free(st_cache);
			st_cache = NULL;
		}
	}
	return st_cache;
}

struct hstream *
hstream_new(struct hsess *s, int32_t id)
{
	struct hstream_cache	*c = st_cache;
	struct hstream		*st;

	if (c != NULL && c->n > 0)
		st = c->v[--c->n];	/* zeroed but for its buffers and lists */
	else {
		st = xcalloc(1, sizeof(*st));
		st->req_body = evbuffer_new();
		st->resp_body = evbuffer_new();
	}
	st->magic = HSTREAM_MAGIC;
	st->s = s;
	st->id = id;
	st->state = HST_ROUTING;
	st->req.clen = -1;
	st->resp.clen = -1;
	st->ttfb = -1;
	clock_gettime(CLOCK_MONOTONIC, &st->t0);
	st->prev = s->streams_tail;
	if (s->streams_tail != NULL)
		s->streams_tail->next = st;
	else
		s->streams = st;
	s->streams_tail = st;
	s->nstreams++;
	return st;
}

void
hstream_free(struct hstream *st)
{
	struct hstream_cache	*c;
	struct hsess		*s;
	struct hfields		 rq, rs;
	struct evbuffer		*qb, *sb;

	if (st == NULL)
		return;
	assert(st->magic == HSTREAM_MAGIC);
	s = st->s;
	if (st->up != NULL)
		upstream_detach(st->up);
	if (st->req.method != NULL)
		hlog_request(st);
	if (st->resp_tr != NULL) {
		hfields_free(st->resp_tr);
		free(st->resp_tr);
	}
	if (st->prev != NULL)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next != NULL)
		st->next->prev = st->prev;
	else
		s->streams_tail = st->prev;
	s->nstreams--;
	st->magic = 0;
	if ((c = st_cache_get()) == NULL || c->n == HSTREAM_CACHE) {
		hstream_shell_free(st);
		return;
	}
	hfields_reset(&st->req.h);
	hfields_reset(&st->resp.h);
	if (evbuffer_get_length(st->req_body) > 0)
		evbuffer_drain(st->req_body, evbuffer_get_length(st->req_body));
	if (evbuffer_get_length(st->resp_body) > 0)
		evbuffer_drain(st->resp_body, evbuffer_get_length(st->resp_body));
	rq = st->req.h;
	rs = st->resp.h;
	qb = st->req_body;
	sb = st->resp_body;
	memset(st, 0, sizeof(*st));
	st->req.h = rq;
	st->resp.h = rs;
	st->req_body = qb;
	st->resp_body = sb;
	c->v[c->n++] = st;
}

/* --- routing ------------------------------------------------------------ */

/* The host part of an authority ("example.com:8443", "[::1]:443"), copied
 * into out without the port. */
static void
authority_host(const char *a, char *out, size_t cap)
{
	size_t n;

	if (a[0] == '[') {
		const char *e = strchr(a, ']');
		n = e != NULL ? (size_t)(e - a) + 1 : strlen(a);
	} else {
		const char *c = strrchr(a, ':');
		n = c != NULL ? (size_t)(c - a) : strlen(a);
	}
	if (n >= cap)
		n = cap - 1;
	memcpy(out, a, n);
	out[n] = '\0';
	/* A trailing dot names the same host. */
	if (n > 1 && out[n - 1] == '.')
		out[n - 1] = '\0';
	/* "[::1]": the address as site names spell it (ipname.h). */
	if (n > 2 && out[0] == '[' && out[n - 1] == ']') {
		char ip[IPNAME_MAX];

		out[n - 1] = '\0';
		if (ipname_canon(out + 1, ip) == 0 && strlen(ip) < cap)
			memcpy(out, ip, strlen(ip) + 1);
		else
			out[n - 1] = ']';
	}
}

/* The per-exchange settings: the route's, or the site's. */
static const struct site_http *
st_http(const struct hstream *st)
{
	return st->route != NULL ? &st->route->http : &st->site->http;
}

static struct pool *
st_pool(const struct hstream *st)
{
	return st->route != NULL ? st->route->pool : st->site->pool;
}

/* --- forwarding fields -------------------------------------------------- */

/* name: a lowercase literal. */
static void
set_field(struct hfields *h, const char *name, const char *value)
{
	hfields_del(h, name);
	hfields_add_lc(h, name, strlen(name), value, strlen(value));
}

/* Join every copy of name into one comma-separated value (or NULL). */
static char *
joined(const struct hfields *h, const char *name)
{
	char	*out = NULL;
	size_t	 len = 0;

	for (uint32_t i = 0; i < h->n; i++) {
		const struct hfield *f = &h->v[i];
		if (strcmp(f->name, name) != 0)
			continue;
		out = xrealloc(out, len + f->vlen + 3);
		if (len > 0) {
			memcpy(out + len, ", ", 2);
			len += 2;
		}
		memcpy(out + len, f->value, f->vlen);
		len += f->vlen;
		out[len] = '\0';
	}
	return out;
}

static void
append_field(struct hfields *h, const char *name, const char *add, int keep)
{
	char *old = keep ? joined(h, name) : NULL;

	if (old != NULL) {
		char *v = xasprintf("%s, %s", old, add);
		set_field(h, name, v);
		free(v);
		free(old);
	} else
		set_field(h, name, add);
}

/* RFC 7239 4: a node is an obfuscated token, IPv4, or "[IPv6]" quoted;
 * host values with a port need quotes too. */
static void
forwarded_element(const struct hstream *st, char *out, size_t cap)
{
	const struct hsess	*s = st->s;
	int			 v6 = strchr(s->peer_ip, ':') != NULL;
	const char		*host = st->req.authority;
	int			 qhost = strpbrk(host, ":[]") != NULL;

	snprintf(out, cap, "for=%s%s%s%s;proto=https;host=%s%s%s",
	    v6 ? "\"[" : "", s->peer_ip, v6 ? "]" : "", v6 ? "\"" : "",
	    qhost ? "\"" : "", host, qhost ? "\"" : "");
}

static int
request_id_valid(const char *v, size_t n)
{
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
		    c == ':' || c == '+' || c == '/' || c == '='))
			return 0;
	}
	return 1;
}

/*
 * Random bytes for generated request ids, drawn from the DRBG 64 ids at a
 * time: each RAND_bytes() call has a fixed cost (reseed checks, a key
 * schedule) several times that of 16 bytes of output. Per thread, as the
 * streams are.
 */
#define RID_POOL	(64 * 16)
static __thread uint8_t	rid_pool[RID_POOL];
static __thread size_t	rid_left;

static const uint8_t *
rid_bytes(size_t n)
{
	if (rid_left < n) {
		RAND_bytes(rid_pool, sizeof(rid_pool));
		rid_left = sizeof(rid_pool);
	}
	rid_left -= n;
	return rid_pool + rid_left;
}

/* The 8 lowercase hex digits of the 4 bytes at r, in order, to out: all
 * at once in a word (each byte spread to 16 bits, its nibbles split, and
 * 'a' - '0' - 10 added to those above 9). */
static inline void
hex4(char *out, const uint8_t *r)
{
	uint64_t	t = (uint64_t)r[0] | (uint64_t)r[1] << 16 |
			    (uint64_t)r[2] << 32 | (uint64_t)r[3] << 48;
	uint64_t	n, m;

	n = (t >> 4 & 0x000f000f000f000fULL) | (t & 0x000f000f000f000fULL) << 8;
	m = (n + 0x0606060606060606ULL) >> 4 & 0x0101010101010101ULL;
	n += 0x3030303030303030ULL + m * ('a' - '0' - 10);
	for (int i = 0; i < 8; i++)
		out[i] = (char)(n >> (8 * i));
}

static void
request_id(struct hstream *st)
{
	const struct hfield	*f = hfields_get(&st->req.h, "x-request-id");
	const uint8_t		*r;

	if (f != NULL && hfields_count(&st->req.h, "x-request-id") == 1 &&
	    request_id_valid(f->value, f->vlen)) {
		memcpy(st->rid, f->value, f->vlen + 1);
		return;
	}
	r = rid_bytes(16);
	for (size_t i = 0; i < 16; i += 4)
		hex4(st->rid + 2 * i, r + i);
	st->rid[32] = '\0';
	if (f != NULL)
		hfields_del(&st->req.h, "x-request-id");
	hfields_add_lc(&st->req.h, "x-request-id", 12, st->rid, 32);
}

static void
forwarding_fields(struct hstream *st)
{
	static const struct hname fwd_names[] = { HNAME("x-forwarded-for"),
	    HNAME("x-forwarded-proto"), HNAME("x-forwarded-host"),
	    HNAME("forwarded"), { NULL, 0 } };
	struct hsess	*s = st->s;
	struct hfields	*h = &st->req.h;
	int		 style = st_http(st)->forwarded;
	int		 keep = s->trusted;
	char		 el[INET6_ADDRSTRLEN + 600];

	if (style == FWD_NONE)
		return;
	if (!keep) {
		/* Every incoming copy goes, in one pass; what is added
		 * below is then the only one of its name. */
		if (hfields_may_have(h, "x-forwarded-for", 15) ||
		    hfields_may_have(h, "x-forwarded-proto", 17) ||
		    hfields_may_have(h, "x-forwarded-host", 16) ||
		    hfields_may_have(h, "forwarded", 9))
			hfields_del_any(h, fwd_names);
		if (style == FWD_XFF || style == FWD_BOTH) {
			hfields_add_lc(h, "x-forwarded-for", 15, s->peer_ip,
			    s->peer_ip_len);
			hfields_add_lc(h, "x-forwarded-proto", 17, "https", 5);
			hfields_add_lc(h, "x-forwarded-host", 16, st->req.authority,
			    st->req.authority_len);
		}
		if (style == FWD_FORWARDED || style == FWD_BOTH) {
			forwarded_element(st, el, sizeof(el));
			hfields_add_lc(h, "forwarded", 9, el, strlen(el));
		}
		return;
	}
	if (style == FWD_XFF || style == FWD_BOTH) {
		append_field(h, "x-forwarded-for", s->peer_ip, keep);
		if (hfields_get(h, "x-forwarded-proto") == NULL)
			set_field(h, "x-forwarded-proto", "https");
		if (hfields_get(h, "x-forwarded-host") == NULL)
			set_field(h, "x-forwarded-host", st->req.authority);
	}
	if (style == FWD_FORWARDED || style == FWD_BOTH) {
		forwarded_element(st, el, sizeof(el));
		append_field(h, "forwarded", el, keep);
	}
}

/* --- the exchange ------------------------------------------------------- */

static void
hproxy_upstream_opts(const struct hstream *st, struct upstream_opts *o)
{
	const struct view *v = st->s->c.view;

	o->connect_timeout = v->limits.connect_timeout;
	o->response_timeout = st_http(st)->backend_timeout;
	o->body_timeout = v->http.body_timeout;
	o->max_idle = st_http(st)->backend_max_idle;
	o->idle_timeout = st_http(st)->backend_idle_timeout;
	o->tunnel_idle = st_http(st)->tunnel_idle_timeout;
}

/* Send st to the next backend the pool offers; answers it when none is
 * left. */
static void
hproxy_dispatch(struct hstream *st, int same_backend)
{
	struct pool		*p = st_pool(st);
	struct upstream_opts	 o;
	struct backend		*b;

	hproxy_upstream_opts(st, &o);
	/* A valid sticky cookie names the first backend to try. */
	if (p->sticky != NULL && st->ntried == 0 && !same_backend &&
	    (st->sticky_bk = sticky_find(p->sticky, &st->req.h)) != NULL) {
		b = st->sticky_bk;
		st->tried[st->ntried++] = b;
		same_backend = 1;
		st->bk = b;
	}
	for (;;) {
		if (same_backend && st->bk != NULL)
			b = st->bk;
		else if (st->ntried > (unsigned)p->retries ||
		    st->ntried >= sizeof(st->tried) / sizeof(st->tried[0]) ||
		    (b = pool_pick(p, (const struct sockaddr *)st->s->c.peer,
		    st->tried, st->ntried)) == NULL) {
			if (st->ntried == 0)
				hproxy_respond(st, 503, HSE_NO_BACKEND,
				    "every backend is down");
			else
				hproxy_respond(st, 502, st->err ? st->err : HSE_CONNECT,
				    st->why[0] ? st->why : "no backend answered");
			return;
		} else
			st->tried[st->ntried++] = b;
		same_backend = 0;
		st->bk = b;
		st->state = HST_BACKEND;
		if (upstream_start(st->s->c.w->upool, st, p, b, &o) == 0)
			return;
		st->err = HSE_CONNECT;
	}
}

void
hproxy_request(struct hstream *st)
{
	struct hsess	*s = st->s;
	char		 host[256];

	st->state = HST_ROUTING;
	/* The site: the one the SNI named, or by Host without SNI. */
	if (st->req.authority != NULL)
		authority_host(st->req.authority, host, sizeof(host));
	else
		host[0] = '\0';
	if (s->c.sni_matched) {
		st->site = s->c.site;
		/* An on-demand site's one name is the SNI. */
		if (host[0] != '\0' && !(st->site->ondemand ?
		    strcasecmp(host, s->c.sni) == 0 : site_has_name(st->site, host))) {
			hproxy_respond(st, 421, HSE_MISDIRECTED,
			    "Host names no name of the site the TLS server name chose");
			return;
		}
	} else
		st->site = host[0] != '\0' ? view_lookup(s->c.view, host) : s->c.site;
	if (st->site == NULL || st->site->http.mode != SITE_MODE_HTTP) {
		hproxy_respond(st, 421, HSE_MISDIRECTED, "no HTTP site for this Host");
		return;
	}
	if (st->req.authority == NULL) {
		const char *a = st->site->ondemand ? s->c.sni :
		    st->site->names[0][0] == '*' ? st->site->names[0] + 2 :
		    st->site->names[0];
		st->req.authority_len = strlen(a);
		st->req.authority = hfields_strdup(&st->req.h, a,
		    st->req.authority_len, 0);
	}
	if (st->site->http.max_body > 0 && st->req.clen > st->site->http.max_body) {
		hproxy_respond(st, 413, HSE_BAD_REQUEST, "request body too large");
		return;
	}
	st->route = route_match(st->site->routes, st->req.target, st->req.method);
	request_id(st);
	forwarding_fields(st);
	hproxy_dispatch(st, 0);
}

void
hproxy_body(struct hstream *st, const void *p, size_t n)
{
	st->req_body_bytes += n;
	if (st->local || st->state == HST_DONE)
		return;		/* answered already: the body goes nowhere */
	evbuffer_add(st->req_body, p, n);
	if (st->up != NULL)
		upstream_body(st->up);
}

void
hproxy_body_end(struct hstream *st)
{
	st->req_done = 1;
	if (st->up != NULL && !st->local)
		upstream_body(st->up);
}

int
hproxy_body_room(const struct hstream *st)
{
	return st->local || evbuffer_get_length(st->req_body) < HSTREAM_BODY_HIGH;
}

void
hproxy_respond(struct hstream *st, int status, enum hstream_err err, const char *why)
{
	struct hresp	*r = &st->resp;
	char		 body[96];
	int		 n;

	if (st->head_sent || st->state == HST_RESPONDING) {
		if (st->err == HSE_NONE)
			st->err = err;
		snprintf(st->why, sizeof(st->why), "%s", why);
		hsess_defer(st->s, st, HPEND_ABORT);
		return;
	}
	if (st->up != NULL)
		upstream_detach(st->up);
	st->local = 1;
	st->err = err;
	snprintf(st->why, sizeof(st->why), "%s", why);
	hfields_free(&r->h);
	r->status = status;
	n = snprintf(body, sizeof(body), "%d %s\n", status, hlog_status_text(status));
	hfields_add_lc(&r->h, "content-type", 12, "text/plain; charset=utf-8", 25);
	hfields_add_lc(&r->h, "cache-control", 13, "no-store", 8);
	if (st->rid[0] != '\0')
		hfields_add_lc(&r->h, "x-request-id", 12, st->rid, strlen(st->rid));
	r->clen = n;
	r->body = st->req.m != HM_HEAD;
	evbuffer_drain(st->resp_body, evbuffer_get_length(st->resp_body));
	if (r->body)
		evbuffer_add(st->resp_body, body, (size_t)n);
	st->resp_done = 1;
	st->state = HST_RESPONDING;
	hsess_defer(st->s, st, HPEND_HEAD);
}

void
hproxy_resp_taken(struct hstream *st)
{
	if (st->up != NULL && evbuffer_get_length(st->resp_body) < HSTREAM_RESP_HIGH)
		upstream_resume(st->up);
}

void
hproxy_on_resp_head(struct hstream *st)
{
	struct timespec	 t;
	const struct site_http *h = st_http(st);
	struct pool	*p = st_pool(st);

	clock_gettime(CLOCK_MONOTONIC, &t);
	st->ttfb = (double)(t.tv_sec - st->t0.tv_sec) +
	    (double)(t.tv_nsec - st->t0.tv_nsec) / 1e9;
	st->state = HST_RESPONDING;
	if (h->hsts != NULL && hfields_get(&st->resp.h,
	    "strict-transport-security") == NULL)
		hfields_add_lc(&st->resp.h, "strict-transport-security", 25,
		    h->hsts, strlen(h->hsts));
	/* No valid cookie, or its backend failed: name the one that answered. */
	if (p->sticky != NULL && st->bk != NULL && st->bk != st->sticky_bk)
		sticky_set_cookie(p->sticky, st->bk, &st->resp.h);
	hsess_defer(st->s, st, HPEND_HEAD);
}

void
hproxy_on_resp_data(struct hstream *st)
{
	hsess_defer(st->s, st, HPEND_DATA);
}

void
hproxy_on_resp_end(struct hstream *st)
{
	st->resp_done = 1;
	/* The backend connection is free once the request went out whole;
	 * an upgrade's (ws.h) is done with when the backend is. */
	hsess_defer(st->s, st, HPEND_DATA | (st->req_done || st->upgrade ?
	    HPEND_RELEASE : 0));
}

void
hproxy_on_body_taken(struct hstream *st, size_t n)
{
	st->s->p->fe.on_body_taken(st, n);
}

void
hproxy_on_error(struct hstream *st, enum hstream_err err, int retry, const char *why)
{
	st->err = err;
	snprintf(st->why, sizeof(st->why), "%s", why);
	if (st->head_sent || st->state == HST_RESPONDING) {
		hsess_defer(st->s, st, HPEND_ABORT);
		return;
	}
	if (retry && st->req_body_sent == 0) {
		if (err == HSE_BACKEND && st->reuse_retries < HPROXY_REUSE_RETRIES) {
			/* A reused connection had closed: the same backend, anew. */
			st->reuse_retries++;
			hproxy_dispatch(st, 1);
			return;
		}
		if (err == HSE_CONNECT) {
			hproxy_dispatch(st, 0);
			return;
		}
	}
	hproxy_respond(st, err == HSE_TIMEOUT ? 504 : 502, err, why);
}

struct hsess *
hproxy_hold(struct hstream *st)
{
	return hsess_hold(st->s);
}

void
hproxy_unhold(struct hsess *held)
{
	if (held != NULL)
		hsess_unhold(held);
}

void
hproxy_release(struct hstream *st)
{
	if (st->up != NULL)
		upstream_detach(st->up);
}
