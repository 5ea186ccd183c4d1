/*
 * stats.h - counters for /metrics, updated by workers with relaxed atomics.
 *
 * Per-site counters live in a registry keyed by the site's first name and
 * are never freed, so a connection can keep a pointer across reloads and
 * the totals survive them.
 */
#ifndef TLSGATE_STATS_H
#define TLSGATE_STATS_H

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

struct site_stats {
	struct site_stats	*next;
	char			*name;
	atomic_ulong		 conns_total;
	atomic_long		 conns_current;
	atomic_ulong		 bytes_in, bytes_out;
};

struct site_stats	*stats_site(const char *name);	/* found or made */
void			 stats_handshake(enum stats_hs);
/* Write the connection, handshake and byte metrics (text format). */
void			 stats_write(FILE *out);

#endif
