/*
 * certs_cmd.c - lists the store (the daemon need not run): each certificate
 * is parsed with the same checks as for serving, and its renewal state adds
 * the next renewal time and the last error.
 */
#include "certs_cmd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "certfile.h"
#include "config.h"
#include "config_store.h"
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

struct list_ctx {
	FILE			*out;
	const struct config	*c;		/* or NULL: state_dir */
	const char		*state_dir;
	struct store	*ns;		/* the namespace of ns_ca, for its index */
	char		*ns_ca;
};

/* " (on-demand, last used ...)" when name is in its namespace's on-demand
 * index (store_ondemand_get), else "". */
static void
ondemand_note(struct list_ctx *x, const struct store_entry *e, char *buf,
    size_t cap)
{
	struct store_ondemand	rec;
	struct errbuf		eb;
	char			lu[40];

	buf[0] = '\0';
	if (x->ns_ca == NULL || strcmp(x->ns_ca, e->ca) != 0) {
		store_close(x->ns);
		free(x->ns_ca);
		/* A namespace's name is its own slug. */
		x->ns = x->c != NULL ? config_store_open(x->c, e->ca, &eb) :
		    store_open_file(x->state_dir, e->ca, &eb);
		x->ns_ca = xstrdup(e->ca);
	}
	if (x->ns == NULL || store_ondemand_get(x->ns, e->name, &rec) == -1)
		return;
	fmt_time(rec.last_used, lu, sizeof(lu));
	snprintf(buf, cap, " (on-demand, last used %s)", lu);
}

/*
 * " (CA URL)": the ACME directory of the CA that issued the certificate
 * (acme.issuers), " (ordering from URL)" while a fallback orders from
 * another one, and " (URL rate-limited us until TIME)" while the renewal
 * state remembers a CA whose rate limit sent a round elsewhere (the next
 * round goes back there once TIME has passed). A certificate from before
 * acme.issuers came from its folder's own CA, which the folder name shows.
 */
static void
issuer_note(const struct store_entry *e, char *buf, size_t cap)
{
	const struct store_renewal *r = e->renewal;

	buf[0] = '\0';
	if (r == NULL)
		return;
	if (r->issuer[0] != '\0' && e->cf != NULL)
		snprintf(buf, cap, " (CA %s)", r->issuer);
	if (r->order_issuer[0] != '\0' && strcmp(r->order_issuer, r->issuer) != 0)
		snprintf(buf + strlen(buf), cap - strlen(buf), " (ordering from %s)",
		    r->order_issuer);
	if (r->rl_issuer[0] != '\0') {
		char until[32];

		fmt_time(r->rl_until, until, sizeof(until));
		snprintf(buf + strlen(buf), cap - strlen(buf),
		    " (%s rate-limited us until %s)", r->rl_issuer, until);
	}
}

static void
list_one(const struct store_entry *e, void *arg)
{
	struct list_ctx		*x = arg;
	FILE			*out = x->out;
	const struct certfile	*cf = e->cf;
	const char		*kt = certfile_keytype_names[e->kt];
	const char		*err = e->renewal != NULL && e->renewal->last_error[0] ?
				    e->renewal->last_error : NULL;
	char			 na[40], ra[40], iss[128], names[512] = "", od[96];
	char			 ca[1000];

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
	ondemand_note(x, e, od, sizeof(od));
	issuer_note(e, ca, sizeof(ca));
	fprintf(out, "%-28s %-6s %-24s %-20s %-20s %s%s%s\n", names, kt, iss, na, ra,
	    err ? err : "-", od, ca);
}

int
certs_cmd_list(const struct config *c, const char *state_dir, FILE *out,
    struct errbuf *eb)
{
	struct store	*st;
	struct list_ctx	 x = { out, c, state_dir, NULL, NULL };
	int		 n;

	st = c != NULL ? config_store_open(c, NULL, eb) :
	    store_open_file(state_dir, NULL, eb);
	if (st == NULL)
		return -1;
	fprintf(out, "%-28s %-6s %-24s %-20s %-20s %s\n", "NAMES", "KEY", "ISSUER",
	    "NOT AFTER", "NEXT RENEWAL", "LAST ERROR");
	if ((n = store_list(st, list_one, &x)) == -1)
		errbuf_set(eb, "%s: %s", c != NULL && c->store.backend ==
		    STORE_BACKEND_ETCD ? "etcd" : state_dir, strerror(errno));
	store_close(x.ns);
	free(x.ns_ca);
	store_close(st);
	return n;
}
