/*
 * acme_order.c - newOrder, then for each authorization: pick the configured
 * challenge type, publish it through the store (TLS-ALPN-01 and HTTP-01:
 * whoever follows the store's feed answers it; dns-01: the hook;
 * dns-persist-01: a standing record, acme_persist.c), tell the
 * CA, and poll until the authorization is valid. A failed challenge spends
 * the authorization, so the next configured type needs a new order.
 * IP literals are "ip" identifiers (RFC 8738): validated by http-01, or by
 * tls-alpn-01 with the reverse-DNS name as SNI; never by dns-01.
 */
#include "acme_int.h"
#include "acme_queue.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include "b64url.h"
#include "errbuf.h"
#include "ipname.h"
#include "log.h"
#include "xalloc.h"

/* ---- the order ----------------------------------------------------------- */

int
parse_order(struct job *j, json_t *o, const char **status)
{
	json_t		*az, *v;
	size_t		 i;
	const char	*fin, *cert;

	*status = json_string_value(json_object_get(o, "status"));
	if (*status == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "order: no status");
		return -1;
	}
	if ((fin = json_string_value(json_object_get(o, "finalize"))) != NULL) {
		free(j->finalize_url);
		j->finalize_url = xstrdup(fin);
	}
	if ((cert = json_string_value(json_object_get(o, "certificate"))) != NULL) {
		free(j->cert_url);
		j->cert_url = xstrdup(cert);
	}
	if ((az = json_object_get(o, "authorizations")) != NULL && j->authz == NULL) {
		if (!json_is_array(az) || json_array_size(az) > 100) {
			job_fail(j, ACME_FAIL_OTHER, "order: bad authorizations");
			return -1;
		}
		j->authz = xcalloc(json_array_size(az) + 1, sizeof(char *));
		json_array_foreach(az, i, v) {
			if (!json_is_string(v)) {
				job_fail(j, ACME_FAIL_OTHER, "order: bad authorization URL");
				return -1;
			}
			j->authz[j->nauthz++] = xstrdup(json_string_value(v));
		}
	}
	return 0;
}

void
on_order(struct job *j, const struct acme_http_resp *r)
{
	json_t		*o;
	const char	*st, *prof;
	char		 pbuf[LOG_FIELD_CAP(64)];

	order_gate_leave(j);
	if (r->location == NULL) {
		job_fail(j, ACME_FAIL_OTHER, "newOrder: no Location header");
		return;
	}
	free(j->order_url);
	j->order_url = xstrdup(r->location);
	if ((o = body_json(j, r, "newOrder")) == NULL)
		return;
	if (parse_order(j, o, &st) == -1) {
		json_decref(o);
		return;
	}
	/* The profile as the CA took it (it may pick one when we name none);
	 * the CA's text, escaped. */
	if ((prof = json_string_value(json_object_get(o, "profile"))) != NULL)
		log_field_escape(pbuf, sizeof(pbuf), prof, strnlen(prof, 64));
	log_info("acme %s: order %s is %s (%zu authorizations%s%s%s)", job_name(j),
	    j->order_url, st, j->nauthz, prof != NULL ? ", profile \"" : "",
	    prof != NULL ? pbuf : "", prof != NULL ? "\"" : "");
	if (strcmp(st, "valid") == 0 && j->cert_url != NULL)
		step_download(j);
	else if (strcmp(st, "ready") == 0)
		step_finalize(j);
	else if (strcmp(st, "pending") == 0) {
		j->authz_i = 0;
		step_authz(j);
	} else
		job_fail(j, ACME_FAIL_OTHER, "newOrder: order is %s", st);
	json_decref(o);
}

void
step_order(struct job *j)
{
	json_t		*p = json_pack("{s:[]}", "identifiers"), *ids;
	char		*s;

	job_reset_order(j);
	j->state = JOB_ORDER;
	if (!order_gate_enter(j)) {
		json_decref(p);
		return;		/* another job's newOrder is out: ours follows */
	}
	ids = json_object_get(p, "identifiers");
	for (size_t i = 0; i < j->site->nnames; i++) {
		char ip[IPNAME_MAX];

		/* RFC 8738: an IP literal is an "ip" identifier, in its
		 * canonical text (RFC 5952 for IPv6). */
		if (ipname_canon(j->site->names[i], ip) == 0)
			json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "ip",
			    "value", ip));
		else
			json_array_append_new(ids, json_pack("{s:s, s:s}", "type", "dns",
			    "value", j->site->names[i]));
	}
	if (j->rs.replaces[0] != '\0') {
		json_object_set_new(p, "replaces", json_string(j->rs.replaces));
		log_info("acme %s: new order replaces %s (ARI)", job_name(j), j->rs.replaces);
	}
	profile_order(j, p);
	/* The order is on record before it leaves: a crash or a restart
	 * right after it still counts it against the floor. */
	j->rs.last_order = acme_now(j->a);
	job_save(j);
	s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	job_post(j, job_iss(j)->u_order, s, 0, on_order);
	free(s);
}

/* ---- challenges ------------------------------------------------------------ */

/* Publish the challenge's answer; the terminator learns it from the feed. */
static int
challenge_publish(struct job *j, const char *key_auth)
{
	struct errbuf	eb;
	struct ipname	ip;
	char		rev[IPNAME_REVERSE_MAX];

	free(j->chal_key);
	if (strcmp(j->chal_type, "tls-alpn-01") != 0)
		j->chal_key = xasprintf("http-01/%s", j->chal_token);
	else if (ipname_parse(j->chal_ident, &ip) == 0) {
		/* RFC 8738 section 6: the CA's handshake names the address by
		 * its reverse-DNS name, which is the key the terminator looks
		 * the SNI up by; the certificate carries the address. */
		ipname_reverse(&ip, rev);
		j->chal_key = xasprintf("tls-alpn-01/%s", rev);
	} else
		j->chal_key = xasprintf("tls-alpn-01/%s", j->chal_ident);
	if (store_challenge_put(j->a->store, j->chal_key, key_auth, 3600, &eb) == -1) {
		job_fail(j, ACME_FAIL_OTHER, "publishing the %s challenge: %s",
		    j->chal_type, eb.msg);
		return -1;
	}
	return 0;
}

void
challenge_withdraw(struct job *j)
{
	if (j->chal_key != NULL) {
		store_challenge_del(j->a->store, j->chal_key);
		free(j->chal_key);
		j->chal_key = NULL;
	}
	if (j->chal_type != NULL && strcmp(j->chal_type, "dns-01") == 0 &&
	    j->dns_value != NULL && j->a->cfg.dns_hook != NULL && j->hook_pid == 0) {
		/* Best effort, in the background: nobody waits for it. */
		if (hook_spawn(j, "clear") == 0) {
			hook_abandon(j->a, j->hook_pid);
			j->hook_pid = 0;
		}
		free(j->dns_value);
		j->dns_value = NULL;
	}
}

static void
on_challenge_posted(struct job *j, const struct acme_http_resp *r)
{
	j->polls = 0;
	j->state = JOB_CHALLENGE;
	job_poll_later(j);
}

static long long
mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * JOB_SETTLE: the challenge is in the shared store; the CA is asked once
 * every member of the fleet has it in its cache (each acknowledges it:
 * store_challenge_acked), or after store_challenge_settle_ms all the same
 * (a member that hangs must not stall the fleet's orders).
 */
void
challenge_settle(struct job *j)
{
	struct errbuf	 eb;
	char		 missing[256];
	long long	 now = mono_ms(), waited = now - j->settle_from_ms;
	int		 r;

	r = store_challenge_acked(j->a->store, j->chal_key, missing,
	    sizeof(missing), &eb);
	if (r == 1) {
		log_info("acme %s: every member has the %s challenge for %s "
		    "(%lld ms)", job_name(j), j->chal_type, j->chal_ident, waited);
		challenge_answer(j);
		return;
	}
	if (waited >= store_challenge_settle_ms(j->a->store)) {
		log_notice("acme %s: %s for %s: after %lld ms, not every member "
		    "has acknowledged the challenge (%s); asking the CA all the "
		    "same", job_name(j), j->chal_type, j->chal_ident, waited,
		    r == -1 ? eb.msg : missing);
		challenge_answer(j);
		return;
	}
	struct timeval tv = { 0, 50 * 1000 };
	evtimer_add(j->timer, &tv);
}

/* The answer is in place: tell the CA to validate. */
void
challenge_answer(struct job *j)
{
	j->state = JOB_AUTHZ;
	job_post(j, j->chal_url, "{}", 0, on_challenge_posted);
}

static void
on_authz(struct job *j, const struct acme_http_resp *r)
{
	json_t		*o, *chs, *c = NULL, *id;
	const char	*st, *want, *ident, *tok, *url;
	size_t		 i;
	char		*ka;

	if ((o = body_json(j, r, "authorization")) == NULL)
		return;
	st = json_string_value(json_object_get(o, "status"));
	id = json_object_get(o, "identifier");
	ident = json_string_value(json_object_get(id, "value"));
	if (st == NULL || ident == NULL) {
		json_decref(o);
		job_fail(j, ACME_FAIL_OTHER, "authorization: no status or identifier");
		return;
	}
	if (strcmp(st, "valid") == 0) {
		json_decref(o);
		j->authz_i++;
		step_authz(j);
		return;
	}
	if (strcmp(st, "pending") != 0) {
		/* ident and st are borrowed from o: report before freeing it. */
		job_fail(j, ACME_FAIL_VALIDATION, "authorization for %s is %s", ident, st);
		json_decref(o);
		return;
	}
	want = j->site->challenges[j->chal_idx];
	chs = json_object_get(o, "challenges");
	json_array_foreach(chs, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		if (t != NULL && strcmp(t, want) == 0)
			break;
	}
	if (!json_is_array(chs) || i >= json_array_size(chs)) {
		job_fail(j, ACME_FAIL_VALIDATION, "%s: the CA offers no %s challenge",
		    ident, want);
		json_decref(o);
		return;
	}
	if (strcmp(want, "dns-persist-01") == 0) {
		/* No token: a standing record names the CA and the account. */
		persist_answer(j, c, ident);
		json_decref(o);
		return;
	}
	tok = json_string_value(json_object_get(c, "token"));
	url = json_string_value(json_object_get(c, "url"));
	/* Tokens are base64url (RFC 8555 8.1): anything else is refused, as it
	 * would end up in a path and a store key. */
	if (tok == NULL || url == NULL || strlen(tok) < 16 || strlen(tok) > 256 ||
	    strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") != strlen(tok)) {
		job_fail(j, ACME_FAIL_OTHER, "%s: malformed %s challenge", ident, want);
		json_decref(o);
		return;
	}
	free(j->chal_url); free(j->chal_token); free(j->chal_ident); free(j->chal_type);
	j->chal_url = xstrdup(url);
	j->chal_token = xstrdup(tok);
	j->chal_ident = xstrdup(ident);
	j->chal_type = xstrdup(want);
	json_decref(o);
	ka = xasprintf("%s.%s", j->chal_token, job_iss(j)->thumbprint);
	log_info("acme %s: answering %s for %s", job_name(j), want, j->chal_ident);
	if (strcmp(want, "dns-01") != 0) {
		unsigned settle = store_challenge_settle_ms(j->a->store);

		if (challenge_publish(j, ka) == -1) {
			/* job_fail has run */
		} else if (settle == 0)
			challenge_answer(j);
		else {
			/* A shared store: every node answers from its own
			 * cache, which the store's watch fills. */
			j->state = JOB_SETTLE;
			j->settle_from_ms = mono_ms();
			challenge_settle(j);
		}
		free(ka);
		return;
	}
	{
		uint8_t md[SHA256_DIGEST_LENGTH];

		SHA256((const uint8_t *)ka, strlen(ka), md);
		free(ka);
		free(j->dns_value);
		j->dns_value = b64url_encode(md, sizeof(md));
	}
	if (j->a->cfg.dns_hook == NULL || hook_spawn(j, "set") == -1) {
		job_fail(j, ACME_FAIL_VALIDATION, "dns-01: %s", j->a->cfg.dns_hook == NULL ?
		    "no dns_hook configured" : "cannot run the dns_hook");
		return;
	}
	j->state = JOB_HOOK;
	job_timer_in(j, 0);		/* the timer watches the hook */
}

static void
on_authz_poll(struct job *j, const struct acme_http_resp *r)
{
	json_t		*o, *chs, *c, *err;
	const char	*st, *detail = NULL;
	size_t		 i;

	if ((o = body_json(j, r, "authorization")) == NULL)
		return;
	st = json_string_value(json_object_get(o, "status"));
	if (st != NULL && strcmp(st, "valid") == 0) {
		log_info("acme %s: %s valid for %s", job_name(j), j->chal_type,
		    j->chal_ident);
		json_decref(o);
		challenge_withdraw(j);
		free(j->chal_type);
		j->chal_type = NULL;
		j->authz_i++;
		step_authz(j);
		return;
	}
	if (st != NULL && (strcmp(st, "pending") == 0 || strcmp(st, "processing") == 0)) {
		json_decref(o);
		if (++j->polls > ACME_MAX_POLLS) {
			job_fail(j, ACME_FAIL_VALIDATION, "%s: authorization still %s "
			    "after %d polls", j->chal_ident, st, ACME_MAX_POLLS);
			return;
		}
		j->state = JOB_CHALLENGE;
		job_poll_later(j);
		return;
	}
	chs = json_object_get(o, "challenges");
	json_array_foreach(chs, i, c)
		if ((err = json_object_get(c, "error")) != NULL)
			detail = json_string_value(json_object_get(err, "detail"));
	log_warnx("acme %s: %s failed for %s: %s", job_name(j), j->chal_type,
	    j->chal_ident, detail ? detail : st ? st : "?");
	if (persist_is(j))
		persist_failed(j);
	/* The authorization is spent: the next challenge type needs a new order. */
	if ((size_t)j->chal_idx + 1 < j->site->nchallenges) {
		j->chal_idx++;
		log_notice("acme %s: trying %s next", job_name(j),
		    j->site->challenges[j->chal_idx]);
		json_decref(o);
		step_order(j);
		return;
	}
	job_fail(j, ACME_FAIL_VALIDATION, "%s: %s", j->chal_ident,
	    detail ? detail : "authorization invalid");
	json_decref(o);
}

void
poll_authz(struct job *j)
{
	j->state = JOB_CHALLENGE;
	job_post(j, j->authz[j->authz_i], NULL, 0, on_authz_poll);
}

void
step_authz(struct job *j)
{
	if (j->authz_i >= j->nauthz) {
		step_finalize(j);
		return;
	}
	j->state = JOB_AUTHZ;
	job_post(j, j->authz[j->authz_i], NULL, 0, on_authz);
}
