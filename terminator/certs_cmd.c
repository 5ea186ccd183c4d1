/*
 * certs_cmd.c - lists the store (the daemon need not run): each certificate
 * is parsed with the same checks as for serving, and its renewal state adds
 * the next renewal time and the last error.
 */
#include "certs_cmd.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "certfile.h"
#include "errbuf.h"
#include "store.h"
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

static void
list_one(const struct store_entry *e, void *arg)
{
	FILE			*out = arg;
	const struct certfile	*cf = e->cf;
	const char		*kt = certfile_keytype_names[e->kt];
	const char		*err = e->renewal != NULL && e->renewal->last_error[0] ?
				    e->renewal->last_error : NULL;
	char			 na[40], ra[40], iss[128], names[512] = "";

	if (e->err != NULL) {
		fprintf(out, "%-28s %-6s UNREADABLE: %s\n", e->name, kt, e->err);
		return;
	}
	if (cf != NULL) {
		for (size_t i = 0; i < cf->nnames; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names),
			    "%s%s", i ? "," : "", cf->names[i]);
		fmt_time(cf->not_after, na, sizeof(na));
		issuer_cn(cf, iss, sizeof(iss));
	} else {
		snprintf(names, sizeof(names), "%s", e->name);
		snprintf(na, sizeof(na), "(none yet)");
		snprintf(iss, sizeof(iss), "-");
	}
	fmt_time(e->renewal != NULL ? e->renewal->next_attempt : 0, ra, sizeof(ra));
	fprintf(out, "%-28s %-6s %-24s %-20s %-20s %s\n", names, kt, iss, na, ra,
	    err ? err : "-");
}

int
certs_cmd_list(const char *state_dir, FILE *out)
{
	struct store	*st;
	struct errbuf	 eb;
	int		 n;

	if ((st = store_open_file(state_dir, NULL, &eb)) == NULL)
		return -1;
	fprintf(out, "%-28s %-6s %-24s %-20s %-20s %s\n", "NAMES", "KEY", "ISSUER",
	    "NOT AFTER", "NEXT RENEWAL", "LAST ERROR");
	n = store_list(st, list_one, out);
	store_close(st);
	return n;
}
