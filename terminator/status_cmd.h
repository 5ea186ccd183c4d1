/*
 * status_cmd.h - `tlsgate status`: the admin endpoint's /status, for a person.
 * A command: one thread, no daemon state.
 */
#ifndef TLSGATE_STATUS_CMD_H
#define TLSGATE_STATUS_CMD_H

#include <stdio.h>

/* Fetch /status from admin ("127.0.0.1:PORT", "[::1]:PORT", "unix:/path")
 * and print it. Returns 0, or 1 with a message on stderr. */
int	status_cmd_print(const char *admin, FILE *out);

#endif
