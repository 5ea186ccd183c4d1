/*
 * climit.c - the per-client table behind climit.h.
 *
 * Every accept looks its client up here, so the table is split into shards,
 * each a chained hash with its own mutex: two workers only wait for each
 * other when their clients land in the same shard. Chains are keyed with
 * SipHash under a random key, so a client who picks its addresses (an IPv6
 * /48 holds 65,536 /64s) cannot pile them into one chain.
 *
 * An entry lives while its client has a connection open or its bucket is not
 * yet full again; otherwise it is freed, at release or by climit_sweep().
 * Memory is therefore bounded by open connections plus the clients of the
 * last few seconds.
 */
#include "climit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "xalloc.h"

#define CLIMIT_SHARDS	64
#define CLIMIT_BUCKETS0	16		/* chains per shard at first; doubles */

struct climit_entry {
	struct climit_entry	*next;
	uint64_t		 hash;
	uint8_t			 key[16];
	unsigned		 conns;
	double			 tokens, last;	/* bucket, and when it was filled */
};

struct climit_shard {
	pthread_mutex_t		 mtx;
	struct climit_entry	**chains;
	size_t			 nchains, n;
};

static struct climit_shard	 climit_shards[CLIMIT_SHARDS];
static pthread_once_t		 climit_once = PTHREAD_ONCE_INIT;
static uint64_t			 climit_sipkey[2];
static atomic_uint		 climit_max;
static _Atomic double		 climit_rate, climit_burst = 1;
static atomic_uint		 climit_next_sweep;
static atomic_ulong		 climit_n;

static void
climit_init(void)
{
	RAND_bytes((uint8_t *)climit_sipkey, sizeof(climit_sipkey));
	for (int i = 0; i < CLIMIT_SHARDS; i++)
		pthread_mutex_init(&climit_shards[i].mtx, NULL);
}

static double
climit_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* IPv4 as ::ffff:a.b.c.d (whole address); IPv6 cut to its /64. */
static void
climit_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		/* A v4-mapped address is one IPv4 client: keep all of it. */
		memcpy(key, a, IN6_IS_ADDR_V4MAPPED(a) ? 16 : 8);
	}
}

static void
climit_refill(struct climit_entry *e, double now, double rate, double burst)
{
	if (now > e->last) {
		e->tokens += (now - e->last) * rate;
		e->last = now;
	}
	if (e->tokens > burst)
		e->tokens = burst;
}

/* Nothing held: no connection open, and a bucket that is full again. */
static int
climit_idle(struct climit_entry *e, double now)
{
	double rate = atomic_load(&climit_rate), burst = atomic_load(&climit_burst);

	if (e->conns > 0)
		return 0;
	if (rate <= 0)
		return 1;
	climit_refill(e, now, rate, burst);
	return e->tokens >= burst;
}

static void
climit_grow(struct climit_shard *s)
{
	size_t			 n = s->nchains ? s->nchains * 2 : CLIMIT_BUCKETS0;
	struct climit_entry	**c = xcalloc(n, sizeof(*c)), *e, *next;

	for (size_t i = 0; i < s->nchains; i++)
		for (e = s->chains[i]; e != NULL; e = next) {
			next = e->next;
			e->next = c[e->hash & (n - 1)];
			c[e->hash & (n - 1)] = e;
		}
	free(s->chains);
	s->chains = c;
	s->nchains = n;
}

/*
 * Find the entry for key in its shard, locked; with create, make it. The
 * shard stays locked on return (*sp) whether or not an entry is found.
 */
static struct climit_entry **
climit_find(const struct sockaddr *sa, int create, struct climit_shard **sp,
    struct climit_entry **ep)
{
	uint8_t			 key[16];
	uint64_t		 h;
	struct climit_shard	*s;
	struct climit_entry	**pp;

	pthread_once(&climit_once, climit_init);
	climit_key(sa, key);
	h = SIPHASH_24(climit_sipkey, key, sizeof(key));
	/* Low bits pick the chain, high bits the shard. */
	s = *sp = &climit_shards[h >> 58];
	pthread_mutex_lock(&s->mtx);
	if (s->nchains > 0)
		for (pp = &s->chains[h & (s->nchains - 1)]; *pp != NULL; pp = &(*pp)->next)
			if ((*pp)->hash == h && memcmp((*pp)->key, key, 16) == 0) {
				*ep = *pp;
				return pp;
			}
	*ep = NULL;
	if (!create)
		return NULL;
	if (s->n >= s->nchains * 2)
		climit_grow(s);
	pp = &s->chains[h & (s->nchains - 1)];
	*ep = xcalloc(1, sizeof(**ep));
	(*ep)->hash = h;
	memcpy((*ep)->key, key, 16);
	(*ep)->tokens = atomic_load(&climit_burst);
	(*ep)->last = climit_now();
	(*ep)->next = *pp;
	*pp = *ep;
	s->n++;
	atomic_fetch_add_explicit(&climit_n, 1, memory_order_relaxed);
	return pp;
}

static void
climit_unlink(struct climit_shard *s, struct climit_entry **pp)
{
	struct climit_entry *e = *pp;

	*pp = e->next;
	free(e);
	s->n--;
	atomic_fetch_sub_explicit(&climit_n, 1, memory_order_relaxed);
}

void
climit_configure(unsigned max_conns, double rate, double burst)
{
	atomic_store(&climit_max, max_conns);
	atomic_store(&climit_rate, rate > 0 ? rate : 0);
	atomic_store(&climit_burst, burst >= 1 ? burst : 1);
}

enum climit_verdict
climit_acquire(const struct sockaddr *sa)
{
	struct climit_shard	*s;
	struct climit_entry	*e, **pp;
	unsigned		 max = atomic_load(&climit_max);
	double			 rate = atomic_load(&climit_rate);
	enum climit_verdict	 v = CLIMIT_OK;

	pp = climit_find(sa, 1, &s, &e);
	if (max > 0 && e->conns >= max)
		v = CLIMIT_CONNS;
	else if (rate > 0) {
		climit_refill(e, climit_now(), rate, atomic_load(&climit_burst));
		if (e->tokens < 1)
			v = CLIMIT_RATE;
		else
			e->tokens -= 1;
	}
	if (v == CLIMIT_OK)
		e->conns++;
	pthread_mutex_unlock(&s->mtx);
	(void)pp;
	return v;
}

void
climit_release(const struct sockaddr *sa)
{
	struct climit_shard	*s;
	struct climit_entry	*e, **pp;

	pp = climit_find(sa, 0, &s, &e);
	if (e != NULL && e->conns > 0 && --e->conns == 0 && climit_idle(e, climit_now()))
		climit_unlink(s, pp);
	pthread_mutex_unlock(&s->mtx);
}

void
climit_sweep(void)
{
	struct climit_shard	*s;
	struct climit_entry	**pp;
	double			 now = climit_now();

	pthread_once(&climit_once, climit_init);
	s = &climit_shards[atomic_fetch_add(&climit_next_sweep, 1) % CLIMIT_SHARDS];
	pthread_mutex_lock(&s->mtx);
	for (size_t i = 0; i < s->nchains; i++)
		for (pp = &s->chains[i]; *pp != NULL;)
			if (climit_idle(*pp, now))
				climit_unlink(s, pp);
			else
				pp = &(*pp)->next;
	if (s->n == 0) {
		free(s->chains);
		s->chains = NULL;
		s->nchains = 0;
	}
	pthread_mutex_unlock(&s->mtx);
}

unsigned long
climit_entries(void)
{
	return atomic_load(&climit_n);
}
