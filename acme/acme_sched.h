/*
 * acme_sched.h - when to renew and when to retry: pure functions of times
 * and a random number, so they are tested without waiting. No state: any
 * thread may call them.
 */
#ifndef TLSGATE_ACME_SCHED_H
#define TLSGATE_ACME_SCHED_H

#include <time.h>

/*
 * When to renew a certificate valid [not_before, not_after). With an ARI
 * window [ari_start, ari_end) (ari_end > 0), a uniformly random time inside
 * it, clipped to the certificate's life less a tenth (a window that reaches
 * past expiry cannot let the certificate lapse; if nothing is left, the
 * window is ignored). Without: when a third of the lifetime is left (half for certificates
 * shorter than 10 days), moved earlier by up to 5% of the lifetime as jitter.
 * rnd is uniform in [0, 1).
 */
time_t	acme_sched_renew_at(time_t not_before, time_t not_after, time_t ari_start,
	    time_t ari_end, double rnd);

/*
 * Where an ARI window that starts at ari_start really starts for a
 * certificate of lifetime life obtained at got. A window that opened after
 * got is the CA's word on this certificate, taken as it is, even when it has
 * passed already (renew at once: a revocation, say). One that opened at or
 * before got predates the certificate: its "now" was acted on already (this
 * certificate is that renewal), or it is a stale answer (a CA's cache, the
 * window of the certificate before). It cannot mean "now" again, so it starts
 * no earlier than a third into the lifetime; if it ends before that, it is
 * spent. One order per window, however far in the past it lies
 * (cert-manager#8993 ordered in a loop on one).
 */
time_t	acme_sched_ari_start(time_t ari_start, time_t got, time_t life);

/*
 * Delay before retry number attempt (1 = first failure): base, 10 x base,
 * 100 x base, then 1440 x base (with base 60: 1 min, 10 min, 100 min, daily).
 * A larger Retry-After (seconds, or -1) wins, up to a week; a smaller one
 * never makes us retry sooner than the schedule.
 */
long	acme_sched_backoff(int attempt, long retry_after, long base);

/*
 * acme_sched_backoff for a job whose certificate in service lives life
 * seconds (0 or less: none, or unknown): the schedule's steps are capped at
 * a twentieth of that lifetime, but never below an hour (nor below base),
 * so a certificate too short for the daily step still gets about ten
 * retries in the half of its life left at renewal (a 160-hour one: steps of
 * 8 hours), and the CA is never asked more than hourly by the steps. A
 * 90-day (or 45-day) certificate's twentieth is beyond the daily step:
 * unchanged. Retry-After still wins when larger, up to a week.
 */
long	acme_sched_backoff_life(int attempt, long retry_after, long base,
	    long life);

/*
 * A delay spread out for a retry: delay plus up to half of it (at most an
 * hour more), by rnd in [0, 1). Never less than delay, so jitter never
 * retries sooner than acme_sched_backoff allows; jobs that failed together
 * (a CA outage) come back spread over the interval, not at one moment.
 */
long	acme_sched_jitter(long delay, double rnd);

/* Parse a Retry-After value: delta-seconds or an HTTP-date. -1 if absent/bad. */
long	acme_sched_parse_retry_after(const char *v, time_t now);

/* Parse an RFC 3339 time ("2025-01-02T03:04:05Z", fractions allowed). -1 if bad. */
time_t	acme_sched_parse_time(const char *s);

#endif
