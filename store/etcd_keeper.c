/*
 * etcd_keeper.c - the lease keeper's thread (etcd_keeper.h).
 *
 * One thread, started with the first lease: it sleeps on a condition
 * variable until the earliest refresh is due (or a lease is added, or the
 * keeper stops), sends the due refreshes with the mutex released, and
 * records what each found.
 */
#include "etcd_keeper.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "etcd_client.h"
#include "log.h"
#include "xalloc.h"

#define KEEPER_RETRY_MS		1000	/* after a refresh that failed */

enum lease_state {
	LEASE_ALIVE,		/* refreshed, or not yet due */
	LEASE_ENDED,		/* etcd said TTL 0: it is gone */
	LEASE_UNKNOWN,		/* the last refresh reached no member */
};

struct kept {
	int64_t			 id;
	long			 ttl;
	enum lease_state	 state;
	struct timespec		 due;
	int			 busy;	/* a refresh in flight */
};

struct etcd_keeper {
	struct etcd_client	*c;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;	/* CLOCK_MONOTONIC */
	pthread_t		 thr;
	int			 running, stop;
	struct kept		*k;
	size_t			 n, cap;
	unsigned long		 sent, failed;
};

static void
ts_add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static int
ts_le(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

static struct kept *
find(struct etcd_keeper *kp, int64_t id)
{
	for (size_t i = 0; i < kp->n; i++)
		if (kp->k[i].id == id)
			return &kp->k[i];
	return NULL;
}

static void *
keeper_main(void *arg)
{
	struct etcd_keeper	*kp = arg;
	struct timespec		 now, next;

	pthread_mutex_lock(&kp->mtx);
	while (!kp->stop) {
		int64_t	 id = 0;
		long	 r, ttl = 0;

		clock_gettime(CLOCK_MONOTONIC, &now);
		next = now;
		ts_add_ms(&next, 3600 * 1000);
		for (size_t i = 0; i < kp->n; i++) {
			if (kp->k[i].state == LEASE_ENDED || kp->k[i].busy)
				continue;
			if (ts_le(&kp->k[i].due, &now)) {
				id = kp->k[i].id;
				kp->k[i].busy = 1;
				break;
			}
			if (ts_le(&kp->k[i].due, &next))
				next = kp->k[i].due;
		}
		if (id == 0) {
			pthread_cond_timedwait(&kp->cv, &kp->mtx, &next);
			continue;
		}
		pthread_mutex_unlock(&kp->mtx);
		r = etcd_lease_keepalive(kp->c, id);
		pthread_mutex_lock(&kp->mtx);
		kp->sent++;
		struct kept *k = find(kp, id);
		if (k == NULL)
			continue;	/* taken back meanwhile */
		k->busy = 0;
		ttl = k->ttl;
		clock_gettime(CLOCK_MONOTONIC, &k->due);
		if (r > 0) {
			k->state = LEASE_ALIVE;
			ts_add_ms(&k->due, ttl * 1000 / 3);
		} else if (r == 0) {
			k->state = LEASE_ENDED;
			log_warnx("etcd: lease %llx ended before its holder let it "
			    "go (refreshed too late, or revoked)",
			    (unsigned long long)id);
		} else {
			kp->failed++;
			k->state = LEASE_UNKNOWN;
			ts_add_ms(&k->due, KEEPER_RETRY_MS);
		}
	}
	pthread_mutex_unlock(&kp->mtx);
	return NULL;
}

struct etcd_keeper *
etcd_keeper_new(struct etcd_client *c, struct errbuf *eb)
{
	struct etcd_keeper	*kp;
	pthread_condattr_t	 ca;

	(void)eb;
	kp = xcalloc(1, sizeof(*kp));
	kp->c = c;
	pthread_mutex_init(&kp->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&kp->cv, &ca);
	pthread_condattr_destroy(&ca);
	return kp;
}

void
etcd_keeper_free(struct etcd_keeper *kp)
{
	if (kp == NULL)
		return;
	pthread_mutex_lock(&kp->mtx);
	kp->stop = 1;
	pthread_cond_signal(&kp->cv);
	pthread_mutex_unlock(&kp->mtx);
	if (kp->running)
		pthread_join(kp->thr, NULL);
	etcd_client_free(kp->c);
	pthread_cond_destroy(&kp->cv);
	pthread_mutex_destroy(&kp->mtx);
	free(kp->k);
	free(kp);
}

int
etcd_keeper_add(struct etcd_keeper *kp, int64_t lease, long ttl,
    struct errbuf *eb)
{
	struct kept	*k;
	int		 rc = 0;

	if (ttl < 3)
		ttl = 3;
	pthread_mutex_lock(&kp->mtx);
	if (!kp->running) {
		if ((errno = pthread_create(&kp->thr, NULL, keeper_main, kp)) != 0) {
			rc = errbuf_set(eb, "etcd: cannot start the lease keeper: "
			    "%s", strerror(errno));
			goto out;
		}
		kp->running = 1;
	}
	if ((k = find(kp, lease)) == NULL) {
		if (kp->n == kp->cap) {
			kp->cap = kp->cap ? kp->cap * 2 : 16;
			kp->k = xrealloc(kp->k, kp->cap * sizeof(*kp->k));
		}
		k = &kp->k[kp->n++];
		memset(k, 0, sizeof(*k));
		k->id = lease;
	}
	k->ttl = ttl;
	k->state = LEASE_ALIVE;
	clock_gettime(CLOCK_MONOTONIC, &k->due);
	ts_add_ms(&k->due, ttl * 1000 / 3);
	pthread_cond_signal(&kp->cv);
out:
	pthread_mutex_unlock(&kp->mtx);
	return rc;
}

void
etcd_keeper_remove(struct etcd_keeper *kp, int64_t lease)
{
	struct kept *k;

	pthread_mutex_lock(&kp->mtx);
	if ((k = find(kp, lease)) != NULL)
		*k = kp->k[--kp->n];
	pthread_mutex_unlock(&kp->mtx);
}

int
etcd_keeper_alive(struct etcd_keeper *kp, int64_t lease)
{
	struct kept	*k;
	int		 r;

	pthread_mutex_lock(&kp->mtx);
	if ((k = find(kp, lease)) == NULL)
		r = -2;
	else
		r = k->state == LEASE_ALIVE ? 1 : k->state == LEASE_ENDED ? 0 : -1;
	pthread_mutex_unlock(&kp->mtx);
	return r;
}

void
etcd_keeper_counts(struct etcd_keeper *kp, unsigned long *sent,
    unsigned long *failed)
{
	pthread_mutex_lock(&kp->mtx);
	*sent = kp->sent;
	*failed = kp->failed;
	pthread_mutex_unlock(&kp->mtx);
}
