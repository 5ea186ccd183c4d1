/*
 * acme_profile.c - ACME profiles (draft-aaron-acme-profiles; Let's
 * Encrypt's classic, tlsserver and shortlived): the names the CA offers in
 * its directory's meta.profiles, which one a job asks for, and the
 * newOrder's "profile" field.
 *
 * A job asks for its site's profile, else its issuer's (acme.issuers),
 * else acme.profile, else none (the CA's default). Each CA of acme.issuers
 * has its own list. A name the CA does not offer is an error that is logged
 * once, when the directory loads (or when a reload or on-demand brings the
 * job), and that refuses the job's orders: it never orders under another
 * profile than the one configured. The daemon still starts and serves;
 * the directory is fetched in the background, so a CA that is down at start
 * never holds up serving.
 *
 * The profile of each order is kept in the renewal state (rs.profile), so
 * the profile of the certificate in service survives restarts; a renewal
 * asks for the configured one (the config wins) and says so in the log when
 * it differs, never silently.
 *
 * ACME thread only.
 */
#include "acme_int.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

const char *
job_profile(const struct job *j)
{
	const char *p = j->site->profile != NULL ? j->site->profile :
	    job_iss(j)->profile != NULL ? job_iss(j)->profile : j->a->cfg.profile;

	return p != NULL && p[0] != '\0' ? p : NULL;
}

/* A profile name as the CA spells it, safe to log: letters, digits, . - _ */
static int
plain_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 64 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* "classic, shortlived, tlsserver" (the CA's order; at most cap bytes). */
static void
offered(const struct acme_iss *a, char *buf, size_t cap)
{
	const char	*k;
	json_t		*v;
	size_t		 len = 0;

	buf[0] = '\0';
	json_object_foreach(a->profiles, k, v) {
		int n;

		if (!plain_name(k))
			continue;
		n = snprintf(buf + len, cap - len, "%s%s", len > 0 ? ", " : "", k);
		if (n < 0 || (size_t)n >= cap - len) {
			buf[len] = '\0';
			break;
		}
		len += (size_t)n;
	}
}

void
profile_directory(struct acme_iss *a, json_t *meta)
{
	json_t	*p = json_object_get(meta, "profiles");
	char	 list[256];

	json_decref(a->profiles);
	a->profiles = NULL;
	if (!json_is_object(p) || json_object_size(p) == 0)
		return;
	a->profiles = json_incref(p);
	offered(a, list, sizeof(list));
	log_info("acme: %s offers the profiles %s", a->directory, list);
}

int
profile_check(struct job *j)
{
	const char	*p = job_profile(j);
	struct acme_iss	*a = job_iss(j);
	char		 list[200];

	if (p == NULL || !a->dir_ok ||
	    (a->profiles != NULL && json_object_get(a->profiles, p) != NULL)) {
		j->profile_bad = 0;
		return 0;
	}
	if (j->profile_bad)
		return -1;	/* said already */
	j->profile_bad = 1;
	if (a->profiles != NULL)
		offered(a, list, sizeof(list));
	log_err("acme %s: the CA (%s) does not offer the profile \"%s\" (%s%s); "
	    "no order for this site until the config or the CA changes%s",
	    job_name(j), a->directory, p, a->profiles != NULL ?
	    "it offers: " : "it offers no profiles", a->profiles != NULL ?
	    list : "", j->current != NULL ?
	    "; the certificate in service keeps serving" : "");
	snprintf(j->rs.last_error, sizeof(j->rs.last_error), "profile \"%s\" is "
	    "not offered by the CA (%s%s)", p, a->profiles != NULL ?
	    "it offers: " : "it offers no profiles", a->profiles != NULL ?
	    list : "");
	snprintf(j->rs.fail_class, sizeof(j->rs.fail_class), "%s",
	    acme_fail_names[ACME_FAIL_OTHER]);
	job_save(j);
	return -1;
}

void
profile_order(struct job *j, json_t *payload)
{
	const char *p = job_profile(j);

	if (p != NULL)
		json_object_set_new(payload, "profile", json_string(p));
	/* The certificate in service came from another profile: the config
	 * wins, and the log says so. */
	if (j->current != NULL && strcmp(j->rs.profile, p != NULL ? p : "") != 0) {
		if (p == NULL)
			log_notice("acme %s: the certificate in service was ordered "
			    "with the profile \"%s\"; no profile is configured now, so "
			    "this order takes the CA's default", job_name(j),
			    j->rs.profile);
		else
			log_notice("acme %s: ordering with the profile \"%s\" (the "
			    "certificate in service: %s%s%s)", job_name(j), p,
			    j->rs.profile[0] ? "\"" : "the CA's default",
			    j->rs.profile, j->rs.profile[0] ? "\"" : "");
	}
	snprintf(j->rs.profile, sizeof(j->rs.profile), "%s", p != NULL ? p : "");
}
