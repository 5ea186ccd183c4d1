/*
 * etcd_member.c - who answers challenges in the fleet, and who has a given
 * challenge in its cache yet (store.h: store_member_join,
 * store_challenge_ack, store_challenge_acked).
 *
 * Keys, under the prefix P:
 *   P member/<id>                   "pid PID", on the member's lease
 *   P challenge-ack/<key>/<id>      "", on the same lease
 *
 * <id> is the handle's writer id in hex. The member's lease is kept by the
 * keeper (etcd_keeper.h), so a process that dies leaves the fleet within
 * ETCD_MEMBER_TTL seconds, its acknowledgements with it; a lease that ended
 * while the process lives (etcd unreachable for longer) is taken again at
 * the next acknowledgement. The challenge's deletion deletes its
 * acknowledgements (store_etcd.c). A member that joins reads the
 * challenges already in flight (etcd_challenge_list): its watch tells only
 * of the changes after the revision it opened the store at.
 *
 * Any thread (each call is a few blocking etcd requests).
 */
#include "etcd_impl.h"
#include "etcd_keeper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errbuf.h"
#include "log.h"
#include "xalloc.h"

#define ETCD_MEMBER_TTL	10	/* seconds */

static char *
member_key(const struct store_etcd *e)
{
	return xasprintf("%smember/%016llx", e->prefix,
	    (unsigned long long)e->writer);
}

static int
join(struct store_etcd *e, struct errbuf *eb)
{
	char	*k, v[32];
	int64_t	 lease;
	int	 rc;

	if ((lease = ekv_lease_grant(e, ETCD_MEMBER_TTL, eb)) == -1)
		return -1;
	k = member_key(e);
	snprintf(v, sizeof(v), "pid %ld", (long)getpid());
	rc = ekv_put(e, k, v, strlen(v), 0, lease, eb);
	free(k);
	if (rc == -1 || etcd_keeper_add(e->keeper, lease, ETCD_MEMBER_TTL,
	    eb) == -1) {
		ekv_lease_revoke(e, lease);
		return -1;
	}
	pthread_mutex_lock(&e->mtx);
	if (e->member_lease > 0)
		etcd_keeper_remove(e->keeper, e->member_lease);
	e->member_lease = lease;
	pthread_mutex_unlock(&e->mtx);
	return 0;
}

int
etcd_member_join(struct store *s, struct errbuf *eb)
{
	struct store_etcd *e = E(s);

	pthread_mutex_lock(&e->mtx);
	e->member_want = 1;
	pthread_mutex_unlock(&e->mtx);
	return join(e, eb);
}

void
etcd_member_leave(struct store_etcd *e)
{
	int64_t lease;

	pthread_mutex_lock(&e->mtx);
	lease = e->member_lease;
	e->member_lease = 0;
	pthread_mutex_unlock(&e->mtx);
	if (lease <= 0)
		return;
	etcd_keeper_remove(e->keeper, lease);
	ekv_lease_revoke(e, lease);	/* the member key and its acks go */
}

void
etcd_member_renew(struct store_etcd *e)
{
	struct errbuf	 eb;
	int64_t		 lease;
	int		 want;

	pthread_mutex_lock(&e->mtx);
	lease = e->member_lease;
	want = e->member_want;
	pthread_mutex_unlock(&e->mtx);
	if (!want || (lease > 0 && ekv_lease_keepalive(e, lease) != 0))
		return;		/* not a member, alive, or etcd gone again */
	if (join(e, &eb) == -1)
		log_warnx("etcd: cannot join the store's members again: %s",
		    eb.msg);
	else
		log_notice("etcd: joined the store's members again (challenges "
		    "are acknowledged from this node)");
}

int
etcd_challenge_ack(struct store *s, const char *key, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	int64_t			 lease;
	char			*k;
	int			 rc, want;

	pthread_mutex_lock(&e->mtx);
	lease = e->member_lease;
	want = e->member_want;
	pthread_mutex_unlock(&e->mtx);
	if (!want)
		return 0;	/* not a member: nobody waits for us */
	if (lease <= 0 || etcd_keeper_alive(e->keeper, lease) == 0) {
		log_notice("etcd: joining the store's members%s", lease <= 0 ?
		    " (the first try failed)" : ": this node's membership lease "
		    "ended (etcd out of reach longer than it)");
		if (join(e, eb) == -1)
			return -1;
		pthread_mutex_lock(&e->mtx);
		lease = e->member_lease;
		pthread_mutex_unlock(&e->mtx);
	}
	k = xasprintf("%schallenge-ack/%s/%016llx", e->prefix, key,
	    (unsigned long long)e->writer);
	rc = ekv_put(e, k, "", 0, 0, lease, eb);
	free(k);
	return rc;
}

/* The last path element of a key (after its final '/'). */
static const char *
tail(const char *k)
{
	const char *p = strrchr(k, '/');

	return p != NULL ? p + 1 : k;
}

int
etcd_challenge_acked(struct store *s, const char *key, char *missing,
    size_t cap, struct errbuf *eb)
{
	struct store_etcd	*e = E(s);
	char			*mp, *ap;
	json_t			*members = NULL, *acks = NULL, *kv, *kv2;
	size_t			 i, i2, off = 0;
	int			 all = 1;

	if (cap > 0)
		missing[0] = '\0';
	mp = xasprintf("%smember/", e->prefix);
	ap = xasprintf("%schallenge-ack/%s/", e->prefix, key);
	/* Polled: serializable reads, which cost etcd no round to its leader.
	 * One that lags says "not yet", and the next poll sees more. The
	 * acknowledgements first: a member that joins between the two reads
	 * is waited for, never skipped. */
	if ((acks = ekv_range_local(e, ap, 1, eb)) == NULL ||
	    (members = ekv_range_local(e, mp, 1, eb)) == NULL) {
		all = -1;
		goto out;
	}
	json_array_foreach(members, i, kv) {
		char	*mk = ekv_key(kv);
		int	 found = 0;

		if (mk == NULL)
			continue;
		json_array_foreach(acks, i2, kv2) {
			char *ak = ekv_key(kv2);

			found = ak != NULL && strcmp(tail(ak), tail(mk)) == 0;
			free(ak);
			if (found)
				break;
		}
		if (!found) {
			all = 0;
			if (off < cap) {
				int n = snprintf(missing + off, cap - off, "%s%s",
				    off > 0 ? " " : "", tail(mk));
				off += n > 0 ? (size_t)n : 0;
			}
		}
		free(mk);
	}
out:
	json_decref(members);
	json_decref(acks);
	free(mp);
	free(ap);
	return all;
}

struct listing {
	store_challenge_fn	*fn;
	void			*arg;
};

static void
on_challenge(const char *key, const struct etcd_value *v, void *arg)
{
	struct listing *l = arg;

	if (key[0] != '\0')
		l->fn(key, (const char *)v->data, l->arg);
}

int
etcd_challenge_list(struct store *s, store_challenge_fn *fn, void *arg)
{
	struct store_etcd	*e = E(s);
	struct listing		 l = { fn, arg };
	char			*pre = xasprintf("%schallenge/", e->prefix);
	int			 rc = ekv_range_each(e, pre, on_challenge, &l);

	free(pre);
	return rc;
}
