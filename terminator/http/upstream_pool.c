/*
 * upstream_pool.c - a worker's idle backend connections (upstream.h).
 *
 * Idle connections are kept per (backend, TLS context) key, most recently
 * used first, so the hottest connection serves the next request and the
 * coldest ones reach their idle timeout. A worker talks to a handful of
 * backends, so the keys are a list; a key goes when its last connection
 * does, so reloads that change contexts leave nothing behind.
 *
 * An idle connection watches EV_READ: a backend that speaks while nobody
 * asked either closed the connection or sent garbage, so it is closed. Over
 * TLS, the bytes may be post-handshake messages (a late session ticket):
 * BoringSSL consumes those, and only application data or EOF close it.
 */
#include "upstream.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "h2up.h"
#include "log.h"
#include "pool.h"
#include "upstream_impl.h"
#include "xalloc.h"

struct upstream_pool *
upstream_pool_new(struct event_base *base)
{
	struct upstream_pool *up = xcalloc(1, sizeof(*up));

	up->magic = UPPOOL_MAGIC;
	up->base = base;
	up->h2 = h2up_pool_new(base);
	return up;
}

static struct upkey *
upool_key(struct upstream_pool *up, struct backend *b, SSL_CTX *ctx, int make)
{
	struct upkey *k;

	for (k = up->keys; k != NULL; k = k->next)
		if (k->b == b && k->ctx == ctx)
			return k;
	if (!make)
		return NULL;
	k = xcalloc(1, sizeof(*k));
	k->b = b;
	k->ctx = ctx;
	k->next = up->keys;
	up->keys = k;
	return k;
}

static void
upool_key_drop(struct upstream_pool *up, struct upkey *k)
{
	struct upkey **pp;

	for (pp = &up->keys; *pp != NULL; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			free(k);
			return;
		}
}

void
upool_unlink(struct upconn *u)
{
	struct upkey *k = upool_key(u->pool, u->b, u->ctx, 0);

	assert(u->state == UP_IDLE && k != NULL);
	if (u->prev != NULL)
		u->prev->next = u->next;
	else
		k->idle = u->next;
	if (u->next != NULL)
		u->next->prev = u->prev;
	u->prev = u->next = NULL;
	atomic_fetch_sub_explicit(&u->b->conns_idle, 1, memory_order_relaxed);
	if (--k->nidle == 0)
		upool_key_drop(u->pool, k);
	/* Leaving IDLE: the caller sets the next state. */
	u->state = UP_DONE;
}

struct upconn *
upool_take(struct upstream_pool *up, struct backend *b, SSL_CTX *ctx)
{
	struct upkey	*k = upool_key(up, b, ctx, 0);
	struct upconn	*u;

	if (k == NULL)
		return NULL;
	u = k->idle;
	assert(u != NULL && u->magic == UPCONN_MAGIC);
	upool_unlink(u);
	return u;
}

#define UPOOL_SURPLUS_SECS	1.0
#define UPOOL_SURPLUS_FACTOR	16

void
upool_put(struct upconn *u)
{
	struct upkey	*k;

	assert(u->state == UP_DONE && u->st == NULL);
	if (u->o.max_idle <= 0) {
		up_close(u, 1, "keep-alive off (max_idle 0)");
		return;
	}
	if (atomic_load_explicit(&u->b->removed_at, memory_order_relaxed) != 0) {
		up_close(u, 1, "backend removed by a reload");
		return;
	}
	k = upool_key(u->pool, u->b, u->ctx, 1);
	/*
	 * Past max_idle a connection may stay idle for UPOOL_SURPLUS_SECS,
	 * up to UPOOL_SURPLUS_FACTOR times as many: a steady load with more
	 * requests in flight than max_idle reuses them instead of opening and
	 * closing a connection for most requests.
	 */
	if (k->nidle >= u->o.max_idle * UPOOL_SURPLUS_FACTOR) {
		up_close(u, 1, "pool full (max_idle)");
		if (k->nidle == 0)
			upool_key_drop(u->pool, k);
		return;
	}
	u->next = k->idle;
	u->prev = NULL;
	if (k->idle != NULL)
		k->idle->prev = u;
	k->idle = u;
	k->nidle++;
	atomic_fetch_add_explicit(&u->b->conns_idle, 1, memory_order_relaxed);
	u->state = UP_IDLE;
	u->reused = 0;
	u->paused = 0;
	log_debug("u%08x backend %s: idle in the pool (%d of %d)", u->id, u->b->str,
	    k->nidle, u->o.max_idle);
	up_timer(u, k->nidle > u->o.max_idle && u->o.idle_timeout > UPOOL_SURPLUS_SECS ?
	    UPOOL_SURPLUS_SECS : u->o.idle_timeout);
	up_update_events(u);
}

void
upool_on_idle_read(struct upconn *u)
{
	char	buf[64];
	ssize_t	n;
	int	r;

	if (u->ssl != NULL) {
		r = SSL_read(u->ssl, buf, sizeof(buf));
		if (r <= 0 && SSL_get_error(u->ssl, r) == SSL_ERROR_WANT_READ)
			return;		/* post-handshake messages only */
		ERR_clear_error();
		up_close(u, 0, r > 0 ? "the backend sent bytes while idle" :
		    "closed by the backend while idle");
		return;
	}
	n = recv(u->fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	up_close(u, 0, n > 0 ? "the backend sent bytes while idle" : n == 0 ?
	    "closed by the backend while idle" : strerror(errno));
}

/* Close the idle connections of keys that match(). */
static void
upool_close_if(struct upstream_pool *up, int (*match)(const struct upkey *),
    const char *why)
{
	struct upkey *k, *next;

	for (k = up->keys; k != NULL; k = next) {
		next = k->next;
		if (!match(k))
			continue;
		/* Closing the last one frees the key. */
		while (k->nidle > 1)
			up_close(k->idle, 1, why);
		up_close(k->idle, 1, why);
	}
}

static int
key_removed(const struct upkey *k)
{
	return atomic_load_explicit(&k->b->removed_at, memory_order_relaxed) != 0;
}

static int
key_any(const struct upkey *k)
{
	(void)k;
	return 1;
}

void
upstream_pool_sweep(struct upstream_pool *up)
{
	assert(up->magic == UPPOOL_MAGIC);
	upool_close_if(up, key_removed, "backend removed by a reload");
	h2up_pool_sweep(up->h2);
}

void
upstream_pool_free(struct upstream_pool *up)
{
	if (up == NULL)
		return;
	assert(up->magic == UPPOOL_MAGIC);
	upool_close_if(up, key_any, "worker stopping");
	h2up_pool_free(up->h2);
	assert(up->keys == NULL && up->nconns == 0);
	up->magic = 0;
	free(up);
}
