/*
 * config.c - JSON and flag parsing for tlsgate.
 *
 * The JSON is parsed by jansson (with duplicate keys rejected), then walked
 * once. Each problem is recorded with its JSON path; jsonpos turns the path
 * into line:column in the original text, so `tlsgate check` can print every
 * error at once, compiler style. Unknown keys are errors: a typo must not
 * silently fall back to a default.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "jsonpos.h"
#include "log.h"
#include "xalloc.h"

#define CONFIG_MAX_BYTES	(4 * 1024 * 1024)

struct walk {
	const char		*file;
	const char		*text;
	size_t			 len;
	char			*dir;		/* for relative paths */
	struct config_errors	*errs;
};

void
config_errors_clear(struct config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->n = 0;
}

static void
errs_add(struct config_errors *e, char *msg)
{
	e->msgs = xrealloc(e->msgs, (e->n + 1) * sizeof(char *));
	e->msgs[e->n++] = msg;
}

/* JSON path "/sites/1/names" shown to people as "sites[1].names". */
static void
path_human(const char *path, char *out, size_t cap)
{
	size_t		 n = 0;
	const char	*seg = path;

	out[0] = '\0';
	while (*seg == '/' && n < cap) {
		const char	*end;
		size_t		 sl;
		int		 isnum;

		seg++;
		end = strchr(seg, '/');
		sl = end != NULL ? (size_t)(end - seg) : strlen(seg);
		isnum = sl > 0 && strspn(seg, "0123456789") >= sl;
		if (isnum)
			n += (size_t)snprintf(out + n, cap - n, "[%.*s]", (int)sl, seg);
		else
			n += (size_t)snprintf(out + n, cap - n, "%s%.*s",
			    n > 0 ? "." : "", (int)sl, seg);
		seg += sl;
	}
}

static void __attribute__((format(printf, 3, 4)))
werr(struct walk *w, const char *path, const char *fmt, ...)
{
	char	 msg[512], key[256];
	int	 line = 0, col = 0;
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	path_human(path, key, sizeof(key));
	if (w->text != NULL && jsonpos_find(w->text, w->len, path, &line, &col) >= 0)
		errs_add(w->errs, xasprintf("%s:%d:%d: %s: %s", w->file, line, col,
		    key[0] ? key : "(top level)", msg));
	else
		errs_add(w->errs, xasprintf("%s: %s: %s", w->file,
		    key[0] ? key : "(top level)", msg));
}

int
config_parse_addr(const char *s, int resolve, struct addr *out, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256], *end;
	const char	*colon, *port;
	long		 pnum;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':') {
			snprintf(err, errlen, "\"%s\": expected [IPv6]:port", s);
			return -1;
		}
		if ((size_t)(rb - s - 1) >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": host too long", s);
			return -1;
		}
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		port = rb + 2;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			snprintf(err, errlen, "\"%s\": expected host:port", s);
			return -1;
		}
		if ((size_t)(colon - s) >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": host too long", s);
			return -1;
		}
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	errno = 0;
	pnum = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno != 0 || pnum < 1 || pnum > 65535) {
		snprintf(err, errlen, "\"%s\": port must be 1-65535", s);
		return -1;
	}
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		strcpy(host, "0.0.0.0");
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (resolve ? 0 : AI_NUMERICHOST);
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "\"%s\": %s", s, resolve ? gai_strerror(rc) :
		    "expected an IP address literal");
		return -1;
	}
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	out->str = xstrdup(s);
	freeaddrinfo(res);
	return 0;
}

/* A DNS name as a site name: lowercase letters, digits, '-', '.', and an
 * optional leading "*." wildcard label. */
static int
valid_name(const char *s)
{
	size_t	 len = strlen(s), lab = 0;

	if (len == 0 || len > 253)
		return 0;
	if (s[0] == '*') {
		if (s[1] != '.' || s[2] == '\0')
			return 0;
		s += 2;
	}
	for (; *s; s++) {
		if (*s == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return 0;
		if (++lab > 63)
			return 0;
	}
	return lab > 0;
}

static char *
lowercase_dup(const char *s)
{
	char *p = xstrdup(s);

	for (char *q = p; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q + 32);
	return p;
}

static char *
abs_path(struct walk *w, const char *p)
{
	if (p[0] == '/' || w->dir == NULL)
		return xstrdup(p);
	return xasprintf("%s/%s", w->dir, p);
}

/* Reject keys not in allowed (NULL-terminated). */
static void
check_keys(struct walk *w, const char *path, json_t *obj, const char *const *allowed)
{
	const char	*k;
	json_t		*v;
	char		 sub[512];

	json_object_foreach(obj, k, v) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, k) == 0)
				ok = 1;
		if (!ok) {
			snprintf(sub, sizeof(sub), "%s/%s", path, k);
			werr(w, sub, "unknown key");
		}
	}
}

/* An array of strings at path; NULL (and an error) if it is something else. */
static char **
str_array(struct walk *w, const char *path, json_t *v, size_t *n, int lower)
{
	char	**out;
	char	  sub[512];
	size_t	  i;
	json_t	 *e;

	*n = 0;
	if (!json_is_array(v)) {
		werr(w, path, "expected an array of strings");
		return NULL;
	}
	out = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			snprintf(sub, sizeof(sub), "%s/%zu", path, i);
			werr(w, sub, "expected a string");
			continue;
		}
		out[(*n)++] = lower ? lowercase_dup(json_string_value(e)) :
		    xstrdup(json_string_value(e));
	}
	return out;
}

static void
free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
addr_list(struct walk *w, const char *path, json_t *v, int resolve,
    struct addr **out, size_t *nout)
{
	char	**strs, sub[512], err[256];
	size_t	  n;

	if ((strs = str_array(w, path, v, &n, 0)) == NULL)
		return;
	*out = xcalloc(n + 1, sizeof(struct addr));
	*nout = 0;
	for (size_t i = 0; i < n; i++) {
		if (config_parse_addr(strs[i], resolve, &(*out)[*nout], err,
		    sizeof(err)) == -1) {
			snprintf(sub, sizeof(sub), "%s/%zu", path, i);
			werr(w, sub, "%s", err);
			continue;
		}
		(*nout)++;
	}
	free_strs(strs, n);
}

static double
num(struct walk *w, const char *path, json_t *v, double min, double max)
{
	double d;

	if (!json_is_number(v)) {
		werr(w, path, "expected a number");
		return min;
	}
	d = json_number_value(v);
	if (d < min || d > max) {
		werr(w, path, "must be between %g and %g", min, max);
		return min;
	}
	return d;
}

static void
parse_site(struct walk *w, const char *path, json_t *js, struct site_cfg *s)
{
	static const char *const keys[] = { "names", "backends", "certificates",
	    "alpn", "default", "acme", "balance", "retries", "health",
	    "proxy_protocol", "backend_tls", NULL };
	char	 sub[512], sub2[600];
	json_t	*v, *c;
	size_t	 i;

	if (!json_is_object(js)) {
		werr(w, path, "expected an object");
		return;
	}
	check_keys(w, path, js, keys);
	snprintf(sub, sizeof(sub), "%s/names", path);
	if ((v = json_object_get(js, "names")) == NULL)
		werr(w, path, "missing key \"names\"");
	else if ((s->names = str_array(w, sub, v, &s->nnames, 1)) != NULL) {
		if (s->nnames == 0)
			werr(w, sub, "at least one name is needed");
		for (i = 0; i < s->nnames; i++)
			if (!valid_name(s->names[i])) {
				snprintf(sub2, sizeof(sub2), "%s/%zu", sub, i);
				werr(w, sub2, "\"%s\" is not a valid DNS name", s->names[i]);
			}
	}
	snprintf(sub, sizeof(sub), "%s/backends", path);
	if ((v = json_object_get(js, "backends")) == NULL)
		werr(w, path, "missing key \"backends\"");
	else if (!json_is_array(v) || json_array_size(v) == 0)
		werr(w, sub, "expected a non-empty array of \"host:port\" or "
		    "{\"address\", \"weight\"}");
	else {
		json_t *e;
		s->backends = xcalloc(json_array_size(v) + 1, sizeof(struct addr));
		s->weights = xcalloc(json_array_size(v) + 1, sizeof(int));
		json_array_foreach(v, i, e) {
			static const char *const bk[] = { "address", "weight", NULL };
			const char	*as = json_string_value(e);
			int		 wt = 1;
			char		 err[256];

			snprintf(sub2, sizeof(sub2), "%s/%zu", sub, i);
			if (json_is_object(e)) {
				json_t *wv = json_object_get(e, "weight");
				check_keys(w, sub2, e, bk);
				as = json_string_value(json_object_get(e, "address"));
				if (wv != NULL) {
					if (!json_is_integer(wv) || json_integer_value(wv) < 1 ||
					    json_integer_value(wv) > 256) {
						werr(w, sub2, "weight must be an integer 1-256");
						continue;
					}
					wt = (int)json_integer_value(wv);
				}
			}
			if (as == NULL) {
				werr(w, sub2, "expected \"host:port\" or an object with "
				    "\"address\"");
				continue;
			}
			if (config_parse_addr(as, 1, &s->backends[s->nbackends], err,
			    sizeof(err)) == -1) {
				werr(w, sub2, "%s", err);
				continue;
			}
			s->weights[s->nbackends++] = wt;
		}
	}
	snprintf(sub, sizeof(sub), "%s/balance", path);
	if ((v = json_object_get(js, "balance")) != NULL) {
		static const char *const lbs[] = { "round_robin", "least_conn",
		    "source_hash", "p2c" };
		const char *b = json_string_value(v);
		s->balance = -1;
		for (i = 0; b != NULL && i < 4; i++)
			if (strcmp(b, lbs[i]) == 0)
				s->balance = (int)i;
		if (s->balance < 0) {
			werr(w, sub, "expected round_robin, least_conn, source_hash or p2c");
			s->balance = 0;
		}
	}
	s->retries = 2;
	snprintf(sub, sizeof(sub), "%s/retries", path);
	if ((v = json_object_get(js, "retries")) != NULL)
		s->retries = (int)num(w, sub, v, 0, 16);
	snprintf(sub, sizeof(sub), "%s/proxy_protocol", path);
	if ((v = json_object_get(js, "proxy_protocol")) != NULL) {
		if (!json_is_integer(v) || (json_integer_value(v) != 0 &&
		    json_integer_value(v) != 1 && json_integer_value(v) != 2))
			werr(w, sub, "expected 0 (off), 1 or 2");
		else
			s->proxy_protocol = (int)json_integer_value(v);
	}
	snprintf(sub, sizeof(sub), "%s/backend_tls", path);
	if ((v = json_object_get(js, "backend_tls")) != NULL) {
		static const char *const tk[] = { "ca", "server_name", "verify", "cert",
		    "key", NULL };
		json_t *tv;
		if (!json_is_object(v))
			werr(w, sub, "expected an object");
		else {
			check_keys(w, sub, v, tk);
			s->btls.on = 1;
			s->btls.verify = 1;
			if ((tv = json_object_get(v, "verify")) != NULL) {
				if (!json_is_boolean(tv))
					werr(w, sub, "verify: expected true or false");
				s->btls.verify = json_is_true(tv);
			}
#define TSTR(k, dst, ispath) \
			if ((tv = json_object_get(v, k)) != NULL) { \
				if (!json_is_string(tv) || json_string_length(tv) == 0) { \
					snprintf(sub2, sizeof(sub2), "%s/" k, sub); \
					werr(w, sub2, "expected a string"); \
				} else \
					dst = ispath ? abs_path(w, json_string_value(tv)) : \
					    xstrdup(json_string_value(tv)); \
			}
			TSTR("ca", s->btls.ca, 1)
			TSTR("server_name", s->btls.server_name, 0)
			TSTR("cert", s->btls.cert, 1)
			TSTR("key", s->btls.key, 1)
#undef TSTR
			if ((s->btls.cert == NULL) != (s->btls.key == NULL))
				werr(w, sub, "give both \"cert\" and \"key\" for a client "
				    "certificate, or neither");
		}
	}
	snprintf(sub, sizeof(sub), "%s/health", path);
	s->health.interval = 2;
	s->health.timeout = 1;
	s->health.rise = 2;
	s->health.fall = 3;
	if ((v = json_object_get(js, "health")) != NULL) {
		static const char *const hk[] = { "type", "path", "interval", "timeout",
		    "rise", "fall", NULL };
		json_t		*hv;
		const char	*t;
		if (!json_is_object(v))
			werr(w, sub, "expected an object");
		else {
			check_keys(w, sub, v, hk);
			t = json_string_value(json_object_get(v, "type"));
			if (t != NULL && strcmp(t, "tcp") == 0)
				s->health.type = 1;
			else if (t != NULL && strcmp(t, "http") == 0)
				s->health.type = 2;
			else {
				snprintf(sub2, sizeof(sub2), "%s/type", sub);
				werr(w, json_object_get(v, "type") ? sub2 : sub,
				    "expected \"type\": \"tcp\" or \"http\"");
			}
			if ((hv = json_object_get(v, "path")) != NULL) {
				const char *hp = json_string_value(hv);
				snprintf(sub2, sizeof(sub2), "%s/path", sub);
				if (hp == NULL || hp[0] != '/' || strpbrk(hp, " \r\n") != NULL)
					werr(w, sub2, "expected a path starting with /");
				else
					s->health.path = xstrdup(hp);
			}
#define HNUM(k, lo, hi, conv) \
			if ((hv = json_object_get(v, #k)) != NULL) { \
				snprintf(sub2, sizeof(sub2), "%s/" #k, sub); \
				s->health.k = conv num(w, sub2, hv, lo, hi); \
			}
			HNUM(interval, 0.1, 3600, (double))
			HNUM(timeout, 0.05, 600, (double))
			HNUM(rise, 1, 100, (int))
			HNUM(fall, 1, 100, (int))
#undef HNUM
			if (s->health.type == 2 && s->health.path == NULL)
				s->health.path = xstrdup("/");
		}
	}
	snprintf(sub, sizeof(sub), "%s/alpn", path);
	if ((v = json_object_get(js, "alpn")) != NULL &&
	    (s->alpn = str_array(w, sub, v, &s->nalpn, 0)) != NULL) {
		for (i = 0; i < s->nalpn; i++)
			if (strlen(s->alpn[i]) == 0 || strlen(s->alpn[i]) > 255) {
				snprintf(sub2, sizeof(sub2), "%s/%zu", sub, i);
				werr(w, sub2, "ALPN protocol names are 1-255 bytes");
			}
	}
	snprintf(sub, sizeof(sub), "%s/default", path);
	if ((v = json_object_get(js, "default")) != NULL) {
		if (!json_is_boolean(v))
			werr(w, sub, "expected true or false");
		s->is_default = json_is_true(v);
	}
	snprintf(sub, sizeof(sub), "%s/acme", path);
	if ((v = json_object_get(js, "acme")) != NULL) {
		static const char *const ak[] = { "challenges", "rsa", NULL };
		if (json_is_boolean(v))
			s->acme = json_is_true(v);
		else if (json_is_object(v)) {
			json_t *cv;
			s->acme = 1;
			check_keys(w, sub, v, ak);
			if ((cv = json_object_get(v, "challenges")) != NULL) {
				snprintf(sub2, sizeof(sub2), "%s/challenges", sub);
				if ((s->challenges = str_array(w, sub2, cv,
				    &s->nchallenges, 1)) != NULL) {
					if (s->nchallenges == 0)
						werr(w, sub2, "at least one challenge type");
					for (i = 0; i < s->nchallenges; i++)
						if (strcmp(s->challenges[i], "tls-alpn-01") &&
						    strcmp(s->challenges[i], "http-01") &&
						    strcmp(s->challenges[i], "dns-01")) {
							char p3[700];
							snprintf(p3, sizeof(p3), "%s/%zu", sub2, i);
							werr(w, p3, "expected tls-alpn-01, "
							    "http-01 or dns-01");
						}
				}
			}
			if ((cv = json_object_get(v, "rsa")) != NULL)
				s->acme_rsa = json_is_true(cv);
		} else
			werr(w, sub, "expected true, false or an object");
	}
	if (s->acme && s->challenges == NULL) {
		/* Wildcards can only be validated over DNS. */
		int wild = 0;
		for (i = 0; i < s->nnames; i++)
			wild |= s->names[i][0] == '*';
		s->challenges = xcalloc(3, sizeof(char *));
		if (wild)
			s->challenges[s->nchallenges++] = xstrdup("dns-01");
		else {
			s->challenges[s->nchallenges++] = xstrdup("tls-alpn-01");
			s->challenges[s->nchallenges++] = xstrdup("http-01");
		}
	}
	snprintf(sub, sizeof(sub), "%s/certificates", path);
	if ((v = json_object_get(js, "certificates")) == NULL) {
		if (!s->acme)
			werr(w, path, "missing key \"certificates\" (or \"acme\": true)");
		return;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 2) {
		werr(w, sub, "expected an array of one or two {\"cert\", \"key\"} objects");
		return;
	}
	s->certs = xcalloc(json_array_size(v), sizeof(struct cert_cfg));
	json_array_foreach(v, i, c) {
		static const char *const ckeys[] = { "cert", "key", NULL };
		json_t *cp, *kp;

		snprintf(sub2, sizeof(sub2), "%s/%zu", sub, i);
		if (!json_is_object(c)) {
			werr(w, sub2, "expected an object with \"cert\" and \"key\"");
			continue;
		}
		check_keys(w, sub2, c, ckeys);
		cp = json_object_get(c, "cert");
		kp = json_object_get(c, "key");
		if (!json_is_string(cp) || !json_is_string(kp)) {
			werr(w, sub2, "\"cert\" and \"key\" must both be file paths");
			continue;
		}
		s->certs[s->ncerts].cert = abs_path(w, json_string_value(cp));
		s->certs[s->ncerts].key = abs_path(w, json_string_value(kp));
		s->ncerts++;
	}
}

int
config_uses_acme(const struct config *c)
{
	for (size_t i = 0; i < c->nsites; i++)
		if (c->sites[i].acme)
			return 1;
	return 0;
}

/* "production", "staging" or a URL. */
static char *
acme_directory(const char *v)
{
	if (strcmp(v, "production") == 0 || strcmp(v, "letsencrypt") == 0)
		return xstrdup("https://acme-v02.api.letsencrypt.org/directory");
	if (strcmp(v, "staging") == 0)
		return xstrdup("https://acme-staging-v02.api.letsencrypt.org/directory");
	return xstrdup(v);
}

static void
config_defaults(struct config *c)
{
	c->log_level = LOG_LVL_INFO;
	c->limits.max_connections = 20000;
	c->limits.handshake_timeout = 10;
	c->limits.connect_timeout = 5;
	c->limits.idle_timeout = 300;
	c->limits.drain_timeout = 30;
	c->limits.max_connections_per_client = LIMITS_AUTO;
	c->limits.handshake_rate_per_client = 1000;
	c->limits.handshake_burst_per_client = 2000;
	c->ticket_rotation = 12 * 3600;
	c->acme.directory = acme_directory("production");
	c->acme.state_dir = xstrdup("/var/lib/tlsgate");
	c->expiry_days = 14;
	c->expiry_check = 60;
}

/* Cross-field checks shared by the JSON and flag paths. */
static void
config_validate(struct walk *w, struct config *c)
{
	size_t ndefault = 0;

	if (c->nhttps == 0)
		werr(w, "/listen/https", "at least one HTTPS listen address is needed");
	if (c->nsites == 0)
		werr(w, "/sites", "at least one site is needed");
	for (size_t i = 0; i < c->nsites; i++) {
		ndefault += c->sites[i].is_default != 0;
		for (size_t j = 0; j < c->sites[i].nnames; j++)
			for (size_t k = 0; k <= i; k++)
				for (size_t l = 0; l < c->sites[k].nnames; l++) {
					char p[64];
					if ((k == i && l >= j) ||
					    strcmp(c->sites[i].names[j], c->sites[k].names[l]) != 0)
						continue;
					snprintf(p, sizeof(p), "/sites/%zu/names/%zu", i, j);
					werr(w, p, "\"%s\" is already named by sites[%zu]",
					    c->sites[i].names[j], k);
				}
	}
	if (ndefault > 1)
		werr(w, "/sites", "more than one site has \"default\": true");
}

struct config *
config_load_text(const char *path, const char *text, size_t len,
    struct config_errors *errs)
{
	static const char *const top[] = { "listen", "workers", "log", "limits", "tls",
	    "sites", "acme", "user", "group", "allow_root", "admin", "expiry", NULL };
	struct config	*c;
	struct walk	 w = { path, text, len, NULL, errs };
	json_error_t	 jerr;
	json_t		*root, *v, *o;
	const char	*slash;
	size_t		 i;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		errs_add(errs, xasprintf("%s:%d:%d: %s", path, jerr.line, jerr.column,
		    jerr.text));
		return NULL;
	}
	if ((slash = strrchr(path, '/')) != NULL)
		w.dir = slash == path ? xstrdup("/") : strndup(path, (size_t)(slash - path));
	c = xcalloc(1, sizeof(*c));
	config_defaults(c);
	c->path = xstrdup(path);
	if (!json_is_object(root)) {
		werr(&w, "", "the configuration must be a JSON object");
		goto done;
	}
	check_keys(&w, "", root, top);

	if ((o = json_object_get(root, "listen")) != NULL) {
		static const char *const lk[] = { "https", "http", NULL };
		if (!json_is_object(o))
			werr(&w, "/listen", "expected an object");
		else {
			check_keys(&w, "/listen", o, lk);
			if ((v = json_object_get(o, "https")) != NULL)
				addr_list(&w, "/listen/https", v, 0, &c->https, &c->nhttps);
			if ((v = json_object_get(o, "http")) != NULL)
				addr_list(&w, "/listen/http", v, 0, &c->http, &c->nhttp);
		}
	}
	if ((v = json_object_get(root, "workers")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 256)
			werr(&w, "/workers", "expected an integer 0-256 (0: one per core)");
		else
			c->workers = (int)json_integer_value(v);
	}
	if ((o = json_object_get(root, "log")) != NULL) {
		static const char *const lk[] = { "level", "format", NULL };
		if (!json_is_object(o))
			werr(&w, "/log", "expected an object");
		else {
			check_keys(&w, "/log", o, lk);
			if ((v = json_object_get(o, "level")) != NULL) {
				int lvl = json_is_string(v) ?
				    log_level_parse(json_string_value(v)) : -1;
				if (lvl == -1)
					werr(&w, "/log/level", "expected one of error, "
					    "warning, notice, info, debug");
				else
					c->log_level = lvl;
			}
			if ((v = json_object_get(o, "format")) != NULL) {
				const char *f = json_string_value(v);
				if (f == NULL || (strcmp(f, "text") && strcmp(f, "json")))
					werr(&w, "/log/format", "expected \"text\" or \"json\"");
				else
					c->log_json = strcmp(f, "json") == 0;
			}
		}
	}
	if ((o = json_object_get(root, "limits")) != NULL) {
		static const char *const lk[] = { "max_connections", "handshake_timeout",
		    "connect_timeout", "idle_timeout", "drain_timeout",
		    "max_connections_per_client", "handshake_rate_per_client",
		    "handshake_burst_per_client", NULL };
		if (!json_is_object(o))
			werr(&w, "/limits", "expected an object");
		else {
			check_keys(&w, "/limits", o, lk);
			if ((v = json_object_get(o, "max_connections")) != NULL) {
				if (!json_is_integer(v) || json_integer_value(v) < 1 ||
				    json_integer_value(v) > 10000000)
					werr(&w, "/limits/max_connections",
					    "expected an integer 1-10000000");
				else
					c->limits.max_connections =
					    (unsigned)json_integer_value(v);
			}
#define TIMEOUT(k) \
			if ((v = json_object_get(o, #k)) != NULL) \
				c->limits.k = num(&w, "/limits/" #k, v, 0.01, 86400);
			TIMEOUT(handshake_timeout)
			TIMEOUT(connect_timeout)
			TIMEOUT(idle_timeout)
			TIMEOUT(drain_timeout)
#undef TIMEOUT
			if ((v = json_object_get(o, "max_connections_per_client")) != NULL)
				c->limits.max_connections_per_client = (unsigned)num(&w,
				    "/limits/max_connections_per_client", v, 0, 10000000);
			if ((v = json_object_get(o, "handshake_rate_per_client")) != NULL)
				c->limits.handshake_rate_per_client = num(&w,
				    "/limits/handshake_rate_per_client", v, 0, 10000000);
			if ((v = json_object_get(o, "handshake_burst_per_client")) != NULL)
				c->limits.handshake_burst_per_client = num(&w,
				    "/limits/handshake_burst_per_client", v, 1, 10000000);
		}
	}
	if ((o = json_object_get(root, "tls")) != NULL) {
		static const char *const tk[] = { "ticket_key_rotation", NULL };
		if (!json_is_object(o))
			werr(&w, "/tls", "expected an object");
		else {
			check_keys(&w, "/tls", o, tk);
			if ((v = json_object_get(o, "ticket_key_rotation")) != NULL)
				c->ticket_rotation = (unsigned)num(&w,
				    "/tls/ticket_key_rotation", v, 1, 7 * 86400);
		}
	}
	if ((o = json_object_get(root, "admin")) != NULL) {
		static const char *const ak[] = { "listen", NULL };
		if (!json_is_object(o))
			werr(&w, "/admin", "expected an object");
		else {
			check_keys(&w, "/admin", o, ak);
			v = json_object_get(o, "listen");
			if (!json_is_string(v))
				werr(&w, "/admin/listen", "expected \"127.0.0.1:PORT\", "
				    "\"[::1]:PORT\" or \"unix:/path\"");
			else
				c->admin = xstrdup(json_string_value(v));
		}
	}
	if ((o = json_object_get(root, "expiry")) != NULL) {
		static const char *const ek[] = { "threshold_days", "alert_command",
		    "check_interval", NULL };
		if (!json_is_object(o))
			werr(&w, "/expiry", "expected an object");
		else {
			check_keys(&w, "/expiry", o, ek);
			if ((v = json_object_get(o, "threshold_days")) != NULL)
				c->expiry_days = (int)num(&w, "/expiry/threshold_days", v, 1, 365);
			if ((v = json_object_get(o, "check_interval")) != NULL)
				c->expiry_check = num(&w, "/expiry/check_interval", v, 1, 86400);
			if ((v = json_object_get(o, "alert_command")) != NULL) {
				if (!json_is_string(v))
					werr(&w, "/expiry/alert_command", "expected a path");
				else
					c->alert_command = abs_path(&w, json_string_value(v));
			}
		}
	}
	if ((v = json_object_get(root, "user")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0)
			werr(&w, "/user", "expected a user name");
		else
			c->user = xstrdup(json_string_value(v));
	}
	if ((v = json_object_get(root, "group")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) == 0)
			werr(&w, "/group", "expected a group name");
		else
			c->group = xstrdup(json_string_value(v));
	}
	if ((v = json_object_get(root, "allow_root")) != NULL) {
		if (!json_is_boolean(v))
			werr(&w, "/allow_root", "expected true or false");
		c->allow_root = json_is_true(v);
	}
	if ((o = json_object_get(root, "acme")) != NULL) {
		static const char *const ak[] = { "directory", "email", "ca_bundle",
		    "state_dir", "eab_kid", "eab_hmac_key", "dns_hook",
		    "preferred_chain", "retry_base", NULL };
		static const struct { const char *k; size_t off; int path; } f[] = {
			{ "directory", offsetof(struct acme_global, directory), 0 },
			{ "email", offsetof(struct acme_global, email), 0 },
			{ "ca_bundle", offsetof(struct acme_global, ca_file), 1 },
			{ "state_dir", offsetof(struct acme_global, state_dir), 1 },
			{ "eab_kid", offsetof(struct acme_global, eab_kid), 0 },
			{ "eab_hmac_key", offsetof(struct acme_global, eab_hmac), 0 },
			{ "dns_hook", offsetof(struct acme_global, dns_hook), 1 },
			{ "preferred_chain", offsetof(struct acme_global, preferred_chain), 0 },
		};
		if (!json_is_object(o))
			werr(&w, "/acme", "expected an object");
		else {
			check_keys(&w, "/acme", o, ak);
			if ((v = json_object_get(o, "retry_base")) != NULL)
				c->acme.retry_base = (long)num(&w, "/acme/retry_base", v,
				    1, 3600);
			for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
				char	 p[64], **dst;
				if ((v = json_object_get(o, f[i].k)) == NULL)
					continue;
				snprintf(p, sizeof(p), "/acme/%s", f[i].k);
				if (!json_is_string(v) || json_string_length(v) == 0) {
					werr(&w, p, "expected a non-empty string");
					continue;
				}
				dst = (char **)((char *)&c->acme + f[i].off);
				free(*dst);
				*dst = i == 0 ? acme_directory(json_string_value(v)) :
				    f[i].path ? abs_path(&w, json_string_value(v)) :
				    xstrdup(json_string_value(v));
			}
			if ((c->acme.eab_kid == NULL) != (c->acme.eab_hmac == NULL))
				werr(&w, "/acme", "give both eab_kid and eab_hmac_key, or neither");
		}
	}
	if ((v = json_object_get(root, "sites")) != NULL) {
		if (!json_is_array(v))
			werr(&w, "/sites", "expected an array of site objects");
		else {
			c->sites = xcalloc(json_array_size(v) + 1, sizeof(struct site_cfg));
			json_array_foreach(v, i, o) {
				char p[64];
				snprintf(p, sizeof(p), "/sites/%zu", i);
				parse_site(&w, p, o, &c->sites[c->nsites++]);
			}
		}
	}
	config_validate(&w, c);
done:
	json_decref(root);
	free(w.dir);
	if (errs->n > 0) {
		config_free(c);
		return NULL;
	}
	return c;
}

struct config *
config_load_file(const char *path, struct config_errors *errs)
{
	struct config	*c;
	FILE		*f;
	char		*buf;
	size_t		 n;

	if ((f = fopen(path, "rb")) == NULL) {
		errs_add(errs, xasprintf("%s: %s", path, strerror(errno)));
		return NULL;
	}
	buf = xmalloc(CONFIG_MAX_BYTES + 1);
	n = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
	fclose(f);
	if (n > CONFIG_MAX_BYTES) {
		free(buf);
		errs_add(errs, xasprintf("%s: larger than %d bytes", path,
		    CONFIG_MAX_BYTES));
		return NULL;
	}
	buf[n] = '\0';
	c = config_load_text(path, buf, n, errs);
	free(buf);
	return c;
}

static struct site_cfg *
site_by_name(struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nsites; i++)
		for (size_t j = 0; j < c->sites[i].nnames; j++)
			if (strcmp(c->sites[i].names[j], name) == 0)
				return &c->sites[i];
	return NULL;
}

static void
push_addr(struct walk *w, const char *flag, const char *s, int resolve,
    struct addr **v, size_t *n)
{
	char err[256];

	*v = xrealloc(*v, (*n + 1) * sizeof(struct addr));
	if (config_parse_addr(s, resolve, &(*v)[*n], err, sizeof(err)) == -1) {
		errs_add(w->errs, xasprintf("%s: %s", flag, err));
		return;
	}
	(*n)++;
}

static char **
split_commas(const char *s, size_t *n)
{
	char	**v = NULL, *copy = xstrdup(s), *tok, *save = NULL;

	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		v = xrealloc(v, (*n + 2) * sizeof(char *));
		v[(*n)++] = lowercase_dup(tok);
	}
	free(copy);
	return v;
}

/* Flags: the common case without a file. Errors are reported per flag. */
struct config *
config_from_args(int argc, char **argv, struct config_errors *errs)
{
	struct config	*c = xcalloc(1, sizeof(*c));
	struct walk	 w = { "command line", NULL, 0, NULL, errs };
	struct site_cfg	*s;
	char		*eq, *val, *copy = NULL;
	const char	*flag;

	config_defaults(c);
	for (int i = 0; i < argc; i++) {
		flag = argv[i];
		if (strcmp(flag, "--allow-root") == 0) {
			c->allow_root = 1;
			continue;
		}
		if (strncmp(flag, "--", 2) != 0 || i + 1 >= argc) {
			errs_add(errs, xasprintf("%s: unknown argument or missing value",
			    flag));
			continue;
		}
		/* A private copy: values are split in place, argv stays intact. */
		free(copy);
		copy = val = xstrdup(argv[++i]);
		if (strcmp(flag, "--https") == 0)
			push_addr(&w, flag, val, 0, &c->https, &c->nhttps);
		else if (strcmp(flag, "--http") == 0)
			push_addr(&w, flag, val, 0, &c->http, &c->nhttp);
		else if (strcmp(flag, "--site") == 0) {
			/* names=backend[,backend...] */
			if ((eq = strchr(val, '=')) == NULL) {
				errs_add(errs, xasprintf("--site %s: expected "
				    "NAME[,NAME...]=HOST:PORT[,HOST:PORT...]", val));
				continue;
			}
			*eq = '\0';
			c->sites = xrealloc(c->sites, (c->nsites + 1) * sizeof(*c->sites));
			s = &c->sites[c->nsites++];
			memset(s, 0, sizeof(*s));
			s->names = split_commas(val, &s->nnames);
			s->retries = 2;
			s->health.interval = 2;
			s->health.timeout = 1;
			s->health.rise = 2;
			s->health.fall = 3;
			{
				size_t	 nb;
				char	**b = split_commas(eq + 1, &nb);
				for (size_t k = 0; k < nb; k++)
					push_addr(&w, "--site", b[k], 1, &s->backends,
					    &s->nbackends);
				free_strs(b, nb);
			}
			for (size_t k = 0; k < s->nnames; k++)
				if (!valid_name(s->names[k]))
					errs_add(errs, xasprintf("--site: \"%s\" is not a "
					    "valid DNS name", s->names[k]));
			*eq = '=';
		} else if (strcmp(flag, "--cert") == 0) {
			/* name=cert.pem,key.pem */
			char *comma;
			if ((eq = strchr(val, '=')) == NULL ||
			    (comma = strchr(eq, ',')) == NULL) {
				errs_add(errs, xasprintf("--cert %s: expected "
				    "NAME=CERT.pem,KEY.pem", val));
				continue;
			}
			*eq = '\0';
			if ((s = site_by_name(c, val)) == NULL) {
				errs_add(errs, xasprintf("--cert %s: no --site names \"%s\" "
				    "(give --site first)", val, val));
				*eq = '=';
				continue;
			}
			*eq = '=';
			if (s->ncerts == 2) {
				errs_add(errs, xasprintf("--cert %s: at most two "
				    "certificates per site", val));
				continue;
			}
			s->certs = xrealloc(s->certs, (s->ncerts + 1) * sizeof(*s->certs));
			s->certs[s->ncerts].cert = strndup(eq + 1, (size_t)(comma - eq - 1));
			s->certs[s->ncerts].key = xstrdup(comma + 1);
			s->ncerts++;
		} else if (strcmp(flag, "--acme") == 0) {
			/* NAME: that site's certificates come from ACME */
			if ((s = site_by_name(c, val)) == NULL)
				errs_add(errs, xasprintf("--acme %s: no such site", val));
			else if (!s->acme) {
				s->acme = 1;
				s->challenges = xcalloc(3, sizeof(char *));
				if (s->names[0][0] == '*')
					s->challenges[s->nchallenges++] = xstrdup("dns-01");
				else {
					s->challenges[s->nchallenges++] = xstrdup("tls-alpn-01");
					s->challenges[s->nchallenges++] = xstrdup("http-01");
				}
			}
		} else if (strcmp(flag, "--acme-challenges") == 0) {
			/* NAME=type[,type] */
			if ((eq = strchr(val, '=')) == NULL) {
				errs_add(errs, xasprintf("--acme-challenges %s: expected "
				    "NAME=TYPE[,TYPE]", val));
				continue;
			}
			*eq = '\0';
			if ((s = site_by_name(c, val)) == NULL || !s->acme) {
				errs_add(errs, xasprintf("--acme-challenges %s: give --acme "
				    "%s first", val, val));
				continue;
			}
			free_strs(s->challenges, s->nchallenges);
			s->challenges = split_commas(eq + 1, &s->nchallenges);
		} else if (strcmp(flag, "--acme-directory") == 0) {
			free(c->acme.directory);
			c->acme.directory = acme_directory(val);
		} else if (strcmp(flag, "--acme-email") == 0) {
			free(c->acme.email);
			c->acme.email = xstrdup(val);
		} else if (strcmp(flag, "--acme-ca") == 0) {
			free(c->acme.ca_file);
			c->acme.ca_file = xstrdup(val);
		} else if (strcmp(flag, "--state-dir") == 0) {
			free(c->acme.state_dir);
			c->acme.state_dir = xstrdup(val);
		} else if (strcmp(flag, "--acme-dns-hook") == 0) {
			free(c->acme.dns_hook);
			c->acme.dns_hook = xstrdup(val);
		} else if (strcmp(flag, "--admin") == 0) {
			free(c->admin);
			c->admin = xstrdup(val);
		} else if (strcmp(flag, "--user") == 0) {
			free(c->user);
			c->user = xstrdup(val);
		} else if (strcmp(flag, "--group") == 0) {
			free(c->group);
			c->group = xstrdup(val);
		} else if (strcmp(flag, "--default") == 0) {
			if ((s = site_by_name(c, val)) == NULL)
				errs_add(errs, xasprintf("--default %s: no such site", val));
			else
				s->is_default = 1;
		} else if (strcmp(flag, "--alpn") == 0) {
			/* name=h2,http/1.1 */
			if ((eq = strchr(val, '=')) == NULL) {
				errs_add(errs, xasprintf("--alpn %s: expected NAME=PROTO[,PROTO]",
				    val));
				continue;
			}
			*eq = '\0';
			s = site_by_name(c, val);
			*eq = '=';
			if (s == NULL) {
				errs_add(errs, xasprintf("--alpn %s: no such site", val));
				continue;
			}
			free_strs(s->alpn, s->nalpn);
			s->alpn = split_commas(eq + 1, &s->nalpn);
		} else if (strcmp(flag, "--workers") == 0) {
			c->workers = atoi(val);
			if (c->workers < 0 || c->workers > 256)
				errs_add(errs, xasprintf("--workers: expected 0-256"));
		} else if (strcmp(flag, "--max-connections") == 0) {
			long m = strtol(val, NULL, 10);
			if (m < 1 || m > 10000000)
				errs_add(errs, xasprintf("--max-connections: expected 1-10000000"));
			else
				c->limits.max_connections = (unsigned)m;
		} else if (strcmp(flag, "--max-connections-per-client") == 0 ||
		    strcmp(flag, "--handshake-rate-per-client") == 0) {
			double d = strtod(val, NULL);
			if (d < 0 || d > 10000000)
				errs_add(errs, xasprintf("%s: expected 0-10000000", flag));
			else if (flag[2] == 'm')
				c->limits.max_connections_per_client = (unsigned)d;
			else
				c->limits.handshake_rate_per_client = d;
		} else if (strcmp(flag, "--log-level") == 0) {
			if ((c->log_level = log_level_parse(val)) == -1)
				errs_add(errs, xasprintf("--log-level: unknown level \"%s\"", val));
		} else if (strcmp(flag, "--log-format") == 0) {
			c->log_json = strcmp(val, "json") == 0;
		} else if (strcmp(flag, "--handshake-timeout") == 0)
			c->limits.handshake_timeout = atof(val);
		else if (strcmp(flag, "--connect-timeout") == 0)
			c->limits.connect_timeout = atof(val);
		else if (strcmp(flag, "--idle-timeout") == 0)
			c->limits.idle_timeout = atof(val);
		else if (strcmp(flag, "--drain-timeout") == 0)
			c->limits.drain_timeout = atof(val);
		else
			errs_add(errs, xasprintf("%s: unknown flag", flag));
	}
	free(copy);
	for (size_t i = 0; i < c->nsites; i++)
		if (c->sites[i].ncerts == 0 && !c->sites[i].acme)
			errs_add(errs, xasprintf("--site %s: no --cert (or --acme) given "
			    "for it", c->sites[i].names[0]));
	if (c->nhttps == 0)
		errs_add(errs, xasprintf("--https: at least one HTTPS listen address "
		    "is needed"));
	else if (c->nsites == 0)
		errs_add(errs, xasprintf("--site: at least one site is needed"));
	else
		config_validate(&w, c);
	if (errs->n > 0) {
		config_free(c);
		return NULL;
	}
	return c;
}

static void
free_addrs(struct addr *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(a[i].str);
	free(a);
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nsites; i++) {
		struct site_cfg *s = &c->sites[i];
		free_strs(s->names, s->nnames);
		free_addrs(s->backends, s->nbackends);
		for (size_t j = 0; j < s->ncerts; j++) {
			free(s->certs[j].cert);
			free(s->certs[j].key);
		}
		free(s->certs);
		free_strs(s->alpn, s->nalpn);
		free_strs(s->challenges, s->nchallenges);
		free(s->weights);
		free(s->health.path);
		free(s->btls.ca); free(s->btls.server_name);
		free(s->btls.cert); free(s->btls.key);
	}
	free(c->acme.directory); free(c->acme.email); free(c->acme.ca_file);
	free(c->acme.state_dir); free(c->acme.eab_kid); free(c->acme.eab_hmac);
	free(c->acme.dns_hook); free(c->acme.preferred_chain);
	free(c->user); free(c->group); free(c->admin); free(c->alert_command);
	free(c->sites);
	free_addrs(c->https, c->nhttps);
	free_addrs(c->http, c->nhttp);
	free(c->path);
	free(c);
}
