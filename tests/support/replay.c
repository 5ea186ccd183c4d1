/* replay.c - scripted ACME responses for unit tests (no network). */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "acme_http.h"

struct pending {
	struct acme_http_resp	 resp;
	char			 nonce[32];
	const char		*err;
	acme_transport_done	*done;
	void			*arg;
};

static void
fire(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	p->done(p->err ? NULL : &p->resp, p->err, p->arg);
	free(p->resp.body);
	free(p);
}

static void *
replay_create(struct event_base *base, const char *ca_file, void *arg)
{
	struct replay *r = arg;

	r->base = base;
	return r;
}

static int
replay_request(void *impl, const char *method, const char *url, const char *body,
    acme_transport_done *done, void *arg)
{
	struct replay		*r = impl;
	struct pending		*p = calloc(1, sizeof(*p));
	size_t			 i = atomic_load(&r->i);
	struct timeval		 zero = { 0, 0 };
	const struct replay_step *s;

	p->done = done;
	p->arg = arg;
	if (i >= r->n) {
		snprintf(r->why, sizeof(r->why), "unexpected request %s %s", method, url);
		atomic_store(&r->mismatch, 1);
		p->err = "replay: no more steps";
	} else {
		s = &r->steps[i];
		if (strcmp(s->method, method) != 0 || strstr(url, s->url_has) == NULL) {
			snprintf(r->why, sizeof(r->why), "step %zu: want %s *%s*, got %s %s",
			    i, s->method, s->url_has, method, url);
			atomic_store(&r->mismatch, 1);
			p->err = "replay: mismatch";
		} else {
			snprintf(p->nonce, sizeof(p->nonce), "nonce-%d", ++r->nonce);
			p->resp.status = s->status;
			p->resp.body = s->make != NULL ? s->make(r, body) :
			    strdup(s->body ? s->body : "");
			if (p->resp.body == NULL)
				p->resp.body = strdup("");
			p->resp.len = strlen(p->resp.body);
			p->resp.location = (char *)s->location;
			p->resp.retry_after = (char *)s->retry_after;
			p->resp.nonce = p->nonce;
		}
		atomic_store(&r->i, i + 1);
	}
	event_base_once(r->base, -1, EV_TIMEOUT, fire, p, &zero);
	return 0;
}

static void
replay_destroy(void *impl)
{
}

void
replay_init(struct replay *r, const struct replay_step *steps, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->steps = steps;
	r->n = n;
	r->tr.create = replay_create;
	r->tr.request = replay_request;
	r->tr.destroy = replay_destroy;
	r->tr.arg = r;
}
