/*
 * etcd_watch.c - the etcd backend's change feed: one thread per store
 * handle holds a streaming POST to the gateway's /v3/watch on the whole
 * prefix and hands each event to etcd_on_event (store_etcd.c), which calls
 * store_notify on this thread.
 *
 * The stream is one JSON object per line. The thread remembers the next
 * revision it wants, so a broken stream (an endpoint down, etcd restarted)
 * is reopened, on the next endpoint, from where it stopped. Before each
 * stream it makes one request through the client: that request tells the
 * client (and so /healthz, /metrics and the ACME client's order gate)
 * whether a member answers, even on a node that has nothing else to ask
 * etcd. When events may have been lost (the handle was opened from the
 * local copy while etcd was down, or etcd compacted past the revision the
 * watch wanted), the thread resynchronises instead: see resync().
 * The stream asks for a leader (gRPC metadata "hasleader" through the
 * gateway's Grpc-Metadata- header): a member that loses its leader (cut
 * off from the others, or quorum lost) ends it with "no leader" within
 * about five seconds instead of holding it open with no events while the
 * rest of the cluster goes on, and the probe before the next stream finds
 * a member that has one.
 * etcd_watch_stop wakes the thread through curl_multi_wakeup and joins it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

#include "errbuf.h"
#include "etcd_impl.h"
#include "log.h"
#include "xalloc.h"

#define WATCH_MAX_LINE	(8L * 1024 * 1024)
#define WATCH_RETRY_MS	500

struct etcd_watch {
	struct store_etcd	*e;
	pthread_t		 th;
	CURLM			*multi;
	atomic_int		 stop;
	int64_t			 next_rev;	/* 0: resync first */
	int			 resync;	/* events may have been lost */
	int			 resealed;	/* etcd_reseal done (key rotation) */
	size_t			 ep;		/* endpoint of the current stream */
	int			 reauth;	/* the stream was refused */
	int			 streams;	/* opened so far */
	char			*buf;		/* a partial line */
	size_t			 n;
};

static void
on_line(struct etcd_watch *w, const char *line, size_t len)
{
	json_t		*j = json_loadb(line, len, 0, NULL), *res, *evs, *ev;
	const char	*err;
	size_t		 i;
	int64_t		 crev;

	if (j == NULL)
		return;
	if ((err = json_string_value(json_object_get(json_object_get(j,
	    "error"), "message"))) != NULL ||
	    (err = json_string_value(json_object_get(j, "error"))) != NULL) {
		if (strstr(err, "auth") != NULL || strstr(err, "token") != NULL)
			w->reauth = 1;
		log_warnx("etcd: the member ended the watch: %s; watching "
		    "again through a member that answers", err);
		json_decref(j);
		return;
	}
	res = json_object_get(j, "result");
	if ((crev = etcd_int(json_object_get(res, "compact_revision"))) > 0 &&
	    crev >= w->next_rev) {
		w->next_rev = crev;	/* events before it are gone: */
		w->resync = 1;		/* catch up by reading */
	}
	evs = json_object_get(res, "events");
	json_array_foreach(evs, i, ev) {
		json_t		*kv = json_object_get(ev, "kv");
		const char	*type = json_string_value(json_object_get(ev, "type"));
		int		 put = type == NULL || strcmp(type, "PUT") == 0;
		int64_t		 rev = etcd_int(json_object_get(kv, "mod_revision"));
		char		*key = ekv_key(kv);
		unsigned char	*v = NULL;
		size_t		 n = 0;

		if (key != NULL && (!put || (v = ekv_raw(kv, &n)) != NULL))
			etcd_on_event(w->e, put, key, v, n, rev);
		if (v != NULL) {
			OPENSSL_cleanse(v, n);
			free(v);
		}
		free(key);
		if (rev >= w->next_rev)
			w->next_rev = rev + 1;
	}
	json_decref(j);
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct etcd_watch	*w = arg;
	char			*nl;
	size_t			 start = 0;

	n *= size;
	if (atomic_load(&w->stop))
		return 0;
	if (w->n + n > (size_t)WATCH_MAX_LINE)
		return 0;	/* reopened from next_rev */
	w->buf = xrealloc(w->buf, w->n + n + 1);
	memcpy(w->buf + w->n, p, n);
	w->n += n;
	while ((nl = memchr(w->buf + start, '\n', w->n - start)) != NULL) {
		size_t len = (size_t)(nl - (w->buf + start));
		if (len > 0)
			on_line(w, w->buf + start, len);
		start += len + 1;
	}
	memmove(w->buf, w->buf + start, w->n - start);
	w->n -= start;
	return n;
}

/* Wait ms, or less if stopped. */
static void
pause_ms(struct etcd_watch *w, int ms)
{
	if (!atomic_load(&w->stop))
		curl_multi_poll(w->multi, NULL, 0, ms, NULL);
}

/* One stream, until it breaks or we stop. */
static void
stream(struct etcd_watch *w)
{
	struct store_etcd	*e = w->e;
	char			*end = etcd_prefix_end(e->prefix), *body, *k, *r;
	struct curl_slist	*hdrs = NULL;
	json_t			*req;
	CURL			*h;
	int			 running = 1;

	k = etcd_b64(e->prefix, strlen(e->prefix));
	r = etcd_b64(end, strlen(end));
	req = json_pack("{s:{s:s, s:s, s:I}}", "create_request", "key", k,
	    "range_end", r, "start_revision", (json_int_t)w->next_rev);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	free(k);
	free(r);
	free(end);
	h = etcd_client_easy(e->c, w->ep, "/v3/watch", body, &hdrs);
	free(body);
	if (h == NULL)
		return;
	hdrs = curl_slist_append(hdrs, "Grpc-Metadata-Hasleader: true");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	if (w->streams++ > 0)
		log_notice("etcd: watching again through %s, from revision %lld",
		    etcd_client_endpoint(e->c, w->ep), (long long)w->next_rev);
	w->n = 0;
	curl_multi_add_handle(w->multi, h);
	while (running && !atomic_load(&w->stop)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	/* The gateway's last object (an error that ends the stream) comes
	 * without a newline; a line cut short by a broken connection is not
	 * JSON and is dropped by on_line. */
	if (w->n > 0 && !atomic_load(&w->stop))
		on_line(w, w->buf, w->n);
	w->n = 0;
	curl_multi_remove_handle(w->multi, h);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
}

/*
 * Catch up when events may have been missed: every certificate of the
 * namespace is read at one revision, and those the local copy did not have
 * yet are notified as the watch would have (so a node opened from its copy
 * serves what the fleet wrote while it could not see etcd); the ticket,
 * ECH and sticky keys are notified so that their owners read them again,
 * and pending renewal requests are notified. The stream then goes on from
 * the next revision. 0, or -1 when etcd did not answer.
 */
static int
resync(struct etcd_watch *w)
{
	static const enum store_change blob_kinds[STORE_BLOB__MAX] = {
		[STORE_BLOB_TICKETS] = STORE_CHANGE_TICKETS,
		[STORE_BLOB_ECH] = STORE_CHANGE_ECH,
		[STORE_BLOB_STICKY] = STORE_CHANGE_STICKY,
	};
	struct store_etcd	*e = w->e;
	struct store_event	 ev;
	struct errbuf		 eb;
	json_t			*kvs, *kv;
	char			*pre;
	size_t			 i, pl = strlen(e->prefix);
	int64_t			 rev;
	int			 n = 0, total = 0;

	if ((rev = ekv_revision(e, &eb)) == -1)
		return -1;
	pre = xasprintf("%scert/", e->ns);
	kvs = ekv_range(e, pre, 1, &eb);
	free(pre);
	if (kvs == NULL)
		return -1;
	json_array_foreach(kvs, i, kv) {
		char			*k = ekv_key(kv), slug[300], name[256];
		enum certfile_keytype	 kt;
		int			 fresh = 0;

		memset(&ev, 0, sizeof(ev));
		if (k != NULL && strlen(k) > pl + 9 &&
		    strcmp(k + strlen(k) - 6, "/chain") == 0 &&
		    strncmp(k, e->prefix, pl) == 0 &&
		    strncmp(k + pl, "ca/", 3) == 0 &&
		    etcd_parse_cert_key(k + pl + 3, slug, sizeof(slug), name,
		    sizeof(name), &kt) == 0 &&
		    (ev.cf = etcd_cert_read(e, e->ns, name, kt, rev, &fresh,
		    &eb)) != NULL) {
			total++;
			if (fresh || e->copy == NULL) {
				ev.kind = STORE_CHANGE_CERT;
				ev.name = name;
				ev.kt = kt;
				store_notify(&e->base, &ev);
				n++;
			}
			certfile_unref(ev.cf);
		}
		free(k);
	}
	json_decref(kvs);
	for (int b = 0; b < STORE_BLOB__MAX; b++) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = blob_kinds[b];
		store_notify(&e->base, &ev);
	}
	pre = xasprintf("%srenew/", e->prefix);
	if ((kvs = ekv_range(e, pre, 1, &eb)) != NULL) {
		json_array_foreach(kvs, i, kv) {
			char *k = ekv_key(kv);

			memset(&ev, 0, sizeof(ev));
			if (k != NULL && strncmp(k, pre, strlen(pre)) == 0 &&
			    store_name_ok(k + strlen(pre))) {
				ev.kind = STORE_CHANGE_RENEW_REQUEST;
				ev.name = k + strlen(pre);
				store_notify(&e->base, &ev);
			}
			free(k);
		}
		json_decref(kvs);
	}
	free(pre);
	w->next_rev = rev + 1;
	w->resync = 0;
	log_notice("etcd: caught up at revision %lld: %d of %d certificate(s) "
	    "new to this node; watching from there", (long long)rev, n, total);
	atomic_store(&e->from_copy, 0);
	return 0;
}

/* Key rotation: once per handle, when etcd answers (etcd_reseal.c). */
static void
reseal(struct etcd_watch *w)
{
	struct errbuf	eb;
	long		left, n = etcd_reseal(w->e, &left, &eb);

	if (n == -1) {
		log_warnx("etcd: sealing values again under the current key: %s; "
		    "trying again", eb.msg);
		return;
	}
	w->resealed = 1;
	log_notice("etcd: %ld value(s) sealed again under the current key, %ld "
	    "changed meanwhile by another writer; once every node has said so, "
	    "the previous key can go", n, left);
}

static void *
watch_main(void *arg)
{
	struct etcd_watch	*w = arg;
	struct errbuf		 eb;
	size_t			 nep = etcd_client_nendpoints(w->e->c);

	while (!atomic_load(&w->stop)) {
		/* One request first: reachability, or the catching up. */
		if (w->resync || w->next_rev <= 0 ? resync(w) == -1 :
		    ekv_revision(w->e, &eb) == -1) {
			w->ep = (w->ep + 1) % nep;
			pause_ms(w, WATCH_RETRY_MS);
			continue;
		}
		w->ep = etcd_client_current(w->e->c);	/* the one that answered */
		if (!w->resealed && etcd_seal_has_previous(w->e->seal))
			reseal(w);
		/* Back in touch: a membership that lapsed meanwhile (or never
		 * began: started with etcd down) is taken up again before the
		 * challenges this node should acknowledge flow. */
		etcd_member_renew(w->e);
		stream(w);
		if (atomic_load(&w->stop))
			break;
		if (w->reauth) {
			w->reauth = 0;
			etcd_client_reauth(w->e->c, &eb);
		}
		/* Broken or refused: a pause, then the probe finds a member. */
		pause_ms(w, WATCH_RETRY_MS);
	}
	return NULL;
}

struct etcd_watch *
etcd_watch_start(struct store_etcd *e, int64_t rev, struct errbuf *eb)
{
	struct etcd_watch *w = xcalloc(1, sizeof(*w));

	w->e = e;
	w->next_rev = rev;
	w->ep = etcd_client_current(e->c);
	atomic_init(&w->stop, 0);
	if ((w->multi = curl_multi_init()) == NULL) {
		free(w);
		return (errbuf_set(eb, "etcd: curl_multi_init failed"), NULL);
	}
	if (pthread_create(&w->th, NULL, watch_main, w) != 0) {
		curl_multi_cleanup(w->multi);
		free(w);
		return (errbuf_set(eb, "etcd: cannot start the watch thread"), NULL);
	}
	return w;
}

void
etcd_watch_stop(struct etcd_watch *w)
{
	if (w == NULL)
		return;
	atomic_store(&w->stop, 1);
	curl_multi_wakeup(w->multi);
	pthread_join(w->th, NULL);
	curl_multi_cleanup(w->multi);
	free(w->buf);
	free(w);
}
