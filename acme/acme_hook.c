/*
 * acme_hook.c - the dns-01 hook, "HOOK set|clear NAME VALUE" (and, once per
 * record, dns-persist-01's "HOOK set-persist NAME VALUE"), run as a child
 * process that the ACME loop never waits for: the job's timer checks on a
 * "set" every 100 ms with waitpid(WNOHANG), and a process nobody needs any
 * more (a "clear", or a "set" of an abandoned order) goes to a reaper that
 * collects it the same way, and kills it if it outstays its welcome.
 */
#include "acme_int.h"
#include "acme_persist.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "xalloc.h"

#define HOOK_TIMEOUT	120	/* seconds for "set" */
#define REAP_GRACE	10	/* seconds before SIGKILL for the abandoned */

extern char **environ;

/* Start "HOOK verb _acme-challenge.NAME VALUE" (set-persist:
 * "_validation-persist.NAME"); its pid goes to hook_pid. */
int
hook_spawn(struct job *j, const char *verb)
{
	char	*fqdn = xasprintf("%s%s", strcmp(verb, "set-persist") == 0 ?
		    PERSIST_LABEL : "_acme-challenge.", j->chal_ident);
	char	*argv[] = { (char *)j->a->cfg.dns_hook, (char *)verb, fqdn,
		    j->dns_value, NULL };
	int	 rc;

	rc = posix_spawn(&j->hook_pid, j->a->cfg.dns_hook, NULL, NULL, argv, environ);
	free(fqdn);
	if (rc != 0) {
		j->hook_pid = 0;
		log_err("acme %s: dns_hook %s: %s", job_name(j), j->a->cfg.dns_hook,
		    strerror(rc));
		return -1;
	}
	j->hook_deadline = acme_now(j->a) + HOOK_TIMEOUT;
	return 0;
}

/* The job's timer, while the "set" hook runs. */
void
hook_check(struct job *j)
{
	struct timeval	tv = { 0, 100000 };
	int		status = 0;
	pid_t		p = waitpid(j->hook_pid, &status, WNOHANG);

	if (p == 0) {
		if (acme_now(j->a) > j->hook_deadline) {
			job_fail(j, ACME_FAIL_VALIDATION, "dns_hook did not finish in %d s",
			    HOOK_TIMEOUT);
			return;
		}
		evtimer_add(j->timer, &tv);
		return;
	}
	j->hook_pid = 0;
	if (persist_is(j)) {
		persist_hook_done(j, p > 0 && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0);
		return;
	}
	if (p < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		job_fail(j, ACME_FAIL_VALIDATION, "dns_hook set failed (%s %d)",
		    p < 0 ? "waitpid" : WIFEXITED(status) ? "exit status" : "signal",
		    p < 0 ? errno : WIFEXITED(status) ? WEXITSTATUS(status) :
		    WTERMSIG(status));
		return;
	}
	challenge_answer(j);
}

static void
reap_arm(struct acme *a)
{
	struct timeval tv = { 0, 100000 };

	if (a->nreap > 0 && a->reap_ev != NULL && !evtimer_pending(a->reap_ev, NULL))
		evtimer_add(a->reap_ev, &tv);
}

/* Nobody waits for pid any more: the reaper collects it when it exits, and
 * kills it if it still runs REAP_GRACE seconds from now. */
void
hook_abandon(struct acme *a, pid_t pid)
{
	if (pid <= 0)
		return;
	a->reap = xrealloc(a->reap, (a->nreap + 1) * sizeof(*a->reap));
	a->reap_kill = xrealloc(a->reap_kill, (a->nreap + 1) * sizeof(*a->reap_kill));
	a->reap[a->nreap] = pid;
	a->reap_kill[a->nreap] = acme_now(a) + REAP_GRACE;
	a->nreap++;
	reap_arm(a);
}

void
acme_on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct acme	*a = arg;
	time_t		 now = acme_now(a);

	for (size_t i = 0; i < a->nreap; ) {
		pid_t p = waitpid(a->reap[i], NULL, WNOHANG);
		if (p != 0) {		/* collected, or not ours any more */
			a->reap[i] = a->reap[a->nreap - 1];
			a->reap_kill[i] = a->reap_kill[a->nreap - 1];
			a->nreap--;
			continue;
		}
		if (now >= a->reap_kill[i]) {
			log_warnx("acme: dns_hook (pid %ld) still running; killing it",
			    (long)a->reap[i]);
			kill(a->reap[i], SIGKILL);
		}
		i++;
	}
	reap_arm(a);
}

/* At stop (the loop has ended): a hook gets up to 2 s in all to finish,
 * say a "clear", then is killed and collected (SIGKILL is prompt). */
void
hook_reap_all(struct acme *a)
{
	for (int tries = 0; tries < 20 && a->nreap > 0; tries++) {
		struct timespec ts = { 0, 100000000 };
		for (size_t i = 0; i < a->nreap; ) {
			if (waitpid(a->reap[i], NULL, WNOHANG) != 0) {
				a->reap[i] = a->reap[--a->nreap];
				continue;
			}
			i++;
		}
		if (a->nreap > 0)
			nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < a->nreap; i++) {
		kill(a->reap[i], SIGKILL);
		waitpid(a->reap[i], NULL, 0);
	}
	free(a->reap);
	free(a->reap_kill);
	a->reap = NULL;
	a->reap_kill = NULL;
	a->nreap = 0;
}
