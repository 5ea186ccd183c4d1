/*
 * stats.h - counters for /metrics, updated by workers with relaxed atomics.
 *
 * Per-site counters live in a registry keyed by the site's first name and
 * are never freed, so a connection can keep a pointer across reloads and
 * the totals survive them. Threads: workers update counters from any
 * thread; the registry is looked up under a mutex (main thread, on load);
 * the admin endpoint reads on the main thread.
 */
#ifndef TLSGATE_STATS_H
#define TLSGATE_STATS_H

#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>

enum stats_hs {
	STATS_HS_FULL,
	STATS_HS_RESUMED,
	STATS_HS_FAIL_PROTOCOL,		/* bad ClientHello, version, alert */
	STATS_HS_FAIL_NO_SITE,		/* unknown name and no default */
	STATS_HS_FAIL_TIMEOUT,
	STATS_HS_FAIL_EOF,		/* client left before finishing */
	STATS_HS__MAX
};

/* Connections closed at accept, before any TLS (climit.h, max_connections). */
enum stats_refused {
	STATS_REFUSED_MAX_CONNS,	/* limits.max_connections (all clients) */
	STATS_REFUSED_CLIENT_CONNS,	/* limits.max_connections_per_client */
	STATS_REFUSED_CLIENT_RATE,	/* limits.handshake_rate_per_client */
	STATS_REFUSED_FDS,		/* too few descriptors left (worker.h) */
	STATS_REFUSED__MAX
};

#define STATS_HTTP_NBUCKETS	11

struct site_stats {
	struct site_stats	*next;
	char			*name;
	atomic_ulong		 conns_total;
	atomic_long		 conns_current;
	atomic_ulong		 bytes_in, bytes_out;
	/* HTTP mode: requests by status class (1xx..5xx at 1..5; 0: none
	 * sent), and their durations in STATS_HTTP_BUCKETS (+Inf last). */
	atomic_ulong		 http_req[6];
	atomic_ulong		 http_dur[STATS_HTTP_NBUCKETS + 1];
	atomic_ulong		 http_dur_us;		/* sum, microseconds */
};

/* Upper bounds of the request duration histogram, seconds. */
extern const double stats_http_buckets[STATS_HTTP_NBUCKETS];
/* A finished HTTP request of site st: status 0 when none was sent. */
void			 stats_http_request(struct site_stats *st, int status,
			    double seconds);

struct site_stats	*stats_site(const char *name);	/* found or made */
void			 stats_handshake(enum stats_hs);
/* A completed handshake's key-exchange group (a TLS group id; 0: none). */
void			 stats_handshake_group(uint16_t group);
void			 stats_refused(enum stats_refused);
/* accept() failed for want of descriptors (EMFILE or ENFILE). */
void			 stats_accept_fd_error(void);
/* The connection limit in force (max_connections, lowered to fit
 * RLIMIT_NOFILE) and the descriptor limit; any thread. */
void			 stats_set_limits(unsigned max_conns, unsigned long nofile);
/* Write the connection, handshake and byte metrics (text format). */
void			 stats_write(FILE *out);

#endif
