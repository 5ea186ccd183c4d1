/*
 * renewal_json.c - the renewal state's JSON (renewal_json.h).
 */
#include "renewal_json.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static void
copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static time_t
jtime(json_t *o, const char *k)
{
	return (time_t)json_integer_value(json_object_get(o, k));
}

char *
renewal_json_encode(const char *name, enum certfile_keytype kt,
    const struct store_renewal *r, const struct certfile *cur, int pretty)
{
	json_t	*m;
	char	*text;

#define OPT(x)	((x)[0] != '\0' ? (x) : NULL)
	m = json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:s?, s:s?, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:s?, s:s?, s:s?, s:s?, s:i, s:s?, s:s?, s:I}",
	    "name", name, "key_type", certfile_keytype_names[kt],
	    "not_before", (json_int_t)(cur ? cur->not_before : 0),
	    "not_after", (json_int_t)(cur ? cur->not_after : 0),
	    "renew_at", (json_int_t)r->next_attempt,
	    "attempts", r->failures,
	    "fail_class", OPT(r->fail_class),
	    "last_error", OPT(r->last_error),
	    "retry_until", (json_int_t)r->retry_until,
	    "ari_window_start", (json_int_t)r->ari_start,
	    "ari_window_end", (json_int_t)r->ari_end,
	    "ari_next", (json_int_t)r->ari_next,
	    "last_order", (json_int_t)r->last_order,
	    "last_success", (json_int_t)r->last_success,
	    "replaces", OPT(r->replaces),
	    "profile", OPT(r->profile),
	    "issuer", OPT(r->issuer),
	    "order_issuer", OPT(r->order_issuer),
	    "issuer_attempts", r->issuer_failures,
	    "round_issuer", OPT(r->round_issuer),
	    "rate_limit_issuer", OPT(r->rl_issuer),
	    "rate_limit_until", (json_int_t)r->rl_until);
#undef OPT
	if (m == NULL)
		return NULL;
	text = json_dumps(m, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_SORT_KEYS);
	json_decref(m);
	return text;
}

int
renewal_json_decode(const char *text, size_t len, struct store_renewal *r)
{
	json_t *o = json_loadb(text, len, 0, NULL);

	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	r->next_attempt = jtime(o, "renew_at");
	r->failures = (int)json_integer_value(json_object_get(o, "attempts"));
	copy_str(r->fail_class, sizeof(r->fail_class),
	    json_string_value(json_object_get(o, "fail_class")));
	copy_str(r->last_error, sizeof(r->last_error),
	    json_string_value(json_object_get(o, "last_error")));
	r->retry_until = jtime(o, "retry_until");
	r->ari_start = jtime(o, "ari_window_start");
	r->ari_end = jtime(o, "ari_window_end");
	r->ari_next = jtime(o, "ari_next");
	r->last_order = jtime(o, "last_order");
	r->last_success = jtime(o, "last_success");
	copy_str(r->replaces, sizeof(r->replaces),
	    json_string_value(json_object_get(o, "replaces")));
	copy_str(r->profile, sizeof(r->profile),
	    json_string_value(json_object_get(o, "profile")));
	copy_str(r->issuer, sizeof(r->issuer),
	    json_string_value(json_object_get(o, "issuer")));
	copy_str(r->order_issuer, sizeof(r->order_issuer),
	    json_string_value(json_object_get(o, "order_issuer")));
	r->issuer_failures = (int)json_integer_value(json_object_get(o,
	    "issuer_attempts"));
	/* Absent in state written before these: "" and 0, none. */
	copy_str(r->round_issuer, sizeof(r->round_issuer),
	    json_string_value(json_object_get(o, "round_issuer")));
	copy_str(r->rl_issuer, sizeof(r->rl_issuer),
	    json_string_value(json_object_get(o, "rate_limit_issuer")));
	r->rl_until = jtime(o, "rate_limit_until");
	json_decref(o);
	return 0;
}
