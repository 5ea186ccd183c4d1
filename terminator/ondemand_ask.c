/*
 * ondemand_ask.c - the ask endpoint and the per-client limit on asks.
 *
 * Each client address (IPv4, or an IPv6 /64) has a token bucket of
 * on_demand.ask_per_client tokens refilled over a minute. The buckets live
 * in a fixed table (OD_BUCKETS slots, open addressing over a few probes; a
 * full neighbourhood reuses its stalest slot), so a flood from many
 * addresses costs bounded memory. Thread only.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_http.h"
#include "fnv.h"
#include "log.h"
#include "ondemand_impl.h"
#include "xalloc.h"

#define OD_BUCKETS	8192
#define OD_PROBES	8

struct od_bucket {
	uint8_t		key[16];
	int		used;
	double		tokens;
	time_t		t;
};

/* IPv4 as is; IPv6 by its /64 (one subscriber's prefix). */
static int
client_key(const char *client, uint8_t key[16])
{
	memset(key, 0, 16);
	if (inet_pton(AF_INET, client, key) == 1)
		return 0;
	if (inet_pton(AF_INET6, client, key) == 1) {
		memset(key + 8, 0, 8);
		key[15] = 6;
		return 0;
	}
	return -1;
}

int
od_ask_allowed(struct ondemand *od, const char *client, time_t now)
{
	uint8_t			 key[16];
	struct od_bucket	*b = NULL, *stalest = NULL;
	double			 cap = od->cfg.ask_per_client;
	uint32_t		 h;

	if (client_key(client, key) == -1)
		return 1;	/* approvals: no client */
	if (od->buckets == NULL)
		od->buckets = xcalloc(OD_BUCKETS, sizeof(*od->buckets));
	h = fnv1a32(key, 16);
	for (int i = 0; i < OD_PROBES; i++) {
		struct od_bucket *s = &od->buckets[(h + (uint32_t)i) % OD_BUCKETS];

		if (s->used && memcmp(s->key, key, 16) == 0) {
			b = s;
			break;
		}
		if (stalest == NULL || !s->used || (stalest->used && s->t < stalest->t))
			stalest = s;
	}
	if (b == NULL) {
		b = stalest;
		memcpy(b->key, key, 16);
		b->used = 1;
		b->tokens = cap;
		b->t = now;
	}
	b->tokens += (double)(now - b->t) * cap / 60.0;
	if (b->tokens > cap)
		b->tokens = cap;
	b->t = now;
	if (b->tokens < 1)
		return 0;
	b->tokens -= 1;
	return 1;
}

void
od_ask_free(struct ondemand *od)
{
	free(od->buckets);
	od->buckets = NULL;
}

struct od_ask {
	struct ondemand	*od;
	struct od_entry	*e;
};

static void
od_ask_done(const struct acme_http_resp *resp, const char *err, void *arg)
{
	struct od_ask	*a = arg;
	struct ondemand	*od = a->od;
	struct od_entry	*e = a->e;
	time_t		 now = time(NULL);
	char		 detail[160];
	int		 order = 0;
	char		*name = NULL;

	free(a);
	pthread_mutex_lock(od_lock());
	if (e->st != ODS_ASKING) {		/* stopped meanwhile */
		pthread_mutex_unlock(od_lock());
		return;
	}
	if (err != NULL || resp == NULL) {
		snprintf(detail, sizeof(detail), "ask endpoint: %s",
		    err != NULL ? err : "no answer");
		od_refuse(od, e, ODR_ASK_ERROR, now, detail);
	} else if (resp->status >= 200 && resp->status < 300) {
		e->yes_until = now + (time_t)od->cfg.ask_cache_yes;
		if ((order = od_order(od, e, now)) != 0)
			name = xstrdup(e->name);
	} else {
		snprintf(detail, sizeof(detail), "the ask endpoint answered %ld",
		    resp->status);
		od_refuse(od, e, ODR_ASK_NO, now + (time_t)od->cfg.ask_cache_no, detail);
	}
	pthread_mutex_unlock(od_lock());
	if (order)
		od_order_send(od, name, now);
	free(name);
}

int
od_ask_start(struct ondemand *od, struct od_entry *e, const char *url)
{
	struct od_ask *a = xcalloc(1, sizeof(*a));

	a->od = od;
	a->e = e;
	if (acme_http_request(od->http, "GET", url, NULL, od_ask_done, a) == -1) {
		free(a);
		return -1;
	}
	return 0;
}
