/*
 * store.c - the backend-independent half of the store: the change feed and
 * the calls through the ops table.
 *
 * The feed is a list of watchers under a mutex. A backend calls store_notify
 * after a change is durable; each watcher runs in turn on that thread.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certcheck.h"
#include "errbuf.h"
#include "xalloc.h"

struct watcher {
	store_watch_fn	*fn;
	void		*arg;
};

struct store_feed {
	pthread_mutex_t	 mtx;
	struct watcher	*w;
	size_t		  n;
};

static struct store_feed *
feed_get(struct store *s)
{
	if (s->feed == NULL) {
		s->feed = xcalloc(1, sizeof(*s->feed));
		pthread_mutex_init(&s->feed->mtx, NULL);
	}
	return s->feed;
}

int
store_watch(struct store *s, store_watch_fn *fn, void *arg)
{
	struct store_feed *f = feed_get(s);

	pthread_mutex_lock(&f->mtx);
	f->w = xrealloc(f->w, (f->n + 1) * sizeof(*f->w));
	f->w[f->n].fn = fn;
	f->w[f->n].arg = arg;
	f->n++;
	pthread_mutex_unlock(&f->mtx);
	return 0;
}

void
store_unwatch(struct store *s, store_watch_fn *fn, void *arg)
{
	struct store_feed *f = s->feed;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mtx);
	for (size_t i = 0; i < f->n; i++)
		if (f->w[i].fn == fn && f->w[i].arg == arg) {
			memmove(&f->w[i], &f->w[i + 1], (f->n - i - 1) * sizeof(*f->w));
			f->n--;
			break;
		}
	pthread_mutex_unlock(&f->mtx);
}

/*
 * The mutex is held while watchers run, so a watcher that unwatches on
 * another thread waits for a delivery in progress to end: after
 * store_unwatch returns, fn is never called again.
 */
void
store_notify(struct store *s, const struct store_event *ev)
{
	struct store_feed *f = s->feed;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mtx);
	for (size_t i = 0; i < f->n; i++)
		f->w[i].fn(ev, f->w[i].arg);
	pthread_mutex_unlock(&f->mtx);
}

void
store_close(struct store *s)
{
	struct store_feed *f;

	if (s == NULL)
		return;
	f = s->feed;
	s->ops->close(s);
	if (f != NULL) {
		pthread_mutex_destroy(&f->mtx);
		free(f->w);
		free(f);
	}
}

struct certfile *
store_cert_get(struct store *s, const char *name, enum certfile_keytype kt,
    struct errbuf *eb)
{
	struct certfile	*cf;

	if (eb != NULL)
		eb->msg[0] = '\0';
	errno = 0;
	if ((cf = s->ops->cert_get(s, name, kt, eb)) == NULL && errno != EAGAIN)
		errno = EBADMSG;
	return cf;
}

struct certfile *
store_cert_put(struct store *s, const char *name, char *const *names, size_t nnames,
    const char *chain_pem, const char *key_pem, struct errbuf *eb)
{
	return store_cert_put_locked(s, NULL, name, names, nnames, chain_pem,
	    key_pem, eb);
}

/* The write itself, fenced by lock when there is one. */
static int
cert_write(struct store *s, struct store_lock *lock, const char *name,
    const struct certfile *cf, const char *chain_pem, const char *key_pem,
    struct errbuf *eb)
{
	if (lock == NULL)
		return s->ops->cert_put(s, name, cf, chain_pem, key_pem, eb);
	if (s->ops->cert_put_fenced != NULL)
		return s->ops->cert_put_fenced(s, lock, name, cf, chain_pem,
		    key_pem, eb);
	if (!store_lock_check(lock)) {
		errno = ESTALE;
		return errbuf_set(eb, "the lock of %s is no longer ours", name);
	}
	return s->ops->cert_put(s, name, cf, chain_pem, key_pem, eb);
}

struct certfile *
store_cert_put_locked(struct store *s, struct store_lock *lock, const char *name,
    char *const *names, size_t nnames, const char *chain_pem, const char *key_pem,
    struct errbuf *eb)
{
	struct certfile		*cf;
	struct store_event	 ev;

	/* Every backend stores only what passes every check (certcheck.h). */
	if ((cf = certfile_load_mem(chain_pem, strlen(chain_pem), key_pem,
	    strlen(key_pem), eb)) == NULL)
		return NULL;
	if (certcheck(cf, names, nnames, time(NULL), CERTCHECK_SKEW, eb) == -1 ||
	    cert_write(s, lock, name, cf, chain_pem, key_pem, eb) == -1) {
		certfile_unref(cf);
		return NULL;
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = STORE_CHANGE_CERT;
	ev.name = name;
	ev.kt = cf->keytype;
	ev.cf = cf;
	store_notify(s, &ev);
	return cf;
}

int
store_list(struct store *s, store_list_fn *fn, void *arg)
{
	return s->ops->list(s, fn, arg);
}

EVP_PKEY *
store_account_key(struct store *s, struct errbuf *eb)
{
	return s->ops->account_key(s, eb);
}

char *
store_account_url(struct store *s)
{
	return s->ops->account_url(s);
}

int
store_account_url_put(struct store *s, const char *url, struct errbuf *eb)
{
	return s->ops->account_url_put(s, url, eb);
}

int
store_renewal_get(struct store *s, const char *name, enum certfile_keytype kt,
    struct store_renewal *out)
{
	memset(out, 0, sizeof(*out));
	return s->ops->renewal_get(s, name, kt, out);
}

int
store_renewal_put(struct store *s, const char *name, enum certfile_keytype kt,
    const struct store_renewal *r, const struct certfile *current, struct errbuf *eb)
{
	return s->ops->renewal_put(s, name, kt, r, current, eb);
}

struct store_lock *
store_lock_acquire(struct store *s, const char *name, long ttl, struct errbuf *eb)
{
	return s->ops->lock_acquire(s, name, ttl, eb);
}

int
store_lock_keepalive(struct store_lock *l)
{
	return l == NULL ? -1 : l->s->ops->lock_keepalive(l);
}

int
store_lock_keep(struct store_lock *l, long ttl, struct errbuf *eb)
{
	if (l == NULL)
		return errbuf_set(eb, "store: no lock to keep");
	if (l->s->ops->lock_keep == NULL)
		return 0;
	return l->s->ops->lock_keep(l, ttl, eb);
}

int
store_lock_check(struct store_lock *l)
{
	return l == NULL ? 0 : l->s->ops->lock_check(l);
}

void
store_lock_release(struct store_lock *l)
{
	if (l != NULL)
		l->s->ops->lock_release(l);
}

int
store_challenge_put(struct store *s, const char *key, const char *value, long ttl,
    struct errbuf *eb)
{
	struct store_event ev;

	if (s->ops->challenge_put(s, key, value, ttl, eb) == -1)
		return -1;
	memset(&ev, 0, sizeof(ev));
	ev.kind = STORE_CHANGE_CHALLENGE_PUT;
	ev.key = key;
	ev.value = value;
	store_notify(s, &ev);
	return 0;
}

int
store_member_join(struct store *s, struct errbuf *eb)
{
	return s->ops->member_join != NULL ? s->ops->member_join(s, eb) : 0;
}

int
store_challenge_ack(struct store *s, const char *key, struct errbuf *eb)
{
	return s->ops->challenge_ack != NULL ?
	    s->ops->challenge_ack(s, key, eb) : 0;
}

int
store_challenge_acked(struct store *s, const char *key, char *missing,
    size_t cap, struct errbuf *eb)
{
	if (cap > 0)
		missing[0] = '\0';
	return s->ops->challenge_acked != NULL ?
	    s->ops->challenge_acked(s, key, missing, cap, eb) : 1;
}

unsigned
store_challenge_settle_ms(const struct store *s)
{
	return s->ops->challenge_settle_ms;
}

char *
store_challenge_get(struct store *s, const char *key)
{
	return s->ops->challenge_get(s, key);
}

void
store_challenge_del(struct store *s, const char *key)
{
	struct store_event ev;

	s->ops->challenge_del(s, key);
	memset(&ev, 0, sizeof(ev));
	ev.kind = STORE_CHANGE_CHALLENGE_DEL;
	ev.key = key;
	store_notify(s, &ev);
}

int
store_challenge_list(struct store *s, store_challenge_fn *fn, void *arg)
{
	return s->ops->challenge_list(s, fn, arg);
}

const char *const store_blob_names[STORE_BLOB__MAX] = {
	[STORE_BLOB_TICKETS] = "tickets",
	[STORE_BLOB_ECH] = "ech",
	[STORE_BLOB_STICKY] = "sticky",
};
const char *const store_blob_files[STORE_BLOB__MAX] = {
	[STORE_BLOB_TICKETS] = "tickets.key",
	[STORE_BLOB_ECH] = "ech.json",
	[STORE_BLOB_STICKY] = "sticky.key",
};
static const enum store_change blob_change[STORE_BLOB__MAX] = {
	[STORE_BLOB_TICKETS] = STORE_CHANGE_TICKETS,
	[STORE_BLOB_ECH] = STORE_CHANGE_ECH,
	[STORE_BLOB_STICKY] = STORE_CHANGE_STICKY,
};

int
store_blob_get(struct store *s, enum store_blob b, void *buf, size_t cap,
    size_t *len, time_t *updated)
{
	if ((unsigned)b >= STORE_BLOB__MAX)
		return -1;
	return s->ops->blob_get(s, b, buf, cap, len, updated);
}

int
store_blob_put(struct store *s, enum store_blob b, const void *buf, size_t len,
    struct errbuf *eb)
{
	struct store_event ev;

	if ((unsigned)b >= STORE_BLOB__MAX)
		return errbuf_set(eb, "store: no blob %d", (int)b);
	if (s->ops->blob_put(s, b, buf, len, eb) == -1)
		return -1;
	memset(&ev, 0, sizeof(ev));
	ev.kind = blob_change[b];
	store_notify(s, &ev);
	return 0;
}

int
store_tickets_get(struct store *s, void *buf, size_t cap, size_t *len,
    time_t *updated)
{
	return store_blob_get(s, STORE_BLOB_TICKETS, buf, cap, len, updated);
}

int
store_tickets_put(struct store *s, const void *buf, size_t len, struct errbuf *eb)
{
	return store_blob_put(s, STORE_BLOB_TICKETS, buf, len, eb);
}

int
store_ech_get(struct store *s, void *buf, size_t cap, size_t *len, time_t *updated)
{
	return store_blob_get(s, STORE_BLOB_ECH, buf, cap, len, updated);
}

int
store_ech_put(struct store *s, const void *buf, size_t len, struct errbuf *eb)
{
	return store_blob_put(s, STORE_BLOB_ECH, buf, len, eb);
}

int
store_renew_request(struct store *s, const char *name, struct errbuf *eb)
{
	return s->ops->renew_request(s, name, eb);
}

void
store_renew_requests_take(struct store *s, void (*fn)(const char *, void *), void *arg)
{
	s->ops->renew_requests_take(s, fn, arg);
}

int
store_ondemand_touch(struct store *s, const char *name,
    const struct store_ondemand *rec, struct errbuf *eb)
{
	return s->ops->ondemand_touch(s, name, rec, eb);
}

int
store_ondemand_get(struct store *s, const char *name, struct store_ondemand *rec)
{
	return s->ops->ondemand_get(s, name, rec);
}

int
store_ondemand_list(struct store *s, store_ondemand_fn *fn, void *arg)
{
	return s->ops->ondemand_list(s, fn, arg);
}

int
store_ondemand_remove(struct store *s, const char *name, struct errbuf *eb)
{
	return s->ops->ondemand_remove(s, name, eb);
}

long
store_ondemand_count(struct store *s)
{
	return s->ops->ondemand_count(s);
}

size_t
store_ondemand_format(const struct store_ondemand *rec, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%lld %lld %lld", (long long)rec->last_used,
	    (long long)rec->not_before, (long long)rec->not_after);

	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void
store_ondemand_parse(const char *text, struct store_ondemand *rec)
{
	long long v[3];

	if (sscanf(text, "%lld %lld %lld", &v[0], &v[1], &v[2]) != 3 ||
	    v[0] < 0 || v[1] < 0 || v[2] < 0)
		v[0] = v[1] = v[2] = 0;
	rec->last_used = (time_t)v[0];
	rec->not_before = (time_t)v[1];
	rec->not_after = (time_t)v[2];
}

int
store_available(struct store *s)
{
	return s == NULL || s->ops->available == NULL || s->ops->available(s);
}

void
store_status(struct store *s, struct store_status *st)
{
	memset(st, 0, sizeof(*st));
	st->up = 1;
	st->local_certs = -1;
	if (s == NULL)
		return;
	st->backend = s->ops->kind;
	if (s->ops->status != NULL)
		s->ops->status(s, st);
}

int
store_name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' && name[0] != '.' &&
	    strchr(name, '/') == NULL && strlen(name) < 256;
}

char *
store_ca_slug(const char *url)
{
	const char	*p = strstr(url, "://");
	char		*s, *q;

	s = xstrdup(p != NULL ? p + 3 : url);
	for (q = s; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
		    (*q >= '0' && *q <= '9') || *q == '.' || *q == '-'))
			*q = '_';
	return s;
}
