/* sdnotify.c - one datagram per notification to an AF_UNIX socket. */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int
sdnotify(const char *state)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun;
	socklen_t		 len;
	int			 fd, rc;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';		/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    len) == (ssize_t)strlen(state) ? 0 : -1;
	close(fd);
	return rc;
}

int
sdnotify_reloading(void)
{
	struct timespec	ts;
	char		buf[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%lld",
	    (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	return sdnotify(buf);
}

long long
sdnotify_watchdog_usec(void)
{
	const char	*u = getenv("WATCHDOG_USEC"), *p = getenv("WATCHDOG_PID");
	long long	 v;

	if (u == NULL || (p != NULL && atol(p) != (long)getpid()))
		return 0;
	v = atoll(u);
	return v > 0 ? v : 0;
}

int
sdnotify_listen_fds(void)
{
	const char	*pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int		 count;

	if (pid == NULL || n == NULL || atol(pid) != (long)getpid())
		return 0;
	count = atoi(n);
	if (count < 0 || count > 64)
		return 0;
	for (int fd = 3; fd < 3 + count; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return count;
}
