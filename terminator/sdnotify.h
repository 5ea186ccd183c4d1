/*
 * sdnotify.h - systemd's notify and socket-activation protocols, spoken
 * directly (sd_notify(3), sd_listen_fds(3)) so tlsgate needs no libsystemd.
 * All functions are no-ops outside systemd. Main thread only.
 */
#ifndef TLSGATE_SDNOTIFY_H
#define TLSGATE_SDNOTIFY_H

/* Send state ("READY=1", ...) to $NOTIFY_SOCKET. 0, or -1 (also if unset). */
int	sdnotify(const char *state);
/* RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload wants. */
int	sdnotify_reloading(void);
/* The watchdog interval in microseconds if this process should ping, else 0. */
long long sdnotify_watchdog_usec(void);
/*
 * The listening sockets passed by systemd ($LISTEN_FDS for this pid), from
 * fd 3 on. Returns their count (0 if none) and clears the variables.
 */
int	sdnotify_listen_fds(void);

#endif
