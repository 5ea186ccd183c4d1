/* status_cmd.c - a one-shot libcurl GET of /status, printed as a table. */
#include "status_cmd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "xalloc.h"

struct body {
	char	*p;
	size_t	 n;
};

static size_t
collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct body	*b = arg;
	size_t		 n = size * nmemb;

	if (b->n + n > 16 * 1024 * 1024)
		return 0;
	b->p = xrealloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* One line per backend of the /status array bk, each line after indent. */
static void
print_backends(FILE *out, json_t *bk, const char *indent)
{
	size_t	 j;
	json_t	*v;

	json_array_foreach(bk, j, v) {
		json_int_t up = json_integer_value(json_object_get(v, "up"));
		fprintf(out, "%sbackend %-24s %-4s weight %lld  connections %lld  "
		    "connect failures %lld\n", indent,
		    json_string_value(json_object_get(v, "address")),
		    up == 1 ? "up" : "DOWN",
		    (long long)json_integer_value(json_object_get(v, "weight")),
		    (long long)json_integer_value(json_object_get(v, "connections")),
		    (long long)json_integer_value(json_object_get(v, "connect_failures")));
	}
}

static void
when(json_int_t t, char *buf, size_t cap)
{
	time_t		tt = (time_t)t;
	struct tm	tm;

	if (t <= 0) {
		snprintf(buf, cap, "-");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M", &tm);
}

int
status_cmd_print(const char *admin, FILE *out)
{
	CURL		*c = curl_easy_init();
	struct body	 b = { NULL, 0 };
	char		*url, names[256];
	json_t		*root, *sites, *s;
	json_error_t	 je;
	size_t		 i, j;
	CURLcode	 rc;
	long		 code = 0;

	if (strncmp(admin, "unix:", 5) == 0) {
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, admin + 5);
		url = xstrdup("http://localhost/status");
	} else
		url = xasprintf("http://%s/status", admin);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	free(url);
	if (rc != CURLE_OK || code != 200) {
		fprintf(stderr, "tlsgate status: %s: %s\n", admin, rc != CURLE_OK ?
		    curl_easy_strerror(rc) : "unexpected HTTP status");
		free(b.p);
		return 1;
	}
	if ((root = json_loads(b.p, 0, &je)) == NULL) {
		fprintf(stderr, "tlsgate status: bad JSON: %s\n", je.text);
		free(b.p);
		return 1;
	}
	free(b.p);
	sites = json_object_get(root, "sites");
	json_array_foreach(sites, i, s) {
		json_t *v, *bk = json_object_get(s, "backends"), *cs = json_object_get(s,
		    "certificates");

		names[0] = '\0';
		json_array_foreach(json_object_get(s, "names"), j, v)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
			    j ? "," : "", json_string_value(v));
		fprintf(out, "site %s%s  connections: %lld\n", names,
		    json_is_true(json_object_get(s, "acme")) ? " (acme)" : "",
		    (long long)json_integer_value(json_object_get(s, "connections")));
		print_backends(out, bk, "  ");
		json_array_foreach(json_object_get(s, "routes"), j, v) {
			fprintf(out, "  route %s\n", json_string_value(json_object_get(v, "path")));
			print_backends(out, json_object_get(v, "backends"), "    ");
		}
		if (json_array_size(cs) == 0)
			fprintf(out, "  certificate (none yet)\n");
		json_array_foreach(cs, j, v) {
			char	 na[32], ra[32];
			json_t	*e = json_object_get(v, "last_error");

			when(json_integer_value(json_object_get(v, "not_after")), na, sizeof(na));
			when(json_integer_value(json_object_get(v, "renew_at")), ra, sizeof(ra));
			fprintf(out, "  certificate %-5s expires %s UTC  next renewal %s%s%s%s\n",
			    json_string_value(json_object_get(v, "key_type")), na, ra,
			    json_is_true(json_object_get(v, "expiring")) ? "  EXPIRING" : "",
			    e ? "  last error: " : "", e ? json_string_value(e) : "");
		}
	}
	if ((s = json_object_get(root, "ech")) != NULL) {
		char nr[32];

		when(json_integer_value(json_object_get(s, "next_rotation")), nr, sizeof(nr));
		fprintf(out, "ech public name %s  config id %lld  keys %zu  next rotation "
		    "%s UTC\n  ECHConfigList %s\n",
		    json_string_value(json_object_get(s, "public_name")),
		    (long long)json_integer_value(json_object_get(s, "config_id")),
		    json_array_size(json_object_get(s, "keys")), nr,
		    json_string_value(json_object_get(s, "config_list")));
	}
	if ((s = json_object_get(root, "on_demand")) != NULL) {
		size_t	 k, shown = 0;
		json_t	*v;

		fprintf(out, "on-demand: %lld stored, %lld in memory, %lld orders in "
		    "flight, %lld ordered, %lld issued\n",
		    (long long)json_integer_value(json_object_get(s, "stored")),
		    (long long)json_integer_value(json_object_get(s, "in_memory")),
		    (long long)json_integer_value(json_object_get(s, "orders_in_flight")),
		    (long long)json_integer_value(json_object_get(s, "orders")),
		    (long long)json_integer_value(json_object_get(s, "issued")));
		/* The names with a certificate, most recently used first. */
		json_array_foreach(json_object_get(s, "names"), k, v) {
			char lu[32], na[32];

			if (json_integer_value(json_object_get(v, "not_after")) == 0)
				continue;
			if (shown++ == 20) {
				fprintf(out, "  ...\n");
				break;
			}
			when(json_integer_value(json_object_get(v, "last_used")), lu,
			    sizeof(lu));
			when(json_integer_value(json_object_get(v, "not_after")), na,
			    sizeof(na));
			fprintf(out, "  %s  %s  last used %s UTC  expires %s UTC\n",
			    json_string_value(json_object_get(v, "name")),
			    json_string_value(json_object_get(v, "state")), lu, na);
		}
	}
	json_decref(root);
	return 0;
}
