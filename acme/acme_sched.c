/*
 * acme_sched.c - renewal times and retry back-off, following Let's Encrypt's
 * integration guidance: renew inside the ARI window at a random moment when
 * the CA offers one, otherwise with a third of the lifetime left (half for
 * short-lived certificates), and back off exponentially to once a day.
 */
#include "acme_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

time_t
acme_sched_renew_at(time_t not_before, time_t not_after, time_t ari_start,
    time_t ari_end, double rnd)
{
	time_t	life = not_after - not_before, left;

	if (ari_end > ari_start && ari_end > 0 && life > 0) {
		/*
		 * Keep inside the certificate's life too, with a tenth of it to
		 * spare: a window that runs past expiry (a CA bug, or Pebble's
		 * fixed-width window on a seconds-long certificate) must not
		 * let the certificate lapse.
		 */
		time_t s = ari_start > not_before ? ari_start : not_before;
		time_t e = ari_end < not_after - life / 10 ? ari_end : not_after - life / 10;
		if (e > s)
			return s + (time_t)((double)(e - s) * rnd);
	}
	if (life <= 0)
		return not_after;
	left = life < 10 * 86400 ? life / 2 : life / 3;
	return not_after - left - (time_t)((double)life * 0.05 * rnd);
}

time_t
acme_sched_ari_start(time_t ari_start, time_t got, time_t life)
{
	if (got <= 0 || ari_start > got)
		return ari_start;
	return got + (life > 0 ? life / 3 : 0);
}

long
acme_sched_backoff(int attempt, long retry_after, long base)
{
	static const long steps[] = { 1, 10, 100, 1440 };
	long d;

	if (attempt < 1)
		attempt = 1;
	d = steps[attempt > 4 ? 3 : attempt - 1] * (base > 0 ? base : 60);
	if (retry_after > d)
		d = retry_after > 7 * 86400 ? 7 * 86400 : retry_after;
	return d;
}

/*
 * Why a twentieth: renewal starts with half the lifetime left for short
 * certificates (a third for the others), so one twentieth per step leaves
 * room for about ten attempts (six or more even with the jitter and the
 * first short steps) before expiry, where a tenth would leave barely five.
 * The hour's floor keeps a seconds-long test certificate or a 6-day one
 * from turning the back-off into hammering.
 */
#define BACKOFF_LIFE_DIV	20
#define BACKOFF_CAP_MIN		3600L

long
acme_sched_backoff_life(int attempt, long retry_after, long base, long life)
{
	long d = acme_sched_backoff(attempt, -1, base), cap;

	if (life > 0) {
		cap = life / BACKOFF_LIFE_DIV;
		if (cap < BACKOFF_CAP_MIN)
			cap = BACKOFF_CAP_MIN;
		if (cap < base)
			cap = base;
		if (d > cap)
			d = cap;
	}
	if (retry_after > d)
		d = retry_after > 7 * 86400 ? 7 * 86400 : retry_after;
	return d;
}

long
acme_sched_jitter(long delay, double rnd)
{
	long spread = delay / 2 < 3600 ? delay / 2 : 3600;

	if (delay <= 0 || rnd <= 0 || rnd >= 1)
		return delay < 0 ? 0 : delay;
	return delay + (long)((double)spread * rnd);
}

time_t
acme_sched_parse_time(const char *s)
{
	struct tm	 tm;
	char		*end;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*end == '.')
		while (*++end >= '0' && *end <= '9')
			;
	if (*end == 'Z' && end[1] == '\0')
		return timegm(&tm);
	if ((*end == '+' || *end == '-') && strlen(end) == 6 && end[3] == ':') {
		int	 h = atoi(end + 1), m = atoi(end + 4);
		long	 off = (long)h * 3600 + m * 60;
		return timegm(&tm) - (*end == '+' ? off : -off);
	}
	return -1;
}

long
acme_sched_parse_retry_after(const char *v, time_t now)
{
	struct tm	 tm;
	char		*end;
	long		 n;

	if (v == NULL || *v == '\0')
		return -1;
	n = strtol(v, &end, 10);
	if (end != v && *end == '\0')
		return n < 0 ? -1 : n;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) != NULL && *end == '\0') {
		time_t t = timegm(&tm);
		return t > now ? (long)(t - now) : 0;
	}
	return -1;
}
