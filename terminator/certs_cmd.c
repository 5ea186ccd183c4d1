/*
 * certs_cmd.c - reads the store's files directly (the daemon need not run):
 * each certificate file is parsed with the same checks as for serving, and
 * its metadata file adds the renewal time and the last error.
 */
#include "certs_cmd.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "certfile.h"
#include "errbuf.h"
#include "xalloc.h"

static void
fmt_time(time_t t, char *buf, size_t cap)
{
	struct tm tm;

	if (t <= 0) {
		snprintf(buf, cap, "-");
		return;
	}
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

static void
issuer_cn(const struct certfile *cf, char *buf, size_t cap)
{
	X509 *x = X509_parse_from_buffer(cf->chain[0]);

	snprintf(buf, cap, "?");
	if (x != NULL &&
	    X509_NAME_get_text_by_NID(X509_get_issuer_name(x), NID_commonName, buf,
	    (int)cap) <= 0)
		snprintf(buf, cap, "?");
	X509_free(x);
}

static int
list_site(const char *ca, const char *dir, const char *site, FILE *out)
{
	int n = 0;

	for (int k = 0; k < CERTFILE__MAX; k++) {
		const char	*kt = certfile_keytype_names[k];
		char		*pem = xasprintf("%s/%s/%s.pem", dir, site, kt);
		char		*meta = xasprintf("%s/%s/%s.json", dir, site, kt);
		struct certfile	*cf = NULL;
		struct errbuf	 eb;
		json_t		*m = json_load_file(meta, 0, NULL);
		char		 na[40], ra[40], iss[128], names[512] = "";
		const char	*err = json_string_value(json_object_get(m, "last_error"));

		if (access(pem, F_OK) == 0 && (cf = certfile_load(pem, pem, &eb)) == NULL)
			fprintf(out, "%-28s %-6s UNREADABLE: %s\n", site, kt, eb.msg);
		if (cf != NULL || m != NULL) {
			if (cf != NULL) {
				for (size_t i = 0; i < cf->nnames; i++)
					snprintf(names + strlen(names), sizeof(names) -
					    strlen(names), "%s%s", i ? "," : "", cf->names[i]);
				fmt_time(cf->not_after, na, sizeof(na));
				issuer_cn(cf, iss, sizeof(iss));
			} else {
				snprintf(names, sizeof(names), "%s", site);
				snprintf(na, sizeof(na), "(none yet)");
				snprintf(iss, sizeof(iss), "-");
			}
			fmt_time((time_t)json_integer_value(json_object_get(m, "renew_at")),
			    ra, sizeof(ra));
			fprintf(out, "%-28s %-6s %-24s %-20s %-20s %s\n", names, kt, iss, na,
			    ra, err ? err : "-");
			(void)ca;
			n++;
		}
		json_decref(m);
		certfile_unref(cf);
		free(pem);
		free(meta);
	}
	return n;
}

int
certs_cmd_list(const char *state_dir, FILE *out)
{
	DIR		*d, *sd;
	struct dirent	*ca, *site;
	int		 n = 0;

	if ((d = opendir(state_dir)) == NULL)
		return -1;
	fprintf(out, "%-28s %-6s %-24s %-20s %-20s %s\n", "NAMES", "KEY", "ISSUER",
	    "NOT AFTER", "NEXT RENEWAL", "LAST ERROR");
	while ((ca = readdir(d)) != NULL) {
		char *certs;
		if (ca->d_name[0] == '.')
			continue;
		certs = xasprintf("%s/%s/certs", state_dir, ca->d_name);
		if ((sd = opendir(certs)) != NULL) {
			while ((site = readdir(sd)) != NULL)
				if (site->d_name[0] != '.')
					n += list_site(ca->d_name, certs, site->d_name, out);
			closedir(sd);
		}
		free(certs);
	}
	closedir(d);
	return n;
}
