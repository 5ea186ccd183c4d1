/*
 * certs_cmd.h - `tlsgate certs`: the managed certificates, for a person,
 * read through the store (store_list). A command: one thread, no daemon.
 */
#ifndef TLSGATE_CERTS_CMD_H
#define TLSGATE_CERTS_CMD_H

#include <stdio.h>

/*
 * List every certificate in state_dir (all CAs): names, key type, issuer,
 * not-after, next renewal and last error. Returns the number listed, -1 if
 * state_dir cannot be read.
 */
int	certs_cmd_list(const char *state_dir, FILE *out);

#endif
