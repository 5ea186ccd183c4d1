/*
 * hlog.c - access log lines and request metrics (hlog.h).
 */
#include "hlog.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <llhttp.h>

#include "hsess_impl.h"
#include "log.h"
#include "pool.h"
#include "sites.h"
#include "stats.h"

const char *
hlog_status_text(int status)
{
	const char *r = llhttp_status_name((llhttp_status_t)status);

	return r != NULL ? r : "Unknown";
}

static void
hlog_json(const struct hstream *st, const char *proto, int status, double secs)
{
	const struct hsess	*s = st->s;
	json_t			*o;
	char			*txt, client[INET6_ADDRSTRLEN + 10], id[16];

	snprintf(id, sizeof(id), "c%08x", s->c.conn_id);
	snprintf(client, sizeof(client), "%s%s%s:%s", strchr(s->peer_ip, ':') ? "[" : "",
	    s->peer_ip, strchr(s->peer_ip, ':') ? "]" : "", s->peer_port);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:i, s:I, s:I, s:s, s:f, s:f, s:s, s:s}",
	    "msg", "http", "conn", id, "client", client,
	    "method", st->req.method,
	    "host", st->req.authority,
	    "path", st->req.target != NULL ? st->req.target : "-",
	    "proto", proto, "status", status,
	    "bytes_in", (json_int_t)st->req_body_bytes,
	    "bytes_out", (json_int_t)st->out_bytes,
	    "backend", st->bk != NULL ? st->bk->str : "-",
	    "ttfb_ms", st->ttfb >= 0 ? st->ttfb * 1000 : -1.0, "duration_ms", secs * 1000,
	    "request_id", st->rid, "error", hstream_err_names[st->err]);
	if (o == NULL)
		return;
	if (st->why[0] != '\0')
		json_object_set_new(o, "why", json_string(st->why));
	/* Members only: log.c adds the level. */
	if ((txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) != NULL) {
		size_t n = strlen(txt);
		if (n >= 2) {
			txt[n - 1] = '\0';
			log_json_members(LOG_LVL_INFO, txt + 1);
		}
		free(txt);
	}
	json_decref(o);
}

void
hlog_request(const struct hstream *st)
{
	const struct hsess	*s = st->s;
	struct timespec		 t;
	double			 secs;
	int			 status = st->head_sent ? st->resp.status : 0;
	const char		*proto = s->proto == HSESS_H2 ? "h2" :
	    st->req.version == 10 ? "http/1.0" : "http/1.1";
	char			 host[LOG_FIELD_CAP(128)], path[LOG_FIELD_CAP(512)];
	char			 method[LOG_FIELD_CAP(24)], why[LOG_FIELD_CAP(128)];

	clock_gettime(CLOCK_MONOTONIC, &t);
	secs = (double)(t.tv_sec - st->t0.tv_sec) + (double)(t.tv_nsec - st->t0.tv_nsec) / 1e9;
	if (st->site != NULL && st->site->stats != NULL)
		stats_http_request(st->site->stats, status, secs);
	if (!s->c.view->http.access_log || log_get_level() < LOG_LVL_INFO)
		return;
	if (log_is_json()) {
		hlog_json(st, proto, status, secs);
		return;
	}
	log_field_escape(method, sizeof(method), st->req.method, strlen(st->req.method));
	/* An HTTP/2 stream that ended inside its header block has no :path yet. */
	if (st->req.target != NULL)
		log_field_escape(path, sizeof(path), st->req.target, strlen(st->req.target));
	else
		snprintf(path, sizeof(path), "-");
	if (st->req.authority != NULL)
		log_field_escape(host, sizeof(host), st->req.authority,
		    strlen(st->req.authority));
	else
		snprintf(host, sizeof(host), "-");
	log_field_escape(why, sizeof(why), st->why, strlen(st->why));
	log_msg(LOG_LVL_INFO, "http c%08x client=%s%s%s:%s method=%s host=%s path=%s "
	    "proto=%s status=%d in=%" PRIu64 " out=%" PRIu64 " backend=%s "
	    "ttfb=%.3f ms=%.3f rid=%s err=%s%s%s",
	    s->c.conn_id, strchr(s->peer_ip, ':') ? "[" : "", s->peer_ip,
	    strchr(s->peer_ip, ':') ? "]" : "", s->peer_port, method, host, path,
	    proto, status, st->req_body_bytes, st->out_bytes,
	    st->bk != NULL ? st->bk->str : "-",
	    st->ttfb >= 0 ? st->ttfb * 1000 : -1.0, secs * 1000,
	    st->rid[0] ? st->rid : "-", hstream_err_names[st->err],
	    st->why[0] ? " why=" : "", st->why[0] ? why : "");
}
