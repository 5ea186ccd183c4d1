/*
 * etcd_watch.c - the etcd backend's change feed: one thread per store
 * handle holds a streaming POST to the gateway's /v3/watch on the whole
 * prefix and hands each event to etcd_on_event (store_etcd.c), which calls
 * store_notify on this thread.
 *
 * The stream is one JSON object per line. The thread remembers the next
 * revision it wants, so a broken stream (an endpoint down, etcd restarted)
 * is reopened, on the next endpoint, from where it stopped; nothing is lost
 * unless etcd compacted past it (then it goes on from the compaction).
 * etcd_watch_stop wakes the thread through curl_multi_wakeup and joins it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>

#include "errbuf.h"
#include "etcd_impl.h"
#include "xalloc.h"

#define WATCH_MAX_LINE	(8L * 1024 * 1024)
#define WATCH_RETRY_MS	500

struct etcd_watch {
	struct store_etcd	*e;
	pthread_t		 th;
	CURLM			*multi;
	atomic_int		 stop;
	int64_t			 next_rev;
	size_t			 ep;		/* endpoint of the current stream */
	int			 reauth;	/* the stream was refused */
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
		json_decref(j);
		return;
	}
	res = json_object_get(j, "result");
	if ((crev = etcd_int(json_object_get(res, "compact_revision"))) > 0 &&
	    crev >= w->next_rev)
		w->next_rev = crev;	/* events before it are gone */
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
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	w->n = 0;
	curl_multi_add_handle(w->multi, h);
	while (running && !atomic_load(&w->stop)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	curl_multi_remove_handle(w->multi, h);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
}

static void *
watch_main(void *arg)
{
	struct etcd_watch	*w = arg;
	struct errbuf		 eb;

	while (!atomic_load(&w->stop)) {
		stream(w);
		if (atomic_load(&w->stop))
			break;
		if (w->reauth) {
			w->reauth = 0;
			etcd_client_reauth(w->e->c, &eb);
		}
		/* Broken or refused: the next endpoint, after a pause. */
		w->ep = (w->ep + 1) % etcd_client_nendpoints(w->e->c);
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
