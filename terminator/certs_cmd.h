/*
 * certs_cmd.h - `tlsgate certs`: the managed certificates, for a person,
 * read through the store (store_list). A command: one thread, no daemon.
 */
#ifndef TLSGATE_CERTS_CMD_H
#define TLSGATE_CERTS_CMD_H

#include <stdio.h>

struct config;
struct errbuf;

/*
 * List every certificate in the store (all CAs): names, key type, issuer,
 * not-after, next renewal and last error. The store is c's (its state
 * directory, or etcd) when c is not NULL, else the state directory
 * state_dir. Returns the number listed, -1 with eb set if the store cannot
 * be opened or read.
 */
int	certs_cmd_list(const struct config *c, const char *state_dir, FILE *out,
	    struct errbuf *eb);

#endif
