/* stats.c - the counters and their Prometheus text rendering. */
#include "stats.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsnego.h"
#include "xalloc.h"

static pthread_mutex_t	 stats_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct site_stats *stats_sites;
static atomic_ulong	 stats_hs[STATS_HS__MAX];
static atomic_ulong	 stats_ref[STATS_REFUSED__MAX];
static atomic_ulong	 stats_fd_errors, stats_nofile;
static atomic_uint	 stats_max_conns;

static const char *const stats_hs_names[STATS_HS__MAX] = {
	"full", "resumed", "protocol", "no_site", "timeout", "client_eof",
};

/* An index over the list by name: a view of 100,000 sites is built in
 * linear time, not with a list walk per site. */
static struct site_stats **stats_tab;
static size_t		   stats_mask, stats_n;

static size_t
stats_slot(const char *name)
{
	uint64_t	h = 1469598103934665603ull;
	size_t		i;

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (i = (size_t)h & stats_mask; stats_tab[i] != NULL &&
	    strcmp(stats_tab[i]->name, name) != 0; i = (i + 1) & stats_mask)
		;
	return i;
}

struct site_stats *
stats_site(const char *name)
{
	struct site_stats *s;

	pthread_mutex_lock(&stats_mtx);
	if (2 * (stats_n + 1) > (stats_tab ? stats_mask + 1 : 0)) {
		size_t cap = stats_tab ? 2 * (stats_mask + 1) : 64;

		free(stats_tab);
		stats_tab = xcalloc(cap, sizeof(*stats_tab));
		stats_mask = cap - 1;
		for (s = stats_sites; s != NULL; s = s->next)
			stats_tab[stats_slot(s->name)] = s;
	}
	if ((s = stats_tab[stats_slot(name)]) == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->name = xstrdup(name);
		s->next = stats_sites;
		stats_sites = s;
		stats_tab[stats_slot(name)] = s;
		stats_n++;
	}
	pthread_mutex_unlock(&stats_mtx);
	return s;
}

void
stats_handshake(enum stats_hs h)
{
	atomic_fetch_add_explicit(&stats_hs[h], 1, memory_order_relaxed);
}

/* Handshakes by group: the groups tlsgate knows, then "other". */
static atomic_ulong	 stats_group[TLSNEGO_NKNOWN + 1];	/* last: other */

void
stats_handshake_group(uint16_t group)
{
	int i = tlsnego_group_index(group);

	atomic_fetch_add_explicit(&stats_group[i >= 0 ? i : TLSNEGO_NKNOWN], 1,
	    memory_order_relaxed);
}

static const char *const stats_ref_names[STATS_REFUSED__MAX] = {
	"max_connections", "client_connections", "client_handshake_rate",
	"descriptors",
};

void
stats_refused(enum stats_refused r)
{
	atomic_fetch_add_explicit(&stats_ref[r], 1, memory_order_relaxed);
}

void
stats_accept_fd_error(void)
{
	atomic_fetch_add_explicit(&stats_fd_errors, 1, memory_order_relaxed);
}

void
stats_set_limits(unsigned max_conns, unsigned long nofile)
{
	atomic_store(&stats_max_conns, max_conns);
	atomic_store(&stats_nofile, nofile);
}

const double stats_http_buckets[STATS_HTTP_NBUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

void
stats_http_request(struct site_stats *st, int status, double seconds)
{
	int b, c = status >= 100 && status < 600 ? status / 100 : 0;

	atomic_fetch_add_explicit(&st->http_req[c], 1, memory_order_relaxed);
	for (b = 0; b < STATS_HTTP_NBUCKETS && seconds > stats_http_buckets[b]; b++)
		;
	atomic_fetch_add_explicit(&st->http_dur[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->http_dur_us,
	    (unsigned long)(seconds * 1e6), memory_order_relaxed);
}

static void
stats_write_http(FILE *out)
{
	static const char *const cls[6] = { "none", "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct site_stats *s;

	fprintf(out, "# HELP tlsgate_http_requests_total HTTP requests by site and "
	    "status class.\n# TYPE tlsgate_http_requests_total counter\n");
	for (s = stats_sites; s; s = s->next)
		for (int i = 0; i < 6; i++)
			fprintf(out, "tlsgate_http_requests_total{site=\"%s\",code=\"%s\"} %lu\n",
			    s->name, cls[i], atomic_load(&s->http_req[i]));
	fprintf(out, "# HELP tlsgate_http_request_duration_seconds Time from a "
	    "request's head to its last response byte queued.\n"
	    "# TYPE tlsgate_http_request_duration_seconds histogram\n");
	for (s = stats_sites; s; s = s->next) {
		unsigned long cum = 0;
		for (int b = 0; b <= STATS_HTTP_NBUCKETS; b++) {
			cum += atomic_load(&s->http_dur[b]);
			if (b < STATS_HTTP_NBUCKETS)
				fprintf(out, "tlsgate_http_request_duration_seconds_bucket"
				    "{site=\"%s\",le=\"%g\"} %lu\n", s->name,
				    stats_http_buckets[b], cum);
			else
				fprintf(out, "tlsgate_http_request_duration_seconds_bucket"
				    "{site=\"%s\",le=\"+Inf\"} %lu\n", s->name, cum);
		}
		fprintf(out, "tlsgate_http_request_duration_seconds_sum{site=\"%s\"} %.6f\n"
		    "tlsgate_http_request_duration_seconds_count{site=\"%s\"} %lu\n",
		    s->name, (double)atomic_load(&s->http_dur_us) / 1e6, s->name, cum);
	}
}

void
stats_write(FILE *out)
{
	struct site_stats *s;

	fprintf(out, "# HELP tlsgate_connections_refused_total Connections closed at "
	    "accept, by the limit that refused them.\n"
	    "# TYPE tlsgate_connections_refused_total counter\n");
	for (int i = 0; i < STATS_REFUSED__MAX; i++)
		fprintf(out, "tlsgate_connections_refused_total{reason=\"%s\"} %lu\n",
		    stats_ref_names[i], atomic_load(&stats_ref[i]));
	fprintf(out, "# HELP tlsgate_accept_fd_exhausted_total accept() or backend socket() "
	    "failures for want of file descriptors (EMFILE, ENFILE).\n"
	    "# TYPE tlsgate_accept_fd_exhausted_total counter\n"
	    "tlsgate_accept_fd_exhausted_total %lu\n", atomic_load(&stats_fd_errors));
	fprintf(out, "# HELP tlsgate_connections_max Client connections allowed at once "
	    "(max_connections, lowered to fit the descriptor limit).\n"
	    "# TYPE tlsgate_connections_max gauge\n"
	    "tlsgate_connections_max %u\n", atomic_load(&stats_max_conns));
	fprintf(out, "# HELP tlsgate_open_files_limit RLIMIT_NOFILE in force.\n"
	    "# TYPE tlsgate_open_files_limit gauge\n"
	    "tlsgate_open_files_limit %lu\n", atomic_load(&stats_nofile));

	fprintf(out, "# HELP tlsgate_handshakes_total Completed TLS handshakes.\n"
	    "# TYPE tlsgate_handshakes_total counter\n");
	for (int i = 0; i <= STATS_HS_RESUMED; i++)
		fprintf(out, "tlsgate_handshakes_total{kind=\"%s\"} %lu\n",
		    stats_hs_names[i], atomic_load(&stats_hs[i]));
	fprintf(out, "# HELP tlsgate_handshake_groups_total Completed TLS handshakes "
	    "by key-exchange group.\n# TYPE tlsgate_handshake_groups_total counter\n");
	for (int i = 0; i <= TLSNEGO_NKNOWN; i++) {
		fprintf(out, "tlsgate_handshake_groups_total{group=\"%s\"} %lu\n",
		    i < TLSNEGO_NKNOWN ? tlsnego_group_name(tlsnego_group_id(i)) : "other",
		    atomic_load(&stats_group[i]));
	}
	fprintf(out, "# HELP tlsgate_handshake_failures_total Failed TLS handshakes "
	    "by reason.\n# TYPE tlsgate_handshake_failures_total counter\n");
	for (int i = STATS_HS_FAIL_PROTOCOL; i < STATS_HS__MAX; i++)
		fprintf(out, "tlsgate_handshake_failures_total{reason=\"%s\"} %lu\n",
		    stats_hs_names[i], atomic_load(&stats_hs[i]));
	pthread_mutex_lock(&stats_mtx);
	fprintf(out, "# HELP tlsgate_connections Client connections open now.\n"
	    "# TYPE tlsgate_connections gauge\n");
	for (s = stats_sites; s; s = s->next)
		fprintf(out, "tlsgate_connections{site=\"%s\"} %ld\n", s->name,
		    atomic_load(&s->conns_current));
	fprintf(out, "# HELP tlsgate_connections_total Client connections handed to a site.\n"
	    "# TYPE tlsgate_connections_total counter\n");
	for (s = stats_sites; s; s = s->next)
		fprintf(out, "tlsgate_connections_total{site=\"%s\"} %lu\n", s->name,
		    atomic_load(&s->conns_total));
	fprintf(out, "# HELP tlsgate_bytes_total Bytes proxied, by direction.\n"
	    "# TYPE tlsgate_bytes_total counter\n");
	for (s = stats_sites; s; s = s->next) {
		fprintf(out, "tlsgate_bytes_total{site=\"%s\",direction=\"in\"} %lu\n",
		    s->name, atomic_load(&s->bytes_in));
		fprintf(out, "tlsgate_bytes_total{site=\"%s\",direction=\"out\"} %lu\n",
		    s->name, atomic_load(&s->bytes_out));
	}
	stats_write_http(out);
	pthread_mutex_unlock(&stats_mtx);
}
